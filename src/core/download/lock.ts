/**
 * The de-duplication lock (`docs/DESIGN.md §Invariants 6`, `§The lock`): it only saves bandwidth, so every
 * failure mode of it — silently broken flock on Lustre/NFS, a holder killed with
 * SIGKILL, a holder on a dead host — costs at most a duplicate download.
 *
 * Two layers:
 * - our own lock file `.locks/<repo>/<etag>.hubcache-lock`, created exclusively, holding
 *   the owner's host/pid/nonce, its mtime refreshed as a heartbeat. A holder whose pid is
 *   gone (same host) or whose heartbeat stopped (other host) is stale and is replaced.
 * - where the runtime has flock, also the Python client's `.locks/<repo>/<etag>.lock`,
 *   so a Python process and hubcache do not download the same blob twice. We never create
 *   that name exclusively: Python leaves it in place forever.
 *
 * @module
 */

import { LOCK_POLL_FIRST_MS, LOCK_POLL_MAX_MS, LOCK_STALE_AFTER_MS, lockHeartbeatMs } from "../defaults.ts";
import { AbortedError } from "../errors.ts";
import { createInDir } from "../fs/dirs.ts";
import { isFsError, type Runtime } from "../ports.ts";
import { ownLockPath, pythonLockPath, type RepoLayout } from "../cache/layout.ts";
import { scratchName } from "../fs/scratch.ts";
import { removeIfFile } from "../fs/entries.ts";
import { parseOwnerName, sanitizeHost, type TempOwner, writerIdentity, writerState } from "../writer_identity.ts";

/** A held lock. `release` never throws. */
export interface HeldLock {
  /**
   * Stop the heartbeat, drop the flock, and remove our lock file if it is still ours (a waiter
   * may have judged us stale and taken over). Idempotent and never throws, so it belongs in
   * `finally` without masking the real error.
   */
  release(): Promise<void>;
  /**
   * Whether another holder was met first (we waited, or broke a stale lock): then whatever the
   * caller saw of the folder before asking (a snapshot's one listing of `blobs/`) may be out of
   * date — the other holder may have left a temp file or a partial there since.
   */
  readonly contended?: boolean;
}

/** Options for {@link acquireDownloadLock}. */
export interface LockOptions {
  /** Stops the wait with an `AbortedError`; a lock already held is not affected. */
  readonly signal?: AbortSignal;
  /** A heartbeat older than this marks another host's lock as abandoned. */
  readonly staleAfterMs?: number;
  /** How often the holder refreshes its heartbeat. */
  readonly heartbeatMs?: number;
  /** Checked while waiting: once true (the blob appeared), waiting stops. */
  readonly isDone: () => Promise<boolean>;
  /**
   * The caller looked for the result just before asking: skip `isDone` on the first try (a
   * download of many small files otherwise stats each blob twice in a row).
   */
  readonly checkedJustNow?: boolean;
}

const encoder = new TextEncoder();

/** The two lock files of one download: ours (created exclusively) and the Python client's (flocked). */
export interface LockFiles {
  /** Folder holding both. */
  readonly dir: string;
  /** hubcache's own lock file. */
  readonly own: string;
  /** The Python client's flock file. */
  readonly python: string;
}

/**
 * Wait until this process may download `etag`, or until `isDone()` says another process
 * already did. Returns the held lock, or `"done"`.
 */
export async function acquireDownloadLock(
  runtime: Runtime,
  layout: RepoLayout,
  etag: string,
  options: LockOptions,
): Promise<HeldLock | "done"> {
  return await acquireLock(runtime, { dir: layout.locksDir, own: ownLockPath(layout, etag), python: pythonLockPath(layout, etag) }, options);
}

/**
 * {@link acquireDownloadLock} for any pair of lock files (a local directory keeps them beside
 * each file's metadata).
 */
export async function acquireLock(runtime: Runtime, files: LockFiles, options: LockOptions): Promise<HeldLock | "done"> {
  const { platform } = runtime;
  const staleAfterMs = options.staleAfterMs ?? LOCK_STALE_AFTER_MS;
  const heartbeatMs = options.heartbeatMs ?? lockHeartbeatMs(staleAfterMs);
  const path = files.own;
  const me = writerIdentity(platform);
  let delay = LOCK_POLL_FIRST_MS;
  for (let round = 0;; round++) {
    if (options.signal?.aborted) throw new AbortedError("aborted while waiting for another download of the same file");
    if ((round > 0 || !options.checkedJustNow) && (await options.isDone())) return "done";
    if (await tryCreate(runtime, files.dir, path, me)) {
      // `null`: a Python client holds its lock. A rejection means no OS lock can be had here
      // at all (the FFI package did not load, a file system without flock): go on with our
      // own lock only; waiting on it would wait for a holder that does not exist.
      const flock = await runtime.locks?.tryLock(files.python).catch(() => undefined);
      if (flock === null) {
        // Let the Python client finish rather than download twice.
        await removeIfFile(runtime, path).catch(() => {});
      } else {
        return holdWithHeartbeat(runtime, path, me, heartbeatMs, flock, round > 0);
      }
    } else {
      await breakIfStale(runtime, path, staleAfterMs);
    }
    await platform.sleep(delay, options.signal).catch(() => {
      throw new AbortedError("aborted while waiting for another download of the same file");
    });
    delay = Math.min(delay * 2, LOCK_POLL_MAX_MS);
  }
}

