/**
 * Torture part 5: deterministic simulation.
 *
 * Several simulated processes ("actors") share one {@link MemoryFileSystem}: writers running the
 * real `downloadFile` (overlapping files, lock on and off, symlinks on and off, some with an
 * AbortSignal that fires at a chosen step), a `downloadSnapshot` writer, readers that resolve a
 * pointer and read it, pruners (`pruneCache`) and verifiers (`verifyRepo`). Each actor sees the
 * disk through its own wrapper in which every operation — and every request and body chunk of
 * the simulated network (`sim_hub.ts`), and every sleep — is a gate: the actor stops there until
 * the scheduler lets it through. The scheduler waits until every actor is stopped at a gate, then
 * lets one through, chosen by a PRNG seeded with the seed. Nothing else moves, so the seed alone
 * decides the interleaving, and `node scripts/replay.mjs <seed>` replays it step for step.
 *
 * The scheduler also kills actors (a killed actor stops at its current gate forever, keeps its
 * temp files, and its pid is dead from then on), fires abort signals, moves `main` to a new
 * commit, jumps the clock forward by minutes (so other hosts' files become stale), and injects
 * file-system faults (ENOSPC, EIO, EACCES, EXDEV, EPERM, ESTALE, torn writes) and network faults.
 *
 * After every step the invariants of `docs/DESIGN.md §Invariants` are checked on the shared disk:
 * (1) every `blobs/<etag>` hashes to its etag; (2) no file is written by two writers — the
 * wrappers track which actor created each inode and flag a write through another actor's inode,
 * except the documented adoption by rename of a dead writer's temp file or of a released
 * `.partial`; (3)/(5) every snapshot pointer resolves to its exact bytes; (4) `refs/*` are 40 hex;
 * (9) no write outside the cache. At the end, once the live actors are done: a clean recovery
 * download of every file must succeed, then a final prune must leave no temp file (10).
 *
 * Real time does not enter: the clock is virtual, hashing is synchronous (node:crypto), and the
 * scheduler waits for quiescence with `setImmediate`, never a timer. The core's timers — the
 * idle timeout of a body read (15 s here) and the lock heartbeat (every 5 s) — go through the
 * platform's `timeout`, so they are waiters of this scheduler like every sleep: they fire when
 * virtual time reaches them (after a clock jump, or when every actor is waiting), never by real
 * time. The same seed gives the same interleaving on Node, Deno and Bun (checked: same step
 * count and digest), so `replay.mjs` (Node) replays a seed found on any of them.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { setImmediate } from "node:timers";
import { MemoryFileSystem } from "../../src/adapters/memory/mod.ts";
import { nodeHashers } from "../../src/adapters/node.ts";
import { lookupCached } from "../../src/core/cache/lookup.ts";
import { downloadFile } from "../../src/core/download/download.ts";
import { repoLayout } from "../../src/core/cache/layout.ts";
import { basename } from "../../src/core/fs/paths.ts";
import { FsError } from "../../src/core/ports.ts";
import type {
  AdvisoryLocks,
  FileHandle,
  FileInfo,
  FileSystem,
  FsErrorCode,
  HasherFactory,
  Platform,
  Runtime,
} from "../../src/core/ports.ts";
import { pruneCache } from "../../src/core/manage/prune.ts";
import { downloadSnapshot } from "../../src/core/download/snapshot.ts";
import { verifyRepo } from "../../src/core/manage/verify.ts";
import { type PartOptions, type PartReport, roundsToRun } from "./report.ts";
import {
  checkCacheInvariants,
  describeError,
  isTypedError,
  listTempFiles,
  normalizePosix,
  Prng,
  sameBytes,
  watchUnhandledRejections,
} from "./invariants.ts";
import { CALM_NETWORK, type NetworkFaults, SimHub } from "./sim_hub.ts";

const CACHE = "/sim/cache";
const IDLE_TIMEOUT_MS = 15_000;
const START_MS = 1_700_000_000_000;
const PART = "simulation";

// ---------------------------------------------------------------------------------------------
// Scenario

type ActorKind = "writer" | "snapshot" | "reader" | "pruner" | "verifier" | "recovery" | "final-prune";

interface Job {
  readonly path: string;
  readonly revision: string;
  readonly force: boolean;
  /** Run the download again after a typed error (a user re-running the command). */
  readonly retries: number;
}

interface ActorPlan {
  readonly kind: ActorKind;
  readonly host: string;
  readonly lock: "auto" | "none";
  readonly symlinks: "auto" | "never";
  readonly jobs: readonly Job[];
  readonly abortAt?: number;
  readonly maxAttempts: number;
  readonly concurrency: number;
  readonly olderThan: string;
  readonly reads: number;
  /** Start only once the clock jump happened (a process launched later). */
  readonly afterJump?: boolean;
}

/** Everything a seed decides before the first step. */
export interface SimScenario {
  readonly actors: readonly ActorPlan[];
  readonly killAt: readonly number[];
  readonly moveAt?: number;
  readonly jumpAt: readonly number[];
  readonly fsFaultRate: number;
  readonly network: NetworkFaults;
  readonly symlinksFs: boolean;
  readonly locksBroken: boolean;
  /** Jump the clock once this actor (by index) has written into its temp file. */
  readonly jumpOnProgressOf?: number;
  /** Kill a process right after it takes a live writer's stale file (probability). */
  readonly killOnStaleClaim: number;
}

/**
 * The zombie profile: a writer on another host stalls past the staleness window mid-download
 * (a suspended VM, a hung NFS client), a writer on this host takes its file as stale, and may be
 * killed right then; the command is started again. The stalled writer is alive throughout.
 */
function zombieScenario(rng: Prng, hub: SimHub): SimScenario {
  const big = hub.filesAt(hub.commits[0]!).filter((f) => f.content.length > MiB_ * 1.1).map((f) => f.path);
  const path = rng.pick(big);
  const job: Job = { path, revision: hub.commits[0]!, force: false, retries: rng.chance(0.5) ? 1 : 0 };
  const base = { kind: "writer" as const, lock: "none" as const, symlinks: "auto" as const, jobs: [job], maxAttempts: 4, concurrency: 1, olderThan: "0", reads: 0 };
  const actors: ActorPlan[] = [
    { ...base, host: "otherhost" },
    { ...base, host: "simhost", afterJump: true },
  ];
  if (rng.chance(0.5)) actors.push({ ...base, host: "simhost", afterJump: true, lock: "auto" });
  if (rng.chance(0.5)) actors.push({ ...base, kind: "reader", reads: rng.range(2, 6), jobs: [], host: "simhost" });
  return {
    actors,
    killAt: [],
    jumpAt: [],
    fsFaultRate: rng.pick([0, 0, 0.01]),
    network: { ...CALM_NETWORK, chunkMax: 128 * 1024 },
    symlinksFs: true,
    locksBroken: false,
    jumpOnProgressOf: 0,
    killOnStaleClaim: rng.pick([0.5, 0.9]),
  };
}

const MiB_ = 1 << 20;

