/**
 * The memory adapter: an in-memory POSIX-like file system with fault injection
 * and a crash model, plus a deterministic platform. For tests and edge runtimes.
 *
 * No `node:*` imports: this file must bundle for browsers.
 *
 * ## What it models
 * - Directories, regular files, symlinks (targets kept verbatim; relative ones
 *   resolve against the link's directory; `stat` follows, `lstat` does not; more
 *   than 40 hops is `ELOOP`) and hard links (several entries, one inode).
 * - Every operation is atomic: it mutates state synchronously after its checks,
 *   so `rename` is one step, as on a local POSIX file system.
 * - Open handles point at inodes, not paths: a writer whose file was renamed or
 *   unlinked keeps writing into that inode — the bug class behind seed 000.
 * - Errors follow Linux: `EEXIST` for exclusive create over anything (even a
 *   dangling symlink), `ENOTEMPTY`, `EISDIR`, `ENOTDIR`, `EINVAL` for moving a
 *   directory into itself, `EPERM` for hard-linking a directory.
 *
 * ## Crash model ({@link MemoryFileSystem.crash})
 * Each file inode remembers its content at its last `FileHandle.sync()` (empty if
 * never synced); each directory remembers its entry list at its last
 * `FileSystem.syncDir()` (empty if never synced). A crash rebuilds the tree from
 * the root using only those remembered states: unsynced data reverts, and entries
 * created, removed or renamed since the directory's last `syncDir` revert too —
 * including subdirectories whose parent was never synced after `mkdirp`. This is
 * the most pessimistic outcome a journaling file system allows, made
 * deterministic. `crash({ keepDirectoryEntries: true })` models the other
 * classic outcome: metadata reached the disk (the rename "happened") but file
 * data did not — the zero-length-file-after-rename failure.
 * Use {@link MemoryFileSystem.syncAll} to make a test fixture durable.
 *
 * @module
 */

import { portableHashers } from "../portable_hasher.ts";
import { dirname } from "../../core/fs/paths.ts";
import { FsError } from "../../core/ports.ts";
import type {
  AdvisoryLocks,
  FileHandle,
  FileInfo,
  FileSystem,
  FsErrorCode,
  HasherFactory,
  Platform,
  Runtime,
} from "../../core/ports.ts";

// ---------------------------------------------------------------------------
// Inodes

interface NodeBase {
  readonly ino: number;
  mtimeMs: number;
  atimeMs: number;
}

interface FileNode extends NodeBase {
  readonly kind: "file";
  /** Backing store; bytes past `size` are spare capacity. */
  buf: Uint8Array;
  size: number;
  /** `buf` is also referenced by the synced snapshot: copy before mutating. */
  shared: boolean;
  syncedBuf: Uint8Array;
  syncedSize: number;
}

interface DirNode extends NodeBase {
  readonly kind: "dir";
  entries: Map<string, Node>;
  synced: Map<string, Node>;
}

interface LinkNode extends NodeBase {
  readonly kind: "symlink";
  readonly target: string;
}

type Node = FileNode | DirNode | LinkNode;

const EMPTY = new Uint8Array(0);
const MAX_SYMLINK_HOPS = 40;

// ---------------------------------------------------------------------------
// Faults

/** Operation names that faults and the {@link MemoryFileSystem.beforeOp} hook match on. */
export type MemoryFsOp =
  | keyof FileSystem
  | "write"
  | "read"
  | "truncate"
  | "sync"
  | "size"
  | "close"
  | "tryLock";

/** What {@link MemoryFileSystem.injectFault} accepts. */
export interface FaultSpec {
  /**
   * The operation to fail: a {@link FileSystem} method name, a {@link FileHandle}
   * method name, `"tryLock"`, `"open"` (any of the three opens) or `"*"`.
   */
  op: MemoryFsOp | "open" | "*";
  /** The error code to fail with. */
  code: FsErrorCode;
  /** Fail the nth matching call (1-based). Default 1. */
  nth?: number;
  /** How many consecutive matching calls fail from the nth on. Default 1; `Infinity` for all. */
  times?: number;
  /** Match only calls where one of the paths involved contains this string. */
  pathIncludes?: string;
}

/** A fault that has been injected. */
export interface Fault {
  /** How many calls this fault has failed so far. */
  readonly fired: number;
  /** How many calls matched (failed or not). */
  readonly matched: number;
  /** Stop injecting. */
  remove(): void;
}

interface ActiveFault {
  spec: Required<Omit<FaultSpec, "pathIncludes">> & { pathIncludes: string | undefined };
  fired: number;
  matched: number;
  removed: boolean;
}

const OPEN_OPS: ReadonlySet<string> = new Set(["createExclusive", "openRead", "openReadWrite"]);

// ---------------------------------------------------------------------------
// Paths

function splitPath(path: string, syscall: string): string[] {
  if (typeof path !== "string" || !path.startsWith("/") || path.includes("\0")) {
    throw new FsError("EINVAL", syscall, String(path), `EINVAL: ${syscall} '${String(path)}': not an absolute POSIX path`);
  }
  return path.split("/").filter((c) => c !== "" && c !== ".");
}

