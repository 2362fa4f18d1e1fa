/**
 * Looking at and removing directory entries in a cache that other processes change while we
 * look: any path may vanish between a listing and a look at it (a concurrent writer, `rm` or
 * `prune`), so "gone" is an answer here, never an error.
 *
 * @module
 */

import { CACHE_SCAN_CONCURRENCY } from "../defaults.ts";
import { mapBounded } from "../concurrency.ts";
import { dirname, joinPath, normalizePath } from "./paths.ts";
import { type FileInfo, isFsError, type Runtime } from "../ports.ts";

/** `lstat`, or `null` when nothing is there (removed meanwhile, or a parent is not a folder). */
export async function lstatOrNull(runtime: Runtime, path: string): Promise<FileInfo | null> {
  try {
    return await runtime.fs.lstat(path);
  } catch (err) {
    if (isFsError(err, "ENOENT", "ENOTDIR")) return null;
    throw err;
  }
}

/** `stat` (following links), or `null` when it leads nowhere (absent, not a folder, a link loop). */
export async function statOrNull(runtime: Runtime, path: string): Promise<FileInfo | null> {
  try {
    return await runtime.fs.stat(path);
  } catch (err) {
    if (isFsError(err, "ENOENT", "ENOTDIR", "ELOOP")) return null;
    throw err;
  }
}

/** The names in a folder, or `[]` when it is absent or not a folder. */
export async function readdirOrEmpty(runtime: Runtime, path: string): Promise<string[]> {
  try {
    return await runtime.fs.readdir(path);
  } catch (err) {
    if (isFsError(err, "ENOENT", "ENOTDIR")) return [];
    throw err;
  }
}

/** Whether `path` resolves to a directory; `false` when absent, other errors thrown. */
export async function isDirectory(runtime: Runtime, path: string): Promise<boolean> {
  try {
    return (await runtime.fs.stat(path)).kind === "directory";
  } catch (err) {
    if (isFsError(err, "ENOENT")) return false;
    throw err;
  }
}

/**
 * Remove `path` if it is a file or symlink; absent is fine. Never removes a directory (Deno's
 * `unlink` deletes empty directories, so we always look first).
 */
export async function removeIfFile(runtime: Runtime, path: string): Promise<void> {
  let info;
  try {
    info = await runtime.fs.lstat(path);
  } catch (err) {
    if (isFsError(err, "ENOENT")) return;
    throw err;
  }
  if (info.kind === "directory") return;
  try {
    await runtime.fs.removeFile(path);
  } catch (err) {
    if (!isFsError(err, "ENOENT")) throw err;
  }
}

/** Where a symlink's first hop lands: its target joined to the link's folder, normalised. */
export async function symlinkFirstHop(runtime: Runtime, linkPath: string): Promise<string> {
  const target = await runtime.fs.readlink(linkPath);
  return normalizePath(target.startsWith("/") ? target : joinPath(dirname(linkPath), target));
}

/** One non-directory entry below a folder, as {@link listFilesRecursive} reports it. */
export interface DirEntry {
  /** Absolute path. */
  readonly path: string;
  /** Path relative to the folder listed, with `/` separators. */
  readonly relative: string;
  /** What `lstat` said. */
  readonly info: FileInfo;
  /**
   * What `stat` (following links) said: `info` itself for a file, the final target for a
   * symlink, `null` for a broken or looping link. Callers that need the target's size or
   * times take them from here instead of asking again.
   */
  readonly resolved: FileInfo | null;
}

/**
 * Every non-directory entry below `dir`, recursively and sorted by name, as the Python client's
 * `glob("**\/*")` minus directories sees it: symlinks to directories are skipped, broken
 * symlinks are kept (so the caller can report them). Entries that vanish while we walk are
 * skipped. `[]` if `dir` does not exist. The entries of each folder are looked at with
 * {@link CACHE_SCAN_CONCURRENCY} `lstat`s in flight, not one after another.
 */
export async function listFilesRecursive(runtime: Runtime, dir: string): Promise<DirEntry[]> {
  const out: DirEntry[] = [];
  const walk = async (folder: string, prefix: string): Promise<void> => {
    const names = await readdirOrEmpty(runtime, folder);
    names.sort();
    const looked = await mapBounded(names, CACHE_SCAN_CONCURRENCY, async (name) => {
      const path = joinPath(folder, name);
      const info = await lstatOrNull(runtime, path);
      if (info === null || info.kind === "directory") return { name, path, info, resolved: info };
      if (info.kind !== "symlink") return { name, path, info, resolved: info };
      let resolved: FileInfo | null = null;
      try {
        resolved = await runtime.fs.stat(path);
      } catch {
        // Broken (or looping) link: kept, the caller reports it.
      }
      return { name, path, info, resolved };
    });
    for (const { name, path, info, resolved } of looked) {
      if (info === null) continue;
      const relative = prefix === "" ? name : `${prefix}/${name}`;
      if (info.kind === "directory") {
        await walk(path, relative);
        continue;
      }
      // Python's `is_dir()` follows the link: a link to a directory is not a file.
      if (resolved?.kind === "directory") continue;
      out.push({ path, relative, info, resolved });
    }
  };
  await walk(dir, "");
  return out;
}
