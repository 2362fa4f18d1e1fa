import { afterEach, beforeEach, describe, test } from "node:test";
import { captureCli } from "./_support/capture.ts";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { testRuntime } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import {
  etagOf,
  fakeCommit,
  gitBlobSha1,
  type PyFile,
  type WrittenRepo,
  writePythonRepo,
  writePythonTree,
  writeRepoFile,
} from "./_support/python_cache.ts";
import { hashAlgorithmFor, hashFile } from "../src/core/cache/content_hash.ts";
import { verifyRepo } from "../src/core/manage/verify.ts";
import { scanCache } from "../src/core/manage/scan.ts";
import { pruneCache } from "../src/core/manage/prune.ts";
import { executeRemoval, planRemoval } from "../src/core/manage/remove.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import type { Runtime } from "../src/core/ports.ts";
import { CacheError, InvalidInputError } from "../src/core/errors.ts";
import { runCli } from "../src/cli/main.ts";
import { type HubFixture, startHub, TOKEN } from "./_support/hub.ts";

const rt = testRuntime();

const cfg: PyFile = { path: "config.json", content: '{"a":1}' };
const mb1: PyFile = { path: "model.bin", content: "x".repeat(100), lfs: true };
const onnx: PyFile = { path: "onnx/model.onnx", content: "o".repeat(50), lfs: true };
const mb2: PyFile = { path: "model.bin", content: "y".repeat(120), lfs: true };
const C1 = fakeCommit("v-1");
const C2 = fakeCommit("v-2");

const capture = () => captureCli(rt);

/** Every entry under `dir` with its type, size, mtime and (for files) content hash. */
async function fingerprint(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of (await fsp.readdir(d)).sort()) {
      const p = path.join(d, name);
      const s = await fsp.lstat(p);
      if (s.isDirectory()) {
        out.push(`d ${p} ${s.mtimeMs}`);
        await walk(p);
      } else if (s.isSymbolicLink()) out.push(`l ${p} ${await fsp.readlink(p)}`);
      else out.push(`f ${p} ${s.size} ${s.mtimeMs} ${createHash("sha256").update(await fsp.readFile(p)).digest("hex")}`);
    }
  };
  await walk(dir);
  return out;
}

describe("content hashing", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir("hubcache-hash-");
  });
  afterEach(() => removeTempDir(dir));

  test("hashFile computes the git blob sha1 and the sha256 of a file", async () => {
    const p = path.join(dir, "f");
    await fsp.writeFile(p, "hello\n");
    assert.equal((await hashFile(rt, p, "sha1")).digest, "ce013625030ba8dba906f756967f9e9ca394464a"); // git hash-object
    assert.equal((await hashFile(rt, p, "sha256")).digest, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    await fsp.writeFile(p, "");
    assert.equal((await hashFile(rt, p, "sha1")).digest, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"); // git's empty blob
  });

  test("files larger than one read chunk hash the same as in one piece", async () => {
    const bytes = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
    const p = path.join(dir, "big");
    await fsp.writeFile(p, bytes);
    const digest = await hashFile(rt, p, "sha256");
    assert.equal(digest.size, bytes.length);
    assert.equal(digest.digest, createHash("sha256").update(bytes).digest("hex"));
    assert.equal((await hashFile(rt, p, "sha1")).digest, gitBlobSha1(bytes));
  });

  test("hashAlgorithmFor maps 64 hex to sha256 and 40 hex to the git sha1", () => {
    assert.equal(hashAlgorithmFor("a".repeat(64)), "sha256");
    assert.equal(hashAlgorithmFor("0".repeat(40)), "sha1");
    assert.throws(() => hashAlgorithmFor("A".repeat(64)), InvalidInputError);
    assert.throws(() => hashAlgorithmFor("abc"), InvalidInputError);
  });
});

