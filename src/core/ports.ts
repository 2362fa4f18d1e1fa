/**
 * The ports: everything the core needs from the outside world, as interfaces.
 *
 * The core decides; adapters act. Paths crossing these ports are absolute POSIX
 * strings ("/home/u/.cache/huggingface/hub/models--a--b/blobs/…"); adapters map
 * them to native paths if they must. Errors crossing these ports are
 * {@link FsError}s carrying a normalised {@link FsErrorCode}, so the core never
 * inspects a runtime's own error classes (Deno's `NotCapable` has no `code`).
 *
 * @module
 */

/**
 * The error codes the core branches on. Anything else arrives as `"EUNKNOWN"`, with the
 * runtime's own code in {@link FsError.rawCode}.
 *
 * `ESTALE` ("stale file handle") comes only from network file systems (NFS, Lustre, GPFS,
 * GlusterFS): a path-based open or read raced another host's rename of that path. It is
 * transient — the next lookup of the path finds the new file — so the core retries it.
 */
export type FsErrorCode =
  | "EEXIST"
  | "ENOENT"
  | "EPERM"
  | "EACCES"
  | "EXDEV"
  | "ENOTEMPTY"
  | "ENOSPC"
  | "EISDIR"
  | "ENOTDIR"
  | "EBUSY"
  | "EIO"
  | "EINVAL"
  | "ELOOP"
  | "ENOTSUP"
  | "EROFS"
  | "EMFILE"
  | "ESTALE"
  | "EUNKNOWN";

/**
 * A file-system failure with a normalised code.
 *
 * @example
 * ```ts
 * import { FsError } from "hubcache/core";
 * import { MemoryFileSystem } from "hubcache/adapters/memory";
 *
 * const fs = new MemoryFileSystem();
 * await fs.mkdirp("/c/blobs");
 * await (await fs.createExclusive("/c/blobs/x.tmp")).close();
 * try { await fs.createExclusive("/c/blobs/x.tmp"); }
 * catch (e) { if (e instanceof FsError && e.code === "EEXIST") console.log("another writer owns it"); }
 * ```
 */
