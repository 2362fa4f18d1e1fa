/**
 * HTTP as real servers, mirrors and proxies speak it, not as our emulator happens to by
 * default: relative redirects, no Content-Length, encodings we did not ask for, header case,
 * Retry-After dates, the other Content-Range forms, relative pagination links.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { downloadSnapshot } from "../src/core/download/snapshot.ts";
import { UnsafeResponseError } from "../src/core/errors.ts";
import { parseHttpDate } from "../src/core/hub/headers.ts";
import type { Runtime } from "../src/core/ports.ts";
import type { HubEmulatorOptions } from "../src/testing/mod.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub } from "./_support/hub.ts";

const LFS = 2_000_000;
const TEXT = "a regular file, served by the Hub itself\n".repeat(100);

/** An emulator with the given behaviour and a repo holding one LFS and one regular file. */
async function hubWith(options: HubEmulatorOptions): Promise<HubFixture> {
  const fx = await startHub(options);
  fx.hub.createRepo("org/h").commit({ "w.bin": bytes(LFS, 41), "t.txt": TEXT }, { regular: ["t.txt"] });
  return fx;
}

const blobs = (fx: HubFixture): string => join(fx.cacheDir, "models--org--h", "blobs");
const cdnGets = (fx: HubFixture) => fx.hub.requests.filter((r) => r.method === "GET" && r.filePath === "w.bin" && r.path.startsWith("/lfs/"));

async function downloadBoth(fx: HubFixture, extra: Record<string, unknown> = {}): Promise<void> {
  const w = await downloadFile({ ...fx.base, repo: "org/h", path: "w.bin", ...extra });
  assert.ok(sameBytes(await readBytes(w), bytes(LFS, 41)));
  const t = await downloadFile({ ...fx.base, repo: "org/h", path: "t.txt", ...extra });
  assert.equal(await fsp.readFile(t, "utf8"), TEXT);
}

/** The runtime under test, with backoff sleeps recorded and cut to nothing (no test waits for real). */
function recordingSleeps(runtime: Runtime): { runtime: Runtime; slept: number[] } {
  const slept: number[] = [];
  const platform = { ...runtime.platform, sleep: (ms: number, signal?: AbortSignal) => (slept.push(ms), runtime.platform.sleep(0, signal)) };
  return { runtime: { ...runtime, platform }, slept };
}

describe("redirects with a relative Location", () => {
  test("a mirror answering the LFS HEAD with a relative 302: metadata from the 302, bytes from its own host", async () => {
    const fx = await hubWith({ quirks: { relativeLfsRedirect: true } });
    try {
      await downloadBoth(fx);
      const heads = fx.hub.requests.filter((r) => r.method === "HEAD");
      assert.deepEqual(heads.map((r) => r.status), [302, 200], "the HEAD stops at the 302 that carries X-Linked-Etag");
      assert.equal(cdnGets(fx).length, 1);
      assert.equal(cdnGets(fx)[0].cdn, false, "served by the Hub host");
    } finally {
      await fx.close();
    }
  });

  test("a CDN GET answered by a relative redirect is followed, without the token", async () => {
    const fx = await hubWith({});
    try {
      fx.hub.injectFault({ kind: "redirect", status: 302, match: { cdn: true, method: "GET" } });
      fx.hub.injectFault({ kind: "redirect", status: 307, match: { cdn: true, method: "GET" } });
      await downloadBoth(fx);
      const gets = cdnGets(fx);
      assert.deepEqual(gets.map((r) => r.status), [302, 307, 200]);
      assert.match(gets[2].url, /[?&]hop=2(&|$)/);
      assert.ok(gets.every((r) => !r.authorization), "the token never reaches the CDN host");
    } finally {
      await fx.close();
    }
  });
});

