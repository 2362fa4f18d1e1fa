import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { AbortedError, IntegrityError } from "../src/core/errors.ts";
import type { DownloadProgress, DownloadWarning } from "../src/core/options.ts";
import type { Runtime } from "../src/core/ports.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { claimPartial, createOwnTemp, releaseForResume } from "../src/core/download/temp_files.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub } from "./_support/hub.ts";

const SIZE = 6_000_000;

/** Start a download and abort it once `atBytes` are on disk; returns the size released. */
async function interrupt(fx: HubFixture, repo: string, path: string, atBytes: number, revision?: string): Promise<void> {
  const controller = new AbortController();
  fx.hub.throttle(12_000_000);
  try {
    const err = await downloadFile({
      ...fx.base,
      repo,
      path,
      revision,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.bytesDone >= atBytes) controller.abort();
      },
    }).catch((e) => e);
    assert.ok(err instanceof AbortedError, `expected AbortedError, got ${err}`);
  } finally {
    fx.hub.throttle(null);
  }
}

function blobsDir(fx: HubFixture, repo: string): string {
  return join(fx.cacheDir, `models--${repo.replace("/", "--")}`, "blobs");
}

function ranged(fx: HubFixture): string[] {
  return fx.hub.requests.filter((r) => r.method === "GET" && r.range).map((r) => r.range!);
}

describe("resume: interrupted downloads are released, claimed and continued", () => {
  let fx: HubFixture;
  const data = bytes(SIZE, 11);
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/res").commit({ "model.bin": data, "other.bin": bytes(SIZE, 12), "reg.txt": "x".repeat(500) }, { regular: ["reg.txt"] });
  });
  after(() => fx.close());

  test("an aborted download is released as <etag>.partial and resumed with a plain Range (never our hash as If-Range)", async () => {
    const etag = fx.hub.repo("org/res").fileInfo("model.bin").sha256;
    await interrupt(fx, "org/res", "model.bin", 2_000_000);
    const partial = join(blobsDir(fx, "org/res"), `${etag}.partial`);
    const kept = (await fsp.stat(partial)).size;
    assert.ok(kept >= 2_000_000 && kept < SIZE, `kept ${kept}`);
    assert.deepEqual((await listDir(blobsDir(fx, "org/res"))).filter((n) => n.endsWith(".incomplete")), []);

    fx.hub.clearRequests();
    const seen: DownloadProgress[] = [];
    const path = await downloadFile({ ...fx.base, repo: "org/res", path: "model.bin", onProgress: (p) => seen.push(p) });
    assert.ok(sameBytes(await readBytes(path), data));
    const get = fx.hub.requests.find((r) => r.method === "GET" && r.cdn)!;
    assert.equal(get.range, `bytes=${kept}-`);
    // Our content hash is not the CDN's validator: as If-Range it would make the CDN answer 200.
    assert.equal(get.ifRange, undefined);
    assert.equal(get.status, 206);
    assert.equal(get.authorization, false, "the token must not reach the CDN host");
    assert.equal(seen.find((p) => p.phase === "download")!.resumedFrom, kept);
    assert.deepEqual(await listDir(blobsDir(fx, "org/res")), [etag].concat((await listDir(blobsDir(fx, "org/res"))).filter((n) => n !== etag)).sort());
    assert.equal((await listDir(blobsDir(fx, "org/res"))).filter((n) => n.includes(".")).length, 0);
  });

  test("a partial holding wrong bytes is caught by verification and fetched again from zero", async () => {
    const etag = fx.hub.repo("org/res").fileInfo("other.bin").sha256;
    await fsp.mkdir(blobsDir(fx, "org/res"), { recursive: true });
    await fsp.writeFile(join(blobsDir(fx, "org/res"), `${etag}.partial`), bytes(1_000_000, 99));
    fx.hub.clearRequests();
    const path = await downloadFile({ ...fx.base, repo: "org/res", path: "other.bin" });
    assert.ok(sameBytes(await readBytes(path), bytes(SIZE, 12)));
    const gets = fx.hub.requests.filter((r) => r.method === "GET" && r.cdn);
    assert.deepEqual(gets.map((r) => r.range ?? "full"), ["bytes=1000000-", "full"]);
  });

  test("a regular (non-LFS) file resumes too, verified by git blob sha1", async () => {
    const info = fx.hub.repo("org/res").fileInfo("reg.txt");
    await fsp.writeFile(join(blobsDir(fx, "org/res"), `${info.gitSha1}.partial`), "x".repeat(200));
    fx.hub.clearRequests();
    const path = await downloadFile({ ...fx.base, repo: "org/res", path: "reg.txt" });
    assert.equal(await fsp.readFile(path, "utf8"), "x".repeat(500));
    assert.deepEqual(ranged(fx), ["bytes=200-"]);
  });
});

