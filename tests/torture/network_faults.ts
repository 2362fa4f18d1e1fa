/**
 * Torture part 3 — network faults: every fault the emulator can inject, against the real CLI on
 * every runtime, with and without a `.partial` left by an earlier run.
 *
 * The contract checked for each case: the process either succeeds and its printed path holds
 * exact bytes with no temp file left, or fails with a typed error (non-zero exit and
 * `hubcache: <Code>: …` on stderr) leaving nothing wrong in `blobs/`; in both cases a follow-up
 * clean run succeeds with exact bytes, resuming from any `.partial` the failure left.
 *
 * A stall only matters once it outlasts the idle timeout: those cases set
 * `HUBCACHE_TEST_HOOKS=idle-timeout-ms=400` (read by `src/cli.ts`, see `src/cli/test_hooks.ts`)
 * so the CLI gives up on the silent connection and resumes.
 *
 * @module
 */

import { join } from "node:path";
import type { Fault, FaultMatch, HubEmulator } from "../../src/testing/mod.ts";
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
  plantPartial,
  rangeStart,
  repoFolder,
  rng,
  roundSeed,
  type RuntimeName,
  runCli,
  runRoundsOnHubs,
  typedErrorCode,
} from "./harness.ts";
import type { PartOptions, PartReport } from "./report.ts";

/** Options of {@link runNetworkFaults}. */
export interface NetworkFaultOptions extends PartOptions {
  /** Runtimes whose CLI is tortured (default: short → the current one, long → all). */
  runtimes?: RuntimeName[];
  /** Cases run at once, each with its own emulator (default 2). */
  concurrency?: number;
}

const PART = "network-faults";

/**
 * The `.partial` an earlier run left: none; a true prefix; a prefix with one flipped byte; the
 * whole file plus trailing garbage (longer than the file); the whole file with one flipped byte.
 */
type PartialKind = "none" | "good" | "damaged" | "oversized" | "complete-damaged";

/** What a fault kind needs to build its faults for one case. */
interface FaultContext {
  /** Bytes of the file. */
  size: number;
  /** Bytes of the planted partial (0 when none): the first ranged request starts there. */
  partialLen: number;
  /** Where in the served body the fault strikes, as a fraction of it. */
  at: number;
  match: FaultMatch;
  repoId: string;
  /** The commit `main` moves to (for moveBranch). */
  nextCommit: string;
  r: ReturnType<typeof rng>;
}

interface FaultKindSpec {
  name: string;
  /** Whether the fault strikes at a byte offset (so several offsets are worth trying). */
  offsets: boolean;
  /** A fault a client should recover from by itself (a typed error is still allowed, but noted). */
  recoverable: boolean;
  env?: Record<string, string>;
  /** Queues more applications than the client's attempts: leftovers are expected. */
  surplus?: boolean;
  faults(c: FaultContext): Fault[];
}

function servedOffset(c: FaultContext): number {
  const length = c.size - c.partialLen;
  return Math.max(0, Math.min(length - 1, Math.floor(length * c.at)));
}

/** A drop first, when there is no partial, so the fault under test meets a ranged request. */
function rangedFirst(c: FaultContext): Fault[] {
  return c.partialLen > 0 ? [] : [{ kind: "drop", afterBytes: Math.max(1, servedOffset(c)), match: c.match }];
}

const STATUSES = [500, 502, 503, 504, 429] as const;

