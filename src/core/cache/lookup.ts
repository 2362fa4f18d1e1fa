/**
 * Answering from the cache alone: for a commit revision without any request, offline
 * (`HF_HUB_OFFLINE=1`), and when the Hub cannot be reached.
 *
 * @module
 */

import { pointerPath, type RepoLayout } from "./layout.ts";
import type { Runtime } from "../ports.ts";
import { isKnownAbsent } from "./no_exist.ts";
import { readRef } from "./refs.ts";
import { isCommitHash } from "./validate.ts";
import { withTransientRetries } from "../fs/transient.ts";

/** What the cache knows about one file at one revision. */
export type CachedLookup =
  | { readonly kind: "hit"; readonly path: string; readonly commit: string }
  /** `.no_exist/<commit>/<path>` says the file does not exist. */
  | { readonly kind: "absent"; readonly commit: string }
  /** The revision is not in `refs/` (and is not a commit hash). */
  | { readonly kind: "unknown-revision" }
  /** The revision is known but the file was never downloaded for it. */
  | { readonly kind: "missing"; readonly commit: string };

/**
 * Look a file up through `refs/` → `snapshots/` (and `.no_exist/`), touching no network.
 *
 * @example
 * ```ts
 * const hit = await lookupCached(runtime, layout, "main", "config.json");
 * if (hit.kind === "hit") console.log(hit.path);
 * ```
 */
export async function lookupCached(
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
