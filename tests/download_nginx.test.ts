/**
 * nginx as the CDN: resume through a web server we did not write. The Hub emulator answers
 * the metadata and redirects LFS downloads to a private nginx; bytes are counted from nginx's
 * own access log. The CLI runs as a real process on the runtime running this file (so across
 * `npm test` on Node, Deno and Bun), interrupted at random points.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { HubEmulator } from "../src/testing/mod.ts";
import { finished, spawnCli } from "./_support/cli.ts";
import { CuttingRelay } from "./_support/cutting_relay.ts";
import { bytes, listDir, randomBetween, readBytes, sameBytes, TOKEN, waitFor } from "./_support/hub.ts";
import { type AccessLogEntry, Nginx } from "./_support/nginx.ts";
import { currentRuntimeName, testRuntime } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

const MiB = 1024 * 1024;

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");
const total = (entries: AccessLogEntry[]): number => entries.reduce((n, e) => n + e.bytesSent, 0);
const shown = (entries: AccessLogEntry[]): string => entries.map((e) => `${e.range || "full"}→${e.status}:${e.bytesSent}`).join(", ");

describe("nginx as the CDN", () => {
  let nginx: Nginx;
  const hubs: HubEmulator[] = [];
  const dirs: string[] = [];

  /** An emulator whose LFS redirects go to `cdnBase`, holding `files`; each file is also published on nginx. */
  async function hubFor(cdnBase: string, repo: string, files: Record<string, Uint8Array>): Promise<HubEmulator> {
    const hub = await HubEmulator.start({ cdn: { baseUrl: cdnBase } });
    hubs.push(hub);
    hub.createRepo(repo).commit(files);
    for (const content of Object.values(files)) await nginx.publish(`lfs/${sha256(content)}`, content);
    return hub;
  }

  async function cacheDir(): Promise<string> {
    const dir = await makeTempDir("hubcache-nginx-cache-");
    dirs.push(dir);
    return dir;
  }

  before(async () => {
    // 24 MiB/s per connection: a 64 MiB download takes ~2.7 s, long enough to interrupt twice.
    nginx = await Nginx.start({ limitRate: "24m" });
  });
  after(async () => {
    for (const hub of hubs) await hub.close();
    await nginx?.close();
    for (const dir of dirs) await removeTempDir(dir);
  });

  test("64 MiB, SIGKILLed then Ctrl-C'd at random points, then finished: each resume starts at the durable bytes, at most 1.1× the file from nginx, blob exact", async () => {
    const size = 64 * MiB;
    const data = bytes(size, 123);
    const etag = sha256(data);
    const hub = await hubFor(nginx.origin, "org/big", { "model.bin": data });
    const cache = await cacheDir();
    const blobs = join(cache, "models--org--big", "blobs");
    const rt = currentRuntimeName();
    // One stream: this story is about sequential resume (parallel ranges through nginx are below).
    const args = ["download", "org/big", "model.bin", "--endpoint", hub.endpoint, "--cache-dir", cache, "--token", TOKEN, "--quiet", "--connections", "1"];
    const killAt = randomBetween(0.1 * size, 0.35 * size);
    const interruptAt = randomBetween(0.5 * size, 0.8 * size);
    const story = `${rt}: SIGKILL at ≥${killAt}, SIGINT at ≥${interruptAt}`;

    /** Start the CLI and wait until its own temp file holds `atBytes`. */
    async function runUntil(atBytes: number) {
      const child = spawnCli(rt, args);
      const exited = finished(child);
      const own = new RegExp(`-${child.pid}-[0-9a-f]{32}\\.incomplete$`);
      try {
        await waitFor(async () => {
          for (const name of await listDir(blobs)) {
            if (!own.test(name)) continue;
            if (((await fsp.stat(join(blobs, name)).catch(() => null))?.size ?? 0) >= atBytes) return true;
          }
          return false;
        }, 60_000, `the ${rt} CLI's temp file to reach ${atBytes} bytes`);
      } catch (err) {
        child.kill("SIGKILL");
        throw new Error(`${story}: ${(err as Error).message}; CLI said: ${(await exited).stderr}`);
      }
      return { child, exited, own };
    }

    const first = await runUntil(killAt);
    first.child.kill("SIGKILL");
    assert.equal((await first.exited).signal, "SIGKILL", story);
    const killedName = (await listDir(blobs)).find((name) => first.own.test(name));
    assert.ok(killedName !== undefined, `${story}: the killed writer's temp file is left`);
    const killedSize = (await fsp.stat(join(blobs, killedName))).size;

    const second = await runUntil(interruptAt);
    // process.kill, not child.kill: Deno's ChildProcess reports a signal it sent itself
    // instead of the exit code the child chose.
    process.kill(second.child.pid!, "SIGINT");
    const interrupted = await second.exited;
    assert.equal(interrupted.code, 130, `${story}: ${interrupted.stderr}`);
    assert.deepEqual(await listDir(blobs), [`${etag}.partial`], story);
    const partialSize = (await fsp.stat(join(blobs, `${etag}.partial`))).size;

    const third = await finished(spawnCli(rt, args));
    assert.equal(third.code, 0, `${story}: ${third.stderr}`);
    assert.equal(third.stdout.trim(), join(cache, "models--org--big", "snapshots", hub.repo("org/big").fileInfo("model.bin").commit, "model.bin"));
    assert.deepEqual(await listDir(blobs), [etag], `${story}: one blob, no temp file`);
    assert.ok(sameBytes(await readBytes(join(blobs, etag)), data), `${story}: the blob is exact`);

    const gets = await nginx.waitForLog(3, (e) => e.uri === `/lfs/${etag}`);
    const sent = total(gets);
    assert.deepEqual(gets.map((e) => e.status), [200, 206, 206], `${story}: ${shown(gets)}`);
    // Every resume starts exactly where the durable bytes end.
    assert.deepEqual(gets.slice(1).map((e) => e.range), [`bytes=${killedSize}-`, `bytes=${partialSize}-`], `${story}: ${shown(gets)}`);
    assert.ok(sent <= 1.1 * size, `${story}: nginx sent ${(sent / size).toFixed(3)}× the file (${shown(gets)})`);
    assert.ok(gets.every((e) => e.ifRange === ""), "no If-Range is sent");
    assert.ok(gets.every((e) => e.etag !== `"${etag}"` && e.etag !== ""), "nginx labels the bytes with its own ETag");
  });

  test("parallel ranges through nginx (the default 8 connections for 64 MiB): bounded ranges nginx honours, each byte once, blob exact", async () => {
    const size = 64 * MiB + 4321;
    const data = bytes(size, 77);
    const etag = sha256(data);
    const hub = await hubFor(nginx.origin, "org/par", { "model.bin": data });
    const cache = await cacheDir();
    const path = await downloadFile({ runtime: testRuntime(), cacheDir: cache, endpoint: hub.endpoint, repo: "org/par", path: "model.bin" });
    assert.ok(sameBytes(await readBytes(path), data), "the blob is exact");
    const gets = (await nginx.accessLog()).filter((e) => e.uri === `/lfs/${etag}`);
    assert.ok(gets.length >= 9, `at least one range per connection and more: ${shown(gets)}`);
    assert.ok(gets.every((e) => e.status === 206 && /^bytes=\d+-\d+$/.test(e.range) && e.ifRange === ""), shown(gets));
    // Every byte is asked for at least once and the ranges only overlap where a crawling
    // connection was re-issued (its rest starts past its own start).
    const spans = gets.map((e) => /^bytes=(\d+)-(\d+)$/.exec(e.range)!.slice(1).map(Number)).sort((a, b) => a[0] - b[0]);
    let next = 0;
    for (const [start, end] of spans) if (start <= next) next = Math.max(next, end + 1);
    assert.equal(next, size, `the ranges cover the file: ${shown(gets)}`);
    assert.equal(new Set(spans.map(([start]) => start)).size, spans.length, `no range is asked twice from the same start: ${shown(gets)}`);
  });

  test("a connection dropped mid-body is resumed in-process with a Range nginx honours", async () => {
    const size = 24 * MiB;
    const data = bytes(size, 321);
    const etag = sha256(data);
    const relay = await CuttingRelay.start(nginx.origin);
    try {
      const hub = await hubFor(relay.origin, "org/drop", { "model.bin": data });
      const cutAt = randomBetween(0.2 * size, 0.7 * size);
      relay.cutNextAfter(cutAt);
      const cache = await cacheDir();
      const path = await downloadFile({ runtime: testRuntime(), cacheDir: cache, endpoint: hub.endpoint, repo: "org/drop", path: "model.bin" });
      assert.equal(relay.cuts, 1, "the connection was cut");
      assert.ok(sameBytes(await readBytes(path), data), "the blob is exact");
      const gets = await nginx.waitForLog(2, (e) => e.uri === `/lfs/${etag}`);
      const sent = total(gets);
      assert.ok(sent <= 1.1 * size, `cut at ${cutAt}: nginx sent ${(sent / size).toFixed(3)}× the file (${shown(gets)})`);
      assert.deepEqual(gets.map((e) => e.status), [200, 206], shown(gets));
      assert.match(gets[1].range, /^bytes=\d+-$/);
      assert.ok(Number(/\d+/.exec(gets[1].range)![0]) >= cutAt - 2 * MiB, `resumed from ${gets[1].range}, cut at ${cutAt}`);
    } finally {
      await relay.close();
    }
  });

  test("with gzip on for every type, we still get the bytes as stored; nginx's relative redirect is followed", async () => {
    const text = new TextEncoder().encode("a highly compressible line of text\n".repeat(6000));
    const etag = sha256(text);
    const hub = await hubFor(`${nginx.origin}/moved`, "org/gz", { "vocab.txt": text });
    const control = await fetch(`${nginx.origin}/lfs/${etag}`, { headers: { "accept-encoding": "gzip" } });
    await control.body?.cancel();
    assert.equal(control.headers.get("content-encoding"), "gzip", "this nginx compresses for clients that accept gzip");

    const cache = await cacheDir();
    const path = await downloadFile({ runtime: testRuntime(), cacheDir: cache, endpoint: hub.endpoint, repo: "org/gz", path: "vocab.txt" });
    assert.ok(sameBytes(await readBytes(path), text));
    const log = (await nginx.accessLog()).filter((e) => e.uri.endsWith(`/lfs/${etag}`) && e.acceptEncoding !== "gzip");
    assert.deepEqual(log.map((e) => `${e.uri.startsWith("/moved/") ? "moved" : "lfs"} ${e.status} ${e.acceptEncoding} ${e.contentEncoding || "-"}`), [
      "moved 302 identity -",
      "lfs 200 identity -",
    ]);
  });
});
