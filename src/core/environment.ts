/**
 * Defaults from the environment, with the Python client's variable names and precedence. Read
 * lazily, at call time, because Deno asks permission per variable; only variables a user sets
 * are ever read (`HF_*`, `XDG_CACHE_HOME`, `HUBCACHE_HOSTNAME` in the adapters).
 *
 * @module
 */

import { DEFAULT_ENDPOINT } from "./defaults.ts";
import { joinPath } from "./fs/paths.ts";
import type { WithRuntime } from "./options.ts";
import type { Platform } from "./ports.ts";

/**
 * The cache root the environment names: `HF_HUB_CACHE` > `HUGGINGFACE_HUB_CACHE` >
 * `$HF_HOME/hub` > `$XDG_CACHE_HOME/huggingface/hub` > `~/.cache/huggingface/hub`.
 */
export function envCacheDir(platform: Platform): string {
  const explicit = nonEmpty(platform.env("HF_HUB_CACHE")) ?? nonEmpty(platform.env("HUGGINGFACE_HUB_CACHE"));
  if (explicit) return expandHome(explicit, platform);
  const hfHome = nonEmpty(platform.env("HF_HOME"));
  if (hfHome) return joinPath(expandHome(hfHome, platform), "hub");
  const xdg = nonEmpty(platform.env("XDG_CACHE_HOME"));
  if (xdg) return joinPath(expandHome(xdg, platform), "huggingface", "hub");
  return joinPath(platform.homeDir(), ".cache", "huggingface", "hub");
}

/**
 * The cache root every operation uses when it is given no `cacheDir`, as the Python client
 * finds it: `HF_HUB_CACHE` > `HUGGINGFACE_HUB_CACHE` > `$HF_HOME/hub` >
 * `$XDG_CACHE_HOME/huggingface/hub` > `~/.cache/huggingface/hub`.
 *
 * @example
 * ```ts
 * import { defaultCacheDir } from "hubcache/core";
 * import { memoryRuntime } from "hubcache/adapters/memory";
 *
 * const runtime = memoryRuntime({ env: { HF_HOME: "/data/hf" } });
 * console.log(defaultCacheDir({ runtime })); // "/data/hf/hub"
 * ```
 */
export function defaultCacheDir(options: WithRuntime<object>): string {
  return envCacheDir(options.runtime.platform);
}

/** `HF_ENDPOINT` or the public Hub, without a trailing slash (URLs are built by appending `/…`). */
export function envEndpoint(platform: Platform): string {
  return (nonEmpty(platform.env("HF_ENDPOINT")) ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
}

/**
 * Where `hf auth login` saved the token: `HF_TOKEN_PATH` > `$HF_HOME/token` >
 * `$XDG_CACHE_HOME/huggingface/token` > `~/.cache/huggingface/token` (the Python client's
 * constants; `hub/token.ts` decides whether it is read).
 */
export function envTokenFilePath(platform: Platform): string {
  const explicit = nonEmpty(platform.env("HF_TOKEN_PATH"));
  if (explicit) return expandHome(explicit, platform);
  const hfHome = nonEmpty(platform.env("HF_HOME"));
  if (hfHome) return joinPath(expandHome(hfHome, platform), "token");
  const xdg = nonEmpty(platform.env("XDG_CACHE_HOME"));
  if (xdg) return joinPath(expandHome(xdg, platform), "huggingface", "token");
  return joinPath(platform.homeDir(), ".cache", "huggingface", "token");
}

/**
 * A duration in seconds from the environment, in milliseconds (`HF_HUB_DOWNLOAD_TIMEOUT=30` →
 * 30000), or `undefined` when unset or not a positive number.
 */
export function envSecondsMs(platform: Platform, name: string): number | undefined {
  const value = Number((platform.env(name) ?? "").trim());
  return Number.isFinite(value) && value > 0 ? value * 1000 : undefined;
}

/** A boolean environment flag as the Python client reads it: `1`, `true`, `yes`, `on`. */
export function envFlag(platform: Platform, name: string): boolean {
  return ["1", "true", "yes", "on"].includes((platform.env(name) ?? "").trim().toLowerCase());
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function expandHome(path: string, platform: Platform): string {
  return path === "~" || path.startsWith("~/") ? platform.homeDir() + path.slice(1) : path;
}
