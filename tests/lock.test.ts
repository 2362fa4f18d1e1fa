import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { acquireDownloadLock } from "../src/core/download/lock.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { ownLockPath, repoLayout } from "../src/core/cache/layout.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub } from "./_support/hub.ts";

describe("the de-duplication lock never blocks on a holder that cannot be working", () => {
  let fx: HubFixture;
  let n = 0;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/lock");
  });
  after(() => fx.close());

  async function lockedFile(owner: { host: string; pid: number }, ageMs = 0): Promise<{ path: string; data: Uint8Array; lock: string }> {
    const path = `f${++n}.bin`;
    const data = bytes(200_000, 700 + n);
    fx.hub.repo("org/lock").commit({ [path]: data });
    const etag = fx.hub.repo("org/lock").fileInfo(path).sha256;
    const layout = repoLayout(fx.cacheDir, "model", "org/lock");
    await fsp.mkdir(layout.locksDir, { recursive: true });
    const lock = join(layout.locksDir, `${etag}.hubcache-lock`);
    await fsp.writeFile(lock, JSON.stringify({ ...owner, nonce: "ab".repeat(16) }));
    if (ageMs > 0) {
      const t = new Date(Date.now() - ageMs);
      await fsp.utimes(lock, t, t);
    }
    return { path, data, lock };
  }
  const host = (): string => fx.runtime.platform.hostname().replace(/[^A-Za-z0-9_-]/g, "_");

  test("a lock left by a dead process on this host is broken at once", async () => {
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const f = await lockedFile({ host: host(), pid: dead });
    // Record the lock's waits instead of timing them (they go through the runtime's sleep).
    const waits: number[] = [];
    const platform = fx.runtime.platform;
    const runtime = {
      ...fx.runtime,
      platform: { ...platform, sleep: (ms: number, signal?: AbortSignal) => (waits.push(ms), platform.sleep(ms, signal)) },
    };
    const out = await downloadFile({ ...fx.base, runtime, repo: "org/lock", path: f.path });
    assert.ok(waits.length <= 1, `a dead holder must not make us wait: waited ${waits.join(", ")} ms`);
    assert.ok(sameBytes(await readBytes(out), f.data));
    await assert.rejects(fsp.stat(f.lock), { code: "ENOENT" });
  });

  test("a lock of a live process is waited for, and the wait ends when it is released", async () => {
    const f = await lockedFile({ host: host(), pid: process.ppid });
    const release = setTimeout(() => void fsp.rm(f.lock), 700);
    const started = Date.now();
    const out = await downloadFile({ ...fx.base, repo: "org/lock", path: f.path });
    clearTimeout(release);
    assert.ok(Date.now() - started >= 600, "a live holder must be waited for");
    assert.ok(sameBytes(await readBytes(out), f.data));
  });

  test("another host's lock is broken once its heartbeat is older than the stale time", async () => {
    const f = await lockedFile({ host: "far-away-host", pid: 1 }, 120_000);
    const layout = repoLayout(fx.cacheDir, "model", "org/lock");
    const etag = fx.hub.repo("org/lock").fileInfo(f.path).sha256;
    const held = await acquireDownloadLock(fx.runtime, layout, etag, { staleAfterMs: 60_000, isDone: async () => false });
    assert.notEqual(held, "done");
    if (held !== "done") await held.release();
    // Only our lock file: the Python-compatible `<etag>.lock` taken with flock (Bun, Deno) stays, as in Python.
    assert.deepEqual((await listDir(layout.locksDir)).filter((x) => x.startsWith(etag) && x.includes("hubcache-lock")), []);
  });

  test("a waiter stops waiting as soon as the blob it waits for is published", async () => {
    const f = await lockedFile({ host: "far-away-host", pid: 1 });
    const layout = repoLayout(fx.cacheDir, "model", "org/lock");
    const etag = fx.hub.repo("org/lock").fileInfo(f.path).sha256;
    let done = false;
    setTimeout(() => (done = true), 300);
    const result = await acquireDownloadLock(fx.runtime, layout, etag, { staleAfterMs: 60_000, isDone: async () => done });
    assert.equal(result, "done");
    await fsp.rm(f.lock);
  });

  test("the holder's heartbeat runs on the runtime's clock: each period of simulated time refreshes the lock, and release stops it", async () => {
    const rt = memoryRuntime({ timers: "manual", startMs: 5_000_000 });
    const layout = repoLayout("/cache", "model", "org/heartbeat");
    const etag = "e".repeat(64);
    const held = await acquireDownloadLock(rt, layout, etag, { staleAfterMs: 60_000, isDone: async () => false });
    assert.notEqual(held, "done");
    const lock = ownLockPath(layout, etag);
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 0));
    };
    const created = (await rt.fs.stat(lock)).mtimeMs;
    for (let beat = 1; beat <= 3; beat++) {
      rt.clock.advance(10_000); // a sixth of the stale time
      await settle();
      assert.equal((await rt.fs.stat(lock)).mtimeMs, created + beat * 10_000, `beat ${beat}`);
    }
    if (held !== "done") await held.release();
    assert.equal(await rt.fs.stat(lock).then(() => "present", () => "removed"), "removed");
    rt.clock.advance(60_000);
    await settle();
    assert.deepEqual(rt.fs.openHandles(), []);
  });

  test("an aborted waiter ends with AbortedError", async () => {
    const f = await lockedFile({ host: "far-away-host", pid: 1 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const err = await downloadFile({ ...fx.base, repo: "org/lock", path: f.path, signal: controller.signal }).catch((e) => e);
    assert.equal(err?.code, "Aborted", String(err));
    await fsp.rm(f.lock);
  });
});

describe("the lock's own cost", () => {
  test("an uncontended take and release reads the lock file once and removes it without looking at it again", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    const layout = repoLayout("/cache", "model", "org/cost");
    const etag = "ab".repeat(32);
    await runtime.fs.mkdirp(layout.locksDir); // a repo's first lock also makes the folder
    const calls: string[] = [];
    runtime.fs.beforeOp = (op, paths) => {
      if (paths.some((p) => p.startsWith(layout.locksDir))) calls.push(`${op} ${paths[0]!.slice(layout.locksDir.length + 1)}`);
    };
    const lock = await acquireDownloadLock(runtime, layout, etag, { isDone: async () => false, checkedJustNow: true });
    assert.notEqual(lock, "done");
    if (lock !== "done") await lock.release();
    runtime.fs.beforeOp = undefined;
    const own = `${etag}.hubcache-lock`;
    assert.deepEqual(calls.filter((c) => c.endsWith(own)), [
      `createExclusive ${own}`, `write ${own}`, `close ${own}`, // take: our identity in it
      `readFile ${own}`, `removeFile ${own}`, // release: still ours? then remove it
    ]);
    assert.ok(!(await runtime.fs.readdir(layout.locksDir)).includes(own), "released: our lock file is gone");
  });
});

