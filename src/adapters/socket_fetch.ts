/**
 * A `fetch` that speaks HTTP/1.1 itself over `node:net` / `node:tls`, for the requests hubcache
 * makes without a proxy: GET and HEAD, no request body, redirects never followed
 * (`redirect: "manual"`; hubFetch follows them by hand so a token never reaches another host).
 * Anything else goes to the `fetch` given as fallback.
 *
 * Why (`docs/DESIGN.md §Runtimes`): every runtime's own client costs more CPU and memory per body
 * byte than the download needs — Node's `fetch` parses in WebAssembly and copies each chunk out,
 * `node:http` builds an `IncomingMessage` and allocates a buffer per read, Deno's and Bun's
 * `node:http` layers cost more still. Here the socket reads (`onread`) into a few reused buffers
 * per connection and the body stream hands out views of them, so moving a body allocates
 * nothing per chunk.
 *
 * The one rule that makes reuse safe: a buffer is read into again only when no view of it can
 * still be read. A view is held while it waits in the stream's queue, and by the reader from
 * the `read()` that returned it until its next `read()`. Only hubcache's download pump reads
 * the views (`BODY_VIEWS` in ports.ts: it copies each chunk before asking for the next);
 * `response.body` hands every other reader chunks of its own, copied as they are read.
 *
 * Connections are kept alive per origin and reused only after a response was read to its end
 * with a reusable framing; an idle one is closed after a few seconds and never keeps the
 * process alive. Bytes a server sends past a response's end are caught when they arrive with
 * it or while the connection is idle (it is closed); ones that arrive only after the next
 * request went out are read as that request's response, as with any HTTP/1.1 client — a
 * file's content is still checked against its hash.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import { BODY_VIEWS } from "../core/ports.ts";
import { BodyDecoder, type Framing, framingOf, HeadReader, type ResponseHead } from "./http1_framing.ts";

/**
 * Buffers each connection reads into, and their size: a connection holds at most this much body.
 * 256 → 128 KiB: peak RSS at 16 connections ~8 MiB lower, no change in CPU measured (loopback
 * reads rarely fill 128 KiB; TLS delivers 16 KiB records).
 */
const SLABS = 4;
const SLAB_BYTES = 128 * 1024;
/** How long an idle connection is kept: shorter than common servers' keep-alive (nginx 75 s, Node 5 s). */
const IDLE_MS = 4_000;
/** Bounds on a connection's handshake and on the wait for a response head (undici's defaults). */
const CONNECT_TIMEOUT_MS = 10_000;
const HEAD_TIMEOUT_MS = 300_000;
/** Idle connections kept per origin (parallel ranges open 8 at once). */
const MAX_IDLE_PER_ORIGIN = 16;
/** The stream's queue size in chunks; the real bound on buffered bytes is the slabs. */
const QUEUED_CHUNKS = 16;

