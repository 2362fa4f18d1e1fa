/**
 * `downloadSnapshot`: a whole repo (or the files matching patterns) at one revision, the
 * equivalent of `snapshot_download`. It lists the commit's files with the tree API (cached
 * in `trees/<commit>.json`), then fetches each through the single-file path with bounded
 * concurrency, reusing whatever is already cached.
 *
 * When `refs/<revision>` is written: only after every requested file is in place. The
 * Python client writes it first; then an offline reader following the ref can be handed a
 * snapshot missing files it asked for. Until we finish, the ref keeps pointing at the last
 * commit that was complete for its readers.
 *
 * @module
 */

import { CACHE_SCAN_CONCURRENCY, DEFAULT_CONNECTIONS, DEFAULT_MAX_ATTEMPTS, DEFAULT_SNAPSHOT_CONCURRENCY, SNAPSHOT_RECHECK_ROUNDS } from "../defaults.ts";
import { ConnectionBudget } from "./connection_budget.ts";
import { pointerIsComplete } from "../cache/pointers.ts";
import { resolveRepoContext, type RepoContext } from "../context.ts";
import { ensureDir } from "../fs/dirs.ts";
import {
  HubcacheError,
  EntryNotFoundError,
  NetworkError,
  OfflineCacheMissError,
  SnapshotIncompleteError,
} from "../errors.ts";
import { fetchIntoCache, refuseReuseIntoLocalDir, type SnapshotShared, warn } from "./download.ts";
import { cacheSpace, ensureFreeSpace, localDirSpace, type NeededBlob } from "./free_space.ts";
import { hasReusableLocalFile } from "./local_reuse.ts";
import { isFileOfSize } from "../fs/transient.ts";
import { type BlobsListing, listBlobs } from "./temp_files.ts";
import { ensureCacheDirTag } from "../cache/cachedir_tag.ts";
import { mapBounded } from "../concurrency.ts";
import { fetchIntoLocalDir, localTreesDir } from "./local_dir.ts";
import { localDirOf } from "../context.ts";
import { readdirOrEmpty } from "../fs/entries.ts";
import type { FileMetadata } from "../hub/metadata.ts";
import { listTree, resolveCommit } from "../hub/listing.ts";
import { resolveUrl } from "../hub/urls.ts";
import { blobPath, pointerPath, snapshotDir } from "../cache/layout.ts";
import type { DownloadFileOptions } from "../options.ts";
import { filterPaths } from "./patterns.ts";
import type { Runtime } from "../ports.ts";
import { readRef, writeRef } from "../cache/refs.ts";
import { etagOf, readTreeCache, type TreeFile, writeTreeCache } from "../cache/tree_cache.ts";
import { isCommitHash } from "../cache/validate.ts";

/** Progress of a snapshot download. */
export interface SnapshotProgress {
  /**
   * `listing`: resolving the revision and listing files (all counts 0); `download`: files
   * being fetched or found cached; `done`: every requested file is in place.
   */
  readonly phase: "listing" | "download" | "done";
  /** Files selected by `include`/`exclude`, cached ones included. */
  readonly filesTotal: number;
  /** Files in place so far, cached ones included. */
  readonly filesDone: number;
  /** Files that were already in the cache. */
  readonly filesCached: number;
  /** Sum of the sizes of the selected files, so a bar can show bytes rather than files. */
  readonly bytesTotal: number;
  /** Bytes in place so far, including resumed prefixes and files already cached. */
  readonly bytesDone: number;
  /**
   * Of `bytesDone`, what did not come over the network: files already cached and resumed
   * prefixes. `bytesDone - bytesReused` is what a transfer rate may count.
   */
  readonly bytesReused: number;
  /** Paths being downloaded right now. */
  readonly active: readonly string[];
  /** The files being downloaded right now with their own progress (`resumedFrom` as in {@link DownloadProgress}). */
  readonly activeFiles: readonly { readonly path: string; readonly bytesDone: number; readonly bytesTotal: number; readonly resumedFrom: number }[];
}

