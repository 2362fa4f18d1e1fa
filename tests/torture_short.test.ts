/**
 * The short torture run (`npm test`): crash points, then short versions of the process-race,
 * crash and network-fault parts. The long versions run with `npm run torture`.
 *
 * A fixed seed keeps CI reproducible; set HUBCACHE_TORTURE_SEED to explore others. Every
 * violation message carries the command that replays its round.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { CHECKPOINT_NAMES, crashHook, parseCrashSpec, parseTestHooks, withTestHooks } from "../src/cli/test_hooks.ts";
import { defaultRuntime } from "../src/adapters/runtime_auto.ts";
import type { CheckpointName, Runtime } from "../src/core/ports.ts";
import { runCrashes } from "./torture/crashes.ts";
import { runNetworkFaults } from "./torture/network_faults.ts";
import { runProcessRaces } from "./torture/process_races.ts";
import { runLocalDirs } from "./torture/local_dirs.ts";
import type { PartReport } from "./torture/report.ts";
import { hostShare, roundsOnThisHost } from "./_support/runtime.ts";

const SEED = Number(process.env.HUBCACHE_TORTURE_SEED ?? 20_250_601);

function explain(report: PartReport): string {
  return `${report.violations.length} violation(s) in ${report.part}:\n` +
    report.violations.map((v) => `- round ${v.round}: ${v.detail}${v.replay ? `\n  replay: ${v.replay}` : ""}`).join("\n");
}

function fakeRuntime(checkpoint?: Runtime["checkpoint"]): Runtime {
  return { name: "fake", ...(checkpoint ? { checkpoint } : {}) } as unknown as Runtime;
}

describe("test hooks (HUBCACHE_TEST_HOOKS, read by the CLI entry only)", () => {
  test("parse 'crash-at=<checkpoint>[:<n>]' and reject unknown checkpoints", () => {
    assert.deepEqual(parseCrashSpec("bytes-written:3"), { checkpoint: "bytes-written", occurrence: 3 });
    assert.deepEqual(parseCrashSpec("renamed"), { checkpoint: "renamed", occurrence: 1 });
    for (const name of CHECKPOINT_NAMES) assert.equal(parseCrashSpec(name).checkpoint, name);
    assert.throws(() => parseCrashSpec("byte-written"), /expected <checkpoint>\[:<n>\]/);
    assert.throws(() => parseCrashSpec("renamed:0"), /positive integer/);
    assert.throws(() => parseCrashSpec("renamed:x"), RangeError);
    assert.deepEqual(parseTestHooks("crash-at=fsynced:2, idle-timeout-ms=400"), {
      crashAt: { checkpoint: "fsynced", occurrence: 2 },
      idleTimeoutMs: 400,
    });
    assert.deepEqual(parseTestHooks(" "), {});
    assert.throws(() => parseTestHooks("idle-timeout-ms=0"), /positive integer/);
    assert.throws(() => parseTestHooks("crash-at=renamed,slow=1"), /unknown hook 'slow'/);
  });

  test("the hook fires exactly at the n-th occurrence of its checkpoint", () => {
    const fired: number[] = [];
    let calls = 0;
    const hook = crashHook(parseCrashSpec("bytes-written:3"), () => fired.push(calls));
    const sequence: CheckpointName[] = ["temp-created", "bytes-written", "bytes-written", "fsynced", "bytes-written", "bytes-written"];
    for (const name of sequence) {
      calls++;
      hook(name);
    }
    assert.deepEqual(fired, [5]);
  });

  test("without a crash hook the runtime is returned untouched, and the library's default runtime has none", async () => {
    const base = fakeRuntime();
    assert.equal(withTestHooks(base, {}), base);
    assert.equal(withTestHooks(base, { idleTimeoutMs: 400 }), base);
    assert.equal(defaultRuntime().checkpoint, undefined);
    let crashed = 0;
    const armed = withTestHooks(fakeRuntime(), parseTestHooks("crash-at=renamed:2"), () => crashed++);
    for (const name of ["renamed", "fsynced", "renamed", "renamed"] as CheckpointName[]) await armed.checkpoint?.(name);
    assert.equal(crashed, 1);
  });

  test("an existing checkpoint hook still runs before the crash hook", async () => {
    const seen: string[] = [];
    const armed = withTestHooks(fakeRuntime((name) => void seen.push(name)), parseTestHooks("crash-at=fsynced"), () => seen.push("crash"));
    await armed.checkpoint?.("temp-created");
    await armed.checkpoint?.("fsynced");
    assert.deepEqual(seen, ["temp-created", "fsynced", "crash"]);
  });

  test("a typo in HUBCACHE_TEST_HOOKS fails loudly instead of never firing", () => {
    assert.throws(() => parseTestHooks("crash-at=pointer-create"), /HUBCACHE_TEST_HOOKS/);
  });
});

describe("torture, short versions (npm run torture runs the long ones)", () => {
  test("process races: mixed-runtime processes on one cache, lock none/auto, with and without symlinks, all agree on exact bytes", async () => {
    // Every round races CLI processes of all three runtimes whatever runtime hosts this file, so
    // the three rounds are divided among the host runtimes of `npm test` (hostShare).
    const report = await runProcessRaces({ mode: "short", seed: SEED, rounds: 3, share: hostShare() });
    const rounds = roundsOnThisHost(3);
    assert.equal(report.rounds, rounds);
    assert.ok(report.processes! >= 3 * rounds, `expected at least 3 processes per round, ran ${report.processes} in ${rounds}`);
    assert.equal(report.violations.length, 0, explain(report));
  });

  test("crashes: SIGKILL at every named checkpoint, then another runtime finishes with exact bytes; random kills never leave wrong bytes", async () => {
    const report = await runCrashes({ mode: "short", seed: SEED });
    assert.ok(report.kills! >= CHECKPOINT_NAMES.length, `expected at least ${CHECKPOINT_NAMES.length} kills, saw ${report.kills}`);
    assert.equal(report.violations.length, 0, explain(report));
  });

  test("local directories: mixed-runtime writers into one --local-dir, some SIGKILLed, Python leftovers; a clean run leaves exact files and records", async () => {
    // Like the process races, every round spawns CLIs of every runtime: the rounds are divided among the host runtimes.
    const report = await runLocalDirs({ mode: "short", seed: SEED, rounds: 3, share: hostShare() });
    assert.equal(report.rounds, roundsOnThisHost(3));
    assert.equal(report.violations.length, 0, explain(report));
  });

  test("network faults: every emulator fault ends in exact bytes or a typed error, and a clean follow-up succeeds", async () => {
    const report = await runNetworkFaults({ mode: "short", seed: SEED });
    assert.ok(report.faults! >= 15, `expected every fault kind to act, ${report.faults} did`);
    assert.equal(report.violations.length, 0, explain(report));
  });
});
