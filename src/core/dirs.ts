/**
 * Creating directories durably. A rename into a directory survives a power cut only if the
 * directory's own entry does too: when a download creates `models--x/blobs/` in a fresh
 * cache, each new directory's parent must be fsynced, not just `blobs/`.
 *
 * @module
 */

import { dirname } from "./layout.ts";
import { isFsError, type Runtime } from "./ports.ts";

/**
 * Make sure `dir` exists; for every directory this call creates, fsync its parent so the
 * new entry is on stable storage.
 *
 * @example
 * ```ts
 * await ensureDir(runtime, layout.blobsDir); // fsyncs models--x/ and the cache root if it made them
 * ```
 */
export async function ensureDir(runtime: Runtime, dir: string): Promise<void> {
  try {
    if ((await runtime.fs.stat(dir)).kind === "directory") return;
  } catch (err) {
    if (!isFsError(err, "ENOENT")) throw err;
  }
  const parent = dirname(dir);
  if (parent !== dir) await ensureDir(runtime, parent);
  await runtime.fs.mkdirp(dir);
  await runtime.fs.syncDir(parent);
}
