/**
 * Torture part 2 — crashes: real CLI processes SIGKILLed at every named checkpoint and at
 * random instants, then finished by another process, usually on another runtime.
 *
 * (a) Named points (`HUBCACHE_TEST_HOOKS=crash-at=<checkpoint>[:n]`, see `src/cli/test_hooks.ts`):
 * the follow-up must succeed with exact bytes and leave no temp file; after a kill at
 * `bytes-written` or `partial-released` it must resume (a `Range` from > 0 reaches the
 * emulator); for every other point the body is served in full exactly once over both runs
 * (after `fsynced`/`renamed`/`pointer-created` the follow-up downloads nothing; after
 * `temp-created`/`ref-written` the killed run had not downloaded it yet).
 *
 * (b) Random instants: one to four kills in a row on one file (throttled, so kills land in
 * every phase), then a final run that must succeed with exact bytes and no temp file left;
 * every path a successful process printed must hold exact bytes, and after every kill the cache
 * must hold nothing wrong. A variant runs two writers and kills one while the other continues.
 *
 * @module
 */

import { join } from "node:path";
import type { HubEmulator } from "../../src/testing/mod.ts";
import { CHECKPOINT_NAMES } from "../../src/cli/test_hooks.ts";
import type { CheckpointName } from "../../src/core/ports.ts";
import { currentRuntimeName } from "../_support/runtime.ts";
import {
  availableRuntimes,
  baseSeed,
  bodyRequests,
  bytes,
  checkPrintedPath,
  cliArgs,
  describeRun,
  inspectCache,
  type ProcessRun,
  rangeStart,
  repoFolder,
  rng,
  roundSeed,
  type RuntimeName,
  runCli,
  runRoundsOnHubs,
  sleep,
} from "./harness.ts";
import type { PartOptions, PartReport } from "./report.ts";

/** Options of {@link runCrashes}. */
export interface CrashOptions extends PartOptions {
  /** Runtimes whose processes are killed (default: short → the current one, long → all). */
  runtimes?: RuntimeName[];
  /** Random-kill rounds (default: short 3, long 250). */
  randomRounds?: number;
  /** Rounds run at once, each with its own emulator (default 2). */
  concurrency?: number;
}

const PART = "crashes";

interface NamedCase {
  kind: "named";
  checkpoint: CheckpointName;
  occurrence: number;
  killed: RuntimeName;
  next: RuntimeName;
  noSymlinks: boolean;
  lfs: boolean;
  /**
   * `alone`: only the killed process, then the follow-up. `with-writer`: a second writer (lock
   * off) runs alongside the killed one and must finish by itself. `corrupt-first`: the bytes the
   * killed process wrote include a corrupted one, so the follow-up resumes from a bad prefix and
   * must notice and start again.
   */
  variant: "alone" | "with-writer" | "corrupt-first";
}

interface RandomCase {
  kind: "random";
  twoWriters: boolean;
}

type Case = NamedCase | RandomCase;

interface Tally {
  processes: number;
  kills: number;
  namedKills: number;
  randomKills: number;
  finishedBeforeKill: number;
  resumedFollowUps: number;
  orphans: number;
  leftoverLocks: number;
}

function namedCases(mode: "short" | "long", killedRuntimes: RuntimeName[], all: RuntimeName[]): NamedCase[] {
  const other = (rt: RuntimeName): RuntimeName => {
    const others = all.filter((x) => x !== rt);
    return others.length > 0 ? others[(all.indexOf(rt) + 1) % others.length] ?? others[0] : rt;
  };
  const cases: NamedCase[] = [];
  const modes = mode === "short" ? [false] : [false, true];
  const kinds = mode === "short" ? [true] : [true, false];
  for (const lfs of kinds) {
    for (const noSymlinks of modes) {
      for (const killed of killedRuntimes) {
        for (const checkpoint of CHECKPOINT_NAMES) {
          // Without symlinks the verified file moves straight into the snapshot: no "renamed".
          if (noSymlinks && checkpoint === "renamed") continue;
          cases.push({ kind: "named", checkpoint, occurrence: 1, killed, next: other(killed), noSymlinks, lfs, variant: "alone" });
        }
      }
    }
  }
  if (mode === "long") {
    for (const killed of killedRuntimes) {
      // partial-released needs injected failures, which would hit the second writer too.
      for (const checkpoint of CHECKPOINT_NAMES.filter((name) => name !== "partial-released")) {
        cases.push({ kind: "named", checkpoint, occurrence: 1, killed, next: other(killed), noSymlinks: false, lfs: true, variant: "with-writer" });
      }
      for (const lfs of [true, false]) {
        cases.push({ kind: "named", checkpoint: "bytes-written", occurrence: 2, killed, next: other(killed), noSymlinks: false, lfs, variant: "corrupt-first" });
      }
    }
  }
  return cases;
}