describe("resume across a moved commit (lemonade PR #1536)", () => {
  let fx: HubFixture;
  const data = bytes(SIZE, 21);
  before(async () => {
    fx = await startHub();
  });
  after(() => fx.close());

  test("a download interrupted at commit A resumes at commit B when the file is unchanged; no orphan is left", async () => {
    const repo = fx.hub.createRepo("org/moving");
    const commitA = repo.commit({ "model.bin": data, "readme.md": "v1" });
    await interrupt(fx, "org/moving", "model.bin", 2_000_000);
    const etag = repo.fileInfo("model.bin").sha256;
    const kept = (await fsp.stat(join(blobsDir(fx, "org/moving"), `${etag}.partial`))).size;

    const commitB = repo.commit({ "readme.md": "v2" });
    assert.notEqual(commitA, commitB);
    fx.hub.clearRequests();
    const path = await downloadFile({ ...fx.base, repo: "org/moving", path: "model.bin" });
    assert.equal(path, join(fx.cacheDir, "models--org--moving", "snapshots", commitB, "model.bin"));
    assert.ok(sameBytes(await readBytes(path), data));
    assert.deepEqual(ranged(fx), [`bytes=${kept}-`]);
    assert.deepEqual(await listDir(blobsDir(fx, "org/moving")), [etag]);
    assert.equal(await fsp.readFile(join(fx.cacheDir, "models--org--moving", "refs", "main"), "utf8"), commitB);
  });
});

