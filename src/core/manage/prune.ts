/**
 * `cache prune`: remove what killed or finished processes left behind (`docs/DESIGN.md §Invariants 10`)
 * without ever touching a live writer's file.
 *
 * Rules, per thing found:
 * - `blobs/<etag>.<host>-<pid>-<nonce>.incomplete` (a hubcache writer): same host and pid
 *   gone → removed at once; same host and pid alive → kept, always; other host → removed
 *   only when unmodified for `olderThan`.
 * - `blobs/<etag>.partial`: removed at once when `blobs/<etag>` is complete (nobody will
 *   resume it: the next download finds the blob); otherwise like the next ones.
 * - `blobs/<etag>.partial`, legacy `<etag>.incomplete`, other clients' temps
 *   (`<etag>.<uuid>.incomplete`): no owner to ask, so removed only when unmodified for
 *   `olderThan` (a writer appending to one keeps its mtime fresh).
 * - `<repo>/.hubcache-tmp/*`: like hubcache temps (owner in the name; age when none); the
 *   folder itself once empty and unmodified for `olderThan`.
 * - `.locks/<repo>/*.hubcache-lock`: holder (read from the file) gone on this host →
 *   removed; alive → kept; unknown → by age. Likewise a stale lock a dead waiter had moved
 *   aside (`….hubcache-lock.stale.<host>-<pid>-<nonce>.tmp`). Python's `*.lock` files are
 *   never touched (filelock leaves them in place on purpose).
 * - detached revisions (no ref points at them) whose snapshot has not changed for
 *   `olderThan`, plus the blobs only they used (the `hf cache prune` rule, with an age
 *   guard because a download in progress may not have written its ref yet). Repo folders
 *   are kept.
 *
 * Race safety: a concurrent download may claim a `.partial` (rename it away), publish a
 * temp, or link a blob we planned to remove, at any moment. Temps in `blobs/` are first
 * claimed by renaming them to a prune-owned unique name, then re-checked, then removed, so
 * we only ever unlink a file we hold; `ENOENT` anywhere means someone else got there first
 * and is not an error. Every path is `lstat`ed before `removeFile`.
 *
 * @module
 */

import { tempBlobName } from "../cache/layout.ts";
import { printable } from "../cache/validate.ts";
import { lockIsStale, parseLockOwner } from "../download/lock.ts";
import { InvalidInputError } from "../errors.ts";
import { listFilesRecursive, lstatOrNull, readdirOrEmpty } from "../fs/entries.ts";
import { dirname, joinPath } from "../fs/paths.ts";
import { parseScratchName } from "../fs/scratch.ts";
import { withTransientRetries } from "../fs/transient.ts";
import type { Runtime } from "../ports.ts";
import { isFsError } from "../ports.ts";
import { type TempOwner, writerIdentity, writerState } from "../writer_identity.ts";
import { DEFAULT_KEEP_USED_WITHIN, DEFAULT_PRUNE_OLDER_THAN, LOCK_STALE_AFTER_MS } from "../defaults.ts";
import type { CacheOptions, WithRuntime } from "../options.ts";
import { executeRemoval, planFromScan } from "./remove.ts";
import type { CachedRepoInfo, CachedRevisionInfo, CacheInfo, CacheWarning, TempFileInfo } from "./scan.ts";
import { scanCache } from "./scan.ts";

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  mo: 30 * 86_400_000,
  y: 365 * 86_400_000,
};

/**
 * Parse a duration like the Python client's `parse_duration` (`30s`, `30m`, `2h`, `7d`,
 * `2w`, `1mo`, `1y`; a bare integer is seconds) and return milliseconds.
 *
 * @example
 * ```ts
 * import { parseDuration } from "hubcache/core";
 *
 * console.log(parseDuration("2h")); // 7200000
 * console.log(parseDuration("90")); // 90000: a bare number is seconds
 * ```
 */