const KINDS: FaultKindSpec[] = [
  { name: "drop", offsets: true, recoverable: true, faults: (c) => [{ kind: "drop", afterBytes: servedOffset(c), match: c.match }] },
  {
    name: "drop×3",
    offsets: true,
    recoverable: true,
    faults: (c) => [{ kind: "drop", afterBytes: Math.max(1, Math.floor(servedOffset(c) / 3)), times: 3, match: c.match }],
  },
  {
    name: "stall>idle-timeout",
    offsets: true,
    recoverable: true,
    env: { HUBCACHE_TEST_HOOKS: "idle-timeout-ms=400" },
    faults: (c) => [{ kind: "stall", afterBytes: servedOffset(c), ms: 2_500, match: c.match }],
  },
  { name: "stall<idle-timeout", offsets: true, recoverable: true, faults: (c) => [{ kind: "stall", afterBytes: servedOffset(c), ms: 600, match: c.match }] },
  {
    name: "corrupt",
    offsets: true,
    recoverable: true,
    faults: (c) => [{ kind: "corrupt", offset: c.partialLen + servedOffset(c), match: c.match }],
  },
  {
    name: "corrupt×2",
    offsets: true,
    recoverable: false,
    faults: (c) => [{ kind: "corrupt", offset: c.partialLen + servedOffset(c), times: 2, match: c.match }],
  },
  { name: "ignoreRange", offsets: true, recoverable: true, faults: (c) => [...rangedFirst(c), { kind: "ignoreRange", match: c.match }] },
  { name: "wrongContentRange", offsets: true, recoverable: true, faults: (c) => [...rangedFirst(c), { kind: "wrongContentRange", match: c.match }] },
  { name: "shortBody", offsets: true, recoverable: true, faults: (c) => [{ kind: "shortBody", bytes: servedOffset(c), match: c.match }] },
  ...STATUSES.map((status): FaultKindSpec => ({
    name: `status ${status}`,
    offsets: false,
    recoverable: true,
    faults: (c) => [{ kind: "status", status, retryAfter: c.r.int(0, 1), times: c.r.int(1, 2), match: c.match }],
  })),
  {
    name: "status 503 on HEAD",
    offsets: false,
    recoverable: true,
    faults: (c) => [{ kind: "status", status: 503, retryAfter: c.r.int(0, 1), times: 2, match: { repo: c.repoId, method: "HEAD" } }],
  },
  {
    name: "status 502 until attempts run out",
    offsets: false,
    recoverable: false,
    surplus: true,
    faults: (c) => [{ kind: "status", status: 502, retryAfter: 0, times: 6, match: c.match }],
  },
  {
    name: "drop then 429 until attempts run out",
    offsets: true,
    recoverable: false,
    surplus: true,
    // Failing after a prefix is what leaves a `.partial` to resume from.
    faults: (c) => [{ kind: "drop", afterBytes: Math.max(1, servedOffset(c)), match: c.match }],
  },
  {
    name: "moveBranch",
    offsets: false,
    recoverable: true,
    faults: (c) => [{ kind: "moveBranch", branch: "main", to: c.nextCommit, match: c.match }],
  },
];

interface Case {
  kind: FaultKindSpec;
  runtime: RuntimeName;
  partial: PartialKind;
  at: number;
  lfs: boolean;
}

function buildCases(mode: "short" | "long", runtimes: RuntimeName[]): Case[] {
  const cases: Case[] = [];
  if (mode === "short") {
    KINDS.forEach((kind, i) => {
      cases.push({ kind, runtime: runtimes[i % runtimes.length], partial: i % 2 === 0 ? "none" : "good", at: 0.5, lfs: i % 3 !== 2 });
    });
    return cases;
  }
  for (const runtime of runtimes) {
    for (const kind of KINDS) {
      for (const partial of ["none", "good", "damaged", "oversized", "complete-damaged"] as PartialKind[]) {
        const ats = kind.offsets && (partial === "none" || partial === "good") ? [0.02, 0.5, 0.97] : [0.5];
        for (const at of ats) cases.push({ kind, runtime, partial, at, lfs: (cases.length % 3) !== 2 });
      }
    }
  }
  return cases;
}

interface Tally {
  processes: number;
  faults: number;
  succeeded: number;
  typedErrors: Map<string, number>;
  unusedFaults: number;
  resumedFollowUps: number;
  recoverableFailures: string[];
  unusedCases: string[];
}

/**
 * Run the network-fault cases and report what broke.
 *
 * @example
 * ```ts
 * const report = await runNetworkFaults({ mode: "short", seed: 5 });
 * ```
 */