/** Options of {@link downloadSnapshot}. */
export interface DownloadSnapshotOptions extends Omit<DownloadFileOptions, "path" | "onProgress"> {
  /** Only files matching one of these shell-style patterns (`*.json`, `onnx/`). */
  include?: string[];
  /** Skip files matching any of these. */
  exclude?: string[];
  /** Files downloaded at once. Default 8. */
  concurrency?: number;
  /**
   * Called whenever a file starts, advances or ends (often: throttle it yourself). Anything it
   * throws is swallowed, because a broken progress bar must not fail a download.
   */
  onProgress?: (progress: SnapshotProgress) => void;
}

/**
 * Download a repo's files and return the absolute path of the snapshot folder
 * (`<cache>/models--org--name/snapshots/<commit>`).
 *
 * @example
 * ```ts
 * import { downloadSnapshot } from "hubcache/core";
 * import { nodeRuntime } from "hubcache/adapters/node";
 *
 * const dir = await downloadSnapshot({ runtime: nodeRuntime(), repo: "openai-community/gpt2", include: ["*.json"] });
 * // "<cache>/models--openai-community--gpt2/snapshots/<commit>"
 * ```
 */
export async function downloadSnapshot(options: DownloadSnapshotOptions & { runtime: Runtime }): Promise<string> {
  const ctx = await resolveRepoContext(options);
  const include = options.include ?? [];
  const exclude = options.exclude ?? [];
  refuseReuseIntoLocalDir(options);
  const localDir = options.localDir === undefined ? undefined : localDirOf(options.localDir);
  const fromCache = (why: string): Promise<string> =>
    localDir === undefined ? snapshotFromCache(ctx, include, exclude, why) : snapshotFromLocalDir(ctx, localDir, why);
  if (ctx.offline) return await fromCache("offline mode (HF_HUB_OFFLINE / --offline) is on");
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;

  let commit: string;
  try {
    commit = await resolveCommit(ctx, ctx.revision, maxAttempts);
  } catch (err) {
    if (err instanceof NetworkError) {
      const why = `the Hub could not be reached (${err.message})`;
      const dir = await fromCache(why);
      warn(ctx.client, {
        code: "HubUnreachable",
        path: "",
        message: `${why}; answering from ${localDir ?? "the cache"} (revision '${ctx.revision}' as last downloaded, which may be out of date)`,
      });
      return dir;
    }
    throw err;
  }
  // A local directory keeps its tree listing where the Python client keeps it for one
  // (`DIR/.cache/huggingface/trees/<commit>.json`), so neither leaves a repo folder holding
  // only `trees/` in the cache.
  const listingLayout = localDir === undefined ? ctx.layout : { ...ctx.layout, ...localTreesDir(localDir) };
  let files = await readTreeCache(ctx.runtime, listingLayout, commit);
  if (!files) {
    options.onProgress?.({ phase: "listing", filesTotal: 0, filesDone: 0, filesCached: 0, bytesTotal: 0, bytesDone: 0, bytesReused: 0, active: [], activeFiles: [] });
    files = await listTree(ctx, commit, maxAttempts);
    await writeTreeCache(ctx.runtime, listingLayout, commit, files);
  }
  const wanted = new Set(filterPaths(files.map((f) => f.path), include, exclude));
  const selected = files.filter((f) => wanted.has(f.path));
  if (selected.length === 0 && files.length > 0) {
    // An empty selection is almost always a mistyped pattern; an empty folder and exit 0
    // would let a script go on without its files.
    const patterns = [...include.map((p) => `--include '${p}'`), ...exclude.map((p) => `--exclude '${p}'`)].join(" ");
    throw new EntryNotFoundError(
      `no file of ${ctx.repoType} '${ctx.repoId}' at revision '${ctx.revision}' matches ${patterns} ` +
        `(it has ${files.length} file(s), e.g. ${files.slice(0, 3).map((f) => f.path).join(", ")})`,
      commit,
    );
  }
  const what = `${selected.length} file(s) of ${ctx.repoType} '${ctx.repoId}'`;
  const needed = await toFetch(ctx, commit, selected, localDir, options);
  if (localDir !== undefined) {
    // Files whose record is current need nothing (localDirSpace); the rest counts in full.
    await ensureFreeSpace(ctx, needed, what, options.forceDownload ?? false, localDirSpace(ctx, localDir));
    await fetchAll(ctx, commit, selected, options, (path, meta, fileOptions) => fetchIntoLocalDir(ctx, localDir, path, meta, fileOptions));
    return localDir;
  }
  // Done once here for every file (SnapshotShared): the tag, one listing of blobs/, the free
  // space the files still need judged from that listing.
  await ensureCacheDirTag(ctx.runtime, ctx.cacheDir);
  const listedAtMs = ctx.runtime.platform.now();
  const listing = await listBlobs(ctx.runtime, ctx.layout.blobsDir);
  const spaceCounted = await ensureFreeSpace(ctx, needed, what, options.forceDownload ?? false, cacheSpace(ctx, listing.names));
  await ensureDir(ctx.runtime, snapshotDir(ctx.layout, commit));
  const pointers = await listPointers(ctx, commit, selected);
  const fetchOne: FetchOne = (path, meta, fileOptions, shared) => fetchIntoCache(ctx, path, meta, fileOptions, shared);
  await fetchAll(ctx, commit, selected, options, fetchOne, { listing, spaceCounted, pointers, listedAtMs });
  await moveRefOverCompleteSnapshot(ctx, commit, selected, options, fetchOne);
  return snapshotDir(ctx.layout, commit);
}

