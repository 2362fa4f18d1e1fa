/**
 * The Deno adapter: the Node adapter plus an OS advisory lock.
 *
 * `node:fs/promises` and `node:crypto` run at native speed under Deno and report the
 * same `err.code`s (`docs/DESIGN.md §Runtimes`), so files and hashing come from node.ts.
 *
 * Locks: Deno's own `FsFile.lock(true)` is `flock(LOCK_EX)` *without* `LOCK_NB` —
 * it blocks until the holder lets go, and there is no try-lock. Neither form can
 * serve `tryLock`:
 * - `lockSync` blocks the only JavaScript thread, possibly forever.
 * - `lock()` parks a thread-pool thread that cannot be cancelled; racing it against a
 *   timer would return `null` while the pending call still acquires the lock later
 *   (then nobody releases it) and keeps the process from exiting until the other
 *   holder is done — a hang, for a lock that is only an optimisation (`docs/DESIGN.md §Invariants 6`).
 * So this adapter calls libc `flock(fd, LOCK_EX|LOCK_NB)` through `Deno.dlopen`
 * instead, on the descriptor `node:fs` opened (a real OS fd under Deno 2). That
 * needs `--allow-ffi`; without it (checked without prompting) `locks` is left
 * undefined and hubcache runs lock-free, which is always correct.
 *
 * Reflinks: Deno's `node:fs` `copyFile` ignores `COPYFILE_FICLONE_FORCE` (where the file system
 * cannot reflink it copies and reports success, measured on ext4), so `clone` — which must
 * promise a reflink or fail — is the Linux `FICLONE` ioctl through `Deno.dlopen` (same
 * `--allow-ffi` condition); elsewhere the adapter offers no `clone`, and its copies still
 * reflink where the file system can.
 *
 * @module
 */

import process from "node:process";
import * as fsp from "node:fs/promises";
import { bindLibc, bindLibcFlock, type FlockCall, flockAdvisoryLocks } from "./flock.ts";
import { attempt, errnoName, toFsError } from "./fs_errors.ts";
import { nodeRuntimeBase } from "./node.ts";
import type { AdvisoryLocks, Runtime } from "../core/ports.ts";

// deno-lint-ignore no-explicit-any
type DenoNamespace = any;

function denoGlobal(): DenoNamespace | undefined {
  return (globalThis as { Deno?: DenoNamespace }).Deno;
}

function loadDenoFlock(deno: DenoNamespace): FlockCall {
  return bindLibcFlock((library, errnoSymbol) => {
    const { symbols } = deno.dlopen(library, {
      flock: { parameters: ["i32", "i32"], result: "i32" },
      [errnoSymbol]: { parameters: [], result: "pointer" },
    });
    return (fd, operation) =>
      symbols.flock(fd, operation) === 0 ? 0 : new deno.UnsafePointerView(symbols[errnoSymbol]()).getInt32(0);
  });
}

/** `ioctl(dst, FICLONE, src)`: 0, or the errno. */
type FicloneCall = (dstFd: number, srcFd: number) => number;

/** `_IOW(0x94, 9, int)` from `linux/fs.h`: make `dst` share `src`'s extents (a reflink), or fail. */
const FICLONE = 0x40049409n;

function loadDenoFiclone(deno: DenoNamespace): FicloneCall {
  return bindLibc("ioctl", (library, errnoSymbol) => {
    // Called blocking, so errno is read on the thread that set it. A reflink only shares
    // extents (metadata): it returns quickly, or fails at once where it cannot be done.
    const { symbols } = deno.dlopen(library, {
      ioctl: { parameters: ["i32", "u64", "i32"], result: "i32" },
      [errnoSymbol]: { parameters: [], result: "pointer" },
    });
    return (dstFd, srcFd) =>
      symbols.ioctl(dstFd, FICLONE, srcFd) === 0 ? 0 : new deno.UnsafePointerView(symbols[errnoSymbol]()).getInt32(0);
  });
}

/**
 * `clone` for Deno on Linux: a new file at `to` (exclusive create: `EEXIST` if anything is
 * there) sharing `from`'s extents, or an `FsError` (`ENOTSUP`, `EXDEV`, `EINVAL`, …) and no file.
 */
function denoClone(ficlone: () => FicloneCall): (from: string, to: string) => Promise<void> {
  return async (from, to) => {
    const source = await attempt("open", from, () => fsp.open(from, "r"));
    try {
      const target = await attempt("open", to, () => fsp.open(to, "wx"));
      let errno = -1;
      try {
        errno = ficlone()(target.fd, source.fd);
      } finally {
        await target.close().catch(() => {});
        if (errno !== 0) await fsp.unlink(to).catch(() => {});
      }
      if (errno !== 0) {
        const name = errnoName(errno) ?? "EUNKNOWN";
        throw toFsError({ code: name, errno, message: `ioctl FICLONE failed with ${name}` }, "clone", to);
      }
    } finally {
      await source.close().catch(() => {});
    }
  };
}

function ffiGranted(deno: DenoNamespace): boolean {
  try {
    return deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * {@link AdvisoryLocks} for Deno: libc `flock(fd, LOCK_EX|LOCK_NB)` through
 * `Deno.dlopen`, interoperable with the Python client's `.locks/<repo>/<etag>.lock`.
 * `undefined` when FFI is not permitted, not on Deno, or on Windows.
 *
 * @example
 * ```ts
 * import { denoLocks } from "hubcache/adapters/deno";
 *
 * const lock = await denoLocks()?.tryLock("/tmp/hub/.locks/models--org--x/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.lock");
 * if (lock) {
 *   try {
 *     // … download the blob; a Python process wanting it waits on the same lock …
 *   } finally {
 *     await lock.release();
 *   }
 * }
 * ```
 */
export function denoLocks(): AdvisoryLocks | undefined {
  const deno = denoGlobal();
  if (deno === undefined || process.platform === "win32" || typeof deno.dlopen !== "function") return undefined;
  if (!ffiGranted(deno)) return undefined;
  return flockAdvisoryLocks(() => Promise.resolve().then(() => loadDenoFlock(deno)));
}

/**
 * The runtime for Deno: the Node adapter plus {@link denoLocks} when FFI is allowed.
 *
 * @example
 * ```ts
 * import { denoRuntime } from "hubcache/adapters/deno";
 * import { downloadFile } from "hubcache/core";
 *
 * const runtime = denoRuntime(); // run with --allow-ffi to get runtime.locks
 * const path = await downloadFile({ runtime, repo: "openai-community/gpt2", path: "config.json" });
 * ```
 */
export function denoRuntime(): Runtime {
  const locks = denoLocks();
  const base = nodeRuntimeBase();
  // Deno's `node:fs` copyFile ignores COPYFILE_FICLONE_FORCE: where the file system cannot
  // reflink it copies and reports success (measured on ext4), so it cannot promise a reflink.
  // Its copyFile still reflinks where the file system can (measured on XFS).
  const { clone: _cannotPromise, ...fs } = base.fs;
  const deno = denoGlobal();
  if (deno !== undefined && process.platform === "linux" && typeof deno.dlopen === "function" && ffiGranted(deno)) {
    let call: FicloneCall | undefined;
    return { ...base, fs: { ...fs, clone: denoClone(() => (call ??= loadDenoFiclone(deno))) }, name: "deno", ...(locks !== undefined ? { locks } : {}) };
  }
  return { ...base, fs, name: "deno", ...(locks !== undefined ? { locks } : {}) };
}
