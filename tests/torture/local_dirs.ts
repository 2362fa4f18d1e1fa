/**
 * Torture part — local directories: rounds of real `hubcache download --local-dir` processes,
 * mixed across Node, Deno and Bun, racing into one local directory against a throttled emulator,
 * some killed with SIGKILL at a random named checkpoint or a random instant, then one clean run.
 *
 * Each round (all from the round's seed): lock `none` on even rounds and `auto` on odd ones; the
 * whole repo or a single file; sometimes the content is already in the cache (placed from there),
 * sometimes the local directory starts with the Python client's leftovers (a half-written
 * `.metadata`, an outdated file under a fresh-looking record, a stale shared `.incomplete`);
 * 3–4 processes (short) or 5–8 (long), up to half of them killed.
 *
 * After the clean run: every surviving process exited 0 and printed the same path; every file is
 * a regular file at `DIR/<path>` with exact bytes; every `.metadata` holds the commit, the etag and
 * a timestamp not older than the file; no temp file, partial or lock of ours is left in the
 * bookkeeping folder; nothing was written outside DIR except the cache's own folders (and nothing
 * into the cache that was not there).
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { HubEmulator } from "../../src/testing/mod.ts";
import { CHECKPOINT_NAMES } from "../../src/cli/test_hooks.ts";
import { makeTempDir, removeTempDir } from "../_support/tmp.ts";
import {
  availableRuntimes,
  baseSeed,
  bytes,
  cliArgs,
  describeRun,
  pool,
  type ProcessRun,
  replayCommand,
  rng,
  roundSeed,
  type RuntimeName,
  runCli,
} from "./harness.ts";
import { type PartOptions, type PartReport, roundsToRun, type Violation } from "./report.ts";

const PART = "local-dirs";
const TITLE = "Local directories (--local-dir races, kills, Python leftovers)";

interface Writer {
  runtime: RuntimeName;
  delayMs: number;
  crashAt?: string;
  killAfterMs?: number;
}

interface LocalRoundPlan {
  lock: "none" | "auto";
  wholeRepo: boolean;
  files: Array<{ path: string; size: number; lfs: boolean }>;
  single: string;
  inCache: boolean;
  pythonLeftovers: boolean;
  throttle: number;
  writers: Writer[];
}

function planLocalRound(mode: "short" | "long", seed: number, round: number, runtimes: RuntimeName[]): LocalRoundPlan {
  const r = rng(roundSeed(seed, round) ^ 0x10ca1d1);
  const big = mode === "short" ? [800_000, 1_600_000] : [2_000_000, 5_000_000];
  const files = [
    { path: "model.safetensors", size: r.int(big[0], big[1]), lfs: true },
    { path: "onnx/model.onnx", size: r.int(big[0] / 2, big[1] / 2), lfs: true },
    { path: "tokenizer.json", size: r.int(100_000, 400_000), lfs: false },
    { path: "config.json", size: r.int(200, 2_000), lfs: false },
  ];
  const n = mode === "short" ? r.int(3, 4) : r.int(5, 8);
  const order = r.shuffle(runtimes);
  const writers: Writer[] = Array.from({ length: n }, (_, i) => {
    const w: Writer = { runtime: i < order.length ? order[i] : r.pick(runtimes), delayMs: r.int(0, 300) };
    if (i > 0 && r.chance(0.45)) {
      if (r.chance(0.6)) w.crashAt = `${r.pick(CHECKPOINT_NAMES.filter((c) => c !== "ref-written"))}:${r.int(1, 2)}`;
      else w.killAfterMs = r.int(150, 1_500);
    }
    return w;
  });
  return {
    lock: round % 2 === 0 ? "none" : "auto",
    wholeRepo: r.chance(0.6),
    files,
    single: r.pick(files).path,
    inCache: r.chance(0.3),
    pythonLeftovers: r.chance(0.4),
    throttle: r.int(4, 12) * 1_000_000,
    writers,
  };
}

/**
 * Run the local-directory rounds and report what broke.
 *
 * @example
 * ```ts
 * const report = await runLocalDirs({ mode: "short", seed: 1 });
 * assert.equal(report.violations.length, 0);
 * ```
 */
