import { afterEach, beforeEach, describe, test } from "node:test";
import { captureCli, pathExists } from "./_support/capture.ts";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { testRuntime } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { etagOf, fakeCommit, type PyFile, setTimes, type WrittenRepo, writePythonRepo, writeRepoFile } from "./_support/python_cache.ts";
import { DEFAULT_PRUNE_OLDER_THAN } from "../src/core/defaults.ts";
import { parseDuration, pruneCache } from "../src/core/manage/prune.ts";
import { parseLockOwner } from "../src/core/download/lock.ts";
import { scanCache } from "../src/core/manage/scan.ts";
import { sanitizeHost } from "../src/core/writer_identity.ts";
import type { Runtime } from "../src/core/ports.ts";
import { InvalidInputError } from "../src/core/errors.ts";
import { runCli } from "../src/cli/main.ts";

const rt = testRuntime();
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const cfg: PyFile = { path: "config.json", content: '{"a":1}' }; // 7 bytes
const mb1: PyFile = { path: "model.bin", content: "x".repeat(100), lfs: true }; // 100
const mb2: PyFile = { path: "model.bin", content: "y".repeat(120), lfs: true }; // 120
const C1 = fakeCommit("p-1");
const C2 = fakeCommit("p-2");
const E = "e".repeat(64);

const exists = pathExists;

