/**
 * Validation of everything that becomes part of a cache path or a request:
 * repo ids, revisions and file paths from users; etags, commits and sizes from
 * servers (`docs/DESIGN.md §Invariants 9`: nothing escapes the cache).
 *
 * @module
 */

import { InvalidInputError, UnsafeResponseError } from "../errors.ts";

/** The three kinds of Hub repository. */
export type RepoType = "model" | "dataset" | "space";

const REPO_TYPES: readonly RepoType[] = ["model", "dataset", "space"];
const REPO_SEGMENT = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$/;
const HEX40 = /^[0-9a-f]{40}$/;
const HEX64 = /^[0-9a-f]{64}$/;
// Control characters never belong in a path we write, and NUL truncates C strings.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// A lone UTF-16 surrogate cannot be URL-encoded (URIError) and file systems map them to
// replacement characters, so two different names could land on one file.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Check a repo type. */
export function validateRepoType(value: string): RepoType {
  if (!(REPO_TYPES as readonly string[]).includes(value)) {
    throw new InvalidInputError(`repo type must be one of model, dataset, space; got '${value}'`);
  }
  return value as RepoType;
}

/**
 * Check a repo id the way the Hub does: `name` or `namespace/name`, letters, digits,
 * `_`, `-`, `.`, no `--` or `..` (the folder name uses `--` as its separator).
 *
 * @example
 * ```ts
 * import { validateRepoId } from "hubcache/core";
 *
 * console.log(validateRepoId("openai-community/gpt2")); // "openai-community/gpt2"
 * try {
 *   validateRepoId("../etc");
 * } catch (e) {
 *   console.log((e as Error).message); // "invalid repo id '../etc': use 'name' or 'namespace/name' …"
 * }
 * ```
 */
export function validateRepoId(repoId: string): string {
  const segments = repoId.split("/");
  const ok = typeof repoId === "string" && segments.length <= 2 && segments.every((s) => REPO_SEGMENT.test(s)) &&
    !repoId.includes("--") && !repoId.includes("..") && !repoId.endsWith(".git");
  if (!ok) {
    throw new InvalidInputError(
      `invalid repo id '${printable(repoId)}': use 'name' or 'namespace/name' with letters, digits, '-', '_', '.' (no '--' or '..')`,
    );
  }
  return repoId;
}

function checkRelativePath(value: string, what: string, maxLength: number): string {
  const problem = typeof value !== "string" || value.length === 0
    ? "it is empty"
    : value.length > maxLength
    ? `it is longer than ${maxLength} characters`
    : CONTROL.test(value)
    ? "it contains a control character"
    : LONE_SURROGATE.test(value)
    ? "it is not valid Unicode (a lone surrogate)"
    : value.includes("\\")
    ? "it contains a backslash"
    : value.startsWith("/")
    ? "it is absolute"
    : /^[A-Za-z]:/.test(value)
    ? "it starts with a drive letter"
    : value.split("/").some((s) => s === "" || s === "." || s === "..")
    ? "it has an empty, '.' or '..' segment"
    : undefined;
  if (problem) throw new InvalidInputError(`invalid ${what} '${printable(String(value))}': ${problem}`);
  return value;
}

/**
 * Check a revision (branch, tag, commit or `refs/pr/N`). It becomes a file under
 * `refs/`, so it must be a relative path with no `.`/`..`/empty segments.
 *
 * @example
 * ```ts
 * import { validateRevision } from "hubcache/core";
 *
 * console.log(validateRevision("refs/pr/1")); // "refs/pr/1"
 * try {
 *   validateRevision("../../x");
 * } catch (e) {
 *   console.log((e as Error).message); // "invalid revision '../../x': it has an empty, '.' or '..' segment"
 * }
 * ```
 */
export function validateRevision(revision: string): string {
  return checkRelativePath(revision, "revision", 255);
}

/**
 * Check a file path inside a repo (`folder/file.bin`). Used for user input and for
 * every path a server lists in a tree.
 *
 * @example
 * ```ts
 * import { validateRepoPath } from "hubcache/core";
 *
 * console.log(validateRepoPath("onnx/model.onnx")); // "onnx/model.onnx"
 * try {
 *   validateRepoPath("/etc/passwd");
 * } catch (e) {
 *   console.log((e as Error).message); // "invalid file path '/etc/passwd': it is absolute"
 * }
 * ```
 */
export function validateRepoPath(path: string): string {
  return checkRelativePath(path, "file path", 4096);
}

/**
 * True for a full 40-hex lowercase commit hash. A revision that passes needs no round trip to
 * resolve, which is what lets offline runs use it directly.
 *
 * @example
 * ```ts
 * import { isCommitHash } from "hubcache/core";
 *
 * console.log(isCommitHash("0123456789abcdef0123456789abcdef01234567")); // true
 * console.log(isCommitHash("main")); // false
 * ```
 */
export function isCommitHash(value: string): boolean {
  return HEX40.test(value);
}

/**
 * Check a commit hash that came from a server (or a `refs/` file: read tolerantly,
 * so surrounding whitespace is ignored).
 */
export function parseCommit(raw: string | null | undefined, source: string): string {
  const value = (raw ?? "").trim().toLowerCase();
  if (!HEX40.test(value)) {
    throw new UnsafeResponseError(`${source} is not a 40-hex commit hash: '${printable(raw ?? "")}'`);
  }
  return value;
}

/**
 * Normalise an ETag header into a content address: strip `W/` and quotes,
 * lowercase, and require 40 hex (git sha1) or 64 hex (sha256).
 *
 * @example
 * ```ts
 * import { parseEtag } from "hubcache/core";
 *
 * console.log(parseEtag('W/"' + "A".repeat(64) + '"', "X-Linked-Etag")); // "aaaa…" (64 lowercase hex)
 * ```
 */
export function parseEtag(raw: string | null | undefined, source: string): string {
  let value = (raw ?? "").trim();
  if (value.startsWith("W/")) value = value.slice(2);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  value = value.toLowerCase();
  if (!HEX40.test(value) && !HEX64.test(value)) {
    throw new UnsafeResponseError(`${source} is not a 40- or 64-hex content hash: '${printable(raw ?? "")}'`);
  }
  return value;
}

/**
 * True when a string is a valid etag as stored in `blobs/` (40 or 64 lowercase hex).
 * Anything else in `blobs/` is a temp file or foreign, never a blob.
 */
export function isEtag(value: string): boolean {
  return HEX40.test(value) || HEX64.test(value);
}

/** Parse a size header: a non-negative safe integer in plain decimal. */
export function parseSize(raw: string | null | undefined, source: string): number {
  const value = (raw ?? "").trim();
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UnsafeResponseError(`${source} is not a valid size: '${printable(raw ?? "")}'`);
  }
  return Number(value);
}

/**
 * Make untrusted text safe to print in one line of an error message: control characters
 * are escaped (a header could otherwise rewrite the user's terminal) and long values cut
 * to 120 characters.
 */
export function printable(value: string): string {
  const shown = value.length > 120 ? value.slice(0, 117) + "..." : value;
  // deno-lint-ignore no-control-regex
  return shown.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
