import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { EntryNotFoundError, GatedRepoError, OfflineCacheMissError, RepoNotFoundError, RevisionNotFoundError } from "../src/core/errors.ts";
import type { DownloadProgress } from "../src/core/options.ts";
import { repoLayout } from "../src/core/cache/layout.ts";
import { writeFileAtomic } from "../src/core/fs/atomic_write.ts";
import { FsError } from "../src/core/ports.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub } from "./_support/hub.ts";

describe("downloadFile: the cache layout is the Python client's", () => {
  let fx: HubFixture;
  let commit: string;
  const big = bytes(300_000, 3);
  before(async () => {
    fx = await startHub();
    const repo = fx.hub.createRepo("org/layout");
    commit = repo.commit({ "config.json": '{"a":1}', "weights/model.bin": big, "a/b/c/deep.txt": "deep" });
  });
  after(() => fx.close());

  test("a regular file lands in blobs/<git sha1> behind a relative symlink", async () => {
    const path = await downloadFile({ ...fx.base, repo: "org/layout", path: "config.json" });
    const repoDir = join(fx.cacheDir, "models--org--layout");
    const info = fx.hub.repo("org/layout").fileInfo("config.json");
    assert.equal(path, join(repoDir, "snapshots", commit, "config.json"));
    assert.equal(await fsp.readlink(path), `../../blobs/${info.gitSha1}`);
    assert.equal(await fsp.readFile(path, "utf8"), '{"a":1}');
    assert.equal((await fsp.lstat(join(repoDir, "blobs", info.gitSha1))).isFile(), true);
  });

  test("an LFS file lands in blobs/<sha256>; one more ../ per sub-folder", async () => {
    const path = await downloadFile({ ...fx.base, repo: "org/layout", path: "weights/model.bin" });
    const info = fx.hub.repo("org/layout").fileInfo("weights/model.bin");
    assert.equal(info.lfs, true);
    assert.equal(await fsp.readlink(path), `../../../blobs/${info.sha256}`);
    assert.ok(sameBytes(await readBytes(path), big));
    const deep = await downloadFile({ ...fx.base, repo: "org/layout", path: "a/b/c/deep.txt" });
    assert.equal(await fsp.readlink(deep), `../../../../../blobs/${fx.hub.repo("org/layout").fileInfo("a/b/c/deep.txt").gitSha1}`);
  });

  test("refs/main holds exactly 40 hex characters and no newline; CACHEDIR.TAG exists", async () => {
    const ref = await fsp.readFile(join(fx.cacheDir, "models--org--layout", "refs", "main"), "utf8");
    assert.equal(ref, commit);
    const tag = await fsp.readFile(join(fx.cacheDir, "CACHEDIR.TAG"), "utf8");
    assert.ok(tag.startsWith("Signature: 8a477f597d28d172789f06886806bc55"));
  });

  test("refs/pr/1 is stored at refs/refs/pr/1 and resolves to the PR's commit", async () => {
    const repo = fx.hub.repo("org/layout");
    const prCommit = repo.commit({ "config.json": '{"a":2}' }, { branch: "pr-branch" });
    const n = repo.createPullRequest(prCommit);
    const path = await downloadFile({ ...fx.base, repo: "org/layout", path: "config.json", revision: `refs/pr/${n}` });
    assert.equal(await fsp.readFile(join(fx.cacheDir, "models--org--layout", "refs", "refs", "pr", String(n)), "utf8"), prCommit);
    assert.equal(await fsp.readFile(path, "utf8"), '{"a":2}');
  });

  test("a file missing at a commit is recorded in .no_exist/<commit>/<path> and reported as EntryNotFound", async () => {
    await assert.rejects(downloadFile({ ...fx.base, repo: "org/layout", path: "nope/missing.bin" }), EntryNotFoundError);
    const marker = join(fx.cacheDir, "models--org--layout", ".no_exist", commit, "nope", "missing.bin");
    assert.equal((await fsp.stat(marker)).size, 0);
    // Offline, the marker answers without the network.
    const err = await downloadFile({ ...fx.base, repo: "org/layout", path: "nope/missing.bin", offline: true }).catch((e) => e);
    assert.ok(err instanceof EntryNotFoundError, String(err));
  });

  test("no temp files and no lock holders are left after success; the scratch folder is empty", async () => {
    const blobs = await listDir(join(fx.cacheDir, "models--org--layout", "blobs"));
    assert.deepEqual(blobs.filter((n) => n.includes(".")), []);
    const locks = await listDir(join(fx.cacheDir, ".locks", "models--org--layout"));
    assert.deepEqual(locks.filter((n) => n.endsWith(".hubcache-lock")), []);
    // It stays once a write created it (removing it after each use raced other writers on
    // GlusterFS); `cache prune` removes it when empty.
    assert.deepEqual(await listDir(join(fx.cacheDir, "models--org--layout", ".hubcache-tmp")), []);
  });

  test("a download answered from the cache (symlink probe included) leaves no .hubcache-tmp folder", async () => {
    await downloadFile({ ...fx.base, repo: "org/layout", path: "config.json" });
    const tmp = join(fx.cacheDir, "models--org--layout", ".hubcache-tmp");
    await fsp.rm(tmp, { recursive: true, force: true });
    // A fresh runtime object, as in a new process: it probes for symlinks again.
    const runtime = { ...fx.runtime };
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, runtime, repo: "org/layout", path: "config.json" });
    assert.deepEqual(fx.hub.requests.map((r) => r.method), ["HEAD"], "answered from the cache");
    await assert.rejects(fsp.lstat(tmp), { code: "ENOENT" });
  });

  test("writers racing through the scratch folder all succeed and leave it empty", async () => {
    const layout = repoLayout(fx.cacheDir, "model", "org/scratch");
    const writes = Array.from({ length: 24 }, (_, i) =>
      writeFileAtomic(fx.runtime, layout.tmpDir, join(layout.refsDir, `r${i}`), new TextEncoder().encode(String(i)), "ref"));
    await Promise.all(writes);
    for (let i = 0; i < 24; i++) assert.equal(await fsp.readFile(join(layout.refsDir, `r${i}`), "utf8"), String(i));
    assert.deepEqual(await listDir(layout.tmpDir), []);
  });

  test("a writer whose scratch folder `cache prune` removed just before it created its temp file starts over", async () => {
    const layout = repoLayout(fx.cacheDir, "model", "org/scratch2");
    let struck = 0;
    const fs = {
      ...fx.runtime.fs,
      async createExclusive(path: string) {
        // `cache prune`'s rmdir of the empty folder landing between our mkdir and our create.
        if (struck < 2 && path.startsWith(layout.tmpDir + "/")) {
          struck++;
          await fsp.rmdir(layout.tmpDir);
        }
        return await fx.runtime.fs.createExclusive(path);
      },
    };
    await writeFileAtomic({ ...fx.runtime, fs }, layout.tmpDir, join(layout.refsDir, "main"), new TextEncoder().encode("x"), "ref");
    assert.equal(struck, 2);
    assert.equal(await fsp.readFile(join(layout.refsDir, "main"), "utf8"), "x");
    assert.deepEqual(await listDir(layout.tmpDir), []);
  });

  test("a scratch write whose temp file vanished while the folder still looks present starts over", async () => {
    // GlusterFS: the folder was removed and made again through the other mount; this mount's
    // create went to the old one and the rename then finds nothing.
    const layout = repoLayout(fx.cacheDir, "model", "org/scratch3");
    let struck = 0;
    const fs = {
      ...fx.runtime.fs,
      async rename(from: string, to: string) {
        if (struck < 2 && from.startsWith(layout.tmpDir + "/")) {
          struck++;
          await fsp.rm(from);
          throw new FsError("ENOENT", "rename", from);
        }
        return await fx.runtime.fs.rename(from, to);
      },
    };
    await writeFileAtomic({ ...fx.runtime, fs }, layout.tmpDir, join(layout.refsDir, "main"), new TextEncoder().encode("y"), "ref");
    assert.equal(struck, 2);
    assert.equal(await fsp.readFile(join(layout.refsDir, "main"), "utf8"), "y");
    assert.deepEqual(await listDir(layout.tmpDir), []);
  });

  test("datasets and spaces use datasets--/spaces-- folders and their URL prefixes", async () => {
    fx.hub.createRepo("org/set", { type: "dataset" }).commit({ "data.csv": "a,b\n1,2\n" });
    fx.hub.createRepo("org/app", { type: "space" }).commit({ "app.py": "print(1)\n" });
    const d = await downloadFile({ ...fx.base, repo: "org/set", repoType: "dataset", path: "data.csv" });
    const s = await downloadFile({ ...fx.base, repo: "org/app", repoType: "space", path: "app.py" });
    assert.ok(d.includes("/datasets--org--set/snapshots/"));
    assert.ok(s.includes("/spaces--org--app/snapshots/"));
  });
});

