#!/usr/bin/env node
// `npm run bench`: time one large LFS download (default 512 MiB) from a local Hub emulator
// with hubcache on Node, Deno and Bun and with peers measured in the same run (curl -o,
// curl + sha256sum, wget, @huggingface/hub). Runs are interleaved round by round so machine
// noise spreads over every tool; medians and ratios to curl -o are reported, with peak RSS.
// Writes bench/RESULTS.md. Options: --size BYTES, --runs N, --only name,name
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const size = Number(arg("size", 512 * 1024 * 1024));
const runs = Number(arg("runs", 5));
const only = arg("only", "")?.split(",").filter(Boolean);
if (!existsSync(join(root, "dist", "src", "cli.js"))) {
  console.error("dist/ is missing: run `npm run build` first");
  process.exit(1);
}

const server = spawn(process.execPath, [join(root, "bench", "hub_server.mjs"), String(size)], { stdio: ["pipe", "pipe", "inherit"] });
const info = await new Promise((resolve, reject) => {
  let buf = "";
  server.stdout.on("data", (d) => {
    buf += d;
    const nl = buf.indexOf("\n");
    if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
  });
  server.on("exit", (c) => reject(new Error(`bench server exited ${c}`)));
});

const bin = (n) => join(root, "node_modules", ".bin", n);
const cli = ["download", info.repo, info.path, "--endpoint", info.endpoint, "--token", "hf_test_token", "--quiet"];
const tools = [
  { name: "curl -o", verifies: false, cmd: (dir) => ["curl", "-sS", "-L", "-o", join(dir, "out"), info.url] },
  { name: "curl -o + sha256sum", verifies: true, shell: (dir) => `curl -sS -L -o ${dir}/out '${info.url}' && sha256sum ${dir}/out >/dev/null` },
  { name: "wget", verifies: false, cmd: (dir) => ["wget", "-q", "-O", join(dir, "out"), info.url] },
  { name: "@huggingface/hub (node)", verifies: false, cmd: (dir) => [process.execPath, join(root, "bench", "peer_hfjs.mjs"), info.endpoint, info.repo, info.path, dir] },
  { name: "hubcache (node)", verifies: true, cmd: (dir) => [process.execPath, join(root, "dist", "src", "cli.js"), ...cli, "--cache-dir", dir] },
  { name: "hubcache (deno)", verifies: true, cmd: (dir) => [bin("deno"), "run", "-A", join(root, "src", "cli.ts"), ...cli, "--cache-dir", dir] },
  { name: "hubcache (bun)", verifies: true, cmd: (dir) => [bin("bun"), join(root, "src", "cli.ts"), ...cli, "--cache-dir", dir] },
].filter((t) => !only?.length || only.some((o) => t.name.includes(o)));

const hasTime = existsSync("/usr/bin/time");
async function once(tool) {
  const dir = await fsp.mkdtemp(join(tmpdir(), "hubcache-bench-"));
  try {
    const inner = tool.shell ? ["bash", "-c", tool.shell(dir)] : tool.cmd(dir);
    const argv = hasTime ? ["/usr/bin/time", "-f", "%e %M", ...inner] : inner;
    const started = process.hrtime.bigint();
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", maxBuffer: 1 << 24 });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (r.status !== 0) throw new Error(`${tool.name} failed (${r.status}): ${r.stderr.slice(-500)}`);
    const rssKb = hasTime ? Number(r.stderr.trim().split("\n").pop().split(" ")[1]) : NaN;
    return { seconds, rssMb: rssKb / 1024 };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

const results = new Map(tools.map((t) => [t.name, []]));
for (const t of tools) await once(t); // warm-up: page cache, JIT caches, Deno's module cache
for (let round = 1; round <= runs; round++) {
  for (const t of tools) results.get(t.name).push(await once(t));
  process.stderr.write(`round ${round}/${runs} done\n`);
}
server.stdin.end();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const curlMedian = median(results.get("curl -o")?.map((r) => r.seconds) ?? [NaN]);
const rows = tools.map((t) => {
  const rs = results.get(t.name);
  const med = median(rs.map((r) => r.seconds));
  return {
    name: t.name,
    verifies: t.verifies ? "yes" : "no",
    median: med.toFixed(2),
    mbps: (size / 1e6 / med).toFixed(0),
    ratio: (med / curlMedian).toFixed(2),
    rss: median(rs.map((r) => r.rssMb)).toFixed(0),
    all: rs.map((r) => r.seconds.toFixed(2)).join(" "),
  };
});
const header = "| tool | verifies content | median s | MB/s | × curl -o | peak RSS MiB | all runs (s) |\n|---|---|---|---|---|---|---|";
const table = [header, ...rows.map((r) => `| ${r.name} | ${r.verifies} | ${r.median} | ${r.mbps} | ${r.ratio} | ${r.rss} | ${r.all} |`)].join("\n");
console.log(table);
const versions = {
  node: process.version,
  deno: spawnSync(bin("deno"), ["--version"], { encoding: "utf8" }).stdout.split("\n")[0],
  bun: spawnSync(bin("bun"), ["--version"], { encoding: "utf8" }).stdout.trim(),
};
const md = `# Benchmark results

Generated by \`npm run bench\` on ${new Date().toISOString()}.

One ${(size / 1048576).toFixed(0)} MiB LFS file downloaded from the local Hub emulator (a separate
process on 127.0.0.1; the HEAD and 302 to the CDN host included) into a fresh cache each run.
${runs} interleaved rounds after one warm-up round. Machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}),
shared and noisy: compare rows of the same run, not absolute numbers. Runtimes: Node ${versions.node},
${versions.deno}, Bun ${versions.bun}.

${table}

"verifies content": hubcache hashes every byte (sha256 here) while streaming and fsyncs before
publishing; \`curl -o\` and wget only write; \`curl -o + sha256sum\` is the fair "download then
verify" peer. Times include process start-up (Deno's and Bun's included).
`;
await fsp.writeFile(join(root, "bench", "RESULTS.md"), md);
console.log("\nwrote bench/RESULTS.md");
