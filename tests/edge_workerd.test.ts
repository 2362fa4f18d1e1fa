/**
 * The README's edge example in a real edge runtime: Cloudflare's `workerd` (from npm, driven by
 * `miniflare`), not our memory adapter under Node. The Worker's source is taken verbatim from
 * README.md and bundled by esbuild with `hubcache/*` resolved through package.json `exports` (the
 * built `dist/`, as a user's bundler would), then downloads from the Hub emulator on loopback.
 *
 * workerd forbids compiling WebAssembly at run time, so these tests are where the portable
 * hasher's pure-JS fallback runs for real (hash-wasm failed here on the first download).
 * If workerd cannot start, every test fails with miniflare's reason; nothing is skipped.
 *
 * @module
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as esbuild from "esbuild";
import type { Miniflare } from "miniflare";
import { HubEmulator } from "../src/testing/mod.ts";
import { repoRoot } from "./_support/cli.ts";
import { bytes, sameBytes, TOKEN, waitFor } from "./_support/hub.ts";

const ROOT = repoRoot();
/** A date this workerd supports; pinned so the Workers behaviour under test does not drift. */
const COMPATIBILITY_DATE = "2026-04-01";

/** The body of the first ```ts block in README.md whose first line starts with `firstLine`. */
function readmeBlock(firstLine: string): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  for (const m of readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    if (m[1].startsWith(firstLine)) return m[1];
  }
  throw new Error(`README.md has no \`\`\`ts block starting with '${firstLine}'`);
}

