/**
 * The memory file system's inodes: files with their synced content (the crash model's memory
 * of what reached the disk), directories with their synced entry lists, symlinks.
 *
 * @module
 */

import type { FileInfo } from "../../core/ports.ts";

/** What every inode has. */
export interface NodeBase {
  readonly ino: number;
  mtimeMs: number;
  atimeMs: number;
}

/** A regular file: its content now, and its content at its last `sync` (what a crash keeps). */
export interface FileNode extends NodeBase {
  readonly kind: "file";
  /** Backing store; bytes past `size` are spare capacity. */
  buf: Uint8Array;
  size: number;
  /** `buf` is also referenced by the synced snapshot: copy before mutating. */
  shared: boolean;
  syncedBuf: Uint8Array;
  syncedSize: number;
}

/** A directory: its entries now, and its entries at its last `syncDir` (what a crash keeps). */
export interface DirNode extends NodeBase {
  readonly kind: "dir";
  entries: Map<string, Node>;
  synced: Map<string, Node>;
}

/** A symbolic link; its target is kept verbatim. */
export interface LinkNode extends NodeBase {
  readonly kind: "symlink";
  readonly target: string;
}

/** Any inode. */
export type Node = FileNode | DirNode | LinkNode;

/** The content of a new file. */
export const EMPTY = new Uint8Array(0);
/** Symlinks followed in one lookup before `ELOOP`, as on Linux. */
export const MAX_SYMLINK_HOPS = 40;

/** What `stat`/`lstat` report for an inode. */
export function infoOf(n: Node): FileInfo {
  const kind = n.kind === "dir" ? "directory" : n.kind;
  const size = n.kind === "file" ? n.size : n.kind === "symlink" ? new TextEncoder().encode(n.target).length : 0;
  return { kind, size, mtimeMs: n.mtimeMs, atimeMs: n.atimeMs, ino: n.ino, dev: 1 };
}

/** Make a file's current content its durable one (what `FileHandle.sync` does). */
export function syncFileNode(f: FileNode): void {
  f.syncedBuf = f.buf;
  f.syncedSize = f.size;
  f.shared = true;
}

/** Ensure `f.buf` is private and can hold `length` bytes; new bytes are zero. */
export function ensureCapacity(f: FileNode, length: number): void {
  if (!f.shared && f.buf.length >= length) return;
  const capacity = f.buf.length >= length ? f.buf.length : Math.max(length, f.buf.length * 2, 64);
  const next = new Uint8Array(capacity);
  next.set(f.buf.subarray(0, f.size));
  f.buf = next;
  f.shared = false;
}

/** One underlying write(2): copies `data` at `position`, zero-filling any gap. */
export function writeInto(f: FileNode, data: Uint8Array, position: number, replace: boolean): void {
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
