/**
 * The adapters' `fetch` over raw sockets (`docs/DESIGN.md §Runtimes`): what hubFetch relies on
 * from a `fetch` — status, headers, the URL, bodies that end only when the server finished them,
 * aborts, no redirect followed — and the fallback for everything it does not handle; then the
 * HTTP/1.1 framing against a server that writes exact bytes split at awkward places, and
 * keep-alive (connections counted).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import { socketFetch } from "../src/adapters/socket_fetch.ts";
import { BODY_VIEWS, responseBody } from "../src/core/ports.ts";
import { downloadFile } from "../src/core/download/download.ts";
import { bytes, readBytes, sameBytes, startHub, TOKEN } from "./_support/hub.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { testRuntime } from "./_support/runtime.ts";
import process from "node:process";

const BODY = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff);

describe("socket fetch against node:http", () => {
  let server: http.Server;
  let base = "";
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/file") {
        res.writeHead(200, { "content-length": String(BODY.length), "x-multi": ["a", "b"] });
        res.end(BODY);
      } else if (req.url === "/redirect") {
        res.writeHead(302, { location: "/file" });
        res.end("moved");
      } else if (req.url === "/empty") {
        res.writeHead(204);
        res.end();
      } else if (req.url === "/drop") {
        res.writeHead(200, { "content-length": String(BODY.length) });
        res.write(BODY.subarray(0, 1 << 20), () => res.socket?.destroy());
      } else if (req.url === "/hang") {
        res.writeHead(200, { "content-length": "10" });
        res.write("12345");
      } else if (req.url === "/echo") {
        res.end(JSON.stringify({ method: req.method, auth: req.headers.authorization ?? null }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const fallbackCalls: string[] = [];
  const get = socketFetch(((input: RequestInfo | URL) => {
    fallbackCalls.push(String(input));
    return Promise.resolve(new Response("from the fallback"));
  }) as typeof fetch);

  test("a body arrives whole, with status, headers (repeated ones joined), the URL and the request headers sent", async () => {
    const res = await get(`${base}/file`, { redirect: "manual" });
    assert.equal(res.status, 200);
    assert.equal(res.url, `${base}/file`);
    assert.equal(res.headers.get("x-multi"), "a, b");
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), BODY);
    const echo = await get(`${base}/echo`, { redirect: "manual", headers: { authorization: "Bearer t" } });
    assert.deepEqual(await echo.json(), { method: "GET", auth: "Bearer t" });
  });

  test("a redirect is returned, never followed; HEAD and 204 have no body", async () => {
    const res = await get(`${base}/redirect`, { redirect: "manual" });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("location"), "/file");
    await res.body?.cancel();
    const head = await get(`${base}/file`, { method: "HEAD", redirect: "manual" });
    assert.equal(head.body, null);
    assert.equal(head.headers.get("content-length"), String(BODY.length));
    assert.equal((await get(`${base}/empty`, { redirect: "manual" })).body, null);
  });

  test("a connection closed mid-body fails the read: a cut body never looks complete", async () => {
    const res = await get(`${base}/drop`, { redirect: "manual" });
    const reader = res.body!.getReader();
    let got = 0;
    await assert.rejects(async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        got += value.length;
      }
    }, TypeError);
    assert.ok(got <= 1 << 20, `only what was sent arrived: ${got}`);
  });

  test("an abort fails a pending request and a body being read", async () => {
    const early = new AbortController();
    early.abort(new Error("stop"));
    await assert.rejects(get(`${base}/file`, { redirect: "manual", signal: early.signal }), /stop/);
    const late = new AbortController();
    const res = await get(`${base}/hang`, { redirect: "manual", signal: late.signal });
    const reader = res.body!.getReader();
    assert.equal((await reader.read()).value?.length, 5);
    const pending = reader.read();
    late.abort(new Error("stop"));
    await assert.rejects(pending);
  });

  test("a connection refused rejects like fetch: a TypeError with the cause", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await assert.rejects(get(`http://127.0.0.1:${port}/`, { redirect: "manual" }), (err: unknown) => err instanceof TypeError && err.cause instanceof Error);
  });

  test("what it does not handle goes to the fallback: a request body, another method, redirects followed", async () => {
    fallbackCalls.length = 0;
    for (const init of [{ method: "POST", body: "x", redirect: "manual" }, { method: "PUT", redirect: "manual" }, {}] as RequestInit[]) {
      assert.equal(await (await get(`${base}/echo`, init)).text(), "from the fallback");
    }
    assert.equal(fallbackCalls.length, 3);
  });
});

/** One request as the raw server saw it: which connection, its index on that connection, its head. */
interface RawRequest {
  readonly connection: number;
  readonly index: number;
  readonly head: string;
}

