/**
 * `downloadSnapshot`: a whole repo (or the files matching patterns) at one revision, the
 * equivalent of `snapshot_download`. It lists the commit's files with the tree API (cached
 * in `trees/<commit>.json`), then fetches each through the single-file path with bounded
 * concurrency, reusing whatever is already cached.
 *
 * When `refs/<revision>` is written: only after every requested file is in place. The
 * Python client writes it first; then an offline reader following the ref can be handed a
 * snapshot missing files it asked for. Until we finish, the ref keeps pointing at the last
 * commit that was complete for its readers.
 *
 * @module
 */

import { resolveRepoContext, type RepoContext } from "../context.ts";
import { ensureDir } from "../fs/dirs.ts";
import {
  HubcacheError,
  NetworkError,
  OfflineCacheMissError,
  SnapshotIncompleteError,
  UnsafeResponseError,
} from "../errors.ts";
import { fetchIntoCache } from "./download.ts";
import { apiUrl, requestWithRetries, resolveUrl } from "../hub/client.ts";
import { pointerPath, snapshotDir } from "../cache/layout.ts";
import type { DownloadFileOptions } from "../options.ts";
import { filterPaths } from "./patterns.ts";
import type { Runtime } from "../ports.ts";
import { readRef, writeRef } from "../cache/refs.ts";
import { etagOf, readTreeCache, type TreeFile, writeTreeCache } from "../cache/tree_cache.ts";
import { isCommitHash, parseCommit, parseEtag, printable, validateRepoPath } from "../cache/validate.ts";

/** Progress of a snapshot download. */
export interface SnapshotProgress {
  /**
   * `listing`: resolving the revision and listing files (all counts 0); `download`: files
   * being fetched or found cached; `done`: every requested file is in place.
   */
  readonly phase: "listing" | "download" | "done";
  /** Files selected by `include`/`exclude`, cached ones included. */
  readonly filesTotal: number;
  /** Files in place so far, cached ones included. */
  readonly filesDone: number;
  /** Files that were already in the cache. */
  readonly filesCached: number;
  /** Sum of the sizes of the selected files, so a bar can show bytes rather than files. */
  readonly bytesTotal: number;
  /** Bytes in place so far, including resumed prefixes and files already cached. */
  readonly bytesDone: number;
  /** Paths being downloaded right now. */
  readonly active: readonly string[];
}

/** Options of {@link downloadSnapshot}. */
export interface DownloadSnapshotOptions extends Omit<DownloadFileOptions, "path" | "onProgress"> {
  /** Only files matching one of these shell-style patterns (`*.json`, `onnx/`). */
  include?: string[];
  /** Skip files matching any of these. */
  exclude?: string[];
  /** Files downloaded at once. Default 8. */
  concurrency?: number;
  /**
   * Called whenever a file starts, advances or ends (often: throttle it yourself). Anything it
   * throws is swallowed, because a broken progress bar must not fail a download.
   */
  onProgress?: (progress: SnapshotProgress) => void;
}

/**
 * Download a repo's files and return the absolute path of the snapshot folder
 * (`<cache>/models--org--name/snapshots/<commit>`).
 *
 * @example
 * ```ts
 * const dir = await downloadSnapshot({ runtime, repo: "openai-community/gpt2", include: ["*.json"] });
 * ```
 */
export async function downloadSnapshot(options: DownloadSnapshotOptions & { runtime: Runtime }): Promise<string> {
  const ctx = resolveRepoContext(options);
  const include = options.include ?? [];
  const exclude = options.exclude ?? [];
  if (ctx.offline) return await snapshotFromCache(ctx, include, exclude, "offline mode (HF_HUB_OFFLINE / --offline) is on");
  const maxAttempts = options.maxAttempts ?? 5;

  let commit: string;
  try {
    commit = await resolveCommit(ctx, maxAttempts);
  } catch (err) {
    if (err instanceof NetworkError) return await snapshotFromCache(ctx, include, exclude, `the Hub could not be reached (${err.message})`);
    throw err;
  }
  let files = await readTreeCache(ctx.runtime, ctx.layout, commit);
  if (!files) {
    options.onProgress?.({ phase: "listing", filesTotal: 0, filesDone: 0, filesCached: 0, bytesTotal: 0, bytesDone: 0, active: [] });
    files = await listTree(ctx, commit, maxAttempts);
    await writeTreeCache(ctx.runtime, ctx.layout, commit, files);
  }
  const wanted = new Set(filterPaths(files.map((f) => f.path), include, exclude));
  const selected = files.filter((f) => wanted.has(f.path));
  await ensureDir(ctx.runtime, snapshotDir(ctx.layout, commit));
  await fetchAll(ctx, commit, selected, options);
  await writeRef(ctx.runtime, ctx.layout, ctx.revision, commit);
  return snapshotDir(ctx.layout, commit);
}

