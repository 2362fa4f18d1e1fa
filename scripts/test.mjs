#!/usr/bin/env node
// The whole test pipeline behind `npm test`: build, the same node:test files on Node, Deno and
// Bun, then the checks (JSDoc examples type-check, deno publish, browser bundle, compiled binary,
// the npm tarball installed into a fresh project).
//
// Usage:
//   node scripts/test.mjs                         everything
//   node scripts/test.mjs --only node             one runtime (node|deno|bun), plus the build
//   node scripts/test.mjs --only deno,bun         several
//   node scripts/test.mjs --only checks           build + docs + publish + browser + binary checks
//   node scripts/test.mjs --only docs             one check (build|docs|publish|browser|binary|package)
//   node scripts/test.mjs -- tests/foo.test.ts    only these test files/dirs, on all runtimes
//   node scripts/test.mjs --jobs 1                runtimes one after another (default: 3 at once)
//   npm test -- --only node -- tests/foo.test.ts
//   HUBCACHE_TEST_TIMEOUT_MS=600000 npm test      limit per runtime (default 30 min; per test 120 s)
//
// Output: one line per runtime (`node: N passed, M failed`), `checks: N passed, M failed`, then
// `N passed, M failed` (the sum). Details go to .tmp/test-logs/. Exit status is non-zero if
// anything failed or a runtime ran no tests at all. Problems that are not a test (a crash, a type
// error, zero tests) count as one failure each, so the totals never say "0 failed" on a red run.
//
// The three runtimes' suites run at the same time: most of a suite's time is spent waiting
// (throttled transfers, child processes, servers), so on 2 cores three suites together take
// little longer than the slowest alone. Every test uses its own ports, temp dirs and volume
// names, so suites cannot collide. Rounds that spawn the CLI of every runtime whatever runtime
// hosts the test are divided among the runtimes run together (HUBCACHE_TEST_HOSTS, see
// tests/_support/runtime.ts `hostShare`) instead of being repeated by each.

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { denoUncaught, parseBunOutput, parseDenoJunit, parseNodeTap } from "./test_reports.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const LOG_DIR = path.join(ROOT, ".tmp", "test-logs");
const BIN = path.join(ROOT, "node_modules", ".bin");
const REL_LOG_DIR = path.relative(ROOT, LOG_DIR);

const RUNTIMES = ["node", "deno", "bun"];
const CHECKS = ["build", "docs", "publish", "browser", "binary", "package"];
const CHECK_TITLES = {
  build: "typecheck/build (tsc)",
  docs: "JSDoc examples type-check (deno check --doc-only)",
  publish: "deno publish --dry-run",
  browser: "browser bundle",
  binary: "compiled binary",
  package: "npm tarball installed in a fresh project, README commands",
};

// Generous: a hung runtime must not hang CI forever, but the torture-ish tests are slow on 2 cores.
const RUNTIME_TIMEOUT_MS = Number(process.env.HUBCACHE_TEST_TIMEOUT_MS ?? 30 * 60_000);
const CHECK_TIMEOUT_MS = 10 * 60_000;
const BUN_TEST_TIMEOUT_MS = 120_000; // per test; Node gets the same via --test-timeout
const TAIL_LINES = 40;
const MAX_NAMES = 40;

// ---------------------------------------------------------------------------------------------
// Arguments