/**
 * Run the crash rounds and report what broke.
 *
 * @example
 * ```ts
 * const report = await runCrashes({ mode: "short", seed: 3 });
 * ```
 */
export async function runCrashes(options: CrashOptions): Promise<PartReport> {
  const started = Date.now();
  const seed = baseSeed(options.seed);
  const all = availableRuntimes();
  const killedRuntimes = options.runtimes ?? (options.mode === "short" ? [currentRuntimeName()] : all);
  const named = namedCases(options.mode, killedRuntimes, all);
  const randomRounds = options.randomRounds ?? (options.mode === "short" ? 3 : 250);
  const cases: Case[] = [...named, ...Array.from({ length: randomRounds }, (_, i): RandomCase => ({ kind: "random", twoWriters: options.mode === "long" && i % 4 === 3 }))];
  const tally: Tally = { processes: 0, kills: 0, namedKills: 0, randomKills: 0, finishedBeforeKill: 0, resumedFollowUps: 0, orphans: 0, leftoverLocks: 0 };
  const notes: string[] = [`base seed ${seed}`];
  const { roundsRun, skipped, violations } = await runRoundsOnHubs({
    part: PART,
    seed,
    mode: options.mode,
    cases,
    onlyRound: options.onlyRound,
    concurrency: options.concurrency,
    started,
    budgetMs: options.budgetMs,
    cachePrefix: "hubcache-torture-crash-",
    log: options.log,
    label: describeCase,
    run: (hub, cacheDir, round, c) =>
      c.kind === "named"
        ? namedRound(hub, cacheDir, round, c, seed, tally)
        : randomRound(hub, cacheDir, round, c, seed, options.mode, all, tally),
  });
;
  if (skipped > 0) notes.push(`${skipped} round(s) not run: time budget of ${Math.round((options.budgetMs ?? 0) / 1000)} s used`);
  notes.push(
    `named-checkpoint rounds: ${named.length} (${CHECKPOINT_NAMES.join(", ")} × killed on ${killedRuntimes.join("/")}` +
      `${options.mode === "long" ? " × symlink/no-symlink × LFS/regular file, plus each point with a second writer running alongside, plus bytes-written after a corrupted byte" : ""}; follow-up on another runtime); ` +
      `kills there: ${tally.namedKills}; follow-ups that resumed with Range: ${tally.resumedFollowUps}`,
    `random-instant rounds: ${randomRounds} (every 4th with two writers in long mode); kills there: ${tally.randomKills}; ` +
      `processes that finished before their kill time: ${tally.finishedBeforeKill}`,
    `left for 'cache prune' (not violations, docs/DESIGN.md §Invariants 10): ${tally.orphans} dead writers' temp files orphaned when another ` +
      `writer published first, ${tally.leftoverLocks} dead holders' .hubcache-lock files (broken by the next locker on this host)`,
  );
  return {
    part: PART,
    title: "Crashes (SIGKILL at named checkpoints and random instants)",
    rounds: roundsRun,
    processes: tally.processes,
    kills: tally.kills,
    runtimes: all,
    durationMs: Date.now() - started,
    violations,
    notes,
  };
}

function describeCase(c: Case): string {
  return c.kind === "named"
    ? `[${c.checkpoint}:${c.occurrence} on ${c.killed} → ${c.next}, ${c.lfs ? "LFS" : "regular"}${c.noSymlinks ? ", --no-symlinks" : ""}${c.variant === "alone" ? "" : `, ${c.variant}`}]`
    : `[random kills${c.twoWriters ? ", two writers" : ""}]`;
}

