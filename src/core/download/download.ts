/**
 * `downloadFile`: one file into the Hub cache, the equivalent of `hf_hub_download`.
 * Read top to bottom, it is `docs/DESIGN.md §The download story`:
 *
 * 1. Validate what the user asked for; a commit revision already cached needs no request.
 * 2. Offline, answer from `refs/` → `snapshots/` (or `.no_exist/`).
 * 3. `HEAD` the file: commit, etag, size, download location; record `.no_exist` for a
 *    missing file. If the Hub is unreachable, fall back to the cache.
 * 4. If the snapshot pointer or the blob is already there, point at it and stop.
 * 5. Take the de-duplication lock (best effort: correctness never depends on it). While
 *    waiting, another process may finish the blob: then we just point at it.
 * 6. Claim a resumable file (`<etag>.partial`, a dead writer's temp file, a stale legacy
 *    `<etag>.incomplete`) by renaming it to our own name, or create our own temp file.
 * 7. Stream the bytes (resuming with a plain `Range`), hashing as they arrive; verify sha256 or
 *    git sha1 and the size. A mismatch is discarded and retried once from zero.
 * 8. fsync and publish with one atomic rename into `blobs/<etag>` (an existing blob wins),
 *    then create the pointer. Without symlinks, the verified file moves into the snapshot.
 * 9. On any failure the temp file is released as `<etag>.partial` for the next run, or
 *    removed when its bytes are worthless.
 * 10. Record `refs/<revision>` atomically, now that the file it leads to is in place.
 *
 * @module
 */

import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_ATTEMPTS, DEFAULT_STALE_AFTER_MS, MAX_CONNECTIONS, SNAPSHOT_LISTING_TRUST_MS } from "../defaults.ts";
import { lookupInCache } from "../cache/lookup.ts";
import { resolveRepoContext, type RepoContext } from "../context.ts";
import { ensureFreeSpace, type SpaceTarget } from "./free_space.ts";
import { envFlag, envSecondsMs } from "../environment.ts";
import {
  AbortedError,
  CacheError,
  EntryNotFoundError,
  HubcacheError,
  IntegrityError,
  InvalidInputError,
  NetworkError,
  OfflineCacheMissError,
} from "../errors.ts";
import { acquireDownloadLock, type HeldLock } from "./lock.ts";
import { blobPath, pointerPath } from "../cache/layout.ts";
import { type FileMetadata, resolveFileMetadata } from "../hub/metadata.ts";
import type { DownloadFileOptions, DownloadProgress, DownloadWarning } from "../options.ts";
import { isFsError, type Runtime } from "../ports.ts";
import { linkPointer, placePointerFile, pointerIsComplete, type PointerMode, type Repair, symlinksSupported } from "../cache/pointers.ts";
import { fileHasAddress } from "../cache/content_hash.ts";
import { ensureCacheDirTag } from "../cache/cachedir_tag.ts";
import { markNoExist } from "../cache/no_exist.ts";
import { writeRef } from "../cache/refs.ts";
import { removeIfFile } from "../fs/entries.ts";
import { syncDirShared } from "../fs/dir_sync.ts";
import {
  type BlobsListing,
  claimPartial,
  createOwnTemp,
  discardTemp,
  type OwnedTemp,
  recoverUnlinkedTemp,
  releaseForResume,
  sweepAfterPublish,
} from "./temp_files.ts";
import { transferBlob, type TransferState } from "./transfer.ts";
import { resumablePrefix } from "./prefix_record.ts";
import type { ConnectionBudget } from "./connection_budget.ts";
import { downloadToLocalDir } from "./local_dir.ts";
import { reuseFromLocalDirs } from "./local_reuse.ts";
import { localDirOf } from "../context.ts";
import { isFileOfSize } from "../fs/transient.ts";
import { isCommitHash, validateRepoPath } from "../cache/validate.ts";