function usage(message) {
  if (message) console.error(`test.mjs: ${message}`);
  console.error(
    "usage: node scripts/test.mjs [--only node|deno|bun|checks|build|docs|publish|browser|binary|package[,...]] [--jobs N] [--] [tests/x.test.ts ...]",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const only = new Set();
  const filters = [];
  let jobs = 3;
  let afterDashes = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (afterDashes) {
      filters.push(a);
    } else if (a === "--") {
      afterDashes = true;
    } else if (a === "--only" || a.startsWith("--only=")) {
      const v = a === "--only" ? argv[++i] : a.slice("--only=".length);
      if (!v) usage("--only needs a value");
      for (const part of v.split(",").map((s) => s.trim()).filter(Boolean)) {
        if (part === "checks") CHECKS.forEach((c) => only.add(c));
        else if (RUNTIMES.includes(part) || CHECKS.includes(part)) only.add(part);
        else usage(`unknown --only value "${part}"`);
      }
    } else if (a === "--jobs" || a.startsWith("--jobs=")) {
      const v = a === "--jobs" ? argv[++i] : a.slice("--jobs=".length);
      jobs = Number(v);
      if (!Number.isInteger(jobs) || jobs < 1) usage(`--jobs needs a positive integer, got "${v}"`);
    } else if (a === "-h" || a === "--help") {
      usage();
    } else if (a.startsWith("-")) {
      usage(`unknown option ${a}`);
    } else {
      filters.push(a);
    }
  }
  let selected;
  if (only.size > 0) selected = only;
  else if (filters.length > 0) selected = new Set(RUNTIMES); // a quick run: tests only
  else selected = new Set([...RUNTIMES, ...CHECKS]);
  selected.add("build"); // cheap, and Node and the binary check need dist/
  return { selected, filters, jobs };
}

// ---------------------------------------------------------------------------------------------
// Test files

function walk(dir, out) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === "_support" || e.name === "node_modules" || e.name.startsWith(".")) continue;
      walk(p, out);
    } else if (e.isFile()) {
      out.push(p);
    }
  }
  return out;
}

const isTestFile = (p) => p.endsWith(".test.ts");

/** Source test files (absolute paths, sorted), honouring the command-line filters. */
function collectTestFiles(filters) {
  const testsDir = path.join(ROOT, "tests");
  if (filters.length === 0) {
    const all = walk(testsDir, []);
    // Deno and Bun would also run these; Node would not. Say so instead of silently diverging.
    for (const p of all) {
      if (!isTestFile(p) && /(_test|\.spec|^test)\.(ts|js|mjs|tsx)$/.test(path.basename(p))) {
        console.error(`test.mjs: warning: ${path.relative(ROOT, p)} is not named *.test.ts and is not run`);
      }
    }
    return all.filter(isTestFile).sort();
  }
  const files = new Set();
  for (const f of filters) {
    let p = path.resolve(process.cwd(), f);
    if (!fs.existsSync(p)) p = path.resolve(ROOT, f);
    // Accept the compiled name too (dist/tests/x.test.js -> tests/x.test.ts).
    const rel = path.relative(ROOT, p);
    if (rel.startsWith(`dist${path.sep}`) && rel.endsWith(".test.js")) {
      p = path.join(ROOT, rel.slice("dist/".length).replace(/\.js$/, ".ts"));
    }
    if (!fs.existsSync(p)) usage(`no such test file or directory: ${f}`);
    if (fs.statSync(p).isDirectory()) walk(p, []).filter(isTestFile).forEach((x) => files.add(x));
    else if (isTestFile(p)) files.add(p);
    else usage(`not a *.test.ts file: ${f}`);
  }
  for (const p of files) {
    if (path.relative(ROOT, p).startsWith("..")) usage(`test file outside the project: ${p}`);
  }
  return [...files].sort();
}

// ---------------------------------------------------------------------------------------------
// Processes

const children = new Set();
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    for (const child of children) killTree(child);
    process.exit(130);
  });
}

