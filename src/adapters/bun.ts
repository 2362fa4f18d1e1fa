/**
 * The Bun adapter: the Node adapter plus an OS advisory lock.
 *
 * `node:fs/promises` and `node:crypto` run at native speed under Bun (`docs/DESIGN.md §Runtimes`).
 * Hashing was measured both ways on this machine (Bun 1.4.5, 256 MiB in 64 KiB /
 * 512 KiB / 1 MiB chunks, best of three, MB/s):
 *
 * | | 64 KiB | 512 KiB | 1 MiB |
 * |---|---|---|---|
 * | sha256 `node:crypto` | 1591 | 1826 | 1836 |
 * | sha256 `Bun.CryptoHasher` | 1579 | 1799 | 1849 |
 * | sha1 `node:crypto` | 2084 | 2046 | 2055 |
 * | sha1 `Bun.CryptoHasher` | 2077 | 2042 | 2050 |
 *
 * They are the same code underneath (BoringSSL); the differences are noise. So Bun
 * keeps the Node hasher — one way to hash — and this adapter adds only the lock.
 *
 * @module
 */

import process from "node:process";
import { bindLibcFlock, type FlockCall, flockAdvisoryLocks } from "./flock.ts";
import { nodeRuntimeBase } from "./node.ts";
import type { AdvisoryLocks, Runtime } from "../core/ports.ts";

async function loadBunFlock(): Promise<FlockCall> {
  // A variable specifier keeps tsc and Node's loader from resolving "bun:ffi" when this
  // file is merely imported on another runtime.
  const specifier = "bun:ffi";
  // deno-lint-ignore no-explicit-any
  const ffi: any = await import(specifier);
  return bindLibcFlock((library, errnoSymbol) => {
    const { symbols } = ffi.dlopen(library, {
      flock: { args: ["i32", "i32"], returns: "i32" },
      [errnoSymbol]: { args: [], returns: "ptr" },
    });
    return (fd, operation) => (symbols.flock(fd, operation) === 0 ? 0 : ffi.read.i32(symbols[errnoSymbol](), 0));
  });
}

/**
 * {@link AdvisoryLocks} for Bun: libc `flock(fd, LOCK_EX|LOCK_NB)` through `bun:ffi`,
 * interoperable with the Python client's `.locks/<repo>/<etag>.lock`.
 * `undefined` on Windows, which has no flock.
 *
 * @example
 * ```ts
 * import { bunLocks } from "hubcache/adapters/bun";
 *
 * const lock = await bunLocks()?.tryLock("/tmp/hub/.locks/models--org--x/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.lock");
 * if (lock) {
 *   try {
 *     // … download the blob; a Python process wanting it waits on the same lock …
 *   } finally {
 *     await lock.release();
 *   }
 * }
 * ```
 */
export function bunLocks(): AdvisoryLocks | undefined {
  if (process.platform === "win32") return undefined;
  return flockAdvisoryLocks(loadBunFlock);
}

/**
 * The runtime for Bun: the Node adapter plus {@link bunLocks}.
 *
 * @example
 * ```ts
 * import { bunRuntime } from "hubcache/adapters/bun";
 * import { downloadFile } from "hubcache/core";
 *
 * const path = await downloadFile({ runtime: bunRuntime(), repo: "openai-community/gpt2", path: "config.json" });
 * ```
 */
export function bunRuntime(): Runtime {
  const locks = bunLocks();
  return { ...nodeRuntimeBase(), name: "bun", ...(locks !== undefined ? { locks } : {}) };
}
