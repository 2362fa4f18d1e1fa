/**
 * hubcache: download Hugging Face Hub files into the shared cache layout, safely when many
 * processes, runtimes and machines share one cache. This entry point runs every operation with
 * the running runtime's adapter (Node, Deno or Bun) unless given a `runtime`; everything else
 * is `hubcache/core`'s, re-exported.
 *
 * @example
 * ```ts
 * import { downloadFile, scanCache } from "hubcache";
 *
 * const path = await downloadFile({ repo: "openai-community/gpt2", path: "config.json" });
 * const info = await scanCache();
 * console.log(path, info.sizeOnDisk);
 * ```
 *
 * @module
 */

import { defaultRuntime } from "./src/adapters/runtime_auto.ts";
import { type CachedLookup, lookupCached as coreLookupCached, type LookupCachedOptions } from "./src/core/cache/lookup.ts";
import { downloadFile as coreDownloadFile } from "./src/core/download/download.ts";
import { downloadSnapshot as coreDownloadSnapshot, type DownloadSnapshotOptions } from "./src/core/download/snapshot.ts";
import { defaultCacheDir as coreDefaultCacheDir } from "./src/core/environment.ts";
import { pruneCache as corePruneCache, type PruneOptions, type PruneResult } from "./src/core/manage/prune.ts";
import {
  executeRemoval as coreExecuteRemoval,
  type ExecuteRemovalOptions,
  planRemoval as corePlanRemoval,
  type PlanRemovalOptions,
  type RemovalPlan,
  type RemovalResult,
} from "./src/core/manage/remove.ts";
import { type CacheInfo, scanCache as coreScanCache } from "./src/core/manage/scan.ts";
import { verifyRepo as coreVerifyRepo, type VerifyOptions, type VerifyReport } from "./src/core/manage/verify.ts";
import { repairRepo as coreRepairRepo, type RepairReport } from "./src/core/manage/repair.ts";
import type { CacheOptions, DownloadFileOptions } from "./src/core/options.ts";
import type { FileSystem, Runtime } from "./src/core/ports.ts";

export * from "./src/core/mod.ts";
export { defaultRuntime } from "./src/adapters/runtime_auto.ts";

/** How this entry point picks the runtime of an operation: `runtime`, else the running one's; `fs` swapped in if given. */
export interface RuntimeChoice {
  /** The adapter bundle. Default: the running runtime's ({@link defaultRuntime}). */
  runtime?: Runtime;
  /** A file system to use instead of the runtime's own (the rest of the runtime stays). */
  fs?: FileSystem;
}

/**
 * The runtime an operation runs with: `options.runtime`, else the running runtime's adapter,
 * with `options.fs` swapped in if given.
 *
 * @example
 * ```ts
 * import { runtimeFor } from "hubcache";
 * import { MemoryFileSystem } from "hubcache/adapters/memory";
 *
 * const runtime = runtimeFor({ fs: new MemoryFileSystem() });
 * console.log(runtime.name); // "node", "deno" or "bun": the running runtime's, with files in memory
 * ```
 */
export function runtimeFor(options: RuntimeChoice): Runtime {
  const base = options.runtime ?? defaultRuntime();
  return options.fs ? { ...base, fs: options.fs } : base;
}

/** Options of {@link downloadFile} as this entry point takes them: `runtime` and `fs` optional. */
export type DownloadOptions = DownloadFileOptions & RuntimeChoice;

/**
 * Download one file into the cache; returns the absolute path of its snapshot file.
 *
 * @example
 * ```ts
 * import { downloadFile } from "hubcache";
 *
 * const path = await downloadFile({
 *   repo: "openai-community/gpt2",
 *   path: "config.json",
 *   revision: "main",
 *   onProgress: (p) => console.error(p.path, p.bytesDone, "/", p.bytesTotal),
 * });
 * ```
 */
export function downloadFile(options: DownloadOptions): Promise<string> {
  return coreDownloadFile({ ...options, runtime: runtimeFor(options) });
}

/** Options of {@link downloadSnapshot} as this entry point takes them: `runtime` and `fs` optional. */
export type SnapshotOptions = DownloadSnapshotOptions & RuntimeChoice;

/**
 * Download a whole repo (or the files matching `include`/`exclude`); returns the absolute
 * path of the snapshot folder.
 *
 * @example
 * ```ts
 * import { downloadSnapshot } from "hubcache";
 *
 * const dir = await downloadSnapshot({ repo: "openai-community/gpt2", include: ["*.json"], concurrency: 8 });
 * ```
 */
export function downloadSnapshot(options: SnapshotOptions): Promise<string> {
  return coreDownloadSnapshot({ ...options, runtime: runtimeFor(options) });
}

