/**
 * The `hubcache` command: dispatch, help, and turning errors into one clear line.
 *
 * @module
 */

import { VERSION } from "../core/version.ts";
import { InvalidInputError } from "../core/errors.ts";
import type { CliContext } from "./context.ts";
import { EXIT, reportError } from "./errors.ts";
import { downloadCommand } from "./download_command.ts";
import { cacheCommand } from "./cache_commands.ts";

/** Top-level usage, printed for `--help` and (on stdout, exit 2) when no command is given. */
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

/** Run the CLI with `argv` (without the program name) and return the exit code. */
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
        throw new InvalidInputError(`unknown command '${command}' (run 'hubcache --help')`);
    }
  } catch (err) {
    return reportError(err, ctx);
  }
}