describe("Content-Length absent", () => {
  test("chunked bodies, and a HEAD without Content-Length: the size comes from a request for the first byte", async () => {
    const fx = await hubWith({ quirks: { noContentLength: true } });
    try {
      fx.hub.injectFault({ kind: "drop", afterBytes: 700_000, match: { path: "w.bin", cdn: true } });
      await downloadBoth(fx);
      const probes = fx.hub.requests.filter((r) => r.filePath === "t.txt" && r.range === "bytes=0-0");
      assert.equal(probes.length, 1, "one probe for the regular file, whose HEAD has no size");
      assert.equal(probes[0].status, 206);
      assert.equal(fx.hub.requests.filter((r) => r.filePath === "w.bin" && r.range === "bytes=0-0").length, 0, "X-Linked-Size is enough");
      assert.match(cdnGets(fx)[1].range ?? "", /^bytes=\d+-$/, "a chunked body that dropped is resumed too");
    } finally {
      await fx.close();
    }
  });

  test("a server that gives no size anywhere (no length on HEAD, Range ignored, chunked) is refused clearly", async () => {
    const fx = await hubWith({ quirks: { noContentLength: true } });
    try {
      fx.hub.injectFault({ kind: "ignoreRange", match: { path: "t.txt" } });
      const err = await downloadFile({ ...fx.base, repo: "org/h", path: "t.txt" }).catch((e) => e);
      assert.ok(err instanceof UnsafeResponseError, String(err));
      assert.match(err.message, /does not say how large 't\.txt' is/);
      assert.deepEqual(await listDir(blobs(fx)), []);
    } finally {
      await fx.close();
    }
  });
});

describe("an LFS redirect without X-Linked-Size", () => {
  test("the size comes from the CDN, never from the 302's own Content-Length", async () => {
    const fx = await hubWith({ quirks: { noLinkedSize: true } });
    try {
      await downloadBoth(fx);
      const head = fx.hub.requests.find((r) => r.method === "HEAD" && r.filePath === "w.bin")!;
      assert.equal(head.status, 302);
      assert.deepEqual(cdnGets(fx).map((r) => `${r.range ?? "full"} ${r.status}`), ["bytes=0-0 206", "full 200"]);
    } finally {
      await fx.close();
    }
  });
});

describe("Content-Encoding on a response we asked identity for", () => {
  test("is refused with UnsafeResponse naming the encoding, on every runtime alike; nothing is cached", async () => {
    const fx = await hubWith({ quirks: { forceGzip: true } });
    try {
      for (const path of ["w.bin", "t.txt"]) {
        const err = await downloadFile({ ...fx.base, repo: "org/h", path }).catch((e) => e);
        assert.ok(err instanceof UnsafeResponseError, `${path}: ${err}`);
        assert.match(err.message, /Content-Encoding '?gzip/, path);
      }
      assert.deepEqual((await listDir(blobs(fx))).filter((n) => !n.endsWith(".partial")), []);
    } finally {
      await fx.close();
    }
  });
});

describe("header names in any case", () => {
  for (const headerCase of ["lower", "upper"] as const) {
    test(`${headerCase}-case header names: metadata, redirects, ranges and resume all work`, async () => {
      const fx = await hubWith({ quirks: { headerCase } });
      try {
        fx.hub.injectFault({ kind: "drop", afterBytes: 900_000, match: { path: "w.bin", cdn: true } });
        await downloadBoth(fx);
        assert.deepEqual(cdnGets(fx).map((r) => r.status), [200, 206]);
      } finally {
        await fx.close();
      }
    });
  }
});

describe("Retry-After as an HTTP date", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await hubWith({});
  });
  after(() => fx.close());

  test("on HEAD, the API and the CDN GET, the wait is the time until that date", async () => {
    const { runtime, slept } = recordingSleeps(fx.runtime);
    const inThree = (): string => new Date(Date.now() + 3_000).toUTCString();
    fx.hub.injectFault({ kind: "status", status: 503, retryAfter: inThree(), match: { method: "HEAD", path: "w.bin" } });
    fx.hub.injectFault({ kind: "status", status: 429, retryAfter: inThree(), match: { cdn: true, method: "GET" } });
    fx.hub.injectFault({ kind: "status", status: 503, retryAfter: inThree(), match: { cdn: false, method: "GET", path: undefined, repo: "org/h" } });
    // One file at a time: two files of a snapshot writing CACHEDIR.TAG at once can meet the
    // scratch-folder race (fs/scratch.ts), whose 10 ms retry pause would be recorded here too.
    await downloadSnapshot({ ...fx.base, runtime, repo: "org/h", revision: "main", lock: "none", concurrency: 1 });
    await downloadFile({ ...fx.base, runtime, repo: "org/h", path: "w.bin", forceDownload: true, lock: "none" });
    assert.equal(fx.hub.pendingFaults, 0, "every fault was met");
    // An HTTP date has whole seconds: three seconds ahead is a wait of two to three seconds.
    assert.equal(slept.length, 3, `slept ${slept.join(", ")}`);
    for (const ms of slept) assert.ok(ms > 1_500 && ms <= 3_100, `slept ${ms} ms for a date 3 s ahead`);
  });

  test("RFC 9110's three date formats are read, all as GMT (asctime names no zone)", async () => {
    for (const text of ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"]) {
      assert.equal(parseHttpDate(text), Date.UTC(1994, 10, 6, 8, 49, 37), text);
    }
    assert.equal(parseHttpDate("120"), undefined);
    const { runtime, slept } = recordingSleeps(fx.runtime);
    const soon = new Date(Date.now() + 3_000);
    const asctime = soon.toUTCString().replace(/^(\w{3}), (\d{2}) (\w{3}) (\d{4}) (\S+) GMT$/, (_, d, day, mon, y, t) => `${d} ${mon} ${String(Number(day)).padStart(2)} ${t} ${y}`);
    fx.hub.injectFault({ kind: "status", status: 503, retryAfter: asctime, match: { cdn: true, method: "GET" } });
    await downloadFile({ ...fx.base, runtime, repo: "org/h", path: "w.bin", forceDownload: true, lock: "none" });
    assert.equal(slept.length, 1, asctime);
    assert.ok(slept[0] > 1_500 && slept[0] <= 3_100, `slept ${slept[0]} ms for ${asctime}`);
  });

  test("a date already past falls back to the backoff instead of retrying in a tight loop", async () => {
    const { runtime, slept } = recordingSleeps(fx.runtime);
    fx.hub.injectFault({ kind: "status", status: 503, times: 2, retryAfter: new Date(Date.now() - 60_000).toUTCString(), match: { method: "HEAD" } });
    await downloadFile({ ...fx.base, runtime, repo: "org/h", path: "t.txt", forceDownload: true, lock: "none" });
    assert.equal(slept.length, 2);
    assert.ok(slept[0] >= 375 && slept[1] >= 750, `backoff ${slept.join(", ")} ms`);
  });
});

