import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../src/cli/main.ts";
import type { CliContext } from "../src/cli/context.ts";
import { bytes, type HubFixture, sameBytes, startHub, TOKEN } from "./_support/hub.ts";
import { cliCommand, finished, libraryCommand, repoRoot, runCliProcess, spawnCli } from "./_support/cli.ts";
import { currentRuntimeName } from "./_support/runtime.ts";

interface Captured {
  ctx: CliContext;
  out: string[];
  err: () => string;
}

function capture(fx: HubFixture, tty = false): Captured {
  const out: string[] = [];
  let err = "";
  return {
    ctx: {
      runtime: fx.runtime,
      stdout: (l) => out.push(l),
      stderr: (t) => (err += t),
      stderrIsTTY: tty,
      signal: new AbortController().signal,
    },
    out,
    err: () => err,
  };
}

describe("hubcache download (CLI contract)", () => {
  let fx: HubFixture;
  let commit: string;
  let common: string[];
  before(async () => {
    fx = await startHub();
    commit = fx.hub.createRepo("org/cli").commit({ "a.json": "{}", "b/c.bin": bytes(2_500_000, 5), "d.txt": "d" });
    common = ["--endpoint", fx.hub.endpoint, "--cache-dir", fx.cacheDir, "--token", TOKEN];
  });
  after(() => fx.close());

  test("prints each file's snapshot path on its own line, in argument order, and nothing else", async () => {
    const c = capture(fx);
    const code = await runCli(["download", "org/cli", "d.txt", "a.json", ...common], c.ctx);
    assert.equal(code, 0, c.err());
    const snap = join(fx.cacheDir, "models--org--cli", "snapshots", commit);
    assert.deepEqual(c.out, [join(snap, "d.txt"), join(snap, "a.json")]);
    assert.equal(c.err(), "", "no progress when stderr is not a terminal");
  });

  test("draws a progress bar on stderr when it is a terminal, and still prints only the path on stdout", async () => {
    const c = capture(fx, true);
    const code = await runCli(["download", "org/cli", "b/c.bin", ...common], c.ctx);
    assert.equal(code, 0);
    assert.equal(c.out.length, 1);
    assert.match(c.err(), /\x1b\[2Kb\/c\.bin +\d+% \[[#.]+\] [\d.]+ (B|kB|MB)\//);
  });

  test("--quiet suppresses progress even on a terminal", async () => {
    const c = capture(fx, true);
    await runCli(["download", "org/cli", "b/c.bin", "--force", "--quiet", ...common], c.ctx);
    assert.equal(c.err(), "");
  });

  test("--force repairs: with one byte of the blob flipped it exits 0 and the pointer leads to verified bytes", async () => {
    const c = capture(fx);
    assert.equal(await runCli(["download", "org/cli", "b/c.bin", "--quiet", ...common], c.ctx), 0, c.err());
    const etag = fx.hub.repo("org/cli").fileInfo("b/c.bin").sha256;
    const blob = join(fx.cacheDir, "models--org--cli", "blobs", etag);
    const damaged = bytes(2_500_000, 5);
    damaged[1_000_000] ^= 0x04;
    await fsp.writeFile(blob, damaged);
    const forced = capture(fx);
    assert.equal(await runCli(["download", "org/cli", "b/c.bin", "--force", "--quiet", ...common], forced.ctx), 0, forced.err());
    assert.ok(sameBytes(new Uint8Array(await fsp.readFile(forced.out[0])), bytes(2_500_000, 5)));
    assert.ok(sameBytes(new Uint8Array(await fsp.readFile(blob)), bytes(2_500_000, 5)));
  });

  test("a missing file is one clear line on stderr and exit code 1", async () => {
    const c = capture(fx);
    const code = await runCli(["download", "org/cli", "nope.bin", ...common], c.ctx);
    assert.equal(code, 1);
    assert.deepEqual(c.out, []);
    assert.match(c.err(), /^hubcache: EntryNotFound: 'nope\.bin' does not exist in model 'org\/cli'.*\n$/);
    assert.equal(c.err().split("\n").length, 2);
  });

  test("usage errors exit 2 and say where help is", async () => {
    for (const argv of [["download"], ["download", "org/cli", "a.json", "--bogus"], ["download", "org/cli", "a.json", "--lock", "maybe"], ["frobnicate"]]) {
      const c = capture(fx);
      assert.equal(await runCli(argv, c.ctx), 2, argv.join(" "));
      assert.match(c.err(), /hubcache/);
    }
  });

  test("--connections N fetches a file over N ranges; 0, 65 or junk is a usage error", async () => {
    const c = capture(fx);
    fx.hub.clearRequests();
    assert.equal(await runCli(["download", "org/cli", "b/c.bin", "--force", "--connections", "2", ...common], c.ctx), 0, c.err());
    const ranges = fx.hub.requests.filter((r) => r.method === "GET" && r.filePath === "b/c.bin").map((r) => r.range ?? "full");
    assert.ok(ranges.length >= 2 && ranges.every((r) => /^bytes=\d+-\d+$/.test(r)), `bounded ranges: ${ranges.join(", ")}`);
    for (const n of ["0", "65", "two"]) {
      const d = capture(fx);
      assert.equal(await runCli(["download", "org/cli", "a.json", "--connections", n, ...common], d.ctx), 2, n);
      assert.match(d.err(), /^hubcache: InvalidInput: .*connections/);
    }
  });

  test("--offline answers from the cache; --no-symlinks stores files in the snapshot", async () => {
    const c = capture(fx);
    assert.equal(await runCli(["download", "org/cli", "a.json", "--offline", ...common], c.ctx), 0);
    fx.hub.repo("org/cli").commit({ "e.txt": "e" });
    const d = capture(fx);
    assert.equal(await runCli(["download", "org/cli", "e.txt", "--no-symlinks", ...common], d.ctx), 0, d.err());
    assert.equal((await fsp.lstat(d.out[0])).isFile(), true);
  });

  test("--help and --version print to stdout and exit 0", async () => {
    const h = capture(fx);
    assert.equal(await runCli(["download", "--help"], h.ctx), 0);
    assert.match(h.out.join("\n"), /--revision/);
    const v = capture(fx);
    assert.equal(await runCli(["--version"], v.ctx), 0);
    assert.match(v.out[0], /^\d+\.\d+\.\d+$/);
  });

  test("the same command works identically as a process on Node, Deno and Bun", async () => {
    const outputs = [];
    for (const rt of ["node", "deno", "bun"] as const) {
      const run = await runCliProcess(rt, ["download", "org/cli", "a.json", "d.txt", ...common]);
      assert.equal(run.code, 0, `${rt}: ${run.stderr}`);
      outputs.push(run.stdout);
      const bad = await runCliProcess(rt, ["download", "org/cli", "missing.txt", ...common]);
      assert.equal(bad.code, 1, rt);
      assert.equal(bad.stdout, "");
      assert.match(bad.stderr, /^hubcache: EntryNotFound: /);
    }
    assert.equal(new Set(outputs).size, 1);
    assert.equal(outputs[0].split("\n").length, 3);
  });

  test("a Deno user without --allow-env is asked for no variable of ours: the CLI starts and lists a cache without a prompt", async () => {
    // `script` gives the CLI a terminal, so Deno would stop at a permission prompt for any
    // variable read without permission (the test switch used to be one); a prompt never answered
    // shows in the output and the run is killed by the timeout below.
    const dir = await fsp.mkdtemp(join(tmpdir(), "hubcache-noenv-"));
    try {
      const deno = cliCommand("deno")[0];
      const line = [deno, "run", "--allow-read", "--allow-write", "--allow-net", "--allow-sys", join(repoRoot(), "src", "cli.ts"), "cache", "ls", "--cache-dir", dir]
        .map((a) => `'${a}'`).join(" ");
      const run = await finished(spawn("script", ["-qec", line, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] }), 30_000);
      assert.doesNotMatch(run.stdout + run.stderr, /requests env access/, run.stdout);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /No cached repositories found\./);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  test("the torture suite's crash switch acts on the CLI entry only: the CLI dies at the checkpoint, an application using the library does not", async () => {
    const rt = currentRuntimeName();
    const env = { HUBCACHE_TEST_HOOKS: "crash-at=temp-created" };
    const cli = await runCliProcess(rt, ["download", "org/cli", "b/c.bin", "--force", ...common], env);
    assert.equal(cli.signal, "SIGKILL", `the ${rt} CLI was not killed at temp-created: code ${cli.code}, ${cli.stderr}`);
    const app = await finished(spawnCli(rt, [fx.hub.endpoint, fx.cacheDir, TOKEN, "org/cli", "b/c.bin"], env, libraryCommand(rt)));
    assert.equal(app.code, 0, `${rt}: ${app.stderr}`);
    const path = app.stdout.trim();
    assert.ok(path.startsWith(join(fx.cacheDir, "models--org--cli", "snapshots")) && path.endsWith("/b/c.bin"), path);
    assert.ok(sameBytes(new Uint8Array(await fsp.readFile(path)), bytes(2_500_000, 5)), "the application's download holds exact bytes");
  });
});
