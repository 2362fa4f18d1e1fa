/**
 * Scan a cache the way the Python client's `scan_cache_dir` does, with the same numbers:
 * per revision the files under `snapshots/<commit>/**` resolved to their blobs, sizes
 * counted once per blob, refs read recursively, corrupted repos reported as warnings and
 * left out. On top of that, every temp file a writer left in `blobs/` or `.hubcache-tmp/`
 * is listed with whether its writer can still be alive (for `cache ls` and `cache prune`).
 *
 * Read-only and safe while other processes write: an entry that disappears between a
 * directory listing and its `stat` is skipped, never reported as damage.
 *
 * @module
 */

import { parseBlobsEntry, parseRepoFolderName } from "../cache/layout.ts";
import type { RepoType } from "../cache/validate.ts";
import { CacheError } from "../errors.ts";
import { CACHE_SCAN_CONCURRENCY, CACHE_SCAN_REPOS_AT_ONCE } from "../defaults.ts";
import { mapBounded } from "../concurrency.ts";
import { type KindEntry, listFilesRecursive, listKindsRecursive, lstatOrNull, readdirOrEmpty, statOrNull, symlinkFirstHop } from "../fs/entries.ts";
import { basename, dirname, joinPath } from "../fs/paths.ts";
import { parseScratchName } from "../fs/scratch.ts";
import { withTransientRetries } from "../fs/transient.ts";
import { envCacheDir } from "../environment.ts";
import type { CacheOptions, WithRuntime } from "../options.ts";
import type { FileInfo, Runtime } from "../ports.ts";
import { isFsError } from "../ports.ts";
import { type OwnerState, type TempOwner, writerState } from "../writer_identity.ts";

/** OS helper files the Python client ignores wherever it lists a folder. */
export const FILES_TO_IGNORE: readonly string[] = [".DS_Store", "Thumbs.db", "desktop.ini"];

/** One file of one cached revision (Python: `CachedFileInfo`). */
export interface CachedFileInfo {
  /** Base name, e.g. `model.onnx` (Python: `file_name`). */
  readonly fileName: string;
  /** Path inside the repo, e.g. `onnx/model.onnx`. */
  readonly repoPath: string;
  /** The pointer: `<repo>/snapshots/<commit>/<repoPath>` (Python: `file_path`). */
  readonly filePath: string;
  /**
   * What the pointer resolves to: `<repo>/blobs/<etag>` for a symlink cache, the pointer
   * itself for a no-symlink cache (Python: `blob_path`).
   */
  readonly blobPath: string;
  /** `st_size` of the blob (Python: `size_on_disk`). */
  readonly sizeOnDisk: number;
  /** Blob `st_atime` in ms (Python: `blob_last_accessed`, in seconds). */
  readonly blobLastAccessedMs: number;
  /** Blob `st_mtime` in ms (Python: `blob_last_modified`, in seconds). */
  readonly blobLastModifiedMs: number;
}

/** One cached revision: a folder in `snapshots/` (Python: `CachedRevisionInfo`). */
export interface CachedRevisionInfo {
  /** The folder name under `snapshots/`: 40 lowercase hex (Python: `commit_hash`). */
  readonly commitHash: string;
  /** `<repo>/snapshots/<commit>` */
  readonly snapshotPath: string;
  /** Sum of the sizes of the distinct blobs the revision's files resolve to. */
  readonly sizeOnDisk: number;
  /** The files, sorted by {@link CachedFileInfo.repoPath}. */
  readonly files: readonly CachedFileInfo[];
  /** `files.length` (Python: `nb_files`). */
  readonly nbFiles: number;
  /** Refs pointing at this commit, sorted (`main`, `refs/pr/1`…); empty means detached. */
  readonly refs: readonly string[];
  /** Latest blob mtime of its files, or the snapshot folder's mtime when it is empty (ms). */
  readonly lastModifiedMs: number;
}

