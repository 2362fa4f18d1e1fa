/**
 * The durable record of how much of a parallel download's temp file is a contiguous prefix
 * (`docs/DESIGN.md §Parallel ranges`).
 *
 * Parallel connections write their ranges into the temp file at their own offsets, so the file
 * has holes: its size says nothing about which bytes are there. A writer killed by SIGKILL
 * leaves such a file, and whoever claims it must never hash the holes as if they were content.
 * So a parallel download keeps a record *inside its own temp file*, in a trailer of
 * {@link PREFIX_RECORD_BYTES} bytes right after the content (at offset `size`):
 *
 * - A claim is one rename of one file (`§Invariants 7`): the record moves with the bytes it
 *   describes, and no second file can be left behind, claimed separately, or describe
 *   another writer's bytes.
 * - The trailer is written (and fsynced) before the first ranged byte, so from then on the
 *   file is longer than the content: `size + PREFIX_RECORD_BYTES` marks a parallel file, and a
 *   file no longer than `size` is a sequential prefix, as every older temp file is. A client
 *   that knows nothing of the record (an older hubcache) sees a file longer than the content
 *   and restarts from zero: it costs bandwidth, never correctness.
 * - The recorded prefix only grows after an fsync of the data it covers, so after SIGKILL or a
 *   power cut the record never claims bytes that are not on disk. Two slots, written
 *   alternately with a sequence number and a checksum: a torn trailer write leaves the other
 *   slot valid; two bad slots mean "prefix 0".
 *
 * Whatever is claimed is re-hashed from byte 0 before anything is published (`§Invariants 1`),
 * so a wrong record costs a retry, never a wrong blob.
 *
 * @module
 */

import type { FileHandle } from "../ports.ts";

/** Bytes the record occupies after the content: two slots of 32 bytes. */
export const PREFIX_RECORD_BYTES = 64;

const SLOT_BYTES = 32;
const MAGIC = [0x68, 0x63, 0x70, 0x72, 0x65, 0x66, 0x78, 0x31]; // "hcprefx1"

/** One writer's record: the sequence number of the last slot written. */
export interface PrefixRecorder {
  /** Write `prefix` (bytes from 0, already fsynced by the caller) into the next slot. */
  record(prefix: number): Promise<void>;
}

/**
 * Start recording into `file` for content of `size` bytes: write `prefix` into both slots (so
 * no stale slot of an earlier writer survives), making the file `size + PREFIX_RECORD_BYTES`
 * long, and fsync — from here on the file reads as a parallel one after any crash.
 */
export async function startPrefixRecord(file: FileHandle, size: number, prefix: number): Promise<PrefixRecorder> {
  let seq = 1;
  const trailer = new Uint8Array(PREFIX_RECORD_BYTES);
  trailer.set(encodeSlot(size, prefix, seq), 0);
  trailer.set(encodeSlot(size, prefix, seq), SLOT_BYTES);
  await file.write(trailer, size);
  await file.sync();
  return {
    async record(next: number): Promise<void> {
      seq++;
      await file.write(encodeSlot(size, next, seq), size + (seq % 2) * SLOT_BYTES);
    },
  };
}

/**
 * How many leading bytes of a claimed temp file of `fileSize` bytes can be trusted as a
 * prefix of content of `size` bytes: the whole file when it is no longer than `size` (a
 * sequential writer's file), the recorded prefix of a parallel file, 0 for anything else.
 * The file is truncated to that prefix, so holes and the trailer are gone before anyone
 * hashes or appends.
 */
export async function resumablePrefix(file: FileHandle, fileSize: number, size: number): Promise<number> {
  let prefix = 0;
  if (fileSize <= size) prefix = fileSize;
  else if (fileSize === size + PREFIX_RECORD_BYTES) prefix = await readPrefixRecord(file, size) ?? 0;
  if (prefix !== fileSize) await file.truncate(prefix);
  return prefix;
}

/** The recorded prefix of a parallel temp file for content of `size` bytes, or `null` if no slot is valid. */
export async function readPrefixRecord(file: FileHandle, size: number): Promise<number | null> {
  const trailer = new Uint8Array(PREFIX_RECORD_BYTES);
  let got = 0;
  while (got < trailer.length) {
    const n = await file.read(trailer.subarray(got), size + got);
    if (n === 0) break;
    got += n;
  }
  if (got < trailer.length) return null;
  let best: { seq: number; prefix: number } | null = null;
  for (const offset of [0, SLOT_BYTES]) {
    const slot = decodeSlot(trailer.subarray(offset, offset + SLOT_BYTES), size);
    if (slot && (!best || slot.seq > best.seq)) best = slot;
  }
  return best?.prefix ?? null;
}

// Slot layout: magic (8) · size (8) · prefix (8) · seq (4) · checksum (4), integers little-endian.
function encodeSlot(size: number, prefix: number, seq: number): Uint8Array {
  const slot = new Uint8Array(SLOT_BYTES);
  const view = new DataView(slot.buffer);
  slot.set(MAGIC, 0);
  view.setBigUint64(8, BigInt(size), true);
  view.setBigUint64(16, BigInt(prefix), true);
  view.setUint32(24, seq >>> 0, true);
  view.setUint32(28, checksum(slot.subarray(0, 28)), true);
  return slot;
}

function decodeSlot(slot: Uint8Array, size: number): { seq: number; prefix: number } | null {
  const view = new DataView(slot.buffer, slot.byteOffset, slot.byteLength);
  if (!MAGIC.every((b, i) => slot[i] === b)) return null;
  if (view.getUint32(28, true) !== checksum(slot.subarray(0, 28))) return null;
  if (view.getBigUint64(8, true) !== BigInt(size)) return null;
  const prefix = view.getBigUint64(16, true);
  if (prefix > BigInt(size)) return null;
  return { seq: view.getUint32(24, true), prefix: Number(prefix) };
}

/** FNV-1a, 32 bits: enough to tell a torn or foreign slot from a written one. */
function checksum(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}
