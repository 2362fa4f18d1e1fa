#!/usr/bin/env node
// `npm run bench`: hubcache on Node, Deno and Bun against its peers, measured in the same run
// against a Hub emulator in its own process (the HEAD and the 302 to the CDN host included).
// Scenarios (each a table in bench/RESULTS.md):
//   large      one large LFS file over unthrottled loopback
//   throttled  the same file from a CDN that limits each connection (--rate, default 40 MB/s)
//   small      a whole repo of many 10 KiB files (a sharded dataset)
//   resume     a download SIGKILLed at 50% (throttled, so the kill lands there), then run again
//   racers     8 processes downloading the same file into one cache at once, the lock on
//   ls         `cache ls` on a cache of --cache-files snapshot files vs Python's scan_cache_dir
// Runs are interleaved round by round so machine noise spreads over every tool; medians are
// reported with peak RSS (/usr/bin/time) and the bytes the server sent.
// Options: --quick (small sizes, one round), --size BYTES, --runs N, --rate BYTES_PER_S,
// --shards N, --cache-files N, --scenarios a,b  --only tool-substring,…  --baseline DIR (rows for
// another built checkout of hubcache, e.g. the commit before a change, measured in the same run
// in the large, throttled, small-files and ls scenarios)
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { bigCache } from "./big_cache.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const quick = process.argv.includes("--quick");
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const list = (name) => arg(name, "").split(",").filter(Boolean);
const MiB = 1024 * 1024;
const size = Number(arg("size", quick ? 64 * MiB : 512 * MiB));
const runs = Number(arg("runs", quick ? 1 : 3));
const rate = Number(arg("rate", 40e6));
const shardCount = Number(arg("shards", quick ? 200 : 1000));
const shardBytes = 10 * 1024;
const cacheFiles = Number(arg("cache-files", quick ? 20_000 : 200_000));
const racers = 8;
const scenarios = list("scenarios").length ? list("scenarios") : ["large", "throttled", "small", "resume", "racers", "ls"];
const only = list("only");
for (const built of ["dist/src/cli.js", "dist/tests/_support/python_client.js"]) {
  if (!existsSync(join(root, built))) {
    console.error(`${built} is missing: run \`npm run build\` first`);
    process.exit(1);
  }
}

// ---- the server -------------------------------------------------------------------------------

const server = spawn(process.execPath, [join(root, "bench", "hub_server.mjs"), String(size), String(shardCount), String(shardBytes)], {
  stdio: ["pipe", "pipe", "inherit"],
});
const replies = createInterface({ input: server.stdout });
const waiting = [];
replies.on("line", (line) => waiting.shift()?.(JSON.parse(line)));
const ask = (command) => new Promise((resolve) => {
  waiting.push(resolve);
  if (command) server.stdin.write(`${command}\n`);
});
const info = await ask(null);
const { endpoint, model, shards } = info;

// ---- the tools --------------------------------------------------------------------------------

const bin = (n) => join(root, "node_modules", ".bin", n);
const { ensurePythonClient } = await import(join(root, "dist/tests/_support/python_client.js"));
const py = await ensurePythonClient();
if (!py.available) console.error(`[bench] the Python client is not available, its rows are left out: ${py.reason}`);
const pyEnv = (cacheDir) => (py.available ? py.client.env(endpoint, cacheDir) : {});
const PY_FILE = "import sys\nfrom huggingface_hub import hf_hub_download\nprint(hf_hub_download(sys.argv[1], sys.argv[2]))";
const PY_SNAPSHOT = "import sys\nfrom huggingface_hub import snapshot_download\nprint(snapshot_download(sys.argv[1]))";
const PY_SCAN = "import sys\nfrom huggingface_hub import scan_cache_dir\ni = scan_cache_dir(sys.argv[1])\nprint(len(i.repos), i.size_on_disk, len(i.warnings))";