export function parseDuration(value: string): number {
  const text = value.trim();
  const m = /^(\d+)([a-zA-Z]*)$/.exec(text);
  const unit = m?.[2].toLowerCase() ?? "";
  const factor = unit === "" ? 1000 : DURATION_UNITS_MS[unit];
  if (!m || factor === undefined) {
    throw new InvalidInputError(
      `invalid duration '${printable(value)}': use an integer followed by s, m, h, d, w, mo or y (e.g. 30m, 2h, 7d)`,
    );
  }
  const ms = Number(m[1]) * factor;
  if (!Number.isSafeInteger(ms)) throw new InvalidInputError(`duration '${printable(value)}' is too large`);
  return ms;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/**
 * Parse a size like `500M`, `10G`, `1.5GB`, `20GiB` or a bare number of bytes (decimal units as
 * `hf cache ls` prints sizes; `KiB`… binary) and return bytes.
 *
 * @example
 * ```ts
 * import { parseSize } from "hubcache/core";
 *
 * console.log(parseSize("10G")); // 10000000000
 * console.log(parseSize("1GiB")); // 1073741824
 * ```
 */
export function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value.trim());
  const factor = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || factor === undefined) {
    throw new InvalidInputError(`invalid size '${printable(value)}': use a number with an optional unit (500M, 10G, 1.5GB, 20GiB)`);
  }
  const bytes = Math.floor(Number(m[1]) * factor);
  if (!Number.isSafeInteger(bytes)) throw new InvalidInputError(`size '${printable(value)}' is too large`);
  return bytes;
}

/** Options of {@link pruneCache}. */
export interface PruneOptions extends CacheOptions {
  /**
   * Leftovers whose writer cannot be asked (another host, no owner in the name) and detached
   * revisions must be unmodified this long: a duration as {@link parseDuration} reads it
   * (`"30m"`, `"2h"`, `"7d"`; `"0"` for any age). Default `"1d"`.
   */
  readonly olderThan?: string;
  /** Report what would go, remove nothing. */
  readonly dryRun?: boolean;
  /** Also remove detached revisions and the blobs only they use. Default `true`. */
  readonly detachedRevisions?: boolean;
  /**
   * Cap the cache's size (as `cache ls` counts it, {@link parseSize} units: `"50G"`): after the
   * rest of the prune, least recently used revisions (with the blobs only they use) are removed
   * until it fits — never one used within `keepUsedWithin`, nor any revision of a repo a live
   * process is downloading into.
   */
  readonly maxSize?: string;
  /** With `maxSize`: revisions used (read or written) this recently are kept. Default `"10m"`. */
  readonly keepUsedWithin?: string;
}

/** What one prune decision was about. */
export type PruneKind = TempFileInfo["kind"] | "lock" | "revision" | "blob";

/** One thing prune removed (or, in `kept`, left alone) and why. */
export interface PruneItem {
  /** Absolute path of the file or folder. */
  readonly path: string;
  /** What it is; decides which rule applied (see the module documentation). */
  readonly kind: PruneKind;
  /**
   * Bytes it frees. For a `revision`, only files stored in the snapshot itself (no-symlink
   * cache): blobs are listed separately so nothing is counted twice.
   */
  readonly bytes: number;
  /** One line for people, e.g. `writer alive (pid 4242 on this host)`. */
  readonly reason: string;
}

/** What {@link pruneCache} did. */
export interface PruneResult {
  /** Echoes the option, so a report printed later says whether anything really went. */
  readonly dryRun: boolean;
  /** Removed (or, with `dryRun`, to be removed). */
  readonly removed: readonly PruneItem[];
  /** Left alone, with the reason: a live writer, too recent, claimed by someone else… */
  readonly kept: readonly PruneItem[];
  /** Sum of `removed[].bytes`. */
  readonly freedBytes: number;
  /** Paths that could not be removed (other than "already gone"); the rest went on regardless. */
  readonly errors: readonly { readonly path: string; readonly message: string }[];
  /** The scan's warnings: corrupted repos, whose detached revisions were not considered. */
  readonly warnings: readonly CacheWarning[];
}

interface Ctx {
  readonly runtime: Runtime;
  readonly now: number;
  readonly olderThanMs: number;
  readonly dryRun: boolean;
  readonly removed: PruneItem[];
  readonly kept: PruneItem[];
  readonly errors: { path: string; message: string }[];
}

