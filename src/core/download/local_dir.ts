/**
 * Downloading into a local directory (`--local-dir DIR`, `localDir`), the equivalent of
 * `hf_hub_download(local_dir=…)`: the file lands at `DIR/<path>` as a regular file, with the
 * Python client's record `DIR/.cache/huggingface/download/<path>.metadata` beside it, so
 * `hf download --local-dir` and hubcache each recognise the other's up-to-date files
 * (docs/DESIGN.md §Local directories). Read top to bottom:
 *
 * 1. A commit revision whose record names that commit, for a file unchanged since the record,
 *    needs no request (the Python client's rule).
 * 2. Offline, or the Hub unreachable: the file already there is the answer.
 * 3. `HEAD` the file. Up to date means: a regular file of the right size whose record names
 *    the etag and which was not modified after the record — or, without such a record (none,
 *    half-written, older than the file), whose bytes hash to the etag. Never trusted otherwise.
 * 4. The de-duplication lock beside the record (ours, and the Python client's flock).
 * 5. Content already in the Hub cache (a blob, or a no-symlink snapshot file) is placed by
 *    reflink, else (opted in) hard link, else a copy, then hashed: zero bytes fetched. Otherwise the download engine yields a verified temp file
 *    of ours in the bookkeeping folder (claimed resume, unique names, as in the cache).
 * 6. One rename puts the file at `DIR/<path>` (through real folders only, never a symlink
 *    that could lead outside DIR), then the record is written whole (temp file + rename).
 *
 * @module
 */

import { DEFAULT_MAX_ATTEMPTS, LOCK_STALE_AFTER_MS } from "../defaults.ts";
import type { RepoContext } from "../context.ts";
import { CacheError, HubcacheError, NetworkError, OfflineCacheMissError } from "../errors.ts";
import { blobPath, pointerPath } from "../cache/layout.ts";
import { fileHasAddress } from "../cache/content_hash.ts";
import { ensureCacheDirTag } from "../cache/cachedir_tag.ts";
import { isCommitHash } from "../cache/validate.ts";
import { writeFileAtomic } from "../fs/atomic_write.ts";
import { ensureDirWithin } from "../fs/contained.ts";
import { lstatOrNull, readdirOrEmpty, removeIfFile } from "../fs/entries.ts";
import { parseScratchName } from "../fs/scratch.ts";
import { writerState } from "../writer_identity.ts";
import { dirname, joinPath } from "../fs/paths.ts";
import { isFileOfSize } from "../fs/transient.ts";
import { type FileMetadata, resolveFileMetadata } from "../hub/metadata.ts";
import { type LocalFilePaths, localFilePaths, pythonIncompleteName } from "../local_dir/layout.ts";
import { readLocalMetadata, trustedLocalMetadata, unchangedSince, writeLocalMetadata } from "../local_dir/metadata.ts";
import type { DownloadFileOptions } from "../options.ts";
import { isFsError, type Runtime } from "../ports.ts";
import { fetchVerifiedBlob, progressReporter } from "./download.ts";
import { ensureFreeSpace, localDirSpace, type SpaceTarget } from "./free_space.ts";
import { acquireLock, type HeldLock, lockIsStale } from "./lock.ts";
import { discardTemp, type OwnedTemp, placeVerifiedCopy, releaseForResume, sweepAfterPublish } from "./temp_files.ts";

type FileOptions = Omit<DownloadFileOptions, "repo" | "path">;

