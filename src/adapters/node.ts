/**
 * The Node adapter: every port on `node:fs/promises`, `node:crypto` and `node:os`.
 *
 * These modules behave identically (same `err.code`, same speed) on Node, Deno
 * and Bun (`docs/DESIGN.md §Runtimes`), so this file also serves as the base of the Deno and
 * Bun adapters; they only add what their native APIs do better.
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import {
  close as closeCallback,
  constants as fsConstants,
  fstat as fstatCallback,
  fsync as fsyncCallback,
  ftruncate as ftruncateCallback,
  open as openCallback,
  read as readCallback,
  readFile as readFileCallback,
  rename as renameCallback,
  type Stats,
  symlink as symlinkCallback,
  unlink as unlinkCallback,
  write as writeCallback,
} from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import * as os from "node:os";
import process from "node:process";
import { FsError } from "../core/ports.ts";
import type {
  AdvisoryLocks,
  FileHandle,
  FileInfo,
  FileSystem,
  FsErrorCode,
  Hasher,
  HasherFactory,
  HashAlgorithm,
  Platform,
  Runtime,
} from "../core/ports.ts";
import { bindLibcFlock, type FlockCall, flockAdvisoryLocks } from "./flock.ts";
import { attempt, toFsError } from "./fs_errors.ts";
import { adaptiveLookups, settle } from "./lookups.ts";
import { detectRuntime } from "./runtime_name.ts";
import { socketFetch } from "./socket_fetch.ts";

export { toFsError } from "./fs_errors.ts";
export type { FlockCall } from "./flock.ts";

function infoOf(
  s: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean; size: number; mtimeMs: number; atimeMs: number; ino: number; dev: number },
): FileInfo {
  const kind = s.isSymbolicLink() ? "symlink" : s.isFile() ? "file" : s.isDirectory() ? "directory" : "other";
  return { kind, size: Number(s.size), mtimeMs: Number(s.mtimeMs), atimeMs: Number(s.atimeMs), ino: Number(s.ino), dev: Number(s.dev) };
}

/** The lookups a cache command makes by the hundred thousand (`lookups.ts`). */
const lookups = adaptiveLookups();

/**
 * The calls a download makes for every file — open, write, fsync, close of its temp file and
 * lock, then rename, symlink, unlink — on Node's callback API, for the reason `lookups.ts` gives:
 * a snapshot of 1,000 small files spent most of its main-thread time inside the promise API's
 * per-call work. Deno and Bun keep `node:fs/promises` (see `lookups.ts`).
 */
