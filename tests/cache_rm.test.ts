import { afterEach, beforeEach, describe, test } from "node:test";
import { captureCli, pathExists } from "./_support/capture.ts";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { testRuntime } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import { etagOf, fakeCommit, type PyFile, type WrittenRepo, writePythonRepo } from "./_support/python_cache.ts";
import { scanCache } from "../src/core/manage/scan.ts";
import { executeRemoval, planRemoval } from "../src/core/manage/remove.ts";
import { runCli } from "../src/cli/main.ts";

const rt = testRuntime();

const cfg: PyFile = { path: "config.json", content: '{"a":1}' }; // 7 bytes
const mb1: PyFile = { path: "model.bin", content: "x".repeat(100), lfs: true }; // 100
const onnx: PyFile = { path: "onnx/model.onnx", content: "o".repeat(50), lfs: true }; // 50
const mb2: PyFile = { path: "model.bin", content: "y".repeat(120), lfs: true }; // 120
const csv: PyFile = { path: "data/train.csv", content: "a".repeat(40) }; // 40
const readme: PyFile = { path: "README.md", content: "# dataset\n" }; // 10

const C1 = fakeCommit("alpha-1");
const C2 = fakeCommit("alpha-2");
const C3 = fakeCommit("set-3");
const C4 = fakeCommit("set-4");

const exists = pathExists;

const capture = (confirm?: (q: string) => Promise<boolean>) => captureCli(rt, { confirm });

