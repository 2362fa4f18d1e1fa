/**
 * Content that only a local directory holds, reused for a download into the cache
 * (`reuseLocalDirs`, `--reuse-local-dir DIR`): "when the content is already in the Hub cache
 * (or in the local dir), never fetch it again" (docs/DESIGN.md §Local directories).
 *
 * A local directory is the user's: its files may have been edited, truncated or replaced by a
 * link since `hf download --local-dir` (or hubcache) wrote them. So a local file is only a
 * candidate, never trusted:
 *
 * 1. `DIR/<path>` must be a regular file reached through real folders (a symlink there or on
 *    the way is not followed out of DIR), of the right size, whose record
 *    `DIR/.cache/huggingface/download/<path>.metadata` names the etag (any commit: the etag is
 *    the content) and which was not modified after the record (the Python client's mtime rule).
 * 2. Its bytes are placed into a temp file of our own in `blobs/` — by reflink where the file
 *    system can (a separate inode sharing extents: a later edit of the user's file does not
 *    reach it), else by a copy hashed on the way — and the placed bytes are hashed; only a
 *    match is handed on, to be published by the cache's one path (fsync, one rename, an
 *    existing blob wins). A mismatch removes our temp file and the download goes to the network.
 *
 * Never a hard link, even with `hardLinks`: `blobs/<etag>` would then be the user's editable
 * inode, and one edit in place would silently break §Invariants 1 for every reader of the
 * cache. (Placing cache content into a local dir by hard link is the user's informed choice
 * about their own file; this would be about everyone's.)
 *
 * @module
 */

import type { RepoContext } from "../context.ts";
import { InvalidInputError } from "../errors.ts";
import { lstatWithin } from "../fs/contained.ts";
import { ensureDir } from "../fs/dirs.ts";
import type { FileMetadata } from "../hub/metadata.ts";
import { localFilePaths } from "../local_dir/layout.ts";
import { readLocalMetadata, unchangedSince } from "../local_dir/metadata.ts";
import { isFsError, type Runtime } from "../ports.ts";
import { ensureFreeSpace } from "./free_space.ts";
import { type OwnedTemp, placeVerifiedCopy } from "./temp_files.ts";

/**
 * A verified temp file of ours in `blobs/` holding `meta`'s content, taken from the first of
 * `dirs` whose `<path>` qualifies (see the module); `null` when none does — then the caller
 * downloads. Errors of one local directory (unreadable, vanished mid-copy) count as "not
 * there": the network is always the fallback.
 */
export async function reuseFromLocalDirs(ctx: RepoContext, meta: FileMetadata, path: string, dirs: readonly string[]): Promise<OwnedTemp | null> {
  for (const dir of dirs) {
    const source = await qualifyingLocalFile(ctx.runtime, dir, path, meta);
    if (source === null) continue;
    try {
      const temp = await placeVerified(ctx, meta, path, source);
      if (temp !== null) return temp;
    } catch (err) {
      if (!isFsError(err)) throw err;
      // The user's folder changed under us (file removed, permissions): try the next, or fetch.
    }
  }
  return null;
}

/**
 * Whether one of `dirs` holds a candidate for `path` with this content (step 1 only: cheap, no
 * hashing). A whole-repo download leaves such files out of its up-front space check.
 */
export async function hasReusableLocalFile(runtime: Runtime, dirs: readonly string[], path: string, content: Pick<FileMetadata, "etag" | "size">): Promise<boolean> {
  for (const dir of dirs) if ((await qualifyingLocalFile(runtime, dir, path, content)) !== null) return true;
  return false;
}

/** `DIR/<path>` if it qualifies by step 1 of the module; `null` otherwise. */
async function qualifyingLocalFile(runtime: Runtime, dir: string, path: string, meta: Pick<FileMetadata, "etag" | "size">): Promise<string | null> {
  let paths;
  try {
    paths = localFilePaths(dir, path);
  } catch (err) {
    if (err instanceof InvalidInputError) return null; // a path into DIR's bookkeeping is never a file of DIR
    throw err;
  }
  const record = await readLocalMetadata(runtime, paths);
  if (record === null || record.etag !== meta.etag) return null;
  const file = await lstatWithin(runtime, paths.root, paths.path).catch(() => null);
  if (file === null || file.kind !== "file" || file.size !== meta.size || !unchangedSince(file, record)) return null;
  return paths.file;
}

/** Step 2 (`placeVerifiedCopy`: reflink, else a copy; hashed; never a hard link). */
async function placeVerified(ctx: RepoContext, meta: FileMetadata, path: string, source: string): Promise<OwnedTemp | null> {
  await ensureDir(ctx.runtime, ctx.layout.blobsDir);
  const placed = await placeVerifiedCopy(ctx.runtime, source, ctx.layout.blobsDir, meta.etag, meta.size, {
    hardLink: false,
    // A copy needs the space a download would; a reflink needs none.
    beforeCopy: () => ensureFreeSpace(ctx, [meta], `'${path}' of ${ctx.repoType} '${ctx.repoId}'`),
  });
  return placed?.temp ?? null;
}