/** Bundle a Worker as a user would: esbuild, `hubcache/*` through our package.json `exports`. */
async function bundleWorker(source: string): Promise<string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { exports: Record<string, { default: string }> };
  const alias: Record<string, string> = {};
  for (const [sub, target] of Object.entries(pkg.exports)) {
    const file = join(ROOT, target.default);
    if (!existsSync(file)) throw new Error(`${target.default} is missing: run \`npm run build\` first`);
    alias[sub === "." ? "hubcache" : `hubcache/${sub.slice(2)}`] = file;
  }
  const result = await esbuild.build({
    stdin: { contents: source, loader: "ts", resolveDir: ROOT, sourcefile: "worker.ts" },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"], // what wrangler asks of packages
    external: ["node:*"], // provided by workerd under nodejs_compat
    alias,
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

/** Start workerd on `script`; rejects with miniflare's reason if it cannot. */
async function startWorker(script: string, hub: HubEmulator, compatibilityFlags: string[] = []): Promise<Miniflare> {
  let mf: Miniflare | undefined;
  try {
    // Imported here so that a missing or broken workerd binary fails each test with its reason.
    const { Miniflare } = await import("miniflare");
    mf = new Miniflare({
      modules: true,
      script,
      compatibilityDate: COMPATIBILITY_DATE,
      compatibilityFlags,
      bindings: { HF_ENDPOINT: hub.endpoint, HF_TOKEN: TOKEN },
    });
    await mf.ready;
    return mf;
  } catch (error) {
    await mf?.dispose().catch(() => {});
    const why = String((error as Error)?.message ?? error).trim().replace(/\s+/g, " ");
    throw new Error(`workerd could not start through miniflare: ${why}`, { cause: error });
  }
}

/** Ask the Worker for one file; the status and the body's bytes. */
async function ask(mf: Miniflare, repo: string, path: string): Promise<{ status: number; body: Uint8Array }> {
  const res = await mf.dispatchFetch(`http://worker.test/?${new URLSearchParams({ repo, path })}`);
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe("the README's edge Worker in workerd (miniflare)", () => {
  const REPO = "org/edge";
  const LFS_SIZE = 8 << 20;
  const files = {
    "model.bin": bytes(LFS_SIZE, 81), // LFS: sha256, through the CDN redirect
    "config.json": bytes(300_000, 82), // regular: git blob sha1, served by the Hub itself
    "corrupt.bin": bytes(2_000_000, 83),
    "resume.bin": bytes(6_000_000, 84),
  };
  let hub: HubEmulator;
  let mf: Miniflare | undefined;

  before(async () => {
    hub = await HubEmulator.start({ lfsThreshold: 1 << 20 });
    // Private, so the Worker's token is needed at the Hub and must not reach the CDN host.
    hub.createRepo(REPO, { private: true }).commit(files);
    mf = await startWorker(await bundleWorker(readmeBlock("// worker.ts")), hub);
  });
  after(async () => {
    await mf?.dispose();
    await hub?.close();
  });

  test("an LFS file comes through the CDN redirect, verified, without the token reaching the CDN", async () => {
    const res = await ask(mf!, REPO, "model.bin");
    assert.equal(res.status, 200, text(res.body.subarray(0, 300)));
    assert.ok(sameBytes(res.body, files["model.bin"]), "the served bytes are the file's");
    const cdn = hub.requests.filter((r) => r.cdn && r.filePath === "model.bin");
    assert.equal(cdn.length, 1, "one download from the CDN host");
    assert.equal(cdn[0].bytesSent, LFS_SIZE);
    assert.ok(cdn.every((r) => !r.authorization), "no Authorization header on the other host");

    const again = await ask(mf!, REPO, "model.bin");
    assert.ok(sameBytes(again.body, files["model.bin"]));
    assert.equal(hub.requests.filter((r) => r.cdn && r.filePath === "model.bin").length, 1, "the second request is served from the isolate's cache");
  });

  test("a regular file (git blob sha1) is downloaded from the Hub and verified", async () => {
    const res = await ask(mf!, REPO, "config.json");
    assert.equal(res.status, 200, text(res.body.subarray(0, 300)));
    assert.ok(sameBytes(res.body, files["config.json"]));
    const gets = hub.requests.filter((r) => r.method === "GET" && r.filePath === "config.json");
    assert.ok(gets.length >= 1 && gets.every((r) => !r.cdn), "served by the Hub, not the CDN");
  });

  test("bytes corrupted on every attempt fail with IntegrityError and nothing is cached", async () => {
    hub.injectFault({ kind: "corrupt", offset: 1_000_000, times: 10, match: { path: "corrupt.bin" } });
    const res = await ask(mf!, REPO, "corrupt.bin");
    hub.clearFaults();
    assert.equal(res.status, 502);
    assert.match(text(res.body), /^IntegrityError: /);
    // Had a corrupted blob been published, this would serve it without asking the CDN again.
    const cdnBefore = hub.requests.filter((r) => r.cdn && r.filePath === "corrupt.bin").length;
    const clean = await ask(mf!, REPO, "corrupt.bin");
    assert.equal(clean.status, 200, text(clean.body.subarray(0, 300)));
    assert.ok(sameBytes(clean.body, files["corrupt.bin"]));
    assert.equal(hub.requests.filter((r) => r.cdn && r.filePath === "corrupt.bin").length, cdnBefore + 1);
  });

  test("a download that gave up is resumed by the next request: the kept prefix is re-hashed, only the rest is fetched", async () => {
    // The first download stalls after `cut` bytes, then its connection drops. While it stalls, every
    // later attempt is made to answer 503 with Retry-After: 0, so the Worker runs out of attempts at
    // once and keeps its bytes as a partial for the next request.
    const cut = 2_500_000;
    const match = { path: "resume.bin", cdn: true };
    hub.injectFault({ kind: "stall", afterBytes: cut, ms: 1500, match });
    hub.injectFault({ kind: "drop", afterBytes: cut, match });
    const stalling = () => hub.requests.some((r) => r.cdn && r.filePath === "resume.bin" && r.bytesSent >= cut);
    const [failed] = await Promise.all([
      ask(mf!, REPO, "resume.bin"),
      waitFor(stalling, 20_000, "the first download to stall at the cut").then(() => {
        hub.injectFault({ kind: "status", status: 503, retryAfter: 0, times: 20, match });
      }),
    ]);
    hub.clearFaults();
    assert.equal(failed.status, 502);
    assert.match(text(failed.body), /^NetworkError: /);

    const before = hub.requests.length;
    const res = await ask(mf!, REPO, "resume.bin");
    assert.equal(res.status, 200, text(res.body.subarray(0, 300)));
    assert.ok(sameBytes(res.body, files["resume.bin"]), "prefix from the first request + rest from the second, verified");
    const gets = hub.requests.slice(before).filter((r) => r.cdn && r.method === "GET");
    assert.equal(gets.length, 1);
    const from = Number(/^bytes=(\d+)-$/.exec(gets[0].range ?? "")?.[1]);
    assert.ok(from > 0 && from <= cut, `resumed from byte ${from} (range '${gets[0].range}')`);
    assert.equal(gets[0].status, 206);
    assert.equal(gets[0].bytesSent, files["resume.bin"].length - from);
  });
});

describe("the README's nodejs_compat variant in workerd (node:crypto hashers)", () => {
  let hub: HubEmulator;
  let mf: Miniflare | undefined;
  const data = bytes(3_000_000, 85);

  before(async () => {
    hub = await HubEmulator.start();
    hub.createRepo("org/compat").commit({ "model.bin": data, "config.json": '{"a":1}' });
    const worker = readmeBlock("// worker.ts");
    const variant = readmeBlock('import { nodeHashers } from "hubcache/adapters/node";');
    const runtimeLine = /^const runtime = memoryRuntime\(.*\);$/m;
    assert.match(worker, runtimeLine, "the README Worker creates its runtime in one line");
    assert.match(variant, runtimeLine, "the README variant creates its runtime in one line");
    // The variant's imports the Worker lacks go on top; its runtime line replaces the Worker's.
    const imports = variant.split("\n").filter((line) => line.startsWith("import ") && !worker.includes(line));
    const source = [...imports, worker.replace(runtimeLine, runtimeLine.exec(variant)![0])].join("\n");
    mf = await startWorker(await bundleWorker(source), hub, ["nodejs_compat"]);
  });
  after(async () => {
    await mf?.dispose();
    await hub?.close();
  });

  test("downloads and verifies an LFS file and a regular file", async () => {
    const lfs = await ask(mf!, "org/compat", "model.bin");
    assert.equal(lfs.status, 200, text(lfs.body.subarray(0, 300)));
    assert.ok(sameBytes(lfs.body, data));
    const regular = await ask(mf!, "org/compat", "config.json");
    assert.equal(regular.status, 200, text(regular.body));
    assert.equal(text(regular.body), '{"a":1}');
  });
});