export class FsError extends Error {
  /** Fixed, so logs read the same whichever runtime produced the underlying error. */
  override readonly name = "FsError";
  /** The normalised code; see {@link FsErrorCode}. */
  readonly code: FsErrorCode;
  /** The operation that failed, e.g. `"rename"`. */
  readonly syscall: string;
  /** The path the operation was applied to. */
  readonly path: string;
  /**
   * The runtime's own code, as it reported it, when it had one: `"ENOENT"`, but also what
   * normalisation cannot name — Node 20's `"Unknown system error -116"`, Deno's `"UNKNOWN"`.
   */
  readonly rawCode: string | undefined;
  /** The runtime's own message (`"UNKNOWN: unknown error, open '/c/refs/main'"`), when there was one. */
  readonly rawMessage: string | undefined;
  /**
   * Adapters build these from native errors; pass the native error as `options.cause` and its
   * code and message as `options.rawCode`/`options.rawMessage`, so the runtime's own details
   * survive the normalisation. `message` defaults to `CODE: syscall 'path'`.
   */
  constructor(
    code: FsErrorCode,
    syscall: string,
    path: string,
    message?: string,
    options?: { cause?: unknown; rawCode?: string; rawMessage?: string },
  ) {
    super(message ?? `${code}: ${syscall} '${path}'`, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.syscall = syscall;
    this.path = path;
    this.rawCode = options?.rawCode;
    this.rawMessage = options?.rawMessage;
  }
}

/**
 * True when `err` is an {@link FsError} with one of the given codes (any code when none is given).
 *
 * @example
 * ```ts
 * import { isFsError } from "hubcache/core";
 * import { memoryRuntime } from "hubcache/adapters/memory";
 *
 * const runtime = memoryRuntime();
 * try { await runtime.fs.removeFile("/c/blobs/x.partial"); }
 * catch (err) { if (!isFsError(err, "ENOENT")) throw err; } // someone removed it first: fine
 * ```
 */
export function isFsError(err: unknown, ...codes: FsErrorCode[]): err is FsError {
  return err instanceof FsError && (codes.length === 0 || codes.includes(err.code));
}

/** What `lstat`/`stat` report. */
export interface FileInfo {
  /** What the entry is; `symlink` only from `lstat`, since `stat` follows links. */
  readonly kind: "file" | "directory" | "symlink" | "other";
  /** Size in bytes (for a symlink from `lstat`, the length of its target). */
  readonly size: number;
  /** Last modification, ms since the epoch. */
  readonly mtimeMs: number;
  /** Last access, ms since the epoch. */
  readonly atimeMs: number;
  /**
   * Inode number and device, where the file system has them: two paths with equal `dev` and
   * `ino` are one file (hard links), counted once by the scan.
   */
  readonly ino?: number;
  /** See `ino`. */
  readonly dev?: number;
}

/** One entry of {@link FileSystem.readdirKinds}. */
export interface DirEntryKind {
  /** The entry's name (not a path). */
  readonly name: string;
  /** What `lstat` would say it is, or `unknown` when the listing does not tell. */
  readonly kind: FileInfo["kind"] | "unknown";
}

/** An open file. Writes are positional so resumed writers never depend on a shared offset. */
export interface FileHandle {
  /** Write all of `data` at `position` (adapters loop over short writes). */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Read up to `buffer.length` bytes at `position`; returns how many were read (0 at end). */
  read(buffer: Uint8Array, position: number): Promise<number>;
  /** Shrink or extend the file to `length` bytes. */
  truncate(length: number): Promise<void>;
  /** Flush data and metadata to stable storage (fsync). */
  sync(): Promise<void>;
  /** Size of the open file. */
  size(): Promise<number>;
  /** Release the handle. Does not fsync: call {@link FileHandle.sync} first when durability matters. */
  close(): Promise<void>;
}

/** The file-system operations the core uses. Every method rejects with {@link FsError}. */
export interface FileSystem {
  /** Create a new file for writing; `EEXIST` if anything (even a dangling symlink) is at `path`. */
  createExclusive(path: string): Promise<FileHandle>;
  /** Open an existing file for reading and positional writing (never creates). */
  openReadWrite(path: string): Promise<FileHandle>;
  /** Open an existing file for reading. */
  openRead(path: string): Promise<FileHandle>;
  /** Atomically rename; replaces an existing file at `to`. */
  rename(from: string, to: string): Promise<void>;
  /** Hard link; `EEXIST` if `to` exists (an atomic create-if-absent). */
  link(existing: string, to: string): Promise<void>;
  /** Create a symlink at `path` whose content is `target` (kept verbatim, usually relative). */
  symlink(target: string, path: string): Promise<void>;
  /** The target of the symlink at `path`, verbatim (not resolved); `EINVAL` if it is not a symlink. */
  readlink(path: string): Promise<string>;
  /** Information about `path` itself (does not follow a final symlink). */
  lstat(path: string): Promise<FileInfo>;
  /** Information about what `path` resolves to (follows symlinks). */
  stat(path: string): Promise<FileInfo>;
  /** Names (not paths) of the entries of a directory, in no particular order. */
  readdir(path: string): Promise<string[]>;
  /**
   * Optional: the entries of a directory with their kinds as the listing itself reports them
   * (`d_type`), in no particular order; `unknown` where the file system does not say. Walks of
   * big caches use it to skip an `lstat` per entry; without it they `lstat` every entry.
   */
  readdirKinds?(path: string): Promise<DirEntryKind[]>;
  /** Create a directory and its parents; no error if it exists. */
  mkdirp(path: string): Promise<void>;
  /** Remove a file or symlink. Never removes a directory (`EISDIR`/`EPERM` instead). */
  removeFile(path: string): Promise<void>;
  /** Remove a directory and everything below it; no error if absent. */
  removeTree(path: string): Promise<void>;
  /** Remove an empty directory (`ENOTEMPTY` otherwise). */
  removeEmptyDir(path: string): Promise<void>;
  /** Copy a file's bytes to a new path; `EEXIST` if `to` exists. */
  copyExclusive(from: string, to: string): Promise<void>;
  /**
   * A copy-on-write copy (reflink: the new file shares the old one's extents until either is
   * written), `EEXIST` if anything is at `to`; `ENOTSUP`, `EXDEV` or `EINVAL` where the file
   * system cannot share extents. Optional: without it, callers copy.
   */
  clone?(from: string, to: string): Promise<void>;
  /** Read a small file whole. */
  readFile(path: string): Promise<Uint8Array>;
  /** Write a small file whole (creates or truncates). Not atomic: callers rename a temp. */
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /** Set access and modification times (ms since the epoch). */
  utimes(path: string, atimeMs: number, mtimeMs: number): Promise<void>;
  /** fsync a directory so a rename inside it survives a power cut. Best effort. */
  syncDir(path: string): Promise<void>;
  /** Absolute, canonical form of a path (resolves symlinks); `ENOENT` if absent. */
  realpath(path: string): Promise<string>;
  /**
   * Bytes an unprivileged writer can still put on the file system holding `path` (statfs
   * `f_bavail × f_bsize`, what `df` shows as available). Optional: without it, downloads start
   * without checking and a full disk surfaces as `ENOSPC` mid-way.
   */
  freeSpace?(path: string): Promise<number>;
}

/** Incremental hashing. */
export interface Hasher {
  /** Feed the next bytes, in file order. The caller may reuse `data` once this returns. */
  update(data: Uint8Array): void;
  /** Lowercase hex digest. The hasher must not be used afterwards. */
  digestHex(): string;
}

/** The hash algorithms a content address can use: sha256 for LFS, git-blob sha1 otherwise. */
export type HashAlgorithm = "sha256" | "sha1";

/** Makes hashers. */
export interface HasherFactory {
  /** A fresh hasher. Async because the WebAssembly hasher instantiates its module on demand. */
  create(algorithm: HashAlgorithm): Promise<Hasher>;
}

/** Time, randomness and process identity — all injectable so simulations are deterministic. */
export interface Platform {
  /** ms since the epoch. */
  now(): number;
  /** Resolve after `ms`, or reject with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Resolve after `ms`, or reject with the signal's reason when it aborts first: like `sleep`,
   * for a timer that guards other work (a download's idle timeout, a lock's heartbeat) and is
   * aborted once that work is done. Real clocks treat both alike. A simulated clock that skips
   * ahead to end a `sleep` must not skip ahead to fire a `timeout`: the work it guards (a
   * network read) takes real time that such a clock cannot see.
   */
  timeout(ms: number, signal: AbortSignal): Promise<void>;
  /** Hex string of `bytes` random bytes (temp names use 16: cacache saw collisions with 4). */
  randomHex(bytes: number): string;
  /** This machine's host name, as other processes on it will see it. */
  hostname(): string;
  /** This process's id. */
  pid(): number;
  /** Whether a process with this id is alive on this host (`true` when unknown). */
  isProcessAlive(pid: number): boolean;
  /** An environment variable, read lazily (Deno asks permission on access). */
  env(name: string): string | undefined;
  /** The user's home directory. */
  homeDir(): string;
}

/**
 * An optional OS advisory lock (flock). Only Bun (via FFI) and Deno provide one;
 * correctness never depends on it (`docs/DESIGN.md §Invariants 6`).
 */
export interface AdvisoryLocks {
  /** Try to take an exclusive flock on `path` (created if absent); `null` if someone holds it. */
  tryLock(path: string): Promise<{ release(): Promise<void> } | null>;
}

/**
 * The named instants of a download, in order: the temp file exists; a chunk of bytes was
 * written; the temp file was fsynced; it was renamed into `blobs/`; the snapshot pointer
 * exists; `refs/<revision>` was written; a partial was released for resume.
 */
export type CheckpointName =
  | "temp-created"
  | "bytes-written"
  | "fsynced"
  | "renamed"
  | "pointer-created"
  | "ref-written"
  | "partial-released";

/**
 * Everything the core needs, bundled. `mod.ts` builds one for the running runtime;
 * tests and edge users pass their own (for example the memory adapter).
 *
 * @example
 * ```ts
 * import type { Runtime } from "hubcache/core";
 * import { nodeRuntime } from "hubcache/adapters/node";
 * import { MemoryFileSystem } from "hubcache/adapters/memory";
 *
 * const onDisk: Runtime = nodeRuntime();
 * const inMemory: Runtime = { ...onDisk, fs: new MemoryFileSystem() }; // same platform, files in memory
 * ```
 */
/**
 * A Response from {@link Runtime.fetch} may carry, under this key, a function returning its body
 * as views of buffers the transport reads into again: each chunk stays valid only until the next
 * `read()`. The download pump copies every chunk before it reads on, so it takes that stream
 * (`responseBody`) and a body moves without an allocation per chunk; anyone else reads
 * `response.body`, whose chunks are their own. The function returns `null` once the body is in
 * use. A `fetch` without it is used as it is.
 *
 * @example
 * ```ts
 * import { BODY_VIEWS } from "hubcache/core";
 *
 * const res = new Response("hello");
 * console.log(BODY_VIEWS in res); // false: a plain Response; its body is read as usual
 * ```
 */
export const BODY_VIEWS: unique symbol = Symbol.for("hubcache.bodyViews");

/**
 * The stream the download pump reads: the {@link BODY_VIEWS} one when `res` offers it, else `res.body`.
 *
 * @example
 * ```ts
 * import { responseBody } from "hubcache/core";
 *
 * const reader = responseBody(new Response("hello"))!.getReader();
 * console.log((await reader.read()).value?.length); // 5
 * ```
 */
export function responseBody(res: Response): ReadableStream<Uint8Array> | null {
  const views = (res as { [BODY_VIEWS]?: () => ReadableStream<Uint8Array> | null })[BODY_VIEWS];
  return views?.() ?? res.body;
}

export interface Runtime {
  /** Where the cache lives. */
  readonly fs: FileSystem;
  /** How content addresses are computed while bytes arrive. */
  readonly hashers: HasherFactory;
  /** Time, randomness, process identity and environment. */
  readonly platform: Platform;
  /**
   * The `fetch` to talk to the Hub with. Its responses may also offer their body as
   * {@link BODY_VIEWS} (the download pump reads that when present).
   */
  readonly fetch: typeof fetch;
  /** OS locks shared with the Python client, when the runtime has them; only saves duplicate downloads. */
  readonly locks?: AdvisoryLocks;
  /**
   * Called between the steps of a download with the step just completed (see
   * {@link CheckpointName}). Torture tests kill the process or inject a fault here; production
   * adapters leave it undefined.
   */
  readonly checkpoint?: (name: CheckpointName) => void | Promise<void>;
  /** A short name for diagnostics: "node", "deno", "bun", "memory". */
  readonly name: string;
}
