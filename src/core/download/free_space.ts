/**
 * Free space before a download, as huggingface_hub checks it (`_check_disk_space`), but
 * refusing instead of warning: the bytes of a download that cannot finish stay on the disk
 * as a partial (kept for resume), which is what fills it.
 *
 * @module
 */

import { partialBlobName } from "../cache/layout.ts";
import type { RepoContext } from "../context.ts";
import { NotEnoughSpaceError } from "../errors.ts";
import { statOrNull } from "../fs/entries.ts";
import { mapBounded } from "../concurrency.ts";
import { CACHE_SCAN_CONCURRENCY } from "../defaults.ts";
import { joinPath } from "../fs/paths.ts";
import { localFilePaths } from "../local_dir/layout.ts";
import { trustedLocalMetadata } from "../local_dir/metadata.ts";

/** A blob a download is about to fetch (`path`: the repo file, which a local directory needs). */
export interface NeededBlob {
  readonly etag: string;
  readonly size: number;
  readonly path?: string;
}

/** Where a download's bytes land: the cache's `blobs/`, or a local directory. */
export interface SpaceTarget {
  /** The folder whose file system is asked (its nearest existing folder: a first download has none). */
  readonly dir: string;
  /** Whether `blob` is already complete there (needs nothing). */
  isComplete(blob: NeededBlob): Promise<boolean>;
  /** The bytes of `blob`'s `.partial` there, which a resume keeps (0 when there is none). */
  partialBytes(blob: NeededBlob): Promise<number>;
  /** For the message: where the space is missing (`in <folder>`), and what to do besides freeing it. */
  advice(partials: number): { where: string; next: string };
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * The cache's `blobs/` as a {@link SpaceTarget}. `listed`: the names a listing of `blobs/` just
 * found (a snapshot download lists it once); a blob or partial it does not name is not looked
 * at, so a fresh download of n files costs no stat per file.
 */
export function cacheSpace(ctx: RepoContext, listed?: ReadonlySet<string>): SpaceTarget {
  const sizeOf = async (name: string): Promise<number | undefined> =>
    listed !== undefined && !listed.has(name) ? undefined : (await statOrNull(ctx.runtime, joinPath(ctx.layout.blobsDir, name)))?.size;
  return {
    dir: ctx.layout.blobsDir,
    isComplete: async (b) => (await sizeOf(b.etag)) === b.size,
    partialBytes: async (b) => (await sizeOf(partialBlobName(b.etag))) ?? 0,
    advice: (partials) => ({
      where: `in ${ctx.cacheDir}`,
      next: "or use another --cache-dir (HF_HUB_CACHE)" +
        (partials > 0
          ? `; the ${mb(partials)} already downloaded are kept for resume ('hubcache cache ls' lists them, 'hubcache cache prune --older-than 0s -y' removes them)`
          : ""),
    }),
  };
}

/**
 * A local directory (`--local-dir DIR`) as a {@link SpaceTarget}: a file is complete when its
 * record names the etag over an unchanged file of the right size (the cheap check, no hashing);
 * its partial lives in the bookkeeping folder beside the record.
 */
export function localDirSpace(ctx: RepoContext, localDir: string): SpaceTarget {
  const pathsOf = (b: NeededBlob) => localFilePaths(localDir, b.path ?? "");
  return {
    dir: localDir,
    isComplete: async (b) => {
      const trusted = await trustedLocalMetadata(ctx.runtime, pathsOf(b));
      return trusted !== null && trusted.metadata.etag === b.etag && trusted.file.size === b.size;
    },
    partialBytes: async (b) => (await statOrNull(ctx.runtime, joinPath(pathsOf(b).downloadDir, partialBlobName(b.etag))))?.size ?? 0,
    advice: (partials) => ({
      where: `in ${localDir}`,
      next: "or use another --local-dir" +
        (partials > 0 ? `; the ${mb(partials)} already downloaded are kept for resume in ${localDir}/.cache/huggingface/download` : ""),
    }),
  };
}

/**
 * Throw {@link NotEnoughSpaceError} when the file system of `target` (default: the cache's
 * `blobs/`) has less free space than `blobs` still need: each blob's size, less the bytes of
 * its partial download (a resume only adds the rest), nothing for a blob already complete.
 * Says nothing when the file system cannot tell (no `freeSpace` in the adapter, or it fails).
 * Returns the etags whose space it counted (not those already complete), so that a snapshot's
 * files checked here are not checked again one by one, and only they.
 */
export async function ensureFreeSpace(
  ctx: RepoContext,
  blobs: readonly NeededBlob[],
  what: string,
  force = false,
  target: SpaceTarget = cacheSpace(ctx),
): Promise<ReadonlySet<string>> {
  const fs = ctx.runtime.fs;
  const counted = new Set<string>();
  if (!fs.freeSpace) return counted;
  let needed = 0;
  let partials = 0;
  // A few stats in flight rather than one await per blob: a snapshot of n cached files asks n.
  await mapBounded(blobs, CACHE_SCAN_CONCURRENCY, async (b) => {
    if (!force && (await target.isComplete(b))) return;
    const partial = await target.partialBytes(b);
    partials += Math.min(partial, b.size);
    needed += Math.max(0, b.size - partial);
    counted.add(b.etag);
  });
  if (needed === 0) return counted;
  let available: number;
  try {
    available = await fs.freeSpace(await nearestExisting(ctx, target.dir));
  } catch {
    return counted; // a file system that cannot say: the download itself will tell
  }
  if (available >= needed) return counted;
  const { where, next } = target.advice(partials);
  throw new NotEnoughSpaceError(
    `not enough free space for ${what}: it needs ${mb(needed)} (${needed} bytes) more ${where}, ` +
      `which has ${mb(available)} free; free ${mb(needed - available)} ${next}`,
    needed,
    available,
  );
}

/** `dir` or its closest existing parent: statfs needs a path that exists (a first download has no blobs/ yet). */
async function nearestExisting(ctx: RepoContext, dir: string): Promise<string> {
  let current = dir;
  while (current !== "/" && (await statOrNull(ctx.runtime, current)) === null) current = current.slice(0, current.lastIndexOf("/")) || "/";
  return current;
}
