/**
 * The life of a download's temp file (`docs/DESIGN.md §Invariants 2, 7 and 10`): created
 * exclusively under a name that says who owns it, claimed from an earlier writer
 * by one atomic rename, released for resume as `<etag>.partial`, or removed.
 *
 * @module
 */

import { READ_CHUNK_BYTES } from "../defaults.ts";
import { contentHasher, fileHasAddress } from "../cache/content_hash.ts";
import { adoptingBlobName, type BlobsEntry, parseBlobsEntry, partialBlobName, tempBlobName } from "../cache/layout.ts";
import { createInDir } from "../fs/dirs.ts";
import { removeIfFile } from "../fs/entries.ts";
import { joinPath } from "../fs/paths.ts";
import { placeSharedCopy } from "../fs/shared_copy.ts";
import { isFsError, type FileHandle, type Runtime } from "../ports.ts";
import { writerIdentity, writerState } from "../writer_identity.ts";

/** A temp file this writer owns: created by it, or claimed by renaming it to its own name. */
export interface OwnedTemp {
  /** Our own unique name in `blobs/`, so no other writer touches it while we hold it. */
  readonly path: string;
  /** Open for positional writes; the caller closes it before publishing or releasing. */
  readonly handle: FileHandle;
  /** Bytes already in the file when we took it (0 for a fresh one). */
  readonly claimedBytes: number;
  /** Where the bytes came from, for diagnostics and tests. */
  readonly origin: "fresh" | "partial" | "dead-writer" | "stale-writer";
}

/**
 * Create this writer's own temp file `<etag>.<host>-<pid>-<nonce>.incomplete` with
 * exclusive create: no other writer can ever open it for writing by name.
 */
export async function createOwnTemp(runtime: Runtime, blobsDir: string, etag: string): Promise<OwnedTemp> {
  const path = joinPath(blobsDir, tempBlobName(etag, writerIdentity(runtime.platform)));
  const handle = await createInDir(runtime, blobsDir, () => runtime.fs.createExclusive(path));
  return { path, handle, claimedBytes: 0, origin: "fresh" };
}

/**
 * A temp file of ours in `dir` holding the content of a file already on disk (a cache blob, a
 * local directory's file), placed without a download by `placeSharedCopy` — reflink, else hard
 * link if `hardLink`, else copy — then hashed: returned fsynced and open only if it is `size`
 * bytes hashing to `etag`, else removed and `null`. What is hashed is the placed file under our
 * unique name, never the source, so a source edited or swapped meanwhile cannot slip through.
 * `beforeCopy` runs only when a real copy is needed (a free-space check). `shared`: the temp
 * file is the source's own inode (a hard link) and must never be written or kept for resume.
 */
export async function placeVerifiedCopy(
  runtime: Runtime,
  source: string,
  dir: string,
  etag: string,
  size: number,
  options: { hardLink: boolean; beforeCopy?: () => Promise<unknown> },
): Promise<{ temp: OwnedTemp; shared: boolean } | null> {
  const path = joinPath(dir, tempBlobName(etag, writerIdentity(runtime.platform)));
  let kind = await placeSharedCopy(runtime, source, path, { hardLink: options.hardLink, copy: false });
  if (kind === null) {
    await options.beforeCopy?.();
    await runtime.fs.copyExclusive(source, path); // itself a reflink where the file system can
    kind = "copy";
  }
  let handle: FileHandle | undefined;
  try {
    if (!(await fileHasAddress(runtime, path, etag, size))) {
      await removeIfFile(runtime, path);
      return null;
    }
    const shared = kind === "hardlink";
    // A hard link's data is the source's, already durable; a new file's must reach the disk
    // before its rename does (§Invariants 3).
    handle = shared ? await runtime.fs.openRead(path) : await runtime.fs.openReadWrite(path);
    if (!shared) await handle.sync();
    return { temp: { path, handle, claimedBytes: size, origin: "fresh" }, shared };
  } catch (err) {
    await handle?.close().catch(() => {});
    await removeIfFile(runtime, path).catch(() => {});
    throw err;
  }
}

