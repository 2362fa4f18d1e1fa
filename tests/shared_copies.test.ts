/**
 * No second copy, no second download: content already on disk is placed by reflink (a real XFS
 * with reflink=1, loop-mounted), else hard link (opt-in for local directories), else copy; the
 * scan counts shared inodes once and `cache rm` stays correct with linked files.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { downloadSnapshot } from "../src/core/download/snapshot.ts";
import { scanCache } from "../src/core/manage/scan.ts";
import { executeRemoval, planRemoval } from "../src/core/manage/remove.ts";
import { verifyRepo } from "../src/core/manage/verify.ts";
import { bytes, type HubFixture, readBytes, sameBytes, startHub } from "./_support/hub.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { currentRuntimeName, testRuntime } from "./_support/runtime.ts";
import { mountReflinkFs, type ReflinkFs } from "./_support/xfs.ts";

const MB = 1024 * 1024;
const WEIGHTS = bytes(24 * MB, 991);
const EXTRA = bytes(4 * MB, 992);
const REPO_BYTES = WEIGHTS.length + EXTRA.length + 2;

function fileGets(fx: HubFixture): number {
  return fx.hub.requests.filter((r) => r.method === "GET" && !r.path.startsWith("/api/")).length;
}

describe("reflinks on a copy-on-write file system (XFS, reflink=1)", () => {
  let fx: HubFixture;
  let xfs: ReflinkFs;
  let c1: string;
  let c2: string;
  before(async () => {
    xfs = await mountReflinkFs();
    fx = await startHub();
    const repo = fx.hub.createRepo("org/cow");
    c1 = repo.commit({ "model.bin": WEIGHTS, "extra.bin": EXTRA, "c.json": "{}" });
    c2 = repo.commit({ "notes.txt": "n" });
  });
  after(async () => {
    await fx?.close();
    await xfs?.close();
  });

  test("a repo already in the cache materialises into a local dir with zero bytes fetched and < 1% disk growth", async () => {
    const cacheDir = join(xfs.mount, "cache");
    await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/cow", revision: c1 });
    const before = xfs.usedBytes();
    fx.hub.clearRequests();
    const dir = await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/cow", revision: c1, localDir: join(xfs.mount, "local") });
    const grown = xfs.usedBytes() - before;
    assert.equal(fileGets(fx), 0);
    assert.ok(sameBytes(await readBytes(join(dir, "model.bin")), WEIGHTS));
    assert.ok((await fsp.lstat(join(dir, "model.bin"))).isFile());
    console.error(`[reflink] local dir of ${REPO_BYTES} bytes from the cache grew the disk by ${grown} bytes (${(100 * grown / REPO_BYTES).toFixed(2)}%)`);
    assert.ok(grown < REPO_BYTES / 100, `the disk grew by ${grown} bytes for a ${REPO_BYTES}-byte repo`);
    // A reflink is a separate file: editing it leaves the cache intact.
    await fsp.appendFile(join(dir, "extra.bin"), "x");
    assert.equal((await verifyRepo({ ...fx.base, cacheDir, repo: "org/cow" })).healthy, true);
  });

  test("a no-symlink cache places an existing blob by reflink: < 1% disk growth", async () => {
    const cacheDir = join(xfs.mount, "cache");
    const before = xfs.usedBytes();
    fx.hub.clearRequests();
    const snap = await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/cow", revision: c2, symlinks: "never" });
    const grown = xfs.usedBytes() - before;
    assert.equal(fileGets(fx), 1, "only the new notes.txt");
    assert.ok((await fsp.lstat(join(snap, "model.bin"))).isFile());
    assert.ok(sameBytes(await readBytes(join(snap, "model.bin")), WEIGHTS));
    console.error(`[reflink] a no-symlink snapshot of ${REPO_BYTES} bytes over existing blobs grew the disk by ${grown} bytes`);
    assert.ok(grown < REPO_BYTES / 100, `the disk grew by ${grown} bytes`);
  });

  test("an empty cache reusing the local dir (--reuse-local-dir) gets its files by reflink; the file the user edited is fetched", async () => {
    // The local dir of the first test, whose extra.bin the user appended to: only it is fetched.
    const cacheDir = join(xfs.mount, "cache-reuse");
    const before = xfs.usedBytes();
    fx.hub.clearRequests();
    const snap = await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/cow", revision: c1, reuseLocalDirs: [join(xfs.mount, "local")] });
    const grown = xfs.usedBytes() - before;
    // (A snapshot's file GET goes to the Hub, which redirects it to the CDN: two requests per file.)
    assert.deepEqual([...new Set(fx.hub.requests.filter((r) => r.method === "GET" && !r.path.startsWith("/api/")).map((r) => r.filePath))], ["extra.bin"]);
    assert.ok(sameBytes(await readBytes(join(snap, "model.bin")), WEIGHTS));
    assert.ok(sameBytes(await readBytes(join(snap, "extra.bin")), EXTRA));
    console.error(`[reflink] a cache from a local dir (${WEIGHTS.length + 2} bytes reused, ${EXTRA.length} fetched) grew the disk by ${grown} bytes`);
    assert.ok(grown < EXTRA.length + REPO_BYTES / 100, `the disk grew by ${grown} bytes`);
    // Editing the user's file afterwards leaves the cache's blob intact (separate inodes).
    await fsp.appendFile(join(xfs.mount, "local", "model.bin"), "x");
    assert.equal((await verifyRepo({ ...fx.base, cacheDir, repo: "org/cow" })).healthy, true);
  });
});

describe("the running runtime's clone promises a reflink or fails (Deno: the FICLONE ioctl through FFI)", () => {
  let xfs: ReflinkFs;
  before(async () => {
    xfs = await mountReflinkFs();
  });
  after(async () => {
    await xfs?.close();
  });

  test("on XFS a clone shares extents (no disk growth) and is a separate file; elsewhere it fails with a code and leaves nothing", async () => {
    const { fs } = testRuntime();
    assert.ok(fs.clone, `${currentRuntimeName()}: the adapter offers no clone`);
    const src = join(xfs.mount, "clone-src.bin");
    const data = bytes(8 * MB, 994);
    await fsp.writeFile(src, data);
    const before = xfs.usedBytes();
    await fs.clone(src, join(xfs.mount, "clone-dst.bin"));
    const grown = xfs.usedBytes() - before;
    console.error(`[reflink] ${currentRuntimeName()} clone of ${data.length} bytes grew the disk by ${grown} bytes`);
    assert.ok(grown < MB, `the disk grew by ${grown} bytes: a copy, not a reflink`);
    assert.ok(sameBytes(await readBytes(join(xfs.mount, "clone-dst.bin")), data));
    await fsp.appendFile(join(xfs.mount, "clone-dst.bin"), "x");
    assert.ok(sameBytes(await readBytes(src), data), "writing the clone changed its source");
    await assert.rejects(fs.clone(src, join(xfs.mount, "clone-dst.bin")), { code: "EEXIST" });
    // Another file system: a reflink is impossible (EXDEV), and no file may be left behind.
    const elsewhere = await makeTempDir("hubcache-clone-");
    try {
      const err = await fs.clone(src, join(elsewhere, "x.bin")).then(() => null, (e: { code?: string }) => e);
      assert.ok(err !== null && ["EXDEV", "ENOTSUP", "EINVAL"].includes(err.code ?? ""), `expected EXDEV, got ${String(err?.code)}`);
      await assert.rejects(fsp.lstat(join(elsewhere, "x.bin")), { code: "ENOENT" });
    } finally {
      await removeTempDir(elsewhere);
    }
  });
});

describe("hard links where reflinks are unavailable", () => {
  let fx: HubFixture;
  let c1: string;
  let c2: string;
  const small = bytes(300_000, 993);
  before(async () => {
    fx = await startHub();
    const repo = fx.hub.createRepo("org/hl");
    c1 = repo.commit({ "w.bin": small });
    c2 = repo.commit({ "x.txt": "x" });
  });
  after(() => fx.close());

  test("local dir: a copy by default (editing it leaves the cache alone), one inode with --hard-links", async () => {
    const cacheDir = await makeTempDir("hubcache-hl-");
    try {
      const blob = await fsp.realpath(await downloadFile({ ...fx.base, cacheDir, repo: "org/hl", path: "w.bin" }));
      const copied = await downloadFile({ ...fx.base, cacheDir, repo: "org/hl", path: "w.bin", localDir: join(cacheDir, "..", `${cacheDir.split("/").pop()}-a`) });
      const linked = await downloadFile({ ...fx.base, cacheDir, repo: "org/hl", path: "w.bin", localDir: join(cacheDir, "..", `${cacheDir.split("/").pop()}-b`), hardLinks: true });
      const ino = async (p: string): Promise<number> => (await fsp.stat(p)).ino;
      assert.equal(await ino(linked), await ino(blob), "--hard-links: the local file is the cache's blob");
      // On file systems with reflinks the default is a reflink (a different inode); here (ext4, tmpfs) a copy.
      assert.notEqual(await ino(copied), await ino(blob));
      assert.ok(sameBytes(await readBytes(linked), small) && sameBytes(await readBytes(copied), small));
      await fsp.rm(join(cacheDir, "..", `${cacheDir.split("/").pop()}-a`), { recursive: true });
      await fsp.rm(join(cacheDir, "..", `${cacheDir.split("/").pop()}-b`), { recursive: true });
    } finally {
      await removeTempDir(cacheDir);
    }
  });

  test("no-symlink cache: an existing blob becomes the snapshot file by hard link; the scan counts it once; cache rm keeps the other revision whole", async () => {
    const cacheDir = await makeTempDir("hubcache-hl-");
    try {
      await downloadFile({ ...fx.base, cacheDir, repo: "org/hl", path: "w.bin", revision: c1 });
      const snap2 = await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/hl", revision: c2, symlinks: "never" });
      const blob = join(cacheDir, "models--org--hl", "blobs", fx.hub.repo("org/hl").fileInfo("w.bin").etag);
      assert.equal((await fsp.stat(join(snap2, "w.bin"))).ino, (await fsp.stat(blob)).ino, "placed by hard link");
      const info = await scanCache({ runtime: fx.runtime, cacheDir });
      assert.equal(info.repos[0].sizeOnDisk, small.length + 1, "the shared inode is counted once");
      const plan = await planRemoval({ runtime: fx.runtime, cacheDir, targets: [c1] });
      await executeRemoval({ runtime: fx.runtime, plan });
      assert.ok(sameBytes(await readBytes(join(snap2, "w.bin")), small), "the other revision's file survives the blob's removal");
      assert.equal((await verifyRepo({ ...fx.base, cacheDir, repo: "org/hl" })).healthy, true);
    } finally {
      await removeTempDir(cacheDir);
    }
  });
});
