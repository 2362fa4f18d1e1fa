/**
 * `reuseLocalDirs` / `--reuse-local-dir DIR`: content that only a local directory holds is placed
 * into the cache and verified instead of fetched; anything the user changed, cut or linked away
 * is fetched instead, and nothing unverified is published (docs/DESIGN.md §Local directories).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { downloadSnapshot } from "../src/core/download/snapshot.ts";
import { InvalidInputError } from "../src/core/errors.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub, TOKEN } from "./_support/hub.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { finished, RUNTIMES, spawnCli } from "./_support/cli.ts";
import { pythonClient } from "./_support/python_client.ts";
import { currentRuntimeName } from "./_support/runtime.ts";

const WEIGHTS = bytes(1_200_000, 951);
const CONFIG = '{"layers": 3}';
const TOK = "t".repeat(7000);

/** File GETs (Hub resolve or CDN): what a reuse must bring to zero. HEADs are metadata. */
function gets(fx: HubFixture, path?: string): number {
  return fx.hub.requests.filter((r) => r.method === "GET" && !r.path.startsWith("/api/") && (path === undefined || r.filePath === path)).length;
}

/** Everything in a repo's blobs/ that is not a published blob. */
async function blobLeftovers(cacheDir: string, repoFolder: string): Promise<string[]> {
  return (await listDir(join(cacheDir, repoFolder, "blobs"))).filter((n) => n.includes("."));
}

const PAST = new Date(Date.now() - 3600_000);

