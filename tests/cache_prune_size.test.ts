/**
 * `cache prune --max-size`: least recently used revisions removed until the cache fits, never
 * one recently used or one a live process is downloading into; `--dry-run` prints the plan.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { parseSize, pruneCache } from "../src/core/manage/prune.ts";
import { scanCache } from "../src/core/manage/scan.ts";
import { InvalidInputError } from "../src/core/errors.ts";
import { runCli } from "../src/cli/main.ts";
import { captureCli } from "./_support/capture.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub, TOKEN, waitFor } from "./_support/hub.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { finished, spawnCli } from "./_support/cli.ts";
import { currentRuntimeName } from "./_support/runtime.ts";

const MB = 1_000_000;

describe("parseSize", () => {
  test("decimal and binary units, bare bytes; junk refused", () => {
    assert.equal(parseSize("500M"), 500 * MB);
    assert.equal(parseSize("1.5GB"), 1_500_000_000);
    assert.equal(parseSize("2GiB"), 2 * 1024 ** 3);
    assert.equal(parseSize("1234"), 1234);
    for (const bad of ["", "ten", "5X", "-1G"]) assert.throws(() => parseSize(bad), InvalidInputError);
  });
});

describe("cache prune --max-size", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    for (const n of [1, 2, 3]) fx.hub.createRepo(`org/r${n}`).commit({ "w.bin": bytes(MB, 960 + n), "more.bin": bytes(MB, 970 + n) });
  });
  after(() => fx.close());

  /** r1, r2, r3 downloaded in that order (so r1 is the least recently used), 1 MB each. */
  async function threeRepos(): Promise<string> {
    const cacheDir = await makeTempDir("hubcache-maxsize-");
    for (const n of [1, 2, 3]) {
      await downloadFile({ ...fx.base, cacheDir, repo: `org/r${n}`, path: "w.bin" });
      await new Promise((r) => setTimeout(r, 20)); // distinct times even on coarse clocks
    }
    return cacheDir;
  }

  const repos = async (cacheDir: string): Promise<string[]> => (await scanCache({ runtime: fx.runtime, cacheDir })).repos.filter((r) => r.revisions.length > 0).map((r) => r.repoId).sort();

  test("--dry-run prints the least recently used revision and removes nothing; the real run removes just it", async () => {
    const cacheDir = await threeRepos();
    try {
      const c = captureCli(fx.runtime);
      const args = ["cache", "prune", "--max-size", "2.5M", "--keep-used-within", "0", "--cache-dir", cacheDir];
      assert.equal(await runCli([...args, "--dry-run"], c.ctx), 0, c.errText());
      const out = c.out.join("\n");
      assert.match(out, /would remove revision .*models--org--r1\/snapshots\/\w+ .*least recently used/);
      assert.match(out, /would remove blob .*models--org--r1\/blobs\//);
      assert.doesNotMatch(out, /models--org--r[23]/);
      assert.deepEqual(await repos(cacheDir), ["org/r1", "org/r2", "org/r3"], "a dry run removes nothing");
      const real = captureCli(fx.runtime);
      assert.equal(await runCli([...args, "-y"], real.ctx), 0, real.errText());
      assert.deepEqual(await repos(cacheDir), ["org/r2", "org/r3"]);
      assert.ok((await scanCache({ runtime: fx.runtime, cacheDir })).sizeOnDisk <= 2.5 * MB);
    } finally {
      await removeTempDir(cacheDir);
    }
  });

  test("revisions used within --keep-used-within (default 10m) are never removed, even over the cap", async () => {
    const cacheDir = await threeRepos();
    try {
      const result = await pruneCache({ runtime: fx.runtime, cacheDir, maxSize: "0" });
      assert.deepEqual(result.removed.filter((i) => i.kind === "revision"), []);
      assert.equal(result.kept.filter((i) => /used .* ago \(within 10m\)/.test(i.reason)).length, 3);
      assert.deepEqual(await repos(cacheDir), ["org/r1", "org/r2", "org/r3"]);
    } finally {
      await removeTempDir(cacheDir);
    }
  });

  test("a repo a live process is downloading into keeps its revisions, and that download ends whole", async () => {
    const cacheDir = await threeRepos();
    try {
      fx.hub.throttle(300_000);
      const run = finished(spawnCli(currentRuntimeName(), [
        "download", "org/r2", "more.bin", "--quiet", "--cache-dir", cacheDir, "--endpoint", fx.hub.endpoint, "--token", TOKEN,
      ]));
      const blobs = join(cacheDir, "models--org--r2", "blobs");
      await waitFor(async () => (await listDir(blobs)).some((n) => n.endsWith(".incomplete")), 30_000, "the download to start");
      const result = await pruneCache({ runtime: fx.runtime, cacheDir, maxSize: "0", keepUsedWithin: "0" });
      fx.hub.throttle(null);
      const done = await run;
      assert.equal(done.code, 0, done.stderr);
      assert.ok(result.kept.some((i) => i.path.includes("models--org--r2/snapshots") && /live process/.test(i.reason)));
      assert.deepEqual(await repos(cacheDir), ["org/r2"]);
      assert.ok(sameBytes(await readBytes(join(cacheDir, "models--org--r2", "snapshots", fx.hub.repo("org/r2").fileInfo("w.bin").commit, "w.bin")), bytes(MB, 962)));
      assert.ok(sameBytes(await readBytes(done.stdout.trim()), bytes(MB, 972)));
    } finally {
      fx.hub.throttle(null);
      await removeTempDir(cacheDir);
    }
  });
});