function age(ctx: Ctx, mtimeMs: number): number {
  return ctx.now - mtimeMs;
}

/**
 * Old enough to remove. A zero duration means "any age": file times have sub-millisecond
 * precision and can read a fraction of a millisecond after `now()`. A positive one keeps
 * files whose mtime is in the future (another host's clock running ahead).
 */
function oldEnough(ctx: Ctx, mtimeMs: number): boolean {
  return ctx.olderThanMs === 0 || age(ctx, mtimeMs) >= ctx.olderThanMs;
}

function describeAge(ms: number): string {
  const s = Math.max(0, ms / 1000);
  const one = (x: number): string => String(Math.round(x * 10) / 10);
  if (s >= 86400) return `${one(s / 86400)}d`;
  if (s >= 3600) return `${one(s / 3600)}h`;
  if (s >= 60) return `${one(s / 60)}m`;
  return `${Math.round(s)}s`;
}

/** Decide by owner first, age second. Returns the reason to remove, or `null` to keep (and records why). */
function verdict(ctx: Ctx, item: { path: string; kind: PruneKind; bytes: number; mtimeMs: number }, owner: TempOwner | null): string | null {
  const state = writerState(ctx.runtime.platform, owner);
  if (state === "alive") {
    ctx.kept.push({ ...strip(item), reason: `writer alive (pid ${owner!.pid} on this host)` });
    return null;
  }
  if (state === "dead") return `writer gone (pid ${owner!.pid} on this host)`;
  const a = age(ctx, item.mtimeMs);
  if (oldEnough(ctx, item.mtimeMs)) {
    return owner ? `owner on host '${owner.host}', unmodified for ${describeAge(a)}` : `unmodified for ${describeAge(a)}`;
  }
  ctx.kept.push({ ...strip(item), reason: `modified ${describeAge(a)} ago (younger than ${describeAge(ctx.olderThanMs)})` });
  return null;
}

function strip(item: { path: string; kind: PruneKind; bytes: number }): { path: string; kind: PruneKind; bytes: number } {
  return { path: item.path, kind: item.kind, bytes: item.bytes };
}

function fail(ctx: Ctx, path: string, err: unknown): void {
  ctx.errors.push({ path, message: err instanceof Error ? err.message : String(err) });
}

/**
 * A temp in `blobs/`: claim it under our own unique name, re-check, then unlink what we hold.
 * `blobComplete`: the blob it was meant to become is published, so it is worthless whatever
 * its age (a `.partial` nobody will ever claim again: the next download finds the blob).
 */
async function pruneBlobTemp(ctx: Ctx, t: TempFileInfo, blobComplete: boolean): Promise<void> {
  const item = { path: t.path, kind: t.kind, bytes: t.size, mtimeMs: t.mtimeMs };
  const reason = blobComplete ? `blob ${t.etag} is complete` : verdict(ctx, item, t.owner);
  if (reason === null) return;
  if (ctx.dryRun) {
    ctx.removed.push({ ...strip(item), reason });
    return;
  }
  const { runtime } = ctx;
  const claim = joinPath(
    t.path.slice(0, t.path.length - t.name.length),
    tempBlobName(t.etag!, writerIdentity(runtime.platform)),
  );
  try {
    const before = await runtime.fs.lstat(t.path);
    if (before.kind === "directory") return;
    await runtime.fs.rename(t.path, claim);
  } catch (err) {
    if (isFsError(err, "ENOENT")) {
      ctx.kept.push({ ...strip(item), reason: "gone before we got to it (claimed, published or removed by another process)" });
    } else fail(ctx, t.path, err);
    return;
  }
  try {
    const held = await runtime.fs.lstat(claim);
    // An owner-less name may have been refilled between the scan and the claim (a writer
    // released a fresh `.partial` under the same name): give that one back untouched.
    if (t.owner === null && !blobComplete && !oldEnough(ctx, held.mtimeMs)) {
      await runtime.fs.rename(claim, t.path);
      ctx.kept.push({ ...strip(item), reason: "replaced by a fresh file while pruning; left for its writer" });
      return;
    }
    await runtime.fs.removeFile(claim);
    ctx.removed.push({ path: t.path, kind: t.kind, bytes: held.size, reason });
  } catch (err) {
    if (!isFsError(err, "ENOENT")) fail(ctx, claim, err);
  }
}

