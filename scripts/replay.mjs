#!/usr/bin/env node
// Replays one seed of the deterministic simulation (torture part 5) step for step.
//
// Usage (after a build: npx tsc -p tsconfig.json):
//   node scripts/replay.mjs <seed>            the scenario, the outcome and every violation
//   node scripts/replay.mjs <seed> --trace    also every scheduled step (actor, operation, path)
//   node scripts/replay.mjs <seed> --tail 200 only the last 200 steps of the trace
//
// The same seed always makes the same interleaving: the printed digest must match the one of
// the run that found the problem. Exit status 1 when the seed shows a violation.

import * as path from "node:path";
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const seedArg = args.find((a) => /^\d+$/.test(a));
if (seedArg === undefined) {
  console.error("usage: node scripts/replay.mjs <seed> [--trace | --tail N]");
  process.exit(2);
}
const seed = Number(seedArg);
const tailAt = args.indexOf("--tail");
const tail = tailAt >= 0 ? Number(args[tailAt + 1] ?? 100) : args.includes("--trace") ? Infinity : 0;

const compiled = path.join(root, "dist", "tests", "torture", "simulation.js");
if (!existsSync(compiled)) {
  console.error(`replay: ${path.relative(process.cwd(), compiled)} is missing: build first (npx tsc -p tsconfig.json)`);
  process.exit(2);
}
const { runSimulationSeed } = await import(pathToFileURL(compiled).href);

const lines = [];
const result = await runSimulationSeed(seed, {
  trace: tail > 0 ? (line) => {
    lines.push(line);
    if (lines.length > tail + 1) lines.splice(1, 1); // keep the scenario line and the tail
  } : undefined,
});
if (lines.length > 0) console.log(lines.join("\n"));
console.log(`seed ${seed}: ${result.scenario}`);
console.log(
  `${result.steps} steps, ${result.kills} kill(s), ${result.fsFaults} file-system fault(s), ${result.netFaults} network fault(s), ` +
    `downloads ${result.downloads.ok} ok / ${result.downloads.failed} typed errors, digest ${result.digest}`,
);
for (const n of result.notes) console.log(`note: ${n}`);
if (result.violations.length === 0) {
  console.log("no violation");
} else {
  for (const v of result.violations) console.log(`VIOLATION ${v}`);
  process.exitCode = 1;
}
