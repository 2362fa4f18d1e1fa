/**
 * Talking to the Hub: requests with redirects handled by hand (so a token never
 * follows a redirect to another host), error mapping from `X-Error-Code`, and
 * retries with backoff that honour `Retry-After`.
 *
 * @module
 */

import {
  AbortedError,
  EntryNotFoundError,
  GatedRepoError,
  HttpError,
  HubcacheError,
  NetworkError,
  RepoNotFoundError,
  RevisionNotFoundError,
  UnsafeResponseError,
} from "../errors.ts";
import type { Platform } from "../ports.ts";
import { isCommitHash, printable } from "../cache/validate.ts";

/** Who we are talking to and on whose behalf. */
export interface HubClient {
  /** Hub base URL without trailing slash. */
  readonly endpoint: string;
  /** Bearer token, sent only to the endpoint's origin. */
  readonly token: string | undefined;
  /** Called with `redirect: "manual"`, so it must not follow redirects itself. */
  readonly fetch: typeof fetch;
  /** For retry backoff: `sleep`, `now` (to read `Retry-After` dates) and jitter. */
  readonly platform: Platform;
  /** Sent on every request, so the Hub can tell clients and runtimes apart. */
  readonly userAgent: string;
  /** The caller's signal, passed to every `fetch` and every backoff sleep. */
  readonly signal: AbortSignal | undefined;
}

/** Statuses worth another attempt. */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const MAX_REDIRECTS = 10;

/**
 * Send one request, following redirects by hand.
 *
 * `followAbsolute: false` stops at a redirect to another origin and returns it (HEAD of an
 * LFS file answers 302 to the CDN: its headers carry the metadata), and at any redirect that
 * carries `X-Linked-Etag`: a mirror storing LFS objects on its own host answers with a
 * relative `Location`, and the metadata is still on that answer, not on the file behind it.
 * Other relative redirects (a renamed repo answers 307) are followed. The `Authorization` header goes only
 * to the endpoint's origin: fetch implementations differ in whether they strip it on a
 * cross-host redirect, so we never let them decide.
 *
 * @example
 * ```ts
 * const res = await hubFetch(client, `${client.endpoint}/gpt2/resolve/main/config.json`, { method: "HEAD" }, { followAbsolute: false });
 * ```
 */
export async function hubFetch(
  client: HubClient,
  url: string,
  init: { method: "GET" | "HEAD" | "POST"; headers?: Record<string, string>; body?: string },
  options: { followAbsolute: boolean },
): Promise<Response> {
  const endpointOrigin = new URL(client.endpoint).origin;
  let current = new URL(url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = {
      "user-agent": client.userAgent,
      "accept-encoding": "identity",
      ...init.headers,
    };
    if (client.token && current.origin === endpointOrigin) headers.authorization = `Bearer ${client.token}`;
    let res: Response;
    try {
      res = await client.fetch(current.href, {
        method: init.method,
        headers,
        body: init.body,
        redirect: "manual",
        signal: client.signal,
      });
    } catch (err) {
      throw toNetworkError(err, client.signal, current.href);
    }
    if (![301, 302, 303, 307, 308].includes(res.status)) return res;
    const location = res.headers.get("location");
    if (!location) return res;
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new UnsafeResponseError(`redirect to an invalid URL: '${printable(location)}'`);
    }
    if (next.protocol !== "https:" && next.protocol !== "http:") {
      throw new UnsafeResponseError(`refusing a redirect to a non-HTTP URL: '${printable(location)}'`);
    }
    // "Relative" by both tests: the text has no scheme or authority, and the URL parser agrees
    // the target is on the same origin (it reads `/\\host` and `/<TAB>/host` as another host).
    const text = location.trim();
    const relative = !/^[a-z][a-z0-9+.-]*:/i.test(text) && !text.startsWith("//") && next.origin === current.origin;
    if (!options.followAbsolute && (!relative || res.headers.has("x-linked-etag"))) return res;
    await res.body?.cancel().catch(() => {});
    current = next;
  }
  throw new UnsafeResponseError(`more than ${MAX_REDIRECTS} redirects from ${url}`);
}

/**
 * Turn a `fetch` rejection into an {@link AbortedError} or {@link NetworkError}. Runtimes
 * reject differently (Node's undici says only "fetch failed" and puts the reason in
 * `cause`), so the message prefers the cause, and an abort is recognised by the signal rather
 * than by the error's class.
 *
 * @example
 * ```ts
 * try { res = await client.fetch(url, init); }
 * catch (err) { throw toNetworkError(err, client.signal, url); }
 * ```
 */
