import { after, before, describe, test } from "node:test";
import { captureCli } from "./_support/capture.ts";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { testRuntime } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";
import {
  fakeCommit,
  type PyFile,
  setTimes,
  sha256Hex,
  toBytes,
  writeCacheDirTag,
  writePythonRepo,
  writeRepoFile,
} from "./_support/python_cache.ts";
import { scanCache } from "../src/core/manage/scan.ts";
import { formatBytes, formatTimeSince } from "../src/cli/format.ts";
import type { CacheInfo } from "../src/core/manage/scan.ts";
import { CacheError } from "../src/core/errors.ts";
import { sanitizeHost } from "../src/core/writer_identity.ts";
import { runCli } from "../src/cli/main.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { CACHE_SCAN_CONCURRENCY, CACHE_SCAN_REPOS_AT_ONCE } from "../src/core/defaults.ts";

const rt = testRuntime();
const S = 1000;
// Times well within the last 24 h ordering rules of relatime are irrelevant for blobs (the scan
// never reads them), but keep them recent and atime > mtime anyway.
const BASE = Math.floor(Date.now() / S) * S - 10 * 86_400 * S;

const capture = () => captureCli(rt);

// The reference cache. Numbers below follow `scan_cache_dir`:
//  - a file's size is its blob's st_size; a revision's size sums its *distinct* blobs;
//  - a repo's nb_files / size count distinct blob paths over all revisions;
//  - last_modified = max blob mtime (revision: of its files), last_accessed = max blob atime.
const cfg: PyFile = { path: "config.json", content: '{"a":1}' }; // 7 bytes, git sha1
const mb1: PyFile = { path: "model.bin", content: "x".repeat(100), lfs: true }; // 100, sha256
const onnx: PyFile = { path: "onnx/model.onnx", content: "o".repeat(50), lfs: true }; // 50
const mb2: PyFile = { path: "model.bin", content: "y".repeat(120), lfs: true }; // 120
const csv: PyFile = { path: "data/train.csv", content: "a".repeat(40) }; // 40
const readme: PyFile = { path: "README.md", content: "# dataset\n" }; // 10
const app: PyFile = { path: "app.py", content: "print('hi')\n" }; // 12
const tiny: PyFile = { path: "config.json", content: "{}" }; // 2

const C1 = fakeCommit("alpha-1");
const C2 = fakeCommit("alpha-2");
const C3 = fakeCommit("set-3");
const C4 = fakeCommit("set-4");
const C5 = fakeCommit("demo-5");
const C6 = fakeCommit("gpt2-6");