describe("cache rm", () => {
  let dir: string;
  let alpha: WrittenRepo;
  let set: WrittenRepo;

  beforeEach(async () => {
    dir = await makeTempDir("hubcache-rm-");
    alpha = await writePythonRepo(dir, {
      repoType: "model",
      repoId: "org/alpha",
      revisions: [
        { commit: C1, refs: ["main"], files: [cfg, mb1, onnx] },
        { commit: C2, refs: ["refs/pr/1", "v1.0"], files: [cfg, mb2] },
      ],
    });
    set = await writePythonRepo(dir, {
      repoType: "dataset",
      repoId: "org/set",
      symlinks: false,
      revisions: [
        { commit: C3, refs: ["main"], files: [csv, readme] },
        { commit: C4, refs: ["dev"], files: [readme] },
      ],
    });
  });
  afterEach(() => removeTempDir(dir));

  const blob = (f: PyFile): string => path.join(alpha.repoPath, "blobs", etagOf(f));

  test("removing one revision frees exactly the blobs no remaining revision uses", async () => {
    const plan = await planRemoval({ runtime: rt, cacheDir: dir, targets: [C2] });
    assert.deepEqual(plan.repos, []);
    assert.deepEqual(plan.snapshots, [path.join(alpha.repoPath, "snapshots", C2)]);
    assert.deepEqual(plan.refs.map((r) => r.ref).sort(), ["refs/pr/1", "v1.0"]);
    assert.ok(plan.refs.some((r) => r.path === path.join(alpha.repoPath, "refs", "refs", "pr", "1")));
    // cfg is shared with C1: only mb2 (120 bytes) goes.
    assert.deepEqual(plan.blobs.map((b) => b.path), [blob(mb2)]);
    assert.equal(plan.expectedFreedBytes, 120);

    const result = await executeRemoval({ runtime: rt, plan: plan });
    assert.deepEqual(result.errors, []);
    assert.equal(result.freedBytes, 120);
    assert.equal(await exists(blob(mb2)), false);
    for (const f of [cfg, mb1, onnx]) assert.equal(await exists(blob(f)), true);
    assert.equal(await exists(path.join(alpha.repoPath, "snapshots", C2)), false);

    const after = (await scanCache({ runtime: rt, cacheDir: dir })).repos.find((r) => r.repoId === "org/alpha")!;
    assert.deepEqual(after.refs, { main: C1 });
    assert.equal(after.sizeOnDisk, 157);
    assert.equal(after.nbFiles, 3);
  });

  test("removing every revision removes the whole repo folder (by id, type/id or all hashes)", async () => {
    const info = await scanCache({ runtime: rt, cacheDir: dir });
    for (const targets of [["org/alpha"], ["model/org/alpha"], [C1, C2], ["ORG/Alpha"]]) {
      const plan = await planRemoval({ runtime: rt, scanned: info, targets });
      assert.deepEqual(plan.repos, [alpha.repoPath], targets.join(" "));
      assert.deepEqual(plan.snapshots, []);
      assert.deepEqual(plan.blobs, []);
      // Python counts each distinct blob of the repo's revisions once: 7 + 100 + 50 + 120.
      assert.equal(plan.expectedFreedBytes, 277);
      assert.equal(plan.selections[0].entireRepo, true);
    }
    const result = await executeRemoval({ runtime: rt, plan: (await planRemoval({ runtime: rt, scanned: info, targets: ["org/alpha"] })) });
    assert.equal(result.freedBytes, 277);
    assert.equal(await exists(alpha.repoPath), false);
    assert.equal(await exists(set.repoPath), true);
  });

  test("repo ids of datasets need their type: --repo-type or dataset/…", async () => {
    const info = await scanCache({ runtime: rt, cacheDir: dir });
    assert.deepEqual((await planRemoval({ runtime: rt, scanned: info, targets: ["org/set"] })).missing, ["org/set"]);
    assert.deepEqual((await planRemoval({ runtime: rt, scanned: info, targets: ["org/set"], repoType: "dataset" })).repos, [set.repoPath]);
    assert.deepEqual((await planRemoval({ runtime: rt, scanned: info, targets: ["dataset/org/set"] })).repos, [set.repoPath]);
    // 40 + 10 + 10: a no-symlink cache keeps one copy per revision.
    assert.equal((await planRemoval({ runtime: rt, scanned: info, targets: ["dataset/org/set"] })).expectedFreedBytes, 60);
  });

  test("a no-symlink revision's files go with its snapshot folder and are counted", async () => {
    const plan = await planRemoval({ runtime: rt, cacheDir: dir, targets: [C4.toUpperCase()] });
    assert.deepEqual(plan.snapshots, [path.join(set.repoPath, "snapshots", C4)]);
    assert.deepEqual(plan.blobs, []);
    assert.deepEqual(plan.refs.map((r) => r.ref), ["dev"]);
    assert.equal(plan.expectedFreedBytes, 10);
    const result = await executeRemoval({ runtime: rt, plan: plan });
    assert.equal(result.freedBytes, 10);
    assert.equal(await exists(path.join(set.repoPath, "snapshots", C3, "README.md")), true);
    assert.equal(await exists(path.join(set.repoPath, "refs", "dev")), false);
  });

  test("a ref moved to another commit after the scan is left alone", async () => {
    const plan = await planRemoval({ runtime: rt, cacheDir: dir, targets: [C2] });
    // A download updates `v1.0` to C1 between our scan and the deletion.
    await fsp.writeFile(path.join(alpha.repoPath, "refs", "v1.0"), C1);
    const result = await executeRemoval({ runtime: rt, plan: plan });
    assert.deepEqual(result.keptInUse, [path.join(alpha.repoPath, "refs", "v1.0")]);
    assert.equal(await fsp.readFile(path.join(alpha.repoPath, "refs", "v1.0"), "utf8"), C1);
    assert.equal(await exists(path.join(alpha.repoPath, "refs", "refs", "pr", "1")), false);
  });

  test("a blob linked by a new snapshot after the scan is kept", async () => {
    const plan = await planRemoval({ runtime: rt, cacheDir: dir, targets: [C2] });
    // A download of another revision reuses mb2's blob between our scan and the deletion.
    const c9 = path.join(alpha.repoPath, "snapshots", fakeCommit("alpha-9"));
    await fsp.mkdir(c9, { recursive: true });
    await fsp.symlink(`../../blobs/${etagOf(mb2)}`, path.join(c9, "model.bin"));
    const result = await executeRemoval({ runtime: rt, plan: plan });
    assert.deepEqual(result.keptInUse, [blob(mb2)]);
    assert.equal(result.freedBytes, 0);
    assert.equal(await exists(blob(mb2)), true);
  });

  test("paths someone else removed first are reported as gone, not as errors", async () => {
    const plan = await planRemoval({ runtime: rt, cacheDir: dir, targets: [C2] });
    await fsp.unlink(blob(mb2));
    await fsp.rm(path.join(alpha.repoPath, "snapshots", C2), { recursive: true });
    const result = await executeRemoval({ runtime: rt, plan: plan });
    assert.deepEqual(result.errors, []);
    assert.ok(result.alreadyGone.includes(blob(mb2)));
    assert.equal(result.freedBytes, 0);
  });

  test("the CLI refuses to delete without -y when it cannot ask, and says how", async () => {
    const { ctx, out, err } = capture();
    assert.equal(await runCli(["cache", "rm", "org/alpha", "--cache-dir", dir], ctx), 1);
    assert.match(out.join("\n"), /About to delete 1 repo\(s\) totalling 277\.0\./);
    assert.match(err.join(""), /^hubcache: NotConfirmed: not deleting without confirmation: .*pass -y to delete \(or --dry-run to preview\)\n$/);
    assert.equal(await exists(alpha.repoPath), true);
  });

  test("--dry-run prints the plan and deletes nothing", async () => {
    const { ctx, out } = capture();
    assert.equal(await runCli(["cache", "rm", C2, "org/alpha", "--dry-run", "--cache-dir", dir], ctx), 0);
    const text = out.join("\n");
    assert.match(text, /About to delete 1 repo\(s\) totalling 277\.0\./);
    assert.match(text, /model\/org\/alpha \(entire repo\)/);
    assert.match(text, /Dry run: no files were deleted\./);
    assert.equal(await exists(blob(mb2)), true);
  });

  test("-y deletes and reports the bytes freed; a confirm callback can decline", async () => {
    const declined = capture(() => Promise.resolve(false));
    assert.equal(await runCli(["cache", "rm", C2, "--cache-dir", dir], declined.ctx), 0);
    assert.match(declined.out.join("\n"), /Deletion cancelled\./);
    assert.equal(await exists(blob(mb2)), true);

    const questions: string[] = [];
    const accepted = capture((q) => {
      questions.push(q);
      return Promise.resolve(true);
    });
    assert.equal(await runCli(["cache", "rm", C2, "--cache-dir", dir], accepted.ctx), 0);
    assert.deepEqual(questions, ["Proceed with deletion?"]);
    assert.match(accepted.out.join("\n"), /Deleted 0 repo\(s\) and 1 revision\(s\); freed 120\.0 \(120 bytes\)\./);
    assert.equal(await exists(blob(mb2)), false);

    const { ctx, out } = capture();
    assert.equal(await runCli(["cache", "rm", "-y", "--repo-type", "dataset", "org/set", "--cache-dir", dir], ctx), 0);
    assert.match(out.join("\n"), /Deleted 1 repo\(s\) and 2 revision\(s\); freed 60\.0 \(60 bytes\)\./);
    assert.equal(await exists(set.repoPath), false);
  });

  test("a target that is not in the cache is reported on stderr with a non-zero code", async () => {
    const { ctx, out, err } = capture();
    assert.equal(await runCli(["cache", "rm", "-y", "nobody/nothing", fakeCommit("nope"), "--cache-dir", dir], ctx), 1);
    assert.match(out.join("\n"), /Nothing to delete\./);
    assert.equal(err.length, 1, "one line, in the CLI's error format");
    assert.match(err[0], /^hubcache: CacheError: not in the cache: 'nobody\/nothing', '[0-9a-f]{40}' \(give a commit hash.*\)\n$/);
    const bad = capture();
    assert.equal(await runCli(["cache", "rm", "-y", "x", "--repo-type", "modle", "--cache-dir", dir], bad.ctx), 2);
    assert.match(bad.err.join(""), /^hubcache: InvalidInput: repo type must be one of model, dataset, space/);
  });
});
