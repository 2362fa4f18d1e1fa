/**
 * The memory adapter (`hubcache/adapters/memory`): an in-memory POSIX-like file system with
 * fault injection and a crash model, plus a deterministic platform. For tests and edge runtimes.
 *
 * No `node:*` imports in this folder: it must bundle for browsers.
 *
 * ## What it models
 * - Directories, regular files, symlinks (targets kept verbatim; relative ones
 *   resolve against the link's directory; `stat` follows, `lstat` does not; more
 *   than 40 hops is `ELOOP`) and hard links (several entries, one inode).
 * - Every operation is atomic: it mutates state synchronously after its checks,
 *   so `rename` is one step, as on a local POSIX file system.
 * - Open handles point at inodes, not paths: a writer whose file was renamed or
 *   unlinked keeps writing into that inode — the bug class behind huggingface_hub PR #4306.
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

export { MemoryClock, type TimerMode } from "./clock.ts";
export type { CrashOptions } from "./crash.ts";
export type { Fault, FaultSpec, MemoryFsOp } from "./faults.ts";
export { MemoryFileSystem, type MemoryFileSystemOptions } from "./file_system.ts";
export { memoryRuntime, type MemoryPlatform, type MemoryRuntime, type MemoryRuntimeOptions } from "./runtime.ts";
