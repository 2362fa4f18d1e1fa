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
import { formatBytes } from "./format.ts";
import { bar, progressLine, rateMeter } from "./progress.ts";
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
 * already be absolute (the entry point resolves it against the working directory).
 */
export function commonOptions(args: ParsedArgs, ctx: CliContext): Omit<DownloadFileOptions, "path" | "repo"> {
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
    onWarning: (w) => ctx.stderr(`hubcache: warning: ${w.code}: ${w.message}\n`),
    ...(ctx.idleTimeoutMs !== undefined ? { idleTimeoutMs: ctx.idleTimeoutMs } : {}),
  };
}

/** A progress callback that draws one line on a terminal for the file being downloaded. */
export function fileProgress(ctx: CliContext, quiet: boolean): { onProgress(p: DownloadProgress): void; finish(): void } {
  const line = progressLine((s) => ctx.stderr(s), ctx.stderrIsTTY && !quiet);
  const rate = rateMeter();
  return {
    onProgress(p) {
      if (p.phase === "cached") return;
      const t = Date.now();
      rate.add(t, p.bytesDone);
      const resumed = p.resumedFrom > 0 ? ` (resumed at ${formatBytes(p.resumedFrom)})` : "";
      line.update(
        `${p.path} ${bar(p.bytesDone, p.bytesTotal)} ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)} ` +
          `${formatBytes(rate.perSecond(t))}/s${resumed}`,
        p.phase === "done",
      );
    },
    finish() {
      line.clear();
    },
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
  const common = commonOptions(args, ctx);
  const quiet = booleanFlag(args, "quiet");
  if (files.length === 0) {
    return await snapshotCommand(repo, args, common, ctx);
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
    const progress = fileProgress(ctx, quiet);
    try {
      const pointer = await downloadFile({ ...common, repo, path, runtime: ctx.runtime, onProgress: progress.onProgress });
      ctx.stdout(pointer);
    } finally {
      progress.finish();
    }
  }
  return 0;
};