/** The CLI of a checkout at `dir` on each runtime (Node runs its build, Deno and Bun the sources). */
const runtimesOf = (dir) => ({
  // The bin (it sizes libuv's thread pool) where the checkout has one, else the built entry.
  node: [process.execPath, existsSync(join(dir, "bin", "hubcache.cjs")) ? join(dir, "bin", "hubcache.cjs") : join(dir, "dist", "src", "cli.js")],
  deno: [bin("deno"), "run", "-A", join(dir, "src", "cli.ts")],
  bun: [bin("bun"), join(dir, "src", "cli.ts")],
});
const runtimes = runtimesOf(root);
// --baseline DIR: another checkout (built) measured in the same run, for before/after figures.
const baseline = arg("baseline", "");
const hasConnections = spawnSync(process.execPath, [...runtimes.node.slice(1), "download", "--help"], { encoding: "utf8" }).stdout.includes("--connections");
const hubcacheArgs = (repo, paths, dir) => ["download", repo, ...paths, "--endpoint", endpoint, "--token", "hf_test_token", "--cache-dir", dir, "--quiet"];
const lastLine = (stdout) => stdout.trim().split("\n").pop();

/**
 * A tool: `file(dir)` the argv (or `{shell}`) downloading the large file into `dir`, `output`
 * where the file then is; optional `resumeFile` (the second run after a kill, when it differs),
 * `snapshot(dir)` for the whole small-files repo, `ls(dir)` scanning a cache.
 */
const tools = [];
for (const [rt, argv] of Object.entries(runtimes)) {
  const name = `hubcache (${rt})`;
  tools.push({
    name,
    verifies: true,
    file: (dir) => [...argv, ...hubcacheArgs(model.repo, [model.path], dir)],
    output: (dir, stdout) => lastLine(stdout),
    snapshot: (dir) => [...argv, ...hubcacheArgs(shards.repo, [], dir)],
    racer: true,
    ls: (dir) => [...argv, "cache", "ls", "--cache-dir", dir],
  });
  if (baseline) {
    const before = runtimesOf(baseline)[rt];
    tools.push({
      name: `hubcache baseline (${rt})`,
      verifies: true,
      file: (dir) => [...before, ...hubcacheArgs(model.repo, [model.path], dir)],
      output: (dir, stdout) => lastLine(stdout),
      snapshot: (dir) => [...before, ...hubcacheArgs(shards.repo, [], dir)],
      ls: (dir) => [...before, "cache", "ls", "--cache-dir", dir],
    });
  }
  if (rt === "node") {
    // The snapshot concurrency default (8) against more files in flight.
    for (const n of [16, 32]) {
      tools.push({ name: `hubcache (node) --concurrency ${n}`, verifies: true, snapshot: (dir) => [...argv, ...hubcacheArgs(shards.repo, [], dir), "--concurrency", String(n)] });
    }
  }
  if (hasConnections) {
    // The default is 8 connections from 64 MiB. One stream (unthrottled only: throttled it is
    // curl's 40 MB/s) and 16 connections (the top of the memory target) beside it.
    for (const [n, where] of [[1, ["large"]], [16, ["large", "throttled"]]]) {
      tools.push({
        name: `hubcache (${rt}) --connections ${n}`,
        verifies: true,
        scenarios: where,
        file: (dir) => [...argv, ...hubcacheArgs(model.repo, [model.path], dir), "--connections", String(n)],
        output: (dir, stdout) => lastLine(stdout),
      });
    }
  }
}
tools.push(
  { name: "curl -o", verifies: false, file: (dir) => ["curl", "-sS", "-L", "-o", join(dir, "out"), model.url], output: (dir) => join(dir, "out"),
    resumeFile: (dir) => ["curl", "-sS", "-L", "-C", "-", "-o", join(dir, "out"), model.url] },
  { name: "curl -o + sha256sum", verifies: true, shell: true, file: (dir) => ["bash", "-c", `curl -sS -L -o ${dir}/out '${model.url}' && sha256sum ${dir}/out >/dev/null`], output: (dir) => join(dir, "out"), noResume: true },
  { name: "aria2c -x 8 -s 8", verifies: false, output: (dir) => join(dir, "out"),
    file: (dir) => ["aria2c", "-x", "8", "-s", "8", "-q", "--allow-overwrite=true", "--auto-file-renaming=false", "-d", dir, "-o", "out", model.url],
    resumeFile: (dir) => ["aria2c", "-x", "8", "-s", "8", "-q", "-c", "--auto-file-renaming=false", "-d", dir, "-o", "out", model.url] },
  { name: "@huggingface/hub", verifies: false, output: (dir, stdout) => lastLine(stdout), racer: true,
    file: (dir) => [process.execPath, join(root, "bench", "peer_hfjs.mjs"), "file", endpoint, model.repo, model.path, dir],
    snapshot: (dir) => [process.execPath, join(root, "bench", "peer_hfjs.mjs"), "snapshot", endpoint, shards.repo, dir] },
);
if (py.available) {
  tools.push({
    name: "huggingface_hub (Python)",
    verifies: false,
    racer: true,
    env: pyEnv,
    file: (dir) => [py.client.python, "-c", PY_FILE, model.repo, model.path],
    output: (dir, stdout) => lastLine(stdout),
    snapshot: (dir) => [py.client.python, "-c", PY_SNAPSHOT, shards.repo],
    ls: (dir) => [py.client.python, "-c", PY_SCAN, dir],
  });
}
const selected = (t) => !only.length || only.some((o) => t.name.includes(o));