describe("scanCache on a cache written by the Python client", () => {
  let dir: string;
  let info: CacheInfo;
  const blobOf = new Map<string, string>();

  before(async () => {
    dir = await makeTempDir("hubcache-scan-");
    await writeCacheDirTag(dir);
    const alpha = await writePythonRepo(dir, {
      repoType: "model",
      repoId: "org/alpha",
      revisions: [
        { commit: C1, refs: ["main"], files: [cfg, mb1, onnx], noExist: ["tokenizer.json"] },
        { commit: C2, refs: ["refs/pr/1", "v1.0"], files: [cfg, mb2] },
      ],
    });
    for (const [etag, p] of alpha.blobs) blobOf.set(etag, p);
    // Blob times (mtime, atime): cfg (1, 5), mb1 (2, 2), onnx (3, 3), mb2 (4, 4.5) seconds after BASE.
    const times: [PyFile, number, number][] = [[cfg, 1, 5], [mb1, 2, 2], [onnx, 3, 3], [mb2, 4, 4.5]];
    for (const [f, m, a] of times) {
      await setTimes(alpha.files.find((w) => w.path === f.path && w.size === toBytes(f.content).length)!.blobPath, BASE + m * S, BASE + a * S);
    }
    // A leftover of an older Python client: not a blob, not counted.
    await writeRepoFile(alpha.repoPath, `blobs/${sha256Hex(toBytes("z".repeat(30)))}.incomplete`, "z".repeat(30));

    const set = await writePythonRepo(dir, {
      repoType: "dataset",
      repoId: "org/set",
      symlinks: false,
      revisions: [
        { commit: C3, refs: ["main"], files: [csv, readme] },
        { commit: C4, refs: ["dev"], files: [readme] },
      ],
    });
    for (const f of set.files) await setTimes(f.blobPath, BASE + 10 * S, BASE + 11 * S);
    await writePythonRepo(dir, { repoType: "space", repoId: "user/demo", revisions: [{ commit: C5, refs: ["main"], files: [app] }] });
    await writePythonRepo(dir, { repoType: "model", repoId: "gpt2", revisions: [{ commit: C6, refs: ["main"], files: [tiny] }] });
    info = await scanCache({ runtime: rt, cacheDir: dir });
  });
  after(() => removeTempDir(dir));

  test("repos are listed by type/id (datasets, models, spaces), .locks and CACHEDIR.TAG skipped", () => {
    assert.deepEqual(info.repos.map((r) => `${r.repoType}/${r.repoId}`), [
      "dataset/org/set",
      "model/gpt2",
      "model/org/alpha",
      "space/user/demo",
    ]);
    assert.deepEqual(info.warnings, []);
    assert.equal(info.repos[1].repoPath, path.join(dir, "models--gpt2"));
  });

  test("a symlinked repo with shared blobs has Python's sizes, counts, refs and times", () => {
    const alpha = info.repos.find((r) => r.repoId === "org/alpha")!;
    // Distinct blobs: cfg 7 + mb1 100 + onnx 50 + mb2 120 = 277 (cfg shared by both revisions).
    assert.equal(alpha.sizeOnDisk, 277);
    assert.equal(alpha.nbFiles, 4);
    // refs/refs/pr/1 is the ref `refs/pr/1`.
    assert.deepEqual(alpha.refs, { main: C1, "refs/pr/1": C2, "v1.0": C2 });
    // last_accessed = max atime = cfg's (5 s); last_modified = max mtime = mb2's (4 s).
    assert.equal(alpha.lastAccessedMs, BASE + 5 * S);
    assert.equal(alpha.lastModifiedMs, BASE + 4 * S);
    const [r1, r2] = alpha.revisions;
    assert.deepEqual([r1.commitHash, r2.commitHash].sort(), [C1, C2].sort());
    const rev1 = alpha.revisions.find((r) => r.commitHash === C1)!;
    const rev2 = alpha.revisions.find((r) => r.commitHash === C2)!;
    // C1: cfg + mb1 + onnx = 157, 3 files, last_modified = onnx (3 s).
    assert.equal(rev1.sizeOnDisk, 157);
    assert.equal(rev1.nbFiles, 3);
    assert.deepEqual(rev1.refs, ["main"]);
    assert.equal(rev1.lastModifiedMs, BASE + 3 * S);
    assert.deepEqual(rev1.files.map((f) => f.repoPath), ["config.json", "model.bin", "onnx/model.onnx"]);
    assert.equal(rev1.files[2].fileName, "model.onnx");
    assert.equal(rev1.snapshotPath, path.join(alpha.repoPath, "snapshots", C1));
    // Nested pointer resolves (first hop) to the repo's blobs/ folder.
    assert.equal(rev1.files[2].blobPath, path.join(alpha.repoPath, "blobs", sha256Hex(toBytes(onnx.content))));
    // C2: cfg + mb2 = 127, 2 files, last_modified = mb2 (4 s).
    assert.equal(rev2.sizeOnDisk, 127);
    assert.equal(rev2.nbFiles, 2);
    assert.deepEqual(rev2.refs, ["refs/pr/1", "v1.0"]);
    assert.equal(rev2.lastModifiedMs, BASE + 4 * S);
  });

  test("a no-symlink repo counts every snapshot file as its own blob", () => {
    const set = info.repos.find((r) => r.repoId === "org/set")!;
    assert.equal(set.repoType, "dataset");
    // Python keys blobs by path and a no-symlink pointer *is* its blob path: README.md is
    // stored twice (C3 and C4), so 3 "blobs": 40 + 10 + 10 = 60.
    assert.equal(set.nbFiles, 3);
    assert.equal(set.sizeOnDisk, 60);
    const rev3 = set.revisions.find((r) => r.commitHash === C3)!;
    assert.equal(rev3.sizeOnDisk, 50);
    assert.equal(rev3.nbFiles, 2);
    assert.equal(rev3.files[0].blobPath, rev3.files[0].filePath);
    assert.deepEqual(set.revisions.find((r) => r.commitHash === C4)!.refs, ["dev"]);
    assert.equal(set.lastModifiedMs, BASE + 10 * S);
    assert.equal(set.lastAccessedMs, BASE + 11 * S);
  });

  test("the cache total is the sum of distinct blobs; temp files are listed, not counted", () => {
    // 277 (alpha) + 60 (set) + 12 (demo) + 2 (gpt2)
    assert.equal(info.sizeOnDisk, 351);
    assert.equal(info.tempFiles.length, 1);
    assert.equal(info.tempFiles[0].kind, "legacy");
    assert.equal(info.tempFiles[0].size, 30);
    assert.equal(info.tempFiles[0].ownerState, "unknown");
    assert.deepEqual(info.repos.find((r) => r.repoId === "org/alpha")!.tempFiles, info.tempFiles);
  });

  test("cache ls --format json prints `hf cache ls --format json`: its keys, human sizes and times, json.dumps spacing", async () => {
    const { ctx, out, err } = capture();
    assert.equal(await runCli(["cache", "ls", "--format", "json", "--cache-dir", dir], ctx), 0);
    assert.deepEqual(err, []);
    assert.equal(out.length, 1, "one line, as json.dumps writes it");
    const records = JSON.parse(out[0]) as Record<string, unknown>[];
    // Sorted by id: dataset/… < model/… < space/….
    assert.deepEqual(records.map((r) => r.id), ["dataset/org/set", "model/gpt2", "model/org/alpha", "space/user/demo"]);
    const alpha = records.find((r) => r.repo_id === "org/alpha")!;
    assert.deepEqual(alpha, {
      id: "model/org/alpha",
      repo_id: "org/alpha",
      repo_type: "model",
      size: "277.0",
      last_accessed: "1 week ago", // 10 days: round(10/7) = 1
      last_modified: "1 week ago",
      refs: ["main", "refs/pr/1", "v1.0"],
    });
    assert.ok(out[0].startsWith('[{"id": "dataset/org/set", "repo_id": "org/set", "repo_type": "dataset", "size": '), out[0]);
    // --json is the same format.
    const alias = capture();
    assert.equal(await runCli(["cache", "ls", "--json", "--cache-dir", dir], alias.ctx), 0);
    assert.deepEqual(alias.out, out);
  });

  test("cache ls --revisions --format json prints one `hf` record per revision", async () => {
    const { ctx, out } = capture();
    assert.equal(await runCli(["cache", "ls", "--revisions", "--format=json", `--cache-dir=${dir}`], ctx), 0);
    const records = JSON.parse(out.join("\n")) as Record<string, unknown>[];
    assert.equal(records.length, 6);
    assert.deepEqual(records.find((r) => r.revision === C2), {
      id: "model/org/alpha",
      repo_id: "org/alpha",
      repo_type: "model",
      revision: C2,
      snapshot_path: path.join(dir, "models--org--alpha", "snapshots", C2),
      size: "127.0",
      last_modified: "1 week ago",
      refs: ["refs/pr/1", "v1.0"],
    });
    const alphaRevs = records.filter((r) => r.repo_id === "org/alpha").map((r) => r.revision);
    assert.deepEqual(alphaRevs, [C1, C2].sort());
  });

  test("cache ls --format scan-json prints scan_cache_dir()'s numbers under its dataclass names", async () => {
    const { ctx, out } = capture();
    assert.equal(await runCli(["cache", "ls", "--format", "scan-json", "--cache-dir", dir], ctx), 0);
    const scan = JSON.parse(out.join("\n")) as Record<string, unknown>;
    assert.deepEqual(Object.keys(scan), ["cache_dir", "size_on_disk", "repos", "incomplete_files", "warnings", "temp_files"]);
    assert.equal(scan.size_on_disk, 351);
    const alpha = (scan.repos as Record<string, unknown>[]).find((r) => r.repo_id === "org/alpha")!;
    const revisions = alpha.revisions as Array<Record<string, unknown>>;
    delete alpha.revisions;
    assert.deepEqual(alpha, {
      repo_id: "org/alpha",
      repo_type: "model",
      repo_path: path.join(dir, "models--org--alpha"),
      size_on_disk: 277,
      nb_files: 4,
      last_accessed: (BASE + 5 * S) / 1000,
      last_modified: (BASE + 4 * S) / 1000,
      refs: ["main", "refs/pr/1", "v1.0"],
    });
    const c2 = revisions.find((r) => r.commit_hash === C2)!;
    const files = c2.files as Array<Record<string, unknown>>;
    delete c2.files;
    assert.deepEqual(c2, {
      commit_hash: C2,
      refs: ["refs/pr/1", "v1.0"],
      nb_files: 2,
      size_on_disk: 127,
      snapshot_path: path.join(dir, "models--org--alpha", "snapshots", C2),
      last_modified: (BASE + 4 * S) / 1000,
    });
    assert.deepEqual(files.map((f) => [f.file_name, f.size_on_disk]).sort(), [["config.json", 7], ["model.bin", 120]]);
    assert.deepEqual(Object.keys(files[0]), ["file_name", "file_path", "blob_path", "size_on_disk", "blob_last_accessed", "blob_last_modified"]);
    const incomplete = scan.incomplete_files as Array<Record<string, unknown>>;
    assert.deepEqual(incomplete.map((f) => f.size_on_disk), [30]);
    assert.deepEqual((scan.temp_files as Array<Record<string, unknown>>).map((t) => [t.kind, t.writer]), [["legacy", "unknown"]]);
  });

  test("cache ls refuses an unknown format", async () => {
    const { ctx, err } = capture();
    assert.equal(await runCli(["cache", "ls", "--format", "yaml", "--cache-dir", dir], ctx), 2);
    assert.match(err.join(""), /--format must be table, json, scan-json/);
  });

  test("cache ls prints a table, a total and a temp file summary", async () => {
    const { ctx, out } = capture();
    assert.equal(await runCli(["cache", "ls", "--cache-dir", dir], ctx), 0);
    const text = out.join("\n");
    const [header, rule, ...rows] = text.split("\n");
    assert.match(header, /^REPO ID\s+REPO TYPE\s+SIZE ON DISK\s+NB FILES\s+LAST_ACCESSED\s+LAST_MODIFIED\s+REFS\s+LOCAL PATH$/);
    assert.match(rule, /^-+ -+ -+/);
    // ~10 days: 10 > 6 days, so round(10/7) = 1 week (format_timesince's chunks).
    assert.match(rows[2], /^org\/alpha\s+model\s+277\.0\s+4 1 week ago\s+1 week ago\s+main, refs\/pr\/1, v1\.0\s/);
    assert.match(text, /Found 4 repo\(s\) for a total of 6 revision\(s\) and 351\.0 on disk\./);
    assert.match(text, /1 temp file\(s\) totalling 30\.0: 0 being written, 0 left by dead writers, 1 of unknown owner/);
  });
});