/** A file in `.hubcache-tmp/` or a lock file: unique names nobody refills, so lstat then unlink. */
async function pruneSimple(ctx: Ctx, item: { path: string; kind: PruneKind; bytes: number; mtimeMs: number }, owner: TempOwner | null, stillSame?: () => Promise<boolean>): Promise<void> {
  const reason = verdict(ctx, item, owner);
  if (reason === null) return;
  if (ctx.dryRun) {
    ctx.removed.push({ ...strip(item), reason });
    return;
  }
  try {
    const info = await ctx.runtime.fs.lstat(item.path);
    if (info.kind === "directory") return;
    if (stillSame !== undefined && !(await stillSame())) {
      ctx.kept.push({ ...strip(item), reason: "taken over by another process while pruning" });
      return;
    }
    await ctx.runtime.fs.removeFile(item.path);
    ctx.removed.push({ ...strip(item), reason });
  } catch (err) {
    if (!isFsError(err, "ENOENT")) fail(ctx, item.path, err);
  }
}

async function pruneLocks(ctx: Ctx, cacheDir: string): Promise<void> {
  const locksDir = joinPath(cacheDir, ".locks");
  for (const entry of await listFilesRecursive(ctx.runtime, locksDir)) {
    if (entry.info.kind !== "file") continue;
    const aside = entry.relative.indexOf(".hubcache-lock.");
    if (aside >= 0) {
      // A stale lock moved aside by a waiter that died before removing it
      // (`<etag>.hubcache-lock.stale.<host>-<pid>-<nonce>.tmp`): owned by that waiter.
      const owner = parseScratchName(entry.relative.slice(aside + ".hubcache-lock.".length));
      if (owner === null) continue;
      await pruneSimple(ctx, { path: entry.path, kind: "lock", bytes: entry.info.size, mtimeMs: entry.info.mtimeMs }, owner);
      continue;
    }
    if (!entry.relative.endsWith(".hubcache-lock")) continue;
    let content: string;
    try {
      content = new TextDecoder().decode(await ctx.runtime.fs.readFile(entry.path));
    } catch (err) {
      if (!isFsError(err, "ENOENT")) fail(ctx, entry.path, err);
      continue;
    }
    const owner = parseLockOwner(content);
    const item = { path: entry.path, kind: "lock" as const, bytes: entry.info.size, mtimeMs: entry.info.mtimeMs };
    // A new holder may have broken the stale lock and written itself in: then it is not ours to remove.
    const stillSame = async (): Promise<boolean> =>
      new TextDecoder().decode(await ctx.runtime.fs.readFile(entry.path)) === content;
    await pruneSimple(ctx, item, owner, stillSame);
  }
}

async function snapshotLastChange(runtime: Runtime, snapshotPath: string): Promise<number> {
  let latest = -Infinity;
  try {
    latest = (await runtime.fs.lstat(snapshotPath)).mtimeMs;
  } catch (err) {
    if (!isFsError(err, "ENOENT")) throw err;
  }
  for (const e of await listFilesRecursive(runtime, snapshotPath)) latest = Math.max(latest, e.info.mtimeMs);
  // Sub-folders too: creating a pointer in `onnx/` touches `onnx/`, not the snapshot root.
  for (const e of await listDirs(runtime, snapshotPath)) latest = Math.max(latest, e);
  return latest;
}

async function listDirs(runtime: Runtime, dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdirOrEmpty(runtime, dir)) {
    const path = joinPath(dir, name);
    const info = await lstatOrNull(runtime, path);
    if (info?.kind !== "directory") continue;
    out.push(info.mtimeMs, ...(await listDirs(runtime, path)));
  }
  return out;
}

