/**
 * What a download would fetch, without fetching or writing anything (`download --dry-run`, as
 * `hf download --dry-run`): the files selected, their sizes, and which are not yet in the cache.
 *
 * @module
 */

import { blobPath, pointerPath } from "../cache/layout.ts";
import { etagOf, readTreeCache } from "../cache/tree_cache.ts";
import { validateRepoPath } from "../cache/validate.ts";
import { resolveRepoContext } from "../context.ts";
import { DEFAULT_MAX_ATTEMPTS } from "../defaults.ts";
import { statOrNull } from "../fs/entries.ts";
import { listTree, resolveCommit } from "../hub/listing.ts";
import { resolveFileMetadata } from "../hub/metadata.ts";
import type { Runtime } from "../ports.ts";
import { filterPaths } from "./patterns.ts";
import type { DownloadSnapshotOptions } from "./snapshot.ts";

/** One file a download would bring into the cache, or find there. */
export interface PlannedFile {
  /** Its path in the repo. */
  readonly path: string;
  /** Its size in bytes. */
  readonly size: number;
  /** False when the cache already has its verified bytes (and no `forceDownload`). */
  readonly willDownload: boolean;
}

/** The outcome of {@link planDownload}. */
export interface DownloadPlan {
  /** The commit the revision resolved to. */
  readonly commit: string;
  /** The selected files, sorted by path. */
  readonly files: readonly PlannedFile[];
}

/**
 * Plan a download: the named `paths` (one `HEAD` each), or the files of the whole revision
 * that `include`/`exclude` select (the tree listing). Nothing is written to the cache.
 *
 * @example
 * ```ts
 * import { planDownload } from "hubcache/core";
 * import { nodeRuntime } from "hubcache/adapters/node";
 *
 * const plan = await planDownload({ runtime: nodeRuntime(), repo: "openai-community/gpt2", include: ["*.json"] });
 * for (const f of plan.files) console.log(f.path, f.size, f.willDownload ? "to download" : "cached");
 * ```
 */
export async function planDownload(
  options: Omit<DownloadSnapshotOptions, "onProgress"> & { runtime: Runtime; paths?: readonly string[] },
): Promise<DownloadPlan> {
  const ctx = await resolveRepoContext(options);
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const force = options.forceDownload ?? false;
  const cached = async (commit: string, path: string, etag: string): Promise<boolean> =>
    (await statOrNull(ctx.runtime, blobPath(ctx.layout, etag)))?.kind === "file" ||
    (await statOrNull(ctx.runtime, pointerPath(ctx.layout, commit, path)))?.kind === "file";
  const planned: PlannedFile[] = [];
  let commit: string;
  if (options.paths && options.paths.length > 0) {
    commit = "";
    for (const raw of options.paths) {
      const path = validateRepoPath(raw);
      const meta = await resolveFileMetadata(ctx.client, { ...ctx, path }, maxAttempts);
      commit ||= meta.commit;
      planned.push({ path, size: meta.size, willDownload: force || !(await cached(meta.commit, path, meta.etag)) });
    }
  } else {
    commit = await resolveCommit(ctx, ctx.revision, maxAttempts);
    const files = (await readTreeCache(ctx.runtime, ctx.layout, commit)) ?? (await listTree(ctx, commit, maxAttempts));
    const wanted = new Set(filterPaths(files.map((f) => f.path), options.include ?? [], options.exclude ?? []));
    for (const f of files) {
      if (wanted.has(f.path)) planned.push({ path: f.path, size: f.size, willDownload: force || !(await cached(commit, f.path, etagOf(f))) });
    }
  }
  planned.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { commit, files: planned };
}
