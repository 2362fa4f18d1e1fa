/**
 * Allow/ignore patterns for snapshot downloads, matched as the Python client's
 * `filter_repo_objects` does: shell-style `fnmatch` where `*` also crosses `/`, and a
 * pattern ending in `/` means everything below that folder.
 *
 * @module
 */

/**
 * Compile one shell-style pattern (`*`, `?`, `[seq]`, `[!seq]`) to a RegExp.
 *
 * @example
 * ```ts
 * import { globToRegExp } from "hubcache/core";
 *
 * console.log(globToRegExp("*.safetensors").test("sub/model.safetensors")); // true: `*` crosses `/`
 * ```
 */
export function globToRegExp(pattern: string): RegExp {
  const p = pattern.endsWith("/") ? pattern + "*" : pattern;
  let out = "";
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === "*") out += ".*";
    else if (c === "?") out += ".";
    else if (c === "[") {
      const end = p.indexOf("]", i + 2);
      if (end === -1) {
        out += "\\[";
        continue;
      }
      let body = p.slice(i + 1, end);
      const negate = body.startsWith("!");
      if (negate) body = body.slice(1);
      out += "[" + (negate ? "^" : "") + body.replace(/[\\\]^]/g, "\\$&") + "]";
      i = end;
    } else out += c.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  return new RegExp("^" + out + "$", "s");
}

/**
 * Keep the paths matching at least one `include` pattern (all, if none) and no `exclude`.
 *
 * @example
 * ```ts
 * import { filterPaths } from "hubcache/core";
 *
 * console.log(filterPaths(["a.bin", "b.json", "onnx/c.json"], ["*.json"], ["onnx/"])); // ["b.json"]
 * ```
 */
export function filterPaths(paths: string[], include: string[], exclude: string[]): string[] {
  const inc = include.map(globToRegExp);
  const exc = exclude.map(globToRegExp);
  return paths.filter((p) => (inc.length === 0 || inc.some((r) => r.test(p))) && !exc.some((r) => r.test(p)));
}
