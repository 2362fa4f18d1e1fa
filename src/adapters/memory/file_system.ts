/**
 * The memory file system: an in-memory POSIX-like {@link FileSystem} (see `mod.ts` for what it
 * models). Faults come from `faults.ts`, the crash model from `crash.ts`.
 *
 * @module
 */

import { dirname } from "../../core/fs/paths.ts";
import { FsError } from "../../core/ports.ts";
import type { DirEntryKind, FileHandle, FileInfo, FileSystem, FsErrorCode } from "../../core/ports.ts";
import { type CrashOptions, syncTree, treeAfterCrash } from "./crash.ts";
import { type Fault, FaultTable, type FaultSpec, type MemoryFsOp } from "./faults.ts";
import {
  type DirNode,
  EMPTY,
  ensureCapacity,
  type FileNode,
  infoOf,
  type LinkNode,
  MAX_SYMLINK_HOPS,
  type Node,
  syncFileNode,
  writeInto,
} from "./inodes.ts";

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

/** Options of {@link MemoryFileSystem}. */
export interface MemoryFileSystemOptions {
  /** Clock for timestamps. Default `Date.now`. */
  now?: () => number;
}

/**
 * An in-memory POSIX-like {@link FileSystem}. Share one instance between several
 * {@link memoryRuntime}s to simulate several processes on one machine.
 *
 * @example
 * ```ts
 * import { MemoryFileSystem } from "hubcache/adapters/memory";
 *
 * const fs = new MemoryFileSystem();
 * await fs.mkdirp("/c/blobs");
 * const fault = fs.injectFault({ op: "rename", code: "EXDEV", pathIncludes: "/blobs/" });
 * fs.shortWrites = true; // every write(2) takes half of what it is given
 * const file = await fs.createExclusive("/c/blobs/x.incomplete");
 * await file.write(new TextEncoder().encode("hello"), 0);
 * await file.sync();
 * await file.close();
 * await fs.rename("/c/blobs/x.incomplete", "/c/blobs/x").catch((e) => console.log(e.code)); // "EXDEV"
 * console.log(fault.fired); // 1
 * const afterPowerCut = fs.crash(); // what survives: synced data, synced directory entries
 * console.log(afterPowerCut.listTree("/")); // [] — no directory was ever fsynced
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
  /** When true, every `tryLock` succeeds, like `flock` on Lustre/GPFS/NFS (huggingface_hub PR #4306). */
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
  #faults = new FaultTable();
  #handles = new Set<MemoryFileHandle>();
  #locks = new Map<Node, object>();

  /** An empty tree (just `/`). Pass `options.now` to share a {@link MemoryClock} with the platform. */
  constructor(options: MemoryFileSystemOptions = {}) {
    this.#now = options.now ?? (() => Date.now());
    this.#root = this.#newDir();
  }

  // -- test controls --------------------------------------------------------

  /** Make matching calls fail with `spec.code`. The failing call has no effect. */
  injectFault(spec: FaultSpec): Fault {
    return this.#faults.inject(spec);
  }

  /** Remove every injected fault. */
  clearFaults(): void {
    this.#faults.clear();
  }

  /** Paths (as opened) of handles not yet closed — for asserting nothing leaks. */
  openHandles(): string[] {
    return [...this.#handles].map((h) => h.path);
  }

  /**
   * Every path under `dir` (default the root), depth first, not following symlinks.
   * Directories end with "/".
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
   */
  syncAll(): void {
    syncTree(this.#root);
  }

  /**
   * The state a reboot after a power cut now would find (see the module docs for
   * the model). The returned file system is fresh: no open handles, no locks, no
   * faults; the flags (`shortWrites`, `symlinksSupported`, …) are copied. This
   * instance is unchanged.
   */
  crash(options: CrashOptions = {}): MemoryFileSystem {
    const next = new MemoryFileSystem({ now: this.#now });
    next.shortWrites = this.shortWrites;
    next.shortReads = this.shortReads;
    next.symlinksSupported = this.symlinksSupported;
    next.hardLinksSupported = this.hardLinksSupported;
    next.locksBroken = this.locksBroken;
    next.#root = treeAfterCrash(this.#root, options);
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

  /** The same listing as `readdir` (and the same faults), with each entry's kind. */
  async readdirKinds(path: string): Promise<DirEntryKind[]> {
    await this.#enter("readdir", [path]);
    const node = this.#existing(path, true, "scandir");
    if (node.kind !== "dir") throw fsErr("ENOTDIR", "scandir", path);
    return [...node.entries].map(([name, entry]) => ({ name, kind: entry.kind === "dir" ? "directory" : entry.kind }));
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

  async readFile(path: string): Promise<Uint8Array<ArrayBuffer>> {
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

  #freeSpace = Number.POSITIVE_INFINITY;

  /** Set what {@link freeSpace} answers (a disk about to be full); unlimited by default. */
  setFreeSpace(bytes: number): void {
    this.#freeSpace = bytes;
  }

  /** The free space set by {@link setFreeSpace} (the tree itself has no capacity limit). */
  async freeSpace(path: string): Promise<number> {
    await this.#enter("freeSpace", [path]);
    return this.#freeSpace;
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
    this.#faults.check(op, paths);
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
