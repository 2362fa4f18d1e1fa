/**
 * `refs/<revision>`: the commit a branch, tag or `refs/pr/N` points at, as 40 hex without a
 * newline, always whole — written to a temp file and renamed, so a reader sees the old commit or
 * the new, never a torn one (`docs/DESIGN.md §Invariants 4`) — and read tolerantly.
 *
 * @module
 */

import { writeFileAtomic } from "../fs/atomic_write.ts";
import { isFsError, type Runtime } from "../ports.ts";
import { refPath, type RepoLayout } from "./layout.ts";
import { isCommitHash } from "./validate.ts";

const encoder = new TextEncoder();

/**
 * The commit a cached revision points at: `refs/<revision>` read tolerantly (whitespace
 * ignored), or `null` if absent or not a commit hash.
 */
export async function readRef(runtime: Runtime, layout: RepoLayout, revision: string): Promise<string | null> {
  try {
    const text = new TextDecoder().decode(await runtime.fs.readFile(refPath(layout, revision))).trim().toLowerCase();
    return isCommitHash(text) ? text : null;
  } catch (err) {
    if (isFsError(err, "ENOENT", "ENOTDIR", "EISDIR")) return null;
    throw err;
  }
}

/**
 * Point `refs/<revision>` at `commit`: 40 hex characters, no newline, written atomically.
 * Skipped when it already says so (no needless writes on a shared file system).
 */
export async function writeRef(runtime: Runtime, layout: RepoLayout, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  if ((await readRef(runtime, layout, revision)) === commit) return;
  await writeFileAtomic(runtime, layout.tmpDir, refPath(layout, revision), encoder.encode(commit), "ref");
}
