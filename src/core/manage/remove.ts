/**
 * Remove revisions or whole repos from the cache with the Python client's strategy
 * (`HFCacheInfo.delete_revisions` + `DeleteCacheStrategy.execute`): snapshot folders, the
 * refs that point at them, the blobs no remaining revision uses, and the whole repo folder
 * when every revision goes. Deletion order is repos, snapshots, refs, blobs, so an
 * interruption never leaves a ref to a missing snapshot or a pointer to a missing blob.
 *
 * Two guards the Python client lacks, because other processes may be downloading into the
 * same repo while we delete: a ref is removed only if it still names the removed commit,
 * and a blob is removed only if no snapshot still points at it once the removed snapshots
 * are gone.
 *
 * @module
 */

import type { RepoType } from "../cache/validate.ts";
import { listFilesRecursive, lstatOrNull, symlinkFirstHop } from "../fs/entries.ts";
import { dirname, joinPath } from "../fs/paths.ts";
import { withTransientRetries } from "../fs/transient.ts";
import type { Runtime } from "../ports.ts";
import { isFsError } from "../ports.ts";
import type { CacheOptions, WithRuntime } from "../options.ts";
import type { CachedRepoInfo, CachedRevisionInfo, CacheInfo, CacheWarning } from "./scan.ts";
import { scanCache } from "./scan.ts";

/** The revisions chosen in one repo. */
export interface RemovalSelection {
  /** The repo as scanned; the plan is only as fresh as this scan. */
  readonly repo: CachedRepoInfo;
  /** Sorted by commit hash. */
  readonly revisions: readonly CachedRevisionInfo[];
  /** Every revision goes, so the repo folder goes. */
  readonly entireRepo: boolean;
}

/** A blob the plan removes. */
export interface PlannedBlob {
  /** `<repo>/blobs/<etag>`. */
  readonly path: string;
  /** The repo folder it belongs to: its snapshots are re-checked for new links before unlinking. */
  readonly repoPath: string;
  /** Bytes freed if it is still unused when we get to it. */
  readonly size: number;
}

/** A ref file the plan removes, and the commit it must still name when we get there. */
export interface PlannedRef {
  /** `<repo>/refs/<ref>`. */
  readonly path: string;
  /** The ref name, e.g. `main` or `refs/pr/1`. */
  readonly ref: string;
  /** The removed commit: a concurrent download may move the ref meanwhile, and then it stays. */
  readonly commit: string;
}

/** What {@link planRemoval} decided (Python: `DeleteCacheStrategy`). Nothing is touched yet. */
export interface RemovalPlan {
  /** The canonical cache root the plan was computed for. */
  readonly cacheDir: string;
  /** Per repo, the revisions chosen, sorted by repo folder. */
  readonly selections: readonly RemovalSelection[];
  /** Whole repo folders. */
  readonly repos: readonly string[];
  /** Snapshot folders of revisions removed from repos that keep other revisions. */
  readonly snapshots: readonly string[];
  /** Refs naming a removed revision, in repos that keep other revisions. */
  readonly refs: readonly PlannedRef[];
  /** Blobs only removed revisions use, in repos that keep other revisions. */
  readonly blobs: readonly PlannedBlob[];
  /** Python's `expected_freed_size`: sizes of the distinct blobs (and copied files) unlinked. */
  readonly expectedFreedBytes: number;
  /** Targets that matched nothing, as given. */
  readonly missing: readonly string[];
  /** The scan's warnings: damaged repos, which no target can match. */
  readonly warnings: readonly CacheWarning[];
}

/** Options of {@link planRemoval}. */
export interface PlanRemovalOptions extends CacheOptions {
  /**
   * What to remove: commit hashes (any repo: hashes are unique), `type/id` as `hf cache rm`
   * takes them (`model/gpt2`, `dataset/org/set`), or bare repo ids (`org/name`, models unless
   * `repoType` says otherwise).
   */
  readonly targets: readonly string[];
  /** Treat non-hash targets as repo ids of this type (`org/name`), not `type/org/name`. */
  readonly repoType?: RepoType;
  /**
   * Never plan a whole repo folder's removal, even when all its revisions go: remove their
   * snapshots, refs and blobs and keep the folder (and whatever temp files a live writer
   * has in it). `cache prune` uses this.
   */
  readonly keepRepoFolders?: boolean;
  /** Plan against this scan of the cache instead of scanning `cacheDir` now. */
  readonly scanned?: CacheInfo;
}

const HEX40 = /^[0-9a-fA-F]{40}$/;

/**
 * Work out what removing `options.targets` deletes (the Python client's
 * `scan_cache_dir().delete_revisions(…)`); nothing is touched until {@link executeRemoval}.
 *
 * @example
 * ```ts
 * import { executeRemoval, planRemoval } from "hubcache/core";
 * import { nodeRuntime } from "hubcache/adapters/node";
 *
 * const runtime = nodeRuntime();
 * const plan = await planRemoval({ runtime, targets: ["openai-community/gpt2"] });
 * console.log(`${plan.expectedFreedBytes} bytes to free; not in the cache: ${plan.missing.join(", ")}`);
 * const result = await executeRemoval({ runtime, plan });
 * console.log(`freed ${result.freedBytes} bytes`);
 * ```
 */
