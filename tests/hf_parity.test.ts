import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { runCli } from "../src/cli/main.ts";
import { parseRepoArgument } from "../src/cli/repo_argument.ts";
import { downloadFile } from "../src/core/download/download.ts";
import { NetworkError } from "../src/core/errors.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { captureCli } from "./_support/capture.ts";
import { bytes, type HubFixture, sameBytes, startHub, TOKEN } from "./_support/hub.ts";
import { pythonClient } from "./_support/python_client.ts";
import { hostShare } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

const py = await pythonClient();

/** Cases divided among the host runtimes npm test runs together (each starts the real `hf`, which is slow). */
function mine<T>(cases: readonly T[]): T[] {
  const share = hostShare();
  return share === undefined ? [...cases] : cases.filter((_, i) => i % share.of === share.index);
}

describe("`download` output is `hf download`'s: --format json|quiet, --dry-run, hf:// and datasets/ ids", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/m").commit({ "config.json": '{"a":1}', "model.bin": bytes(300_000, 3), "sub/x.txt": "x" });
    fx.hub.createRepo("org/d", { type: "dataset" }).commit({ "train.csv": "a,b\n", "data/part-0.csv": "1,2\n" });
  });
  after(() => fx.close());

  // [arguments, what to download first into both caches (a partly cached repo)]
  const cases: [string[], string[]?][] = [
    [["org/m", "config.json", "--format", "json"]],
    [["org/m", "config.json", "model.bin", "--format", "json"]],
    [["org/m", "--format", "json"]],
    [["org/m", "config.json", "--format", "quiet"]],
    [["org/m", "config.json", "sub/x.txt", "--format", "quiet"]],
    [["org/m", "--dry-run", "--format", "json"]],
    [["org/m", "--dry-run", "--format", "json"], ["org/m", "config.json"]],
    [["org/m", "--dry-run", "--format", "quiet"]],
    [["org/m", "model.bin", "--dry-run", "--format", "json"]],
    [["hf://datasets/org/d", "--format", "json"]],
    [["datasets/org/d", "train.csv", "--format", "json"]],
    [["hf://datasets/org/d@main/train.csv", "--format", "quiet"]],
    [["hf://datasets/org/d/data/", "--format", "quiet"]],
  ];
  for (const [args, first] of mine(cases)) {
    test(`hubcache download ${args.join(" ")} prints what hf prints${first ? ` (after ${first.join(" ")})` : ""}`, { skip: py.skip }, async () => {
      if (!py.available) return;
      const ours = await makeTempDir("hubcache-parity-");
      const theirs = await makeTempDir("hubcache-parity-hf-");
      try {
        const env = py.client.env(fx.hub.endpoint, theirs, { HF_TOKEN: TOKEN });
        if (first) {
          assert.equal((await py.client.runHf(["download", ...first], env)).code, 0);
          assert.equal(await runCli(["download", ...first, "--endpoint", fx.hub.endpoint, "--cache-dir", ours, "--token", TOKEN], captureCli(fx.runtime).ctx), 0);
        }
        const hf = await py.client.runHf(["download", ...args], env);
        assert.equal(hf.code, 0, hf.stderr);
        const c = captureCli(fx.runtime);
        assert.equal(await runCli(["download", ...args, "--endpoint", fx.hub.endpoint, "--cache-dir", ours, "--token", TOKEN], c.ctx), 0, c.errText());
        const normalise = (text: string, dir: string) => text.split(dir).join("<CACHE>").trimEnd();
        assert.equal(normalise(c.out.join("\n"), ours), normalise(hf.stdout, theirs));
      } finally {
        await removeTempDir(ours);
        await removeTempDir(theirs);
      }
    });
  }

  test("--dry-run fetches and writes nothing; its human form has hf's summary line", async () => {
    const cache = await makeTempDir("hubcache-dry-");
    try {
      fx.hub.clearRequests();
      const c = captureCli(fx.runtime);
      assert.equal(await runCli(["download", "org/m", "--dry-run", "--endpoint", fx.hub.endpoint, "--cache-dir", cache, "--token", TOKEN], c.ctx), 0, c.errText());
      assert.equal(c.out[0], "[dry-run] Will download 3 files (out of 3) totalling 300.0K.");
      assert.match(c.out[1], /^FILE +SIZE\n-+ -+\nconfig\.json +7\.0\nmodel\.bin +300\.0K\nsub\/x\.txt +1\.0$/);
      assert.ok(fx.hub.requests.every((r) => !r.cdn && r.method !== "GET" || r.path.includes("/api/")), "a file body was fetched");
      const { readdir } = await import("node:fs/promises");
      assert.deepEqual(await readdir(cache), []);
    } finally {
      await removeTempDir(cache);
    }
  });

  test("--max-workers is --concurrency; giving both with different values is a usage error", async () => {
    const cache = await makeTempDir("hubcache-workers-");
    try {
      const c = captureCli(fx.runtime);
      assert.equal(await runCli(["download", "org/m", "--max-workers", "2", "--quiet", "--endpoint", fx.hub.endpoint, "--cache-dir", cache, "--token", TOKEN], c.ctx), 0, c.errText());
      const bad = captureCli(fx.runtime);
      assert.equal(await runCli(["download", "org/m", "--max-workers", "2", "--concurrency", "3", "--endpoint", fx.hub.endpoint, "--cache-dir", cache], bad.ctx), 2);
      assert.match(bad.errText(), /--max-workers 2 and --concurrency 3 disagree/);
      const zero = captureCli(fx.runtime);
      assert.equal(await runCli(["download", "org/m", "--max-workers", "0", "--endpoint", fx.hub.endpoint, "--cache-dir", cache], zero.ctx), 2);
    } finally {
      await removeTempDir(cache);
    }
  });

  test("hf:// with --revision, or a type prefix contradicting --repo-type, is a usage error", async () => {
    for (const args of [["hf://org/m", "--revision", "main"], ["datasets/org/d", "--repo-type", "model"]]) {
      const c = captureCli(fx.runtime);
      assert.equal(await runCli(["download", ...args, "--endpoint", fx.hub.endpoint, "--cache-dir", "/nowhere"], c.ctx), 2, args.join(" "));
    }
  });

  test("repo arguments are read as parse_hf_uri reads them", () => {
    assert.deepEqual(parseRepoArgument("org/m"), { repo: "org/m" });
    assert.deepEqual(parseRepoArgument("datasets/org/d"), { repo: "org/d", repoType: "dataset" });
    assert.deepEqual(parseRepoArgument("spaces/org/app"), { repo: "org/app", repoType: "space" });
    assert.deepEqual(parseRepoArgument("hf://org/m"), { repo: "org/m" });
    assert.deepEqual(parseRepoArgument("hf://datasets/org/d@v1.0/data/train.csv"), { repo: "org/d", repoType: "dataset", revision: "v1.0", path: "data/train.csv" });
    assert.deepEqual(parseRepoArgument("hf://datasets/org/d@refs/pr/3/train.json"), { repo: "org/d", repoType: "dataset", revision: "refs/pr/3", path: "train.json" });
    assert.deepEqual(parseRepoArgument("hf://gpt2@main"), { repo: "gpt2", revision: "main" });
  });
});