export function toNetworkError(err: unknown, signal: AbortSignal | undefined, url: string): HubcacheError {
  if (err instanceof HubcacheError) return err;
  if (signal?.aborted) return new AbortedError(undefined, { cause: err });
  const detail = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return new NetworkError(`cannot reach ${new URL(url).origin}: ${detail}. Check your connection or use --offline`, {
    cause: err,
  });
}

/** What a request was about, for error messages. */
export interface RequestSubject {
  /** Named in every message, since the URL alone hides which repo a CDN request was for. */
  readonly repoId: string;
  /** `model`, `dataset` or `space`: a wrong type is the usual cause of "not found". */
  readonly repoType: string;
  /** For {@link RevisionNotFoundError} and {@link EntryNotFoundError} messages. */
  readonly revision?: string;
  /** For {@link EntryNotFoundError} messages; absent for repo-level requests. */
  readonly path?: string;
}

/**
 * Map an error response to a typed error using the Hub's `X-Error-Code`.
 *
 * @example
 * ```ts
 * if (!res.ok) throw hubErrorFor(res, { repoId: "gpt2", repoType: "model", path: "x.bin" });
 * ```
 */
export function hubErrorFor(res: Response, subject: RequestSubject): HubcacheError {
  const code = res.headers.get("x-error-code") ?? "";
  const serverMessage = res.headers.get("x-error-message");
  const said = serverMessage ? ` (the Hub said: ${printable(serverMessage)})` : "";
  const repo = `${subject.repoType} '${subject.repoId}'`;
  if (code === "GatedRepo") {
    return new GatedRepoError(`${repo} is gated: accept its conditions on the Hub, then pass a token (--token or HF_TOKEN)${said}`);
  }
  if (code === "RepoNotFound" || (res.status === 401 && code === "")) {
    return new RepoNotFoundError(
      `${repo} was not found: check the id and --repo-type; if it is private, pass a token (--token or HF_TOKEN)${said}`,
    );
  }
  if (code === "RevisionNotFound") {
    return new RevisionNotFoundError(`revision '${subject.revision}' does not exist in ${repo}${said}`);
  }
  if (code === "EntryNotFound") {
    const raw = (res.headers.get("x-repo-commit") ?? "").trim().toLowerCase();
    const commit = isCommitHash(raw) ? raw : undefined;
    return new EntryNotFoundError(
      `'${subject.path}' does not exist in ${repo} at revision '${subject.revision}'${said}`,
      commit,
    );
  }
  return new HttpError(`HTTP ${res.status} from the Hub for ${repo}${said}`, res.status, res.url);
}

/**
 * True for a status worth retrying (429, 5xx, 408): the Hub and its CDN answer these under
 * load or during deploys, and they clear on their own.
 *
 * @example
 * ```ts
 * isRetryableStatus(503); // true
 * isRetryableStatus(404); // false
 * ```
 */
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

/**
 * How long to wait before attempt `attempt` (1-based): exponential from 500 ms, capped at
 * 8 s, with jitter so a crowd of workers does not retry in lock-step; a `Retry-After`
 * header (seconds, or an HTTP date in any of RFC 9110's three formats) wins, capped at 60 s.
 * A date already past (or our clock ahead of the server's) falls back to the backoff rather
 * than retrying at once in a tight loop.
 *
 * @example
 * ```ts
 * await platform.sleep(retryDelayMs(2, res.headers.get("retry-after"), platform), signal);
 * ```
 */
export function retryDelayMs(attempt: number, retryAfter: string | null, platform: Platform): number {
  if (retryAfter) {
    const seconds = Number(retryAfter.trim());
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 60_000);
    const date = parseHttpDate(retryAfter);
    if (date !== undefined && date > platform.now()) return Math.min(date - platform.now(), 60_000);
  }
  const base = Math.min(500 * 2 ** (attempt - 1), 8_000);
  const jitter = parseInt(platform.randomHex(2), 16) / 0xffff;
  return Math.round(base * (0.75 + jitter / 2));
}