async function namedRound(hub: HubEmulator, cacheDir: string, round: number, c: NamedCase, seed: number, tally: Tally): Promise<string[]> {
  const r = rng(roundSeed(seed, round));
  const repoId = `org/crash-${round}`;
  const file = c.lfs ? "model.bin" : "data.txt";
  const size = c.lfs ? r.int(3_200_000, 5_000_000) : r.int(2_200_000, 3_000_000);
  const content = bytes(size, round + 1000);
  const repo = hub.createRepo(repoId);
  const commit = repo.commit({ [file]: content }, c.lfs ? { lfs: [file] } : { regular: [file] });
  const info = repo.fileInfo(file);
  const extra = c.noSymlinks ? ["--no-symlinks"] : [];
  const args = cliArgs(hub, cacheDir, repoId, [file], extra);
  const problems: string[] = [];
  let occurrence = c.occurrence;
  if (c.checkpoint === "bytes-written" && c.variant !== "corrupt-first") occurrence = r.int(1, 2); // 1 MiB writes: a prefix, never the whole file
  if (c.variant === "corrupt-first") {
    hub.injectFault({ kind: "corrupt", offset: r.int(0, 1_000_000), match: { repo: repoId, path: file, method: "GET" } });
  }
  hub.clearRequests();
  let armed: Promise<void> = Promise.resolve();
  if (c.checkpoint === "partial-released") {
    // Make the download fail after a prefix: one drop, then (once the drop has happened, since
    // a status fault is answered before any body fault) 503s until the attempts run out.
    const match = { repo: repoId, path: file, method: "GET" };
    const afterBytes = r.int(1_100_000, 2_000_000);
    hub.injectFault({ kind: "drop", afterBytes, match });
    armed = (async () => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && !bodyRequests(hub, file).some((q) => q.bytesSent >= afterBytes)) await sleep(10);
      hub.injectFault({ kind: "status", status: 503, retryAfter: 0, times: 8, match });
    })();
  }
  const writerArgs = cliArgs(hub, cacheDir, repoId, [file], [...extra, "--lock", "none"]);
  const [killed, writer] = await Promise.all([
    runCli(c.killed, c.variant === "with-writer" ? writerArgs : args, { env: { HUBCACHE_TEST_HOOKS: `crash-at=${c.checkpoint}:${occurrence}` } }),
    c.variant === "with-writer" ? runCli(c.next, writerArgs, { delayMs: r.int(0, 100) }) : Promise.resolve(undefined),
  ]);
  await armed;
  tally.processes++;
  if (killed.signal === "SIGKILL") {
    tally.kills++;
    tally.namedKills++;
  } else if (c.variant !== "with-writer") {
    problems.push(`the crash point ${c.checkpoint}:${occurrence} never fired: ${describeRun(killed)}`);
  }
  hub.clearFaults();
  if (writer) {
    tally.processes++;
    if (writer.code !== 0) problems.push(`the writer running next to the killed one failed: ${describeRun(writer)}`);
    else {
      const wrong = await checkPrintedPath(hub, repoId, cacheDir, writer.stdout.trim(), file);
      if (wrong) problems.push(`the writer running next to the killed one: ${wrong}`);
    }
  }
  const killedBodies = bodyRequests(hub, file);
  const afterKill = await inspectCache(cacheDir, hub, repoId);
  problems.push(...afterKill.problems.map((p) => `after the kill: ${p}`));
  const partialBefore = afterKill.temps.reduce((m, t) => Math.max(m, t.size), 0);

  const mark = hub.requests.length;
  const follow = await runCli(c.next, args);
  tally.processes++;
  if (follow.code !== 0) {
    problems.push(`the follow-up failed: ${describeRun(follow)}`);
    return problems;
  }
  const expected = join(repoFolder(cacheDir, repoId), "snapshots", commit, file);
  if (follow.stdout.trim() !== expected) problems.push(`the follow-up printed '${follow.stdout.trim()}', expected '${expected}'`);
  const wrong = await checkPrintedPath(hub, repoId, cacheDir, follow.stdout.trim(), file);
  if (wrong) problems.push(wrong);
  const seen = await inspectCache(cacheDir, hub, repoId);
  problems.push(...seen.problems);
  // Next to a second writer, the killed one's temp file may be orphaned (the other published
  // first; `cache prune` removes it). Alone, nothing may be left.
  const orphans = c.variant === "with-writer" ? seen.temps.filter((t) => t.name.endsWith(".incomplete")) : [];
  tally.orphans += orphans.length;
  const temps = seen.temps.filter((t) => !orphans.includes(t));
  if (temps.length > 0) problems.push(`temp files left after the follow-up: ${temps.map((t) => `${t.name} (${t.size} B)`).join(", ")}`);
  const wantBlobs = c.noSymlinks ? [] : [info.etag];
  if (JSON.stringify(seen.blobs) !== JSON.stringify(wantBlobs)) problems.push(`blobs/ holds [${seen.blobs.join(", ")}], expected [${wantBlobs.join(", ")}]`);
  if (seen.refs.get("main") !== commit) problems.push(`refs/main is ${JSON.stringify(seen.refs.get("main"))}, expected ${commit}`);
  // A holder killed after publishing leaves its lock file: the follow-up finds the blob and never
  // needs the lock, and `cache prune` removes it (its pid is gone). Counted, not a violation.
  tally.leftoverLocks += seen.leftoverLocks.length;

  const followBodies = bodyRequests(hub, file, mark);
  if (c.variant === "with-writer") return problems;
  if (c.variant === "corrupt-first") {
    // The claimed prefix holds a flipped byte: resume, fail verification, start again from 0.
    const first = followBodies[0];
    if (!first || rangeStart(first) === 0) problems.push(`the follow-up did not resume from the damaged prefix (first body request: Range ${first?.range ?? "none"})`);
    else if (!followBodies.slice(1).some((q) => rangeStart(q) === 0)) problems.push(`the follow-up did not start again from byte 0 after the damaged prefix failed verification`);
    else tally.resumedFollowUps++;
    return problems;
  }
  if (c.checkpoint === "bytes-written" || c.checkpoint === "partial-released") {
    const first = followBodies[0];
    if (partialBefore === 0) {
      problems.push(`after a kill at ${c.checkpoint}:${occurrence} no partial or temp file was left to resume from`);
    } else if (!first || rangeStart(first) === 0) {
      problems.push(
        `the follow-up did not resume after a kill at ${c.checkpoint}:${occurrence} (a ${partialBefore}-byte temp was left; ` +
          `first body request: ${first ? `Range ${first.range ?? "none"}` : "none"})`,
      );
    } else {
      tally.resumedFollowUps++;
      if (rangeStart(first) > partialBefore) problems.push(`the follow-up resumed at ${rangeStart(first)}, past the ${partialBefore} bytes left`);
    }
  } else {
    const total = [...killedBodies, ...followBodies];
    if (total.length !== 1 || rangeStart(total[0]) !== 0) {
      problems.push(
        `the body should be served once in full over both runs after a kill at ${c.checkpoint}; saw ${killedBodies.length} request(s) ` +
          `from the killed run and ${followBodies.length} from the follow-up (ranges: ${total.map((q) => q.range ?? "none").join(", ")})`,
      );
    }
  }
  return problems;
}

