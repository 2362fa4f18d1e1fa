/**
 * Shared machinery of the process-level torture parts (races, crashes, network faults): seeded
 * randomness, running the real CLI on each runtime, and an independent inspection of a repo's
 * cache folder against what the Hub emulator serves.
 *
 * The inspection deliberately re-derives everything from the bytes on disk (sha256, git blob
 * sha1) instead of trusting hubcache's own code: a torture test that reused the code under test
 * to judge it would share its bugs.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { HubEmulator, type RecordedRequest } from "../../src/testing/mod.ts";
import { makeTempDir, removeTempDir } from "../_support/tmp.ts";
import type { Violation } from "./report.ts";
import { cliCommand, type CliRun, finished, repoRoot, RUNTIMES, type RuntimeName, spawnCli } from "../_support/cli.ts";
import { TOKEN } from "../_support/hub.ts";

export { bytes } from "../_support/hub.ts";
export type { RuntimeName } from "../_support/cli.ts";

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** A small deterministic PRNG (mulberry32) with the helpers the parts need. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  shuffle<T>(items: readonly T[]): T[];
}

/**
 * A PRNG from a 32-bit seed.
 *
 * @example
 * ```ts
 * const r = rng(42); r.int(1, 6);
 * ```
 */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
    chance: (p) => next() < p,
    shuffle(items) {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j], out[i]];
      }
      return out;
    },
  };
}

/** The seed of one round, derived from the part's base seed (so any round replays alone). */
export function roundSeed(seed: number, round: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (round + 1), 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** A base seed for a run: the given one, or one from the clock (printed in the report). */
export function baseSeed(seed: number | undefined): number {
  return seed ?? (Date.now() % 1_000_000_007) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Runtimes and the CLI

/** The runtimes whose CLI can run here (the Node CLI needs the build in dist/). */
export function availableRuntimes(): RuntimeName[] {
  return RUNTIMES.filter((rt) => {
    const [cmd, ...rest] = cliCommand(rt);
    if (rt === "node") return existsSync(rest[0]);
    return existsSync(cmd);
  });
}

/** A finished CLI process with its pid and how long it ran. */
export interface ProcessRun extends CliRun {
  readonly runtime: RuntimeName;
  readonly pid: number;
  readonly ms: number;
  /** The harness sent SIGKILL itself (a random-instant kill). */
  readonly killedByHarness: boolean;
}

/** Options of {@link runCli}. */
export interface RunOptions {
  env?: Record<string, string>;
  /** Wait this long before starting. */
  delayMs?: number;
  /** SIGKILL the process this many ms after it started (if it is still running). */
  killAfterMs?: number;
  timeoutMs?: number;
  /** Called once the child has been spawned (e.g. to learn its pid). */
  onSpawn?: (pid: number) => void;
}

/**
 * Run the real CLI on `runtime`, optionally killing it at a chosen instant.
 *
 * @example
 * ```ts
 * const run = await runCli("deno", cliArgs(hub, cache, "org/x", ["a.bin"]), { killAfterMs: 400 });
 * ```
 */
export async function runCli(runtime: RuntimeName, args: string[], options: RunOptions = {}): Promise<ProcessRun> {
  if (options.delayMs) await sleep(options.delayMs);
  const started = Date.now();
  const child = spawnCli(runtime, args, options.env ?? {});
  options.onSpawn?.(child.pid ?? -1);
  let killedByHarness = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (options.killAfterMs !== undefined) {
    timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) {
        killedByHarness = true;
        child.kill("SIGKILL");
      }
    }, options.killAfterMs);
  }
  try {
    const run = await finished(child, options.timeoutMs ?? 120_000);
    return { ...run, runtime, pid: child.pid ?? -1, ms: Date.now() - started, killedByHarness: killedByHarness && run.signal === "SIGKILL" };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** The argument list of `hubcache download` against the emulator. */
export function cliArgs(hub: HubEmulator, cacheDir: string, repo: string, files: string[], extra: string[] = []): string[] {
  return ["download", repo, ...files, "--endpoint", hub.endpoint, "--cache-dir", cacheDir, "--token", TOKEN, "--quiet", ...extra];
}

/** `hubcache: <Code>: …` on stderr: the code of a typed error, else undefined. */
export function typedErrorCode(stderr: string): string | undefined {
  if (/hubcache: unexpected error/.test(stderr)) return undefined;
  return /^hubcache: ([A-Za-z][A-Za-z0-9]*): /m.exec(stderr)?.[1];
}

/** One line describing a run, for violation details. */
export function describeRun(run: ProcessRun): string {
  const how = run.signal ? `killed by ${run.signal}` : `exit ${run.code}`;
  const err = run.stderr.trim().replace(/\s+/g, " ").slice(0, 300);
  return `${run.runtime} pid ${run.pid} ${how} after ${run.ms} ms${err ? `; stderr: ${err}` : ""}`;
}

// ---------------------------------------------------------------------------------------------
// What the emulator saw

/** The requests that carried file bytes for `filePath` (CDN GETs and resolve GETs of regular files). */
export function bodyRequests(hub: HubEmulator, filePath: string, since = 0): RecordedRequest[] {
  return hub.requests.slice(since).filter((r) =>
    r.method === "GET" && r.filePath === filePath && (r.cdn || r.path.includes("/resolve/")) &&
    (r.status === 200 || r.status === 206)
  );
}

/** Start offset of a `Range: bytes=N-` header (0 when absent). */
export function rangeStart(request: RecordedRequest): number {
  const m = /bytes=(\d+)-/.exec(request.range ?? "");
  return m ? Number(m[1]) : 0;
}

// ---------------------------------------------------------------------------------------------
// Inspecting the cache

/** What is in one repo's cache folder, judged against the emulator. */
export interface CacheInspection {
  readonly folder: string;
  /** Complete blob names (40 or 64 hex) in blobs/. */
  readonly blobs: string[];
  /** `.incomplete` / `.partial` files in blobs/. */
  readonly temps: Array<{ name: string; size: number }>;
  /** Pointers found: `<commit>/<path>` → kind. */
  readonly pointers: Map<string, "symlink" | "file">;
  /** refs/<name> → content. */
  readonly refs: Map<string, string>;
  /** `.hubcache-lock` files left in `.locks/<folder>/`. */
  readonly leftoverLocks: string[];
  /** Things that are wrong whatever happened (wrong bytes, bad ref, dangling pointer…). */
  readonly problems: string[];
}

const encoder = new TextEncoder();

function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function gitSha1Hex(data: Uint8Array): string {
  return createHash("sha1").update(encoder.encode(`blob ${data.length}\0`)).update(data).digest("hex");
}

/** The repo folder of a model repo. */
export function repoFolder(cacheDir: string, repoId: string): string {
  return join(cacheDir, `models--${repoId.split("/").join("--")}`);
}

async function walkFiles(dir: string, prefix = ""): Promise<string[]> {
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...await walkFiles(join(dir, e.name), rel));
    else out.push(rel);
  }
  return out;
}