// ---- measuring --------------------------------------------------------------------------------

/** Spawn argv under /usr/bin/time; resolves {seconds, rssMb, stdout}; `onStart(child)` may kill it. */
async function measure(argv, env, onStart) {
  const timeFile = join(tmpdir(), `hubcache-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const started = process.hrtime.bigint();
  const child = spawn("/usr/bin/time", ["-o", timeFile, "-f", "%M", ...argv], {
    env: env ? { ...env } : process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  const killed = (await onStart?.(child, exited)) ?? false;
  const { code } = await exited;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const rssKb = Number((await fsp.readFile(timeFile, "utf8").catch(() => "")).trim().split("\n").pop());
  await fsp.rm(timeFile, { force: true });
  if (code !== 0 && !killed) throw new Error(`${argv.slice(0, 3).join(" ")} … failed (${code}): ${stderr.slice(-600)}`);
  return { seconds, rssMb: rssKb / 1024, stdout };
}

async function withDir(work) {
  const dir = await fsp.mkdtemp(join(tmpdir(), "hubcache-bench-"));
  try {
    return await work(dir);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

const sha256File = (path) => new Promise((resolve, reject) => {
  const h = createHash("sha256");
  createReadStream(path).on("data", (d) => h.update(d)).on("end", () => resolve(h.digest("hex"))).on("error", reject);
});
function expectedSha256() {
  const h = createHash("sha256");
  const page = new Uint8Array(4096);
  for (let i = 0; i < size; i += 4096) {
    page[0] = (i / 4096) & 0xff;
    h.update(page.subarray(0, Math.min(4096, size - i)));
  }
  return h.digest("hex");
}
const expected = expectedSha256();

const median = (xs) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : "–");

/** Run every tool `runs` times, interleaved (plus one warm-up round if asked); returns Map name → samples. */
async function rounds(label, list, once, { warmUp = false } = {}) {
  const results = new Map(list.map((t) => [t.name, []]));
  if (warmUp) for (const t of list) await once(t, true);
  for (let round = 1; round <= runs; round++) {
    for (const t of list) results.get(t.name).push(await once(t, false));
    process.stderr.write(`[bench] ${label}: round ${round}/${runs} done\n`);
  }
  return results;
}

// ---- scenarios --------------------------------------------------------------------------------

const sections = [];

/** One large file; `throttled` sets the per-connection rate first. */
async function largeFile(throttled) {
  const list = tools.filter((t) => t.file && selected(t) && (!t.scenarios || t.scenarios.includes(throttled ? "throttled" : "large")));
  await ask(throttled ? `throttle ${rate}` : "throttle off");
  const checked = new Set();
  const results = await rounds(throttled ? "throttled" : "large", list, (t, first) => withDir(async (dir) => {
    await ask("reset");
    const r = await measure(t.file(dir), t.env?.(dir));
    const { bytes } = await ask("stats");
    // Content checked once per tool (the warm-up round, or the first round when there is none):
    // a fast wrong answer must not look like a win.
    if (first || !checked.has(t.name)) {
      const got = await sha256File(t.output(dir, r.stdout));
      if (got !== expected) throw new Error(`${t.name} produced wrong content (${got})`);
      checked.add(t.name);
    }
    return { ...r, bytes };
  }), { warmUp: !throttled });
  await ask("throttle off");
  const curl = median(results.get("curl -o")?.map((r) => r.seconds) ?? []);
  const rows = list.map((t) => {
    const rs = results.get(t.name);
    const med = median(rs.map((r) => r.seconds));
    return [t.name, t.verifies ? "yes" : "no", fmt(med), fmt(size / 1e6 / med, 0), fmt(med / curl), fmt(median(rs.map((r) => r.bytes)) / size), fmt(median(rs.map((r) => r.rssMb)), 0), rs.map((r) => fmt(r.seconds)).join(" ")];
  });
  const title = throttled
    ? `One ${size / MiB} MiB file, CDN throttled to ${rate / 1e6} MB/s per connection`
    : `One ${size / MiB} MiB file, unthrottled loopback`;
  const note = throttled
    ? `One connection cannot exceed ${rate / 1e6} MB/s; N connections at most N × that (${((8 * rate) / 1e6).toFixed(0)} MB/s for 8).`
    : "Warm-up round first (page cache, Deno's module cache). Content of every tool checked once against the expected sha256.";
  sections.push({ title, note, header: ["tool", "verifies content", "median s", "MB/s", "× curl -o", "bytes fetched ÷ size", "peak RSS MiB", "all runs (s)"], rows });
}

/** The whole repo of small files. */
async function smallFiles() {
  const list = tools.filter((t) => t.snapshot && selected(t));
  const results = await rounds("small", list, (t) => withDir(async (dir) => {
    await ask("reset");
    const r = await measure(t.snapshot(dir), t.env?.(dir));
    const { bytes, requests } = await ask("stats");
    // The same command again: every file is a cache hit (what a training job's restart costs).
    await ask("reset");
    const again = await measure(t.snapshot(dir), t.env?.(dir));
    const { requests: againRequests } = await ask("stats");
    return { ...r, bytes, requests, cachedSeconds: again.seconds, againRequests };
  }), { warmUp: true });
  const base = median(results.get("@huggingface/hub")?.map((r) => r.seconds) ?? []);
  const rows = list.map((t) => {
    const rs = results.get(t.name);
    const med = median(rs.map((r) => r.seconds));
    return [t.name, fmt(med), fmt(shards.files / med, 0), fmt(base / med), fmt(median(rs.map((r) => r.requests)), 0), fmt(median(rs.map((r) => r.rssMb)), 0), rs.map((r) => fmt(r.seconds)).join(" "), fmt(median(rs.map((r) => r.cachedSeconds))), fmt(median(rs.map((r) => r.againRequests)), 0)];
  });
  sections.push({
    title: `A whole repo of ${shards.files} files of ${shardBytes / 1024} KiB (regular files, no LFS)`,
    note: "Every tool downloads the full repo into a fresh cache (revision info, tree listing, files), then runs the same command again with every file cached. \"speed-up\" is @huggingface/hub's time ÷ the tool's.",
    header: ["tool", "median s", "files/s", "speed-up vs @huggingface/hub", "requests", "peak RSS MiB", "all runs (s)", "again, all cached: median s", "requests"],
    rows,
  });
}

/** Kill at 50% of the file (the server's count of body bytes), then run again unthrottled. */
async function resume() {
  const list = tools.filter((t) => t.file && !t.noResume && selected(t) && (!t.scenarios || t.scenarios.includes("resume")));
  const results = await rounds("resume", list, (t) => withDir(async (dir) => {
    await ask("reset");
    await ask(`throttle ${rate}`);
    await measure(t.file(dir), t.env?.(dir), async (child, exited) => {
      let done = false;
      exited.then(() => (done = true));
      while (!done) {
        const { bytes } = await ask("stats");
        if (bytes >= size / 2) {
          // The tool runs under /usr/bin/time: kill the tool itself (time's only child).
          const pids = spawnSync("pgrep", ["-P", String(child.pid)], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
          for (const pid of pids) process.kill(Number(pid), "SIGKILL");
          return true;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      return false;
    });
    const { bytes: before } = await ask("stats");
    await ask("throttle off");
    await ask("reset");
    const r = await measure((t.resumeFile ?? t.file)(dir), t.env?.(dir));
    const { bytes: after } = await ask("stats");
    const correct = (await sha256File(t.output(dir, r.stdout))) === expected;
    return { ...r, before, after, correct };
  }));
  const rows = list.map((t) => {
    const rs = results.get(t.name);
    return [t.name, fmt(median(rs.map((r) => r.before)) / size), fmt(median(rs.map((r) => r.after)) / size), fmt(median(rs.map((r) => r.before + r.after)) / size), fmt(median(rs.map((r) => Math.max(0, r.before + r.after - size))) / MiB, 1), rs.every((r) => r.correct) ? "yes" : `NO (${rs.filter((r) => !r.correct).length}/${rs.length})`, fmt(median(rs.map((r) => r.seconds)))];
  });
  sections.push({
    title: `Resume: one ${size / MiB} MiB file, SIGKILL at 50%, then the same command again`,
    note: `The first run is throttled to ${rate / 1e6} MB/s so the kill lands near 50% of the body bytes the server sent; the second run is unthrottled. curl resumes with \`-C -\`, aria2c with \`-c\`; the others run the same command again. "re-fetched" = bytes sent over both runs minus the file size.`,
    header: ["tool", "sent before kill ÷ size", "second run ÷ size", "total ÷ size", "re-fetched MiB", "content correct", "second run s"],
    rows,
  });
}