describe("resume: whose temp files may be claimed", () => {
  let fx: HubFixture;
  let n = 0;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/claims");
  });
  after(() => fx.close());

  async function freshFile(size = 2_000_000): Promise<{ path: string; data: Uint8Array; etag: string; blobs: string }> {
    const path = `f${++n}.bin`;
    const data = bytes(size, 100 + n);
    const repo = fx.hub.repo("org/claims");
    repo.commit({ [path]: data });
    const blobs = blobsDir(fx, "org/claims");
    await fsp.mkdir(blobs, { recursive: true });
    return { path, data, etag: repo.fileInfo(path).sha256, blobs };
  }
  const old = new Date(Date.now() - 3600_000);

  test("a legacy <etag>.incomplete that is still growing is never touched", async () => {
    const f = await freshFile();
    const legacy = join(f.blobs, `${f.etag}.incomplete`);
    await fsp.writeFile(legacy, f.data.subarray(0, 700_000));
    fx.hub.clearRequests();
    const out = await downloadFile({ ...fx.base, repo: "org/claims", path: f.path, staleAfterMs: 60_000 });
    assert.ok(sameBytes(await readBytes(out), f.data));
    assert.equal((await fsp.stat(legacy)).size, 700_000, "a live legacy file must not be claimed or changed");
    assert.deepEqual(ranged(fx), []);
  });

  test("a legacy <etag>.incomplete that stopped growing is claimed and resumed (rustup PR #4911)", async () => {
    const f = await freshFile();
    const legacy = join(f.blobs, `${f.etag}.incomplete`);
    await fsp.writeFile(legacy, f.data.subarray(0, 700_000));
    await fsp.utimes(legacy, old, old);
    fx.hub.clearRequests();
    const out = await downloadFile({ ...fx.base, repo: "org/claims", path: f.path, staleAfterMs: 60_000 });
    assert.ok(sameBytes(await readBytes(out), f.data));
    assert.deepEqual(ranged(fx), ["bytes=700000-"]);
    await assert.rejects(fsp.stat(legacy), { code: "ENOENT" });
  });

  test("another host's temp file is adopted once stale, by copying (a zombie writer cannot touch our file)", async () => {
    const f = await freshFile();
    const foreign = join(f.blobs, `${f.etag}.otherhost-4242-${"ab".repeat(16)}.incomplete`);
    await fsp.writeFile(foreign, f.data.subarray(0, 500_000));
    await fsp.utimes(foreign, old, old);
    fx.hub.clearRequests();
    const out = await downloadFile({ ...fx.base, repo: "org/claims", path: f.path, staleAfterMs: 60_000 });
    assert.ok(sameBytes(await readBytes(out), f.data));
    assert.deepEqual(ranged(fx), ["bytes=500000-"]);
    assert.deepEqual(await listDir(f.blobs).then((l) => l.filter((x) => x.startsWith(f.etag + "."))), []);
  });

  test("this host's temp file of a dead process is adopted at once", async () => {
    const f = await freshFile();
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const host = fx.runtime.platform.hostname().replace(/[^A-Za-z0-9_-]/g, "_");
    const orphan = join(f.blobs, `${f.etag}.${host}-${dead}-${"cd".repeat(16)}.incomplete`);
    await fsp.writeFile(orphan, f.data.subarray(0, 900_000));
    fx.hub.clearRequests();
    const out = await downloadFile({ ...fx.base, repo: "org/claims", path: f.path });
    assert.ok(sameBytes(await readBytes(out), f.data));
    assert.deepEqual(ranged(fx), ["bytes=900000-"]);
  });

  test("this host's temp file of a live process is never claimed", async () => {
    const f = await freshFile();
    const host = fx.runtime.platform.hostname().replace(/[^A-Za-z0-9_-]/g, "_");
    const live = join(f.blobs, `${f.etag}.${host}-${process.ppid}-${"ef".repeat(16)}.incomplete`);
    await fsp.writeFile(live, f.data.subarray(0, 300_000));
    await fsp.utimes(live, old, old);
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, repo: "org/claims", path: f.path, staleAfterMs: 1 });
    assert.equal((await fsp.stat(live)).size, 300_000);
    assert.deepEqual(ranged(fx), []);
  });

  test("after publishing, leftovers of that blob (a dead writer's temp, a partial) are swept; a live writer's temp stays", async () => {
    const f = await freshFile();
    const host = fx.runtime.platform.hostname().replace(/[^A-Za-z0-9_-]/g, "_");
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const deadTemp = join(f.blobs, `${f.etag}.${host}-${dead}-${"11".repeat(16)}.incomplete`);
    const liveTemp = join(f.blobs, `${f.etag}.${host}-${process.ppid}-${"22".repeat(16)}.incomplete`);
    await fsp.writeFile(liveTemp, "live");
    // The download claims the bigger of the two resumable files; the other is swept at the end.
    await fsp.writeFile(deadTemp, f.data.subarray(0, 10));
    await fsp.writeFile(join(f.blobs, `${f.etag}.partial`), f.data.subarray(0, 20));
    await downloadFile({ ...fx.base, repo: "org/claims", path: f.path });
    assert.deepEqual((await listDir(f.blobs)).filter((n) => n.startsWith(f.etag)), [f.etag, `${f.etag}.${host}-${process.ppid}-${"22".repeat(16)}.incomplete`]);
  });

  test("a cache hit on a blob another client finished sweeps the partial and dead writers' temps it left; live and foreign ones stay", async () => {
    const f = await freshFile(SIZE);
    // Ctrl-C left a partial, a SIGKILLed writer its temp; then another client (the Python one,
    // another host) published the blob without knowing either.
    await interrupt(fx, "org/claims", f.path, 400_000);
    assert.ok((await listDir(f.blobs)).includes(`${f.etag}.partial`));
    const host = fx.runtime.platform.hostname().replace(/[^A-Za-z0-9_-]/g, "_");
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const deadTemp = `${f.etag}.${host}-${dead}-${"33".repeat(16)}.incomplete`;
    const liveTemp = `${f.etag}.${host}-${process.ppid}-${"44".repeat(16)}.incomplete`;
    const foreignTemp = `${f.etag}.0123abcd.incomplete`;
    for (const name of [deadTemp, liveTemp, foreignTemp]) await fsp.writeFile(join(f.blobs, name), "x");
    await fsp.writeFile(join(f.blobs, f.etag), f.data);
    fx.hub.clearRequests();
    const out = await downloadFile({ ...fx.base, repo: "org/claims", path: f.path });
    assert.deepEqual(fx.hub.requests.map((r) => r.method), ["HEAD"], "a cache hit");
    assert.ok(sameBytes(await readBytes(out), f.data));
    assert.deepEqual((await listDir(f.blobs)).filter((n) => n.startsWith(f.etag)), [f.etag, foreignTemp, liveTemp].sort());
    // The same once the pointer exists too (the other cache-hit path).
    await fsp.writeFile(join(f.blobs, `${f.etag}.partial`), f.data.subarray(0, 1000));
    await downloadFile({ ...fx.base, repo: "org/claims", path: f.path });
    assert.deepEqual((await listDir(f.blobs)).filter((n) => n.startsWith(f.etag)), [f.etag, foreignTemp, liveTemp].sort());
  });

  test("of many concurrent claimers of one partial, exactly one wins", async () => {
    const f = await freshFile();
    await fsp.writeFile(join(f.blobs, `${f.etag}.partial`), f.data.subarray(0, 100_000));
    const claims = await Promise.all(Array.from({ length: 8 }, () => claimPartial(fx.runtime, f.blobs, f.etag, 60_000)));
    const winners = claims.filter((c) => c !== null);
    assert.equal(winners.length, 1);
    assert.equal(winners[0]!.claimedBytes, 100_000);
    await winners[0]!.handle.close();
  });

  test("a claimer whose stale file another claimer takes from its .adopting name gives way instead of failing", async () => {
    // The claim renames the stale file to `<etag>.<owner>.adopting`, which keeps the old mtime:
    // another claimer may judge that name stale in turn and take it before its claimer opens it.
    const f = await freshFile();
    const stale = join(f.blobs, `${f.etag}.3f2b8c1e-9d4a-4b7e-8f00-123456789abc.incomplete`);
    await fsp.writeFile(stale, f.data.subarray(0, 100_000));
    const longAgo = new Date(Date.now() - 3_600_000);
    await fsp.utimes(stale, longAgo, longAgo);
    let second: Awaited<ReturnType<typeof claimPartial>> | undefined;
    const fs = {
      ...fx.runtime.fs,
      async openRead(path: string) {
        if (second === undefined && path.endsWith(".adopting")) second = await claimPartial(fx.runtime, f.blobs, f.etag, 60_000);
        return await fx.runtime.fs.openRead(path);
      },
    };
    const first = await claimPartial({ ...fx.runtime, fs }, f.blobs, f.etag, 60_000);
    assert.equal(first, null, "the first claimer lost its file and had no other candidate");
    assert.ok(second, "the second claimer took the .adopting file");
    assert.equal(second.claimedBytes, 100_000);
    await second.handle.close();
    assert.deepEqual((await listDir(f.blobs)).filter((n) => n.endsWith(".adopting")), []);
  });

  test("releasing keeps the larger partial", async () => {
    const f = await freshFile();
    const partial = join(f.blobs, `${f.etag}.partial`);
    await fsp.writeFile(partial, f.data.subarray(0, 50_000));
    const small = await createOwnTemp(fx.runtime, f.blobs, f.etag);
    await small.handle.write(f.data.subarray(0, 10_000), 0);
    await releaseForResume(fx.runtime, small, f.blobs, f.etag, 10_000);
    assert.equal((await fsp.stat(partial)).size, 50_000);
    const big = await createOwnTemp(fx.runtime, f.blobs, f.etag);
    await big.handle.write(f.data.subarray(0, 80_000), 0);
    await releaseForResume(fx.runtime, big, f.blobs, f.etag, 80_000);
    assert.equal((await fsp.stat(partial)).size, 80_000);
    assert.deepEqual((await listDir(f.blobs)).filter((x) => x.startsWith(f.etag) && x.endsWith(".incomplete")), []);
  });
});

