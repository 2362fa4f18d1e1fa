/**
 * `hubcache cache ls|rm|prune|verify`: the cache management commands, with the Python
 * `hf cache` command's output shapes where scripts depend on them (`ls --format json`).
 *
 * @module
 */

import { validateRepoType } from "../core/cache/validate.ts";
import { DEFAULT_PRUNE_OLDER_THAN } from "../core/defaults.ts";
import { envFlag } from "../core/environment.ts";
import { CacheError, HubcacheError, InvalidInputError } from "../core/errors.ts";
import { pruneCache } from "../core/manage/prune.ts";
import { executeRemoval, planRemoval, type RemovalPlan } from "../core/manage/remove.ts";
import { type CacheWarning, scanCache } from "../core/manage/scan.ts";
import { type VerifyOptions, verifyRepo } from "../core/manage/verify.ts";
import { repairRepo } from "../core/manage/repair.ts";
import type { Runtime } from "../core/ports.ts";
import { booleanFlag, type FlagSpec, listFlag, type ParsedArgs, parseFlags, stringFlag } from "./args.ts";
import type { CliCommand, CliContext } from "./context.ts";
import { CliError, EXIT } from "./errors.ts";
import { formatBytes, formatTimeSince, tabulate } from "./format.ts";
import { hfLsJson, LS_FORMATS, lsEntries, scanJson } from "./ls_formats.ts";
import { selectEntries } from "./ls_select.ts";

const B: FlagSpec = { type: "boolean" };
const S: FlagSpec = { type: "string" };
const COMMON: Readonly<Record<string, FlagSpec>> = { "cache-dir": S, help: { type: "boolean", short: "h" } };

/** Each sub-command's own help (`hubcache cache <cmd> --help`); `cache --help` shows them all. */
const SUB_USAGE: Readonly<Record<string, readonly string[]>> = {
  ls: [
    "  ls [--revisions] [--format table|json|scan-json] [--json] [-f FILTER]... [--sort KEY[:asc|:desc]] [--limit N]",
    "        list cached repos (or revisions) with size, files, refs and temp files;",
    "        json: exactly `hf cache ls --format json` (--json is the same), scan-json: the",
    "        numbers of scan_cache_dir() in bytes and seconds, with temp files;",
    "        filters as hf: size>1GB, type=model, accessed>7d, modified<=2h, refs=main",
    "        (all must hold); sort by accessed, modified, name or size; limit after sorting",
  ],
  rm: [
    "  rm <repo_id | type/repo_id | commit>... [--repo-type T] [--dry-run] [-y]",
    "        remove revisions or whole repos and the blobs nothing else uses",
  ],
  prune: [
    "  prune [--older-than DURATION] [--dry-run] [--keep-detached] [--json] [-v] [-y]",
    "        [--max-size SIZE [--keep-used-within DURATION]]",
    "        remove temp files of dead writers, stale partials and locks, detached revisions;",
    "        asks first (-y: do not ask; without a terminal, -y is needed)",
    "        (DURATION like 30m, 2h, 7d; default 1d for files whose writer cannot be asked);",
    "        --max-size (500M, 50G, 1TiB): then remove least recently used revisions until the",
    "        cache fits, never one used within --keep-used-within (default 10m) nor one of a repo",
    "        a live process is downloading into; --dry-run prints the plan",
  ],
  verify: [
    "  verify <repo_id> [--revision R] [--repo-type T] [--json] [--offline] [--endpoint URL] [--token T] [--repair]",
    "        re-hash the cached files against their content addresses; a revision without",
    "        trees/<commit>.json gets its listing from the Hub unless --offline; exits 1 if",
    "        any file is damaged, missing or could not be verified. --repair downloads the",
    "        damaged and missing files again (only those), rewrites refs that hold no commit",
    "        and removes .no_exist markers of files that exist; exits 1 if anything could not be repaired",
  ],
};
const CACHE_FOOTER = ["", "The cache is HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."];
const USAGE = [
  "usage: hubcache cache <command> [options] [--cache-dir DIR]",
  "",
  ...Object.values(SUB_USAGE).flat(),
  ...CACHE_FOOTER,
].join("\n");