const perFile = ((): {
  open(path: string, flags: string): Promise<FileHandle>;
  rename(from: string, to: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
} | undefined => {
  if (detectRuntime() !== "node") return undefined;
  return {
    open: async (path, flags) => new FdFileHandle(await settle<number>((done) => openCallback(path, flags, 0o666, done)), path),
    rename: (from, to) => settle<void>((done) => renameCallback(from, to, (err) => done(err, undefined))),
    symlink: (target, path) => settle<void>((done) => symlinkCallback(target, path, (err) => done(err, undefined))),
    unlink: (path) => settle<void>((done) => unlinkCallback(path, (err) => done(err, undefined))),
    readFile: async (path) => asPlainBytes(await settle<Uint8Array>((done) => readFileCallback(path, done))),
  };
})();

function asPlainBytes(buf: Uint8Array): Uint8Array {
  // A Buffer is a Uint8Array subclass; hand out plain views so callers comparing
  // bytes across adapters (memory vs node) see the same type.
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

class NodeFileHandle implements FileHandle {
  #fh: fsp.FileHandle;
  #path: string;
  #closed = false;
  constructor(fh: fsp.FileHandle, path: string) {
    this.#fh = fh;
    this.#path = path;
  }
  write(data: Uint8Array, position: number): Promise<void> {
    return attempt("write", this.#path, async () => {
      // write(2) may accept less than asked (signals, quotas); the port promises all of it.
      for (let done = 0; done < data.length;) {
        const { bytesWritten } = await this.#fh.write(data, done, data.length - done, position + done);
        if (bytesWritten <= 0) throw new FsError("EIO", "write", this.#path, `EIO: write '${this.#path}' made no progress`);
        done += bytesWritten;
      }
    });
  }
  read(buffer: Uint8Array, position: number): Promise<number> {
    if (buffer.length === 0) return Promise.resolve(0);
    return attempt("read", this.#path, async () => (await this.#fh.read(buffer, 0, buffer.length, position)).bytesRead);
  }
  truncate(length: number): Promise<void> {
    return attempt("ftruncate", this.#path, () => this.#fh.truncate(length));
  }
  sync(): Promise<void> {
    return attempt("fsync", this.#path, () => this.#fh.sync());
  }
  size(): Promise<number> {
    return attempt("fstat", this.#path, async () => Number((await this.#fh.stat()).size));
  }
  close(): Promise<void> {
    // Idempotent so `finally { await h.close() }` after an explicit close is harmless.
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return attempt("close", this.#path, () => this.#fh.close());
  }
}

/**
 * {@link NodeFileHandle} on a plain descriptor and the callback API (Node only, see `perFile`).
 * Unlike a `fsp.FileHandle`, a descriptor dropped unclosed is not closed by the garbage
 * collector: every caller closes its handles in `finally`.
 */
class FdFileHandle implements FileHandle {
  #fd: number;
  #path: string;
  #closed = false;
  constructor(fd: number, path: string) {
    this.#fd = fd;
    this.#path = path;
  }
  write(data: Uint8Array, position: number): Promise<void> {
    return attempt("write", this.#path, async () => {
      // write(2) may accept less than asked (signals, quotas); the port promises all of it.
      for (let done = 0; done < data.length;) {
        const written = await settle<number>((cb) => writeCallback(this.#fd, data, done, data.length - done, position + done, cb));
        if (written <= 0) throw new FsError("EIO", "write", this.#path, `EIO: write '${this.#path}' made no progress`);
        done += written;
      }
    });
  }
  read(buffer: Uint8Array, position: number): Promise<number> {
    if (buffer.length === 0) return Promise.resolve(0);
    return attempt("read", this.#path, () => settle<number>((cb) => readCallback(this.#fd, buffer, 0, buffer.length, position, cb)));
  }
  truncate(length: number): Promise<void> {
    return attempt("ftruncate", this.#path, () => settle<void>((cb) => ftruncateCallback(this.#fd, length, (err) => cb(err, undefined))));
  }
  sync(): Promise<void> {
    return attempt("fsync", this.#path, () => settle<void>((cb) => fsyncCallback(this.#fd, (err) => cb(err, undefined))));
  }
  size(): Promise<number> {
    return attempt("fstat", this.#path, async () => Number((await settle<Stats>((cb) => fstatCallback(this.#fd, cb))).size));
  }
  close(): Promise<void> {
    // Idempotent so `finally { await h.close() }` after an explicit close is harmless.
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return attempt("close", this.#path, () => settle<void>((cb) => closeCallback(this.#fd, (err) => cb(err, undefined))));
  }
}

function openHandle(path: string, flags: string, syscall: string): Promise<FileHandle> {
  if (perFile) return attempt(syscall, path, () => perFile.open(path, flags));
  return attempt(syscall, path, async () => new NodeFileHandle(await fsp.open(path, flags), path));
}

/** Failures of fsync-on-a-directory that only mean "this platform can't", not "something is wrong". */
const SYNC_DIR_UNSUPPORTED: ReadonlySet<FsErrorCode> = new Set<FsErrorCode>([
  "EISDIR", "EINVAL", "EPERM", "EACCES", "ENOTSUP", "EROFS", "EUNKNOWN",
]);

/**
 * The {@link FileSystem} port on `node:fs/promises` (works on Node, Deno and Bun).
 *
 * @example
 * ```ts
 * import { nodeFileSystem } from "hubcache/adapters/node";
 *
 * const fs = nodeFileSystem();
 * const h = await fs.createExclusive(`/tmp/hubcache-example-${Date.now()}.incomplete`);
 * await h.write(new TextEncoder().encode("hi"), 0);
 * await h.close();
 * ```
 */
export function nodeFileSystem(): FileSystem {
  return {
    // "wx+" rather than "wx": a writer may read back what it wrote (resume re-verification).
    createExclusive: (path) => openHandle(path, "wx+", "open"),
    openReadWrite: (path) => openHandle(path, "r+", "open"),
    openRead: (path) => openHandle(path, "r", "open"),
    rename: (from, to) => attempt("rename", from, () => (perFile ? perFile.rename(from, to) : fsp.rename(from, to))),
    link: (existing, to) => attempt("link", to, () => fsp.link(existing, to)),
    symlink: (target, path) => attempt("symlink", path, () => (perFile ? perFile.symlink(target, path) : fsp.symlink(target, path))),
    readlink: (path) => attempt("readlink", path, () => lookups.readlink(path)),
    lstat: (path) => attempt("lstat", path, async () => infoOf(await lookups.lstat(path))),
    stat: (path) => attempt("stat", path, async () => infoOf(await lookups.stat(path))),
    readdir: (path) => attempt("readdir", path, async () => (await lookups.readdir(path)).map(String)),
    readdirKinds: (path) =>
      attempt("readdir", path, async () =>
        (await lookups.readdirTyped(path)).map((d) => ({
          name: String(d.name),
          // Anything else (a FIFO, or a type the file system did not report) is looked at with lstat.
          kind: d.isFile() ? "file" : d.isDirectory() ? "directory" : d.isSymbolicLink() ? "symlink" : "unknown",
        }))),
    mkdirp: (path) => attempt("mkdir", path, async () => void (await fsp.mkdir(path, { recursive: true }))),
    removeFile: (path) =>
      attempt("unlink", path, async () => {
        if (perFile) {
          // Node's unlink never removes a directory (EISDIR on Linux, EPERM on macOS): no look
          // first, which was one more call per file of a snapshot (its lock file).
          try {
            return await perFile.unlink(path);
          } catch (err) {
            // A failing look must not hide the unlink's own error.
            if ((err as { code?: unknown }).code === "EPERM" && (await fsp.lstat(path).catch(() => null))?.isDirectory()) {
              throw new FsError("EISDIR", "unlink", path, `EISDIR: unlink '${path}' is a directory`);
            }
            throw err;
          }
        }
        // Deno's unlink deletes an empty directory (`docs/DESIGN.md §Runtimes`); the port promises it never
        // removes one, so look first. The lstat→unlink window only matters if someone swaps a
        // file for an empty directory in between, which nothing in the cache layout does.
        if ((await fsp.lstat(path)).isDirectory()) {
          throw new FsError("EISDIR", "unlink", path, `EISDIR: unlink '${path}' is a directory`);
        }
        await fsp.unlink(path);
      }),
    removeTree: (path) => attempt("rm", path, () => fsp.rm(path, { recursive: true, force: true })),
    async removeEmptyDir(path) {
      try {
        await fsp.rmdir(path);
      } catch (err) {
        const e = toFsError(err, "rmdir", path);
        // Some systems say EEXIST for a non-empty directory; the port speaks ENOTEMPTY.
        if (e.code === "EEXIST") throw new FsError("ENOTEMPTY", "rmdir", path, e.message, { cause: err });
        throw e;
      }
    },
    // Deno's native copyFile has no EXCL flag; node:fs's has, on all three runtimes.
    // FICLONE: a reflink where the file system can (XFS, Btrfs, APFS…), a plain copy elsewhere.
    copyExclusive: (from, to) => attempt("copyfile", to, () => fsp.copyFile(from, to, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE)),
    clone: (from, to) => attempt("copyfile", to, () => fsp.copyFile(from, to, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE_FORCE)),
    readFile: (path) => attempt("read", path, async () => (perFile ? await perFile.readFile(path) : asPlainBytes(await fsp.readFile(path)))),
    writeFile: (path, data) => attempt("write", path, () => fsp.writeFile(path, data)),
    utimes: (path, atimeMs, mtimeMs) => attempt("utime", path, () => fsp.utimes(path, atimeMs / 1000, mtimeMs / 1000)),
    async syncDir(path) {
      // A plain handle, so that on Node it is the callback API's (see `perFile`): a snapshot
      // syncs blobs/ after nearly every one of its renames.
      let fh: { sync(): Promise<void>; close(): Promise<void> } | undefined;
      try {
        fh = perFile ? await perFile.open(path, "r") : await fsp.open(path, "r");
        await fh.sync();
      } catch (err) {
        const e = toFsError(err, "fsync", path);
        // A missing or non-directory path is a caller bug worth seeing; a platform that cannot
        // fsync a directory (Windows, some network file systems) is not.
        if (!SYNC_DIR_UNSUPPORTED.has(e.code)) throw e;
      } finally {
        await fh?.close().catch(() => {});
      }
    },
    realpath: (path) => attempt("realpath", path, () => fsp.realpath(path)),
    // statfs is in node:fs on Node ≥ 18.15, Deno 2 and Bun alike.
    freeSpace: (path) => attempt("statfs", path, async () => {
      const s = await fsp.statfs(path);
      return s.bavail * s.bsize;
    }),
  };
}

/**
 * The {@link HasherFactory} port on `node:crypto` (~1.9 GB/s sha256 on all three runtimes).
 *
 * @example
 * ```ts
 * import { nodeHashers } from "hubcache/adapters/node";
 *
 * const h = await nodeHashers().create("sha256");
 * h.update(new TextEncoder().encode("abc"));
 * console.log(h.digestHex()); // "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
 * ```
 */
export function nodeHashers(): HasherFactory {
  return {
    create(algorithm: HashAlgorithm): Promise<Hasher> {
      const h = createHash(algorithm);
      return Promise.resolve({
        update(data: Uint8Array): void {
          h.update(data);
        },
        digestHex(): string {
          return h.digest("hex");
        },
      });
    },
  };
}

/** Resolve after `ms` real milliseconds, or reject with the signal's reason. */
function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The {@link Platform} port on `node:os`, `node:crypto` and `process`.
 *
 * @example
 * ```ts
 * import { nodePlatform } from "hubcache/adapters/node";
 *
 * const p = nodePlatform();
 * console.log(`${p.hostname()}-${p.pid()}-${p.randomHex(16)}`); // how hubcache names a writer
 * ```
 */
export function nodePlatform(): Platform {
  return {
    now: () => Date.now(),
    sleep: abortableSleep,
    timeout: abortableSleep,
    randomHex: (bytes) => randomBytes(bytes).toString("hex"),
    hostname(): string {
      try {
        // Tests make one machine look like several hosts sharing a network cache.
        const override = process.env.HUBCACHE_HOSTNAME;
        if (override) return override;
      } catch { /* Deno without --allow-env */ }
      try {
        return os.hostname();
      } catch {
        // Deno without --allow-sys. Only staleness heuristics use the host name, and a name
        // no other process reports makes our files look foreign: slower reclaiming, never unsafe.
        return "unknown-host";
      }
    },
    pid: () => process.pid,
    isProcessAlive(pid: number): boolean {
      // 0 and negatives address process groups, not a process: no process has such an id.
      if (!Number.isSafeInteger(pid) || pid <= 0) return false;
      try {
        process.kill(pid, 0);
        return true;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code === "ESRCH") return false;
        // EPERM: it exists but belongs to someone else. Anything else: we cannot tell, and a
        // wrong "dead" would let us claim a live writer's file.
        return true;
      }
    },
    env(name: string): string | undefined {
      try {
        return process.env[name];
      } catch {
        // Deno without --allow-env throws NotCapable; treat as unset.
        return undefined;
      }
    },
    homeDir: () => os.homedir(),
  };
}

async function loadKoffiFlock(): Promise<FlockCall> {
  // koffi (an optional peer dependency: a user installs it to share the Python client's lock)
  // ships prebuilt Node-API binaries: nothing is compiled or downloaded at install. It is not a
  // dependency because npm 11 warns about its install script in every project that has not
  // approved it, and the lock is only an optimisation (DESIGN.md §Living beside the Python
  // client). A variable specifier keeps tsc, Deno and Bun from resolving it when this file is
  // merely imported there.
  const specifier = "koffi";
  // deno-lint-ignore no-explicit-any
  const mod: any = await import(specifier);
  const koffi = mod.default ?? mod;
  return bindLibcFlock((library) => {
    const flock = koffi.load(library).func("int flock(int, int)");
    return (fd, operation) => (flock(fd, operation) === 0 ? 0 : koffi.errno());
  });
}

/**
 * {@link AdvisoryLocks} for Node: libc `flock(fd, LOCK_EX|LOCK_NB)` through the `koffi` FFI
 * package, interoperable with the Python client's `.locks/<repo>/<etag>.lock`. koffi is
 * loaded on the first `tryLock`; where it is not installed or cannot load (an unsupported
 * platform), every `tryLock` rejects and downloads go on lock-free, which
 * is always correct. `undefined` on Windows, which has no flock. `load` is for tests.
 *
 * @example
 * ```ts
 * import { nodeLocks } from "hubcache/adapters/node";
 *
 * const lock = await nodeLocks()?.tryLock("/tmp/hub/.locks/models--org--x/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.lock");
 * if (lock) {
 *   try {
 *     // … download the blob; a Python process wanting it waits on the same lock …
 *   } finally {
 *     await lock.release();
 *   }
 * }
 * ```
 */
export function nodeLocks(load: () => Promise<FlockCall> = loadKoffiFlock): AdvisoryLocks | undefined {
  if (process.platform === "win32") return undefined;
  return flockAdvisoryLocks(load);
}

/**
 * The parts of the Node runtime the Deno and Bun adapters build on: everything but the lock,
 * which each runtime takes through its own FFI. Its `fetch` sends GET and HEAD over the socket
 * transport (`docs/DESIGN.md §Runtimes`) and, with a proxy variable set, everything through the
 * runtime's own `fetch` (Deno's and Bun's honour proxies; Node's adapter replaces it with
 * {@link nodeProxyFetch}).
 *
 * @example
 * ```ts
 * import type { Runtime } from "hubcache/core";
 * import { nodeRuntimeBase } from "hubcache/adapters/node";
 *
 * const lockFree: Runtime = { ...nodeRuntimeBase(), name: "node" }; // no flock: never waits on the Python client
 * ```
 */
export function nodeRuntimeBase(): Omit<Runtime, "name" | "locks"> {
  return {
    fs: nodeFileSystem(),
    hashers: nodeHashers(),
    platform: nodePlatform(),
    fetch: transportFetch(() => globalThis.fetch),
  };
}

/**
 * The runtime for Node: files, hashing and platform on `node:*`, and {@link nodeLocks}.
 *
 * @example
 * ```ts
 * import { nodeRuntime } from "hubcache/adapters/node";
 * import { downloadFile } from "hubcache/core";
 *
 * const path = await downloadFile({ runtime: nodeRuntime(), repo: "openai-community/gpt2", path: "config.json" });
 * ```
 */
export function nodeRuntime(): Runtime {
  const locks = nodeLocks();
  return { ...nodeRuntimeBase(), fetch: nodeProxyFetch(), name: "node", ...(locks !== undefined ? { locks } : {}) };
}

/** The variables naming a proxy, as curl, Python's requests, Deno and Bun read them. */
const PROXY_VARIABLES = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"];

/**
 * `fetch` for Node honouring `HTTP(S)_PROXY` and `NO_PROXY` (either case), for the Hub and the
 * CDN alike. Node's built-in `fetch` ignores them (Deno's and Bun's honour them, so with a
 * proxy variable set their adapters use it): a machine that reaches the Hub only through a
 * proxy would fail. With a proxy variable set, requests go through the `undici` package's
 * `EnvHttpProxyAgent` (the same HTTP client Node's `fetch` is built on); without one, GET and
 * HEAD go over raw sockets (`socket_fetch.ts`: less CPU and memory per body byte) and
 * anything else through the global `fetch`, and `undici` is never loaded. The token rule is unchanged: hubFetch
 * decides per request which origin gets it, whatever carries the request.
 */
export function nodeProxyFetch(): typeof fetch {
  let proxied: { key: string; fetch: Promise<typeof fetch> } | undefined;
  return transportFetch(() => {
    const key = PROXY_VARIABLES.map((n) => process.env[n] ?? "").join("\n");
    if (proxied?.key !== key) proxied = { key, fetch: loadProxiedFetch() };
    const loaded = proxied.fetch;
    return (async (input: RequestInfo | URL, init?: RequestInit) => (await loaded)(input, init)) as typeof fetch;
  });
}

/**
 * The one choice of transport every adapter makes per request: with a proxy variable set,
 * `proxied()` (Node: undici's proxy agent; Deno and Bun: their own `fetch`, which reads the
 * variables); a stub installed over the built-in `fetch` (tests, instrumentation) is honoured;
 * otherwise the socket transport (`socket_fetch.ts`), with the global `fetch` for what it
 * does not carry. Where the environment cannot be read (Deno without `--allow-env`), the
 * runtime's `fetch` decides, as it would about a proxy.
 */
function transportFetch(proxied: () => typeof fetch): typeof fetch {
  return ((input: RequestInfo | URL, init?: RequestInit) => {
    let proxy: boolean;
    try {
      proxy = PROXY_VARIABLES.slice(0, 4).some((n) => (process.env[n] ?? "").trim() !== "");
    } catch {
      return globalThis.fetch(input, init);
    }
    if (proxy) return proxied()(input, init);
    if (globalThis.fetch !== builtinFetch) return globalThis.fetch(input, init);
    return direct(input, init);
  }) as typeof fetch;
}

const builtinFetch = globalThis.fetch;
const direct = socketFetch((input, init) => globalThis.fetch(input, init));

async function loadProxiedFetch(): Promise<typeof fetch> {
  // A variable specifier, as for koffi: Deno and Bun never resolve it when they import this file.
  const specifier = "undici";
  // deno-lint-ignore no-explicit-any
  const undici: any = await import(specifier);
  // The first non-empty of each pair, lower case first (as curl, Deno and Bun read them): an
  // empty `http_proxy` must not hide `HTTP_PROXY`, which undici's own lookup would let it do.
  const pick = (name: string): string => (process.env[name.toLowerCase()] ?? "").trim() || (process.env[name] ?? "").trim();
  const dispatcher = new undici.EnvHttpProxyAgent({
    httpProxy: pick("HTTP_PROXY"),
    httpsProxy: pick("HTTPS_PROXY"), // empty: undici falls back to the HTTP proxy
    noProxy: pick("NO_PROXY"),
  });
  return ((input: RequestInfo | URL, init?: RequestInit) => undici.fetch(input, { ...init, dispatcher })) as typeof fetch;
}