interface Resolved {
  /** The directory holding the final entry. */
  parent: DirNode;
  /** The final entry's name in `parent` ("" for the root). */
  name: string;
  /** What is there, or undefined. */
  node: Node | undefined;
  /** Directories from the root down to `parent`, for the moved-into-itself check. */
  ancestors: DirNode[];
  /** Canonical names from the root down to `parent`. */
  names: string[];
}

// ---------------------------------------------------------------------------
// The file system

/** Options of {@link MemoryFileSystem}. */
export interface MemoryFileSystemOptions {
  /** Clock for timestamps. Default `Date.now`. */
  now?: () => number;
}

/** Options of {@link MemoryFileSystem.crash}. */
export interface CrashOptions {
  /**
   * Keep every directory's current entries instead of its synced ones (metadata
   * made it to disk, data did not). Default false.
   */
  keepDirectoryEntries?: boolean;
}

/**
 * An in-memory POSIX-like {@link FileSystem}. Share one instance between several
 * {@link memoryRuntime}s to simulate several processes on one machine.
 *
 * @example
 * ```ts
 * const fs = new MemoryFileSystem();
 * await fs.mkdirp("/c/blobs");
 * fs.injectFault({ op: "rename", code: "EXDEV", pathIncludes: "/blobs/" });
 * fs.shortWrites = true;
 * ```
 */
export class MemoryFileSystem implements FileSystem {
  /** Writes accept only part of the data per underlying call; `FileHandle.write` loops. */
  shortWrites = false;
  /** Reads return at most half of what was asked (at least one byte). */
  shortReads = false;
  /** When false, `symlink` fails with `EPERM` (Windows without developer mode, exFAT). */
  symlinksSupported = true;
  /** When false, `link` fails with `EPERM` (file systems without hard links). */
  hardLinksSupported = true;
  /** When true, every `tryLock` succeeds, like `flock` on Lustre/GPFS/NFS (seed 000). */
  locksBroken = false;
  /**
   * Called (and awaited) before every operation; lets a test pause one "process"
   * at an exact point to force an interleaving.
   */
  beforeOp: ((op: MemoryFsOp, paths: readonly string[]) => void | Promise<void>) | undefined = undefined;
  /** Number of underlying write calls so far (several per `write` when `shortWrites`). */
  underlyingWrites = 0;

  #now: () => number;
  #root: DirNode;
  #nextIno = 1;
  #faults: ActiveFault[] = [];
  #handles = new Set<MemoryFileHandle>();
  #locks = new Map<Node, object>();

  /** An empty tree (just `/`). Pass `options.now` to share a {@link MemoryClock} with the platform. */
  constructor(options: MemoryFileSystemOptions = {}) {
    this.#now = options.now ?? (() => Date.now());
    this.#root = this.#newDir();
  }

  // -- test controls --------------------------------------------------------

  /**
   * Make matching calls fail with `spec.code`. The failing call has no effect.
   *
   * @example
   * ```ts
   * const f = fs.injectFault({ op: "write", code: "ENOSPC", nth: 3 });
   * // … the third write fails …
   * f.fired; // 1
   * ```
   */
  injectFault(spec: FaultSpec): Fault {
    const active: ActiveFault = {
      spec: {
        op: spec.op,
        code: spec.code,
        nth: spec.nth ?? 1,
        times: spec.times ?? 1,
        pathIncludes: spec.pathIncludes,
      },
      fired: 0,
      matched: 0,
      removed: false,
    };
    this.#faults.push(active);
    return {
      get fired(): number {
        return active.fired;
      },
      get matched(): number {
        return active.matched;
      },
      remove: (): void => {
        active.removed = true;
        this.#faults = this.#faults.filter((f) => f !== active);
      },
    };
  }