/** The pid of a process we started and saw exit: certainly dead (and not reused this soon). */
async function deadPid(): Promise<number> {
  const child = spawn("sh", ["-c", "exit 0"], { stdio: "ignore" });
  const pid = child.pid!;
  await new Promise<void>((resolve) => child.on("exit", () => resolve()));
  for (let i = 0; i < 100 && rt.platform.isProcessAlive(pid); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(rt.platform.isProcessAlive(pid), false, "spawned child should be reaped");
  return pid;
}

const capture = () => captureCli(rt);

describe("cache prune", () => {
  let dir: string;
  let repo: WrittenRepo;
  const host = sanitizeHost(rt.platform.hostname());
  const me = rt.platform.pid();

  beforeEach(async () => {
    dir = await makeTempDir("hubcache-prune-");
    repo = await writePythonRepo(dir, {
      repoType: "model",
      repoId: "org/p",
      revisions: [
        { commit: C1, refs: ["main"], files: [cfg, mb1] },
        { commit: C2, files: [cfg, mb2] }, // detached: no ref
      ],
    });
  });
  afterEach(() => removeTempDir(dir));

  const blobs = (name: string): string => path.join(repo.repoPath, "blobs", name);

  test("a live writer's files are never touched, however old and whatever the duration", async () => {
    const temp = await writeRepoFile(repo.repoPath, `blobs/${E}.${host}-${me}-0123456789abcdef.incomplete`, "live bytes");
    const small = await writeRepoFile(repo.repoPath, `.hubcache-tmp/ref.${host}-${me}-00ff00ff.tmp`, C1);
    const lock = path.join(dir, ".locks", repo.folderName, `${E}.hubcache-lock`);
    await fsp.writeFile(lock, JSON.stringify({ host, pid: me }));
    for (const p of [temp, small, lock]) await setTimes(p, Date.now() - 30 * DAY);

    const result = await pruneCache({ runtime: rt, cacheDir: dir, olderThan: "0", detachedRevisions: false });
    assert.deepEqual(result.removed, []);
    assert.deepEqual(result.errors, []);
    for (const p of [temp, small, lock]) assert.equal(await exists(p), true, p);
    assert.equal(result.kept.length, 3);
    for (const k of result.kept) assert.match(k.reason, /writer alive/);
  });

  test("a dead writer's temp files on this host go at once, even if just written", async () => {
    const dead = await deadPid();
    const temp = await writeRepoFile(repo.repoPath, `blobs/${E}.${host}-${dead}-0123456789abcdef.incomplete`, "dead bytes");
    const small = await writeRepoFile(repo.repoPath, `.hubcache-tmp/pointer.${host}-${dead}-00ff00ff.tmp`, "x");
    const result = await pruneCache({ runtime: rt, cacheDir: dir, detachedRevisions: false });
    assert.deepEqual(result.errors, []);
    assert.equal(await exists(temp), false);
    assert.equal(await exists(small), false);
    assert.deepEqual(result.removed.map((r) => r.kind).sort(), ["small-temp", "temp"]);
    assert.equal(result.freedBytes, "dead bytes".length + 1);
    // Nothing was left behind under a claim name either.
    const left = (await fsp.readdir(path.join(repo.repoPath, "blobs"))).filter((n) => n.includes("."));
    assert.deepEqual(left, []);
  });

  test("a partial whose blob is complete goes at once, however fresh; one whose blob is not stays", async () => {
    const etag = etagOf(mb1);
    const done = await writeRepoFile(repo.repoPath, `blobs/${etag}.partial`, "x".repeat(40));
    const pending = await writeRepoFile(repo.repoPath, `blobs/${E}.partial`, "y".repeat(40));
    const result = await pruneCache({ runtime: rt, cacheDir: dir, detachedRevisions: false });
    assert.deepEqual(result.errors, []);
    assert.equal(await exists(done), false);
    assert.equal(await exists(pending), true);
    assert.deepEqual(result.removed.map((r) => [r.path, r.reason]), [[done, `blob ${etag} is complete`]]);
  });

  test("empty scratch folders (.hubcache-tmp) unused for the duration are removed; a fresh one and one a live writer is using stay", async () => {
    const idle = path.join(repo.repoPath, ".hubcache-tmp");
    await fsp.mkdir(idle);
    const longAgo = new Date(Date.now() - 2 * DAY);
    await fsp.utimes(idle, longAgo, longAgo);
    const other = await writePythonRepo(dir, { repoType: "dataset", repoId: "org/d", revisions: [{ commit: C1, refs: ["main"], files: [cfg] }] });
    const live = await writeRepoFile(other.repoPath, `.hubcache-tmp/ref.${host}-${me}-00ff00ff.tmp`, C1);
    await fsp.utimes(path.dirname(live), longAgo, longAgo);
    const third = await writePythonRepo(dir, { repoType: "dataset", repoId: "org/e", revisions: [{ commit: C1, refs: ["main"], files: [cfg] }] });
    // Just made: a writer may be between its mkdir and its create.
    const fresh = path.join(third.repoPath, ".hubcache-tmp");
    await fsp.mkdir(fresh);
    await pruneCache({ runtime: rt, cacheDir: dir, detachedRevisions: false });
    assert.equal(await exists(idle), false);
    assert.equal(await exists(live), true);
    assert.equal(await exists(fresh), true);
  });

  test("ownerless leftovers and other hosts' temps go only once older than the duration", async () => {
    const names = {
      partial: `${E}.partial`,
      legacy: `${"f".repeat(64)}.incomplete`,
      foreign: `${"d".repeat(64)}.3f2b8c1e-9d4a-4b7e-8f00-123456789abc.incomplete`,
      otherHost: `${"c".repeat(64)}.elsewhere-${me}-0123456789abcdef.incomplete`,
    };
    const fresh: string[] = [];
    const old: string[] = [];
    for (const n of Object.values(names)) {
      fresh.push(await writeRepoFile(repo.repoPath, `blobs/${n}`, "fresh"));
    }
    // Same kinds, 2 days old, in a second repo.
    const other = await writePythonRepo(dir, { repoType: "dataset", repoId: "org/d", revisions: [{ commit: C1, refs: ["main"], files: [cfg] }] });
    for (const n of Object.values(names)) {
      const p = await writeRepoFile(other.repoPath, `blobs/${n}`, "stale");
      await setTimes(p, Date.now() - 2 * DAY);
      old.push(p);
    }
    const small = await writeRepoFile(other.repoPath, ".hubcache-tmp/mystery.tmp", "?");
    await setTimes(small, Date.now() - 2 * DAY);

    const result = await pruneCache({ runtime: rt, cacheDir: dir, detachedRevisions: false }); // default: 1 day
    assert.equal(parseDuration(DEFAULT_PRUNE_OLDER_THAN), DAY);
    assert.deepEqual(result.errors, []);
    for (const p of fresh) assert.equal(await exists(p), true, `kept ${p}`);
    for (const p of [...old, small]) assert.equal(await exists(p), false, `removed ${p}`);
    assert.equal(result.removed.length, 5);
    assert.equal(result.kept.length, 4);
    for (const k of result.kept) assert.match(k.reason, /younger than 1d/);

    // With a shorter duration the fresh ones stay (seconds old) until they are old enough.
    for (const p of fresh) await setTimes(p, Date.now() - 2 * HOUR);
    const second = await pruneCache({ runtime: rt, cacheDir: dir, olderThan: "1h", detachedRevisions: false });
    assert.equal(second.removed.length, 4);
    for (const p of fresh) assert.equal(await exists(p), false);
  });

  test("detached revisions and the blobs only they use go; shared blobs, refs and the folder stay", async () => {
    const result = await pruneCache({ runtime: rt, cacheDir: dir, olderThan: "0" });
    assert.deepEqual(result.errors, []);
    assert.equal(await exists(path.join(repo.repoPath, "snapshots", C2)), false);
    assert.equal(await exists(blobs(etagOf(mb2))), false);
    assert.equal(await exists(blobs(etagOf(cfg))), true); // shared with C1 (main)
    assert.equal(await exists(blobs(etagOf(mb1))), true);
    assert.deepEqual(result.removed.map((r) => r.kind).sort(), ["blob", "revision"]);
    assert.equal(result.freedBytes, 120);
    const info = await scanCache({ runtime: rt, cacheDir: dir });
    assert.deepEqual(info.repos[0].revisions.map((r) => r.commitHash), [C1]);
  });

  test("a repo whose only revision is detached keeps its folder (a writer may be in it)", async () => {
    const lone = await writePythonRepo(dir, { repoType: "space", repoId: "u/s", revisions: [{ commit: C2, files: [mb2] }] });
    await pruneCache({ runtime: rt, cacheDir: dir, olderThan: "0" });
    assert.equal(await exists(lone.repoPath), true);
    assert.equal(await exists(path.join(lone.repoPath, "blobs", etagOf(mb2))), false);
    assert.deepEqual((await scanCache({ runtime: rt, cacheDir: dir })).warnings, []);
  });

  test("a detached revision changed recently may be a download in progress: kept", async () => {
    const result = await pruneCache({ runtime: rt, cacheDir: dir }); // default 1 day; the fixture was just written
    assert.equal(await exists(path.join(repo.repoPath, "snapshots", C2)), true);
    assert.ok(result.kept.some((k) => k.kind === "revision" && /download may still be writing/.test(k.reason)));
  });

  test("--dry-run reports what would go and removes nothing", async () => {
    const dead = await deadPid();
    const temp = await writeRepoFile(repo.repoPath, `blobs/${E}.${host}-${dead}-0123456789abcdef.incomplete`, "dead");
    const result = await pruneCache({ runtime: rt, cacheDir: dir, olderThan: "0", dryRun: true });
    assert.equal(result.dryRun, true);
    assert.deepEqual(result.removed.map((r) => r.kind).sort(), ["blob", "revision", "temp"]);
    assert.equal(result.freedBytes, 124);
    assert.equal(await exists(temp), true);
    assert.equal(await exists(path.join(repo.repoPath, "snapshots", C2)), true);
    assert.equal(await exists(blobs(etagOf(mb2))), true);
  });

  test("a partial claimed by a download in the middle of prune is not an error and is not touched", async () => {
    const partial = await writeRepoFile(repo.repoPath, `blobs/${E}.partial`, "resume me");
    await setTimes(partial, Date.now() - 2 * DAY);
    const claimedBy = path.join(repo.repoPath, "blobs", `${E}.${host}-${me}-feedfacefeedface.incomplete`);
    // The download renames the partial to its own name right before prune's own claim.
    const racing: Runtime = {
      ...rt,
      fs: {
        ...rt.fs,
        async rename(from: string, to: string): Promise<void> {
          if (from === partial && to !== claimedBy) await rt.fs.rename(partial, claimedBy);
          return rt.fs.rename(from, to);
        },
      },
    };
    const result = await pruneCache({ runtime: racing, cacheDir: dir, detachedRevisions: false });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.removed, []);
    assert.ok(result.kept.some((k) => k.path === partial && /gone before we got to it/.test(k.reason)));
    assert.equal(await fsp.readFile(claimedBy, "utf8"), "resume me");
  });

  test("a stale partial replaced by a fresh one between scan and claim is given back", async () => {
    const partial = await writeRepoFile(repo.repoPath, `blobs/${E}.partial`, "old");
    await setTimes(partial, Date.now() - 2 * DAY);
    let swapped = false;
    const racing: Runtime = {
      ...rt,
      fs: {
        ...rt.fs,
        async rename(from: string, to: string): Promise<void> {
          if (from === partial && !swapped) {
            // A writer releases a fresh partial under the same name (rename over the old one).
            swapped = true;
            const tmp = `${partial}.writer`;
            await fsp.writeFile(tmp, "fresh progress");
            await fsp.rename(tmp, partial);
          }
          return rt.fs.rename(from, to);
        },
      },
    };
    const result = await pruneCache({ runtime: racing, cacheDir: dir, detachedRevisions: false });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.removed, []);
    assert.equal(await fsp.readFile(partial, "utf8"), "fresh progress");
  });

  test("hubcache lock files of dead holders go; live holders' and Python's .lock files stay", async () => {
    const dead = await deadPid();
    const locks = path.join(dir, ".locks", repo.folderName);
    const deadJson = path.join(locks, `${"1".repeat(64)}.hubcache-lock`);
    const deadText = path.join(locks, `${"2".repeat(64)}.hubcache-lock`);
    const live = path.join(locks, `${"3".repeat(64)}.hubcache-lock`);
    const unknownFresh = path.join(locks, `${"4".repeat(64)}.hubcache-lock`);
    await fsp.writeFile(deadJson, JSON.stringify({ host, pid: dead, nonce: "ab" }));
    await fsp.writeFile(deadText, `${host}-${dead}-0123456789abcdef\n`);
    await fsp.writeFile(live, `${host}-${me}-0123456789abcdef`);
    await fsp.writeFile(unknownFresh, "");
    // Stale locks moved aside by waiters (lock.ts's breakIfStale) that died / live before removing them.
    const asideDead = path.join(locks, `${"5".repeat(64)}.hubcache-lock.stale.${host}-${dead}-00ff00ff.tmp`);
    const asideLive = path.join(locks, `${"6".repeat(64)}.hubcache-lock.stale.${host}-${me}-00ff00ff.tmp`);
    await fsp.writeFile(asideDead, "{}");
    await fsp.writeFile(asideLive, "{}");
    const pythonLocks = (await fsp.readdir(locks)).filter((n) => n.endsWith(".lock"));
    assert.ok(pythonLocks.length >= 3);

    const result = await pruneCache({ runtime: rt, cacheDir: dir, detachedRevisions: false });
    assert.deepEqual(result.errors, []);
    assert.equal(await exists(deadJson), false);
    assert.equal(await exists(deadText), false);
    assert.equal(await exists(live), true);
    assert.equal(await exists(unknownFresh), true);
    assert.equal(await exists(asideDead), false);
    assert.equal(await exists(asideLive), true);
    for (const n of pythonLocks) assert.equal(await exists(path.join(locks, n)), true);
  });

  test("the CLI prunes with --older-than, previews with --dry-run and rejects bad durations", async () => {
    const stale = await writeRepoFile(repo.repoPath, `blobs/${E}.partial`, "0123456789");
    await setTimes(stale, Date.now() - 3 * HOUR);

    const preview = capture();
    assert.equal(await runCli(["cache", "prune", "--older-than", "2h", "--dry-run", "--cache-dir", dir], preview.ctx), 0);
    assert.match(preview.out.join("\n"), /would remove partial .*\.partial \(10\.0\)/);
    assert.match(preview.out.join("\n"), /Dry run: would remove 1 item\(s\), freeing 10\.0; kept 1 in use or younger than 2h/);
    assert.equal(await exists(stale), true);

    const json = capture();
    assert.equal(await runCli(["cache", "prune", "--older-than=2h", "--json", "-y", "--cache-dir", dir], json.ctx), 0);
    const report = JSON.parse(json.out.join("\n")) as { dry_run: boolean; freed_size: number; removed: { kind: string }[] };
    assert.equal(report.dry_run, false);
    assert.equal(report.freed_size, 10);
    assert.deepEqual(report.removed.map((r) => r.kind), ["partial"]);
    assert.equal(await exists(stale), false);

    const bad = capture();
    assert.equal(await runCli(["cache", "prune", "--older-than", "soon", "--cache-dir", dir], bad.ctx), 2);
    assert.match(bad.err.join(""), /invalid duration 'soon'/);
  });
});

