/**
 * Torture part 4: file-system faults. The real `downloadFile` runs on a `memoryRuntime`
 * against the real Hub emulator (HTTP on 127.0.0.1) while the memory adapter fails writes,
 * renames, exclusive creates, mkdirs, symlinks, fsyncs and closes (ENOSPC, EIO, EACCES,
 * EXDEV, EPERM), writes short, or loses power (`fs.crash()`) at a checkpoint or in the
 * middle of the bytes. Every round must end in exact bytes or a typed error, with nothing
 * corrupted, and with nothing resumable lost: a follow-up clean run on the same file system
 * resumes from where the failed one stopped (the emulator records the `Range`), and after a
 * crash a run on the rebooted file system succeeds.
 *
 * @module
 */

import { MemoryFileSystem, memoryRuntime } from "../../src/adapters/memory/mod.ts";
import type { FaultSpec } from "../../src/adapters/memory/mod.ts";
import { downloadFile } from "../../src/core/download/download.ts";
import { blobPath, repoLayout } from "../../src/core/cache/layout.ts";
import type { CheckpointName, FsErrorCode, Runtime } from "../../src/core/ports.ts";
import { HubEmulator } from "../../src/testing/mod.ts";
import { baseSeed, replayCommand, roundSeed } from "./harness.ts";
import type { PartOptions, PartReport } from "./report.ts";
import {
  type Catalog,
  checkCacheInvariants,
  describeError,
  isTypedError,
  matchesEtag,
  watchUnhandledRejections,
  Prng,
  sameBytes,
} from "./invariants.ts";

/** Options of {@link runFsFaults} (the torture script passes {@link PartOptions}). */
export interface FsFaultsOptions extends Partial<PartOptions> {
  /** Rounds to run, each a fresh in-memory disk and one fault scenario. Default: short 40, long 1500. */
  rounds?: number;
  /** Base seed; round `r` draws its scenario from `roundSeed(seed, r)`. Default: from the clock. */
  seed?: number;
}

const PART = "fs-faults";

const MiB = 1 << 20;
const REPO = "torture/fsfaults";
const CACHE = "/cache";

interface FileSpec {
  readonly path: string;
  readonly data: Uint8Array;
  readonly etag: string;
  readonly lfs: boolean;
}

type CrashPlan =
  | { readonly at: "checkpoint"; readonly name: CheckpointName; readonly nth: number; readonly keepEntries: boolean }
  | { readonly at: "progress"; readonly nth: number; readonly keepEntries: boolean };

interface Scenario {
  readonly kind: string;
  readonly file: FileSpec;
  readonly symlinksFs: boolean;
  readonly symlinksOpt: "auto" | "never";
  readonly lock: "auto" | "none";
  readonly shortWrites: boolean;
  readonly faults: readonly FaultSpec[];
  readonly crash?: CrashPlan;
  /** The scenario must succeed (the faults are ones hubcache works around). */
  readonly mustSucceed: boolean;
}