/** A temp file left in a repo folder by some writer. */
export interface TempFileInfo {
  /** Absolute path. */
  readonly path: string;
  /** Base name, which encodes the etag and owner when the writer put them there. */
  readonly name: string;
  /** The repo folder it belongs to. */
  readonly repoPath: string;
  /**
   * `temp`: a hubcache writer's `<etag>.<host>-<pid>-<nonce>.incomplete`;
   * `partial`: `<etag>.partial` released for resume;
   * `legacy`: `<etag>.incomplete` of older Python clients;
   * `foreign-temp`: another client's temp in `blobs/` (e.g. `<etag>.<uuid>.incomplete`);
   * `small-temp`: a file in `<repo>/.hubcache-tmp/`.
   */
  readonly kind: "temp" | "partial" | "legacy" | "foreign-temp" | "small-temp";
  /** The content address it is meant to become, when the name says. */
  readonly etag: string | null;
  /** The writer encoded in the name, when there is one. */
  readonly owner: TempOwner | null;
  /**
   * `alive`/`dead`: the writer ran on this host and its pid is / is not running.
   * `unknown`: another host, or a name that carries no owner.
   */
  readonly ownerState: OwnerState;
  /**
   * The file's length: the bytes written so far by one stream. A download over parallel ranges
   * writes at offsets and keeps a 64-byte record after the content (`docs/DESIGN.md §Parallel
   * ranges`), so its file shows the content's size + 64 from the start, holes included.
   */
  readonly size: number;
  /** Last write, ms since the epoch: an active writer keeps this fresh, so age means abandonment. */
  readonly mtimeMs: number;
}

/** A cached repository (Python: `CachedRepoInfo`). */
export interface CachedRepoInfo {
  /** `name` or `namespace/name`, from the folder name (Python: `repo_id`). */
  readonly repoId: string;
  /** From the folder name's prefix (Python: `repo_type`). */
  readonly repoType: RepoType;
  /** `<cache>/models--org--name` */
  readonly repoPath: string;
  /** Sum of the sizes of the distinct blobs of all revisions. */
  readonly sizeOnDisk: number;
  /** Number of distinct blobs (Python: `nb_files`). */
  readonly nbFiles: number;
  /** Sorted by commit hash. */
  readonly revisions: readonly CachedRevisionInfo[];
  /** Ref name → commit, for every ref of the repo. */
  readonly refs: Readonly<Record<string, string>>;
  /** Latest blob atime, or the repo folder's atime when there is no blob (ms). */
  readonly lastAccessedMs: number;
  /** Latest blob mtime, or the repo folder's mtime when there is no blob (ms). */
  readonly lastModifiedMs: number;
  /** Temp files found in this repo, sorted by path. */
  readonly tempFiles: readonly TempFileInfo[];
}

/** A repo folder that could not be scanned (Python: a `CorruptedCacheException` in `warnings`). */
export interface CacheWarning {
  /** The repo folder (or entry at the cache root) concerned. */
  readonly path: string;
  /** Why it was left out, as the Python client words it where it has an equivalent. */
  readonly message: string;
}

/** The whole cache (Python: `HFCacheInfo`). */
export interface CacheInfo {
  /** The canonical cache path that was scanned. */
  readonly cacheDir: string;
  /** Sum of the sizes of the distinct blobs of all repos. */
  readonly sizeOnDisk: number;
  /** Valid repos, sorted by `<type>/<id>` as `hf cache ls` sorts them. */
  readonly repos: readonly CachedRepoInfo[];
  /** Every temp file of every repo folder (corrupted ones included), sorted by path. */
  readonly tempFiles: readonly TempFileInfo[];
  /** Repo folders left out of `repos` (and of every total) because they could not be read. */
  readonly warnings: readonly CacheWarning[];
}

class CorruptedRepo extends Error {}


/**
 * The temp files of one repo folder: writers' leftovers in `blobs/` and everything in
 * `.hubcache-tmp/`, sorted by path.
 */
