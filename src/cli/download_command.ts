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
import { booleanFlag, integerFlag, listFlag, type ParsedArgs, parseFlags, stringFlag, type FlagSpec } from "./args.ts";
import type { CliCommand, CliContext } from "./context.ts";
import { envFlag } from "../core/environment.ts";
import { fileLine, formatSize, progressDisplay, type ProgressDisplay, rateMeter } from "./progress.ts";
import { snapshotCommand } from "./snapshot_command.ts";
import { pythonJsonDumps } from "../core/cache/python_json.ts";
import { DEFAULT_SNAPSHOT_CONCURRENCY } from "../core/defaults.ts";
import { type DownloadPlan, planDownload } from "../core/download/plan.ts";
import { formatBytes, tabulate } from "./format.ts";
import { parseRepoArgument, type RepoArgument } from "./repo_argument.ts";

/**
 * Flags every command that talks to the Hub accepts, so `download` of a file and of a whole
 * repo agree on spelling.
 */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  revision: { type: "string" },
  "repo-type": { type: "string" },
  "cache-dir": { type: "string" },
  "local-dir": { type: "string" },
  "hard-links": { type: "boolean" },
  "reuse-local-dir": { type: "string", multiple: true },
  endpoint: { type: "string" },
  token: { type: "string" },
  offline: { type: "boolean" },
  force: { type: "boolean" },
  "no-symlinks": { type: "boolean" },
  lock: { type: "string" },
  connections: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
};

