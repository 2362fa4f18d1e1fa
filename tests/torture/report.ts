/**
 * The shape every torture part reports in, and the writer of `RELIABILITY.md`.
 *
 * Every part (`tests/torture/*.ts`) exports `run…(options): Promise<PartReport>`; the short test
 * suite asserts `violations.length === 0`, and `scripts/torture.mjs` runs the long versions and
 * hands all reports to {@link writeReliabilityReport}.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import { join } from "node:path";

/** One broken guarantee found by a torture part. */
export interface Violation {
  /** The round (0-based) in which it was seen. */
  round: number;
  /** What broke, precisely enough to recognise it again. */
  detail: string;
  /** A shell command that replays exactly this round (seed included), when one exists. */
  replay?: string;
}

/** What one torture part did and found. Counters a part does not use stay undefined. */
export interface PartReport {
  /** Stable short id: "process-races", "crashes", "network-faults", "fs-faults", "simulation", "fuzz". */
  part: string;
  /** Human title for the report. */
  title: string;
  rounds: number;
  /** Real OS processes started. */
  processes?: number;
  /** Processes (or simulated processes) killed on purpose. */
  kills?: number;
  /** Faults injected (network or file system). */
  faults?: number;
  /** Distinct seeds run (simulation). */
  seeds?: number;
  /** Generated inputs tried (fuzzing). */
  inputs?: number;
  /** Runtimes exercised: "node", "deno", "bun", "memory". */
  runtimes?: string[];
  durationMs: number;
  violations: Violation[];
  /** Free-form remarks: what was skipped and why, environment limits, counters. */
  notes?: string[];
}

/** Options shared by all parts. Parts may take more; these are the ones the script passes. */
export interface PartOptions {
  /** "short" for `npm test`, "long" for `npm run torture`. */
  mode: "short" | "long";
  /** Base seed; each round derives its own from it. */
  seed?: number;
  /** Overrides the number of rounds the mode implies. */
  rounds?: number;
  /** Run only this round (0-based; a replay of a violation). The round's seed derives from `seed`. */
  onlyRound?: number;
  /**
   * Run only the rounds `r` with `r % share.of === share.index`: how `npm test` divides rounds
   * whose coverage does not depend on the host runtime among its host runtimes.
   */
  share?: HostShare;
  /** Stop starting new rounds after this many ms (rounds in flight finish). */
  budgetMs?: number;
  /** Progress lines (the torture script prints them; tests leave it undefined). */
  log?: (line: string) => void;
}

/** One host's part of a set of rounds: every `of`-th round, starting at `index`. */
export interface HostShare {
  /** This host's position among the hosts, 0-based. */
  readonly index: number;
  /** How many hosts divide the rounds. */
  readonly of: number;
}

/** The rounds to run out of `count`: the one being replayed, or this host's share, or all. */
export function roundsToRun(options: Pick<PartOptions, "onlyRound" | "share">, count: number): number[] {
  if (options.onlyRound !== undefined) return [options.onlyRound];
  const all = Array.from({ length: count }, (_, i) => i);
  const share = options.share;
  return share === undefined ? all : all.filter((round) => round % share.of === share.index);
}

/** A report for a part that could not run (module absent, environment missing). */
export function notRunReport(part: string, title: string, reason: string): PartReport {
  return { part, title, rounds: 0, durationMs: 0, violations: [], notes: [`not run: ${reason}`] };
}

/** Total violations over all reports. */
export function countViolations(parts: PartReport[]): number {
  return parts.reduce((n, p) => n + p.violations.length, 0);
}

function toolVersion(cmd: string, args: string[], cwd?: string): string {
  try {
    const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000, ...(cwd ? { cwd } : {}) });
    const line = (r.stdout || r.stderr || "").split("\n")[0]?.trim();
    return line || "unavailable";
  } catch {
    return "unavailable";
  }
}

function findRoot(): string {
  let dir = process.cwd();
  for (;;) {
    if (fs.existsSync(join(dir, "package.json"))) return dir;
    const up = join(dir, "..");
    if (up === dir || fs.realpathSync(up) === fs.realpathSync(dir)) return process.cwd();
    dir = up;
  }
}