export async function scanRepoTempFiles(runtime: Runtime, repoPath: string): Promise<TempFileInfo[]> {
  const out: TempFileInfo[] = [];
  const blobsDir = joinPath(repoPath, "blobs");
  for (const name of await readdirOrEmpty(runtime, blobsDir)) {
    const entry = parseBlobsEntry(name);
    if (entry.kind === "blob" || entry.kind === "other") continue;
    const path = joinPath(blobsDir, name);
    const info = await lstatOrNull(runtime, path);
    if (info === null || info.kind === "directory") continue;
    const owner = entry.kind === "temp" ? entry.owner : null;
    out.push({
      path,
      name,
      repoPath,
      kind: entry.kind,
      etag: entry.etag,
      owner,
      ownerState: writerState(runtime.platform, owner),
      size: info.size,
      mtimeMs: info.mtimeMs,
    });
  }
  const tmpDir = joinPath(repoPath, ".hubcache-tmp");
  for (const name of await readdirOrEmpty(runtime, tmpDir)) {
    const path = joinPath(tmpDir, name);
    const info = await lstatOrNull(runtime, path);
    if (info === null || info.kind === "directory") continue;
    const owner = parseScratchName(name);
    out.push({
      path,
      name,
      repoPath,
      kind: "small-temp",
      etag: null,
      owner,
      ownerState: writerState(runtime.platform, owner),
      size: info.size,
      mtimeMs: info.mtimeMs,
    });
  }
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

async function readRefs(runtime: Runtime, refsPath: string): Promise<Map<string, string>> {
  const refs = new Map<string, string>();
  const info = await statOrNull(runtime, refsPath);
  if (info === null) return refs;
  if (info.kind !== "directory") throw new CorruptedRepo(`refs is not a directory: ${refsPath}`);
  for (const entry of await listFilesRecursive(runtime, refsPath)) {
    if (FILES_TO_IGNORE.includes(basename(entry.path))) continue;
    let bytes: Uint8Array;
    try {
      bytes = await runtime.fs.readFile(entry.path);
    } catch (err) {
      // Replaced by a rename between the listing and the read: the next scan sees it.
      if (isFsError(err, "ENOENT")) continue;
      throw err;
    }
    // `docs/DESIGN.md §Invariants 4`: read tolerantly. Python reads the bytes verbatim, so a ref with a
    // trailing newline is a "missing commit" there and a valid ref here.
    refs.set(entry.relative, new TextDecoder().decode(bytes).trim());
  }
  return refs;
}

/**
 * Scan one repo folder with `scan_cache_dir`'s rules. Throws `CorruptedRepo`
 * wherever Python raises `CorruptedCacheException`.
 */
async function scanRepo(runtime: Runtime, repoPath: string, tempFiles: TempFileInfo[]): Promise<CachedRepoInfo> {
  const repoInfo = await statOrNull(runtime, repoPath);
  if (repoInfo === null || repoInfo.kind !== "directory") {
    throw new CorruptedRepo(`repo path is not a directory: ${repoPath}`);
  }
  const parsed = parseRepoFolderName(basename(repoPath));
  if (parsed === null) {
    throw new CorruptedRepo(
      basename(repoPath).includes("--")
        ? `repo type must be 'model', 'dataset' or 'space': ${repoPath}`
        : `not a Hugging Face cache repo folder: ${repoPath}`,
    );
  }
  const snapshotsPath = joinPath(repoPath, "snapshots");
  const blobsDir = joinPath(repoPath, "blobs");
  const snapInfo = await statOrNull(runtime, snapshotsPath);
  if (snapInfo === null || snapInfo.kind !== "directory") {
    throw new CorruptedRepo(`snapshots folder missing in cached repo: ${snapshotsPath}`);
  }

  const refsByName = await readRefs(runtime, joinPath(repoPath, "refs"));
  const refsByCommit = new Map<string, string[]>();
  for (const [name, commit] of refsByName) {
    const list = refsByCommit.get(commit) ?? [];
    list.push(name);
    refsByCommit.set(commit, list);
  }

  // Python keys blob stats by blob path: each blob is stat'ed (and counted) once per repo.
  const blobStats = new Map<string, FileInfo>();
  const blobLookups = new Map<string, Promise<FileInfo | null>>();
  const revisions: CachedRevisionInfo[] = [];
  const revisionNames = (await readdirOrEmpty(runtime, snapshotsPath)).sort();
  for (const name of revisionNames) {
    if (FILES_TO_IGNORE.includes(name)) continue;
    const revisionPath = joinPath(snapshotsPath, name);
    const revInfo = await statOrNull(runtime, revisionPath);
    if (revInfo === null) {
      if ((await lstatOrNull(runtime, revisionPath)) === null) continue; // removed while we scan
      throw new CorruptedRepo(`snapshot entry is a broken link: ${revisionPath}`);
    }
    if (revInfo.kind !== "directory") {
      throw new CorruptedRepo(`snapshots folder corrupted, found a file: ${revisionPath}`);
    }
    // Each file's blob is resolved with CACHE_SCAN_CONCURRENCY calls in flight, and each
    // blob stat'ed once however many files of however many revisions point at it: a symlinked
    // file costs one readlink, a blob one stat.
    const entries = await listKindsRecursive(runtime, revisionPath);
    const resolved = await mapBounded(entries, CACHE_SCAN_CONCURRENCY, (entry) => resolveBlob(runtime, entry, blobsDir, blobLookups));
    const files: CachedFileInfo[] = [];
    for (const found of resolved) {
      if (found === null) continue;
      const { entry, blobPath } = found;
      const stat = found.stat;
      blobStats.set(blobPath, stat);
      files.push({
        fileName: basename(entry.path),
        repoPath: entry.relative,
        filePath: entry.path,
        blobPath,
        sizeOnDisk: stat.size,
        blobLastAccessedMs: stat.atimeMs,
        blobLastModifiedMs: stat.mtimeMs,
      });
    }
    const distinct = new Map<string, number>();
    for (const f of files) distinct.set(storageKey(f.blobPath, blobStats.get(f.blobPath)), f.sizeOnDisk);
    const refs = (refsByCommit.get(name) ?? []).sort();
    refsByCommit.delete(name);
    revisions.push({
      commitHash: name,
      snapshotPath: revisionPath,
      sizeOnDisk: sum(distinct.values()),
      files,
      nbFiles: files.length,
      refs,
      lastModifiedMs: files.length > 0 ? maxOf(files.map((f) => f.blobLastModifiedMs)) : revInfo.mtimeMs,
    });
  }

  if (refsByCommit.size > 0) {
    const dangling = [...refsByCommit.entries()].map(([commit, names]) => `${names.sort().join(", ")} -> ${commit}`);
    throw new CorruptedRepo(`reference(s) point to commits not in snapshots/: ${dangling.join("; ")} (${repoPath})`);
  }

  const stats = [...blobStats.values()];
  const refs: Record<string, string> = {};
  for (const name of [...refsByName.keys()].sort()) refs[name] = refsByName.get(name)!;
  return {
    repoId: parsed.repoId,
    repoType: parsed.repoType,
    repoPath,
    sizeOnDisk: sum(distinctStorage(blobStats).values()),
    nbFiles: stats.length,
    revisions,
    refs,
    lastAccessedMs: stats.length > 0 ? maxOf(stats.map((s) => s.atimeMs)) : repoInfo.atimeMs,
    lastModifiedMs: stats.length > 0 ? maxOf(stats.map((s) => s.mtimeMs)) : repoInfo.mtimeMs,
    tempFiles,
  };
}

/**
 * Where a snapshot file's bytes live, as Python's scan resolves it, and their stat (one per
 * blob path, shared through `lookups`); `null` when the file went away meanwhile (a concurrent
 * `rm` or `prune`, not corruption) or is a link to a directory (Python's `glob` skips those).
 */
async function resolveBlob(
  runtime: Runtime,
  entry: KindEntry,
  blobsDir: string,
  lookups: Map<string, Promise<FileInfo | null>>,
): Promise<{ entry: KindEntry; blobPath: string; stat: FileInfo } | null> {
  let blobPath = entry.path;
  if (entry.kind === "symlink") {
    // Python resolves only the first hop when it lands in this repo's blobs/ (a blob may
    // itself be a link into a shared store), and fully otherwise.
    let firstHop: string | null;
    try {
      firstHop = await symlinkFirstHop(runtime, entry.path);
    } catch (err) {
      if (isFsError(err, "ENOENT")) return null;
      throw err;
    }
    if (dirname(firstHop) === blobsDir) blobPath = firstHop;
    else {
      try {
        blobPath = await runtime.fs.realpath(entry.path);
      } catch {
        blobPath = firstHop;
      }
    }
  }
  // stat follows every hop, so the blob path's stat is the link's own.
  let lookup = lookups.get(blobPath);
  if (lookup === undefined) lookups.set(blobPath, lookup = statOrNull(runtime, blobPath));
  const stat = await lookup;
  if (stat === null) {
    if ((await lstatOrNull(runtime, entry.path)) === null) return null;
    throw new CorruptedRepo(`blob missing (broken symlink): ${blobPath}`);
  }
  if (stat.kind === "directory") return null;
  return { entry, blobPath, stat };
}

function maxOf(values: readonly number[]): number {
  // Not Math.max(...values): a repo with 100k+ files would overflow the argument stack.
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  return max;
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/** Names at the cache root that are never repos. */
const ROOT_SKIP: ReadonlySet<string> = new Set([".locks", "CACHEDIR.TAG", ".hubcache-tmp", ...FILES_TO_IGNORE]);

/**
 * Resolve and check the cache root: its canonical path (as Python's `.resolve()`).
 * Throws {@link CacheError} when it is missing or not a directory.
 */
export async function resolveCacheDir(runtime: Runtime, cacheDir: string): Promise<string> {
  let real: string;
  try {
    real = await runtime.fs.realpath(cacheDir);
  } catch (err) {
    if (isFsError(err, "ENOENT", "ENOTDIR")) throw new CacheError(`cache directory not found: ${cacheDir}`);
    throw err;
  }
  const info = await runtime.fs.stat(real);
  if (info.kind !== "directory") throw new CacheError(`cache path is not a directory: ${cacheDir}`);
  return real;
}

/**
 * A repo folder whose first download has not finished (or was interrupted): no snapshot and
 * no ref yet, `blobs/` holding only temp files. Not damage: it is left out of the repos without
 * a warning (Python's `scan_cache_dir` warns about it forever), and its temp files are listed
 * with the others, so `cache ls` reports them and `cache prune` removes them.
 */
async function isFirstDownloadStub(runtime: Runtime, repoPath: string): Promise<boolean> {
  if (parseRepoFolderName(basename(repoPath)) === null || (await lstatOrNull(runtime, repoPath))?.kind !== "directory") return false;
  if ((await lstatOrNull(runtime, joinPath(repoPath, "snapshots"))) !== null) return false;
  if ((await listFilesRecursive(runtime, joinPath(repoPath, "refs"))).length > 0) return false;
  const blobs = await readdirOrEmpty(runtime, joinPath(repoPath, "blobs"));
  return blobs.every((name) => parseBlobsEntry(name).kind !== "blob" && parseBlobsEntry(name).kind !== "other");
}

async function isSharedBlobStore(runtime: Runtime, path: string): Promise<boolean> {
  // huggingface_hub's cache-wide Xet store: `<cache>/blobs/` marked by this file.
  const marker = await lstatOrNull(runtime, joinPath(path, ".huggingface-shared-blobs"));
  return marker !== null && marker.kind === "file";
}

/** A repo, a warning, or a first download's stub folder (only its temp files count). */
type RootEntryScan = { temps: TempFileInfo[] } & ({ repo: CachedRepoInfo } | { warning: CacheWarning } | { stub: true });

/** One entry at the cache root: a repo, a warning, or `null` for what is never a repo. */
async function scanRootEntry(runtime: Runtime, root: string, name: string): Promise<RootEntryScan | null> {
  if (ROOT_SKIP.has(name)) return null;
  const repoPath = joinPath(root, name);
  if (name === "blobs" && await isSharedBlobStore(runtime, repoPath)) return null;
  const folder = await statOrNull(runtime, repoPath);
  if (folder === null && (await lstatOrNull(runtime, repoPath)) === null) return null; // removed meanwhile
  let temps: TempFileInfo[] = [];
  if (folder?.kind === "directory" && parseRepoFolderName(name) !== null) {
    temps = await scanRepoTempFiles(runtime, repoPath);
  }
  try {
    return { temps, repo: await scanRepo(runtime, repoPath, temps) };
  } catch (err) {
    if (err instanceof CorruptedRepo && await isFirstDownloadStub(runtime, repoPath)) return { temps, stub: true };
    if (err instanceof CorruptedRepo) return { temps, warning: { path: repoPath, message: err.message } };
    if (isFsError(err)) return { temps, warning: { path: repoPath, message: `could not scan: ${err.message}` } };
    throw err;
  }
}

/**
 * Scan the whole cache, with the numbers of the Python client's `scan_cache_dir`. Never throws
 * for a damaged repo: it lands in `warnings` and is left out of `repos`, as in the Python
 * client. Throws {@link CacheError} only when the cache folder itself is missing.
 *
 * @example
 * ```ts
 * import { scanCache } from "hubcache/core";
 * import { nodeRuntime } from "hubcache/adapters/node";
 *
 * const info = await scanCache({ runtime: nodeRuntime() }); // the cache the environment names
 * for (const repo of info.repos) console.log(repo.repoId, repo.sizeOnDisk, repo.tempFiles.length);
 * ```
 */
export async function scanCache(options: WithRuntime<CacheOptions>): Promise<CacheInfo> {
  const runtime = withTransientRetries(options.runtime);
  const root = await resolveCacheDir(runtime, options.cacheDir ?? envCacheDir(runtime.platform));
  const repos: CachedRepoInfo[] = [];
  const warnings: CacheWarning[] = [];
  const allTemps: TempFileInfo[] = [];
  // CACHE_SCAN_REPOS_AT_ONCE repo folders at a time; results are gathered in name order.
  const names = (await runtime.fs.readdir(root)).sort();
  const scanned = await mapBounded(names, CACHE_SCAN_REPOS_AT_ONCE, (name) => scanRootEntry(runtime, root, name));
  for (const entry of scanned) {
    if (entry === null) continue;
    allTemps.push(...entry.temps);
    if ("repo" in entry) repos.push(entry.repo);
    else if ("warning" in entry) warnings.push(entry.warning);
  }
  const cacheId = (r: CachedRepoInfo): string => `${r.repoType}/${r.repoId}`;
  repos.sort((a, b) => (cacheId(a) < cacheId(b) ? -1 : cacheId(a) > cacheId(b) ? 1 : 0));
  allTemps.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // Blob paths are per repo, so the distinct blobs of the cache are the union of each repo's.
  return { cacheDir: root, sizeOnDisk: sum(repos.map((r) => r.sizeOnDisk)), repos, tempFiles: allTemps, warnings };
}

/**
 * What a file's bytes occupy on disk: its inode where the file system says (hard links — a
 * no-symlink snapshot file placed as a link to its blob — are one file, counted once), else its path.
 */
function storageKey(path: string, info: FileInfo | undefined): string {
  return info?.ino !== undefined && info.ino !== 0 ? `inode:${info.dev ?? 0}:${info.ino}` : `path:${path}`;
}

/** Size per distinct storage among `stats` (path → info). */
function distinctStorage(stats: Map<string, FileInfo>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [path, info] of stats) out.set(storageKey(path, info), info.size);
  return out;
}
