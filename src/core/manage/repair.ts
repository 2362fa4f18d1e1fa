/**
 * `cache verify --repair`: verify a cached repo, then put right what verification found, fetching
 * only the broken files (docs/DESIGN.md §Cache management):
 *
 * - a damaged, truncated or missing blob (or a damaged no-symlink snapshot file, or a pointer to the
 *   wrong blob) is downloaded again through the ordinary forced download at its commit, whose repair
 *   rule (docs/DESIGN.md §Invariants 3) replaces what fails verification by verified bytes with one
 *   rename — so a repair racing other downloads is just one more writer;
 * - a ref that does not hold a commit hash is resolved again on the Hub and rewritten whole;
 * - a `.no_exist/<commit>/<path>` marker for a file the commit does have (its listing or its
 *   snapshot says so) is removed: it would make offline readers answer "absent".
 *
 * Works on caches the Python client wrote (it only reads their layout and downloads as hubcache does).
 *
 * @module
 */

import { DEFAULT_MAX_ATTEMPTS } from "../defaults.ts";
import { resolveRepoContext } from "../context.ts";
import { readTreeCache } from "../cache/tree_cache.ts";
import { isCommitHash } from "../cache/validate.ts";
import { writeRef } from "../cache/refs.ts";
import { pointerPath, type RepoLayout, repoLayout } from "../cache/layout.ts";
import { HubcacheError } from "../errors.ts";
import { envFlag } from "../environment.ts";
import { listFilesRecursive, lstatOrNull, readdirOrEmpty, removeIfFile } from "../fs/entries.ts";
import { dirname, joinPath } from "../fs/paths.ts";
import { withTransientRetries } from "../fs/transient.ts";
import { resolveCommit } from "../hub/listing.ts";
import { downloadFile } from "../download/download.ts";
import type { WithRuntime } from "../options.ts";
import type { Runtime } from "../ports.ts";
import { verifyRepo, type VerifyOptions, type VerifyReport } from "./verify.ts";

/** One thing {@link repairRepo} did, or tried to do. */
export interface RepairAction {
  /** What was repaired: a file's content, a ref, or a `.no_exist` marker. */
  readonly kind: "file" | "ref" | "no-exist";
  /** The repo path (file, marker) or the revision name (ref). */
  readonly path: string;
  /** The commit it belongs to (for a ref: the commit it now names), when known. */
  readonly commit: string | null;
  /** One line for people: what was wrong and what was done. */
  readonly detail: string;
}

/** What {@link repairRepo} found and did. */
export interface RepairReport {
  /** The verification before any repair. */
  readonly verified: VerifyReport;
  /** What was put right. */
  readonly repaired: readonly RepairAction[];
  /** What could not be put right (offline, the Hub refused, …), with the reason. */
  readonly failed: readonly RepairAction[];
  /** Nothing failed: every damaged or missing file was replaced by verified bytes. */
  readonly healthy: boolean;
}

/**
 * Verify a cached repo (see `verifyRepo`) and repair it: damaged, truncated and missing files are
 * downloaded again (verified) at their commit, refs that are not a commit hash are resolved
 * again, and `.no_exist` markers for files that exist are removed. Only the broken files are
 * fetched. Safe while other processes download into the same cache.
 *
 * @example
 * ```ts
 * import { repairRepo } from "hubcache/core";
 * import { nodeRuntime } from "hubcache/adapters/node";
 *
 * const report = await repairRepo({ runtime: nodeRuntime(), repo: "openai-community/gpt2" });
 * for (const a of report.repaired) console.log(a.kind, a.path, a.detail);
 * ```
 */