describe("a temp file another program deletes mid-download ('hf cache prune') is recovered from the open handle", () => {
  let fx: HubFixture;
  const data = bytes(700_000, 61);
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/pruned").commit({ "w.bin": data, "r.txt": "r".repeat(900) }, { regular: ["r.txt"] });
  });
  after(() => fx.close());

  /** `runtime` with a hook that deletes our temp file by name, as `hf cache prune` does, once bytes flow. */
  function deletingTempOnce(runtime: Runtime, blobs: string): { runtime: Runtime; deleted: () => string[] } {
    const deleted: string[] = [];
    return {
      deleted: () => deleted,
      runtime: {
        ...runtime,
        async checkpoint(name) {
          if (name !== "bytes-written" || deleted.length > 0) return;
          for (const n of await runtime.fs.readdir(blobs)) {
            if (!n.endsWith(".incomplete")) continue;
            await runtime.fs.removeFile(`${blobs}/${n}`);
            deleted.push(n);
          }
        },
      },
    };
  }

  const cases = [
    { adapter: "real file system", symlinks: "auto" as const },
    { adapter: "real file system", symlinks: "never" as const },
    { adapter: "memory adapter", symlinks: "auto" as const },
    { adapter: "memory adapter", symlinks: "never" as const },
  ];
  for (const c of cases) {
    for (const file of ["w.bin", "r.txt"]) {
      test(`${c.adapter}, symlinks ${c.symlinks}, ${file}: published from the open file, with a warning, without downloading again`, async () => {
        const mem = c.adapter === "memory adapter";
        const base = mem ? memoryRuntime({ timers: "real" }) : fx.runtime;
        const cacheDir = mem ? "/cache" : await fsp.mkdtemp(join(fx.cacheDir, "pruned-"));
        const blobs = `${cacheDir}/models--org--pruned/blobs`;
        const hook = deletingTempOnce(base, blobs);
        const warnings: DownloadWarning[] = [];
        fx.hub.clearRequests();
        const path = await downloadFile({
          ...fx.base,
          runtime: hook.runtime,
          cacheDir,
          repo: "org/pruned",
          path: file,
          symlinks: c.symlinks,
          onWarning: (w) => warnings.push(w),
        });
        assert.equal(hook.deleted().length, 1, "the temp file was deleted mid-download");
        const expected = file === "w.bin" ? data : new TextEncoder().encode("r".repeat(900));
        assert.ok(sameBytes(await base.fs.readFile(path), expected));
        assert.equal(fx.hub.requests.filter((r) => r.method === "GET").length, 1, "no second download");
        assert.deepEqual(warnings.map((w) => [w.code, w.path]), [["TempFileDeleted", file]]);
        assert.match(warnings[0].message, /recovered from the open file/);
        const left = (await base.fs.readdir(blobs).catch(() => [] as string[])).filter((n) => n.includes("."));
        assert.deepEqual(left, []);
      });
    }
  }
});

