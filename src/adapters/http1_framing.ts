/**
 * Reading an HTTP/1.1 response off a byte stream (RFC 9112): the head (status line and header
 * fields, bounded), and the body's framing — `Content-Length`, `Transfer-Encoding: chunked`
 * (extensions and trailers skipped) or delimited by the connection's close. Pure: bytes in,
 * views of the same bytes out, so the socket transport (`socket_fetch.ts`) copies nothing.
 *
 * @module
 */

/** The most bytes a response head may take; a longer one fails the request like `fetch` does. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** The most bytes of one chunk-size line or of the trailer section. */
const MAX_LINE_BYTES = 8 * 1024;

/** A response's status line and header fields. */
export interface ResponseHead {
  readonly minorVersion: number;
  readonly status: number;
  readonly statusText: string;
  readonly fields: ReadonlyArray<readonly [string, string]>;
}

/** A malformed response (or one beyond our bounds): the request fails with it as the cause. */
export class FramingError extends Error {
  readonly code = "EHTTPFRAMING";
  constructor(message: string) {
    super(message);
    this.name = "FramingError";
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/;

/** Collects bytes until the empty line ending a response head. */
export class HeadReader {
  #bytes = new Uint8Array(1024);
  #size = 0;
  /** Bytes of the heads read so far: endless 1xx heads must not keep a request waiting forever. */
  #total = 0;

  /** Feed bytes; returns the head and the bytes after it once the head is complete. */
  push(data: Uint8Array): { head: ResponseHead; rest: Uint8Array } | undefined {
    const from = Math.max(0, this.#size - 3);
    const room = Math.min(data.length, MAX_HEAD_BYTES - this.#size);
    if (this.#size + room > this.#bytes.length) {
      const grown = new Uint8Array(Math.min(MAX_HEAD_BYTES, Math.max(this.#bytes.length * 2, this.#size + room)));
      grown.set(this.#bytes.subarray(0, this.#size));
      this.#bytes = grown;
    }
    this.#bytes.set(data.subarray(0, room), this.#size);
    const before = this.#size;
    this.#size += room;
    const b = this.#bytes;
    for (let i = from; i + 3 < this.#size; i++) {
      if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) {
        const head = parseHead(latin1(b.subarray(0, i)));
        const rest = data.subarray(i + 4 - before);
        this.#total += i + 4;
        this.#size = 0;
        if (this.#total > MAX_HEAD_BYTES) throw new FramingError(`the response heads (1xx included) are longer than ${MAX_HEAD_BYTES} bytes`);
        return { head, rest };
      }
    }
    if (this.#size >= MAX_HEAD_BYTES) throw new FramingError(`the response head is longer than ${MAX_HEAD_BYTES} bytes`);
    return undefined;
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

function parseHead(text: string): ResponseHead {
  const lines = text.split("\r\n");
  const status = STATUS_LINE.exec(lines[0]);
  if (!status) throw new FramingError(`a malformed status line: ${JSON.stringify(lines[0].slice(0, 80))}`);
  const fields: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    // Obsolete line folding and names with spaces are rejected, as RFC 9112 §5 allows: they are
    // how response splitting hides a second header block.
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) throw new FramingError(`a malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (/[\0\r\n]/.test(value)) throw new FramingError("a header value with a control character");
    fields.push([line.slice(0, colon), value]);
  }
  return { minorVersion: Number(status[1]), status: Number(status[2]), statusText: status[3] ?? "", fields };
}

/** How a response's body ends; `reusable` tells whether the connection may carry another request afterwards. */
export type Framing =
  | { readonly kind: "none"; readonly reusable: boolean }
  | { readonly kind: "length"; readonly length: number; readonly reusable: boolean }
  | { readonly kind: "chunked"; readonly reusable: boolean }
  | { readonly kind: "close"; readonly reusable: false };

/** The framing of a final (non-1xx) response to `method` (RFC 9112 §6.3). */
export function framingOf(method: string, head: ResponseHead): Framing {
  const values = (name: string): string[] =>
    head.fields.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
  const connection = values("connection").join(",").toLowerCase().split(",").map((t) => t.trim());
  const keepAlive = head.minorVersion === 1 ? !connection.includes("close") : connection.includes("keep-alive") && !connection.includes("close");
  if (method === "HEAD" || head.status === 204 || head.status === 205 || head.status === 304 || head.status < 200) return { kind: "none", reusable: keepAlive };
  const te = values("transfer-encoding");
  if (te.length > 0) {
    const codings = te.join(",").toLowerCase().split(",").map((t) => t.trim()).filter((t) => t !== "");
    // Both Transfer-Encoding and Content-Length: the first wins and the connection is not
    // reused, since an intermediary may have read the message the other way (RFC 9112 §6.3).
    const reusable = keepAlive && values("content-length").length === 0;
    // Only plain `chunked`: a transfer coding on top of it (gzip, chunked) would hand the
    // caller encoded bytes as if they were the content, and no coding was asked for.
    if (codings.length === 1 && codings[0] === "chunked") return { kind: "chunked", reusable };
    throw new FramingError(`a Transfer-Encoding this client does not decode: ${JSON.stringify(codings.join(", "))}`);
  }
  const lengthFields = values("content-length");
  if (lengthFields.length > 0) {
    const lengths = lengthFields.join(",").split(",").map((v) => v.trim());
    if (!lengths.every((v) => /^\d{1,15}$/.test(v) && v === lengths[0])) throw new FramingError(`an invalid Content-Length: ${JSON.stringify(lengths.join(", "))}`);
    return { kind: "length", length: Number(lengths[0]), reusable: keepAlive };
  }
  return { kind: "close", reusable: false };
}

const enum Chunked { Size, Data, DataEnd, Trailer }

/**
 * Cuts a response body out of the bytes that follow its head: `push` hands each run of body
 * bytes to `emit` as a view of the input and returns what follows the body once it is complete.
 */
export class BodyDecoder {
  #remaining: number;
  #state = Chunked.Size;
  #line = "";
  #trailerBytes = 0;
  #done: boolean;
  readonly #framing: Framing;

  constructor(framing: Framing) {
    this.#framing = framing;
    this.#remaining = framing.kind === "length" ? framing.length : 0;
    this.#done = framing.kind === "none" || (framing.kind === "length" && framing.length === 0);
  }

  /** Whether the whole body has been seen. */
  get done(): boolean {
    return this.#done;
  }

  /** Feed bytes: body bytes go to `emit`; returns the bytes after the body once it ended, else undefined. */
  push(data: Uint8Array, emit: (chunk: Uint8Array) => void): Uint8Array | undefined {
    if (this.#done) return data;
    switch (this.#framing.kind) {
      case "close":
        if (data.length > 0) emit(data);
        return undefined;
      case "length": {
        const n = Math.min(this.#remaining, data.length);
        if (n > 0) emit(data.subarray(0, n));
        this.#remaining -= n;
        if (this.#remaining > 0) return undefined;
        this.#done = true;
        return data.subarray(n);
      }
      case "chunked":
        return this.#chunked(data, emit);
      default:
        return data;
    }
  }

  /** The connection ended (EOF): fine for a close-delimited body, else the body was cut short. */
  end(): void {
    if (this.#done) return;
    if (this.#framing.kind === "close") {
      this.#done = true;
      return;
    }
    throw new FramingError("the connection was closed before the end of the body");
  }

  #chunked(data: Uint8Array, emit: (chunk: Uint8Array) => void): Uint8Array | undefined {
    let i = 0;
    while (i < data.length) {
      if (this.#state === Chunked.Data) {
        const n = Math.min(this.#remaining, data.length - i);
        emit(data.subarray(i, i + n));
        i += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = Chunked.DataEnd;
        continue;
      }
      // A line: a chunk size (with extensions), the CRLF after a chunk's data, or a trailer field.
      const lf = data.indexOf(10, i);
      const end = lf === -1 ? data.length : lf;
      this.#line += latin1(data.subarray(i, end));
      if (this.#line.length > MAX_LINE_BYTES) throw new FramingError("a chunk-size line or trailer longer than 8 KiB");
      i = end;
      if (lf === -1) break;
      i += 1;
      const line = this.#line.endsWith("\r") ? this.#line.slice(0, -1) : this.#line;
      this.#line = "";
      if (this.#state === Chunked.Size) {
        const size = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/.exec(line);
        if (!size) throw new FramingError(`a malformed chunk size: ${JSON.stringify(line.slice(0, 40))}`);
        this.#remaining = parseInt(size[1], 16);
        this.#state = this.#remaining === 0 ? Chunked.Trailer : Chunked.Data;
      } else if (this.#state === Chunked.DataEnd) {
        if (line !== "") throw new FramingError("chunk data longer than its size");
        this.#state = Chunked.Size;
      } else if (line === "") {
        this.#done = true;
        return data.subarray(i);
      } else if ((this.#trailerBytes += line.length) > MAX_HEAD_BYTES) {
        throw new FramingError(`a trailer section longer than ${MAX_HEAD_BYTES} bytes`);
      }
    }
    return undefined;
  }
}
