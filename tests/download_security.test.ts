import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { InvalidInputError, UnsafeResponseError } from "../src/core/errors.ts";
import { bytes, type HubFixture, listDir, startHub, TOKEN } from "./_support/hub.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { testRuntime } from "./_support/runtime.ts";

describe("hostile input from the user is refused before anything is written", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/ok").commit({ "a.txt": "a" });
  });
  after(() => fx.close());

  const badRepos = ["../etc", "org/../x", "a/b/c", "org--x/y", "/abs", "org/name.git", "", "org/na\u0000me", "org\\x"];
  for (const repo of badRepos) {
    test(`repo id ${JSON.stringify(repo)} is rejected`, async () => {
      await assert.rejects(downloadFile({ ...fx.base, repo, path: "a.txt" }), InvalidInputError);
    });
  }
  const badPaths = ["../../outside", "/etc/passwd", "a/../../b", "a\\b", "C:/x", "a//b", "./a", "a/\u0000", ""];
  for (const path of badPaths) {
    test(`file path ${JSON.stringify(path)} is rejected`, async () => {
      await assert.rejects(downloadFile({ ...fx.base, repo: "org/ok", path }), InvalidInputError);
    });
  }
  const badRevisions = ["../../x", "/main", "a/../b", "ma\nin", "a\\b"];
  for (const revision of badRevisions) {
    test(`revision ${JSON.stringify(revision)} is rejected`, async () => {
      await assert.rejects(downloadFile({ ...fx.base, repo: "org/ok", path: "a.txt", revision }), InvalidInputError);
    });
  }
  test("nothing was written for any rejected input", async () => {
    assert.deepEqual(await listDir(fx.cacheDir), []);
  });
});

/** A tiny hostile Hub: answers every HEAD with the headers the test chooses. */
async function hostileHub(headersFor: (url: string) => { status: number; headers: Record<string, string>; body?: string }): Promise<{ url: string; close(): Promise<void>; seen: Array<{ url: string; auth: boolean }> }> {
  const seen: Array<{ url: string; auth: boolean }> = [];
  const server: Server = createServer((req, res) => {
    seen.push({ url: req.url ?? "", auth: req.headers.authorization !== undefined });
    const answer = headersFor(req.url ?? "");
    res.writeHead(answer.status, answer.headers);
    res.end(req.method === "HEAD" ? undefined : answer.body ?? "");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections?.();
      server.close(() => r());
    }),
  };
}

describe("hostile answers from the server are refused", () => {
  let cacheDir: string;
  before(async () => {
    cacheDir = await makeTempDir("hubcache-hostile-");
  });
  after(() => removeTempDir(cacheDir));
  const C = "c".repeat(40);
  const E = "e".repeat(64);

  const cases: Array<[string, Record<string, string>]> = [
    ["an etag with path characters", { "x-repo-commit": C, etag: '"../../../../etc/passwd"', "content-length": "1" }],
    ["an etag that is not hex", { "x-repo-commit": C, etag: '"zzzz"', "content-length": "1" }],
    ["a commit that is not 40 hex", { "x-repo-commit": "../../x", etag: `"${"a".repeat(40)}"`, "content-length": "1" }],
    ["a negative size", { "x-repo-commit": C, etag: `"${"a".repeat(40)}"`, "x-linked-size": "-5", "content-length": "1" }],
    ["a size beyond 2^53", { "x-repo-commit": C, etag: `"${"a".repeat(40)}"`, "x-linked-size": "99999999999999999", "content-length": "1" }],
    ["a missing commit header", { etag: `"${"a".repeat(40)}"`, "content-length": "1" }],
  ];
  for (const [name, headers] of cases) {
    test(`${name} → UnsafeResponseError, nothing written`, async () => {
      const hub = await hostileHub(() => ({ status: 200, headers }));
      try {
        const err = await downloadFile({ runtime: testRuntime(), cacheDir, endpoint: hub.url, repo: "org/x", path: "f.bin", maxAttempts: 1 })
          .catch((e) => e);
        assert.ok(err instanceof UnsafeResponseError, String(err));
        assert.deepEqual((await listDir(cacheDir)).filter((n) => n.startsWith("models--")), []);
      } finally {
        await hub.close();
      }
    });
  }

  test("a redirect to a non-HTTP URL (file://) is refused", async () => {
    const hub = await hostileHub(() => ({
      status: 302,
      headers: { location: "file:///etc/passwd", "x-repo-commit": C, "x-linked-etag": `"${E}"`, "x-linked-size": "10" },
    }));
    try {
      const err = await downloadFile({ runtime: testRuntime(), cacheDir, endpoint: hub.url, repo: "org/x", path: "f.bin", maxAttempts: 1 })
        .catch((e) => e);
      assert.ok(err instanceof UnsafeResponseError, String(err));
    } finally {
      await hub.close();
    }
  });
});

describe("tokens never reach another host", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/tok", { private: true }).commit({ "big.bin": bytes(200_000, 61), "small.txt": "s" });
  });
  after(() => fx.close());

  test("the token goes to the Hub for HEAD and resolve, never to the CDN the LFS file redirects to", async () => {
    await downloadFile({ ...fx.base, repo: "org/tok", path: "big.bin" });
    await downloadFile({ ...fx.base, repo: "org/tok", path: "small.txt" });
    const cdn = fx.hub.requests.filter((r) => r.cdn);
    const hubSide = fx.hub.requests.filter((r) => !r.cdn);
    assert.ok(cdn.length >= 1);
    assert.ok(cdn.every((r) => !r.authorization), "a token reached the CDN");
    assert.ok(hubSide.every((r) => r.authorization));
    assert.equal(fx.base.token, TOKEN);
  });

  test("a token is not sent to a cross-host redirect target even during resume", async () => {
    const etag = fx.hub.repo("org/tok").fileInfo("big.bin").sha256;
    const blob = join(fx.cacheDir, "models--org--tok", "blobs", etag);
    const data = await fsp.readFile(blob);
    await fsp.rm(join(fx.cacheDir, "models--org--tok"), { recursive: true });
    await fsp.mkdir(join(fx.cacheDir, "models--org--tok", "blobs"), { recursive: true });
    await fsp.writeFile(join(fx.cacheDir, "models--org--tok", "blobs", `${etag}.partial`), data.subarray(0, 1000));
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, repo: "org/tok", path: "big.bin" });
    const cdn = fx.hub.requests.filter((r) => r.cdn);
    assert.equal(cdn[0].range, "bytes=1000-");
    assert.ok(cdn.every((r) => !r.authorization));
  });
});
