/**
 * Crash points: kill this process at a named instant of a download, for torture tests.
 *
 * With `HUBCACHE_CRASH_AT=<checkpoint>[:<n>]` in the environment (say `bytes-written:3`),
 * the runtime's `checkpoint` hook sends SIGKILL to its own process the n-th time (default 1)
 * the core passes that checkpoint. SIGKILL, not an exception: nothing in the process gets to
 * clean up, exactly like the OOM killer, a power cut of one process, or `kill -9`. The tests
 * then check that another process (on another runtime) finishes the job with exact bytes.
 *
 * Production runs pay nothing: without the variable the runtime has no hook at all.
 *
 * @module
 */

import process from "node:process";
import type { CheckpointName, Runtime } from "../core/ports.ts";

/** The environment variable that arms a crash point. */
export const CRASH_AT_ENV = "HUBCACHE_CRASH_AT";

/** Every checkpoint the core reports, in the order of a typical download. */
export const CHECKPOINT_NAMES: readonly CheckpointName[] = [
  "temp-created",
  "bytes-written",
  "fsynced",
  "renamed",
  "pointer-created",
  "ref-written",
  "partial-released",
];

/** A parsed `HUBCACHE_CRASH_AT` value. */
export interface CrashSpec {
  readonly checkpoint: CheckpointName;
  /** Crash at this occurrence (1-based). */
  readonly occurrence: number;
}

/**
 * Parse `<checkpoint>[:<n>]`; throws a RangeError naming the valid checkpoints on a typo, so a
 * misspelt crash point fails loudly instead of silently never firing.
 *
 * @example
 * ```ts
 * parseCrashSpec("bytes-written:3"); // { checkpoint: "bytes-written", occurrence: 3 }
 * ```
 */
export function parseCrashSpec(spec: string): CrashSpec {
  const m = /^\s*([a-z-]+)\s*(?::\s*(\d+)\s*)?$/.exec(spec);
  const name = m?.[1] as CheckpointName | undefined;
  if (!m || name === undefined || !CHECKPOINT_NAMES.includes(name)) {
    throw new RangeError(`${CRASH_AT_ENV}='${spec}': expected <checkpoint>[:<n>] with checkpoint one of ${CHECKPOINT_NAMES.join(", ")}`);
  }
  const occurrence = m[2] === undefined ? 1 : Number(m[2]);
  if (!Number.isSafeInteger(occurrence) || occurrence < 1) {
    throw new RangeError(`${CRASH_AT_ENV}='${spec}': the occurrence must be a positive integer`);
  }
  return { checkpoint: name, occurrence };
}

/**
 * A checkpoint hook that calls `crash` at the chosen occurrence of the chosen checkpoint
 * (default: SIGKILL this process). Later occurrences do nothing (the process is gone anyway,
 * and a test's `crash` that returns must not fire twice).
 *
 * @example
 * ```ts
 * let fired = false;
 * const hook = crashHook(parseCrashSpec("renamed"), () => { fired = true; });
 * hook("renamed"); // fired === true
 * ```
 */
export function crashHook(spec: CrashSpec, crash: () => void = killSelf): (name: CheckpointName) => void {
  let seen = 0;
  return (name) => {
    if (name !== spec.checkpoint) return;
    seen += 1;
    if (seen === spec.occurrence) crash();
  };
}

/** SIGKILL this process: no handler, no finally, no flush. */
export function killSelf(): void {
  process.kill(process.pid, "SIGKILL");
}

/**
 * `runtime` with the crash hook armed from `HUBCACHE_CRASH_AT` (read once, through the
 * runtime's own env access so Deno's permissions apply), or `runtime` itself, unchanged,
 * when the variable is unset or empty. An existing `checkpoint` hook still runs first.
 *
 * @example
 * ```ts
 * const rt = withCrashPoints(nodeRuntime()); // HUBCACHE_CRASH_AT=fsynced node cli.js download …
 * ```
 */
export function withCrashPoints(runtime: Runtime, crash: () => void = killSelf): Runtime {
  const raw = runtime.platform.env(CRASH_AT_ENV);
  if (raw === undefined || raw.trim() === "") return runtime;
  const hook = crashHook(parseCrashSpec(raw), crash);
  const previous = runtime.checkpoint;
  return {
    ...runtime,
    checkpoint: previous === undefined ? hook : async (name) => {
      await previous(name);
      hook(name);
    },
  };
}
