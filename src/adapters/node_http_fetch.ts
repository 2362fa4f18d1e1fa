/**
 * A `fetch` for Node built on `node:http`/`node:https`, for the requests hubcache makes without a
 * proxy: GET and HEAD, no request body, redirects never followed (`redirect: "manual"`; hubFetch
 * follows them by hand so a token never reaches another host).
 *
 * Why not Node's own `fetch` (`docs/DESIGN.md §Runtimes`): it parses HTTP in undici's llhttp
 * WebAssembly and copies every body chunk out of the WebAssembly memory; `node:http` parses in
 * C++ and hands out the socket's buffers. Receiving 512 MiB over loopback took 1.2–1.6 s of CPU
 * through `fetch` and 0.8–1.2 s through this, at 88–90 MiB peak RSS instead of 98–125.
 *
 * Anything else (a request body, another method, a proxy) goes to the `fetch` given as fallback.
 *
 * @module
 */

import * as http from "node:http";
import * as https from "node:https";

/** Body chunks queued ahead of the reader before the socket is paused. */
const QUEUED_CHUNKS = 4;

/** `fetch` over `node:http(s)` for GET/HEAD without a body with `redirect: "manual"`, `fallback` for everything else. */
export function nodeHttpFetch(fallback: typeof fetch): typeof fetch {
  return ((input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const method = (init?.method ?? "GET").toUpperCase();
    const url = typeof input === "string" ? new URL(input) : input instanceof URL ? input : undefined;
    if (
      url === undefined || (method !== "GET" && method !== "HEAD") || (init?.body !== undefined && init.body !== null) ||
      init?.redirect !== "manual" || (url.protocol !== "http:" && url.protocol !== "https:")
    ) {
      return fallback(input, init);
    }
    return request(url, method, new Headers(init?.headers), init?.signal ?? undefined);
  }) as typeof fetch;
}

function request(url: URL, method: string, headers: Headers, signal: AbortSignal | undefined): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const outgoing: Record<string, string> = {};
    headers.forEach((value, name) => (outgoing[name] = value));
    const get = url.protocol === "https:" ? https.request : http.request;
    const req = get(url, { method, headers: outgoing });
    const onAbort = (): void => {
      req.destroy(signal!.reason instanceof Error ? signal!.reason : new Error("aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const unlisten = (): void => signal?.removeEventListener("abort", onAbort);
    req.on("error", (err) => {
      unlisten();
      // Before the response: what fetch would reject with (a TypeError carrying the cause).
      reject(signal?.aborted ? signal.reason : new TypeError("fetch failed", { cause: err }));
    });
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      const responseHeaders = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
      const empty = method === "HEAD" || status === 204 || status === 205 || status === 304;
      let body: ReadableStream<Uint8Array> | null = null;
      if (empty) {
        res.resume();
        res.on("end", unlisten);
      } else {
        body = new ReadableStream<Uint8Array>({
          start(controller) {
            let ended = false;
            const fail = (err: unknown): void => {
              if (ended) return;
              ended = true;
              unlisten();
              controller.error(new TypeError("terminated", { cause: err }));
            };
            res.on("data", (chunk: Buffer) => {
              controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
              if ((controller.desiredSize ?? 0) <= 0) res.pause();
            });
            res.on("end", () => {
              if (ended) return;
              ended = true;
              unlisten();
              controller.close();
            });
            // A connection that drops mid-body, or an abort: the reader sees the error.
            res.on("error", fail);
            res.on("close", () => {
              if (!res.complete) fail(new Error("the connection was closed mid-body"));
            });
          },
          pull() {
            res.resume();
          },
          cancel() {
            unlisten();
            res.destroy();
          },
        }, { highWaterMark: QUEUED_CHUNKS });
      }
      const response = new Response(body, { status, statusText: res.statusMessage ?? "", headers: responseHeaders });
      // A constructed Response has no URL; hubFetch reads it for error messages and relative links.
      Object.defineProperty(response, "url", { value: url.href });
      resolve(response);
    });
    req.end();
  });
}