describe("durations and lock owners", () => {
  test("parseDuration reads the Python client's units and returns milliseconds", () => {
    assert.equal(parseDuration("30s"), 30_000);
    assert.equal(parseDuration("30m"), 30 * 60_000);
    assert.equal(parseDuration("2h"), 2 * HOUR);
    assert.equal(parseDuration("7d"), 7 * DAY);
    assert.equal(parseDuration("2w"), 14 * DAY);
    assert.equal(parseDuration("1mo"), 30 * DAY);
    assert.equal(parseDuration("1y"), 365 * DAY);
    assert.equal(parseDuration(" 2H "), 2 * HOUR);
    assert.equal(parseDuration("90"), 90_000);
    for (const bad of ["", "h", "1.5h", "-5m", "3x", "2 h"]) assert.throws(() => parseDuration(bad), InvalidInputError, bad);
  });

  test("parseLockOwner reads JSON and temp-name style holders", () => {
    assert.deepEqual(parseLockOwner('{"host":"n1","pid":42}'), { host: "n1", pid: 42, nonce: "" });
    assert.deepEqual(parseLockOwner("n1-42-0123456789abcdef\n"), { host: "n1", pid: 42, nonce: "0123456789abcdef" });
    assert.equal(parseLockOwner(""), null);
    assert.equal(parseLockOwner('{"pid":"x"}'), null);
  });
});
