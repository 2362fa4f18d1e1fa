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

/** A `.` or `..` segment, or an empty one. */
const IRREGULAR = /\/\/|(^|\/)\.{1,2}(\/|$)/;

/** A path that normalising would leave as it is (but for a leading `/`). */
function isPlain(path: string): boolean {
  return path !== "" && !path.endsWith("/") && !IRREGULAR.test(path);
}

/**
 * Where a relative symlink `target` found at `linkPath` leads, lexically (one hop, nothing
 * looked at): `normalizePath` of the target joined to the link's folder. A cache scan asks this
 * for every snapshot file, so the usual shape — `../../../blobs/<etag>` from a normal absolute
 * path — is answered by cutting folders off `linkPath`; anything else (`.` or `..` further in,
 * repeated slashes) takes the general way.
 */
export function symlinkTargetPath(linkPath: string, target: string): string {
  let up = 0;
  while (target.startsWith("../", up * 3)) up++;
  const rest = target.slice(up * 3);
  if (rest[0] !== "/" && isPlain(rest) && linkPath[0] === "/" && isPlain(linkPath)) {
    let cut = linkPath.length;
    for (let i = 0; i <= up && cut > 0; i++) cut = linkPath.lastIndexOf("/", cut - 1);
    if (cut > 0) return linkPath.slice(0, cut) + "/" + rest;
  }
  return normalizePath(target.startsWith("/") ? target : joinPath(dirname(linkPath), target));
}
