/**
 * `hubcache download <repo_id>` without files: the whole repo (or what `--include` /
 * `--exclude` select). Prints the snapshot folder as the only line on stdout.
 *
 * @module
 */

import type { DownloadFileOptions } from "../core/options.ts";
import { downloadSnapshot, type SnapshotProgress } from "../core/download/snapshot.ts";
import type { CliContext } from "./context.ts";
import { barWidthOf, fileLine, formatSize, type ProgressDisplay, rateMeter } from "./progress.ts";

/** Files in flight shown under the overall bar; more are summed up in one line. */
const MAX_FILE_LINES = 5;

/**
 * The lines of a snapshot download, as `hf download` shows them: one overall bar (files and
 * bytes), then a bar per file in flight. Rates count only bytes that came over the network.
 */
export function snapshotLines(
  display: Pick<ProgressDisplay, "width">,
): (p: SnapshotProgress, t: number) => string[] {
  const overall = rateMeter();
  const perFile = new Map<string, ReturnType<typeof rateMeter>>();
  return (p, t) => {
    overall.add(t, p.bytesDone - p.bytesReused);
    const lines = [fileLine(`${p.filesDone}/${p.filesTotal} files`, p.bytesDone, p.bytesTotal, overall.perSecond(t), display.width)];
    for (const path of perFile.keys()) if (!p.active.includes(path)) perFile.delete(path);
    const files = p.activeFiles.slice(0, MAX_FILE_LINES).map((f) => {
      let meter = perFile.get(f.path);
      if (!meter) perFile.set(f.path, (meter = rateMeter()));
      meter.add(t, f.bytesDone - f.resumedFrom);
      const note = f.resumedFrom > 0 ? ` (resumed at ${formatSize(f.resumedFrom)})` : "";
      return (bar?: number) => fileLine(`  ${f.path}`, f.bytesDone, f.bytesTotal, meter.perSecond(t), display.width, note, bar);
    });
    // One bar width for every file line (the narrowest any of them needs), so the bars align.
    const common = Math.min(...files.map((line) => barWidthOf(line())));
    for (const line of files) lines.push(line(common));
    if (p.activeFiles.length > MAX_FILE_LINES) lines.push(`  … and ${p.activeFiles.length - MAX_FILE_LINES} more file(s) in flight`);
    return lines;
  };
}

/** Run a snapshot download for the `download` command; returns the snapshot folder for the caller to print. */
export async function snapshotCommand(
  repo: string,
  selection: { include: string[]; exclude: string[]; concurrency: number; quiet: boolean },
  common: Omit<DownloadFileOptions, "path" | "repo">,
  ctx: CliContext,
  display: ProgressDisplay,
): Promise<string> {
  const quiet = selection.quiet;
  const lines = snapshotLines(display);
  const started = Date.now();
  let last: SnapshotProgress | undefined;
  let dir: string;
  try {
    dir = await downloadSnapshot({
      ...common,
      repo,
      runtime: ctx.runtime,
      include: selection.include,
      exclude: selection.exclude,
      concurrency: selection.concurrency,
      onProgress: (p) => {
        last = p;
        if (p.phase === "listing") return display.update([`listing files of ${repo}…`], true);
        display.update(() => lines(p, Date.now()), p.phase === "done");
      },
    });
  } finally {
    // The overall bar stays; the per-file bars go.
    display.finish(1);
  }
  if (!quiet && last) {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const fetched = last.filesTotal - last.filesCached;
    ctx.stderr(
      `${repo}: ${last.filesTotal} files (${formatSize(last.bytesTotal)}), ${fetched} downloaded, ` +
        `${last.filesCached} already cached, in ${seconds} s\n`,
    );
  }
  return dir;
}
