/**
 * The short versions of torture parts 4–6, for `npm test` on Node, Deno and Bun:
 * file-system faults through the memory adapter (real downloads, real Hub emulator), the
 * deterministic simulation over a few hundred seeds, and hostile-input fuzzing. The long
 * versions run from `npm run torture`; a simulation seed replays with `node scripts/replay.mjs`.
 *
 * Bugs these parts found are pinned by failing tests in `torture_sim_regressions.test.ts`.
 * While one is open, the violations it causes may be listed in {@link KNOWN} and reported here as
 * diagnostics instead of failing this suite a second time; any other violation fails.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryFileSystem } from "../src/adapters/memory/mod.ts";
import { runFsFaults } from "./torture/fs_faults.ts";
import { runFuzz } from "./torture/fuzz.ts";
import { checkCacheInvariants, gitBlobSha1, sha256Hex } from "./torture/invariants.ts";
import type { PartReport } from "./torture/report.ts";
import { runSimulation, runSimulationSeed } from "./torture/simulation.ts";
import { hostShare, roundsOnThisHost } from "./_support/runtime.ts";

/**
 * Known bugs (each with a failing test in torture_sim_regressions.test.ts), by the text of their
 * violations. Empty: every bug these parts found so far is fixed, so any violation fails.
 */
const KNOWN: ReadonlyArray<{ readonly test: string; readonly pattern: RegExp }> = [];

function unexpected(report: PartReport, log: (line: string) => void): string[] {
  const out: string[] = [];
  for (const v of report.violations) {
    const known = KNOWN.find((k) => k.pattern.test(v.detail));
    const line = `${v.detail}${v.replay ? ` (replay: ${v.replay})` : ""}`;
    if (known) log(`known bug (see regression test "${known.test}"): ${line.slice(0, 300)}`);
    else out.push(line);
  }
  return out;
}

describe("torture parts 4-6 (short)", () => {
  test("file-system faults: every download ends in exact bytes or a typed error, with nothing corrupted or lost", async (t) => {
    const report = await runFsFaults({ mode: "short", rounds: 40, seed: 424242 });
    assert.equal(report.rounds, 40);
    assert.ok((report.faults ?? 0) > 10, `only ${report.faults} faults fired`);
    assert.deepEqual(unexpected(report, (l) => t.diagnostic(l)), []);
  });

  // A seed gives the same interleaving on every runtime (the replay test below checks it on
  // each), so the 170 seeds are divided among the host runtimes of `npm test` (hostShare).
  test("deterministic simulation: 170 seeds keep every invariant after every step", async (t) => {
    const report = await runSimulation({ mode: "short", seeds: 170, seed: 1, share: hostShare() });
    const seeds = roundsOnThisHost(170);
    assert.equal(report.seeds, seeds);
    assert.ok((report.kills ?? 0) > (10 * seeds) / 170, `only ${report.kills} simulated processes were killed in ${seeds} seeds`);
    assert.deepEqual(unexpected(report, (l) => t.diagnostic(l)), []);
  });

  test("the same seed replays the same interleaving and the same disk", async () => {
    for (const seed of [7, 31337]) {
      const a = await runSimulationSeed(seed);
      const b = await runSimulationSeed(seed);
      assert.ok(a.steps > 50, `seed ${seed} ran only ${a.steps} steps`);
      assert.equal(b.steps, a.steps, `seed ${seed}: step counts differ`);
      assert.equal(b.digest, a.digest, `seed ${seed}: interleavings differ`);
      assert.deepEqual(b.violations, a.violations);
    }
  });

  test("the checkers see a corrupted blob, a torn pointer, a bad ref and a file outside the cache", async () => {
    const fs = new MemoryFileSystem();
    const repo = "/c/models--a--b";
    const content = new TextEncoder().encode("hello blob");
    const lfs = sha256Hex(content);
    const regular = gitBlobSha1(content);
    const commit = "c".repeat(40);
    const catalog = { contentByEtag: new Map([[lfs, content], [regular, content]]), files: new Map([[commit, new Map([["x.bin", lfs], ["y.txt", regular]])]]) };
    await fs.mkdirp(`${repo}/blobs`);
    await fs.mkdirp(`${repo}/snapshots/${commit}`);
    await fs.mkdirp(`${repo}/refs`);
    await fs.writeFile(`${repo}/blobs/${lfs}`, content);
    await fs.writeFile(`${repo}/blobs/${regular}`, content);
    await fs.symlink(`../../blobs/${lfs}`, `${repo}/snapshots/${commit}/x.bin`);
    await fs.writeFile(`${repo}/snapshots/${commit}/y.txt`, content);
    await fs.writeFile(`${repo}/refs/main`, new TextEncoder().encode(commit));
    assert.deepEqual(await checkCacheInvariants(fs, "/c", { catalog, checkOutside: true }), []);

    await fs.writeFile(`${repo}/blobs/${lfs}`, new TextEncoder().encode("hello blub"));
    await fs.removeFile(`${repo}/snapshots/${commit}/x.bin`);
    await fs.symlink(`../../blobs/${regular}`, `${repo}/snapshots/${commit}/x.bin`);
    await fs.writeFile(`${repo}/snapshots/${commit}/y.txt`, content.subarray(0, 4));
    await fs.writeFile(`${repo}/refs/main`, new TextEncoder().encode(commit + "\n"));
    await fs.writeFile("/etc-escape", content);
    const problems = (await checkCacheInvariants(fs, "/c", { catalog, checkOutside: true })).join("\n");
    assert.match(problems, /invariant 1: .*does not hash to its etag/);
    assert.match(problems, /invariant 5: pointer c{8}\/x\.bin links '\.\.\/\.\.\/blobs\/[0-9a-f]{40}', expected/);
    assert.match(problems, /invariant 5: pointer c{8}\/y\.txt gives 4 bytes/);
    assert.match(problems, /invariant 4: ref 'models--a--b\/refs\/main'/);
    assert.match(problems, /invariant 9: '\/etc-escape'/);
  });

  test("hostile input: 2 000 generated inputs break no property of the validators and parsers", async (t) => {
    const report = await runFuzz({ mode: "short", inputs: 2_000, seed: 20_250_101 });
    assert.ok((report.inputs ?? 0) >= 1_500, `only ${report.inputs} inputs ran`);
    assert.deepEqual(unexpected(report, (l) => t.diagnostic(l)), []);
  });
});
