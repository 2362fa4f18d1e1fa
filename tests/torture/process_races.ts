/**
 * Torture part 1 — process races: rounds of N real `hubcache download` processes, mixed across
 * Node, Deno and Bun, racing on one cache against a throttled emulator.
 *
 * Each round (all choices from the round's seed): lock `none` on even rounds and `auto` on odd
 * ones; sometimes every process runs `--no-symlinks` (never a mix within a round); either every
 * process downloads the same single file, or each downloads the round's 2–3 files (LFS and
 * regular) in its own order; each starts after a random jitter.
 *
 * After each round: every process exited 0 and printed the same path per file; `blobs/` holds
 * exactly the expected blobs (none in no-symlink mode) with exact bytes and no temp file; every
 * snapshot pointer resolves to exact bytes; `refs/main` is the commit (40 hex); no
 * `.hubcache-lock` is left in `.locks/`.
 *
 * @module
 */

import { join } from "node:path";
import { HubEmulator } from "../../src/testing/mod.ts";
import { makeTempDir, removeTempDir } from "../_support/tmp.ts";
import {
  availableRuntimes,
  baseSeed,
  bytes,
  cliArgs,
  describeRun,
  inspectCache,
  pool,
  type ProcessRun,
  replayCommand,
  rng,
  roundSeed,
  type RuntimeName,
  runCli,
} from "./harness.ts";
import { type PartOptions, type PartReport, roundsToRun, type Violation } from "./report.ts";

/** Options of {@link runProcessRaces}. */
export interface ProcessRaceOptions extends PartOptions {
  /** Runtimes to mix (default: all available). */
  runtimes?: RuntimeName[];
}

const PART = "process-races";

/** See {@link planRound}. */
export interface RoundPlan {
  lock: "none" | "auto";
  noSymlinks: boolean;
  files: Array<{ path: string; size: number; lfs: boolean }>;
  sameFile: boolean;
  throttle: number;
  processes: Array<{ runtime: RuntimeName; delayMs: number; order: string[] }>;
  /** `--connections` for every writer: parallel ranges (1 MiB ranges on these sizes) in about half the rounds. */
  connections: number;
}

/**
 * The scenario of one race round, all from the round's seed: lock, symlink mode, files (sizes),
 * throttle, and the writers (runtime, start jitter, file order). `writers` overrides how many
 * (default 3–4 short, 6–9 long).
 *
 * @example
 * ```ts
 * const plan = planRound("short", 1, 0, ["node", "deno", "bun"]);
 * ```
 */
export function planRound(
  mode: "short" | "long",
  seed: number,
  round: number,
  runtimes: RuntimeName[],
  writers?: [number, number],
): RoundPlan {
  const r = rng(roundSeed(seed, round));
  const lock = round % 2 === 0 ? "none" : "auto";
  const noSymlinks = mode === "short" ? round % 2 === 1 : r.chance(0.3);
  const sameFile = r.chance(0.5);
  const big = mode === "short" ? [1_500_000, 2_500_000] : [2_000_000, 6_000_000];
  const catalogue = [
    { path: "model.bin", size: r.int(big[0], big[1]), lfs: true },
    { path: "sub/dir/weights.safetensors", size: r.int(big[0] / 2, big[1] / 2), lfs: true },
    { path: "tokenizer.json", size: r.int(200_000, 900_000), lfs: false },
    { path: "config.json", size: r.int(300, 3_000), lfs: false },
  ];
  const files = sameFile ? [catalogue[r.int(0, 2)]] : r.shuffle(catalogue).slice(0, r.int(2, 3));
  const [fewest, most] = writers ?? (mode === "short" ? [3, 4] : [6, 9]);
  const n = r.int(fewest, most);
  const order = r.shuffle(runtimes);
  const processes = Array.from({ length: n }, (_, i) => ({
    runtime: i < order.length ? order[i] : r.pick(runtimes),
    delayMs: r.int(0, mode === "short" ? 200 : 400),
    order: r.shuffle(files.map((f) => f.path)),
  }));
  // From its own stream, so the draws above (and the rounds they replay) stay what they were.
  const connections = rng(roundSeed(seed ^ 0x5ca1ab1e, round)).pick([1, 2, 4, 8]);
  return { lock, noSymlinks, files, sameFile, throttle: r.int(3, 12) * 1_000_000, processes, connections };
}

/**
 * Run the process-race rounds and report what broke.
 *
 * @example
 * ```ts
 * const report = await runProcessRaces({ mode: "short", seed: 1 });
 * assert.equal(report.violations.length, 0);
 * ```
 */
