/**
 * Turning user options into a resolved job: validated ids, defaults from the
 * environment, the repo's layout, and a Hub client.
 *
 * @module
 */

import { DEFAULT_REVISION } from "./defaults.ts";
import { envCacheDir, envEndpoint, envFlag, envSecondsMs } from "./environment.ts";
import { InvalidInputError } from "./errors.ts";
import type { HubClient } from "./hub/client.ts";
import { resolveToken } from "./hub/token.ts";
import { repoLayout, type RepoLayout } from "./cache/layout.ts";
import type { HubOptions } from "./options.ts";
import { isFsError, type Runtime } from "./ports.ts";
import { type RepoType, validateRepoId, validateRepoType, validateRevision } from "./cache/validate.ts";
import { withTransientRetries } from "./fs/transient.ts";
import { VERSION } from "./version.ts";

/** Options resolved against the environment, with the repo's layout. */
export interface RepoContext {
  /** The adapter bundle every step goes through. */
  readonly runtime: Runtime;
  /** Validated `name` or `namespace/name`. */
  readonly repoId: string;
  /** Validated; defaults to `"model"`. */
  readonly repoType: RepoType;
  /** As the user gave it (branch, tag, commit or `refs/pr/N`), not yet resolved to a commit. */
  readonly revision: string;
  /** Absolute cache root without a trailing slash. */
  readonly cacheDir: string;
  /** The repo's folders, computed once. */
  readonly layout: RepoLayout;
  /** Never touch the network: answer from the cache or fail with `OfflineCacheMissError`. */
  readonly offline: boolean;
  /** Endpoint, token, fetch and User-Agent for talking to the Hub. */
  readonly client: HubClient;
  /** The caller's signal (also inside `client`), for the waits and locks that do not go through `fetch`. */
  readonly signal: AbortSignal | undefined;
}

/**
 * Validate options and fill defaults (`HF_HUB_CACHE`, `HF_ENDPOINT`, `HF_HUB_OFFLINE`, the token
 * as `hub/token.ts` finds it).
 */
export async function resolveRepoContext(options: HubOptions & { runtime: Runtime }): Promise<RepoContext> {
  // Every cache operation of the job retries ESTALE of network file systems (transient.ts).
  const runtime = withTransientRetries(options.runtime);
  const { platform } = runtime;
  const repoType = validateRepoType(options.repoType ?? "model");
  const repoId = validateRepoId(options.repo);
  const revision = validateRevision(options.revision ?? DEFAULT_REVISION);
  const cacheDir = normaliseDir(options.cacheDir ?? envCacheDir(platform), "cache directory");
  await refuseNonDirectory(runtime, cacheDir, options.cacheDir !== undefined);
  const endpoint = (options.endpoint ?? envEndpoint(platform)).replace(/\/+$/, "");
  let parsed: URL;
  try {
    parsed = new URL(endpoint);
  } catch {
    throw new InvalidInputError(`invalid endpoint '${endpoint}': use a URL such as https://huggingface.co`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new InvalidInputError(`invalid endpoint '${endpoint}': only http and https are supported`);
  }
  const offline = options.offline ?? envFlag(platform, "HF_HUB_OFFLINE");
  const token = await resolveToken(options.token, runtime);
  const client: HubClient = {
    endpoint,
    token: token?.value,
    tokenSource: token?.source,
    fetch: options.fetch ?? runtime.fetch,
    platform,
    userAgent: options.userAgent ?? `hubcache/${VERSION}; runtime/${runtime.name}`,
    signal: options.signal,
    onWarning: options.onWarning,
    metadataTimeoutMs: options.metadataTimeoutMs ?? envSecondsMs(platform, "HF_HUB_ETAG_TIMEOUT"),
  };
  return {
    runtime,
    repoId,
    repoType,
    revision,
    cacheDir,
    layout: repoLayout(cacheDir, repoType, repoId),
    offline,
    client,
    signal: options.signal,
  };
}

/** A local directory option (`localDir`), checked as the cache directory is: absolute, no trailing slash. */
export function localDirOf(dir: string): string {
  return normaliseDir(dir, "local directory");
}

/**
 * A cache root that exists but is not a folder (`--cache-dir` naming a file) would otherwise
 * fail deep inside a download with an `ENOTDIR` about an inner path; say what is wrong instead.
 */
async function refuseNonDirectory(runtime: Runtime, cacheDir: string, given: boolean): Promise<void> {
  let info;
  try {
    info = await runtime.fs.stat(cacheDir);
  } catch (err) {
    if (isFsError(err, "ENOENT")) return; // created by the download
    if (!isFsError(err, "ENOTDIR")) throw err;
  }
  if (info?.kind === "directory") return;
  const named = given ? "--cache-dir (cacheDir)" : "HF_HUB_CACHE, HF_HOME or XDG_CACHE_HOME";
  throw new InvalidInputError(`the cache directory ${cacheDir} is not a directory (${info ? "it is a file" : "a parent is a file"}): check ${named}`);
}

function normaliseDir(dir: string, what: string): string {
  if (!dir.startsWith("/")) throw new InvalidInputError(`the ${what} must be an absolute path, got '${dir}'`);
  return dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
}
