/**
 * Running the real `hubcache` CLI as a child process on Node, Deno or Bun.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The three runtimes. */
export type RuntimeName = "node" | "deno" | "bun";
/** All of them, for cross-runtime races. */
export const RUNTIMES: readonly RuntimeName[] = ["node", "deno", "bun"];

/** The repository root (works from `tests/_support` and from `dist/tests/_support`). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("package.json not found above " + import.meta.url);
    dir = up;
  }
  return dir;
}

/**
 * The command line that runs the CLI on `runtime`: `node dist/src/cli.js` (built by
 * `npm test`), `deno run -A src/cli.ts`, `bun src/cli.ts`.
 *
 * @example
 * ```ts
 * const [cmd, ...args] = cliCommand("deno");
 * ```
 */
export function cliCommand(runtime: RuntimeName): string[] {
  const root = repoRoot();
  switch (runtime) {
    case "node":
      return ["node", join(root, "dist", "src", "cli.js")];
    case "deno":
      return [join(root, "node_modules", ".bin", "deno"), "run", "-A", "--quiet", join(root, "src", "cli.ts")];
    case "bun":
      return [join(root, "node_modules", ".bin", "bun"), join(root, "src", "cli.ts")];
  }
}

/**
 * The command line that runs `tests/_support/library_download.ts` (hubcache used as a library
 * by an application) on `runtime`.
 *
 * @example
 * ```ts
 * const [cmd, ...args] = libraryCommand("bun");
 * ```
 */
export function libraryCommand(runtime: RuntimeName): string[] {
  const root = repoRoot();
  switch (runtime) {
    case "node":
      return ["node", join(root, "dist", "tests", "_support", "library_download.js")];
    case "deno":
      return [join(root, "node_modules", ".bin", "deno"), "run", "-A", "--quiet", join(root, "tests", "_support", "library_download.ts")];
    case "bun":
      return [join(root, "node_modules", ".bin", "bun"), join(root, "tests", "_support", "library_download.ts")];
  }
}

/**
 * Start the CLI as a child process.
 *
 * @example
 * ```ts
 * const child = spawnCli("bun", ["download", "org/x", "a.bin", "--quiet"], { HF_HUB_CACHE: dir });
 * ```
 */
export function spawnCli(runtime: RuntimeName, args: string[], env: Record<string, string> = {}, command: string[] = cliCommand(runtime)): ChildProcess {
  const [cmd, ...pre] = command;
  const cleanEnv = { ...process.env };
  delete cleanEnv.HF_TOKEN;
  delete cleanEnv.HF_HUB_OFFLINE;
  delete cleanEnv.HF_HUB_DISABLE_SYMLINKS;
  return spawn(cmd, [...pre, ...args], { env: { ...cleanEnv, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

/** What a finished CLI run produced. */
export interface CliRun {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Collect a child's output and wait for it to exit.
 *
 * @example
 * ```ts
 * const run = await finished(spawnCli("node", ["--version"]));
 * ```
 */
export function finished(child: ChildProcess, timeoutMs = 120_000): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`CLI timed out after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Run the CLI to completion.
 *
 * @example
 * ```ts
 * const { code, stdout } = await runCliProcess("deno", ["download", "org/x", "a.json", "--endpoint", hub.endpoint]);
 * ```
 */
export function runCliProcess(runtime: RuntimeName, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return finished(spawnCli(runtime, args, env));
}