/**
 * Write `refs/<revision>` only over a complete snapshot. Until the ref moves, the revision looks
 * detached, and `hf cache prune` (huggingface_hub 2.0) deletes detached revisions with the blobs
 * only they use — files we already placed. So every requested pointer is checked again just
 * before the ref moves, and just after (the prune may have struck in between): what vanished is
 * placed again (from a blob that survived, else downloaded), a bounded number of times. Once the
 * ref names the commit, the revision is no longer detached and the prune leaves it alone.
 */
async function moveRefOverCompleteSnapshot(
  ctx: RepoContext,
  commit: string,
  files: TreeFile[],
  options: DownloadSnapshotOptions,
  fetchOne: FetchOne,
): Promise<void> {
  let refWritten = false;
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_SNAPSHOT_CONCURRENCY);
  for (let round = 0;; round++) {
    // Looked at with the snapshot's concurrency, not one await per file in turn.
    const complete = await mapBounded(files, concurrency, (file) => pointerIsComplete(ctx.runtime, ctx.layout, commit, file.path, file.size));
    const vanished = files.filter((_, i) => !complete[i]);
    if (vanished.length === 0) {
      if (refWritten) return;
      await writeRef(ctx.runtime, ctx.layout, ctx.revision, commit);
      refWritten = true;
      continue; // and look once more: the prune may have run between our check and the rename
    }
    if (round >= SNAPSHOT_RECHECK_ROUNDS) {
      throw new SnapshotIncompleteError(
        `${vanished.length} file(s) of ${ctx.repoType} '${ctx.repoId}' kept vanishing after they were placed ` +
          `(${vanished.slice(0, 5).map((f) => f.path).join(", ")}): another program (hf cache prune?) is deleting ` +
          `revision ${commit}; run again when it is done`,
        vanished.map((f) => ({ path: f.path, error: new Error("removed by another program after it was placed") })),
      );
    }
    await fetchAll(ctx, commit, vanished, options, fetchOne);
  }
}

/**
 * The paths of `files` already present in `snapshots/<commit>/`, from one listing of each folder
 * they go into (see {@link SnapshotShared.pointers}): a fresh snapshot of n files in one folder
 * costs one listing instead of n failing stats. With about as many folders as files a listing
 * saves nothing, and each pointer is looked for instead (`undefined`).
 */
