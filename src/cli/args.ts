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
  readonly type: "string" | "boolean";
  readonly multiple?: boolean;
  readonly short?: string;
}

/** Parsed flags and positionals. */
export interface ParsedArgs {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}

/**
 * Parse `argv` against `spec`; unknown flags and missing values become an InvalidInputError
 * naming the command's usage.
 *
 * @example
 * ```ts
 * const { values, positionals } = parseFlags(["gpt2", "--revision", "v1"], { revision: { type: "string" } }, "download");
 * ```
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

/** A repeatable string flag's values. */
export function listFlag(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

/** A boolean flag's value. */
export function booleanFlag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/**
 * Parse a positive integer flag.
 *
 * @example
 * ```ts
 * integerFlag(args, "concurrency", 8); // 8 when absent
 * ```
 */
export function integerFlag(args: ParsedArgs, name: string, fallback: number): number {
  const raw = stringFlag(args, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidInputError(`--${name} must be a positive integer, got '${raw}'`);
  return n;
}
