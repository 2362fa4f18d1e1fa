/**
 * Reading the response headers a download depends on: `Content-Range` (where resumed bytes go),
 * `Content-Encoding` (whether the bytes are the file's own), and HTTP dates (`Retry-After`).
 *
 * @module
 */

/**
 * Parse an HTTP date (IMF-fixdate, RFC 850 or asctime; RFC 9110 §5.6.7) to milliseconds since
 * the epoch. asctime carries no zone and means GMT, which `Date.parse` would read as local time.
 */
export function parseHttpDate(text: string): number | undefined {
  const value = text.trim();
  if (!/^[A-Za-z]{3}/.test(value)) return undefined;
  const zoned = /\b(GMT|UTC)$|[+-]\d{4}$/i.test(value) ? value : `${value} GMT`;
  const ms = Date.parse(zoned);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The content codings of a response other than `identity`, or `undefined` when its bytes are
 * the file's own. We always ask for `Accept-Encoding: identity`; a server that encodes anyway
 * sends bytes whose length and ranges are those of the encoded stream, and `fetch`
 * implementations disagree on decoding them (Node's and Bun's decode gzip, Deno's does not when
 * the request set `Accept-Encoding` itself), so such a body can be neither sized nor resumed
 * the same way everywhere.
 */
export function contentCodings(res: Response): string | undefined {
  const codings = (res.headers.get("content-encoding") ?? "").split(",").map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "identity");
  return codings.length > 0 ? codings.join(", ") : undefined;
}

/** A parsed `Content-Range: bytes START-END/TOTAL`; `total` is `undefined` for `/*`. */
export interface ContentRange {
  /** First byte sent (0-based). */
  readonly start: number;
  /** Last byte sent, inclusive. */
  readonly end: number;
  /** The full length of the representation, `undefined` when the server sent `*`. */
  readonly total: number | undefined;
}

/**
 * Parse a satisfied `Content-Range` (RFC 9110 §14.4): `bytes START-END/TOTAL` or, when the
 * server does not know the length, `bytes START-END/*`. The unit is case-insensitive. The
 * 416 form (a `*` instead of the range) and anything malformed give `null`.
 */
export function parseContentRange(header: string | null): ContentRange | null {
  const m = /^\s*bytes\s+(\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)\s*$/i.exec(header ?? "");
  if (!m) return null;
  const [start, end] = [Number(m[1]), Number(m[2])];
  const total = m[3] === "*" ? undefined : Number(m[3]);
  if (end < start || (total !== undefined && end >= total)) return null;
  return { start, end, total };
}
