/**
 * What network file systems (NFS, Lustre, GPFS, GlusterFS) add to a local disk, injected through
 * the memory adapter so every runtime runs the same checks: `ESTALE` when another host renamed a
 * path we are opening, and names or sizes that lag behind another host's changes. None of them
 * may fail a download or a cache command; errors we cannot name keep the runtime's own words.
 * (tests/gluster.test.ts checks the same against a real GlusterFS volume.)
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { memoryRuntime, type MemoryRuntime } from "../src/adapters/memory/mod.ts";
import { toFsError } from "../src/adapters/node.ts";
import { runCli } from "../src/cli/main.ts";
import { downloadFile } from "../src/core/download/download.ts";
import { blobPath, pointerPath, refPath, relativeBlobTarget, repoLayout } from "../src/core/cache/layout.ts";
import { linkPointer } from "../src/core/cache/pointers.ts";
import { FsError, isFsError, type Runtime } from "../src/core/ports.ts";
import { pruneCache } from "../src/core/manage/prune.ts";
import { scanCache } from "../src/core/manage/scan.ts";
import { withTransientRetries } from "../src/core/fs/transient.ts";
import { verifyRepo } from "../src/core/manage/verify.ts";
import { captureCli } from "./_support/capture.ts";
import { bytes, type HubFixture, sameBytes, startHub, TOKEN } from "./_support/hub.ts";

const REPO = "org/nfs";
const layout = repoLayout("/cache", "model", REPO);

describe("transient file-system errors of network file systems (memory adapter)", () => {
  let fx: HubFixture;
  let commit: string;
  const model = bytes(300_000, 61);
  before(async () => {
    fx = await startHub();
    commit = fx.hub.createRepo(REPO).commit({ "model.bin": model, "config.json": '{"a":1}' });
  });
  after(() => fx.close());

  /** A fresh cache in memory; "auto" timers so the retries' pauses pass in virtual time. */
  function fresh(): MemoryRuntime {
    return memoryRuntime({ timers: "auto" });
  }
  function download(runtime: Runtime, path = "model.bin", extra: Record<string, unknown> = {}): Promise<string> {
    return downloadFile({ runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: REPO, path, ...extra });
  }
  const bodies = (since: number): number => fx.hub.requests.slice(since).filter((r) => r.method === "GET" && r.cdn).length;

  test("ESTALE while reading refs/main (another host replaced it) is retried, and the download succeeds", async () => {
    const rt = fresh();
    const first = await download(rt);
    const fault = rt.fs.injectFault({ op: "readFile", code: "ESTALE", times: 5, pathIncludes: "/refs/" });
    assert.equal(await download(rt), first);
    assert.equal(fault.fired, 5, "every injected ESTALE was met and survived");
    assert.equal(new TextDecoder().decode(await rt.fs.readFile(refPath(layout, "main"))), commit);
  });

  test("an ESTALE that never ends fails after a bounded number of attempts, as ESTALE", async () => {
    const rt = fresh();
    await download(rt);
    const fault = rt.fs.injectFault({ op: "readFile", code: "ESTALE", times: Infinity, pathIncludes: "/refs/" });
    await assert.rejects(download(rt), (err: unknown) => err instanceof FsError && err.code === "ESTALE");
    assert.ok(fault.fired >= 5 && fault.fired <= 20, `expected a handful of attempts, saw ${fault.fired}`);
  });

  test("ESTALE on the stat, readdir, lstat and open that claim a partial is retried, and the partial is resumed", async () => {
    const etag = fx.hub.repo(REPO).fileInfo("model.bin").sha256;
    for (const [op, pathIncludes] of [
      ["stat", "/blobs"], // ensureDir(blobs/)
      ["readdir", "/blobs"], // looking for resumable files
      ["lstat", ".partial"], // judging the candidate
      ["openReadWrite", ".incomplete"], // opening the claimed file under our name
    ] as const) {
      const rt = fresh();
      await rt.fs.mkdirp(layout.blobsDir);
      await rt.fs.writeFile(`${layout.blobsDir}/${etag}.partial`, model.subarray(0, 100_000));
      const fault = rt.fs.injectFault({ op, code: "ESTALE", times: 2, pathIncludes });
      const since = fx.hub.requests.length;
      const path = await download(rt);
      const what = `${op} ${pathIncludes}`;
      assert.ok(sameBytes(await rt.fs.readFile(path), model), `${what}: exact bytes`);
      assert.equal(fault.fired, 2, `${what}: both injected ESTALEs were met`);
      const gets = fx.hub.requests.slice(since).filter((r) => r.method === "GET" && r.cdn);
      assert.deepEqual(gets.map((r) => r.range), ["bytes=100000-"], `${what}: the partial was resumed`);
    }
  });

  test("a claimed partial whose read fails for good (EIO) fails the download without leaving its handle open, and is resumed later", async () => {
    const etag = fx.hub.repo(REPO).fileInfo("model.bin").sha256;
    const rt = fresh();
    await rt.fs.mkdirp(layout.blobsDir);
    // A parallel writer's file: content size plus its prefix record, which the claim reads.
    await rt.fs.writeFile(`${layout.blobsDir}/${etag}.partial`, new Uint8Array(model.length + 64));
    const fault = rt.fs.injectFault({ op: "read", code: "EIO", times: 1, pathIncludes: ".incomplete" });
    await assert.rejects(download(rt), (err: unknown) => isFsError(err, "EIO"));
    assert.equal(fault.fired, 1);
    assert.deepEqual(rt.fs.openHandles(), [], "the claimed file's handle was left open");
    const path = await download(rt);
    assert.ok(sameBytes(await rt.fs.readFile(path), model));
  });

  test("a read-only handle that goes stale mid-file (verify hashing a blob) starts the hash again", async () => {
    const rt = fresh();
    await download(rt);
    const fault = rt.fs.injectFault({ op: "read", code: "ESTALE", times: 1, pathIncludes: "/blobs/" });
    const report = await verifyRepo({ runtime: rt, cacheDir: "/cache", repoType: "model", repo: REPO, offline: true });
    assert.equal(fault.fired, 1);
    assert.equal(report.healthy, true);
    assert.equal(report.files.filter((f) => f.status === "ok").length, 1);
  });

  test("cache ls and prune survive ESTALE on the folders they walk", async () => {
    const rt = fresh();
    await download(rt);
    let fault = rt.fs.injectFault({ op: "readdir", code: "ESTALE", times: 2, pathIncludes: "models--org--nfs" });
    const info = await scanCache({ runtime: rt, cacheDir: "/cache" });
    assert.deepEqual(info.warnings, []);
    assert.equal(info.repos[0]?.nbFiles, 1);
    assert.equal(fault.fired, 2);
    fault = rt.fs.injectFault({ op: "readdir", code: "ESTALE", times: 2, pathIncludes: "models--org--nfs" });
    const result = await pruneCache({ runtime: rt, cacheDir: "/cache" });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, []);
    assert.equal(fault.fired, 2);
  });

  test("a name that exists but reads as ENOENT (replaced by another host) is read again: offline still finds the file", async () => {
    const rt = fresh();
    const first = await download(rt);
    const fault = rt.fs.injectFault({ op: "readFile", code: "ENOENT", times: 2, pathIncludes: "/refs/main" });
    assert.equal(await download(rt, "model.bin", { offline: true }), first);
    assert.equal(fault.fired, 2);
  });

  test("mkdir -p saying EEXIST for a directory our mount does not see yet is looked at again", async () => {
    const rt = fresh();
    const fault = rt.fs.injectFault({ op: "mkdirp", code: "EEXIST", times: 2, pathIncludes: "/blobs" });
    const path = await download(rt);
    assert.ok(sameBytes(await rt.fs.readFile(path), model));
    assert.equal(fault.fired, 2);
  });

  test("mkdir failing with ENOENT inside a repo folder another host just made is tried again", async () => {
    const rt = fresh();
    const fault = rt.fs.injectFault({ op: "mkdirp", code: "ENOENT", times: 2, pathIncludes: "/blobs" });
    const path = await download(rt);
    assert.ok(sameBytes(await rt.fs.readFile(path), model));
    assert.equal(fault.fired, 2);
  });

  test("a create failing with ENOENT in a directory another host just made is tried again", async () => {
    const rt = fresh();
    const fault = rt.fs.injectFault({ op: "createExclusive", code: "ENOENT", times: 2, pathIncludes: ".incomplete" });
    const path = await download(rt);
    assert.ok(sameBytes(await rt.fs.readFile(path), model));
    assert.equal(fault.fired, 2);
  });

  test("another host's half-visible pointer (EEXIST, then lstat ENOENT or readlink EINVAL) counts as linked", async () => {
    const etag = fx.hub.repo(REPO).fileInfo("model.bin").sha256;
    for (const [op, code] of [["lstat", "ENOENT"], ["readlink", "EINVAL"], ["readlink", "ESTALE"]] as const) {
      const rt = fresh();
      const pointer = pointerPath(layout, commit, "model.bin");
      await rt.fs.mkdirp(pointer.slice(0, pointer.lastIndexOf("/")));
      await rt.fs.symlink(relativeBlobTarget("model.bin", etag), pointer);
      const fault = rt.fs.injectFault({ op, code, times: 2, pathIncludes: "/snapshots/" });
      assert.equal(await linkPointer(withTransientRetries(rt), layout, commit, "model.bin", etag), "linked", `${op} ${code}`);
      assert.equal(fault.fired, 2, `${op} ${code}`);
      assert.equal(await rt.fs.readlink(pointer), relativeBlobTarget("model.bin", etag));
    }
  });

  test("a blob whose size lags for a moment (stale attributes) is pointed at, not downloaded again", async () => {
    const rt = fresh();
    const first = await download(rt);
    await rt.fs.removeFile(first);
    const blob = blobPath(layout, fx.hub.repo(REPO).fileInfo("model.bin").sha256);
    // The size this host last saw of the inode, while another host was still writing it.
    let stale = 2;
    let served = 0;
    const lagging: Runtime = {
      ...rt,
      fs: new Proxy(rt.fs, {
        get(target, key) {
          const value = Reflect.get(target, key, target);
          if (key !== "stat") return typeof value === "function" ? value.bind(target) : value;
          return async (path: string) => {
            const info = await target.stat(path);
            if (path !== blob || stale === 0) return info;
            stale--;
            served++;
            return { ...info, size: 2_097_152 };
          };
        },
      }),
    };
    const since = fx.hub.requests.length;
    // Lock off: the check under the lock would otherwise get a third look for free.
    assert.equal(await download(lagging, "model.bin", { lock: "none" }), first);
    assert.equal(served, 2, "the stale size was seen twice, then the real one");
    assert.equal(bodies(since), 0, "no byte downloaded again");
  });

  test("a blob of the wrong size that has not changed for a while is replaced at once, without waiting for lag", async () => {
    const rt = fresh();
    const etag = fx.hub.repo(REPO).fileInfo("model.bin").sha256;
    await rt.fs.mkdirp(layout.blobsDir);
    await rt.fs.writeFile(blobPath(layout, etag), model.subarray(0, 1000));
    const hourAgo = rt.clock.now() - 3_600_000;
    await rt.fs.utimes(blobPath(layout, etag), hourAgo, hourAgo);
    const before = rt.clock.now();
    const path = await download(rt, "model.bin", { lock: "none" });
    assert.ok(sameBytes(await rt.fs.readFile(path), model));
    assert.ok(rt.clock.now() - before < 100, `waited ${rt.clock.now() - before} ms of virtual time`);
  });
});

