/**
 * Running a command in a real terminal: a private tmux server (its own socket, so nothing of
 * the user's tmux is touched) with one window of a fixed size, read back with `capture-pane`.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";

/** What the terminal showed. */
export interface TerminalRun {
  /** The screen and its scrollback, one entry per line, trailing blank lines dropped. */
  readonly lines: string[];
  /** The command's exit status. */
  readonly code: number;
  /** Whether `during` returned true before the command exited. */
  readonly seen: boolean;
}

function tmux(socket: string, args: string[], env: Record<string, string | undefined>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("tmux", ["-L", socket, ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tmux ${args[0]} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Run `command` in an 80×24 (or `size`) terminal with `env` added, wait until it exits, and
 * return what the terminal shows. `join` reads lines the terminal wrapped as one (so a long path
 * comes back whole, and a progress line that wrapped shows up as one over-long line).
 * `during` is called with the screen while the command runs, every 100 ms, until it returns
 * true. Fails, with the reason, when tmux is missing.
 *
 * @example
 * ```ts
 * const { lines, code } = await runInTerminal(["node", "dist/src/cli.js", "--version"], {});
 * ```
 */
export async function runInTerminal(
  command: readonly string[],
  env: Record<string, string>,
  options: { columns?: number; rows?: number; timeoutMs?: number; during?: (lines: string[]) => boolean } = {},
): Promise<TerminalRun> {
  const socket = `hubcache-test-${process.pid}-${randomBytes(4).toString("hex")}`;
  const fullEnv = { ...process.env, ...env, TERM: "xterm-256color" };
  delete (fullEnv as Record<string, string | undefined>).TMUX;
  const marker = "[hubcache-test exit ";
  const script = `${command.map(quote).join(" ")}; echo "${marker}$?]"; sleep 600`;
  try {
    await tmux(socket, ["-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", String(options.columns ?? 80), "-y", String(options.rows ?? 24), script], fullEnv);
  } catch (e) {
    throw new Error(`cannot start a terminal with tmux (Debian: apt-get install tmux; .ci/run installs it): ${(e as Error).message}`);
  }
  try {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let watching = options.during !== undefined;
    for (;;) {
      const screen = (await tmux(socket, ["capture-pane", "-p", "-J", "-S", "-", "-t", "t"], fullEnv)).split("\n");
      const exit = screen.findIndex((l) => l.startsWith(marker));
      if (watching && exit < 0 && options.during!(screen)) watching = false;
      if (exit >= 0) {
        const lines = screen.slice(0, exit);
        while (lines.length > 0 && lines[lines.length - 1].trim() === "") lines.pop();
        const code = Number(screen[exit].slice(marker.length, -1));
        return { lines: lines.map((l) => l.replace(/\s+$/, "")), code, seen: options.during !== undefined && !watching };
      }
      if (Date.now() > deadline) throw new Error(`the command did not finish in the terminal; it shows:\n${screen.join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await tmux(socket, ["kill-server"], fullEnv).catch(() => {});
  }
}