export async function planRemoval(options: WithRuntime<PlanRemovalOptions>): Promise<RemovalPlan> {
  const info = options.scanned ?? await scanCache(options);
  return planFromScan(info, options.targets, options);
}

/** {@link planRemoval} against a scan already made. */
export function planFromScan(
  info: CacheInfo,
  targets: readonly string[],
  options: Pick<PlanRemovalOptions, "repoType" | "keepRepoFolders"> = {},
): RemovalPlan {
  const byRevision = new Map<string, { repo: CachedRepoInfo; revision: CachedRevisionInfo }>();
  const byCacheId = new Map<string, CachedRepoInfo>();
  for (const repo of info.repos) {
    byCacheId.set(`${repo.repoType}/${repo.repoId}`.toLowerCase(), repo);
    for (const revision of repo.revisions) byRevision.set(revision.commitHash.toLowerCase(), { repo, revision });
  }

  const chosen = new Map<CachedRepoInfo, Set<CachedRevisionInfo>>();
  const wholeRepos = new Set<CachedRepoInfo>();
  const missing: string[] = [];
  const choose = (repo: CachedRepoInfo, revisions: readonly CachedRevisionInfo[]): void => {
    const set = chosen.get(repo) ?? new Set<CachedRevisionInfo>();
    for (const r of revisions) set.add(r);
    chosen.set(repo, set);
  };
  for (const raw of targets) {
    const target = raw.trim();
    if (target === "") continue;
    if (HEX40.test(target)) {
      const hit = byRevision.get(target.toLowerCase());
      if (hit) choose(hit.repo, [hit.revision]);
      else missing.push(raw);
      continue;
    }
    const lowered = target.toLowerCase();
    const repo = options.repoType !== undefined
      ? byCacheId.get(`${options.repoType}/${lowered}`)
      : byCacheId.get(lowered) ?? byCacheId.get(`model/${lowered}`);
    if (repo === undefined) {
      missing.push(raw);
      continue;
    }
    wholeRepos.add(repo);
    choose(repo, repo.revisions);
  }

  const selections: RemovalSelection[] = [];
  const repos: string[] = [];
  const snapshots: string[] = [];
  const refs: PlannedRef[] = [];
  const blobs = new Map<string, PlannedBlob>();
  // Python's `blobs_to_unlink`: path -> size, so a blob shared by two removed revisions counts once.
  const unlinked = new Map<string, number>();

  const orderedRepos = [...chosen.keys()].sort((a, b) => compare(a.repoPath, b.repoPath));
  for (const repo of orderedRepos) {
    const removed = [...chosen.get(repo)!].sort((a, b) => compare(a.commitHash, b.commitHash));
    const remaining = repo.revisions.filter((r) => !chosen.get(repo)!.has(r));
    const entire = remaining.length === 0 && (wholeRepos.has(repo) || removed.length > 0) && !options.keepRepoFolders;
    selections.push({ repo, revisions: removed, entireRepo: entire });
    if (entire) {
      repos.push(repo.repoPath);
      for (const revision of repo.revisions) for (const f of revision.files) unlinked.set(f.blobPath, f.sizeOnDisk);
      continue;
    }
    const stillUsed = new Set<string>();
    for (const revision of remaining) for (const f of revision.files) stillUsed.add(f.blobPath);
    for (const revision of removed) {
      snapshots.push(revision.snapshotPath);
      for (const ref of revision.refs) {
        refs.push({ path: joinPath(repo.repoPath, "refs", ref), ref, commit: revision.commitHash });
      }
      for (const f of revision.files) {
        // A regular file inside the snapshot (no-symlink cache, or something a user put
        // there) goes with the snapshot folder: count it, do not unlink it again.
        if (f.blobPath.startsWith(revision.snapshotPath + "/")) {
          unlinked.set(f.blobPath, f.sizeOnDisk);
          continue;
        }
        if (stillUsed.has(f.blobPath) || blobs.has(f.blobPath)) continue;
        blobs.set(f.blobPath, { path: f.blobPath, repoPath: repo.repoPath, size: f.sizeOnDisk });
        unlinked.set(f.blobPath, f.sizeOnDisk);
      }
    }
  }

  let expected = 0;
  for (const size of unlinked.values()) expected += size;
  return {
    cacheDir: info.cacheDir,
    selections,
    repos,
    snapshots,
    refs,
    blobs: [...blobs.values()],
    expectedFreedBytes: expected,
    missing,
    warnings: info.warnings,
  };
}

/** Options of {@link executeRemoval}. */
export interface ExecuteRemovalOptions {
  /** What {@link planRemoval} decided. */
  readonly plan: RemovalPlan;
  /** The adapter bundle: optional in `hubcache` (the running runtime's), required in `hubcache/core`. */
  readonly runtime?: Runtime;
}

