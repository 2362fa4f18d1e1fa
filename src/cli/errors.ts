/**
 * The one way the CLI reports a failure: every command's errors reach {@link reportError} (the
 * commands throw, `runCli` catches), which writes one line on stderr,
 * `hubcache: <Code>: <what happened and what to do>`, and picks the exit code.
 *
 * @module
 */

import { HubcacheError } from "../core/errors.ts";
import { FsError } from "../core/ports.ts";
import type { CliContext } from "./context.ts";

/**
 * Exit codes: 0 ok, 1 failure, 2 usage error, 130 interrupted (128 + SIGINT, as shells report
 * it, so scripts can tell a Ctrl-C from a failure).
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/**
 * A command's own failure that no library error names — `cache rm` that may not ask for
 * confirmation — reported like the others: `hubcache: <code>: <message>`, exit 1.
 */
export class CliError extends Error {
  /** Stable, like a {@link HubcacheError}'s code. */
  readonly code: string;
  /** `message` says what to do next. */
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = "CliError";
  }
}

/**
 * Write the one stderr line for `err` and return the exit code: `Aborted` → 130, `InvalidInput`
 * → 2, any other {@link HubcacheError} or {@link FsError} → 1 (a file-system error also says
 * what to do about it, with the runtime's own words), anything else → 1 with its stack.
 */
export function reportError(err: unknown, ctx: CliContext): number {
  if (err instanceof CliError) {
    ctx.stderr(`hubcache: ${err.code}: ${err.message}\n`);
    return EXIT.failure;
  }
  if (err instanceof HubcacheError) {
    ctx.stderr(`hubcache: ${err.code}: ${err.message}\n`);
    if (err.code === "Aborted") return EXIT.interrupted;
    return err.code === "InvalidInput" ? EXIT.usage : EXIT.failure;
  }
  if (err instanceof FsError) {
    const hint = err.code === "ENOSPC"
      ? "the disk is full; free space and run again (the partial download was kept)"
      : err.rawCode === "NotCapable" || err.rawCode === "PermissionDenied"
      ? "Deno's permissions do not allow this; run deno with -A (or the --allow-… flag Deno names below)"
      : err.code === "EACCES" || err.code === "EPERM"
      ? "permission denied; check the cache directory's permissions or pass --cache-dir"
      : err.code === "ESTALE"
      ? "a file changed under us on a network file system (stale file handle) and kept changing while we retried; run again"
      : err.code === "ENOTDIR"
      ? "a path that must be a folder is a file; check --cache-dir and what is inside the cache"
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
