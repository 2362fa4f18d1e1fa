import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { downloadFile } from "../src/core/download/download.ts";
import { downloadSnapshot } from "../src/core/download/snapshot.ts";
import { NotEnoughSpaceError } from "../src/core/errors.ts";
import { runCliProcess } from "./_support/cli.ts";
import { bytes, type HubFixture, sameBytes, startHub, TOKEN } from "./_support/hub.ts";
import { currentRuntimeName } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

const run = promisify(execFile);

describe("free space is checked before a download", () => {
  let fx: HubFixture;
  const data = bytes(4096, 21);
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/space").commit({ "w.bin": data, "v.bin": bytes(3000, 22) });
  });
  after(() => fx.close());
  const cdnGets = () => fx.hub.requests.filter((r) => r.cdn && r.method === "GET").length;

  test("too little space: NotEnoughSpace says how much is needed and free; no byte is fetched or written", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    runtime.fs.setFreeSpace(1000);
    fx.hub.clearRequests();
    const err = await downloadFile({ runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/space", path: "w.bin" }).then(() => null, (e) => e);
    assert.ok(err instanceof NotEnoughSpaceError, String(err));
    assert.equal(err.needed, 4096);
    assert.equal(err.available, 1000);
    assert.match(err.message, /^not enough free space for 'w\.bin' of model 'org\/space': it needs 0\.0 MB \(4096 bytes\) more in \/cache, which has 0\.0 MB free/);
    assert.equal(cdnGets(), 0);
    assert.deepEqual(await runtime.fs.readdir("/cache/models--org--space/blobs").catch(() => []), []);
  });

  test("a partial counts: only the rest must fit, and the download resumes it", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    const etag = fx.hub.repo("org/space").fileInfo("w.bin").sha256!;
    await runtime.fs.mkdirp("/cache/models--org--space/blobs");
    await runtime.fs.writeFile(`/cache/models--org--space/blobs/${etag}.partial`, data.slice(0, 3500));
    runtime.fs.setFreeSpace(1000);
    const path = await downloadFile({ runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/space", path: "w.bin" });
    assert.ok(sameBytes(await runtime.fs.readFile(path), data));
  });

  test("a whole repo is checked once, for the sum of its files", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    runtime.fs.setFreeSpace(5000); // each file fits alone, both do not
    fx.hub.clearRequests();
    const err = await downloadSnapshot({ runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/space" }).then(() => null, (e) => e);
    assert.ok(err instanceof NotEnoughSpaceError, String(err));
    assert.equal(err.needed, 7096);
    assert.match(err.message, /for 2 file\(s\) of model 'org\/space'/);
    assert.equal(cdnGets(), 0);
  });
});

describe("on a real small file system (a 1 MiB tmpfs)", () => {
  let fx: HubFixture;
  let dir: string;
  let mounted = false;
  const big = bytes(2_000_000, 23);
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/big").commit({ "big.bin": big });
    dir = await makeTempDir("hubcache-tmpfs-");
    try {
      await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
      mounted = true;
    } catch (e) {
      throw new Error(`cannot mount a 1 MiB tmpfs at ${dir} (needs root and mount(8)): ${(e as Error).message}`);
    }
  });
  after(async () => {
    if (mounted) await run("umount", ["-l", dir]).catch(() => {});
    await removeTempDir(dir);
    await fx.close();
  });

  test("the CLI refuses before fetching; a partial that cannot be completed is listed by cache ls and removed by cache prune", async () => {
    const cache = join(dir, "cache");
    const etag = fx.hub.repo("org/big").fileInfo("big.bin").sha256!;
    const blobs = join(cache, "models--org--big", "blobs");
    await fsp.mkdir(blobs, { recursive: true });
    await fsp.writeFile(join(blobs, `${etag}.partial`), big.slice(0, 600_000));
    fx.hub.clearRequests();
    const r = await runCliProcess(currentRuntimeName(), ["download", "org/big", "big.bin", "--endpoint", fx.hub.endpoint, "--cache-dir", cache, "--token", TOKEN]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^hubcache: NotEnoughSpace: not enough free space for 'big\.bin' of model 'org\/big': it needs 1\.4 MB \(1400000 bytes\) more in .*, which has 0\.\d MB free; free \d\.\d MB or use another --cache-dir \(HF_HUB_CACHE\); the 0\.6 MB already downloaded are kept for resume/);
    assert.equal(fx.hub.requests.filter((q) => q.cdn).length, 0, "bytes were fetched");
    const ls = await runCliProcess(currentRuntimeName(), ["cache", "ls", "--cache-dir", cache]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal(ls.stderr, "");
    assert.match(ls.stdout, /1 temp file\(s\) totalling 600\.0K/);
    assert.match(ls.stdout, /The disk holding the cache has 4\d\d\.\dK free; a download that needs more stops with NotEnoughSpace/);
    const prune = await runCliProcess(currentRuntimeName(), ["cache", "prune", "--older-than", "0s", "-y", "--cache-dir", cache]);
    assert.equal(prune.code, 0, prune.stderr);
    assert.deepEqual(await fsp.readdir(blobs), []);
  });
});