describe("cache verify", () => {
  let dir: string;
  let repo: WrittenRepo;

  beforeEach(async () => {
    dir = await makeTempDir("hubcache-verify-");
    repo = await writePythonRepo(dir, {
      repoType: "model",
      repoId: "org/v",
      revisions: [
        { commit: C1, refs: ["main"], files: [cfg, mb1, onnx] },
        { commit: C2, refs: ["refs/pr/1"], files: [cfg, mb2] },
      ],
    });
  });
  afterEach(() => removeTempDir(dir));

  const blob = (f: PyFile): string => path.join(repo.repoPath, "blobs", etagOf(f));

  test("a healthy repo verifies: every file of every revision, or one revision by ref or hash", async () => {
    const all = await verifyRepo({ runtime: rt, cacheDir: dir, repoType: "model", repo: "org/v", offline: true });
    assert.equal(all.healthy, true);
    assert.deepEqual(all.revisions, [C1, C2].sort());
    assert.equal(all.files.length, 5);
    assert.ok(all.files.every((f) => f.status === "ok"));
    assert.deepEqual(all.extra, []);
    const lfs = all.files.find((f) => f.path === "onnx/model.onnx")!;
    assert.equal(lfs.algorithm, "sha256");
    assert.equal(all.files.find((f) => f.path === "config.json")!.algorithm, "sha1");

    assert.deepEqual((await verifyRepo({ runtime: rt, cacheDir: dir, repoType: "model", repo: "org/v", offline: true, revision: "refs/pr/1" })).revisions, [C2]);
    assert.deepEqual((await verifyRepo({ runtime: rt, cacheDir: dir, repoType: "model", repo: "org/v", offline: true, revision: C1.toUpperCase() })).revisions, [C1]);
    await assert.rejects(verifyRepo({ runtime: rt, cacheDir: dir, repoType: "model", repo: "org/v", offline: true, revision: "nope" }), CacheError);
    await assert.rejects(verifyRepo({ runtime: rt, cacheDir: dir, repoType: "model", repo: "org/absent", offline: true }), CacheError);
    await assert.rejects(verifyRepo({ runtime: rt, cacheDir: dir, repoType: "model", repo: "../escape", offline: true }), InvalidInputError);
  });

  test("a flipped byte makes a blob damaged (sha256 and git sha1 alike)", async () => {
    for (const f of [mb1, cfg]) {
      const bytes = await fsp.readFile(blob(f));
      bytes[3] ^= 0x01;
      await fsp.writeFile(blob(f), bytes);
    }
    const report = await verifyRepo({ runtime: rt, cacheDir: dir, repoType: "model", repo: "org/v", offline: true });
    assert.equal(report.healthy, false);
    // cfg is in both revisions: reported once per revision, hashed once.
    assert.deepEqual(report.damaged.map((f) => `${f.commit === C1 ? 1 : 2}:${f.path}`).sort(), ["1:config.json", "1:model.bin", "2:config.json"]);
    const d = report.damaged.find((f) => f.path === "model.bin")!;
    assert.equal(d.expected, etagOf(mb1));
    assert.notEqual(d.actual, d.expected);
    assert.match(d.detail, /sha256 mismatch/);
  });

  test("a truncated blob is damaged; a missing blob (dangling pointer) is missing", async () => {
    await fsp.truncate(blob(onnx), 10);
    await fsp.unlink(blob(mb2));
    const report = await verifyRepo({ runtime: rt, cacheDir: dir, repoType: "model", repo: "org/v", offline: true });
    assert.equal(report.healthy, false);
    assert.deepEqual(report.damaged.map((f) => f.path), ["onnx/model.onnx"]);
    assert.equal(report.damaged[0].actualSize, 10);
    assert.deepEqual(report.missing.map((f) => [f.commit, f.path]), [[C2, "model.bin"]]);
    assert.equal(report.missing[0].blobPath, blob(mb2));
  });

  test("extra blobs and unknown files are reported by name; temp files are ignored but mentioned", async () => {
    const orphanBytes = "orphan content";
    const orphan = await writeRepoFile(repo.repoPath, `blobs/${gitBlobSha1(new TextEncoder().encode(orphanBytes))}`, orphanBytes);
    const junk = await writeRepoFile(repo.repoPath, "blobs/notes.txt", "?");
    await writeRepoFile(repo.repoPath, `blobs/${"e".repeat(64)}.partial`, "resume");
    await writeRepoFile(repo.repoPath, `blobs/${"e".repeat(64)}.incomplete`, "legacy");
    const report = await verifyRepo({ runtime: rt, cacheDir: dir, repoType: "model", repo: "org/v", offline: true });
    assert.equal(report.healthy, true);
    assert.deepEqual(report.extra.map((e) => e.path).sort(), [junk, orphan].sort());
    assert.match(report.extra.find((e) => e.path === orphan)!.reason, /linked by no snapshot/);
    assert.equal(report.tempFiles.length, 2);
    assert.ok(report.notes.some((n) => /2 temp file\(s\) ignored/.test(n)));
  });

  test("a no-symlink cache is checked against trees/<commit>.json, else reported unverifiable", async () => {
    const plain = await writePythonRepo(dir, {
      repoType: "dataset",
      repoId: "org/plain",
      symlinks: false,
      revisions: [
        { commit: C1, refs: ["main"], files: [cfg, mb1], tree: true },
        { commit: C2, refs: ["dev"], files: [cfg] }, // no tree listing
      ],
    });
    const ok = await verifyRepo({ runtime: rt, cacheDir: dir, repoType: "dataset", repo: "org/plain", offline: true, revision: "main" });
    assert.equal(ok.healthy, true);
    assert.deepEqual(ok.files.map((f) => [f.path, f.status, f.expected]), [
      ["config.json", "ok", etagOf(cfg)],
      ["model.bin", "ok", etagOf(mb1)],
    ]);
    const noTree = await verifyRepo({ runtime: rt, cacheDir: dir, repoType: "dataset", repo: "org/plain", offline: true, revision: "dev" });
    assert.deepEqual(noTree.files.map((f) => f.status), ["unverifiable"]);
    assert.equal(noTree.healthy, true);

    // Damage in a no-symlink copy, and a file the listing does not know.
    await fsp.appendFile(path.join(plain.repoPath, "snapshots", C1, "model.bin"), "!");
    await fsp.writeFile(path.join(plain.repoPath, "snapshots", C1, "user-notes.txt"), "mine");
    const bad = await verifyRepo({ runtime: rt, cacheDir: dir, repoType: "dataset", repo: "org/plain", offline: true, revision: C1 });
    assert.deepEqual(bad.damaged.map((f) => f.path), ["model.bin"]);
    assert.equal(bad.damaged[0].expectedSize, 100);
    assert.equal(bad.damaged[0].actualSize, 101);
    assert.deepEqual(bad.extra.map((e) => path.basename(e.path)), ["user-notes.txt"]);
  });

  test("a pointer to another blob than the tree listing names is damaged", async () => {
    // The listing says model.bin is mb2, the pointer targets mb1's (intact) blob.
    await writePythonTree(repo.repoPath, C1, [cfg, mb2, onnx]);
    const report = await verifyRepo({ runtime: rt, cacheDir: dir, repoType: "model", repo: "org/v", offline: true, revision: "main" });
    assert.deepEqual(report.damaged.map((f) => f.path), ["model.bin"]);
    assert.match(report.damaged[0].detail, /trees\/.*\.json lists/);
  });

  test("verify changes nothing on disk", async () => {
    await fsp.appendFile(blob(mb1), "corrupt");
    await writeRepoFile(repo.repoPath, `blobs/${"e".repeat(64)}.partial`, "resume");
    const before = await fingerprint(dir);
    await verifyRepo({ runtime: rt, cacheDir: dir, repoType: "model", repo: "org/v", offline: true });
    assert.deepEqual(await fingerprint(dir), before);
  });

  test("a blob removed together with its pointer while we verify is not damage", async () => {
    const pointer = path.join(repo.repoPath, "snapshots", C2, "model.bin");
    const racing: Runtime = {
      ...rt,
      fs: {
        ...rt.fs,
        async openRead(p: string) {
          if (p === blob(mb2)) {
            // A concurrent `cache rm` of C2: snapshot first, then the blob.
            await fsp.unlink(pointer);
            await fsp.unlink(blob(mb2));
          }
          return rt.fs.openRead(p);
        },
      },
    };
    const report = await verifyRepo({ runtime: racing, cacheDir: dir, repoType: "model", repo: "org/v", offline: true });
    assert.equal(report.healthy, true);
    assert.deepEqual(report.files.filter((f) => f.status === "vanished").map((f) => f.path), ["model.bin"]);
    assert.ok(report.notes.some((n) => /removed while verifying/.test(n)));
  });

  test("the CLI exits 0 when healthy, 1 on damage, with --json for scripts", async () => {
    const good = capture();
    assert.equal(await runCli(["cache", "verify", "org/v", "--cache-dir", dir], good.ctx), 0);
    assert.match(good.out.join("\n"), /Verified 5 file\(s\) of 2 revision\(s\) for 'org\/v' \(model\)/);
    assert.match(good.out.join("\n"), /All checksums match\./);

    await fsp.truncate(blob(cfg), 1);
    const badRun = capture();
    assert.equal(await runCli(["cache", "verify", "org/v", "--revision", "main", "--cache-dir", dir], badRun.ctx), 1);
    assert.match(badRun.out.join("\n"), /config\.json @ [0-9a-f]{40}: git-sha1 mismatch/);
    assert.match(badRun.err.join(""), /^hubcache: IntegrityError: 1 damaged and 0 missing file\(s\) in 'org\/v' \(model\)/);
    assert.equal(badRun.err.length, 1);

    const json = capture();
    assert.equal(await runCli(["cache", "verify", "org/v", "--json", "--cache-dir", dir], json.ctx), 1);
    const report = JSON.parse(json.out.join("\n")) as Record<string, unknown>;
    assert.equal(report.ok, false);
    assert.equal(report.checked_count, 5);
    assert.equal((report.mismatches as unknown[]).length, 2);

    const absent = capture();
    assert.equal(await runCli(["cache", "verify", "org/none", "--repo-type", "dataset", "--cache-dir", dir], absent.ctx), 1);
    assert.equal(absent.err.length, 1);
    assert.match(absent.err[0], /^hubcache: CacheError: dataset 'org\/none' is not in the cache/);
  });
});