async function listPointers(ctx: RepoContext, commit: string, files: readonly TreeFile[]): Promise<ReadonlySet<string> | undefined> {
  const folders = [...new Set(files.map((f) => (f.path.includes("/") ? f.path.slice(0, f.path.lastIndexOf("/")) : "")))];
  if (folders.length * 2 > files.length) return undefined;
  const root = snapshotDir(ctx.layout, commit);
  const names = await mapBounded(folders, CACHE_SCAN_CONCURRENCY, (folder) => readdirOrEmpty(ctx.runtime, folder === "" ? root : `${root}/${folder}`));
  return new Set(folders.flatMap((folder, i) => names[i]!.map((name) => (folder === "" ? name : `${folder}/${name}`))));
}

/** Offline (or the Hub unreachable) with a local directory: a non-empty one is the answer, as for the Python client. */
async function snapshotFromLocalDir(ctx: RepoContext, localDir: string, why: string): Promise<string> {
  const names = (await readdirOrEmpty(ctx.runtime, localDir)).filter((n) => n !== ".cache");
  if (names.length > 0) return localDir;
  throw new OfflineCacheMissError(
    `${why}, and the local directory ${localDir} holds no file of ${ctx.repoType} '${ctx.repoId}': download it once while online`,
  );
}

/**
 * The files a whole-repo download may have to fetch, for its up-front space check: all of them
 * but those it can place from content already on disk — from the cache into a local directory,
 * from a reused local directory into the cache — since a reflink or hard link needs no space,
 * and a copy checks the space for its own file before it starts. (A forced download fetches all.)
 */
async function toFetch(ctx: RepoContext, commit: string, files: readonly TreeFile[], localDir: string | undefined, options: DownloadSnapshotOptions): Promise<NeededBlob[]> {
  const all = files.map((f) => ({ etag: etagOf(f), size: f.size, path: f.path }));
  const reuseDirs = (options.reuseLocalDirs ?? []).map(localDirOf);
  if (options.forceDownload || (localDir === undefined && reuseDirs.length === 0) || !ctx.runtime.fs.freeSpace) return all;
  const placeable = await mapBounded(all, CACHE_SCAN_CONCURRENCY, async (b) =>
    localDir !== undefined
      ? (await isFileOfSize(ctx.runtime, blobPath(ctx.layout, b.etag), b.size)) ||
        (await isFileOfSize(ctx.runtime, pointerPath(ctx.layout, commit, b.path), b.size))
      : await hasReusableLocalFile(ctx.runtime, reuseDirs, b.path, b));
  return all.filter((_, i) => !placeable[i]);
}

/** One file into its place; `shared` is what the snapshot did once for all its files. */
type FetchOne = (
  path: string,
  meta: FileMetadata,
  options: Omit<DownloadFileOptions, "repo" | "path">,
  shared: SnapshotShared,
) => Promise<string>;