describe("scanCache edge cases", () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir("hubcache-scan-edge-");
  });
  after(() => removeTempDir(dir));

  test("corrupted repos become warnings and are left out, the rest is still listed", async () => {
    const root = path.join(dir, "corrupt");
    await fsp.mkdir(root);
    await writePythonRepo(root, { repoType: "model", repoId: "ok/one", revisions: [{ commit: C1, refs: ["main"], files: [cfg] }] });
    // A pointer whose blob is gone.
    const broken = await writePythonRepo(root, { repoType: "model", repoId: "broken/link", revisions: [{ commit: C2, refs: ["main"], files: [mb1] }] });
    await fsp.unlink(broken.files[0].blobPath);
    // A ref to a commit with no snapshot.
    const badRef = await writePythonRepo(root, { repoType: "model", repoId: "bad/ref", revisions: [{ commit: C3, refs: ["main"], files: [cfg] }] });
    await fsp.writeFile(path.join(badRef.repoPath, "refs", "v2"), fakeCommit("nowhere"));
    // No snapshots folder at all, but a complete blob: damage (a folder holding only temp files
    // is a first download in progress, not damage; see tests/cli_messages.test.ts).
    await fsp.mkdir(path.join(root, "datasets--no--snapshots", "blobs"), { recursive: true });
    await fsp.writeFile(path.join(root, "datasets--no--snapshots", "blobs", "a".repeat(40)), "x");
    // A stray file at the root, and a folder that is not a repo.
    await fsp.writeFile(path.join(root, "notes.txt"), "hello");
    await fsp.mkdir(path.join(root, "junk"));
    await fsp.mkdir(path.join(root, "widgets--x--y", "snapshots"), { recursive: true });

    const info = await scanCache({ runtime: rt, cacheDir: root });
    assert.deepEqual(info.repos.map((r) => r.repoId), ["ok/one"]);
    const byFolder = new Map(info.warnings.map((w) => [path.basename(w.path), w.message]));
    assert.deepEqual([...byFolder.keys()].sort(), [
      "datasets--no--snapshots", "junk", "models--bad--ref", "models--broken--link", "notes.txt", "widgets--x--y",
    ]);
    assert.match(byFolder.get("models--broken--link")!, /blob missing/);
    assert.match(byFolder.get("models--bad--ref")!, new RegExp(`v2 -> ${fakeCommit("nowhere")}`));
    assert.match(byFolder.get("datasets--no--snapshots")!, /snapshots/);
    assert.match(byFolder.get("notes.txt")!, /not a directory/);
    assert.match(byFolder.get("widgets--x--y")!, /repo type/);

    const { ctx, err } = capture();
    assert.equal(await runCli(["cache", "ls", "--cache-dir", root], ctx), 0);
    assert.match(err.join(""), /Got 6 warning\(s\) while scanning/);
  });

  test("a ref written with a trailing newline is read tolerantly", async () => {
    const root = path.join(dir, "newline");
    await fsp.mkdir(root);
    const repo = await writePythonRepo(root, { repoType: "model", repoId: "org/nl", revisions: [{ commit: C1, files: [cfg] }] });
    await fsp.mkdir(path.join(repo.repoPath, "refs"), { recursive: true });
    await fsp.writeFile(path.join(repo.repoPath, "refs", "main"), `${C1}\n`);
    const info = await scanCache({ runtime: rt, cacheDir: root });
    assert.deepEqual(info.warnings, []);
    assert.deepEqual(info.repos[0].revisions[0].refs, ["main"]);
  });

  test("an empty revision takes the snapshot folder's mtime; a repo without blobs the repo folder's times", async () => {
    const root = path.join(dir, "empty");
    const repoPath = path.join(root, "models--org--empty");
    const snap = path.join(repoPath, "snapshots", C1);
    await fsp.mkdir(snap, { recursive: true });
    await fsp.mkdir(path.join(repoPath, "refs"));
    await fsp.writeFile(path.join(repoPath, "refs", "main"), C1);
    // Recent times with atime > mtime, so a relatime mount does not bump them under us.
    const now = Math.floor(Date.now() / S) * S;
    await setTimes(snap, now - 7200 * S, now - 3600 * S);
    await setTimes(repoPath, now - 9000 * S, now - 5000 * S);
    const info = await scanCache({ runtime: rt, cacheDir: root });
    const repo = info.repos[0];
    assert.equal(repo.nbFiles, 0);
    assert.equal(repo.sizeOnDisk, 0);
    assert.equal(repo.revisions[0].nbFiles, 0);
    assert.equal(repo.revisions[0].lastModifiedMs, now - 7200 * S);
    assert.equal(repo.lastModifiedMs, now - 9000 * S);
    assert.equal(repo.lastAccessedMs, now - 5000 * S);
  });

  test("temp files are classified by kind and by whether their writer can be alive", async () => {
    const root = path.join(dir, "temps");
    await fsp.mkdir(root);
    const repo = await writePythonRepo(root, { repoType: "model", repoId: "org/t", revisions: [{ commit: C1, refs: ["main"], files: [cfg] }] });
    const host = sanitizeHost(rt.platform.hostname());
    const e = "e".repeat(64);
    const names = {
      alive: `${e}.${host}-${rt.platform.pid()}-0123456789abcdef.incomplete`,
      foreignHost: `${e}.some-other-host-${rt.platform.pid()}-0123456789abcdef.incomplete`,
      partial: `${e}.partial`,
      legacy: `${e}.incomplete`,
      foreign: `${e}.3f2b8c1e-9d4a-4b7e-8f00-123456789abc.incomplete`,
    };
    for (const n of Object.values(names)) await writeRepoFile(repo.repoPath, `blobs/${n}`, "12345");
    await writeRepoFile(repo.repoPath, `.hubcache-tmp/ref.${host}-${rt.platform.pid()}-00ff00ff.tmp`, C1);
    await writeRepoFile(repo.repoPath, ".hubcache-tmp/mystery", "?");

    const info = await scanCache({ runtime: rt, cacheDir: root });
    const byName = new Map(info.tempFiles.map((t) => [t.name, t]));
    assert.equal(info.tempFiles.length, 7);
    assert.deepEqual([byName.get(names.alive)!.kind, byName.get(names.alive)!.ownerState], ["temp", "alive"]);
    assert.equal(byName.get(names.alive)!.owner!.pid, rt.platform.pid());
    assert.deepEqual([byName.get(names.foreignHost)!.kind, byName.get(names.foreignHost)!.ownerState], ["temp", "unknown"]);
    assert.equal(byName.get(names.partial)!.kind, "partial");
    assert.equal(byName.get(names.legacy)!.kind, "legacy");
    assert.equal(byName.get(names.foreign)!.kind, "foreign-temp");
    assert.equal(byName.get(names.foreign)!.etag, e);
    const small = info.tempFiles.filter((t) => t.kind === "small-temp");
    assert.deepEqual(small.map((t) => t.ownerState).sort(), ["alive", "unknown"]);
    // Temp files never change the repo's numbers.
    assert.equal(info.repos[0].sizeOnDisk, 7);
    assert.equal(info.repos[0].nbFiles, 1);
  });

  test("a scan overlaps its file-system round trips, with a bounded number in flight, and gets the same numbers", async () => {
    // A cache in memory: 6 repos of one revision with 60 symlinked files each. Every operation
    // waits a moment in the adapter, so calls issued one at a time never overlap; what overlaps
    // is what the scan keeps in flight.
    const runtime = memoryRuntime({ timers: "real" });
    const { fs } = runtime;
    const commit = fakeCommit("bounded");
    const enc = new TextEncoder();
    let expectedSize = 0;
    for (let r = 0; r < 6; r++) {
      const repo = `/cache/models--org--r${r}`;
      await fs.mkdirp(`${repo}/blobs`);
      await fs.mkdirp(`${repo}/refs`);
      await fs.mkdirp(`${repo}/snapshots/${commit}/data`);
      await fs.writeFile(`${repo}/refs/main`, enc.encode(commit));
      for (let f = 0; f < 60; f++) {
        const content = enc.encode(`repo ${r} file ${f}`.repeat(1 + f));
        const etag = sha256Hex(content);
        await fs.writeFile(`${repo}/blobs/${etag}`, content);
        await fs.symlink(`../../../blobs/${etag}`, `${repo}/snapshots/${commit}/data/f${f}.bin`);
        expectedSize += content.length;
      }
    }
    let inFlight = 0;
    let most = 0;
    fs.beforeOp = async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
    };
    let info: CacheInfo;
    try {
      info = await scanCache({ runtime, cacheDir: "/cache" });
    } finally {
      fs.beforeOp = undefined;
    }
    assert.equal(info.repos.length, 6);
    assert.equal(info.sizeOnDisk, expectedSize);
    assert.deepEqual(info.repos.map((r) => r.revisions[0].nbFiles), [60, 60, 60, 60, 60, 60]);
    assert.deepEqual(info.warnings, []);
    assert.ok(most > 1, `operations overlapped: at most ${most} at once`);
    assert.ok(most <= CACHE_SCAN_REPOS_AT_ONCE * CACHE_SCAN_CONCURRENCY, `at most ${CACHE_SCAN_REPOS_AT_ONCE} repos × ${CACHE_SCAN_CONCURRENCY} operations at once, saw ${most}`);
  });

  test("a missing cache folder is a CacheError, and `cache ls` says so on one line", async () => {
    await assert.rejects(scanCache({ runtime: rt, cacheDir: path.join(dir, "nope") }), CacheError);
    const { ctx, err, out } = capture();
    assert.equal(await runCli(["cache", "ls", "--cache-dir", path.join(dir, "nope")], ctx), 1);
    assert.deepEqual(out, []);
    assert.equal(err.length, 1);
    assert.match(err[0], /^hubcache: CacheError: cache directory not found: .*nope\n$/);
  });

  test("a cache command's file-system error is reported as every command's is: code, what to do, where", async () => {
    const mem = memoryRuntime();
    await mem.fs.mkdirp("/cache/models--org--x/snapshots");
    mem.fs.injectFault({ op: "readdir", code: "EACCES", pathIncludes: "/cache", times: Infinity });
    const { ctx, err, out } = captureCli(mem);
    assert.equal(await runCli(["cache", "ls", "--cache-dir", "/cache"], ctx), 1);
    assert.deepEqual(out, []);
    assert.deepEqual(err, ["hubcache: EACCES: permission denied; check the cache directory's permissions or pass --cache-dir (readdir /cache)\n"]);
  });

  test("unknown options are usage errors (exit 2), not silently ignored", async () => {
    const { ctx, err } = capture();
    assert.equal(await runCli(["cache", "ls", "--jsno"], ctx), 2);
    assert.match(err.join(""), /unknown option '--jsno'/i);
  });
});

