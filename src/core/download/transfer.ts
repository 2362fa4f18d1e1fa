/**
 * Moving a file's bytes from the Hub (or its CDN) into a temp file we own, hashing them on
 * the way (`docs/DESIGN.md §Invariants 1 and 8`, `§Resume`).
 *
 * Resume asks for the rest with a plain `Range: bytes=N-`, as the Python client does, and
 * never sends `If-Range`. Why:
 *
 * - Our content hash is not the server's validator. CDNs and mirrors label bytes with their
 *   own `ETag` (nginx `"<hex mtime>-<hex size>"`, S3/CloudFront MD5-like tags, the Xet bridge
 *   none at all), and by RFC 9110 an `If-Range` that does not match strongly is answered with
 *   `200` and the whole body. Sending `If-Range: "<sha256>"` made every resume through nginx
 *   a restart: a 64 MiB download interrupted twice fetched 1.55× the file.
 * - A strong `ETag` the server itself sent earlier in this transfer would be an honest
 *   validator, but it buys nothing here and costs much. The URL names fixed content (an LFS
 *   object by its sha256, a regular file pinned to its commit), so "the representation
 *   changed" can only mean the server is wrong, and verification at the end catches that with
 *   or without `If-Range`: a wrong prefix costs one retry from zero, never a wrong blob. Yet a
 *   CDN with several nodes sends a different `ETag` from each, so every retry landing on
 *   another node would be answered `200` and fetch the whole file again (measured against the
 *   emulator's CDN with a new `ETag` per answer, a 24 MiB download whose connection dropped
 *   twice after 6 MiB: 1.50× the file sent with the server's own tag in `If-Range`, 1.00× with
 *   a plain `Range`; every retry is one more full download).
 * - Across processes (a claimed `.partial`) there is no earlier answer to take a validator from.
 *
 * What is still checked, because it decides where bytes go: a `206` must say
 * `Content-Range: bytes N-(SIZE-1)/SIZE` for the `N` we asked (`/*`, a length the server does
 * not know, is accepted when the end shows it); anything else restarts from zero. A `200` to
 * a ranged request (a server ignoring `Range`) restarts from zero in the same file: truncate,
 * never append. A body with a `Content-Encoding` (we ask for identity) is refused, see
 * {@link contentCodings}. Dropped connections, 5xx and 429 are retried in-process from the
 * bytes already written.
 *
 * Speed: chunks are coalesced into 1 MiB writes (`docs/DESIGN.md §Runtimes`: 459 → 708 MB/s on Node) with
 * one write in flight while the next buffer fills, and each byte is copied once.
 *
 * @module
 */

import { DEFAULT_CONNECTIONS, PARALLEL_CHUNK_BYTES, PARALLEL_MIN_BYTES, PARALLEL_MIN_CHUNK_BYTES, WRITE_CHUNK_BYTES } from "../defaults.ts";
import { AbortedError, HubcacheError, NetworkError, UnsafeResponseError } from "../errors.ts";
import { type HubClient, hubFetch } from "../hub/client.ts";
import { hubErrorFor, type RequestSubject, tokenSentWith } from "../hub/error_mapping.ts";
import { contentCodings, parseContentRange } from "../hub/headers.ts";
import { backOff, isRetryableStatus, retryDelayMs } from "../hub/retries.ts";
import type { FileMetadata } from "../hub/metadata.ts";
import { type FileHandle, type Hasher, responseBody, type Runtime } from "../ports.ts";
import { contentHasher, hashPrefix } from "../cache/content_hash.ts";
import { printable } from "../cache/validate.ts";
import { IdleWatchdog } from "./idle_watchdog.ts";
import { transferInRanges } from "./parallel_transfer.ts";
import type { ConnectionBudget } from "./connection_budget.ts";


