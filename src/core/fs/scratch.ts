/**
 * The repo's scratch folder `<repo>/.hubcache-tmp/`: where small files are written whole
 * before one rename puts them in place (refs, `.no_exist` markers, tree listings, copied
 * pointers) and where the symlink probe runs. Nothing in it is ever read back.
 *
 * It is created by the first write that needs it and then stays: removing it when empty after
 * each use (as an earlier version did) raced the other writers' uses on GlusterFS, where a
 * folder removed through one mount still looked present through the other and the writer's
 * next create failed with `ENOENT` past every retry (docs/DESIGN.md §Network file systems).
 * Calls answered from the cache never create it; `cache prune` removes it when it is empty. The
 * Python client's scan never looks inside a repo folder beyond `refs/`, `snapshots/` and
 * `blobs/`, so the folder costs it nothing. A writer whose folder `cache prune` removed between
 * creating it and creating its temp file inside simply starts over.
 *
 * @module
 */

import { SCRATCH_MAX_ATTEMPTS } from "../defaults.ts";
import { isFsError, type Runtime } from "../ports.ts";
import { ownerName, parseOwnerName, type TempOwner, writerIdentity } from "../writer_identity.ts";
import { ensureDir } from "./dirs.ts";
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
 * created: `work` creates it and moves or removes it before returning). `work` must clean up
 * after itself when it throws; when it throws `ENOENT` because `tmpDir` was removed under it
 * (`cache prune`), it runs again with a new path.
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
      // Our temp file has a unique name nobody else creates, so `ENOENT` for it or its folder
      // means the folder went away under us (`cache prune`) — or, on GlusterFS, went and came
      // back while this mount still held the old one: the folder may look present again, so
      // do not ask, start over with a new name (bounded).
      if (attempt < SCRATCH_MAX_ATTEMPTS && isFsError(err, "ENOENT")) continue;
      throw err;
    }
  }
}