/** The help of one sub-command. */
function subUsage(sub: string): string {
  return [`usage: hubcache cache ${sub} [options] [--cache-dir DIR]`, "", ...SUB_USAGE[sub], ...CACHE_FOOTER].join("\n");
}

/**
 * The `cache` command: `argv` is what follows `cache` on the command line. Failures are thrown
 * for `runCli` to report (`src/cli/errors.ts`), like every command's.
 */
export const cacheCommand: CliCommand = async (argv: string[], ctx: CliContext): Promise<number> => {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "ls":
    case "list":
    case "scan":
      return await cacheLs(rest, ctx);
    case "rm":
    case "delete":
      return await cacheRm(rest, ctx);
    case "prune":
      return await cachePrune(rest, ctx);
    case "verify":
      return await cacheVerify(rest, ctx);
    case "help":
    case "--help":
    case "-h":
      ctx.stdout(USAGE);
      return EXIT.ok;
    case undefined:
      ctx.stderr(`${USAGE}\n`);
      return EXIT.usage;
    default:
      throw new InvalidInputError(`unknown cache command '${sub}': expected ls, rm, prune or verify (see 'hubcache cache --help')`);
  }
};

/** The options every cache command passes to the library: the runtime and `--cache-dir` when given. */
function where(args: ParsedArgs, ctx: CliContext): { runtime: Runtime; cacheDir?: string } {
  const cacheDir = stringFlag(args, "cache-dir");
  return { runtime: ctx.runtime, ...(cacheDir !== undefined ? { cacheDir } : {}) };
}

function helpRequested(args: ParsedArgs, ctx: CliContext, sub: string): boolean {
  if (!booleanFlag(args, "help")) return false;
  ctx.stdout(subUsage(sub));
  return true;
}

// ---------------------------------------------------------------------------------------
// ls

async function cacheLs(argv: string[], ctx: CliContext): Promise<number> {
  const args = parseFlags(argv, {
    ...COMMON,
    json: B,
    revisions: B,
    format: S,
    filter: { type: "string", short: "f", multiple: true },
    sort: S,
    limit: S,
  }, "cache ls");
  if (helpRequested(args, ctx, "ls")) return 0;
  if (args.positionals.length > 0) throw new InvalidInputError(`ls takes no arguments, got '${args.positionals[0]}'`);
  // --json is `--format json`: it always promised the `hf cache ls --format json` shape.
  const format = stringFlag(args, "format") ?? (booleanFlag(args, "json") ? "json" : "table");
  if (!LS_FORMATS.includes(format)) throw new InvalidInputError(`--format must be ${LS_FORMATS.join(", ")}; got '${format}'`);
  const filters = listFlag(args, "filter");
  const sort = stringFlag(args, "sort");
  const limitText = stringFlag(args, "limit");
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw new InvalidInputError(`--limit must be a non-negative integer, got '${limitText}'`);
  const selecting = filters.length > 0 || sort !== undefined || limit !== undefined;
  if (selecting && format === "scan-json") throw new InvalidInputError("--filter, --sort and --limit apply to the table and --format json, not to scan-json");
  const withRevisions = booleanFlag(args, "revisions");
  const info = await scanCache(where(args, ctx));
  reportWarnings(info.warnings, ctx);
  const now = ctx.runtime.platform.now();
  const entries = selectEntries(lsEntries(info, withRevisions), { filters, sort, limit, nowMs: now });
  if (format === "json") {
    ctx.stdout(hfLsJson(entries, now));
    return 0;
  }
  if (format === "scan-json") {
    ctx.stdout(JSON.stringify(scanJson(info), null, 2));
    return 0;
  }
  if (entries.length === 0) {
    ctx.stdout(withRevisions ? "No cached revisions found." : "No cached repositories found.");
  } else if (!withRevisions) {
    ctx.stdout(tabulate(
      entries.map(({ repo: r }) => [
        r.repoId,
        r.repoType,
        formatBytes(r.sizeOnDisk).padStart(12),
        r.nbFiles,
        formatTimeSince(r.lastAccessedMs, now),
        formatTimeSince(r.lastModifiedMs, now),
        [...new Set(r.revisions.flatMap((v) => v.refs))].sort().join(", "),
        r.repoPath,
      ]),
      ["REPO ID", "REPO TYPE", "SIZE ON DISK", "NB FILES", "LAST_ACCESSED", "LAST_MODIFIED", "REFS", "LOCAL PATH"],
    ));
  } else {
    ctx.stdout(tabulate(
      entries.map(({ repo: r, revision: v }) => [
        r.repoId,
        r.repoType,
        v!.commitHash,
        formatBytes(v!.sizeOnDisk).padStart(12),
        v!.nbFiles,
        formatTimeSince(v!.lastModifiedMs, now),
        v!.refs.join(", "),
        v!.snapshotPath,
      ]),
      ["REPO ID", "REPO TYPE", "REVISION", "SIZE ON DISK", "NB FILES", "LAST_MODIFIED", "REFS", "LOCAL PATH"],
    ));
  }
  if (selecting) {
    ctx.stdout("");
    ctx.stdout(`Showing ${entries.length} of ${lsEntries(info, withRevisions).length} ${withRevisions ? "revision(s)" : "repo(s)"} (--filter/--sort/--limit).`);
  }
  const nRevisions = info.repos.reduce((n, r) => n + r.revisions.length, 0);
  ctx.stdout("");
  ctx.stdout(
    `Found ${info.repos.length} repo(s) for a total of ${nRevisions} revision(s) and ${formatBytes(info.sizeOnDisk)} on disk.`,
  );
  if (info.tempFiles.length > 0) {
    const bytes = info.tempFiles.reduce((n, t) => n + t.size, 0);
    const count = (s: string): number => info.tempFiles.filter((t) => t.ownerState === s).length;
    ctx.stdout(
      `${info.tempFiles.length} temp file(s) totalling ${formatBytes(bytes)}: ${count("alive")} being written, ` +
        `${count("dead")} left by dead writers, ${count("unknown")} of unknown owner ` +
        `(partials, other hosts, other clients). 'hubcache cache prune' removes the stale ones.`,
    );
    // A partial only completes if the rest of its file fits: say how much room there is.
    const free = await ctx.runtime.fs.freeSpace?.(info.cacheDir).catch(() => undefined);
    if (free !== undefined && Number.isFinite(free)) {
      ctx.stdout(`The disk holding the cache has ${formatBytes(free)} free; a download that needs more stops with NotEnoughSpace before fetching.`);
    }
  }
  return 0;
}

