/**
 * Snapshot pointers (`docs/DESIGN.md §Invariants 5`): `snapshots/<commit>/<path>` is a relative
 * symlink to `blobs/<etag>`, created only once the blob is complete. Where symlinks are
 * unavailable (hf-hub PR #172) the snapshot holds the file itself: a fresh download is moved
 * there (stored once), an existing blob is placed by reflink, hard link or copy (in that order of
 * preference), and a regular file already in place is reused. A pointer race that finds the right target already in place is success.
 *
 * @module
 */

import { CacheError } from "../errors.ts";
import { isFsError, type Runtime } from "../ports.ts";
import { createInDir, ensureDir } from "../fs/dirs.ts";
import { removeIfFile } from "../fs/entries.ts";
import { dirname } from "../fs/paths.ts";
import { withScratchPath } from "../fs/scratch.ts";
import { TRANSIENT_RETRY_PAUSES_MS } from "../defaults.ts";
import { placeSharedCopy } from "../fs/shared_copy.ts";
import { isFileOfSize, retryTransient } from "../fs/transient.ts";
import { fileHasAddress } from "./content_hash.ts";
import { blobPath, pointerPath, relativeBlobTarget, type RepoLayout } from "./layout.ts";

/** How a cache stores snapshot files. */
export type PointerMode = "symlink" | "copy";

/**
 * Repairing (`--force`, `cache verify --repair`): a whole file already at the pointer stays only
 * if its bytes hash to `etag`; otherwise ours replaces it (docs/DESIGN.md §Invariants 3).
 */
export interface Repair {
  readonly etag: string;
  readonly size: number;
}

const probeResults = new WeakMap<Runtime, Map<string, boolean>>();

/** How file systems without symlinks (FAT, exFAT, Windows without developer mode, …) refuse one. */
const SYMLINK_REFUSED = ["EPERM", "EACCES", "ENOTSUP", "EINVAL", "EIO", "EUNKNOWN"] as const;

/**
 * Of those, the answers a network file system also gives for a moment (GlusterFS: `EIO`, and
 * `ESTALE`, which Deno reports as `UNKNOWN`): asked again before the cache is judged to have no
 * symlinks — once judged, this process writes every snapshot file as a copy.
 */
const SYMLINK_MAYBE_TRANSIENT = ["EIO", "EUNKNOWN"] as const;

/**
 * Whether the file system under `layout` accepts relative symlinks; probed once per
 * runtime and cache directory (as the Python client's `are_symlinks_supported`).
 */
export async function symlinksSupported(runtime: Runtime, layout: RepoLayout): Promise<boolean> {
  let byDir = probeResults.get(runtime);
  if (!byDir) probeResults.set(runtime, byDir = new Map());
  const known = byDir.get(layout.cacheDir);
  if (known !== undefined) return known;
  const supported = await withScratchPath(runtime, layout.tmpDir, "symlink-probe", async (probe) => {
    for (const pause of [...TRANSIENT_RETRY_PAUSES_MS, undefined]) {
      try {
        await createInDir(runtime, layout.tmpDir, () => runtime.fs.symlink("symlink-probe-target", probe));
      } catch (err) {
        if (!isFsError(err, ...SYMLINK_REFUSED)) throw err;
        if (pause === undefined || !isFsError(err, ...SYMLINK_MAYBE_TRANSIENT)) return false;
        // The link may have been made with its answer lost: clear the name before asking again.
        await runtime.fs.removeFile(probe).catch(() => {});
        await runtime.platform.sleep(pause);
        continue;
      }
      await removeIfFile(runtime, probe).catch(() => {});
      return true;
    }
    return false;
  });
  byDir.set(layout.cacheDir, supported);
  return supported;
}

/**
 * Whether the pointer for a file is in place and usable: a symlink resolving to a file of
 * the expected size, or (no-symlink caches) a regular file of that size.
 */
export async function pointerIsComplete(
  runtime: Runtime,
  layout: RepoLayout,
  commit: string,
  path: string,
  size: number,
): Promise<boolean> {
  return await isFileOfSize(runtime, pointerPath(layout, commit, path), size);
}

/**
 * Create the symlink pointer to `blobs/<etag>`. Returns `"unsupported"` if the file
 * system refuses symlinks, so the caller can fall back to a copy.
 */
export async function linkPointer(
  runtime: Runtime,
  layout: RepoLayout,
  commit: string,
  path: string,
  etag: string,
  repair: Repair | null = null,
): Promise<"linked" | "unsupported"> {
  const pointer = pointerPath(layout, commit, path);
  return await retryTransient(
    runtime.platform,
    () => placeSymlink(runtime, layout, pointer, relativeBlobTarget(path, etag), etag, repair),
    seenMidChange,
  );
}

