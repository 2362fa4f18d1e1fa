import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { runCli } from "../src/cli/main.ts";
import { captureCli } from "./_support/capture.ts";
import { bytes, type HubFixture, startHub, TOKEN } from "./_support/hub.ts";
import { pythonClient } from "./_support/python_client.ts";
import { hostShare } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

const py = await pythonClient();

describe("cache ls --filter/--sort/--limit select what hf cache ls selects", () => {
  let fx: HubFixture;
  let cache: string;
  before(async () => {
    fx = await startHub();
    cache = await makeTempDir("hubcache-ls-select-");
    fx.hub.createRepo("org/small").commit({ "a.bin": bytes(2_000, 1) });
    fx.hub.createRepo("org/big").commit({ "a.bin": bytes(400_000, 2) });
    fx.hub.createRepo("org/mid", { type: "dataset" }).commit({ "a.bin": bytes(90_000, 3) });
    const second = fx.hub.createRepo("org/two");
    second.commit({ "a.bin": bytes(5_000, 4) });
    for (const [repo, type] of [["org/small", "model"], ["org/big", "model"], ["org/mid", "dataset"], ["org/two", "model"]]) {
      const c = captureCli(fx.runtime);
      assert.equal(await runCli(["download", repo, "a.bin", "--repo-type", type, "--endpoint", fx.hub.endpoint, "--cache-dir", cache, "--token", TOKEN, "--quiet"], c.ctx), 0, c.errText());
    }
    // A second revision on a branch, and an old access time on one repo.
    second.commit({ "a.bin": bytes(7_000, 5) }, { branch: "dev" });
    const c = captureCli(fx.runtime);
    assert.equal(await runCli(["download", "org/two", "a.bin", "--revision", "dev", "--endpoint", fx.hub.endpoint, "--cache-dir", cache, "--token", TOKEN, "--quiet"], c.ctx), 0, c.errText());
    const old = new Date(Date.now() - 10 * 86400_000);
    for (const name of await fsp.readdir(join(cache, "models--org--small", "blobs"))) await fsp.utimes(join(cache, "models--org--small", "blobs", name), old, old);
  });
  after(async () => {
    await removeTempDir(cache);
    await fx.close();
  });

  const cases: string[][] = [
    ["--filter", "size>10K"],
    ["--filter", "type=model", "--sort", "size"],
    ["--sort", "name:desc", "--limit", "2"],
    ["--filter", "accessed>7d"],
    ["--filter", "accessed<7d", "--sort", "size:asc"],
    ["--revisions", "--filter", "refs=dev"],
    ["--revisions", "--sort", "size", "--limit", "3"],
    ["-f", "size<=90K", "-f", "type=dataset"],
  ];
  const share = hostShare();
  const mine = share === undefined ? cases : cases.filter((_, i) => i % share.of === share.index);
  test("the same records as the real hf cache ls --format json, case by case", { skip: py.skip }, async () => {
    if (!py.available) return;
    for (const args of mine) {
      const hf = await py.client.runHf(["cache", "ls", ...args, "--format", "json", "--cache-dir", cache], py.client.env(fx.hub.endpoint, cache));
      assert.equal(hf.code, 0, hf.stderr);
      const c = captureCli(fx.runtime);
      assert.equal(await runCli(["cache", "ls", ...args, "--format", "json", "--cache-dir", cache], c.ctx), 0, c.errText());
      const ids = (text: string) => (JSON.parse(text) as { id: string; revision?: string }[]).map((r) => `${r.id}${r.revision ? "@" + r.revision.slice(0, 7) : ""}`);
      assert.deepEqual(ids(c.out.join("\n")), ids(hf.stdout), args.join(" "));
      assert.equal(c.out.join("\n"), hf.stdout.trim(), args.join(" "));
    }
  });

  test("the table says how many rows the selection kept; bad expressions are usage errors", async () => {
    const c = captureCli(fx.runtime);
    assert.equal(await runCli(["cache", "ls", "--filter", "size>10K", "--cache-dir", cache], c.ctx), 0);
    const text = c.out.join("\n");
    assert.match(text, /org\/big/);
    assert.match(text, /org\/mid/);
    assert.match(text, /org\/two/); // 5.0K + 7.0K over its two revisions
    assert.doesNotMatch(text, /org\/small/);
    assert.match(text, /Showing 3 of 4 repo\(s\)/);
    for (const bad of [["--filter", "colour=red"], ["--filter", "size>lots"], ["--sort", "speed"], ["--limit", "-1"], ["--filter", "type>model"]]) {
      const e = captureCli(fx.runtime);
      assert.equal(await runCli(["cache", "ls", ...bad, "--cache-dir", cache], e.ctx), 2, bad.join(" "));
      assert.match(e.errText(), /^hubcache: InvalidInput: /);
    }
  });
});

describe("cache prune asks before removing, as hf cache prune does", () => {
  test("no terminal and no -y: NotConfirmed and nothing removed; a no: nothing removed; -y: removed", async () => {
    const cache = await makeTempDir("hubcache-prune-ask-");
    try {
      const stale = join(cache, "models--org--x", "blobs", `${"cd".repeat(32)}.partial`);
      await fsp.mkdir(join(stale, ".."), { recursive: true });
      await fsp.writeFile(stale, "partial");
      const fx = { runtime: (await import("./_support/runtime.ts")).testRuntime() };
      const noTty = captureCli(fx.runtime);
      assert.equal(await runCli(["cache", "prune", "--older-than", "0s", "--cache-dir", cache], noTty.ctx), 1);
      assert.match(noTty.errText(), /^hubcache: NotConfirmed: not pruning 1 item\(s\) without confirmation: pass -y/);
      await fsp.access(stale);
      const questions: string[] = [];
      const no = captureCli(fx.runtime, { confirm: async (q) => (questions.push(q), false) });
      assert.equal(await runCli(["cache", "prune", "--older-than", "0s", "--cache-dir", cache], no.ctx), 0);
      assert.match(questions[0], /^Remove these 1 item\(s\), 7\.0\?$/);
      assert.match(no.out.join("\n"), /would remove partial .*\.partial[\s\S]*Prune cancelled\./);
      await fsp.access(stale);
      const yes = captureCli(fx.runtime);
      assert.equal(await runCli(["cache", "prune", "--older-than", "0s", "-y", "--cache-dir", cache], yes.ctx), 0, yes.errText());
      await assert.rejects(fsp.access(stale));
      const nothing = captureCli(fx.runtime);
      assert.equal(await runCli(["cache", "prune", "--cache-dir", cache], nothing.ctx), 0, "nothing to remove: no question");
    } finally {
      await removeTempDir(cache);
    }
  });
});
