import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { downloadFile } from "../src/core/download/download.ts";
import { downloadSnapshot } from "../src/core/download/snapshot.ts";
import { NotEnoughSpaceError, SnapshotIncompleteError } from "../src/core/errors.ts";
import type { Runtime } from "../src/core/ports.ts";
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

describe("free space is checked before a local-dir download too", () => {
  let fx: HubFixture;
  const data = bytes(4096, 24);
  const base = (runtime: ReturnType<typeof memoryRuntime>) => ({ runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/lspace" });
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/lspace").commit({ "w.bin": data, "v.bin": bytes(3000, 25) });
  });
  after(() => fx.close());
  const cdnGets = () => fx.hub.requests.filter((r) => r.cdn && r.method === "GET").length;

  test("too little space in the local dir: NotEnoughSpace names it; no byte is fetched, no file placed", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    runtime.fs.setFreeSpace(1000);
    fx.hub.clearRequests();
    const err = await downloadFile({ ...base(runtime), path: "w.bin", localDir: "/local" }).then(() => null, (e) => e);
    assert.ok(err instanceof NotEnoughSpaceError, String(err));
    assert.equal(err.needed, 4096);
    assert.match(err.message, /it needs 0\.0 MB \(4096 bytes\) more in \/local, which has 0\.0 MB free; free 0\.0 MB or use another --local-dir$/);
    assert.equal(cdnGets(), 0);
    assert.equal(await runtime.fs.lstat("/local/w.bin").then(() => true, () => false), false);
  });

  test("a local partial counts: only the rest must fit, and the download resumes it", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    const etag = fx.hub.repo("org/lspace").fileInfo("w.bin").sha256!;
    await runtime.fs.mkdirp("/local/.cache/huggingface/download");
    await runtime.fs.writeFile(`/local/.cache/huggingface/download/${etag}.partial`, data.slice(0, 3500));
    runtime.fs.setFreeSpace(1000);
    const path = await downloadFile({ ...base(runtime), path: "w.bin", localDir: "/local" });
    assert.ok(sameBytes(await runtime.fs.readFile(path), data));
  });

  test("a whole repo into a local dir is checked once for the sum of the files not already up to date", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    runtime.fs.setFreeSpace(5000); // each file fits alone, both do not
    fx.hub.clearRequests();
    const err = await downloadSnapshot({ ...base(runtime), localDir: "/local" }).then(() => null, (e) => e);
    assert.ok(err instanceof NotEnoughSpaceError, String(err));
    assert.equal(err.needed, 7096);
    assert.equal(cdnGets(), 0);
    runtime.fs.setFreeSpace(Number.POSITIVE_INFINITY);
    await downloadFile({ ...base(runtime), path: "w.bin", localDir: "/local" });
    runtime.fs.setFreeSpace(5000);
    assert.equal(await downloadSnapshot({ ...base(runtime), localDir: "/local" }), "/local", "w.bin is in place: only v.bin's 3000 bytes are needed");
  });

  test("placing cache content by copy needs the space (a hard link does not); so does a copy for --reuse-local-dir", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    await downloadFile({ ...base(runtime), path: "w.bin" });
    runtime.fs.setFreeSpace(1000);
    fx.hub.clearRequests();
    const err = await downloadFile({ ...base(runtime), path: "w.bin", localDir: "/local" }).then(() => null, (e) => e);
    assert.ok(err instanceof NotEnoughSpaceError, String(err));
    const linked = await downloadFile({ ...base(runtime), path: "w.bin", localDir: "/local", hardLinks: true });
    assert.ok(sameBytes(await runtime.fs.readFile(linked), data));
    const reuse = await downloadFile({ ...base(runtime), cacheDir: "/cache2", path: "w.bin", reuseLocalDirs: ["/local"] }).then(() => null, (e) => e);
    assert.ok(reuse instanceof NotEnoughSpaceError, String(reuse));
    assert.equal(cdnGets(), 0);
  });
});

