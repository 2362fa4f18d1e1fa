import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { finished, repoRoot } from "./_support/cli.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

describe("the hubcache bin on Node", () => {
  test("starts libuv's thread pool with 16 threads for a download, or the size the user chose; 4 for other commands", async () => {
    const dir = await makeTempDir();
    try {
      // Preloaded into the CLI's process: at exit, its thread count and the pool size it ran with.
      const probe = join(dir, "probe.cjs");
      await fsp.writeFile(
        probe,
        `process.on("exit", () => process.stderr.write("\\nPROBE " + JSON.stringify({ threads: require("node:fs").readdirSync("/proc/self/task").length, size: process.env.UV_THREADPOOL_SIZE ?? null }) + "\\n"));\n`,
      );
      const { UV_THREADPOOL_SIZE: _unset, ...env } = process.env;
      const run = async (entry: string, args: string[], extra: Record<string, string> = {}): Promise<{ threads: number; size: string | null }> => {
        const r = await finished(spawn("node", ["--require", probe, join(repoRoot(), entry), ...args], { env: { ...env, ...extra } }));
        assert.equal(r.code, 0, r.stderr);
        const line = /PROBE (.*)/.exec(r.stderr);
        assert.ok(line, `no probe line in: ${r.stderr}`);
        return JSON.parse(line[1]);
      };
      const plain = await run("dist/src/cli.js", ["download", "--help"]);
      const bin = await run("bin/hubcache.cjs", ["download", "--help"]);
      const chosen = await run("bin/hubcache.cjs", ["download", "--help"], { UV_THREADPOOL_SIZE: "2" });
      const other = await run("bin/hubcache.cjs", ["cache", "--help"]);
      assert.equal(plain.size, null);
      assert.equal(other.size, null);
      assert.equal(other.threads, plain.threads, JSON.stringify({ plain, other }));
      assert.equal(bin.size, "16");
      // The pool has started by the time the CLI runs (the module loader used it): 12 more
      // threads than libuv's default 4 means the size was set before it started.
      assert.equal(bin.threads - plain.threads, 12, JSON.stringify({ plain, bin }));
      assert.equal(chosen.size, "2");
      assert.equal(plain.threads - chosen.threads, 2, JSON.stringify({ plain, chosen }));
    } finally {
      await removeTempDir(dir);
    }
  });
});
