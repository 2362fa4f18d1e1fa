/**
 * `cache ls --filter/--sort/--limit`, with `hf cache ls`'s grammar and meaning: filters
 * `size>1GB`, `type=model`, `accessed>7d`, `modified<=2h`, `refs=main` (all must hold), sort
 * keys `accessed`, `modified`, `name`, `size` with `:asc`/`:desc` (newest/biggest first unless
 * told; `name` A→Z), and a limit applied after sorting.
 *
 * @module
 */

import { InvalidInputError } from "../core/errors.ts";
import type { CachedRepoInfo, CachedRevisionInfo } from "../core/manage/scan.ts";

/** One row of `cache ls`: a repo, or with `--revisions` one of its revisions. */
export interface LsEntry {
  readonly repo: CachedRepoInfo;
  readonly revision?: CachedRevisionInfo;
}

const FILTER = /^(?<key>[a-zA-Z_]+)\s*(?<op>==|!=|>=|<=|>|<|=)\s*(?<value>.+)$/;
const OPS = new Set(["=", "!=", ">", "<", ">=", "<="]);
const FILTER_KEYS = ["accessed", "modified", "refs", "size", "type"];
const SORT_KEYS = ["accessed", "modified", "name", "size"];
const DEFAULT_DESC: Readonly<Record<string, boolean>> = { accessed: true, modified: true, size: true, name: false };
const BYTE_UNITS: Readonly<Record<string, number>> = { k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, p: 1e15, pb: 1e15 };
const TIME_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, mo: 2592000, y: 31536000 };

/** As `_parse_with_unit`: a plain integer, or digits and a unit. */
function withUnit(value: string, units: Readonly<Record<string, number>>, what: string): number {
  const v = value.trim();
  if (/^-?\d+$/.test(v)) return Number(v);
  const m = /^(\d+)([a-z]+)$/i.exec(v);
  if (!m) throw new InvalidInputError(`invalid ${what} '${value}': use a number with a unit, like ${what === "size" ? "1GB or 500MB" : "7d or 12h"}`);
  const unit = m[2].toLowerCase();
  if (!(unit in units)) throw new InvalidInputError(`unknown ${what} unit '${unit}' in '${value}': one of ${Object.keys(units).join(", ")}`);
  return Number(m[1]) * units[unit];
}

function compare(left: number, op: string, right: number): boolean {
  switch (op) {
    case "=":
      return left === right;
    case "!=":
      return left !== right;
    case ">":
      return left > right;
    case "<":
      return left < right;
    case ">=":
      return left >= right;
    default:
      return left <= right;
  }
}

/** One `--filter` expression as a test of an entry (times relative to `nowMs`). */
export function compileFilter(expr: string, nowMs: number): (e: LsEntry) => boolean {
  const m = FILTER.exec(expr.trim());
  if (!m?.groups) throw new InvalidInputError(`invalid filter '${expr}': use key<op>value, e.g. 'size>1GB', 'type=model', 'accessed>7d'`);
  const key = m.groups.key.toLowerCase();
  const op = m.groups.op === "==" ? "=" : m.groups.op;
  const value = m.groups.value.trim();
  if (!OPS.has(op)) throw new InvalidInputError(`unsupported operator '${m.groups.op}' in '${expr}'`);
  if (!FILTER_KEYS.includes(key)) throw new InvalidInputError(`unsupported filter key '${key}' in '${expr}': one of ${FILTER_KEYS.join(", ")}`);
  if (key === "size") {
    const limit = withUnit(value, BYTE_UNITS, "size");
    return (e) => compare(e.revision?.sizeOnDisk ?? e.repo.sizeOnDisk, op, limit);
  }
  if (key === "accessed" || key === "modified") {
    const seconds = withUnit(value, TIME_UNITS, "duration");
    return (e) => {
      const ms = key === "accessed" ? e.repo.lastAccessedMs : e.revision?.lastModifiedMs ?? e.repo.lastModifiedMs;
      return compare((nowMs - ms) / 1000, op, seconds);
    };
  }
  if (op !== "=") throw new InvalidInputError(`only '=' is supported for '${key}' filters, got '${op}'`);
  if (key === "type") return (e) => e.repo.repoType === value.toLowerCase();
  return (e) => {
    const refs = e.revision ? e.revision.refs : e.repo.revisions.flatMap((r) => r.refs);
    return refs.some((r) => r.toLowerCase() === value.toLowerCase());
  };
}

/** Filter, sort and limit the entries as `hf cache ls` does (a stable sort, then the first `limit`). */
export function selectEntries(
  entries: readonly LsEntry[],
  options: { filters: readonly string[]; sort?: string; limit?: number; nowMs: number },
): LsEntry[] {
  const tests = options.filters.map((f) => compileFilter(f, options.nowMs));
  let out = entries.filter((e) => tests.every((t) => t(e)));
  if (options.sort !== undefined) {
    const m = /^([a-z_]+)(?::(asc|desc))?$/.exec(options.sort.trim().toLowerCase());
    if (!m || !SORT_KEYS.includes(m[1])) {
      throw new InvalidInputError(`invalid --sort '${options.sort}': one of ${SORT_KEYS.join(", ")}, optionally with :asc or :desc`);
    }
    const key = m[1];
    const desc = m[2] ? m[2] === "desc" : DEFAULT_DESC[key];
    const value = (e: LsEntry): number | string =>
      key === "name"
        ? `${e.repo.repoType}/${e.repo.repoId}`.toLowerCase()
        : key === "size"
        ? e.revision?.sizeOnDisk ?? e.repo.sizeOnDisk
        : key === "accessed"
        ? e.repo.lastAccessedMs
        : e.revision?.lastModifiedMs ?? e.repo.lastModifiedMs;
    out = [...out].sort((a, b) => {
      const [x, y] = desc ? [value(b), value(a)] : [value(a), value(b)];
      return x < y ? -1 : x > y ? 1 : 0;
    });
  }
  if (options.limit !== undefined) out = out.slice(0, options.limit);
  return out;
}
