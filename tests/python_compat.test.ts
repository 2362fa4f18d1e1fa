/**
 * Interoperability with caches the Python huggingface_hub client writes, and with its lock.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { downloadSnapshot } from "../src/core/download/snapshot.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub, TOKEN, waitFor } from "./_support/hub.ts";
import { fakeCommit, writePythonRepo } from "./_support/python_cache.ts";
import { finished, spawnCli } from "./_support/cli.ts";
import { nodeLocks } from "../src/adapters/node.ts";
import { EntryNotFoundError } from "../src/core/errors.ts";
import { scanCache } from "../src/core/manage/scan.ts";
import { verifyRepo } from "../src/core/manage/verify.ts";
import { runCli } from "../src/cli/main.ts";
import { captureCli } from "./_support/capture.ts";
import { pythonClient } from "./_support/python_client.ts";
import { currentRuntimeName } from "./_support/runtime.ts";

const WEIGHTS = bytes(400_000, 301);
const CONFIG = '{"hidden": 8}';

describe("a cache written by the Python client is read by hubcache", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/py").commit({ "config.json": CONFIG, "model.bin": WEIGHTS });
    fx.hub.createRepo("org/pyflat").commit({ "config.json": CONFIG, "model.bin": WEIGHTS });
  });
  after(() => fx.close());

  test("symlinked layout: offline reads resolve through its refs; online downloads reuse its blobs (no GET)", async () => {
    const pyCommit = fakeCommit("python-wrote-this");
    await writePythonRepo(fx.cacheDir, {
      repoType: "model",
      repoId: "org/py",
      revisions: [{ commit: pyCommit, refs: ["main"], files: [{ path: "config.json", content: CONFIG }, { path: "model.bin", content: WEIGHTS, lfs: true }] }],
    });
    const offline = await downloadFile({ ...fx.base, repo: "org/py", path: "model.bin", offline: true });
    assert.equal(offline, join(fx.cacheDir, "models--org--py", "snapshots", pyCommit, "model.bin"));
    fx.hub.clearRequests();
    const online = await downloadFile({ ...fx.base, repo: "org/py", path: "model.bin" });
    assert.deepEqual(fx.hub.requests.map((r) => r.method), ["HEAD"], "the Python client's blob is reused");
    assert.ok(sameBytes(await readBytes(online), WEIGHTS));
  });

  test("no-symlink layout (Windows without developer mode): regular snapshot files are reused", async () => {
    const commit = fx.hub.repo("org/pyflat").fileInfo("config.json").commit;
    await writePythonRepo(fx.cacheDir, {
      repoType: "model",
      repoId: "org/pyflat",
      symlinks: false,
      revisions: [{ commit, refs: ["main"], files: [{ path: "config.json", content: CONFIG }, { path: "model.bin", content: WEIGHTS, lfs: true }] }],
    });
    fx.hub.clearRequests();
    const dir = await downloadSnapshot({ ...fx.base, repo: "org/pyflat" });
    assert.equal(fx.hub.requests.filter((r) => r.method === "GET" && !r.path.startsWith("/api/")).length, 0);
    assert.equal((await fsp.lstat(join(dir, "model.bin"))).isFile(), true);
  });

  test("a Python ≥1.18 temp file <etag>.<uuid>.incomplete is claimed by copy once stale, never while fresh", async () => {
    fx.hub.repo("org/py").commit({ "more.bin": bytes(900_000, 302) });
    const etag = fx.hub.repo("org/py").fileInfo("more.bin").sha256;
    const blobs = join(fx.cacheDir, "models--org--py", "blobs");
    const pyTemp = join(blobs, `${etag}.3f1e2d4c5b6a79881726354453627181.incomplete`);
    await fsp.writeFile(pyTemp, bytes(900_000, 302).subarray(0, 300_000));
    const old = new Date(Date.now() - 3600_000);
    await fsp.utimes(pyTemp, old, old);
    fx.hub.clearRequests();
    const path = await downloadFile({ ...fx.base, repo: "org/py", path: "more.bin", staleAfterMs: 60_000 });
    assert.ok(sameBytes(await readBytes(path), bytes(900_000, 302)));
    assert.equal(fx.hub.requests.find((r) => r.method === "GET")?.range, "bytes=300000-");
    assert.deepEqual((await listDir(blobs)).filter((n) => n.startsWith(etag + ".")), []);
  });
});

const python3 = spawnSync("python3", ["-c", "import fcntl"]).status === 0;

describe("the Python client's flock on .locks/<repo>/<etag>.lock is honoured where the runtime has flock", { skip: !python3 && "python3 not available" }, () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
  });
  after(() => fx.close());

  for (const rt of ["node", "bun", "deno"] as const) {
    test(`a ${rt} download waits while a Python process holds the lock, then reuses the blob it wrote`, async () => {
      const repo = `org/pylock-${rt}`;
      const data = bytes(500_000, rt.length);
      fx.hub.createRepo(repo).commit({ "w.bin": data });
      const etag = fx.hub.repo(repo).fileInfo("w.bin").sha256;
      const folder = `models--${repo.replace("/", "--")}`;
      const lock = join(fx.cacheDir, ".locks", folder, `${etag}.lock`);
      const blob = join(fx.cacheDir, folder, "blobs", etag);
      await fsp.mkdir(join(fx.cacheDir, ".locks", folder), { recursive: true });
      await fsp.mkdir(join(fx.cacheDir, folder, "blobs"), { recursive: true });
      const payload = join(fx.cacheDir, "payload.bin");
      await fsp.writeFile(payload, data);
      // What hf_hub_download does under its lock: write the blob (atomically), then release.
      const py = spawn("python3", ["-c", `
import fcntl, os, sys, time, shutil
fd = os.open(${JSON.stringify(lock)}, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(1.5)
shutil.copyfile(${JSON.stringify(payload)}, ${JSON.stringify(blob)} + ".py.tmp")
os.replace(${JSON.stringify(blob)} + ".py.tmp", ${JSON.stringify(blob)})
fcntl.flock(fd, fcntl.LOCK_UN)
`], { stdio: ["ignore", "pipe", "inherit"] });
      let pyOut = "";
      py.stdout!.on("data", (d) => (pyOut += d));
      const pyDone = new Promise((r) => py.on("close", r));
      await waitFor(() => pyOut.includes("locked"), 10_000, "python to take the lock");
      fx.hub.clearRequests();
      const run = await finished(spawnCli(rt, ["download", repo, "w.bin", "--endpoint", fx.hub.endpoint, "--cache-dir", fx.cacheDir, "--token", TOKEN, "--quiet"]));
      await pyDone;
      assert.equal(run.code, 0, run.stderr);
      assert.equal(fx.hub.requests.filter((r) => r.method === "GET").length, 0, "the body must not be downloaded twice");
      assert.ok(sameBytes(await readBytes(run.stdout.trim()), data));
    });
  }

  test("where no OS lock can be had (the FFI package does not load), a download goes on lock-free instead of waiting for Python", async () => {
    const repo = "org/pylock-noffi";
    const data = bytes(300_000, 77);
    fx.hub.createRepo(repo).commit({ "w.bin": data });
    const etag = fx.hub.repo(repo).fileInfo("w.bin").sha256;
    const lockDir = join(fx.cacheDir, ".locks", "models--org--pylock-noffi");
    await fsp.mkdir(lockDir, { recursive: true });
    // Python holds the lock for the whole test: waiting for it would never end.
    const py = spawn("python3", ["-c", `
import fcntl, os, sys
fd = os.open(${JSON.stringify(join(lockDir, `${etag}.lock`))}, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
`], { stdio: ["pipe", "pipe", "inherit"] });
    let pyOut = "";
    py.stdout!.on("data", (d) => (pyOut += d));
    const pyDone = new Promise((r) => py.on("close", r));
    try {
      await waitFor(() => pyOut.includes("locked"), 10_000, "python to take the lock");
      const runtime = { ...fx.runtime, locks: nodeLocks(() => Promise.reject(new Error("Cannot find package 'koffi'")))! };
      const path = await downloadFile({ ...fx.base, runtime, repo, path: "w.bin" });
      assert.ok(sameBytes(await readBytes(path), data));
    } finally {
      py.stdin!.end();
      await pyDone;
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The real Python client, huggingface_hub 2.0.0, on the same cache (tests/_support/python_client.ts
// installs it into .tmp/py; where it cannot, these tests say they did not run).

const py = await pythonClient();

/** Run Python `code` with `ARGS` (JSON) in scope; it prints one JSON line last, which is returned. */
// deno-lint-ignore no-explicit-any
async function python(fx: HubFixture, code: string, args: unknown = null, extraEnv: Record<string, string> = {}): Promise<any> {
  assert.ok(py.available);
  const env = py.client.env(fx.hub.endpoint, fx.cacheDir, { HF_TOKEN: TOKEN, HUBCACHE_TEST_ARGS: JSON.stringify(args), ...extraEnv });
  const run = await py.client.runPython(`import json, os\nARGS = json.loads(os.environ["HUBCACHE_TEST_ARGS"])\n${code}`, env);
  assert.equal(run.code, 0, `python failed:\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split("\n").pop()!);
}

/** `scan_cache_dir()` as plain data, for comparing with {@link ourScan}. */
const PY_SCAN = `
from huggingface_hub import scan_cache_dir
def dump_scan():
    info = scan_cache_dir()
    return {
        "warnings": sorted(str(w) for w in info.warnings),
        "incomplete": sorted(str(f.file_path) for f in info.incomplete_files),
        "repos": sorted(({
            "id": r.cache_id, "size": r.size_on_disk, "nb_files": r.nb_files, "path": str(r.repo_path),
            "revisions": sorted(({
                "commit": v.commit_hash, "refs": sorted(v.refs), "size": v.size_on_disk, "nb_files": v.nb_files,
                "path": str(v.snapshot_path),
                "files": sorted([str(f.file_path), str(f.blob_path), f.size_on_disk] for f in v.files),
            } for v in r.revisions), key=lambda v: v["commit"]),
        } for r in info.repos), key=lambda r: r["id"]),
    }
`;

interface ScanDump {
  warnings: string[];
  incomplete: string[];
  repos: { id: string; size: number; nb_files: number; path: string; revisions: { commit: string; refs: string[]; size: number; nb_files: number; path: string; files: unknown[][] }[] }[];
}

/** Our scan in the shape of {@link PY_SCAN}. */
async function ourScan(fx: HubFixture): Promise<ScanDump> {
  const info = await scanCache({ runtime: fx.runtime, cacheDir: fx.cacheDir });
  const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return {
    warnings: info.warnings.map((w) => w.message),
    incomplete: info.tempFiles.filter((t) => t.name.endsWith(".incomplete")).map((t) => t.path).sort(byCodePoint),
    repos: info.repos.map((r) => ({
      id: `${r.repoType}/${r.repoId}`,
      size: r.sizeOnDisk,
      nb_files: r.nbFiles,
      path: r.repoPath,
      revisions: r.revisions.map((v) => ({
        commit: v.commitHash,
        refs: [...v.refs].sort(byCodePoint),
        size: v.sizeOnDisk,
        nb_files: v.nbFiles,
        path: v.snapshotPath,
        files: v.files.map((f) => [f.filePath, f.blobPath, f.sizeOnDisk]).sort((a, b) => byCodePoint(String(a[0]), String(b[0]))),
      })),
    })).sort((a, b) => byCodePoint(a.id, b.id)),
  };
}

function cdnGets(fx: HubFixture, path: string): number {
  return fx.hub.requests.filter((r) => r.method === "GET" && r.filePath === path && !r.path.startsWith("/api/")).length;
}

describe("the real Python client reads hubcache's cache", { skip: py.skip }, () => {
  let fx: HubFixture;
  let main: string;
  let pr: string;
  const weights = bytes(300_000, 801);
  before(async () => {
    fx = await startHub();
    const repo = fx.hub.createRepo("org/ours");
    main = repo.commit({ "config.json": CONFIG, "weights/model.bin": weights, "a/b/notes.txt": "notes" });
    pr = repo.commit({ "config.json": '{"hidden": 16}' }, { branch: `refs/pr/${repo.createPullRequest(main)}` });
    fx.hub.createRepo("org/oursflat", { type: "dataset" }).commit({ "data.bin": bytes(200_000, 802), "README.md": "# flat" });
    await downloadSnapshot({ ...fx.base, repo: "org/ours" });
    await downloadFile({ ...fx.base, repo: "org/ours", path: "config.json", revision: "refs/pr/1" });
    await assert.rejects(downloadFile({ ...fx.base, repo: "org/ours", path: "absent.json" }), EntryNotFoundError);
    await downloadSnapshot({ ...fx.base, repo: "org/oursflat", repoType: "dataset", symlinks: "never" });
  });
  after(() => fx.close());

  test("scan_cache_dir sees exactly what our scan sees, with no warnings and no incomplete files", async () => {
    const theirs = await python(fx, `${PY_SCAN}\nprint(json.dumps(dump_scan()))`);
    const ours = await ourScan(fx);
    assert.deepEqual(theirs, ours);
    assert.deepEqual(theirs.warnings, []);
    assert.equal(theirs.repos.length, 2);
    assert.deepEqual(theirs.repos[1].revisions.map((r) => r.refs).sort(), [["main"], ["refs/pr/1"]]);
  });

  test("hf_hub_download(local_files_only=True) and try_to_load_from_cache return our snapshot paths and our .no_exist", async () => {
    const asked = [
      ["org/ours", "model", "config.json", "main"],
      ["org/ours", "model", "weights/model.bin", "main"],
      ["org/ours", "model", "a/b/notes.txt", main],
      ["org/ours", "model", "config.json", "refs/pr/1"],
      ["org/oursflat", "dataset", "data.bin", "main"],
    ];
    const result = await python(fx, `
from huggingface_hub import hf_hub_download, try_to_load_from_cache
from huggingface_hub.file_download import _CACHED_NO_EXIST
out = []
for repo, kind, path, rev in ARGS:
    local = hf_hub_download(repo, path, repo_type=kind, revision=rev, local_files_only=True)
    cached = try_to_load_from_cache(repo, path, repo_type=kind, revision=rev)
    out.append([local, cached, open(local, "rb").read().hex()[:64]])
absent = try_to_load_from_cache("org/ours", "absent.json")
print(json.dumps({"files": out, "absent": "no-exist" if absent is _CACHED_NO_EXIST else repr(absent)}))
`, asked);
    const expected = async (repo: string, repoType: "model" | "dataset", path: string, revision: string): Promise<string> =>
      await downloadFile({ ...fx.base, repo, repoType, path, revision, offline: true });
    for (let i = 0; i < asked.length; i++) {
      const [repo, kind, path, rev] = asked[i];
      const ours = await expected(repo, kind as "model" | "dataset", path, rev);
      assert.deepEqual(result.files[i].slice(0, 2), [ours, ours], `${repo} ${path}@${rev}`);
      assert.equal(result.files[i][2], Buffer.from(await readBytes(ours)).toString("hex").slice(0, 64));
    }
    assert.equal(result.absent, "no-exist");
    assert.equal(result.files[3][0].includes(pr), true);
  });

  test("`hf cache ls --format json` prints exactly what our `cache ls --format json` prints, with and without --revisions", async () => {
    assert.ok(py.available);
    for (const extra of [[], ["--revisions"]]) {
      const env = py.client.env(fx.hub.endpoint, fx.cacheDir);
      const theirs = await py.client.runHf(["cache", "ls", "--format", "json", ...extra], env);
      assert.equal(theirs.code, 0, theirs.stderr);
      const ours = captureCli(fx.runtime);
      assert.equal(await runCli(["cache", "ls", "--format", "json", ...extra, "--cache-dir", fx.cacheDir], ours.ctx), 0);
      assert.equal(ours.out.join("\n"), theirs.stdout.trimEnd(), `hf cache ls --format json ${extra.join(" ")}`);
      // Field by field too, so a difference reads well when it fails.
      assert.deepEqual(JSON.parse(ours.out.join("\n")), JSON.parse(theirs.stdout));
    }
  });
});

describe("hubcache reads a cache the real Python client wrote", { skip: py.skip }, () => {
  let fx: HubFixture;
  const weights = bytes(400_000, 811);
  before(async () => {
    fx = await startHub();
    const repo = fx.hub.createRepo("org/theirs");
    const main = repo.commit({ "config.json": CONFIG, "weights/model.bin": weights, "a/b/notes.txt": "notes" });
    repo.commit({ "config.json": '{"hidden": 32}' }, { branch: `refs/pr/${repo.createPullRequest(main)}` });
    fx.hub.createRepo("org/theirsflat").commit({ "config.json": CONFIG, "model.bin": bytes(250_000, 812) });
  });
  after(() => fx.close());

  test("symlinked: offline we return the paths Python returned; online we download nothing; the scans agree; verify passes", async () => {
    const written = await python(fx, `
from huggingface_hub import hf_hub_download, snapshot_download
print(json.dumps({
    "snapshot": snapshot_download("org/theirs"),
    "pr": hf_hub_download("org/theirs", "config.json", revision="refs/pr/1"),
}))
`);
    assert.equal(await downloadFile({ ...fx.base, repo: "org/theirs", path: "config.json", revision: "refs/pr/1", offline: true }), written.pr);
    fx.hub.clearRequests();
    const dir = await downloadSnapshot({ ...fx.base, repo: "org/theirs" });
    assert.equal(dir, written.snapshot);
    for (const path of ["config.json", "weights/model.bin", "a/b/notes.txt"]) {
      assert.equal(await downloadFile({ ...fx.base, repo: "org/theirs", path }), join(written.snapshot, path));
      assert.equal(cdnGets(fx, path), 0, `${path} must come from the Python client's blob`);
    }
    assert.ok(sameBytes(await readBytes(join(dir, "weights/model.bin")), weights));
    assert.deepEqual(await ourScan(fx), await python(fx, `${PY_SCAN}\nprint(json.dumps(dump_scan()))`));
    const report = await verifyRepo({ runtime: fx.runtime, cacheDir: fx.cacheDir, repoType: "model", repo: "org/theirs", offline: true });
    assert.deepEqual([report.healthy, report.unverifiable.length, report.files.length], [true, 0, 4]);
  });

  test("HF_HUB_DISABLE_SYMLINKS=1 (files in the snapshot, no trees listing): reused without a GET; verify fails offline, passes online", async () => {
    const written = await python(fx, `
from huggingface_hub import hf_hub_download
print(json.dumps([hf_hub_download("org/theirsflat", p) for p in ARGS]))
`, ["config.json", "model.bin"], { HF_HUB_DISABLE_SYMLINKS: "1" });
    assert.equal((await fsp.lstat(written[1])).isFile(), true, "Python stored the file itself in the snapshot");
    fx.hub.clearRequests();
    assert.equal(await downloadFile({ ...fx.base, repo: "org/theirsflat", path: "model.bin" }), written[1]);
    assert.equal(cdnGets(fx, "model.bin"), 0);

    const offline = captureCli(fx.runtime);
    assert.equal(await runCli(["cache", "verify", "org/theirsflat", "--offline", "--cache-dir", fx.cacheDir], offline.ctx), 1);
    assert.match(offline.errText(), /2 file\(s\) of 'org\/theirsflat' \(model\) could not be verified/);
    const online = captureCli(fx.runtime);
    assert.equal(await runCli(["cache", "verify", "org/theirsflat", "--endpoint", fx.hub.endpoint, "--token", TOKEN, "--cache-dir", fx.cacheDir], online.ctx), 0, online.errText());
    assert.match(online.out.join("\n"), /Verified 2 file\(s\) of 1 revision\(s\)/);
    // The listing we cached is one the Python client reads back.
    const entries = await python(fx, `
from huggingface_hub._tree_cache import read_tree_cache
import os
folder = os.path.join(os.environ["HF_HUB_CACHE"], "models--org--theirsflat")
commit = open(os.path.join(folder, "refs", "main")).read()
print(json.dumps(sorted(read_tree_cache(folder, commit).keys())))
`);
    assert.deepEqual(entries, ["config.json", "model.bin"]);
  });
});

