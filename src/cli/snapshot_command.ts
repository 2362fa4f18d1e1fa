/**
 * `hubcache download <repo_id>` without files: the whole repo (or what `--include` /
 * `--exclude` select). Prints the snapshot folder as the only line on stdout.
 *
 * @module
 */

import { DEFAULT_SNAPSHOT_CONCURRENCY } from "../core/defaults.ts";
import type { DownloadFileOptions } from "../core/options.ts";
import { downloadSnapshot, type SnapshotProgress } from "../core/download/snapshot.ts";
import { booleanFlag, integerFlag, listFlag, type ParsedArgs } from "./args.ts";
import type { CliContext } from "./context.ts";
import { formatBytes } from "./format.ts";
import { bar, progressLine, rateMeter } from "./progress.ts";

/** Run a snapshot download for the `download` command. */
export async function snapshotCommand(
  repo: string,
  args: ParsedArgs,
  common: Omit<DownloadFileOptions, "path" | "repo">,
  ctx: CliContext,
): Promise<number> {
  const quiet = booleanFlag(args, "quiet");
  const line = progressLine((s) => ctx.stderr(s), ctx.stderrIsTTY && !quiet);
  const rate = rateMeter();
  const started = Date.now();
  let last: SnapshotProgress | undefined;
  try {
    const dir = await downloadSnapshot({
      ...common,
      repo,
      runtime: ctx.runtime,
      include: listFlag(args, "include"),
      exclude: listFlag(args, "exclude"),
      concurrency: integerFlag(args, "concurrency", DEFAULT_SNAPSHOT_CONCURRENCY),
      onProgress: (p) => {
        last = p;
        const t = Date.now();
        rate.add(t, p.bytesDone);
        if (p.phase === "listing") return line.update(`listing files of ${repo}…`, true);
        const current = p.active.length > 0 ? `  ${p.active.slice(0, 2).join(", ")}${p.active.length > 2 ? ", …" : ""}` : "";
        line.update(
          `${bar(p.bytesDone, p.bytesTotal)} ${p.filesDone}/${p.filesTotal} files ` +
            `${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)} ${formatBytes(rate.perSecond(t))}/s${current}`,
          p.phase === "done",
        );
      },
    });
    line.clear();
    if (!quiet && last) {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const fetched = last.filesTotal - last.filesCached;
      ctx.stderr(
        `${repo}: ${last.filesTotal} files (${formatBytes(last.bytesTotal)}), ${fetched} downloaded, ` +
          `${last.filesCached} already cached, in ${seconds} s\n`,
      );
    }
    ctx.stdout(dir);
    return 0;
  } finally {
    line.clear();
  }
}
