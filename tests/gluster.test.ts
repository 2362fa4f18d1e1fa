/**
 * A real distributed file system: one GlusterFS volume mounted twice with FUSE, each mount a
 * "host" (tests/_support/gluster.ts). The long version is the `two-hosts` part of
 * `npm run torture`. Needs root, FUSE and Debian's glusterfs-server/-client (`.ci/run` installs
 * them); without them these tests fail and say why — they never skip.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { adaptiveLookups } from "../src/adapters/lookups.ts";
import { nodeFileSystem } from "../src/adapters/node.ts";
import { FsError } from "../src/core/ports.ts";
import { withTransientRetries } from "../src/core/fs/transient.ts";
import { type GlusterVolume, mountGlusterVolume } from "./_support/gluster.ts";
import { finished, RUNTIMES, spawnCli } from "./_support/cli.ts";
import { bytes, readBytes, sameBytes, startHub, TOKEN, waitFor } from "./_support/hub.ts";
import { currentRuntimeName, hostShare, roundsOnThisHost, testRuntime } from "./_support/runtime.ts";
import { runTwoHostRaces } from "./torture/two_hosts.ts";

const SEED = Number(process.env.HUBCACHE_TORTURE_SEED ?? 20_250_601);

let mounting: Promise<GlusterVolume> | undefined;
/** Set up once per test file, inside the tests, so a failure to set up fails them (never a skip). */
function volume(): Promise<GlusterVolume> {
  return mounting ??= mountGlusterVolume();
}

