/**
 * POSIX path strings, as every port takes them: absolute, `/`-separated. Adapters map them to
 * native paths if they must; the core never touches a native path.
 *
 * @module
 */

/** Join POSIX path parts with single slashes: `joinPath("/c", "blobs/", "x")` is `/c/blobs/x`. */
export function joinPath(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  return joined.replace(/\/{2,}/g, "/");
}

/** The parent directory of a POSIX path (`"/"` for a top-level entry). */
export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** The last segment of a POSIX path. */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * Collapse `.`, `..` and repeated slashes of an absolute POSIX path without touching the file
 * system (Python's `os.path.abspath` on an absolute path).
 */
export function normalizePath(path: string): string {
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}
