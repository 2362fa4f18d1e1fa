/**
 * Progress on a terminal: one redrawn line on stderr, at most ten times a second.
 *
 * @module
 */

/** A progress line that redraws itself. */
export interface ProgressLine {
  /** Replace the line's text (throttled). */
  update(text: string, force?: boolean): void;
  /** Erase the line. */
  clear(): void;
}

/** A progress line on `write` (stderr) when `enabled`, otherwise a no-op. */
export function progressLine(write: (text: string) => void, enabled: boolean, now: () => number = Date.now): ProgressLine {
  let last = 0;
  let width = 0;
  return {
    update(text: string, force = false): void {
      if (!enabled) return;
      const t = now();
      if (!force && t - last < 100) return;
      last = t;
      const shown = text.length > 110 ? text.slice(0, 107) + "..." : text;
      write("\r" + shown + " ".repeat(Math.max(0, width - shown.length)));
      width = shown.length;
    },
    clear(): void {
      if (!enabled || width === 0) return;
      write("\r" + " ".repeat(width) + "\r");
      width = 0;
    },
  };
}

/** A bar such as `[#######.............]  35%`. */
export function bar(done: number, total: number, width = 20): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(ratio * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}%`;
}

/** Bytes per second over a sliding window, for "12 MB/s" readouts. */
export function rateMeter(windowMs = 3000): { add(t: number, totalBytes: number): void; perSecond(t: number): number } {
  const samples: Array<[number, number]> = [];
  return {
    add(t, totalBytes) {
      samples.push([t, totalBytes]);
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
