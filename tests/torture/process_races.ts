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

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
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
  repoFolder,
  replayCommand,
  rng,
  roundSeed,
  type RuntimeName,
  runCli,
} from "./harness.ts";
import { notRunReport, type PartOptions, type PartReport, type Violation } from "./report.ts";

/** Options of {@link runProcessRaces}. */
export interface ProcessRaceOptions extends PartOptions {
  /** Runtimes to mix (default: all available). */
  runtimes?: RuntimeName[];
}

const PART = "process-races";

interface RoundPlan {
  lock: "none" | "auto";
  noSymlinks: boolean;
  files: Array<{ path: string; size: number; lfs: boolean }>;
  sameFile: boolean;
  throttle: number;
  processes: Array<{ runtime: RuntimeName; delayMs: number; order: string[] }>;
}

function planRound(mode: "short" | "long", seed: number, round: number, runtimes: RuntimeName[]): RoundPlan {
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
  const n = mode === "short" ? r.int(3, 4) : r.int(6, 9);
  const order = r.shuffle(runtimes);
  const processes = Array.from({ length: n }, (_, i) => ({
    runtime: i < order.length ? order[i] : r.pick(runtimes),
    delayMs: r.int(0, mode === "short" ? 200 : 400),
    order: r.shuffle(files.map((f) => f.path)),
  }));
  return { lock, noSymlinks, files, sameFile, throttle: r.int(3, 12) * 1_000_000, processes };
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
    const list = options.onlyRound !== undefined ? [options.onlyRound] : Array.from({ length: rounds }, (_, i) => i);
    for (const round of list) {
      if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs && roundsRun > 0) {
        notes.push(`stopped after ${roundsRun} of ${rounds} rounds: time budget of ${Math.round(options.budgetMs / 1000)} s used`);
        break;
      }
      const plan = planRound(options.mode, seed, round, runtimes);
      const found = await runRound(hub, { baseDir: cacheDir, hosts: [{ cacheDir }] }, round, plan);
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

const TWO_HOSTS = "two-hosts";
const TWO_HOSTS_TITLE = "Two hosts sharing one directory (two FUSE mounts)";

function commandWorks(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: "ignore", timeout: 10_000 });
  return r.error === undefined;
}

function unmount(dir: string): void {
  for (const [cmd, args] of [["fusermount", ["-u", dir]], ["fusermount3", ["-u", dir]], ["umount", [dir]]] as Array<[string, string[]]>) {
    const r = spawnSync(cmd, args, { stdio: "ignore", timeout: 20_000 });
    if (r.error === undefined && r.status === 0) return;
  }
}

/** Why two FUSE mounts cannot be made here, or undefined when they can. */
export function fuseUnavailableReason(): string | undefined {
  if (process.platform !== "linux") return `FUSE mounts are only attempted on Linux (this is ${process.platform})`;
  if (!existsSync("/dev/fuse")) return "/dev/fuse does not exist (no FUSE support in this kernel/container)";
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "not root: mounting needs root (or a fuse group member with user_allow_other)";
  if (!commandWorks("bindfs", ["--version"])) return "bindfs is not installed (as root: apt-get install -y bindfs)";
  return undefined;
}

/**
 * The shared-network-file-system case on one machine: one folder mounted twice with bindfs
 * (FUSE), writers on both mounts posing as two hosts (`HUBCACHE_HOSTNAME`), lock on and off,
 * some rounds killing a writer on host A. Across two FUSE mounts `flock` excludes nothing (each
 * mount has its own inodes) — the silently broken lock of DESIGN seed 000 — while exclusive
 * create and rename still reach the one underlying directory.
 *
 * @example
 * ```ts
 * const report = await runTwoHostRaces({ mode: "short", seed: 1 });
 * ```
 */
