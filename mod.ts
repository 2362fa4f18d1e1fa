/**
 * hubcache: download Hugging Face Hub files into the shared cache layout, safely when many
 * processes, runtimes and machines share one cache. This entry point picks the adapter for
 * the running runtime (Node, Deno or Bun); pass `runtime` to use another.
 *
 * @example
 * ```ts
 * import { downloadFile } from "hubcache";
 * const path = await downloadFile({ repo: "openai-community/gpt2", path: "config.json" });
 * ```
 *
 * @module
 */

import { downloadFile as coreDownloadFile } from "./src/core/download/download.ts";
import { downloadSnapshot as coreDownloadSnapshot, type DownloadSnapshotOptions } from "./src/core/download/snapshot.ts";
import type { DownloadFileOptions } from "./src/core/options.ts";
import type { FileSystem, Runtime } from "./src/core/ports.ts";
import { defaultRuntime } from "./src/adapters/runtime_auto.ts";

export * from "./src/core/mod.ts";
export { defaultRuntime } from "./src/adapters/runtime_auto.ts";

/** Options of {@link downloadFile} as this entry point takes them: `runtime` and `fs` optional. */
export type DownloadOptions = DownloadFileOptions & { fs?: FileSystem };

/**
 * The runtime an operation runs with: `options.runtime`, else the running runtime's adapter,
 * with `options.fs` swapped in if given.
 *
 * @example
 * ```ts
 * runtimeFor({ fs: myFileSystem }).name; // "node"
 * ```
 */
export function runtimeFor(options: { runtime?: Runtime; fs?: FileSystem }): Runtime {
  const base = options.runtime ?? defaultRuntime();
  return options.fs ? { ...base, fs: options.fs } : base;
}

/**
 * Download one file into the cache; returns the absolute path of its snapshot file.
 *
 * @example
 * ```ts
 * const path = await downloadFile({ repo: "openai-community/gpt2", path: "config.json", revision: "main" });
 * ```
 */
export function downloadFile(options: DownloadOptions): Promise<string> {
  return coreDownloadFile({ ...options, runtime: runtimeFor(options) });
}

/** Options of {@link downloadSnapshot} as this entry point takes them: `runtime` and `fs` optional. */
export type SnapshotOptions = DownloadSnapshotOptions & { fs?: FileSystem };

/**
 * Download a whole repo (or the files matching `include`/`exclude`); returns the absolute
 * path of the snapshot folder.
 *
 * @example
 * ```ts
 * const dir = await downloadSnapshot({ repo: "openai-community/gpt2", include: ["*.json"] });
 * ```
 */
export function downloadSnapshot(options: SnapshotOptions): Promise<string> {
  return coreDownloadSnapshot({ ...options, runtime: runtimeFor(options) });
}