async function pruneDetached(ctx: Ctx, info: CacheInfo): Promise<void> {
  const commits: string[] = [];
  for (const repo of info.repos) {
    for (const revision of repo.revisions) {
      if (revision.refs.length > 0) continue;
      const item = { path: revision.snapshotPath, kind: "revision" as const, bytes: 0 };
      const last = await snapshotLastChange(ctx.runtime, revision.snapshotPath);
      const a = age(ctx, last);
      if (!oldEnough(ctx, last)) {
        ctx.kept.push({ ...item, reason: `detached but changed ${describeAge(a)} ago: a download may still be writing it` });
        continue;
      }
      commits.push(revision.commitHash);
    }
  }
  if (commits.length === 0) return;
  const plan = planFromScan(info, commits, { keepRepoFolders: true });
  const snapshotBytes = new Map<string, number>();
  for (const sel of plan.selections) {
    for (const rev of sel.revisions) {
      let bytes = 0;
      for (const f of rev.files) if (f.blobPath.startsWith(rev.snapshotPath + "/")) bytes += f.sizeOnDisk;
      snapshotBytes.set(rev.snapshotPath, bytes);
    }
  }
  const reason = "detached revision (no ref points at it)";
  if (ctx.dryRun) {
    for (const s of plan.snapshots) ctx.removed.push({ path: s, kind: "revision", bytes: snapshotBytes.get(s) ?? 0, reason });
    for (const b of plan.blobs) ctx.removed.push({ path: b.path, kind: "blob", bytes: b.size, reason: "used only by detached revisions" });
    return;
  }
  const result = await executeRemoval({ runtime: ctx.runtime, plan });
  const removed = new Set(result.removed);
  for (const s of plan.snapshots) {
    if (removed.has(s)) ctx.removed.push({ path: s, kind: "revision", bytes: snapshotBytes.get(s) ?? 0, reason });
  }
  for (const b of plan.blobs) {
    if (removed.has(b.path)) ctx.removed.push({ path: b.path, kind: "blob", bytes: b.size, reason: "used only by detached revisions" });
  }
  for (const p of result.keptInUse) ctx.kept.push({ path: p, kind: "blob", bytes: 0, reason: "linked by a new snapshot while pruning" });
  ctx.errors.push(...result.errors);
}

async function blobIsPublished(runtime: Runtime, t: TempFileInfo): Promise<boolean> {
  if (t.etag === null) return false;
  const info = await runtime.fs.lstat(joinPath(dirname(t.path), t.etag)).catch(() => null);
  return info?.kind === "file";
}

/**
 * Scratch folders (`.hubcache-tmp/`) that are empty and unmodified for `olderThan`. A folder
 * in use is touched by every create and rename inside it; the age guard keeps prune from
 * removing one between a writer's `mkdir` and its create, which on GlusterFS the writer's
 * mount could still show as present (docs/DESIGN.md §Network file systems).
 */
async function removeEmptyScratchDirs(ctx: Ctx, info: CacheInfo): Promise<void> {
  const repoPaths = new Set([...info.repos.map((r) => r.repoPath), ...info.tempFiles.map((t) => t.repoPath)]);
  for (const repoPath of repoPaths) {
    const dir = joinPath(repoPath, ".hubcache-tmp");
    const held = await lstatOrNull(ctx.runtime, dir);
    if (held?.kind !== "directory" || !oldEnough(ctx, held.mtimeMs)) continue;
    // rmdir: fails, harmlessly, while a writer has a temp file inside.
    await ctx.runtime.fs.removeEmptyDir(dir).catch(() => {});
  }
}

/**
 * Remove stale temp files, partials, lock files and detached revisions from a cache, never
 * touching a live writer's file. See the module documentation for the rules.
 *
 * @example
 * ```ts
 * import { pruneCache } from "hubcache/core";
 * import { nodeRuntime } from "hubcache/adapters/node";
 *
 * const result = await pruneCache({ runtime: nodeRuntime(), olderThan: "2h", dryRun: true });
 * for (const item of result.removed) console.log(`would remove ${item.path}: ${item.reason}`);
 * ```
 */
