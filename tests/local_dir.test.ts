/**
 * `--local-dir` / `localDir`: files at `DIR/<path>` with the Python client's bookkeeping, every
 * hubcache invariant kept there (docs/DESIGN.md §Local directories).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import process from "node:process";
import { tempBlobName } from "../src/core/cache/layout.ts";
import { MemoryFileSystem, memoryRuntime } from "../src/adapters/memory/mod.ts";
import { scratchName } from "../src/core/fs/scratch.ts";
import { downloadFile } from "../src/core/download/download.ts";
import { downloadSnapshot } from "../src/core/download/snapshot.ts";
import { CacheError, InvalidInputError } from "../src/core/errors.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub, TOKEN } from "./_support/hub.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { finished, RUNTIMES, runCliProcess, spawnCli } from "./_support/cli.ts";
import { pythonClient } from "./_support/python_client.ts";
import { currentRuntimeName, roundsOnThisHost } from "./_support/runtime.ts";

const WEIGHTS = bytes(1_200_000, 901);
const CONFIG = '{"layers": 2}';

function gets(fx: HubFixture, path?: string): number {
  return fx.hub.requests.filter((r) => r.method === "GET" && !r.path.startsWith("/api/") && (path === undefined || r.filePath === path)).length;
}

function metadataPath(dir: string, path: string): string {
  return join(dir, ".cache", "huggingface", "download", `${path}.metadata`);
}

async function readMetadata(dir: string, path: string): Promise<string[]> {
  return (await fsp.readFile(metadataPath(dir, path), "utf8")).split("\n");
}

/** Every file under `dir/.cache/huggingface/download` that is a temp file or partial. */
async function leftovers(dir: string): Promise<string[]> {
  const root = join(dir, ".cache", "huggingface", "download");
  const found: string[] = [];
  for (const entry of await fsp.readdir(root, { recursive: true }).catch(() => [] as string[])) {
    if (/\.(incomplete|partial|adopting)$/.test(String(entry))) found.push(String(entry));
  }
  return found;
}