/** What {@link executeRemoval} did. */
export interface RemovalResult {
  /** Paths removed (repo folders, snapshot folders, refs, blobs). */
  readonly removed: readonly string[];
  /** Paths that were already gone: someone else removed or claimed them first. */
  readonly alreadyGone: readonly string[];
  /** Blobs and refs left in place because a concurrent writer started using them. */
  readonly keptInUse: readonly string[];
  /** Failures other than "already gone", one per path. */
  readonly errors: readonly { readonly path: string; readonly message: string }[];
  /** `expectedFreedBytes` minus the blobs kept or already gone. */
  readonly freedBytes: number;
}

/**
 * Carry out a {@link RemovalPlan}: repo folders, snapshots, refs, then blobs, re-checking each
 * ref and blob against concurrent downloads. Never throws for one path: failures are collected
 * in `errors` and the rest goes on, like the Python client.
 *
 * @example
 * ```ts
 * import { executeRemoval, planRemoval } from "hubcache/core";
 * import { memoryRuntime } from "hubcache/adapters/memory";
 *
 * const runtime = memoryRuntime();
 * await runtime.fs.mkdirp("/cache");
 * const plan = await planRemoval({ runtime, cacheDir: "/cache", targets: ["0123456789abcdef0123456789abcdef01234567"] });
 * const result = await executeRemoval({ runtime, plan });
 * console.log(plan.missing, result.removed); // ["0123…"] []: that commit is not in the cache
 * ```
 */
export async function executeRemoval(options: WithRuntime<ExecuteRemovalOptions>): Promise<RemovalResult> {
  const { plan } = options;
  const runtime = withTransientRetries(options.runtime);
  const removed: string[] = [];
  const alreadyGone: string[] = [];
  const keptInUse: string[] = [];
  const errors: { path: string; message: string }[] = [];
  let notFreed = 0;

  const fail = (path: string, err: unknown): void => {
    errors.push({ path, message: err instanceof Error ? err.message : String(err) });
  };

  for (const path of [...plan.repos, ...plan.snapshots]) {
    try {
      if ((await lstatOrNull(runtime, path)) === null) {
        alreadyGone.push(path);
        continue;
      }
      await runtime.fs.removeTree(path);
      removed.push(path);
    } catch (err) {
      fail(path, err);
    }
  }

  for (const ref of plan.refs) {
    try {
      const info = await lstatOrNull(runtime, ref.path);
      if (info === null) {
        alreadyGone.push(ref.path);
        continue;
      }
      if (info.kind === "directory") {
        fail(ref.path, new Error("is a directory, not a ref file"));
        continue;
      }
      // A download may have moved the ref to a new commit since the scan: that ref is no
      // longer about the revision we remove.
      const now = new TextDecoder().decode(await runtime.fs.readFile(ref.path)).trim().toLowerCase();
      if (now !== ref.commit.toLowerCase()) {
        keptInUse.push(ref.path);
        continue;
      }
      await runtime.fs.removeFile(ref.path);
      removed.push(ref.path);
    } catch (err) {
      if (isFsError(err, "ENOENT")) alreadyGone.push(ref.path);
      else fail(ref.path, err);
    }
  }

  // Snapshots are gone now: whatever still points at a planned blob was linked by someone
  // else meanwhile (a download reusing the blob for another revision) and keeps it.
  const inUse = new Map<string, Set<string>>();
  for (const blob of plan.blobs) {
    if (!inUse.has(blob.repoPath)) inUse.set(blob.repoPath, await referencedBlobs(runtime, blob.repoPath));
  }
  for (const blob of plan.blobs) {
    try {
      if (inUse.get(blob.repoPath)!.has(blob.path)) {
        keptInUse.push(blob.path);
        notFreed += blob.size;
        continue;
      }
      const info = await lstatOrNull(runtime, blob.path);
      if (info === null) {
        alreadyGone.push(blob.path);
        notFreed += blob.size;
        continue;
      }
      if (info.kind === "directory") {
        fail(blob.path, new Error("is a directory, not a blob"));
        notFreed += blob.size;
        continue;
      }
      await runtime.fs.removeFile(blob.path);
      removed.push(blob.path);
    } catch (err) {
      notFreed += blob.size;
      if (isFsError(err, "ENOENT")) alreadyGone.push(blob.path);
      else fail(blob.path, err);
    }
  }

  return { removed, alreadyGone, keptInUse, errors, freedBytes: Math.max(0, plan.expectedFreedBytes - notFreed) };
}

/** The blob paths every current snapshot pointer of a repo resolves to (first hop). */
export async function referencedBlobs(runtime: Runtime, repoPath: string): Promise<Set<string>> {
  const used = new Set<string>();
  for (const entry of await listFilesRecursive(runtime, joinPath(repoPath, "snapshots"))) {
    if (entry.info.kind !== "symlink") continue;
    try {
      const hop = await symlinkFirstHop(runtime, entry.path);
      used.add(hop);
      if (dirname(hop) !== joinPath(repoPath, "blobs")) used.add(await runtime.fs.realpath(entry.path));
    } catch (err) {
      if (!isFsError(err)) throw err;
    }
  }
  return used;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
