import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { runCli } from "../src/cli/main.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { captureCli } from "./_support/capture.ts";
import { finished, repoRoot, runCliProcess, spawnCli } from "./_support/cli.ts";
import { type HubFixture, startHub, TOKEN } from "./_support/hub.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

/** A loopback port nothing listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("CLI messages say what is wrong and what to do", () => {
  let fx: HubFixture;
  let common: string[];
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/model").commit({ "config.json": "{}", "a.txt": "a", "b.txt": "b" });
    fx.hub.createRepo("user/data", { type: "dataset" }).commit({ "train.csv": "x,y\n" });
    common = ["--endpoint", fx.hub.endpoint, "--cache-dir", fx.cacheDir, "--token", TOKEN];
  });
  after(() => fx.close());

  test("--cache-dir naming a file: usage error naming the file, not ENOTDIR about an inner path", async () => {
    const file = join(fx.cacheDir, "not-a-dir");
    await fsp.writeFile(file, "x");
    const c = captureCli(fx.runtime);
    const code = await runCli(["download", "org/model", "config.json", ...common, "--cache-dir", file], c.ctx);
    assert.equal(code, 2, c.errText());
    assert.equal(c.errText(), `hubcache: InvalidInput: the cache directory ${file} is not a directory (it is a file): check --cache-dir (cacheDir)\n`);
  });

  test("cache verify of a dataset without --repo-type points at --repo-type dataset", async () => {
    const c = captureCli(fx.runtime);
    assert.equal(await runCli(["download", "user/data", "train.csv", "--repo-type", "dataset", ...common, "--quiet"], c.ctx), 0, c.errText());
    const v = captureCli(fx.runtime);
    assert.equal(await runCli(["cache", "verify", "user/data", "--cache-dir", fx.cacheDir], v.ctx), 1);
    assert.match(v.errText(), /model 'user\/data' is not in the cache .*, but a dataset of that name is: add --repo-type dataset/);
  });

  test("cache rm of something absent names our own command, not hf's", async () => {
    const c = captureCli(fx.runtime);
    assert.equal(await runCli(["cache", "rm", "org/absent", "--cache-dir", fx.cacheDir, "-y"], c.ctx), 1);
    assert.match(c.errText(), /as 'hubcache cache ls' shows/);
    assert.doesNotMatch(c.errText(), /hf cache ls/);
  });

  test("--include together with file names is a usage error, not silently ignored", async () => {
    const c = captureCli(fx.runtime);
    const code = await runCli(["download", "org/model", "a.txt", "--include", "*.json", ...common], c.ctx);
    assert.equal(code, 2);
    assert.match(c.errText(), /^hubcache: InvalidInput: --include select files of a whole-repo download and would be ignored with file names given \(a\.txt\)/);
    assert.deepEqual(c.out, []);
  });

  test("an --include that matches nothing fails and shows what the repo has", async () => {
    const c = captureCli(fx.runtime);
    const code = await runCli(["download", "org/model", "--include", "*.safetensors", ...common], c.ctx);
    assert.equal(code, 1);
    assert.match(c.errText(), /^hubcache: EntryNotFound: no file of model 'org\/model' at revision 'main' matches --include '\*\.safetensors' \(it has 3 file\(s\), e\.g\. /);
    assert.deepEqual(c.out, []);
  });

  test("each `cache <cmd> --help` prints that command's help", async () => {
    const texts = new Map<string, string>();
    for (const sub of ["ls", "rm", "prune", "verify"]) {
      const c = captureCli(fx.runtime);
      assert.equal(await runCli(["cache", sub, "--help"], c.ctx), 0);
      texts.set(sub, c.out.join("\n"));
      assert.match(c.out[0], new RegExp(`^usage: hubcache cache ${sub} `));
    }
    assert.equal(new Set(texts.values()).size, 4, "two commands printed the same help");
    assert.doesNotMatch(texts.get("ls")!, /re-hash/);
    assert.match(texts.get("verify")!, /re-hash/);
  });

  test("a repo folder left by an interrupted first download: cache ls does not warn, reports its partial; prune removes it", async () => {
    const cache = await makeTempDir("hubcache-stub-");
    try {
      const blobs = join(cache, "models--org--stub", "blobs");
      await fsp.mkdir(blobs, { recursive: true });
      await fsp.writeFile(join(blobs, `${"ab".repeat(32)}.partial`), new Uint8Array(1000));
      const ls = captureCli(fx.runtime);
      assert.equal(await runCli(["cache", "ls", "--cache-dir", cache], ls.ctx), 0);
      assert.equal(ls.errText(), "", "no warning about the stub");
      assert.match(ls.out.join("\n"), /1 temp file\(s\) totalling 1\.0K/);
      const prune = captureCli(fx.runtime);
      assert.equal(await runCli(["cache", "prune", "--older-than", "0s", "-y", "--cache-dir", cache], prune.ctx), 0, prune.errText());
      assert.equal(prune.errText(), "");
      assert.deepEqual(await fsp.readdir(blobs), []);
    } finally {
      await removeTempDir(cache);
    }
  });

  test("an unreachable Hub: each retry is announced on stderr, then the cached answer says it came from the cache", async () => {
    // Virtual timers: the backoff waits take no real time.
    const runtime = memoryRuntime({ timers: "auto" });
    const seed = captureCli(runtime);
    assert.equal(await runCli(["download", "org/model", "config.json", ...common, "--cache-dir", "/cache"], seed.ctx), 0, seed.errText());
    const cached = seed.out[0];
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const c = captureCli(runtime);
    const code = await runCli(["download", "org/model", "config.json", "--endpoint", dead, "--cache-dir", "/cache"], c.ctx);
    assert.equal(code, 0, c.errText());
    assert.deepEqual(c.out, [cached], "stdout carries only the path");
    const lines = c.errText().trimEnd().split("\n");
    const retries = lines.filter((l) => l.startsWith("hubcache: warning: Retrying: cannot reach "));
    assert.ok(retries.length >= 2, c.errText());
    assert.match(retries[0], /retrying in \d+\.\d s \(attempt 2 of \d+\)$/);
    assert.match(lines.at(-1)!, /^hubcache: warning: HubUnreachable: the Hub could not be reached .*; answering from the cache \(revision 'main' as last downloaded, which may be out of date\)$/);
    const miss = captureCli(runtime);
    assert.equal(await runCli(["download", "org/model", "a.txt", "--endpoint", dead, "--cache-dir", "/cache"], miss.ctx), 1);
    assert.match(miss.errText(), /Retrying: cannot reach/);
    assert.match(miss.errText(), /hubcache: OfflineCacheMiss: the Hub could not be reached/);
  });

  test("Deno without write permission: the message is about Deno's flags, not the cache's permissions", async () => {
    const cache = await makeTempDir("hubcache-deno-perm-");
    try {
      const r = await runCliProcess("deno", ["download", "org/model", "config.json", ...common, "--cache-dir", cache]);
      assert.equal(r.code, 0, r.stderr); // with -A it works: the control
      const denied = await finished(spawnCli("deno", ["download", "org/model", "a.txt", ...common, "--cache-dir", cache], {}, [
        join(repoRoot(), "node_modules", ".bin", "deno"), "run", "--allow-read", "--allow-env", "--allow-net", "--allow-sys", "--no-prompt", "--quiet",
        join(repoRoot(), "src", "cli.ts"),
      ]));
      assert.equal(denied.code, 1, denied.stderr);
      assert.match(denied.stderr, /^hubcache: EACCES: Deno's permissions do not allow this; run deno with -A/);
      assert.doesNotMatch(denied.stderr, /check the cache directory's permissions/);
    } finally {
      await removeTempDir(cache);
    }
  });
});
