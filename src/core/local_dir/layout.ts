/**
 * A local directory (`--local-dir DIR`, `hf download --local-dir DIR`): the repo's files as
 * regular files at `DIR/<path>`, with the Python client's bookkeeping beside them
 * (`docs/DESIGN.md §Local directories`):
 *
 * ```
 * DIR/<path>                                              the file itself
 * DIR/.cache/huggingface/.gitignore                       "*"
 * DIR/.cache/huggingface/CACHEDIR.TAG
 * DIR/.cache/huggingface/download/<path>.metadata         commit, etag, timestamp (three lines)
 * DIR/.cache/huggingface/download/<path>.lock             the Python client's flock file
 * DIR/.cache/huggingface/download/<path>.hubcache-lock    hubcache's own lock
 * DIR/.cache/huggingface/download/<dir>/<short>.<etag>.incomplete    the Python client's shared temp file
 * DIR/.cache/huggingface/download/<dir>/<etag>.<host>-<pid>-<nonce>.incomplete   one hubcache writer's own
 * DIR/.cache/huggingface/download/<dir>/<etag>.partial     an interrupted hubcache download
 * ```
 *
 * Our temp files are named by content, like blobs in the cache: two paths with the same
 * content in one folder may resume each other's partials, which is correct by §Invariants 1.
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";
import { dirname, joinPath } from "../fs/paths.ts";
import type { Runtime } from "../ports.ts";
import { validateRepoPath } from "../cache/validate.ts";

/** Every path that belongs to one repo file in a local directory. */
export interface LocalFilePaths {
  /** The local directory, absolute. */
  readonly root: string;
  /** The repo path, validated (`onnx/model.onnx`). */
  readonly path: string;
  /** `DIR/<path>` */
  readonly file: string;
  /** `DIR/.cache/huggingface` */
  readonly bookkeepingDir: string;
  /** `DIR/.cache/huggingface/download/<dir of path>`: metadata, locks and temp files. */
  readonly downloadDir: string;
  /** `…/download/<path>.metadata` */
  readonly metadata: string;
  /** `…/download/<path>.lock`: the Python client's lock (we flock it, never create-exclusive it). */
  readonly pythonLock: string;
  /** `…/download/<path>.hubcache-lock` */
  readonly ownLock: string;
  /** `DIR/.cache/huggingface/.hubcache-tmp`: scratch folder for whole-file writes of metadata. */
  readonly tmpDir: string;
}

const BOOKKEEPING = [".cache", "huggingface"];

/**
 * The paths of `repoPath` in the local directory `root`. The repo path is validated as every repo
 * path is (no `..`, no absolute path, no backslash, …) and may not be `.cache` or lead into the
 * bookkeeping folder `.cache/huggingface/`, where a crafted repo could otherwise overwrite the
 * records that decide which files are trusted.
 */
export function localFilePaths(root: string, repoPath: string): LocalFilePaths {
  const path = validateRepoPath(repoPath);
  const segments = path.split("/");
  if (segments[0] === BOOKKEEPING[0] && (segments.length === 1 || segments[1] === BOOKKEEPING[1])) {
    throw new InvalidInputError(
      `'${path}' would be written into the local directory's bookkeeping folder .cache/huggingface/; refusing it`,
    );
  }
  const bookkeepingDir = joinPath(root, ...BOOKKEEPING);
  const metadataBase = joinPath(bookkeepingDir, "download", path);
  return {
    root,
    path,
    file: joinPath(root, path),
    bookkeepingDir,
    downloadDir: dirname(metadataBase),
    metadata: `${metadataBase}.metadata`,
    pythonLock: `${metadataBase}.lock`,
    ownLock: `${metadataBase}.hubcache-lock`,
    tmpDir: joinPath(bookkeepingDir, ".hubcache-tmp"),
  };
}

/**
 * The name of the Python client's temp file for `path` and `etag` in the metadata's folder:
 * `<urlsafe-base64(sha1(<basename>.metadata))>.<etag>.incomplete`. We never write it (it is
 * shared by every Python process); a stale one is claimed for resume by copying it.
 */
export async function pythonIncompleteName(runtime: Runtime, paths: LocalFilePaths, etag: string): Promise<string> {
  const metadataName = paths.metadata.slice(paths.metadata.lastIndexOf("/") + 1);
  const hasher = await runtime.hashers.create("sha1");
  hasher.update(new TextEncoder().encode(metadataName));
  return `${base64Url(hexBytes(hasher.digestHex()))}.${etag}.incomplete`;
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function base64Url(data: Uint8Array): string {
  let binary = "";
  for (const b of data) binary += String.fromCharCode(b);
  // Python's urlsafe_b64encode keeps the `=` padding.
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_");
}