export async function runNetworkFaults(options: NetworkFaultOptions): Promise<PartReport> {
  const started = Date.now();
  const seed = baseSeed(options.seed);
  const runtimes = options.runtimes ?? (options.mode === "short" ? [currentRuntimeName()] : availableRuntimes());
  const cases = buildCases(options.mode, runtimes);
  const tally: Tally = { processes: 0, faults: 0, succeeded: 0, typedErrors: new Map(), unusedFaults: 0, resumedFollowUps: 0, recoverableFailures: [], unusedCases: [] };
  const { roundsRun, skipped, violations } = await runRoundsOnHubs({
    part: PART,
    seed,
    mode: options.mode,
    cases,
    onlyRound: options.onlyRound,
    concurrency: options.concurrency,
    started,
    budgetMs: options.budgetMs,
    cachePrefix: "hubcache-torture-net-",
    log: options.log,
    label: (c) => `[${c.kind.name} at ${Math.round(c.at * 100)}% on ${c.runtime}, partial ${c.partial}, ${c.lfs ? "LFS" : "regular"}]`,
    run: (hub, cacheDir, round, c) => runCase(hub, cacheDir, round, c, seed, tally),
  });
;
  const notes = [
    `base seed ${seed}`,
    `fault kinds: ${KINDS.map((k) => k.name).join("; ")}`,
    `cases: ${cases.length} (${options.mode === "long" ? "every kind × runtime × partial none/good (offsets 2%/50%/97% of the served body) and damaged/oversized/complete-damaged (offset 50%)" : "each kind once"})`,
    `outcomes: ${tally.succeeded} succeeded, typed errors: ${[...tally.typedErrors].map(([k, n]) => `${k} ×${n}`).join(", ") || "none"}; ` +
      `follow-ups that resumed from a left partial: ${tally.resumedFollowUps}; faults that never got to act: ${tally.unusedFaults}`,
  ];
  if (tally.recoverableFailures.length > 0) {
    notes.push(`a recoverable fault ended in a typed error (allowed by the contract, worth a look) ${tally.recoverableFailures.length} time(s): ${tally.recoverableFailures.slice(0, 5).join("; ")}`);
  }
  if (tally.unusedCases.length > 0) {
    const counts = new Map<string, number>();
    for (const u of tally.unusedCases) counts.set(u, (counts.get(u) ?? 0) + 1);
    notes.push(`cases where a queued fault found no request to act on (the download needed fewer requests): ${[...counts].map(([k, n]) => `${k}${n > 1 ? ` ×${n}` : ""}`).join("; ")}`);
  }
  if (skipped > 0) notes.push(`${skipped} case(s) not run: time budget used`);
  return {
    part: PART,
    title: "Network faults (every emulator fault × runtime × partial)",
    rounds: roundsRun,
    processes: tally.processes,
    faults: tally.faults,
    runtimes,
    durationMs: Date.now() - started,
    violations,
    notes,
  };
}

