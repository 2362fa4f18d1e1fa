/**
 * `<cache>/CACHEDIR.TAG`: marks the folder as a cache (https://bford.info/cachedir/), so backup
 * tools skip it.
 *
 * @module
 */

import { writeFileAtomic } from "../fs/atomic_write.ts";
import { joinPath } from "../fs/paths.ts";
import { isFsError, type Runtime } from "../ports.ts";

const encoder = new TextEncoder();

const CACHEDIR_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n" +
  "# This file is a cache directory tag created by hubcache (Hugging Face Hub cache).\n" +
  "# For information about cache directory tags see https://bford.info/cachedir/\n";

/** Write `<cache>/CACHEDIR.TAG` once, so backup tools skip the cache. */
export async function ensureCacheDirTag(runtime: Runtime, cacheDir: string): Promise<void> {
  const tag = joinPath(cacheDir, "CACHEDIR.TAG");
  try {
    await runtime.fs.lstat(tag);
    return;
  } catch (err) {
    if (!isFsError(err, "ENOENT")) return;
  }
  await writeFileAtomic(runtime, joinPath(cacheDir, ".locks"), tag, encoder.encode(CACHEDIR_TAG), "cachedir-tag")
    .catch(() => {});
}