/** What a socket fetch exposes for tests: connections opened so far. */
export interface SocketFetch {
  (input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Connections opened since this fetch was made (reuse shows as fewer connections than requests). */
  readonly connectionsOpened: number;
  /** Close every idle connection. */
  closeIdle(): void;
}

/** Time limits of a {@link socketFetch}, in ms (tests shorten them). */
export interface SocketTimeouts {
  /** For the TCP connection and TLS handshake. Default 10 s. */
  readonly connectMs?: number;
  /** From sending a request to its response head. Default 300 s. */
  readonly headMs?: number;
}

/** `fetch` over raw sockets for GET/HEAD without a body with `redirect: "manual"`, `fallback` for everything else. */
export function socketFetch(fallback: typeof fetch, timeouts: SocketTimeouts = {}): SocketFetch {
  const pool = new ConnectionPool({ connectMs: timeouts.connectMs ?? CONNECT_TIMEOUT_MS, headMs: timeouts.headMs ?? HEAD_TIMEOUT_MS });
  const f = ((input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const method = (init?.method ?? "GET").toUpperCase();
    let url: URL | undefined;
    try {
      url = typeof input === "string" ? new URL(input) : input instanceof URL ? input : undefined;
    } catch {
      url = undefined; // the fallback rejects it as fetch does
    }
    if (
      url === undefined || (method !== "GET" && method !== "HEAD") || (init?.body !== undefined && init.body !== null) ||
      init?.redirect !== "manual" || (url.protocol !== "http:" && url.protocol !== "https:")
    ) {
      return fallback(input, init);
    }
    // Like fetch, a bad argument rejects the promise rather than throwing.
    return Promise.resolve().then(() => send(pool, url, method, new Headers(init?.headers), init?.signal ?? undefined));
  }) as SocketFetch;
  Object.defineProperty(f, "connectionsOpened", { get: () => pool.opened });
  Object.defineProperty(f, "closeIdle", { value: () => pool.closeIdle() });
  return f;
}

async function send(pool: ConnectionPool, url: URL, method: string, headers: Headers, signal: AbortSignal | undefined): Promise<Response> {
  if (signal?.aborted) throw signal.reason;
  let request = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
  // No content coding unless the caller asks for one: this client decodes none, and a request
  // without Accept-Encoding lets a server pick any (RFC 9110 §12.5.3).
  if (!headers.has("accept-encoding")) headers.set("accept-encoding", "identity");
  headers.forEach((value, name) => {
    if (name !== "host" && name !== "connection" && name !== "content-length" && name !== "transfer-encoding") request += `${name}: ${value}\r\n`;
  });
  request += "\r\n";
  const key = `${url.protocol}//${url.host}`;
  const reused = pool.take(key);
  if (reused !== undefined) {
    try {
      return await reused.exchange(url, method, request, signal);
    } catch (err) {
      // The server may close an idle connection just as we send on it (a real race): a
      // request that got no byte of an answer is sent once more, on a fresh connection.
      if (!(err instanceof NoResponseError) || signal?.aborted) throw unwrap(err);
    }
  }
  try {
    return await pool.open(url).exchange(url, method, request, signal);
  } catch (err) {
    throw unwrap(err);
  }
}

function unwrap(err: unknown): unknown {
  return err instanceof NoResponseError ? err.failure : err;
}

/** The connection ended: the end of a close-delimited body, or a failure anywhere else. */
class ConnectionClosed extends Error {}

/** A request failed before any byte of its response arrived (`failure` is what fetch rejects with). */
class NoResponseError extends Error {
  constructor(readonly failure: unknown) {
    super("no response");
  }
}

class ConnectionPool {
  readonly #idle = new Map<string, Connection[]>();
  opened = 0;

  constructor(readonly timeouts: Required<SocketTimeouts>) {}

  take(key: string): Connection | undefined {
    const list = this.#idle.get(key);
    while (list !== undefined && list.length > 0) {
      const conn = list.pop()!;
      if (conn.wake()) return conn;
    }
    return undefined;
  }

  open(url: URL): Connection {
    this.opened++;
    return new Connection(this, `${url.protocol}//${url.host}`, url);
  }

  park(conn: Connection): void {
    let list = this.#idle.get(conn.key);
    if (list === undefined) this.#idle.set(conn.key, list = []);
    if (list.length >= MAX_IDLE_PER_ORIGIN) {
      conn.destroy();
      return;
    }
    list.push(conn);
  }

  forget(conn: Connection): void {
    const list = this.#idle.get(conn.key);
    const i = list?.indexOf(conn) ?? -1;
    if (i >= 0) list!.splice(i, 1);
    if (list?.length === 0) this.#idle.delete(conn.key);
  }