describe("the cache tools work through the ports alone", () => {
  test("scan, verify, prune and rm run on the in-memory runtime", async () => {
    const mem = memoryRuntime({ pid: 100, hostname: "memhost" });
    const enc = new TextEncoder();
    const root = "/cache";
    const repoDir = `${root}/models--org--mem`;
    const bytes = enc.encode("x".repeat(100));
    const etag = createHash("sha256").update(bytes).digest("hex");
    await mem.fs.mkdirp(`${repoDir}/blobs`);
    await mem.fs.mkdirp(`${repoDir}/snapshots/${C1}`);
    await mem.fs.mkdirp(`${repoDir}/refs`);
    await mem.fs.writeFile(`${repoDir}/blobs/${etag}`, bytes);
    await mem.fs.symlink(`../../blobs/${etag}`, `${repoDir}/snapshots/${C1}/model.bin`);
    await mem.fs.writeFile(`${repoDir}/refs/main`, enc.encode(C1));
    // A temp of a dead writer (pid 7 is not alive in this runtime) and one of ourselves.
    await mem.fs.writeFile(`${repoDir}/blobs/${etag}.memhost-7-0123456789abcdef.incomplete`, enc.encode("dead"));
    await mem.fs.writeFile(`${repoDir}/blobs/${etag}.memhost-100-0123456789abcdef.incomplete`, enc.encode("live"));

    const info = await scanCache({ runtime: mem, cacheDir: root });
    assert.equal(info.repos[0].sizeOnDisk, 100);
    assert.deepEqual(info.tempFiles.map((t) => t.ownerState).sort(), ["alive", "dead"]);
    assert.equal((await verifyRepo({ runtime: mem, cacheDir: root, repoType: "model", repo: "org/mem", offline: true })).healthy, true);

    const pruned = await pruneCache({ runtime: mem, cacheDir: root });
    assert.deepEqual(pruned.removed.map((r) => r.path), [`${repoDir}/blobs/${etag}.memhost-7-0123456789abcdef.incomplete`]);
    assert.deepEqual((await mem.fs.readdir(`${repoDir}/blobs`)).sort(), [etag, `${etag}.memhost-100-0123456789abcdef.incomplete`].sort());

    await mem.fs.writeFile(`${repoDir}/blobs/${etag}`, enc.encode("y".repeat(100)));
    assert.equal((await verifyRepo({ runtime: mem, cacheDir: root, repoType: "model", repo: "org/mem", offline: true })).damaged.length, 1);

    const removal = await executeRemoval({ runtime: mem, plan: (await planRemoval({ runtime: mem, cacheDir: root, targets: ["org/mem"] })) });
    assert.equal(removal.freedBytes, 100);
    assert.deepEqual(await mem.fs.readdir(root), []);
  });
});

