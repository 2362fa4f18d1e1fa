/**
 * Answering from the cache alone: for a commit revision without any request, offline
 * (`HF_HUB_OFFLINE=1`), and when the Hub cannot be reached.
 *
 * @module
 */

import { DEFAULT_REVISION } from "../defaults.ts";
import { envCacheDir } from "../environment.ts";
import { withTransientRetries } from "../fs/transient.ts";
import type { CacheOptions, WithRuntime } from "../options.ts";
import type { Runtime } from "../ports.ts";
import { pointerPath, type RepoLayout, repoLayout } from "./layout.ts";
import { isKnownAbsent } from "./no_exist.ts";
import { readRef } from "./refs.ts";
import { isCommitHash, type RepoType, validateRepoId, validateRepoPath, validateRepoType, validateRevision } from "./validate.ts";

/** What the cache knows about one file at one revision. */
export type CachedLookup =
  | { readonly kind: "hit"; readonly path: string; readonly commit: string }
  /** `.no_exist/<commit>/<path>` says the file does not exist. */
  | { readonly kind: "absent"; readonly commit: string }
  /** The revision is not in `refs/` (and is not a commit hash). */
  | { readonly kind: "unknown-revision" }
  /** The revision is known but the file was never downloaded for it. */
  | { readonly kind: "missing"; readonly commit: string };

/** Options of {@link lookupCached}. */
export interface LookupCachedOptions extends CacheOptions {
  /** `name` or `namespace/name`. */
  repo: string;
  /** The file's path inside the repo. */
  path: string;
  /** Default `"model"`. */
  repoType?: RepoType;
  /** Branch, tag, commit or `refs/pr/N`, as cached in `refs/`. Default `"main"`. */
  revision?: string;
}

/**
 * What the cache alone knows about one file at one revision — the Python client's
 * `try_to_load_from_cache` — through `refs/` → `snapshots/` (and `.no_exist/`), touching no
 * network.
 *
 * @example
 * ```ts
 * import { lookupCached } from "hubcache/core";
 * import { nodeRuntime } from "hubcache/adapters/node";
 *
 * const hit = await lookupCached({ runtime: nodeRuntime(), repo: "openai-community/gpt2", path: "config.json" });
 * if (hit.kind === "hit") console.log(hit.path);
 * else if (hit.kind === "absent") console.log(`not in the repo at ${hit.commit}`);
 * ```
 */
export async function lookupCached(options: WithRuntime<LookupCachedOptions>): Promise<CachedLookup> {
  const runtime = withTransientRetries(options.runtime);
  const repoType = validateRepoType(options.repoType ?? "model");
  const layout = repoLayout(options.cacheDir ?? envCacheDir(runtime.platform), repoType, validateRepoId(options.repo));
  return await lookupInCache(runtime, layout, validateRevision(options.revision ?? DEFAULT_REVISION), validateRepoPath(options.path));
}

/** {@link lookupCached} for a repo whose layout is known. */
export async function lookupInCache(
  runtime: Runtime,
  layout: RepoLayout,
  revision: string,
  path: string,
): Promise<CachedLookup> {
  runtime = withTransientRetries(runtime);
  const commit = isCommitHash(revision) ? revision : await readRef(runtime, layout, revision);
  if (!commit) return { kind: "unknown-revision" };
  const pointer = pointerPath(layout, commit, path);
  const info = await runtime.fs.stat(pointer).catch(() => null);
  if (info?.kind === "file") return { kind: "hit", path: pointer, commit };
  if (await isKnownAbsent(runtime, layout, commit, path)) return { kind: "absent", commit };
  return { kind: "missing", commit };
}
