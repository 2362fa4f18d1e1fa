/**
 * The Node adapter's `fetch` over `node:http` (`docs/DESIGN.md §Runtimes`): what hubFetch relies on
 * from a `fetch` — status, headers, the URL, bodies that end only when the server finished them,
 * aborts, no redirect followed — and the fallback for everything it does not handle.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { nodeHttpFetch } from "../src/adapters/node_http_fetch.ts";

const BODY = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff);

describe("node:http fetch", () => {
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
  const get = nodeHttpFetch(((input: RequestInfo | URL) => {
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