/**
 * Look at everything in a model repo's cache folder and check it against the emulator:
 * every blob's bytes hash to its name; every snapshot pointer resolves to the exact content of
 * that path at that commit (and a symlink points at `../../blobs/<etag>`); every ref is 40 hex
 * and a real commit.
 *
 * @example
 * ```ts
 * const seen = await inspectCache(cacheDir, hub, "org/x");
 * assert.deepEqual(seen.problems, []);
 * ```
 */
export async function inspectCache(cacheDir: string, hub: HubEmulator, repoId: string): Promise<CacheInspection> {
  const folder = repoFolder(cacheDir, repoId);
  const repo = hub.repo(repoId);
  const problems: string[] = [];
  const blobs: string[] = [];
  const temps: Array<{ name: string; size: number }> = [];
  for (const name of (await fsp.readdir(join(folder, "blobs")).catch(() => [] as string[])).sort()) {
    const path = join(folder, "blobs", name);
    if (name.endsWith(".incomplete") || name.endsWith(".partial")) {
      const size = (await fsp.lstat(path).catch(() => null))?.size ?? -1;
      temps.push({ name, size });
      continue;
    }
    if (!/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(name)) {
      problems.push(`unexpected entry in blobs/: ${name}`);
      continue;
    }
    const data = new Uint8Array(await fsp.readFile(path));
    const actual = name.length === 64 ? sha256Hex(data) : gitSha1Hex(data);
    if (actual !== name) problems.push(`blobs/${name} holds wrong bytes (${data.length} bytes hashing to ${actual})`);
    blobs.push(name);
  }

  const pointers = new Map<string, "symlink" | "file">();
  for (const rel of await walkFiles(join(folder, "snapshots"))) {
    const slash = rel.indexOf("/");
    const commit = rel.slice(0, slash);
    const filePath = rel.slice(slash + 1);
    const abs = join(folder, "snapshots", rel);
    const snap = repo.snapshot(commit);
    const stored = snap?.sha === commit ? snap.file(filePath) : undefined;
    if (!stored) {
      problems.push(`snapshots/${rel} is not a file of commit ${commit} on the Hub`);
      continue;
    }
    const info = await fsp.lstat(abs);
    const etag = stored.lfs ? stored.sha256 : stored.gitSha1;
    if (info.isSymbolicLink()) {
      pointers.set(rel, "symlink");
      const target = await fsp.readlink(abs);
      const depth = filePath.split("/").length - 1;
      const expected = "../".repeat(depth + 2) + "blobs/" + etag;
      if (target !== expected) problems.push(`snapshots/${rel} links to '${target}', expected '${expected}'`);
    } else if (info.isFile()) {
      pointers.set(rel, "file");
    } else {
      problems.push(`snapshots/${rel} is neither a file nor a symlink`);
      continue;
    }
    let data: Uint8Array;
    try {
      data = new Uint8Array(await fsp.readFile(abs));
    } catch (err) {
      problems.push(`snapshots/${rel} does not resolve: ${(err as Error).message}`);
      continue;
    }
    if (data.length !== stored.content.length || sha256Hex(data) !== stored.sha256) {
      problems.push(`snapshots/${rel} resolves to wrong bytes (${data.length} bytes, sha256 ${sha256Hex(data)}; expected ${stored.content.length}, ${stored.sha256})`);
    }
  }

  const refs = new Map<string, string>();
  for (const rel of await walkFiles(join(folder, "refs"))) {
    const content = await fsp.readFile(join(folder, "refs", rel), "utf8");
    refs.set(rel, content);
    if (!/^[0-9a-f]{40}$/.test(content)) problems.push(`refs/${rel} is not 40 hex: ${JSON.stringify(content.slice(0, 80))}`);
    else if (repo.resolveRevision(content) !== content) problems.push(`refs/${rel} names ${content}, not a commit of the repo`);
  }

  const locksDir = join(cacheDir, ".locks", `models--${repoId.split("/").join("--")}`);
  const leftoverLocks = (await fsp.readdir(locksDir).catch(() => [] as string[])).filter((n) => n.includes("hubcache-lock")).sort();
  return { folder, blobs, temps, pointers, refs, leftoverLocks, problems };
}