/**
 * Parse an HTTP date (IMF-fixdate, RFC 850 or asctime; RFC 9110 §5.6.7) to milliseconds since
 * the epoch. asctime carries no zone and means GMT, which `Date.parse` would read as local time.
 *
 * @example
 * ```ts
 * parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"); // 784111777000
 * parseHttpDate("Sun Nov  6 08:49:37 1994");      // 784111777000
 * ```
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
 *
 * @example
 * ```ts
 * contentCodings(new Response("", { headers: { "content-encoding": "gzip" } })); // "gzip"
 * contentCodings(new Response("", { headers: { "content-encoding": "identity" } })); // undefined
 * ```
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
 *
 * @example
 * ```ts
 * parseContentRange("bytes 100-199/200"); // { start: 100, end: 199, total: 200 }
 * parseContentRange("bytes 0-0/*");       // { start: 0, end: 0, total: undefined }
 * ```
 */
export function parseContentRange(header: string | null): ContentRange | null {
  const m = /^\s*bytes\s+(\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)\s*$/i.exec(header ?? "");
  if (!m) return null;
  const [start, end] = [Number(m[1]), Number(m[2])];
  const total = m[3] === "*" ? undefined : Number(m[3]);
  if (end < start || (total !== undefined && end >= total)) return null;
  return { start, end, total };
}

/**
 * Send a request to the Hub and retry network failures, 5xx and 429 (honouring
 * `Retry-After`) up to `maxAttempts` times. Error statuses that are not worth a retry are
 * mapped to typed errors; the response of a success is returned unread.
 *
 * @example
 * ```ts
 * const res = await requestWithRetries(client, url, { method: "GET" }, { followAbsolute: true }, subject, 5);
 * const info = await res.json();
 * ```
 */
export async function requestWithRetries(
  client: HubClient,
  url: string,
  init: { method: "GET" | "HEAD" | "POST"; headers?: Record<string, string>; body?: string },
  options: { followAbsolute: boolean },
  subject: RequestSubject,
  maxAttempts: number,
): Promise<Response> {
  for (let attempt = 1;; attempt++) {
    let res: Response;
    try {
      res = await hubFetch(client, url, init, options);
    } catch (err) {
      if (err instanceof NetworkError && attempt < maxAttempts) {
        await backOff(client, retryDelayMs(attempt, null, client.platform));
        continue;
      }
      throw err;
    }
    if (isRetryableStatus(res.status) && attempt < maxAttempts) {
      await res.body?.cancel().catch(() => {});
      await backOff(client, retryDelayMs(attempt, res.headers.get("retry-after"), client.platform));
      continue;
    }
    if (res.status >= 400) {
      await res.body?.cancel().catch(() => {});
      throw hubErrorFor(res, subject);
    }
    return res;
  }
}

/**
 * Wait `ms` before another attempt; an abort during the wait is an {@link AbortedError}
 * (the platform's sleep rejects with the signal's raw reason).
 *
 * @example
 * ```ts
 * await backOff(client, retryDelayMs(attempt, res.headers.get("retry-after"), client.platform));
 * ```
 */
export async function backOff(client: Pick<HubClient, "platform" | "signal">, ms: number): Promise<void> {
  try {
    await client.platform.sleep(ms, client.signal);
  } catch (err) {
    throw client.signal?.aborted ? new AbortedError(undefined, { cause: err }) : err;
  }
}

/**
 * Build the `resolve` URL of a file. Each path segment is encoded on its own so `/` stays a
 * separator; the revision is encoded whole, so `refs/pr/1` becomes `refs%2Fpr%2F1`.
 *
 * @example
 * ```ts
 * resolveUrl("https://huggingface.co", "dataset", "org/set", "main", "data/train.csv");
 * // "https://huggingface.co/datasets/org/set/resolve/main/data/train.csv"
 * ```
 */
export function resolveUrl(endpoint: string, repoType: string, repoId: string, revision: string, path: string): string {
  const prefix = repoType === "dataset" ? "datasets/" : repoType === "space" ? "spaces/" : "";
  const encodedPath = path.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/${prefix}${repoId}/resolve/${encodeURIComponent(revision)}/${encodedPath}`;
}

/**
 * Build an `/api/{models|datasets|spaces}/{repo}` URL; `suffix` is appended verbatim.
 *
 * @example
 * ```ts
 * apiUrl("https://huggingface.co", "model", "gpt2", "/revision/main");
 * // "https://huggingface.co/api/models/gpt2/revision/main"
 * ```
 */
export function apiUrl(endpoint: string, repoType: string, repoId: string, suffix: string): string {
  return `${endpoint}/api/${repoType}s/${repoId}${suffix}`;
}