describe("downloads into a local directory", () => {
  let fx: HubFixture;
  let dir: string;
  let commit: string;
  before(async () => {
    fx = await startHub();
    commit = fx.hub.createRepo("org/loc").commit({ "config.json": CONFIG, "weights/model.bin": WEIGHTS, "notes.txt": "n" });
  });
  after(async () => {
    await fx.close();
  });

  test("the file lands at DIR/<path> as a regular file with the Python client's metadata, and nothing in the cache", async () => {
    dir = await makeTempDir("hubcache-local-");
    const path = await downloadFile({ ...fx.base, repo: "org/loc", path: "weights/model.bin", localDir: dir });
    assert.equal(path, join(dir, "weights", "model.bin"));
    assert.ok((await fsp.lstat(path)).isFile());
    assert.ok(sameBytes(await readBytes(path), WEIGHTS));
    const [c, etag, time, rest] = await readMetadata(dir, "weights/model.bin");
    assert.equal(c, commit);
    assert.equal(etag, fx.hub.repo("org/loc").fileInfo("weights/model.bin").etag);
    assert.ok(Math.abs(Number(time) - Date.now() / 1000) < 60, `timestamp ${time}`);
    assert.match(time, /^\d+\.\d+$/, "a Python float");
    assert.equal(rest, "", "three lines, each ending in a newline");
    assert.equal(await fsp.readFile(join(dir, ".cache", "huggingface", ".gitignore"), "utf8"), "*");
    assert.deepEqual(await leftovers(dir), []);
    assert.deepEqual(await listDir(fx.cacheDir).then((names) => names.filter((n) => n.startsWith("models--"))), []);
  });

  test("an up-to-date file is not fetched again (one HEAD); a commit revision needs no request at all", async () => {
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, repo: "org/loc", path: "weights/model.bin", localDir: dir });
    assert.deepEqual(fx.hub.requests.map((r) => r.method), ["HEAD"]);
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, repo: "org/loc", path: "weights/model.bin", localDir: dir, revision: commit });
    assert.deepEqual(fx.hub.requests, []);
  });

  test("a file the user changed after its metadata (same size) is detected by mtime, hashed and fetched again", async () => {
    const path = join(dir, "weights", "model.bin");
    const edited = bytes(WEIGHTS.length, 902);
    await fsp.writeFile(path, edited);
    const future = new Date(Date.now() + 5_000);
    await fsp.utimes(path, future, future);
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, repo: "org/loc", path: "weights/model.bin", localDir: dir });
    assert.equal(gets(fx), 1);
    assert.ok(sameBytes(await readBytes(path), WEIGHTS));
  });

  test("a file only touched (bytes intact, mtime newer) is re-verified by hashing, not fetched; its metadata is refreshed", async () => {
    const path = join(dir, "weights", "model.bin");
    const future = new Date(Date.now() + 5_000);
    await fsp.utimes(path, future, future);
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, repo: "org/loc", path: "weights/model.bin", localDir: dir });
    assert.equal(gets(fx), 0);
    const [, , time] = await readMetadata(dir, "weights/model.bin");
    assert.ok(Number(time) >= Date.now() / 1000 - 60);
  });

  test("a half-written metadata file (the Python client writes in place) is not trusted: the file is hashed and the record rewritten whole", async () => {
    await downloadFile({ ...fx.base, repo: "org/loc", path: "config.json", localDir: dir });
    await fsp.writeFile(metadataPath(dir, "config.json"), commit + "\n");
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, repo: "org/loc", path: "config.json", localDir: dir });
    assert.equal(gets(fx), 0, "the intact file (a git-sha1 file) is recognised by its hash");
    assert.equal((await readMetadata(dir, "config.json")).length, 4);
    // A half-written record over a damaged file: fetched again.
    await fsp.writeFile(join(dir, "config.json"), CONFIG.replace("2", "3"));
    await fsp.writeFile(metadataPath(dir, "config.json"), commit + "\n" + "ab");
    await downloadFile({ ...fx.base, repo: "org/loc", path: "config.json", localDir: dir });
    assert.equal(await fsp.readFile(join(dir, "config.json"), "utf8"), CONFIG);
  });

  test("leftovers of killed writers (temp file, partial, scratch file, lock) are swept by a run that finds the file in place", async () => {
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!; // a pid that has just ended
    const owner = { host: fx.runtime.platform.hostname(), pid: dead, nonce: "00".repeat(16) };
    const etag = fx.hub.repo("org/loc").fileInfo("weights/model.bin").etag;
    const download = join(dir, ".cache", "huggingface", "download", "weights");
    const planted = [
      join(download, tempBlobName(etag, owner)),
      join(download, `${etag}.partial`),
      join(dir, ".cache", "huggingface", ".hubcache-tmp", scratchName("metadata", owner)),
      join(download, "model.bin.hubcache-lock"),
    ];
    await fsp.mkdir(join(dir, ".cache", "huggingface", ".hubcache-tmp"), { recursive: true });
    for (const p of planted.slice(0, 3)) await fsp.writeFile(p, "x");
    await fsp.writeFile(planted[3], JSON.stringify(owner));
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, repo: "org/loc", path: "weights/model.bin", localDir: dir });
    assert.equal(gets(fx), 0);
    for (const p of planted) await assert.rejects(fsp.lstat(p), { code: "ENOENT" }, p);
    // The scratch folder stays (see the churn test below): only what was in it goes.
    assert.deepEqual(await listDir(join(dir, ".cache", "huggingface", ".hubcache-tmp")), []);
  });

  test("--force replaces a damaged file whose metadata still looks fresh", async () => {
    const path = join(dir, "weights", "model.bin");
    const damaged = new Uint8Array(WEIGHTS);
    damaged[10] ^= 1;
    await fsp.writeFile(path, damaged);
    const past = new Date(Date.now() - 60_000);
    await fsp.utimes(path, past, past); // older than its record: trusted without --force
    await downloadFile({ ...fx.base, repo: "org/loc", path: "weights/model.bin", localDir: dir, forceDownload: true });
    assert.ok(sameBytes(await readBytes(path), WEIGHTS));
  });

  test("content already in the Hub cache is copied, not fetched: zero bytes transferred, a separate regular file", async () => {
    const cached = await downloadFile({ ...fx.base, repo: "org/loc", path: "weights/model.bin" });
    const other = await makeTempDir("hubcache-local-");
    try {
      fx.hub.clearRequests();
      const path = await downloadFile({ ...fx.base, repo: "org/loc", path: "weights/model.bin", localDir: other });
      assert.equal(gets(fx), 0);
      assert.ok(sameBytes(await readBytes(path), WEIGHTS));
      assert.notEqual((await fsp.stat(path)).ino, (await fsp.stat(cached)).ino, "editing the local file must not edit the cache");
      assert.equal((await readMetadata(other, "weights/model.bin"))[0], commit);
    } finally {
      await removeTempDir(other);
    }
  });

  test("a whole repo with include/exclude: DIR is returned, the listing kept in DIR/.cache/huggingface/trees, the cache untouched", async () => {
    const other = await makeTempDir("hubcache-local-");
    const cacheDir = await makeTempDir("hubcache-cache-");
    try {
      const out = await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/loc", localDir: other, include: ["*.json", "*.txt"], exclude: ["notes*"] });
      assert.equal(out, other);
      assert.equal(await fsp.readFile(join(other, "config.json"), "utf8"), CONFIG);
      await assert.rejects(fsp.lstat(join(other, "notes.txt")), { code: "ENOENT" });
      await assert.rejects(fsp.lstat(join(other, "weights")), { code: "ENOENT" });
      await fsp.access(join(other, ".cache", "huggingface", "trees", `${commit}.json`));
      assert.deepEqual(await listDir(cacheDir), []);
      fx.hub.clearRequests();
      await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/loc", localDir: other, include: ["*.json"] });
      assert.equal(gets(fx), 0);
    } finally {
      await removeTempDir(other);
      await removeTempDir(cacheDir);
    }
  });
});

