/**
 * The memory runtime: the memory file system, a controllable clock, and a platform whose
 * identity, randomness and process table a test decides — several of them sharing one file
 * system and clock behave like processes sharing one disk.
 *
 * @module
 */

import { portableHashers } from "../portable_hasher.ts";
import type { AdvisoryLocks, HasherFactory, Platform, Runtime } from "../../core/ports.ts";
import { MemoryClock, type TimerMode } from "./clock.ts";
import { MemoryFileSystem } from "./file_system.ts";

/** A {@link Platform} whose identity, randomness and process table a test controls. */
export interface MemoryPlatform extends Platform {
  /** Pids `isProcessAlive` reports alive (besides this runtime's own). Share it between runtimes. */
  readonly alivePids: Set<number>;
  /** The environment `env()` reads; mutate freely. */
  readonly envMap: Map<string, string>;
}

/** Deterministic 32-bit generator (splitmix32): same seed, same names, every run. */
function seededBytes(seed: number): (n: number) => Uint8Array {
  let state = seed >>> 0;
  const next32 = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = next32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  };
}

/** Options of {@link memoryRuntime}. */
export interface MemoryRuntimeOptions {
  /** Share a file system between runtimes to simulate processes on one machine. Default: a new one. */
  fs?: MemoryFileSystem;
  /** Share a clock between runtimes. Default: a new one with `timers` and `startMs`. */
  clock?: MemoryClock;
  /** Timer mode of a new clock. Default "manual". */
  timers?: TimerMode;
  /** Start time of a new clock. Default 1_700_000_000_000. */
  startMs?: number;
  /** Seed of `randomHex`. Default: the pid, so runtimes with distinct pids make distinct names. */
  seed?: number;
  /** Default "memhost". */
  hostname?: string;
  /** Default 4242. */
  pid?: number;
  /** Pids considered alive besides our own. Share the Set between runtimes. Default empty. */
  alivePids?: Set<number>;
  /** Environment variables. Default empty. */
  env?: Record<string, string> | Map<string, string>;
  /** Default "/home/user". */
  homeDir?: string;
  /** Default: the global `fetch`, looked up at call time. */
  fetch?: typeof fetch;
  /** Default: {@link portableHashers} (hash-wasm where WebAssembly compiles, else `@noble/hashes`). */
  hashers?: HasherFactory;
  /** Provide in-memory flock-like locks (see `fs.locksBroken`). Default true. */
  locks?: boolean;
}

/** What {@link memoryRuntime} returns: a {@link Runtime} with its controls exposed. */
export interface MemoryRuntime extends Runtime {
  /** Always `"memory"`, so diagnostics say which adapter ran. */
  readonly name: "memory";
  /** The file system, typed so tests reach its fault and crash controls. */
  readonly fs: MemoryFileSystem;
  /** The clock behind `platform.now`/`sleep`; `advance` it to make timeouts fire. */
  readonly clock: MemoryClock;
  /** The platform, typed so tests reach `alivePids` and `envMap`. */
  readonly platform: MemoryPlatform;
}

/**
 * A runtime that touches nothing outside memory (except `fetch`).
 *
 * @example
 * ```ts
 * import { memoryRuntime } from "hubcache/adapters/memory";
 *
 * const a = memoryRuntime({ pid: 100, timers: "auto" });
 * const b = memoryRuntime({ fs: a.fs, clock: a.clock, pid: 200, alivePids: a.platform.alivePids });
 * a.platform.alivePids.add(200);
 * console.log(a.platform.isProcessAlive(200), b.platform.isProcessAlive(100)); // true false
 * // a and b now behave like two processes sharing one disk; b sees a as dead.
 * ```
 */
export function memoryRuntime(options: MemoryRuntimeOptions = {}): MemoryRuntime {
  const clock = options.clock ?? new MemoryClock({ timers: options.timers, startMs: options.startMs });
  const fs = options.fs ?? new MemoryFileSystem({ now: () => clock.now() });
  const pid = options.pid ?? 4242;
  const random = seededBytes(options.seed ?? pid);
  const alivePids = options.alivePids ?? new Set<number>();
  const envMap = options.env instanceof Map ? options.env : new Map(Object.entries(options.env ?? {}));
  const hostname = options.hostname ?? "memhost";
  const homeDir = options.homeDir ?? "/home/user";
  const platform: MemoryPlatform = {
    alivePids,
    envMap,
    now: () => clock.now(),
    sleep: (ms, signal) => clock.sleep(ms, signal),
    timeout: (ms, signal) => clock.timeout(ms, signal),
    randomHex(bytes: number): string {
      let hex = "";
      for (const b of random(bytes)) hex += b.toString(16).padStart(2, "0");
      return hex;
    },
    hostname: () => hostname,
    pid: () => pid,
    isProcessAlive: (p) => p === pid || alivePids.has(p),
    env: (name) => envMap.get(name),
    homeDir: () => homeDir,
  };
  const locks: AdvisoryLocks | undefined = options.locks === false ? undefined : { tryLock: (path) => fs.lockFile(path) };
  return {
    name: "memory",
    fs,
    clock,
    platform,
    hashers: options.hashers ?? portableHashers(),
    fetch: options.fetch ?? (((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init)) as typeof fetch),
    ...(locks !== undefined ? { locks } : {}),
  };
}

