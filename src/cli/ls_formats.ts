/**
 * The machine-readable outputs of `hubcache cache ls`:
 *
 * - `--format json` (and its alias `--json`): exactly what `hf cache ls --format json` of
 *   huggingface_hub 2.0 prints, byte for byte — `id`, `repo_id`, `repo_type`, human `size`
 *   (`"300.0K"`) and times (`"2 weeks ago"`), sorted by `id` — so scripts port unchanged.
 * - `--format scan-json`: the numbers of the Python `scan_cache_dir()` under its dataclass
 *   names (`size_on_disk` in bytes, times in seconds since the epoch, `nb_files`,
 *   `revisions[].commit_hash`, `files[]`, `incomplete_files`), plus hubcache's `temp_files`
 *   with whether their writer may still be alive.
 *
 * @module
 */

import { pythonJsonDumps } from "../core/cache/python_json.ts";
import type { CacheInfo, CachedRepoInfo } from "../core/manage/scan.ts";
import { formatBytes, formatTimeSince } from "./format.ts";
import type { LsEntry } from "./ls_select.ts";

/** The formats `cache ls --format` accepts. */
export const LS_FORMATS: readonly string[] = ["table", "json", "scan-json"];

function cacheId(repo: CachedRepoInfo): string {
  return `${repo.repoType}/${repo.repoId}`;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The rows of `cache ls` in `hf cache ls`'s order: repos by `type/id`, or with `revisions`
 * each repo's revisions by commit hash.
 */
export function lsEntries(info: CacheInfo, revisions: boolean): LsEntry[] {
  const repos = [...info.repos].sort((a, b) => byCodePoint(cacheId(a), cacheId(b)));
  if (!revisions) return repos.map((repo) => ({ repo }));
  return repos.flatMap((repo) => [...repo.revisions].sort((a, b) => byCodePoint(a.commitHash, b.commitHash)).map((revision) => ({ repo, revision })));
}

/**
 * `hf cache ls --format json` of these rows (with `--revisions`: one record per revision), as
 * its `json.dumps` writes it. Times are relative to `nowMs`, as `format_timesince` makes them.
 */
export function hfLsJson(entries: readonly LsEntry[], nowMs: number): string {
  return pythonJsonDumps(entries.map(({ repo, revision: rev }) =>
    rev
      ? {
        id: cacheId(repo),
        repo_id: repo.repoId,
        repo_type: repo.repoType,
        revision: rev.commitHash,
        snapshot_path: rev.snapshotPath,
        size: formatBytes(rev.sizeOnDisk),
        last_modified: formatTimeSince(rev.lastModifiedMs, nowMs),
        refs: [...rev.refs].sort(byCodePoint),
      }
      : {
        id: cacheId(repo),
        repo_id: repo.repoId,
        repo_type: repo.repoType,
        size: formatBytes(repo.sizeOnDisk),
        last_accessed: formatTimeSince(repo.lastAccessedMs, nowMs),
        last_modified: formatTimeSince(repo.lastModifiedMs, nowMs),
        refs: [...new Set(repo.revisions.flatMap((r) => r.refs))].sort(byCodePoint),
      }
  ));
}

/**
 * The scan as `scan_cache_dir()`'s dataclasses name things (`HFCacheInfo`, `CachedRepoInfo`,
 * `CachedRevisionInfo`, `CachedFileInfo`, `CachedIncompleteFileInfo`), in bytes and seconds
 * since the epoch, plus `temp_files` (every temp file hubcache knows, with its writer's state).
 */
export function scanJson(info: CacheInfo): Record<string, unknown> {
  return {
    cache_dir: info.cacheDir,
    size_on_disk: info.sizeOnDisk,
    repos: info.repos.map((repo) => ({
      repo_id: repo.repoId,
      repo_type: repo.repoType,
      repo_path: repo.repoPath,
      size_on_disk: repo.sizeOnDisk,
      nb_files: repo.nbFiles,
      last_accessed: repo.lastAccessedMs / 1000,
      last_modified: repo.lastModifiedMs / 1000,
      refs: Object.keys(repo.refs).sort(byCodePoint),
      revisions: repo.revisions.map((rev) => ({
        commit_hash: rev.commitHash,
        refs: [...rev.refs],
        nb_files: rev.nbFiles,
        size_on_disk: rev.sizeOnDisk,
        snapshot_path: rev.snapshotPath,
        last_modified: rev.lastModifiedMs / 1000,
        files: rev.files.map((f) => ({
          file_name: f.fileName,
          file_path: f.filePath,
          blob_path: f.blobPath,
          size_on_disk: f.sizeOnDisk,
          blob_last_accessed: f.blobLastAccessedMs / 1000,
          blob_last_modified: f.blobLastModifiedMs / 1000,
        })),
      })),
    })),
    // Python's rule: every `<repo>/blobs/*.incomplete`, live writers' included.
    incomplete_files: info.tempFiles
      .filter((t) => t.name.endsWith(".incomplete") && t.kind !== "small-temp")
      .map((t) => ({ file_path: t.path, size_on_disk: t.size })),
    warnings: info.warnings.map((w) => w.message),
    temp_files: info.tempFiles.map((t) => ({
      path: t.path,
      kind: t.kind,
      etag: t.etag,
      size_on_disk: t.size,
      last_modified: t.mtimeMs / 1000,
      writer: t.ownerState,
    })),
  };
}
