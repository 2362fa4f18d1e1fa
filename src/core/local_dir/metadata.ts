/**
 * `DIR/.cache/huggingface/download/<path>.metadata`, the Python client's record of what a local
 * file is: three lines, `<commit>\n<etag>\n<unix time in seconds>\n`. The timestamp says when
 * the record was true; a file modified after it (by more than the 1 s the Python client allows
 * for coarse mtimes) is not trusted on the record's word and is hashed again.
 *
 * The Python client writes this file in place under a lock that is a no-op on Lustre/GPFS/NFS
 * (huggingface_hub PR #4306), so a reader can meet it half-written: anything that does not parse
 * is no record at all. We write it whole (temp file, rename), so our readers never meet that.
 *
 * @module
 */

import { writeFileAtomic } from "../fs/atomic_write.ts";
import { lstatOrNull } from "../fs/entries.ts";
import type { FileInfo, Runtime } from "../ports.ts";
import { isCommitHash, isEtag } from "../cache/validate.ts";
import type { LocalFilePaths } from "./layout.ts";

/** One local file's record. */
export interface LocalFileMetadata {
  /** The commit the file was downloaded at. */
  readonly commit: string;
  /** Its content address (sha256 for LFS files, git blob sha1 otherwise). */
  readonly etag: string;
  /** When the record was written, in seconds since the epoch (fractional). */
  readonly timestamp: number;
}

/** Parse a metadata file's text; `null` when it is not a whole, valid record. */
export function parseLocalMetadata(text: string): LocalFileMetadata | null {
  const lines = text.split("\n");
  if (lines.length < 3) return null;
  const commit = lines[0].trim();
  const etag = lines[1].trim();
  const rawTime = lines[2].trim();
  const timestamp = Number(rawTime);
  if (!isCommitHash(commit) || !isEtag(etag) || rawTime === "" || !Number.isFinite(timestamp)) return null;
  return { commit, etag, timestamp };
}

/** The text the Python client writes: `f"{commit_hash}\n{etag}\n{time.time()}\n"`. */
export function formatLocalMetadata(metadata: LocalFileMetadata): string {
  const time = Number.isInteger(metadata.timestamp) ? metadata.timestamp.toFixed(1) : String(metadata.timestamp);
  return `${metadata.commit}\n${metadata.etag}\n${time}\n`;
}

/** The record of a local file, or `null` if there is none that parses. */
export async function readLocalMetadata(runtime: Runtime, paths: LocalFilePaths): Promise<LocalFileMetadata | null> {
  try {
    return parseLocalMetadata(new TextDecoder().decode(await runtime.fs.readFile(paths.metadata)));
  } catch {
    return null;
  }
}

/**
 * Record that `paths.file` is `etag` at `commit`, now. Written whole (temp file + rename),
 * never in place, so a concurrent reader sees the old record or the new one.
 */
export async function writeLocalMetadata(runtime: Runtime, paths: LocalFilePaths, commit: string, etag: string): Promise<void> {
  const text = formatLocalMetadata({ commit, etag, timestamp: runtime.platform.now() / 1000 });
  await writeFileAtomic(runtime, paths.tmpDir, paths.metadata, new TextEncoder().encode(text), "metadata");
}

/**
 * Whether the file was left alone since its record was written: its mtime is at most 1 s past
 * the record's timestamp (the Python client's rule, for file systems with coarse mtimes).
 */
export function unchangedSince(file: FileInfo, metadata: LocalFileMetadata): boolean {
  return file.mtimeMs / 1000 - 1 <= metadata.timestamp;
}

/** The local file's record if the file exists and was not modified after it; else `null`. */
export async function trustedLocalMetadata(runtime: Runtime, paths: LocalFilePaths): Promise<{ metadata: LocalFileMetadata; file: FileInfo } | null> {
  const metadata = await readLocalMetadata(runtime, paths);
  if (metadata === null) return null;
  const file = await lstatOrNull(runtime, paths.file); // a symlink there is not the regular file the record speaks of
  if (file === null || file.kind !== "file" || !unchangedSince(file, metadata)) return null;
  return { metadata, file };
}