export async function runTwoHostRaces(options: ProcessRaceOptions): Promise<PartReport> {
  const why = fuseUnavailableReason();
  if (why) return notRunReport(TWO_HOSTS, TWO_HOSTS_TITLE, why);
  const started = Date.now();
  const seed = baseSeed(options.seed);
  const runtimes = options.runtimes ?? availableRuntimes();
  const rounds = options.rounds ?? (options.mode === "short" ? 2 : 24);
  const root = await makeTempDir("hubcache-torture-fuse-");
  const base = join(root, "base");
  const mounts = [join(root, "host-a"), join(root, "host-b")];
  const notes: string[] = [`base seed ${seed}`];
  const violations: Violation[] = [];
  const mounted: string[] = [];
  let processes = 0;
  let kills = 0;
  let roundsRun = 0;
  const bodies = { none: [] as number[], auto: [] as number[] };
  let orphans = 0;
  let leftoverLocks = 0;
  const hub = await HubEmulator.start();
  try {
    await fsp.mkdir(base, { recursive: true });
    for (const m of mounts) {
      await fsp.mkdir(m, { recursive: true });
      const r = spawnSync("bindfs", [base, m], { encoding: "utf8", timeout: 20_000 });
      if (r.status !== 0) {
        return notRunReport(TWO_HOSTS, TWO_HOSTS_TITLE, `bindfs ${base} ${m} failed: ${(r.stderr || r.error?.message || "").trim()}`);
      }
      mounted.push(m);
    }
    await fsp.writeFile(join(mounts[0], "probe"), "x");
    if ((await fsp.readFile(join(mounts[1], "probe"), "utf8").catch(() => "")) !== "x") {
      return notRunReport(TWO_HOSTS, TWO_HOSTS_TITLE, "a file written through one bindfs mount was not visible through the other");
    }
    await fsp.rm(join(base, "probe"));
    notes.push(`mounts: bindfs ${base} → ${mounts.join(" and ")}; processes on the first report host name 'host-a', on the second 'host-b'`);
    if (commandWorks("flock", ["--version"])) {
      const lk = (i: number) => join(mounts[i], "flock-probe");
      await fsp.writeFile(join(base, "flock-probe"), "");
      const r = spawnSync("flock", ["-n", lk(0), "flock", "-n", lk(1), "true"], { timeout: 10_000 });
      notes.push(
        r.status === 0
          ? "flock probe: a flock held through one mount does NOT exclude a flock through the other (broken lock, as on Lustre/NFS in seed 000)"
          : "flock probe: flock excludes across the two mounts",
      );
      await fsp.rm(join(base, "flock-probe"), { force: true });
    }
    const list = options.onlyRound !== undefined ? [options.onlyRound] : Array.from({ length: rounds }, (_, i) => i);
    for (const round of list) {
      if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs && roundsRun > 0) {
        notes.push(`stopped after ${roundsRun} of ${rounds} rounds: time budget used`);
        break;
      }
      const plan = planRound(options.mode, seed, round, runtimes);
      const r = rng(roundSeed(seed ^ 0x5bd1e995, round));
      const totalBytes = plan.files.reduce((n, f) => n + f.size, 0);
      const kill = round % 3 === 2 ? { index: 0, afterMs: r.int(100, 200 + Math.round((totalBytes / plan.throttle) * 1000)) } : undefined;
      const where: Hosts = { baseDir: base, hosts: mounts.map((cacheDir, i) => ({ cacheDir, hostname: i === 0 ? "host-a" : "host-b" })) };
      const found = await runRound(hub, where, round, plan, kill);
      roundsRun++;
      processes += plan.processes.length;
      kills += found.killed;
      orphans += found.orphans;
      leftoverLocks += found.leftoverLocks;
      if (!kill) bodies[plan.lock].push(found.bodies);
      const replay = replayCommand(TWO_HOSTS, seed, round, options.mode);
      for (const detail of found.problems) violations.push({ round, detail, replay });
      options.log?.(
        `[${TWO_HOSTS}] round ${round}: ${plan.processes.length} processes over 2 mounts, lock ${plan.lock}` +
          `${plan.noSymlinks ? ", --no-symlinks" : ""}${kill ? `, host-a writer killed at ${kill.afterMs} ms` : ""}, ` +
          `${found.bodies} body GETs, ${found.problems.length} violation(s)`,
      );
    }
  } finally {
    await hub.close();
    for (const m of mounted) unmount(m);
    await removeTempDir(root).catch(() => {});
  }
  const avg = (xs: number[]) => (xs.length ? (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1) : "–");
  notes.push(
    `body downloads per round without kills: lock none ${avg(bodies.none)} (over ${bodies.none.length} rounds), ` +
      `lock auto ${avg(bodies.auto)} (over ${bodies.auto.length} rounds; the .hubcache-lock file is created with O_EXCL, which works across the mounts)`,
    `after kills: ${orphans} orphaned temp file(s) and ${leftoverLocks} dead holder lock file(s) left for 'cache prune' (not violations)`,
  );
  return {
    part: TWO_HOSTS,
    title: TWO_HOSTS_TITLE,
    rounds: roundsRun,
    processes,
    kills,
    runtimes,
    durationMs: Date.now() - started,
    violations,
    notes,
  };
}