async function randomRound(
  hub: HubEmulator,
  cacheDir: string,
  round: number,
  c: RandomCase,
  seed: number,
  mode: "short" | "long",
  runtimes: RuntimeName[],
  tally: Tally,
): Promise<string[]> {
  const r = rng(roundSeed(seed, round));
  const repoId = `org/kill-${round}`;
  const file = r.chance(0.8) ? "model.bin" : "nested/data.txt";
  const lfs = file === "model.bin";
  const size = mode === "short" ? r.int(2_000_000, 3_000_000) : r.int(2_500_000, 8_000_000);
  const content = bytes(size, round + 5000);
  const repo = hub.createRepo(repoId);
  const commit = repo.commit({ [file]: content }, lfs ? { lfs: [file] } : { regular: [file] });
  const rate = r.int(2, 6) * 1_000_000;
  hub.throttle(rate);
  const noSymlinks = r.chance(0.2);
  // Parallel ranges in most rounds (1 MiB ranges on these sizes), drawn from their own stream so
  // the draws above and below (and the rounds they replay) stay what they were; every run of the
  // round uses its own count, so a parallel temp file is claimed by one- and many-connection runs.
  const par = rng(roundSeed(seed ^ 0x5ca1ab1e, round));
  const extra = (lock: string): string[] => ["--lock", lock, ...(noSymlinks ? ["--no-symlinks"] : []), "--connections", String(par.pick([1, 2, 4, 8]))];
  const args = (lock: string): string[] => cliArgs(hub, cacheDir, repoId, [file], extra(lock));
  const bodyMs = (size / rate) * 1000;
  const problems: string[] = [];
  const expected = join(repoFolder(cacheDir, repoId), "snapshots", commit, file);

  const judgeSuccess = async (run: ProcessRun, who: string): Promise<void> => {
    const printed = run.stdout.trim();
    if (printed !== expected) problems.push(`${who} printed '${printed}', expected '${expected}'`);
    const wrong = await checkPrintedPath(hub, repoId, cacheDir, printed, file);
    if (wrong) problems.push(`${who}: ${wrong}`);
  };
  const judgeRun = async (run: ProcessRun, who: string): Promise<void> => {
    tally.processes++;
    if (run.killedByHarness) {
      tally.kills++;
      tally.randomKills++;
    } else if (run.code === 0) {
      tally.finishedBeforeKill++;
      await judgeSuccess(run, who);
    } else {
      problems.push(`${who} failed without being killed: ${describeRun(run)}`);
    }
    const seen = await inspectCache(cacheDir, hub, repoId);
    problems.push(...seen.problems.map((p) => `after ${who}: ${p}`));
  };

  if (c.twoWriters) {
    const lock = r.pick(["auto", "none"]);
    const [victimRt, survivorRt] = [r.pick(runtimes), r.pick(runtimes)];
    const killAt = r.int(50, Math.round(200 + bodyMs));
    const [victim, survivor] = await Promise.all([
      runCli(victimRt, args(lock), { delayMs: r.int(0, 150), killAfterMs: killAt }),
      runCli(survivorRt, args(lock), { delayMs: r.int(0, 150) }),
    ]);
    await judgeRun(victim, `the victim (${victimRt}, lock ${lock}, kill at ${killAt} ms)`);
    tally.processes++;
    if (survivor.code !== 0) problems.push(`the surviving writer failed: ${describeRun(survivor)}`);
    else await judgeSuccess(survivor, `the surviving writer (${survivorRt})`);
  } else {
    const kills = mode === "short" ? 1 : r.int(1, 4);
    for (let k = 0; k < kills; k++) {
      const rt = r.pick(runtimes);
      const lock = r.pick(["auto", "none"]);
      // Aim inside this run's life: it resumes, so only the bytes not yet on disk take time.
      const have = (await inspectCache(cacheDir, hub, repoId)).temps.reduce((m, t) => Math.max(m, t.size), 0);
      const killAt = r.int(30, Math.round(200 + ((size - have) / rate) * 1000 * 0.9));
      const run = await runCli(rt, args(lock), { killAfterMs: killAt });
      await judgeRun(run, `run ${k + 1} (${rt}, lock ${lock}, kill at ${killAt} ms)`);
    }
  }
  hub.throttle(r.chance(0.5) ? null : rate * 4);
  const finalRt = r.pick(runtimes);
  const final = await runCli(finalRt, args(r.pick(["auto", "none"])));
  tally.processes++;
  if (final.code !== 0) {
    problems.push(`the final run (${finalRt}) failed: ${describeRun(final)}`);
    return problems;
  }
  await judgeSuccess(final, `the final run (${finalRt})`);
  const seen = await inspectCache(cacheDir, hub, repoId);
  problems.push(...seen.problems.map((p) => `after the final run: ${p}`));
  const etag = repo.fileInfo(file).etag;
  const wantBlobs = noSymlinks ? [] : [etag];
  if (JSON.stringify(seen.blobs) !== JSON.stringify(wantBlobs)) problems.push(`blobs/ holds [${seen.blobs.join(", ")}], expected [${wantBlobs.join(", ")}]`);
  if (seen.refs.get("main") !== commit) problems.push(`refs/main is ${JSON.stringify(seen.refs.get("main"))}, expected ${commit}`);
  tally.leftoverLocks += seen.leftoverLocks.length;
  if (c.twoWriters) {
    // A killed writer's temp file outlives it when the other writer publishes first: nobody
    // needs its bytes any more, and `cache prune` removes it (§Invariants 10). Partials must not.
    const orphans = seen.temps.filter((t) => t.name.endsWith(".incomplete"));
    tally.orphans += orphans.length;
    const others = seen.temps.filter((t) => !t.name.endsWith(".incomplete"));
    if (others.length > 0) problems.push(`temp files left after the final run: ${others.map((t) => t.name).join(", ")}`);
  } else if (seen.temps.length > 0) {
    problems.push(`temp files left after the final run: ${seen.temps.map((t) => `${t.name} (${t.size} B)`).join(", ")}`);
  }
  return problems;
}
