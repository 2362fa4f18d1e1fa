#!/usr/bin/env node
// `npm run torture`: the long torture run. Builds with tsc, imports the compiled parts from
// dist/tests/torture/*.js, runs them one after another with long settings, and writes
// RELIABILITY.md at the repository root. Exits 1 if any part found a violation (or crashed).
//
// Usage:
//   node scripts/torture.mjs                                   every part, long, RELIABILITY.md
//   node scripts/torture.mjs --part crashes,network-faults     some parts (report to .tmp/)
//   node scripts/torture.mjs --part crashes --seed 7 --round 12   replay one round of a violation
//   node scripts/torture.mjs --mode short                      the short settings (what npm test runs)
//   node scripts/torture.mjs --budget-min 25                   total wall-time budget (default 25)
//   node scripts/torture.mjs --out path.md                     where to write the report
//   node scripts/torture.mjs --no-build                        use dist/ as it is
//
// Parts: process-races, two-hosts, crashes, network-faults, local-dirs (tests/torture/{process_races,
// two_hosts,crashes,network_faults,local_dirs}.ts), fs-faults, simulation, fuzz
// (tests/torture/{fs_faults,simulation,fuzz}.ts).
// A part whose module is absent or exports no runner is reported as "not run", never a crash.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DIST = path.join(ROOT, "dist", "tests", "torture");

// Share of the total budget each part may use (parts stop starting rounds when it is spent).
const PARTS = [
  { id: "process-races", title: "Process races (real CLI processes on one cache)", module: "process_races.js", runner: "runProcessRaces", share: 0.14 },
  { id: "two-hosts", title: "Two hosts on a GlusterFS volume (two FUSE mounts)", module: "two_hosts.js", runner: "runTwoHostRaces", share: 0.08 },
  { id: "crashes", title: "Crashes (SIGKILL at named checkpoints and random instants)", module: "crashes.js", runner: "runCrashes", share: 0.26 },
  { id: "network-faults", title: "Network faults (every emulator fault × runtime × partial)", module: "network_faults.js", runner: "runNetworkFaults", share: 0.16 },
  { id: "local-dirs", title: "Local directories (--local-dir races, kills, Python leftovers)", module: "local_dirs.js", runner: "runLocalDirs", share: 0.06 },
  { id: "fs-faults", title: "File-system faults (memory adapter)", module: "fs_faults.js", runner: "runFsFaults", share: 0.1 },
  { id: "simulation", title: "Deterministic simulation", module: "simulation.js", runner: "runSimulation", share: 0.1 },
  { id: "fuzz", title: "Fuzzing", module: "fuzz.js", runner: "runFuzz", share: 0.1 },
];