async function resolveCommit(ctx: RepoContext, maxAttempts: number): Promise<string> {
  if (isCommitHash(ctx.revision)) return ctx.revision;
  const url = apiUrl(ctx.client.endpoint, ctx.repoType, ctx.repoId, `/revision/${encodeURIComponent(ctx.revision)}`);
  const res = await requestWithRetries(ctx.client, url, { method: "GET" }, { followAbsolute: false }, ctx, maxAttempts);
  const info = await res.json().catch(() => null) as { sha?: unknown } | null;
  return parseCommit(typeof info?.sha === "string" ? info.sha : "", "the revision API's sha");
}

/**
 * List every file of `commit` with `GET /api/{type}s/{repo}/tree/{commit}?recursive=true`,
 * following `Link: rel="next"`; every path and hash is validated (a hostile tree must not
 * make us write outside the cache).
 *
 * @example
 * ```ts
 * const files = await listTree(resolveRepoContext({ runtime, repo: "gpt2" }), commit, 5);
 * ```
 */
export async function listTree(ctx: RepoContext, commit: string, maxAttempts: number): Promise<TreeFile[]> {
  const files: TreeFile[] = [];
  const endpointOrigin = new URL(ctx.client.endpoint).origin;
  let url: string | null = apiUrl(ctx.client.endpoint, ctx.repoType, ctx.repoId, `/tree/${commit}?recursive=true&expand=false`);
  for (let pages = 0; url; pages++) {
    if (pages > 100_000) throw new UnsafeResponseError("the tree listing does not end (more than 100000 pages)");
    const res: Response = await requestWithRetries(ctx.client, url, { method: "GET" }, { followAbsolute: false }, ctx, maxAttempts);
    const entries = await res.json().catch(() => null);
    if (!Array.isArray(entries)) throw new UnsafeResponseError(`the tree listing of ${ctx.repoId} is not a JSON array`);
    for (const entry of entries) {
      if (entry?.type === "file") files.push(treeFileFrom(entry));
    }
    const next = nextLink(res.headers.get("link"));
    const page: string = res.url || url;
    url = null;
    if (next) {
      // A relative target is relative to the page that named it (RFC 8288), not to the endpoint.
      const target = new URL(next, page);
      if (target.origin !== endpointOrigin) throw new UnsafeResponseError(`tree pagination leads to another host: '${printable(next)}'`);
      url = target.href;
    }
  }
  return files;
}

function treeFileFrom(entry: Record<string, unknown>): TreeFile {
  let path: string;
  try {
    path = validateRepoPath(String(entry.path ?? ""));
  } catch (err) {
    throw new UnsafeResponseError(`the tree listing names an unsafe path: ${(err as Error).message}`);
  }
  const size = entry.size;
  if (!Number.isSafeInteger(size) || (size as number) < 0) throw new UnsafeResponseError(`bad size for '${printable(path)}' in the tree listing`);
  const blobId = parseEtag(String(entry.oid ?? ""), `the tree oid of '${printable(path)}'`);
  const lfs = entry.lfs as Record<string, unknown> | undefined | null;
  if (!lfs) return { path, size: size as number, blobId };
  const lfsSha256 = parseEtag(String(lfs.oid ?? lfs.sha256 ?? ""), `the LFS oid of '${printable(path)}'`);
  const lfsSize = lfs.size ?? size;
  if (!Number.isSafeInteger(lfsSize) || (lfsSize as number) < 0) throw new UnsafeResponseError(`bad LFS size for '${printable(path)}'`);
  const xet = typeof entry.xetHash === "string" ? entry.xetHash : undefined;
  return { path, size: lfsSize as number, blobId, lfsSha256, lfsSize: lfsSize as number, xetHash: xet };
}

