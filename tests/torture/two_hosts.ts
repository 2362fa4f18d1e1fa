/**
 * Torture part — two hosts on a real distributed file system: one GlusterFS volume mounted
 * twice with FUSE (see `tests/_support/gluster.ts`), every writer on one of the two mounts
 * posing as its host (`HUBCACHE_HOSTNAME=host-a|host-b`), all sharing one cache folder.
 *
 * What a network file system adds to one machine's races: each mount caches names and
 * attributes on its own, so one host sees another's renames late; a path-based open racing
 * another host's rename fails with `ESTALE`. (`flock`, which excludes nothing across hosts on
 * some such systems, does work across GlusterFS mounts — the report notes the probe; a lying
 * flock is exercised through the memory adapter's `locksBroken`.) Two kinds of rounds, lock
 * `none` and `auto` alternating:
 *
 * - race: 4–9 mixed-runtime writers over both mounts, one or two SIGKILLed at random instants,
 *   `cache ls`/`cache verify` (and in long mode `cache prune`) running alongside on both hosts.
 *   Every survivor exits 0 and prints the same exact snapshot paths.
 * - takeover: a writer is SIGKILLed once its temp file holds bytes; then either a writer on the
 *   same host resumes it at once (the pid is gone), or — once the file has not changed for longer
 *   than the stale limit (we age its mtime) — a writer on the other host takes it over by copying.
 *   Either must resume (a `Range` from > 0), not start again.
 *
 * After every round: an immediate re-run on each host succeeds without downloading a byte;
 * `cache prune` on each host exits 0; then `blobs/` holds exactly the expected blobs with exact
 * bytes and no temp file, no `.hubcache-lock` is left, `refs/main` is the commit, every pointer
 * resolves to exact bytes, and `cache verify` on each host finds nothing damaged or missing.
 * Every failure message of a process is also counted, per runtime, in the report's notes.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { HubEmulator } from "../../src/testing/mod.ts";
import { finished, spawnCli } from "../_support/cli.ts";
import { type GlusterVolume, mountGlusterVolume, type SharedDir } from "../_support/gluster.ts";
import {
  availableRuntimes,
  baseSeed,
  bodyRequests,
  bytes,
  cliArgs,
  describeRun,
  inspectCache,
  pool,
  type ProcessRun,
  rangeStart,
  replayCommand,
  rng,
  roundSeed,
  type RuntimeName,
  runCli,
  sleep,
} from "./harness.ts";
import { planRound } from "./process_races.ts";
import { type PartOptions, type PartReport, roundsToRun, type Violation } from "./report.ts";

/** Options of {@link runTwoHostRaces}. */
export interface TwoHostOptions extends PartOptions {
  /** Runtimes to mix (default: all available). */
  runtimes?: RuntimeName[];
  /** A volume mounted by the caller (a test's `before`); otherwise one is mounted and unmounted here. */
  volume?: GlusterVolume;
}

const PART = "two-hosts";
const TITLE = "Two hosts on a GlusterFS volume (two FUSE mounts)";

/** Longer than hubcache's stale limits (temp files 10 min, lock heartbeats 30 s). */
const AGED_MS = 11 * 60_000;

interface Tally {
  processes: number;
  kills: number;
  resumedSameHost: number;
  takenOver: number;
  observers: number;
  /** Rounds per `kind, lock` (and `--no-symlinks`). */
  rounds: Map<string, number>;
  /** Body downloads per file in a race round, by lock mode (what the lock saves across hosts). */
  raceBodies: { none: number[]; auto: number[] };
  /** `runtime: hubcache: CODE: … (syscall path: the runtime's words)` of failed processes, counted. */
  failures: Map<string, number>;
}

/**
 * Run the two-host rounds and report what broke. When GlusterFS cannot be set up the report
 * carries one violation saying why: this part never passes without having run.
 *
 * @example
 * ```ts
 * const report = await runTwoHostRaces({ mode: "short", seed: 1 });
 * assert.equal(report.violations.length, 0);
 * ```
 */
