/**
 * Picks the adapter for the runtime this code is running on.
 *
 * @module
 */

import { bunRuntime } from "./bun.ts";
import { denoRuntime } from "./deno.ts";
import { nodeRuntime } from "./node.ts";
import type { Runtime } from "../core/ports.ts";
import { detectRuntime } from "./runtime_name.ts";

export { detectRuntime, type RuntimeName } from "./runtime_name.ts";

let cached: Runtime | undefined;

/**
 * The {@link Runtime} for the running runtime, created once and shared.
 *
 * @example
 * ```ts
 * import { defaultRuntime } from "hubcache";
 *
 * const runtime = defaultRuntime();
 * console.log(runtime.name, (await runtime.fs.stat("/tmp")).kind); // e.g. "node" "directory"
 * ```
 */
export function defaultRuntime(): Runtime {
  if (cached !== undefined) return cached;
  const name = detectRuntime();
  cached = name === "deno" ? denoRuntime() : name === "bun" ? bunRuntime() : nodeRuntime();
  return cached;
}