/**
 * On a network file system another host's pointer can be seen half-made: `symlink` says
 * `EEXIST` but `lstat` then says `ENOENT`, or `lstat` says symlink but `readlink` says `EINVAL`
 * (measured on GlusterFS: this mount's cached view of the name lags the other host's create).
 * Looking again a moment later sees the finished pointer; failing would lose a good download.
 */
function seenMidChange(err: unknown): boolean {
  if (isFsError(err, "ESTALE")) return true;
  return isFsError(err, "ENOENT", "EINVAL") && (err.syscall === "lstat" || err.syscall === "readlink");
}

async function placeSymlink(
  runtime: Runtime,
  layout: RepoLayout,
  pointer: string,
  target: string,
  etag: string,
  repair: Repair | null,
): Promise<"linked" | "unsupported"> {
  const { fs } = runtime;
  try {
    await createInDir(runtime, dirname(pointer), () => fs.symlink(target, pointer));
    return "linked";
  } catch (err) {
    if (isFsError(err, ...SYMLINK_REFUSED)) return "unsupported";
    if (!isFsError(err, "EEXIST")) throw err;
  }
  // Something is there already: another writer's pointer (success), a regular file from a
  // no-symlink cache (reused if whole), or a stale pointer we replace atomically.
  const info = await fs.lstat(pointer);
  if (info.kind === "directory") {
    throw new CacheError(`cannot create the pointer '${pointer}': a directory is in the way; remove it and retry`);
  }
  if (info.kind === "symlink" && (await fs.readlink(pointer)) === target) return "linked";
  if (info.kind === "file") {
    const blob = await fs.stat(blobPath(layout, etag)).catch(() => null);
    if (blob && info.size === blob.size && (repair === null || (await fileHasAddress(runtime, pointer, etag, blob.size)))) {
      return "linked";
    }
  }
  return await withScratchPath(runtime, layout.tmpDir, "pointer", async (temp) => {
    try {
      await createInDir(runtime, layout.tmpDir, () => fs.symlink(target, temp));
    } catch (err) {
      if (isFsError(err, ...SYMLINK_REFUSED)) return "unsupported";
      throw err;
    }
    try {
      await fs.rename(temp, pointer);
    } catch (err) {
      await removeIfFile(runtime, temp).catch(() => {});
      throw err;
    }
    return "linked";
  });
}

/**
 * Put the file itself at the pointer path (no-symlink mode). `source.kind === "fresh"`:
 * a verified temp file of ours, moved there so the bytes are stored once;
 * `"blob"`: an existing blob others may share, copied (copy goes to a temp file first so
 * readers never see a half-copied file). With `repair`, a same-size file already there that
 * fails verification is replaced instead of kept.
 */
export async function placePointerFile(
  runtime: Runtime,
  layout: RepoLayout,
  commit: string,
  path: string,
  source: { kind: "fresh" | "blob"; path: string },
  repair: Repair | null = null,
): Promise<void> {
  const { fs } = runtime;
  const pointer = pointerPath(layout, commit, path);
  await ensureDir(runtime, dirname(pointer));
  if (source.kind === "fresh") {
    // A whole file of another writer already there wins (same bytes, §Invariants 1), as a blob
    // does: replacing it would make its readers on other hosts of a network file system meet a
    // stale handle (ENOENT/ESTALE) for a moment.
    const ours = await fs.stat(source.path);
    const keepTheirs = (await isFileOfSize(runtime, pointer, ours.size)) &&
      (repair === null || (await fileHasAddress(runtime, pointer, repair.etag, repair.size)));
    if (keepTheirs) await removeIfFile(runtime, source.path);
    else await fs.rename(source.path, pointer);
  } else {
    await withScratchPath(runtime, layout.tmpDir, "copy", async (temp) => {
      try {
        // Stored once where the file system allows: a reflink, else a hard link (blobs are
        // never written in place, so sharing their inode is safe), else a copy.
        await placeSharedCopy(runtime, source.path, temp, { hardLink: true, copy: true });
        const handle = await fs.openReadWrite(temp);
        await handle.sync().finally(() => handle.close());
        await fs.rename(temp, pointer);
      } catch (err) {
        await removeIfFile(runtime, temp).catch(() => {});
        throw err;
      }
    });
  }
  await fs.syncDir(dirname(pointer));
}