async function fetchAll(
  ctx: RepoContext,
  commit: string,
  files: TreeFile[],
  options: DownloadSnapshotOptions,
  fetchOne: FetchOne,
  once?: { listing: BlobsListing; spaceCounted: ReadonlySet<string>; pointers?: ReadonlySet<string>; listedAtMs: number },
): Promise<void> {
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_SNAPSHOT_CONCURRENCY);
  // Files in flight and the extra ranges of large files share one budget of connections.
  const budget = new ConnectionBudget(Math.max(concurrency, options.connections ?? DEFAULT_CONNECTIONS));
  const bytesTotal = files.reduce((n, f) => n + f.size, 0);
  const sizes = new Map(files.map((f) => [f.path, f.size]));
  // Running sums, so a progress report costs the files in flight, not every file of the repo
  // (1,000 small files emit ~3,000 reports).
  const done = new Map<string, number>();
  const reused = new Map<string, number>();
  let bytesDone = 0;
  let bytesReused = 0;
  const setDone = (path: string, n: number): void => {
    bytesDone += n - (done.get(path) ?? 0);
    done.set(path, n);
  };
  const setReused = (path: string, n: number): void => {
    bytesReused += n - (reused.get(path) ?? 0);
    reused.set(path, n);
  };
  const active = new Set<string>();
  let filesDone = 0;
  let filesCached = 0;
  // One listing of blobs/ for the whole snapshot: files find their leftovers in it instead
  // of listing the folder once each (quadratic in the repo's files).
  const listedAtMs = once?.listedAtMs ?? ctx.runtime.platform.now();
  const shared: SnapshotShared = {
    budget,
    listedAtMs,
    blobs: once?.listing ?? await listBlobs(ctx.runtime, ctx.layout.blobsDir),
    spaceCounted: once?.spaceCounted ?? new Set(),
    published: new Set(),
    pointers: once?.pointers,
  };
  const failures: Array<{ path: string; error: unknown }> = [];
  const emit = (phase: SnapshotProgress["phase"]): void => {
    if (!options.onProgress) return;
    const activeFiles = [...active].map((path) => ({
      path,
      bytesDone: done.get(path) ?? 0,
      bytesTotal: sizes.get(path) ?? 0,
      resumedFrom: reused.get(path) ?? 0,
    }));
    try {
      options.onProgress?.({ phase, filesTotal: files.length, filesDone, filesCached, bytesTotal, bytesDone, bytesReused, active: [...active], activeFiles });
    } catch { /* progress must not break the download */ }
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    // After a failure no new file starts; files in flight finish (or fail) cleanly.
    while (failures.length === 0 && next < files.length) {
      const file = files[next++];
      active.add(file.path);
      let wasCached = false;
      budget.claim();
      try {
        await fetchOne(file.path, {
          commit,
          etag: etagOf(file),
          size: file.size,
          location: resolveUrl(ctx.client.endpoint, ctx.repoType, ctx.repoId, commit, file.path),
        }, {
          ...options,
          onProgress: (p) => {
            if (p.phase === "cached") {
              wasCached = true;
              setReused(file.path, file.size);
            } else {
              setDone(file.path, p.bytesDone);
              if (p.resumedFrom > 0) setReused(file.path, p.resumedFrom);
            }
            emit("download");
          },
        }, shared);
        setDone(file.path, file.size);
        filesDone++;
        if (wasCached) filesCached++;
      } catch (error) {
        failures.push({ path: file.path, error });
      } finally {
        budget.give();
        active.delete(file.path);
        emit("download");
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  if (failures.length > 0) {
    const aborted = failures.find((f) => f.error instanceof HubcacheError && f.error.code === "Aborted");
    if (aborted) throw aborted.error;
    const shown = failures.slice(0, 5).map((f) => `${f.path}: ${f.error instanceof Error ? f.error.message : String(f.error)}`);
    throw new SnapshotIncompleteError(
      `${failures.length} of ${files.length} files of ${ctx.repoType} '${ctx.repoId}' failed (${shown.join("; ")}` +
        `${failures.length > 5 ? "; …" : ""}). Completed files are cached; run again to resume the rest`,
      failures,
    );
  }
  emit("done");
}

async function snapshotFromCache(ctx: RepoContext, include: string[], exclude: string[], why: string): Promise<string> {
  const { runtime, layout } = ctx;
  const commit = isCommitHash(ctx.revision) ? ctx.revision : await readRef(runtime, layout, ctx.revision);
  const dir = commit ? snapshotDir(layout, commit) : null;
  const exists = dir ? (await runtime.fs.stat(dir).catch(() => null))?.kind === "directory" : false;
  if (!commit || !dir || !exists) {
    throw new OfflineCacheMissError(
      `${why}, and revision '${ctx.revision}' of ${ctx.repoType} '${ctx.repoId}' is not in the cache at ${ctx.cacheDir}: ` +
        `download it once while online`,
    );
  }
  const files = await readTreeCache(runtime, layout, commit);
  if (files) {
    const wanted = filterPaths(files.map((f) => f.path), include, exclude);
    const missing: string[] = [];
    for (const path of wanted) {
      const info = await runtime.fs.stat(pointerPath(layout, commit, path)).catch(() => null);
      if (info?.kind !== "file") missing.push(path);
    }
    if (missing.length > 0) {
      throw new OfflineCacheMissError(
        `${why}, and ${missing.length} of ${wanted.length} requested files of ${ctx.repoType} '${ctx.repoId}' ` +
          `(commit ${commit}) are not cached: ${missing.slice(0, 10).join(", ")}${missing.length > 10 ? ", …" : ""}`,
      );
    }
  }
  return dir;
}
