/**
 * Placing a second name for content that is already on disk without storing it twice: a reflink
 * (copy-on-write: the new file shares the old one's extents until either is written) where the
 * file system supports it, else — when the caller allows it — a hard link (one inode, two names:
 * editing either edits both), else a plain copy.
 *
 * @module
 */

import { isFsError, type Runtime } from "../ports.ts";

/** How {@link placeSharedCopy} placed the file. */
export type SharedCopyKind = "reflink" | "hardlink" | "copy";

/** Errors of a file system (or a pair of paths) that cannot share extents or inodes. */
const CANNOT_SHARE = ["ENOTSUP", "EXDEV", "EINVAL", "EPERM", "EUNKNOWN"] as const;

/**
 * Create `to` (which must not exist: `EEXIST` otherwise) with the content of `from`, sharing its
 * storage where possible. `hardLink`: allow a hard link when a reflink is impossible (only for
 * content nobody edits in place, or whose user opted in). `copy: false`: return `null` instead
 * of copying (the caller copies in its own way, say hashing on the way).
 */
export async function placeSharedCopy(
  runtime: Runtime,
  from: string,
  to: string,
  options: { hardLink: boolean; copy: boolean },
): Promise<SharedCopyKind | null> {
  const { fs } = runtime;
  if (fs.clone) {
    try {
      await fs.clone(from, to);
      return "reflink";
    } catch (err) {
      if (!isFsError(err, ...CANNOT_SHARE)) throw err;
    }
  }
  if (options.hardLink) {
    try {
      await fs.link(from, to);
      return "hardlink";
    } catch (err) {
      if (!isFsError(err, ...CANNOT_SHARE)) throw err;
    }
  }
  if (!options.copy) return null;
  await fs.copyExclusive(from, to);
  return "copy";
}
