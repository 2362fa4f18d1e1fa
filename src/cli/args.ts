/**
 * Command-line flag parsing shared by every command (node:util `parseArgs`, which Node,
 * Deno and Bun all provide), with errors users can act on.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { InvalidInputError } from "../core/errors.ts";

/** A flag: string (optionally repeatable) or boolean. */
export interface FlagSpec {
  /** A `boolean` flag takes no value; a `string` flag requires one. */
  readonly type: "string" | "boolean";
  /** Repeatable (`--include a --include b`); read it with {@link listFlag}. */
  readonly multiple?: boolean;
  /** One-letter alias, e.g. `q` for `-q`. */
  readonly short?: string;
}

/** Parsed flags and positionals. */
export interface ParsedArgs {
  /** Flag values by long name; read them through the typed helpers below. */
  readonly values: Record<string, string | boolean | string[] | undefined>;
  /** Arguments that are not flags, in order (repo id, then file paths). */
  readonly positionals: string[];
}

/**
 * Parse `argv` against `spec`; unknown flags and missing values become an InvalidInputError
 * naming the command's usage.
 */
export function parseFlags(argv: string[], spec: Record<string, FlagSpec>, command: string): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: spec, allowPositionals: true, strict: true });
    return { values: values as ParsedArgs["values"], positionals };
  } catch (err) {
    const message = err instanceof Error ? err.message.replace(/\. To specify a positional.*$/s, "") : String(err);
    throw new InvalidInputError(`${message} (see 'hubcache ${command} --help')`);
  }
}

/** A string flag's value, if given. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === "string" ? v : undefined;
}

/** A repeatable string flag's values (`[]` when absent), also when the spec forgot `multiple`. */
export function listFlag(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

/** A boolean flag's value (`false` when absent). */
export function booleanFlag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** Parse a positive integer flag. */
export function integerFlag(args: ParsedArgs, name: string, fallback: number): number {
  const raw = stringFlag(args, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidInputError(`--${name} must be a positive integer, got '${raw}'`);
  return n;
}