/**
 * The `rel="next"` target of a `Link` header.
 *
 * @example
 * ```ts
 * nextLink('<https://hf.co/api/models/a/tree/x?cursor=2>; rel="next"'); // "https://hf.co/api/models/a/tree/x?cursor=2"
 * ```
 */
export function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /(^|;)\s*rel\s*=\s*"?next"?\s*(;|$)/i.test(m[2])) return m[1];
  }
  return null;
}

async function fetchAll(ctx: RepoContext, commit: string, files: TreeFile[], options: DownloadSnapshotOptions): Promise<void> {
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const bytesTotal = files.reduce((n, f) => n + f.size, 0);
  const done = new Map<string, number>();
  const active = new Set<string>();
  let filesDone = 0;
  let filesCached = 0;
  const failures: Array<{ path: string; error: unknown }> = [];
  const emit = (phase: SnapshotProgress["phase"]): void => {
    let bytesDone = 0;
    for (const n of done.values()) bytesDone += n;
    try {
      options.onProgress?.({ phase, filesTotal: files.length, filesDone, filesCached, bytesTotal, bytesDone, active: [...active] });
    } catch { /* progress must not break the download */ }
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    // After a failure no new file starts; files in flight finish (or fail) cleanly.
    while (failures.length === 0 && next < files.length) {
      const file = files[next++];
      active.add(file.path);
      let wasCached = false;
      try {
        await fetchIntoCache(ctx, file.path, {
          commit,
          etag: etagOf(file),
          size: file.size,
          location: resolveUrl(ctx.client.endpoint, ctx.repoType, ctx.repoId, commit, file.path),
        }, {
          ...options,
          onProgress: (p) => {
            if (p.phase === "cached") wasCached = true;
            else done.set(file.path, p.bytesDone);
            emit("download");
          },
        });
        done.set(file.path, file.size);
        filesDone++;
        if (wasCached) filesCached++;
      } catch (error) {
        failures.push({ path: file.path, error });
      } finally {
        active.delete(file.path);
        emit("download");
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  if (failures.length > 0) {
    const aborted = failures.find((f) => f.error instanceof HubcacheError && f.error.code === "Aborted");
    if (aborted) throw aborted.error;
    const shown = failures.slice(0, 5).map((f) => `${f.path}: ${f.error instanceof Error ? f.error.message : String(f.error)}`);
    throw new SnapshotIncompleteError(
      `${failures.length} of ${files.length} files of ${ctx.repoType} '${ctx.repoId}' failed (${shown.join("; ")}` +
        `${failures.length > 5 ? "; …" : ""}). Completed files are cached; run again to resume the rest`,
      failures,
    );
  }
  emit("done");
}

async function snapshotFromCache(ctx: RepoContext, include: string[], exclude: string[], why: string): Promise<string> {
  const { runtime, layout } = ctx;
  const commit = isCommitHash(ctx.revision) ? ctx.revision : await readRef(runtime, layout, ctx.revision);
  const dir = commit ? snapshotDir(layout, commit) : null;
  const exists = dir ? (await runtime.fs.stat(dir).catch(() => null))?.kind === "directory" : false;
  if (!commit || !dir || !exists) {
    throw new OfflineCacheMissError(
      `${why}, and revision '${ctx.revision}' of ${ctx.repoType} '${ctx.repoId}' is not in the cache at ${ctx.cacheDir}: ` +
        `download it once while online`,
    );
  }
  const files = await readTreeCache(runtime, layout, commit);
  if (files) {
    const wanted = filterPaths(files.map((f) => f.path), include, exclude);
    const missing: string[] = [];
    for (const path of wanted) {
      const info = await runtime.fs.stat(pointerPath(layout, commit, path)).catch(() => null);
      if (info?.kind !== "file") missing.push(path);
    }
    if (missing.length > 0) {
      throw new OfflineCacheMissError(
        `${why}, and ${missing.length} of ${wanted.length} requested files of ${ctx.repoType} '${ctx.repoId}' ` +
          `(commit ${commit}) are not cached: ${missing.slice(0, 10).join(", ")}${missing.length > 10 ? ", …" : ""}`,
      );
    }
  }
  return dir;
}