/** The machine and runtime versions, as markdown list lines. */
export function environmentLines(): string[] {
  const root = findRoot();
  const bin = (n: string) => join(root, "node_modules", ".bin", n);
  const cpus = os.cpus();
  return [
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${os.type()} ${os.release()} ${os.arch()}, ${cpus.length} CPU(s) (${cpus[0]?.model?.trim() ?? "unknown"}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `- Temp dir: ${os.tmpdir()}`,
    `- Code: ${toolVersion("git", ["describe", "--always", "--dirty", "--abbrev=12"], root)} (git describe; "-dirty" = uncommitted changes were tested too)`,
    `- Node: ${process.version}`,
    `- Deno: ${toolVersion(bin("deno"), ["--version"])}`,
    `- Bun: ${toolVersion(bin("bun"), ["--version"])}`,
  ];
}

/** True for a report made by {@link notRunReport}. */
export function wasNotRun(p: PartReport): boolean {
  return p.rounds === 0 && p.violations.length === 0 && (p.notes ?? []).some((n) => n.startsWith("not run"));
}

function violationsCell(p: PartReport): string {
  return wasNotRun(p) ? "not run" : String(p.violations.length);
}

function cell(v: number | undefined): string {
  return v === undefined ? "–" : String(v);
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** Render the reports as markdown (what {@link writeReliabilityReport} writes). */
export function renderReliabilityReport(parts: PartReport[], extraNotes: string[] = []): string {
  const total = countViolations(parts);
  const out: string[] = [];
  out.push("# hubcache reliability report", "");
  out.push("Generated by `npm run torture` (`scripts/torture.mjs`). Do not edit by hand.", "");
  out.push(...environmentLines(), "");
  const notRun = parts.filter(wasNotRun).map((p) => p.part);
  out.push(`**Result: ${total === 0 ? "no violations" : `${total} violation(s)`}**${notRun.length ? ` (not run: ${notRun.join(", ")})` : ""}`, "");
  out.push("## Summary", "");
  out.push("| Part | Rounds | Processes | Kills | Faults | Seeds | Inputs | Runtimes | Duration | Violations |");
  out.push("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|");
  for (const p of parts) {
    out.push(
      `| ${escapeCell(p.title)} (\`${p.part}\`) | ${p.rounds} | ${cell(p.processes)} | ${cell(p.kills)} | ${cell(p.faults)} | ${cell(p.seeds)} | ${cell(p.inputs)} | ${p.runtimes?.join(", ") ?? "–"} | ${(p.durationMs / 1000).toFixed(1)} s | ${violationsCell(p)} |`,
    );
  }
  out.push("");
  for (const p of parts) {
    out.push(`## ${p.title}`, "");
    out.push("| Rounds | Processes | Kills | Faults | Seeds | Inputs | Violations |");
    out.push("|---:|---:|---:|---:|---:|---:|---:|");
    out.push(`| ${p.rounds} | ${cell(p.processes)} | ${cell(p.kills)} | ${cell(p.faults)} | ${cell(p.seeds)} | ${cell(p.inputs)} | ${violationsCell(p)} |`);
    out.push("");
    if (p.runtimes && p.runtimes.length > 0) out.push(`Runtimes: ${p.runtimes.join(", ")}. Duration: ${(p.durationMs / 1000).toFixed(1)} s.`, "");
    if (p.notes && p.notes.length > 0) {
      out.push("Notes:", "");
      for (const n of p.notes) out.push(`- ${n}`);
      out.push("");
    }
    if (p.violations.length > 0) {
      out.push("Violations:", "");
      for (const v of p.violations) {
        out.push(`- round ${v.round}: ${v.detail.replace(/\n/g, " ")}`);
        if (v.replay) out.push(`  - replay: \`${v.replay}\``);
      }
      out.push("");
    }
  }
  if (extraNotes.length > 0) {
    out.push("## Notes", "");
    for (const n of extraNotes) out.push(`- ${n}`);
    out.push("");
  }
  return out.join("\n");
}

/**
 * Write `RELIABILITY.md`: environment, one table per part, every violation with its replay command.
 *
 * @example
 * ```ts
 * writeReliabilityReport([await runProcessRaces({ mode: "long" })], "RELIABILITY.md");
 * ```
 */
export function writeReliabilityReport(parts: PartReport[], path: string, extraNotes: string[] = []): void {
  fs.writeFileSync(path, renderReliabilityReport(parts, extraNotes));
}
