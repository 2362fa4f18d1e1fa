/**
 * Progress on a terminal: a block of lines on stderr redrawn in place (at most ten times a
 * second), each cut to the terminal's width so a redraw never wraps and scrolls, sizes and
 * rates with units, rates counting only bytes that came over the network.
 *
 * @module
 */

/** Escape sequences: erase the whole line; move the cursor up `n` lines. */
const ERASE_LINE = "\x1b[2K";
const up = (n: number): string => (n > 0 ? `\x1b[${n}A` : "");

/** A block of progress lines that redraws itself in place. */
export interface ProgressDisplay {
  /** The widest line the terminal shows without wrapping. */
  readonly width: number;
  /**
   * Replace the block's lines (throttled unless `force`). A function is called only when the
   * block is drawn: a download of many small files reports thousands of times a second.
   */
  update(lines: readonly string[] | (() => readonly string[]), force?: boolean): void;
  /**
   * Write `text` (whole lines) above the block, so a warning is never glued to a bar; the
   * block is drawn again on the next update.
   */
  print(text: string): void;
  /**
   * Stop redrawing: keep the first `keep` lines as they were last drawn (each ending with a
   * newline, so what is printed next starts on a line of its own) and erase the rest.
   */
  finish(keep?: number): void;
}

/**
 * A display writing to `write` (stderr) when `enabled`; otherwise it draws nothing (and
 * `print` still prints). `columns` is the terminal's width: lines are cut to one less, since
 * writing into the last column makes some terminals wrap at once.
 */
export function progressDisplay(
  write: (text: string) => void,
  options: { enabled: boolean; columns?: number; now?: () => number },
): ProgressDisplay {
  const now = options.now ?? Date.now;
  const width = Math.max(20, (options.columns ?? 80) - 1);
  let drawn: string[] = []; // what is on the screen now, cursor at the end of its last line
  let last = -Infinity;
  const erase = (): string => (drawn.length === 0 ? "" : `${up(drawn.length - 1)}\r${drawn.map(() => ERASE_LINE).join("\n")}${up(drawn.length - 1)}\r`);
  const draw = (lines: readonly string[]): void => {
    const fitted = lines.map((l) => fit(l, width));
    let out = drawn.length > 0 ? `${up(drawn.length - 1)}\r` : "";
    const rows = Math.max(fitted.length, drawn.length);
    for (let i = 0; i < rows; i++) {
      out += `${ERASE_LINE}${fitted[i] ?? ""}`;
      if (i < rows - 1) out += "\n";
    }
    // Fewer lines than before: go back up to the end of the last real one.
    if (rows > fitted.length && fitted.length > 0) out += `${up(rows - fitted.length)}\r${fitted[fitted.length - 1]}`;
    if (fitted.length === 0 && rows > 0) out += `${up(rows - 1)}\r`;
    write(out);
    drawn = fitted;
  };
  return {
    width,
    update(lines, force = false) {
      if (!options.enabled) return;
      const t = now();
      if (!force && t - last < 100) return;
      last = t;
      draw(typeof lines === "function" ? lines() : lines);
    },
    print(text) {
      if (!options.enabled || drawn.length === 0) return write(text);
      const previous = drawn;
      write(erase());
      drawn = [];
      write(text);
      draw(previous);
    },
    finish(keep = 0) {
      if (!options.enabled || drawn.length === 0) return;
      const kept = drawn.slice(0, keep);
      draw(kept);
      if (kept.length > 0) write("\n");
      drawn = [];
    },
  };
}

/** Cut `text` to `width` characters, keeping its end (the numbers) when a long name must give way. */
export function fit(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : chars.slice(0, width - 1).join("") + "…";
}

/**
 * One file's progress line, `name  42% [########..........] 12.3 MB/29.1 MB 4.1 MB/s`, with the
 * name shortened from the left (`…/model.safetensors`) so the whole line fits `width`.
 */
export function fileLine(name: string, done: number, total: number, rate: number, width: number, note = "", fixedBar?: number): string {
  const tail = (barWidth: number): string =>
    ` ${percent(done, total)} ${bar(done, total, barWidth)} ${formatSize(done)}/${formatSize(total)} ${formatRate(rate)}${note}`;
  const chars = [...name];
  // The bar gives way first (down to 6 cells), then the name, from the left: its end
  // (`model-00001-of-00009.safetensors`) is what tells files apart.
  let barWidth = fixedBar ?? 20;
  while (fixedBar === undefined && barWidth > 6 && chars.length + [...tail(barWidth)].length > width) barWidth--;
  const rest = tail(barWidth);
  const room = Math.max(8, width - [...rest].length);
  const shown = chars.length <= room ? name : "…" + chars.slice(chars.length - room + 1).join("");
  return shown + rest;
}

/** The width of the bar in a line {@link fileLine} drew. */
export function barWidthOf(line: string): number {
  return /\[([#.]+)\]/.exec(line)?.[1].length ?? 0;
}

/** `  7%`, right-aligned to four characters. */
export function percent(done: number, total: number): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 1;
  return `${String(Math.floor(ratio * 100)).padStart(3)}%`;
}

/** A bar such as `[#######.............]`. */
export function bar(done: number, total: number, width = 20): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(ratio * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}

/** A size with its unit, decimal as download tools show them: `43 B`, `642.9 kB`, `1.2 GB`. */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  let n = bytes;
  for (const unit of ["kB", "MB", "GB", "TB"]) {
    n /= 1000;
    if (n < 999.95 || unit === "TB") return `${n.toFixed(1)} ${unit}`;
  }
  return `${n.toFixed(1)} TB`;
}

/** A rate with its unit: `642.9 kB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatSize(bytesPerSecond)}/s`;
}

/**
 * Bytes per second over a sliding window. Feed it the bytes that came over the network (not
 * a resumed prefix or a cached file), or a resume shows the prefix as speed.
 */
export function rateMeter(windowMs = 3000): { add(t: number, transferred: number): void; perSecond(t: number): number } {
  const samples: Array<[number, number]> = [];
  return {
    add(t, transferred) {
      samples.push([t, transferred]);
      while (samples.length > 2 && t - samples[0][0] > windowMs) samples.shift();
    },
    perSecond(t) {
      if (samples.length < 2) return 0;
      const [t0, b0] = samples[0];
      const [, b1] = samples[samples.length - 1];
      const dt = Math.max(1, t - t0);
      return ((b1 - b0) * 1000) / dt;
    },
  };
}