export async function runTwoHostRaces(options: TwoHostOptions): Promise<PartReport> {
  const started = Date.now();
  const seed = baseSeed(options.seed);
  const runtimes = options.runtimes ?? availableRuntimes();
  const rounds = options.rounds ?? (options.mode === "short" ? 4 : 200);
  const violations: Violation[] = [];
  const notes: string[] = [`base seed ${seed}`];
  const tally: Tally = { processes: 0, kills: 0, resumedSameHost: 0, takenOver: 0, observers: 0, rounds: new Map(), raceBodies: { none: [], auto: [] }, failures: new Map() };
  let roundsRun = 0;
  let volume = options.volume;
  const ownVolume = volume === undefined;
  try {
    volume ??= await mountGlusterVolume();
  } catch (err) {
    violations.push({ round: -1, detail: `GlusterFS could not be set up: ${(err as Error).message}` });
    return { part: PART, title: TITLE, rounds: 0, runtimes, durationMs: Date.now() - started, violations, notes };
  }
  notes.push(...volume.notes, `hosts: ${volume.hosts.map((h) => `${h.name} = ${h.mount}`).join(", ")}`, await flockProbe(volume));
  const hub = await HubEmulator.start();
  try {
    const list = roundsToRun(options, rounds);
    for (const round of list) {
      if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs && roundsRun > 0) {
        notes.push(`stopped after ${roundsRun} of ${rounds} rounds: time budget used`);
        break;
      }
      const shared = await volume.sharedDir(`r${round}-`);
      let problems: string[];
      let label: string;
      try {
        ({ problems, label } = await runRound(hub, volume, shared, options.mode, seed, round, runtimes, tally));
      } catch (err) {
        problems = [`harness error: ${(err as Error).stack ?? err}`];
        label = "?";
      } finally {
        hub.throttle(null);
        hub.clearFaults();
        await fsp.rm(shared.paths[0], { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
      }
      roundsRun++;
      const replay = replayCommand(PART, seed, round, options.mode);
      for (const detail of problems) violations.push({ round, detail: `${label} ${detail}`, replay });
      options.log?.(`[${PART}] round ${round} ${label}: ${problems.length} violation(s)${problems.length ? ": " + problems[0] : ""}`);
    }
  } finally {
    await hub.close();
    if (ownVolume) await volume.unmount();
  }
  notes.push(
    `CLI processes: ${tally.processes}, SIGKILLed: ${tally.kills}; resumed on the same host: ${tally.resumedSameHost}, ` +
      `taken over by the other host: ${tally.takenOver}; cache ls/verify/prune runs alongside: ${tally.observers}`,
    `rounds: ${[...tally.rounds].sort().map(([k, n]) => `${k} ×${n}`).join("; ")}`,
    `body downloads per file in race rounds: lock none ${average(tally.raceBodies.none)}, lock auto ${average(tally.raceBodies.auto)} ` +
      `(killed writers' included)`,
    tally.failures.size === 0
      ? "failed processes, by error: none"
      : `failed processes, by error: ${[...tally.failures].map(([k, n]) => `${k} ×${n}`).join("; ")}`,
  );
  return {
    part: PART,
    title: TITLE,
    rounds: roundsRun,
    processes: tally.processes,
    kills: tally.kills,
    runtimes,
    durationMs: Date.now() - started,
    violations,
    notes,
  };
}

/** Whether a `flock` taken through one mount excludes one through the other (it does on GlusterFS). */
async function flockProbe(volume: GlusterVolume): Promise<string> {
  const name = `flock-probe-${process.pid}`;
  await fsp.writeFile(join(volume.hosts[0].mount, name), "");
  try {
    const [a, b] = volume.hosts.map((h) => join(h.mount, name));
    const r = spawnSync("flock", ["-n", a, "flock", "-n", b, "true"], { timeout: 10_000 });
    if (r.error !== undefined) return `flock probe not run: ${r.error.message}`;
    return r.status === 0
      ? "flock probe: a flock held through one mount does NOT exclude one through the other (hubcache's own lock file still de-duplicates)"
      : "flock probe: a flock held through one mount excludes one through the other (GlusterFS forwards locks to the brick)";
  } finally {
    await fsp.rm(join(volume.hosts[0].mount, name), { force: true });
  }
}

type Kind = "race" | "takeover-same-host" | "takeover-other-host";

function kindOf(mode: "short" | "long", round: number, seed: number): Kind {
  // Short: races with lock none and auto, then one takeover of each kind (4 rounds).
  if (mode === "short") return (["race", "race", "takeover-same-host", "takeover-other-host"] as const)[round % 4];
  const r = rng(roundSeed(seed ^ 0x2c1b3c6d, round));
  const x = r.next();
  return x < 0.6 ? "race" : x < 0.8 ? "takeover-same-host" : "takeover-other-host";
}

async function runRound(
  hub: HubEmulator,
  volume: GlusterVolume,
  shared: SharedDir,
  mode: "short" | "long",
  seed: number,
  round: number,
  runtimes: RuntimeName[],
  tally: Tally,
): Promise<{ problems: string[]; label: string }> {
  const plan = planRound(mode, seed, round, runtimes, mode === "short" ? [4, 6] : [6, 9]);
  const kind = kindOf(mode, round, seed);
  const r = rng(roundSeed(seed ^ 0x7f4a7c15, round));
  const repoId = `org/two-hosts-${round}`;
  const files = kind === "race" ? plan.files : [{ path: "model.bin", size: r.int(2_000_000, mode === "short" ? 3_000_000 : 6_000_000), lfs: true }];
  const contents: Record<string, Uint8Array> = {};
  files.forEach((f, i) => (contents[f.path] = bytes(f.size, round * 16 + i + 1)));
  const repo = hub.createRepo(repoId);
  const commit = repo.commit(contents, {
    lfs: files.filter((f) => f.lfs).map((f) => f.path),
    regular: files.filter((f) => !f.lfs).map((f) => f.path),
  });
  // Races mix in parallel ranges; the takeover rounds judge a sequential writer's bytes by its
  // temp file's size, which a parallel file (holes, a trailer) does not tell.
  const connections = kind === "race" ? plan.connections : 1;
  const extra = ["--lock", plan.lock, ...(plan.noSymlinks ? ["--no-symlinks"] : []), "--connections", String(connections)];
  const label = `[${kind}, lock ${plan.lock}${plan.noSymlinks ? ", --no-symlinks" : ""}${connections > 1 ? `, ${connections} connections` : ""}]`;
  tally.rounds.set(label.slice(1, -1), (tally.rounds.get(label.slice(1, -1)) ?? 0) + 1);
  const problems: string[] = [];
  const hosts = volume.hosts.map((h, i) => ({ name: h.name, dir: shared.paths[i] }));
  const env = (host: number): Record<string, string> => ({ HUBCACHE_HOSTNAME: hosts[host].name });
  const paths = files.map((f) => f.path);
  const expectedPrinted = (host: number, order: string[]): string[] =>
    order.map((p) => join(hosts[host].dir, `models--${repoId.replace("/", "--")}`, "snapshots", commit, p));
  const judge = (run: ProcessRun, host: number, order: string[], what: string): void => {
    if (run.code !== 0) {
      problems.push(`${what} on ${hosts[host].name} failed: ${describeRun(run)}`);
      countFailure(tally, run, hosts[host].dir);
      return;
    }
    const lines = run.stdout.split("\n").filter((l) => l !== "");
    const want = expectedPrinted(host, order);
    if (JSON.stringify(lines) !== JSON.stringify(want)) {
      problems.push(`${what} on ${hosts[host].name} (${run.runtime}) printed ${JSON.stringify(lines)}, expected ${JSON.stringify(want)}`);
    }
  };

  hub.clearRequests();
  if (kind === "race") {
    hub.throttle(plan.throttle);
    const totalMs = Math.round((files.reduce((n, f) => n + f.size, 0) / plan.throttle) * 1000);
    const victims = new Set<number>([r.int(0, plan.processes.length - 1)]);
    if (mode === "long" && r.chance(0.4)) victims.add(r.int(0, plan.processes.length - 1));
    const observing = observeAlongside(hosts, repoId, runtimes, mode === "long", r.int(0, 1 << 30));
    let runs: ProcessRun[];
    try {
      runs = await pool(
        plan.processes.map((p, i) => () =>
          runCli(p.runtime, cliArgs(hub, hosts[i % 2].dir, repoId, p.order, extra), {
            delayMs: p.delayMs,
            env: env(i % 2),
            killAfterMs: victims.has(i) ? r.int(150, 300 + totalMs) : undefined,
          })
        ),
        plan.processes.length,
      );
    } finally {
      problems.push(...await observing.stop());
    }
    tally.observers += observing.runs();
    tally.raceBodies[plan.lock].push(paths.flatMap((p) => bodyRequests(hub, p)).length / paths.length);
    runs.forEach((run, i) => {
      tally.processes++;
      if (run.killedByHarness) tally.kills++;
      else judge(run, i % 2, plan.processes[i].order, `writer ${i}`);
    });
  } else {
    hub.throttle(Math.max(1_000_000, Math.round(files[0].size / 2)));
    const victimHost = r.int(0, 1);
    const victim = await killOnceWritten(hub, hosts[victimHost].dir, repoId, files[0], repo.fileInfo("model.bin").sha256, r.pick(runtimes), extra, env(victimHost));
    tally.processes++;
    if (typeof victim === "string") {
      problems.push(victim);
    } else {
      tally.kills++;
      const nextHost = kind === "takeover-same-host" ? victimHost : 1 - victimHost;
      if (kind === "takeover-other-host") await ageLeftovers(hosts[nextHost].dir, repoId);
      const since = hub.requests.length;
      hub.throttle(null);
      const run = await runCli(r.pick(runtimes), cliArgs(hub, hosts[nextHost].dir, repoId, ["model.bin"], extra), { env: env(nextHost) });
      tally.processes++;
      judge(run, nextHost, ["model.bin"], `${kind} writer`);
      const gets = bodyRequests(hub, "model.bin", since);
      const resumedFrom = gets.length > 0 ? rangeStart(gets[0]) : -1;
      if (run.code === 0 && resumedFrom <= 0) {
        problems.push(
          `${kind}: the ${run.runtime} writer on ${hosts[nextHost].name} did not resume the killed writer's ${victim.bytes} bytes ` +
            `(first body request ${gets.length > 0 ? `from byte ${resumedFrom}` : "absent"})`,
        );
      } else if (run.code === 0) {
        if (kind === "takeover-same-host") tally.resumedSameHost++;
        else tally.takenOver++;
      }
    }
  }

  // An immediate re-run on each host finds everything in place and downloads nothing.
  hub.throttle(null);
  const sinceRerun = hub.requests.length;
  const reruns = await Promise.all(hosts.map((h, i) => {
    const order = r.shuffle(paths);
    return runCli(r.pick(runtimes), cliArgs(hub, h.dir, repoId, order, extra), { env: env(i) }).then((run) => ({ run, order }));
  }));
  reruns.forEach(({ run, order }, i) => {
    tally.processes++;
    judge(run, i, order, "re-run");
  });
  const rerunBodies = paths.flatMap((p) => bodyRequests(hub, p, sinceRerun));
  if (rerunBodies.length > 0) problems.push(`the re-runs downloaded ${rerunBodies.length} body(ies) although everything was cached`);

  // `cache prune` on each host removes what its own killed writers left.
  for (const [i, h] of hosts.entries()) {
    const run = await runCli(r.pick(runtimes), ["cache", "prune", "-y", "--cache-dir", h.dir], { env: env(i) });
    tally.processes++;
    if (run.code !== 0) {
      problems.push(`cache prune on ${h.name} failed: ${describeRun(run)}`);
      countFailure(tally, run, h.dir);
    }
  }

  // The judge's mount caches names for 1 s: a file another mount removed a moment ago can
  // still be listed and then fail to open. Look again once names have expired.
  const seen = await inspectCache(shared.judged, hub, repoId).catch(async (err) => {
    // (Seen once as an AggregateError whose message starts "ENOENT: … read".)
    if ((err as NodeJS.ErrnoException).code !== "ENOENT" && !/^ENOENT\b/.test((err as Error).message)) throw err;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    return await inspectCache(shared.judged, hub, repoId);
  });
  problems.push(...seen.problems);
  const expectedBlobs = plan.noSymlinks ? [] : [...new Set(files.map((f) => repo.fileInfo(f.path).etag))].sort();
  if (JSON.stringify(seen.blobs) !== JSON.stringify(expectedBlobs)) {
    problems.push(`blobs/ holds [${seen.blobs.join(", ")}], expected [${expectedBlobs.join(", ")}]`);
  }
  if (seen.temps.length > 0) problems.push(`temp files left after prune on both hosts: ${seen.temps.map((t) => `${t.name} (${t.size} B)`).join(", ")}`);
  if (seen.leftoverLocks.length > 0) problems.push(`lock files left after prune on both hosts: ${seen.leftoverLocks.join(", ")}`);
  const tmpLeft = await fsp.readdir(join(seen.folder, ".hubcache-tmp")).catch(() => [] as string[]);
  if (tmpLeft.length > 0) problems.push(`.hubcache-tmp/ holds ${tmpLeft.join(", ")} after prune on both hosts`);
  for (const f of files) {
    const pointer = seen.pointers.get(`${commit}/${f.path}`);
    const want = plan.noSymlinks ? "file" : "symlink";
    if (pointer !== want) problems.push(`snapshot pointer for ${f.path} is ${pointer ?? "missing"}, expected a ${want}`);
  }
  if (seen.refs.get("main") !== commit) problems.push(`refs/main is ${JSON.stringify(seen.refs.get("main"))}, expected ${commit}`);
  for (const [i, h] of hosts.entries()) {
    const run = await runCli(r.pick(runtimes), ["cache", "verify", repoId, "--json", "--cache-dir", h.dir], { env: env(i) });
    tally.processes++;
    const verdict = verifyVerdict(run, true);
    if (verdict) problems.push(`final cache verify on ${h.name}: ${verdict}`);
  }
  return { problems, label };
}

/**
 * Start a writer on `dir` and SIGKILL it as soon as its temp file holds at least a fifth of the
 * file; returns how many bytes it left, or a problem when it never got that far.
 */
async function killOnceWritten(
  hub: HubEmulator,
  dir: string,
  repoId: string,
  file: { path: string; size: number },
  etag: string,
  runtime: RuntimeName,
  extra: string[],
  env: Record<string, string>,
): Promise<{ bytes: number } | string> {
  const blobs = join(dir, `models--${repoId.replace("/", "--")}`, "blobs");
  const child = spawnCli(runtime, cliArgs(hub, dir, repoId, [file.path], extra), env);
  const done = finished(child);
  let written = 0;
  const deadline = Date.now() + 60_000;
  while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
    for (const name of await fsp.readdir(blobs).catch(() => [] as string[])) {
      if (!name.startsWith(etag + ".") || !name.endsWith(".incomplete")) continue;
      written = Math.max(written, (await fsp.stat(join(blobs, name)).catch(() => null))?.size ?? 0);
    }
    if (written >= file.size / 5 && written < file.size) break;
    await sleep(25);
  }
  child.kill("SIGKILL");
  const run = await done;
  if (run.signal !== "SIGKILL") return `the ${runtime} writer to be killed ended by itself (exit ${run.code}) before its temp file held a fifth of the file: ${run.stderr.trim()}`;
  if (written === 0) return `the ${runtime} writer was killed before its temp file held any bytes`;
  return { bytes: written };
}

