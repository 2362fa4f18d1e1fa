/**
 * Temp directories for tests, on the real file system.
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

/**
 * Create a fresh, empty directory under the OS temp dir and return its canonical path
 * (realpath, so symlinked temp roots like macOS's /tmp do not confuse path comparisons).
 *
 * @example
 * ```ts
 * const dir = await makeTempDir("hubcache-x-");
 * try { … } finally { await removeTempDir(dir); }
 * ```
 */
export async function makeTempDir(prefix: string = "hubcache-test-"): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  return await fsp.realpath(dir);
}

/**
 * Remove a directory made by {@link makeTempDir}, and everything in it. No error if absent.
 *
 * @example
 * ```ts
 * after(() => removeTempDir(dir));
 * ```
 */
export async function removeTempDir(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