function makeScenario(rng: Prng, hub: SimHub): SimScenario {
  if (rng.chance(0.12)) return zombieScenario(rng, hub);
  const paths = [...new Set(hub.commits.flatMap((c) => hub.filesAt(c).map((f) => f.path)))].sort();
  const bigPaths = paths.filter((p) => hub.filesAt(hub.commits[0]!).concat(hub.filesAt(hub.commits[1]!)).some((f) => f.path === p && f.content.length > 500_000));
  const actors: ActorPlan[] = [];
  const base = {
    host: "simhost",
    lock: "auto" as const,
    symlinks: "auto" as const,
    jobs: [] as Job[],
    maxAttempts: 3,
    concurrency: 1,
    olderThan: "0",
    reads: 0,
  };
  const writers = rng.range(2, 5);
  for (let i = 0; i < writers; i++) {
    const jobs: Job[] = [];
    const n = rng.chance(0.3) ? 2 : 1;
    for (let j = 0; j < n; j++) {
      const path = rng.chance(0.7) ? rng.pick(bigPaths) : rng.pick(paths);
      const revision = rng.chance(0.15) ? rng.pick(hub.commits) : "main";
      jobs.push({ path, revision, force: rng.chance(0.04), retries: rng.chance(0.4) ? rng.range(1, 2) : 0 });
    }
    actors.push({
      ...base,
      kind: "writer",
      host: rng.chance(0.2) ? "otherhost" : "simhost",
      lock: rng.chance(0.35) ? "none" : "auto",
      symlinks: rng.chance(0.2) ? "never" : "auto",
      jobs,
      abortAt: rng.chance(0.15) ? rng.range(1, 400) : undefined,
      maxAttempts: rng.range(2, 4),
    });
  }
  if (rng.chance(0.25)) {
    actors.push({
      ...base,
      kind: "snapshot",
      lock: rng.chance(0.3) ? "none" : "auto",
      symlinks: rng.chance(0.2) ? "never" : "auto",
      concurrency: rng.range(1, 4),
      abortAt: rng.chance(0.1) ? rng.range(1, 400) : undefined,
    });
  }
  const readers = rng.chance(0.6) ? rng.range(1, 2) : 0;
  for (let i = 0; i < readers; i++) actors.push({ ...base, kind: "reader", reads: rng.range(2, 8) });
  if (rng.chance(0.35)) actors.push({ ...base, kind: "pruner", olderThan: rng.pick(["0", "0", "1m", "1d"]) });
  if (rng.chance(0.3)) actors.push({ ...base, kind: "verifier" });

  const kills = rng.chance(0.45) ? rng.range(1, 2) : 0;
  const killAt = Array.from({ length: kills }, () => rng.range(10, 350)).sort((a, b) => a - b);
  const moveAt = rng.chance(0.4) ? rng.range(1, 500) : undefined;
  const jumpAt = rng.chance(0.25) ? [rng.range(20, 600)] : [];
  const fsFaultRate = rng.pick([0, 0, 0.002, 0.006, 0.02]);
  const heavy = rng.chance(0.3);
  const network: NetworkFaults = rng.chance(0.35) ? CALM_NETWORK : {
    refuse: heavy ? 0.05 : 0.01,
    status503: heavy ? 0.06 : 0.01,
    drop: heavy ? 0.25 : 0.06,
    corrupt: heavy ? 0.05 : 0.01,
    ignoreRange: heavy ? 0.2 : 0.05,
    wrongContentRange: heavy ? 0.05 : 0.01,
    chunkMin: 8 * 1024,
    chunkMax: rng.pick([64 * 1024, 256 * 1024, 600 * 1024]),
  };
  return {
    actors,
    killAt,
    moveAt,
    jumpAt,
    fsFaultRate,
    network,
    symlinksFs: rng.chance(0.85),
    locksBroken: rng.chance(0.3),
    killOnStaleClaim: 0.3,
  };
}

function describeActor(a: ActorPlan): string {
  switch (a.kind) {
    case "writer":
      return `${a.afterJump ? "late-" : ""}writer@${a.host}(lock=${a.lock},symlinks=${a.symlinks}${a.abortAt !== undefined ? `,abort@${a.abortAt}` : ""}: ${
        a.jobs.map((j) => `${j.path}@${j.revision === "main" ? "main" : j.revision.slice(0, 6)}${j.force ? "!" : ""}`).join(",")
      })`;
    case "snapshot":
      return `snapshot(lock=${a.lock},symlinks=${a.symlinks},c=${a.concurrency}${a.abortAt !== undefined ? `,abort@${a.abortAt}` : ""})`;
    case "reader":
      return `reader(${a.reads})`;
    case "pruner":
      return `pruner(olderThan=${a.olderThan})`;
    default:
      return a.kind;
  }
}

/** One line describing a scenario. */
export function describeScenario(s: SimScenario): string {
  return [
    s.actors.map(describeActor).join(" "),
    s.killAt.length ? `kills@${s.killAt.join(",")}` : "",
    s.moveAt !== undefined ? `main-moves@${s.moveAt}` : "",
    s.jumpAt.length ? `clock+11min@${s.jumpAt.join(",")}` : "",
    s.jumpOnProgressOf !== undefined ? `clock+11min-once-actor#${s.jumpOnProgressOf}-writes` : "",
    s.fsFaultRate ? `fs-faults=${s.fsFaultRate}` : "",
    s.network === CALM_NETWORK ? "" : `net-faults(drop=${s.network.drop})`,
    s.symlinksFs ? "" : "no-symlinks-fs",
    s.locksBroken ? "broken-flock" : "",
  ].filter(Boolean).join(" ");
}

// ---------------------------------------------------------------------------------------------
// Actors and gates

interface Actor {
  readonly id: number;
  readonly name: string;
  readonly plan: ActorPlan;
  readonly pid: number;
  readonly host: string;
  readonly phase: string;
  readonly rng: Prng;
  state: "running" | "finished" | "killed";
  /** Cleared when the seed ends, so timers the core left running do not keep the seed alive. */
  sim: Simulation | null;
  readonly flocks: Set<{ release(): Promise<void> }>;
  readonly handles: Set<ActorHandle>;
  readonly abort?: AbortController;
  runtime?: Runtime;
  /** Writes into temp files so far (for progress-triggered events). */
  tempWrites: number;
  /** Not scheduled before this step: the process is stalled (a suspended VM, a hung mount). */
  frozenUntil: number;
}

interface Waiter {
  readonly actor: Actor;
  readonly seq: number;
  readonly kind: string;
  readonly detail: string;
  readonly deadline?: number;
  resolve: () => void;
}

const never = <T>(): Promise<T> => new Promise<T>(() => {});
const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Inode {
  readonly id: number;
  owner: Actor | null;
  readonly createdAs: string;
}

/** Which simulated process created each inode; follows renames, links and removals by path. */
class InodeTracker {
  readonly #byPath = new Map<string, Inode>();
  #next = 1;
  /** How often each documented adoption happened (coverage, for the report). */
  readonly adoptions = { partial: 0, deadWriter: 0, liveRenamed: 0 };
  /** Called when an actor renames a file a live writer still holds (a stale claim, a prune). */
  onLiveRename: ((actor: Actor) => void) | undefined;

