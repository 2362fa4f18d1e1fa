/**
 * `cache verify --repair` and `repairRepo`: a damaged cache made whole again, fetching only the
 * broken files.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { downloadSnapshot } from "../src/core/download/snapshot.ts";
import { repairRepo } from "../src/core/manage/repair.ts";
import { verifyRepo } from "../src/core/manage/verify.ts";
import { runCli } from "../src/cli/main.ts";
import { captureCli } from "./_support/capture.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub, TOKEN, waitFor } from "./_support/hub.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { finished, spawnCli } from "./_support/cli.ts";
import { pythonClient } from "./_support/python_client.ts";
import { currentRuntimeName } from "./_support/runtime.ts";

const FILES = {
  "a.bin": bytes(400_000, 951),
  "b.bin": bytes(300_000, 952),
  "c.bin": bytes(200_000, 953),
  "d.bin": bytes(100_000, 954),
  "config.json": '{"x": 1}',
};

function fileGets(fx: HubFixture): string[] {
  return fx.hub.requests.filter((r) => r.method === "GET" && !r.path.startsWith("/api/")).map((r) => r.filePath ?? r.path).sort();
}

function blobOf(fx: HubFixture, cacheDir: string, repo: string, path: string): string {
  return join(cacheDir, `models--${repo.replace("/", "--")}`, "blobs", fx.hub.repo(repo).fileInfo(path).etag);
}

/** One corrupted byte, one deleted blob, one truncated blob. */
async function damage(fx: HubFixture, cacheDir: string, repo: string): Promise<void> {
  const corrupted = new Uint8Array(FILES["a.bin"]);
  corrupted[1234] ^= 0x10;
  const a = blobOf(fx, cacheDir, repo, "a.bin");
  await fsp.rm(a); // the blob may be a hard link or read-only: replace it rather than write into it
  await fsp.writeFile(a, corrupted);
  await fsp.rm(blobOf(fx, cacheDir, repo, "b.bin"));
  await fsp.truncate(blobOf(fx, cacheDir, repo, "c.bin"), 150_000);
}