describe("downloadFile: cached and offline paths", () => {
  let fx: HubFixture;
  let commit: string;
  before(async () => {
    fx = await startHub();
    commit = fx.hub.createRepo("org/off").commit({ "config.json": "{}", "model.bin": bytes(5000, 9) });
  });
  after(() => fx.close());

  test("a commit revision whose file is cached makes no request at all", async () => {
    await downloadFile({ ...fx.base, repo: "org/off", path: "model.bin" });
    fx.hub.clearRequests();
    const path = await downloadFile({ ...fx.base, repo: "org/off", path: "model.bin", revision: commit });
    assert.equal(fx.hub.requests.length, 0);
    assert.ok(sameBytes(await readBytes(path), bytes(5000, 9)));
  });

  test("a second download of a cached file sends one HEAD and no GET", async () => {
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, repo: "org/off", path: "model.bin" });
    assert.deepEqual(fx.hub.requests.map((r) => r.method), ["HEAD"]);
  });

  test("offline resolves through refs/ and snapshots/ without any request", async () => {
    fx.hub.clearRequests();
    const path = await downloadFile({ ...fx.base, repo: "org/off", path: "model.bin", offline: true });
    assert.equal(path, join(fx.cacheDir, "models--org--off", "snapshots", commit, "model.bin"));
    assert.equal(fx.hub.requests.length, 0);
  });

  test("offline with a file never downloaded fails with OfflineCacheMiss naming the file", async () => {
    const err = await downloadFile({ ...fx.base, repo: "org/off", path: "config.json", offline: true }).catch((e) => e);
    assert.ok(err instanceof OfflineCacheMissError, String(err));
    assert.match(err.message, /config\.json/);
    assert.equal(err.code, "OfflineCacheMiss");
  });

  test("offline with an unknown revision fails with OfflineCacheMiss naming the revision", async () => {
    const err = await downloadFile({ ...fx.base, repo: "org/off", path: "config.json", revision: "v9", offline: true }).catch((e) => e);
    assert.ok(err instanceof OfflineCacheMissError);
    assert.match(err.message, /'v9'/);
  });

  test("HF_HUB_OFFLINE=1 in the environment means offline", async () => {
    const runtime = { ...fx.runtime, platform: { ...fx.runtime.platform, env: (n: string) => (n === "HF_HUB_OFFLINE" ? "1" : fx.runtime.platform.env(n)) } };
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, runtime, repo: "org/off", path: "model.bin" });
    assert.equal(fx.hub.requests.length, 0);
  });

  test("when the Hub is unreachable, a cached file is still returned", async () => {
    const path = await downloadFile({ ...fx.base, endpoint: "http://127.0.0.1:9", repo: "org/off", path: "model.bin", maxAttempts: 1 });
    assert.ok(path.endsWith(`/snapshots/${commit}/model.bin`));
  });
});