function usage(message) {
  if (message) console.error(`torture.mjs: ${message}`);
  console.error("usage: node scripts/torture.mjs [--part id[,id]] [--mode long|short] [--seed N] [--round N] [--budget-min M] [--out FILE] [--no-build]");
  console.error(`parts: ${PARTS.map((p) => p.id).join(", ")}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { parts: null, mode: "long", seed: undefined, round: undefined, budgetMin: 25, out: undefined, build: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === "--part" || a === "--parts") opts.parts = value().split(",").map((s) => s.trim()).filter(Boolean);
    else if (a === "--mode") opts.mode = value();
    else if (a === "--seed") opts.seed = Number(value());
    else if (a === "--round") opts.round = Number(value());
    else if (a === "--budget-min") opts.budgetMin = Number(value());
    else if (a === "--out") opts.out = value();
    else if (a === "--no-build") opts.build = false;
    else if (a === "-h" || a === "--help") usage();
    else usage(`unknown argument ${a}`);
  }
  if (opts.mode !== "long" && opts.mode !== "short") usage("--mode must be long or short");
  if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) usage("--seed must be an integer");
  if (opts.round !== undefined && !(Number.isSafeInteger(opts.round) && opts.round >= 0)) usage("--round must be a non-negative integer");
  if (!(opts.budgetMin > 0)) usage("--budget-min must be positive");
  for (const p of opts.parts ?? []) if (!PARTS.some((x) => x.id === p)) usage(`unknown part '${p}'`);
  if (opts.round !== undefined && (opts.parts?.length !== 1 || opts.seed === undefined)) usage("--round needs exactly one --part and a --seed");
  return opts;
}

const log = (line) => console.error(line);

async function loadRunner(part) {
  const file = path.join(DIST, part.module);
  if (!fs.existsSync(file)) return { reason: `tests/torture/${part.module.replace(/\.js$/, ".ts")} does not exist yet` };
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    return { reason: `could not load ${path.relative(ROOT, file)}: ${err?.message ?? err}` };
  }
  if (typeof mod[part.runner] === "function") return { run: mod[part.runner] };
  // The other parts' runners are named run…(options); take the only one if the name differs.
  const runners = Object.entries(mod).filter(([name, v]) => typeof v === "function" && /^run[A-Z]/.test(name));
  if (part.module !== "process_races.js" && runners.length === 1) return { run: runners[0][1] };
  return { reason: `${path.relative(ROOT, file)} exports no ${part.runner}(options) (found: ${runners.map(([n]) => n).join(", ") || "none"})` };
}

function isReport(r) {
  return r && typeof r === "object" && typeof r.part === "string" && Array.isArray(r.violations) && typeof r.rounds === "number";
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  if (opts.build) {
    log("[torture] build: tsc -p tsconfig.json");
    const tsc = path.join(ROOT, "node_modules", ".bin", "tsc");
    const r = spawnSync(tsc, ["-p", "tsconfig.json"], { cwd: ROOT, stdio: "inherit" });
    if (r.status !== 0) {
      console.error("torture.mjs: the build failed");
      process.exit(1);
    }
  }
  const reportModule = path.join(DIST, "report.js");
  if (!fs.existsSync(reportModule)) {
    console.error(`torture.mjs: ${path.relative(ROOT, reportModule)} is missing (did the build run?)`);
    process.exit(1);
  }
  const { writeReliabilityReport, notRunReport, countViolations } = await import(pathToFileURL(reportModule).href);

  const selected = opts.parts ? PARTS.filter((p) => opts.parts.includes(p.id)) : PARTS;
  const budgetMs = opts.budgetMin * 60_000;
  // In-memory parts first: time they leave unused goes to the process-level parts after them.
  const order = [...selected].sort((a, b) => Number(a.module !== "fs_faults.js" && a.module !== "simulation.js" && a.module !== "fuzz.js") -
    Number(b.module !== "fs_faults.js" && b.module !== "simulation.js" && b.module !== "fuzz.js"));
  const reports = [];
  for (const [index, part] of order.entries()) {
    const { run, reason } = await loadRunner(part);
    if (!run) {
      log(`[torture] ${part.id}: not run — ${reason}`);
      reports.push(notRunReport(part.id, part.title, reason));
      continue;
    }
    const remainingShare = order.slice(index).reduce((s, p) => s + p.share, 0);
    const partBudget = Math.max(60_000, Math.round(((budgetMs - (Date.now() - t0)) * part.share) / remainingShare));
    const options = { mode: opts.mode, seed: opts.seed, budgetMs: opts.round === undefined ? partBudget : undefined, log };
    if (opts.round !== undefined) options.onlyRound = opts.round;
    log(`[torture] ${part.id}: start (${opts.mode}${opts.seed !== undefined ? `, seed ${opts.seed}` : ""}, budget ${Math.round(partBudget / 1000)} s)`);
    const started = Date.now();
    try {
      const report = await run(options);
      if (!isReport(report)) throw new Error(`${part.runner} returned something that is not a PartReport`);
      reports.push(report);
      log(`[torture] ${part.id}: ${report.rounds} rounds, ${report.violations.length} violation(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      log(`[torture] ${part.id}: crashed: ${err?.stack ?? err}`);
      reports.push({
        part: part.id,
        title: part.title,
        rounds: 0,
        durationMs: Date.now() - started,
        violations: [{ round: -1, detail: `the part itself crashed: ${String(err?.stack ?? err).split("\n").slice(0, 6).join(" | ")}` }],
        notes: ["the part's harness threw; see the violation"],
      });
    }
  }

  for (const part of PARTS) {
    if (!selected.includes(part)) reports.push(notRunReport(part.id, part.title, `not selected in this run (--part ${opts.parts.join(",")})`));
  }
  reports.sort((a, b) => PARTS.findIndex((p) => p.id === a.part) - PARTS.findIndex((p) => p.id === b.part));
  const full = !opts.parts && opts.round === undefined && opts.mode === "long";
  const out = opts.out ? path.resolve(opts.out) : full ? path.join(ROOT, "RELIABILITY.md") : path.join(ROOT, ".tmp", "torture-report.md");
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const extra = [
    `Command: \`node scripts/torture.mjs ${process.argv.slice(2).join(" ")}\`; total wall time ${((Date.now() - t0) / 60_000).toFixed(1)} min.`,
    "Replaying a round reproduces its scenario (files, sizes, runtimes, kill times, faults) from the seed; process scheduling on a loaded machine is not reproducible.",
  ];
  writeReliabilityReport(reports, out, extra);
  const violations = countViolations(reports);
  console.log(`torture: ${reports.map((r) => `${r.part} ${r.rounds} rounds/${r.violations.length} violations`).join("; ")}`);
  console.log(`report: ${path.relative(ROOT, out)}`);
  console.log(violations === 0 ? "torture: no violations" : `torture: ${violations} violation(s)`);
  process.exit(violations === 0 ? 0 : 1);
}

await main();
