/**
 * Writing a small file whole: a reader sees the old content or the new, never a torn one, and
 * the new content survives a power cut once the call returns.
 *
 * @module
 */

import { createInDir, ensureDir } from "./dirs.ts";
import { dirname } from "./paths.ts";
import { withScratchPath } from "./scratch.ts";
import type { Runtime } from "../ports.ts";

/**
 * Write `data` to `path` atomically: temp file in the repo's scratch folder `.hubcache-tmp/`
 * (removed again when empty), fsync, rename over `path`, fsync the directory.
 */
export async function writeFileAtomic(
  runtime: Runtime,
  tmpDir: string,
  path: string,
  data: Uint8Array,
  purpose: string,
): Promise<void> {
  const { fs } = runtime;
  await ensureDir(runtime, dirname(path));
  await withScratchPath(runtime, tmpDir, purpose, async (temp) => {
    const handle = await createInDir(runtime, tmpDir, () => fs.createExclusive(temp));
    try {
      await handle.write(data, 0);
      await handle.sync();
      await handle.close();
      await fs.rename(temp, path);
    } catch (err) {
      await handle.close().catch(() => {});
      await fs.removeFile(temp).catch(() => {});
      throw err;
    }
  });
  await fs.syncDir(dirname(path));
}

