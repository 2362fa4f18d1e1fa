/**
 * The Hugging Face Hub cache layout, byte-compatible with the Python client:
 *
 * ```
 * <cache>/CACHEDIR.TAG
 * <cache>/.locks/models--org--name/<etag>.lock
 * <cache>/models--org--name/blobs/<etag>
 * <cache>/models--org--name/refs/main                      40 hex, no newline
 * <cache>/models--org--name/refs/refs/pr/1
 * <cache>/models--org--name/snapshots/<commit>/<path>      -> ../../blobs/<etag>
 * <cache>/models--org--name/.no_exist/<commit>/<path>
 * <cache>/models--org--name/trees/<commit>.json
 * ```
 *
 * All paths are POSIX strings; callers validate ids and paths first (validate.ts).
 *
 * @module
 */

import { joinPath } from "../fs/paths.ts";
import { ownerName, parseOwnerName, type TempOwner } from "../writer_identity.ts";
import type { RepoType } from "./validate.ts";

const TYPE_PREFIX: Record<RepoType, string> = { model: "models", dataset: "datasets", space: "spaces" };

/**
 * The repo folder name used by the Python client.
 *
 * @example
 * ```ts
 * import { repoFolderName } from "hubcache/core";
 *
 * console.log(repoFolderName("model", "openai-community/gpt2")); // "models--openai-community--gpt2"
 * ```
 */
export function repoFolderName(repoType: RepoType, repoId: string): string {
  return [TYPE_PREFIX[repoType], ...repoId.split("/")].join("--");
}

/**
 * The inverse of {@link repoFolderName}; `null` for folders that are not repos.
 *
 * @example
 * ```ts
 * import { parseRepoFolderName } from "hubcache/core";
 *
 * console.log(parseRepoFolderName("datasets--org--set")); // { repoType: "dataset", repoId: "org/set" }
 * console.log(parseRepoFolderName(".locks")); // null
 * ```
 */
export function parseRepoFolderName(name: string): { repoType: RepoType; repoId: string } | null {
  // The Python client's rule (scan_cache_dir): the type, then the id with `--` read as `/`.
  const parts = name.split("--");
  if (parts.length < 2 || parts.some((p) => p === "")) return null;
  const type = (Object.keys(TYPE_PREFIX) as RepoType[]).find((t) => TYPE_PREFIX[t] === parts[0]);
  if (!type) return null;
  return { repoType: type, repoId: parts.slice(1).join("/") };
}

/** The folders of one repo inside the cache. */
export interface RepoLayout {
  /** The cache root, absolute. */
  readonly cacheDir: string;
  /** Part of the folder name: a model and a dataset with the same id are different folders. */
  readonly repoType: RepoType;
  /** `name` or `namespace/name`, as validated. */
  readonly repoId: string;
  /** `models--org--name` */
  readonly folderName: string;
  /** `<cache>/models--org--name` */
  readonly repoDir: string;
  /** `<repo>/blobs`: file contents named by their content address (etag). */
  readonly blobsDir: string;
  /** `<repo>/refs`: one file per branch or tag, holding the commit it points at. */
  readonly refsDir: string;
  /** `<repo>/snapshots`: one folder per commit, with the repo's files as pointers to blobs. */
  readonly snapshotsDir: string;
  /** `<repo>/.no_exist`: empty marker files for paths known to be absent at a commit. */
  readonly noExistDir: string;
  /** `<repo>/trees`: cached tree listings, which let a no-symlink cache be verified. */
  readonly treesDir: string;
  /** `<cache>/.locks/models--org--name` (where the Python client keeps its lock files) */
  readonly locksDir: string;
  /**
   * `<repo>/.hubcache-tmp`: temp files for refs, copied pointers and tree listings. Kept out of
   * `refs/` and `snapshots/` because the Python client's scan reads every file there; made by
   * the first write that needs it, removed by `cache prune` when empty (see `withScratchPath`).
   */
  readonly tmpDir: string;
}

