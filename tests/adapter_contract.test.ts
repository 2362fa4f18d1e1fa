/**
 * One contract for every adapter: the runtime's own (node, deno or bun, whichever
 * runs this file) and the memory adapter must answer every port call the same way,
 * because the core is tested against the memory adapter and shipped on the others.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as nodeFs from "node:fs/promises";
import process from "node:process";
import { FsError } from "../src/core/ports.ts";
import type { FsErrorCode, HashAlgorithm, Runtime } from "../src/core/ports.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { currentRuntimeName, testRuntime } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string): Uint8Array => enc.encode(s);

/** What a contract run needs from the adapter under test. */
interface Subject {
  rt: Runtime;
  /** An existing, empty directory to work in. */
  root: string;
  /** A process id that is certainly not running. */
  deadPid(): Promise<number>;
  /** Holds `tryLock(path)` in another process until `stop()`; absent where that cannot be done. */
  holdLockElsewhere?: (path: string) => Promise<{ stop(): Promise<void> }>;
  cleanup(): Promise<void>;
}

async function rejectsWith(p: Promise<unknown>, ...codes: FsErrorCode[]): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof FsError, `expected FsError, got ${String(err)}`);
    assert.ok(codes.includes(err.code), `expected ${codes.join("|")}, got ${err.code} (${err.message})`);
    return true;
  });
}

