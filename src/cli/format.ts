/**
 * How the CLI writes numbers and tables for people, in the Python client's forms (`hf cache ls`
 * prints sizes with `_format_size`, ages with `format_timesince`, tables with `tabulate`), so
 * output and scripts port between the two.
 *
 * @module
 */

/**
 * Format a byte count as the Python client's `_format_size` does: decimal units, one
 * decimal, ties rounded to even (`1250` → `1.2K`), e.g. `0.0`, `999.0`, `7.9K`, `3.4G`.
 */
export function formatBytes(bytes: number): string {
  let n = bytes;
  for (const unit of ["", "K", "M", "G", "T", "P", "E", "Z"]) {
    if (Math.abs(n) < 1000) return toFixedHalfEven(n, 1) + unit;
    n /= 1000;
  }
  return toFixedHalfEven(n, 1) + "Y";
}

/** `x.toFixed(digits)` but with Python's rounding: exact ties go to the even digit. */
function toFixedHalfEven(x: number, digits: number): string {
  const abs = Math.abs(x);
  // toFixed(100) is the exact decimal expansion for the magnitudes we format (a double in
  // [1, 1000) has at most 52 fractional digits), so a tie is visible as "5000…".
  const exact = abs.toFixed(100);
  const dot = exact.indexOf(".");
  const kept = exact.slice(0, dot + 1 + digits);
  const tail = exact.slice(dot + 1 + digits);
  // toFixed rounds exact ties away from zero; Python rounds them to even.
  const tieToEven = /^50*$/.test(tail) && Number(kept[kept.length - 1]) % 2 === 0;
  const result = tieToEven ? kept : abs.toFixed(digits);
  return (x < 0 ? "-" : "") + result;
}

/**
 * Format a past time relative to `nowMs` as the Python client's `format_timesince` does:
 * `a few seconds ago`, `3 minutes ago`, `1 hour ago`, `2 weeks ago`, `1 year ago`.
 */
export function formatTimeSince(timeMs: number, nowMs: number): string {
  const delta = (nowMs - timeMs) / 1000;
  if (delta < 20) return "a few seconds ago";
  const chunks: [string, number, number | null][] = [
    // huggingface_hub 2.0 rolls over at 60 seconds, 60 minutes, 24 hours (1.x showed "60 minutes ago").
    ["second", 1, 59],
    ["minute", 60, 59],
    ["hour", 3600, 23],
    ["day", 86400, 6],
    ["week", 7 * 86400, 6],
    ["month", 30 * 86400, 11],
    ["year", 365 * 86400, null],
  ];
  let value = 0;
  let label = "second";
  for (const [name, divider, max] of chunks) {
    value = roundHalfEven(delta / divider);
    label = name;
    if (max !== null && value <= max) break;
  }
  return `${value} ${label}${value > 1 ? "s" : ""} ago`;
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Render rows as the Python client's `tabulate`: columns padded to their widest cell,
 * one space apart, a dashed rule under the header; numbers right-aligned.
 */
export function tabulate(rows: readonly (readonly (string | number)[])[], headers: readonly string[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: readonly (string | number)[]): string =>
    cells.map((c, i) => (typeof c === "number" ? String(c).padStart(widths[i]) : c.padEnd(widths[i]))).join(" ").trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
