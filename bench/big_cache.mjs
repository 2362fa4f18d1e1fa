// Builds a large Hub cache for the `cache ls` scenario by writing the layout directly (no
// downloads): `repos` model repos, each with two revisions of `filesPerRevision` files in a
// `data/` folder, both revisions symlinking the same blobs (a branch that moved without changing
// content), so the cache holds repos × 2 × filesPerRevision snapshot files and half as many blobs.
// Blob names are the sha256 of their bytes, as the Hub's LFS etags are. The finished tree is kept
// (a marker file beside it says it is complete) and reused by later runs; `cache ls` only reads it.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";

/** Run `work(i)` for i in [0, count) with at most `limit` in flight. */
async function forEach(count, limit, work) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) await work(next++);
  });
  await Promise.all(lanes);
}

const hex = (s, algo = "sha1") => createHash(algo).update(s).digest("hex");

/**
 * Make (or find) the cache at `dir` with `snapshotFiles` snapshot files over 200 repos.
 * Returns `{ dir, repos, snapshotFiles, blobs, bytes }`.
 */
export async function bigCache(dir, snapshotFiles) {
  const repos = 200;
  const filesPerRevision = Math.max(1, Math.round(snapshotFiles / repos / 2));
  const shape = { dir, repos, snapshotFiles: repos * 2 * filesPerRevision, blobs: repos * filesPerRevision, bytes: 0 };
  const marker = `${dir}.complete`; // beside the cache: a stray file inside would be reported as damage
  if (existsSync(marker)) return JSON.parse(await fsp.readFile(marker, "utf8"));
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.mkdir(dir, { recursive: true });
  await forEach(repos, 8, async (r) => {
    const repoDir = join(dir, `models--bench--repo-${String(r).padStart(3, "0")}`);
    const commits = [hex(`repo ${r} commit a`), hex(`repo ${r} commit b`)];
    await fsp.mkdir(join(repoDir, "blobs"), { recursive: true });
    await fsp.mkdir(join(repoDir, "refs"), { recursive: true });
    for (const commit of commits) await fsp.mkdir(join(repoDir, "snapshots", commit, "data"), { recursive: true });
    await fsp.writeFile(join(repoDir, "refs", "main"), commits[1]);
    await forEach(filesPerRevision, 16, async (f) => {
      const content = `repo ${r} file ${f} `.repeat(1 + (f % 50));
      const blob = hex(content, "sha256");
      await fsp.writeFile(join(repoDir, "blobs", blob), content);
      for (const commit of commits) {
        await fsp.symlink(`../../../blobs/${blob}`, join(repoDir, "snapshots", commit, "data", `file-${String(f).padStart(5, "0")}.bin`));
      }
    });
  });
  for (let r = 0; r < repos; r++) {
    for (let f = 0; f < filesPerRevision; f++) shape.bytes += `repo ${r} file ${f} `.length * (1 + (f % 50));
  }
  await fsp.writeFile(marker, JSON.stringify(shape));
  return shape;
}