/**
 * A server on `node:net` that answers each request head with what `respond` writes, exactly:
 * no HTTP library between the bytes and the client. Counts connections.
 */
async function rawServer(respond: (socket: net.Socket, request: RawRequest) => void | Promise<void>, host = "127.0.0.1"): Promise<{ base: string; connections: () => number; closed: () => number; close: () => Promise<void> }> {
  let connections = 0;
  let closed = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const connection = connections++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("close", () => {
      closed++;
      sockets.delete(socket);
    });
    socket.on("error", () => {});
    let text = "";
    let index = 0;
    socket.on("data", (data) => {
      text += data.toString("latin1");
      for (let end = text.indexOf("\r\n\r\n"); end >= 0; end = text.indexOf("\r\n\r\n")) {
        const head = text.slice(0, end);
        text = text.slice(end + 4);
        void respond(socket, { connection, index: index++, head });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    base: `http://${host.includes(":") ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    closed: () => closed,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Write `text` in pieces cut before each `|`, pausing between them so they arrive as separate reads. */
async function writeSplit(socket: net.Socket, text: string): Promise<void> {
  const pieces = text.split("|");
  for (let i = 0; i < pieces.length; i++) {
    if (i > 0) await sleep(15);
    if (!socket.destroyed) socket.write(pieces[i], "latin1");
  }
}

/** The body as the download pump reads it: the views of the connection's buffers, each copied before the next read. */
async function readAll(res: Response): Promise<Uint8Array> {
  const reader = responseBody(res)!.getReader();
  const parts: Uint8Array[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(value.slice()); // a chunk is valid until the next read
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

describe("socket fetch: HTTP/1.1 framing and keep-alive against exact bytes", () => {
  const fallback = (() => Promise.reject(new Error("the fallback must not be used"))) as typeof fetch;
  const init: RequestInit = { redirect: "manual" };

  test("a chunked body with extensions and trailers, split inside the status line, a size line and between CR and LF; the connection is reused", async () => {
    const server = await rawServer((socket) =>
      writeSplit(socket, "HTTP/1.|1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5;ext=\"v\"\r\nhello\r|\n1|0\r\n, chunked world!\r\n0\r\nX-Trailer: t\r|\n\r\n")
    );
    const get = socketFetch(fallback);
    try {
      for (let i = 0; i < 2; i++) {
        const res = await get(`${server.base}/c`, init);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("x-a"), "1");
        assert.equal(text(await readAll(res)), "hello, chunked world!");
      }
      assert.equal(server.connections(), 1);
      assert.equal(get.connectionsOpened, 1);
    } finally {
      get.closeIdle();
      await server.close();
    }
  });

  test("an IPv6 literal is connected to without its brackets and named with them in Host", async () => {
    const heads: string[] = [];
    const server = await rawServer((socket, req) => {
      heads.push(req.head);
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6");
    }, "::1");
    const get = socketFetch(fallback);
    try {
      assert.equal(text(await readAll(await get(`${server.base}/six`, init))), "v6");
      assert.ok(heads[0].split("\r\n").includes(`Host: ${new URL(server.base).host}`), heads[0]);
    } finally {
      get.closeIdle();
      await server.close();
    }
  });

  test("103 Early Hints and 100 before the final response are skipped", async () => {
    const server = await rawServer((socket) =>
      writeSplit(socket, "HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r|\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n|ok")
    );
    const get = socketFetch(fallback);
    try {
      const res = await get(`${server.base}/h`, init);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("link"), null);
      assert.equal(text(await readAll(res)), "ok");
    } finally {
      get.closeIdle();
      await server.close();
    }
  });

  test("HEAD with a Content-Length, 204 and 304 have no body and leave the connection reusable", async () => {
    const answers = [
      "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"e\"\r\n\r\n",
      "HTTP/1.1 204 No Content\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n|done",
    ];
    const server = await rawServer((socket, req) => writeSplit(socket, answers[req.index]));
    const get = socketFetch(fallback);
    try {
      const head = await get(`${server.base}/f`, { ...init, method: "HEAD" });
      assert.equal(head.body, null);
      assert.equal(head.headers.get("content-length"), "1000");
      assert.equal((await get(`${server.base}/f`, init)).body, null);
      const notModified = await get(`${server.base}/f`, init);
      assert.equal(notModified.status, 304);
      assert.equal(notModified.body, null);
      assert.equal(text(await readAll(await get(`${server.base}/f`, init))), "done");
      assert.equal(server.connections(), 1);
    } finally {
      get.closeIdle();
      await server.close();
    }
  });

  test("a close-delimited body ends with the connection, which is not reused; Transfer-Encoding wins over Content-Length and the connection is not reused", async () => {
    const server = await rawServer(async (socket, req) => {
      if (req.head.includes("/close")) {
        await writeSplit(socket, "HTTP/1.1 200 OK\r\n\r\nall of it|, until the end");
        socket.end();
      } else {
        await writeSplit(socket, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nchunks\r\n0\r\n\r\n");
      }
    });
    const get = socketFetch(fallback);
    try {
      assert.equal(text(await readAll(await get(`${server.base}/close`, init))), "all of it, until the end");
      assert.equal(text(await readAll(await get(`${server.base}/close`, init))), "all of it, until the end");
      assert.equal(server.connections(), 2);
      assert.equal(text(await readAll(await get(`${server.base}/both`, init))), "chunks");
      assert.equal(text(await readAll(await get(`${server.base}/both`, init))), "chunks");
      assert.equal(server.connections(), 4);
    } finally {
      get.closeIdle();
      await server.close();
    }
  });

  test("fewer bytes than Content-Length, then close: the reader fails with a TypeError", async () => {
    const server = await rawServer(async (socket) => {
      await writeSplit(socket, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n|only some");
      socket.end();
    });
    const get = socketFetch(fallback);
    try {
      const res = await get(`${server.base}/short`, init);
      await assert.rejects(readAll(res), (err: unknown) => err instanceof TypeError && err.message === "terminated");
    } finally {
      await server.close();
    }
  });

  test("a kept-alive connection the server closes unanswered: the request is sent again on a fresh one", async () => {
    // The second request on a connection gets no answer, only the close: the race of a server
    // timing out an idle connection just as the client reuses it.
    const server = await rawServer((socket, req) => {
      if (req.index > 0) socket.destroy();
      else socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    const get = socketFetch(fallback);
    try {
      for (let i = 0; i < 3; i++) assert.equal(text(await readAll(await get(`${server.base}/r`, init))), "ok");
      assert.equal(server.connections(), 3);
    } finally {
      get.closeIdle();
      await server.close();
    }
  });

  test("sequential requests reuse one connection; eight at once open eight", async () => {
    const server = await rawServer((socket) => void socket.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
    const get = socketFetch(fallback);
    try {
      for (let i = 0; i < 20; i++) assert.equal(text(await readAll(await get(`${server.base}/s`, init))), "hello");
      assert.equal(server.connections(), 1);
      const all = await Promise.all(Array.from({ length: 8 }, () => get(`${server.base}/p`, init)));
      // Every response is in hand (none read yet), so none could return its connection.
      assert.equal(server.connections(), 8);
      for (const res of all) assert.equal(text(await readAll(res)), "hello");
      assert.equal(server.connections(), 8);
    } finally {
      get.closeIdle();
      await server.close();
    }
  });

  test("an abort mid-body fails the reader and closes the connection", async () => {
    const server = await rawServer((socket) => void socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome"));
    const get = socketFetch(fallback);
    try {
      const abort = new AbortController();
      const res = await get(`${server.base}/a`, { ...init, signal: abort.signal });
      const reader = res.body!.getReader();
      assert.equal(text((await reader.read()).value!), "some");
      const pending = reader.read();
      abort.abort(new Error("stop"));
      await assert.rejects(pending, TypeError);
      for (let i = 0; i < 200 && server.closed() === 0; i++) await sleep(5);
      assert.equal(server.closed(), 1);
    } finally {
      await server.close();
    }
  });

  test("a malformed status line, an oversized header block or endless 1xx responses fail like fetch", async () => {
    const server = await rawServer((socket, req) => {
      if (req.head.includes("/bad")) socket.write("HTTP/1.1 2OO OK\r\n\r\n");
      else if (req.head.includes("/fold")) socket.write("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n");
      else if (req.head.includes("/hints")) socket.write("HTTP/1.1 103 Early Hints\r\n\r\n".repeat(3000));
      else socket.write(`HTTP/1.1 200 OK\r\n${"X-Big: " + "x".repeat(1000) + "\r\n".repeat(1)}`.repeat(1) + `X-Pad: ${"y".repeat(70 * 1024)}\r\n\r\n`);
    });
    const get = socketFetch(fallback);
    try {
      for (const path of ["/bad", "/fold", "/big", "/hints"]) {
        await assert.rejects(get(`${server.base}${path}`, init), (err: unknown) => err instanceof TypeError && err.message === "fetch failed" && err.cause instanceof Error, path);
      }
    } finally {
      await server.close();
    }
  });

  test("an empty body (Content-Length: 0) ends at once and leaves the connection reusable", async () => {
    const server = await rawServer((socket) => void socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    const get = socketFetch(fallback);
    try {
      for (let i = 0; i < 2; i++) {
        const res = await get(`${server.base}/empty`, init);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const body = await Promise.race([
          res.text(),
          new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error("the empty body never ended")), 3000)),
        ]).finally(() => clearTimeout(timer));
        assert.equal(body, "");
      }
      assert.equal(server.connections(), 1);
    } finally {
      get.closeIdle();
      await server.close();
    }
  });

  test("a transfer coding over chunked, or an empty Content-Length, fails like fetch instead of passing bytes on", async () => {
    const server = await rawServer((socket, req) => {
      socket.end(req.head.startsWith("GET /gzip")
        ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        : "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nabc");
    });
    const get = socketFetch(fallback);
    try {
      for (const path of ["/gzip", "/empty-length"]) {
        await assert.rejects(get(`${server.base}${path}`, init), (err: unknown) => err instanceof TypeError && err.message === "fetch failed", path);
      }
    } finally {
      await server.close();
    }
  });

  test("a server that takes the request and never answers, or never completes the TLS handshake, fails the request in time", async () => {
    const silent = await rawServer(() => {});
    const get = socketFetch(fallback, { headMs: 300, connectMs: 300 });
    try {
      await assert.rejects(get(`${silent.base}/x`, init), (err: unknown) =>
        err instanceof TypeError && err.message === "fetch failed" && /no response within/.test(String((err.cause as Error)?.message)));
      // TCP accepted, no TLS spoken back: the handshake never ends.
      await assert.rejects(get(`${silent.base.replace("http:", "https:")}/x`, init), (err: unknown) =>
        err instanceof TypeError && err.message === "fetch failed" && /no connection within/.test(String((err.cause as Error)?.message)));
    } finally {
      await silent.close();
    }
  });

  test("a body larger than the connection's buffers arrives intact to a slow reader, over keep-alive", async () => {
    const big = new Uint8Array(8 << 20);
    for (let i = 0; i < big.length; i += 4) new DataView(big.buffer).setUint32(i, i * 2654435761);
    const expected = createHash("sha256").update(big).digest("hex");
    const server = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`);
      socket.write(big);
    });
    const get = socketFetch(fallback);
    try {
      for (let round = 0; round < 2; round++) {
        // The views the download pump reads (BODY_VIEWS): the transport's buffers themselves.
        const reader = responseBody(await get(`${server.base}/big`, init))!.getReader();
        const hash = createHash("sha256");
        let reads = 0;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          // A reader slower than the socket, holding each chunk across a macrotask: were its
          // buffer handed back to the socket before the next read(), the bytes would change.
          await sleep(reads++ % 4 === 0 ? 2 : 0);
          hash.update(value);
        }
        assert.equal(hash.digest("hex"), expected);
      }
      // Everyone else reads response.body, whose chunks are their own: kept uncopied by
      // `for await`, collected by the runtime's arrayBuffer(), or piped through another Response.
      const kept: Uint8Array[] = [];
      for await (const chunk of (await get(`${server.base}/big`, init)).body!) kept.push(chunk);
      const hashKept = createHash("sha256");
      for (const chunk of kept) hashKept.update(chunk);
      assert.equal(hashKept.digest("hex"), expected, "chunks kept by a for-await reader were overwritten");
      const whole = new Uint8Array(await (await get(`${server.base}/big`, init)).arrayBuffer());
      assert.equal(createHash("sha256").update(whole).digest("hex"), expected);
      const piped = new Uint8Array(await new Response((await get(`${server.base}/big`, init)).body).arrayBuffer());
      assert.equal(createHash("sha256").update(piped).digest("hex"), expected);
      assert.equal(server.connections(), 1);
    } finally {
      get.closeIdle();
      await server.close();
    }
  });
});

