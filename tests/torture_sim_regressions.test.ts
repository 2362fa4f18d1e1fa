/**
 * Regressions found by the torture parts 4–6 (`tests/torture/{fs_faults,simulation,fuzz}.ts`).
 * Each test states the guarantee that broke, reproduces it in the smallest setting, and fails
 * until `src/core` is fixed. The torture report names the seed/round that first showed it.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { MemoryFileSystem, memoryRuntime } from "../src/adapters/memory.ts";
import { downloadFile } from "../src/core/download.ts";
import { blobPath, repoLayout } from "../src/core/layout.ts";
import { FsError, type CheckpointName, type Runtime } from "../src/core/ports.ts";
import { HubEmulator } from "../src/testing/mod.ts";

const MiB = 1 << 20;
const REPO = "regress/sim";
const CACHE = "/cache";

function content(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

describe("torture regressions (parts 4-6)", () => {
  let hub: HubEmulator;
  const data = content(3 * MiB + 4321, 7);
  const small = content(2 * MiB + 99, 8);
  let etag = "";
  before(async () => {
    hub = await HubEmulator.start();
    const repo = hub.createRepo(REPO);
    repo.commit({ "weights.bin": data, "other.bin": small });
    etag = repo.fileInfo("weights.bin").etag;
  });
  after(() => hub.close());

  // fs-faults, e.g. `--seed 7 --round 4` (write:EACCES#2): transfer.ts keeps one write in flight
  // while it reads the next chunk; when that write fails before the read returns, its promise
  // rejects with no handler attached yet. Node, Deno and Bun end the process on an unhandled
  // rejection, so an ENOSPC/EIO mid-download kills the CLI (or the user's program) instead of
  // releasing the partial and throwing FsError.
  test("a write that fails while the next chunk is in flight rejects the download, never crashes the process", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on("unhandledRejection", onUnhandled);
    try {
      const runtime = memoryRuntime({ timers: "auto", pid: 501 });
      runtime.fs.injectFault({ op: "write", code: "ENOSPC", pathIncludes: ".incomplete" });
      await assert.rejects(
        downloadFile({ runtime, repo: REPO, path: "weights.bin", cacheDir: CACHE, endpoint: hub.endpoint, token: false }),
        (err: unknown) => err instanceof FsError && err.code === "ENOSPC",
      );
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    assert.deepEqual(unhandled.map(String), [], "an unhandled rejection ends the process on Node, Deno and Bun");
  });

  // fs-faults, e.g. `--seed 7 --round 7` (rename:EXDEV[/blobs/]) and rename:ENOSPC/EIO: the
  // file was downloaded, verified and fsynced, then the publishing rename failed; download.ts
  // `publish` removes the verified temp file, so the next run downloads every byte again.
  // Step 9 of download.ts says a temp file is removed only "when its bytes are worthless".
  test("verified bytes survive a failed publishing rename: the next run does not download them again", async () => {
    const runtime = memoryRuntime({ timers: "auto", pid: 601 });
    runtime.fs.injectFault({ op: "rename", code: "EIO", pathIncludes: "/blobs/" });
    await assert.rejects(
      downloadFile({ runtime, repo: REPO, path: "weights.bin", cacheDir: CACHE, endpoint: hub.endpoint, token: false }),
      (err: unknown) => err instanceof FsError && err.code === "EIO",
    );
    hub.clearRequests();
    const next = memoryRuntime({ fs: runtime.fs, clock: runtime.clock, timers: "auto", pid: 602 });
    const path = await downloadFile({ runtime: next, repo: REPO, path: "weights.bin", cacheDir: CACHE, endpoint: hub.endpoint, token: false });
    assert.ok(sameBytes(await runtime.fs.readFile(path), data));
    const refetched = hub.requests.filter((r) => r.method === "GET" && r.filePath === "weights.bin").map((r) => r.range ?? "full");
    assert.deepEqual(refetched.filter((r) => r === "full" || r === "bytes=0-"), [], `the next run fetched ${refetched.join(", ")}`);
  });

  // fs-faults, e.g. `--seed 7 --round 64` (crash@renamed, pessimistic): the blob was fsynced,
  // renamed into blobs/ and blobs/ was fsynced, yet a power cut loses it, because blobs/ (and
  // the repo folder) were created by this download and their parents were never fsynced: the
  // new directory entries are not durable. A download that reported the blob as published
  // must not lose it to a power cut.
  test("a blob published in a fresh cache survives a power cut", async () => {
    const base = memoryRuntime({ timers: "auto", pid: 701 });
    let crashed: MemoryFileSystem | undefined;
    const runtime: Runtime = {
      ...base,
      checkpoint: (name: CheckpointName) => {
        if (name === "renamed" && !crashed) crashed = base.fs.crash();
      },
    };
    await downloadFile({ runtime, repo: REPO, path: "other.bin", cacheDir: CACHE, endpoint: hub.endpoint, token: false });
    assert.ok(crashed, "the download reached the 'renamed' checkpoint");
    const blob = blobPath(repoLayout(CACHE, "model", REPO), hub.repo(REPO).fileInfo("other.bin").etag);
    const kept = await crashed.readFile(blob).catch((err: unknown) => err);
    assert.ok(kept instanceof Uint8Array && sameBytes(kept, small), `after the power cut: ${kept instanceof Error ? kept.message : "wrong bytes"}`);
  });
});