function killTree(child) {
  try {
    process.kill(-child.pid, "SIGKILL"); // its own process group (detached below)
  } catch {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}

const childEnv = (() => {
  const env = { ...process.env };
  env.PATH = `${BIN}${path.delimiter}${env.PATH ?? ""}`;
  env.NO_COLOR = "1";
  delete env.FORCE_COLOR;
  env.DENO_NO_UPDATE_CHECK = "1";
  env.DENO_NO_PROMPT = "1";
  env.HUBCACHE_TEST_PIPELINE = "1";
  delete env.RUST_BACKTRACE; // Deno would append an empty "Stack backtrace" to every error
  // `npm test` exports npm_config_*; tests that spawn npm/npx should not inherit our cwd quirks.
  return env;
})();

/**
 * Run a command with stdout+stderr appended to `logFile`. Resolves with the exit status; never
 * rejects (a missing binary becomes code 127 with the reason in the log).
 */
function run(cmd, args, { logFile, timeoutMs }) {
  return new Promise((resolve) => {
    const started = Date.now();
    fs.appendFileSync(logFile, `$ ${[cmd, ...args].map(shellQuote).join(" ")}\n`);
    const fd = fs.openSync(logFile, "a");
    let child;
    try {
      child = spawn(cmd, args, { cwd: ROOT, env: childEnv, stdio: ["ignore", fd, fd], detached: true });
    } catch (e) {
      fs.closeSync(fd);
      fs.appendFileSync(logFile, `\nfailed to start: ${e.message}\n`);
      resolve({ code: 127, signal: null, timedOut: false, ms: Date.now() - started });
      return;
    }
    children.add(child);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child);
    }, timeoutMs);
    let done = false;
    const finish = (code, signal, err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      children.delete(child);
      try {
        fs.closeSync(fd);
      } catch { /* closed */ }
      if (err) fs.appendFileSync(logFile, `\nfailed to start: ${err.message}\n`);
      if (timedOut) fs.appendFileSync(logFile, `\n[test.mjs] killed after ${Math.round(timeoutMs / 1000)} s timeout\n`);
      resolve({ code: err ? 127 : code, signal, timedOut, ms: Date.now() - started, limitMs: timeoutMs });
    };
    child.on("error", (err) => finish(null, null, err));
    child.on("close", (code, signal) => finish(code, signal, null));
  });
}

function shellQuote(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function tool(name) {
  const p = path.join(BIN, name);
  return fs.existsSync(p) ? p : null;
}

// Deno colours some hints even under NO_COLOR.
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");

function readText(file) {
  try {
    return stripAnsi(fs.readFileSync(file, "utf8"));
  } catch {
    return "";
  }
}

function tail(text, n = TAIL_LINES) {
  const lines = text.replace(/\s+$/, "").split("\n");
  return lines.slice(-n).map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l));
}

function describeExit(r) {
  if (r.timedOut) return `timed out after ${secs(r.limitMs ?? 0)}`;
  if (r.code === 127) return "could not be started";
  if (r.signal) return `was killed by ${r.signal}`;
  return `exited with code ${r.code}`;
}

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const progress = (msg) => console.error(`[test] ${msg}`);

// ---------------------------------------------------------------------------------------------
// Node: `node --test` on the compiled files, TAP to a file for counting, spec to the log.

