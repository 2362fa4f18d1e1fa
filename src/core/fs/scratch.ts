/**
 * The repo's scratch folder `<repo>/.hubcache-tmp/`: where small files are written whole
 * before one rename puts them in place (refs, `.no_exist` markers, tree listings, copied
 * pointers) and where the symlink probe runs. Nothing in it is ever read back.
 *
 * It exists only while someone uses it: each user removes it again once it is empty, so a
 * cache that hubcache only read from — or finished writing to — has no folder the Python
 * client does not know. Removing it races other users, which is why the removal is `rmdir`
 * (it fails while anyone's temp file is inside) and a user whose folder vanished between
 * creating it and creating its temp file inside simply starts over.
 *
 * @module
 */

import { ensureDir } from "./dirs.ts";
import { joinPath, smallTempName } from "../cache/layout.ts";
import { isFsError, type Runtime } from "../ports.ts";
import { writerIdentity } from "../download/temp_files.ts";

/** Starting over more often than this means something else is wrong: report its error. */
const MAX_ATTEMPTS = 5;

/**
 * Run `work` with a fresh unique path `<tmpDir>/<purpose>.<host>-<pid>-<nonce>.tmp` (not
 * created: `work` creates it and moves or removes it before returning), then remove `tmpDir`
 * if it is empty. `work` must clean up after itself when it throws; when it throws `ENOENT`
 * because `tmpDir` was removed under it by another process, it runs again with a new path.
 *
 * @example
 * ```ts
 * await withScratchPath(runtime, layout.tmpDir, "ref", async (temp) => {
 *   await writeAndSync(temp);
 *   await runtime.fs.rename(temp, refPath(layout, "main"));
 * });
 * ```
 */
export async function withScratchPath<T>(
  runtime: Runtime,
  tmpDir: string,
  purpose: string,
  work: (path: string) => Promise<T>,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    await ensureDir(runtime, tmpDir);
    try {
      return await work(joinPath(tmpDir, smallTempName(purpose, writerIdentity(runtime.platform))));
    } catch (err) {
      if (attempt < MAX_ATTEMPTS && isFsError(err, "ENOENT") && !(await isDirectory(runtime, tmpDir))) continue;
      throw err;
    } finally {
      // Fails while another writer's temp file is inside: then the last one out removes it.
      await runtime.fs.removeEmptyDir(tmpDir).catch(() => {});
    }
  }
}

async function isDirectory(runtime: Runtime, path: string): Promise<boolean> {
  try {
    return (await runtime.fs.lstat(path)).kind === "directory";
  } catch {
    return false;
  }
}