/** Where the processes of a round run: one cache directory per host (two mounts of one folder). */
interface Hosts {
  /** The real directory, inspected after the round. */
  baseDir: string;
  /** Per host: the cache dir its processes use and the host name they report. */
  hosts: Array<{ cacheDir: string; hostname?: string }>;
}

interface RoundOutcome {
  problems: string[];
  bodies: number;
  orphans: number;
  leftoverLocks: number;
  killed: number;
}

async function runRound(
  hub: HubEmulator,
  where: Hosts,
  round: number,
  plan: RoundPlan,
  kill?: { index: number; afterMs: number },
): Promise<RoundOutcome> {
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
  const extra = ["--lock", plan.lock, ...(plan.noSymlinks ? ["--no-symlinks"] : [])];
  const problems: string[] = [];
  const hostOf = (i: number) => where.hosts[i % where.hosts.length];
  let runs: Array<ProcessRun | Error>;
  try {
    runs = await pool(
      plan.processes.map((p, i) => () => {
        const host = hostOf(i);
        const env: Record<string, string> = host.hostname ? { HUBCACHE_HOSTNAME: host.hostname } : {};
        const killAfterMs = kill?.index === i ? kill.afterMs : undefined;
        return runCli(p.runtime, cliArgs(hub, host.cacheDir, repoId, p.order, extra), { delayMs: p.delayMs, env, killAfterMs })
          .catch((e: unknown) => e as Error);
      }),
      plan.processes.length,
    );
  } finally {
    hub.throttle(null);
  }
  const relative = (path: string): string => join(`models--${repoId.replace("/", "--")}`, "snapshots", commit, path);
  const printed = new Map<string, Set<string>>();
  let killed = 0;
  runs.forEach((run, i) => {
    const p = plan.processes[i];
    const host = hostOf(i);
    if (run instanceof Error) {
      problems.push(`process ${i} (${p.runtime}) did not finish: ${run.message}`);
      return;
    }
    if (run.killedByHarness) {
      killed++;
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
      const want = join(host.cacheDir, relative(path));
      if (lines[j] !== want) problems.push(`process ${i} (${p.runtime}) printed '${lines[j]}' for ${path}, expected '${want}'`);
      const rel = lines[j].startsWith(host.cacheDir + "/") ? lines[j].slice(host.cacheDir.length + 1) : lines[j];
      if (!printed.has(path)) printed.set(path, new Set());
      printed.get(path)!.add(rel);
    });
  });
  for (const [path, set] of printed) {
    if (set.size !== 1) problems.push(`processes printed different paths for ${path}: ${[...set].join(" | ")}`);
  }

  const seen = await inspectCache(where.baseDir, hub, repoId);
  problems.push(...seen.problems);
  const expectedBlobs = plan.noSymlinks ? [] : [...new Set(plan.files.map((f) => repo.fileInfo(f.path).etag))].sort();
  if (JSON.stringify(seen.blobs) !== JSON.stringify(expectedBlobs)) {
    problems.push(`blobs/ holds [${seen.blobs.join(", ")}], expected [${expectedBlobs.join(", ")}]`);
  }
  // A writer killed on purpose may leave its temp file when others publish first (invariant 10:
  // `cache prune` removes it) and its lock file; without a kill nothing may be left.
  const orphans = kill ? seen.temps.filter((t) => t.name.endsWith(".incomplete")) : [];
  const temps = seen.temps.filter((t) => !orphans.includes(t));
  if (temps.length > 0) problems.push(`temp files left in blobs/: ${temps.map((t) => `${t.name} (${t.size} B)`).join(", ")}`);
  for (const f of plan.files) {
    const kind = seen.pointers.get(`${commit}/${f.path}`);
    const want = plan.noSymlinks ? "file" : "symlink";
    if (kind !== want) problems.push(`snapshot pointer for ${f.path} is ${kind ?? "missing"}, expected a ${want}`);
  }
  if (seen.refs.get("main") !== commit) problems.push(`refs/main is ${JSON.stringify(seen.refs.get("main"))}, expected ${commit}`);
  if (seen.leftoverLocks.length > 0 && !kill) problems.push(`lock files left in .locks/: ${seen.leftoverLocks.join(", ")}`);
  const bodies = hub.requests.filter((r) => r.method === "GET" && (r.cdn || r.path.includes("/resolve/")) && (r.status === 200 || r.status === 206)).length;
  return { problems, bodies, orphans: orphans.length, leftoverLocks: kill ? seen.leftoverLocks.length : 0, killed };
}
