/**
 * Interoperability with caches the Python huggingface_hub client writes, and with its lock.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { downloadFile } from "../src/core/download.ts";
import { downloadSnapshot } from "../src/core/snapshot.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub, TOKEN, waitFor } from "./_support/hub.ts";
import { fakeCommit, writePythonRepo } from "./_support/python_cache.ts";
import { finished, spawnCli } from "./_support/cli.ts";
import { nodeLocks } from "../src/adapters/node.ts";

const WEIGHTS = bytes(400_000, 301);
const CONFIG = '{"hidden": 8}';

describe("a cache written by the Python client is read by hubcache", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/py").commit({ "config.json": CONFIG, "model.bin": WEIGHTS });
    fx.hub.createRepo("org/pyflat").commit({ "config.json": CONFIG, "model.bin": WEIGHTS });
  });
  after(() => fx.close());

  test("symlinked layout: offline reads resolve through its refs; online downloads reuse its blobs (no GET)", async () => {
    const pyCommit = fakeCommit("python-wrote-this");
    await writePythonRepo(fx.cacheDir, {
      repoType: "model",
      repoId: "org/py",
      revisions: [{ commit: pyCommit, refs: ["main"], files: [{ path: "config.json", content: CONFIG }, { path: "model.bin", content: WEIGHTS, lfs: true }] }],
    });
    const offline = await downloadFile({ ...fx.base, repo: "org/py", path: "model.bin", offline: true });
    assert.equal(offline, join(fx.cacheDir, "models--org--py", "snapshots", pyCommit, "model.bin"));
    fx.hub.clearRequests();
    const online = await downloadFile({ ...fx.base, repo: "org/py", path: "model.bin" });
    assert.deepEqual(fx.hub.requests.map((r) => r.method), ["HEAD"], "the Python client's blob is reused");
    assert.ok(sameBytes(await readBytes(online), WEIGHTS));
  });

  test("no-symlink layout (Windows without developer mode): regular snapshot files are reused", async () => {
    const commit = fx.hub.repo("org/pyflat").fileInfo("config.json").commit;
    await writePythonRepo(fx.cacheDir, {
      repoType: "model",
      repoId: "org/pyflat",
      symlinks: false,
      revisions: [{ commit, refs: ["main"], files: [{ path: "config.json", content: CONFIG }, { path: "model.bin", content: WEIGHTS, lfs: true }] }],
    });
    fx.hub.clearRequests();
    const dir = await downloadSnapshot({ ...fx.base, repo: "org/pyflat" });
    assert.equal(fx.hub.requests.filter((r) => r.method === "GET" && !r.path.startsWith("/api/")).length, 0);
    assert.equal((await fsp.lstat(join(dir, "model.bin"))).isFile(), true);
  });

  test("a Python ≥1.18 temp file <etag>.<uuid>.incomplete is claimed by copy once stale, never while fresh", async () => {
    fx.hub.repo("org/py").commit({ "more.bin": bytes(900_000, 302) });
    const etag = fx.hub.repo("org/py").fileInfo("more.bin").sha256;
    const blobs = join(fx.cacheDir, "models--org--py", "blobs");
    const pyTemp = join(blobs, `${etag}.3f1e2d4c5b6a79881726354453627181.incomplete`);
    await fsp.writeFile(pyTemp, bytes(900_000, 302).subarray(0, 300_000));
    const old = new Date(Date.now() - 3600_000);
    await fsp.utimes(pyTemp, old, old);
    fx.hub.clearRequests();
    const path = await downloadFile({ ...fx.base, repo: "org/py", path: "more.bin", staleAfterMs: 60_000 });
    assert.ok(sameBytes(await readBytes(path), bytes(900_000, 302)));
    assert.equal(fx.hub.requests.find((r) => r.method === "GET")?.range, "bytes=300000-");
    assert.deepEqual((await listDir(blobs)).filter((n) => n.startsWith(etag + ".")), []);
  });
});

const python = spawnSync("python3", ["-c", "import fcntl"]).status === 0;

describe("the Python client's flock on .locks/<repo>/<etag>.lock is honoured where the runtime has flock", { skip: !python && "python3 not available" }, () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
  });
  after(() => fx.close());

  for (const rt of ["node", "bun", "deno"] as const) {
    test(`a ${rt} download waits while a Python process holds the lock, then reuses the blob it wrote`, async () => {
      const repo = `org/pylock-${rt}`;
      const data = bytes(500_000, rt.length);
      fx.hub.createRepo(repo).commit({ "w.bin": data });
      const etag = fx.hub.repo(repo).fileInfo("w.bin").sha256;
      const folder = `models--${repo.replace("/", "--")}`;
      const lock = join(fx.cacheDir, ".locks", folder, `${etag}.lock`);
      const blob = join(fx.cacheDir, folder, "blobs", etag);
      await fsp.mkdir(join(fx.cacheDir, ".locks", folder), { recursive: true });
      await fsp.mkdir(join(fx.cacheDir, folder, "blobs"), { recursive: true });
      const payload = join(fx.cacheDir, "payload.bin");
      await fsp.writeFile(payload, data);
      // What hf_hub_download does under its lock: write the blob (atomically), then release.
      const py = spawn("python3", ["-c", `
import fcntl, os, sys, time, shutil
fd = os.open(${JSON.stringify(lock)}, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(1.5)
shutil.copyfile(${JSON.stringify(payload)}, ${JSON.stringify(blob)} + ".py.tmp")
os.replace(${JSON.stringify(blob)} + ".py.tmp", ${JSON.stringify(blob)})
fcntl.flock(fd, fcntl.LOCK_UN)
`], { stdio: ["ignore", "pipe", "inherit"] });
      let pyOut = "";
      py.stdout!.on("data", (d) => (pyOut += d));
      const pyDone = new Promise((r) => py.on("close", r));
      await waitFor(() => pyOut.includes("locked"), 10_000, "python to take the lock");
      fx.hub.clearRequests();
      const run = await finished(spawnCli(rt, ["download", repo, "w.bin", "--endpoint", fx.hub.endpoint, "--cache-dir", fx.cacheDir, "--token", TOKEN, "--quiet"]));
      await pyDone;
      assert.equal(run.code, 0, run.stderr);
      assert.equal(fx.hub.requests.filter((r) => r.method === "GET").length, 0, "the body must not be downloaded twice");
      assert.ok(sameBytes(await readBytes(run.stdout.trim()), data));
    });
  }

  test("where no OS lock can be had (the FFI package does not load), a download goes on lock-free instead of waiting for Python", async () => {
    const repo = "org/pylock-noffi";
    const data = bytes(300_000, 77);
    fx.hub.createRepo(repo).commit({ "w.bin": data });
    const etag = fx.hub.repo(repo).fileInfo("w.bin").sha256;
    const lockDir = join(fx.cacheDir, ".locks", "models--org--pylock-noffi");
    await fsp.mkdir(lockDir, { recursive: true });
    // Python holds the lock for the whole test: waiting for it would never end.
    const py = spawn("python3", ["-c", `
import fcntl, os, sys
fd = os.open(${JSON.stringify(join(lockDir, `${etag}.lock`))}, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
`], { stdio: ["pipe", "pipe", "inherit"] });
    let pyOut = "";
    py.stdout!.on("data", (d) => (pyOut += d));
    const pyDone = new Promise((r) => py.on("close", r));
    try {
      await waitFor(() => pyOut.includes("locked"), 10_000, "python to take the lock");
      const runtime = { ...fx.runtime, locks: nodeLocks(() => Promise.reject(new Error("Cannot find package 'koffi'")))! };
      const path = await downloadFile({ ...fx.base, runtime, repo, path: "w.bin" });
      assert.ok(sameBytes(await readBytes(path), data));
    } finally {
      py.stdin!.end();
      await pyDone;
    }
  });
});