/** `racers` processes of one tool on the same file and cache at once. */
async function racing() {
  const list = tools.filter((t) => t.racer && selected(t));
  const results = await rounds("racers", list, (t, _first) => withDir(async (dir) => {
    await ask("reset");
    const argv = t.file(dir);
    const script = Array.from({ length: racers }, () => `${argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ")} >/dev/null &`).join("\n");
    // /usr/bin/time reports the largest RSS among the shell's children: one racer's peak.
    // A racer that fails is a result (a peer without a lock may trip over another's temp file).
    const r = await measure(["bash", "-c", `${script}\nfailed=0; for j in $(jobs -p); do wait $j || failed=$((failed+1)); done; echo $failed`], t.env?.(dir));
    const failed = Number(lastLine(r.stdout));
    const { bytes } = await ask("stats");
    const outputs = spawnSync("bash", ["-c", `find ${dir} -path '*snapshots*' -name '${model.path}'`], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
    const correct = outputs.length > 0 && (await sha256File(outputs[0])) === expected;
    return { ...r, bytes, correct, failed };
  }));
  const rows = list.map((t) => {
    const rs = results.get(t.name);
    return [t.name, fmt(median(rs.map((r) => r.seconds))), fmt(median(rs.map((r) => r.bytes)) / size), rs.every((r) => r.correct) ? "yes" : "NO", `${rs.reduce((n, r) => n + r.failed, 0)} of ${rs.length * racers}`, fmt(median(rs.map((r) => r.rssMb)), 0), rs.map((r) => fmt(r.seconds)).join(" ")];
  });
  sections.push({
    title: `${racers} processes downloading the same ${size / MiB} MiB file into one cache at once (unthrottled)`,
    note: "hubcache with its lock on (the default); the Python client takes its own file lock; @huggingface/hub has none. \"bytes fetched ÷ size\" is what all processes together cost the server.",
    header: ["tool", "median s (all done)", "bytes fetched ÷ size", "file correct", "processes failed", "peak RSS of one process MiB", "all runs (s)"],
    rows,
  });
}

/** `cache ls` / scan_cache_dir on a big cache. */
async function listing() {
  const list = tools.filter((t) => t.ls && selected(t));
  process.stderr.write(`[bench] ls: building a cache of ${cacheFiles} snapshot files (kept in .tmp/bench for later runs)\n`);
  const shape = await bigCache(join(root, ".tmp", "bench", `cache-${cacheFiles}`), cacheFiles);
  const results = await rounds("ls", list, async (t) => await measure(t.ls(shape.dir), t.env?.(shape.dir)), { warmUp: false });
  const pyMed = median(results.get("huggingface_hub (Python)")?.map((r) => r.seconds) ?? []);
  const rows = list.map((t) => {
    const rs = results.get(t.name);
    const med = median(rs.map((r) => r.seconds));
    return [t.name.replace("huggingface_hub (Python)", "huggingface_hub (Python) scan_cache_dir"), fmt(med), fmt(pyMed / med), fmt(median(rs.map((r) => r.rssMb)), 0), rs.map((r) => fmt(r.seconds)).join(" ")];
  });
  sections.push({
    title: `\`cache ls\` on a cache of ${shape.repos} repos, ${shape.snapshotFiles} snapshot files, ${shape.blobs} blobs`,
    note: "The cache is written directly (symlinked snapshots, two revisions per repo sharing their blobs) and stays in the page cache between runs.",
    header: ["tool", "median s", "speed-up vs scan_cache_dir", "peak RSS MiB", "all runs (s)"],
    rows,
  });
}

try {
  for (const s of scenarios) {
    if (s === "large") await largeFile(false);
    else if (s === "throttled") await largeFile(true);
    else if (s === "small") await smallFiles();
    else if (s === "resume") await resume();
    else if (s === "racers") await racing();
    else if (s === "ls") await listing();
    else throw new Error(`unknown scenario '${s}'`);
  }
} finally {
  server.stdin.end();
}

// ---- the report -------------------------------------------------------------------------------

const table = (s) => [`| ${s.header.join(" | ")} |`, `|${s.header.map(() => "---").join("|")}|`, ...s.rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
const body = sections.map((s) => `## ${s.title}\n\n${s.note}\n\n${table(s)}\n`).join("\n");
console.log(body);
const versions = {
  node: process.version,
  deno: spawnSync(bin("deno"), ["--version"], { encoding: "utf8" }).stdout.split("\n")[0],
  bun: spawnSync(bin("bun"), ["--version"], { encoding: "utf8" }).stdout.trim(),
  curl: spawnSync("curl", ["--version"], { encoding: "utf8" }).stdout.split("\n")[0].split(" ").slice(0, 2).join(" "),
  aria2: spawnSync("aria2c", ["--version"], { encoding: "utf8" }).stdout.split("\n")[0],
};
const md = `# Benchmark results

Generated by \`npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(" ")}` : ""}\` on ${new Date().toISOString()}.

Hub emulator in its own process on 127.0.0.1 (LFS files behind a 302 to its CDN host), a fresh
cache or output folder per run, ${runs} interleaved round(s) per scenario. Machine: ${cpus().length} cores
(${cpus()[0]?.model ?? "?"}), shared and noisy: compare rows of the same run, not absolute numbers.
Times are wall time including process start-up. Peak RSS from \`/usr/bin/time\`. "bytes fetched"
counts body bytes the server sent. "verifies content": hubcache hashes every byte while streaming
and fsyncs before publishing; \`curl -o + sha256sum\` is the "download then verify" peer.
Runtimes: Node ${versions.node}, ${versions.deno}, Bun ${versions.bun}; ${versions.curl}; ${versions.aria2};
Python client: ${py.available ? "huggingface_hub 2.0.0" : `not available (${py.reason})`}.
hubcache \`--connections\`: ${hasConnections ? "rows included" : "not supported by this build, no rows"}.${baseline ? `\n"hubcache baseline" rows: the build in \`${baseline}\`, measured in the same run.` : ""}

${body}`;
await fsp.writeFile(join(root, "bench", "RESULTS.md"), md);
console.log("wrote bench/RESULTS.md");