describe("errors the runtime could not name keep its own words", () => {
  test("Node 20's 'Unknown system error -116', Deno's UNKNOWN and Bun's ESTALE all become ESTALE", () => {
    const shapes = [
      { code: "Unknown system error -116", errno: -116, message: "Unknown system error -116: Unknown system error -116, open '/c/refs/main'" },
      // Node's readFile loses `errno` on its fstat path: the code text is all there is.
      { code: "Unknown system error -116", message: "Unknown system error -116: Unknown system error -116, fstat" },
      { code: "UNKNOWN", errno: -116, message: "UNKNOWN: unknown error, open '/c/refs/main'" },
      { code: "ESTALE", errno: -116, message: "ESTALE: unknown error, read" },
    ];
    for (const shape of shapes) {
      const e = toFsError(Object.assign(new Error(shape.message), shape), "read", "/c/refs/main");
      assert.equal(e.code, "ESTALE", shape.message);
      assert.equal(e.rawCode, shape.code);
      assert.equal(e.rawMessage, shape.message);
      assert.match(e.message, new RegExp(`^ESTALE: read '/c/refs/main': ${shape.message.replace(/[()]/g, "\\$&")}`));
    }
  });

  test("an unknown code stays EUNKNOWN but keeps the runtime's code and text", () => {
    const e = toFsError(Object.assign(new Error("EWEIRD: something odd, open '/x'"), { code: "EWEIRD", errno: -9999 }), "open", "/x");
    assert.equal(e.code, "EUNKNOWN");
    assert.equal(e.rawCode, "EWEIRD");
    assert.equal(e.rawMessage, "EWEIRD: something odd, open '/x'");
    // A code that happens to name an Object.prototype member is still unknown.
    assert.equal(toFsError({ code: "constructor", message: "x" }, "open", "/x").code, "EUNKNOWN");
  });

  test("the CLI's one-line error carries the runtime's code and text, not only 'a file-system operation failed'", async () => {
    const fx = await startHub();
    try {
      fx.hub.createRepo(REPO).commit({ "a.json": "{}" });
      const rt = memoryRuntime({ timers: "auto" });
      const args = ["download", REPO, "a.json", "--endpoint", fx.hub.endpoint, "--cache-dir", "/cache", "--token", TOKEN];
      assert.equal(await runCli(args, captureCli(rt).ctx), 0);
      const readFile = rt.fs.readFile.bind(rt.fs);
      rt.fs.readFile = (path: string) => {
        if (!path.includes("/refs/")) return readFile(path);
        const native = Object.assign(new Error(`UNKNOWN: unknown error, open '${path}'`), { code: "UNKNOWN", errno: -9999, syscall: "open" });
        return Promise.reject(toFsError(native, "read", path));
      };
      const c = captureCli(rt);
      assert.equal(await runCli(args, c.ctx), 1);
      assert.match(c.errText(), /^hubcache: EUNKNOWN: a file-system operation failed \(read \/cache\/models--org--nfs\/refs\/main: UNKNOWN: unknown error, open '\/cache\/models--org--nfs\/refs\/main'\)\n$/);
    } finally {
      await fx.close();
    }
  });
});
