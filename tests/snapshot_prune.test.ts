/**
 * A snapshot download writes its ref last, so until then its revision looks detached, and
 * `hf cache prune` deletes detached revisions with their blobs. The download re-checks its
 * pointers around the ref's move and re-places what vanished.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadSnapshot } from "../src/core/download/snapshot.ts";
import { verifyRepo } from "../src/core/manage/verify.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import type { Runtime } from "../src/core/ports.ts";
import { SnapshotIncompleteError } from "../src/core/errors.ts";
import { bytes, type HubFixture, listDir, sameBytes, startHub, TOKEN, waitFor } from "./_support/hub.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { finished, spawnCli } from "./_support/cli.ts";
import { pythonClient } from "./_support/python_client.ts";
import { currentRuntimeName } from "./_support/runtime.ts";

const FILES = { "a.bin": bytes(200_000, 971), "b.bin": bytes(150_000, 972), "c.json": '{"c": 3}' };

/**
 * `runtime` whose file system is pruned as `hf cache prune` prunes a detached revision — its
 * snapshot folder and its blobs — each time the `at`-th pointer is created (every pointer of a
 * three-file snapshot, the instant before the ref would move), `times` times.
 */
function pruningAt(runtime: Runtime, repoDir: string, at: number, times: number): { runtime: Runtime; pruned: () => number } {
  let pointers = 0;
  let pruned = 0;
  return {
    pruned: () => pruned,
    runtime: {
      ...runtime,
      async checkpoint(name) {
        if (name !== "pointer-created" || ++pointers % at !== 0 || pruned >= times) return;
        pruned++;
        await runtime.fs.removeTree(`${repoDir}/snapshots`);
        await runtime.fs.removeTree(`${repoDir}/blobs`);
      },
    },
  };
}

describe("a snapshot's files pruned before its ref moves are placed again", () => {
  let fx: HubFixture;
  let commit: string;
  before(async () => {
    fx = await startHub();
    commit = fx.hub.createRepo("org/prn").commit(FILES);
  });
  after(() => fx.close());

  test("memory adapter: everything deleted the instant before the ref moves is downloaded again, then the ref names a complete snapshot", async () => {
    const mem = memoryRuntime({ timers: "real" });
    const hook = pruningAt(mem, "/cache/models--org--prn", 3, 1);
    const dir = await downloadSnapshot({ ...fx.base, runtime: hook.runtime, cacheDir: "/cache", repo: "org/prn", concurrency: 1 });
    assert.equal(hook.pruned(), 1);
    for (const [p, content] of Object.entries(FILES)) {
      const expected = typeof content === "string" ? new TextEncoder().encode(content) : content;
      assert.ok(sameBytes(await mem.fs.readFile(`${dir}/${p}`), expected), p);
    }
    assert.equal(new TextDecoder().decode(await mem.fs.readFile("/cache/models--org--prn/refs/main")), commit);
  });

  test("memory adapter: a pruner that never stops makes the download fail with SnapshotIncomplete, not spin, and no ref is written", async () => {
    const mem = memoryRuntime({ timers: "real" });
    const hook = pruningAt(mem, "/cache/models--org--prn", 1, 1_000);
    await assert.rejects(
      downloadSnapshot({ ...fx.base, runtime: hook.runtime, cacheDir: "/cache", repo: "org/prn", concurrency: 1 }),
      SnapshotIncompleteError,
    );
    await assert.rejects(mem.fs.readFile("/cache/models--org--prn/refs/main"), { code: "ENOENT" });
  });
});

const py = await pythonClient();

describe("the real `hf cache prune` during a hubcache snapshot download", { skip: py.skip }, () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/hfprn").commit({ "a.bin": bytes(900_000, 981), "b.bin": bytes(900_000, 982), "c.bin": bytes(900_000, 983) });
  });
  after(() => fx.close());

  test("files the prune deletes are placed again before the ref moves: the download ends complete and verified", async () => {
    assert.ok(py.available);
    const cacheDir = await makeTempDir("hubcache-hfprune-");
    try {
      const repoDir = join(cacheDir, "models--org--hfprn");
      const commit = fx.hub.repo("org/hfprn").fileInfo("a.bin").commit;
      fx.hub.throttle(800_000);
      fx.hub.clearRequests();
      const run = finished(spawnCli(currentRuntimeName(), [
        "download", "org/hfprn", "--concurrency", "1", "--quiet",
        "--cache-dir", cacheDir, "--endpoint", fx.hub.endpoint, "--token", TOKEN,
      ]));
      // Prune once the first file is placed and the next is on its way.
      await waitFor(async () => (await listDir(join(repoDir, "snapshots", commit)).catch(() => [])).length >= 1, 30_000, "a first file placed");
      const prune = await py.client.runHf(["cache", "prune", "--yes", "--cache-dir", cacheDir], py.client.env(fx.hub.endpoint, cacheDir));
      assert.equal(prune.code, 0, prune.stderr);
      fx.hub.throttle(null);
      const done = await run;
      assert.equal(done.code, 0, done.stderr);
      const aGets = fx.hub.requests.filter((r) => r.method === "GET" && r.cdn && r.filePath === "a.bin").length;
      assert.equal(aGets, 2, "hf cache prune deleted the placed a.bin and it was placed again (else this test proves nothing)");
      assert.equal(await fsp.readFile(join(repoDir, "refs", "main"), "utf8"), commit);
      const report = await verifyRepo({ ...fx.base, cacheDir, repo: "org/hfprn" });
      assert.equal(report.healthy, true);
      assert.deepEqual(report.files.map((f) => [f.path, f.status]), [["a.bin", "ok"], ["b.bin", "ok"], ["c.bin", "ok"]]);
    } finally {
      fx.hub.throttle(null);
      await removeTempDir(cacheDir);
    }
  });
});