describe("the local scratch folder is made when first needed, then left (as the cache's)", () => {
  let fx: HubFixture;
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 12; i++) files[`f${i}.bin`] = bytes(2000 + i, 930 + i);
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/churn").commit(files);
  });
  after(() => fx.close());

  test("writers and sweeps churning in one local dir never remove the scratch folder another writer may be using", async () => {
    // Two "hosts" on one file system, every file written twice over (fetch, then sweep on the
    // cache hit), all at once: with remove-when-empty, each sweep removed the folder under the
    // others' metadata writes (on GlusterFS: ENOENT past every retry).
    const fs = new MemoryFileSystem();
    const scratch = "/local/.cache/huggingface/.hubcache-tmp";
    const removals: string[] = [];
    fs.beforeOp = (op, paths) => {
      if ((op === "removeEmptyDir" || op === "removeTree") && paths.some((p) => p === scratch || `${p}/`.startsWith("/local/.cache/"))) removals.push(`${op} ${paths}`);
    };
    const hosts = ["host-a", "host-b"].map((hostname, i) => memoryRuntime({ fs, hostname, pid: 100 + i, timers: "real" }));
    const one = (rt: (typeof hosts)[number], path: string) =>
      downloadFile({ runtime: rt, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/churn", path, localDir: "/local", lock: "none" });
    for (let round = 0; round < 2; round++) {
      await Promise.all(Object.keys(files).flatMap((path) => hosts.map((rt) => one(rt, path))));
    }
    assert.deepEqual(removals, []);
    assert.deepEqual(await fs.readdir(scratch), [], "nothing left in it");
    for (const [path, data] of Object.entries(files)) assert.ok(sameBytes(await fs.readFile(`/local/${path}`), data), path);
  });
});

describe("nothing from a server or user writes outside the local directory", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/esc").commit({ "sub/x.bin": bytes(1000, 3), ".cache/huggingface/download/y.metadata": "evil", ".cache/z": "z" });
  });
  after(() => fx.close());

  test("a folder of DIR that is a symlink leading out is not written through", async () => {
    const dir = await makeTempDir("hubcache-local-");
    const outside = await makeTempDir("hubcache-outside-");
    try {
      await fsp.symlink(outside, join(dir, "sub"));
      await assert.rejects(downloadFile({ ...fx.base, repo: "org/esc", path: "sub/x.bin", localDir: dir }), CacheError);
      assert.deepEqual(await listDir(outside), []);
    } finally {
      await removeTempDir(dir);
      await removeTempDir(outside);
    }
  });

  test("a symlink at DIR/<path> is replaced by the file, never written through", async () => {
    const dir = await makeTempDir("hubcache-local-");
    const outside = await makeTempDir("hubcache-outside-");
    try {
      await fsp.mkdir(join(dir, "sub"));
      await fsp.writeFile(join(outside, "target"), "keep");
      await fsp.symlink(join(outside, "target"), join(dir, "sub", "x.bin"));
      await downloadFile({ ...fx.base, repo: "org/esc", path: "sub/x.bin", localDir: dir });
      assert.ok((await fsp.lstat(join(dir, "sub", "x.bin"))).isFile());
      assert.equal(await fsp.readFile(join(outside, "target"), "utf8"), "keep");
    } finally {
      await removeTempDir(dir);
      await removeTempDir(outside);
    }
  });

  test("a repo path into the bookkeeping folder .cache/huggingface/ is refused", async () => {
    const dir = await makeTempDir("hubcache-local-");
    try {
      await assert.rejects(downloadFile({ ...fx.base, repo: "org/esc", path: ".cache/huggingface/download/y.metadata", localDir: dir }), InvalidInputError);
      await assert.rejects(downloadFile({ ...fx.base, repo: "org/esc", path: ".cache", localDir: dir }), InvalidInputError);
      await assert.rejects(downloadFile({ ...fx.base, repo: "org/esc", path: ".cache/huggingface", localDir: dir }), InvalidInputError);
      // Other names under .cache/ are the repo's own files.
      assert.equal(await fsp.readFile(await downloadFile({ ...fx.base, repo: "org/esc", path: ".cache/z", localDir: dir }), "utf8"), "z");
      await assert.rejects(downloadFile({ ...fx.base, repo: "org/esc", path: "../x.bin", localDir: dir }), InvalidInputError);
    } finally {
      await removeTempDir(dir);
    }
  });
});