interface Candidate {
  readonly path: string;
  readonly size: number;
  /** A released partial or a dead writer's file can be renamed and reused in place. */
  readonly reuse: "in-place" | "copy";
  readonly origin: OwnedTemp["origin"];
}

/**
 * Take over the best resumable file for `etag`, if any: `<etag>.partial` (released on
 * purpose), the temp file of a writer on this host whose process is gone (SIGKILL), or —
 * once it has not grown for `staleAfterMs` — a temp file of a writer on another host or a
 * legacy `<etag>.incomplete` of an older Python client (or one of `foreignNames`).
 *
 * The claim is one `rename` to our own unique name: of several claimers exactly one
 * rename succeeds, the others see `ENOENT` and try the next candidate (rustup PR #4911). A file
 * whose writer might still be alive (only judged stale by time) is never written in place:
 * its bytes are copied into a fresh file of ours and the claimed inode is unlinked, so a
 * zombie writer still holding a descriptor writes into nothing we publish. Whatever is
 * claimed is re-verified by the caller, so a wrong claim costs bandwidth, not correctness.
 *
 * `listed`, when given, is what an earlier listing of `blobsDir` (a snapshot download's one
 * listing, {@link BlobLeftovers}) found for `etag`; it is used instead of listing the folder
 * again (n files listing n names each was quadratic). `<etag>.partial` is looked for by name
 * all the same, since an interrupted download releases it at any moment; a dead writer's temp
 * file that appeared since the listing is missed, which costs its bytes again, never
 * correctness, and `cache prune` removes it.
 */
export async function claimPartial(
  runtime: Runtime,
  blobsDir: string,
  etag: string,
  staleAfterMs: number,
  foreignNames: readonly string[] = [],
  listed?: readonly string[],
): Promise<OwnedTemp | null> {
  const { fs, platform } = runtime;
  const candidates = await findCandidates(runtime, blobsDir, etag, staleAfterMs, foreignNames, listed);
  for (const candidate of candidates) {
    const owner = writerIdentity(platform);
    // A file that may still have a live writer is renamed to an `.adopting` name, which is
    // never adopted in place: if we die before the copy below is done, the next claimer
    // copies again rather than writing into an inode a zombie may still hold.
    const mine = joinPath(blobsDir, candidate.reuse === "in-place" ? tempBlobName(etag, owner) : adoptingBlobName(etag, owner));
    try {
      await fs.rename(candidate.path, mine);
    } catch (err) {
      if (isFsError(err, "ENOENT")) continue; // another claimer won this one
      throw err;
    }
    if (candidate.reuse === "in-place") {
      const handle = await fs.openReadWrite(mine);
      try {
        return { path: mine, handle, claimedBytes: await handle.size(), origin: candidate.origin };
      } catch (err) {
        await handle.close().catch(() => {});
        throw err;
      }
    }
    const copied = await copyIntoFresh(runtime, mine, blobsDir, etag, candidate.origin);
    // Gone before we opened it: the `.adopting` name kept the stale file's old mtime, so
    // another claimer took it from us as stale in turn (seen in the local-dirs torture). Like a
    // lost rename: try the next candidate.
    if (copied !== null) return copied;
  }
  return null;
}

