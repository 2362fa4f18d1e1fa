/**
 * Build caches exactly as the Python huggingface_hub client lays them out, on the real
 * file system, so scan/rm/prune/verify are tested against the reference layout:
 *
 * - `blobs/<etag>`: etag = git blob sha1 of the content for regular files, sha256 for LFS;
 *   written as `blobs/<etag>.incomplete` then renamed, as `hf_hub_download` does;
 * - `snapshots/<commit>/<path>`: relative symlink `os.path.relpath(blob, dirname(pointer))`
 *   (`../../blobs/<etag>`, one more `../` per sub-folder); in a no-symlink cache the fresh
 *   blob is *moved* to the pointer path, so `blobs/` stays empty and every revision holds
 *   its own copy (Python's `_create_symlink` fallback with `new_blob=True`);
 * - `refs/<name>`: the commit hash, no newline; `refs/pr/1` at `refs/refs/pr/1`;
 * - `.no_exist/<commit>/<path>`: an empty file;
 * - `.locks/<repo folder>/<etag>.lock`: the (empty) filelock file, left behind;
 * - `trees/<commit>.json`: `{"format_version": 1, "files": {...}}` with `json.dump(indent=1)`.
 *
 * Uses `node:fs`/`node:crypto` directly (independent of the adapter under test); they work
 * unchanged on Node, Deno and Bun.
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { createHash } from "node:crypto";

/** A repo type as the Python client spells folder prefixes. */
export type PyRepoType = "model" | "dataset" | "space";

/** One file of a revision. */
export interface PyFile {
  readonly path: string;
  readonly content: string | Uint8Array;
  /** Stored with LFS: etag is the sha256 of the content. Otherwise the git blob sha1. */
  readonly lfs?: boolean;
}

/** One revision to write. */
export interface PyRevision {
  readonly commit: string;
  readonly files: readonly PyFile[];
  /** Ref names pointing at it (`main`, `refs/pr/1`, `v1.0`). Empty: detached. */
  readonly refs?: readonly string[];
  /** Files known absent at this commit (`.no_exist/<commit>/<path>`). */
  readonly noExist?: readonly string[];
  /** Also write `trees/<commit>.json` listing the files. */
  readonly tree?: boolean;
}

/** One repo to write. */
export interface PyRepo {
  readonly repoType: PyRepoType;
  readonly repoId: string;
  readonly revisions: readonly PyRevision[];
  /** `false`: the layout of a file system without symlinks. Default `true`. */
  readonly symlinks?: boolean;
  /** Write `.locks/<folder>/<etag>.lock` files. Default `true`. */
  readonly locks?: boolean;
}

/** Where one file of one revision ended up. */
export interface WrittenFile {
  readonly commit: string;
  readonly path: string;
  readonly etag: string;
  readonly size: number;
  /** `snapshots/<commit>/<path>` */
  readonly pointerPath: string;
  /** `blobs/<etag>`, or the pointer itself in a no-symlink cache. */
  readonly blobPath: string;
}

/** What {@link writePythonRepo} wrote. */
export interface WrittenRepo {
  readonly repoPath: string;
  readonly folderName: string;
  readonly files: readonly WrittenFile[];
  /** etag → blob path, for the symlink layout (empty for the no-symlink one). */
  readonly blobs: ReadonlyMap<string, string>;
}

/**
 * The git blob sha1 of some bytes (`sha1("blob <size>\0" + content)`), as `git hash-object`.
 *
 * @example
 * ```ts
 * gitBlobSha1(new TextEncoder().encode("hello\n")); // "ce013625030ba8dba906f756967f9e9ca394464a"
 * ```
 */
export function gitBlobSha1(bytes: Uint8Array): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

/**
 * The sha256 of some bytes, lowercase hex.
 *
 * @example
 * ```ts
 * sha256Hex(new Uint8Array()); // "e3b0c442…"
 * ```
 */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * The bytes of a fixture file's content.
 *
 * @example
 * ```ts
 * toBytes("abc").length; // 3
 * ```
 */
export function toBytes(content: string | Uint8Array): Uint8Array {
  return typeof content === "string" ? new TextEncoder().encode(content) : content;
}

/**
 * The etag the Hub gives a file: sha256 for LFS files, git blob sha1 otherwise.
 *
 * @example
 * ```ts
 * etagOf({ path: "a.bin", content: "x", lfs: true }).length; // 64
 * ```
 */
export function etagOf(file: PyFile): string {
  const bytes = toBytes(file.content);
  return file.lfs ? sha256Hex(bytes) : gitBlobSha1(bytes);
}

/**
 * The Python client's repo folder name.
 *
 * @example
 * ```ts
 * pyFolderName("dataset", "org/set"); // "datasets--org--set"
 * ```
 */
export function pyFolderName(repoType: PyRepoType, repoId: string): string {
  return [`${repoType}s`, ...repoId.split("/")].join("--");
}

/**
 * A fake but well-formed 40-hex commit hash derived from a label.
 *
 * @example
 * ```ts
 * fakeCommit("rev1").length; // 40
 * ```
 */
