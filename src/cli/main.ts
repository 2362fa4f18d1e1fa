/**
 * The `hubcache` command: dispatch, help, and turning errors into one clear line.
 *
 * @module
 */

import { VERSION } from "../core/version.ts";
import { HubcacheError } from "../core/errors.ts";
import { FsError } from "../core/ports.ts";
import type { CliContext } from "./context.ts";
import { downloadCommand } from "./download_command.ts";
import { cacheCommand } from "./cache_commands.ts";

/**
 * Top-level usage, printed for `--help` and (on stdout, exit 2) when no command is given.
 *
 * @example
 * ```ts
 * ctx.stdout(USAGE);
 * ```
 */
export const USAGE = `hubcache ${VERSION} — Hugging Face Hub downloads into the shared cache, safe under concurrency

Usage:
  hubcache download <repo_id> <file>... [options]   download files; prints their snapshot paths
  hubcache download <repo_id> [options]             download a whole repo; prints the snapshot folder
  hubcache cache ls [--json] [--revisions]          list cached repos
  hubcache cache rm <repo_id|commit>... [-y]        remove revisions and the blobs only they use
  hubcache cache prune [--older-than DURATION]      remove dead writers' temp files and detached revisions
  hubcache cache verify <repo_id> [--revision R]    re-hash cached files against their content hashes
  hubcache --version | --help

Run 'hubcache <command> --help' for a command's options.`;

/**
 * Exit codes: 0 ok, 1 failure, 2 usage error, 130 interrupted (128 + SIGINT, as shells report
 * it, so scripts can tell a Ctrl-C from a failure).
 *
 * @example
 * ```ts
 * const code = await runCli(["download", "gpt2", "config.json"], ctx);
 * if (code === EXIT.usage) console.error("bad arguments");
 * ```
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/**
 * Run the CLI with `argv` (without the program name) and return the exit code.
 *
 * @example
 * ```ts
 * const code = await runCli(["download", "gpt2", "config.json"], ctx);
 * ```
 */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "download":
        return await downloadCommand(rest, ctx);
      case "cache":
        return await cacheCommand(rest, ctx);
      case "--version":
      case "-V":
        ctx.stdout(VERSION);
        return EXIT.ok;
      case undefined:
      case "--help":
      case "-h":
      case "help":
        ctx.stdout(USAGE);
        return command === undefined ? EXIT.usage : EXIT.ok;
      default:
        ctx.stderr(`hubcache: unknown command '${command}'. Run 'hubcache --help'.\n`);
        return EXIT.usage;
    }
  } catch (err) {
    return reportError(err, ctx);
  }
}

function reportError(err: unknown, ctx: CliContext): number {
  if (err instanceof HubcacheError) {
    ctx.stderr(`hubcache: ${err.code}: ${err.message}\n`);
    if (err.code === "Aborted") return EXIT.interrupted;
    return err.code === "InvalidInput" ? EXIT.usage : EXIT.failure;
  }
  if (err instanceof FsError) {
    const hint = err.code === "ENOSPC"
      ? "the disk is full; free space and run again (the partial download was kept)"
      : err.code === "EACCES" || err.code === "EPERM"
      ? "permission denied; check the cache directory's permissions or pass --cache-dir"
      : err.code === "ESTALE"
      ? "a file changed under us on a network file system (stale file handle) and kept changing while we retried; run again"
      : "a file-system operation failed";
    // The runtime's own words too: a code we could not name ("UNKNOWN", "Unknown system error
    // -116") is only diagnosable with them.
    const said = err.rawMessage !== undefined ? `: ${err.rawMessage}` : "";
    ctx.stderr(`hubcache: ${err.code}: ${hint} (${err.syscall} ${err.path}${said})\n`);
    return EXIT.failure;
  }
  ctx.stderr(`hubcache: unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  return EXIT.failure;
}