/** Unset the proxy variables (the adapters then use the socket transport); returns what puts them back. */
function withoutProxyVariables(): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const name of ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]) {
    saved[name] = process.env[name];
    delete process.env[name];
  }
  return () => {
    for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
  };
}

describe("the adapters' transport", () => {
  test("without a proxy variable the runtime's adapter sends GET and HEAD over the socket transport", async () => {
    // Every runtime's own fetch asks for gzip and more; the socket transport asks for no coding.
    const heads: string[] = [];
    const server = await rawServer((socket, req) => {
      heads.push(req.head);
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    const restoreProxy = withoutProxyVariables();
    try {
      const res = await testRuntime().fetch(`${server.base}/x`, { redirect: "manual", headers: { authorization: "Bearer t" } });
      assert.equal(await res.text(), "ok");
      assert.equal(heads.length, 1);
      assert.match(heads[0], /^GET \/x HTTP\/1\.1\r\n/);
      assert.match(heads[0], /\r\nauthorization: Bearer t/i);
      assert.match(heads[0], /\r\naccept-encoding: identity(\r\n|$)/i);
    } finally {
      restoreProxy();
      await server.close();
    }
  });

  test("a download reads file bytes through the views (BODY_VIEWS), never through the copying response.body", async () => {
    const fx = await startHub();
    const dir = await makeTempDir("hubcache-views-");
    const restoreProxy = withoutProxyVariables();
    try {
      const data = bytes(3 << 20, 5);
      fx.hub.createRepo("org/views").commit({ "one.bin": data, "big.bin": bytes(9 << 20, 6) }, { lfs: ["one.bin", "big.bin"] });
      const base = testRuntime();
      const bodies: Response[] = [];
      const runtime = { ...base, fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
        const res = await base.fetch(input, init);
        if ((init?.method ?? "GET") === "GET" && (res.status === 200 || res.status === 206) && !String(input).startsWith(fx.hub.endpoint)) bodies.push(res);
        return res;
      }) as typeof fetch };
      const common = { runtime, cacheDir: dir, endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/views" };
      const one = await downloadFile({ ...common, path: "one.bin" });
      assert.ok(sameBytes(await readBytes(one), data));
      await downloadFile({ ...common, path: "big.bin", connections: 4 });
      assert.ok(bodies.length >= 2, `file bodies seen: ${bodies.length}`);
      for (const res of bodies) {
        assert.ok(BODY_VIEWS in res, "the transport offered no views");
        assert.equal(res.bodyUsed, false, "the download read the copying body");
        assert.equal(responseBody(res), res.body, "the views were not taken by the download");
      }
    } finally {
      restoreProxy();
      await removeTempDir(dir);
      await fx.close();
    }
  });
});
