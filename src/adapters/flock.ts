/**
 * libc `flock(2)` reached through a runtime's FFI (koffi on Node, `Deno.dlopen`, `bun:ffi`): the
 * lock Python's `filelock` takes on `.locks/<repo>/<etag>.lock`, so hubcache and the Python
 * client de-duplicate against each other (`docs/DESIGN.md §The lock`).
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import { close as closeFd, constants as fsConstants, fstat as fstatFd, open as openFd } from "node:fs";
import type { Stats } from "node:fs";
import * as os from "node:os";
import process from "node:process";
import { dirname } from "../core/fs/paths.ts";
import { FsError, isFsError } from "../core/ports.ts";
import type { AdvisoryLocks } from "../core/ports.ts";
import { attempt, errnoName, toFsError } from "./fs_errors.ts";

/**
 * libc `flock(2)` reached through some FFI: returns 0 on success, else the errno.
 */
export type FlockCall = (fd: number, operation: number) => number;

/**
 * Bind libc `flock` through some FFI, trying the usual names of libc in turn.
 * `bind(library, errnoSymbol)` opens one library (throwing if it cannot) and returns
 * a {@link FlockCall} that reads errno through `errnoSymbol` after a failure:
 * glibc and musl call it `__errno_location`, Darwin and the BSDs `__error`.
 */
export function bindLibcFlock(bind: (library: string, errnoSymbol: string) => FlockCall): FlockCall {
  return bindLibc("flock", bind);
}

/** {@link bindLibcFlock} for any libc call: `what` names it in the error when no libc loads. */
export function bindLibc<T>(what: string, bind: (library: string, errnoSymbol: string) => T): T {
  const libraries = process.platform === "darwin"
    ? ["libSystem.B.dylib", "/usr/lib/libSystem.B.dylib"]
    : ["libc.so.6", "libc.so", `libc.musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`];
  const errnoSymbol = process.platform === "linux" ? "__errno_location" : "__error";
  let lastError: unknown;
  for (const library of libraries) {
    try {
      return bind(library, errnoSymbol);
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`cannot load libc for ${what} (tried ${libraries.join(", ")})`, { cause: lastError });
}

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

function flockOrThrow(flock: FlockCall, fd: number, operation: number, path: string): boolean {
  for (;;) {
    const errno = flock(fd, operation);
    if (errno === 0) return true;
    if (errno === os.constants.errno.EINTR) continue;
    if (errno === os.constants.errno.EWOULDBLOCK || errno === os.constants.errno.EAGAIN) return false;
    const name = errnoName(errno) ?? `errno ${errno}`;
    // ENOLCK: the file system has no lock manager (NFS without lockd). Either way, no lock.
    const code = name === "ENOLCK" ? "ENOTSUP" : name;
    throw toFsError({ code, message: `flock failed with ${name}` }, "flock", path);
  }
}

/**
 * {@link AdvisoryLocks} on libc `flock(fd, LOCK_EX|LOCK_NB)` — the lock Python's
 * `filelock` takes on `.locks/<repo>/<etag>.lock`, so both clients de-duplicate
 * against each other. `load` binds `flock` through the runtime's FFI; it runs once,
 * on first use. If it fails, every `tryLock` rejects with `FsError` `ENOTSUP`
 * (callers treat any rejection as "no lock available" and go on lock-free).
 *
 * flock belongs to the open file description, so two `tryLock`s on one path exclude
 * each other even inside one process.
 */
export function flockAdvisoryLocks(load: () => Promise<FlockCall>): AdvisoryLocks {
  let loaded: Promise<FlockCall> | undefined;
  const flockFn = (path: string): Promise<FlockCall> => {
    loaded ??= load();
    return loaded.catch((err: unknown) => {
      throw new FsError("ENOTSUP", "flock", path, `ENOTSUP: flock is not available here: ${String(err)}`, { cause: err });
    });
  };
  return {
    async tryLock(path: string): Promise<{ release(): Promise<void> } | null> {
      const flock = await flockFn(path);
      const open = (): Promise<number> => attempt("open", path, () => rawOpen(path, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o666));
      // A holder that unlinks the lock file on release leaves us locking an inode nobody
      // else can open; re-check the path after locking and retry a few times.
      for (let tries = 0; tries < 3; tries++) {
        let fd: number;
        try {
          fd = await open();
        } catch (err) {
          if (!isFsError(err, "ENOENT")) throw err;
          // The folder is made for the first lock taken in it only, not looked for each time.
          const parent = dirname(path);
          await attempt("mkdir", parent, () => fsp.mkdir(parent, { recursive: true }));
          fd = await open();
        }
        try {
          if (!flockOrThrow(flock, fd, LOCK_EX | LOCK_NB, path)) {
            await rawClose(fd);
            return null;
          }
          const [mine, now] = await Promise.all([rawFstat(fd), fsp.stat(path).catch(() => undefined)]);
          if (now !== undefined && now.ino === mine.ino && now.dev === mine.dev) return heldLock(flock, fd, path);
          await rawClose(fd);
        } catch (err) {
          await rawClose(fd).catch(() => {});
          throw toFsError(err, "flock", path);
        }
      }
      return null;
    },
  };
}

/**
 * A taken flock. It lives on a raw descriptor, not a `FileHandle`: a FileHandle
 * dropped unclosed is closed by the garbage collector (Bun 1.4 even throws for it),
 * which silently ended the lock in testing. A lock never released is held until the
 * process exits, when the kernel drops it.
 */
function heldLock(flock: FlockCall, fd: number, path: string): { release(): Promise<void> } {
  let released = false;
  return {
    release(): Promise<void> {
      if (released) return Promise.resolve();
      released = true;
      return attempt("flock", path, async () => {
        try {
          flockOrThrow(flock, fd, LOCK_UN, path);
        } finally {
          await rawClose(fd);
        }
      });
    },
  };
}

function rawOpen(path: string, flags: number, mode: number): Promise<number> {
  return new Promise((resolve, reject) => openFd(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function rawFstat(fd: number): Promise<Stats> {
  return new Promise((resolve, reject) => fstatFd(fd, (err, st) => (err ? reject(err) : resolve(st))));
}

function rawClose(fd: number): Promise<void> {
  return new Promise((resolve, reject) => closeFd(fd, (err) => (err ? reject(err) : resolve())));
}