  closeIdle(): void {
    for (const list of [...this.#idle.values()]) for (const conn of [...list]) conn.destroy();
  }
}

/** One request/response on a connection. */
interface Exchange {
  readonly method: string;
  readonly url: URL;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (res: Response) => void;
  readonly reject: (err: unknown) => void;
  readonly head: HeadReader;
  decoder?: BodyDecoder;
  framing?: Framing;
  controller?: ReadableStreamDefaultController<Uint8Array>;
  /** Any byte of the response arrived (a failure after that is not retried). */
  answered: boolean;
  /** The body's last byte arrived. */
  complete: boolean;
  /** Slab of each enqueued chunk not yet known to be released, oldest first. */
  readonly held: number[];
  enqueued: number;
  released: number;
  dequeuedAtLastPull: number;
  /** The last pull found the reader waiting in read(): it holds no chunk. */
  waiting: boolean;
  finished: boolean;
  onAbort?: () => void;
  /** Bounds the wait for the response head (`SocketTimeouts.headMs`). */
  headTimer?: ReturnType<typeof setTimeout>;
}

class Connection {
  readonly socket: net.Socket;
  readonly #slabs: Uint8Array[] = [];
  /** Chunks per slab that a reader may still read. */
  readonly #holds = new Array<number>(SLABS).fill(0);
  /** The slab last handed to the socket (-1: a buffer of its own), and whether a read has filled it since. */
  #target = -1;
  #targetFilled = true;
  #paused = false;
  #exchange: Exchange | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #dead = false;

  constructor(readonly pool: ConnectionPool, readonly key: string, url: URL) {
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const https = url.protocol === "https:";
    const port = url.port !== "" ? Number(url.port) : https ? 443 : 80;
    // `onread` is honoured by Node's, Deno's and Bun's net and tls sockets alike, pausing
    // included (tests/socket_fetch.test.ts fails on a runtime where it is not).
    const onread = {
      buffer: (): Uint8Array => this.#nextSlab(),
      callback: (n: number, buf: Uint8Array): boolean => this.#onRead(n, buf),
    };
    // Certificates are verified against the runtime's trust store, which its own setting for a
    // private CA extends for node:tls as for its fetch (NODE_EXTRA_CA_CERTS; Deno: DENO_CERT,
    // DENO_TLS_CA_STORE; tests/socket_fetch_tls.test.ts).
    this.socket = https
      // (@types/node lists `onread` for net sockets only; tls.connect honours it since Node 14.)
      ? tls.connect({ host, port, onread, ...(net.isIP(host) === 0 ? { servername: host } : {}), ALPNProtocols: ["http/1.1"] } as tls.ConnectionOptions)
      : net.connect({ host, port, onread });
    this.socket.setNoDelay(true);
    // A host that never completes the handshake fails the request like an unreachable one.
    const { connectMs } = pool.timeouts;
    const connectTimer = setTimeout(() => this.destroy(new Error(`no connection within ${connectMs / 1000} s`)), connectMs);
    unrefTimer(connectTimer);
    this.socket.once(https ? "secureConnect" : "connect", () => clearTimeout(connectTimer));
    this.socket.once("close", () => clearTimeout(connectTimer));
    this.socket.on("end", () => this.#fail(new ConnectionClosed("the server closed the connection")));
    this.socket.on("error", (err) => this.#fail(err));
    this.socket.on("close", () => this.#fail(new ConnectionClosed("the connection was closed")));
  }

  /** Take an idle connection back into use; false when it died while idle. */
  wake(): boolean {
    clearTimeout(this.#idleTimer);
    if (this.#dead || this.socket.destroyed) return false;
    this.socket.ref();
    return true;
  }

  destroy(err?: Error): void {
    this.socket.destroy(err);
    this.#fail(err ?? new ConnectionClosed("the connection was closed"));
  }

  exchange(url: URL, method: string, request: string, signal: AbortSignal | undefined): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      const ex: Exchange = {
        method, url, signal, resolve, reject, head: new HeadReader(), answered: false, complete: false,
        held: [], enqueued: 0, released: 0, dequeuedAtLastPull: -1, waiting: false, finished: false,
      };
      this.#exchange = ex;
      // A server that takes the request and never answers: the body's idle watchdog only starts
      // once there is a body, so the wait for the head is bounded here.
      const { headMs } = this.pool.timeouts;
      ex.headTimer = setTimeout(() => this.destroy(new Error(`no response within ${headMs / 1000} s`)), headMs);
      unrefTimer(ex.headTimer);
      if (signal !== undefined) {
        ex.onAbort = () => this.destroy(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
        signal.addEventListener("abort", ex.onAbort, { once: true });
      }
      this.socket.write(request, "latin1");
    });
  }

  #nextSlab(): Uint8Array {
    // The first free slab after the last one. The socket pauses while one is still free (see
    // #onRead), so a runtime that honours the pause always finds one here; one that reads on
    // regardless (Deno's TLS sockets do, now and then) gets a buffer of its own, never one a
    // reader may still be reading.
    const last = this.#target < 0 ? SLABS - 1 : this.#target;
    for (let i = 1; i <= SLABS; i++) {
      const s = (last + i) % SLABS;
      if (this.#holds[s] === 0) {
        this.#target = s;
        this.#targetFilled = false;
        return this.#slabs[s] ??= new Uint8Array(SLAB_BYTES);
      }
    }
    this.#target = -1;
    this.#targetFilled = false;
    return new Uint8Array(SLAB_BYTES);
  }

  /** Free slabs besides the one handed to the socket for its next read. */
  #spareSlabs(): number {
    let free = 0;
    for (let s = 0; s < SLABS; s++) if (this.#holds[s] === 0 && (this.#targetFilled || s !== this.#target)) free++;
    return free;
  }

  #onRead(n: number, buf: Uint8Array): boolean {
    // -1: a buffer of its own, never reused (compared by memory: a runtime may pass another view).
    const slab = this.#slabs.findIndex((s) => s?.buffer === buf.buffer);
    this.#targetFilled = true;
    const keep = this.#deliver(buf.subarray(0, n), slab);
    // Pause while one slab is still free: the runtime may ask for its next buffer right away.
    if (keep && this.#spareSlabs() >= 2) return true;
    this.#paused = true;
    return false;
  }

  #resumeIfFree(): void {
    if (!this.#paused || this.#dead || this.#spareSlabs() < 1) return;
    this.#paused = false;
    this.socket.resume();
  }

  /** Bytes the socket read into `slab`. False: the connection failed, stop reading. */
  #deliver(data: Uint8Array, slab: number): boolean {
    const ex = this.#exchange;
    if (ex === undefined || ex.complete) {
      // Bytes nobody asked for (an idle connection, or past a response's end): never reuse it.
      this.destroy();
      return false;
    }
    ex.answered = true;
    try {
      let rest: Uint8Array | undefined = data;
      while (ex.decoder === undefined && rest !== undefined && rest.length > 0) {
        const got = ex.head.push(rest);
        if (got === undefined) return true;
        rest = got.rest;
        // 1xx (100 Continue, 103 Early Hints) precede the final response: skip them.
        if (got.head.status >= 100 && got.head.status < 200) continue;
        this.#respond(ex, got.head);
      }
      if (ex.decoder === undefined || rest === undefined || rest.length === 0) return !this.#dead;
      const after = ex.decoder.push(rest, (chunk) => this.#enqueue(ex, chunk, slab));
      if (after !== undefined) this.#bodyEnd(ex, after.length > 0);
    } catch (err) {
      this.#fail(err);
      return false;
    }
    return !this.#dead;
  }

  #respond(ex: Exchange, head: ResponseHead): void {
    clearTimeout(ex.headTimer);
    const framing = framingOf(ex.method, head);
    if (head.status > 599) throw new Error(`an invalid status ${head.status}`);
    const headers = new Headers();
    for (const [name, value] of head.fields) headers.append(name, value);
    let body: ReadableStream<Uint8Array> | null = null;
    let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
    if (framing.kind !== "none") {
      body = new ReadableStream<Uint8Array>({
        start: (c) => {
          controller = c;
        },
        pull: (controller) => this.#pulled(ex, controller),
        cancel: () => this.#cancelled(ex),
      }, { highWaterMark: QUEUED_CHUNKS });
    }
    const response = new Response(body === null ? null : ownedChunks(body), { status: head.status, statusText: head.statusText, headers });
    if (body !== null) {
      // The download pump copies each chunk before it reads on: it may read the views (ports.ts).
      let taken = false;
      Object.defineProperty(response, BODY_VIEWS, {
        value: (): ReadableStream<Uint8Array> | null => {
          if (taken || response.bodyUsed || response.body?.locked) return null;
          taken = true;
          return body;
        },
      });
    }
    ex.framing = framing;
    ex.decoder = new BodyDecoder(framing);
    ex.controller = controller;
    // A constructed Response has no URL; hubFetch reads it for error messages and relative links.
    Object.defineProperty(response, "url", { value: ex.url.href });
    ex.resolve(response);
    // No body, or an empty one (`Content-Length: 0`): it has ended already, and no body byte
    // will come to say so.
    if (ex.decoder.done) this.#bodyEnd(ex, false);
  }

  #enqueue(ex: Exchange, chunk: Uint8Array, slab: number): void {
    if (ex.finished) return;
    // Counted first: enqueue may call pull synchronously (a waiting reader takes the chunk at once).
    ex.enqueued++;
    ex.waiting = false;
    ex.held.push(slab);
    if (slab >= 0) this.#holds[slab]++;
    ex.controller!.enqueue(chunk);
  }

  /** The reader asked for more: release what it can no longer read, resume, or end the body. */
  #pulled(ex: Exchange, controller: ReadableStreamDefaultController<Uint8Array>): void {
    if (ex.finished) return;
    const queued = QUEUED_CHUNKS - (controller.desiredSize ?? 0);
    const dequeued = ex.enqueued - queued;
    // A pull with an empty queue and nothing dequeued since the last pull: the reader is
    // waiting in read(), so it holds no chunk. Otherwise it may still hold the last one.
    const waiting = queued === 0 && dequeued === ex.dequeuedAtLastPull;
    ex.dequeuedAtLastPull = dequeued;
    ex.waiting = waiting;
    const releasable = waiting ? dequeued : dequeued - 1;
    while (ex.released < releasable) {
      const slab = ex.held.shift()!;
      if (slab >= 0) this.#holds[slab]--;
      ex.released++;
    }
    if (ex.complete && waiting) this.#close(ex);
    else this.#resumeIfFree();
  }

  /** The reader read everything and waits for more: the body ends, and the connection is free. */
  #close(ex: Exchange): void {
    this.#finish(ex);
    ex.controller!.close();
    this.#release(ex);
  }

