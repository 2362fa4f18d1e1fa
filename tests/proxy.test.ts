import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { RUNTIMES, runCliProcess } from "./_support/cli.ts";
import { bytes, type HubFixture, sameBytes, startHub, TOKEN } from "./_support/hub.ts";
import { hostShare } from "./_support/runtime.ts";
import { Tinyproxy } from "./_support/tinyproxy.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

/** The CLI runtimes this host tests: all of them alone, its share when npm test runs the three. */
function cliRuntimes(): typeof RUNTIMES {
  const share = hostShare();
  return share === undefined ? RUNTIMES : RUNTIMES.filter((_, i) => i % share.of === share.index);
}

/** Every spelling of the proxy variables, cleared, so only what a test sets applies. */
const NO_PROXY_ENV = { HTTP_PROXY: "", HTTPS_PROXY: "", NO_PROXY: "", http_proxy: "", https_proxy: "", no_proxy: "" };

describe("HTTP_PROXY / NO_PROXY through a real proxy (tinyproxy), on every runtime, Hub and CDN alike", () => {
  let fx: HubFixture;
  let proxy: Tinyproxy;
  const model = bytes(300_000, 9);
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/proxied", { private: true }).commit({ "config.json": '{"p":1}', "model.bin": model });
    proxy = await Tinyproxy.start();
  });
  after(async () => {
    await proxy?.close();
    await fx?.close();
  });

  const hubHost = (): string => new URL(fx.hub.endpoint).host;
  const cdnHost = (): string => new URL(fx.hub.cdnOrigin).host;

  test("without a proxy variable nothing goes through the proxy (the control)", async () => {
    const cache = await makeTempDir("hubcache-proxy-");
    try {
      const seen = (await proxy.requestedHosts()).length;
      const r = await runCliProcess(RUNTIMES[0], ["download", "org/proxied", "model.bin", "--endpoint", fx.hub.endpoint, "--cache-dir", cache, "--token", TOKEN, "--quiet"], NO_PROXY_ENV);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((await proxy.requestedHosts()).slice(seen), []);
    } finally {
      await removeTempDir(cache);
    }
  });

  for (const runtime of cliRuntimes()) {
    for (const variable of ["HTTP_PROXY", "http_proxy"] as const) {
      test(`${runtime}, ${variable}: every request goes through the proxy; the token never reaches the CDN host`, async () => {
        const cache = await makeTempDir("hubcache-proxy-");
        try {
          const seen = (await proxy.requestedHosts()).length;
          fx.hub.clearRequests();
          const r = await runCliProcess(runtime, ["download", "org/proxied", "config.json", "model.bin", "--endpoint", fx.hub.endpoint, "--cache-dir", cache, "--token", TOKEN, "--quiet"], { ...NO_PROXY_ENV, [variable]: proxy.url });
          assert.equal(r.code, 0, r.stderr);
          const [, model_] = r.stdout.trim().split("\n");
          assert.ok(sameBytes(new Uint8Array(await fsp.readFile(model_)), model));
          const viaProxy = (await proxy.requestedHosts()).slice(seen);
          // Plain proxying names each request; a CONNECT tunnel (undici's way) carries several.
          assert.ok(viaProxy.includes(hubHost()), `the Hub was not reached through the proxy: ${viaProxy.join(", ")}`);
          assert.ok(viaProxy.includes(cdnHost()), `the CDN was not reached through the proxy: ${viaProxy.join(", ")}`);
          assert.ok(viaProxy.length <= fx.hub.requests.length);
          const cdn = fx.hub.requests.filter((q) => q.cdn);
          assert.ok(cdn.length >= 1 && cdn.every((q) => !q.authorization), "the token reached the CDN host");
        } finally {
          await removeTempDir(cache);
        }
      });
    }

    test(`${runtime}, NO_PROXY=localhost: the CDN host is reached directly, the Hub through the proxy`, async () => {
      const cache = await makeTempDir("hubcache-proxy-");
      try {
        const seen = (await proxy.requestedHosts()).length;
        fx.hub.clearRequests();
        const r = await runCliProcess(runtime, ["download", "org/proxied", "model.bin", "--endpoint", fx.hub.endpoint, "--cache-dir", cache, "--token", TOKEN, "--quiet"], { ...NO_PROXY_ENV, HTTP_PROXY: proxy.url, NO_PROXY: "localhost" });
        assert.equal(r.code, 0, r.stderr);
        const viaProxy = (await proxy.requestedHosts()).slice(seen);
        assert.ok(viaProxy.includes(hubHost()), `nothing went through the proxy: ${viaProxy.join(", ")}`);
        assert.ok(!viaProxy.includes(cdnHost()), "NO_PROXY=localhost was not honoured");
        assert.ok(fx.hub.requests.some((q) => q.cdn), "the CDN was not asked at all");
      } finally {
        await removeTempDir(cache);
      }
    });
  }
});
