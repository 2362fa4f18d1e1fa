#!/usr/bin/env node
// `npm run demo`: start the embedded Hub emulator with a sample repo, download into a temporary
// cache with progress, show an interrupted download resuming and four racing writers producing
// one blob, then print what landed where. Runs on the build in dist/ (`npm run demo` builds it first).
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
if (!existsSync(join(root, "dist", "mod.js"))) {
  console.error("dist/ is missing: run `npm run build` first (or `npm run demo`, which builds).");
  process.exit(1);
}
const { downloadFile, downloadSnapshot, defaultRuntime } = await import(join(root, "dist", "mod.js"));
const { HubEmulator } = await import(join(root, "dist", "src", "testing", "mod.js"));

const tty = process.stderr.isTTY;
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
function progress(label) {
  let last = 0;
  return (p) => {
    if (p.phase === "cached" || !tty) return;
    const now = Date.now();
    if (now - last < 80 && p.phase !== "done") return;
    last = now;
    const pct = p.bytesTotal ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 100;
    const resumed = p.resumedFrom ? ` (resumed at ${mb(p.resumedFrom)})` : "";
    process.stderr.write(`\r  ${label} ${String(pct).padStart(3)}% ${mb(p.bytesDone)}/${mb(p.bytesTotal)}${resumed}   `);
    if (p.phase === "done") process.stderr.write("\n");
  };
}

const hub = await HubEmulator.start();
const cacheDir = await fsp.realpath(await fsp.mkdtemp(join(tmpdir(), "hubcache-demo-")));
const weights = new Uint8Array(48_000_000);
for (let i = 0; i < weights.length; i++) weights[i] = (i * 2654435761) >>> 24;
const repo = hub.createRepo("demo-org/tiny-model");
repo.commit({
  "config.json": JSON.stringify({ architectures: ["TinyModel"], hidden_size: 64 }, null, 2),
  "tokenizer.json": JSON.stringify({ version: "1.0", vocab: { a: 0, b: 1 } }),
  "model.safetensors": weights,
  "onnx/model.onnx": weights.subarray(0, 3_000_000),
});
const base = { repo: "demo-org/tiny-model", cacheDir, endpoint: hub.endpoint, token: "hf_test_token", runtime: defaultRuntime() };

console.log(`Hub emulator: ${hub.endpoint} (LFS files redirect to ${hub.cdnOrigin})`);
console.log(`Cache:        ${cacheDir}\n`);

console.log("1. Download one file (LFS, 48 MB), interrupted at ~20 MB, then resumed:");
hub.throttle(60_000_000);
const controller = new AbortController();
await downloadFile({
  ...base,
  path: "model.safetensors",
  signal: controller.signal,
  onProgress: (p) => {
    progress("model.safetensors")(p);
    if (p.bytesDone >= 20_000_000) controller.abort();
  },
}).catch((e) => {
  if (tty) process.stderr.write("\n");
  console.log(`   interrupted: ${e.code} — the bytes were kept as blobs/<sha256>.partial`);
});
hub.throttle(null);
hub.clearRequests();
const model = await downloadFile({ ...base, path: "model.safetensors", onProgress: progress("model.safetensors") });
const resumedWith = hub.requests.find((r) => r.method === "GET" && r.range)?.range;
console.log(`   resumed with "Range: ${resumedWith}" (no validator needed); sha256 verified before publishing`);
console.log(`   -> ${model}\n`);

console.log("2. Four writers race for the same file with the lock disabled:");
hub.clearRequests();
const paths = await Promise.all([0, 1, 2, 3].map(() => downloadFile({ ...base, path: "onnx/model.onnx", lock: "none" })));
const bodies = hub.requests.filter((r) => r.method === "GET").length;
console.log(`   ${bodies} bodies downloaded, ${new Set(paths).size} snapshot path, one verified blob\n`);

console.log("3. The rest of the repo (snapshot download, reuses what is cached):");
const snapshot = await downloadSnapshot({ ...base, onProgress: (p) => tty && process.stderr.write(`\r  ${p.filesDone}/${p.filesTotal} files   `) });
if (tty) process.stderr.write("\n");
console.log(`   -> ${snapshot}\n`);

console.log("What landed where (the Hugging Face cache layout, byte-compatible with huggingface_hub):");
async function walk(dir, depth = 0) {
  for (const name of (await fsp.readdir(dir)).sort()) {
    const path = join(dir, name);
    const st = await fsp.lstat(path);
    const pad = "  ".repeat(depth + 1);
    if (st.isSymbolicLink()) console.log(`${pad}${name} -> ${await fsp.readlink(path)}`);
    else if (st.isDirectory()) {
      console.log(`${pad}${name}/`);
      await walk(path, depth + 1);
    } else {
      const text = name === "main" ? ` = ${await fsp.readFile(path, "utf8")}` : "";
      console.log(`${pad}${name} (${st.size} bytes)${text}`);
    }
  }
}
console.log(`  ${cacheDir}/`);
await walk(cacheDir);

await hub.close();
await fsp.rm(cacheDir, { recursive: true, force: true });
console.log("\nDone. The temporary cache was removed. Try the CLI: npx hubcache --help");