describe("a cache download reuses content only a local directory holds", () => {
  let fx: HubFixture;
  let dir: string;
  let etag: string;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/reuse").commit({ "config.json": CONFIG, "weights/model.bin": WEIGHTS, "tok.txt": TOK });
    etag = fx.hub.repo("org/reuse").fileInfo("weights/model.bin").etag;
    dir = await makeTempDir("hubcache-reuse-");
    // A local dir filled by hubcache through another cache (which is then thrown away).
    const other = await makeTempDir("hubcache-cache-");
    await downloadSnapshot({ ...fx.base, cacheDir: other, repo: "org/reuse", localDir: dir });
    await removeTempDir(other);
  });
  after(async () => {
    await removeTempDir(dir);
    await fx.close();
  });

  /** A fresh cache, and a download of `path` into it reusing `from`. */
  async function intoFreshCache(from: string, path = "weights/model.bin", extra: Record<string, unknown> = {}): Promise<{ cacheDir: string; pointer: string }> {
    const cacheDir = await makeTempDir("hubcache-cache-");
    fx.hub.clearRequests();
    const pointer = await downloadFile({ ...fx.base, cacheDir, repo: "org/reuse", path, reuseLocalDirs: [from], ...extra });
    return { cacheDir, pointer };
  }

  test("a file missing from the cache is taken from the local dir: zero file GETs, a verified blob of its own inode", async () => {
    const { cacheDir, pointer } = await intoFreshCache(dir);
    try {
      assert.equal(gets(fx), 0, JSON.stringify(fx.hub.requests.map((r) => `${r.method} ${r.path}`)));
      assert.ok(sameBytes(await readBytes(pointer), WEIGHTS));
      const blob = join(cacheDir, "models--org--reuse", "blobs", etag);
      assert.ok(sameBytes(await readBytes(blob), WEIGHTS));
      assert.notEqual((await fsp.stat(blob)).ino, (await fsp.stat(join(dir, "weights", "model.bin"))).ino, "the blob is not the user's editable file");
      assert.deepEqual(await blobLeftovers(cacheDir, "models--org--reuse"), []);
      // refs/main was written as for any download.
      assert.equal(await fsp.readFile(join(cacheDir, "models--org--reuse", "refs", "main"), "utf8"), fx.hub.repo("org/reuse").fileInfo("config.json").commit);
    } finally {
      await removeTempDir(cacheDir);
    }
  });

  test("even with hardLinks the blob is never the local file's inode (an edit in place would corrupt the cache)", async () => {
    const { cacheDir } = await intoFreshCache(dir, "weights/model.bin", { hardLinks: true, symlinks: "never" });
    try {
      assert.equal(gets(fx), 0);
      assert.equal((await fsp.stat(join(dir, "weights", "model.bin"))).nlink, 1);
    } finally {
      await removeTempDir(cacheDir);
    }
  });

  test("a whole repo (a regular git file included) with zero file GETs", async () => {
    const cacheDir = await makeTempDir("hubcache-cache-");
    try {
      fx.hub.clearRequests();
      const snap = await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/reuse", reuseLocalDirs: [dir] });
      assert.equal(gets(fx), 0);
      assert.equal(await fsp.readFile(join(snap, "config.json"), "utf8"), CONFIG);
      assert.equal(await fsp.readFile(join(snap, "tok.txt"), "utf8"), TOK);
      assert.ok(sameBytes(await readBytes(join(snap, "weights", "model.bin")), WEIGHTS));
      assert.deepEqual(await blobLeftovers(cacheDir, "models--org--reuse"), []);
    } finally {
      await removeTempDir(cacheDir);
    }
  });

  /** A copy of the filled local dir that a test may damage. */
  async function scratchCopy(): Promise<string> {
    const copy = await makeTempDir("hubcache-reuse-copy-");
    await fsp.cp(dir, copy, { recursive: true, preserveTimestamps: true });
    return copy;
  }

  test("a file the user edited after its metadata (same size, newer mtime) is not used: fetched, and the local file left alone", async () => {
    const copy = await scratchCopy();
    const local = join(copy, "weights", "model.bin");
    const edited = new Uint8Array(WEIGHTS);
    edited[500] ^= 0xff;
    await fsp.writeFile(local, edited);
    await fsp.utimes(local, new Date(Date.now() + 5000), new Date(Date.now() + 5000));
    const { cacheDir, pointer } = await intoFreshCache(copy);
    try {
      assert.equal(gets(fx, "weights/model.bin"), 1);
      assert.ok(sameBytes(await readBytes(pointer), WEIGHTS));
      assert.ok(sameBytes(await readBytes(local), edited));
    } finally {
      await removeTempDir(cacheDir);
      await removeTempDir(copy);
    }
  });

  test("an edit hidden from the mtime rule (mtime set back before the record) fails verification: fetched, never published", async () => {
    const copy = await scratchCopy();
    const local = join(copy, "weights", "model.bin");
    const edited = new Uint8Array(WEIGHTS);
    edited[WEIGHTS.length - 1] ^= 0xff;
    await fsp.writeFile(local, edited);
    await fsp.utimes(local, PAST, PAST);
    const { cacheDir, pointer } = await intoFreshCache(copy);
    try {
      assert.equal(gets(fx, "weights/model.bin"), 1);
      assert.ok(sameBytes(await readBytes(pointer), WEIGHTS));
      assert.deepEqual(await blobLeftovers(cacheDir, "models--org--reuse"), []);
    } finally {
      await removeTempDir(cacheDir);
      await removeTempDir(copy);
    }
  });

  test("a truncated local file is not used", async () => {
    const copy = await scratchCopy();
    const local = join(copy, "weights", "model.bin");
    await fsp.truncate(local, 1000);
    await fsp.utimes(local, PAST, PAST);
    const { cacheDir, pointer } = await intoFreshCache(copy);
    try {
      assert.equal(gets(fx, "weights/model.bin"), 1);
      assert.ok(sameBytes(await readBytes(pointer), WEIGHTS));
    } finally {
      await removeTempDir(cacheDir);
      await removeTempDir(copy);
    }
  });

  test("a local file (or a folder on its way) replaced by a symlink out of DIR is not followed, even to the right bytes", async () => {
    for (const linkAt of ["file", "folder"] as const) {
      const copy = await scratchCopy();
      const outside = await makeTempDir("hubcache-outside-");
      await fsp.writeFile(join(outside, "model.bin"), WEIGHTS);
      await fsp.utimes(join(outside, "model.bin"), PAST, PAST);
      if (linkAt === "file") {
        await fsp.rm(join(copy, "weights", "model.bin"));
        await fsp.symlink(join(outside, "model.bin"), join(copy, "weights", "model.bin"));
      } else {
        await fsp.rm(join(copy, "weights"), { recursive: true });
        await fsp.symlink(outside, join(copy, "weights"));
      }
      const { cacheDir, pointer } = await intoFreshCache(copy);
      try {
        assert.equal(gets(fx, "weights/model.bin"), 1, `a symlinked ${linkAt} was read`);
        assert.ok(sameBytes(await readBytes(pointer), WEIGHTS));
      } finally {
        await removeTempDir(cacheDir);
        await removeTempDir(copy);
        await removeTempDir(outside);
      }
    }
  });

  test("a record naming another etag, or no record, is not used", async () => {
    const copy = await scratchCopy();
    const record = join(copy, ".cache", "huggingface", "download", "weights", "model.bin.metadata");
    const [c, , t] = (await fsp.readFile(record, "utf8")).split("\n");
    await fsp.writeFile(record, `${c}\n${"a".repeat(64)}\n${t}\n`);
    await fsp.utimes(join(copy, "weights", "model.bin"), PAST, PAST);
    try {
      const first = await intoFreshCache(copy);
      assert.equal(gets(fx, "weights/model.bin"), 1);
      await removeTempDir(first.cacheDir);
      await fsp.rm(record);
      const second = await intoFreshCache(copy);
      assert.equal(gets(fx, "weights/model.bin"), 1);
      await removeTempDir(second.cacheDir);
    } finally {
      await removeTempDir(copy);
    }
  });

  test("reuseLocalDirs with localDir is refused (it feeds the cache)", async () => {
    await assert.rejects(
      downloadFile({ ...fx.base, repo: "org/reuse", path: "config.json", localDir: dir, reuseLocalDirs: [dir] }),
      InvalidInputError,
    );
  });

  test("racing processes with the lock off, some reusing the local dir and one fetching: one exact blob, no temp file left", async () => {
    const cacheDir = await makeTempDir("hubcache-cache-");
    try {
      fx.hub.clearRequests();
      fx.hub.throttle(8_000_000);
      const common = ["download", "org/reuse", "weights/model.bin", "--endpoint", fx.hub.endpoint, "--cache-dir", cacheDir, "--token", TOKEN, "--quiet", "--lock", "none"];
      const runs = await Promise.all([
        ...RUNTIMES.map((rt) => finished(spawnCli(rt, [...common, "--reuse-local-dir", dir]))),
        finished(spawnCli(currentRuntimeName(), common)),
        downloadFile({ ...fx.base, cacheDir, repo: "org/reuse", path: "weights/model.bin", reuseLocalDirs: [dir], lock: "none" }),
      ]);
      for (const run of runs.slice(0, -1)) {
        if (typeof run === "string") continue;
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stdout.trim(), join(cacheDir, "models--org--reuse", "snapshots", fx.hub.repo("org/reuse").fileInfo("config.json").commit, "weights", "model.bin"));
      }
      assert.ok(gets(fx, "weights/model.bin") <= 1, "only the writer without --reuse-local-dir fetched");
      assert.ok(sameBytes(await readBytes(join(cacheDir, "models--org--reuse", "blobs", etag)), WEIGHTS));
      assert.deepEqual(await blobLeftovers(cacheDir, "models--org--reuse"), []);
    } finally {
      fx.hub.throttle(null);
      await removeTempDir(cacheDir);
    }
  });
});