export async function pruneCache(options: WithRuntime<PruneOptions>): Promise<PruneResult> {
  const runtime = withTransientRetries(options.runtime);
  const olderThanMs = parseDuration(options.olderThan ?? DEFAULT_PRUNE_OLDER_THAN);
  const ctx: Ctx = {
    runtime,
    now: runtime.platform.now(),
    olderThanMs,
    dryRun: options.dryRun ?? false,
    removed: [],
    kept: [],
    errors: [],
  };
  // One scan serves both passes: removing detached revisions keeps repo folders, so it
  // never moves or removes a temp file.
  const info = await scanCache({ runtime, cacheDir: options.cacheDir });
  if (options.detachedRevisions ?? true) await pruneDetached(ctx, info);
  for (const t of info.tempFiles) {
    if (t.kind === "small-temp") {
      await pruneSimple(ctx, { path: t.path, kind: t.kind, bytes: t.size, mtimeMs: t.mtimeMs }, t.owner);
    } else {
      // Only a released partial has no writer that could still want it once the blob exists;
      // a legacy or foreign temp may belong to a live force-download, so age still decides.
      await pruneBlobTemp(ctx, t, t.kind === "partial" && (await blobIsPublished(runtime, t)));
    }
  }
  await pruneLocks(ctx, info.cacheDir);
  if (!ctx.dryRun) await removeEmptyScratchDirs(ctx, info);
  if (options.maxSize !== undefined) {
    await pruneToSize(ctx, options, parseSize(options.maxSize), parseDuration(options.keepUsedWithin ?? DEFAULT_KEEP_USED_WITHIN));
  }

  let freed = 0;
  for (const item of ctx.removed) freed += item.bytes;
  return { dryRun: ctx.dryRun, removed: ctx.removed, kept: ctx.kept, freedBytes: freed, errors: ctx.errors, warnings: info.warnings };
}

/**
 * `maxSize`: a fresh scan (what the passes above left), then revisions removed least recently used
 * first until the cache fits. "Used" is the latest of the snapshot's own changes and its files'
 * blob access times (as the file system keeps them: `relatime` mounts update atime at most daily
 * for files read again, so the order is approximate). Never removed: a revision used within
 * `keepUsedWithin` (a download writing it, a program that just loaded it), and every revision of
 * a repo with a live writer's temp file or a held lock (a download in progress may be about to
 * link one of its blobs). Removal is `executeRemoval`'s, with its guards for concurrent downloads.
 */
async function pruneToSize(ctx: Ctx, options: WithRuntime<PruneOptions>, maxBytes: number, keepMs: number): Promise<void> {
  const info = ctx.dryRun ? await scanAfterDryRun(ctx, options) : await scanCache({ runtime: ctx.runtime, cacheDir: options.cacheDir });
  if (info.sizeOnDisk <= maxBytes) return;
  const busy = await reposBeingWritten(ctx, info);
  const candidates: { repo: CachedRepoInfo; revision: CachedRevisionInfo; lastUsed: number }[] = [];
  for (const repo of info.repos) {
    for (const revision of repo.revisions) {
      const item = { path: revision.snapshotPath, kind: "revision" as const, bytes: revision.sizeOnDisk };
      if (busy.has(repo.repoPath)) {
        ctx.kept.push({ ...item, reason: "a live process is downloading into this repo" });
        continue;
      }
      let lastUsed = await snapshotLastChange(ctx.runtime, revision.snapshotPath);
      for (const f of revision.files) lastUsed = Math.max(lastUsed, f.blobLastAccessedMs, f.blobLastModifiedMs);
      if (ctx.now - lastUsed < keepMs) {
        ctx.kept.push({ ...item, reason: `used ${describeAge(ctx.now - lastUsed)} ago (within ${describeAge(keepMs)})` });
        continue;
      }
      candidates.push({ repo, revision, lastUsed });
    }
  }
  candidates.sort((a, b) => a.lastUsed - b.lastUsed);
  const chosen: string[] = [];
  let plan = planFromScan(info, [], { keepRepoFolders: true });
  for (const c of candidates) {
    if (info.sizeOnDisk - plan.expectedFreedBytes <= maxBytes) break;
    chosen.push(c.revision.commitHash);
    plan = planFromScan(info, chosen, { keepRepoFolders: true });
  }
  if (info.sizeOnDisk - plan.expectedFreedBytes > maxBytes) {
    ctx.kept.push({
      path: info.cacheDir,
      kind: "revision",
      bytes: info.sizeOnDisk - plan.expectedFreedBytes,
      reason: `the cache stays above --max-size ${maxBytes} bytes: what is left is in use or recently used`,
    });
  }
  if (chosen.length === 0) return;
  const lastUsedOf = new Map(candidates.map((c) => [c.revision.snapshotPath, c.lastUsed]));
  const reasonFor = (snapshot: string): string =>
    `least recently used (${describeAge(ctx.now - (lastUsedOf.get(snapshot) ?? ctx.now))} ago): the cache is above its maximum size`;
  const sizeOf = new Map(candidates.map((c) => [c.revision.snapshotPath, snapshotOwnBytes(c.revision)]));
  if (ctx.dryRun) {
    for (const snap of plan.snapshots) ctx.removed.push({ path: snap, kind: "revision", bytes: sizeOf.get(snap) ?? 0, reason: reasonFor(snap) });
    for (const b of plan.blobs) ctx.removed.push({ path: b.path, kind: "blob", bytes: b.size, reason: "used only by least recently used revisions" });
    return;
  }
  const result = await executeRemoval({ runtime: ctx.runtime, plan });
  const removed = new Set(result.removed);
  for (const snap of plan.snapshots) {
    if (removed.has(snap)) ctx.removed.push({ path: snap, kind: "revision", bytes: sizeOf.get(snap) ?? 0, reason: reasonFor(snap) });
  }
  for (const b of plan.blobs) {
    if (removed.has(b.path)) ctx.removed.push({ path: b.path, kind: "blob", bytes: b.size, reason: "used only by least recently used revisions" });
  }
  for (const p of result.keptInUse) ctx.kept.push({ path: p, kind: "blob", bytes: 0, reason: "linked by a new snapshot while pruning" });
  ctx.errors.push(...result.errors);
}

