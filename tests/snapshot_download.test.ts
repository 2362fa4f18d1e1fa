import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadSnapshot, type SnapshotProgress } from "../src/core/download/snapshot.ts";
import { nextLink } from "../src/core/hub/listing.ts";
import { OfflineCacheMissError, SnapshotIncompleteError, UnsafeResponseError } from "../src/core/errors.ts";
import { filterPaths, globToRegExp } from "../src/core/download/patterns.ts";
import { runCli } from "../src/cli/main.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub, TOKEN } from "./_support/hub.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { currentRuntimeName, testRuntime } from "./_support/runtime.ts";
import { runCliProcess } from "./_support/cli.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const FILES: Record<string, Uint8Array | string> = {
  "config.json": '{"model":"x"}',
  "tokenizer.json": '{"v":1}',
  "model.safetensors": bytes(1_500_000, 1),
  "onnx/model.onnx": bytes(700_000, 2),
  "onnx/extra/aux.bin": bytes(3000, 3),
  "README.md": "# readme\n",
  "dup-a.bin": bytes(50_000, 4),
  "dup-b.bin": bytes(50_000, 4),
};

describe("downloadSnapshot", () => {
  let fx: HubFixture;
  let commit: string;
  before(async () => {
    fx = await startHub({ pageSize: 3 });
    commit = fx.hub.createRepo("org/snap").commit(FILES);
  });
  after(() => fx.close());
  const snap = (): string => join(fx.cacheDir, "models--org--snap", "snapshots", commit);

  test("downloads every file through paginated tree listings and returns the snapshot folder", async () => {
    const progress: SnapshotProgress[] = [];
    const dir = await downloadSnapshot({ ...fx.base, repo: "org/snap", concurrency: 3, onProgress: (p) => progress.push(p) });
    assert.equal(dir, snap());
    for (const [path, content] of Object.entries(FILES)) {
      const expected = typeof content === "string" ? new TextEncoder().encode(content) : content;
      assert.ok(sameBytes(await readBytes(join(dir, path)), expected), path);
    }
    const trees = fx.hub.requests.filter((r) => r.path.includes("/tree/"));
    assert.ok(trees.length >= 3, `pagination: ${trees.length} pages`);
    const last = progress.at(-1)!;
    assert.equal(last.phase, "done");
    assert.equal(last.filesDone, Object.keys(FILES).length);
    assert.equal(last.bytesDone, last.bytesTotal);
    assert.equal(await fsp.readFile(join(fx.cacheDir, "models--org--snap", "refs", "main"), "utf8"), commit);
  });

  test("writes trees/<commit>.json in the Python client's format", async () => {
    const tree = JSON.parse(await fsp.readFile(join(fx.cacheDir, "models--org--snap", "trees", `${commit}.json`), "utf8"));
    assert.equal(tree.format_version, 1);
    assert.deepEqual(Object.keys(tree.files), Object.keys(FILES).sort());
    const lfs = fx.hub.repo("org/snap").fileInfo("model.safetensors");
    assert.deepEqual(tree.files["model.safetensors"], { size: 1_500_000, blob_id: lfs.gitSha1, lfs_sha256: lfs.sha256, lfs_size: 1_500_000 });
    assert.deepEqual(tree.files["config.json"], { size: 13, blob_id: fx.hub.repo("org/snap").fileInfo("config.json").gitSha1 });
    const raw = await fsp.readFile(join(fx.cacheDir, "models--org--snap", "trees", `${commit}.json`), "utf8");
    assert.match(raw, /^\{\n "format_version": 1,\n "files": \{\n  "README\.md": \{\n   "size": 9,/);
  });

  test("a second run reuses everything: no file body is requested again, the tree comes from trees/", async () => {
    fx.hub.clearRequests();
    await downloadSnapshot({ ...fx.base, repo: "org/snap" });
    assert.deepEqual(fx.hub.requests.map((r) => r.path).filter((p) => !p.startsWith("/api/models/org/snap/revision/")), []);
  });

  test("include/exclude follow the Python client's fnmatch rules", async () => {
    assert.ok(globToRegExp("*.json").test("sub/x.json"), "* crosses /");
    assert.ok(globToRegExp("onnx/").test("onnx/extra/aux.bin"), "a trailing / means the folder");
    assert.deepEqual(filterPaths(Object.keys(FILES), ["*.json", "onnx/*"], ["tokenizer*"]).sort(), ["config.json", "onnx/extra/aux.bin", "onnx/model.onnx"]);
    const cache = await makeTempDir("hubcache-snap-");
    try {
      const dir = await downloadSnapshot({ ...fx.base, cacheDir: cache, repo: "org/snap", include: ["*.json"], exclude: ["tokenizer.json"] });
      assert.deepEqual(await listDir(dir), ["config.json"]);
    } finally {
      await removeTempDir(cache);
    }
  });

  test("offline: the snapshot is answered from refs/ and trees/; missing requested files are named", async () => {
    fx.hub.clearRequests();
    assert.equal(await downloadSnapshot({ ...fx.base, repo: "org/snap", offline: true }), snap());
    assert.equal(fx.hub.requests.length, 0);
    const cache = await makeTempDir("hubcache-snap-");
    try {
      await downloadSnapshot({ ...fx.base, cacheDir: cache, repo: "org/snap", include: ["*.json"] });
      const err = await downloadSnapshot({ ...fx.base, cacheDir: cache, repo: "org/snap", offline: true }).catch((e) => e);
      assert.ok(err instanceof OfflineCacheMissError, String(err));
      assert.match(err.message, /model\.safetensors/);
      assert.doesNotMatch(err.message, /config\.json/);
      assert.equal(await downloadSnapshot({ ...fx.base, cacheDir: cache, repo: "org/snap", offline: true, include: ["*.json"] }), snap().replace(fx.cacheDir, cache));
    } finally {
      await removeTempDir(cache);
    }
  });

  test("one failing file fails the whole download, names it, lets the others finish, leaves no temp file; refs/main is not moved", async () => {
    const cache = await makeTempDir("hubcache-snap-");
    try {
      const repo = fx.hub.createRepo("org/partial-fail");
      const first = repo.commit({ "ok.txt": "ok" });
      await downloadSnapshot({ ...fx.base, cacheDir: cache, repo: "org/partial-fail" });
      repo.commit({ "good1.bin": bytes(200_000, 7), "good2.bin": bytes(200_000, 8), "bad.bin": bytes(200_000, 9) });
      fx.hub.injectFault({ kind: "corrupt", offset: 5, times: 10, match: { path: "bad.bin" } });
      const err = await downloadSnapshot({ ...fx.base, cacheDir: cache, repo: "org/partial-fail", concurrency: 2 }).catch((e) => e);
      fx.hub.clearFaults();
      assert.ok(err instanceof SnapshotIncompleteError, String(err));
      assert.match(err.message, /bad\.bin/);
      assert.equal(err.failures.length, 1);
      assert.equal(await fsp.readFile(join(cache, "models--org--partial-fail", "refs", "main"), "utf8"), first);
      const blobs = await listDir(join(cache, "models--org--partial-fail", "blobs"));
      assert.deepEqual(blobs.filter((n) => n.includes(".")), []);
      const dir = await downloadSnapshot({ ...fx.base, cacheDir: cache, repo: "org/partial-fail" });
      assert.deepEqual(await listDir(dir), ["bad.bin", "good1.bin", "good2.bin", "ok.txt"]);
    } finally {
      await removeTempDir(cache);
    }
  });

  test("CLI: `download <repo>` prints the snapshot folder as its only stdout line, with a summary on stderr", async () => {
    const out: string[] = [];
    let err = "";
    const code = await runCli(["download", "org/snap", "--endpoint", fx.hub.endpoint, "--cache-dir", fx.cacheDir, "--token", TOKEN, "--include", "*.md"], {
      runtime: fx.runtime,
      stdout: (l) => out.push(l),
      stderr: (t) => (err += t),
      stderrIsTTY: false,
      signal: new AbortController().signal,
    });
    assert.equal(code, 0, err);
    assert.deepEqual(out, [snap()]);
    assert.match(err, /org\/snap: 1 files .*already cached/);
  });

  test("Link headers: rel=next is found among several links", () => {
    assert.equal(nextLink('<https://a/x?c=1>; rel="prev", <https://a/x?c=3>; rel="next"'), "https://a/x?c=3");
    assert.equal(nextLink('<https://a/x>; rel="last"'), null);
    assert.equal(nextLink(null), null);
  });
});

describe("downloadSnapshot refuses hostile tree listings", () => {
  for (const [name, entry] of [
    ["a path escaping the cache", { type: "file", path: "../../../etc/cron.d/x", size: 1, oid: "a".repeat(40) }],
    ["an absolute path", { type: "file", path: "/etc/passwd", size: 1, oid: "a".repeat(40) }],
    ["an oid with path characters", { type: "file", path: "ok.txt", size: 1, oid: "../../x" }],
    ["an LFS oid that is not sha256", { type: "file", path: "ok.bin", size: 1, oid: "a".repeat(40), lfs: { oid: "nothex", size: 1 } }],
  ] as const) {
    test(`${name} → UnsafeResponse, nothing written`, async () => {
      const cacheDir = await makeTempDir("hubcache-hostile-tree-");
      const server = createServer((req, res) => {
        if (req.url?.includes("/revision/")) {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ id: "org/x", sha: "c".repeat(40), siblings: [] }));
        } else {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify([entry]));
        }
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      try {
        const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const err = await downloadSnapshot({ runtime: testRuntime(), cacheDir, endpoint, repo: "org/x", maxAttempts: 1 }).catch((e) => e);
        assert.ok(err instanceof UnsafeResponseError, String(err));
        assert.deepEqual(await listDir(join(cacheDir, "models--org--x", "snapshots")), []);
      } finally {
        server.closeAllConnections?.();
        await new Promise((r) => server.close(r));
        await removeTempDir(cacheDir);
      }
    });
  }
});

describe("downloadSnapshot of many files", () => {
  test("files published at once share blobs/ fsyncs, each one started after its rename: a power cut right after keeps every blob", async () => {
    const fx = await startHub();
    try {
      const files: Record<string, Uint8Array> = {};
      for (let i = 0; i < 40; i++) files[`data/part-${i}.bin`] = bytes(3000, 200 + i);
      fx.hub.createRepo("org/parts").commit(files);
      const memory = memoryRuntime({ timers: "real" });
      const blobs = "/cache/models--org--parts/blobs";
      // A directory fsync that takes a while after it has captured the entries (as a disk
      // flush does), so publishers overlap with a sync that cannot include their renames.
      const syncDir = memory.fs.syncDir.bind(memory.fs);
      let blobSyncs = 0;
      memory.fs.syncDir = async (path: string) => {
        await syncDir(path);
        if (path === blobs) blobSyncs++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      };
      // When a publisher's sync returns ("renamed"), a power cut must keep its blob: so the k-th
      // publication finds at least k blobs that survive one.
      let published = 0;
      const shortfalls: string[] = [];
      const runtime = {
        ...memory,
        checkpoint: async (name: string) => {
          if (name !== "renamed") return;
          published++;
          const survivors = (await memory.fs.crash().readdir(blobs)).filter((n) => !n.includes(".")).length;
          if (survivors < published) shortfalls.push(`publication ${published}: ${survivors} blobs survive a power cut`);
        },
      };
      await downloadSnapshot({ runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/parts", concurrency: 8 });
      const etags = (await runtime.fs.readdir(blobs)).sort();
      assert.equal(etags.length, 40);
      assert.equal(published, 40);
      assert.deepEqual(shortfalls, []);
      assert.ok(blobSyncs < 40, `40 publications shared ${blobSyncs} fsyncs of blobs/`);
    } finally {
      await fx.close();
    }
  });
});

describe("downloadSnapshot's per-file work", () => {
  test("asks the platform for its host name and pid once, not once per file (each is a system call on Node)", async () => {
    const fx = await startHub();
    try {
      const files: Record<string, Uint8Array> = {};
      for (let i = 0; i < 20; i++) files[`data/shard-${i}.bin`] = bytes(2000, 300 + i);
      fx.hub.createRepo("org/identity").commit(files);
      const memory = memoryRuntime({ timers: "real" });
      const asked = { hostname: 0, pid: 0 };
      const platform = {
        ...memory.platform,
        hostname: () => (asked.hostname++, memory.platform.hostname()),
        pid: () => (asked.pid++, memory.platform.pid()),
      };
      const runtime = { ...memory, platform };
      await downloadSnapshot({ runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/identity", concurrency: 4 });
      // Every one of the 20 files still got its own temp file and lock, named after its writer.
      assert.equal((await runtime.fs.readdir("/cache/models--org--identity/blobs")).length, 20);
      assert.deepEqual(asked, { hostname: 1, pid: 1 });
    } finally {
      await fx.close();
    }
  });
});

describe("the CLI with many files in flight", () => {
  test("--concurrency 16 prints no MaxListenersExceededWarning: every file in flight listens on the CLI's one abort signal", async () => {
    const fx = await startHub();
    try {
      const files: Record<string, Uint8Array> = {};
      for (let i = 0; i < 32; i++) files[`data/shard-${i}.bin`] = bytes(2000, 500 + i);
      fx.hub.createRepo("org/wide").commit(files);
      const run = await runCliProcess(currentRuntimeName(), [
        "download", "org/wide", "--endpoint", fx.hub.endpoint, "--token", TOKEN, "--cache-dir", fx.cacheDir, "--quiet", "--concurrency", "16",
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal((await fsp.readdir(join(fx.cacheDir, "models--org--wide", "blobs"))).length, 32);
      assert.doesNotMatch(run.stderr, /MaxListenersExceeded|memory leak/, run.stderr);
    } finally {
      await fx.close();
    }
  });
});

describe("downloadSnapshot's look for pointers already in place", () => {
  test("one listing of the snapshot's folder replaces a failing stat per fresh file; a second run still finds every file cached", async () => {
    const fx = await startHub();
    try {
      const files: Record<string, Uint8Array> = {};
      for (let i = 0; i < 20; i++) files[`data/shard-${i}.bin`] = bytes(2000, 400 + i);
      const commit = fx.hub.createRepo("org/pointers").commit(files);
      const runtime = memoryRuntime({ timers: "real" });
      const common = { runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/pointers", concurrency: 4 };
      const snapshot = `/cache/models--org--pointers/snapshots/${commit}`;
      const looks = { stat: 0, readdir: 0 };
      runtime.fs.beforeOp = (op, paths) => {
        if (op === "stat" && paths[0]!.startsWith(`${snapshot}/data/`)) looks.stat++;
        if (op === "readdir" && paths[0]!.startsWith(snapshot)) looks.readdir++;
      };
      await downloadSnapshot(common);
      // Left: the two looks at every pointer around the move of refs/main (a prune between them).
      assert.deepEqual(looks, { stat: 40, readdir: 1 });
      looks.stat = looks.readdir = 0;
      fx.hub.clearRequests();
      await downloadSnapshot(common);
      runtime.fs.beforeOp = undefined;
      assert.deepEqual(fx.hub.requests.filter((r) => r.path.includes("/resolve/")), [], "every file found in place");
      assert.deepEqual(looks, { stat: 60, readdir: 1 }, "listed pointers are each looked at, then twice at the end");
    } finally {
      await fx.close();
    }
  });
});

describe("downloadSnapshot beside another process downloading the same repo", () => {
  test("a process that falls behind another finds the files the other published after its listings, instead of fetching them again", async () => {
    const fx = await startHub();
    try {
      const files: Record<string, Uint8Array> = {};
      for (let i = 0; i < 10; i++) files[`data/part-${i}.bin`] = bytes(3000, 700 + i);
      const commit = fx.hub.createRepo("org/ranks").commit(files);
      const alive = new Set([1, 2]);
      const behind = memoryRuntime({ timers: "real", pid: 1, alivePids: alive });
      const ahead = memoryRuntime({ timers: "real", pid: 2, alivePids: alive, fs: behind.fs });
      const common = { cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/ranks", concurrency: 1 };
      // The process behind is held on its first file (after its listings) for longer than they
      // are trusted; meanwhile the other downloads the whole repo.
      fx.hub.injectFault({ kind: "stall", afterBytes: 0, ms: 1_500, match: { path: "data/part-0.bin" } });
      const slow = downloadSnapshot({ ...common, runtime: behind });
      while (!fx.hub.requests.some((r) => r.path.endsWith("/data/part-0.bin"))) await new Promise((r) => setTimeout(r, 10));
      await downloadSnapshot({ ...common, runtime: ahead, lock: "none" });
      fx.hub.clearRequests();
      await slow;
      const fetched = fx.hub.requests.filter((r) => r.path.includes("/resolve/")).map((r) => r.path);
      assert.deepEqual(fetched, [], "files already published by the other process were fetched again");
      for (const [path, data] of Object.entries(files)) {
        assert.ok(sameBytes(await behind.fs.readFile(`/cache/models--org--ranks/snapshots/${commit}/${path}`), data), path);
      }
    } finally {
      await fx.close();
    }
  });
});

describe("downloadSnapshot of a cached repo", () => {
  test("lists blobs/ once for the whole snapshot, not once per file, and still sweeps cached blobs' leftovers", async () => {
    const fx = await startHub();
    try {
      const files: Record<string, Uint8Array> = {};
      for (let i = 0; i < 40; i++) files[`data/shard-${i}.bin`] = bytes(2000, 100 + i);
      fx.hub.createRepo("org/many").commit(files);
      const runtime = memoryRuntime({ timers: "real" });
      const common = { runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/many" };
      await downloadSnapshot(common);
      const blobs = "/cache/models--org--many/blobs";
      const etags = (await runtime.fs.readdir(blobs)).sort();
      assert.equal(etags.length, 40);
      // What a Ctrl-C'd run, a SIGKILLed writer and a live writer left beside three cached blobs.
      const partial = `${etags[0]}.partial`;
      const deadTemp = `${etags[1]}.memhost-999-${"ab".repeat(16)}.incomplete`;
      const liveTemp = `${etags[2]}.memhost-${runtime.platform.pid()}-${"cd".repeat(16)}.incomplete`;
      for (const name of [partial, deadTemp, liveTemp]) await runtime.fs.writeFile(`${blobs}/${name}`, new Uint8Array(10));
      let listings = 0;
      runtime.fs.beforeOp = (op, paths) => {
        if (op === "readdir" && paths[0] === blobs) listings++;
      };
      fx.hub.clearRequests();
      try {
        await downloadSnapshot(common);
      } finally {
        runtime.fs.beforeOp = undefined;
      }
      assert.equal(listings, 1, "one listing of blobs/ for 40 cached files");
      assert.deepEqual(fx.hub.requests.filter((r) => r.path.includes("/resolve/")), [], "every file was a cache hit");
      assert.deepEqual((await runtime.fs.readdir(blobs)).sort(), [...etags, liveTemp].sort());
    } finally {
      await fx.close();
    }
  });
});

describe("downloadSnapshot of files with the same content", () => {
  test("the content is fetched once: later files find the blob published after the snapshot's listing", async () => {
    const fx = await startHub();
    try {
      const same = bytes(50_000, 31);
      fx.hub.createRepo("org/dup").commit({ "a.bin": same, "b/a.bin": same, "c.bin": same });
      const runtime = memoryRuntime({ timers: "real" });
      // One file at a time: each later file starts after the first published the blob.
      const dir = await downloadSnapshot({ runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/dup", concurrency: 1 });
      for (const p of ["a.bin", "b/a.bin", "c.bin"]) assert.ok(sameBytes(await runtime.fs.readFile(`${dir}/${p}`), same), p);
      const bodies = fx.hub.requests.filter((r) => r.method === "GET" && r.filePath && r.status >= 200 && r.status < 300 && r.bytesSent > 0);
      assert.equal(bodies.length, 1, bodies.map((r) => r.filePath).join(", "));
    } finally {
      await fx.close();
    }
  });
});

describe("downloadSnapshot's one listing of blobs/", () => {
  /**
   * A repo of small files and one larger one, and a memory runtime whose first listing of
   * blobs/ misses the names `hideFirst` picks: what appeared there right after the snapshot listed it.
   */
  const setUp = async (fx: HubFixture, hideFirst: (name: string) => boolean) => {
    const files: Record<string, Uint8Array> = { "big.bin": bytes(100_000, 5) };
    for (let i = 0; i < 10; i++) files[`data/shard-${i}.bin`] = bytes(2000, 200 + i);
    const repo = fx.hub.createRepo("org/listing");
    repo.commit(files);
    const etag = repo.fileInfo("big.bin").etag;
    const runtime = memoryRuntime({ timers: "real" });
    const blobs = "/cache/models--org--listing/blobs";
    let listings = 0;
    const fs = new Proxy(runtime.fs, {
      get(target, prop) {
        if (prop === "readdir") {
          return async (path: string) => {
            const names = await target.readdir(path);
            if (path !== blobs) return names;
            return listings++ === 0 ? names.filter((n) => !hideFirst(n)) : names;
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    await runtime.fs.mkdirp(blobs);
    await runtime.fs.writeFile(`${blobs}/${etag}.partial`, files["big.bin"].subarray(0, 40_000));
    return { files, etag, blobs, runtime: { ...runtime, fs }, listings: () => listings };
  };
  /** The answers that carried big.bin's bytes (a redirect to the CDN carries none). */
  const rangeOfBig = (fx: HubFixture): string[] =>
    fx.hub.requests.filter((r) => r.method === "GET" && r.filePath === "big.bin" && r.status >= 200 && r.status < 300).map((r) => `${r.status} ${r.range}`);

  test("a partial released after the listing is still resumed, and blobs/ is listed once for all files", async () => {
    const fx = await startHub();
    try {
      const s = await setUp(fx, (n) => n.endsWith(".partial"));
      const dir = await downloadSnapshot({ runtime: s.runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/listing" });
      assert.deepEqual(rangeOfBig(fx), ["206 bytes=40000-"], "resumed from the partial the listing did not show");
      assert.ok(sameBytes(await s.runtime.fs.readFile(`${dir}/big.bin`), s.files["big.bin"]));
      assert.equal(s.listings(), 1, "one listing of blobs/ for 11 fresh files");
      assert.deepEqual((await s.runtime.fs.readdir(s.blobs)).filter((n) => n.includes(".")), [], "no leftovers");
    } finally {
      await fx.close();
    }
  });

  test("behind a contended lock blobs/ is listed afresh: a dead writer's temp file that appeared since is resumed", async () => {
    const fx = await startHub();
    try {
      const s = await setUp(fx, (n) => n.endsWith(".incomplete"));
      // The partial is taken over by a writer that was then SIGKILLed holding the lock: its temp
      // file and its lock are all that is left, and the snapshot's listing predates both.
      const dead = { host: "memhost", pid: 999, nonce: "ab".repeat(16) };
      await s.runtime.fs.rename(`${s.blobs}/${s.etag}.partial`, `${s.blobs}/${s.etag}.memhost-999-${dead.nonce}.incomplete`);
      await s.runtime.fs.mkdirp("/cache/.locks/models--org--listing");
      await s.runtime.fs.writeFile(`/cache/.locks/models--org--listing/${s.etag}.hubcache-lock`, new TextEncoder().encode(JSON.stringify(dead)));
      const dir = await downloadSnapshot({ runtime: s.runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/listing" });
      assert.deepEqual(rangeOfBig(fx), ["206 bytes=40000-"], "resumed from the dead writer's temp file");
      assert.ok(sameBytes(await s.runtime.fs.readFile(`${dir}/big.bin`), s.files["big.bin"]));
      assert.deepEqual((await s.runtime.fs.readdir(s.blobs)).filter((n) => n.includes(".")), [], "no leftovers");
    } finally {
      await fx.close();
    }
  });
});
