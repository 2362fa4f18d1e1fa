/**
 * One file over several ranged connections (`docs/DESIGN.md §Parallel ranges`).
 *
 * - Ranges (`chunkBytesFor`: 1 to 8 MiB, about four per connection) are handed out from the front of the file, each to
 *   one connection at a time (a range has exactly one writer, so the bytes hashed are the bytes
 *   in the file), and no range is handed out further than `connections` chunks past the durable
 *   prefix: the bytes a SIGKILL can cost stay bounded by that.
 * - Each connection writes its bytes at their offsets in our own temp file (`§Invariants 2`).
 * - The hash runs in file order over the contiguous prefix: the connection writing at the hash
 *   frontier feeds the hasher straight from its buffer; bytes that arrived ahead of the frontier
 *   are read back (from the page cache) once the prefix reaches them. Nothing is held in memory
 *   beyond two write buffers per connection.
 * - Every half chunk of prefix, the data is fsynced and the prefix
 *   recorded in the file's trailer (`prefix_record.ts`), which a claimer trusts after SIGKILL.
 * - A connection holding back the prefix while others wait is re-issued: its request aborted,
 *   the rest of its range handed to a waiting connection.
 * - A server that ignores `Range` (or answers one oddly: `200`, `416`, a wrong `Content-Range`,
 *   an encoded body) sends us back to one stream (`transfer.ts`), which knows how to handle it.
 *
 * Resume asks for plain ranges, never `If-Range` (`§Resume`); each `206`'s `Content-Range`
 * must be exactly the range asked.
 *
 * @module
 */

import {
  PARALLEL_WRITE_BYTES,
  READ_CHUNK_BYTES,
  REISSUE_CHECK_MS,
  REISSUE_MIN_RUN_MS,
  STALLED_CONNECTION_MS,
} from "../defaults.ts";
import { AbortedError, CacheError, NetworkError } from "../errors.ts";
import { type HubClient, hubFetch } from "../hub/client.ts";
import { hubErrorFor } from "../hub/error_mapping.ts";
import { contentCodings } from "../hub/headers.ts";
import type { FileMetadata } from "../hub/metadata.ts";
import { backOff, isRetryableStatus, retryDelayMs } from "../hub/retries.ts";
import { type FileHandle, type Hasher, responseBody } from "../ports.ts";
import { type PrefixRecorder, startPrefixRecord } from "./prefix_record.ts";
import { chunkBytesFor, contentRangeIs, pumpBody, type TransferOptions, type TransferResult, type TransferState, type WriteBuffers, writeBuffers } from "./transfer.ts";

/** What a parallel transfer ended with: the file's digest, or "use one stream from `state.written`". */
export type ParallelOutcome = ({ readonly kind: "done" } & TransferResult) | { readonly kind: "one-stream" };

/** A byte range, end exclusive. */
interface Span {
  readonly start: number;
  readonly end: number;
}

/** One connection's state, read by the others to judge whether it holds back the prefix. */
interface Connection {
  /** Where its next byte goes; meaningful while `span` is set. */
  pos: number;
  span: Span | null;
  controller: AbortController | null;
  reissued: boolean;
  requestStartedAt: number;
  lastByteAt: number;
  receivedThisRequest: number;
  /** Bytes per ms of its last completed request. */
  lastRate: number;
}

type Opened =
  | { kind: "body"; res: Response }
  | { kind: "retry"; error: unknown; retryAfter: string | null }
  | { kind: "one-stream" }
  | { kind: "stopped" };

/**
 * Fill `file` (holding `state.written` bytes of prefix, already fed to `hasher`) with the rest of
 * the content over `connections` ranged requests. `state.written` follows the contiguous
 * prefix, so whoever catches an error can release exactly the bytes that are a prefix.
 */