function reportWarnings(warnings: readonly CacheWarning[], ctx: CliContext): void {
  if (warnings.length === 0) return;
  ctx.stderr(`Got ${warnings.length} warning(s) while scanning (these repos are not listed):\n`);
  for (const w of warnings) ctx.stderr(`  - ${w.message}\n`);
}

// ---------------------------------------------------------------------------------------
// rm

function describePlan(plan: RemovalPlan): string[] {
  const lines: string[] = [];
  let repos = 0;
  let partial = 0;
  for (const sel of plan.selections) {
    if (sel.entireRepo) repos++;
    else partial += sel.revisions.length;
  }
  const parts = [...(repos ? [`${repos} repo(s)`] : []), ...(partial ? [`${partial} revision(s)`] : [])];
  lines.push(`About to delete ${parts.join(" and ")} totalling ${formatBytes(plan.expectedFreedBytes)}.`);
  for (const sel of plan.selections) {
    const key = `${sel.repo.repoType}/${sel.repo.repoId}`;
    if (sel.entireRepo) {
      lines.push(`  - ${key} (entire repo)`);
      continue;
    }
    lines.push(`  - ${key}:`);
    for (const rev of sel.revisions) {
      lines.push(`      ${rev.commitHash} [${rev.refs.join(" ") || "(detached)"}] ${formatBytes(rev.sizeOnDisk)}`);
    }
  }
  return lines;
}

