#!/usr/bin/env node
// Proves the CLI survives `bun build --compile` (no dynamic imports the bundler cannot follow, no
// files read from next to the sources at run time): compile src/cli.ts to a single executable,
// then download one file with it from the Hub emulator into a fresh cache.
//
// Contract checked: `hubcache download org/demo config.json --endpoint <url> --cache-dir <dir>
// --quiet` exits 0 and prints exactly one line, the absolute path of a file inside <dir> whose
// content is what was committed. Needs `npm run build` first (the emulator comes from dist/).

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BUN = path.join(ROOT, "node_modules", ".bin", "bun");
const CLI = path.join(ROOT, "src", "cli.ts");
const EMULATOR = path.join(ROOT, "dist", "src", "testing", "mod.js");
const REPO = "org/demo";
const FILE = "config.json";
const CONTENT = '{"a":1}';
const COMPILE_TIMEOUT_MS = 180_000;
const RUN_TIMEOUT_MS = 60_000;

function fail(message) {
  console.log(`FAIL: ${message}`);
  console.log("compiled binary: failed");
  process.exitCode = 1;
}

/** Spawn asynchronously: the emulator serves from this very process, so spawnSync would deadlock. */
function run(cmd, args, { timeoutMs, env } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs ?? RUN_TIMEOUT_MS);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: 127, signal: null, stdout, stderr: `${stderr}${err.message}\n`, timedOut });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function show(label, text) {
  const t = text.replace(/\s+$/, "");
  if (!t) return;
  console.log(`--- ${label} ---`);
  console.log(t.split("\n").slice(-40).join("\n"));
}

async function main() {
  const missing = [];
  if (!fs.existsSync(CLI)) missing.push("src/cli.ts");
  if (!fs.existsSync(EMULATOR)) missing.push("dist/src/testing/mod.js (src/testing/mod.ts not written or not built)");
  if (!fs.existsSync(BUN)) missing.push("node_modules/.bin/bun (npm install)");
  if (missing.length > 0) return fail(`missing: ${missing.join(", ")}`);

  const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "hubcache-bin-")));
  const bin = path.join(tmp, process.platform === "win32" ? "hubcache.exe" : "hubcache");
  const cacheDir = path.join(tmp, "cache");
  let hub;
  try {
    const t0 = Date.now();
    const compile = await run(BUN, ["build", "--compile", CLI, "--outfile", bin], { timeoutMs: COMPILE_TIMEOUT_MS });
    show("bun build --compile output", compile.stdout + compile.stderr);
    if (compile.code !== 0 || !fs.existsSync(bin)) {
      return fail(`bun build --compile src/cli.ts ${compile.timedOut ? "timed out" : `exited with code ${compile.code}`}`);
    }
    console.log(`compiled ${bin} (${(fs.statSync(bin).size / 1e6).toFixed(1)} MB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const { HubEmulator } = await import(pathToFileURL(EMULATOR).href);
    if (typeof HubEmulator?.start !== "function") return fail("dist/src/testing/mod.js does not export HubEmulator.start()");
    hub = await HubEmulator.start();
    const repo = hub.createRepo(REPO);
    await repo.commit({ [FILE]: CONTENT });

    // A clean environment: the binary must not find a real cache or token through HF_* or HOME.
    const env = { PATH: process.env.PATH ?? "", HOME: tmp, HF_HOME: path.join(tmp, "hf-home"), NO_COLOR: "1" };
    const args = ["download", REPO, FILE, "--endpoint", hub.endpoint, "--cache-dir", cacheDir, "--quiet"];
    console.log(`$ hubcache ${args.join(" ")}`);
    const r = await run(bin, args, { env });
    show("stdout", r.stdout);
    show("stderr", r.stderr);
    if (r.code !== 0) {
      return fail(`the compiled binary ${r.timedOut ? "timed out" : r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`}`);
    }
    const lines = r.stdout.split(/\r?\n/).filter((l) => l.trim() !== "");
    if (lines.length !== 1) return fail(`expected exactly one line on stdout, got ${lines.length}`);
    const printed = lines[0].trim();
    if (!path.isAbsolute(printed)) return fail(`printed path is not absolute: ${printed}`);
    const rel = path.relative(cacheDir, printed);
    if (rel.startsWith("..") || path.isAbsolute(rel)) return fail(`printed path ${printed} is not inside --cache-dir ${cacheDir}`);
    let content;
    try {
      content = fs.readFileSync(printed, "utf8");
    } catch (e) {
      return fail(`cannot read the printed path ${printed}: ${e.message}`);
    }
    if (content !== CONTENT) return fail(`content of ${printed} is ${JSON.stringify(content)}, expected ${JSON.stringify(CONTENT)}`);
    console.log(`compiled binary: ok (${printed})`);
  } catch (e) {
    fail(`unexpected error: ${e?.stack ?? e}`);
  } finally {
    if (hub) await hub.close().catch((e) => console.log(`warning: hub.close() failed: ${e}`));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
// A keep-alive socket left in the emulator must not keep this check (and npm test) waiting.
process.exit(process.exitCode ?? 0);
