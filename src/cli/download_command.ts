/**
 * `hubcache download <repo_id> <file>...`: files into the cache, one snapshot path per
 * line on stdout in argument order, nothing else on stdout.
 *
 * @module
 */

import { downloadFile } from "../core/download/download.ts";
import { InvalidInputError } from "../core/errors.ts";
import type { DownloadFileOptions, DownloadProgress } from "../core/options.ts";
import { validateRepoType } from "../core/cache/validate.ts";
import { booleanFlag, type ParsedArgs, parseFlags, stringFlag, type FlagSpec } from "./args.ts";
import type { CliCommand, CliContext } from "./context.ts";
import { envFlag } from "../core/environment.ts";
import { fileLine, formatSize, progressDisplay, type ProgressDisplay, rateMeter } from "./progress.ts";
import { snapshotCommand } from "./snapshot_command.ts";

/**
 * Flags every command that talks to the Hub accepts, so `download` of a file and of a whole
 * repo agree on spelling.
 */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  revision: { type: "string" },
  "repo-type": { type: "string" },
  "cache-dir": { type: "string" },
  endpoint: { type: "string" },
  token: { type: "string" },
  offline: { type: "boolean" },
  force: { type: "boolean" },
  "no-symlinks": { type: "boolean" },
  lock: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
};

/** Usage text of `hubcache download`. */
export const DOWNLOAD_USAGE = `Usage: hubcache download <repo_id> [<file>...] [options]

Download files (or, with no <file>, the whole repo) into the Hugging Face Hub cache.
Prints each file's snapshot path (or the snapshot folder) on stdout, one per line.

Options:
  --revision R            branch, tag, commit or refs/pr/N (default: main)
  --repo-type T           model | dataset | space (default: model)
  --cache-dir D           cache root (default: HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub)
  --endpoint URL          Hub URL (default: HF_ENDPOINT or https://huggingface.co)
  --token T               access token (default: HF_TOKEN, else the token hf auth login saved)
  --offline               use only the cache (HF_HUB_OFFLINE=1)
  --force                 download again even if cached
  --no-symlinks           store files in the snapshot instead of symlinking blobs
  --lock auto|none        de-duplication lock between processes (default: auto)
  --include GLOB          (whole repo) only files matching; repeatable
  --exclude GLOB          (whole repo) skip files matching; repeatable
  --concurrency N         (whole repo) parallel downloads (default: 8)
  -q, --quiet             no progress output
`;

/**
 * The options shared by file and snapshot downloads, from parsed flags. `cacheDir` must
 * already be absolute (the entry point resolves it against the working directory). Warnings
 * go through `print`, so a progress display can move its bars out of their way.
 */
export function commonOptions(args: ParsedArgs, ctx: CliContext, print: (text: string) => void = ctx.stderr): Omit<DownloadFileOptions, "path" | "repo"> {
  const lock = stringFlag(args, "lock") ?? "auto";
  if (lock !== "auto" && lock !== "none") throw new InvalidInputError(`--lock must be 'auto' or 'none', got '${lock}'`);
  return {
    revision: stringFlag(args, "revision"),
    repoType: validateRepoType(stringFlag(args, "repo-type") ?? "model"),
    cacheDir: stringFlag(args, "cache-dir"),
    endpoint: stringFlag(args, "endpoint"),
    token: stringFlag(args, "token"),
    offline: booleanFlag(args, "offline") || undefined,
    forceDownload: booleanFlag(args, "force"),
    symlinks: booleanFlag(args, "no-symlinks") ? "never" : "auto",
    lock,
    signal: ctx.signal,
    // Even with --quiet: something else touched the cache, and the user should know what.
    onWarning: (w) => print(`hubcache: warning: ${w.code}: ${w.message}\n`),
    ...(ctx.idleTimeoutMs !== undefined ? { idleTimeoutMs: ctx.idleTimeoutMs } : {}),
  };
}

/** The progress display of a download command: on a terminal, unless --quiet or HF_HUB_DISABLE_PROGRESS_BARS. */
export function downloadDisplay(ctx: CliContext, quiet: boolean, now?: () => number): ProgressDisplay {
  const enabled = ctx.stderrIsTTY && !quiet && !envFlag(ctx.runtime.platform, "HF_HUB_DISABLE_PROGRESS_BARS");
  return progressDisplay((s) => ctx.stderr(s), { enabled, columns: ctx.stderrColumns, ...(now ? { now } : {}) });
}

/**
 * A progress callback drawing one file's line; its rate counts only the bytes that came over
 * the network, not a resumed prefix.
 */
export function fileProgress(display: ProgressDisplay, now: () => number = Date.now): (p: DownloadProgress) => void {
  const rate = rateMeter();
  return (p) => {
    if (p.phase === "cached") return;
    const t = now();
    rate.add(t, p.bytesDone - p.resumedFrom);
    const note = p.resumedFrom > 0 ? ` (resumed at ${formatSize(p.resumedFrom)})` : "";
    display.update([fileLine(p.path, p.bytesDone, p.bytesTotal, rate.perSecond(t), display.width, note)], p.phase === "done");
  };
}

/** Run `hubcache download`. */
export const downloadCommand: CliCommand = async (argv, ctx) => {
  const args = parseFlags(argv, {
    ...COMMON_FLAGS,
    include: { type: "string", multiple: true },
    exclude: { type: "string", multiple: true },
    concurrency: { type: "string" },
  }, "download");
  if (booleanFlag(args, "help")) {
    ctx.stdout(DOWNLOAD_USAGE.trimEnd());
    return 0;
  }
  const [repo, ...files] = args.positionals;
  if (!repo) throw new InvalidInputError("missing <repo_id> (see 'hubcache download --help')");
  const quiet = booleanFlag(args, "quiet");
  const display = downloadDisplay(ctx, quiet);
  const common = commonOptions(args, ctx, (text) => display.print(text));
  if (files.length === 0) {
    return await snapshotCommand(repo, args, common, ctx, display);
  }
  const wholeRepoOnly = ["include", "exclude", "concurrency"].filter((f) => args.values[f] !== undefined);
  if (wholeRepoOnly.length > 0) {
    // Silently ignoring them (hf prints a warning and goes on) downloads something else than
    // asked; file names and patterns are two different requests.
    throw new InvalidInputError(
      `${wholeRepoOnly.map((f) => `--${f}`).join(", ")} select files of a whole-repo download and would be ignored ` +
        `with file names given (${files.join(" ")}): drop the file names, or the ${wholeRepoOnly.length > 1 ? "options" : "option"}`,
    );
  }
  for (const path of files) {
    let pointer: string;
    try {
      pointer = await downloadFile({ ...common, repo, path, runtime: ctx.runtime, onProgress: fileProgress(display) });
    } finally {
      // The last bar stays, ended by a newline: the path (stdout, often the same terminal)
      // or an error then starts on a line of its own.
      display.finish(1);
    }
    ctx.stdout(pointer);
  }
  return 0;
};
