/**
 * Creating directories durably, and creating entries in directories another host may have
 * just made.
 *
 * A rename into a directory survives a power cut only if the directory's own entry does too:
 * when a download creates `models--x/blobs/` in a fresh cache, each new directory's parent must
 * be fsynced, not just `blobs/`.
 *
 * On a network file system a directory made by another host a moment ago can be half-visible
 * through our mount (measured on GlusterFS with writers on two mounts racing to create
 * `blobs/`): our `mkdir -p` fails with `EEXIST` although `stat` does not yet call it a
 * directory, or `stat` says it is one and a create (or `mkdir`) inside it still fails with
 * `ENOENT`. Both settle within moments, so both are retried (see transient.ts) instead of
 * failing a download.
 *
 * @module
 */

import { isDirectory } from "./entries.ts";
import { dirname } from "./paths.ts";
import { isFsError, type Runtime } from "../ports.ts";
import { retryTransient } from "./transient.ts";

/**
 * Make sure `dir` exists; for every directory this call creates, fsync its parent so the
 * new entry is on stable storage.
 */
export async function ensureDir(runtime: Runtime, dir: string): Promise<void> {
  if (await isDirectory(runtime, dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) await ensureDir(runtime, parent);
  await retryTransient(runtime.platform, async () => {
    try {
      await runtime.fs.mkdirp(dir);
    } catch (err) {
      // Another host's fresh directory, not yet a directory to our mount: look again.
      if (isFsError(err, "EEXIST") && (await isDirectory(runtime, dir))) return;
      // The parent, which another host made a moment ago, is a directory to `stat` but not yet
      // one to create in (GlusterFS: `mkdir <repo>/.hubcache-tmp` failed with ENOENT right
      // after the other mount made `<repo>`), or it was removed meanwhile: make sure of it, ask again.
      if (isFsError(err, "ENOENT") && parent !== dir) await ensureDir(runtime, parent);
      throw err;
    }
  }, (err) => isFsError(err, "EEXIST", "ESTALE", "ENOENT"));
  await runtime.fs.syncDir(parent);
}

/**
 * Run `create`, which makes one new entry directly inside `dir` (an exclusive create, a
 * symlink), making `dir` first where it is missing. A create that fails with `ENOENT` made
 * nothing, so it is repeated after making sure of `dir` again: the directory was never made,
 * was removed meanwhile (`cache rm`), or another host made it a moment ago and our mount does
 * not see it whole yet.
 *
 * The create is tried before anything is looked at: `dir` almost always exists (a snapshot of
 * n files creates n entries in a few folders), and a `stat` per entry was most of the cost of
 * placing small files. Trying first changes nothing else: a `dir` that exists was never
 * fsynced by us either way, and one that does not is made (parent fsynced) by {@link ensureDir}.
 */
export async function createInDir<T>(runtime: Runtime, dir: string, create: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if (!isFsError(err, "ENOENT", "ESTALE")) throw err;
  }
  await ensureDir(runtime, dir);
  return await retryTransient(runtime.platform, async () => {
    try {
      return await create();
    } catch (err) {
      if (isFsError(err, "ENOENT")) await ensureDir(runtime, dir);
      throw err;
    }
  }, (err) => isFsError(err, "ENOENT", "ESTALE"));
}
