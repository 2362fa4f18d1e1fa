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

import { SCRATCH_MAX_ATTEMPTS } from "../defaults.ts";
import { isFsError, type Runtime } from "../ports.ts";
import { ownerName, parseOwnerName, type TempOwner, writerIdentity } from "../writer_identity.ts";
import { ensureDir } from "./dirs.ts";
import { isDirectory } from "./entries.ts";
import { joinPath } from "./paths.ts";


/**
 * A unique name for a small file written whole then renamed (a ref, a copied pointer, a tree
 * listing; a stale lock moved aside): `<purpose>.<host>-<pid>-<nonce>.tmp`, so `cache prune`
 * can tell whose it is.
 */
export function scratchName(purpose: string, owner: TempOwner): string {
  return `${purpose}.${ownerName(owner)}.tmp`;
}

/** The writer a {@link scratchName} names, or `null` when `name` is not one. */
export function parseScratchName(name: string): TempOwner | null {
  const m = /^[a-z-]+\.(.+)\.tmp$/.exec(name);
  return m ? parseOwnerName(m[1]) : null;
}

/**
 * Run `work` with a fresh unique path `<tmpDir>/<purpose>.<host>-<pid>-<nonce>.tmp` (not
 * created: `work` creates it and moves or removes it before returning), then remove `tmpDir`
 * if it is empty. `work` must clean up after itself when it throws; when it throws `ENOENT`
 * because `tmpDir` was removed under it by another process, it runs again with a new path.
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
      return await work(joinPath(tmpDir, scratchName(purpose, writerIdentity(runtime.platform))));
    } catch (err) {
      if (attempt < SCRATCH_MAX_ATTEMPTS && isFsError(err, "ENOENT") && !(await isDirectory(runtime, tmpDir).catch(() => false))) continue;
      throw err;
    } finally {
      // Fails while another writer's temp file is inside: then the last one out removes it.
      await runtime.fs.removeEmptyDir(tmpDir).catch(() => {});
    }
  }
}
