/**
 * Regressions found by the torture parts 4–6 (`tests/torture/{fs_faults,simulation,fuzz}.ts`).
 * Each test states the guarantee that broke, reproduces it in the smallest setting, and fails
 * until `src/core` is fixed. The torture report names the seed/round that first showed it.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { MemoryFileSystem, memoryRuntime } from "../src/adapters/memory/mod.ts";
import { downloadFile } from "../src/core/download/download.ts";
import { AbortedError, InvalidInputError } from "../src/core/errors.ts";
import { hubFetch, type HubClient } from "../src/core/hub/client.ts";
import { readTreeCache } from "../src/core/cache/tree_cache.ts";
import { validateRepoPath, validateRevision } from "../src/core/cache/validate.ts";
import { treePath } from "../src/core/cache/layout.ts";
import { blobPath, repoLayout } from "../src/core/cache/layout.ts";
import { FsError, type CheckpointName, type Runtime } from "../src/core/ports.ts";
import { HubEmulator } from "../src/testing/mod.ts";
import { bytes, sameBytes } from "./_support/hub.ts";

const MiB = 1 << 20;
const REPO = "regress/sim";
const CACHE = "/cache";

describe("torture regressions (parts 4-6)", () => {
  let hub: HubEmulator;
  const data = bytes(3 * MiB + 4321, 7);
  const small = bytes(2 * MiB + 99, 8);
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

  // simulation, `node scripts/replay.mjs 164` (and 249): the abort signal fires while the HEAD
  // request waits out its retry backoff after a 503 / refused connection. http.ts
  // `requestWithRetries` sleeps with the signal but does not convert the sleep's rejection, so
  // the signal's reason (a DOMException "AbortError") leaves downloadFile instead of the typed
  // AbortedError (code "Aborted") the API promises.
  test("an abort during the metadata retry backoff ends in AbortedError, not a raw DOMException", async () => {
    hub.injectFault({ kind: "status", status: 503, times: 4, match: { method: "HEAD" } });
    try {
      const runtime = memoryRuntime({ timers: "manual", pid: 801 });
      const controller = new AbortController();
      const download = downloadFile({
        runtime,
        repo: REPO,
        path: "other.bin",
        cacheDir: CACHE,
        endpoint: hub.endpoint,
        token: false,
        signal: controller.signal,
        maxAttempts: 5,
      });
      download.catch(() => {});
      for (let i = 0; i < 500 && runtime.clock.pendingSleeps === 0; i++) await new Promise((r) => setTimeout(r, 5));
      assert.ok(runtime.clock.pendingSleeps > 0, "the download is waiting out a retry backoff");
      controller.abort();
      await assert.rejects(download, (err: unknown) => {
        assert.ok(err instanceof AbortedError, `got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
        return true;
      });
    } finally {
      hub.clearFaults();
    }
  });

  // fuzz, property "validateRevision/validateRepoPath: accepted strings are well-formed Unicode"
  // (shrunk counterexample "\ud800"): a lone UTF-16 surrogate passes both validators, so a tree
  // listing (JSON may escape one) or a user can hand downloadFile such a path. Building the
  // request URL then throws an untyped URIError (encodeURIComponent), and on disk Node, Deno and
  // Bun store U+FFFD instead, so "a\ud800" and "a\udc00" would share one snapshot file.
  test("a file path or revision with a lone surrogate is refused as InvalidInput", async () => {
    for (const bad of ["\ud800", "a\udc00b", "dir/\ud83d.bin"]) {
      assert.throws(() => validateRepoPath(bad), InvalidInputError, `validateRepoPath(${JSON.stringify(bad)})`);
      assert.throws(() => validateRevision(bad), InvalidInputError, `validateRevision(${JSON.stringify(bad)})`);
    }
    const runtime = memoryRuntime({ timers: "auto", pid: 901 });
    await assert.rejects(
      downloadFile({ runtime, repo: REPO, path: "x\ud800.bin", cacheDir: CACHE, endpoint: hub.endpoint, token: false }),
      InvalidInputError,
    );
  });

  // fuzz, property "hubFetch: Location headers …" (shrunk: Location "/\\localhost:<port>"): http.ts
  // decides a Location is relative by its text (no scheme, no leading "//"), but the URL parser
  // reads "/\\host" (and "/<TAB>/host") as "//host". So with followAbsolute false — the HEAD of
  // resolveFileMetadata, which must stop at the CDN redirect and read its headers — hubFetch
  // follows a redirect to another host. (The token is still withheld: that check is by origin.)
  test("hubFetch does not follow a Location that resolves to another host when told to stop at absolute redirects", async () => {
    for (const location of ["/\\evil.example/x", "/\t/evil.example/x", "\\\\evil.example/x"]) {
      const requested: string[] = [];
      const fetchStub = (async (input: RequestInfo | URL): Promise<Response> => {
        requested.push(String(input));
        if (new URL(String(input)).host !== "hub.example") return new Response("elsewhere", { status: 200 });
        return new Response(null, { status: 302, headers: { location } });
      }) as typeof fetch;
      const client: HubClient = {
        endpoint: "https://hub.example",
        token: "hf_secret",
        fetch: fetchStub,
        platform: memoryRuntime().platform,
        userAgent: "test",
        signal: undefined,
      };
      const res = await hubFetch(client, "https://hub.example/org/x/resolve/main/f", { method: "HEAD" }, { followAbsolute: false });
      assert.deepEqual(requested.map((u) => new URL(u).host), ["hub.example"], `Location ${JSON.stringify(location)} was followed`);
      assert.equal(res.status, 302, `Location ${JSON.stringify(location)}`);
    }
  });

  // fuzz, property "readTreeCache: …" (shrunk: {"format_version":1,"files":{"0":{"size":-1,…}}}):
  // readTreeCache checks sizes with Number.isSafeInteger only, so a damaged or hostile
  // trees/<commit>.json with a negative size is trusted, while the same entry from the server is
  // refused (snapshot.ts treeFileFrom). The file then fails verification forever instead of the
  // listing being fetched again.
  test("a cached tree listing with a negative size is ignored", async () => {
    const runtime = memoryRuntime({ pid: 902 });
    const layout = repoLayout(CACHE, "model", REPO);
    const commit = "0123456789abcdef0123456789abcdef01234567";
    await runtime.fs.mkdirp(layout.treesDir);
    const json = JSON.stringify({ format_version: 1, files: { "a.bin": { size: -1, blob_id: "a".repeat(40) } } });
    await runtime.fs.writeFile(treePath(layout, commit), new TextEncoder().encode(json));
    assert.equal(await readTreeCache(runtime, layout, commit), null);
  });

  // Found by reading temp_files.ts for the simulation's check of §Invariants 2 (no file written by two
  // writers). claimPartial takes a *stale* temp file of another host — whose writer may still
  // be alive — by renaming it to the claimer's own temp name, then copies it into a fresh file
  // and unlinks it. If the copy fails (EIO/ENOSPC) or the claimer is killed mid-copy, the
  // zombie's inode stays behind under the claimer's name, and the next process on the claimer's
  // host adopts it IN PLACE as a dead writer's file. Two writers then share one inode, and it is
  // published: when the zombie restarts from zero (a 200 to its ranged request), it truncates the
  // published blob.
  test("a stale file of a live writer on another host never becomes a published blob that writer still holds", async () => {
    const zombie = memoryRuntime({ timers: "auto", pid: 11, hostname: "zhost" });
    const fs = zombie.fs;
    const layout = repoLayout(CACHE, "model", REPO);
    await fs.mkdirp(layout.blobsDir);
    const zombiePath = `${layout.blobsDir}/${etag}.zhost-11-${"ab".repeat(16)}.incomplete`;
    const held = await fs.createExclusive(zombiePath);
    await held.write(data.subarray(0, MiB), 0);
    const longAgo = zombie.clock.now() - 20 * 60_000;
    await fs.utimes(zombiePath, longAgo, longAgo); // not grown for 20 minutes: stale by time

    // A process on this host claims it for copying; its copy hits EIO and it gives up.
    const claimer = memoryRuntime({ fs, clock: zombie.clock, timers: "auto", pid: 12, hostname: "memhost" });
    const fault = fs.injectFault({ op: "write", code: "EIO", pathIncludes: ".incomplete" });
    await assert.rejects(
      downloadFile({ runtime: claimer, repo: REPO, path: "weights.bin", cacheDir: CACHE, endpoint: hub.endpoint, token: false, lock: "none" }),
      (err: unknown) => err instanceof FsError && err.code === "EIO",
    );
    fault.remove();

    // A later process on this host (the claimer is gone) downloads the file.
    const later = memoryRuntime({ fs, clock: zombie.clock, timers: "auto", pid: 13, hostname: "memhost" });
    const pointer = await downloadFile({ runtime: later, repo: REPO, path: "weights.bin", cacheDir: CACHE, endpoint: hub.endpoint, token: false, lock: "none" });
    assert.ok(sameBytes(await fs.readFile(pointer), data));

    // The zombie on the other host is still running and restarts its transfer from zero.
    await held.truncate(0);
    await held.close();
    const blob = await fs.readFile(blobPath(layout, etag));
    assert.equal(blob.length, data.length, `the published blob now has ${blob.length} bytes: it is the zombie's inode`);
  });

  // simulation, `node scripts/replay.mjs 600` (note "writer#1 ended with 1 open handle"): a writer
  // claims `<etag>.partial` (rename, openReadWrite) and the next call on the handle, size(), fails
  // (EIO). temp_files.ts claimPartial returns `claimedBytes: await handle.size()` with no
  // try/finally, so the handle is never closed: a descriptor leaks per failure in a long-running
  // process, and on Windows the open handle keeps the file from being renamed or pruned.
  test("a claim that fails after opening the claimed file closes it", async () => {
    const runtime = memoryRuntime({ timers: "auto", pid: 1001 });
    const layout = repoLayout(CACHE, "model", REPO);
    await runtime.fs.mkdirp(layout.blobsDir);
    await runtime.fs.writeFile(`${layout.blobsDir}/${etag}.partial`, data.subarray(0, MiB));
    runtime.fs.injectFault({ op: "size", code: "EIO" });
    await assert.rejects(
      downloadFile({ runtime, repo: REPO, path: "weights.bin", cacheDir: CACHE, endpoint: hub.endpoint, token: false, lock: "none" }),
      (err: unknown) => err instanceof FsError && err.code === "EIO",
    );
    assert.deepEqual(runtime.fs.openHandles(), []);
  });
});
