/**
 * The memory file system's crash model: what a reboot after a power cut finds.
 *
 * Each file inode remembers its content at its last `FileHandle.sync()` (empty if never
 * synced); each directory remembers its entry list at its last `FileSystem.syncDir()` (empty if
 * never synced). A crash rebuilds the tree from the root using only those remembered states:
 * unsynced data reverts, and entries created, removed or renamed since the directory's last
 * `syncDir` revert too — including subdirectories whose parent was never synced after `mkdirp`.
 * This is the most pessimistic outcome a journaling file system allows, made deterministic.
 * `keepDirectoryEntries` models the other classic outcome: metadata reached the disk (the rename
 * "happened") but file data did not — the zero-length-file-after-rename failure.
 *
 * @module
 */

import { type DirNode, type Node, syncFileNode } from "./inodes.ts";

/** Options of `MemoryFileSystem.crash`. */
export interface CrashOptions {
  /**
   * Keep every directory's current entries instead of its synced ones (metadata
   * made it to disk, data did not). Default false.
   */
  keepDirectoryEntries?: boolean;
}

/** Mark everything reachable from `root` as durable, as if every file and directory had been fsynced. */
export function syncTree(root: DirNode): void {
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
  visit(root);
}

/** The tree a reboot finds: a copy of `root` built from its remembered (synced) states. */
export function treeAfterCrash(root: DirNode, options: CrashOptions = {}): DirNode {
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
  return copy(root) as DirNode;
}
