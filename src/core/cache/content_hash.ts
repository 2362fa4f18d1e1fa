/**
 * Content addresses: an LFS etag is the sha256 of the bytes; a regular file's etag
 * is its git blob sha1, `sha1("blob <size>\0" + bytes)`. One place computes both,
 * for downloads (while streaming) and for `verify` (re-reading a blob).
 *
 * @module
 */

import { READ_CHUNK_BYTES } from "../defaults.ts";
import { InvalidInputError } from "../errors.ts";
import type { FileHandle, HashAlgorithm, Hasher, Runtime } from "../ports.ts";
import { isEtag } from "./validate.ts";
import { retryTransient } from "../fs/transient.ts";


/**
 * Which algorithm an etag was made with: 64 hex → sha256, 40 hex → git blob sha1.
 *
 * @example
 * ```ts
 * import { hashAlgorithmFor } from "hubcache/core";
 *
 * console.log(hashAlgorithmFor("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")); // "sha256"
 * console.log(hashAlgorithmFor("0123456789abcdef0123456789abcdef01234567")); // "sha1" (a git blob id)
 * ```
 */
export function hashAlgorithmFor(etag: string): HashAlgorithm {
  if (!isEtag(etag)) throw new InvalidInputError(`'${etag}' is not a content hash (40 or 64 lowercase hex)`);
  return etag.length === 64 ? "sha256" : "sha1";
}

/**
 * A hasher ready to receive the content of a file of `size` bytes whose address is `etag`
 * (for git blob sha1 the header, which needs the total size, is fed first).
 */
export async function contentHasher(runtime: Runtime, etag: string, size: number): Promise<Hasher> {
  return await algorithmHasher(runtime, hashAlgorithmFor(etag), size);
}

async function algorithmHasher(runtime: Runtime, algorithm: HashAlgorithm, size: number): Promise<Hasher> {
  const hasher = await runtime.hashers.create(algorithm);
  if (algorithm === "sha1") hasher.update(new TextEncoder().encode(`blob ${size}\0`));
  return hasher;
}

/** Feed the first `length` bytes of an open file into `hasher` (re-hashing a resumed prefix). */
export async function hashPrefix(handle: FileHandle, length: number, hasher: Hasher): Promise<void> {
  const buffer = new Uint8Array(Math.min(READ_CHUNK_BYTES, Math.max(1, length)));
  let position = 0;
  while (position < length) {
    const want = Math.min(buffer.length, length - position);
    const n = await handle.read(buffer.subarray(0, want), position);
    if (n === 0) throw new Error(`file shrank while hashing its first ${length} bytes`);
    hasher.update(buffer.subarray(0, n));
    position += n;
  }
}

/**
 * Hash a whole file as a content address: `"sha256"` of the bytes, or `"sha1"` as a git blob
 * (`sha1("blob <size>\0" + bytes)`). Returns the hex digest and the size that was hashed.
 */
export function hashFile(runtime: Runtime, path: string, algorithm: HashAlgorithm): Promise<{ digest: string; size: number }> {
  // On a network file system a read-only handle can go stale mid-file when another host replaces
  // the path (a no-symlink snapshot file, a repaired blob): start again from the new file.
  return retryTransient(runtime.platform, async () => {
    const handle = await runtime.fs.openRead(path);
    try {
      const size = await handle.size();
      const hasher = await algorithmHasher(runtime, algorithm, size);
      await hashPrefix(handle, size, hasher);
      return { digest: hasher.digestHex(), size };
    } finally {
      await handle.close().catch(() => {});
    }
  });
}

/**
 * Whether the file at `path` holds exactly the content named `etag` (`size` bytes hashing to
 * it). A file that cannot be read is not. Used by repair (`--force`, `cache verify --repair`)
 * to decide whether a file already in place may stay (docs/DESIGN.md §Invariants 3).
 */
export async function fileHasAddress(runtime: Runtime, path: string, etag: string, size: number): Promise<boolean> {
  try {
    const hashed = await hashFile(runtime, path, hashAlgorithmFor(etag));
    return hashed.size === size && hashed.digest === etag;
  } catch {
    return false;
  }
}
