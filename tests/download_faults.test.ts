import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { AbortedError, NetworkError } from "../src/core/errors.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub, TOKEN } from "./_support/hub.ts";

const SIZE = 3_000_000;

describe("network faults: every answer ends in exact bytes or a typed error", () => {
  let fx: HubFixture;
  let n = 0;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/net");
  });
  after(() => fx.close());

  function newFile(size = SIZE): { path: string; data: Uint8Array; etag: string } {
    const path = `file${++n}.bin`;
    const data = bytes(size, 500 + n);
    fx.hub.repo("org/net").commit({ [path]: data });
    fx.hub.clearRequests();
    return { path, data, etag: fx.hub.repo("org/net").fileInfo(path).sha256 };
  }
  const gets = (): string[] => fx.hub.requests.filter((r) => r.method === "GET").map((r) => r.range ?? "full");
  const blobs = (): string => join(fx.cacheDir, "models--org--net", "blobs");

  test("a dropped connection is resumed in-process from the bytes written", async () => {
    const f = newFile();
    fx.hub.injectFault({ kind: "drop", afterBytes: 1_500_000, match: { path: f.path, cdn: true } });
    const path = await downloadFile({ ...fx.base, repo: "org/net", path: f.path });
    assert.ok(sameBytes(await readBytes(path), f.data));
    const g = gets();
    assert.equal(g.length, 2);
    assert.equal(g[0], "full");
    const from = Number(/bytes=(\d+)-/.exec(g[1])![1]);
    assert.ok(from > 0 && from <= 1_500_000, `resumed from ${from}`);
  });

  test("a body shorter than its Content-Length is resumed, never published short", async () => {
    const f = newFile();
    fx.hub.injectFault({ kind: "shortBody", bytes: 1_048_576 + 10, match: { path: f.path, cdn: true } });
    const path = await downloadFile({ ...fx.base, repo: "org/net", path: f.path });
    assert.ok(sameBytes(await readBytes(path), f.data));
    assert.match(gets()[1], /^bytes=\d+-$/);
  });

  test("a stalled connection is abandoned after the idle timeout and resumed", async () => {
    const f = newFile();
    // The stall outlasts the test's own timeout: only giving the connection up can finish it.
    fx.hub.injectFault({ kind: "stall", afterBytes: 1_200_000, ms: 600_000, match: { path: f.path, cdn: true } });
    const path = await downloadFile({ ...fx.base, repo: "org/net", path: f.path, idleTimeoutMs: 300 });
    assert.ok(sameBytes(await readBytes(path), f.data));
    const bodies = fx.hub.requests.filter((r) => r.method === "GET");
    assert.equal(bodies.length, 2);
    assert.equal(bodies[0].bytesSent, 1_200_000, "the stalled response was abandoned where it stalled");
    assert.equal(bodies[1].range, "bytes=1200000-");
  });

  test("the idle timeout runs on the runtime's clock: a simulated clock decides when a stalled connection is given up", async () => {
    const f = newFile();
    // The stall outlasts the test by far in real time; only virtual time can end it early.
    fx.hub.injectFault({ kind: "stall", afterBytes: 1_200_000, ms: 30_000, match: { path: f.path, cdn: true } });
    const rt = memoryRuntime({ timers: "manual" });
    let settled = false;
    const download = downloadFile({ runtime: rt, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/net", path: f.path, idleTimeoutMs: 3_600_000 })
      .finally(() => (settled = true));
    while (!settled) {
      await new Promise((r) => setTimeout(r, 10));
      rt.clock.advance(60_000);
    }
    const path = await download;
    assert.ok(sameBytes(await rt.fs.readFile(path), f.data));
    assert.ok(gets().some((r) => /^bytes=[1-9]\d*-$/.test(r)), `the stalled body was given up and resumed: ${gets().join(", ")}`);
  });

  test("a server that ignores Range (200 to a ranged request) restarts from zero, never appends", async () => {
    const f = newFile();
    await fsp.mkdir(blobs(), { recursive: true });
    await fsp.writeFile(join(blobs(), `${f.etag}.partial`), f.data.subarray(0, 1_000_000));
    fx.hub.injectFault({ kind: "ignoreRange", match: { path: f.path, cdn: true } });
    const path = await downloadFile({ ...fx.base, repo: "org/net", path: f.path });
    assert.ok(sameBytes(await readBytes(path), f.data));
    assert.deepEqual(gets(), ["bytes=1000000-"]);
  });

  test("a 206 with the wrong Content-Range restarts from zero", async () => {
    const f = newFile();
    await fsp.writeFile(join(blobs(), `${f.etag}.partial`), f.data.subarray(0, 1_000_000));
    fx.hub.injectFault({ kind: "wrongContentRange", match: { path: f.path, cdn: true } });
    const path = await downloadFile({ ...fx.base, repo: "org/net", path: f.path });
    assert.ok(sameBytes(await readBytes(path), f.data));
    assert.deepEqual(gets(), ["bytes=1000000-", "full"]);
  });

  test("503 and 429 with Retry-After are retried", async () => {
    const f = newFile(10_000);
    fx.hub.injectFault({ kind: "status", status: 503, retryAfter: 0, match: { path: f.path, method: "HEAD" } });
    fx.hub.injectFault({ kind: "status", status: 429, retryAfter: 1, match: { path: f.path, cdn: true } });
    // Record the waits instead of timing them: the backoff goes through the runtime's sleep.
    const waits: number[] = [];
    const platform = fx.runtime.platform;
    const runtime = {
      ...fx.runtime,
      platform: { ...platform, sleep: (ms: number, signal?: AbortSignal) => (waits.push(ms), platform.sleep(ms, signal)) },
    };
    const path = await downloadFile({ ...fx.base, runtime, repo: "org/net", path: f.path });
    assert.deepEqual(waits, [0, 1_000], "Retry-After: 0 and Retry-After: 1 are honoured as given");
    assert.ok(sameBytes(await readBytes(path), f.data));
    assert.deepEqual(fx.hub.requests.map((r) => `${r.method} ${r.status}`), ["HEAD 503", "HEAD 302", "GET 429", "GET 200"]);
  });

  test("a link that keeps failing ends in NetworkError and the bytes are kept for resume", async () => {
    const f = newFile();
    fx.hub.injectFault({ kind: "drop", afterBytes: 1_100_000, match: { path: f.path, cdn: true } });
    // One attempt only: the drop is final for this run.
    const err = await downloadFile({ ...fx.base, repo: "org/net", path: f.path, maxAttempts: 1 }).catch((e) => e);
    assert.ok(err instanceof NetworkError, String(err));
    const partial = (await fsp.stat(join(blobs(), `${f.etag}.partial`))).size;
    assert.ok(partial >= 1_048_576, `kept ${partial}`);
    fx.hub.clearRequests();
    const path = await downloadFile({ ...fx.base, repo: "org/net", path: f.path });
    assert.ok(sameBytes(await readBytes(path), f.data));
    assert.deepEqual(gets(), [`bytes=${partial}-`]);
  });

  test("a server that answers 500 to every attempt ends in NetworkError after maxAttempts", async () => {
    const f = newFile(10_000);
    fx.hub.injectFault({ kind: "status", status: 500, times: 10, match: { path: f.path, cdn: true } });
    const err = await downloadFile({ ...fx.base, repo: "org/net", path: f.path, maxAttempts: 3 }).catch((e) => e);
    fx.hub.clearFaults();
    assert.ok(err instanceof NetworkError, String(err));
    assert.equal(fx.hub.requests.filter((r) => r.method === "GET").length, 3);
    assert.deepEqual((await listDir(blobs())).filter((x) => x.startsWith(f.etag)), []);
  });

  test("a branch moved between HEAD and GET still yields the bytes of the commit we resolved", async () => {
    const repo = fx.hub.repo("org/net");
    const f = newFile(50_000);
    const first = repo.fileInfo(f.path);
    const next = repo.commit({ [f.path]: bytes(50_000, 999) }, { branch: "side" });
    repo.setBranch("main", first.commit);
    fx.hub.injectFault({ kind: "moveBranch", branch: "main", to: next, match: { path: f.path, method: "GET" } });
    const path = await downloadFile({ ...fx.base, repo: "org/net", path: f.path });
    assert.ok(path.includes(first.commit));
    assert.ok(sameBytes(await readBytes(path), f.data));
  });

  test("an abort stops promptly, releases the partial, and leaves no temp file", async () => {
    const f = newFile(20_000_000);
    fx.hub.throttle(4_000_000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 600);
    const err = await downloadFile({ ...fx.base, repo: "org/net", path: f.path, signal: controller.signal }).catch((e) => e);
    // Read before the throttle is lifted: an abort that did not close the connection would let
    // the rest of the body flow now.
    const sent = fx.hub.requests.filter((r) => r.method === "GET").reduce((n, r) => n + r.bytesSent, 0);
    fx.hub.throttle(null);
    assert.ok(err instanceof AbortedError, String(err));
    assert.ok(sent < f.data.length, `the transfer stopped at the abort (${sent} of ${f.data.length} bytes sent)`);
    const names = (await listDir(blobs())).filter((x) => x.startsWith(f.etag));
    assert.deepEqual(names, [`${f.etag}.partial`]);
  });
});