async function runNode(files) {
  const log = path.join(LOG_DIR, "node.log");
  const tapFile = path.join(LOG_DIR, "node.tap");
  const compiled = files.map((f) => path.join(ROOT, "dist", path.relative(ROOT, f)).replace(/\.ts$/, ".js"));
  const missing = compiled.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) {
    fs.appendFileSync(log, `compiled test files missing (did tsc emit them?):\n${missing.join("\n")}\n`);
    return { passed: 0, failed: 1, skipped: 0, failures: [`compiled test files missing: ${missing.map((f) => path.relative(ROOT, f)).join(", ")}`], log };
  }
  const [major, minor] = process.versions.node.split(".").map(Number);
  // Node has no per-test timeout by default; match Bun's so one hung test cannot eat the CI slot.
  const timeoutFlag = major > 20 || (major === 20 && minor >= 11) ? [`--test-timeout=${BUN_TEST_TIMEOUT_MS}`] : [];
  const args = [
    "--test",
    ...timeoutFlag,
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=tap",
    `--test-reporter-destination=${tapFile}`,
    ...compiled.map((f) => path.relative(ROOT, f)),
  ];
  const r = await run(process.execPath, args, { logFile: log, timeoutMs: RUNTIME_TIMEOUT_MS });
  const parsed = parseNodeTap(readText(tapFile));
  const result = parsed ?? { passed: 0, failed: 0, skipped: 0, failures: [] };
  result.log = log;
  result.ms = r.ms;
  if (!parsed) addProblem(result, `node ${describeExit(r)} before reporting a summary`);
  else if (r.code !== 0 && result.failed === 0) addProblem(result, `node ${describeExit(r)} but reported no failed test`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Deno: `deno test -A` on the .ts sources, JUnit XML for counting, pretty output to the log.

async function runDeno(files) {
  const log = path.join(LOG_DIR, "deno.log");
  const junit = path.join(LOG_DIR, "deno.junit.xml");
  const deno = tool("deno");
  if (!deno) return missingTool("deno", log);
  const args = ["test", "-A", `--junit-path=${junit}`, ...files.map((f) => path.relative(ROOT, f))];
  const r = await run(deno, args, { logFile: log, timeoutMs: RUNTIME_TIMEOUT_MS });
  const text = readText(log);
  const parsed = parseDenoJunit(readText(junit));
  const result = parsed ?? { passed: 0, failed: 0, skipped: 0, failures: [] };
  result.log = log;
  result.ms = r.ms;
  for (const u of denoUncaught(text)) addProblem(result, `${u.replace(/^\.\//, "")}: uncaught error (outside any test)`);
  if (/error: Type checking failed|TS\d+ \[ERROR\]/.test(text)) {
    addProblem(result, "deno type check failed (tests did not run)");
  } else if (!parsed) {
    addProblem(result, `deno ${describeExit(r)} before writing its JUnit report`);
  } else if (r.code !== 0 && result.failed === 0) {
    addProblem(result, `deno ${describeExit(r)} but reported no failed test`);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Bun: `bun test` on the .ts sources; the text summary (` N pass`, ` N fail`, ` N errors`).

async function runBun(files) {
  const log = path.join(LOG_DIR, "bun.log");
  const bun = tool("bun");
  if (!bun) return missingTool("bun", log);
  // "./" makes Bun treat each argument as a path, not as a name filter.
  const args = ["test", "--timeout", String(BUN_TEST_TIMEOUT_MS), ...files.map((f) => `./${path.relative(ROOT, f)}`)];
  const r = await run(bun, args, { logFile: log, timeoutMs: RUNTIME_TIMEOUT_MS });
  const parsed = parseBunOutput(readText(log));
  const result = parsed ?? { passed: 0, failed: 0, skipped: 0, failures: [] };
  result.log = log;
  result.ms = r.ms;
  if (!parsed) addProblem(result, `bun ${describeExit(r)} before printing its summary`);
  else if (r.code !== 0 && result.failed === 0) addProblem(result, `bun ${describeExit(r)} but reported no failed test`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Checks

async function runCheck(name, cmd, args, timeoutMs = CHECK_TIMEOUT_MS) {
  const log = path.join(LOG_DIR, `${name}.log`);
  if (!cmd) {
    fs.appendFileSync(log, "tool not installed; run `npm install`\n");
    return { ok: false, log, ms: 0, why: "tool not installed (run npm install)" };
  }
  const r = await run(cmd, args, { logFile: log, timeoutMs });
  return { ok: r.code === 0 && !r.timedOut, log, ms: r.ms, why: describeExit(r) };
}

function missingTool(name, log) {
  fs.appendFileSync(log, `${name} not found in node_modules/.bin; run \`npm install\`\n`);
  return { passed: 0, failed: 1, skipped: 0, failures: [`${name} is not installed (node_modules/.bin/${name})`], log, ms: 0 };
}

function addProblem(result, what) {
  result.failed += 1;
  result.failures.push(what);
}

// ---------------------------------------------------------------------------------------------
// Reporting

/**
 * Print what failed and an excerpt of the log: by default its tail; with `from`, the lines from
 * the first match of that pattern on (Deno's ERRORS section, deno publish's first error), which is
 * where those tools put the reason.
 */
function printFailureDetails(title, failures, log, { from } = {}) {
  const out = [];
  if (failures.length > 0) {
    out.push(`  failed in ${title}:`);
    for (const f of failures.slice(0, MAX_NAMES)) out.push(`    ✗ ${f}`);
    if (failures.length > MAX_NAMES) out.push(`    … and ${failures.length - MAX_NAMES} more`);
  }
  // "Check file:///…" lines are Deno's type-check progress, never the reason.
  const text = readText(log).split("\n").filter((l) => !/^Check \S+$/.test(l)).join("\n");
  const idx = from ? text.search(from) : -1;
  const excerpt = idx >= 0 ? text.slice(idx).replace(/\s+$/, "").split("\n").slice(0, TAIL_LINES + 20) : tail(text);
  if (excerpt.join("").trim()) {
    out.push(`  --- ${idx >= 0 ? "excerpt" : "last lines"} of ${path.relative(ROOT, log)} ---`);
    for (const l of excerpt) out.push(`  | ${l.length > 400 ? `${l.slice(0, 400)}…` : l}`);
    out.push("  ---");
  }
  console.log(out.join("\n"));
}

// ---------------------------------------------------------------------------------------------

async function preparePythonClient() {
  const started = Date.now();
  let result;
  try {
    const support = await import(pathToFileURL(path.join(ROOT, "dist", "tests", "_support", "python_client.js")).href);
    result = await support.ensurePythonClient();
  } catch (e) {
    result = { available: false, reason: `the installer could not run: ${e.message}` };
  }
  if (result.available) {
    childEnv.HUBCACHE_PYTHON_CLIENT = "ready";
    progress(`python client: huggingface_hub ready in .tmp/py (${secs(Date.now() - started)})`);
  } else {
    childEnv.HUBCACHE_PYTHON_CLIENT = `unavailable:${result.reason}`;
    console.log(`python client: NOT AVAILABLE (${result.reason}); the tests that need it will say they did not run`);
  }
}

async function main() {
  const { selected, filters, jobs } = parseArgs(process.argv.slice(2));
  fs.rmSync(LOG_DIR, { recursive: true, force: true });
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const t0 = Date.now();

  const runtimes = RUNTIMES.filter((r) => selected.has(r));
  const files = runtimes.length > 0 ? collectTestFiles(filters) : [];
  if (runtimes.length > 0 && files.length === 0) {
    console.error("test.mjs: no tests/**/*.test.ts files found");
  }

  const checks = {}; // name -> { ok, ms, log, why }

  // 1. Build. Everything after it needs dist/ or a type-correct tree, so this one fails fast.
  progress(`build: tsc -p tsconfig.json (log: ${REL_LOG_DIR}/build.log)`);
  checks.build = await runCheck("build", tool("tsc"), ["-p", "tsconfig.json"]);
  progress(`build: ${checks.build.ok ? "ok" : "FAILED"} in ${secs(checks.build.ms)}`);
  if (!checks.build.ok) {
    printFailureDetails("typecheck/build", [`tsc ${checks.build.why}`], checks.build.log);
    console.log("build failed: stopping before the runtimes and checks");
    console.log("checks: 0 passed, 1 failed");
    console.log("0 passed, 1 failed");
    process.exit(1);
  }

  // 2. The real Python client (interoperability tests), installed once into .tmp/py before the
  // runtimes rather than by whichever test file asks first. Where it cannot be installed, the
  // tests that need it say they did not run; they do not retry the install on every runtime.
  if (runtimes.length > 0 && files.length > 0) await preparePythonClient();

  // 3. Runtimes, `jobs` at a time; each reports in the fixed order node, deno, bun.
  childEnv.HUBCACHE_TEST_HOSTS = runtimes.join(",");
  const runners = { node: runNode, deno: runDeno, bun: runBun };
  const runOne = async (rt) => {
    progress(`${rt}: ${files.length} test file(s) (log: ${REL_LOG_DIR}/${rt}.log)`);
    const res = files.length > 0 ? await runners[rt](files) : { passed: 0, failed: 0, skipped: 0, failures: [], log: path.join(LOG_DIR, `${rt}.log`), ms: 0 };
    if (res.passed + res.failed === 0) addProblem(res, `${rt} ran zero tests`);
    progress(`${rt}: done in ${secs(res.ms ?? 0)}`);
    return res;
  };
  const pending = {};
  const lanes = Array.from({ length: Math.min(jobs, runtimes.length) }, () => Promise.resolve());
  runtimes.forEach((rt, i) => {
    const lane = i % lanes.length;
    pending[rt] = lanes[lane] = lanes[lane].then(() => runOne(rt));
  });
  const results = {};
  for (const rt of runtimes) {
    const res = (results[rt] = await pending[rt]);
    console.log(`${rt}: ${res.passed} passed, ${res.failed} failed`);
    if (res.skipped > 0) console.log(`  (${res.skipped} skipped/todo)`);
    if (res.failed > 0) printFailureDetails(rt, res.failures, res.log, { from: rt === "deno" ? /^\s*ERRORS\s*$/m : undefined });
  }

  // 4. Checks.
  if (selected.has("docs")) {
    // Every ts example in the JSDoc of the public entry points and the modules behind them
    // (internal modules carry none), and in the README.
    const sources = [...walk(path.join(ROOT, "src"), []).filter((p) => p.endsWith(".ts")), path.join(ROOT, "mod.ts"), path.join(ROOT, "README.md")];
    progress(`docs: deno check --doc-only on ${sources.length} files (log: ${REL_LOG_DIR}/docs.log)`);
    checks.docs = await runCheck("docs", tool("deno"), ["check", "--doc-only", ...sources.map((p) => path.relative(ROOT, p)).sort()]);
    progress(`docs: ${checks.docs.ok ? "ok" : "FAILED"} in ${secs(checks.docs.ms)}`);
  }
  if (selected.has("publish")) {
    progress(`publish: deno publish --dry-run (log: ${REL_LOG_DIR}/publish.log)`);
    checks.publish = await runCheck("publish", tool("deno"), ["publish", "--dry-run", "--allow-dirty"]);
    progress(`publish: ${checks.publish.ok ? "ok" : "FAILED"} in ${secs(checks.publish.ms)}`);
  }
  if (selected.has("browser")) {
    progress(`browser: esbuild --platform=browser (log: ${REL_LOG_DIR}/browser.log)`);
    checks.browser = await runCheck("browser", process.execPath, [path.join("scripts", "check_browser_bundle.mjs")]);
    progress(`browser: ${checks.browser.ok ? "ok" : "FAILED"} in ${secs(checks.browser.ms)}`);
  }
  if (selected.has("binary")) {
    progress(`binary: bun build --compile src/cli.ts + download from the emulator (log: ${REL_LOG_DIR}/binary.log)`);
    checks.binary = await runCheck("binary", process.execPath, [path.join("scripts", "check_compiled_binary.mjs")]);
    progress(`binary: ${checks.binary.ok ? "ok" : "FAILED"} in ${secs(checks.binary.ms)}`);
  }
  if (selected.has("package")) {
    progress(`package: npm pack, install into a fresh project, use from Node, Deno, Bun, npx, a compiled binary; the README's commands (log: ${REL_LOG_DIR}/package.log)`);
    checks.package = await runCheck("package", process.execPath, [path.join("scripts", "check_package.mjs")]);
    progress(`package: ${checks.package.ok ? "ok" : "FAILED"} in ${secs(checks.package.ms)}`);
  }
  let checksPassed = 0;
  let checksFailed = 0;
  for (const [name, c] of Object.entries(checks)) {
    if (c.ok) {
      checksPassed++;
      continue;
    }
    checksFailed++;
    // deno publish and deno check print their verdict (slow types, type errors) after a long
    // "Check" list.
    const from = name === "publish" || name === "docs" ? /^(TS\d+ \[ERROR\]|error|Error|warning)\b/m : undefined;
    printFailureDetails(CHECK_TITLES[name], [`${CHECK_TITLES[name]} ${c.why}`], c.log, { from });
  }
  console.log(`checks: ${checksPassed} passed, ${checksFailed} failed`);

  const passed = Object.values(results).reduce((s, r) => s + r.passed, 0) + checksPassed;
  const failed = Object.values(results).reduce((s, r) => s + r.failed, 0) + checksFailed;
  progress(`total time ${secs(Date.now() - t0)}; logs in ${REL_LOG_DIR}/`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

// Only as `node scripts/test.mjs`: a bare `deno test` would otherwise import this file as a test
// (it matches `test.mjs`) and start the pipeline inside itself, recursively.
const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain && !globalThis.Deno && !globalThis.Bun) {
  if (process.env.HUBCACHE_TEST_PIPELINE) {
    console.error("test.mjs: already running inside the test pipeline; refusing to recurse");
    process.exit(2);
  }
  await main();
}