/**
 * Every folder of one repo.
 *
 * @example
 * ```ts
 * import { repoLayout } from "hubcache/core";
 *
 * const layout = repoLayout("/home/me/.cache/huggingface/hub", "model", "openai-community/gpt2");
 * console.log(layout.blobsDir); // "/home/me/.cache/huggingface/hub/models--openai-community--gpt2/blobs"
 * console.log(layout.locksDir); // "/home/me/.cache/huggingface/hub/.locks/models--openai-community--gpt2"
 * ```
 */
export function repoLayout(cacheDir: string, repoType: RepoType, repoId: string): RepoLayout {
  const folderName = repoFolderName(repoType, repoId);
  const repoDir = joinPath(cacheDir, folderName);
  return {
    cacheDir,
    repoType,
    repoId,
    folderName,
    repoDir,
    blobsDir: joinPath(repoDir, "blobs"),
    refsDir: joinPath(repoDir, "refs"),
    snapshotsDir: joinPath(repoDir, "snapshots"),
    noExistDir: joinPath(repoDir, ".no_exist"),
    treesDir: joinPath(repoDir, "trees"),
    locksDir: joinPath(cacheDir, ".locks", folderName),
    tmpDir: joinPath(repoDir, ".hubcache-tmp"),
  };
}

/**
 * `blobs/<etag>`: where a file's content lives, shared by every commit that has it.
 *
 * @example
 * ```ts
 * import { blobPath, repoLayout } from "hubcache/core";
 *
 * const layout = repoLayout("/c", "model", "gpt2");
 * console.log(blobPath(layout, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")); // "/c/models--gpt2/blobs/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * ```
 */
export function blobPath(layout: RepoLayout, etag: string): string {
  return joinPath(layout.blobsDir, etag);
}

/**
 * `snapshots/<commit>/<path>`: where users read a file.
 *
 * @example
 * ```ts
 * import { pointerPath, repoLayout } from "hubcache/core";
 *
 * const commit = "0123456789abcdef0123456789abcdef01234567";
 * console.log(pointerPath(repoLayout("/c", "model", "gpt2"), commit, "onnx/model.onnx"));
 * // "/c/models--gpt2/snapshots/0123456789abcdef0123456789abcdef01234567/onnx/model.onnx"
 * ```
 */
export function pointerPath(layout: RepoLayout, commit: string, filePath: string): string {
  return joinPath(layout.snapshotsDir, commit, filePath);
}

/** `snapshots/<commit>`: what `downloadSnapshot` returns. */
export function snapshotDir(layout: RepoLayout, commit: string): string {
  return joinPath(layout.snapshotsDir, commit);
}

/**
 * `refs/<revision>`; `refs/pr/1` lives at `refs/refs/pr/1` as in the Python client.
 *
 * @example
 * ```ts
 * import { refPath, repoLayout } from "hubcache/core";
 *
 * const layout = repoLayout("/c", "model", "gpt2");
 * console.log(refPath(layout, "main")); // "/c/models--gpt2/refs/main"
 * console.log(refPath(layout, "refs/pr/1")); // "/c/models--gpt2/refs/refs/pr/1"
 * ```
 */
export function refPath(layout: RepoLayout, revision: string): string {
  return joinPath(layout.refsDir, revision);
}

/**
 * `.no_exist/<commit>/<path>`: marks a file known to be absent at a commit, so offline runs
 * and the Python client can answer "absent" without asking the Hub.
 */
export function noExistPath(layout: RepoLayout, commit: string, filePath: string): string {
  return joinPath(layout.noExistDir, commit, filePath);
}

/** `trees/<commit>.json`: a cached tree listing. */
export function treePath(layout: RepoLayout, commit: string): string {
  return joinPath(layout.treesDir, `${commit}.json`);
}