describe("HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT", () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  let fx: HubFixture;
  before(async () => {
    // Accepts connections and never answers: a Hub that hangs.
    silent = createServer((s) => void sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    fx = await startHub();
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
    await fx.close();
  });

  test("HF_HUB_ETAG_TIMEOUT: a Hub that never answers the metadata request fails as a network error naming it", async () => {
    const runtime = memoryRuntime({ timers: "real", env: { HF_HUB_ETAG_TIMEOUT: "0.3" } });
    const endpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const err = await downloadFile({ runtime, cacheDir: "/cache", endpoint, repo: "org/x", path: "a.txt", maxAttempts: 2 }).then(() => null, (e) => e);
    assert.ok(err instanceof NetworkError || err?.code === "OfflineCacheMiss", String(err));
    assert.match(String(err.message), /did not answer within 0\.3 s \(HF_HUB_ETAG_TIMEOUT\)/);
  });

  test("HF_HUB_DOWNLOAD_TIMEOUT: a body that stalls longer is given up and resumed", async () => {
    const data = bytes(2_000_000, 11);
    fx.hub.createRepo("org/stall").commit({ "big.bin": data });
    // Far longer than the test may take: only the timeout can end it.
    fx.hub.injectFault({ kind: "stall", afterBytes: 1_000_000, ms: 600_000, match: { path: "big.bin", cdn: true } });
    // Virtual time decides when a connection counts as stalled: 20 s of it pass in steps,
    // far less than the 60 s default, so only the variable can end the stall in time.
    const runtime = memoryRuntime({ timers: "manual", env: { HF_HUB_DOWNLOAD_TIMEOUT: "2" } });
    let settled = false;
    const download = downloadFile({ runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/stall", path: "big.bin" })
      .finally(() => (settled = true));
    for (let step = 0; step < 40 && !settled; step++) {
      await new Promise((r) => setTimeout(r, 50));
      runtime.clock.advance(500);
    }
    assert.ok(settled, "the stalled connection was not given up after 2 s of (virtual) silence");
    const path = await download;
    assert.ok(sameBytes(await runtime.fs.readFile(path), data));
    const gets = fx.hub.requests.filter((r) => r.method === "GET" && r.cdn && r.filePath === "big.bin");
    assert.equal(gets[1]?.range, "bytes=1000000-");
  });
});