async function cacheRm(argv: string[], ctx: CliContext): Promise<number> {
  const args = parseFlags(argv, { ...COMMON, "dry-run": B, yes: { type: "boolean", short: "y" }, "repo-type": S }, "cache rm");
  if (helpRequested(args, ctx, "rm")) return 0;
  if (args.positionals.length === 0) throw new InvalidInputError("rm needs at least one repo id or commit hash");
  const typeArg = stringFlag(args, "repo-type");
  const repoType = typeArg === undefined ? undefined : validateRepoType(typeArg);
  const plan = await planRemoval({ ...where(args, ctx), targets: args.positionals, repoType });
  reportWarnings(plan.warnings, ctx);
  const missing = plan.missing.map((m) => `'${m}'`).join(", ");
  const howToName = "give a commit hash, 'org/name' with --repo-type, or 'type/org/name' as 'hubcache cache ls' shows";
  if (plan.selections.length === 0) {
    ctx.stdout("Nothing to delete.");
    if (plan.missing.length > 0) throw new CacheError(`not in the cache: ${missing} (${howToName})`);
    return EXIT.ok;
  }
  if (plan.missing.length > 0) ctx.stderr(`hubcache: warning: not in the cache: ${missing} (${howToName})\n`);
  for (const line of describePlan(plan)) ctx.stdout(line);
  if (booleanFlag(args, "dry-run")) {
    ctx.stdout("Dry run: no files were deleted.");
    return 0;
  }
  if (!booleanFlag(args, "yes")) {
    if (ctx.confirm === undefined) {
      throw new CliError("NotConfirmed", "not deleting without confirmation: stdin is not a terminal; pass -y to delete (or --dry-run to preview)");
    }
    if (!(await ctx.confirm("Proceed with deletion?"))) {
      ctx.stdout("Deletion cancelled.");
      return 0;
    }
  }
  const result = await executeRemoval({ runtime: ctx.runtime, plan });
  const repos = plan.selections.filter((s) => s.entireRepo).length;
  const revisions = plan.selections.reduce((n, s) => n + s.revisions.length, 0);
  for (const p of result.keptInUse) ctx.stdout(`kept (started being used by another process meanwhile): ${p}`);
  ctx.stdout(
    `Deleted ${repos} repo(s) and ${revisions} revision(s); freed ${formatBytes(result.freedBytes)} (${result.freedBytes} bytes).`,
  );
  failedPaths("delete", result.errors, ctx);
  return EXIT.ok;
}

/** Per-path failures of `rm`/`prune`, listed; then one error line for the command (the rest went on). */
function failedPaths(verb: string, errors: readonly { path: string; message: string }[], ctx: CliContext): void {
  if (errors.length === 0) return;
  for (const e of errors) ctx.stderr(`could not ${verb} ${e.path}: ${e.message}\n`);
  throw new CacheError(`could not ${verb} ${errors.length} path(s), listed above; everything else was done`);
}

// ---------------------------------------------------------------------------------------
// prune

