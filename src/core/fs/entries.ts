/**
 * Looking at and removing directory entries in a cache that other processes change while we
 * look: any path may vanish between a listing and a look at it (a concurrent writer, `rm` or
 * `prune`), so "gone" is an answer here, never an error.
 *
 * @module
 */

import { CACHE_SCAN_CONCURRENCY } from "../defaults.ts";
import { mapBounded } from "../concurrency.ts";
import { joinPath, symlinkTargetPath } from "./paths.ts";
import { type DirEntryKind, type FileInfo, isFsError, type Runtime } from "../ports.ts";

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
  return symlinkTargetPath(linkPath, await runtime.fs.readlink(linkPath));
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
 * skipped. `[]` if `dir` does not exist.
 */
export async function listFilesRecursive(runtime: Runtime, dir: string): Promise<DirEntry[]> {
  return await walkFiles(runtime, dir, async (path, relative) => {
    const info = await lstatOrNull(runtime, path);
    if (info === null) return null;
    if (info.kind === "directory") return "directory";
    let resolved: FileInfo | null = info;
    if (info.kind === "symlink") {
      try {
        resolved = await runtime.fs.stat(path);
      } catch {
        resolved = null; // broken (or looping) link: kept, the caller reports it
      }
      // Python's `is_dir()` follows the link: a link to a directory is not a file.
      if (resolved?.kind === "directory") return null;
    }
    return { path, relative, info, resolved };
  });
}

/** One non-directory entry below a folder, as {@link listKindsRecursive} reports it. */
export interface KindEntry {
  /** Absolute path. */
  readonly path: string;
  /** Path relative to the folder listed, with `/` separators. */
  readonly relative: string;
  /** What the entry itself is (a symlink is not followed). */
  readonly kind: "file" | "symlink" | "other";
}

/**
 * Every non-directory entry below `dir`, recursively and sorted by name, with only its kind:
 * where the file system lists kinds (`readdirKinds`) nothing is looked at one by one, so a walk
 * of a big snapshot costs its folder listings. Symlinks are not followed: a caller that counts
 * as Python's `glob` does skips those leading to a directory itself. `[]` if `dir` does not exist.
 */
export async function listKindsRecursive(runtime: Runtime, dir: string): Promise<KindEntry[]> {
  return await walkFiles(runtime, dir, async (path, relative, listed) => {
    const kind = listed !== "unknown" ? listed : (await lstatOrNull(runtime, path))?.kind;
    if (kind === undefined) return null; // gone meanwhile
    if (kind === "directory") return "directory";
    return { path, relative, kind };
  });
}

/**
 * The walk behind both listings: each folder listed once (with kinds where the file system
 * gives them), its entries looked at by `look` with {@link CACHE_SCAN_CONCURRENCY} in flight,
 * then, in name order, folders descended into and everything else `look` returned kept.
 */
async function walkFiles<T>(
  runtime: Runtime,
  dir: string,
  look: (path: string, relative: string, listed: FileInfo["kind"] | "unknown") => Promise<T | "directory" | null>,
): Promise<T[]> {
  const out: T[] = [];
  const walk = async (folder: string, prefix: string): Promise<void> => {
    const entries = await listFolder(runtime, folder);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const looked = await mapBounded(entries, CACHE_SCAN_CONCURRENCY, async ({ name, kind }) => {
      const relative = prefix === "" ? name : `${prefix}/${name}`;
      const path = joinPath(folder, name);
      return { path, relative, found: await look(path, relative, kind) };
    });
    for (const { path, relative, found } of looked) {
      if (found === "directory") await walk(path, relative);
      else if (found !== null) out.push(found);
    }
  };
  await walk(dir, "");
  return out;
}

/** A folder's entries with their kinds where the file system lists them; `[]` when absent. */
async function listFolder(runtime: Runtime, folder: string): Promise<DirEntryKind[]> {
  if (runtime.fs.readdirKinds === undefined) {
    return (await readdirOrEmpty(runtime, folder)).map((name) => ({ name, kind: "unknown" }));
  }
  try {
    return await runtime.fs.readdirKinds(folder);
  } catch (err) {
    if (isFsError(err, "ENOENT", "ENOTDIR")) return [];
    throw err;
  }
}
