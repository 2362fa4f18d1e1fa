/**
 * Small whole-file records of the cache: `refs/<revision>` (DESIGN invariant 4),
 * `.no_exist/<commit>/<path>` markers and `CACHEDIR.TAG`. Each is written to a temp
 * file and renamed, so a reader sees the old content or the new, never a torn one.
 *
 * @module
 */

import { isFsError, type Runtime } from "../ports.ts";
import { dirname, joinPath, noExistPath, refPath, type RepoLayout } from "./layout.ts";
import { createInDir, ensureDir } from "../fs/dirs.ts";
import { withScratchPath } from "../fs/scratch.ts";
import { isCommitHash } from "./validate.ts";

const encoder = new TextEncoder();

/**
 * Write `data` to `path` atomically: temp file in the repo's scratch folder `.hubcache-tmp/`
 * (removed again when empty), fsync, rename over `path`, fsync the directory.
 *
 * @example
 * ```ts
 * await writeFileAtomic(runtime, layout, refPath(layout, "main"), new TextEncoder().encode(commit), "ref");
 * ```
 */
export async function writeFileAtomic(
  runtime: Runtime,
  tmpDir: string,
  path: string,
  data: Uint8Array,
  purpose: string,
): Promise<void> {
  const { fs } = runtime;
  await ensureDir(runtime, dirname(path));
  await withScratchPath(runtime, tmpDir, purpose, async (temp) => {
    const handle = await createInDir(runtime, tmpDir, () => fs.createExclusive(temp));
    try {
      await handle.write(data, 0);
      await handle.sync();
      await handle.close();
      await fs.rename(temp, path);
    } catch (err) {
      await handle.close().catch(() => {});
      await fs.removeFile(temp).catch(() => {});
      throw err;
    }
  });
  await fs.syncDir(dirname(path));
}

/**
 * The commit a cached revision points at: `refs/<revision>` read tolerantly (whitespace
 * ignored), or `null` if absent or not a commit hash.
 *
 * @example
 * ```ts
 * await readRef(runtime, layout, "main"); // "0123…" or null
 * ```
 */
export async function readRef(runtime: Runtime, layout: RepoLayout, revision: string): Promise<string | null> {
  try {
    const text = new TextDecoder().decode(await runtime.fs.readFile(refPath(layout, revision))).trim().toLowerCase();
    return isCommitHash(text) ? text : null;
  } catch (err) {
    if (isFsError(err, "ENOENT", "ENOTDIR", "EISDIR")) return null;
    throw err;
  }
}

/**
 * Point `refs/<revision>` at `commit`: 40 hex characters, no newline, written atomically.
 * Skipped when it already says so (no needless writes on a shared file system).
 *
 * @example
 * ```ts
 * await writeRef(runtime, layout, "refs/pr/1", commit); // writes refs/refs/pr/1
 * ```
 */
export async function writeRef(runtime: Runtime, layout: RepoLayout, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  if ((await readRef(runtime, layout, revision)) === commit) return;
  await writeFileAtomic(runtime, layout.tmpDir, refPath(layout, revision), encoder.encode(commit), "ref");
}

/**
 * Record that `path` does not exist at `commit` (an empty file, as the Python client does).
 *
 * @example
 * ```ts
 * await markNoExist(runtime, layout, commit, "missing.bin");
 * ```
 */
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

/**
 * Whether `path` is known to be absent at `commit`.
 *
 * @example
 * ```ts
 * if (await isKnownAbsent(runtime, layout, commit, "x.bin")) { … }
 * ```
 */
export async function isKnownAbsent(runtime: Runtime, layout: RepoLayout, commit: string, path: string): Promise<boolean> {
  try {
    return (await runtime.fs.lstat(noExistPath(layout, commit, path))).kind === "file";
  } catch {
    return false;
  }
}

const CACHEDIR_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n" +
  "# This file is a cache directory tag created by hubcache (Hugging Face Hub cache).\n" +
  "# For information about cache directory tags see https://bford.info/cachedir/\n";

/**
 * Write `<cache>/CACHEDIR.TAG` once, so backup tools skip the cache.
 *
 * @example
 * ```ts
 * await ensureCacheDirTag(runtime, "/home/me/.cache/huggingface/hub");
 * ```
 */
export async function ensureCacheDirTag(runtime: Runtime, cacheDir: string): Promise<void> {
  const tag = joinPath(cacheDir, "CACHEDIR.TAG");
  try {
    await runtime.fs.lstat(tag);
    return;
  } catch (err) {
    if (!isFsError(err, "ENOENT")) return;
  }
  await writeFileAtomic(runtime, joinPath(cacheDir, ".locks"), tag, encoder.encode(CACHEDIR_TAG), "cachedir-tag")
    .catch(() => {});
}
