/**
 * Snapshot pointers (DESIGN invariant 5): `snapshots/<commit>/<path>` is a relative
 * symlink to `blobs/<etag>`, created only once the blob is complete. Where symlinks are
 * unavailable (seed 003) the snapshot holds the file itself: a fresh download is moved
 * there (stored once), an existing blob is copied, and a regular file already in place is
 * reused. A pointer race that finds the right target already in place is success.
 *
 * @module
 */

import { CacheError } from "./errors.ts";
import { isFsError, type Runtime } from "./ports.ts";
import { blobPath, dirname, pointerPath, relativeBlobTarget, type RepoLayout } from "./layout.ts";
import { ensureDir } from "./dirs.ts";
import { withScratchPath } from "./scratch.ts";
import { removeIfFile } from "./temp_files.ts";

/** How a cache stores snapshot files. */
export type PointerMode = "symlink" | "copy";

const probeResults = new WeakMap<Runtime, Map<string, boolean>>();

/**
 * Whether the file system under `layout` accepts relative symlinks; probed once per
 * runtime and cache directory (as the Python client's `are_symlinks_supported`).
 *
 * @example
 * ```ts
 * const mode = (await symlinksSupported(runtime, layout)) ? "symlink" : "copy";
 * ```
 */
export async function symlinksSupported(runtime: Runtime, layout: RepoLayout): Promise<boolean> {
  let byDir = probeResults.get(runtime);
  if (!byDir) probeResults.set(runtime, byDir = new Map());
  const known = byDir.get(layout.cacheDir);
  if (known !== undefined) return known;
  const supported = await withScratchPath(runtime, layout.tmpDir, "symlink-probe", async (probe) => {
    try {
      await runtime.fs.symlink("symlink-probe-target", probe);
    } catch (err) {
      if (!isFsError(err, "EPERM", "EACCES", "ENOTSUP", "EINVAL", "EIO", "EUNKNOWN")) throw err;
      return false;
    }
    await removeIfFile(runtime, probe).catch(() => {});
    return true;
  });
  byDir.set(layout.cacheDir, supported);
  return supported;
}

/**
 * Whether the pointer for a file is in place and usable: a symlink resolving to a file of
 * the expected size, or (no-symlink caches) a regular file of that size.
 *
 * @example
 * ```ts
 * if (await pointerIsComplete(runtime, layout, commit, "config.json", 512)) return path;
 * ```
 */
export async function pointerIsComplete(
  runtime: Runtime,
  layout: RepoLayout,
  commit: string,
  path: string,
  size: number,
): Promise<boolean> {
  try {
    const info = await runtime.fs.stat(pointerPath(layout, commit, path));
    return info.kind === "file" && info.size === size;
  } catch {
    return false;
  }
}

/**
 * Create the symlink pointer to `blobs/<etag>`. Returns `"unsupported"` if the file
 * system refuses symlinks, so the caller can fall back to a copy.
 *
 * @example
 * ```ts
 * if (await linkPointer(runtime, layout, commit, path, etag) === "unsupported") { … }
 * ```
 */
export async function linkPointer(
  runtime: Runtime,
  layout: RepoLayout,
  commit: string,
  path: string,
  etag: string,
): Promise<"linked" | "unsupported"> {
  const { fs } = runtime;
  const pointer = pointerPath(layout, commit, path);
  const target = relativeBlobTarget(path, etag);
  await ensureDir(runtime, dirname(pointer));
  try {
    await fs.symlink(target, pointer);
    return "linked";
  } catch (err) {
    if (isFsError(err, "EPERM", "EACCES", "ENOTSUP", "EINVAL", "EIO", "EUNKNOWN")) return "unsupported";
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
    if (blob && info.size === blob.size) return "linked";
  }
  return await withScratchPath(runtime, layout.tmpDir, "pointer", async (temp) => {
    try {
      await fs.symlink(target, temp);
    } catch (err) {
      if (isFsError(err, "EPERM", "EACCES", "ENOTSUP", "EINVAL", "EIO", "EUNKNOWN")) return "unsupported";
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
 * readers never see a half-copied file).
 *
 * @example
 * ```ts
 * await placePointerFile(runtime, layout, commit, path, { kind: "fresh", path: temp.path }, size);
 * ```
 */
export async function placePointerFile(
  runtime: Runtime,
  layout: RepoLayout,
  commit: string,
  path: string,
  source: { kind: "fresh" | "blob"; path: string },
): Promise<void> {
  const { fs } = runtime;
  const pointer = pointerPath(layout, commit, path);
  await ensureDir(runtime, dirname(pointer));
  if (source.kind === "fresh") {
    await fs.rename(source.path, pointer);
  } else {
    await withScratchPath(runtime, layout.tmpDir, "copy", async (temp) => {
      try {
        await fs.copyExclusive(source.path, temp);
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
