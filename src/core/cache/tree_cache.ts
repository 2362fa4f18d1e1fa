/**
 * `trees/<commit>.json`: a commit's file listing, cached forever (a commit never changes),
 * in the Python client's format so each reads the other's:
 *
 * ```json
 * { "format_version": 1,
 *   "files": { "config.json": { "size": 519, "blob_id": "<git sha1>" },
 *              "model.bin": { "size": 9, "blob_id": "…", "lfs_sha256": "<sha256>", "lfs_size": 9 } } }
 * ```
 *
 * @module
 */

import { treePath, type RepoLayout } from "./layout.ts";
import type { Runtime } from "../ports.ts";
import { pythonJsonDumps } from "./python_json.ts";
import { writeFileAtomic } from "../fs/atomic_write.ts";
import { isEtag, validateRepoPath } from "./validate.ts";
import { withTransientRetries } from "../fs/transient.ts";

/** One file of a tree listing. */
export interface TreeFile {
  /** Path inside the repo (`onnx/model.onnx`), validated like a server's answer. */
  readonly path: string;
  /** Size of the file's content in bytes (for LFS files, of the real content, not the pointer). */
  readonly size: number;
  /** Git blob sha1 of the file (for LFS files, of its pointer). */
  readonly blobId: string;
  /** The LFS content address; when present it, not `blobId`, names the blob. */
  readonly lfsSha256?: string;
  /** The LFS size (equal to `size`); written back as `lfs_size` because the Python client reads it. */
  readonly lfsSize?: number;
  /** The Xet storage hash; unused here, kept so our listing loses nothing the Python client wrote. */
  readonly xetHash?: string;
}

/** The content address a file is stored under in `blobs/`: the LFS sha256, else the git sha1. */
export function etagOf(file: TreeFile): string {
  return file.lfsSha256 ?? file.blobId;
}

/**
 * Read `trees/<commit>.json`; `null` if absent, unreadable, of another format version, or
 * holding a path or hash we would not accept from a server.
 */
export async function readTreeCache(runtime: Runtime, layout: RepoLayout, commit: string): Promise<TreeFile[] | null> {
  runtime = withTransientRetries(runtime);
  try {
    const data = JSON.parse(new TextDecoder().decode(await runtime.fs.readFile(treePath(layout, commit))));
    if (data?.format_version !== 1 || typeof data.files !== "object" || data.files === null) return null;
    const files: TreeFile[] = [];
    for (const [path, info] of Object.entries(data.files as Record<string, Record<string, unknown>>)) {
      validateRepoPath(path);
      const blobId = String(info.blob_id ?? "");
      const lfs = info.lfs_sha256 === undefined || info.lfs_sha256 === null ? undefined : String(info.lfs_sha256);
      if (!isEtag(blobId) || (lfs !== undefined && !isEtag(lfs)) || !Number.isSafeInteger(info.size) || (info.size as number) < 0) return null;
      files.push({
        path,
        size: info.size as number,
        blobId,
        lfsSha256: lfs,
        lfsSize: typeof info.lfs_size === "number" ? info.lfs_size : undefined,
        xetHash: typeof info.xet_hash === "string" ? info.xet_hash : undefined,
      });
    }
    return files;
  } catch {
    return null;
  }
}

/**
 * Write `trees/<commit>.json` atomically, byte-for-byte as the Python client does
 * (`json.dump(indent=1)`, sorted paths, non-ASCII escaped).
 */
export async function writeTreeCache(runtime: Runtime, layout: RepoLayout, commit: string, files: TreeFile[]): Promise<void> {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const out: Record<string, Record<string, unknown>> = {};
  for (const f of sorted) {
    const info: Record<string, unknown> = { size: f.size, blob_id: f.blobId };
    if (f.lfsSha256 !== undefined) {
      info.lfs_sha256 = f.lfsSha256;
      info.lfs_size = f.lfsSize ?? f.size;
    }
    if (f.xetHash !== undefined) info.xet_hash = f.xetHash;
    out[f.path] = info;
  }
  const json = pythonJsonDumps({ format_version: 1, files: out }, 1);
  await writeFileAtomic(runtime, layout.tmpDir, treePath(layout, commit), new TextEncoder().encode(json), "tree");
}