/** Knobs and callbacks of one transfer. */
export interface TransferOptions {
  /** Who to ask, with the caller's token and signal. */
  readonly client: HubClient;
  /** For hashers and the backoff sleep between attempts. */
  readonly runtime: Runtime;
  /** The repo and file, for error messages. */
  readonly subject: RequestSubject;
  /** Consecutive attempts without progress before giving up. */
  readonly maxAttempts: number;
  /** A response that sends nothing for this long is treated as dropped. */
  readonly idleTimeoutMs: number;
  /** Called after each write with the bytes now in the file (awaited if it returns a promise). */
  readonly onBytes?: (bytesDone: number) => void | Promise<void>;
  /**
   * Ranged connections for this file (`docs/DESIGN.md §Parallel ranges`); unset: {@link DEFAULT_CONNECTIONS}
   * for files of at least {@link PARALLEL_MIN_BYTES}, else one.
   */
  readonly connections?: number;
  /** Shared with the other files of a snapshot download: extra range connections need a free slot. */
  readonly budget?: ConnectionBudget;
}

/** Mutable record of how far a transfer got, readable after it throws. */
export interface TransferState {
  /** Bytes known to be completely written to the file (a safe resume point). */
  written: number;
}

/** The outcome: what was hashed. The caller compares it with the etag. */
export interface TransferResult {
  /** Lowercase hex digest of the whole file, resumed prefix included, with the etag's algorithm. */
  readonly digest: string;
  /** Bytes in the file at the end. */
  readonly size: number;
}

/**
 * Fill `file` (which already holds `state.written` bytes from a claimed partial) with the
 * content at `meta.location` and return the digest of everything in it.
 */
export async function transferBlob(
  options: TransferOptions,
  file: FileHandle,
  meta: FileMetadata,
  state: TransferState,
): Promise<TransferResult> {
  const { client, runtime } = options;
  if (state.written > meta.size) await restartFromZero(file, state);
  let hasher = await contentHasher(runtime, meta.etag, meta.size);
  await hashPrefix(file, state.written, hasher);
  const connections = connectionsFor(meta.size - state.written, meta.size, options.connections);
  if (connections > 1) {
    const outcome = await transferInRanges(options, file, meta, state, hasher, connections);
    if (outcome.kind === "done") return { digest: outcome.digest, size: outcome.size };
    // One stream from the contiguous prefix the ranges left (the file was cut to it).
    hasher = await contentHasher(runtime, meta.etag, meta.size);
    await hashPrefix(file, state.written, hasher);
  }
  let failures = 0;
  let overflow = false;

  const fail = async (err: unknown, retryAfter: string | null): Promise<void> => {
    failures++;
    if (failures >= options.maxAttempts) throw err;
    await backOff(client, retryDelayMs(failures, retryAfter, runtime.platform));
  };
  const fromZero = async (): Promise<void> => {
    await restartFromZero(file, state);
    hasher = await contentHasher(runtime, meta.etag, meta.size);
  };

  while (state.written < meta.size && !overflow) {
    const headers: Record<string, string> = {};
    const requestedFrom = state.written;
    if (requestedFrom > 0) headers.range = `bytes=${requestedFrom}-`;
    let res: Response;
    try {
      res = await hubFetch(client, meta.location, { method: "GET", headers }, { followAbsolute: true });
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
      await fail(err, null);
      continue;
    }
    if (isRetryableStatus(res.status)) {
      await res.body?.cancel().catch(() => {});
      await fail(new NetworkError(`HTTP ${res.status} from ${new URL(meta.location).origin} after retries`), res.headers.get("retry-after"));
      continue;
    }
    if (res.status === 416) {
      // We asked past the end: the server's idea of the size differs from the metadata, or
      // our partial is not a prefix of this content. Either way the partial is worthless.
      await res.body?.cancel().catch(() => {});
      await fromZero();
      await fail(new UnsafeResponseError(`the server refused range ${requestedFrom}- (HTTP 416) and a full download failed`), null);
      continue;
    }
    if (res.status === 200 || res.status === 206) {
      const codings = contentCodings(res);
      if (codings !== undefined) {
        await res.body?.cancel().catch(() => {});
        throw new UnsafeResponseError(
          `${new URL(res.url || meta.location).origin} sent '${options.subject.path}' with Content-Encoding '${printable(codings)}' ` +
            `although hubcache asked for the bytes as stored (Accept-Encoding: identity); an encoded body cannot be sized, ` +
            `resumed or verified the same way on every runtime. Make the server or proxy honour Accept-Encoding: identity`,
        );
      }
    }
    if (res.status === 206) {
      if (requestedFrom === 0 || !contentRangeMatches(res.headers.get("content-range"), requestedFrom, meta.size)) {
        await res.body?.cancel().catch(() => {});
        await fromZero();
        await fail(new UnsafeResponseError(`bad Content-Range '${printable(res.headers.get("content-range") ?? "")}' for a request from byte ${requestedFrom}`), null);
        continue;
      }
    } else if (res.status === 200) {
      // 200 to a ranged request: this server ignores Range. The body is the whole file, so
      // it goes in from byte 0 (truncating, never appending).
      if (requestedFrom > 0) await fromZero();
    } else {
      await res.body?.cancel().catch(() => {});
      throw hubErrorFor(res, options.subject, tokenSentWith(res, client));
    }
    if (!res.body) {
      await fail(new NetworkError("the server sent no body"), null);
      continue;
    }
    const before = state.written;
    const outcome = await pumpBody(responseBody(res)!, file, hasher, state, meta.size, options);
    overflow = outcome.overflow;
    if (outcome.error !== undefined) {
      if (client.signal?.aborted) throw new AbortedError(undefined, { cause: outcome.error });
      if (outcome.error instanceof HubcacheError && !(outcome.error instanceof NetworkError)) throw outcome.error;
      if (!(outcome.error instanceof NetworkError)) throw outcome.error; // a write failure: not the network's fault
      if (state.written > before) failures = 0; // progress: a flaky link, not a dead one
      await fail(outcome.error, null);
      continue;
    }
    if (state.written < meta.size && !overflow) {
      if (state.written > before) failures = 0;
      await fail(new NetworkError(`the connection ended after ${state.written} of ${meta.size} bytes`), null);
    }
  }
  return { digest: hasher.digestHex(), size: overflow ? state.written + 1 : state.written };
}

