/**
 * Picks the adapter for the runtime this code is running on.
 *
 * @module
 */

import { bunRuntime } from "./bun.ts";
import { denoRuntime } from "./deno.ts";
import { nodeRuntime } from "./node.ts";
import type { Runtime } from "../core/ports.ts";

/** Which of the supported runtimes is executing this code. */
export type RuntimeName = "node" | "deno" | "bun";

/**
 * Detect the running runtime. Deno and Bun both define `process` too, so their own
 * globals are checked first.
 */
export function detectRuntime(): RuntimeName {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return "deno";
  if (g.Bun !== undefined) return "bun";
  return "node";
}

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