export async function runLocalDirs(options: PartOptions): Promise<PartReport> {
  const started = Date.now();
  const seed = baseSeed(options.seed);
  const runtimes = availableRuntimes();
  const rounds = options.rounds ?? (options.mode === "short" ? 2 : 40);
  const violations: Violation[] = [];
  const notes: string[] = [`base seed ${seed}`];
  let processes = 0;
  let kills = 0;
  let roundsRun = 0;
  const hub = await HubEmulator.start();
  const root = await makeTempDir("hubcache-torture-local-");
  const counts = { lockNone: 0, lockAuto: 0, wholeRepo: 0, inCache: 0, python: 0, bodies: 0 };
  try {
    for (const round of roundsToRun(options, rounds)) {
      if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs && roundsRun > 0) {
        notes.push(`stopped after ${roundsRun} of ${rounds} rounds: time budget of ${Math.round(options.budgetMs / 1000)} s used`);
        break;
      }
      const plan = planLocalRound(options.mode, seed, round, runtimes);
      const found = await runLocalRound(hub, join(root, `round-${round}`), round, plan);
      processes += found.processes;
      kills += found.kills;
      roundsRun++;
      counts[plan.lock === "none" ? "lockNone" : "lockAuto"]++;
      if (plan.wholeRepo) counts.wholeRepo++;
      if (plan.inCache) counts.inCache++;
      if (plan.pythonLeftovers) counts.python++;
      counts.bodies += found.bodies;
      const replay = replayCommand(PART, seed, round, options.mode);
      for (const detail of found.problems) violations.push({ round, detail, replay });
      options.log?.(
        `[${PART}] round ${round}: ${plan.writers.length} writers (${plan.writers.map((w) => w.runtime).join(",")}), ${found.kills} killed, ` +
          `lock ${plan.lock}, ${plan.wholeRepo ? "whole repo" : plan.single}${plan.inCache ? ", content in cache" : ""}` +
          `${plan.pythonLeftovers ? ", Python leftovers" : ""}; ${found.bodies} body GETs, ${found.problems.length} violation(s)`,
      );
    }
  } finally {
    await hub.close();
    await removeTempDir(root);
  }
  notes.push(
    `rounds with lock none: ${counts.lockNone}, lock auto: ${counts.lockAuto}, whole repo: ${counts.wholeRepo}, ` +
      `content already in the cache: ${counts.inCache}, Python leftovers: ${counts.python}; body downloads served: ${counts.bodies}`,
  );
  return { part: PART, title: TITLE, rounds: roundsRun, processes, kills, runtimes, durationMs: Date.now() - started, violations, notes };
}

async function listTree(dir: string): Promise<string[]> {
  try {
    return (await fsp.readdir(dir, { recursive: true })).map(String).sort();
  } catch {
    return [];
  }
}