const VECTORS: ReadonlyArray<[HashAlgorithm, string, string]> = [
  ["sha256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  ["sha256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ["sha1", "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"],
  ["sha1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"],
  // `git hash-object` of "hello\n": the git-blob sha1 regular files are addressed by.
  ["sha1", "blob 6\0hello\n", "ce013625030ba8dba906f756967f9e9ca394464a"],
];

function adapterContract(label: string, make: () => Promise<Subject>): void {
  describe(`${label} adapter contract`, () => {
    let s: Subject;
    let rt: Runtime;
    let n = 0;
    /** A fresh directory per test, so tests never see each other's files. */
    const fresh = async (): Promise<string> => {
      const d = `${s.root}/t${++n}`;
      await rt.fs.mkdirp(d);
      return d;
    };
    before(async () => {
      s = await make();
      rt = s.rt;
    });
    after(async () => {
      await s.cleanup();
    });

    // -- exclusive create and handles ------------------------------------------------

    test("createExclusive makes a new empty file and refuses anything already there", async () => {
      const d = await fresh();
      const h = await rt.fs.createExclusive(`${d}/a`);
      assert.equal(await h.size(), 0);
      await h.close();
      await rejectsWith(rt.fs.createExclusive(`${d}/a`), "EEXIST");
      await rt.fs.mkdirp(`${d}/dir`);
      await rejectsWith(rt.fs.createExclusive(`${d}/dir`), "EEXIST");
      await rejectsWith(rt.fs.createExclusive(`${d}/missing/a`), "ENOENT");
    });

    test("createExclusive refuses a dangling symlink instead of creating its target", async () => {
      const d = await fresh();
      await rt.fs.symlink("nowhere", `${d}/link`);
      await rejectsWith(rt.fs.createExclusive(`${d}/link`), "EEXIST");
      await rejectsWith(rt.fs.lstat(`${d}/nowhere`), "ENOENT");
    });

    test("positional writes land where asked, zero-fill gaps, and read back", async () => {
      const d = await fresh();
      const h = await rt.fs.createExclusive(`${d}/f`);
      await h.write(bytes("hello"), 0);
      await h.write(bytes("XY"), 8);
      await h.write(bytes("EL"), 1);
      assert.equal(await h.size(), 10);
      const buf = new Uint8Array(16);
      const got = await h.read(buf, 0);
      assert.equal(got, 10);
      assert.deepEqual([...buf.subarray(0, 10)], [...bytes("hELlo"), 0, 0, 0, ...bytes("XY")]);
      assert.equal(await h.read(new Uint8Array(4), 10), 0, "reading at the end returns 0");
      assert.equal(await h.read(new Uint8Array(0), 0), 0);
      await h.sync();
      await h.close();
      await h.close(); // idempotent, so `finally { close() }` after a close is harmless
      assert.equal(dec.decode((await rt.fs.readFile(`${d}/f`)).subarray(0, 5)), "hELlo");
    });

    test("a large write is written whole", async () => {
      const d = await fresh();
      const data = new Uint8Array(3 * 1024 * 1024 + 17);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
      const h = await rt.fs.createExclusive(`${d}/big`);
      await h.write(data, 5);
      await h.close();
      const back = await rt.fs.readFile(`${d}/big`);
      assert.equal(back.length, data.length + 5);
      assert.deepEqual(back.subarray(5), data);
    });

    test("truncate shrinks and extends with zeros", async () => {
      const d = await fresh();
      const h = await rt.fs.createExclusive(`${d}/f`);
      await h.write(bytes("abcdef"), 0);
      await h.truncate(3);
      assert.equal(await h.size(), 3);
      await h.truncate(5);
      const buf = new Uint8Array(5);
      assert.equal(await h.read(buf, 0), 5);
      assert.deepEqual([...buf], [...bytes("abc"), 0, 0]);
      await h.close();
      assert.equal((await rt.fs.stat(`${d}/f`)).size, 5);
    });

    test("openReadWrite edits an existing file in place and never creates one", async () => {
      const d = await fresh();
      await rejectsWith(rt.fs.openReadWrite(`${d}/nope`), "ENOENT");
      await rejectsWith(rt.fs.lstat(`${d}/nope`), "ENOENT");
      await rt.fs.writeFile(`${d}/f`, bytes("0123456789"));
      const h = await rt.fs.openReadWrite(`${d}/f`);
      await h.write(bytes("ab"), 4);
      assert.equal(await h.size(), 10);
      await h.close();
      assert.equal(dec.decode(await rt.fs.readFile(`${d}/f`)), "0123ab6789");
    });

    test("openRead reads an existing file and cannot write to it", async () => {
      const d = await fresh();
      await rejectsWith(rt.fs.openRead(`${d}/nope`), "ENOENT");
      await rt.fs.writeFile(`${d}/f`, bytes("data"));
      const h = await rt.fs.openRead(`${d}/f`);
      const buf = new Uint8Array(10);
      assert.equal(await h.read(buf, 1), 3);
      assert.equal(dec.decode(buf.subarray(0, 3)), "ata");
      await assert.rejects(h.write(bytes("x"), 0), FsError);
      await h.close();
      assert.equal(dec.decode(await rt.fs.readFile(`${d}/f`)), "data");
    });

    test("a handle follows its inode: writes after a rename land in the renamed file", async () => {
      const d = await fresh();
      const h = await rt.fs.createExclusive(`${d}/a.incomplete`);
      await h.write(bytes("first"), 0);
      await rt.fs.rename(`${d}/a.incomplete`, `${d}/blob`);
      await h.write(bytes("+more"), 5);
      await h.close();
      assert.equal(dec.decode(await rt.fs.readFile(`${d}/blob`)), "first+more");
      await rejectsWith(rt.fs.lstat(`${d}/a.incomplete`), "ENOENT");
    });

    test("an unlinked file stays readable and writable through an open handle", async () => {
      const d = await fresh();
      const h = await rt.fs.createExclusive(`${d}/f`);
      await h.write(bytes("keep"), 0);
      await rt.fs.removeFile(`${d}/f`);
      await h.write(bytes("!"), 4);
      const buf = new Uint8Array(8);
      assert.equal(await h.read(buf, 0), 5);
      assert.equal(dec.decode(buf.subarray(0, 5)), "keep!");
      await h.close();
      assert.deepEqual(await rt.fs.readdir(d), []);
    });

    // -- names ---------------------------------------------------------------------

    test("rename atomically replaces an existing file", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/new`, bytes("new"));
      await rt.fs.writeFile(`${d}/old`, bytes("old"));
      await rt.fs.rename(`${d}/new`, `${d}/old`);
      assert.equal(dec.decode(await rt.fs.readFile(`${d}/old`)), "new");
      assert.deepEqual(await rt.fs.readdir(d), ["old"]);
      await rejectsWith(rt.fs.rename(`${d}/new`, `${d}/x`), "ENOENT");
      await rejectsWith(rt.fs.rename(`${d}/old`, `${d}/missing/x`), "ENOENT");
    });

    test("rename of two names of one inode succeeds and changes nothing", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/a`, bytes("x"));
      await rt.fs.link(`${d}/a`, `${d}/b`);
      await rt.fs.rename(`${d}/a`, `${d}/b`);
      assert.deepEqual((await rt.fs.readdir(d)).sort(), ["a", "b"]);
    });

    test("rename of a directory: ENOTEMPTY over a non-empty one, replaces an empty one", async () => {
      const d = await fresh();
      await rt.fs.mkdirp(`${d}/src/sub`);
      await rt.fs.mkdirp(`${d}/full/x`);
      await rt.fs.mkdirp(`${d}/empty`);
      await rejectsWith(rt.fs.rename(`${d}/src`, `${d}/full`), "ENOTEMPTY", "EEXIST");
      await rt.fs.rename(`${d}/src`, `${d}/empty`);
      assert.deepEqual(await rt.fs.readdir(`${d}/empty`), ["sub"]);
      await rejectsWith(rt.fs.rename(`${d}/empty`, `${d}/empty/sub/inside`), "EINVAL");
    });

    test("rename between a file and a directory fails like Linux", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/f`, bytes("f"));
      await rt.fs.mkdirp(`${d}/dir`);
      await rejectsWith(rt.fs.rename(`${d}/f`, `${d}/dir`), "EISDIR");
      await rejectsWith(rt.fs.rename(`${d}/dir`, `${d}/f`), "ENOTDIR");
    });

    test("link makes a second name for the same bytes and refuses an existing target", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/a`, bytes("shared"));
      await rt.fs.link(`${d}/a`, `${d}/b`);
      const h = await rt.fs.openReadWrite(`${d}/a`);
      await h.write(bytes("S"), 0);
      await h.close();
      assert.equal(dec.decode(await rt.fs.readFile(`${d}/b`)), "Shared");
      await rt.fs.writeFile(`${d}/c`, bytes("c"));
      await rejectsWith(rt.fs.link(`${d}/a`, `${d}/c`), "EEXIST");
      assert.equal(dec.decode(await rt.fs.readFile(`${d}/c`)), "c");
      await rejectsWith(rt.fs.link(`${d}/nope`, `${d}/d`), "ENOENT");
    });

    test("symlink keeps a relative target verbatim; lstat sees the link, stat its target", async () => {
      const d = await fresh();
      await rt.fs.mkdirp(`${d}/blobs`);
      await rt.fs.mkdirp(`${d}/snapshots/c1/sub`);
      await rt.fs.writeFile(`${d}/blobs/e1`, bytes("12345"));
      await rt.fs.symlink("../../../blobs/e1", `${d}/snapshots/c1/sub/f.bin`);
      assert.equal(await rt.fs.readlink(`${d}/snapshots/c1/sub/f.bin`), "../../../blobs/e1");
      assert.equal((await rt.fs.lstat(`${d}/snapshots/c1/sub/f.bin`)).kind, "symlink");
      const st = await rt.fs.stat(`${d}/snapshots/c1/sub/f.bin`);
      assert.equal(st.kind, "file");
      assert.equal(st.size, 5);
      assert.equal(dec.decode(await rt.fs.readFile(`${d}/snapshots/c1/sub/f.bin`)), "12345");
      await rejectsWith(rt.fs.symlink("x", `${d}/blobs/e1`), "EEXIST");
      await rejectsWith(rt.fs.readlink(`${d}/blobs/e1`), "EINVAL");
      await rejectsWith(rt.fs.readlink(`${d}/nope`), "ENOENT");
    });

    test("a dangling symlink: lstat finds it, stat and readFile say ENOENT", async () => {
      const d = await fresh();
      await rt.fs.symlink("gone", `${d}/l`);
      assert.equal((await rt.fs.lstat(`${d}/l`)).kind, "symlink");
      await rejectsWith(rt.fs.stat(`${d}/l`), "ENOENT");
      await rejectsWith(rt.fs.readFile(`${d}/l`), "ENOENT");
    });

    test("a symlink loop is ELOOP", async () => {
      const d = await fresh();
      await rt.fs.symlink("b", `${d}/a`);
      await rt.fs.symlink("a", `${d}/b`);
      await rejectsWith(rt.fs.stat(`${d}/a`), "ELOOP");
    });

    test("lstat and stat describe files and directories", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/f`, bytes("abc"));
      const f = await rt.fs.lstat(`${d}/f`);
      assert.equal(f.kind, "file");
      assert.equal(f.size, 3);
      assert.ok(f.mtimeMs > 0 && f.atimeMs > 0);
      assert.equal((await rt.fs.stat(d)).kind, "directory");
      await rejectsWith(rt.fs.stat(`${d}/nope`), "ENOENT");
      await rejectsWith(rt.fs.stat(`${d}/f/below`), "ENOTDIR");
    });

    test("readdir lists entry names", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/a`, bytes(""));
      await rt.fs.mkdirp(`${d}/b`);
      await rt.fs.symlink("a", `${d}/c`);
      assert.deepEqual((await rt.fs.readdir(d)).sort(), ["a", "b", "c"]);
      await rejectsWith(rt.fs.readdir(`${d}/nope`), "ENOENT");
      await rejectsWith(rt.fs.readdir(`${d}/a`), "ENOTDIR");
    });

    test("readdirKinds lists entry names with what lstat says each is (or unknown)", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/a`, bytes(""));
      await rt.fs.mkdirp(`${d}/b`);
      await rt.fs.symlink("a", `${d}/c`);
      await rt.fs.symlink("b", `${d}/dirlink`);
      await rt.fs.symlink("nowhere", `${d}/dangling`);
      assert.ok(rt.fs.readdirKinds, "this adapter lists kinds");
      const listed = (await rt.fs.readdirKinds(d)).sort((x, y) => (x.name < y.name ? -1 : 1));
      assert.deepEqual(listed.map((e) => e.name), ["a", "b", "c", "dangling", "dirlink"]);
      for (const e of listed) {
        if (e.kind !== "unknown") assert.equal(e.kind, (await rt.fs.lstat(`${d}/${e.name}`)).kind, e.name);
      }
      await rejectsWith(rt.fs.readdirKinds(`${d}/nope`), "ENOENT");
      await rejectsWith(rt.fs.readdirKinds(`${d}/a`), "ENOTDIR");
    });

    test("mkdirp creates parents, is idempotent, and walks through a symlinked directory", async () => {
      const d = await fresh();
      await rt.fs.mkdirp(`${d}/a/b/c`);
      await rt.fs.mkdirp(`${d}/a/b/c`);
      assert.equal((await rt.fs.stat(`${d}/a/b/c`)).kind, "directory");
      await rt.fs.symlink("a", `${d}/via`);
      await rt.fs.mkdirp(`${d}/via/b/d`);
      assert.equal((await rt.fs.lstat(`${d}/a/b/d`)).kind, "directory");
      await rt.fs.writeFile(`${d}/file`, bytes(""));
      await rejectsWith(rt.fs.mkdirp(`${d}/file`), "EEXIST");
      await rejectsWith(rt.fs.mkdirp(`${d}/file/sub`), "ENOTDIR");
    });

    // -- removal -------------------------------------------------------------------

    test("removeFile removes files and symlinks (not their targets) and refuses directories", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/f`, bytes("x"));
      await rt.fs.symlink("f", `${d}/l`);
      await rt.fs.removeFile(`${d}/l`);
      assert.deepEqual(await rt.fs.readdir(d), ["f"]);
      await rt.fs.removeFile(`${d}/f`);
      await rejectsWith(rt.fs.removeFile(`${d}/f`), "ENOENT");
      // Deno's unlink would delete an empty directory: the adapter must look first.
      await rt.fs.mkdirp(`${d}/empty`);
      await rejectsWith(rt.fs.removeFile(`${d}/empty`), "EISDIR", "EPERM");
      assert.equal((await rt.fs.stat(`${d}/empty`)).kind, "directory");
    });

    test("removeTree removes a whole tree, tolerates absence, and never follows a symlink", async () => {
      const d = await fresh();
      await rt.fs.mkdirp(`${d}/keep`);
      await rt.fs.writeFile(`${d}/keep/precious`, bytes("p"));
      await rt.fs.mkdirp(`${d}/t/a/b`);
      await rt.fs.writeFile(`${d}/t/a/b/f`, bytes("x"));
      await rt.fs.symlink("../keep", `${d}/t/link`);
      await rt.fs.removeTree(`${d}/t`);
      await rejectsWith(rt.fs.lstat(`${d}/t`), "ENOENT");
      assert.equal(dec.decode(await rt.fs.readFile(`${d}/keep/precious`)), "p");
      await rt.fs.removeTree(`${d}/t`);
      await rt.fs.symlink("keep", `${d}/l2`);
      await rt.fs.removeTree(`${d}/l2`);
      assert.deepEqual(await rt.fs.readdir(`${d}/keep`), ["precious"]);
    });

    test("removeEmptyDir removes only an empty directory", async () => {
      const d = await fresh();
      await rt.fs.mkdirp(`${d}/full/x`);
      await rejectsWith(rt.fs.removeEmptyDir(`${d}/full`), "ENOTEMPTY");
      await rt.fs.removeEmptyDir(`${d}/full/x`);
      await rt.fs.removeEmptyDir(`${d}/full`);
      await rejectsWith(rt.fs.removeEmptyDir(`${d}/full`), "ENOENT");
      await rt.fs.writeFile(`${d}/f`, bytes(""));
      await rejectsWith(rt.fs.removeEmptyDir(`${d}/f`), "ENOTDIR");
    });

    // -- whole files ---------------------------------------------------------------

    test("copyExclusive copies bytes and refuses an existing target", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/a`, bytes("content"));
      await rt.fs.copyExclusive(`${d}/a`, `${d}/b`);
      assert.equal(dec.decode(await rt.fs.readFile(`${d}/b`)), "content");
      await rt.fs.writeFile(`${d}/c`, bytes("other"));
      await rejectsWith(rt.fs.copyExclusive(`${d}/a`, `${d}/c`), "EEXIST");
      assert.equal(dec.decode(await rt.fs.readFile(`${d}/c`)), "other");
      await rejectsWith(rt.fs.copyExclusive(`${d}/nope`, `${d}/e`), "ENOENT");
      // A copy is independent of its source.
      await rt.fs.writeFile(`${d}/a`, bytes("changed"));
      assert.equal(dec.decode(await rt.fs.readFile(`${d}/b`)), "content");
    });

    test("writeFile creates or truncates; readFile returns plain bytes", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/f`, bytes("long content"));
      await rt.fs.writeFile(`${d}/f`, bytes("short"));
      const back = await rt.fs.readFile(`${d}/f`);
      assert.equal(Object.getPrototypeOf(back), Uint8Array.prototype);
      assert.equal(dec.decode(back), "short");
      await rejectsWith(rt.fs.readFile(`${d}/nope`), "ENOENT");
      await rejectsWith(rt.fs.readFile(d), "EISDIR");
      await rejectsWith(rt.fs.writeFile(`${d}/missing/f`, bytes("")), "ENOENT");
    });

    test("utimes sets access and modification times", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/f`, bytes("x"));
      await rt.fs.utimes(`${d}/f`, 1_600_000_000_000, 1_500_000_000_000);
      const st = await rt.fs.stat(`${d}/f`);
      assert.equal(Math.round(st.atimeMs), 1_600_000_000_000);
      assert.equal(Math.round(st.mtimeMs), 1_500_000_000_000);
      await rejectsWith(rt.fs.utimes(`${d}/nope`, 0, 0), "ENOENT");
    });

    test("syncDir flushes an existing directory and reports a missing one", async () => {
      const d = await fresh();
      await rt.fs.writeFile(`${d}/f`, bytes("x"));
      await rt.fs.syncDir(d);
      await rejectsWith(rt.fs.syncDir(`${d}/nope`), "ENOENT");
    });

    test("realpath resolves symlinked directories to the canonical path", async () => {
      const d = await fresh();
      await rt.fs.mkdirp(`${d}/real/sub`);
      await rt.fs.writeFile(`${d}/real/sub/f`, bytes("x"));
      await rt.fs.symlink("real/sub", `${d}/ln`);
      assert.equal(await rt.fs.realpath(`${d}/ln/f`), `${d}/real/sub/f`);
      assert.equal(await rt.fs.realpath(`${d}/ln/../sub/./f`), `${d}/real/sub/f`);
      assert.equal(await rt.fs.realpath(d), d);
      await rejectsWith(rt.fs.realpath(`${d}/ln/nope`), "ENOENT");
    });

    // -- hashers -------------------------------------------------------------------

    test("hashers match the sha256, sha1 and git-blob vectors", async () => {
      for (const [algo, input, hex] of VECTORS) {
        const h = await rt.hashers.create(algo);
        h.update(bytes(input));
        assert.equal(h.digestHex(), hex, `${algo}(${JSON.stringify(input)})`);
      }
    });

    test("incremental hashing in uneven pieces equals one-shot hashing", async () => {
      const data = new Uint8Array(300_001);
      for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
      for (const algo of ["sha256", "sha1"] as const) {
        const whole = await rt.hashers.create(algo);
        whole.update(data);
        const pieces = await rt.hashers.create(algo);
        let at = 0;
        for (const size of [0, 1, 63, 64, 65, 4096, 65_536, 100_000]) {
          pieces.update(data.subarray(at, at + size));
          at += size;
        }
        pieces.update(data.subarray(at));
        assert.equal(pieces.digestHex(), whole.digestHex(), algo);
      }
    });

    // -- platform ------------------------------------------------------------------

    test("randomHex gives 2 hex chars per byte and does not repeat", () => {
      const seen = new Set<string>();
      for (let i = 0; i < 200; i++) {
        const h = rt.platform.randomHex(16);
        assert.match(h, /^[0-9a-f]{32}$/);
        seen.add(h);
      }
      assert.equal(seen.size, 200);
      assert.match(rt.platform.randomHex(3), /^[0-9a-f]{6}$/);
    });

    test("isProcessAlive: our own pid is alive, an exited one is not", async () => {
      assert.equal(rt.platform.isProcessAlive(rt.platform.pid()), true);
      assert.equal(rt.platform.isProcessAlive(await s.deadPid()), false);
    });

    test("platform identity, env and sleep behave", async () => {
      assert.ok(rt.platform.hostname().length > 0);
      assert.ok(rt.platform.homeDir().startsWith("/"));
      assert.equal(rt.platform.env("HUBCACHE_SURELY_UNSET_VARIABLE"), undefined);
      assert.equal(typeof rt.platform.now(), "number");
      const ac = new AbortController();
      const pending = rt.platform.sleep(60_000, ac.signal);
      ac.abort(new Error("stop"));
      await assert.rejects(pending, /stop/);
      await rt.platform.sleep(0);
    });

    // -- locks ---------------------------------------------------------------------

    test("the advisory lock (where present) excludes a second holder until released", async () => {
      // Bun (bun:ffi) and Deno (Deno.dlopen, granted by -A) must have one; Node has none.
      if (rt.name === "bun" || rt.name === "deno") assert.ok(rt.locks, `${rt.name} provides a lock`);
      const locks = rt.locks;
      if (locks === undefined) return;
      const d = await fresh();
      const path = `${d}/.locks/models--a--b/e.lock`;
      const first = await locks.tryLock(path);
      assert.ok(first, "first tryLock gets the lock");
      assert.equal(await locks.tryLock(path), null, "second tryLock is refused");
      await first.release();
      await first.release();
      const again = await locks.tryLock(path);
      assert.ok(again, "free again after release");
      await again.release();
    });

    test("the advisory lock (where present) excludes another process, and dies with it", async () => {
      if (rt.locks === undefined || s.holdLockElsewhere === undefined) return;
      const d = await fresh();
      const path = `${d}/.locks/models--a--b/e.lock`;
      const child = await s.holdLockElsewhere(path);
      try {
        assert.equal(await rt.locks.tryLock(path), null);
      } finally {
        await child.stop();
      }
      // SIGKILL gives the holder no chance to clean up; the kernel drops the flock anyway.
      const mine = await rt.locks.tryLock(path);
      assert.ok(mine);
      await mine.release();
    });
  });
}

// ---------------------------------------------------------------------------
// The subjects

/**
 * Resolves on the child's "exit" event. Call right after spawn: Deno sets `signalCode`
 * as soon as `kill()` is called, before the process is gone, so polling it lies.
 */
function exitOf(child: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function exitedPid(): Promise<number> {
  const child = spawn("sh", ["-c", "exit 0"], { stdio: "ignore" });
  await exitOf(child);
  return child.pid!;
}

/** Spawn this runtime on a script that takes the lock and holds it until killed. */
async function holdLockInChild(path: string): Promise<{ stop(): Promise<void> }> {
  const name = currentRuntimeName();
  const adapter = new URL(`../src/adapters/${name}.ts`, import.meta.url).href;
  const dir = await makeTempDir("hubcache-lockchild-");
  const script = `${dir}/hold.ts`;
  await nodeFs.writeFile(
    script,
    `import { ${name}Runtime } from ${JSON.stringify(adapter)};\n` +
      // The lock object is dropped and the heap collected on purpose: a lock must end only
      // by release() or process exit, never because the garbage collector closed its file.
      `const got = (await ${name}Runtime().locks!.tryLock(${JSON.stringify(path)})) !== null;\n` +
      `const g = globalThis as { Bun?: { gc(full: boolean): void }; gc?: () => void };\n` +
      `for (let i = 0; i < 3; i++) { g.Bun?.gc(true); g.gc?.(); await new Promise((r) => setTimeout(r, 10)); }\n` +
      `console.log(got ? "locked" : "busy");\n` +
      `setInterval(() => {}, 1000);\n`,
  );
  const args = name === "deno" ? ["run", "-A", "--v8-flags=--expose-gc", script] : [script];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const exited = exitOf(child);
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Uint8Array) => {
      out += dec.decode(chunk);
      if (out.includes("\n")) resolve(out.trim());
    });
    child.once("exit", (code) => reject(new Error(`lock child exited early (${code}): ${out}`)));
  });
  assert.equal(line, "locked");
  return {
    async stop(): Promise<void> {
      child.kill("SIGKILL");
      await exited;
      await removeTempDir(dir);
    },
  };
}

adapterContract(currentRuntimeName(), async () => {
  const root = await makeTempDir("hubcache-contract-");
  return {
    rt: testRuntime(),
    root,
    deadPid: exitedPid,
    ...(currentRuntimeName() === "node" ? {} : { holdLockElsewhere: holdLockInChild }),
    cleanup: () => removeTempDir(root),
  };
});

adapterContract("memory", async () => {
  const rt = memoryRuntime({ pid: 100 });
  await rt.fs.mkdirp("/tmp/contract");
  return {
    rt,
    root: "/tmp/contract",
    deadPid: () => Promise.resolve(101),
    cleanup: () => {
      assert.deepEqual(rt.fs.openHandles(), [], "every handle was closed");
      return Promise.resolve();
    },
  };
});
