/**
 * Which runtime is executing this code: one rule for the adapter picker and for the Node
 * adapter's own choices (it is also the base of the Deno and Bun adapters).
 *
 * @module
 */

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