describe("processes racing into one local directory", () => {
  let fx: HubFixture;
  let common: string[];
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/race").commit({ "a.bin": bytes(3_000_000, 911), "b/c.bin": bytes(2_000_000, 912), "d.json": "{}" });
    common = ["--endpoint", fx.hub.endpoint, "--cache-dir", fx.cacheDir, "--token", TOKEN, "--quiet"];
  });
  after(() => fx.close());

  test("writers of every runtime with the lock off leave one exact file per path, exact metadata and no temp file", async () => {
    for (let round = 0; round < roundsOnThisHost(RUNTIMES.length); round++) {
      const dir = await makeTempDir("hubcache-local-race-");
      try {
        fx.hub.throttle(20_000_000);
        const runs = [...RUNTIMES, currentRuntimeName()].map((rt) =>
          finished(spawnCli(rt, ["download", "org/race", "--local-dir", dir, "--lock", "none", ...common]))
        );
        const results = await Promise.all(runs);
        fx.hub.throttle(null);
        for (const r of results) {
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout.trim(), dir);
        }
        assert.ok(sameBytes(await readBytes(join(dir, "a.bin")), bytes(3_000_000, 911)));
        assert.ok(sameBytes(await readBytes(join(dir, "b", "c.bin")), bytes(2_000_000, 912)));
        assert.equal(await fsp.readFile(join(dir, "d.json"), "utf8"), "{}");
        for (const p of ["a.bin", "b/c.bin", "d.json"]) {
          const [c, etag] = await readMetadata(dir, p);
          assert.equal(c, fx.hub.repo("org/race").fileInfo(p).commit);
          assert.equal(etag, fx.hub.repo("org/race").fileInfo(p).etag);
        }
        assert.deepEqual(await leftovers(dir), []);
      } finally {
        fx.hub.throttle(null);
        await removeTempDir(dir);
      }
    }
  });

  test("another host's abandoned temp file and the Python client's stale shared .incomplete are taken over by copy and resumed with a Range", async () => {
    const data = bytes(3_000_000, 911);
    const etag = fx.hub.repo("org/race").fileInfo("a.bin").etag;
    for (const kind of ["other-host", "python"] as const) {
      const dir = await makeTempDir("hubcache-local-takeover-");
      try {
        const download = join(dir, ".cache", "huggingface", "download");
        await fsp.mkdir(download, { recursive: true });
        const name = kind === "other-host"
          ? tempBlobName(etag, { host: "elsewhere", pid: 4242, nonce: "ab".repeat(16) })
          : `${createHash("sha1").update("a.bin.metadata").digest("base64url")}=.${etag}.incomplete`;
        await fsp.writeFile(join(download, name), data.subarray(0, 1_000_000));
        const old = new Date(Date.now() - 3_600_000); // unchanged for an hour: abandoned
        await fsp.utimes(join(download, name), old, old);
        fx.hub.clearRequests();
        const run = await runCliProcess(currentRuntimeName(), ["download", "org/race", "a.bin", "--local-dir", dir, ...common]);
        assert.equal(run.code, 0, run.stderr);
        const get = fx.hub.requests.find((r) => r.method === "GET" && r.cdn);
        assert.equal(get?.range, "bytes=1000000-", `${kind}: resumed from the abandoned bytes`);
        assert.ok(sameBytes(await readBytes(join(dir, "a.bin")), data));
        assert.deepEqual(await leftovers(dir), [], `${kind}: the abandoned file was claimed, not left`);
      } finally {
        await removeTempDir(dir);
      }
    }
  });

  test("SIGKILL after the file's rename, before its metadata: the next run hashes it and fetches nothing", async () => {
    const dir = await makeTempDir("hubcache-local-kill-");
    try {
      const rt = currentRuntimeName();
      const killed = await runCliProcess(rt, ["download", "org/race", "a.bin", "--local-dir", dir, ...common], { HUBCACHE_TEST_HOOKS: "crash-at=renamed" });
      assert.equal(killed.signal, "SIGKILL", killed.stderr);
      await assert.rejects(fsp.lstat(metadataPath(dir, "a.bin")), { code: "ENOENT" });
      fx.hub.clearRequests();
      const again = await runCliProcess(rt, ["download", "org/race", "a.bin", "--local-dir", dir, ...common]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(gets(fx), 0);
      assert.ok(sameBytes(await readBytes(join(dir, "a.bin")), bytes(3_000_000, 911)));
      await fsp.access(metadataPath(dir, "a.bin"));
    } finally {
      await removeTempDir(dir);
    }
  });

  test("SIGKILL mid-transfer: the next run adopts the dead writer's temp file and resumes with a Range", async () => {
    const dir = await makeTempDir("hubcache-local-kill-");
    try {
      const rt = currentRuntimeName();
      fx.hub.throttle(6_000_000);
      const killed = await runCliProcess(rt, ["download", "org/race", "a.bin", "--local-dir", dir, ...common], { HUBCACHE_TEST_HOOKS: "crash-at=bytes-written:1" });
      fx.hub.throttle(null);
      assert.equal(killed.signal, "SIGKILL", killed.stderr);
      assert.equal((await leftovers(dir)).length, 1);
      fx.hub.clearRequests();
      const again = await runCliProcess(rt, ["download", "org/race", "a.bin", "--local-dir", dir, ...common]);
      assert.equal(again.code, 0, again.stderr);
      const get = fx.hub.requests.find((r) => r.method === "GET" && r.cdn);
      assert.ok(get, JSON.stringify(fx.hub.requests.map((r) => [r.method, r.path, r.filePath, r.range])));
      assert.match(get.range ?? "", /^bytes=[1-9]\d*-$/, "resumed, not restarted");
      assert.ok(sameBytes(await readBytes(join(dir, "a.bin")), bytes(3_000_000, 911)));
      assert.deepEqual(await leftovers(dir), []);
    } finally {
      fx.hub.throttle(null);
      await removeTempDir(dir);
    }
  });
});