describe("hubcache and the real Python client working on one cache at the same time", { skip: py.skip }, () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
  });
  after(async () => {
    fx.hub.throttle(null);
    await fx.close();
  });
  const blobsOf = (repo: string): string => join(fx.cacheDir, `models--${repo.replace("/", "--")}`, "blobs");
  const tempIn = async (dir: string, minBytes = 1): Promise<string | undefined> => {
    for (const name of await listDir(dir)) {
      if (!name.endsWith(".incomplete")) continue;
      const size = await fsp.stat(join(dir, name)).then((s) => s.size, () => 0);
      if (size >= minBytes) return name;
    }
    return undefined;
  };
  const cli = (rt: "node" | "deno" | "bun", repo: string, path: string): ReturnType<typeof finished> =>
    finished(spawnCli(rt, ["download", repo, path, "--endpoint", fx.hub.endpoint, "--cache-dir", fx.cacheDir, "--token", TOKEN, "--quiet"]));

  test("staggered Python, Node, Deno and Bun starts with locks download each blob once, whoever starts first", async () => {
    assert.ok(py.available);
    const repo = "org/race";
    const first = bytes(3_000_000, 821);
    const second = bytes(3_000_000, 822);
    fx.hub.createRepo(repo).commit({ "py-first.bin": first, "node-first.bin": second });
    const blobs = blobsOf(repo);
    // Slow enough that every later start finds the first one still downloading.
    fx.hub.throttle(2_000_000);
    fx.hub.clearRequests();
    const pyRun = (path: string): ReturnType<typeof finished> =>
      finished(py.client.spawnPython(
        `from huggingface_hub import hf_hub_download\nprint(hf_hub_download(${JSON.stringify(repo)}, ${JSON.stringify(path)}))`,
        py.client.env(fx.hub.endpoint, fx.cacheDir, { HF_TOKEN: TOKEN }),
      ));
    const runs: Array<{ who: string; path: string; run: ReturnType<typeof finished> }> = [];
    const start = async (who: string, path: string, run: () => ReturnType<typeof finished>): Promise<void> => {
      runs.push({ who, path, run: run() });
      await new Promise((r) => setTimeout(r, 150));
    };
    await start("python", "py-first.bin", () => pyRun("py-first.bin"));
    // Python writes in 10 MB chunks: its temp file exists (empty) while it downloads.
    await waitFor(async () => (await tempIn(blobs, 0)) !== undefined, 20_000, "python to start writing");
    for (const rt of ["node", "deno", "bun"] as const) await start(rt, "py-first.bin", () => cli(rt, repo, "py-first.bin"));
    await start("node", "node-first.bin", () => cli("node", repo, "node-first.bin"));
    const secondEtag = fx.hub.repo(repo).fileInfo("node-first.bin").sha256;
    await waitFor(async () => (await listDir(blobs)).some((n) => n.startsWith(secondEtag + ".") && n.endsWith(".incomplete")), 20_000, "node to start writing");
    await start("python", "node-first.bin", () => pyRun("node-first.bin"));
    for (const rt of ["deno", "bun"] as const) await start(rt, "node-first.bin", () => cli(rt, repo, "node-first.bin"));
    for (const r of runs) {
      const done = await r.run;
      assert.equal(done.code, 0, `${r.who} ${r.path}: ${done.stderr}`);
      assert.ok(sameBytes(await readBytes(done.stdout.trim().split("\n").pop()!), r.path === "py-first.bin" ? first : second), `${r.who} ${r.path}`);
    }
    fx.hub.throttle(null);
    assert.equal(cdnGets(fx, "py-first.bin"), 1, "py-first.bin downloaded once");
    assert.equal(cdnGets(fx, "node-first.bin"), 1, "node-first.bin downloaded once");
  });

  test("`hf cache prune` deleting our temp file mid-download: the download still succeeds, says so, and fetches nothing twice", async () => {
    assert.ok(py.available);
    const repo = "org/hfprune";
    const data = bytes(1_500_000, 831);
    fx.hub.createRepo(repo).commit({ "w.bin": data });
    const blobs = blobsOf(repo);
    fx.hub.clearRequests();
    fx.hub.throttle(300_000);
    const run = cli(currentRuntimeName(), repo, "w.bin");
    let temp: string | undefined;
    try {
      await waitFor(async () => (temp = await tempIn(blobs, 50_000)) !== undefined, 30_000, "hubcache to start writing");
      // The CDN pauses while the prune runs: a slow Python start under load must not let the
      // download finish first (its temp file would be gone by rename, not by the prune).
      fx.hub.throttle(1);
      const prune = await py.client.runHf(["cache", "prune", "--yes", "--cache-dir", fx.cacheDir], py.client.env(fx.hub.endpoint, fx.cacheDir));
      assert.equal(prune.code, 0, prune.stderr);
      await assert.rejects(fsp.lstat(join(blobs, temp!)), { code: "ENOENT" }, "hf cache prune deletes a live writer's temp file");
    } finally {
      fx.hub.throttle(null);
    }
    const done = await run;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /hubcache: warning: TempFileDeleted: another program deleted the temp file of 'w\.bin'/);
    assert.ok(sameBytes(await readBytes(done.stdout.trim()), data));
    assert.equal(cdnGets(fx, "w.bin"), 1);
    assert.deepEqual((await listDir(blobs)).filter((n) => n.includes(".")), []);
  });

  test("a partial left by Ctrl-C is swept once the Python client has finished the blob", async () => {
    const repo = "org/pyfinish";
    const data = bytes(4_000_000, 841);
    fx.hub.createRepo(repo).commit({ "w.bin": data });
    const etag = fx.hub.repo(repo).fileInfo("w.bin").sha256;
    const controller = new AbortController();
    fx.hub.throttle(4_000_000);
    const err = await downloadFile({
      ...fx.base,
      repo,
      path: "w.bin",
      signal: controller.signal,
      onProgress: (p) => {
        if (p.bytesDone >= 500_000) controller.abort();
      },
    }).catch((e) => e);
    fx.hub.throttle(null);
    assert.ok(err instanceof Error && (err as { code?: string }).code === "Aborted", String(err));
    assert.ok((await listDir(blobsOf(repo))).includes(`${etag}.partial`));
    const path = await python(fx, `
from huggingface_hub import hf_hub_download
print(json.dumps(hf_hub_download("org/pyfinish", "w.bin")))
`);
    assert.ok((await listDir(blobsOf(repo))).includes(`${etag}.partial`), "the Python client does not know partials");
    fx.hub.clearRequests();
    assert.equal(await downloadFile({ ...fx.base, repo, path: "w.bin" }), path);
    assert.equal(cdnGets(fx, "w.bin"), 0);
    assert.deepEqual(await listDir(blobsOf(repo)), [etag]);
  });
});
