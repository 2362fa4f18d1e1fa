/**
 * `.no_exist/<commit>/<path>`: empty marker files, as the Python client writes them, for files
 * known to be absent at a commit, so offline runs answer "absent" without asking the Hub.
 *
 * @module
 */

import { writeFileAtomic } from "../fs/atomic_write.ts";
import { isFsError, type Runtime } from "../ports.ts";
import { noExistPath, type RepoLayout } from "./layout.ts";

/** Record that `path` does not exist at `commit` (an empty file, as the Python client does). */
export async function markNoExist(runtime: Runtime, layout: RepoLayout, commit: string, path: string): Promise<void> {
  const marker = noExistPath(layout, commit, path);
  try {
    await runtime.fs.lstat(marker);
    return;
  } catch (err) {
    if (!isFsError(err, "ENOENT")) throw err;
  }
  await writeFileAtomic(runtime, layout.tmpDir, marker, new Uint8Array(0), "no-exist");
}

/** Whether `path` is known to be absent at `commit`. */
export async function isKnownAbsent(runtime: Runtime, layout: RepoLayout, commit: string, path: string): Promise<boolean> {
  try {
    return (await runtime.fs.lstat(noExistPath(layout, commit, path))).kind === "file";
  } catch {
    return false;
  }
}
