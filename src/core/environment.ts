/**
 * Defaults from the environment, with the Python client's variable names and
 * precedence. Read lazily, at call time, because Deno asks permission per access.
 *
 * @module
 */

import type { Platform } from "./ports.ts";
import { DEFAULT_ENDPOINT } from "./defaults.ts";
import { joinPath } from "./fs/paths.ts";

/**
 * The cache root: `HF_HUB_CACHE` > `HUGGINGFACE_HUB_CACHE` > `$HF_HOME/hub` >
 * `$XDG_CACHE_HOME/huggingface/hub` > `~/.cache/huggingface/hub`.
 *
 * @example
 * ```ts
 * defaultCacheDir(runtime.platform); // "/home/me/.cache/huggingface/hub"
 * ```
 */
export function defaultCacheDir(platform: Platform): string {
  const explicit = nonEmpty(platform.env("HF_HUB_CACHE")) ?? nonEmpty(platform.env("HUGGINGFACE_HUB_CACHE"));
  if (explicit) return expandHome(explicit, platform);
  const hfHome = nonEmpty(platform.env("HF_HOME"));
  if (hfHome) return joinPath(expandHome(hfHome, platform), "hub");
  const xdg = nonEmpty(platform.env("XDG_CACHE_HOME"));
  if (xdg) return joinPath(expandHome(xdg, platform), "huggingface", "hub");
  return joinPath(platform.homeDir(), ".cache", "huggingface", "hub");
}

/**
 * `HF_ENDPOINT` or the public Hub, without a trailing slash (URLs are built by appending `/…`).
 *
 * @example
 * ```ts
 * defaultEndpoint(runtime.platform); // "https://huggingface.co", or HF_ENDPOINT when set
 * ```
 */
export function defaultEndpoint(platform: Platform): string {
  return (nonEmpty(platform.env("HF_ENDPOINT")) ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
}

/**
 * `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`), if set. Unlike the Python client we do
 * not read the token file that `hf auth login` writes.
 *
 * @example
 * ```ts
 * const token = defaultToken(runtime.platform); // undefined when neither variable is set
 * ```
 */
export function defaultToken(platform: Platform): string | undefined {
  return nonEmpty(platform.env("HF_TOKEN")) ?? nonEmpty(platform.env("HUGGING_FACE_HUB_TOKEN"));
}

/**
 * A boolean environment flag as the Python client reads it: `1`, `true`, `yes`, `on`.
 *
 * @example
 * ```ts
 * envFlag(runtime.platform, "HF_HUB_OFFLINE"); // false
 * ```
 */
export function envFlag(platform: Platform, name: string): boolean {
  return ["1", "true", "yes", "on"].includes((platform.env(name) ?? "").trim().toLowerCase());
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function expandHome(path: string, platform: Platform): string {
  return path === "~" || path.startsWith("~/") ? platform.homeDir() + path.slice(1) : path;
}
