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
 * @module
 */

import process from "node:process";
import { bindLibcFlock, type FlockCall, flockAdvisoryLocks } from "./flock.ts";
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
  // reflink it copies and reports success (measured on ext4), so it cannot promise a reflink and
  // offers no `clone`. Its copyFile still reflinks where the file system can (measured on XFS).
  const { clone: _cannotPromise, ...fs } = base.fs;
  return { ...base, fs, name: "deno", ...(locks !== undefined ? { locks } : {}) };
}