/** The Python client's lock file for a blob (we flock it where we can, never create-exclusive it). */
export function pythonLockPath(layout: RepoLayout, etag: string): string {
  return joinPath(layout.locksDir, `${etag}.lock`);
}

/**
 * hubcache's own de-duplication lock beside the Python one. A separate name because ours is
 * created exclusively and removed when stale, which Python's ever-present `*.lock` cannot be.
 */
export function ownLockPath(layout: RepoLayout, etag: string): string {
  return joinPath(layout.locksDir, `${etag}.hubcache-lock`);
}

/**
 * The relative symlink target from a snapshot pointer to its blob:
 * `../../blobs/<etag>`, plus one `../` per sub-folder of the file path.
 *
 * @example
 * ```ts
 * import { relativeBlobTarget } from "hubcache/core";
 *
 * console.log(relativeBlobTarget("onnx/model.onnx", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")); // "../../../blobs/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * ```
 */
export function relativeBlobTarget(filePath: string, etag: string): string {
  const depth = filePath.split("/").length - 1;
  return "../".repeat(2 + depth) + "blobs/" + etag;
}

/** What a name found in `blobs/` is. */
export type BlobsEntry =
  | { kind: "blob"; etag: string }
  /** `<etag>.<host>-<pid>-<nonce>.incomplete`: a hubcache writer's own temp file. */
  | { kind: "temp"; etag: string; owner: TempOwner }
  /** `<etag>.partial`: an interrupted download released for resume. */
  | { kind: "partial"; etag: string }
  /** `<etag>.incomplete`: the shared temp file of older Python clients. */
  | { kind: "legacy"; etag: string }
  /** `<etag>.<uuid>.incomplete` and other temp files of other clients. */
  | { kind: "foreign-temp"; etag: string }
  | { kind: "other" };

/** The unique temp name of one writer (`docs/DESIGN.md §Invariants 2`). */
export function tempBlobName(etag: string, owner: TempOwner): string {
  return `${etag}.${ownerName(owner)}.incomplete`;
}

/**
 * The name a claimer gives a file that may still have a live writer while it copies it:
 * `<etag>.<host>-<pid>-<nonce>.adopting`. Unlike a `.incomplete` of a dead writer, it is
 * only ever adopted by copying (see `claimPartial`).
 */
export function adoptingBlobName(etag: string, owner: TempOwner): string {
  return `${etag}.${ownerName(owner)}.adopting`;
}

/** `<etag>.partial`: an interrupted download released for whichever writer resumes it next. */
export function partialBlobName(etag: string): string {
  return `${etag}.partial`;
}

const ENTRY = /^([0-9a-f]{40}|[0-9a-f]{64})(?:\.(.+))?$/;

/**
 * Classify a name found in `blobs/`.
 *
 * @example
 * ```ts
 * import { parseBlobsEntry } from "hubcache/core";
 *
 * console.log(parseBlobsEntry("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.partial")); // { kind: "partial", etag: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" }
 * console.log(parseBlobsEntry("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.node1-4242-00ff00ff.incomplete").kind); // "temp"
 * ```
 */
export function parseBlobsEntry(name: string): BlobsEntry {
  const m = ENTRY.exec(name);
  if (!m) return { kind: "other" };
  const etag = m[1];
  const rest = m[2];
  if (rest === undefined) return { kind: "blob", etag };
  if (rest === "partial") return { kind: "partial", etag };
  if (rest === "incomplete") return { kind: "legacy", etag };
  // A claimer's copy source (see adoptingBlobName): treated like another client's temp file.
  if (rest.endsWith(".adopting")) return { kind: "foreign-temp", etag };
  if (rest.endsWith(".incomplete")) {
    const owner = parseOwnerName(rest.slice(0, -".incomplete".length));
    if (owner) return { kind: "temp", etag, owner };
    return { kind: "foreign-temp", etag };
  }
  return { kind: "other" };
}
