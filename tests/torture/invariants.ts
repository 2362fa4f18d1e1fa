/**
 * Checkers shared by the torture parts 4–6: the invariants of `docs/DESIGN.md §Invariants` read off a
 * {@link MemoryFileSystem} (blobs hash to their names, pointers resolve to exact bytes,
 * refs are 40 hex, nothing outside the cache, no temp files left), plus the seeded PRNG
 * every part draws its scenarios from (one generator, so a seed means the same thing
 * in every part and in `scripts/replay.mjs`).
 *
 * The checkers read the in-memory file system directly (never through a simulated
 * actor's gated view), so checking never changes an interleaving.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import process from "node:process";
import type { MemoryFileSystem } from "../../src/adapters/memory/mod.ts";
import { HubcacheError } from "../../src/core/errors.ts";
import { parseBlobsEntry, relativeBlobTarget } from "../../src/core/cache/layout.ts";
import { FsError } from "../../src/core/ports.ts";

// ---------------------------------------------------------------------------------------------
// Randomness

/**
 * A small seeded generator (splitmix32). Same seed, same sequence, on every runtime.
 *
 * @example
 * ```ts
 * const rng = new Prng(42);
 * rng.int(10); // 0..9
 * ```
 */
export class Prng {
  #state: number;
  constructor(seed: number) {
    this.#state = (seed >>> 0) ^ 0x5eed5eed;
  }
  /** A uniformly distributed 32-bit unsigned integer. */
  next32(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }
  /** A float in [0, 1). */
  float(): number {
    return this.next32() / 0x1_0000_0000;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor(this.float() * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** `n` pseudo-random bytes. */
  bytes(n: number): Uint8Array {
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) words[i] = this.next32();
    // Little-endian view on every runtime we run on; the sequence is what matters, not the order.
    return new Uint8Array(words.buffer, 0, n);
  }
  /**
   * `n` bytes that are cheap to make but unique to this draw: a random 64 KiB block tiled over
   * the length, with a random salt and the offset stamped into every 4 KiB. For file contents.
   */
  content(n: number): Uint8Array {
    const block = this.bytes(65_536);
    const out = new Uint8Array(n);
    for (let at = 0; at < n; at += block.length) out.set(block.subarray(0, Math.min(block.length, n - at)), at);
    const salt = this.next32();
    const view = new DataView(out.buffer);
    for (let at = 0; at + 8 <= n; at += 4096) {
      view.setUint32(at, salt);
      view.setUint32(at + 4, at);
    }
    return out;
  }
  /** A child generator, so adding draws in one place does not shift another's sequence. */
  fork(salt: number): Prng {
    return new Prng((this.next32() ^ Math.imul(salt + 1, 0x9e3779b1)) >>> 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Content addresses

/** sha256 hex of `data`. */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The git blob id of `data`: `sha1("blob <size>\0" + data)`. */
export function gitBlobSha1(data: Uint8Array): string {
  return createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
}

/** Whether `data` is the content whose address is `etag` (64 hex: sha256; 40 hex: git sha1). */
export function matchesEtag(etag: string, data: Uint8Array): boolean {
  return etag.length === 64 ? sha256Hex(data) === etag : gitBlobSha1(data) === etag;
}

/**
 * POSIX normalisation of an absolute path: "." and ".." resolved lexically, duplicate slashes
 * collapsed. Deliberately not the core's `normalizePath`: a checker must not share the bugs of
 * the code it judges.
 */
export function normalizePosix(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/** Byte equality. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Errors a download may end with: ours (`HubcacheError`) or a port error with a code. */
export function isTypedError(err: unknown): boolean {
  return err instanceof HubcacheError || (err instanceof FsError && typeof err.code === "string" && err.code.length > 0);
}

/** One line describing any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof FsError) return `FsError ${err.code} (${err.syscall} ${err.path})`;
  if (err instanceof HubcacheError) return `${err.name} ${err.code}: ${err.message.slice(0, 160)}`;
  if (err instanceof Error) return `${err.name}: ${err.message.slice(0, 200)}`;
  return `non-error thrown: ${String(err).slice(0, 100)}`;
}

// ---------------------------------------------------------------------------------------------
// What the cache should contain

/** What the Hub served: commit → repo path → etag, and the bytes of each etag. */
export interface Catalog {
  readonly contentByEtag: ReadonlyMap<string, Uint8Array>;
  /** commit → path → etag */
  readonly files: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

/** Options of {@link checkCacheInvariants}. */
export interface CheckOptions {
  /** What the cache may hold; without it pointers are checked only against their blob's name. */
  readonly catalog?: Catalog;
  /** A pointer whose blob is gone is tolerated (a prune may be removing that revision). */
  readonly allowDangling?: boolean;
  /**
   * Results of earlier checks keyed by path, size and mtime. Only sound when every
   * modification moves the clock forward (the simulation's clock does), so a changed file
   * always has a new key.
   */
  readonly memo?: Map<string, string | null>;
  /** Also require that nothing exists outside `cacheDir` (§Invariants 9). */
  readonly checkOutside?: boolean;
}

const HEX40 = /^[0-9a-f]{40}$/;

/**
 * Check invariants 1, 3/5, 4 and 9 (`docs/DESIGN.md §Invariants`) on the current state of `fs`:
 * every `blobs/<etag>` is complete and hashes to its etag; every snapshot pointer resolves
 * to exactly the bytes its commit holds (or is such a regular file without symlinks); every
 * `refs/*` file is exactly 40 hex; `.no_exist` never marks a file that exists; nothing lives
 * outside `cacheDir`. Returns one line per violation (empty: all good).
 *
 * @example
 * ```ts
 * const problems = await checkCacheInvariants(fs, "/cache", { catalog });
 * ```
 */
export async function checkCacheInvariants(fs: MemoryFileSystem, cacheDir: string, options: CheckOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const { catalog, memo } = options;
  const root = cacheDir.endsWith("/") ? cacheDir.slice(0, -1) : cacheDir;
  if (options.checkOutside) {
    for (const p of fs.listTree("/")) {
      const bare = p.endsWith("/") ? p.slice(0, -1) : p;
      const inside = bare === root || bare.startsWith(root + "/") || (p.endsWith("/") && (root + "/").startsWith(bare + "/"));
      if (!inside) out.push(`invariant 9: '${p}' exists outside the cache ${root}`);
    }
  }
  for (const p of safeListTree(fs, root)) {
    if (p.endsWith("/")) continue;
    const rel = p.slice(root.length + 1);
    const parts = rel.split("/");
    if (parts.length < 3) continue;
    const area = parts[1];
    if (area === "blobs" && parts.length === 3) {
      const entry = parseBlobsEntry(parts[2]!);
      if (entry.kind !== "blob") continue;
      const problem = await checkBlob(fs, p, entry.etag, catalog, memo);
      if (problem) out.push(problem);
    } else if (area === "snapshots" && parts.length >= 4) {
      const commit = parts[2]!;
      const filePath = parts.slice(3).join("/");
      const problem = await checkPointer(fs, p, commit, filePath, catalog, memo, options.allowDangling ?? false);
      if (problem) out.push(problem);
    } else if (area === "refs") {
      let text: string;
      try {
        const info = await fs.lstat(p);
        if (info.kind !== "file") {
          out.push(`invariant 4: ref '${rel}' is a ${info.kind}, not a file`);
          continue;
        }
        text = new TextDecoder().decode(await fs.readFile(p));
      } catch (err) {
        out.push(`invariant 4: ref '${rel}' unreadable: ${describeError(err)}`);
        continue;
      }
      if (!HEX40.test(text)) out.push(`invariant 4: ref '${rel}' holds ${JSON.stringify(text.slice(0, 60))}, not exactly 40 hex`);
      else if (catalog && !catalog.files.has(text)) out.push(`invariant 4: ref '${rel}' names unknown commit ${text}`);
    } else if (area === ".no_exist" && parts.length >= 4 && catalog) {
      const commit = parts[2]!;
      const filePath = parts.slice(3).join("/");
      if (catalog.files.get(commit)?.has(filePath)) {
        out.push(`.no_exist marks '${filePath}' absent at ${commit.slice(0, 8)}, but the commit has it`);
      }
    }
  }
  return out;
}

const scratch = new Uint8Array(1 << 20);

/** Whether the file at `path` holds exactly `expected` (read in chunks, nothing allocated). */
async function fileEquals(fs: MemoryFileSystem, path: string, expected: Uint8Array): Promise<boolean> {
  const handle = await fs.openRead(path);
  try {
    let at = 0;
    for (;;) {
      const n = await handle.read(scratch, at);
      if (n === 0) return at === expected.length;
      if (at + n > expected.length || !sameBytes(scratch.subarray(0, n), expected.subarray(at, at + n))) return false;
      at += n;
    }
  } finally {
    await handle.close();
  }
}

/** `listTree`, or nothing when the folder (or one above it) does not exist. */
function safeListTree(fs: MemoryFileSystem, dir: string): string[] {
  try {
    return fs.listTree(dir);
  } catch {
    return [];
  }
}

async function checkBlob(
  fs: MemoryFileSystem,
  path: string,
  etag: string,
  catalog: Catalog | undefined,
  memo: Map<string, string | null> | undefined,
): Promise<string | null> {
  let info;
  try {
    info = await fs.lstat(path);
  } catch {
    return null; // vanished between listing and looking: not a state we judge
  }
  if (info.kind !== "file") return `invariant 1: blobs/${etag.slice(0, 12)}… is a ${info.kind}, not a regular file`;
  const key = `b|${path}|${info.size}|${info.mtimeMs}`;
  if (memo?.has(key)) return memo.get(key)!;
  let problem: string | null = null;
  const expected = catalog?.contentByEtag.get(etag);
  if (expected !== undefined && expected.length !== info.size) {
    problem = `invariant 1: ${path} has ${info.size} bytes, its content has ${expected.length}`;
  } else if (expected !== undefined ? !(await fileEquals(fs, path, expected)) : !matchesEtag(etag, await fs.readFile(path))) {
    // The catalog's bytes hash to their etag by construction: comparing is the same check, faster.
    problem = `invariant 1: ${path} (${info.size} bytes) does not hash to its etag`;
  }
  memo?.set(key, problem);
  return problem;
}

async function checkPointer(
  fs: MemoryFileSystem,
  path: string,
  commit: string,
  filePath: string,
  catalog: Catalog | undefined,
  memo: Map<string, string | null> | undefined,
  allowDangling: boolean,
): Promise<string | null> {
  const expectedEtag = catalog?.files.get(commit)?.get(filePath);
  if (catalog && expectedEtag === undefined) {
    return `invariant 5: pointer ${commit.slice(0, 8)}/${filePath} exists but that commit has no such file`;
  }
  let link;
  try {
    link = await fs.lstat(path);
  } catch {
    return null;
  }
  let target = "";
  if (link.kind === "symlink") {
    target = await fs.readlink(path).catch(() => "");
    if (expectedEtag !== undefined && target !== relativeBlobTarget(filePath, expectedEtag)) {
      return `invariant 5: pointer ${commit.slice(0, 8)}/${filePath} links '${target}', expected '${relativeBlobTarget(filePath, expectedEtag)}'`;
    }
  } else if (link.kind !== "file") {
    return `invariant 5: pointer ${commit.slice(0, 8)}/${filePath} is a ${link.kind}`;
  }
  let info;
  try {
    info = await fs.stat(path);
  } catch (err) {
    if (allowDangling) return null;
    return `invariant 5: pointer ${commit.slice(0, 8)}/${filePath} -> '${target}' does not resolve (${describeError(err)})`;
  }
  if (info.kind !== "file") return `invariant 5: pointer ${commit.slice(0, 8)}/${filePath} resolves to a ${info.kind}`;
  if (link.kind === "symlink" && expectedEtag !== undefined) {
    // It links exactly blobs/<expected etag> (checked above), and every blob is checked on its
    // own: the pointer's bytes are the blob's. Only the size is left to compare.
    const size = catalog!.contentByEtag.get(expectedEtag)!.length;
    return info.size === size ? null : `invariant 5: pointer ${commit.slice(0, 8)}/${filePath} resolves to ${info.size} bytes, its content has ${size}`;
  }
  const key = `p|${path}|${target}|${info.size}|${info.mtimeMs}`;
  if (memo?.has(key)) return memo.get(key)!;
  let data: Uint8Array;
  try {
    data = await fs.readFile(path);
  } catch (err) {
    return allowDangling ? null : `invariant 5: pointer ${commit.slice(0, 8)}/${filePath} unreadable: ${describeError(err)}`;
  }
  let problem: string | null = null;
  if (expectedEtag !== undefined) {
    const expected = catalog!.contentByEtag.get(expectedEtag)!;
    if (!sameBytes(data, expected)) {
      problem = `invariant 5: pointer ${commit.slice(0, 8)}/${filePath} gives ${data.length} bytes that are not its content (${expected.length} bytes)`;
    }
  } else if (link.kind === "symlink") {
    const m = /blobs\/([0-9a-f]{40}|[0-9a-f]{64})$/.exec(target);
    if (m && !matchesEtag(m[1]!, data)) problem = `invariant 5: pointer ${commit.slice(0, 8)}/${filePath} resolves to bytes not matching ${m[1]}`;
  }
  memo?.set(key, problem);
  return problem;
}

/**
 * Record unhandled promise rejections instead of letting them end the process (Node, Deno and
 * Bun all exit on one by default: for a library that is a crash of the user's program).
 * Returns the list being filled and a function that stops listening.
 *
 * @example
 * ```ts
 * const watch = watchUnhandledRejections();
 * try { … } finally { watch.stop(); }
 * if (watch.seen.length) …
 * ```
 */
export function watchUnhandledRejections(): { seen: unknown[]; stop: () => void } {
  const seen: unknown[] = [];
  const handler = (reason: unknown): void => {
    seen.push(reason);
  };
  process.on("unhandledRejection", handler);
  return { seen, stop: () => process.off("unhandledRejection", handler) };
}

/**
 * Temp files left in a cache (`docs/DESIGN.md §Invariants 10`): writers' `*.incomplete`, released `*.partial`,
 * anything in `.hubcache-tmp/`, hubcache lock files and stale-lock leftovers. Python's
 * `*.lock` files are not temp files (filelock keeps them on purpose).
 *
 * @example
 * ```ts
 * assert.deepEqual(listTempFiles(fs, "/cache"), []);
 * ```
 */
export function listTempFiles(fs: MemoryFileSystem, cacheDir: string): string[] {
  return safeListTree(fs, cacheDir).filter((p) =>
    !p.endsWith("/") &&
    (p.endsWith(".incomplete") || p.endsWith(".partial") || p.includes("/.hubcache-tmp/") || p.includes(".hubcache-lock"))
  );
}