async function runLocalRound(
  hub: HubEmulator,
  base: string,
  round: number,
  plan: LocalRoundPlan,
): Promise<{ problems: string[]; processes: number; kills: number; bodies: number }> {
  const problems: string[] = [];
  const repoId = `org/local-${round}`;
  const contents: Record<string, Uint8Array> = {};
  plan.files.forEach((f, i) => (contents[f.path] = bytes(f.size, round * 16 + i + 101)));
  const repo = hub.createRepo(repoId);
  const commit = repo.commit(contents, {
    lfs: plan.files.filter((f) => f.lfs).map((f) => f.path),
    regular: plan.files.filter((f) => !f.lfs).map((f) => f.path),
  });
  const cacheDir = join(base, "cache");
  const dir = join(base, "local");
  await fsp.mkdir(cacheDir, { recursive: true });
  await fsp.mkdir(dir, { recursive: true });
  const wanted = plan.wholeRepo ? plan.files.map((f) => f.path) : [plan.single];
  if (plan.inCache) {
    const seeded = await runCli("node", cliArgs(hub, cacheDir, repoId, []));
    if (seeded.code !== 0) problems.push(`seeding the cache failed: ${describeRun(seeded)}`);
  }
  const cacheBefore = await listTree(cacheDir);
  if (plan.pythonLeftovers) await plantPythonLeftovers(dir, commit, repo.fileInfo(wanted[0]).etag, wanted[0], contents[wanted[0]]);

  hub.clearRequests();
  hub.throttle(plan.throttle);
  const extra = ["--local-dir", dir, "--lock", plan.lock];
  let runs: ProcessRun[];
  try {
    runs = await pool(
      plan.writers.map((w) => () =>
        runCli(w.runtime, cliArgs(hub, cacheDir, repoId, plan.wholeRepo ? [] : [plan.single], extra), {
          delayMs: w.delayMs,
          killAfterMs: w.killAfterMs,
          env: w.crashAt ? { HUBCACHE_TEST_HOOKS: `crash-at=${w.crashAt}` } : {},
        })
      ),
      plan.writers.length,
    );
  } finally {
    hub.throttle(null);
  }
  let kills = 0;
  const expectedOut = plan.wholeRepo ? dir : join(dir, plan.single);
  runs.forEach((run, i) => {
    const w = plan.writers[i];
    const planned = w.crashAt !== undefined || w.killAfterMs !== undefined;
    if (run.signal === "SIGKILL" && planned) {
      kills++;
      return;
    }
    if (run.code !== 0) problems.push(`writer ${i} (${w.runtime}${w.crashAt ? `, crash-at=${w.crashAt}` : ""}) failed: ${describeRun(run)}`);
    else if (run.stdout.trim() !== expectedOut) problems.push(`writer ${i} (${w.runtime}) printed '${run.stdout.trim()}', expected '${expectedOut}'`);
  });
  // The clean run that must finish whatever the killed writers left.
  const clean = await runCli(plan.writers[0].runtime, cliArgs(hub, cacheDir, repoId, plan.wholeRepo ? [] : [plan.single], extra));
  if (clean.code !== 0) problems.push(`the clean run failed: ${describeRun(clean)}`);

  for (const path of wanted) {
    const file = join(dir, path);
    const info = await fsp.lstat(file).catch(() => null);
    if (!info?.isFile()) {
      problems.push(`${path}: ${info ? "not a regular file" : "missing"} in the local dir`);
      continue;
    }
    const got = new Uint8Array(await fsp.readFile(file));
    const want = contents[path];
    if (got.length !== want.length || !got.every((b, k) => b === want[k])) problems.push(`${path}: wrong bytes (${got.length} of ${want.length})`);
    const meta = await fsp.readFile(join(dir, ".cache", "huggingface", "download", `${path}.metadata`), "utf8").catch(() => null);
    const lines = meta?.split("\n") ?? [];
    if (meta === null) problems.push(`${path}: no .metadata`);
    else if (lines[0] !== commit || lines[1] !== repo.fileInfo(path).etag || !(Number(lines[2]) >= info.mtimeMs / 1000 - 1) || lines[3] !== "") {
      problems.push(`${path}: metadata ${JSON.stringify(meta)} does not record commit ${commit}, etag ${repo.fileInfo(path).etag} and a time not before the file`);
    }
  }
  const leftovers = (await listTree(join(dir, ".cache", "huggingface"))).filter((n) =>
    /\.(partial|adopting|hubcache-lock)$/.test(n) || /[0-9a-f]{40,64}\.[^/]+-\d+-[0-9a-f]+\.incomplete$/.test(n) || n.includes(".hubcache-tmp/")
  );
  // A killed writer's own temp file is swept by the next run on this host once its pid is gone;
  // only the clean run's sweep counts (a writer still alive when it ran is not possible: all ended).
  if (leftovers.length > 0) problems.push(`left in the bookkeeping folder: ${leftovers.join(", ")}`);
  const outside = (await listTree(base)).filter((n) => !n.startsWith("local") && !n.startsWith("cache"));
  if (outside.length > 0) problems.push(`written outside the local dir: ${outside.join(", ")}`);
  const cacheAfter = (await listTree(cacheDir)).filter((n) => !cacheBefore.includes(n) && !n.startsWith(".locks") && n !== "CACHEDIR.TAG");
  if (cacheAfter.length > 0) problems.push(`written into the cache by --local-dir downloads: ${cacheAfter.slice(0, 5).join(", ")}`);
  const bodies = hub.requests.filter((r) => r.method === "GET" && (r.cdn || r.path.includes("/resolve/")) && (r.status === 200 || r.status === 206)).length;
  if (plan.inCache && bodies > 0) problems.push(`${bodies} body GET(s) although the content was in the cache`);
  return { problems, processes: plan.writers.length + 1, kills, bodies };
}

/**
 * What a Python client killed mid-way leaves: a half-written record, and a stale shared temp
 * file holding a wrong-byte prefix (its writer is long gone: aged past the claim horizon).
 */
async function plantPythonLeftovers(dir: string, commit: string, etag: string, path: string, content: Uint8Array): Promise<void> {
  const download = join(dir, ".cache", "huggingface", "download");
  const metadata = join(download, `${path}.metadata`);
  await fsp.mkdir(join(metadata, ".."), { recursive: true });
  await fsp.writeFile(metadata, `${commit}\n${etag.slice(0, 10)}`);
  const wrong = new Uint8Array(content.subarray(0, Math.floor(content.length / 2)));
  if (wrong.length > 0) wrong[0] ^= 0xff;
  const short = (await import("node:crypto")).createHash("sha1").update(`${path.split("/").pop()}.metadata`).digest("base64url");
  const incomplete = join(metadata, "..", `${short}${"=".repeat((4 - (short.length % 4)) % 4)}.${etag}.incomplete`);
  await fsp.writeFile(incomplete, wrong);
  const old = new Date(Date.now() - 3_600_000);
  await fsp.utimes(incomplete, old, old);
}