/** `downloadFile` with `localDir`: returns `DIR/<path>`. */
export async function downloadToLocalDir(ctx: RepoContext, localDir: string, path: string, options: FileOptions): Promise<string> {
  const paths = localFilePaths(localDir, path);
  const force = options.forceDownload ?? false;
  const report = progressReporter(paths.path, options.onProgress);
  if (!force && isCommitHash(ctx.revision)) {
    const trusted = await trustedLocalMetadata(ctx.runtime, paths);
    if (trusted && trusted.metadata.commit === ctx.revision) return report.cached(paths.file);
  }
  if (ctx.offline) return await answerFromLocalDir(ctx, paths, "offline mode (HF_HUB_OFFLINE / --offline) is on");
  let meta: FileMetadata;
  try {
    meta = await resolveFileMetadata(ctx.client, { ...ctx, path: paths.path }, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  } catch (err) {
    if (err instanceof NetworkError && !force) return await answerFromLocalDir(ctx, paths, `the Hub could not be reached (${err.message})`, err);
    throw err;
  }
  return await fetchIntoLocalDir(ctx, localDir, paths.path, meta, options);
}

/** Steps 3 to 6 for a file whose metadata is known (a `HEAD`, or a snapshot's tree listing). */
export async function fetchIntoLocalDir(
  ctx: RepoContext,
  localDir: string,
  path: string,
  meta: FileMetadata,
  options: FileOptions,
): Promise<string> {
  const { runtime } = ctx;
  const paths = localFilePaths(localDir, path);
  const force = options.forceDownload ?? false;
  const report = progressReporter(paths.path, options.onProgress);
  await ensureBookkeeping(runtime, paths);
  const cached = async (): Promise<string> => {
    await sweepLocalLeftovers(runtime, paths, meta.etag);
    return report.cached(paths.file);
  };
  if (!force && (await upToDate(runtime, paths, meta))) return await cached();

  const lock = await takeLocalLock(ctx, paths, meta, options);
  try {
    // Another writer may have finished while we waited for the lock.
    if (!force && (await upToDate(runtime, paths, meta))) return await cached();
    const space = localDirSpace(ctx, localDir);
    const copied = force ? null : await copyFromCache(ctx, paths, meta, options.hardLinks ?? false, space);
    if (copied) report.cached(paths.file);
    const temp = copied?.temp ?? await fetchVerifiedBlob(ctx, meta, paths.path, options, report, {
      dir: paths.downloadDir,
      foreignNames: [await pythonIncompleteName(runtime, paths, meta.etag)],
      space,
    });
    await publishLocal(runtime, paths, meta, temp, copied?.shared ?? false);
    if (!copied) report.done(meta.size);
  } finally {
    if (lock !== "done") await lock.release();
  }
  return paths.file;
}

async function answerFromLocalDir(ctx: RepoContext, paths: LocalFilePaths, why: string, cause?: unknown): Promise<string> {
  const info = await lstatOrNull(ctx.runtime, paths.file);
  if (info?.kind === "file") return paths.file;
  throw new OfflineCacheMissError(
    `${why}, and '${paths.path}' of ${ctx.repoType} '${ctx.repoId}' is not in the local directory ${paths.root}: ` +
      `download it once while online`,
    { cause },
  );
}

/**
 * `.cache/huggingface/` with the Python client's `.gitignore` (`*`: git ignores the
 * bookkeeping) and a `CACHEDIR.TAG`, and the record's folder — reached through real folders only.
 */
async function ensureBookkeeping(runtime: Runtime, paths: LocalFilePaths): Promise<void> {
  await ensureDirWithin(runtime, paths.root, dirname(paths.metadata).slice(paths.root.length + 1));
  const gitignore = joinPath(paths.bookkeepingDir, ".gitignore");
  if ((await lstatOrNull(runtime, gitignore)) === null) {
    await writeFileAtomic(runtime, paths.tmpDir, gitignore, new TextEncoder().encode("*"), "gitignore").catch(() => {});
  }
  await ensureCacheDirTag(runtime, paths.bookkeepingDir);
}

/**
 * Whether `DIR/<path>` already holds `meta`'s content. A record naming the etag is believed
 * only for a regular file of the right size not modified after it; without one (or when the
 * file changed since) the bytes are hashed — for git-sha1 files too, which the Python client
 * re-downloads instead. A match refreshes the record.
 */
async function upToDate(runtime: Runtime, paths: LocalFilePaths, meta: FileMetadata): Promise<boolean> {
  const file = await lstatOrNull(runtime, paths.file);
  if (file === null || file.kind !== "file" || file.size !== meta.size) return false;
  const record = await readLocalMetadata(runtime, paths);
  if (record !== null && unchangedSince(file, record)) {
    if (record.etag !== meta.etag) return false; // the file we recorded is an older version
    if (record.commit !== meta.commit) await writeLocalMetadata(runtime, paths, meta.commit, meta.etag);
    return true;
  }
  if (!(await fileHasAddress(runtime, paths.file, meta.etag, meta.size))) return false;
  await writeLocalMetadata(runtime, paths, meta.commit, meta.etag);
  return true;
}

async function takeLocalLock(ctx: RepoContext, paths: LocalFilePaths, meta: FileMetadata, options: FileOptions): Promise<HeldLock | "done"> {
  const none: HeldLock = { release: async () => {} };
  if (options.lock === "none") return none;
  try {
    return await acquireLock(ctx.runtime, { dir: paths.downloadDir, own: paths.ownLock, python: paths.pythonLock }, {
      signal: ctx.signal,
      // Cheap while waiting: a fresh record of our etag over a file of the right size.
      isDone: async () => {
        if (options.forceDownload) return false;
        const trusted = await trustedLocalMetadata(ctx.runtime, paths);
        return trusted !== null && trusted.metadata.etag === meta.etag && trusted.file.size === meta.size;
      },
    });
  } catch (err) {
    if (err instanceof HubcacheError) throw err;
    return none; // the lock is an optimisation (docs/DESIGN.md §Invariants 6)
  }
}

/**
 * The content is already in the Hub cache (`blobs/<etag>`, or a no-symlink snapshot file): place
 * it without fetching — by reflink (no second copy on disk), else by hard link if the user opted
 * in, else by a copy (which still reflinks where the file system can) — and hash what was placed,
 * so nothing unverified is published. `null` when the cache has no such file or it does not
 * verify. `shared`: the temp file is the cache's own inode (a hard link) and must never be
 * written or kept for resume.
 */
async function copyFromCache(
  ctx: RepoContext,
  paths: LocalFilePaths,
  meta: FileMetadata,
  hardLink: boolean,
  space: SpaceTarget,
): Promise<{ temp: OwnedTemp; shared: boolean } | null> {
  const { runtime, layout } = ctx;
  for (const source of [blobPath(layout, meta.etag), pointerPath(layout, meta.commit, paths.path)]) {
    if (!(await isFileOfSize(runtime, source, meta.size))) continue;
    try {
      const placed = await placeVerifiedCopy(runtime, source, paths.downloadDir, meta.etag, meta.size, {
        hardLink,
        // A reflink or a hard link needs no space; a copy needs what a download would.
        beforeCopy: () => ensureFreeSpace(ctx, [{ ...meta, path: paths.path }], `'${paths.path}' of ${ctx.repoType} '${ctx.repoId}'`, true, space),
      });
      if (placed) return placed;
    } catch (err) {
      if (isFsError(err, "ENOENT")) continue; // removed meanwhile (`cache rm`, `prune`): try the next, or download
      throw err;
    }
  }
  return null;
}

/**
 * Step 6: the verified temp file becomes `DIR/<path>` by one rename (replacing whatever was
 * there: an outdated or damaged file, or a symlink — rename replaces the link, never writes
 * through it), then the record is written whole. A crash between the two leaves a file newer
 * than its record, which the next run hashes instead of trusting.
 */
async function publishLocal(runtime: Runtime, paths: LocalFilePaths, meta: FileMetadata, temp: OwnedTemp, shared: boolean): Promise<void> {
  try {
    await ensureDirWithin(runtime, paths.root, parentOf(paths.path));
    const existing = await lstatOrNull(runtime, paths.file);
    if (existing?.kind === "directory") {
      throw new CacheError(`cannot place '${paths.file}': a directory is in the way; remove it and retry`);
    }
    await runtime.fs.rename(temp.path, paths.file);
  } catch (err) {
    // The verified bytes stay for the next run (claimed and re-hashed, nothing fetched) — unless
    // they are the cache's own inode, which no claimer may ever write into.
    if (shared) await discardTemp(runtime, temp);
    else await releaseForResume(runtime, temp, paths.downloadDir, meta.etag, meta.size);
    throw err;
  } finally {
    await temp.handle.close().catch(() => {});
  }
  await runtime.fs.syncDir(dirname(paths.file));
  await runtime.checkpoint?.("renamed");
  await writeLocalMetadata(runtime, paths, meta.commit, meta.etag);
  await runtime.checkpoint?.("pointer-created");
  await sweepLocalLeftovers(runtime, paths, meta.etag);
}

/**
 * Once `DIR/<path>` is in place, what killed writers left for it is worthless: partials and dead
 * writers' temp files of its content (as after a publish in the cache), their scratch files, and
 * a lock whose holder is gone. `cache prune` never sees a local directory, so this is the only
 * sweep there is. Best effort: never throws. (A lock judged dead may be replaced by a new holder
 * between the look and the removal: that costs at most a duplicate download, §Invariants 6.)
 * The scratch folder itself stays, as the cache's does (`fs/scratch.ts`): removing it when empty
 * raced other writers' metadata writes — on GlusterFS a folder removed through one mount still
 * looked present through the other, and that writer's create failed with `ENOENT` past every retry.
 */
async function sweepLocalLeftovers(runtime: Runtime, paths: LocalFilePaths, etag: string): Promise<void> {
  await sweepAfterPublish(runtime, paths.downloadDir, etag);
  for (const name of await readdirOrEmpty(runtime, paths.tmpDir).catch(() => [] as string[])) {
    if (writerState(runtime.platform, parseScratchName(name)) === "dead") await removeIfFile(runtime, joinPath(paths.tmpDir, name)).catch(() => {});
  }
  if (await lockIsStale(runtime, paths.ownLock, LOCK_STALE_AFTER_MS).catch(() => false)) {
    await removeIfFile(runtime, paths.ownLock).catch(() => {});
  }
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** Used by snapshots: the local tree-listing location the Python client reads (`DIR/.cache/huggingface/trees`). */
export function localTreesDir(localDir: string): { treesDir: string; tmpDir: string } {
  return { treesDir: joinPath(localDir, ".cache", "huggingface", "trees"), tmpDir: joinPath(localDir, ".cache", "huggingface", ".hubcache-tmp") };
}