export async function runProcessRaces(options: ProcessRaceOptions): Promise<PartReport> {
  const started = Date.now();
  const seed = baseSeed(options.seed);
  const runtimes = options.runtimes ?? availableRuntimes();
  const rounds = options.rounds ?? (options.mode === "short" ? 2 : 60);
  const violations: Violation[] = [];
  const notes: string[] = [`base seed ${seed}`];
  let processes = 0;
  let roundsRun = 0;
  const hub = await HubEmulator.start();
  const cacheDir = await makeTempDir("hubcache-torture-races-");
  const counts = { lockNone: 0, lockAuto: 0, noSymlinks: 0, sameFile: 0, bodies: 0 };
  try {
    const list = roundsToRun(options, rounds);
    for (const round of list) {
      if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs && roundsRun > 0) {
        notes.push(`stopped after ${roundsRun} of ${rounds} rounds: time budget of ${Math.round(options.budgetMs / 1000)} s used`);
        break;
      }
      const plan = planRound(options.mode, seed, round, runtimes);
      const found = await runRound(hub, cacheDir, round, plan);
      processes += plan.processes.length;
      roundsRun++;
      counts[plan.lock === "none" ? "lockNone" : "lockAuto"]++;
      if (plan.noSymlinks) counts.noSymlinks++;
      if (plan.sameFile) counts.sameFile++;
      counts.bodies += found.bodies;
      const replay = replayCommand(PART, seed, round, options.mode);
      for (const detail of found.problems) violations.push({ round, detail, replay });
      options.log?.(
        `[${PART}] round ${round}: ${plan.processes.length} processes (${plan.processes.map((p) => p.runtime).join(",")}), ` +
          `lock ${plan.lock}${plan.noSymlinks ? ", --no-symlinks" : ""}, ${plan.files.length} file(s), ${found.bodies} body GETs, ` +
          `${found.problems.length} violation(s)`,
      );
    }
  } finally {
    await hub.close();
    await removeTempDir(cacheDir);
  }
  notes.push(
    `rounds with lock none: ${counts.lockNone}, lock auto: ${counts.lockAuto}, all --no-symlinks: ${counts.noSymlinks}, ` +
      `one shared file: ${counts.sameFile}; body downloads served: ${counts.bodies}`,
  );
  return {
    part: PART,
    title: "Process races (real CLI processes on one cache)",
    rounds: roundsRun,
    processes,
    runtimes,
    durationMs: Date.now() - started,
    violations,
    notes,
  };
}

async function runRound(hub: HubEmulator, cacheDir: string, round: number, plan: RoundPlan): Promise<{ problems: string[]; bodies: number }> {
  const repoId = `org/race-${round}`;
  const contents: Record<string, Uint8Array> = {};
  plan.files.forEach((f, i) => (contents[f.path] = bytes(f.size, round * 16 + i + 1)));
  const repo = hub.createRepo(repoId);
  const commit = repo.commit(contents, {
    lfs: plan.files.filter((f) => f.lfs).map((f) => f.path),
    regular: plan.files.filter((f) => !f.lfs).map((f) => f.path),
  });
  hub.clearRequests();
  hub.throttle(plan.throttle);
  const extra = ["--lock", plan.lock, ...(plan.noSymlinks ? ["--no-symlinks"] : []), "--connections", String(plan.connections)];
  const problems: string[] = [];
  let runs: Array<ProcessRun | Error>;
  try {
    runs = await pool(
      plan.processes.map((p) => () =>
        runCli(p.runtime, cliArgs(hub, cacheDir, repoId, p.order, extra), { delayMs: p.delayMs }).catch((e: unknown) => e as Error)
      ),
      plan.processes.length,
    );
  } finally {
    hub.throttle(null);
  }
  const relative = (path: string): string => join(`models--${repoId.replace("/", "--")}`, "snapshots", commit, path);
  const printed = new Map<string, Set<string>>();
  runs.forEach((run, i) => {
    const p = plan.processes[i];
    if (run instanceof Error) {
      problems.push(`process ${i} (${p.runtime}) did not finish: ${run.message}`);
      return;
    }
    if (run.code !== 0) {
      problems.push(`process ${i} failed: ${describeRun(run)}`);
      return;
    }
    const lines = run.stdout.split("\n").filter((l) => l !== "");
    if (lines.length !== p.order.length) {
      problems.push(`process ${i} (${p.runtime}) printed ${lines.length} lines for ${p.order.length} files: ${JSON.stringify(run.stdout)}`);
      return;
    }
    p.order.forEach((path, j) => {
      const want = join(cacheDir, relative(path));
      if (lines[j] !== want) problems.push(`process ${i} (${p.runtime}) printed '${lines[j]}' for ${path}, expected '${want}'`);
      const rel = lines[j].startsWith(cacheDir + "/") ? lines[j].slice(cacheDir.length + 1) : lines[j];
      if (!printed.has(path)) printed.set(path, new Set());
      printed.get(path)!.add(rel);
    });
  });
  for (const [path, set] of printed) {
    if (set.size !== 1) problems.push(`processes printed different paths for ${path}: ${[...set].join(" | ")}`);
  }

  const seen = await inspectCache(cacheDir, hub, repoId);
  problems.push(...seen.problems);
  const expectedBlobs = plan.noSymlinks ? [] : [...new Set(plan.files.map((f) => repo.fileInfo(f.path).etag))].sort();
  if (JSON.stringify(seen.blobs) !== JSON.stringify(expectedBlobs)) {
    problems.push(`blobs/ holds [${seen.blobs.join(", ")}], expected [${expectedBlobs.join(", ")}]`);
  }
  if (seen.temps.length > 0) problems.push(`temp files left in blobs/: ${seen.temps.map((t) => `${t.name} (${t.size} B)`).join(", ")}`);
  for (const f of plan.files) {
    const kind = seen.pointers.get(`${commit}/${f.path}`);
    const want = plan.noSymlinks ? "file" : "symlink";
    if (kind !== want) problems.push(`snapshot pointer for ${f.path} is ${kind ?? "missing"}, expected a ${want}`);
  }
  if (seen.refs.get("main") !== commit) problems.push(`refs/main is ${JSON.stringify(seen.refs.get("main"))}, expected ${commit}`);
  if (seen.leftoverLocks.length > 0) problems.push(`lock files left in .locks/: ${seen.leftoverLocks.join(", ")}`);
  const bodies = hub.requests.filter((r) => r.method === "GET" && (r.cdn || r.path.includes("/resolve/")) && (r.status === 200 || r.status === 206)).length;
  return { problems, bodies };
}
