/**
 * Folders inside a root that a writer must not leave: a local directory (`--local-dir DIR`)
 * belongs to its user, and a folder of it may be a symlink leading anywhere (`DIR/onnx ->
 * /etc`). Writing a repo's file through such a link would write outside DIR on a server's
 * say-so (docs/DESIGN.md §Invariants 9), so below the root no symlink is followed for a write:
 * each folder is looked at with `lstat` and created where absent.
 *
 * @module
 */

import { CacheError } from "../errors.ts";
import type { FileInfo, Runtime } from "../ports.ts";
import { ensureDir } from "./dirs.ts";
import { lstatOrNull } from "./entries.ts";
import { joinPath } from "./paths.ts";

/**
 * Make sure `root/<relative>` is a real directory reached from `root` through real
 * directories only (created where absent). A symlink or a file on the way is refused with a
 * `CacheError` naming it. `root` itself may be a symlink: the user chose it.
 */
export async function ensureDirWithin(runtime: Runtime, root: string, relative: string): Promise<void> {
  await ensureDir(runtime, root);
  let dir = root;
  for (const segment of relative.split("/").filter((s) => s !== "" && s !== ".")) {
    dir = joinPath(dir, segment);
    let info = await lstatOrNull(runtime, dir);
    if (info === null) {
      await ensureDir(runtime, dir);
      // Another process may have put a link there between our look and the mkdir.
      info = await lstatOrNull(runtime, dir);
    }
    if (info?.kind === "directory") continue;
    if (info === null) throw new CacheError(`'${dir}' vanished while hubcache created it; retry`);
    throw new CacheError(
      info.kind === "symlink"
        ? `'${dir}' is a symlink; hubcache does not write through links inside ${root} (they may lead outside it): replace it with a folder`
        : `'${dir}' is in the way of a folder hubcache needs inside ${root}: move it and retry`,
    );
  }
}

/**
 * What `root/<relative>` is (by `lstat`: a final symlink is reported as one, never followed),
 * provided every folder on the way from `root` is a real directory; `null` when something is
 * absent or a folder on the way is a symlink or a file. For reading a user's folder without
 * being led out of it by a link planted inside (`root` itself may be a symlink: the user chose it).
 */
export async function lstatWithin(runtime: Runtime, root: string, relative: string): Promise<FileInfo | null> {
  const segments = relative.split("/").filter((s) => s !== "" && s !== ".");
  let dir = root;
  for (const segment of segments.slice(0, -1)) {
    dir = joinPath(dir, segment);
    if ((await lstatOrNull(runtime, dir))?.kind !== "directory") return null;
  }
  return segments.length === 0 ? null : await lstatOrNull(runtime, joinPath(dir, segments[segments.length - 1]));
}