describe("downloadFile: Hub errors become typed errors", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/pub").commit({ "a.txt": "a" });
    fx.hub.createRepo("org/private", { private: true }).commit({ "a.txt": "a" });
    fx.hub.createRepo("org/gated", { gated: true }).commit({ "a.txt": "a" });
  });
  after(() => fx.close());

  test("unknown repo → RepoNotFound", async () => {
    await assert.rejects(downloadFile({ ...fx.base, repo: "org/none", path: "a.txt" }), RepoNotFoundError);
  });
  test("private repo without a token → RepoNotFound; with the token → success", async () => {
    await assert.rejects(downloadFile({ ...fx.base, token: false, repo: "org/private", path: "a.txt" }), RepoNotFoundError);
    assert.ok(await downloadFile({ ...fx.base, repo: "org/private", path: "a.txt" }));
  });
  test("gated repo without a token → GatedRepo", async () => {
    await assert.rejects(downloadFile({ ...fx.base, token: false, repo: "org/gated", path: "a.txt" }), GatedRepoError);
  });
  test("unknown revision → RevisionNotFound", async () => {
    await assert.rejects(downloadFile({ ...fx.base, repo: "org/pub", path: "a.txt", revision: "nope" }), RevisionNotFoundError);
  });
  test("a renamed repo (307, relative Location) is followed", async () => {
    fx.hub.createRepo("org/old-name").commit({ "r.txt": "renamed" });
    fx.hub.renameRepo("org/old-name", "org/new-name");
    const path = await downloadFile({ ...fx.base, repo: "org/old-name", path: "r.txt" });
    assert.equal(await fsp.readFile(path, "utf8"), "renamed");
  });
});

describe("downloadFile: progress", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/prog").commit({ "big.bin": bytes(3_500_000, 5) });
  });
  after(() => fx.close());

  test("onProgress reports monotonic bytes up to the total, then done", async () => {
    const seen: DownloadProgress[] = [];
    await downloadFile({ ...fx.base, repo: "org/prog", path: "big.bin", onProgress: (p) => seen.push(p) });
    const downloads = seen.filter((p) => p.phase === "download");
    assert.ok(downloads.length >= 3);
    for (let i = 1; i < downloads.length; i++) assert.ok(downloads[i].bytesDone >= downloads[i - 1].bytesDone);
    assert.equal(downloads.at(-1)!.bytesTotal, 3_500_000);
    assert.deepEqual(seen.at(-1), { path: "big.bin", bytesDone: 3_500_000, bytesTotal: 3_500_000, resumedFrom: 0, phase: "done" });
  });

  test("a cached file reports phase 'cached'", async () => {
    const seen: DownloadProgress[] = [];
    await downloadFile({ ...fx.base, repo: "org/prog", path: "big.bin", onProgress: (p) => seen.push(p) });
    assert.deepEqual(seen.map((p) => p.phase), ["cached"]);
  });
});
