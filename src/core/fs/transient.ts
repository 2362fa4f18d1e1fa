/**
 * Transient file-system errors of network file systems (NFS, Lustre, GPFS, GlusterFS), retried
 * in one place so no caller has to know about them.
 *
 * A client of a network file system caches names and attributes for a while (GlusterFS's FUSE
 * client: 1 s by default). When another host renames a new file over a path we just looked up —
 * `refs/main`, a lock file, a `.no_exist` marker, a no-symlink snapshot file — our cached entry
 * names an inode that no longer exists, and the open (or the first `fstat`/`read` behind
 * `readFile`) fails with `ESTALE`. Measured on a GlusterFS volume mounted twice: such failures
 * come in streaks of up to ~1 s after each rename, then the path resolves to the new file. A
 * writer must not fail for that (huggingface_hub PR #4306 is about exactly these file systems).
 *
 * Only operations that can simply be repeated are retried: reads, lookups, opens of existing
 * files, and the idempotent `mkdirp`/`utimes`/`removeTree`. Creates, renames, links and removals
 * are not — repeating one whose effect happened but whose answer was lost would turn success
 * into `EEXIST`/`ENOENT`, and their callers already handle those races explicitly.
 *
 * @module
 */

import { LAG_HORIZON_MS, SIZE_SETTLE_PAUSES_MS, TRANSIENT_RETRY_PAUSES_MS } from "../defaults.ts";
import { type FileSystem, type FsError, isFsError, type Platform, type Runtime } from "../ports.ts";


/** The default judgement of {@link retryTransient}: a stale file handle. */
function isStale(err: unknown): err is FsError {
  return isFsError(err, "ESTALE");
}

/**
 * Run `op`; while it fails with a transient error (`ESTALE` unless `isTransient` says
 * otherwise), wait a little and run it again, up to 12 attempts over ~3 s. The last error is
 * thrown as it is. `op` must be safe to repeat: it re-resolves its path every time.
 * `isTransient` may look at the file system before answering.
 */
export async function retryTransient<T>(
  platform: Platform,
  op: () => Promise<T>,
  isTransient: (err: unknown) => boolean | Promise<boolean> = isStale,
): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (attempt >= TRANSIENT_RETRY_PAUSES_MS.length || !(await isTransient(err))) throw err;
    }
    await platform.sleep(TRANSIENT_RETRY_PAUSES_MS[attempt]!);
  }
}


/** Per runtime: `path` → the `size:mtime` already waited for in vain, not waited for again. */
const settledWrong = new WeakMap<Runtime, Map<string, string>>();

/**
 * Whether `path` resolves to a regular file of exactly `size` bytes. Blobs and snapshot files
 * only ever appear whole (by rename), yet a network file system's client can report the size an
 * inode had when it last looked — while another host was still writing it as a temp file — for
 * a moment after the rename (measured on GlusterFS). So a recently modified file of another size
 * is looked at again for ~1.5 s before the answer is no (once per path and state); an absent
 * file, or one unchanged for a while, is answered at once.
 */
export async function isFileOfSize(runtime: Runtime, path: string, size: number): Promise<boolean> {
  let wrong = settledWrong.get(runtime);
  if (wrong === undefined) settledWrong.set(runtime, wrong = new Map());
  for (let attempt = 0;; attempt++) {
    const info = await runtime.fs.stat(path).catch(() => null);
    if (info === null || info.kind !== "file") return false;
    if (info.size === size) return true;
    const state = `${info.size}:${info.mtimeMs}`;
    if (wrong.get(path) === state || runtime.platform.now() - info.mtimeMs > LAG_HORIZON_MS) return false;
    if (attempt >= SIZE_SETTLE_PAUSES_MS.length) {
      wrong.set(path, state);
      return false;
    }
    await runtime.platform.sleep(SIZE_SETTLE_PAUSES_MS[attempt]!);
  }
}

const retrying = new WeakMap<Runtime, Runtime>();

/**
 * `runtime` with every repeatable file-system operation retried on `ESTALE` (see the module
 * comment). The core's entry points call this on the runtime they are given, so adapters stay
 * plain translators and a user's own `FileSystem` gets the same treatment. Idempotent and
 * memoised: the same runtime always gives the same wrapped object (caches keyed by runtime
 * keep working), and wrapping a wrapped runtime returns it unchanged.
 */
export function withTransientRetries(runtime: Runtime): Runtime {
  const known = retrying.get(runtime);
  if (known !== undefined) return known;
  const fs = runtime.fs;
  const again = <T>(op: () => Promise<T>): Promise<T> => retryTransient(runtime.platform, op);
  // Opening a path another host has just replaced can also fail with ENOENT instead of ESTALE
  // (measured: a quarter of such reads on GlusterFS under Deno) while `stat` finds the new file.
  // (`stat`, not `lstat`: a dangling symlink is really absent content, not lag.)
  const reread = <T>(path: string, op: () => Promise<T>): Promise<T> =>
    retryTransient(runtime.platform, op, async (err) =>
      isStale(err) || (isFsError(err, "ENOENT") && (await fs.stat(path).then(() => true, () => false))));
  const wrapped: FileSystem = {
    createExclusive: (path) => fs.createExclusive(path),
    openReadWrite: (path) => reread(path, () => fs.openReadWrite(path)),
    openRead: (path) => reread(path, () => fs.openRead(path)),
    rename: (from, to) => fs.rename(from, to),
    link: (existing, to) => fs.link(existing, to),
    symlink: (target, path) => fs.symlink(target, path),
    readlink: (path) => again(() => fs.readlink(path)),
    lstat: (path) => again(() => fs.lstat(path)),
    stat: (path) => again(() => fs.stat(path)),
    readdir: (path) => again(() => fs.readdir(path)),
    ...(fs.readdirKinds ? { readdirKinds: (path: string) => again(() => fs.readdirKinds!(path)) } : {}),
    mkdirp: (path) => again(() => fs.mkdirp(path)),
    removeFile: (path) => fs.removeFile(path),
    removeTree: (path) => again(() => fs.removeTree(path)),
    removeEmptyDir: (path) => fs.removeEmptyDir(path),
    copyExclusive: (from, to) => fs.copyExclusive(from, to),
    ...(fs.clone ? { clone: (from: string, to: string) => fs.clone!(from, to) } : {}),
    readFile: (path) => reread(path, () => fs.readFile(path)),
    writeFile: (path, data) => fs.writeFile(path, data),
    utimes: (path, atimeMs, mtimeMs) => again(() => fs.utimes(path, atimeMs, mtimeMs)),
    syncDir: (path) => fs.syncDir(path),
    realpath: (path) => again(() => fs.realpath(path)),
    ...(fs.freeSpace ? { freeSpace: (path: string) => again(() => fs.freeSpace!(path)) } : {}),
  };
  const result: Runtime = { ...runtime, fs: wrapped };
  retrying.set(runtime, result);
  retrying.set(result, result);
  return result;
}