/**
 * Make a killed writer's leftovers look abandoned long ago, as they would to another host after
 * the stale limits: its temp files and its `.hubcache-lock` get an mtime 11 minutes back.
 */
async function ageLeftovers(dir: string, repoId: string): Promise<void> {
  const folder = `models--${repoId.replace("/", "--")}`;
  const past = new Date(Date.now() - AGED_MS);
  for (const sub of [join(dir, folder, "blobs"), join(dir, ".locks", folder)]) {
    for (const name of await fsp.readdir(sub).catch(() => [] as string[])) {
      if (name.endsWith(".incomplete") || name.endsWith(".hubcache-lock")) await fsp.utimes(join(sub, name), past, past).catch(() => {});
    }
  }
}

/**
 * `cache ls --json` and `cache verify --json` (and, with `prune`, `cache prune`) in a loop on
 * alternating hosts and runtimes until stopped. None of them may fail with anything but "the
 * repo is not in the cache yet"; verify may never call a file damaged or missing (blobs and
 * pointers appear only whole).
 */
function observeAlongside(
  hosts: Array<{ name: string; dir: string }>,
  repoId: string,
  runtimes: RuntimeName[],
  prune: boolean,
  seed: number,
): { stop(): Promise<string[]>; runs(): number } {
  const r = rng(seed);
  const problems: string[] = [];
  let stopped = false;
  let count = 0;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const host = i % 2;
      const dir = hosts[host].dir;
      const env = { HUBCACHE_HOSTNAME: hosts[host].name };
      const commands = [["cache", "ls", "--json"], ["cache", "verify", repoId, "--json"], ...(prune ? [["cache", "prune", "-y"]] : [])];
      const args = commands[i % commands.length];
      const run = await runCli(r.pick(runtimes), [...args, "--cache-dir", dir], { env });
      count++;
      const what = `${args.slice(0, 2).join(" ")} alongside on ${hosts[host].name}`;
      if (args[1] === "verify") {
        const verdict = verifyVerdict(run, false);
        if (verdict) problems.push(`${what}: ${verdict}`);
      } else if (run.code !== 0) {
        problems.push(`${what} failed: ${describeRun(run)}`);
      } else if (args[1] === "ls") {
        try {
          JSON.parse(run.stdout);
        } catch {
          problems.push(`${what} printed no JSON: ${run.stdout.slice(0, 200)}`);
        }
      }
    }
  })();
  return {
    async stop(): Promise<string[]> {
      stopped = true;
      await loop;
      return problems;
    },
    runs: () => count,
  };
}

