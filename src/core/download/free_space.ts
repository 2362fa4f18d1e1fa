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

/** A blob a download is about to fetch. */
export interface NeededBlob {
  readonly etag: string;
  readonly size: number;
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * Throw {@link NotEnoughSpaceError} when the file system holding `blobs/` has less free space
 * than `blobs` still need: each blob's size, less the bytes of its partial download (a resume
 * only adds the rest), nothing for a blob already complete. Says nothing when the file system
 * cannot tell (no `freeSpace` in the adapter, or it fails).
 *
 * `listed`: the names a listing of `blobs/` just found (a snapshot download lists it once);
 * a blob or partial it does not name is not looked at, so a fresh download of n files costs
 * no stat per file.
 */
export async function ensureFreeSpace(
  ctx: RepoContext,
  blobs: readonly NeededBlob[],
  what: string,
  force = false,
  listed?: ReadonlySet<string>,
): Promise<void> {
  const fs = ctx.runtime.fs;
  if (!fs.freeSpace) return;
  const sizeOf = async (name: string): Promise<number | undefined> =>
    listed !== undefined && !listed.has(name) ? undefined : (await statOrNull(ctx.runtime, joinPath(ctx.layout.blobsDir, name)))?.size;
  let needed = 0;
  let partials = 0;
  // A few stats in flight rather than one await per blob: a snapshot of n cached files asks n.
  await mapBounded(blobs, CACHE_SCAN_CONCURRENCY, async (b) => {
    if (!force && (await sizeOf(b.etag)) === b.size) return;
    const partial = (await sizeOf(partialBlobName(b.etag))) ?? 0;
    partials += Math.min(partial, b.size);
    needed += Math.max(0, b.size - partial);
  });
  if (needed === 0) return;
  let available: number;
  try {
    available = await fs.freeSpace(await nearestExisting(ctx, ctx.layout.blobsDir));
  } catch {
    return; // a file system that cannot say: the download itself will tell
  }
  if (available >= needed) return;
  const kept = partials > 0
    ? `; the ${mb(partials)} already downloaded are kept for resume ('hubcache cache ls' lists them, 'hubcache cache prune --older-than 0s -y' removes them)`
    : "";
  throw new NotEnoughSpaceError(
    `not enough free space for ${what}: it needs ${mb(needed)} (${needed} bytes) more in ${ctx.cacheDir}, ` +
      `which has ${mb(available)} free; free ${mb(needed - available)} or use another --cache-dir (HF_HUB_CACHE)${kept}`,
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