  /**
   * Remove every injected fault.
   *
   * @example
   * ```ts
   * fs.clearFaults();
   * ```
   */
  clearFaults(): void {
    for (const f of this.#faults) f.removed = true;
    this.#faults = [];
  }

  /**
   * Paths (as opened) of handles not yet closed — for asserting nothing leaks.
   *
   * @example
   * ```ts
   * assert.deepEqual(fs.openHandles(), []);
   * ```
   */
  openHandles(): string[] {
    return [...this.#handles].map((h) => h.path);
  }

  /**
   * Every path under `dir` (default the root), depth first, not following symlinks.
   * Directories end with "/".
   *
   * @example
   * ```ts
   * fs.listTree("/c").filter((p) => p.endsWith(".incomplete")); // leftovers
   * ```
   */
  listTree(dir: string = "/"): string[] {
    const r = this.#resolve(dir, true, "listTree");
    if (r.node?.kind !== "dir") return [];
    const out: string[] = [];
    const base = dir.endsWith("/") ? dir.slice(0, -1) : dir;
    const visit = (d: DirNode, prefix: string): void => {
      for (const name of [...d.entries.keys()].sort()) {
        const child = d.entries.get(name)!;
        const p = `${prefix}/${name}`;
        if (child.kind === "dir") {
          out.push(`${p}/`);
          visit(child, p);
        } else {
          out.push(p);
        }
      }
    };
    visit(r.node, base);
    return out;
  }

  /**
   * Mark everything reachable as durable, as if every file and directory had been
   * fsynced. Use after building a fixture, before exercising crash behaviour.
   *
   * @example
   * ```ts
   * await fs.writeFile("/c/refs/main", ref);
   * fs.syncAll();
   * ```
   */
  syncAll(): void {
    const seen = new Set<Node>();
    const visit = (n: Node): void => {
      if (seen.has(n)) return;
      seen.add(n);
      if (n.kind === "file") syncFileNode(n);
      else if (n.kind === "dir") {
        n.synced = new Map(n.entries);
        for (const c of n.entries.values()) visit(c);
      }
    };
    visit(this.#root);
  }

  /**
   * The state a reboot after a power cut now would find (see the module docs for
   * the model). The returned file system is fresh: no open handles, no locks, no
   * faults; the flags (`shortWrites`, `symlinksSupported`, …) are copied. This
   * instance is unchanged.
   *
   * @example
   * ```ts
   * const after = fs.crash();
   * const rt2 = memoryRuntime({ fs: after });
   * ```
   */
  crash(options: CrashOptions = {}): MemoryFileSystem {
    const next = new MemoryFileSystem({ now: this.#now });
    next.shortWrites = this.shortWrites;
    next.shortReads = this.shortReads;
    next.symlinksSupported = this.symlinksSupported;
    next.hardLinksSupported = this.hardLinksSupported;
    next.locksBroken = this.locksBroken;
    const copies = new Map<Node, Node>();
    const copy = (n: Node): Node => {
      const done = copies.get(n);
      if (done !== undefined) return done;
      let c: Node;
      if (n.kind === "file") {
        const buf = n.syncedBuf.slice(0, n.syncedSize);
        c = { kind: "file", ino: n.ino, mtimeMs: n.mtimeMs, atimeMs: n.atimeMs, buf, size: buf.length, shared: true, syncedBuf: buf, syncedSize: buf.length };
        copies.set(n, c);
      } else if (n.kind === "symlink") {
        c = { ...n };
        copies.set(n, c);
      } else {
        const d: DirNode = { kind: "dir", ino: n.ino, mtimeMs: n.mtimeMs, atimeMs: n.atimeMs, entries: new Map(), synced: new Map() };
        copies.set(n, d);
        const source = options.keepDirectoryEntries === true ? n.entries : n.synced;
        for (const [name, child] of source) d.entries.set(name, copy(child));
        d.synced = new Map(d.entries);
        c = d;
      }
      return c;
    };
    next.#root = copy(this.#root) as DirNode;
    next.#nextIno = this.#nextIno;
    return next;
  }

  // -- FileSystem -----------------------------------------------------------

  async createExclusive(path: string): Promise<FileHandle> {
    await this.#enter("createExclusive", [path]);
    const r = this.#resolve(path, false, "open");
    // O_CREAT|O_EXCL does not follow a final symlink: a dangling one is EEXIST too.
    if (r.node !== undefined || r.name === "") throw fsErr("EEXIST", "open", path);
    const f = this.#newFile();
    this.#addEntry(r.parent, r.name, f);
    return this.#open(f, path, true);
  }

  async openReadWrite(path: string): Promise<FileHandle> {
    await this.#enter("openReadWrite", [path]);
    const node = this.#existing(path, true, "open");
    if (node.kind === "dir") throw fsErr("EISDIR", "open", path);
    return this.#open(node as FileNode, path, true);
  }

  async openRead(path: string): Promise<FileHandle> {
    await this.#enter("openRead", [path]);
    const node = this.#existing(path, true, "open");
    // Like Linux, a directory opens read-only; reading it fails with EISDIR.
    return this.#open(node as FileNode | DirNode, path, false);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.#enter("rename", [from, to]);
    const src = this.#resolve(from, false, "rename");
    if (src.node === undefined) throw fsErr("ENOENT", "rename", from);
    if (src.name === "") throw fsErr("EBUSY", "rename", from);
    const dst = this.#resolve(to, false, "rename");
    if (dst.name === "") throw fsErr("EBUSY", "rename", to);
    // Two names of one inode: POSIX says do nothing and succeed.
    if (dst.node === src.node) return;
    if (src.node.kind === "dir") {
      if (dst.ancestors.includes(src.node)) throw fsErr("EINVAL", "rename", from);
      if (dst.node !== undefined) {
        if (dst.node.kind !== "dir") throw fsErr("ENOTDIR", "rename", to);
        if (dst.node.entries.size > 0) throw fsErr("ENOTEMPTY", "rename", to);
      }
    } else if (dst.node?.kind === "dir") {
      throw fsErr("EISDIR", "rename", to);
    }
    this.#removeEntry(src.parent, src.name);
    this.#addEntry(dst.parent, dst.name, src.node);
  }

  async link(existing: string, to: string): Promise<void> {
    await this.#enter("link", [existing, to]);
    // link(2) on Linux does not follow a final symlink in `existing`.
    const src = this.#resolve(existing, false, "link");
    if (src.node === undefined) throw fsErr("ENOENT", "link", existing);
    const dst = this.#resolve(to, false, "link");
    if (dst.node !== undefined || dst.name === "") throw fsErr("EEXIST", "link", to);
    if (src.node.kind === "dir") throw fsErr("EPERM", "link", existing);
    if (!this.hardLinksSupported) throw fsErr("EPERM", "link", to);
    this.#addEntry(dst.parent, dst.name, src.node);
  }

  async symlink(target: string, path: string): Promise<void> {
    await this.#enter("symlink", [path, target]);
    const r = this.#resolve(path, false, "symlink");
    if (r.node !== undefined || r.name === "") throw fsErr("EEXIST", "symlink", path);
    if (!this.symlinksSupported) throw fsErr("EPERM", "symlink", path);
    const now = this.#now();
    const link: LinkNode = { kind: "symlink", ino: this.#nextIno++, target, mtimeMs: now, atimeMs: now };
    this.#addEntry(r.parent, r.name, link);
  }

  async readlink(path: string): Promise<string> {
    await this.#enter("readlink", [path]);
    const node = this.#existing(path, false, "readlink");
    if (node.kind !== "symlink") throw fsErr("EINVAL", "readlink", path);
    return node.target;
  }

  async lstat(path: string): Promise<FileInfo> {
    await this.#enter("lstat", [path]);
    return infoOf(this.#existing(path, false, "lstat"));
  }

  async stat(path: string): Promise<FileInfo> {
    await this.#enter("stat", [path]);
    return infoOf(this.#existing(path, true, "stat"));
  }

  async readdir(path: string): Promise<string[]> {
    await this.#enter("readdir", [path]);
    const node = this.#existing(path, true, "scandir");
    if (node.kind !== "dir") throw fsErr("ENOTDIR", "scandir", path);
    return [...node.entries.keys()];
  }

  async mkdirp(path: string): Promise<void> {
    await this.#enter("mkdirp", [path]);
    const comps = splitPath(path, "mkdir");
    for (let i = 1; i <= comps.length; i++) {
      const prefix = "/" + comps.slice(0, i).join("/");
      const r = this.#resolve(prefix, false, "mkdir");
      if (r.node === undefined) {
        this.#addEntry(r.parent, r.name, this.#newDir());
        continue;
      }
      // A symlink to a directory is walked through; a dangling one is in the way (EEXIST).
      const node = r.node.kind === "symlink" ? this.#resolve(prefix, true, "mkdir").node : r.node;
      if (node?.kind !== "dir") throw fsErr(i === comps.length || node === undefined ? "EEXIST" : "ENOTDIR", "mkdir", path);
    }
  }

  async removeFile(path: string): Promise<void> {
    await this.#enter("removeFile", [path]);
    const r = this.#resolve(path, false, "unlink");
    if (r.node === undefined) throw fsErr("ENOENT", "unlink", path);
    if (r.node.kind === "dir") throw fsErr("EISDIR", "unlink", path);
    this.#removeEntry(r.parent, r.name);
  }

  async removeTree(path: string): Promise<void> {
    await this.#enter("removeTree", [path]);
    let r: Resolved;
    try {
      r = this.#resolve(path, false, "rm");
    } catch (err) {
      if (err instanceof FsError && err.code === "ENOENT") return;
      throw err;
    }
    if (r.node === undefined) return;
    if (r.name === "") throw fsErr("EBUSY", "rm", path);
    // Inodes below stay alive for whoever holds them open, as on a real system.
    this.#removeEntry(r.parent, r.name);
  }

  async removeEmptyDir(path: string): Promise<void> {
    await this.#enter("removeEmptyDir", [path]);
    const r = this.#resolve(path, false, "rmdir");
    if (r.node === undefined) throw fsErr("ENOENT", "rmdir", path);
    if (r.node.kind !== "dir") throw fsErr("ENOTDIR", "rmdir", path);
    if (r.name === "") throw fsErr("EBUSY", "rmdir", path);
    if (r.node.entries.size > 0) throw fsErr("ENOTEMPTY", "rmdir", path);
    this.#removeEntry(r.parent, r.name);
  }

  async copyExclusive(from: string, to: string): Promise<void> {
    await this.#enter("copyExclusive", [from, to]);
    const src = this.#existing(from, true, "copyfile");
    if (src.kind === "dir") throw fsErr("EISDIR", "copyfile", from);
    const dst = this.#resolve(to, false, "copyfile");
    if (dst.node !== undefined || dst.name === "") throw fsErr("EEXIST", "copyfile", to);
    const f = this.#newFile();
    const s = src as FileNode;
    f.buf = s.buf.slice(0, s.size);
    f.size = s.size;
    s.atimeMs = this.#now();
    this.#addEntry(dst.parent, dst.name, f);
  }

  async readFile(path: string): Promise<Uint8Array> {
    await this.#enter("readFile", [path]);
    const node = this.#existing(path, true, "open");
    if (node.kind === "dir") throw fsErr("EISDIR", "read", path);
    const f = node as FileNode;
    f.atimeMs = this.#now();
    return f.buf.slice(0, f.size);
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    await this.#enter("writeFile", [path]);
    // O_CREAT without O_EXCL follows a final symlink, creating its target if dangling.
    const r = this.#resolve(path, true, "open");
    if (r.name === "" || r.node?.kind === "dir") throw fsErr("EISDIR", "open", path);
    let f = r.node as FileNode | undefined;
    if (f === undefined) {
      f = this.#newFile();
      this.#addEntry(r.parent, r.name, f);
    }
    writeInto(f, data.slice(), 0, true);
    f.mtimeMs = this.#now();
  }

  async utimes(path: string, atimeMs: number, mtimeMs: number): Promise<void> {
    await this.#enter("utimes", [path]);
    const node = this.#existing(path, true, "utime");
    node.atimeMs = atimeMs;
    node.mtimeMs = mtimeMs;
  }

  async syncDir(path: string): Promise<void> {
    await this.#enter("syncDir", [path]);
    const node = this.#existing(path, true, "fsync");
    // Like open(path,"r")+fsync on a real system, a regular file just gets fsynced.
    if (node.kind === "dir") node.synced = new Map(node.entries);
    else if (node.kind === "file") syncFileNode(node);
  }

  async realpath(path: string): Promise<string> {
    await this.#enter("realpath", [path]);
    const r = this.#resolve(path, true, "realpath");
    if (r.node === undefined) throw fsErr("ENOENT", "realpath", path);
    const names = r.name === "" ? r.names : [...r.names, r.name];
    return "/" + names.join("/");
  }

  // -- used by memoryRuntime's locks ---------------------------------------

  /** @internal Take or refuse an in-memory flock on the file at `path` (created if absent). */
  async lockFile(path: string): Promise<{ release(): Promise<void> } | null> {
    await this.#enter("tryLock", [path]);
    await this.mkdirp(dirname(path));
    const r = this.#resolve(path, true, "open");
    if (r.node?.kind === "dir") throw fsErr("EISDIR", "open", path);
    let node = r.node;
    if (node === undefined) {
      node = this.#newFile();
      this.#addEntry(r.parent, r.name, node);
    }
    const token = {};
    if (!this.locksBroken) {
      if (this.#locks.has(node)) return null;
      this.#locks.set(node, token);
    }
    const locks = this.#locks;
    const held = node;
    let released = false;
    return {
      release(): Promise<void> {
        if (!released && locks.get(held) === token) locks.delete(held);
        released = true;
        return Promise.resolve();
      },
    };
  }

  // -- internals ------------------------------------------------------------

  /** @internal Runs the hook, then the faults, for one call. */
  async #enter(op: MemoryFsOp, paths: readonly string[]): Promise<void> {
    if (this.beforeOp !== undefined) await this.beforeOp(op, paths);
    this.checkFault(op, paths);
  }

  /** @internal Throws when an injected fault matches this call. */
  checkFault(op: MemoryFsOp, paths: readonly string[]): void {
    for (const f of this.#faults) {
      const s = f.spec;
      if (s.op !== "*" && s.op !== op && !(s.op === "open" && OPEN_OPS.has(op))) continue;
      if (s.pathIncludes !== undefined && !paths.some((p) => p.includes(s.pathIncludes!))) continue;
      f.matched++;
      if (f.matched >= s.nth && f.matched < s.nth + s.times) {
        f.fired++;
        throw new FsError(s.code, op, paths[0] ?? "", `${s.code}: ${op} '${paths[0] ?? ""}' (injected fault)`);
      }
    }
  }

  /** @internal */
  now(): number {
    return this.#now();
  }

  /** @internal */
  forgetHandle(h: MemoryFileHandle): void {
    this.#handles.delete(h);
  }

  #open(node: FileNode | DirNode, path: string, writable: boolean): FileHandle {
    const h = new MemoryFileHandle(this, node, path, writable);
    this.#handles.add(h);
    return h;
  }

  #newFile(): FileNode {
    const now = this.#now();
    return { kind: "file", ino: this.#nextIno++, mtimeMs: now, atimeMs: now, buf: EMPTY, size: 0, shared: false, syncedBuf: EMPTY, syncedSize: 0 };
  }

  #newDir(): DirNode {
    const now = this.#now();
    return { kind: "dir", ino: this.#nextIno++, mtimeMs: now, atimeMs: now, entries: new Map(), synced: new Map() };
  }

  #addEntry(dir: DirNode, name: string, node: Node): void {
    dir.entries.set(name, node);
    dir.mtimeMs = this.#now();
  }

  #removeEntry(dir: DirNode, name: string): void {
    dir.entries.delete(name);
    dir.mtimeMs = this.#now();
  }

  #existing(path: string, follow: boolean, syscall: string): Node {
    const r = this.#resolve(path, follow, syscall);
    if (r.node === undefined) throw fsErr("ENOENT", syscall, path);
    return r.node;
  }

  /**
   * Walk `path` from the root. Intermediate symlinks are always followed; the final
   * one only when `follow`. A missing final entry is not an error (creators need its
   * parent); a missing intermediate one is `ENOENT`.
   */
  #resolve(path: string, follow: boolean, syscall: string): Resolved {
    const pending = splitPath(path, syscall);
    const stack: DirNode[] = [this.#root];
    const names: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const name = pending.shift()!;
      const dir = stack[stack.length - 1]!;
      const last = pending.length === 0;
      if (name === "..") {
        if (stack.length > 1) {
          stack.pop();
          names.pop();
        }
        if (last) break;
        continue;
      }
      const child = dir.entries.get(name);
      if (child === undefined) {
        if (last) return { parent: dir, name, node: undefined, ancestors: stack, names };
        throw fsErr("ENOENT", syscall, path);
      }
      if (child.kind === "symlink" && (!last || follow)) {
        if (++hops > MAX_SYMLINK_HOPS) throw fsErr("ELOOP", syscall, path);
        if (child.target === "") throw fsErr("ENOENT", syscall, path);
        if (child.target.startsWith("/")) {
          stack.length = 1;
          names.length = 0;
        }
        pending.unshift(...child.target.split("/").filter((c) => c !== "" && c !== "."));
        continue;
      }
      if (last) return { parent: dir, name, node: child, ancestors: stack, names };
      if (child.kind !== "dir") throw fsErr("ENOTDIR", syscall, path);
      stack.push(child);
      names.push(name);
    }
    // The path named a directory through "/", "." or "..": describe it via its parent.
    const node = stack[stack.length - 1]!;
    if (stack.length === 1) return { parent: node, name: "", node, ancestors: [], names: [] };
    return {
      parent: stack[stack.length - 2]!,
      name: names[names.length - 1]!,
      node,
      ancestors: stack.slice(0, -1),
      names: names.slice(0, -1),
    };
  }
}

function fsErr(code: FsErrorCode, syscall: string, path: string): FsError {
  return new FsError(code, syscall, path);
}

function infoOf(n: Node): FileInfo {
  const kind = n.kind === "dir" ? "directory" : n.kind;
  const size = n.kind === "file" ? n.size : n.kind === "symlink" ? new TextEncoder().encode(n.target).length : 0;
  return { kind, size, mtimeMs: n.mtimeMs, atimeMs: n.atimeMs };
}

function syncFileNode(f: FileNode): void {
  f.syncedBuf = f.buf;
  f.syncedSize = f.size;
  f.shared = true;
}

/** Ensure `f.buf` is private and can hold `length` bytes; new bytes are zero. */
function ensureCapacity(f: FileNode, length: number): void {
  if (!f.shared && f.buf.length >= length) return;
  const capacity = f.buf.length >= length ? f.buf.length : Math.max(length, f.buf.length * 2, 64);
  const next = new Uint8Array(capacity);
  next.set(f.buf.subarray(0, f.size));
  f.buf = next;
  f.shared = false;
}

/** One underlying write(2): copies `data` at `position`, zero-filling any gap. */
function writeInto(f: FileNode, data: Uint8Array, position: number, replace: boolean): void {
  if (replace) {
    f.buf = EMPTY;
    f.size = 0;
    f.shared = false;
  }
  const end = position + data.length;
  ensureCapacity(f, Math.max(end, f.size));
  if (position > f.size) f.buf.fill(0, f.size, position);
  f.buf.set(data, position);
  if (end > f.size) f.size = end;
}

function badHandle(syscall: string, path: string, why: string): FsError {
  // EBADF is not a code the core branches on, so it crosses the port as EUNKNOWN,
  // exactly as the node adapter reports it.
  return new FsError("EUNKNOWN", syscall, path, `EBADF: ${syscall} '${path}': ${why}`);
}

class MemoryFileHandle implements FileHandle {
  readonly path: string;
  #fs: MemoryFileSystem;
  #node: FileNode | DirNode;
  #writable: boolean;
  #closed = false;

  constructor(fs: MemoryFileSystem, node: FileNode | DirNode, path: string, writable: boolean) {
    this.#fs = fs;
    this.#node = node;
    this.path = path;
    this.#writable = writable;
  }

  async #enter(op: MemoryFsOp): Promise<void> {
    if (this.#fs.beforeOp !== undefined) await this.#fs.beforeOp(op, [this.path]);
    if (this.#closed) throw badHandle(op, this.path, "handle is closed");
    this.#fs.checkFault(op, [this.path]);
  }

  #file(op: string): FileNode {
    if (this.#node.kind === "dir") throw new FsError("EISDIR", op, this.path);
    return this.#node;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    await this.#enter("write");
    if (!this.#writable) throw badHandle("write", this.path, "opened read-only");
    if (!Number.isSafeInteger(position) || position < 0) throw new FsError("EINVAL", "write", this.path);
    const f = this.#file("write");
    let done = 0;
    // The port promises all of `data`; the layer below (write(2)) may take less.
    while (done < data.length) {
      done += this.#writeSome(f, data.subarray(done), position + done);
    }
    f.mtimeMs = this.#fs.now();
  }

  #writeSome(f: FileNode, data: Uint8Array, position: number): number {
    this.#fs.underlyingWrites++;
    const n = this.#fs.shortWrites ? Math.max(1, Math.floor(data.length / 2)) : data.length;
    writeInto(f, data.subarray(0, n), position, false);
    return n;
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    await this.#enter("read");
    if (!Number.isSafeInteger(position) || position < 0) throw new FsError("EINVAL", "read", this.path);
    const f = this.#file("read");
    if (position >= f.size || buffer.length === 0) return 0;
    let n = Math.min(buffer.length, f.size - position);
    if (this.#fs.shortReads) n = Math.max(1, Math.floor(n / 2));
    buffer.set(f.buf.subarray(position, position + n));
    f.atimeMs = this.#fs.now();
    return n;
  }

  async truncate(length: number): Promise<void> {
    await this.#enter("truncate");
    if (!this.#writable || !Number.isSafeInteger(length) || length < 0) throw new FsError("EINVAL", "ftruncate", this.path);
    const f = this.#file("ftruncate");
    if (length > f.size) {
      ensureCapacity(f, length);
      f.buf.fill(0, f.size, length);
    } else {
      ensureCapacity(f, 0);
    }
    f.size = length;
    f.mtimeMs = this.#fs.now();
  }

  async sync(): Promise<void> {
    await this.#enter("sync");
    if (this.#node.kind === "file") syncFileNode(this.#node);
    else this.#node.synced = new Map(this.#node.entries);
  }

  async size(): Promise<number> {
    await this.#enter("size");
    return this.#node.kind === "file" ? this.#node.size : 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // POSIX releases the descriptor even when close(2) reports an error.
    this.#closed = true;
    this.#fs.forgetHandle(this);
    if (this.#fs.beforeOp !== undefined) await this.#fs.beforeOp("close", [this.path]);
    this.#fs.checkFault("close", [this.path]);
  }
}

// ---------------------------------------------------------------------------
// Clock

/** How a {@link MemoryClock}'s `sleep` completes. */
export type TimerMode =
  /** Sleeps resolve only when a test calls `advance`. */
  | "manual"
  /** Sleeps resolve on their own, soon, advancing virtual time to their deadline. */
  | "auto"
  /** Sleeps take real time; `now()` is the real clock plus whatever `advance` added. */
  | "real";

interface Sleeper {
  deadline: number;
  seq: number;
  resolve: () => void;
}

/**
 * A controllable clock.
 *
 * @example
 * ```ts
 * const clock = new MemoryClock({ timers: "manual" });
 * const done = clock.sleep(1000);
 * clock.advance(1000); // `done` resolves
 * ```
 */
export class MemoryClock {
  /** How sleeps resolve and where `now()` comes from (see {@link TimerMode}). */
  readonly timers: TimerMode;
  #now: number;
  #offset = 0;
  #sleepers: Sleeper[] = [];
  #seq = 0;
  #drainScheduled = false;

  /**
   * Default `"manual"` timers, starting at 1 700 000 000 000 ms (a fixed date, so file
   * times in failing tests are reproducible).
   */
  constructor(options: { timers?: TimerMode; startMs?: number } = {}) {
    this.timers = options.timers ?? "manual";
    this.#now = options.startMs ?? 1_700_000_000_000;
  }

  /** Current time, ms since the epoch. */
  now(): number {
    return this.timers === "real" ? Date.now() + this.#offset : this.#now;
  }

  /** Sleeps not yet resolved (manual and auto modes). */
  get pendingSleeps(): number {
    return this.#sleepers.length;
  }

  /** Move time forward by `ms`, resolving every sleep whose deadline is reached, in deadline order. */
  advance(ms: number): void {
    if (this.timers === "real") {
      this.#offset += ms;
      return;
    }
    this.#advanceTo(this.#now + Math.max(0, ms));
  }

  /** Resolve after `ms` of this clock's time, or reject with the signal's reason. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      let cancel = (): void => {};
      const onAbort = (): void => {
        cancel();
        reject(signal!.reason);
      };
      const done = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      if (this.timers === "real") {
        const timer = setTimeout(done, Math.max(0, ms));
        cancel = () => clearTimeout(timer);
        return;
      }
      const sleeper: Sleeper = { deadline: this.#now + Math.max(0, ms), seq: this.#seq++, resolve: done };
      cancel = () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
      };
      this.#sleepers.push(sleeper);
      if (ms <= 0) this.#advanceTo(this.#now);
      else if (this.timers === "auto") this.#scheduleDrain();
    });
  }

  #advanceTo(target: number): void {
    for (;;) {
      const due = this.#sleepers
        .filter((s) => s.deadline <= target)
        .sort((a, b) => a.deadline - b.deadline || a.seq - b.seq);
      if (due.length === 0) break;
      const first = due[0]!;
      this.#now = Math.max(this.#now, first.deadline);
      this.#sleepers = this.#sleepers.filter((s) => s !== first);
      first.resolve();
    }
    this.#now = Math.max(this.#now, target);
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    // A macrotask lets every ready promise chain run first, so concurrent sleepers
    // registered "at the same time" wake in deadline order.
    setTimeout(() => {
      this.#drainScheduled = false;
      if (this.#sleepers.length === 0) return;
      const earliest = Math.min(...this.#sleepers.map((s) => s.deadline));
      this.#advanceTo(earliest);
      if (this.#sleepers.length > 0) this.#scheduleDrain();
    }, 0);
  }
}

// ---------------------------------------------------------------------------
// Platform

/** A {@link Platform} whose identity, randomness and process table a test controls. */
export interface MemoryPlatform extends Platform {
  /** Pids `isProcessAlive` reports alive (besides this runtime's own). Share it between runtimes. */
  readonly alivePids: Set<number>;
  /** The environment `env()` reads; mutate freely. */
  readonly envMap: Map<string, string>;
}

/** Deterministic 32-bit generator (splitmix32): same seed, same names, every run. */
function seededBytes(seed: number): (n: number) => Uint8Array {
  let state = seed >>> 0;
  const next32 = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = next32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  };
}

// ---------------------------------------------------------------------------
// Runtime

/** Options of {@link memoryRuntime}. */
export interface MemoryRuntimeOptions {
  /** Share a file system between runtimes to simulate processes on one machine. Default: a new one. */
  fs?: MemoryFileSystem;
  /** Share a clock between runtimes. Default: a new one with `timers` and `startMs`. */
  clock?: MemoryClock;
  /** Timer mode of a new clock. Default "manual". */
  timers?: TimerMode;
  /** Start time of a new clock. Default 1_700_000_000_000. */
  startMs?: number;
  /** Seed of `randomHex`. Default: the pid, so runtimes with distinct pids make distinct names. */
  seed?: number;
  /** Default "memhost". */
  hostname?: string;
  /** Default 4242. */
  pid?: number;
  /** Pids considered alive besides our own. Share the Set between runtimes. Default empty. */
  alivePids?: Set<number>;
  /** Environment variables. Default empty. */
  env?: Record<string, string> | Map<string, string>;
  /** Default "/home/user". */
  homeDir?: string;
  /** Default: the global `fetch`, looked up at call time. */
  fetch?: typeof fetch;
  /** Default: {@link portableHashers} (hash-wasm where WebAssembly compiles, else `@noble/hashes`). */
  hashers?: HasherFactory;
  /** Provide in-memory flock-like locks (see `fs.locksBroken`). Default true. */
  locks?: boolean;
}

/** What {@link memoryRuntime} returns: a {@link Runtime} with its controls exposed. */
export interface MemoryRuntime extends Runtime {
  /** Always `"memory"`, so diagnostics say which adapter ran. */
  readonly name: "memory";
  /** The file system, typed so tests reach its fault and crash controls. */
  readonly fs: MemoryFileSystem;
  /** The clock behind `platform.now`/`sleep`; `advance` it to make timeouts fire. */
  readonly clock: MemoryClock;
  /** The platform, typed so tests reach `alivePids` and `envMap`. */
  readonly platform: MemoryPlatform;
}

/**
 * A runtime that touches nothing outside memory (except `fetch`).
 *
 * @example
 * ```ts
 * const a = memoryRuntime({ pid: 100, timers: "auto" });
 * const b = memoryRuntime({ fs: a.fs, clock: a.clock, pid: 200, alivePids: a.platform.alivePids });
 * a.platform.alivePids.add(200);
 * // a and b now behave like two processes sharing one disk.
 * ```
 */
export function memoryRuntime(options: MemoryRuntimeOptions = {}): MemoryRuntime {
  const clock = options.clock ?? new MemoryClock({ timers: options.timers, startMs: options.startMs });
  const fs = options.fs ?? new MemoryFileSystem({ now: () => clock.now() });
  const pid = options.pid ?? 4242;
  const random = seededBytes(options.seed ?? pid);
  const alivePids = options.alivePids ?? new Set<number>();
  const envMap = options.env instanceof Map ? options.env : new Map(Object.entries(options.env ?? {}));
  const hostname = options.hostname ?? "memhost";
  const homeDir = options.homeDir ?? "/home/user";
  const platform: MemoryPlatform = {
    alivePids,
    envMap,
    now: () => clock.now(),
    sleep: (ms, signal) => clock.sleep(ms, signal),
    randomHex(bytes: number): string {
      let hex = "";
      for (const b of random(bytes)) hex += b.toString(16).padStart(2, "0");
      return hex;
    },
    hostname: () => hostname,
    pid: () => pid,
    isProcessAlive: (p) => p === pid || alivePids.has(p),
    env: (name) => envMap.get(name),
    homeDir: () => homeDir,
  };
  const locks: AdvisoryLocks | undefined = options.locks === false ? undefined : { tryLock: (path) => fs.lockFile(path) };
  return {
    name: "memory",
    fs,
    clock,
    platform,
    hashers: options.hashers ?? portableHashers(),
    fetch: options.fetch ?? (((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init)) as typeof fetch),
    ...(locks !== undefined ? { locks } : {}),
  };
}