async function cachePrune(argv: string[], ctx: CliContext): Promise<number> {
  const args = parseFlags(argv, {
    ...COMMON,
    "older-than": S,
    "dry-run": B,
    "keep-detached": B,
    "max-size": S,
    "keep-used-within": S,
    json: B,
    verbose: { type: "boolean", short: "v" },
    yes: { type: "boolean", short: "y" },
  }, "cache prune");
  if (helpRequested(args, ctx, "prune")) return 0;
  if (args.positionals.length > 0) throw new InvalidInputError(`prune takes no arguments, got '${args.positionals[0]}'`);
  const olderThan = stringFlag(args, "older-than") ?? DEFAULT_PRUNE_OLDER_THAN;
  const dryRun = booleanFlag(args, "dry-run");
  const options = {
    ...where(args, ctx),
    olderThan,
    detachedRevisions: !booleanFlag(args, "keep-detached"),
    maxSize: stringFlag(args, "max-size"),
    keepUsedWithin: stringFlag(args, "keep-used-within"),
  };
  if (!dryRun && !booleanFlag(args, "yes")) {
    // As `hf cache prune`: show what would go and ask; without a terminal to ask, refuse
    // unless -y. The removal itself re-checks everything, so the answer cannot be stale.
    const preview = await pruneCache({ ...options, dryRun: true });
    if (preview.removed.length > 0) {
      if (ctx.confirm === undefined || booleanFlag(args, "json")) {
        throw new CliError("NotConfirmed", `not pruning ${preview.removed.length} item(s) without confirmation: pass -y (or --dry-run to preview)`);
      }
      for (const i of preview.removed) ctx.stdout(`would remove ${i.kind} ${i.path} (${formatBytes(i.bytes)}): ${i.reason}`);
      if (!(await ctx.confirm(`Remove these ${preview.removed.length} item(s), ${formatBytes(preview.freedBytes)}?`))) {
        ctx.stdout("Prune cancelled.");
        return EXIT.ok;
      }
    }
  }
  const result = await pruneCache({ ...options, dryRun });
  for (const w of result.warnings) ctx.stderr(`hubcache: warning: ${w.message}\n`);
  if (booleanFlag(args, "json")) {
    const item = (i: { path: string; kind: string; bytes: number; reason: string }): Record<string, unknown> => ({
      path: i.path,
      kind: i.kind,
      size_on_disk: i.bytes,
      reason: i.reason,
    });
    ctx.stdout(JSON.stringify(
      {
        dry_run: result.dryRun,
        freed_size: result.freedBytes,
        removed: result.removed.map(item),
        kept: result.kept.map(item),
        errors: result.errors,
      },
      null,
      2,
    ));
    failedPaths("remove", result.errors, ctx);
    return EXIT.ok;
  }
  const verb = dryRun ? "would remove" : "removed";
  for (const i of result.removed) ctx.stdout(`${verb} ${i.kind} ${i.path} (${formatBytes(i.bytes)}): ${i.reason}`);
  if (booleanFlag(args, "verbose")) for (const i of result.kept) ctx.stdout(`kept ${i.kind} ${i.path}: ${i.reason}`);
  ctx.stdout(
    `${dryRun ? "Dry run: would remove" : "Removed"} ${result.removed.length} item(s), ` +
      `${dryRun ? "freeing" : "freed"} ${formatBytes(result.freedBytes)}` +
      (result.kept.length > 0
        ? `; kept ${result.kept.length} in use or younger than ${olderThan}${booleanFlag(args, "verbose") ? "" : " (-v lists them)"}.`
        : "."),
  );
  failedPaths("remove", result.errors, ctx);
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------
// verify

async function cacheVerify(argv: string[], ctx: CliContext): Promise<number> {
  const args = parseFlags(argv, { ...COMMON, revision: S, "repo-type": S, json: B, endpoint: S, token: S, offline: B, repair: B }, "cache verify");
  if (helpRequested(args, ctx, "verify")) return 0;
  if (args.positionals.length !== 1) throw new InvalidInputError("verify needs exactly one repo id (see 'hubcache cache --help')");
  // Online unless told otherwise, as `download`: a revision without trees/<commit>.json (the
  // Python client's no-symlink caches) can only be checked with the listing from the Hub.
  const offline = booleanFlag(args, "offline") || envFlag(ctx.runtime.platform, "HF_HUB_OFFLINE");
  const options = {
    ...where(args, ctx),
    repo: args.positionals[0],
    repoType: validateRepoType(stringFlag(args, "repo-type") ?? "model"),
    revision: stringFlag(args, "revision"),
    offline,
    endpoint: stringFlag(args, "endpoint"),
    token: stringFlag(args, "token"),
    signal: ctx.signal,
  };
  if (booleanFlag(args, "repair")) return await cacheRepair(options, booleanFlag(args, "json"), ctx);
  const report = await verifyRepo(options);
  const checked = report.files.filter((f) => f.status === "ok" || f.status === "damaged").length;
  const label = `'${report.repoId}' (${report.repoType})`;
  // Exit 0 only if every file was checked: a verify that could not look is no proof.
  const verdict = (): number => {
    if (!report.healthy) {
      throw new HubcacheError(
        "IntegrityError",
        `${report.damaged.length} damaged and ${report.missing.length} missing file(s) in ${label}` +
          `${report.unverifiable.length > 0 ? `; ${report.unverifiable.length} could not be verified` : ""}: ` +
          `download them again with --force`,
      );
    }
    if (report.unverifiable.length > 0) {
      throw new CacheError(
        `${report.unverifiable.length} file(s) of ${label} could not be verified ` +
          `(no listing of their hashes${offline ? "; run without --offline so it can be fetched from the Hub" : ""})`,
      );
    }
    return EXIT.ok;
  };
  if (booleanFlag(args, "json")) {
    ctx.stdout(JSON.stringify(
      {
        repo_id: report.repoId,
        repo_type: report.repoType,
        verified_path: report.repoPath,
        revisions: report.revisions,
        checked_count: checked,
        ok: report.healthy && report.unverifiable.length === 0,
        mismatches: report.damaged.map((f) => ({
          path: f.path,
          revision: f.commit,
          expected: f.expected,
          actual: f.actual,
          algorithm: f.algorithm,
          detail: f.detail,
        })),
        missing: report.missing.map((f) => ({ path: f.path, revision: f.commit, blob_path: f.blobPath })),
        unverifiable: report.unverifiable.map((f) => ({ path: f.path, revision: f.commit, detail: f.detail })),
        extra: report.extra,
        temp_files: report.tempFiles.map((t) => t.path),
        notes: report.notes,
      },
      null,
      2,
    ));
    return verdict();
  }
  if (report.revisions.length === 0) ctx.stdout(`No cached revision of ${label}.`);
  if (report.damaged.length > 0) {
    ctx.stdout("Checksum verification failed for the following file(s):");
    for (const f of report.damaged) ctx.stdout(`  - ${f.path} @ ${f.commit}: ${f.detail}`);
  }
  if (report.missing.length > 0) {
    ctx.stdout("Missing blob(s) (pointer present, content gone):");
    for (const f of report.missing) ctx.stdout(`  - ${f.path} @ ${f.commit}: ${f.blobPath}`);
  }
  if (report.unverifiable.length > 0) {
    ctx.stdout(`${report.unverifiable.length} file(s) could not be verified:`);
    for (const f of report.unverifiable) ctx.stdout(`  - ${f.path} @ ${f.commit}: ${f.detail}`);
  }
  if (report.extra.length > 0) {
    ctx.stdout(`${report.extra.length} extra file(s):`);
    for (const e of report.extra) ctx.stdout(`  - ${e.path}: ${e.reason}`);
  }
  for (const n of report.notes) ctx.stdout(`note: ${n}`);
  if (!report.healthy) {
    ctx.stdout(`Verification failed for ${label} in ${report.repoPath}.`);
    return verdict();
  }
  ctx.stdout(`Verified ${checked} file(s) of ${report.revisions.length} revision(s) for ${label} in ${report.repoPath}.`);
  if (report.unverifiable.length > 0) ctx.stdout("All checked checksums match, but not every file could be checked.");
  else ctx.stdout("All checksums match.");
  return verdict();
}

/** `cache verify --repair`: what was found, what was done, exit 1 if anything could not be put right. */
async function cacheRepair(options: VerifyOptions & { runtime: Runtime }, json: boolean, ctx: CliContext): Promise<number> {
  const report = await repairRepo(options);
  const label = `'${report.verified.repoId}' (${report.verified.repoType})`;
  if (json) {
    ctx.stdout(JSON.stringify(
      {
        repo_id: report.verified.repoId,
        repo_type: report.verified.repoType,
        verified_path: report.verified.repoPath,
        damaged: report.verified.damaged.length,
        missing: report.verified.missing.length,
        repaired: report.repaired,
        failed: report.failed,
        ok: report.healthy,
      },
      null,
      2,
    ));
  } else {
    for (const a of report.repaired) ctx.stdout(`repaired ${a.kind} ${a.path}${a.commit ? ` @ ${a.commit}` : ""}: ${a.detail}`);
    for (const a of report.failed) ctx.stdout(`NOT repaired ${a.kind} ${a.path}${a.commit ? ` @ ${a.commit}` : ""}: ${a.detail}`);
    ctx.stdout(
      report.repaired.length === 0 && report.failed.length === 0
        ? `Nothing to repair in ${label}: all checked checksums match.`
        : `Repaired ${report.repaired.length} item(s) of ${label}${report.failed.length > 0 ? `; ${report.failed.length} could not be repaired` : ""}.`,
    );
  }
  if (!report.healthy) {
    throw new HubcacheError("IntegrityError", `${report.failed.length} item(s) of ${label} could not be repaired: ${report.failed.map((a) => a.path).join(", ")}`);
  }
  return EXIT.ok;
}
