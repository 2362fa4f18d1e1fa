/**
 * The runtime under test: the adapter for whichever runtime executes the test file.
 *
 * @module
 */

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