export async function repairRepo(options: WithRuntime<VerifyOptions>): Promise<RepairReport> {
  const runtime = withTransientRetries(options.runtime);
  const verified = await verifyRepo({ ...options, runtime });
  // The canonical cache root verify resolved (symlinks in the given path resolved).
  const cacheDir = dirname(verified.repoPath);
  const layout = repoLayout(cacheDir, verified.repoType, verified.repoId);
  const repaired: RepairAction[] = [];
  const failed: RepairAction[] = [];

  // Offline, a forced download would answer from the cache — the very file that is broken.
  const offline = options.offline ?? envFlag(runtime.platform, "HF_HUB_OFFLINE");
  for (const file of [...verified.damaged, ...verified.missing]) {
    if (offline) {
      failed.push({ kind: "file", path: file.path, commit: file.commit, detail: `${file.detail}: offline, so it cannot be downloaded again` });
      continue;
    }
    // Keep the cache's kind of pointer: a regular snapshot file is replaced by a regular file.
    const pointer = await lstatOrNull(runtime, file.pointerPath);
    try {
      await downloadFile({
        ...options,
        runtime,
        cacheDir,
        repo: verified.repoId,
        repoType: verified.repoType,
        revision: file.commit,
        path: file.path,
        forceDownload: true,
        symlinks: pointer?.kind === "file" ? "never" : "auto",
      });
      repaired.push({ kind: "file", path: file.path, commit: file.commit, detail: `${file.detail}: downloaded again and verified` });
    } catch (err) {
      if (!(err instanceof HubcacheError)) throw err;
      failed.push({ kind: "file", path: file.path, commit: file.commit, detail: `${file.detail}: ${err.code}: ${err.message}` });
    }
  }

  await repairRefs(options, runtime, layout, repaired, failed);
  await removeWrongNoExist(runtime, layout, repaired);
  return { verified, repaired, failed, healthy: failed.length === 0 };
}

/** Refs that do not hold a commit hash (torn by a writer that wrote in place, or edited): resolved again. */
async function repairRefs(
  options: WithRuntime<VerifyOptions>,
  runtime: Runtime,
  layout: RepoLayout,
  repaired: RepairAction[],
  failed: RepairAction[],
): Promise<void> {
  for (const entry of await listFilesRecursive(runtime, layout.refsDir)) {
    if (entry.info.kind !== "file") continue;
    let text: string;
    try {
      text = new TextDecoder().decode(await runtime.fs.readFile(entry.path)).trim().toLowerCase();
    } catch {
      continue; // removed while we look
    }
    if (isCommitHash(text)) continue;
    const revision = entry.relative;
    try {
      const ctx = await resolveRepoContext({ ...options, runtime, cacheDir: layout.cacheDir, repo: layout.repoId, repoType: layout.repoType, revision });
      if (ctx.offline) throw new HubcacheError("OfflineCacheMiss", "offline: the Hub cannot be asked what it names");
      const commit = await resolveCommit(ctx, revision, DEFAULT_MAX_ATTEMPTS);
      await writeRef(runtime, layout, revision, commit);
      repaired.push({ kind: "ref", path: revision, commit, detail: `refs/${revision} held no commit hash: now ${commit}` });
    } catch (err) {
      if (!(err instanceof HubcacheError)) throw err;
      failed.push({ kind: "ref", path: revision, commit: null, detail: `refs/${revision} holds no commit hash: ${err.code}: ${err.message}` });
    }
  }
}

/**
 * A `.no_exist` marker says a file is absent at a commit; one for a file the commit's listing has,
 * or whose snapshot pointer is there, is wrong and is removed.
 */
async function removeWrongNoExist(runtime: Runtime, layout: RepoLayout, repaired: RepairAction[]): Promise<void> {
  for (const commit of (await readdirOrEmpty(runtime, layout.noExistDir)).filter(isCommitHash)) {
    const listed = new Set((await readTreeCache(runtime, layout, commit))?.map((f) => f.path) ?? []);
    for (const marker of await listFilesRecursive(runtime, joinPath(layout.noExistDir, commit))) {
      const exists = listed.has(marker.relative) || (await lstatOrNull(runtime, pointerPath(layout, commit, marker.relative))) !== null;
      if (!exists) continue;
      await removeIfFile(runtime, marker.path);
      repaired.push({ kind: "no-exist", path: marker.relative, commit, detail: `.no_exist marker for a file commit ${commit} has: removed` });
    }
  }
}