async function findCandidates(
  runtime: Runtime,
  blobsDir: string,
  etag: string,
  staleAfterMs: number,
  foreignNames: readonly string[],
  listed: readonly string[] | undefined,
): Promise<Candidate[]> {
  const { fs, platform } = runtime;
  let names: readonly string[];
  if (listed !== undefined) {
    const partial = partialBlobName(etag);
    names = listed.includes(partial) ? listed : [...listed, partial];
  } else {
    try {
      names = await fs.readdir(blobsDir);
    } catch (err) {
      if (isFsError(err, "ENOENT")) return [];
      throw err;
    }
  }
  const now = platform.now();
  const found: Candidate[] = [];
  for (const name of names) {
    // Another client's shared temp file for this content (the Python client's
    // `<short>.<etag>.incomplete` in a local directory) is judged like a legacy one.
    const entry: BlobsEntry = foreignNames.includes(name) ? { kind: "legacy", etag } : parseBlobsEntry(name);
    if (entry.kind === "blob" || entry.kind === "other" || entry.etag !== etag) continue;
    const path = joinPath(blobsDir, name);
    let info;
    try {
      info = await fs.lstat(path);
    } catch {
      continue;
    }
    if (info.kind !== "file") continue;
    const stale = now - info.mtimeMs >= staleAfterMs;
    if (entry.kind === "partial") {
      found.push({ path, size: info.size, reuse: "in-place", origin: "partial" });
    } else if (entry.kind === "temp" && writerState(platform, entry.owner) !== "unknown") {
      if (writerState(platform, entry.owner) === "dead") {
        found.push({ path, size: info.size, reuse: "in-place", origin: "dead-writer" });
      }
    } else if (stale) {
      found.push({ path, size: info.size, reuse: "copy", origin: "stale-writer" });
    }
  }
  return found.sort((a, b) => b.size - a.size);
}

async function copyIntoFresh(
  runtime: Runtime,
  claimed: string,
  blobsDir: string,
  etag: string,
  origin: OwnedTemp["origin"],
): Promise<OwnedTemp | null> {
  // Open, then unlink at once: from here on no name leads to the possibly-shared inode, so
  // nothing we or anyone else publishes can be it; we copy its bytes from the open handle.
  let source: FileHandle;
  try {
    source = await runtime.fs.openRead(claimed);
  } catch (err) {
    if (isFsError(err, "ENOENT")) return null;
    throw err;
  }
  let fresh: OwnedTemp | undefined;
  try {
    await removeIfFile(runtime, claimed);
    fresh = await createOwnTemp(runtime, blobsDir, etag);
    return { ...fresh, claimedBytes: await copyBetweenHandles(source, fresh.handle), origin };
  } catch (err) {
    if (fresh) await discardTemp(runtime, fresh);
    throw err;
  } finally {
    await source.close().catch(() => {});
  }
}

/**
 * Copy every byte of `source` into `target` from offset 0, handing each chunk to `onChunk`
 * (to hash it) as it passes; returns the number of bytes copied.
 */
export async function copyBetweenHandles(
  source: FileHandle,
  target: FileHandle,
  onChunk?: (chunk: Uint8Array) => void,
): Promise<number> {
  const buffer = new Uint8Array(READ_CHUNK_BYTES);
  let position = 0;
  for (;;) {
    const n = await source.read(buffer, position);
    if (n === 0) return position;
    onChunk?.(buffer.subarray(0, n));
    await target.write(buffer.subarray(0, n), position);
    position += n;
  }
}

/**
 * Our temp file lost its name while we held it open — `hf cache prune` deletes every
 * `blobs/*.incomplete` without asking whether its writer is alive — but its bytes are still
 * in our handle. Copy them into a fresh temp file of ours, checking on the way that they hash
 * to `etag` and count `size`, and fsync it. The old handle stays open (the caller closes it).
 * `null` if the bytes do not match (then the caller downloads again).
 */
export async function recoverUnlinkedTemp(
  runtime: Runtime,
  blobsDir: string,
  etag: string,
  size: number,
  lost: OwnedTemp,
): Promise<OwnedTemp | null> {
  const hasher = await contentHasher(runtime, etag, size);
  const fresh = await createOwnTemp(runtime, blobsDir, etag);
  try {
    const copied = await copyBetweenHandles(lost.handle, fresh.handle, (chunk) => hasher.update(chunk));
    if (copied !== size || hasher.digestHex() !== etag) {
      await discardTemp(runtime, fresh);
      return null;
    }
    await fresh.handle.sync();
    return { ...fresh, claimedBytes: copied, origin: lost.origin };
  } catch (err) {
    await discardTemp(runtime, fresh);
    throw err;
  }
}

/**
 * Give an interrupted download back for resume: keep its first `goodBytes` bytes and
 * rename it to `<etag>.partial`, unless a partial at least as large is already there.
 * Never throws: it runs on error paths and must not hide the original error.
 */