/**
 * How many connections fetch the `remaining` bytes of a file of `size` bytes: what the caller
 * asked for (or the default above the size threshold), never more than there are chunks left.
 */
export function connectionsFor(remaining: number, size: number, requested: number | undefined): number {
  const wanted = requested ?? (size >= PARALLEL_MIN_BYTES ? DEFAULT_CONNECTIONS : 1);
  return Math.max(1, Math.min(wanted, Math.ceil(remaining / chunkBytesFor(remaining, wanted))));
}

/**
 * The size of the ranges for `remaining` bytes over `connections`: about four per connection, in
 * whole 64 KiB, between {@link PARALLEL_MIN_CHUNK_BYTES} and {@link PARALLEL_CHUNK_BYTES}.
 */
export function chunkBytesFor(remaining: number, connections: number): number {
  const quarter = Math.floor(remaining / (connections * 4) / 65536) * 65536;
  return Math.min(PARALLEL_CHUNK_BYTES, Math.max(PARALLEL_MIN_CHUNK_BYTES, quarter));
}

async function restartFromZero(file: FileHandle, state: TransferState): Promise<void> {
  await file.truncate(0);
  state.written = 0;
}

/**
 * Check a `206`'s `Content-Range` against what we asked for: it must run from `start` to the
 * last byte of a file of `total` bytes. A total of `*` (unknown to the server) is accepted
 * when the end shows the same length.
 */
export function contentRangeMatches(header: string | null, start: number, total: number): boolean {
  return contentRangeIs(header, start, total - 1, total);
}

/**
 * Check a `206`'s `Content-Range` for a bounded request `bytes=start-end` (end inclusive) of a
 * file of `total` bytes: exactly that range, and the total we expect unless it is `*`.
 */
export function contentRangeIs(header: string | null, start: number, end: number, total: number): boolean {
  const range = parseContentRange(header);
  if (!range) return false;
  return range.start === start && range.end === end && (range.total === undefined || range.total === total);
}