/**
 * What is wrong with a `cache verify --json` run, or undefined. Nothing may ever be damaged or
 * missing; files without a recorded content address (`unverifiable`: a no-symlink cache without
 * a tree listing) are not a failure of this test. Before any writer made the repo folder,
 * "not in the cache" is the right answer — but not once the downloads are done (`final`).
 */
function verifyVerdict(run: ProcessRun, final: boolean): string | undefined {
  let report: { mismatches?: unknown[]; missing?: unknown[]; unverifiable?: unknown[] } | undefined;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    report = undefined;
  }
  if (report === undefined) {
    if (!final && run.code === 1 && /not in the cache/.test(run.stderr)) return undefined;
    return `no report: ${describeRun(run)}`;
  }
  if ((report.mismatches?.length ?? 0) > 0 || (report.missing?.length ?? 0) > 0) {
    return `damaged ${JSON.stringify(report.mismatches)} missing ${JSON.stringify(report.missing)}`;
  }
  if (run.code !== 0 && (report.unverifiable?.length ?? 0) === 0) return `exit ${run.code} although nothing is damaged or missing: ${describeRun(run)}`;
  return undefined;
}

function average(xs: number[]): string {
  return xs.length === 0 ? "–" : `${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)} (over ${xs.length})`;
}

/** Count a failed process's `hubcache: CODE: … (syscall path: the runtime's words)`, per runtime. */
function countFailure(tally: Tally, run: ProcessRun, dir: string): void {
  const stderr = run.stderr;
  const line = stderr.split("\n").find((l) => l.startsWith("hubcache")) ?? stderr.trim().split("\n")[0] ?? "";
  const key = line
    .replaceAll(dir, "…")
    .replace(/[0-9a-f]{40,64}/g, "<hash>")
    .replace(/host-[ab]-\d+-[0-9a-f]+/g, "<writer>")
    .slice(0, 400);
  tally.failures.set(`${run.runtime}: ${key}`, (tally.failures.get(`${run.runtime}: ${key}`) ?? 0) + 1);
}