describe("206 Content-Range forms", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await hubWith({});
  });
  after(() => fx.close());

  async function partialOf(n: number): Promise<void> {
    const etag = fx.hub.repo("org/h").fileInfo("w.bin").sha256;
    await fsp.rm(blobs(fx), { recursive: true, force: true });
    await fsp.mkdir(blobs(fx), { recursive: true });
    await fsp.writeFile(join(blobs(fx), `${etag}.partial`), bytes(LFS, 41).subarray(0, n));
    fx.hub.clearRequests();
  }

  test("bytes START-END/* (total unknown) continues the partial", async () => {
    await partialOf(800_000);
    fx.hub.injectFault({ kind: "wrongContentRange", form: "unknownTotal", match: { cdn: true } });
    await downloadBoth(fx, { forceDownload: true });
    assert.deepEqual(cdnGets(fx).map((r) => `${r.range} ${r.status} ${r.bytesSent}`), [`bytes=800000- 206 ${LFS - 800_000}`]);
  });

  test("bytes */TOTAL on a 206 is not a range: restart from zero, never append", async () => {
    await partialOf(800_000);
    fx.hub.injectFault({ kind: "wrongContentRange", form: "unsatisfied", match: { cdn: true } });
    await downloadBoth(fx, { forceDownload: true });
    assert.deepEqual(cdnGets(fx).map((r) => `${r.range ?? "full"} ${r.status}`), ["bytes=800000- 206", "full 200"]);
  });
});

describe("pagination with a relative Link", () => {
  test("a relative next-page reference is resolved against the page, not the endpoint", async () => {
    const fx = await startHub({ pageSize: 2, quirks: { relativeLinks: true } });
    try {
      const files: Record<string, string> = {};
      for (let i = 0; i < 5; i++) files[`f${i}.txt`] = `file ${i}`;
      fx.hub.createRepo("org/pages").commit(files);
      const dir = await downloadSnapshot({ ...fx.base, repo: "org/pages" });
      assert.deepEqual((await listDir(dir)).filter((n) => n.startsWith("f")), Object.keys(files));
      assert.equal(fx.hub.requests.filter((r) => r.path.includes("/tree/")).length, 3);
    } finally {
      await fx.close();
    }
  });
});