export async function releaseForResume(
  runtime: Runtime,
  temp: OwnedTemp,
  blobsDir: string,
  etag: string,
  goodBytes: number,
): Promise<void> {
  const { fs } = runtime;
  try {
    // Bytes past the last completed write may be torn (ENOSPC mid-write): cut them off.
    await temp.handle.truncate(goodBytes);
  } catch { /* the claimer re-verifies everything anyway */ }
  await temp.handle.close().catch(() => {});
  try {
    if (goodBytes === 0) {
      await removeIfFile(runtime, temp.path);
      return;
    }
    const partial = joinPath(blobsDir, partialBlobName(etag));
    const existing = await fs.lstat(partial).catch(() => null);
    if (existing && existing.kind === "file" && existing.size >= goodBytes) {
      await removeIfFile(runtime, temp.path);
      return;
    }
    await fs.rename(temp.path, partial);
  } catch {
    // Leaving our named temp file is still safe: a later run on this host adopts it once
    // our pid is gone, and `cache prune` removes it.
  }
}

/**
 * The leftovers in `blobs/` (partials and temp files of any writer), by etag, from one listing.
 * A snapshot download lists `blobs/` once and hands this to every file it finds cached:
 * listing the folder once per file made a cache hit on a repo of n files cost n listings of
 * n names, where nothing else touches the disk per file but a stat or two.
 */
export type BlobLeftovers = ReadonlyMap<string, readonly string[]>;

/** One listing of `blobs/`: every name in it, and the leftovers among them by etag. */
export interface BlobsListing {
  /** Every name listed (blobs, temp files, anything else). */
  readonly names: ReadonlySet<string>;
  /** The partials and temp files among them, by etag. */
  readonly leftovers: BlobLeftovers;
}

/** List `blobs/` once into a {@link BlobsListing}; an unreadable folder has nothing. */
export async function listBlobs(runtime: Runtime, blobsDir: string): Promise<BlobsListing> {
  let names: string[];
  try {
    names = await runtime.fs.readdir(blobsDir);
  } catch {
    names = [];
  }
  return { names: new Set(names), leftovers: leftoversOf(names) };
}

function leftoversOf(names: readonly string[]): BlobLeftovers {
  const byEtag = new Map<string, string[]>();
  for (const name of names) {
    const entry = parseBlobsEntry(name);
    if (entry.kind === "blob" || entry.kind === "other") continue;
    const list = byEtag.get(entry.etag);
    if (list) list.push(name);
    else byEtag.set(entry.etag, [name]);
  }
  return byEtag;
}

/**
 * Once `blobs/<etag>` is published, its leftovers are worthless: remove `<etag>.partial` and
 * temp files of writers on this host whose process is gone (SIGKILL). Files of live writers
 * and of other hosts are left alone (they may still be running; `cache prune` judges them by
 * age). `leftovers`, when given, is an earlier listing used instead of listing `blobs/` again:
 * a name in it is judged now (a writer's liveness, the file still being a file), and anything
 * named for a complete blob that appeared since is left for the next sweep or `cache prune`.
 * Best effort: never throws.
 */
export async function sweepAfterPublish(runtime: Runtime, blobsDir: string, etag: string, leftovers?: BlobLeftovers): Promise<void> {
  let names: readonly string[];
  if (leftovers) {
    names = leftovers.get(etag) ?? [];
  } else {
    try {
      names = await runtime.fs.readdir(blobsDir);
    } catch {
      return;
    }
  }
  for (const name of names) {
    if (!name.startsWith(etag + ".")) continue;
    const entry = parseBlobsEntry(name);
    const obsolete = entry.kind === "partial" || (entry.kind === "temp" && writerState(runtime.platform, entry.owner) === "dead");
    if (obsolete) await removeIfFile(runtime, joinPath(blobsDir, name)).catch(() => {});
  }
}

/** Close and remove a temp file (a failed verification, or a blob someone else published). */
export async function discardTemp(runtime: Runtime, temp: OwnedTemp): Promise<void> {
  await temp.handle.close().catch(() => {});
  await removeIfFile(runtime, temp.path).catch(() => {});
}
