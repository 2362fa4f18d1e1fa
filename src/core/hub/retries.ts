/**
 * Retrying what the Hub and its CDN answer under load: network failures, 5xx, 408 and 429,
 * with exponential backoff and jitter, honouring `Retry-After` (`docs/DESIGN.md §Resume`).
 *
 * @module
 */

import { AbortedError, NetworkError } from "../errors.ts";
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, RETRY_AFTER_MAX_MS } from "../defaults.ts";
import type { Platform } from "../ports.ts";
import { type HubClient, hubFetch } from "./client.ts";
import { hubErrorFor, type RequestSubject, tokenSentWith } from "./error_mapping.ts";
import { parseHttpDate } from "./headers.ts";

/** Statuses worth another attempt. */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/**
 * True for a status worth retrying (429, 5xx, 408): the Hub and its CDN answer these under
 * load or during deploys, and they clear on their own.
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
 */
export function retryDelayMs(attempt: number, retryAfter: string | null, platform: Platform): number {
  if (retryAfter) {
    const seconds = Number(retryAfter.trim());
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, RETRY_AFTER_MAX_MS);
    const date = parseHttpDate(retryAfter);
    if (date !== undefined && date > platform.now()) return Math.min(date - platform.now(), RETRY_AFTER_MAX_MS);
  }
  const base = Math.min(BACKOFF_BASE_MS * 2 ** (attempt - 1), BACKOFF_MAX_MS);
  const jitter = parseInt(platform.randomHex(2), 16) / 0xffff;
  return Math.round(base * (0.75 + jitter / 2));
}

/**
 * Send a request to the Hub and retry network failures, 5xx and 429 (honouring
 * `Retry-After`) up to `maxAttempts` times. Error statuses that are not worth a retry are
 * mapped to typed errors; the response of a success is returned unread.
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
      res = await withMetadataTimeout(client, (limited) => hubFetch(limited, url, init, options));
    } catch (err) {
      if (err instanceof NetworkError && attempt < maxAttempts) {
        const ms = retryDelayMs(attempt, null, client.platform);
        announceRetry(client, subject, err.message, ms, attempt, maxAttempts);
        await backOff(client, ms);
        continue;
      }
      throw err;
    }
    if (isRetryableStatus(res.status) && attempt < maxAttempts) {
      await res.body?.cancel().catch(() => {});
      const ms = retryDelayMs(attempt, res.headers.get("retry-after"), client.platform);
      announceRetry(client, subject, `HTTP ${res.status} from ${new URL(url).origin}`, ms, attempt, maxAttempts);
      await backOff(client, ms);
      continue;
    }
    if (res.status >= 400) {
      await res.body?.cancel().catch(() => {});
      throw hubErrorFor(res, subject, tokenSentWith(res, client));
    }
    return res;
  }
}

/**
 * Run one request with `client.metadataTimeoutMs` as a deadline for its answer (the headers;
 * the body of a metadata answer is small): a Hub that accepts the connection and never answers
 * would otherwise hang the download (huggingface_hub's `HF_HUB_ETAG_TIMEOUT`).
 */
async function withMetadataTimeout(client: HubClient, send: (c: HubClient) => Promise<Response>): Promise<Response> {
  const ms = client.metadataTimeoutMs;
  if (ms === undefined) return await send(client);
  const deadline = new AbortController();
  const done = new AbortController();
  const onAbort = (): void => deadline.abort(client.signal?.reason);
  client.signal?.addEventListener("abort", onAbort, { once: true });
  let timedOut = false;
  client.platform.timeout(ms, done.signal).then(() => {
    timedOut = true;
    deadline.abort(new Error("metadata timeout"));
  }, () => {});
  try {
    return await send({ ...client, signal: deadline.signal });
  } catch (err) {
    if (timedOut && !client.signal?.aborted) {
      throw new NetworkError(`the Hub did not answer within ${ms / 1000} s (HF_HUB_ETAG_TIMEOUT)`, { cause: err });
    }
    throw err;
  } finally {
    done.abort();
    client.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Say that attempt `attempt` failed and when the next one starts: an unreachable Hub would
 * otherwise mean seconds of silence before the error (or the cached answer).
 */
export function announceRetry(
  client: Pick<HubClient, "onWarning">,
  subject: Pick<RequestSubject, "path">,
  what: string,
  ms: number,
  attempt: number,
  maxAttempts: number,
): void {
  try {
    client.onWarning?.({
      code: "Retrying",
      path: subject.path ?? "",
      message: `${what}; retrying in ${(ms / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${maxAttempts})`,
    });
  } catch { /* a diagnostics callback must not break a download */ }
}

/**
 * Wait `ms` before another attempt; an abort during the wait is an {@link AbortedError}
 * (the platform's sleep rejects with the signal's raw reason).
 */
export async function backOff(client: Pick<HubClient, "platform" | "signal">, ms: number): Promise<void> {
  try {
    await client.platform.sleep(ms, client.signal);
  } catch (err) {
    throw client.signal?.aborted ? new AbortedError(undefined, { cause: err }) : err;
  }
}
