/**
 * A Hub emulator plus a fresh cache directory, for download tests.
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import { HubEmulator, type HubEmulatorOptions } from "../../src/testing/mod.ts";
import type { Runtime } from "../../src/core/ports.ts";
import { testRuntime } from "./runtime.ts";
import { makeTempDir, removeTempDir } from "./tmp.ts";

/** The token the emulator accepts by default. */
export const TOKEN = "hf_test_token";

/** A running emulator, a temp cache, and the runtime under test. */
export interface HubFixture {
  readonly hub: HubEmulator;
  readonly cacheDir: string;
  readonly runtime: Runtime;
  /** Options every download in a test passes. */
  readonly base: { runtime: Runtime; cacheDir: string; endpoint: string; token: string };
  close(): Promise<void>;
}

/**
 * Start an emulator and make a temp cache.
 *
 * @example
 * ```ts
 * const fx = await startHub(); try { … } finally { await fx.close(); }
 * ```
 */
export async function startHub(options: HubEmulatorOptions = {}): Promise<HubFixture> {
  const hub = await HubEmulator.start(options);
  const cacheDir = await makeTempDir("hubcache-cache-");
  const runtime = testRuntime();
  return {
    hub,
    cacheDir,
    runtime,
    base: { runtime, cacheDir, endpoint: hub.endpoint, token: TOKEN },
    async close() {
      await hub.close();
      await removeTempDir(cacheDir);
    },
  };
}

/**
 * Deterministic pseudo-random bytes (so tests can compare content without storing it).
 *
 * @example
 * ```ts
 * const data = bytes(1 << 20, 7);
 * ```
 */
export function bytes(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A random whole number in [lo, hi): where to interrupt a download, so that runs cover
 * different points.
 *
 * @example
 * ```ts
 * const killAt = randomBetween(0.1 * size, 0.4 * size);
 * ```
 */
export function randomBetween(lo: number, hi: number): number {
  return Math.floor(lo + Math.random() * (hi - lo));
}

/** Names in a directory, or [] if it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir).catch(() => [] as string[])).sort();
}

/** True when two byte arrays are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Read a file as bytes. */
export async function readBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await fsp.readFile(path));
}

/**
 * Poll until `check` returns true (or throw after `timeoutMs`).
 *
 * @example
 * ```ts
 * await waitFor(async () => (await listDir(blobs)).some((n) => n.endsWith(".incomplete")));
 * ```
 */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = "condition"): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
