/**
 * Cache management commands racing live downloads in other processes (Node, Deno, Bun):
 * none of them may corrupt or remove what a concurrent download is writing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { pruneCache } from "../src/core/manage/prune.ts";
import { verifyRepo } from "../src/core/manage/verify.ts";
import { scanCache } from "../src/core/manage/scan.ts";
import { executeRemoval, planRemoval } from "../src/core/manage/remove.ts";
import { downloadSnapshot } from "../src/core/download/snapshot.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub, TOKEN, waitFor } from "./_support/hub.ts";
import { finished, RUNTIMES, spawnCli } from "./_support/cli.ts";

describe("cache commands racing live downloads", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
  });
  after(() => fx.close());
  const args = (repo: string, extra: string[]): string[] =>
    ["download", repo, ...extra, "--endpoint", fx.hub.endpoint, "--cache-dir", fx.cacheDir, "--token", TOKEN, "--quiet"];

  test("prune, verify and ls in a loop never disturb three live writers (one per runtime)", async () => {
    const data = bytes(6_000_000, 201);
    fx.hub.createRepo("org/live").commit({ "model.bin": data, "config.json": "{}" });
    fx.hub.throttle(6_000_000);
    const children = RUNTIMES.map((rt) => finished(spawnCli(rt, args("org/live", ["model.bin", "config.json", "--lock", "none"]))));
    let running = true;
    const all = Promise.all(children).finally(() => (running = false));
    let loops = 0;
    try {
      await waitFor(async () => (await listDir(join(fx.cacheDir, "models--org--live", "blobs"))).some((n) => n.endsWith(".incomplete")), 30_000, "writers to start");
      while (running) {
        loops++;
        await pruneCache({ runtime: fx.runtime, cacheDir: fx.cacheDir });
        const info = await scanCache({ runtime: fx.runtime, cacheDir: fx.cacheDir });
        assert.ok(Array.isArray(info.repos));
        const report = await verifyRepo({ runtime: fx.runtime, cacheDir: fx.cacheDir, repoType: "model", repo: "org/live", offline: true }).catch((e) => {
          // Before the first snapshot exists there is nothing to verify yet.
          if (e?.code === "CacheError") return null;
          throw e;
        });
        if (report) {
          const bad = report.files.filter((f) => f.status === "damaged" || f.status === "missing");
          assert.deepEqual(bad, [], "verify must never report damage while writers work");
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      fx.hub.throttle(null);
    }
    const runs = await all;
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    assert.ok(loops >= 3, `the loop ran ${loops} times`);
    const etag = fx.hub.repo("org/live").fileInfo("model.bin").sha256;
    assert.ok(sameBytes(await readBytes(join(fx.cacheDir, "models--org--live", "blobs", etag)), data));
    const final = await verifyRepo({ runtime: fx.runtime, cacheDir: fx.cacheDir, repoType: "model", repo: "org/live", offline: true });
    assert.equal(final.healthy, true);
  });

  test("a SIGKILLed writer's temp file is pruned or adopted, while a new download completes exactly", async () => {
    const data = bytes(6_000_000, 202);
    fx.hub.createRepo("org/killed").commit({ "model.bin": data });
    const blobs = join(fx.cacheDir, "models--org--killed", "blobs");
    fx.hub.throttle(4_000_000);
    const child = spawnCli("bun", args("org/killed", ["model.bin"]));
    const done = finished(child);
    try {
      await waitFor(async () => {
        for (const n of await listDir(blobs)) if (n.endsWith(".incomplete") && (await fsp.stat(join(blobs, n))).size > 1_048_576) return true;
        return false;
      }, 30_000, "the writer to write");
      child.kill("SIGKILL");
      await done;
    } finally {
      fx.hub.throttle(null);
    }
    const [result, pruned] = await Promise.all([
      finished(spawnCli("deno", args("org/killed", ["model.bin"]))),
      pruneCache({ runtime: fx.runtime, cacheDir: fx.cacheDir }),
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(pruned);
    const etag = fx.hub.repo("org/killed").fileInfo("model.bin").sha256;
    assert.deepEqual(await listDir(blobs), [etag]);
    assert.ok(sameBytes(await readBytes(join(blobs, etag)), data));
  });

  test("cache rm of an old revision while a new revision that shares its blob downloads: the shared blob survives", async () => {
    const shared = bytes(2_000_000, 203);
    const repo = fx.hub.createRepo("org/rm-race");
    const old = repo.commit({ "shared.bin": shared, "old-only.bin": bytes(500_000, 204) });
    await downloadSnapshot({ ...fx.base, repo: "org/rm-race" });
    repo.commit({ "new-only.bin": bytes(4_000_000, 205) }, { delete: ["old-only.bin"] });
    fx.hub.throttle(8_000_000);
    const child = finished(spawnCli("node", args("org/rm-race", [])));
    try {
      for (let i = 0; i < 20; i++) {
        const info = await scanCache({ runtime: fx.runtime, cacheDir: fx.cacheDir });
        const plan = await planRemoval({ runtime: fx.runtime, scanned: info, targets: [old] });
        await executeRemoval({ runtime: fx.runtime, plan: plan });
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      fx.hub.throttle(null);
    }
    const run = await child;
    assert.equal(run.code, 0, run.stderr);
    const dir = run.stdout.trim();
    assert.ok(sameBytes(await readBytes(join(dir, "shared.bin")), shared), "the new snapshot's shared file must resolve");
    const report = await verifyRepo({ runtime: fx.runtime, cacheDir: fx.cacheDir, repoType: "model", repo: "org/rm-race", offline: true });
    assert.equal(report.healthy, true, JSON.stringify(report.files.filter((f) => f.status !== "ok")));
    assert.deepEqual(await listDir(join(fx.cacheDir, "models--org--rm-race", "snapshots")), [dir.split("/").pop()]);
  });
});
