/**
 * A real copy-on-write file system for the reflink tests: a loop-mounted XFS image made with
 * `mkfs.xfs -m reflink=1` (Debian: `xfsprogs`, which `.ci/run` installs). Needs root and loop
 * devices. Anything that cannot be done is thrown as an Error saying why — callers fail, never
 * skip. Image and mount point have unique names, so parallel suites cannot collide.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

/** A mounted XFS with reflink support. */
export interface ReflinkFs {
  /** Where it is mounted (a fresh, empty directory). */
  readonly mount: string;
  /** Bytes in use on it now (after a `sync`), as `df` counts them. */
  usedBytes(): number;
  /** Unmount it and remove the image. */
  close(): Promise<void>;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${r.error?.message ?? `exit ${r.status}: ${(r.stderr || r.stdout).trim()}`}`);
  }
  return r.stdout;
}

/**
 * Make and mount a 300 MB XFS image with reflink=1.
 *
 * @example
 * ```ts
 * const xfs = await mountReflinkFs(); try { … } finally { await xfs.close(); }
 * ```
 */
export async function mountReflinkFs(): Promise<ReflinkFs> {
  const base = await fsp.mkdtemp(path.join(os.tmpdir(), "hubcache-xfs-"));
  const image = path.join(base, "xfs.img");
  const mount = path.join(base, "mnt");
  await fsp.mkdir(mount);
  try {
    const mkfs = ["/usr/sbin/mkfs.xfs", "/sbin/mkfs.xfs"].find((p) => spawnSync("test", ["-x", p]).status === 0);
    if (!mkfs) throw new Error("mkfs.xfs is not installed (Debian: apt-get install xfsprogs; .ci/run does it)");
    await fsp.truncate(await fsp.open(image, "w").then(async (h) => (await h.close(), image)), 300 * 1024 * 1024);
    run(mkfs, ["-q", "-m", "reflink=1", image]);
    run("mount", ["-o", "loop", image, mount]);
  } catch (err) {
    await fsp.rm(base, { recursive: true, force: true });
    throw new Error(`cannot create a reflink-capable file system (root and loop devices are needed): ${(err as Error).message}`);
  }
  return {
    mount,
    usedBytes() {
      run("sync", ["-f", mount]);
      const out = run("df", ["-B1", "--output=used", mount]).trim().split("\n");
      return Number(out[out.length - 1].trim());
    },
    async close() {
      spawnSync("umount", [mount]);
      await fsp.rm(base, { recursive: true, force: true });
    },
  };
}