export function fakeCommit(label: string): string {
  return createHash("sha1").update(`commit:${label}`).digest("hex");
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Write one repo into `cacheDir` the way `hf_hub_download` would have, revision by revision.
 *
 * @example
 * ```ts
 * const repo = await writePythonRepo(cacheDir, {
 *   repoType: "model", repoId: "org/alpha",
 *   revisions: [{ commit: fakeCommit("a"), refs: ["main"], files: [{ path: "config.json", content: "{}" }] }],
 * });
 * ```
 */
export async function writePythonRepo(cacheDir: string, repo: PyRepo): Promise<WrittenRepo> {
  const folderName = pyFolderName(repo.repoType, repo.repoId);
  const repoPath = path.join(cacheDir, folderName);
  const blobsDir = path.join(repoPath, "blobs");
  const symlinks = repo.symlinks ?? true;
  await fsp.mkdir(blobsDir, { recursive: true });
  await fsp.mkdir(path.join(repoPath, "snapshots"), { recursive: true });
  const files: WrittenFile[] = [];
  const blobs = new Map<string, string>();
  for (const revision of repo.revisions) {
    const snapshot = path.join(repoPath, "snapshots", revision.commit);
    await fsp.mkdir(snapshot, { recursive: true });
    for (const file of revision.files) {
      const bytes = toBytes(file.content);
      const etag = etagOf(file);
      if (repo.locks ?? true) {
        const lockDir = path.join(cacheDir, ".locks", folderName);
        await fsp.mkdir(lockDir, { recursive: true });
        await fsp.writeFile(path.join(lockDir, `${etag}.lock`), "");
      }
      const blobPath = path.join(blobsDir, etag);
      const pointerPath = path.join(snapshot, ...file.path.split("/"));
      await fsp.mkdir(path.dirname(pointerPath), { recursive: true });
      if (!(await exists(blobPath))) {
        const incomplete = `${blobPath}.incomplete`;
        await fsp.writeFile(incomplete, bytes);
        await fsp.rename(incomplete, blobPath);
      }
      if (symlinks) {
        if (!(await exists(pointerPath))) {
          await fsp.symlink(path.relative(path.dirname(pointerPath), blobPath), pointerPath);
        }
        blobs.set(etag, blobPath);
        files.push({ commit: revision.commit, path: file.path, etag, size: bytes.length, pointerPath, blobPath });
      } else {
        await fsp.rename(blobPath, pointerPath);
        files.push({ commit: revision.commit, path: file.path, etag, size: bytes.length, pointerPath, blobPath: pointerPath });
      }
    }
    for (const ref of revision.refs ?? []) {
      const refFile = path.join(repoPath, "refs", ...ref.split("/"));
      await fsp.mkdir(path.dirname(refFile), { recursive: true });
      await fsp.writeFile(refFile, revision.commit);
    }
    for (const absent of revision.noExist ?? []) {
      const marker = path.join(repoPath, ".no_exist", revision.commit, ...absent.split("/"));
      await fsp.mkdir(path.dirname(marker), { recursive: true });
      await fsp.writeFile(marker, "");
    }
    if (revision.tree) await writePythonTree(repoPath, revision.commit, revision.files);
  }
  return { repoPath, folderName, files, blobs };
}

/**
 * Write `trees/<commit>.json` as the Python client's tree cache does.
 *
 * @example
 * ```ts
 * await writePythonTree(repoPath, commit, [{ path: "a.bin", content: "x", lfs: true }]);
 * ```
 */
export async function writePythonTree(repoPath: string, commit: string, files: readonly PyFile[]): Promise<void> {
  const entries: Record<string, Record<string, unknown>> = {};
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const bytes = toBytes(f.content);
    // `blob_id` is the git sha1 of what git stores: for LFS files, the pointer file.
    const info: Record<string, unknown> = { size: bytes.length, blob_id: f.lfs ? gitBlobSha1(lfsPointer(bytes)) : gitBlobSha1(bytes) };
    if (f.lfs) {
      info.lfs_sha256 = sha256Hex(bytes);
      info.lfs_size = bytes.length;
    }
    entries[f.path] = info;
  }
  const dir = path.join(repoPath, "trees");
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, `${commit}.json`), JSON.stringify({ format_version: 1, files: entries }, null, 1));
}

function lfsPointer(bytes: Uint8Array): Uint8Array {
  return new TextEncoder().encode(
    `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256Hex(bytes)}\nsize ${bytes.length}\n`,
  );
}

/**
 * Write the root `CACHEDIR.TAG`.
 *
 * @example
 * ```ts
 * await writeCacheDirTag(cacheDir);
 * ```
 */
export async function writeCacheDirTag(cacheDir: string): Promise<void> {
  await fsp.writeFile(
    path.join(cacheDir, "CACHEDIR.TAG"),
    "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag.\n",
  );
}

/**
 * Write a file at `repo/<relative>` (creating folders), e.g. a temp file in `blobs/`.
 *
 * @example
 * ```ts
 * await writeRepoFile(repoPath, `blobs/${etag}.incomplete`, "partial bytes");
 * ```
 */
export async function writeRepoFile(repoPath: string, relative: string, content: string | Uint8Array): Promise<string> {
  const p = path.join(repoPath, ...relative.split("/"));
  await fsp.mkdir(path.dirname(p), { recursive: true });
  await fsp.writeFile(p, toBytes(content));
  return p;
}

/**
 * Set a file's access and modification times (seconds precision is enough for tests).
 *
 * @example
 * ```ts
 * await setTimes(blobPath, Date.now() - 86_400_000); // one day old
 * ```
 */
export async function setTimes(p: string, mtimeMs: number, atimeMs: number = mtimeMs): Promise<void> {
  await fsp.utimes(p, atimeMs / 1000, mtimeMs / 1000);
}