describe("formatting like the Python client", () => {
  test("formatBytes matches _format_size (decimal units, ties to even)", () => {
    assert.equal(formatBytes(0), "0.0");
    assert.equal(formatBytes(7), "7.0");
    assert.equal(formatBytes(999), "999.0");
    assert.equal(formatBytes(1000), "1.0K");
    assert.equal(formatBytes(1250), "1.2K"); // Python rounds the exact tie 1.25 to even
    assert.equal(formatBytes(1350), "1.4K"); // 1.35 is slightly above 1.35 in binary
    assert.equal(formatBytes(7_900), "7.9K");
    assert.equal(formatBytes(999_999), "1000.0K");
    assert.equal(formatBytes(2_700_000), "2.7M");
    assert.equal(formatBytes(3_398_085_269), "3.4G");
    assert.equal(formatBytes(1e24), "1.0Y");
  });

  test("formatTimeSince matches format_timesince", () => {
    const now = 1_700_000_000_000;
    const ago = (s: number): string => formatTimeSince(now - s * 1000, now);
    assert.equal(ago(5), "a few seconds ago");
    assert.equal(ago(30), "30 seconds ago");
    assert.equal(ago(90), "2 minutes ago"); // round(1.5) = 2 (half to even)
    assert.equal(ago(150), "2 minutes ago"); // round(2.5) = 2
    assert.equal(ago(60), "1 minute ago"); // huggingface_hub 2.0 rolls over at 60
    assert.equal(ago(3569), "59 minutes ago");
    assert.equal(ago(3570), "1 hour ago"); // round(59.5) = 60 > 59
    assert.equal(ago(3600), "1 hour ago");
    assert.equal(ago(24 * 3600), "1 day ago");
    assert.equal(ago(2 * 3600), "2 hours ago");
    assert.equal(ago(3 * 86400), "3 days ago");
    assert.equal(ago(10 * 86400), "1 week ago");
    assert.equal(ago(60 * 86400), "2 months ago");
    assert.equal(ago(800 * 86400), "2 years ago");
  });
});
