/**
 * Test machinery the torture suite switches on in CLI processes, and nothing else does.
 *
 * `HUBCACHE_TEST_HOOKS` holds comma-separated hooks:
 *
 * - `crash-at=<checkpoint>[:<n>]` (say `crash-at=bytes-written:3`): the process sends itself
 *   SIGKILL the n-th time (default 1) the core passes that checkpoint. SIGKILL, not an
 *   exception: nothing gets to clean up, exactly like the OOM killer, a power cut of one
 *   process, or `kill -9`. The torture suite then checks that another process (on another
 *   runtime) finishes the job with exact bytes.
 * - `idle-timeout-ms=<ms>`: downloads treat a connection that sends nothing for this long as
 *   dropped (default 60 s), so stalled-server rounds end fast.
 *
 * Only `src/cli.ts` reads the variable, once; the library never does, so `defaultRuntime()` has
 * no checkpoint hook and production downloads pay nothing. Under Deno it is read only when env
 * access is already granted: a user running the CLI without `-A` is never asked about it.
 *
 * @module
 */

import process from "node:process";
import type { CheckpointName, Runtime } from "../core/ports.ts";

/** The environment variable that switches the hooks on. */
export const TEST_HOOKS_ENV = "HUBCACHE_TEST_HOOKS";

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

/** A parsed `crash-at` hook. */
export interface CrashSpec {
  /** The checkpoint to die at. */
  readonly checkpoint: CheckpointName;
  /** Crash at this occurrence (1-based). */
  readonly occurrence: number;
}

/** The hooks `HUBCACHE_TEST_HOOKS` switches on. */
export interface TestHooks {
  /** Die at this checkpoint. */
  readonly crashAt?: CrashSpec;
  /** Give up on a silent connection after this long. */
  readonly idleTimeoutMs?: number;
}

/**
 * Parse `<checkpoint>[:<n>]`; throws a RangeError naming the valid checkpoints on a typo, so a
 * misspelt crash point fails loudly instead of silently never firing.
 */
export function parseCrashSpec(spec: string): CrashSpec {
  const m = /^\s*([a-z-]+)\s*(?::\s*(\d+)\s*)?$/.exec(spec);
  const name = m?.[1] as CheckpointName | undefined;
  if (!m || name === undefined || !CHECKPOINT_NAMES.includes(name)) {
    throw new RangeError(`${TEST_HOOKS_ENV}: crash-at='${spec}': expected <checkpoint>[:<n>] with checkpoint one of ${CHECKPOINT_NAMES.join(", ")}`);
  }
  const occurrence = m[2] === undefined ? 1 : Number(m[2]);
  if (!Number.isSafeInteger(occurrence) || occurrence < 1) {
    throw new RangeError(`${TEST_HOOKS_ENV}: crash-at='${spec}': the occurrence must be a positive integer`);
  }
  return { checkpoint: name, occurrence };
}

/** Parse the value of `HUBCACHE_TEST_HOOKS`; an unknown hook or a bad value throws a RangeError. */
export function parseTestHooks(value: string): TestHooks {
  let hooks: TestHooks = {};
  for (const part of value.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const eq = part.indexOf("=");
    const [key, arg] = eq < 0 ? [part, ""] : [part.slice(0, eq).trim(), part.slice(eq + 1).trim()];
    if (key === "crash-at") hooks = { ...hooks, crashAt: parseCrashSpec(arg) };
    else if (key === "idle-timeout-ms") {
      const ms = Number(arg);
      if (!/^\d+$/.test(arg) || !Number.isSafeInteger(ms) || ms < 1) {
        throw new RangeError(`${TEST_HOOKS_ENV}: idle-timeout-ms='${arg}': expected a positive integer`);
      }
      hooks = { ...hooks, idleTimeoutMs: ms };
    } else {
      throw new RangeError(`${TEST_HOOKS_ENV}: unknown hook '${key}' (expected crash-at or idle-timeout-ms)`);
    }
  }
  return hooks;
}

/**
 * A checkpoint hook that calls `crash` at the chosen occurrence of the chosen checkpoint
 * (default: SIGKILL this process). Later occurrences do nothing (the process is gone anyway,
 * and a test's `crash` that returns must not fire twice).
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
 * `runtime` with the crash hook of `hooks` armed, or `runtime` itself, unchanged, when there is
 * none. An existing `checkpoint` hook still runs first.
 */
export function withTestHooks(runtime: Runtime, hooks: TestHooks, crash: () => void = killSelf): Runtime {
  if (hooks.crashAt === undefined) return runtime;
  const hook = crashHook(hooks.crashAt, crash);
  const previous = runtime.checkpoint;
  return {
    ...runtime,
    checkpoint: previous === undefined ? hook : async (name) => {
      await previous(name);
      hook(name);
    },
  };
}

/**
 * The hooks this process was started with: `HUBCACHE_TEST_HOOKS`, read without asking. Under
 * Deno the variable is read only when env access is already granted (a permission query never
 * prompts); elsewhere `process.env` is free to read.
 */
export function testHooksFromEnvironment(): TestHooks {
  const deno = (globalThis as { Deno?: { permissions: { querySync(d: { name: "env"; variable: string }): { state: string } } } }).Deno;
  try {
    if (deno !== undefined && deno.permissions.querySync({ name: "env", variable: TEST_HOOKS_ENV }).state !== "granted") return {};
    const value = process.env[TEST_HOOKS_ENV];
    return value === undefined || value.trim() === "" ? {} : parseTestHooks(value);
  } catch (err) {
    if (err instanceof RangeError) throw err;
    return {}; // no way to read the environment: no hooks
  }
}