/** Bytes stored in the snapshot itself (no-symlink files); blobs are listed on their own. */
function snapshotOwnBytes(revision: CachedRevisionInfo): number {
  let bytes = 0;
  for (const f of revision.files) if (f.blobPath.startsWith(revision.snapshotPath + "/")) bytes += f.sizeOnDisk;
  return bytes;
}

/**
 * A dry run removed nothing, so the size cap is planned against the cache as it is, minus what
 * the dry run's other passes would remove — approximated by leaving those revisions out.
 */
async function scanAfterDryRun(ctx: Ctx, options: WithRuntime<PruneOptions>): Promise<CacheInfo> {
  const info = await scanCache({ runtime: ctx.runtime, cacheDir: options.cacheDir });
  const gone = new Set(ctx.removed.filter((i) => i.kind === "revision").map((i) => i.path));
  if (gone.size === 0) return info;
  const freed = ctx.removed.filter((i) => i.kind === "revision" || i.kind === "blob").reduce((n, i) => n + i.bytes, 0);
  return {
    ...info,
    sizeOnDisk: info.sizeOnDisk - freed,
    repos: info.repos.map((r) => ({ ...r, revisions: r.revisions.filter((rev) => !gone.has(rev.snapshotPath)) })),
  };
}

/**
 * Repos a live process is writing to: a temp file whose writer is alive on this host, one of
 * another host (or without owner) modified within the lock's staleness horizon, or a
 * `.hubcache-lock` that is not stale.
 */
async function reposBeingWritten(ctx: Ctx, info: CacheInfo): Promise<Set<string>> {
  const busy = new Set<string>();
  for (const t of info.tempFiles) {
    if (t.ownerState === "alive" || (t.ownerState === "unknown" && ctx.now - t.mtimeMs < LOCK_STALE_AFTER_MS)) busy.add(t.repoPath);
  }
  for (const repo of info.repos) {
    const locksDir = joinPath(info.cacheDir, ".locks", repo.repoPath.slice(repo.repoPath.lastIndexOf("/") + 1));
    for (const name of await readdirOrEmpty(ctx.runtime, locksDir)) {
      if (!name.endsWith(".hubcache-lock")) continue;
      if (!(await lockIsStale(ctx.runtime, joinPath(locksDir, name), LOCK_STALE_AFTER_MS))) busy.add(repo.repoPath);
    }
  }
  return busy;
}