describe("a whole repo's up-front check leaves out what can be placed without a download", () => {
  let fx: HubFixture;
  const files = { "w.bin": bytes(4096, 26), "v.bin": bytes(3000, 27) };
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/placeable").commit(files);
  });
  after(() => fx.close());
  const cdnGets = () => fx.hub.requests.filter((r) => r.cdn && r.method === "GET").length;
  const base = (runtime: Runtime) => ({ runtime, endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/placeable" });

  /** A memory runtime whose `clone` claims a reflink (the space it takes is what is being decided). */
  function withClone(runtime: ReturnType<typeof memoryRuntime>): Runtime {
    const fs = new Proxy(runtime.fs, {
      get(target, key) {
        if (key === "clone") return (from: string, to: string) => target.copyExclusive(from, to);
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    return { ...runtime, fs };
  }

  test("cache content into a local dir by hard link: not refused on a nearly full disk, nothing fetched", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    await downloadSnapshot({ ...base(runtime), cacheDir: "/cache" });
    runtime.fs.setFreeSpace(1000);
    fx.hub.clearRequests();
    assert.equal(await downloadSnapshot({ ...base(runtime), cacheDir: "/cache", localDir: "/local", hardLinks: true }), "/local");
    assert.equal(cdnGets(), 0);
  });

  test("a reused local dir into an empty cache: not refused where its files are reflinked; refused where they must be copied", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    await downloadSnapshot({ ...base(runtime), cacheDir: "/other", localDir: "/local" });
    runtime.fs.setFreeSpace(1000);
    fx.hub.clearRequests();
    const copied = await downloadSnapshot({ ...base(runtime), cacheDir: "/cache", reuseLocalDirs: ["/local"] }).then(() => null, (e) => e);
    // Each file's copy is refused before it starts (the up-front check left them out).
    assert.ok(copied instanceof SnapshotIncompleteError && /w\.bin: not enough free space/.test(copied.message), String(copied));
    assert.equal(cdnGets(), 0);
    const snap = await downloadSnapshot({ ...base(withClone(runtime)), cacheDir: "/cache", reuseLocalDirs: ["/local"] });
    assert.ok(sameBytes(await runtime.fs.readFile(`${snap}/w.bin`), files["w.bin"]));
    assert.equal(cdnGets(), 0);
  });

  test("a reused local file that fails verification is fetched only after its own space check", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    await downloadSnapshot({ ...base(runtime), cacheDir: "/other", localDir: "/local" });
    // Damaged in place with its mtime restored (cp -p, rsync -t, bit rot): the record still
    // looks current, so the up-front check leaves it out, and the hash of the placed copy fails.
    const before = await runtime.fs.stat("/local/w.bin");
    const damaged = await runtime.fs.readFile("/local/w.bin");
    damaged[0] ^= 0xff;
    await runtime.fs.writeFile("/local/w.bin", damaged);
    await runtime.fs.utimes("/local/w.bin", before.mtimeMs, before.mtimeMs);
    runtime.fs.setFreeSpace(1000);
    fx.hub.clearRequests();
    const err = await downloadSnapshot({ ...base(withClone(runtime)), cacheDir: "/cache", reuseLocalDirs: ["/local"] }).then(() => null, (e) => e);
    assert.ok(err instanceof SnapshotIncompleteError && /w\.bin: not enough free space/.test(err.message), String(err));
    assert.equal(cdnGets(), 0, "nothing fetched onto a disk without room for it");
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

  test("the CLI refuses a --local-dir download that cannot fit before fetching", async () => {
    const local = join(dir, "local");
    fx.hub.clearRequests();
    const r = await runCliProcess(currentRuntimeName(), ["download", "org/big", "big.bin", "--endpoint", fx.hub.endpoint, "--cache-dir", join(dir, "cache"), "--token", TOKEN, "--local-dir", local]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^hubcache: NotEnoughSpace: not enough free space for 'big\.bin' of model 'org\/big': it needs 2\.0 MB \(2000000 bytes\) more in .*\/local, which has \d\.\d MB free; free \d\.\d MB or use another --local-dir\n$/);
    assert.equal(fx.hub.requests.filter((q) => q.cdn).length, 0, "bytes were fetched");
    assert.equal(await fsp.lstat(join(local, "big.bin")).then(() => true, () => false), false);
  });
});