/** Usage text of `hubcache download`. */
export const DOWNLOAD_USAGE = `Usage: hubcache download <repo_id> [<file>...] [options]

Download files (or, with no <file>, the whole repo) into the Hugging Face Hub cache.
Prints each file's snapshot path (or the snapshot folder) on stdout, one per line.
<repo_id> is org/name, datasets/org/name (spaces/, models/), or
hf://[datasets/|spaces/]org/name[@revision][/path]; a <file> ending in / is a folder.

Options:
  --revision R            branch, tag, commit or refs/pr/N (default: main)
  --repo-type T           model | dataset | space (default: model)
  --cache-dir D           cache root (default: HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub)
  --local-dir DIR         put the files at DIR/<path> as regular files (bookkeeping as hf download
                          --local-dir keeps it); prints DIR/<path> (or DIR for a whole repo)
  --hard-links            (with --local-dir) files already in the cache are hard-linked where they
                          cannot be reflinked (no second copy; editing them edits the cache)
  --reuse-local-dir DIR   a local dir hf download --local-dir (or hubcache) filled: files missing
                          from the cache are taken from there when their metadata names the same
                          content and they verify (reflink, else copy); repeatable
  --endpoint URL          Hub URL (default: HF_ENDPOINT or https://huggingface.co)
  --token T               access token (default: HF_TOKEN, else the token hf auth login saved)
  --offline               use only the cache (HF_HUB_OFFLINE=1)
  --force                 download again even if cached, replacing what fails verification
  --no-symlinks           store files in the snapshot instead of symlinking blobs
  --lock auto|none        de-duplication lock between processes (default: auto)
  --connections N         ranged connections per file (default: 8 for files of 64 MiB or more, else 1)
  --include GLOB          (whole repo) only files matching; repeatable
  --exclude GLOB          (whole repo) skip files matching; repeatable
  --concurrency N         (whole repo) parallel downloads (default: 8); alias --max-workers
  --dry-run               print what would be downloaded (and its size); fetch nothing
  --format F              auto (one path per line) | json | quiet (as hf download); --json
  -q, --quiet             no progress output (HF_HUB_DISABLE_PROGRESS_BARS=1 too)
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
    localDir: stringFlag(args, "local-dir"),
    hardLinks: booleanFlag(args, "hard-links") || undefined,
    ...(listFlag(args, "reuse-local-dir").length > 0 ? { reuseLocalDirs: listFlag(args, "reuse-local-dir") } : {}),
    endpoint: stringFlag(args, "endpoint"),
    token: stringFlag(args, "token"),
    offline: booleanFlag(args, "offline") || undefined,
    forceDownload: booleanFlag(args, "force"),
    symlinks: booleanFlag(args, "no-symlinks") ? "never" : "auto",
    lock,
    ...(stringFlag(args, "connections") !== undefined ? { connections: integerFlag(args, "connections", 1) } : {}),
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

/** `--format` values of `download`: `auto` is hubcache's own output; `json` and `quiet` are `hf download`'s. */
const DOWNLOAD_FORMATS = ["auto", "human", "json", "quiet"];

/** Run `hubcache download`. */
export const downloadCommand: CliCommand = async (argv, ctx) => {
  const args = parseFlags(argv, {
    ...COMMON_FLAGS,
    include: { type: "string", multiple: true },
    exclude: { type: "string", multiple: true },
    concurrency: { type: "string" },
    "max-workers": { type: "string" },
    format: { type: "string" },
    json: { type: "boolean" },
    "dry-run": { type: "boolean" },
  }, "download");
  if (booleanFlag(args, "help")) {
    ctx.stdout(DOWNLOAD_USAGE.trimEnd());
    return 0;
  }
  const [repoArg, ...named] = args.positionals;
  if (!repoArg) throw new InvalidInputError("missing <repo_id> (see 'hubcache download --help')");
  const target = resolveTarget(repoArg, named, args);
  const format = stringFlag(args, "format") ?? (booleanFlag(args, "json") ? "json" : "auto");
  if (!DOWNLOAD_FORMATS.includes(format)) throw new InvalidInputError(`--format must be ${DOWNLOAD_FORMATS.join(", ")}; got '${format}'`);
  const workers = stringFlag(args, "max-workers");
  const concurrency = stringFlag(args, "concurrency");
  if (workers !== undefined && concurrency !== undefined && workers !== concurrency) {
    throw new InvalidInputError(`--max-workers ${workers} and --concurrency ${concurrency} disagree: they are the same option`);
  }
  const quiet = booleanFlag(args, "quiet");
  const display = downloadDisplay(ctx, quiet);
  const common = {
    ...commonOptions(args, ctx, (text) => display.print(text)),
    ...(target.repoType ? { repoType: target.repoType } : {}),
    ...(target.revision ? { revision: target.revision } : {}),
  };
  const { repo, files } = target;
  const include = [...listFlag(args, "include"), ...target.folders];
  const wholeRepoOnly = ["include", "exclude", "concurrency", "max-workers"].filter((f) => args.values[f] !== undefined);
  if (files.length > 0 && (wholeRepoOnly.length > 0 || target.folders.length > 0)) {
    // Silently ignoring them (hf prints a warning and goes on) downloads something else than
    // asked; file names and patterns are two different requests.
    const what = target.folders.length > 0 ? [`the folder(s) ${target.folders.join(" ")}`] : wholeRepoOnly.map((f) => `--${f}`);
    throw new InvalidInputError(
      `${what.join(", ")} select files of a whole-repo download and would be ignored ` +
        `with file names given (${files.join(" ")}): drop the file names, or the ${what.length > 1 ? "options" : "option"}`,
    );
  }
  if (booleanFlag(args, "dry-run")) {
    const plan = await planDownload({
      ...common,
      repo,
      runtime: ctx.runtime,
      ...(files.length > 0 ? { paths: files } : { include, exclude: listFlag(args, "exclude") }),
    });
    printPlan(plan, format, ctx);
    return 0;
  }
  if (files.length === 0) {
    const dir = await snapshotCommand(repo, { include, exclude: listFlag(args, "exclude"), concurrency: integerFlag(args, workers !== undefined ? "max-workers" : "concurrency", DEFAULT_SNAPSHOT_CONCURRENCY), quiet }, common, ctx, display);
    printResult(dir, format, ctx);
    return 0;
  }
  const pointers: string[] = [];
  for (const path of files) {
    let pointer: string;
    try {
      pointer = await downloadFile({ ...common, repo, path, runtime: ctx.runtime, onProgress: fileProgress(display) });
    } finally {
      // The last bar stays, ended by a newline: the path (stdout, often the same terminal)
      // or an error then starts on a line of its own.
      display.finish(1);
    }
    pointers.push(pointer);
    if (format === "auto" || format === "human") ctx.stdout(pointer);
  }
  // hf prints one path: the file's, or for several files their snapshot folder.
  if (format === "json" || format === "quiet") {
    printResult(files.length === 1 ? pointers[0] : pointers[0].slice(0, pointers[0].length - files[0].length - 1), format, ctx);
  }
  return 0;
};

/** The repo, file names and folders the positionals name, with what an `hf://` URI or a type prefix says. */
function resolveTarget(repoArg: string, named: string[], args: ParsedArgs): RepoArgument & { files: string[]; folders: string[] } {
  const parsed = parseRepoArgument(repoArg);
  const typeFlag = stringFlag(args, "repo-type");
  if (repoArg.startsWith("hf://")) {
    for (const flag of ["repo-type", "revision"]) {
      if (stringFlag(args, flag) !== undefined) throw new InvalidInputError(`'--${flag}' cannot be used with an 'hf://' URI ('${repoArg}'): the URI says it`);
    }
    if (parsed.path && named.length > 0) {
      throw new InvalidInputError(`cannot combine a file path in the hf:// URI ('${parsed.path}') with file names (${named.join(" ")})`);
    }
  } else if (parsed.repoType && typeFlag !== undefined && validateRepoType(typeFlag) !== parsed.repoType) {
    throw new InvalidInputError(`'${repoArg}' names a ${parsed.repoType}, but --repo-type says ${typeFlag}`);
  }
  const all = parsed.path ? [parsed.path] : named;
  // `data/` means the folder, as in hf: its files, through the include patterns.
  return { ...parsed, files: all.filter((f) => !f.endsWith("/")), folders: all.filter((f) => f.endsWith("/")) };
}

/** The final path in `hf download`'s formats, or on its own line (`auto`). */
function printResult(path: string, format: string, ctx: CliContext): void {
  ctx.stdout(format === "json" ? pythonJsonDumps({ path }) : path);
}

/** A dry run as `hf download --dry-run` prints it: a summary and a table, JSON records, or the file names. */
function printPlan(plan: DownloadPlan, format: string, ctx: CliContext): void {
  const rows = plan.files.map((f) => ({ file: f.path, size: f.willDownload ? formatBytes(f.size) : "-" }));
  if (format === "json") return ctx.stdout(pythonJsonDumps(rows));
  if (format === "quiet") return void plan.files.forEach((f) => ctx.stdout(f.path));
  const fetching = plan.files.filter((f) => f.willDownload);
  ctx.stdout(
    `[dry-run] Will download ${fetching.length} files (out of ${plan.files.length}) totalling ${formatBytes(fetching.reduce((n, f) => n + f.size, 0))}.`,
  );
  ctx.stdout(tabulate(rows.map((r) => [r.file, r.size]), ["FILE", "SIZE"]));
}