  #cancelled(ex: Exchange): void {
    if (ex.finished) return;
    // A redirect's body is cancelled unread; when it has arrived whole, the connection is still good.
    for (const slab of ex.held.splice(0)) if (slab >= 0) this.#holds[slab]--;
    ex.released = ex.enqueued;
    this.#finish(ex);
    if (ex.complete) this.#release(ex);
    else this.destroy();
  }

  /** The body's last byte arrived (`extra`: bytes beyond it, which no server should send). */
  #bodyEnd(ex: Exchange, extra: boolean): void {
    if (ex.complete) {
      if (extra) this.destroy();
      return;
    }
    ex.complete = true;
    // Nothing is left for an abort to stop: a body left unread must not keep a listener on a
    // long-lived signal.
    if (ex.onAbort !== undefined) ex.signal?.removeEventListener("abort", ex.onAbort);
    if (extra || !ex.framing!.reusable) {
      // Nothing more will be read from this connection: it must not keep the process alive.
      this.socket.unref();
    }
    if (ex.controller === undefined) {
      this.#finish(ex);
      this.#release(ex);
    } else {
      this.socket.unref();
      // The reader may be waiting already: let it see the end.
      if (ex.waiting) this.#close(ex);
    }
    if (extra) this.destroy();
  }

  #finish(ex: Exchange): void {
    ex.finished = true;
    clearTimeout(ex.headTimer);
    if (ex.onAbort !== undefined) ex.signal?.removeEventListener("abort", ex.onAbort);
  }

  /** After a complete response: park the connection for reuse, or close it. */
  #release(ex: Exchange): void {
    if (this.#exchange !== ex) return;
    this.#exchange = undefined;
    if (this.#dead || !ex.framing!.reusable) {
      this.destroy();
      return;
    }
    this.socket.unref();
    this.#idleTimer = setTimeout(() => this.destroy(), IDLE_MS);
    unrefTimer(this.#idleTimer);
    this.#resumeIfFree();
    this.pool.park(this);
  }

  #fail(err: unknown): void {
    const ex = this.#exchange;
    if (!this.#dead) {
      this.#dead = true;
      clearTimeout(this.#idleTimer);
      this.pool.forget(this);
      if (!this.socket.destroyed) this.socket.destroy();
    }
    if (ex === undefined || ex.finished) return;
    if (ex.decoder !== undefined && !ex.complete && err instanceof ConnectionClosed) {
      // End of input: the end of a close-delimited body, or a cut one.
      try {
        ex.decoder.end();
        this.#bodyEnd(ex, false);
        return;
      } catch (cut) {
        err = cut;
      }
    }
    if (ex.complete && ex.controller !== undefined) return; // the reader still drains what arrived
    this.#finish(ex);
    this.#exchange = undefined;
    const aborted = ex.signal?.aborted === true;
    if (ex.decoder === undefined) {
      // Before the response: what fetch would reject with (a TypeError carrying the cause).
      const failure = aborted ? ex.signal!.reason : new TypeError("fetch failed", { cause: err });
      ex.reject(ex.answered ? failure : new NoResponseError(failure));
    } else if (ex.controller !== undefined) {
      ex.controller.error(new TypeError("terminated", { cause: aborted ? ex.signal!.reason : err }));
    }
  }
}

/**
 * The body everyone but the download pump reads: each chunk copied out of the connection's
 * buffers as it is read, so it stays the reader's however long it is kept (`for await`, `tee`,
 * `pipeTo` reading ahead, the runtimes' own `arrayBuffer()`/`json()`). Nothing is read from the
 * connection until this stream is (high-water mark 0).
 */
function ownedChunks(views: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= views.getReader();
      const { value, done } = await reader.read();
      // Copied in the same turn as the read that returned it: the view is valid until the next.
      if (done) controller.close();
      else controller.enqueue(value.slice());
    },
    cancel(reason) {
      return (reader ?? views.getReader()).cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** A timer that never keeps the process alive on its own. */
function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  (timer as { unref?: () => void }).unref?.();
}
