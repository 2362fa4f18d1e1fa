/**
 * The runtime-agnostic core of hubcache. Bring your own {@link Runtime} (for example
 * `memoryRuntime()` from `hubcache/adapters/memory` on an edge runtime).
 *
 * @example
 * ```ts
 * import { downloadFile } from "hubcache/core";
 * import { memoryRuntime } from "hubcache/adapters/memory";
 *
 * const runtime = memoryRuntime({ timers: "real" });
 * const path = await downloadFile({ runtime, repo: "openai-community/gpt2", path: "config.json", cacheDir: "/cache" });
 * console.log(new TextDecoder().decode(await runtime.fs.readFile(path)));
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./ports.ts";
export * from "./options.ts";
export { downloadFile } from "./download/download.ts";
export { downloadSnapshot, type DownloadSnapshotOptions, type SnapshotProgress } from "./download/snapshot.ts";
export { type DownloadPlan, planDownload, type PlannedFile } from "./download/plan.ts";
export { filterPaths, globToRegExp } from "./download/patterns.ts";
export { type CachedLookup, lookupCached, type LookupCachedOptions } from "./cache/lookup.ts";
export { defaultCacheDir } from "./environment.ts";
export { DEFAULT_ENDPOINT } from "./defaults.ts";
export { VERSION } from "./version.ts";
export type { OwnerState, TempOwner } from "./writer_identity.ts";
export {
  blobPath,
  parseBlobsEntry,
  parseRepoFolderName,
  pointerPath,
  refPath,
  relativeBlobTarget,
  repoFolderName,
  repoLayout,
  type BlobsEntry,
  type RepoLayout,
} from "./cache/layout.ts";
export { hashAlgorithmFor } from "./cache/content_hash.ts";
export {
  isCommitHash,
  parseEtag,
  type RepoType,
  validateRepoId,
  validateRepoPath,
  validateRevision,
} from "./cache/validate.ts";
export {
  scanCache,
  type CacheInfo,
  type CachedRepoInfo,
  type CachedRevisionInfo,
  type CachedFileInfo,
  type CacheWarning,
  type TempFileInfo,
} from "./manage/scan.ts";
export {
  executeRemoval,
  type ExecuteRemovalOptions,
  planRemoval,
  type PlannedBlob,
  type PlannedRef,
  type PlanRemovalOptions,
  type RemovalPlan,
  type RemovalResult,
  type RemovalSelection,
} from "./manage/remove.ts";
export { pruneCache, parseDuration, parseSize, type PruneItem, type PruneKind, type PruneOptions, type PruneResult } from "./manage/prune.ts";
export { repairRepo, type RepairAction, type RepairReport } from "./manage/repair.ts";
export { verifyRepo, type ExtraEntry, type VerifiedFile, type VerifyOptions, type VerifyReport, type VerifyStatus } from "./manage/verify.ts";