/**
 * Download one file into the cache and return the absolute path of its snapshot pointer
 * (`<cache>/models--org--name/snapshots/<commit>/<path>`).
 *
 * @example
 * ```ts
 * import { downloadFile } from "hubcache/core";
 * import { nodeRuntime } from "hubcache/adapters/node";
 *
 * const path = await downloadFile({ runtime: nodeRuntime(), repo: "openai-community/gpt2", path: "config.json" });
 * // "<cache>/models--openai-community--gpt2/snapshots/<commit>/config.json"
 * ```
 */
export async function downloadFile(options: DownloadFileOptions & { runtime: Runtime }): Promise<string> {
  const ctx = await resolveRepoContext(options);
  const path = validateRepoPath(options.path);
  const force = options.forceDownload ?? false;
  const report = progressReporter(path, options.onProgress);
  if (options.localDir !== undefined) {
    refuseReuseIntoLocalDir(options);
    return await downloadToLocalDir(ctx, localDirOf(options.localDir), path, options);
  }

  if (!force && isCommitHash(ctx.revision)) {
    const cached = await lookupInCache(ctx.runtime, ctx.layout, ctx.revision, path);
    if (cached.kind === "hit") return report.cached(cached.path);
  }
  if (ctx.offline) return await answerFromCache(ctx, path, "offline mode (HF_HUB_OFFLINE / --offline) is on");

  let meta: FileMetadata;
  try {
    meta = await resolveFileMetadata(ctx.client, { ...ctx, path }, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  } catch (err) {
    if (err instanceof EntryNotFoundError && err.commit) {
      await markNoExist(ctx.runtime, ctx.layout, err.commit, path);
      await writeRef(ctx.runtime, ctx.layout, ctx.revision, err.commit);
    }
    if (err instanceof NetworkError && !force) {
      return await answerFromCache(ctx, path, `the Hub could not be reached (${err.message})`, err);
    }
    throw err;
  }
  const pointer = await fetchIntoCache(ctx, path, meta, options);
  // The ref moves only once the file is in place: an offline reader (or a scan) following
  // refs/<revision> never meets a snapshot that lacks what was asked for.
  await writeRef(ctx.runtime, ctx.layout, ctx.revision, meta.commit);
  await ctx.runtime.checkpoint?.("ref-written");
  return pointer;
}

/**
 * What a snapshot download did once for all its files, so that no file does it again: a
 * snapshot of n small files spent most of its time on per-file copies of these steps.
 */
export interface SnapshotShared {
  /** Connections shared by the files in flight and the ranges of large files. */
  readonly budget: ConnectionBudget;
  /**
   * The snapshot's one listing of `blobs/`, made after `CACHEDIR.TAG` was written and free
   * space checked for every file: a file does neither again, and looks for its leftovers in
   * this listing instead of listing the folder itself (n listings of n names).
   */
  readonly blobs: BlobsListing;
  /**
   * Etags whose space the snapshot's up-front check counted: only these skip the check of their
   * own. Left out of that sum: content expected from a local directory (which may turn out
   * unusable and be fetched after all) and files placed again after the listing.
   */
  readonly spaceCounted: ReadonlySet<string>;
  /**
   * Etags this snapshot published since its listing: a second file with the same content looks
   * for the blob instead of fetching it again (the listing predates it).
   */
  readonly published: Set<string>;
  /**
   * The snapshot's one listing of the folders of `snapshots/<commit>/` its files go into:
   * the paths found there. A path it lacks is not looked for (one failing stat per fresh file);
   * a pointer another process made since is met when ours is created, as the race it is.
   * `undefined`: look for each pointer.
   */
  readonly pointers?: ReadonlySet<string>;
  /** `platform.now()` just before the listings were made; they say "absent" only for {@link SNAPSHOT_LISTING_TRUST_MS}. */
  readonly listedAtMs: number;
}

/** Whether the snapshot's listings may still be taken to mean a file is absent (see {@link SnapshotShared.listedAtMs}). */
function listingsCurrent(ctx: RepoContext, shared: SnapshotShared | undefined): shared is SnapshotShared {
  return shared !== undefined && ctx.runtime.platform.now() - shared.listedAtMs < SNAPSHOT_LISTING_TRUST_MS;
}

/**
 * Steps 4 to 9 for a file whose metadata is known (from a `HEAD`, or from a tree listing
 * in a snapshot download): make `snapshots/<commit>/<path>` exist with verified content.
 */
export async function fetchIntoCache(
  ctx: RepoContext,
  path: string,
  meta: FileMetadata,
  options: Omit<DownloadFileOptions, "repo" | "path">,
  shared?: SnapshotShared,
): Promise<string> {
  const force = options.forceDownload ?? false;
  const report = progressReporter(path, options.onProgress);
  validateConnections(options.connections);
  const reuseDirs = (options.reuseLocalDirs ?? []).map(localDirOf);
  if (shared === undefined) await ensureCacheDirTag(ctx.runtime, ctx.cacheDir);
  const pointer = pointerPath(ctx.layout, meta.commit, path);
  const cached = async (): Promise<string> => {
    await sweepIfBlobComplete(ctx, meta, shared?.blobs.leftovers);
    return report.cached(pointer);
  };
  // The listings stand for a look at each file only while they are recent: files another
  // process publishes meanwhile are then found (SNAPSHOT_LISTING_TRUST_MS).
  const current = listingsCurrent(ctx, shared);
  const pointerMayExist = !current || shared.pointers === undefined || shared.pointers.has(path);
  if (!force && pointerMayExist && (await pointerIsComplete(ctx.runtime, ctx.layout, meta.commit, path, meta.size))) return await cached();
  // Only a call that may write a pointer probes for symlinks: the probe needs the scratch
  // folder, and a cache answered from without writing should gain no folder (docs/DESIGN.md
  // §Living beside the Python client).
  const mode = await pointerModeFor(ctx, options);
  // A blob the snapshot's listing lacked is not looked for (one failing stat per fresh file): one
  // published since by another process costs its bytes again, and ours is then discarded for it.
  const mayExist = !current || shared.blobs.names.has(meta.etag) || shared.published.has(meta.etag);
  if (!force && mayExist && (await pointAtExistingBlob(ctx, meta, path, mode))) return await cached();
  // A forced download repairs: what it finds in place stays only if it verifies.
  const repair: Repair | null = force ? { etag: meta.etag, size: meta.size } : null;

  const lock = await takeLock(ctx, meta, path, mode, options);
  if (lock === "done") {
    if (await pointAtExistingBlob(ctx, meta, path, mode)) return await cached();
    if (await pointerIsComplete(ctx.runtime, ctx.layout, meta.commit, path, meta.size)) return await cached();
  }
  try {
    // Looked for again only if another holder was met: it may have published meanwhile.
    // Taken at the first try, the lock follows our look of a moment ago.
    const contended = lock === "done" || lock.contended === true;
    if (!force && contended && (await pointAtExistingBlob(ctx, meta, path, mode))) return await cached();
    // The snapshot's listing of blobs/ stands for this file's leftovers unless another holder
    // of the lock was met: it may have left a temp file or partial there since.
    const listing = contended ? undefined : shared?.blobs;
    // Content a local directory already holds is placed and verified instead of fetched.
    const reused = force ? null : await reuseFromLocalDirs(ctx, meta, path, reuseDirs);
    const spaceCounted = shared?.spaceCounted.has(meta.etag) === true;
    const temp = reused ?? await fetchVerifiedBlob(ctx, meta, path, options, report, undefined, shared?.budget, listing, spaceCounted);
    await publish(ctx, meta, path, mode, temp, options, repair, listing);
    shared?.published.add(meta.etag);
    if (reused) return report.cached(pointer);
  } finally {
    if (lock !== "done") await lock.release();
  }
  report.done(meta.size);
  return pointer;
}

/**
 * `reuseLocalDirs` feeds the cache; a download into a local directory takes what the cache
 * holds, and reusing one local directory for another is not built: say so rather than ignore it.
 */
export function refuseReuseIntoLocalDir(options: Pick<DownloadFileOptions, "localDir" | "reuseLocalDirs">): void {
  if (options.localDir !== undefined && (options.reuseLocalDirs?.length ?? 0) > 0) {
    throw new InvalidInputError("reuseLocalDirs (--reuse-local-dir) applies to downloads into the cache, not with localDir (--local-dir)");
  }
}

function validateConnections(connections: number | undefined): void {
  if (connections === undefined) return;
  if (!Number.isInteger(connections) || connections < 1 || connections > MAX_CONNECTIONS) {
    throw new InvalidInputError(`connections must be an integer from 1 to ${MAX_CONNECTIONS}, got ${connections}`);
  }
}

async function answerFromCache(ctx: RepoContext, path: string, why: string, cause?: unknown): Promise<string> {
  const cached = await lookupInCache(ctx.runtime, ctx.layout, ctx.revision, path);
  switch (cached.kind) {
    case "hit":
      if (cause !== undefined) {
        warn(ctx.client, {
          code: "HubUnreachable",
          path,
          message: `${why}; answering from the cache (revision '${ctx.revision}' as last downloaded, which may be out of date)`,
        });
      }
      return cached.path;
    case "absent":
      throw new EntryNotFoundError(
        `'${path}' does not exist in ${ctx.repoType} '${ctx.repoId}' at revision '${ctx.revision}' (recorded in the cache's .no_exist)`,
        cached.commit,
      );
    case "unknown-revision":
      throw new OfflineCacheMissError(
        `${why}, and revision '${ctx.revision}' of ${ctx.repoType} '${ctx.repoId}' is not in the cache at ${ctx.cacheDir}: ` +
          `download it once while online`,
        { cause },
      );
    case "missing":
      throw new OfflineCacheMissError(
        `${why}, and '${path}' of ${ctx.repoType} '${ctx.repoId}' (revision '${ctx.revision}', commit ${cached.commit}) ` +
          `is not in the cache at ${ctx.cacheDir}: download it once while online`,
        { cause },
      );
  }
}

async function pointerModeFor(ctx: RepoContext, options: Omit<DownloadFileOptions, "repo" | "path">): Promise<PointerMode> {
  if (options.symlinks === "never" || envFlag(ctx.runtime.platform, "HF_HUB_DISABLE_SYMLINKS")) return "copy";
  return (await symlinksSupported(ctx.runtime, ctx.layout)) ? "symlink" : "copy";
}

/** If `blobs/<etag>` is complete, create the pointer to it and say so. */
async function pointAtExistingBlob(ctx: RepoContext, meta: FileMetadata, path: string, mode: PointerMode): Promise<boolean> {
  const blob = blobPath(ctx.layout, meta.etag);
  // A blob of the wrong size was written by a client that does not verify (or was damaged):
  // never point at it; a fresh verified download will replace it.
  if (!(await isFileOfSize(ctx.runtime, blob, meta.size))) return false;
  try {
    await createPointer(ctx, meta, path, mode, { kind: "blob", path: blob });
  } catch (err) {
    // `cache rm`/`prune` removed the blob between our stat and the copy: download it instead.
    if (isFsError(err, "ENOENT")) return false;
    throw err;
  }
  // The same race after a symlink was made: only report success if it leads somewhere.
  return await pointerIsComplete(ctx.runtime, ctx.layout, meta.commit, path, meta.size);
}

/**
 * A cache hit can still find leftovers of this blob: the `.partial` of a download someone
 * interrupted (Ctrl-C) before another client — the Python one, or a writer on another host —
 * finished the blob, or a dead writer's temp file. Nobody will resume them now that the blob
 * is complete, so they go now rather than after a day in `cache prune`. With `leftovers` (a
 * snapshot download's one listing of `blobs/`) a blob it lists none for costs nothing more.
 */
async function sweepIfBlobComplete(ctx: RepoContext, meta: FileMetadata, leftovers?: BlobsListing["leftovers"]): Promise<void> {
  if (leftovers && !leftovers.has(meta.etag)) return;
  const info = await ctx.runtime.fs.stat(blobPath(ctx.layout, meta.etag)).catch(() => null);
  if (info?.kind === "file" && info.size === meta.size) await sweepAfterPublish(ctx.runtime, ctx.layout.blobsDir, meta.etag, leftovers);
}

async function createPointer(
  ctx: RepoContext,
  meta: FileMetadata,
  path: string,
  mode: PointerMode,
  source: { kind: "fresh" | "blob"; path: string },
  repair: Repair | null = null,
): Promise<void> {
  if (mode === "symlink") {
    if (source.kind === "fresh") throw new CacheError("internal: a fresh temp file must be published before linking");
    if ((await linkPointer(ctx.runtime, ctx.layout, meta.commit, path, meta.etag, repair)) === "linked") return;
  }
  await placePointerFile(ctx.runtime, ctx.layout, meta.commit, path, source, repair);
}

async function takeLock(
  ctx: RepoContext,
  meta: FileMetadata,
  path: string,
  mode: PointerMode,
  options: Omit<DownloadFileOptions, "repo" | "path">,
): Promise<HeldLock | "done"> {
  const none: HeldLock = { release: async () => {} };
  if (options.lock === "none") return none;
  try {
    return await acquireDownloadLock(ctx.runtime, ctx.layout, meta.etag, {
      signal: ctx.signal,
      // fetchIntoCache looked for the blob and the pointer right before taking the lock.
      checkedJustNow: true,
      isDone: async () =>
        !options.forceDownload &&
        ((await ctx.runtime.fs.stat(blobPath(ctx.layout, meta.etag)).then((i) => i.size === meta.size, () => false)) ||
          (mode === "copy" && (await pointerIsComplete(ctx.runtime, ctx.layout, meta.commit, path, meta.size)))),
    });
  } catch (err) {
    if (err instanceof HubcacheError) throw err;
    // The lock is an optimisation: a cache whose lock folder we cannot use still works.
    return none;
  }
}

/** Where {@link fetchVerifiedBlob} keeps its temp files: `blobs/`, or a local directory's bookkeeping folder. */
export interface TempPlace {
  /** The folder of our temp files and `<etag>.partial`. */
  readonly dir: string;
  /** Other clients' shared temp files for this content there, claimed like legacy ones. */
  readonly foreignNames?: readonly string[];
  /** Whose free space is checked before fetching (default: the cache's `blobs/`). */
  readonly space?: SpaceTarget;
}

/**
 * Steps 6 and 7: a temp file of ours holding exactly the verified content. A mismatch is
 * never published: the bytes are thrown away and the download retried from zero (a claimed
 * partial may have been the bad part); a second mismatch from zero is an IntegrityError.
 * With `listing` (a snapshot's, see {@link SnapshotShared}) leftovers are looked for in it;
 * with `spaceCounted` the snapshot's up-front check already counted this blob's space.
 */
export async function fetchVerifiedBlob(
  ctx: RepoContext,
  meta: FileMetadata,
  path: string,
  options: Omit<DownloadFileOptions, "repo" | "path">,
  report: ProgressReporter,
  place: TempPlace = { dir: ctx.layout.blobsDir },
  budget?: ConnectionBudget,
  listing?: BlobsListing,
  spaceCounted = false,
): Promise<OwnedTemp> {
  const { runtime } = ctx;
  const tempDir = place.dir;
  // A snapshot judged the space of its files at once: not again for those it counted.
  if (!spaceCounted) {
    await ensureFreeSpace(ctx, [{ ...meta, path }], `'${path}' of ${ctx.repoType} '${ctx.repoId}'`, options.forceDownload ?? false, place.space);
  }
  // No ensureDir(tempDir) here: the temp file's exclusive create makes the folder when it is
  // missing (createInDir), and a missing folder has nothing to claim.
  // Verification failures of downloads that started from zero; bytes inherited from a
  // claimed partial do not use up the one retry (re-reading them cost no bandwidth).
  let failedFromZero = 0;
  for (let round = 1;; round++) {
    const temp = (round === 1
      ? await claimPartial(runtime, tempDir, meta.etag, options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS, place.foreignNames, listing && (listing.leftovers.get(meta.etag) ?? []))
      : null) ?? await createOwnTemp(runtime, tempDir, meta.etag);
    // A parallel writer's file has holes: only its recorded prefix is one (§Parallel ranges).
    let written: number;
    try {
      written = await resumablePrefix(temp.handle, temp.claimedBytes, meta.size);
    } catch (err) {
      // A read of the claimed file failed (EIO, ESTALE): the file stays, as a dead writer's once
      // we exit, for a later claim; its handle must not stay open for the life of the process.
      await temp.handle.close().catch(() => {});
      throw err;
    }
    const state: TransferState = { written };
    await runtime.checkpoint?.("temp-created");
    report.start(meta.size, state.written);
    let result;
    try {
      result = await transferBlob({
        client: ctx.client,
        runtime,
        subject: { ...ctx, path },
        maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        idleTimeoutMs: options.idleTimeoutMs ?? envSecondsMs(ctx.runtime.platform, "HF_HUB_DOWNLOAD_TIMEOUT") ?? DEFAULT_IDLE_TIMEOUT_MS,
        connections: options.connections,
        budget,
        onBytes: (done) => {
          report.bytes(done);
          return runtime.checkpoint?.("bytes-written");
        },
      }, temp.handle, meta, state);
    } catch (err) {
      await releaseForResume(runtime, temp, tempDir, meta.etag, state.written);
      await runtime.checkpoint?.("partial-released");
      throw err instanceof HubcacheError || isFsError(err) || !ctx.signal?.aborted ? err : new AbortedError(undefined, { cause: err });
    }
    if (result.digest === meta.etag && result.size === meta.size) {
      try {
        // The handle stays open until the file is published: if another program deletes our
        // temp file by name meanwhile, the verified bytes can still be read from it.
        await temp.handle.sync();
      } catch (err) {
        await discardTemp(runtime, temp);
        throw err;
      }
      await runtime.checkpoint?.("fsynced");
      return temp;
    }
    await discardTemp(runtime, temp);
    if (temp.claimedBytes === 0) failedFromZero++;
    if (failedFromZero >= 2) {
      throw new IntegrityError(
        `'${path}' from ${ctx.repoType} '${ctx.repoId}' failed verification twice ` +
          `(expected ${meta.etag} and ${meta.size} bytes, got ${result.digest} and ${result.size} bytes); ` +
          `nothing was written to the cache. The server or a proxy is altering the file: retry later or report it`,
        meta.etag,
        result.digest,
      );
    }
  }
}

/**
 * Step 8: one atomic rename into place, then the pointer. `temp`'s handle is still open and
 * is closed here, whatever happens.
 */
async function publish(
  ctx: RepoContext,
  meta: FileMetadata,
  path: string,
  mode: PointerMode,
  temp: OwnedTemp,
  options: Omit<DownloadFileOptions, "repo" | "path">,
  repair: Repair | null,
  listing?: BlobsListing,
): Promise<void> {
  const { runtime, layout } = ctx;
  let current = temp;
  try {
    try {
      await moveIntoPlace(ctx, meta, path, mode, current, repair);
    } catch (err) {
      if (!isFsError(err, "ENOENT") || (await runtime.fs.lstat(current.path).then(() => true, () => false))) throw err;
      // Our temp file's name is gone although we never let go of it: another program deleted
      // it (`hf cache prune` removes every blobs/*.incomplete, live writers' included). Its
      // verified bytes are still in our open handle: give them a new name and publish that.
      const renamed = await recoverUnlinkedTemp(runtime, layout.blobsDir, meta.etag, meta.size, current);
      if (renamed === null) throw err;
      await current.handle.close().catch(() => {});
      current = renamed;
      warn(options, {
        code: "TempFileDeleted",
        path,
        message: `another program deleted the temp file of '${path}' while it was being downloaded ` +
          `(${temp.path}; 'hf cache prune' does that to every *.incomplete file); ` +
          `its ${meta.size} verified bytes were recovered from the open file and published`,
      });
      await moveIntoPlace(ctx, meta, path, mode, current, repair);
    }
  } catch (err) {
    await keepVerifiedBytes(ctx, meta, current);
    throw err;
  } finally {
    await current.handle.close().catch(() => {});
  }
  // With a snapshot's listing, leftovers that appeared since are left for the next sweep or
  // `cache prune`, as for a file found cached (sweepIfBlobComplete).
  if (mode === "copy") {
    await runtime.checkpoint?.("pointer-created");
    await sweepAfterPublish(runtime, layout.blobsDir, meta.etag, listing?.leftovers);
    return;
  }
  await sweepAfterPublish(runtime, layout.blobsDir, meta.etag, listing?.leftovers);
  await createPointer(ctx, meta, path, mode, { kind: "blob", path: blobPath(layout, meta.etag) }, repair);
  await runtime.checkpoint?.("pointer-created");
}

/**
 * The rename of step 8: into `blobs/<etag>`, or — without symlinks — straight to the snapshot
 * path, so the verified file is stored once (hf-hub PR #172). A blob already there wins —
 * unless we are repairing and it fails verification: then ours replaces it by the same rename.
 */
async function moveIntoPlace(
  ctx: RepoContext,
  meta: FileMetadata,
  path: string,
  mode: PointerMode,
  temp: OwnedTemp,
  repair: Repair | null,
): Promise<void> {
  const { runtime, layout } = ctx;
  if (mode === "copy") {
    await placePointerFile(runtime, layout, meta.commit, path, { kind: "fresh", path: temp.path }, repair);
    return;
  }
  const blob = blobPath(layout, meta.etag);
  if (await isFileOfSize(runtime, blob, meta.size) && (repair === null || (await fileHasAddress(runtime, blob, meta.etag, meta.size)))) {
    // Another writer published first: same bytes by §Invariants 1, theirs wins. (A blob of
    // that size written by a client that does not verify, or damaged on disk since, is only
    // looked at when repairing: hashing every existing blob would double each download's reads.)
    await removeIfFile(runtime, temp.path).catch(() => {});
    return;
  }
  await runtime.fs.rename(temp.path, blob);
  // Shared with the other files of a snapshot publishing at the same moment (one fsync of
  // blobs/ for all of them), but always one that started after our rename.
  await syncDirShared(runtime, layout.blobsDir);
  await runtime.checkpoint?.("renamed");
}

/** Tell the caller's `onWarning`, which must not break a download by throwing. */
export function warn(options: Pick<DownloadFileOptions, "onWarning">, warning: DownloadWarning): void {
  try {
    options.onWarning?.(warning);
  } catch { /* a diagnostics callback must not break a download */ }
}

/**
 * Publishing failed after the bytes were verified (EIO, EXDEV, ENOSPC on rename): they are
 * worth keeping. Released as `<etag>.partial`, the next run claims the whole file, re-hashes
 * it and publishes it without downloading a byte.
 */
async function keepVerifiedBytes(ctx: RepoContext, meta: FileMetadata, temp: OwnedTemp): Promise<void> {
  await releaseForResume(ctx.runtime, temp, ctx.layout.blobsDir, meta.etag, meta.size);
  await ctx.runtime.checkpoint?.("partial-released");
}

/** Turns a download's events into `DownloadProgress` reports. */
export interface ProgressReporter {
  cached(pointer: string): string;
  start(total: number, resumedFrom: number): void;
  bytes(done: number): void;
  done(total: number): void;
}

/** A {@link ProgressReporter} for `path` that never lets the callback break the download. */
export function progressReporter(path: string, onProgress: ((p: DownloadProgress) => void) | undefined): ProgressReporter {
  let total = 0;
  let resumedFrom = 0;
  const emit = (p: DownloadProgress): void => {
    try {
      onProgress?.(p);
    } catch { /* a progress callback must not break a download */ }
  };
  return {
    cached(pointer) {
      emit({ path, bytesDone: 0, bytesTotal: 0, resumedFrom: 0, phase: "cached" });
      return pointer;
    },
    start(t, r) {
      total = t;
      resumedFrom = r;
      emit({ path, bytesDone: r, bytesTotal: t, resumedFrom: r, phase: "download" });
    },
    bytes(done) {
      emit({ path, bytesDone: done, bytesTotal: total, resumedFrom, phase: "download" });
    },
    done(t) {
      emit({ path, bytesDone: t, bytesTotal: t, resumedFrom, phase: "done" });
    },
  };
}