const py = await pythonClient();

describe("the real `hf download --local-dir` and hubcache recognise each other's files", { skip: py.skip }, () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/inter").commit({ "config.json": CONFIG, "weights/model.bin": WEIGHTS, "tok.txt": "t".repeat(5000) });
  });
  after(() => fx.close());

  test("hubcache first, then hf download --local-dir: the Python client transfers nothing", async () => {
    assert.ok(py.available);
    const dir = await makeTempDir("hubcache-local-py-");
    try {
      const out = await downloadSnapshot({ ...fx.base, repo: "org/inter", localDir: dir });
      assert.equal(out, dir);
      fx.hub.clearRequests();
      const env = py.client.env(fx.hub.endpoint, fx.cacheDir);
      const run = await py.client.runHf(["download", "org/inter", "--local-dir", dir], env);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(gets(fx), 0, `the Python client downloaded again: ${JSON.stringify(fx.hub.requests.map((r) => `${r.method} ${r.path}`))}`);
      assert.ok(sameBytes(await readBytes(join(dir, "weights", "model.bin")), WEIGHTS));
    } finally {
      await removeTempDir(dir);
    }
  });

  test("hf download --local-dir first, then hubcache: hubcache transfers nothing and keeps the Python client's metadata valid", async () => {
    assert.ok(py.available);
    const dir = await makeTempDir("hubcache-local-py-");
    try {
      const env = py.client.env(fx.hub.endpoint, fx.cacheDir);
      const run = await py.client.runHf(["download", "org/inter", "--local-dir", dir], env);
      assert.equal(run.code, 0, run.stderr);
      const theirs = await readMetadata(dir, "weights/model.bin");
      fx.hub.clearRequests();
      const out = await downloadSnapshot({ ...fx.base, repo: "org/inter", localDir: dir });
      assert.equal(out, dir);
      assert.equal(gets(fx), 0);
      for (const p of ["config.json", "weights/model.bin", "tok.txt"]) {
        const info = fx.hub.repo("org/inter").fileInfo(p);
        assert.deepEqual((await readMetadata(dir, p)).slice(0, 2), [info.commit, info.etag]);
      }
      assert.deepEqual((await readMetadata(dir, "weights/model.bin")).slice(0, 2), theirs.slice(0, 2));
      assert.deepEqual(await leftovers(dir), []);
    } finally {
      await removeTempDir(dir);
    }
  });
});