async function runCase(hub: HubEmulator, cacheDir: string, round: number, c: Case, seed: number, tally: Tally): Promise<string[]> {
  const r = rng(roundSeed(seed, round));
  const repoId = `org/net-${round}`;
  const file = c.lfs ? "model.bin" : "sub/data.txt";
  const size = r.int(2_200_000, 3_500_000);
  const content = bytes(size, round + 9000);
  const repo = hub.createRepo(repoId);
  const placement = c.lfs ? { lfs: [file] } : { regular: [file] };
  const commit = repo.commit({ [file]: content, "other.txt": "stays" }, placement);
  const info = repo.fileInfo(file);
  const problems: string[] = [];
  let nextCommit = commit;
  if (c.kind.name === "moveBranch") {
    // Commit the new revision on a side branch, then move `main` mid-download.
    nextCommit = repo.commit({ [file]: bytes(size + 17, round + 19000) }, { ...placement, branch: "next" });
  }
  const prefixLen = Math.floor(size * (0.1 + 0.5 * r.next()));
  // Where the first ranged request starts: faults are placed relative to it. A partial that is
  // not shorter than the file is never resumed from (dropped, or verified and discarded).
  const partialLen = c.partial === "good" || c.partial === "damaged" ? prefixLen : 0;
  if (c.partial === "good" || c.partial === "damaged") {
    await plantPartial(cacheDir, repoId, info.etag, content, prefixLen, c.partial === "damaged");
  } else if (c.partial === "oversized") {
    const longer = new Uint8Array(size + 4096);
    longer.set(content);
    longer.set(bytes(4096, round), size);
    await plantPartial(cacheDir, repoId, info.etag, longer, longer.length);
  } else if (c.partial === "complete-damaged") {
    await plantPartial(cacheDir, repoId, info.etag, content, size, true);
  }
  const match: FaultMatch = { repo: repoId, path: file, method: "GET" };
  const faults = c.kind.faults({ size, partialLen, at: c.at, match, repoId, nextCommit, r });
  for (const f of faults) hub.injectFault(f);
  // Half the cases over parallel ranges (1 MiB ranges on these sizes): each fault then hits one
  // connection of several. Drawn from its own stream, so existing seeds replay their faults as before.
  const connections = rng(roundSeed(seed ^ 0x5ca1ab1e, round)).pick([1, 4]);
  const args = cliArgs(hub, cacheDir, repoId, [file], ["--connections", String(connections)]);
  hub.clearRequests();
  const stopArming = new AbortController();
  const armed = c.kind.name === "drop then 429 until attempts run out"
    // Armed once the drop happened (a status fault is answered before any body fault).
    ? armAfterDrop(hub, file, faults[0], { kind: "status", status: 429, retryAfter: 0, times: 6, match }, stopArming.signal)
    : Promise.resolve();
  const run = await runCli(c.runtime, args, { env: c.kind.env ?? {} });
  stopArming.abort();
  await armed;
  tally.processes++;
  const unused = c.kind.surplus ? 0 : hub.pendingFaults;
  tally.unusedFaults += unused;
  if (unused > 0) tally.unusedCases.push(`${c.kind.name} (partial ${c.partial}, at ${Math.round(c.at * 100)}%, ${c.lfs ? "LFS" : "regular"}, ${run.code === 0 ? "succeeded" : typedErrorCode(run.stderr) ?? "failed"})`);
  tally.faults += faults.length + (c.kind.name === "drop then 429 until attempts run out" ? 1 : 0) - unused;
  hub.clearFaults();

  const seen = await inspectCache(cacheDir, hub, repoId);
  problems.push(...seen.problems);
  let leftPartial = 0;
  if (run.code === 0) {
    tally.succeeded++;
    const printed = run.stdout.trim();
    const expected = join(repoFolder(cacheDir, repoId), "snapshots", commit, file);
    if (printed !== expected) problems.push(`printed '${printed}', expected '${expected}'`);
    const wrong = await checkPrintedPath(hub, repoId, cacheDir, printed, file);
    if (wrong) problems.push(wrong);
    if (seen.temps.length > 0) problems.push(`temp files left after a success: ${seen.temps.map((t) => `${t.name} (${t.size} B)`).join(", ")}`);
    if (seen.leftoverLocks.length > 0) problems.push(`lock files left after a success: ${seen.leftoverLocks.join(", ")}`);
  } else {
    const code = typedErrorCode(run.stderr);
    if (code === undefined || run.signal !== null) {
      problems.push(`neither success nor a typed error: ${describeRun(run)}`);
    } else {
      tally.typedErrors.set(code, (tally.typedErrors.get(code) ?? 0) + 1);
      if (c.kind.recoverable) tally.recoverableFailures.push(`${c.kind.name} on ${c.runtime} (partial ${c.partial}): ${code}`);
    }
    if (run.stdout.trim() !== "") problems.push(`a failed run printed a path on stdout: ${run.stdout.trim()}`);
    const orphans = seen.temps.filter((t) => t.name.endsWith(".incomplete"));
    if (orphans.length > 0) problems.push(`a failed run left its own temp file instead of releasing it: ${orphans.map((t) => t.name).join(", ")}`);
    leftPartial = seen.temps.find((t) => t.name === `${info.etag}.partial`)?.size ?? 0;
  }

  // The follow-up: a clean run must succeed, resuming from whatever partial is there.
  const mark = hub.requests.length;
  const follow = await runCli(c.runtime, args);
  tally.processes++;
  const wantCommit = c.kind.name === "moveBranch" ? nextCommit : commit;
  if (follow.code !== 0) {
    problems.push(`the follow-up clean run failed: ${describeRun(follow)}`);
    return problems;
  }
  const printed = follow.stdout.trim();
  const expected = join(repoFolder(cacheDir, repoId), "snapshots", wantCommit, file);
  if (printed !== expected) problems.push(`the follow-up printed '${printed}', expected '${expected}'`);
  const wrong = await checkPrintedPath(hub, repoId, cacheDir, printed, file);
  if (wrong) problems.push(`the follow-up: ${wrong}`);
  const after = await inspectCache(cacheDir, hub, repoId);
  problems.push(...after.problems.map((p) => `after the follow-up: ${p}`));
  if (after.temps.length > 0) problems.push(`temp files left after the follow-up: ${after.temps.map((t) => `${t.name} (${t.size} B)`).join(", ")}`);
  if (leftPartial > 0 && leftPartial < size && wantCommit === commit) {
    const first = bodyRequests(hub, file, mark)[0];
    if (first && rangeStart(first) === leftPartial) tally.resumedFollowUps++;
    else if (first) problems.push(`the follow-up did not resume from the ${leftPartial}-byte partial (first body request: Range ${first.range ?? "none"})`);
  }
  return problems;
}

async function armAfterDrop(hub: HubEmulator, file: string, drop: Fault, then: Fault, stop: AbortSignal): Promise<void> {
  const afterBytes = drop.kind === "drop" ? drop.afterBytes : 0;
  while (!stop.aborted) {
    if (bodyRequests(hub, file).some((q) => q.bytesSent >= afterBytes)) {
      hub.injectFault(then);
      return;
    }
    await new Promise((res) => setTimeout(res, 10));
  }
}