/**
 * Check a path a successful process printed: it must exist and hold exactly the content of
 * that file at the commit in the path ("never returns wrong bytes").
 *
 * @example
 * ```ts
 * const problem = await checkPrintedPath(hub, "org/x", cacheDir, run.stdout.trim(), "model.bin");
 * ```
 */
export async function checkPrintedPath(hub: HubEmulator, repoId: string, cacheDir: string, printed: string, filePath: string): Promise<string | undefined> {
  const prefix = join(repoFolder(cacheDir, repoId), "snapshots") + "/";
  if (!printed.startsWith(prefix) || !printed.endsWith("/" + filePath)) return `printed path '${printed}' is not a snapshot path of ${filePath}`;
  const commit = printed.slice(prefix.length, prefix.length + 40);
  const stored = hub.repo(repoId).snapshot(commit)?.file(filePath);
  if (!stored) return `printed path '${printed}' names commit ${commit}, which has no ${filePath}`;
  let data: Uint8Array;
  try {
    data = new Uint8Array(await fsp.readFile(printed));
  } catch (err) {
    return `printed path '${printed}' cannot be read: ${(err as Error).message}`;
  }
  if (data.length !== stored.content.length || sha256Hex(data) !== stored.sha256) {
    return `printed path '${printed}' holds wrong bytes (${data.length} bytes, expected ${stored.content.length})`;
  }
  return undefined;
}

/**
 * Write a file's first `length` bytes (optionally damaged) as `blobs/<etag>.partial`, as an
 * interrupted earlier download would have left it.
 */