describe("cache verify --repair", () => {
  let fx: HubFixture;
  let commit: string;
  before(async () => {
    fx = await startHub();
    commit = fx.hub.createRepo("org/rep").commit(FILES);
  });
  after(() => fx.close());

  test("one corrupted, one deleted and one truncated blob: all repaired, only those three fetched, healthy again", async () => {
    await downloadSnapshot({ ...fx.base, repo: "org/rep" });
    await damage(fx, fx.cacheDir, "org/rep");
    assert.equal((await verifyRepo({ ...fx.base, repo: "org/rep" })).healthy, false);
    fx.hub.clearRequests();
    const c = captureCli(fx.runtime);
    const code = await runCli(["cache", "verify", "org/rep", "--repair", "--cache-dir", fx.cacheDir, "--endpoint", fx.hub.endpoint, "--token", TOKEN], c.ctx);
    assert.equal(code, 0, c.errText());
    assert.deepEqual(fileGets(fx), ["a.bin", "b.bin", "c.bin"]);
    assert.match(c.out.join("\n"), /repaired file a\.bin/);
    assert.match(c.out.join("\n"), /repaired file b\.bin/);
    assert.match(c.out.join("\n"), /repaired file c\.bin/);
    const after = await verifyRepo({ ...fx.base, repo: "org/rep" });
    assert.equal(after.healthy, true);
    assert.equal(after.files.filter((f) => f.status === "ok").length, 5);
    for (const [p, content] of Object.entries(FILES)) {
      const got = await readBytes(join(fx.cacheDir, "models--org--rep", "snapshots", commit, p));
      assert.ok(sameBytes(got, typeof content === "string" ? new TextEncoder().encode(content) : content), p);
    }
    assert.deepEqual((await listDir(join(fx.cacheDir, "models--org--rep", "blobs"))).filter((n) => n.includes(".")), []);
  });

  test("a no-symlink cache: a damaged snapshot file is replaced by a verified regular file", async () => {
    const cacheDir = await makeTempDir("hubcache-repair-");
    try {
      await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/rep", symlinks: "never" });
      const file = join(cacheDir, "models--org--rep", "snapshots", commit, "d.bin");
      const damaged = new Uint8Array(FILES["d.bin"]);
      damaged[0] ^= 1;
      await fsp.writeFile(file, damaged);
      fx.hub.clearRequests();
      const report = await repairRepo({ ...fx.base, cacheDir, repo: "org/rep" });
      assert.equal(report.healthy, true);
      assert.deepEqual(report.repaired.map((a) => a.path), ["d.bin"]);
      assert.deepEqual(fileGets(fx), ["d.bin"]);
      assert.ok((await fsp.lstat(file)).isFile());
      assert.ok(sameBytes(await readBytes(file), FILES["d.bin"]));
    } finally {
      await removeTempDir(cacheDir);
    }
  });

  test("a torn ref is resolved again and a .no_exist marker for an existing file removed", async () => {
    const cacheDir = await makeTempDir("hubcache-repair-");
    try {
      await downloadFile({ ...fx.base, cacheDir, repo: "org/rep", path: "config.json" });
      const repoDir = join(cacheDir, "models--org--rep");
      await fsp.writeFile(join(repoDir, "refs", "main"), commit.slice(0, 17));
      await fsp.mkdir(join(repoDir, ".no_exist", commit), { recursive: true });
      await fsp.writeFile(join(repoDir, ".no_exist", commit, "config.json"), "");
      await fsp.writeFile(join(repoDir, ".no_exist", commit, "truly-absent.txt"), "");
      const report = await repairRepo({ ...fx.base, cacheDir, repo: "org/rep" });
      assert.equal(report.healthy, true);
      assert.deepEqual(report.repaired.map((a) => `${a.kind} ${a.path}`).sort(), ["no-exist config.json", "ref main"]);
      assert.equal(await fsp.readFile(join(repoDir, "refs", "main"), "utf8"), commit);
      await assert.rejects(fsp.lstat(join(repoDir, ".no_exist", commit, "config.json")), { code: "ENOENT" });
      await fsp.access(join(repoDir, ".no_exist", commit, "truly-absent.txt"));
    } finally {
      await removeTempDir(cacheDir);
    }
  });

  test("offline, what needs the Hub is reported as not repaired and the exit code is 1", async () => {
    const cacheDir = await makeTempDir("hubcache-repair-");
    try {
      await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/rep", include: ["c.bin", "d.bin"] });
      await fsp.rm(blobOf(fx, cacheDir, "org/rep", "d.bin"));
      const corrupted = new Uint8Array(FILES["c.bin"]);
      corrupted[7] ^= 1;
      await fsp.writeFile(blobOf(fx, cacheDir, "org/rep", "c.bin"), corrupted);
      const c = captureCli(fx.runtime);
      const code = await runCli(["cache", "verify", "org/rep", "--repair", "--offline", "--cache-dir", cacheDir], c.ctx);
      assert.equal(code, 1);
      assert.match(c.out.join("\n"), /NOT repaired file c\.bin/, "a corrupted blob is not reported repaired offline");
      assert.match(c.out.join("\n"), /NOT repaired file d\.bin/);
      assert.match(c.errText(), /^hubcache: IntegrityError: 2 item\(s\) of 'org\/rep' \(model\) could not be repaired: c\.bin, d\.bin/);
      assert.equal((await verifyRepo({ ...fx.base, cacheDir, repo: "org/rep", offline: true })).healthy, false);
    } finally {
      await removeTempDir(cacheDir);
    }
  });

  test("repair while another process downloads the same damaged file: both succeed, one exact blob, no temp file", async () => {
    const cacheDir = await makeTempDir("hubcache-repair-");
    try {
      await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/rep", include: ["a.bin"] });
      await fsp.truncate(blobOf(fx, cacheDir, "org/rep", "a.bin"), 1000);
      fx.hub.throttle(400_000);
      const other = finished(spawnCli(currentRuntimeName(), [
        "download", "org/rep", "a.bin", "--force", "--lock", "none", "--quiet",
        "--cache-dir", cacheDir, "--endpoint", fx.hub.endpoint, "--token", TOKEN,
      ]));
      const blobs = join(cacheDir, "models--org--rep", "blobs");
      await waitFor(async () => (await listDir(blobs)).some((n) => n.endsWith(".incomplete")), 30_000, "the other download to start");
      const report = await repairRepo({ ...fx.base, cacheDir, repo: "org/rep" });
      const run = await other;
      fx.hub.throttle(null);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(report.healthy, true);
      assert.ok(sameBytes(await readBytes(blobOf(fx, cacheDir, "org/rep", "a.bin")), FILES["a.bin"]));
      assert.equal((await verifyRepo({ ...fx.base, cacheDir, repo: "org/rep" })).healthy, true);
      assert.deepEqual((await listDir(join(cacheDir, "models--org--rep", "blobs"))).filter((n) => n.includes(".")), []);
    } finally {
      fx.hub.throttle(null);
      await removeTempDir(cacheDir);
    }
  });
});

const py = await pythonClient();

describe("cache verify --repair on a cache the real Python client wrote", { skip: py.skip }, () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/pyrep").commit(FILES);
  });
  after(() => fx.close());

  test("hf download's cache with three broken blobs is repaired, fetching only those three", async () => {
    assert.ok(py.available);
    const cacheDir = await makeTempDir("hubcache-repair-py-");
    try {
      const run = await py.client.runHf(["download", "org/pyrep", "--cache-dir", cacheDir], py.client.env(fx.hub.endpoint, cacheDir));
      assert.equal(run.code, 0, run.stderr);
      await damage(fx, cacheDir, "org/pyrep");
      fx.hub.clearRequests();
      const report = await repairRepo({ ...fx.base, cacheDir, repo: "org/pyrep" });
      assert.equal(report.healthy, true, JSON.stringify(report.failed));
      assert.deepEqual(fileGets(fx), ["a.bin", "b.bin", "c.bin"]);
      assert.equal((await verifyRepo({ ...fx.base, cacheDir, repo: "org/pyrep" })).healthy, true);
      const check = await py.client.runPython(
        `from huggingface_hub import hf_hub_download; import hashlib, sys\n` +
          `p = hf_hub_download("org/pyrep", "a.bin", cache_dir=sys.argv[1] if len(sys.argv) > 1 else ${JSON.stringify(cacheDir)}, local_files_only=True)\n` +
          `print(hashlib.sha256(open(p, "rb").read()).hexdigest())`,
        py.client.env(fx.hub.endpoint, cacheDir),
      );
      assert.equal(check.code, 0, check.stderr);
      assert.equal(check.stdout.trim(), fx.hub.repo("org/pyrep").fileInfo("a.bin").sha256);
    } finally {
      await removeTempDir(cacheDir);
    }
  });
});
