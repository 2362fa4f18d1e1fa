/**
 * What the memory adapter adds beyond the shared contract: fault injection, short
 * writes, the crash model, open handles on moved inodes, locks, clock and platform; and its
 * hashers (the portable choice between hash-wasm and pure JS).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FsError } from "../src/core/ports.ts";
import type { FsErrorCode, HashAlgorithm, HasherFactory } from "../src/core/ports.ts";
import { MemoryClock, MemoryFileSystem, memoryRuntime } from "../src/adapters/memory/mod.ts";
import { wasmHashers } from "../src/adapters/wasm_hasher.ts";
import { jsHashers } from "../src/adapters/js_hasher.ts";
import { portableHashers, wasmCompilationAllowed } from "../src/adapters/portable_hasher.ts";
import { nodeHashers } from "../src/adapters/node.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string): Uint8Array => enc.encode(s);

async function rejectsWith(p: Promise<unknown>, code: FsErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof FsError && err.code === code);
}

async function text(fs: MemoryFileSystem, path: string): Promise<string> {
  return dec.decode(await fs.readFile(path));
}

describe("memory adapter: fault injection", () => {
  test("a fault fails exactly the nth matching call, and the failed call changes nothing", async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp("/d");
    for (const n of ["a", "b", "c"]) await fs.writeFile(`/d/${n}`, bytes(n));
    const fault = fs.injectFault({ op: "rename", code: "EXDEV", nth: 2 });
    await fs.rename("/d/a", "/d/a2");
    await rejectsWith(fs.rename("/d/b", "/d/b2"), "EXDEV");
    assert.deepEqual((await fs.readdir("/d")).sort(), ["a2", "b", "c"]);
    await fs.rename("/d/c", "/d/c2");
    assert.equal(fault.fired, 1);
    assert.equal(fault.matched, 3);
  });

  test("times and pathIncludes narrow a fault; remove() ends it", async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp("/c/blobs");
    const fault = fs.injectFault({ op: "write", code: "ENOSPC", times: Infinity, pathIncludes: ".incomplete" });
    const tmp = await fs.createExclusive("/c/blobs/e.r1.incomplete");
    const other = await fs.createExclusive("/c/blobs/other");
    await rejectsWith(tmp.write(bytes("x"), 0), "ENOSPC");
    await rejectsWith(tmp.write(bytes("x"), 0), "ENOSPC");
    await other.write(bytes("fine"), 0);
    fault.remove();
    await tmp.write(bytes("x"), 0);
    assert.equal(await tmp.size(), 1);
    await tmp.close();
    await other.close();
    assert.equal(fault.fired, 2);
  });

  test("'open' matches all three opens and '*' matches everything", async () => {
    const fs = new MemoryFileSystem();
    await fs.writeFile("/f", bytes("x"));
    fs.injectFault({ op: "open", code: "EMFILE", times: 3 });
    await rejectsWith(fs.openRead("/f"), "EMFILE");
    await rejectsWith(fs.openReadWrite("/f"), "EMFILE");
    await rejectsWith(fs.createExclusive("/g"), "EMFILE");
    await (await fs.openRead("/f")).close();
    fs.injectFault({ op: "*", code: "EIO", nth: 2 });
    await fs.stat("/f");
    await rejectsWith(fs.readdir("/"), "EIO");
  });

  test("a failing close still releases the handle, as close(2) does", async () => {
    const fs = new MemoryFileSystem();
    const h = await fs.createExclusive("/f");
    fs.injectFault({ op: "close", code: "EIO" });
    await rejectsWith(h.close(), "EIO");
    assert.deepEqual(fs.openHandles(), []);
    await h.close();
  });

  test("short writes are looped over until every byte is written", async () => {
    const fs = new MemoryFileSystem();
    fs.shortWrites = true;
    const data = new Uint8Array(1000).map((_, i) => i & 0xff);
    const h = await fs.createExclusive("/f");
    const before = fs.underlyingWrites;
    await h.write(data, 3);
    await h.close();
    assert.ok(fs.underlyingWrites - before >= 9, `expected many underlying writes, got ${fs.underlyingWrites - before}`);
    const back = await fs.readFile("/f");
    assert.deepEqual(back.subarray(3), data);
    assert.deepEqual([...back.subarray(0, 3)], [0, 0, 0]);
  });

  test("short reads return less than asked but never lose bytes", async () => {
    const fs = new MemoryFileSystem();
    await fs.writeFile("/f", bytes("0123456789"));
    fs.shortReads = true;
    const h = await fs.openRead("/f");
    const buf = new Uint8Array(10);
    let at = 0;
    let calls = 0;
    for (let n; (n = await h.read(buf.subarray(at), at)) > 0; at += n) calls++;
    await h.close();
    assert.equal(dec.decode(buf), "0123456789");
    assert.ok(calls > 1);
  });

  test("without symlink or hard-link support, symlink and link fail with EPERM", async () => {
    const fs = new MemoryFileSystem();
    await fs.writeFile("/f", bytes("x"));
    fs.symlinksSupported = false;
    fs.hardLinksSupported = false;
    await rejectsWith(fs.symlink("f", "/l"), "EPERM");
    await rejectsWith(fs.link("/f", "/h"), "EPERM");
    assert.deepEqual(await fs.readdir("/"), ["f"]);
  });

  test("paths must be absolute", async () => {
    const fs = new MemoryFileSystem();
    await rejectsWith(fs.stat("relative/path"), "EINVAL");
  });

  test("beforeOp can hold one caller at an exact point to force an interleaving", async () => {
    const fs = new MemoryFileSystem();
    await fs.writeFile("/a.incomplete", bytes("A"));
    let releaseRename!: () => void;
    const gate = new Promise<void>((r) => (releaseRename = r));
    fs.beforeOp = (op) => (op === "rename" ? gate : undefined);
    const renaming = fs.rename("/a.incomplete", "/blob");
    fs.beforeOp = undefined;
    // The rename is parked; a second writer publishes first.
    await fs.writeFile("/blob", bytes("B"));
    releaseRename();
    await renaming;
    assert.equal(await text(fs, "/blob"), "A");
  });
});

describe("memory adapter: open handles follow inodes", () => {
  test("a writer whose temp file was claimed keeps writing into the claimant's file", async () => {
    // The seed-000 bug class: after a rename, the old writer's bytes land in the new name.
    const fs = new MemoryFileSystem();
    await fs.mkdirp("/c/blobs");
    const writerA = await fs.createExclusive("/c/blobs/e.a.incomplete");
    await writerA.write(bytes("AAAA"), 0);
    await fs.rename("/c/blobs/e.a.incomplete", "/c/blobs/e.b.incomplete"); // B claims it
    await writerA.write(bytes("aaaa"), 4); // A does not know
    const writerB = await fs.openReadWrite("/c/blobs/e.b.incomplete");
    assert.equal(await writerB.size(), 8);
    await writerB.close();
    await writerA.close();
    assert.equal(await text(fs, "/c/blobs/e.b.incomplete"), "AAAAaaaa");
  });

  test("a handle survives removeTree of its directory and rename over its name", async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp("/d");
    const h = await fs.createExclusive("/d/f");
    await h.write(bytes("old"), 0);
    await fs.writeFile("/d/g", bytes("new"));
    await fs.rename("/d/g", "/d/f");
    await h.write(bytes("!"), 3);
    assert.equal(await text(fs, "/d/f"), "new");
    await fs.removeTree("/d");
    const buf = new Uint8Array(4);
    assert.equal(await h.read(buf, 0), 4);
    assert.equal(dec.decode(buf), "old!");
    await h.close();
  });

  test("a hard link shares its inode; removing one name keeps the other", async () => {
    const fs = new MemoryFileSystem();
    await fs.writeFile("/a", bytes("x"));
    await fs.link("/a", "/b");
    await fs.removeFile("/a");
    assert.equal(await text(fs, "/b"), "x");
  });
});

describe("memory adapter: crash model", () => {
  test("file data not fsynced reverts to the last synced content", async () => {
    const fs = new MemoryFileSystem();
    const h = await fs.createExclusive("/f");
    await h.write(bytes("v1"), 0);
    await h.sync();
    await h.write(bytes("v2-longer"), 0);
    await fs.syncDir("/");
    const after = fs.crash();
    assert.equal(await text(after, "/f"), "v1");
    assert.equal(await text(fs, "/f"), "v2-longer", "the crashed-from state is untouched");
    await h.close();
  });

  test("a file never fsynced comes back empty even if its name survived", async () => {
    const fs = new MemoryFileSystem();
    await fs.writeFile("/f", bytes("data"));
    await fs.syncDir("/");
    assert.equal((await fs.crash().stat("/f")).size, 0);
  });

  test("a rename not followed by syncDir is undone; after syncDir it survives", async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp("/c/blobs");
    const h = await fs.createExclusive("/c/blobs/e.tmp");
    await h.write(bytes("blob"), 0);
    await h.sync();
    await h.close();
    fs.syncAll();
    await fs.rename("/c/blobs/e.tmp", "/c/blobs/e");
    const lost = fs.crash();
    assert.deepEqual(await lost.readdir("/c/blobs"), ["e.tmp"]);
    await fs.syncDir("/c/blobs");
    const kept = fs.crash();
    assert.deepEqual(await kept.readdir("/c/blobs"), ["e"]);
    assert.equal(await text(kept, "/c/blobs/e"), "blob");
  });

  test("a directory made by mkdirp is lost unless its parent was synced", async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp("/a/b");
    await rejectsWith(fs.crash().stat("/a"), "ENOENT");
    await fs.syncDir("/");
    const c1 = fs.crash();
    assert.deepEqual(await c1.readdir("/a"), [], "a survives, b was never recorded in a");
    await fs.syncDir("/a");
    assert.deepEqual(await fs.crash().readdir("/a"), ["b"]);
  });

  test("keepDirectoryEntries models the zero-length file after an unsynced rename", async () => {
    const fs = new MemoryFileSystem();
    fs.syncAll();
    const h = await fs.createExclusive("/tmp1");
    await h.write(bytes("content"), 0);
    await h.close(); // no fsync: the publishing bug
    await fs.rename("/tmp1", "/blob");
    const after = fs.crash({ keepDirectoryEntries: true });
    assert.deepEqual(await after.readdir("/"), ["blob"]);
    assert.equal((await after.stat("/blob")).size, 0);
  });

  test("a crash keeps hard links shared, symlinks intact, and drops handles, locks and faults", async () => {
    const fs = new MemoryFileSystem();
    await fs.writeFile("/a", bytes("x"));
    await fs.link("/a", "/b");
    await fs.symlink("a", "/s");
    fs.syncAll();
    const open = await fs.openRead("/a");
    const rt = memoryRuntime({ fs });
    const lock = await rt.locks!.tryLock("/l.lock");
    assert.ok(lock);
    fs.injectFault({ op: "*", code: "EIO", times: Infinity });
    const after = fs.crash();
    assert.deepEqual(after.openHandles(), []);
    const w = await after.openReadWrite("/a");
    await w.write(bytes("y"), 0);
    await w.close();
    assert.equal(await text(after, "/b"), "y");
    assert.equal(await after.readlink("/s"), "a");
    const rt2 = memoryRuntime({ fs: after });
    assert.ok(await rt2.locks!.tryLock("/l.lock"), "locks died with the processes");
    fs.clearFaults();
    await open.close();
  });
});

describe("memory adapter: locks", () => {
  test("two runtimes sharing a file system exclude each other", async () => {
    const a = memoryRuntime({ pid: 1 });
    const b = memoryRuntime({ pid: 2, fs: a.fs, clock: a.clock });
    const la = await a.locks!.tryLock("/c/.locks/models--x--y/e.lock");
    assert.ok(la);
    assert.equal(await b.locks!.tryLock("/c/.locks/models--x--y/e.lock"), null);
    await la.release();
    const lb = await b.locks!.tryLock("/c/.locks/models--x--y/e.lock");
    assert.ok(lb);
    await lb.release();
  });

  test("locksBroken grants everyone the lock, like flock on Lustre", async () => {
    const a = memoryRuntime({ pid: 1 });
    const b = memoryRuntime({ pid: 2, fs: a.fs });
    a.fs.locksBroken = true;
    const la = await a.locks!.tryLock("/e.lock");
    const lb = await b.locks!.tryLock("/e.lock");
    assert.ok(la && lb);
  });

  test("locks: false leaves the runtime without locks", () => {
    assert.equal(memoryRuntime({ locks: false }).locks, undefined);
  });
});

describe("memory adapter: clock and platform", () => {
  test("manual timers: sleeps resolve on advance, in deadline order", async () => {
    const clock = new MemoryClock({ startMs: 1000 });
    const woke: string[] = [];
    const late = clock.sleep(300).then(() => woke.push(`late@${clock.now()}`));
    const early = clock.sleep(100).then(() => woke.push(`early@${clock.now()}`));
    await Promise.resolve();
    assert.deepEqual(woke, []);
    assert.equal(clock.pendingSleeps, 2);
    clock.advance(150);
    await early;
    assert.deepEqual(woke, ["early@1150"]);
    clock.advance(1000);
    await late;
    assert.deepEqual(woke, ["early@1150", "late@2150"]);
    assert.equal(clock.now(), 2150);
  });

  test("an aborted sleep rejects with the signal's reason and is forgotten", async () => {
    const clock = new MemoryClock();
    const ac = new AbortController();
    const p = clock.sleep(1000, ac.signal);
    ac.abort(new Error("cancelled"));
    await assert.rejects(p, /cancelled/);
    assert.equal(clock.pendingSleeps, 0);
    await assert.rejects(clock.sleep(10, ac.signal), /cancelled/);
  });

  test("auto timers: sleeps finish on their own and move virtual time", async () => {
    const rt = memoryRuntime({ timers: "auto", startMs: 0 });
    // An hour: were it real time, the test's own timeout would fail it.
    await rt.platform.sleep(60 * 60 * 1000);
    assert.equal(rt.platform.now(), 60 * 60 * 1000);
  });

  test("auto timers never skip ahead to fire a timeout (it guards work that takes real time), but a sleep further ahead fires it", async () => {
    const rt = memoryRuntime({ timers: "auto", startMs: 0 });
    const guard = new AbortController();
    let fired = false;
    const watchdog = rt.platform.timeout(1_000, guard.signal).then(() => (fired = true));
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
    assert.equal(fired, false, "nothing but the timeout waits, yet virtual time stayed put");
    assert.equal(rt.platform.now(), 0);
    assert.equal(rt.clock.pendingSleeps, 0, "a timeout is not a sleep");
    await rt.platform.sleep(5_000);
    await watchdog;
    assert.equal(fired, true, "time passing for a sleep fires the timeout on the way");
    const cancelled = rt.platform.timeout(10, guard.signal);
    guard.abort(new Error("work done"));
    await assert.rejects(cancelled, /work done/);
  });

  test("real timers take real time", async () => {
    const clock = new MemoryClock({ timers: "real" });
    const t0 = Date.now();
    await clock.sleep(20);
    assert.ok(Date.now() - t0 >= 15);
    clock.advance(10_000);
    assert.ok(clock.now() - Date.now() >= 9_000);
  });

  test("randomHex is deterministic per seed and differs between pids", () => {
    const a1 = memoryRuntime({ pid: 7 }).platform.randomHex(16);
    const a2 = memoryRuntime({ pid: 7 }).platform.randomHex(16);
    const b = memoryRuntime({ pid: 8 }).platform.randomHex(16);
    const s = memoryRuntime({ pid: 8, seed: 7 }).platform.randomHex(16);
    assert.equal(a1, a2);
    assert.notEqual(a1, b);
    assert.equal(s, a1);
  });

  test("identity, process table and environment are what the test says", () => {
    const alive = new Set([10]);
    const rt = memoryRuntime({ pid: 5, hostname: "h1", homeDir: "/u", alivePids: alive, env: { HF_HOME: "/hf" } });
    assert.equal(rt.platform.pid(), 5);
    assert.equal(rt.platform.hostname(), "h1");
    assert.equal(rt.platform.homeDir(), "/u");
    assert.equal(rt.platform.isProcessAlive(5), true);
    assert.equal(rt.platform.isProcessAlive(10), true);
    assert.equal(rt.platform.isProcessAlive(11), false);
    alive.delete(10);
    assert.equal(rt.platform.isProcessAlive(10), false);
    assert.equal(rt.platform.env("HF_HOME"), "/hf");
    rt.platform.envMap.set("HF_TOKEN", "t");
    assert.equal(rt.platform.env("HF_TOKEN"), "t");
  });

  test("file timestamps come from the runtime's clock", async () => {
    const rt = memoryRuntime({ startMs: 5_000 });
    await rt.fs.writeFile("/f", bytes("x"));
    assert.equal((await rt.fs.stat("/f")).mtimeMs, 5_000);
    rt.clock.advance(1_000);
    const h = await rt.fs.openReadWrite("/f");
    await h.write(bytes("y"), 1);
    await h.close();
    assert.equal((await rt.fs.stat("/f")).mtimeMs, 6_000);
  });

  test("listTree shows everything below a directory", async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp("/c/blobs");
    await fs.writeFile("/c/blobs/e", bytes(""));
    await fs.symlink("blobs/e", "/c/p");
    assert.deepEqual(fs.listTree("/c"), ["/c/blobs/", "/c/blobs/e", "/c/p"]);
  });
});

describe("wasm hasher", () => {
  test("a saved state resumes to the same digest as hashing straight through", async () => {
    const hashers = wasmHashers();
    const data = new Uint8Array(200_000).map((_, i) => (i * 13) & 0xff);
    for (const algo of ["sha256", "sha1"] as const) {
      const straight = await hashers.create(algo);
      straight.update(data);
      const first = await hashers.create(algo);
      first.update(data.subarray(0, 77_777));
      const resumed = await hashers.resume(algo, first.save());
      resumed.update(data.subarray(77_777));
      assert.equal(resumed.digestHex(), straight.digestHex(), algo);
    }
  });
});

describe("portable hashers", () => {
  const data = new Uint8Array(300_001).map((_, i) => (i * 131 + 7) & 0xff);
  const PIECES = [0, 1, 63, 64, 65, 4096, 65_536, 100_000];

  /** The digest of `data` fed in uneven pieces (what streaming and a resumed prefix do). */
  async function digestInPieces(factory: HasherFactory, algo: HashAlgorithm): Promise<string> {
    const h = await factory.create(algo);
    let at = 0;
    for (const size of PIECES) {
      h.update(data.subarray(at, at + size));
      at += size;
    }
    h.update(data.subarray(at));
    return h.digestHex();
  }

  test("the pure-JS hasher equals node:crypto for sha256 and sha1, fed in uneven pieces", async () => {
    for (const algo of ["sha256", "sha1"] as const) {
      assert.equal(await digestInPieces(jsHashers(), algo), await digestInPieces(nodeHashers(), algo), algo);
    }
  });

  test("where WebAssembly may not be compiled (as in Cloudflare Workers), the portable hasher falls back to pure JS", async () => {
    // workerd refuses both the synchronous and the asynchronous compile; so does a strict CSP.
    const wasm = WebAssembly as unknown as Record<string, unknown>;
    const saved = { Module: wasm.Module, compile: wasm.compile, instantiate: wasm.instantiate };
    const refuse = (): never => {
      throw new WebAssembly.CompileError("WebAssembly.compile(): Wasm code generation disallowed by embedder");
    };
    let refusedWasm: unknown;
    let digests: string[];
    try {
      Object.assign(wasm, { Module: refuse, compile: refuse, instantiate: refuse });
      assert.equal(wasmCompilationAllowed(), false);
      refusedWasm = await wasmHashers().create("sha256").catch((e: unknown) => e); // what the old default did
      digests = [await digestInPieces(portableHashers(), "sha256"), await digestInPieces(portableHashers(), "sha1")];
    } finally {
      Object.assign(wasm, saved);
    }
    assert.ok(refusedWasm instanceof WebAssembly.CompileError, `hash-wasm is refused too: ${String(refusedWasm)}`);
    assert.deepEqual(digests, [await digestInPieces(nodeHashers(), "sha256"), await digestInPieces(nodeHashers(), "sha1")]);
  });

  test("where WebAssembly compiles (Node, Deno, Bun), the portable hasher gives the same digests", async () => {
    assert.equal(wasmCompilationAllowed(), true);
    for (const algo of ["sha256", "sha1"] as const) {
      assert.equal(await digestInPieces(portableHashers(), algo), await digestInPieces(nodeHashers(), algo), algo);
    }
  });
});