export async function plantPartial(cacheDir: string, repoId: string, etag: string, content: Uint8Array, length: number, damage = false): Promise<void> {
  const blobs = join(repoFolder(cacheDir, repoId), "blobs");
  await fsp.mkdir(blobs, { recursive: true });
  const data = content.slice(0, length);
  if (damage && data.length > 0) data[Math.floor(data.length / 2)] ^= 0xff;
  await fsp.writeFile(join(blobs, `${etag}.partial`), data);
}

// ---------------------------------------------------------------------------------------------
// Small utilities

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Run `tasks` with at most `concurrency` at a time; results in task order.
 *
 * @example
 * ```ts
 * const results = await pool([() => a(), () => b()], 2);
 * ```
 */
export async function pool<T>(tasks: Array<() => Promise<T>>, concurrency: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let nextIndex = 0;
  const worker = async (): Promise<void> => {
    while (nextIndex < tasks.length) {
      const i = nextIndex++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, tasks.length)) }, worker));
  return results;
}

/** What {@link runRoundsOnHubs} did. */
export interface RoundsOutcome {
  readonly roundsRun: number;
  /** Rounds not started because the time budget was spent. */
  readonly skipped: number;
  readonly violations: Violation[];
}

/**
 * Run the rounds of a process-based part: `concurrency` emulators, each round on a free one
 * with a fresh cache directory, until the time budget is spent. A round returns its problems;
 * each becomes a violation with the command that replays it. The emulator's faults and
 * throttle are reset between rounds.
 *
 * @example
 * ```ts
 * const { roundsRun, violations } = await runRoundsOnHubs({ part: "crashes", seed, mode, cases: ["a", "b"],
 *   started: Date.now(), cachePrefix: "hubcache-torture-crash-", label: (c) => `[${c}]`, run: async (hub, dir, round, c) => [] });
 * ```
 */
export async function runRoundsOnHubs<C>(options: {
  readonly part: string;
  readonly seed: number;
  readonly mode: "short" | "long";
  /** Every case of the part; round N runs `cases[N]`. */
  readonly cases: readonly C[];
  /** Run only this round (a replay). */
  readonly onlyRound?: number;
  readonly concurrency?: number;
  readonly started: number;
  readonly budgetMs?: number;
  readonly cachePrefix: string;
  readonly log?: (line: string) => void;
  readonly label: (c: C) => string;
  readonly run: (hub: HubEmulator, cacheDir: string, round: number, c: C) => Promise<string[]>;
}): Promise<RoundsOutcome> {
  const { part, seed, mode, cases } = options;
  const rounds = options.onlyRound !== undefined ? [options.onlyRound] : cases.map((_, i) => i);
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const violations: Violation[] = [];
  const hubs = await Promise.all(Array.from({ length: Math.min(concurrency, rounds.length) || 1 }, () => HubEmulator.start()));
  const free = [...hubs];
  let roundsRun = 0;
  let skipped = 0;
  try {
    await pool(rounds.map((round) => async () => {
      if (options.budgetMs !== undefined && Date.now() - options.started > options.budgetMs) {
        skipped++;
        return;
      }
      const c = cases[round];
      if (c === undefined) throw new Error(`${part}: no round ${round} (there are ${cases.length})`);
      const label = options.label(c);
      const replay = replayCommand(part, seed, round, mode);
      const hub = free.pop()!;
      const cacheDir = await makeTempDir(options.cachePrefix);
      try {
        const problems = await options.run(hub, cacheDir, round, c);
        roundsRun++;
        for (const detail of problems) violations.push({ round, detail: `${label} ${detail}`, replay });
        options.log?.(`[${part}] round ${round} ${label}: ${problems.length} violation(s)${problems.length ? ": " + problems[0] : ""}`);
      } catch (err) {
        violations.push({ round, detail: `${label} harness error: ${(err as Error).stack ?? err}`, replay });
      } finally {
        hub.clearFaults();
        hub.throttle(null);
        free.push(hub);
        await removeTempDir(cacheDir);
      }
    }), concurrency);
  } finally {
    await Promise.all(hubs.map((h) => h.close()));
  }
  return { roundsRun, skipped, violations };
}

/** The command that replays one round of a part. */
export function replayCommand(part: string, seed: number, round: number, mode: "short" | "long"): string {
  return `node scripts/torture.mjs --part ${part} --mode ${mode} --seed ${seed} --round ${round}`;
}

/** The repository root (for scripts and reports). */
export { repoRoot };