export async function transferInRanges(
  options: TransferOptions,
  file: FileHandle,
  meta: FileMetadata,
  state: TransferState,
  hasher: Hasher,
  connections: number,
): Promise<ParallelOutcome> {
  const { client, runtime } = options;
  const { platform } = runtime;
  const size = meta.size;
  const chunk = chunkBytesFor(size - state.written, connections);
  // The lead of the ranges handed out over the durable prefix, all a SIGKILL can cost (the issue's
  // bound: connections × chunk). Recording every half chunk keeps the window moving while the
  // connection at the frontier finishes its range.
  const window = connections * chunk;
  const recordEvery = chunk / 2;

  const stop = new AbortController();
  const onAbort = (): void => halt();
  if (client.signal?.aborted) throw new AbortedError();
  client.signal?.addEventListener("abort", onAbort, { once: true });
  const stopClient: HubClient = { ...client, signal: stop.signal };

  let nextStart = state.written;
  const returned: Span[] = [];
  let contiguous = state.written;
  const pieces = new Map<number, number>();
  let hashed = state.written;
  let catchingUp: Promise<void> | null = null;
  let recorder: PrefixRecorder | undefined;
  let recorded = state.written;
  let recording: Promise<void> | null = null;
  let written = state.written;
  let fatal: unknown;
  let oneStream = false;
  let overflow = false;
  /** Workers holding a connection slot (a worker waiting for one of a snapshot's budget does not count). */
  let working = 0;
  const conns: Connection[] = [];
  const waiters: Array<() => void> = [];
  const readBuffer = new Uint8Array(READ_CHUNK_BYTES);

  const notify = (): void => {
    for (const wake of waiters.splice(0)) wake();
  };
  const active = new Set<AbortController>();
  const halt = (err?: unknown): void => {
    if (err !== undefined && fatal === undefined) fatal = err;
    stop.abort(new NetworkError("the parallel download stopped"));
    for (const controller of active) controller.abort(stop.signal.reason);
    notify();
  };
  const waitForChange = async (): Promise<void> => {
    const timer = new AbortController();
    await Promise.race([
      new Promise<void>((resolve) => waiters.push(resolve)),
      platform.timeout(REISSUE_CHECK_MS, timer.signal).catch(() => {}),
    ]);
    timer.abort();
  };

  /** The next range to fetch: a re-issued rest first, else a new chunk within the window. */
  const take = (): Span | null => {
    if (returned.length > 0) return returned.shift()!;
    if (nextStart >= size) return null;
    const end = Math.min(size, nextStart + chunk);
    if (end > recorded + window) return null;
    const span = { start: nextStart, end };
    nextStart = end;
    return span;
  };
  const giveBack = (span: Span): void => {
    if (span.start >= span.end) return;
    returned.push(span);
    returned.sort((a, b) => a.start - b.start);
    notify();
  };

  const catchUp = (): void => {
    if (catchingUp || hashed >= contiguous) return;
    catchingUp = (async () => {
      while (hashed < contiguous) {
        const n = await file.read(readBuffer.subarray(0, Math.min(readBuffer.length, contiguous - hashed)), hashed);
        if (n <= 0) throw new CacheError(`internal: the temp file ended at ${hashed} although ${contiguous} bytes were written`);
        hasher.update(readBuffer.subarray(0, n));
        hashed += n;
      }
    })().catch(halt).finally(() => {
      catchingUp = null;
      catchUp();
      notify();
    });
  };
  const record = (): void => {
    if (recording || !recorder || contiguous - recorded < recordEvery) return;
    const target = contiguous;
    const rec = recorder;
    // Data first, record second: the record must never cover bytes a power cut could lose.
    recording = (async () => {
      await file.sync();
      await rec.record(target);
      recorded = target;
    })().catch(halt).finally(() => {
      recording = null;
      record();
      notify();
    });
  };
  const addPiece = (from: number, to: number): void => {
    if (to <= from) return;
    written += to - from;
    if (from !== contiguous) {
      pieces.set(from, to);
      return;
    }
    contiguous = to;
    for (let end = pieces.get(contiguous); end !== undefined; end = pieces.get(contiguous)) {
      pieces.delete(contiguous);
      contiguous = end;
    }
    state.written = contiguous;
    catchUp();
    record();
    notify();
  };

  /** Abort the connection writing at the prefix if it stalls or crawls while `asker` waits. */
  const reissueHead = (asker: Connection): void => {
    const head = conns.find((c) => c.span !== null && c.pos === contiguous && c.controller !== null && !c.reissued);
    if (!head || head === asker) return;
    const now = platform.now();
    const running = now - head.requestStartedAt;
    if (running < REISSUE_MIN_RUN_MS) return;
    const rate = head.receivedThisRequest / running;
    // The typical rate of the others (their median), not the luckiest one: on a loaded
    // machine single requests vary widely, and re-issuing a connection that merely had bad
    // luck costs a request and the bytes in its socket buffers.
    const rates = conns.filter((c) => c !== head && c.lastRate > 0).map((c) => c.lastRate).sort((a, b) => a - b);
    const typical = rates.length > 0 ? rates[Math.floor(rates.length / 2)] : 0;
    if (now - head.lastByteAt >= STALLED_CONNECTION_MS || rate * 4 < typical) {
      head.reissued = true;
      head.controller!.abort(new NetworkError("re-issued: the connection held back the download"));
    }
  };

  const open = async (conn: Connection, span: Span): Promise<Opened> => {
    // One controller per request, aborted by a re-issue or, through `active`, by `halt`
    // (one listener on the stop signal per request would pile up on a long download).
    const controller = new AbortController();
    if (stop.signal.aborted) return { kind: "stopped" };
    active.add(controller);
    conn.controller = controller;
    conn.reissued = false;
    conn.requestStartedAt = conn.lastByteAt = platform.now();
    conn.receivedThisRequest = 0;
    let res: Response;
    try {
      res = await hubFetch({ ...client, signal: controller.signal }, meta.location, {
        method: "GET",
        headers: { range: `bytes=${span.start}-${span.end - 1}` },
      }, { followAbsolute: true });
    } catch (err) {
      active.delete(controller);
      if (stop.signal.aborted) return { kind: "stopped" };
      if (conn.reissued) return { kind: "retry", error: err, retryAfter: null };
      if (err instanceof NetworkError) return { kind: "retry", error: err, retryAfter: null };
      throw err;
    }
    // The controller stays active until the body is done; `done()` in the worker drops it.
    if (isRetryableStatus(res.status)) {
      await res.body?.cancel().catch(() => {});
      return { kind: "retry", error: new NetworkError(`HTTP ${res.status} from ${new URL(meta.location).origin} after retries`), retryAfter: res.headers.get("retry-after") };
    }
    if (res.status === 206 && contentRangeIs(res.headers.get("content-range"), span.start, span.end - 1, size) && contentCodings(res) === undefined) {
      if (!res.body) return { kind: "retry", error: new NetworkError("the server sent no body"), retryAfter: null };
      return { kind: "body", res };
    }
    if (res.status === 200 || res.status === 206 || res.status === 416) {
      // Range ignored or answered in a way we do not build on: one stream knows what to do.
      await res.body?.cancel().catch(() => {});
      return { kind: "one-stream" };
    }
    await res.body?.cancel().catch(() => {});
    throw hubErrorFor(res, options.subject);
  };
  const done = (conn: Connection): void => {
    if (conn.controller) active.delete(conn.controller);
    conn.controller = null;
  };

  const newConnection = (): Connection => {
    const conn: Connection = {
      pos: 0, span: null, controller: null, reissued: false,
      requestStartedAt: 0, lastByteAt: 0, receivedThisRequest: 0, lastRate: 0,
    };
    conns.push(conn);
    return conn;
  };

  const worker = async (conn: Connection, first?: { span: Span; opened: Opened }, extra = false): Promise<void> => {
    // An extra connection of a snapshot download needs a slot of the shared budget.
    let slot = !extra || options.budget === undefined;
    if (slot) working++;
    try {
      await work(conn, () => {
        if (!slot && options.budget!.tryTake()) {
          slot = true;
          working++;
        }
        return slot;
      }, extra, first);
    } finally {
      if (slot) working--;
      if (slot && extra && options.budget !== undefined) options.budget.give();
    }
  };

  const work = async (conn: Connection, haveSlot: () => boolean, extra: boolean, first?: { span: Span; opened: Opened }): Promise<void> => {
    let failures = 0;
    let buffers: WriteBuffers | undefined; // this connection's, range after range
    let pending = first;
    while (contiguous < size && !stop.signal.aborted) {
      if (!haveSlot()) {
        await waitForChange();
        continue;
      }
      let span: Span | null;
      let opened: Opened;
      if (pending) {
        ({ span, opened } = pending);
        pending = undefined;
      } else {
        span = take();
        if (!span) {
          reissueHead(conn);
          await waitForChange();
          continue;
        }
        conn.span = span;
        conn.pos = span.start;
        opened = await open(conn, span);
      }
      conn.span = span;
      conn.pos = span.start;
      if (opened.kind === "stopped") {
        done(conn);
        giveBack(span);
        return;
      }
      if (opened.kind === "one-stream") {
        done(conn);
        giveBack(span);
        oneStream = true;
        halt();
        return;
      }
      let error: unknown;
      let retryAfter: string | null = null;
      if (opened.kind === "retry") {
        error = opened.error;
        retryAfter = opened.retryAfter;
      } else {
        const at = { written: span.start };
        let hashAt = span.start;
        // The bytes of this range in file order, just before they are written: hashed here
        // when they sit at the hash frontier, otherwise read back once the prefix reaches them.
        const sink: Hasher = {
          update(data) {
            if (hashAt === hashed && catchingUp === null) {
              hasher.update(data);
              hashed += data.length;
            }
            hashAt += data.length;
          },
          digestHex: () => "",
        };
        const outcome = await pumpBody(responseBody(opened.res)!, file, sink, at, span.end, {
          idleTimeoutMs: options.idleTimeoutMs,
          runtime,
          onBytes: (pos) => {
            const from = conn.pos;
            conn.pos = pos;
            conn.receivedThisRequest += pos - from;
            conn.lastByteAt = platform.now();
            addPiece(from, pos);
            return options.onBytes?.(written);
          },
        }, buffers ??= writeBuffers(PARALLEL_WRITE_BYTES));
        if (outcome.overflow) {
          done(conn);
          overflow = true;
          halt();
          return;
        }
        if (at.written >= span.end) {
          const ran = platform.now() - conn.requestStartedAt;
          if (ran > 0) conn.lastRate = conn.receivedThisRequest / ran;
          done(conn);
          conn.span = null;
          failures = 0;
          continue;
        }
        error = outcome.error ?? new NetworkError(`the connection ended after ${at.written - span.start} of ${span.end - span.start} bytes`);
        if (at.written > span.start) failures = 0;
        // A failed write is not the network's fault: stop everything.
        if (!(error instanceof NetworkError) && !stop.signal.aborted) {
          done(conn);
          giveBack({ start: at.written, end: span.end });
          halt(error);
          return;
        }
      }
      const reissued = conn.reissued;
      done(conn);
      conn.span = null;
      giveBack({ start: conn.pos, end: span.end });
      if (stop.signal.aborted) return;
      if (reissued) {
        // Let the waiting connection that asked for the re-issue take the rest.
        await waitForChange();
        continue;
      }
      failures++;
      if (failures >= options.maxAttempts) {
        // A connection that keeps failing while others carry on (a CDN answering 429 to the n-th
        // connection) steps back: an extra one retires; the file's own first one, which holds the
        // file's slot of a snapshot's budget, keeps trying. The last one standing reports the error.
        if (working <= 1) {
          halt(error);
          return;
        }
        if (extra) return;
        failures = 0;
      }
      await backOff(stopClient, retryDelayMs(failures, retryAfter, platform)).catch(() => {});
    }
  };

  let first: { span: Span; opened: Opened } | undefined;
  const head = newConnection();
  try {
    const span = take()!;
    for (let failures = 1;; failures++) {
      const opened = await open(head, span);
      if (opened.kind === "body") {
        first = { span, opened };
        break;
      }
      done(head);
      if (opened.kind === "stopped") throw new AbortedError();
      // The first usable answer decides: Range ignored or answered oddly, and the one-stream
      // path, which knows how to restart, takes over from the same prefix.
      if (opened.kind === "one-stream") return { kind: "one-stream" };
      if (failures >= options.maxAttempts) throw opened.error;
      await backOff(client, retryDelayMs(failures, opened.retryAfter, platform));
    }
    // From here on the file has holes: the trailer marks it before any byte lands out of order.
    recorder = await startPrefixRecord(file, size, state.written);
  } catch (err) {
    if (first?.opened.kind === "body") await first.opened.res.body?.cancel().catch(() => {});
    done(head);
    client.signal?.removeEventListener("abort", onAbort);
    if (client.signal?.aborted) throw new AbortedError(undefined, { cause: err });
    throw err;
  }

  const workers: Promise<void>[] = [];
  const run = (conn: Connection, start?: { span: Span; opened: Opened }, extra = false): void => {
    workers.push(worker(conn, start, extra).catch(halt).finally(notify));
  };
  run(head, first);
  for (let i = 1; i < connections; i++) run(newConnection(), undefined, true);
  await Promise.all(workers);
  // A worker that retired on errors while others finished leaves nothing; one that retired
  // while its range was still open is caught here.
  if (contiguous < size && !stop.signal.aborted && fatal === undefined) fatal = new NetworkError("every connection failed");
  while (catchingUp || recording) await Promise.all([catchingUp, recording]);
  client.signal?.removeEventListener("abort", onAbort);

  if (client.signal?.aborted) throw new AbortedError(undefined, { cause: fatal });
  if (fatal !== undefined) throw fatal;
  if (overflow) return { kind: "done", digest: hasher.digestHex(), size: size + 1 };
  if (oneStream) {
    await file.truncate(contiguous);
    return { kind: "one-stream" };
  }
  catchUp();
  while (catchingUp) await catchingUp;
  if (fatal !== undefined) throw fatal;
  if (hashed !== size) throw new CacheError(`internal: hashed ${hashed} of ${size} bytes`);
  // The trailer goes: what is published is exactly the content.
  await file.truncate(size);
  return { kind: "done", digest: hasher.digestHex(), size };
}