describe("cache verify of a revision without trees/<commit>.json (no-symlink caches the Python client writes)", () => {
  let fx: HubFixture;
  let commit: string;
  beforeEach(async () => {
    fx = await startHub();
    commit = fx.hub.createRepo("org/flat").commit(
      { "config.json": cfg.content as string, "model.bin": mb1.content as string },
      { lfs: ["model.bin"] },
    );
    await writePythonRepo(fx.cacheDir, {
      repoType: "model",
      repoId: "org/flat",
      symlinks: false,
      revisions: [{ commit, refs: ["main"], files: [cfg, mb1] }],
    });
  });
  afterEach(() => fx.close());
  const treeFile = (): string => path.join(fx.cacheDir, "models--org--flat", "trees", `${commit}.json`);

  test("offline it says which files it could not verify and exits 1", async () => {
    const c = capture();
    assert.equal(await runCli(["cache", "verify", "org/flat", "--offline", "--cache-dir", fx.cacheDir], c.ctx), 1);
    assert.match(c.out.join("\n"), /2 file\(s\) could not be verified/);
    assert.match(c.out.join("\n"), /config\.json @ [0-9a-f]{40}: no trees\/[0-9a-f]{40}\.json to tell its hash/);
    assert.match(c.errText(), /2 file\(s\) of 'org\/flat' \(model\) could not be verified .*without --offline/);
    assert.deepEqual(fx.hub.requests, []);
  });

  test("online it fetches the listing, caches it in trees/, checks every file and exits 0", async () => {
    const c = capture();
    assert.equal(await runCli(["cache", "verify", "org/flat", "--endpoint", fx.hub.endpoint, "--token", TOKEN, "--cache-dir", fx.cacheDir], c.ctx), 0, c.errText());
    assert.match(c.out.join("\n"), /Verified 2 file\(s\) of 1 revision\(s\)/);
    assert.match(c.out.join("\n"), /All checksums match\./);
    assert.match(c.out.join("\n"), /note: fetched the file listing/);
    assert.ok((await fsp.stat(treeFile())).isFile());
    // The listing is cached: a second run needs no request, and finds damage offline.
    fx.hub.clearRequests();
    await fsp.appendFile(path.join(fx.cacheDir, "models--org--flat", "snapshots", commit, "model.bin"), "!");
    const again = capture();
    assert.equal(await runCli(["cache", "verify", "org/flat", "--offline", "--cache-dir", fx.cacheDir], again.ctx), 1);
    assert.match(again.out.join("\n"), /model\.bin @ [0-9a-f]{40}: sha256 mismatch/);
    assert.deepEqual(fx.hub.requests, []);
  });

  test("online, when the Hub has no listing to give (the repo is gone), it says why and exits 1", async () => {
    await writePythonRepo(fx.cacheDir, {
      repoType: "model",
      repoId: "org/gone",
      symlinks: false,
      revisions: [{ commit, refs: ["main"], files: [cfg] }],
    });
    const c = capture();
    assert.equal(await runCli(["cache", "verify", "org/gone", "--endpoint", fx.hub.endpoint, "--token", TOKEN, "--cache-dir", fx.cacheDir], c.ctx), 1);
    assert.match(c.out.join("\n"), /note: could not fetch the file listing of [0-9a-f]{40}: .*org\/gone/);
    assert.match(c.errText(), /1 file\(s\) of 'org\/gone' \(model\) could not be verified/);
  });
});
