/**
 * Talking to the Hub: requests with redirects handled by hand (so a token never
 * follows a redirect to another host), error mapping from `X-Error-Code`, and
 * retries with backoff that honour `Retry-After`.
 *
 * @module
 */

import { AbortedError, HubcacheError, NetworkError, UnsafeResponseError } from "../errors.ts";
import { MAX_REDIRECTS } from "../defaults.ts";
import type { DownloadWarning } from "../options.ts";
import type { Platform } from "../ports.ts";
import { printable } from "../cache/validate.ts";

/** Who we are talking to and on whose behalf. */
export interface HubClient {
  /** Hub base URL without trailing slash. */
  readonly endpoint: string;
  /** Bearer token, sent only to the endpoint's origin. */
  readonly token: string | undefined;
  /** Where the token came from (`--token`, `HF_TOKEN`, the token file …), for error messages. */
  readonly tokenSource?: string | undefined;
  /** Called with `redirect: "manual"`, so it must not follow redirects itself. */
  readonly fetch: typeof fetch;
  /** For retry backoff: `sleep`, `now` (to read `Retry-After` dates) and jitter. */
  readonly platform: Platform;
  /** Sent on every request, so the Hub can tell clients and runtimes apart. */
  readonly userAgent: string;
  /** The caller's signal, passed to every `fetch` and every backoff sleep. */
  readonly signal: AbortSignal | undefined;
  /** A metadata request without an answer for this long fails as a {@link NetworkError} (retried). */
  readonly metadataTimeoutMs?: number | undefined;
  /** Told before each retry, so a person is not left waiting in silence (the CLI prints it). */
  readonly onWarning?: ((warning: DownloadWarning) => void) | undefined;
}

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
 */
export function toNetworkError(err: unknown, signal: AbortSignal | undefined, url: string): HubcacheError {
  if (err instanceof HubcacheError) return err;
  if (signal?.aborted) return new AbortedError(undefined, { cause: err });
  const detail = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return new NetworkError(`cannot reach ${new URL(url).origin}: ${detail}. Check your connection or use --offline`, {
    cause: err,
  });
}
