/**
 * The runtime under test: the adapter for whichever runtime executes the test file.
 *
 * @module
 */

import process from "node:process";
import { defaultRuntime, detectRuntime } from "../../src/adapters/runtime_auto.ts";
import type { Runtime } from "../../src/core/ports.ts";

/**
 * The adapter for the runtime running this test (node under `node --test`, deno under
 * `deno test`, bun under `bun test`).
 *
 * @example
 * ```ts
 * const rt = testRuntime();
 * await rt.fs.mkdirp(dir);
 * ```
 */
export function testRuntime(): Runtime {
  return defaultRuntime();
}

/**
 * This host's share of rounds that run every runtime's CLI whatever runtime hosts the test, so
 * that their coverage does not depend on the host. `npm test` runs the suite under each
 * runtime named in `HUBCACHE_TEST_HOSTS` (scripts/test.mjs sets it: `node,deno,bun`), and each
 * takes every third such round: together they run each round once instead of three times.
 * `undefined` (run every round) when the variable is unset or does not name this runtime, as
 * when one runtime runs a file alone.
 *
 * @example
 * ```ts
 * const report = await runTwoHostRaces({ mode: "short", share: hostShare() });
 * ```
 */
export function hostShare(): { index: number; of: number } | undefined {
  const hosts = (process.env.HUBCACHE_TEST_HOSTS ?? "").split(",").map((h) => h.trim()).filter((h) => h !== "");
  const index = hosts.indexOf(detectRuntime());
  return index < 0 || hosts.length < 2 ? undefined : { index, of: hosts.length };
}

/** How many of `count` rounds {@link hostShare} gives this host. */
export function roundsOnThisHost(count: number): number {
  const share = hostShare();
  return share === undefined ? count : Array.from({ length: count }, (_, i) => i).filter((i) => i % share.of === share.index).length;
}

/**
 * The name of the runtime executing this test.
 *
 * @example
 * ```ts
 * test("flock interop", { skip: currentRuntimeName() === "node" }, async () => { … });
 * ```
 */
export function currentRuntimeName(): "node" | "deno" | "bun" {
  return detectRuntime();
}