  created(path: string, owner: Actor | null): Inode {
    const inode: Inode = { id: this.#next++, owner, createdAs: path };
    this.#dropTree(path);
    this.#byPath.set(path, inode);
    return inode;
  }

  at(path: string): Inode | undefined {
    return this.#byPath.get(path);
  }

  pathsOf(inode: Inode): string[] {
    return [...this.#byPath].filter(([, i]) => i === inode).map(([p]) => p);
  }

  /** Returns how ownership moved, for the trace. */
  renamed(from: string, to: string, actor: Actor): void {
    const moved: Array<[string, Inode]> = [];
    for (const [p, i] of this.#byPath) {
      if (p === from || p.startsWith(from + "/")) moved.push([to + p.slice(from.length), i]);
    }
    if (moved.length === 0 && !this.#byPath.has(from)) {
      this.#dropTree(to);
      return;
    }
    this.#dropTree(from);
    this.#dropTree(to);
    for (const [p, i] of moved) this.#byPath.set(p, i);
    const inode = moved.find(([p]) => p === to)?.[1];
    if (inode && inode.owner !== actor) {
      // The documented adoptions (`docs/DESIGN.md §Invariants 7`): a released `.partial`, or the temp file
      // of a writer that is gone. A rename of a live writer's file moves no ownership.
      if (basename(from).endsWith(".partial")) {
        inode.owner = actor;
        this.adoptions.partial++;
      } else if (inode.owner === null || inode.owner.state !== "running") {
        inode.owner = actor;
        this.adoptions.deadWriter++;
      } else {
        this.adoptions.liveRenamed++;
        this.onLiveRename?.(actor);
      }
    }
  }

  linked(existing: string, to: string): void {
    const inode = this.#byPath.get(existing);
    if (inode) this.#byPath.set(to, inode);
  }

  removed(path: string): void {
    this.#byPath.delete(path);
  }

  removedTree(path: string): void {
    this.#dropTree(path);
  }

  #dropTree(path: string): void {
    for (const p of [...this.#byPath.keys()]) if (p === path || p.startsWith(path + "/")) this.#byPath.delete(p);
  }
}

const FAULT_CODES: Readonly<Record<string, readonly FsErrorCode[]>> = {
  write: ["ENOSPC", "EIO"],
  truncate: ["EIO"],
  sync: ["EIO"],
  close: ["EIO"],
  createExclusive: ["ENOSPC", "EACCES", "EIO"],
  openReadWrite: ["EIO", "EMFILE", "ESTALE"],
  openRead: ["EIO", "EMFILE", "ESTALE"],
  rename: ["EIO", "ENOSPC", "EXDEV", "EACCES"],
  link: ["EPERM", "EIO"],
  symlink: ["EPERM", "EIO"],
  mkdirp: ["EACCES", "ENOSPC"],
  removeFile: ["EACCES", "EIO"],
  removeTree: ["EIO"],
  copyExclusive: ["ENOSPC", "EIO"],
  syncDir: ["EIO"],
  utimes: ["EIO"],
  tryLock: ["EIO"],
  readdir: ["EIO", "ESTALE"],
  lstat: ["EIO", "ESTALE"],
  stat: ["EIO", "ESTALE"],
  readFile: ["EIO", "ESTALE"],
  read: ["EIO"],
  size: ["EIO"],
  readlink: ["EIO", "ESTALE"],
  realpath: ["EIO", "ESTALE"],
};
const READ_OPS = new Set(["readdir", "lstat", "stat", "readFile", "read", "size", "readlink", "realpath", "openRead"]);
const MUTATING_OPS = new Set([
  "createExclusive", "openReadWrite", "rename", "link", "symlink", "mkdirp", "removeFile", "removeTree",
  "removeEmptyDir", "copyExclusive", "writeFile", "utimes", "tryLock",
]);

class ActorHandle implements FileHandle {
  readonly #actor: Actor;
  readonly #inner: FileHandle;
  readonly #path: string;
  readonly #inode: Inode;
  closed = false;

  constructor(actor: Actor, inner: FileHandle, path: string, inode: Inode) {
    this.#actor = actor;
    this.#inner = inner;
    this.#path = path;
    this.#inode = inode;
    actor.handles.add(this);
  }

  get path(): string {
    return this.#path;
  }

  async #enter(op: string): Promise<Simulation> {
    const sim = this.#actor.sim;
    if (!sim) return never();
    await sim.gate(this.#actor, op, this.#path);
    const sim2 = this.#actor.sim;
    if (!sim2) return never();
    return sim2;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    const sim = await this.#enter("write");
    const fault = sim.drawFault(this.#actor, "write");
    sim.noteWrite(this.#actor, this.#inode, this.#path, "write");
    if (this.#path.endsWith(".incomplete")) this.#actor.tempWrites++;
    if (fault) {
      if (sim.faultRng.chance(0.5) && data.length > 1) {
        // A torn write: part of the data reached the file before the error.
        await this.#inner.write(data.subarray(0, 1 + sim.faultRng.int(data.length - 1)), position);
      }
      throw simulatedFault(fault, "write", this.#path);
    }
    await this.#inner.write(data, position);
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    const sim = await this.#enter("read");
    const fault = sim.drawFault(this.#actor, "read");
    if (fault) throw simulatedFault(fault, "read", this.#path);
    return await this.#inner.read(buffer, position);
  }

  async truncate(length: number): Promise<void> {
    const sim = await this.#enter("truncate");
    const fault = sim.drawFault(this.#actor, "truncate");
    if (fault) throw simulatedFault(fault, "truncate", this.#path);
    sim.noteWrite(this.#actor, this.#inode, this.#path, "truncate");
    await this.#inner.truncate(length);
  }

  async sync(): Promise<void> {
    const sim = await this.#enter("sync");
    const fault = sim.drawFault(this.#actor, "sync");
    if (fault) throw simulatedFault(fault, "sync", this.#path);
    await this.#inner.sync();
  }

  async size(): Promise<number> {
    const sim = await this.#enter("size");
    const fault = sim.drawFault(this.#actor, "size");
    if (fault) throw simulatedFault(fault, "size", this.#path);
    return await this.#inner.size();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const sim = await this.#enter("close");
    this.closed = true;
    this.#actor.handles.delete(this);
    await this.#inner.close();
    const fault = sim.drawFault(this.#actor, "close");
    if (fault) throw simulatedFault(fault, "close", this.#path);
  }
}

function simulatedFault(code: FsErrorCode, op: string, path: string): FsError {
  return new FsError(code, op, path, `${code}: ${op} '${path}' (simulated fault)`);
}

/** The disk as one actor sees it: every call is a scheduling point, tracked and maybe faulted. */
class ActorFs implements FileSystem {
  readonly #actor: Actor;

  constructor(actor: Actor) {
    this.#actor = actor;
  }

  async #op(op: string, paths: readonly string[]): Promise<Simulation> {
    const sim = this.#actor.sim;
    if (!sim) return never();
    await sim.gate(this.#actor, op, paths.join(" -> "));
    const now = this.#actor.sim;
    if (!now) return never();
    if (MUTATING_OPS.has(op)) now.checkInside(this.#actor, op, paths);
    const fault = now.drawFault(this.#actor, op);
    if (fault) throw simulatedFault(fault, op, paths[0] ?? "");
    return now;
  }

  async createExclusive(path: string): Promise<FileHandle> {
    const sim = await this.#op("createExclusive", [path]);
    const inner = await sim.fs.createExclusive(path);
    return new ActorHandle(this.#actor, inner, path, sim.tracker.created(path, this.#actor));
  }

  async openReadWrite(path: string): Promise<FileHandle> {
    const sim = await this.#op("openReadWrite", [path]);
    const inner = await sim.fs.openReadWrite(path);
    return new ActorHandle(this.#actor, inner, path, sim.tracker.at(path) ?? sim.tracker.created(path, null));
  }

  async openRead(path: string): Promise<FileHandle> {
    const sim = await this.#op("openRead", [path]);
    const inner = await sim.fs.openRead(path);
    return new ActorHandle(this.#actor, inner, path, sim.tracker.at(path) ?? { id: 0, owner: null, createdAs: path });
  }

  async rename(from: string, to: string): Promise<void> {
    const sim = await this.#op("rename", [from, to]);
    await sim.fs.rename(from, to);
    sim.tracker.renamed(from, to, this.#actor);
  }

  async link(existing: string, to: string): Promise<void> {
    const sim = await this.#op("link", [existing, to]);
    await sim.fs.link(existing, to);
    sim.tracker.linked(existing, to);
  }

  async symlink(target: string, path: string): Promise<void> {
    const sim = await this.#op("symlink", [path]);
    if (target.startsWith("/") || !normalizePosix(`${path}/../${target}`).startsWith(CACHE + "/")) {
      sim.violation(this.#actor, `invariant 9: symlink ${path} -> '${target}' points outside the cache`);
    }
    await sim.fs.symlink(target, path);
  }

  async readlink(path: string): Promise<string> {
    return await (await this.#op("readlink", [path])).fs.readlink(path);
  }

  async lstat(path: string): Promise<FileInfo> {
    return await (await this.#op("lstat", [path])).fs.lstat(path);
  }

  async stat(path: string): Promise<FileInfo> {
    return await (await this.#op("stat", [path])).fs.stat(path);
  }

  async readdir(path: string): Promise<string[]> {
    return await (await this.#op("readdir", [path])).fs.readdir(path);
  }

  async mkdirp(path: string): Promise<void> {
    await (await this.#op("mkdirp", [path])).fs.mkdirp(path);
  }

  async removeFile(path: string): Promise<void> {
    const sim = await this.#op("removeFile", [path]);
    await sim.fs.removeFile(path);
    sim.tracker.removed(path);
  }

  async removeTree(path: string): Promise<void> {
    const sim = await this.#op("removeTree", [path]);
    await sim.fs.removeTree(path);
    sim.tracker.removedTree(path);
  }

  async removeEmptyDir(path: string): Promise<void> {
    await (await this.#op("removeEmptyDir", [path])).fs.removeEmptyDir(path);
  }

  async copyExclusive(from: string, to: string): Promise<void> {
    const sim = await this.#op("copyExclusive", [to, from]);
    await sim.fs.copyExclusive(from, to);
    sim.tracker.created(to, this.#actor);
  }

  async readFile(path: string): Promise<Uint8Array> {
    return await (await this.#op("readFile", [path])).fs.readFile(path);
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    const sim = await this.#op("writeFile", [path]);
    const existing = sim.tracker.at(path);
    if (existing) sim.noteWrite(this.#actor, existing, path, "writeFile");
    await sim.fs.writeFile(path, data);
    if (!existing) sim.tracker.created(path, this.#actor);
  }

  async utimes(path: string, atimeMs: number, mtimeMs: number): Promise<void> {
    await (await this.#op("utimes", [path])).fs.utimes(path, atimeMs, mtimeMs);
  }

  async syncDir(path: string): Promise<void> {
    await (await this.#op("syncDir", [path])).fs.syncDir(path);
  }

  async realpath(path: string): Promise<string> {
    return await (await this.#op("realpath", [path])).fs.realpath(path);
  }

  async tryLock(path: string): Promise<{ release(): Promise<void> } | null> {
    const sim = await this.#op("tryLock", [path]);
    const held = await sim.fs.lockFile(path);
    if (held === null) return null;
    this.#actor.flocks.add(held);
    return {
      release: async (): Promise<void> => {
        this.#actor.flocks.delete(held);
        await held.release();
      },
    };
  }
}

/** node:crypto hashers: synchronous, so hashing is never a scheduling point. */
const CRYPTO_HASHERS: HasherFactory = nodeHashers();

// ---------------------------------------------------------------------------------------------
// The simulation of one seed

/** What one seed did. */
export interface SeedResult {
  readonly seed: number;
  readonly scenario: string;
  readonly steps: number;
  readonly violations: readonly string[];
  /** Hash of the whole interleaving and the final disk: equal for two runs of one seed. */
  readonly digest: string;
  readonly kills: number;
  readonly fsFaults: number;
  readonly netFaults: number;
  readonly downloads: { ok: number; failed: number };
  /** Typed errors the downloads ended with, by code. */
  readonly errors: Readonly<Record<string, number>>;
  /** Coverage: how often the interesting paths were taken. */
  readonly coverage: Readonly<Record<string, number>>;
  readonly notes: readonly string[];
}

/** Options of {@link runSimulationSeed}. */
export interface SeedOptions {
  /** Print every step (the replay script's `--trace`). */
  readonly trace?: (line: string) => void;
  /** Give up (as a violation) after this many steps. Default 40 000. */
  readonly maxSteps?: number;
}

class Simulation {
  readonly seed: number;
  readonly fs: MemoryFileSystem;
  readonly hub: SimHub;
  readonly tracker = new InodeTracker();
  readonly rng: Prng;
  readonly faultRng: Prng;
  readonly scenario: SimScenario;
  readonly actors: Actor[] = [];
  readonly violations: string[] = [];
  readonly notes: string[] = [];
  readonly #alive = new Map<string, Set<number>>();
  readonly #memo = new Map<string, string | null>();
  readonly #recent: string[] = [];
  readonly #digest = createHash("sha256");
  readonly #trace: ((line: string) => void) | undefined;
  #waiters: Waiter[] = [];
  #seq = 0;
  now = START_MS;
  step = 0;
  faultsOn = true;
  fsFaults = 0;
  kills = 0;
  prunerStarted = false;
  downloads = { ok: 0, failed: 0 };
  readonly errorCodes = new Map<string, number>();

  /** A download ended in an error: it must be a typed one. */
  downloadFailed(actor: Actor, what: string, err: unknown): void {
    this.downloads.failed++;
    const code = err instanceof FsError ? `${err.code}@${err.syscall}` : (err as { code?: string })?.code ?? "untyped";
    this.errorCodes.set(code, (this.errorCodes.get(code) ?? 0) + 1);
    if (!isTypedError(err)) this.violation(actor, `${what} failed with an untyped error: ${describeError(err)}`);
  }

  constructor(seed: number, options: SeedOptions) {
    this.seed = seed;
    const root = new Prng(seed);
    this.rng = root.fork(1);
    this.faultRng = root.fork(2);
    this.hub = new SimHub(root.fork(3), root.fork(4));
    this.scenario = makeScenario(root.fork(5), this.hub);
    this.hub.faults = this.scenario.network;
    this.fs = new MemoryFileSystem({ now: () => this.now });
    this.fs.symlinksSupported = this.scenario.symlinksFs;
    this.fs.locksBroken = this.scenario.locksBroken;
    this.#trace = options.trace;
    this.tracker.onLiveRename = (actor) => {
      if (this.#killSoon === undefined && this.rng.chance(this.scenario.killOnStaleClaim)) {
        this.#killSoon = { actor, at: this.step + this.rng.int(4) };
      }
    };
  }

  #killSoon: { actor: Actor; at: number } | undefined;
  #jumped = false;

  alive(host: string): Set<number> {
    let set = this.#alive.get(host);
    if (!set) this.#alive.set(host, set = new Set());
    return set;
  }

  violation(actor: Actor | null, detail: string): void {
    if (this.violations.length >= 5) return;
    const context = this.#recent.slice(-6).join(" | ");
    this.violations.push(`step ${this.step}${actor ? ` [${actor.name}]` : ""}: ${detail}${context ? ` (last steps: ${context})` : ""}`);
  }

  gate(actor: Actor, kind: string, detail: string): Promise<void> {
    if (actor.state !== "running" || actor.sim !== this) return never();
    return new Promise<void>((resolve) => {
      this.#waiters.push({ actor, seq: this.#seq++, kind, detail, resolve });
    });
  }

  sleep(actor: Actor, ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (actor.state !== "running" || actor.sim !== this) return never();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        actor,
        seq: this.#seq++,
        kind: "sleep",
        detail: `${ms}ms`,
        deadline: this.now + Math.max(0, ms),
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  drawFault(actor: Actor, op: string): FsErrorCode | null {
    if (!this.faultsOn || this.scenario.fsFaultRate === 0 || actor.phase !== "main") return null;
    const codes = FAULT_CODES[op];
    if (!codes) return null;
    const rate = READ_OPS.has(op) ? this.scenario.fsFaultRate / 3 : this.scenario.fsFaultRate;
    if (!this.faultRng.chance(rate)) return null;
    this.fsFaults++;
    return this.faultRng.pick(codes);
  }

  checkInside(actor: Actor, op: string, paths: readonly string[]): void {
    for (const p of paths) {
      const n = normalizePosix(p);
      if (n.startsWith(CACHE + "/")) continue;
      // Creating the cache root and the folders above it is not writing outside the cache.
      if (op === "mkdirp" && (n === CACHE || CACHE.startsWith(n + "/"))) continue;
      this.violation(actor, `invariant 9: ${op} '${p}' is outside the cache ${CACHE}`);
    }
  }

  noteWrite(actor: Actor, inode: Inode, path: string, op: string): void {
    if (inode.owner === actor) return;
    const owner = inode.owner ? `${inode.owner.name} (${inode.owner.state})` : "nobody we know of";
    const now = this.tracker.pathsOf(inode);
    this.violation(
      actor,
      `invariant 2: ${op} into a file created by ${owner} as ${inode.createdAs.slice(CACHE.length)}` +
        ` (opened as ${path.slice(CACHE.length)}, now at ${now.length ? now.map((p) => p.slice(CACHE.length)).join(", ") : "no name"})`,
    );
  }

  // -- actors ---------------------------------------------------------------------------------

  addActor(plan: ActorPlan, phase: string): Actor {
    const id = this.actors.length;
    const pid = 100 + id;
    const actor: Actor = {
      id,
      name: `${plan.kind}#${id}${plan.host !== "simhost" ? "@" + plan.host : ""}`,
      plan,
      pid,
      host: plan.host,
      phase,
      rng: new Prng((this.seed ^ Math.imul(id + 1, 0x27d4eb2d)) >>> 0),
      state: "running",
      sim: this,
      flocks: new Set(),
      handles: new Set(),
      tempWrites: 0,
      frozenUntil: 0,
      ...(plan.abortAt !== undefined ? { abort: new AbortController() } : {}),
    };
    actor.runtime = this.#runtimeFor(actor);
    this.alive(actor.host).add(pid);
    this.actors.push(actor);
    return actor;
  }

  #runtimeFor(actor: Actor): Runtime {
    const fs = new ActorFs(actor);
    const platform: Platform = {
      now: () => actor.sim?.now ?? START_MS,
      sleep: (ms, signal) => actor.sim ? actor.sim.sleep(actor, ms, signal) : never(),
      timeout: (ms, signal) => actor.sim ? actor.sim.sleep(actor, ms, signal) : never(),
      randomHex: (bytes) => [...actor.rng.bytes(bytes)].map((b) => b.toString(16).padStart(2, "0")).join(""),
      hostname: () => actor.host,
      pid: () => actor.pid,
      isProcessAlive: (p) => p === actor.pid || (actor.sim?.alive(actor.host).has(p) ?? true),
      env: () => undefined,
      homeDir: () => "/home/sim",
    };
    const locks: AdvisoryLocks = { tryLock: (path) => fs.tryLock(path) };
    const gate = (kind: string, detail: string): Promise<void> => actor.sim ? actor.sim.gate(actor, kind, detail) : never();
    return { name: "memory", fs, hashers: CRYPTO_HASHERS, platform, fetch: this.hub.fetchFor(gate), locks };
  }

  start(actor: Actor, body: (actor: Actor, rt: Runtime) => Promise<void>): void {
    const run = async (): Promise<void> => {
      await this.gate(actor, "start", actor.name);
      await body(actor, actor.runtime!);
    };
    run().then(
      () => this.#finish(actor),
      (err) => {
        if (actor.state === "running") this.violation(actor, `actor crashed with ${describeError(err)}`);
        this.#finish(actor);
      },
    );
  }

  #finish(actor: Actor): void {
    if (actor.state !== "running") return;
    actor.state = "finished";
    this.#exit(actor);
  }

  kill(actor: Actor): void {
    actor.state = "killed";
    this.kills++;
    this.#exit(actor);
  }

  /** A process ended: its pid is gone and the kernel drops its flocks. */
  #exit(actor: Actor): void {
    this.#waiters = this.#waiters.filter((w) => w.actor !== actor);
    this.alive(actor.host).delete(actor.pid);
    for (const l of actor.flocks) void l.release();
    actor.flocks.clear();
  }

  // -- the scheduler ---------------------------------------------------------------------------

  async run(phase: string, maxSteps: number, events: boolean): Promise<void> {
    let idle = 0;
    for (;;) {
      await drain();
      if (this.violations.length > 0) return;
      const live = this.actors.filter((a) => a.phase === phase && a.state === "running");
      if (live.length === 0) return;
      if (events && this.#events(live)) continue;
      const due = this.#waiters
        .filter((w) => w.actor.state === "running" && w.actor.frozenUntil <= this.step && (w.deadline === undefined || w.deadline <= this.now))
        .sort((a, b) => a.seq - b.seq);
      if (due.length === 0 && this.#waiters.some((w) => w.actor.state === "running" && w.actor.frozenUntil > this.step)) {
        for (const w of this.#waiters) w.actor.frozenUntil = 0; // everyone else is stuck: the stall ends
        continue;
      }
      if (due.length === 0) {
        const sleeping = this.#waiters.filter((w) => w.actor.state === "running" && w.deadline !== undefined);
        if (sleeping.length > 0) {
          this.now = Math.max(this.now, Math.min(...sleeping.map((w) => w.deadline!)));
          continue;
        }
        // Nothing can move. Give stray macrotasks a chance before calling it a deadlock.
        if (++idle < 3) {
          await new Promise((r) => setTimeout(r, 0));
          continue;
        }
        this.violation(null, `deadlock: ${live.map((a) => a.name).join(", ")} wait on nothing the simulation controls`);
        return;
      }
      idle = 0;
      const pick = due[this.rng.int(due.length)]!;
      this.now += 1 + (this.rng.chance(0.05) ? this.rng.int(200) : 0);
      this.step++;
      this.#waiters = this.#waiters.filter((w) => w !== pick);
      const line = `${pick.actor.name} ${pick.kind} ${pick.detail.replaceAll(CACHE, "")}`;
      this.#digest.update(line + "\n");
      this.#recent.push(`${this.step}:${line.slice(0, 140)}`);
      if (this.#recent.length > 12) this.#recent.shift();
      this.#trace?.(`${this.step} t+${this.now - START_MS} ${line}`);
      pick.resolve();
      await drain();
      await this.#check();
      if (this.step >= maxSteps) {
        this.violation(null, `not finished after ${maxSteps} steps (livelock?): ${live.map((a) => a.name).join(", ")}`);
        return;
      }
    }
  }

  /** Scheduled events of this step; true when one happened (let its effects settle first). */
  #events(live: Actor[]): boolean {
    const s = this.scenario;
    const step = this.step;
    const tag = `@${step}`;
    let happened = false;
    if (s.moveAt === step && !this.hub.moved) {
      this.hub.moved = true;
      this.#event(`main moves to ${this.hub.main.slice(0, 8)}${tag}`);
      happened = true;
    }
    const progressJump = s.jumpOnProgressOf !== undefined && !this.#jumped && (this.actors[s.jumpOnProgressOf]?.tempWrites ?? 0) > 0;
    if ((s.jumpAt.includes(step) && !this.#done.has(`jump${tag}`)) || progressJump) {
      this.#done.add(`jump${tag}`);
      this.#jumped = true;
      this.now += 11 * 60_000;
      this.#event(`clock +11 min${tag}`);
      const stalled = s.jumpOnProgressOf !== undefined ? this.actors[s.jumpOnProgressOf] : undefined;
      if (stalled && stalled.state === "running") {
        stalled.frozenUntil = step + this.rng.range(80, 400);
        this.#event(`${stalled.name} stalls until step ${stalled.frozenUntil}`);
      }
      for (const plan of s.actors.filter((p) => p.afterJump)) {
        const late = this.addActor(plan, "main");
        this.start(late, (a, rt) => BODIES[late.plan.kind]!(this, a, rt));
        this.#event(`start ${late.name}${tag}`);
      }
      happened = true;
    }
    if (this.#killSoon && this.#killSoon.at <= step) {
      const { actor } = this.#killSoon;
      this.#killSoon = undefined;
      if (actor.state === "running") {
        this.#killAndRestart(actor, `just after it took a live writer's file${tag}`, 0.9);
        happened = true;
      }
    }
    s.killAt.forEach((at, i) => {
      if (at !== step || this.#done.has(`kill${i}`)) return;
      this.#done.add(`kill${i}`);
      const victims = live.filter((a) => a.state === "running");
      if (victims.length === 0) return;
      const victim = victims[this.rng.int(victims.length)]!;
      this.#killAndRestart(victim, tag, 0.7);
      happened = true;
    });
    for (const a of live) {
      if (a.abort && a.plan.abortAt === step && !a.abort.signal.aborted && a.state === "running") {
        a.abort.abort();
        this.#event(`abort signal of ${a.name}${tag}`);
        happened = true;
      }
    }
    return happened;
  }

  readonly #done = new Set<string>();

  #killAndRestart(victim: Actor, why: string, restartChance: number): void {
    this.kill(victim);
    this.#event(`kill ${victim.name} ${why}`);
    if ((victim.plan.kind === "writer" || victim.plan.kind === "snapshot") && this.rng.chance(restartChance)) {
      // The user (or a job scheduler) starts the command again: a new process, maybe elsewhere.
      const host = this.rng.chance(0.75) ? victim.host : victim.host === "simhost" ? "otherhost" : "simhost";
      const again = this.addActor({ ...victim.plan, host, abortAt: undefined, afterJump: false }, "main");
      this.start(again, (a, rt) => BODIES[again.plan.kind]!(this, a, rt));
      this.#event(`restart as ${again.name}`);
    }
  }

  #event(line: string): void {
    this.#digest.update(`event ${line}\n`);
    this.#recent.push(`event ${line}`);
    this.#trace?.(`   event: ${line}`);
  }

  async #check(): Promise<void> {
    const problems = await checkCacheInvariants(this.fs, CACHE, {
      catalog: this.hub.catalog,
      memo: this.#memo,
      allowDangling: this.prunerStarted,
    });
    for (const p of problems) this.violation(null, p);
  }

  async checkStrict(when: string): Promise<void> {
    const problems = await checkCacheInvariants(this.fs, CACHE, { catalog: this.hub.catalog, checkOutside: true });
    for (const p of problems) this.violation(null, `${when}: ${p}`);
  }

  /** The whole interleaving plus the final disk, hashed. */
  digest(): string {
    for (const p of this.fs.listTree("/")) this.#digest.update(p + "\n");
    return this.#digest.digest("hex").slice(0, 16);
  }

  teardown(): void {
    for (const a of this.actors) {
      if (a.state === "running") a.state = "killed";
      a.sim = null;
      a.runtime = undefined;
    }
    this.#waiters = [];
    this.hub.closeAll();
  }
}

// ---------------------------------------------------------------------------------------------
// What each kind of actor does

const REPO_LAYOUT = (hub: SimHub) => repoLayout(CACHE, "model", hub.repoId);

async function checkReturned(sim: Simulation, actor: Actor, pointer: string, what: string): Promise<void> {
  const layout = REPO_LAYOUT(sim.hub);
  if (!pointer.startsWith(layout.snapshotsDir + "/")) {
    sim.violation(actor, `${what} returned '${pointer}', not a path under ${layout.snapshotsDir}`);
    return;
  }
  const rest = pointer.slice(layout.snapshotsDir.length + 1);
  const commit = rest.slice(0, rest.indexOf("/"));
  const filePath = rest.slice(rest.indexOf("/") + 1);
  const etag = sim.hub.catalog.files.get(commit)?.get(filePath);
  if (etag === undefined) {
    sim.violation(actor, `${what} returned ${rest}, a file that commit does not have`);
    return;
  }
  // Read at once, outside the schedule: this is the state the caller is handed.
  const got = await sim.fs.readFile(pointer).catch((e: unknown) => e);
  if (!(got instanceof Uint8Array)) {
    sim.violation(actor, `${what} returned ${rest.slice(0, 8)}…/${filePath} but it does not resolve: ${describeError(got)}${sim.prunerStarted ? " (a pruner ran concurrently)" : ""}`);
  } else if (!sameBytes(got, sim.hub.catalog.contentByEtag.get(etag)!)) {
    sim.violation(actor, `${what} returned ${rest.slice(0, 8)}…/${filePath} holding ${got.length} bytes that are not its content`);
  }
}

async function writerBody(sim: Simulation, actor: Actor, rt: Runtime): Promise<void> {
  const plan = actor.plan;
  for (const job of plan.jobs) {
    for (let round = 0; round <= job.retries; round++) {
      if (await downloadOnce(sim, actor, rt, job)) break;
    }
  }
}

async function downloadOnce(sim: Simulation, actor: Actor, rt: Runtime, job: Job): Promise<boolean> {
  const plan = actor.plan;
  {
    let pointer: string;
    try {
      pointer = await downloadFile({
        runtime: rt,
        repo: sim.hub.repoId,
        path: job.path,
        revision: job.revision,
        cacheDir: CACHE,
        endpoint: sim.hub.endpoint,
        token: false,
        lock: plan.lock,
        symlinks: plan.symlinks,
        forceDownload: job.force,
        maxAttempts: plan.maxAttempts,
        idleTimeoutMs: IDLE_TIMEOUT_MS,
        ...(actor.abort ? { signal: actor.abort.signal } : {}),
      });
    } catch (err) {
      sim.downloadFailed(actor, `downloadFile('${job.path}')`, err);
      return actor.abort?.signal.aborted === true;
    }
    sim.downloads.ok++;
    await checkReturned(sim, actor, pointer, `downloadFile('${job.path}')`);
    return true;
  }
}

async function snapshotBody(sim: Simulation, actor: Actor, rt: Runtime): Promise<void> {
  const plan = actor.plan;
  let dir: string;
  try {
    dir = await downloadSnapshot({
      runtime: rt,
      repo: sim.hub.repoId,
      cacheDir: CACHE,
      endpoint: sim.hub.endpoint,
      token: false,
      lock: plan.lock,
      symlinks: plan.symlinks,
      concurrency: plan.concurrency,
      maxAttempts: plan.maxAttempts,
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      ...(actor.abort ? { signal: actor.abort.signal } : {}),
    });
  } catch (err) {
    sim.downloadFailed(actor, "downloadSnapshot", err);
    return;
  }
  sim.downloads.ok++;
  const commit = dir.slice(dir.lastIndexOf("/") + 1);
  for (const f of sim.hub.filesAt(commit)) await checkReturned(sim, actor, `${dir}/${f.path}`, "downloadSnapshot");
}

async function readerBody(sim: Simulation, actor: Actor, rt: Runtime): Promise<void> {
  const paths = [...new Set(sim.hub.commits.flatMap((c) => sim.hub.filesAt(c).map((f) => f.path)))].sort();
  for (let i = 0; i < actor.plan.reads; i++) {
    const path = actor.rng.pick(paths);
    let hit;
    try {
      hit = await lookupCached({ runtime: rt, cacheDir: CACHE, repo: sim.hub.repoId, path });
    } catch (err) {
      if (!isTypedError(err)) sim.violation(actor, `lookupCached('${path}') threw ${describeError(err)}`);
      continue;
    }
    if (hit.kind !== "hit") {
      await rt.platform.sleep(actor.rng.range(1, 30));
      continue;
    }
    const expected = sim.hub.catalog.contentByEtag.get(sim.hub.catalog.files.get(hit.commit)?.get(path) ?? "");
    let handle: FileHandle;
    try {
      handle = await rt.fs.openRead(hit.path);
    } catch (err) {
      if (!isTypedError(err)) sim.violation(actor, `opening ${path} threw ${describeError(err)}`);
      continue;
    }
    const parts: Uint8Array[] = [];
    let total = 0;
    let failed: unknown;
    try {
      for (;;) {
        const buf = new Uint8Array(actor.rng.range(64 * 1024, 1024 * 1024));
        const n = await handle.read(buf, total);
        if (n === 0) break;
        parts.push(buf.subarray(0, n));
        total += n;
      }
    } catch (err) {
      failed = err;
    } finally {
      await handle.close().catch(() => {});
    }
    if (failed !== undefined) {
      if (!isTypedError(failed)) sim.violation(actor, `reading ${path} threw ${describeError(failed)}`);
      continue;
    }
    const got = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      got.set(p, at);
      at += p.length;
    }
    if (!expected) {
      sim.violation(actor, `read ${hit.commit.slice(0, 8)}/${path}, a file that commit does not have`);
    } else if (!sameBytes(got, expected)) {
      sim.violation(actor, `reader got ${got.length} bytes of ${hit.commit.slice(0, 8)}/${path} that are not its ${expected.length}-byte content`);
    }
  }
}

async function prunerBody(sim: Simulation, actor: Actor, rt: Runtime): Promise<void> {
  sim.prunerStarted = true;
  try {
    await pruneCache({ runtime: rt, cacheDir: CACHE, olderThan: actor.plan.olderThan });
  } catch (err) {
    if (!isTypedError(err)) sim.violation(actor, `pruneCache threw ${describeError(err)}`);
  }
}

async function verifierBody(sim: Simulation, actor: Actor, rt: Runtime): Promise<void> {
  try {
    const report = await verifyRepo({ runtime: rt, cacheDir: CACHE, repo: sim.hub.repoId, offline: true });
    for (const d of report.damaged.slice(0, 2)) sim.violation(actor, `verifyRepo reported damage: ${d.commit.slice(0, 8)}/${d.path}: ${d.detail}`);
  } catch (err) {
    if (!isTypedError(err)) sim.violation(actor, `verifyRepo threw ${describeError(err)}`);
  }
}

const BODIES: Record<string, (sim: Simulation, actor: Actor, rt: Runtime) => Promise<void>> = {
  writer: writerBody,
  snapshot: snapshotBody,
  reader: readerBody,
  pruner: prunerBody,
  verifier: verifierBody,
};

/**
 * Run one seed and return what it found. The same seed gives the same interleaving, the same
 * violations and the same {@link SeedResult.digest}.
 *
 * @example
 * ```ts
 * const r = await runSimulationSeed(1234);
 * r.violations; // []
 * ```
 */
export async function runSimulationSeed(seed: number, options: SeedOptions = {}): Promise<SeedResult> {
  const sim = new Simulation(seed, options);
  const maxSteps = options.maxSteps ?? 40_000;
  const unhandled = watchUnhandledRejections();
  options.trace?.(`seed ${seed}: ${describeScenario(sim.scenario)}`);
  try {
    for (const plan of sim.scenario.actors) {
      if (plan.afterJump) continue;
      const actor = sim.addActor(plan, "main");
      sim.start(actor, (a, rt) => BODIES[plan.kind]!(sim, a, rt));
    }
    await sim.run("main", maxSteps, true);

    if (sim.violations.length === 0) {
      // Everyone is done or dead: every process has exited.
      for (const a of sim.actors) if (a.state === "running") sim.kill(a);
      await sim.checkStrict("once every simulated process had ended");
    }
    for (const a of sim.actors) {
      if (a.state === "finished" && a.handles.size > 0) {
        sim.notes.push(`${a.name} ended with ${a.handles.size} open handle(s): ${[...a.handles].map((h) => h.path.slice(CACHE.length)).join(", ")}`);
      }
    }

    if (sim.violations.length === 0) {
      // Recovery: a calm network, a healthy disk, one process: every file of main must come back.
      sim.faultsOn = false;
      sim.hub.faults = CALM_NETWORK;
      const plan: ActorPlan = { ...sim.scenario.actors[0]!, kind: "recovery", host: "simhost", lock: "auto", symlinks: "auto", jobs: [], maxAttempts: 3, abortAt: undefined };
      const recovery = sim.addActor(plan, "recovery");
      sim.start(recovery, async (a, rt) => {
        for (const f of sim.hub.filesAt(sim.hub.main)) {
          try {
            const p = await downloadFile({ runtime: rt, repo: sim.hub.repoId, path: f.path, cacheDir: CACHE, endpoint: sim.hub.endpoint, token: false, maxAttempts: 3, idleTimeoutMs: IDLE_TIMEOUT_MS });
            await checkReturned(sim, a, p, `recovery download of '${f.path}'`);
          } catch (err) {
            sim.violation(a, `recovery: a clean download of '${f.path}' after the chaos failed: ${describeError(err)}`);
          }
        }
      });
      await sim.run("recovery", maxSteps, false);
    }

    if (sim.violations.length === 0) {
      const pruner = sim.addActor({ ...sim.scenario.actors[0]!, kind: "final-prune", host: "simhost", abortAt: undefined }, "final");
      sim.start(pruner, async (a, rt) => {
        const r = await pruneCache({ runtime: rt, cacheDir: CACHE, olderThan: "0" });
        for (const e of r.errors.slice(0, 2)) sim.violation(a, `final prune could not remove ${e.path.slice(CACHE.length)}: ${e.message}`);
      });
      await sim.run("final", maxSteps, false);
      if (sim.violations.length === 0) {
        const left = listTempFiles(sim.fs, CACHE);
        if (left.length > 0) sim.violation(null, `invariant 10: temp files left after every process ended and a final prune: ${left.map((p) => p.slice(CACHE.length)).join(", ")}`);
        await sim.checkStrict("after the final prune");
      }
    }
    await drain();
    for (const reason of unhandled.seen) sim.violation(null, `unhandled promise rejection (Node, Deno and Bun end the process on one): ${describeError(reason)}`);
  } finally {
    unhandled.stop();
    sim.teardown();
  }
  return {
    seed,
    scenario: describeScenario(sim.scenario),
    steps: sim.step,
    violations: sim.violations,
    digest: sim.digest(),
    kills: sim.kills,
    fsFaults: sim.fsFaults,
    netFaults: sim.hub.tally.faults,
    downloads: sim.downloads,
    errors: Object.fromEntries(sim.errorCodes),
    coverage: {
      "released partials claimed": sim.tracker.adoptions.partial,
      "dead writers' files adopted": sim.tracker.adoptions.deadWriter,
      "live writers' files renamed away (stale claims, prune)": sim.tracker.adoptions.liveRenamed,
      "ranged requests (resumes)": sim.hub.tally.ranged,
      "aborts": sim.scenario.actors.filter((a) => a.abortAt !== undefined && a.abortAt <= sim.step).length,
    },
    notes: sim.notes,
  };
}

// ---------------------------------------------------------------------------------------------
// The part

/** Options of {@link runSimulation} (the torture script passes {@link PartOptions}). */
export interface SimulationOptions extends Partial<PartOptions> {
  /** Seeds to run: `seed`, `seed + 1`, … Default: short 200, long 2000. */
  seeds?: number;
  /** First seed. Default 1. */
  seed?: number;
}

/** The command that replays one seed step for step. */
export function replaySeedCommand(seed: number): string {
  return `node scripts/replay.mjs ${seed}`;
}

/**
 * Run part 5 over many seeds.
 *
 * @example
 * ```ts
 * const report = await runSimulation({ seeds: 2000 });
 * for (const v of report.violations) console.log(v.detail, v.replay);
 * ```
 */
export async function runSimulation(options: SimulationOptions = {}): Promise<PartReport> {
  const mode = options.mode ?? "short";
  const count = options.seeds ?? options.rounds ?? (mode === "short" ? 200 : 2000);
  const first = options.seed ?? 1;
  const started = Date.now();
  const violations: PartReport["violations"] = [];
  const notes = new Map<string, { count: number; seeds: number[] }>();
  let seedsRun = 0;
  let skipped = 0;
  let kills = 0;
  let faults = 0;
  let steps = 0;
  let ok = 0;
  let failed = 0;
  const coverage = new Map<string, number>();
  const errors = new Map<string, number>();
  const list = roundsToRun(options, count);
  for (const round of list) {
    if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs) {
      skipped++;
      continue;
    }
    const seed = first + round;
    const r = await runSimulationSeed(seed);
    seedsRun++;
    kills += r.kills;
    faults += r.fsFaults + r.netFaults;
    steps += r.steps;
    ok += r.downloads.ok;
    failed += r.downloads.failed;
    for (const [k, v] of Object.entries(r.coverage)) coverage.set(k, (coverage.get(k) ?? 0) + v);
    for (const [k, v] of Object.entries(r.errors)) errors.set(k, (errors.get(k) ?? 0) + v);
    for (const n of r.notes) {
      const key = n.replace(/#\d+/g, "#N").replace(/[0-9a-f]{40,64}/g, "<hash>").replace(/-\d+-[0-9a-f]+\./g, "-PID-NONCE.");
      const seen = notes.get(key);
      notes.set(key, { count: (seen?.count ?? 0) + 1, seeds: seen ? seen.seeds : [seed] });
    }
    for (const v of r.violations) {
      violations.push({ round, detail: `seed ${seed}: ${v} — scenario: ${r.scenario}`, replay: replaySeedCommand(seed) });
    }
    if (r.violations.length > 0) options.log?.(`${PART}: seed ${seed} VIOLATION: ${r.violations[0]} → replay: ${replaySeedCommand(seed)}`);
    else if ((round + 1) % 250 === 0) options.log?.(`${PART}: ${round + 1}/${count} seeds, ${violations.length} violation(s)`);
  }
  return {
    part: PART,
    title: "Deterministic simulation (seeded scheduler over the memory adapter)",
    rounds: seedsRun,
    seeds: seedsRun,
    kills,
    faults,
    runtimes: ["memory"],
    durationMs: Date.now() - started,
    violations,
    notes: [
      `seeds ${first}..${first + count - 1}${skipped ? ` (${skipped} skipped: time budget)` : ""}; ${steps} scheduled steps, invariants checked after each`,
      `downloads by simulated processes: ${ok} succeeded, ${failed} ended in a typed error`,
      `coverage: ${[...coverage].map(([k, v]) => `${v} ${k}`).join(", ")}`,
      `typed errors the downloads ended with: ${[...errors].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ×${v}`).join(", ")}`,
      ...[...notes].slice(0, 8).map(([n, c]) => `${c.count}× ${n} (first in seed ${c.seeds[0]}: ${replaySeedCommand(c.seeds[0]!)})`),
    ],
  };
}