describe("GlusterFS, mounted twice: two hosts sharing one cache", () => {
  after(async () => {
    const v = await mounting?.catch(() => undefined);
    await v?.unmount();
  });

  test(`${currentRuntimeName()} reports a file another host replaced as ESTALE or ENOENT, and hubcache's reads carry on`, async (t) => {
    const v = await volume();
    const dir = await v.sharedDir("estale-");
    try {
      const plain = nodeFileSystem(); // the adapter alone: no retries
      const retried = withTransientRetries(testRuntime()).fs;
      const seen = new Map<string, number>();
      for (let i = 0; i < 5; i++) {
        const here = join(dir.paths[0], `ref-${i}`);
        await fsp.writeFile(here, "old");
        await fsp.stat(here); // this host has looked the name up: its mount now caches it
        await fsp.writeFile(join(dir.paths[1], `tmp-${i}`), "new");
        await fsp.rename(join(dir.paths[1], `tmp-${i}`), join(dir.paths[1], `ref-${i}`));
        const err = await plain.readFile(here).then(() => undefined, (e: unknown) => e);
        if (err !== undefined) {
          assert.ok(err instanceof FsError, `not an FsError: ${String(err)}`);
          assert.ok(err.code === "ESTALE" || err.code === "ENOENT", `unexpected ${err.code}: ${err.message}`);
          assert.ok(err.rawMessage !== undefined && err.message.includes(err.rawMessage), "the runtime's own text is kept");
          const key = `${err.code} (the runtime said code ${JSON.stringify(err.rawCode)}: ${err.rawMessage})`.replace(here, "<path>");
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }
        const text = new TextDecoder().decode(await retried.readFile(here));
        assert.ok(text === "new" || text === "old", `read ${JSON.stringify(text)}`);
      }
      t.diagnostic(`raw reads right after the other host's rename: ${[...seen].map(([k, n]) => `${k} ×${n}`).join("; ") || "all succeeded"}`);
      assert.ok([...seen.keys()].some((k) => k.startsWith("ESTALE")), "GlusterFS produced no ESTALE, so nothing here was tested");
    } finally {
      await fsp.rm(dir.paths[0], { recursive: true, force: true });
    }
  });

  test("lookups through a mount that has cached nothing are round trips: the adaptive lookups go asynchronous there, with the same answers", async (t) => {
    const v = await volume();
    const dir = await v.sharedDir("lookups-");
    try {
      const names = Array.from({ length: 200 }, (_, i) => `file-${i}`);
      for (const name of names) await fsp.symlink(`../../blobs/${name}`, join(dir.paths[0], name));
      const lookups = adaptiveLookups();
      const targets: string[] = [];
      for (const name of names) {
        assert.ok((await lookups.lstat(join(dir.judged, name))).isSymbolicLink());
        targets.push(await lookups.readlink(join(dir.judged, name)));
      }
      assert.deepEqual(targets, names.map((n) => `../../blobs/${n}`));
      assert.equal(lookups.synchronous, false, "400 lookups through a cold GlusterFS mount were all answered like memory: the switch to overlapping calls was never tested");
      t.diagnostic("the lookups switched to asynchronous calls on the cold mount");
    } finally {
      await fsp.rm(dir.paths[0], { recursive: true, force: true });
    }
  });

  // Every round runs writers of all three runtimes on both mounts, whatever runtime hosts this
  // file, so the four rounds are divided among the host runtimes of `npm test` (hostShare).
  test("mixed-runtime writers on both mounts, lock none and auto, some SIGKILLed: survivors exact, re-runs and prune on each host clean", async () => {
    const report = await runTwoHostRaces({ mode: "short", seed: SEED, volume: await volume(), share: hostShare() });
    const explain = report.violations.map((v) => `- round ${v.round}: ${v.detail}${v.replay ? `\n  replay: ${v.replay}` : ""}`).join("\n");
    assert.equal(report.violations.length, 0, `${report.violations.length} violation(s):\n${explain}`);
    const rounds = roundsOnThisHost(4);
    assert.equal(report.rounds, rounds);
    assert.ok((report.kills ?? 0) >= rounds, `expected a kill per round, saw ${report.kills}`);
    assert.ok((report.processes ?? 0) >= Math.ceil((30 * rounds) / 4), `expected at least 30 processes per 4 rounds, ran ${report.processes} in ${rounds}`);
  });
  test("two hosts downloading one repo into one local dir, lock off, one writer SIGKILLed mid-transfer: one exact file per path, exact metadata, no temp file left", async () => {
    const v = await volume();
    const dir = await v.sharedDir("localdir-");
    const fx = await startHub();
    try {
      const files: Record<string, Uint8Array> = { "a.bin": bytes(3_000_000, 941), "b/c.bin": bytes(2_000_000, 942), "d.json": new TextEncoder().encode("{}") };
      const commit = fx.hub.createRepo("org/glocal").commit(files);
      const on = (host: 0 | 1) => join(dir.paths[host], "local");
      const args = (host: 0 | 1) => ["download", "org/glocal", "--local-dir", on(host), "--lock", "none", "--endpoint", fx.hub.endpoint, "--cache-dir", fx.cacheDir, "--token", TOKEN, "--quiet"];
      const env = (host: 0 | 1, extra: Record<string, string> = {}) => ({ HUBCACHE_HOSTNAME: v.hosts[host].name, ...extra });
      fx.hub.throttle(2_000_000); // slow enough that the victim dies with bytes written and more to come
      const child = spawnCli(currentRuntimeName(), args(0), env(0));
      const victim = finished(child);
      const downloadDir = join(on(0), ".cache", "huggingface", "download");
      await waitFor(async () => {
        for (const name of await fsp.readdir(downloadDir, { recursive: true }).catch(() => [] as string[])) {
          if (String(name).endsWith(".incomplete") && (await fsp.stat(join(downloadDir, String(name))).catch(() => null))?.size) return true;
        }
        return false;
      }, 20_000, "the victim's temp file to receive bytes");
      const writers = RUNTIMES.map((rt, i) => finished(spawnCli(rt, args(i % 2 === 0 ? 1 : 0), env(i % 2 === 0 ? 1 : 0))));
      child.kill("SIGKILL");
      const killed = await victim;
      assert.equal(killed.signal, "SIGKILL", `the victim was not killed mid-transfer: ${killed.code} ${killed.stderr}`);
      for (const run of await Promise.all(writers)) assert.equal(run.code, 0, run.stderr);
      fx.hub.throttle(null);
      // A re-run on each host finds every file in place and sweeps what its dead writers left.
      for (const host of [0, 1] as const) {
        const again = await finished(spawnCli(currentRuntimeName(), args(host), env(host)));
        assert.equal(again.code, 0, again.stderr);
      }
      const judged = join(dir.judged, "local");
      for (const [path, data] of Object.entries(files)) {
        assert.ok(sameBytes(await readBytes(join(judged, path)), data), `${path} is not exact`);
        const record = await fsp.readFile(join(judged, ".cache", "huggingface", "download", `${path}.metadata`), "utf8");
        assert.deepEqual(record.split("\n").slice(0, 2), [commit, fx.hub.repo("org/glocal").fileInfo(path).etag], path);
      }
      const bookkeeping = await fsp.readdir(join(judged, ".cache", "huggingface"), { recursive: true });
      assert.deepEqual(bookkeeping.map(String).filter((n) => /\.(incomplete|partial|adopting|tmp)$/.test(n)), [], "temp files left");
    } finally {
      fx.hub.throttle(null);
      await fx.close();
      await fsp.rm(dir.paths[0], { recursive: true, force: true });
    }
  });
});
