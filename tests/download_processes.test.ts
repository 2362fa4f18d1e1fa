/**
 * Real processes on Node, Deno and Bun racing on one cache, killed at awkward moments.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub, TOKEN, waitFor } from "./_support/hub.ts";
import { finished, RUNTIMES, type RuntimeName, runCliProcess, spawnCli } from "./_support/cli.ts";

const SIZE = 8_000_000;

describe("processes racing on one cache", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
  });
  after(() => fx.close());

  function args(repo: string, path: string, extra: string[] = []): string[] {
    return ["download", repo, path, "--endpoint", fx.hub.endpoint, "--cache-dir", fx.cacheDir, "--token", TOKEN, "--quiet", ...extra];
  }

  async function assertOneExactBlob(repo: string, path: string, data: Uint8Array): Promise<void> {
    const folder = join(fx.cacheDir, `models--${repo.replace("/", "--")}`);
    const etag = fx.hub.repo(repo).fileInfo(path).sha256;
    assert.deepEqual(await listDir(join(folder, "blobs")), [etag], "exactly one blob and no temp file");
    assert.ok(sameBytes(await readBytes(join(folder, "blobs", etag)), data));
    const locks = await listDir(join(fx.cacheDir, ".locks", `models--${repo.replace("/", "--")}`));
    assert.deepEqual(locks.filter((n) => n.includes("hubcache-lock")), [], "no lock file left behind");
  }

  test("nine processes (three per runtime) with the lock disabled all succeed with one exact blob", async () => {
    const data = bytes(SIZE, 71);
    fx.hub.createRepo("org/race").commit({ "model.bin": data });
    fx.hub.throttle(16_000_000);
    try {
      const runs = await Promise.all(
        RUNTIMES.flatMap((rt) => [0, 1, 2].map(async (i) => {
          await new Promise((r) => setTimeout(r, i * 37));
          return { rt, run: await runCliProcess(rt, args("org/race", "model.bin", ["--lock", "none"])) };
        })),
      );
      for (const { rt, run } of runs) assert.equal(run.code, 0, `${rt} failed: ${run.stderr}`);
      const outputs = new Set(runs.map(({ run }) => run.stdout));
      assert.equal(outputs.size, 1, "every process prints the same snapshot path");
      const gets = fx.hub.requests.filter((r) => r.method === "GET" && r.cdn);
      assert.ok(gets.length >= 2, `the lock was off, so several bodies were expected; saw ${gets.length}`);
    } finally {
      fx.hub.throttle(null);
    }
    await assertOneExactBlob("org/race", "model.bin", data);
  });

  test("with the lock on, six processes on three runtimes download the body once", async () => {
    const data = bytes(SIZE, 72);
    fx.hub.createRepo("org/dedup").commit({ "model.bin": data });
    fx.hub.clearRequests();
    fx.hub.throttle(16_000_000);
    try {
      const runs = await Promise.all(RUNTIMES.flatMap((rt) => [0, 1].map(() => runCliProcess(rt, args("org/dedup", "model.bin")))));
      for (const run of runs) assert.equal(run.code, 0, run.stderr);
    } finally {
      fx.hub.throttle(null);
    }
    const gets = fx.hub.requests.filter((r) => r.method === "GET" && r.cdn);
    assert.equal(gets.length, 1, `expected one body download, saw ${gets.length}`);
    await assertOneExactBlob("org/dedup", "model.bin", data);
  });

  for (const [killed, next] of [["node", "bun"], ["bun", "deno"], ["deno", "node"]] as Array<[RuntimeName, RuntimeName]>) {
    test(`after SIGKILL of a ${killed} writer, a ${next} run adopts its temp file and resumes`, async () => {
      const repo = `org/kill-${killed}`;
      const data = bytes(SIZE, 80 + killed.length);
      fx.hub.createRepo(repo).commit({ "model.bin": data });
      const etag = fx.hub.repo(repo).fileInfo("model.bin").sha256;
      const blobs = join(fx.cacheDir, `models--${repo.replace("/", "--")}`, "blobs");
      fx.hub.throttle(3_000_000);
      const child = spawnCli(killed, args(repo, "model.bin"));
      const done = finished(child);
      let temp = "";
      try {
        await waitFor(async () => {
          for (const name of await listDir(blobs)) {
            if (name.endsWith(".incomplete") && (await fsp.stat(join(blobs, name)).catch(() => null))?.size! >= 1_048_576) {
              temp = name;
              return true;
            }
          }
          return false;
        }, 30_000, "the writer's temp file to grow");
        child.kill("SIGKILL");
        const result = await done;
        assert.equal(result.signal, "SIGKILL");
      } finally {
        fx.hub.throttle(null);
      }
      assert.match(temp, new RegExp(`^${etag}\\.[A-Za-z0-9_-]+-${child.pid}-[0-9a-f]{32}\\.incomplete$`));
      const kept = (await fsp.stat(join(blobs, temp))).size;
      fx.hub.clearRequests();
      const run = await runCliProcess(next, args(repo, "model.bin"));
      assert.equal(run.code, 0, run.stderr);
      const get = fx.hub.requests.find((r) => r.method === "GET" && r.cdn)!;
      assert.ok(get.range, "the second run must resume, not restart");
      const from = Number(/bytes=(\d+)-/.exec(get.range!)![1]);
      assert.ok(from >= 1_048_576 && from <= kept, `resumed from ${from}, the dead writer had ${kept}`);
      await assertOneExactBlob(repo, "model.bin", data);
      assert.equal(run.stdout.trim(), join(fx.cacheDir, `models--${repo.replace("/", "--")}`, "snapshots", fx.hub.repo(repo).fileInfo("model.bin").commit, "model.bin"));
    });
  }

  test("SIGINT releases the partial download for resume and exits 130", async () => {
    const data = bytes(SIZE, 90);
    fx.hub.createRepo("org/int").commit({ "model.bin": data });
    const etag = fx.hub.repo("org/int").fileInfo("model.bin").sha256;
    const blobs = join(fx.cacheDir, "models--org--int", "blobs");
    fx.hub.throttle(3_000_000);
    const child = spawnCli("node", args("org/int", "model.bin"));
    const done = finished(child);
    try {
      await waitFor(async () => (await listDir(blobs)).some((n) => n.endsWith(".incomplete")), 30_000, "download start");
      await new Promise((r) => setTimeout(r, 700));
      // process.kill, not child.kill: Deno's ChildProcess reports a signal it sent itself
      // instead of the exit code the child chose.
      process.kill(child.pid!, "SIGINT");
      const result = await done;
      assert.equal(result.code, 130, result.stderr);
      assert.match(result.stderr, /interrupted/);
      assert.equal(result.stdout, "");
    } finally {
      fx.hub.throttle(null);
    }
    assert.deepEqual(await listDir(blobs), [`${etag}.partial`]);
    const run = await runCliProcess("deno", args("org/int", "model.bin"));
    assert.equal(run.code, 0, run.stderr);
    await assertOneExactBlob("org/int", "model.bin", data);
  });
});
