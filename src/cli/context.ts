/**
 * What a CLI command needs from its surroundings, so commands are testable in-process
 * and identical on every runtime.
 *
 * @module
 */

import type { Runtime } from "../core/ports.ts";

/** The streams and runtime a command runs with. */
export interface CliContext {
  /** The adapter the command runs with; tests pass the memory runtime. */
  readonly runtime: Runtime;
  /** Write one line (no trailing newline needed) to stdout: only results go here. */
  stdout(line: string): void;
  /** Write text to stderr as is (progress redraws use `\r`). */
  stderr(text: string): void;
  /** Whether stderr is a terminal: progress bars only then. */
  readonly stderrIsTTY: boolean;
  /** The terminal's width in columns, when stderr is one (progress lines are cut to fit). */
  readonly stderrColumns?: number;
  /** Abort on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** Ask the person at the terminal a yes/no question; absent when stdin is not a terminal. */
  confirm?(question: string): Promise<boolean>;
  /** How long a download may receive nothing before its connection counts as dropped (default 60 s). */
  readonly idleTimeoutMs?: number;
}

/** A command: returns the process exit code. */
export type CliCommand = (argv: string[], ctx: CliContext) => Promise<number>;