const py = await pythonClient();

describe("a local dir written by the real `hf download --local-dir` is reused", { skip: py.skip }, () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/pyreuse").commit({ "config.json": CONFIG, "weights/model.bin": WEIGHTS, "tok.txt": TOK });
  });
  after(() => fx.close());

  test("hf download --local-dir, then hubcache into an empty cache: zero file GETs, the snapshot exact", async () => {
    assert.ok(py.available);
    const dir = await makeTempDir("hubcache-reuse-py-");
    const cacheDir = await makeTempDir("hubcache-cache-");
    try {
      const run = await py.client.runHf(["download", "org/pyreuse", "--local-dir", dir], py.client.env(fx.hub.endpoint, fx.cacheDir));
      assert.equal(run.code, 0, run.stderr);
      fx.hub.clearRequests();
      const snap = await downloadSnapshot({ ...fx.base, cacheDir, repo: "org/pyreuse", reuseLocalDirs: [dir] });
      assert.equal(gets(fx), 0, JSON.stringify(fx.hub.requests.map((r) => `${r.method} ${r.path}`)));
      assert.ok(sameBytes(await readBytes(join(snap, "weights", "model.bin")), WEIGHTS));
      assert.equal(await fsp.readFile(join(snap, "tok.txt"), "utf8"), TOK);
    } finally {
      await removeTempDir(dir);
      await removeTempDir(cacheDir);
    }
  });
});
