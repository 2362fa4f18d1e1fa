/**
 * Running CLI commands in-process with captured output.
 *
 * @module
 */

import type { CliContext } from "../../src/cli/context.ts";
import type { Runtime } from "../../src/core/ports.ts";

/** A CLI context whose stdout lines and stderr text are kept for assertions. */
export interface Captured {
  readonly ctx: CliContext;
  /** stdout, one entry per line written. */
  readonly out: string[];
  /** stderr, one entry per write. */
  readonly err: string[];
  /** All of stderr as one string. */
  errText(): string;
}

/**
 * A CLI context for `runtime` that records what a command prints.
 *
 * @example
 * ```ts
 * const c = captureCli(testRuntime(), { tty: true });
 * await runCli(["download", "org/x", "a.json"], c.ctx);
 * c.out; // ["/cache/models--org--x/snapshots/…/a.json"]
 * ```
 */
export function captureCli(runtime: Runtime, options: { tty?: boolean; confirm?: (q: string) => Promise<boolean> } = {}): Captured {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    errText: () => err.join(""),
    ctx: {
      runtime,
      stdout: (line: string) => out.push(line),
      stderr: (text: string) => err.push(text),
      stderrIsTTY: options.tty ?? false,
      signal: new AbortController().signal,
      ...(options.confirm ? { confirm: options.confirm } : {}),
    },
  };
}

/** Whether anything (even a dangling symlink) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  const { lstat } = await import("node:fs/promises");
  return lstat(path).then(() => true, () => false);
}