/**
 * The two buffers {@link pumpBody} coalesces writes in (one filling while the other is written).
 * A caller pumping many bodies one after another — a connection of a parallel transfer, range
 * after range — passes the same pair each time: allocating a pair per range left 1 MiB of
 * garbage per range that the runtimes collect late, and peak memory grew with the connections.
 * Free again when `pumpBody` returns (its last write has settled).
 */
export type WriteBuffers = readonly [Uint8Array, Uint8Array];

/** A {@link WriteBuffers} pair of `bytes` each. */
export function writeBuffers(bytes: number): WriteBuffers {
  return [new Uint8Array(bytes), new Uint8Array(bytes)];
}

/** What {@link pumpBody} reports. */
export interface PumpOutcome {
  readonly error?: unknown;
  /** The server sent more bytes than the file has: an integrity failure. */
  readonly overflow: boolean;
}

/**
 * Copy `body` into `file` from `state.written` up to (not past) `total`, in coalesced writes of
 * `bufferBytes` with one in flight, handing each write's bytes to `hasher` first (in the order
 * they go into the file) and advancing `state.written` as each write completes.
 */
export async function pumpBody(
  body: ReadableStream<Uint8Array>,
  file: FileHandle,
  hasher: Hasher,
  state: TransferState,
  total: number,
  options: Pick<TransferOptions, "idleTimeoutMs" | "runtime" | "onBytes">,
  buffers: WriteBuffers | number = WRITE_CHUNK_BYTES,
): Promise<PumpOutcome> {
  const reader = body.getReader();
  // No bigger than what is left to receive: a snapshot of a thousand 10 KiB files would
  // otherwise allocate (and zero, and collect) two 1 MiB buffers per file.
  const capacity = Math.max(1, Math.min(typeof buffers === "number" ? buffers : buffers[0].length, total - state.written));
  const pair = typeof buffers === "number" ? writeBuffers(capacity) : buffers;
  let current = 0;
  let fill = 0;
  let queued = state.written; // position of the next byte to write
  let inflight: Promise<void> | undefined;
  let inflightEnd = state.written;
  let writeError: unknown;

  const settle = async (): Promise<void> => {
    if (!inflight) return;
    try {
      await inflight;
      state.written = inflightEnd;
      await options.onBytes?.(state.written);
    } catch (err) {
      writeError = err;
      throw err;
    } finally {
      inflight = undefined;
    }
  };
  const flush = async (): Promise<void> => {
    if (fill === 0) return;
    const data = pair[current].subarray(0, fill);
    hasher.update(data);
    await settle();
    inflight = file.write(data, queued);
    // The write may fail while we are still awaiting the next chunk; mark it handled now (it
    // is awaited, and its error reported, in settle) or the runtime ends the process.
    inflight.catch(() => {});
    queued += fill;
    inflightEnd = queued;
    current ^= 1;
    fill = 0;
  };

  let error: unknown;
  let overflow = false;
  const watchdog = new IdleWatchdog(reader, options.idleTimeoutMs, options.runtime.platform);
  try {
    for (;;) {
      const { value, done } = await watchdog.read();
      if (done) break;
      let chunk = value;
      const room = total - (queued + fill);
      if (chunk.length > room) {
        overflow = true;
        chunk = chunk.subarray(0, Math.max(0, room));
      }
      while (chunk.length > 0) {
        const n = Math.min(chunk.length, capacity - fill);
        // One copy per byte: Deno hands out views into larger buffers, never keep `chunk`.
        pair[current].set(chunk.subarray(0, n), fill);
        fill += n;
        chunk = chunk.subarray(n);
        if (fill === capacity) await flush();
      }
      if (overflow) break;
    }
  } catch (err) {
    error = writeError ?? err;
  } finally {
    watchdog.stop();
  }
  if (error !== undefined || overflow) await reader.cancel().catch(() => {});
  if (writeError === undefined) {
    // Bytes received before a drop are a valid prefix (the 206 was checked): keep them.
    try {
      await flush();
      await settle();
    } catch (err) {
      error = err;
    }
  }
  if (error !== undefined && !(error instanceof HubcacheError) && writeError === undefined) {
    error = new NetworkError(`the download was interrupted: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return { error, overflow };
}