describe("verification and publication", () => {
  let fx: HubFixture;
  const data = bytes(3_000_000, 31);
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/ver").commit({ "a.bin": data, "b.bin": bytes(3_000_000, 32), "c.bin": bytes(100_000, 33) });
  });
  after(() => fx.close());

  test("a corrupted byte is caught; the file is fetched again from zero and the blob is exact", async () => {
    fx.hub.injectFault({ kind: "corrupt", offset: 1_234_567, times: 1 });
    const path = await downloadFile({ ...fx.base, repo: "org/ver", path: "a.bin" });
    assert.ok(sameBytes(await readBytes(path), data));
  });

  test("corruption on every attempt fails with IntegrityError; nothing enters blobs/, no temp file is left", async () => {
    const etag = fx.hub.repo("org/ver").fileInfo("b.bin").sha256;
    fx.hub.injectFault({ kind: "corrupt", offset: 10, times: 5 });
    const err = await downloadFile({ ...fx.base, repo: "org/ver", path: "b.bin" }).catch((e) => e);
    fx.hub.clearFaults();
    assert.ok(err instanceof IntegrityError, String(err));
    assert.equal(err.code, "IntegrityError");
    const names = await listDir(blobsDir(fx, "org/ver"));
    assert.ok(!names.some((n) => n.startsWith(etag)), names.join(","));
    await assert.rejects(fsp.lstat(join(fx.cacheDir, "models--org--ver", "snapshots")).then(async () => {
      const [commit] = await fsp.readdir(join(fx.cacheDir, "models--org--ver", "snapshots"));
      return fsp.lstat(join(fx.cacheDir, "models--org--ver", "snapshots", commit, "b.bin"));
    }), { code: "ENOENT" });
  });

  test("a damaged full-size partial does not use up the retry: one network corruption after it still succeeds", async () => {
    fx.hub.repo("org/ver").commit({ "e.bin": bytes(300_000, 35) });
    const etag = fx.hub.repo("org/ver").fileInfo("e.bin").sha256;
    const damaged = bytes(300_000, 35);
    damaged[1234] ^= 0xff;
    await fsp.mkdir(blobsDir(fx, "org/ver"), { recursive: true });
    await fsp.writeFile(join(blobsDir(fx, "org/ver"), `${etag}.partial`), damaged);
    fx.hub.injectFault({ kind: "corrupt", offset: 99, times: 1 });
    const path = await downloadFile({ ...fx.base, repo: "org/ver", path: "e.bin" });
    assert.ok(sameBytes(await readBytes(path), bytes(300_000, 35)));
  });

  test("a blob already published wins over ours (force download keeps the same inode)", async () => {
    const path = await downloadFile({ ...fx.base, repo: "org/ver", path: "c.bin" });
    const before = await fsp.stat(path);
    await downloadFile({ ...fx.base, repo: "org/ver", path: "c.bin", forceDownload: true });
    const afterStat = await fsp.stat(path);
    assert.equal(afterStat.ino, before.ino);
    assert.ok(sameBytes(await readBytes(path), bytes(100_000, 33)));
  });

  test("a forced download repairs: a blob with one byte flipped is replaced by verified bytes with one rename", async () => {
    fx.hub.repo("org/ver").commit({ "f.bin": bytes(250_000, 36) });
    const etag = fx.hub.repo("org/ver").fileInfo("f.bin").sha256;
    const path = await downloadFile({ ...fx.base, repo: "org/ver", path: "f.bin" });
    const damaged = bytes(250_000, 36);
    damaged[777] ^= 0x01;
    await fsp.writeFile(join(blobsDir(fx, "org/ver"), etag), damaged);
    fx.hub.clearRequests();
    await downloadFile({ ...fx.base, repo: "org/ver", path: "f.bin", forceDownload: true });
    assert.ok(sameBytes(await readBytes(path), bytes(250_000, 36)), "the pointer leads to verified bytes");
    assert.equal(fx.hub.requests.filter((r) => r.method === "GET").length, 1);
    assert.deepEqual((await listDir(blobsDir(fx, "org/ver"))).filter((n) => n.startsWith(etag)), [etag], "no temp file left");
  });

  test("a forced download repairs a damaged same-size regular file at the pointer of a symlink cache", async () => {
    fx.hub.repo("org/ver").commit({ "g.bin": bytes(120_000, 37) });
    const path = await downloadFile({ ...fx.base, repo: "org/ver", path: "g.bin" });
    const damaged = bytes(120_000, 37);
    damaged[5] ^= 0x80;
    await fsp.rm(path);
    await fsp.writeFile(path, damaged); // a no-symlink client's file, damaged since
    await downloadFile({ ...fx.base, repo: "org/ver", path: "g.bin", forceDownload: true });
    assert.ok(sameBytes(await readBytes(path), bytes(120_000, 37)));
    assert.ok((await fsp.lstat(path)).isSymbolicLink(), "the damaged file was replaced by a pointer to the verified blob");
  });

  test("a forced download without symlinks repairs a damaged snapshot file; an intact one keeps its inode", async () => {
    const cacheDir = await makeTempDir("hubcache-nosym-");
    const base = { ...fx.base, cacheDir, symlinks: "never" as const };
    fx.hub.repo("org/ver").commit({ "h.bin": bytes(180_000, 38) });
    const path = await downloadFile({ ...base, repo: "org/ver", path: "h.bin" });
    const intact = (await fsp.stat(path)).ino;
    await downloadFile({ ...base, repo: "org/ver", path: "h.bin", forceDownload: true });
    assert.equal((await fsp.stat(path)).ino, intact, "a whole, verified file of another writer stays (GlusterFS readers)");
    const damaged = bytes(180_000, 38);
    damaged[179_999] ^= 0xff;
    await fsp.writeFile(path, damaged);
    await downloadFile({ ...base, repo: "org/ver", path: "h.bin", forceDownload: true });
    assert.ok(sameBytes(await readBytes(path), bytes(180_000, 38)));
    await removeTempDir(cacheDir);
  });

  test("a blob of the wrong size left by a client that does not verify is replaced by verified bytes", async () => {
    fx.hub.repo("org/ver").commit({ "d.bin": bytes(200_000, 34) });
    const etag = fx.hub.repo("org/ver").fileInfo("d.bin").sha256;
    await fsp.writeFile(join(blobsDir(fx, "org/ver"), etag), bytes(150_000, 34));
    const path = await downloadFile({ ...fx.base, repo: "org/ver", path: "d.bin" });
    assert.ok(sameBytes(await readBytes(path), bytes(200_000, 34)));
  });
});
