/**
 * Translating the file errors of Node, Deno and Bun (through `node:fs`, or Deno's own classes)
 * into the port's {@link FsError} with one normalised code, keeping the runtime's own code and
 * text for diagnostics (`docs/DESIGN.md §Runtimes`, `§Network file systems`).
 *
 * @module
 */

import * as os from "node:os";
import { FsError } from "../core/ports.ts";
import type { FsErrorCode } from "../core/ports.ts";

const KNOWN_CODES: ReadonlySet<string> = new Set<FsErrorCode>([
  "EEXIST", "ENOENT", "EPERM", "EACCES", "EXDEV", "ENOTEMPTY", "ENOSPC", "EISDIR", "ENOTDIR",
  "EBUSY", "EIO", "EINVAL", "ELOOP", "ENOTSUP", "EROFS", "EMFILE", "ESTALE",
]);

/** Codes that mean the same thing as one of ours under another name. */
const CODE_ALIASES: Readonly<Record<string, FsErrorCode>> = {
  EOPNOTSUPP: "ENOTSUP",
  ENFILE: "EMFILE",
  EDQUOT: "ENOSPC",
  ERR_FS_EISDIR: "EISDIR",
  ENAMETOOLONG: "EINVAL",
};

/**
 * Deno's own error classes. Its permission errors carry no `code` at all, so the
 * class name is the only signal (`docs/DESIGN.md §Runtimes`).
 */
const DENO_ERROR_NAMES: Readonly<Record<string, FsErrorCode>> = {
  NotCapable: "EACCES",
  PermissionDenied: "EACCES",
  NotFound: "ENOENT",
  AlreadyExists: "EEXIST",
  IsADirectory: "EISDIR",
  NotADirectory: "ENOTDIR",
  DirectoryNotEmpty: "ENOTEMPTY",
  Busy: "EBUSY",
  FilesystemLoop: "ELOOP",
  NotSupported: "ENOTSUP",
  InvalidData: "EINVAL",
};

/**
 * Normalise any error thrown by a runtime's file API into an {@link FsError} — what an adapter
 * for another file system does with its own errors.
 *
 * @example
 * ```ts
 * import { toFsError } from "hubcache/adapters/node";
 * import { readFile } from "node:fs/promises";
 *
 * try {
 *   await readFile("/no/such/file");
 * } catch (err) {
 *   const e = toFsError(err, "read", "/no/such/file");
 *   console.log(e.code, e.rawCode); // "ENOENT" "ENOENT"
 * }
 * ```
 */
export function toFsError(err: unknown, syscall: string, path: string): FsError {
  if (err instanceof FsError) return err;
  const e = err as { code?: unknown; errno?: unknown; name?: unknown; message?: unknown } | null;
  const raw = typeof e?.code === "string" ? e.code : undefined;
  const code = ourCode(raw) ?? ourCode(errnoName(e?.errno)) ?? ourCode(errnoName(unnamedErrno(raw ?? e?.message))) ??
    (typeof e?.name === "string" && Object.hasOwn(DENO_ERROR_NAMES, e.name) ? DENO_ERROR_NAMES[e.name] : undefined) ??
    "EUNKNOWN";
  const detail = typeof e?.message === "string" ? e.message : String(err);
  return new FsError(code, syscall, path, `${code}: ${syscall} '${path}': ${detail}`, {
    cause: err,
    rawCode: raw ?? (typeof e?.name === "string" && e.name !== "Error" ? e.name : undefined),
    rawMessage: detail,
  });
}

function ourCode(name: string | undefined): FsErrorCode | undefined {
  if (name === undefined) return undefined;
  if (KNOWN_CODES.has(name)) return name as FsErrorCode;
  return Object.hasOwn(CODE_ALIASES, name) ? CODE_ALIASES[name] : undefined;
}

/**
 * Node 20 names errnos libuv does not know `"Unknown system error -116"`, and not every path
 * through `fs/promises` (its `readFile`'s `fstat`, measured on GlusterFS) keeps `errno` beside it.
 */
function unnamedErrno(text: unknown): number | undefined {
  const m = typeof text === "string" ? /Unknown system error (-?\d+)/.exec(text) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * The errno's name, for errors whose `code` the runtime could not name: on a GlusterFS mount
 * Node 20 reports `ESTALE` as code `"Unknown system error -116"` and Deno as `"UNKNOWN"`, both
 * with `errno` -116 (Bun says `"ESTALE"`). Negative (libuv) and positive errnos both occur.
 */
export function errnoName(errno: unknown): string | undefined {
  if (typeof errno !== "number" || !Number.isInteger(errno) || errno === 0) return undefined;
  const n = Math.abs(errno);
  for (const [name, value] of Object.entries(os.constants.errno)) if (value === n) return name;
  return undefined;
}

/** Run one file-system call, translating whatever it throws into an {@link FsError}. */
export async function attempt<T>(syscall: string, path: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toFsError(err, syscall, path);
  }
}