function describeScenario(s: Scenario): string {
  const faults = s.faults.map((f) =>
    `${f.op}:${f.code}${f.nth && f.nth > 1 ? `#${f.nth}` : ""}${f.times === Infinity ? "*" : f.times && f.times > 1 ? `x${f.times}` : ""}${
      f.pathIncludes ? `[${f.pathIncludes}]` : ""
    }`
  );
  const crash = s.crash
    ? `crash@${s.crash.at === "checkpoint" ? `${s.crash.name}#${s.crash.nth}` : `progress#${s.crash.nth}`}${s.crash.keepEntries ? "(keep-entries)" : "(pessimistic)"}`
    : "";
  return [
    s.kind,
    s.file.path,
    `symlinks=${s.symlinksFs ? s.symlinksOpt : "unsupported"}`,
    `lock=${s.lock}`,
    s.shortWrites ? "short-writes" : "",
    ...faults,
    crash,
  ].filter(Boolean).join(" ");
}

const WRITE_CODES: readonly FsErrorCode[] = ["ENOSPC", "EIO", "EACCES"];
const CHECKPOINTS: readonly CheckpointName[] = ["ref-written", "temp-created", "bytes-written", "fsynced", "renamed", "pointer-created"];

function makeScenario(rng: Prng, files: readonly FileSpec[]): Scenario {
  const big = files.filter((f) => f.data.length >= MiB);
  const file = rng.chance(0.75) ? rng.pick(big) : rng.pick(files);
  const writes = Math.ceil(file.data.length / MiB);
  const base = {
    file,
    symlinksFs: rng.chance(0.85),
    symlinksOpt: rng.chance(0.2) ? "never" as const : "auto" as const,
    lock: rng.chance(0.3) ? "none" as const : "auto" as const,
    shortWrites: rng.chance(0.3),
    mustSucceed: false,
  };
  const code = (): FsErrorCode => rng.pick(WRITE_CODES);
  const kinds = [
    "write", "write", "write", "write-then-release-fails", "rename", "rename-publish", "exdev", "create", "mkdirp",
    "symlink-eperm", "symlink-other", "fsync", "syncdir", "close", "open", "copy", "short-writes", "crash", "crash", "crash",
  ];
  const kind = rng.pick(kinds);
  switch (kind) {
    case "write":
      return { ...base, kind, faults: [{ op: "write", code: code(), nth: rng.range(1, writes + 1) }] };
    case "write-then-release-fails":
      // The release rename fails too: the temp file stays under the writer's own name and
      // a later run must adopt it (its pid is gone).
      return {
        ...base,
        kind,
        faults: [
          { op: "write", code: code(), nth: rng.range(2, Math.max(2, writes)) },
          { op: "rename", code: rng.pick(["EIO", "EACCES", "ENOSPC"] as FsErrorCode[]), pathIncludes: ".partial" },
        ],
      };
    case "rename":
      return { ...base, kind, faults: [{ op: "rename", code: code(), nth: rng.range(1, 5) }] };
    case "rename-publish":
      return { ...base, kind, faults: [{ op: "rename", code: code(), pathIncludes: rng.pick(["/blobs/", "/snapshots/"]) }] };
    case "exdev":
      return { ...base, kind, faults: [{ op: "rename", code: "EXDEV", nth: rng.range(1, 4), pathIncludes: rng.chance(0.5) ? "/blobs/" : undefined }] };
    case "create":
      return { ...base, kind, faults: [{ op: "createExclusive", code: code(), nth: rng.range(1, 6) }] };
    case "mkdirp":
      return { ...base, kind, faults: [{ op: "mkdirp", code: code(), nth: rng.range(1, 10) }] };
    case "symlink-eperm":
      // No symlinks at all (Windows without developer mode): must fall back to copies.
      return { ...base, kind, symlinksFs: true, symlinksOpt: "auto", faults: [{ op: "symlink", code: "EPERM", times: Infinity }], mustSucceed: true };
    case "symlink-other":
      return { ...base, kind, symlinksFs: true, faults: [{ op: "symlink", code: rng.pick(["EIO", "ENOSPC", "EACCES"] as FsErrorCode[]), nth: rng.range(1, 3) }] };
    case "fsync":
      return { ...base, kind, faults: [{ op: "sync", code: "EIO", nth: rng.range(1, 4) }] };
    case "syncdir":
      return { ...base, kind, faults: [{ op: "syncDir", code: "EIO", nth: rng.range(1, 5) }] };
    case "close":
      return { ...base, kind, faults: [{ op: "close", code: "EIO", nth: rng.range(1, 5) }] };
    case "open":
      return { ...base, kind, faults: [{ op: "openReadWrite", code: code(), nth: rng.range(1, 2) }] };
    case "copy":
      return { ...base, kind, symlinksOpt: "never", faults: [{ op: "copyExclusive", code: code(), nth: 1 }] };
    case "short-writes":
      return { ...base, kind, shortWrites: true, faults: [], mustSucceed: true };
    default: {
      const keepEntries = rng.chance(0.5);
      const crash: CrashPlan = rng.chance(0.6)
        ? { at: "checkpoint", name: rng.pick(CHECKPOINTS), nth: 1, keepEntries }
        : { at: "progress", nth: rng.range(1, writes + 1), keepEntries };
      const withFault = rng.chance(0.25) ? [{ op: "write" as const, code: code(), nth: rng.range(2, writes + 2) }] : [];
      return { ...base, kind: "crash", faults: withFault, crash };
    }
  }
}

class CrashHalt extends Error {
  constructor() {
    super("simulated power cut: this process is gone");
  }
}

interface RoundResult {
  readonly violations: string[];
  readonly notes: string[];
  readonly faultsFired: number;
  readonly outcome: string;
  readonly resumeChecked: boolean;
  readonly crashed: boolean;
}

/**
 * Run part 4. Every round: a fresh in-memory disk, one scenario from the seeded generator,
 * the real download against the real emulator, then the checks.
 *
 * @example
 * ```ts
 * const report = await runFsFaults({ rounds: 500, seed: 7 });
 * report.violations; // []
 * ```
 */
export async function runFsFaults(options: FsFaultsOptions = {}): Promise<PartReport> {
  const mode = options.mode ?? "short";
  const rounds = options.rounds ?? (mode === "short" ? 40 : 1500);
  const seed = baseSeed(options.seed);
  const started = Date.now();
  const hub = await HubEmulator.start({ lfsThreshold: 1024 });
  const violations: PartReport["violations"] = [];
  const outcomes = new Map<string, number>();
  let faultsFired = 0;
  let resumes = 0;
  let crashes = 0;
  const extraNotes: string[] = [];
  let roundsRun = 0;
  let skipped = 0;
  const unhandled = watchUnhandledRejections();
  try {
    const files = setupRepo(hub, new Prng(0xf00d));
    const catalog = catalogOf(hub, files);
    const list = options.onlyRound !== undefined ? [options.onlyRound] : Array.from({ length: rounds }, (_, i) => i);
    for (const round of list) {
      if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs) {
        skipped++;
        continue;
      }
      roundsRun++;
      const scenarioSeed = roundSeed(seed, round);
      const scenario = makeScenario(new Prng(scenarioSeed), files);
      let result: RoundResult;
      const unhandledBefore = unhandled.seen.length;
      try {
        result = await runRound(hub, scenario, round, catalog, scenarioSeed);
        // Let a late rejection of this round surface before judging it.
        await new Promise((r) => setTimeout(r, 1));
      } catch (err) {
        result = {
          violations: [`the round itself failed: ${describeError(err)}`],
          notes: [],
          faultsFired: 0,
          outcome: "harness-error",
          resumeChecked: false,
          crashed: false,
        };
      }
      for (const reason of unhandled.seen.slice(unhandledBefore)) {
        result.violations.push(`unhandled promise rejection (Node, Deno and Bun end the process on one): ${describeError(reason)}`);
      }
      faultsFired += result.faultsFired;
      if (result.resumeChecked) resumes++;
      if (result.crashed) crashes++;
      outcomes.set(result.outcome, (outcomes.get(result.outcome) ?? 0) + 1);
      for (const n of result.notes) if (!extraNotes.includes(n) && extraNotes.length < 20) extraNotes.push(n);
      for (const v of result.violations) {
        violations.push({ round, detail: `${v} — scenario: ${describeScenario(scenario)}`, replay: replayCommand(PART, seed, round, mode) });
      }
      if (result.violations.length > 0 || (round + 1) % 100 === 0) {
        options.log?.(`${PART}: round ${round + 1}/${rounds}: ${describeScenario(scenario)} → ${result.outcome}${result.violations.length ? " VIOLATION" : ""}`);
      }
    }
  } finally {
    unhandled.stop();
    await hub.close();
  }
  const outcomeList = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(", ");
  return {
    part: PART,
    title: "File-system faults through the memory adapter (real downloadFile, real Hub emulator)",
    rounds: roundsRun,
    faults: faultsFired,
    runtimes: ["memory"],
    durationMs: Date.now() - started,
    violations,
    notes: [
      `base seed ${seed}${skipped > 0 ? `; ${skipped} rounds skipped (time budget)` : ""}`,
      `outcomes: ${outcomeList}`,
      `${crashes} power cuts (fs.crash) followed by a run on the rebooted disk; ${resumes} follow-up runs checked to resume from the bytes already written`,
      ...extraNotes,
    ],
  };
}

function setupRepo(hub: HubEmulator, rng: Prng): FileSpec[] {
  const contents: Record<string, Uint8Array> = {
    "weights-a.bin": rng.bytes(3 * MiB + 12_345),
    "weights-b.bin": rng.bytes(2 * MiB + 777),
    "nested/dir/weights-c.bin": rng.bytes(MiB + 300_001),
    "config.json": new TextEncoder().encode(JSON.stringify({ hidden: 768, pad: "x".repeat(600) })),
    "mid.bin": rng.bytes(300_000),
    "big-regular.txt": rng.bytes(MiB + 200_000),
  };
  const repo = hub.createRepo(REPO);
  repo.commit(contents, { regular: ["big-regular.txt", "config.json"] });
  return Object.entries(contents).map(([path, data]) => {
    const info = repo.fileInfo(path);
    return { path, data, etag: info.etag, lfs: info.lfs };
  });
}

function catalogOf(hub: HubEmulator, files: readonly FileSpec[]): Catalog {
  const commit = hub.repo(REPO).fileInfo(files[0]!.path).commit;
  return {
    contentByEtag: new Map(files.map((f) => [f.etag, f.data])),
    files: new Map([[commit, new Map(files.map((f) => [f.path, f.etag]))]]),
  };
}

async function runRound(hub: HubEmulator, s: Scenario, round: number, catalog: Catalog, scenarioSeed: number): Promise<RoundResult> {
  const violations: string[] = [];
  const notes: string[] = [];
  const pid = 10_000 + 2 * (round % 20_000);
  const base = memoryRuntime({ timers: "auto", pid, seed: scenarioSeed, hostname: "faulthost" });
  const fs = base.fs;
  fs.symlinksSupported = s.symlinksFs;
  fs.shortWrites = s.shortWrites;
  const injected = s.faults.map((f) => fs.injectFault(f));
  const controller = new AbortController();

  let crashed: MemoryFileSystem | undefined;
  let crashedAfter: CheckpointName | "progress" | undefined;
  const seen = new Map<string, number>();
  let lastCheckpoint: CheckpointName | undefined;
  const cut = (at: CheckpointName | "progress"): void => {
    if (crashed || !s.crash) return;
    crashed = fs.crash({ keepDirectoryEntries: s.crash.keepEntries });
    crashedAfter = at;
    controller.abort(new CrashHalt());
  };
  const runtime: Runtime = {
    ...base,
    checkpoint: (name: CheckpointName) => {
      if (crashed) throw new CrashHalt();
      lastCheckpoint = name;
      const n = (seen.get(name) ?? 0) + 1;
      seen.set(name, n);
      if (s.crash?.at === "checkpoint" && s.crash.name === name && s.crash.nth === n) {
        cut(name);
        throw new CrashHalt();
      }
    },
  };

  let maxBytes = 0;
  let progressCalls = 0;
  let outcome: string;
  let error: unknown;
  let resultPath: string | undefined;
  hub.clearRequests();
  try {
    resultPath = await downloadFile({
      runtime,
      repo: REPO,
      path: s.file.path,
      cacheDir: CACHE,
      endpoint: hub.endpoint,
      token: false,
      symlinks: s.symlinksOpt,
      lock: s.lock,
      signal: controller.signal,
      maxAttempts: 3,
      idleTimeoutMs: 30_000,
      onProgress: (p) => {
        if (p.phase !== "download") return;
        maxBytes = Math.max(maxBytes, p.bytesDone);
        if (p.bytesDone > 0) progressCalls++;
        if (s.crash?.at === "progress" && progressCalls === s.crash.nth) cut("progress");
      },
    });
    outcome = "success";
  } catch (err) {
    error = err;
    outcome = err instanceof CrashHalt || crashed ? "crashed" : isTypedError(err) ? `error ${(err as { code: string }).code}` : "untyped-error";
  }
  const faultsFired = injected.reduce((n, f) => n + f.fired, 0);
  fs.clearFaults();
  fs.shortWrites = false;

  if (!crashed) {
    if (resultPath !== undefined) {
      const got = await fs.readFile(resultPath).catch((e) => e as Error);
      if (!(got instanceof Uint8Array) || !sameBytes(got, s.file.data)) {
        violations.push(`download returned ${resultPath} but it does not hold the file's exact bytes`);
      }
    } else if (!isTypedError(error)) {
      violations.push(`download failed with an untyped error: ${describeError(error)}`);
    }
    if (s.mustSucceed && resultPath === undefined) {
      violations.push(`download should have worked around the fault but failed: ${describeError(error)}`);
    }
  }
  const leaked = fs.openHandles();
  if (leaked.length > 0 && !crashed) notes.push(`file handles left open after a ${outcome}: ${leaked.map((p) => p.slice(CACHE.length)).join(", ")}`);

  for (const v of await checkCacheInvariants(fs, CACHE, { catalog, checkOutside: true })) violations.push(`after the faulty run: ${v}`);

  if (crashed) {
    const after = crashed;
    for (const v of await checkCacheInvariants(after, CACHE, { catalog, checkOutside: true })) violations.push(`after the power cut: ${v}`);
    const blob = blobPath(repoLayout(CACHE, "model", REPO), s.file.etag);
    const published = crashedAfter === "renamed" || (crashedAfter === "pointer-created" && fs.listTree(CACHE).includes(blob));
    if (published) {
      const data = await after.readFile(blob).catch(() => null);
      if (data === null) {
        const why = s.crash?.keepEntries
          ? "the rename reached the disk"
          : "blobs/ was fsynced, but the folders created above it in this run never were";
        violations.push(`durability: a blob published (fsync + rename + fsync of blobs/) before the power cut is gone after it (${why})`);
      } else if (!matchesEtag(s.file.etag, data)) {
        violations.push(`a blob published before the power cut is corrupt after it`);
      }
    }
    // Reboot: a new process (new pid, nobody else alive) on what the disk kept.
    const rebooted = memoryRuntime({ fs: after, timers: "auto", pid: pid + 1, seed: scenarioSeed ^ 0xabc, hostname: "faulthost" });
    try {
      const p = await downloadFile({ runtime: rebooted, repo: REPO, path: s.file.path, cacheDir: CACHE, endpoint: hub.endpoint, token: false, symlinks: s.symlinksOpt, maxAttempts: 3 });
      if (!sameBytes(await after.readFile(p), s.file.data)) violations.push(`after reboot the download returned wrong bytes`);
    } catch (err) {
      violations.push(`after reboot a clean download failed: ${describeError(err)}`);
    }
    for (const v of await checkCacheInvariants(after, CACHE, { catalog, checkOutside: true })) violations.push(`after reboot: ${v}`);
    return { violations, notes, faultsFired, outcome, resumeChecked: false, crashed: true };
  }

  let resumeChecked = false;
  if (resultPath === undefined) {
    // A later run (another process: our pid is gone) on the same disk, with no faults.
    hub.clearRequests();
    const next = memoryRuntime({ fs, clock: base.clock, pid: pid + 1, seed: scenarioSeed ^ 0x5a5a, hostname: "faulthost" });
    let ok = false;
    try {
      const p = await downloadFile({ runtime: next, repo: REPO, path: s.file.path, cacheDir: CACHE, endpoint: hub.endpoint, token: false, symlinks: s.symlinksOpt, maxAttempts: 3 });
      ok = sameBytes(await fs.readFile(p), s.file.data);
      if (!ok) violations.push(`the follow-up clean run returned wrong bytes`);
    } catch (err) {
      violations.push(`the follow-up clean run failed: ${describeError(err)}`);
    }
    const fsyncFailed = s.faults.some((f) => (f.op === "sync" || f.op === "close")) && faultsFired > 0;
    if (ok && maxBytes >= MiB && !fsyncFailed) {
      resumeChecked = true;
      const gets = hub.requests.filter((r) => r.method === "GET" && r.filePath === s.file.path);
      if (gets.length > 0) {
        const m = /^bytes=(\d+)-$/.exec(gets[0]!.range ?? "");
        const from = m ? Number(m[1]) : 0;
        if (from < maxBytes) {
          const phase = maxBytes >= s.file.data.length
            ? `after all ${maxBytes} bytes were written and verified (last checkpoint: ${lastCheckpoint ?? "none"})`
            : `after ${maxBytes} bytes were written`;
          violations.push(
            `resumable bytes lost: the run failed ${phase} with ${describeError(error)}, ` +
              `and the next run fetched from byte ${from} (${gets.map((g) => g.range ?? "full").join(", ")})`,
          );
        }
      }
    }
    for (const v of await checkCacheInvariants(fs, CACHE, { catalog, checkOutside: true })) violations.push(`after the follow-up run: ${v}`);
  }
  return { violations, notes, faultsFired, outcome, resumeChecked, crashed: false };
}