/**
 * What the cache alone knows about one file (the Python client's `try_to_load_from_cache`).
 *
 * @example
 * ```ts
 * import { lookupCached } from "hubcache";
 *
 * const hit = await lookupCached({ repo: "openai-community/gpt2", path: "config.json" });
 * if (hit.kind === "hit") console.log(hit.path);
 * ```
 */
export function lookupCached(options: LookupCachedOptions & RuntimeChoice): Promise<CachedLookup> {
  return coreLookupCached({ ...options, runtime: runtimeFor(options) });
}

/**
 * The cache root operations use when given no `cacheDir`, from the environment as the Python
 * client reads it.
 *
 * @example
 * ```ts
 * import { defaultCacheDir } from "hubcache";
 *
 * console.log(defaultCacheDir()); // e.g. "/home/me/.cache/huggingface/hub"
 * ```
 */
export function defaultCacheDir(options: RuntimeChoice = {}): string {
  return coreDefaultCacheDir({ runtime: runtimeFor(options) });
}

/**
 * Scan the cache with the numbers of the Python client's `scan_cache_dir`, plus every temp file
 * and whether its writer may still be alive.
 *
 * @example
 * ```ts
 * import { scanCache } from "hubcache";
 *
 * const info = await scanCache(); // or scanCache({ cacheDir: "/data/hf/hub" })
 * for (const repo of info.repos) console.log(`${repo.repoType}/${repo.repoId}`, repo.sizeOnDisk);
 * ```
 */
export function scanCache(options: CacheOptions & RuntimeChoice = {}): Promise<CacheInfo> {
  return coreScanCache({ ...options, runtime: runtimeFor(options) });
}

/**
 * Re-hash every file of a cached repo against its content address.
 *
 * @example
 * ```ts
 * import { verifyRepo } from "hubcache";
 *
 * const report = await verifyRepo({ repo: "openai-community/gpt2" });
 * if (!report.healthy) for (const f of report.damaged) console.error(f.path, f.detail);
 * ```
 */
export function verifyRepo(options: VerifyOptions & RuntimeChoice): Promise<VerifyReport> {
  return coreVerifyRepo({ ...options, runtime: runtimeFor(options) });
}

/**
 * Verify a cached repo and repair it: damaged, truncated and missing files downloaded again
 * (verified), refs that hold no commit resolved again, wrong `.no_exist` markers removed.
 *
 * @example
 * ```ts
 * import { repairRepo } from "hubcache";
 *
 * const report = await repairRepo({ repo: "openai-community/gpt2" });
 * for (const a of report.repaired) console.log(a.kind, a.path, a.detail);
 * ```
 */
export function repairRepo(options: VerifyOptions & RuntimeChoice): Promise<RepairReport> {
  return coreRepairRepo({ ...options, runtime: runtimeFor(options) });
}

/**
 * Remove what killed or finished downloads left behind, and detached revisions, never a live
 * writer's file.
 *
 * @example
 * ```ts
 * import { pruneCache } from "hubcache";
 *
 * const result = await pruneCache({ olderThan: "1d" });
 * console.log(`freed ${result.freedBytes} bytes`);
 * ```
 */
export function pruneCache(options: PruneOptions & RuntimeChoice = {}): Promise<PruneResult> {
  return corePruneCache({ ...options, runtime: runtimeFor(options) });
}

/**
 * Work out what removing revisions or whole repos deletes; nothing is touched yet.
 *
 * @example
 * ```ts
 * import { executeRemoval, planRemoval } from "hubcache";
 *
 * const plan = await planRemoval({ targets: ["openai-community/gpt2"] });
 * console.log(`${plan.expectedFreedBytes} bytes would be freed`);
 * const result = await executeRemoval({ plan });
 * console.log(result.removed.length, "paths removed");
 * ```
 */
export function planRemoval(options: PlanRemovalOptions & RuntimeChoice): Promise<RemovalPlan> {
  return corePlanRemoval({ ...options, runtime: runtimeFor(options) });
}

/**
 * Carry out a {@link RemovalPlan}, keeping what concurrent downloads started using meanwhile.
 *
 * @example
 * ```ts
 * import { executeRemoval, planRemoval } from "hubcache";
 *
 * const result = await executeRemoval({ plan: await planRemoval({ targets: ["openai-community/gpt2"] }) });
 * console.log(`freed ${result.freedBytes} bytes`);
 * ```
 */
export function executeRemoval(options: ExecuteRemovalOptions & RuntimeChoice): Promise<RemovalResult> {
  return coreExecuteRemoval({ ...options, runtime: runtimeFor(options) });
}