async function tryCreate(runtime: Runtime, dir: string, path: string, me: TempOwner): Promise<boolean> {
  let handle;
  try {
    // The folder is made on the first ENOENT only: it exists for all but a repo's first file.
    handle = await createInDir(runtime, dir, () => runtime.fs.createExclusive(path));
  } catch (err) {
    if (isFsError(err, "EEXIST")) return false;
    // A lock directory we cannot write (read-only shared cache): go on without the lock.
    return true;
  }
  try {
    await handle.write(encoder.encode(JSON.stringify(me)), 0);
  } finally {
    await handle.close().catch(() => {});
  }
  return true;
}

function holdWithHeartbeat(
  runtime: Runtime,
  path: string,
  me: TempOwner,
  heartbeatMs: number,
  flock: { release(): Promise<void> } | undefined,
  contended: boolean,
): HeldLock {
  // The heartbeat runs on the platform's clock (a simulation decides when it beats) until
  // `release` aborts it.
  const stop = new AbortController();
  const beat = async (): Promise<void> => {
    for (;;) {
      await runtime.platform.timeout(heartbeatMs, stop.signal);
      const now = runtime.platform.now();
      await runtime.fs.utimes(path, now, now).catch(() => {});
    }
  };
  beat().catch(() => {}); // ends with the abort
  let released = false;
  return {
    contended,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      stop.abort();
      await flock?.release().catch(() => {});
      // Only remove the lock if it is still ours: a waiter may have judged us stale. Having
      // just read our own nonce from it, it is a file: no lstat first (one call per file of a
      // snapshot, which takes and releases a lock for each).
      const owner = await readOwner(runtime, path);
      if (owner && owner.nonce === me.nonce) await runtime.fs.removeFile(path).catch(() => {});
    },
  };
}

async function readOwner(runtime: Runtime, path: string): Promise<TempOwner | null> {
  try {
    return parseLockOwner(new TextDecoder().decode(await runtime.fs.readFile(path)));
  } catch {
    return null; // absent: judged by age below
  }
}

/**
 * The holder recorded in a `.hubcache-lock` file: JSON with `host` and `pid`, or text
 * containing `<host>-<pid>-<nonce>` (the temp-name form). `null` when it says neither.
 */
export function parseLockOwner(content: string): TempOwner | null {
  const text = content.trim();
  if (text.startsWith("{")) {
    try {
      const j = JSON.parse(text) as { host?: unknown; hostname?: unknown; pid?: unknown; nonce?: unknown };
      const host = typeof j.host === "string" ? j.host : typeof j.hostname === "string" ? j.hostname : undefined;
      const pid = typeof j.pid === "number" ? j.pid : typeof j.pid === "string" ? Number(j.pid) : NaN;
      if (host !== undefined && Number.isSafeInteger(pid) && pid > 0) {
        return { host: sanitizeHost(host), pid, nonce: typeof j.nonce === "string" ? j.nonce : "" };
      }
    } catch {
      // Not JSON after all: try the text form.
    }
  }
  return parseOwnerName(text);
}

/**
 * Whether a lock file's holder can no longer be working: same host and its pid is gone,
 * or its heartbeat is older than `staleAfterMs`.
 */
export async function lockIsStale(runtime: Runtime, path: string, staleAfterMs: number): Promise<boolean> {
  const { fs, platform } = runtime;
  const info = await fs.lstat(path).catch(() => null);
  if (!info) return false;
  const owner = await readOwner(runtime, path);
  if (writerState(platform, owner) === "dead") return true;
  return platform.now() - info.mtimeMs > staleAfterMs;
}

async function breakIfStale(runtime: Runtime, path: string, staleAfterMs: number): Promise<void> {
  if (!(await lockIsStale(runtime, path, staleAfterMs))) return;
  const { fs, platform } = runtime;
  const judged = await readOwner(runtime, path);
  // Move it aside rather than unlink: of several waiters breaking it, one rename wins.
  const aside = path + "." + scratchName("stale", writerIdentity(platform));
  try {
    await fs.rename(path, aside);
  } catch {
    return;
  }
  const moved = await readOwner(runtime, aside);
  if (judged && moved && moved.nonce !== judged.nonce) {
    // We raced a fresh holder that replaced the stale one: give its lock back.
    await fs.link(aside, path).catch(() => {});
  }
  await removeIfFile(runtime, aside).catch(() => {});
}
