/**
 * `cache verify`: re-hash every file of a cached repo's revisions against its content
 * address, offline. The address is the blob's name (`blobs/<etag>`) for a symlink cache;
 * for a no-symlink cache (regular files in `snapshots/`) it comes from the tree listing
 * the Python client caches at `trees/<commit>.json`:
 *
 * ```json
 * {"format_version": 1, "files": {"config.json": {"size": 519, "blob_id": "<git sha1>"},
 *   "model.bin": {"size": 1234, "blob_id": "…", "lfs_sha256": "<sha256>", "lfs_size": 1234}}}
 * ```
 *
 * and without one the file is reported `unverifiable`.
 *
 * Read-only and safe while other processes write: temp files are listed, not judged; an
 * entry that disappears mid-scan (a concurrent `rm`/`prune`) is `vanished`, not damage; a
 * blob we are hashing stays readable through our open handle even if it is unlinked.
 *
 * @module
 */

import { DEFAULT_MAX_ATTEMPTS } from "../defaults.ts";
import { hashAlgorithmFor, hashFile } from "../cache/content_hash.ts";
import { parseBlobsEntry, type RepoLayout, repoLayout } from "../cache/layout.ts";
import { etagOf, readTreeCache, writeTreeCache } from "../cache/tree_cache.ts";
import type { RepoType } from "../cache/validate.ts";
import { isCommitHash, isEtag, validateRepoId, validateRepoType, validateRevision } from "../cache/validate.ts";
import { resolveRepoContext } from "../context.ts";
import { CacheError, HubcacheError } from "../errors.ts";
import { type DirEntry, listFilesRecursive, lstatOrNull, statOrNull, symlinkFirstHop } from "../fs/entries.ts";
import { basename, dirname, joinPath } from "../fs/paths.ts";
import { withTransientRetries } from "../fs/transient.ts";
import { listTree } from "../hub/listing.ts";
import { envCacheDir, envFlag } from "../environment.ts";
import type { HubOptions, WithRuntime } from "../options.ts";
import type { HashAlgorithm, Runtime } from "../ports.ts";
import { isFsError } from "../ports.ts";
import { referencedBlobs } from "./remove.ts";
import type { TempFileInfo } from "./scan.ts";
import { resolveCacheDir, scanRepoTempFiles } from "./scan.ts";

/** The verdict on one file of one revision. */
export type VerifyStatus = "ok" | "damaged" | "missing" | "unverifiable" | "vanished";

/** One file of one revision, checked. */
export interface VerifiedFile {
  /** The revision (snapshot folder) the file belongs to. */
  readonly commit: string;
  /** Path inside the repo (`onnx/model.onnx`). */
  readonly path: string;
  /** `snapshots/<commit>/<path>` */
  readonly pointerPath: string;
  /** What was hashed (the blob, or the pointer itself in a no-symlink cache). */
  readonly blobPath: string;
  /** The verdict; only `damaged` and `missing` make the report unhealthy. */
  readonly status: VerifyStatus;
  /** The content address it must have, when known. */
  readonly expected: string | null;
  /** The hash of its bytes, when they were read. */
  readonly actual: string | null;
  /** `sha256` for a 64-hex address (LFS), `sha1` (git blob) for 40-hex; `null` when unknown. */
  readonly algorithm: HashAlgorithm | null;
  /** Size the tree listing promises, when there is one. */
  readonly expectedSize: number | null;
  /** Bytes read. */
  readonly actualSize: number | null;
  /** One line for people. */
  readonly detail: string;
}

/** Something in the repo folder no revision accounts for. */
export interface ExtraEntry {
  /** Absolute path. */
  readonly path: string;
  /** One line for people, e.g. why the entry is unaccounted for. */
  readonly reason: string;
}

/** What {@link verifyRepo} found. */
export interface VerifyReport {
  /** As passed to {@link verifyRepo}. */
  readonly repoType: RepoType;
  /** As passed to {@link verifyRepo}. */
  readonly repoId: string;
  /** The repo folder, below the canonical cache root. */
  readonly repoPath: string;
  /** The commits verified, sorted. */
  readonly revisions: readonly string[];
  /** Every file of every verified revision, by commit then path. */
  readonly files: readonly VerifiedFile[];
  /** The `files` whose bytes (or pointer) do not match their address or size: re-download them. */
  readonly damaged: readonly VerifiedFile[];
  /** The `files` whose pointer is there but whose blob is gone. */
  readonly missing: readonly VerifiedFile[];
  /** The `files` with no known address (no tree listing, or a pointer outside `blobs/`). */
  readonly unverifiable: readonly VerifiedFile[];
  /** Blobs no snapshot links, unknown names in `blobs/`, snapshot files a tree does not list. */
  readonly extra: readonly ExtraEntry[];
  /** Temp files present (downloads in progress or leftovers): ignored. */
  readonly tempFiles: readonly TempFileInfo[];
  /** Notes for people: ignored tree files, etc. */
  readonly notes: readonly string[];
  /** No damaged and no missing file. */
  readonly healthy: boolean;
}

/**
 * Options of {@link verifyRepo}. A revision without `trees/<commit>.json` whose files cannot be
 * verified without one (regular files in `snapshots/`, as the Python client's `hf_hub_download`
 * leaves them without symlinks) gets its listing from the Hub (`endpoint`, `token`, …) and
 * caches it there, as downloads do; with `offline` (or `HF_HUB_OFFLINE=1`) such files are
 * `unverifiable`.
 */
export interface VerifyOptions extends HubOptions {
  /** A branch, tag, `refs/pr/N` or commit hash; every cached revision when absent. */
  revision?: string;
}

interface ListedFile {
  readonly etag: string;
  readonly size: number | null;
}

/** The etag and size each file of a commit must have, from `trees/<commit>.json`. */
async function readTree(runtime: Runtime, layout: RepoLayout, commit: string): Promise<Map<string, ListedFile> | null> {
  const files = await readTreeCache(runtime, layout, commit);
  return files && new Map(files.map((f) => [f.path, { etag: etagOf(f), size: f.size }]));
}

async function resolveRevisions(runtime: Runtime, snapshotsDir: string, refsDir: string, revision: string | undefined): Promise<string[]> {
  let names: string[];
  try {
    names = await runtime.fs.readdir(snapshotsDir);
  } catch (err) {
    if (isFsError(err, "ENOENT", "ENOTDIR")) names = [];
    else throw err;
  }
  const commits = names.filter(isCommitHash).sort();
  if (revision === undefined) return commits;
  let commit: string;
  if (isCommitHash(revision.toLowerCase())) commit = revision.toLowerCase();
  else {
    validateRevision(revision);
    try {
      commit = new TextDecoder().decode(await runtime.fs.readFile(joinPath(refsDir, revision))).trim().toLowerCase();
    } catch (err) {
      if (isFsError(err, "ENOENT", "ENOTDIR", "EISDIR")) {
        throw new CacheError(`revision '${revision}' is not in the cache (no ${joinPath(refsDir, revision)})`);
      }
      throw err;
    }
    if (!isCommitHash(commit)) throw new CacheError(`ref '${revision}' does not hold a commit hash`);
  }
  if (!commits.includes(commit)) {
    throw new CacheError(`revision '${revision}' (${commit}) has no snapshot in the cache: ${joinPath(snapshotsDir, commit)}`);
  }
  return [commit];
}

/**
 * Verify one cached repo (every revision, or `options.revision`): re-hash each file against
 * its content address. Modifies nothing, except that a file listing fetched from the Hub is
 * cached in `trees/`. Throws {@link CacheError} when the repo or the revision is not in the cache.
 *
 * @example
 * ```ts
 * import { verifyRepo } from "hubcache/core";
 * import { nodeRuntime } from "hubcache/adapters/node";
 *
 * const report = await verifyRepo({ runtime: nodeRuntime(), repo: "openai-community/gpt2", offline: true });
 * if (!report.healthy) for (const f of report.damaged) console.error(f.path, f.detail);
 * console.log(`${report.unverifiable.length} file(s) could not be checked offline`);
 * ```
 */
export async function verifyRepo(options: WithRuntime<VerifyOptions>): Promise<VerifyReport> {
  const runtime = withTransientRetries(options.runtime);
  const repoType = validateRepoType(options.repoType ?? "model");
  const repoId = validateRepoId(options.repo);
  const offline = options.offline ?? envFlag(runtime.platform, "HF_HUB_OFFLINE");
  // Canonical root, so absolute pointer targets and our own paths compare equal.
  const layout = repoLayout(await resolveCacheDir(runtime, options.cacheDir ?? envCacheDir(runtime.platform)), repoType, repoId);
  try {
    const info = await runtime.fs.stat(layout.repoDir);
    if (info.kind !== "directory") throw new CacheError(`not a repo folder: ${layout.repoDir}`);
  } catch (err) {
    if (isFsError(err, "ENOENT", "ENOTDIR")) {
      // `verify user/data` means a model unless told; a dataset of that name is the likely intent.
      const others: string[] = [];
      for (const other of ["model", "dataset", "space"] as const) {
        if (other === repoType) continue;
        if ((await statOrNull(runtime, repoLayout(layout.cacheDir, other, repoId).repoDir))?.kind === "directory") others.push(other);
      }
      const hint = others.length > 0 ? `, but a ${others.join(" and a ")} of that name is: add --repo-type ${others[0]}` : "";
      throw new CacheError(`${repoType} '${repoId}' is not in the cache (no ${layout.repoDir})${hint}`);
    }
    throw err;
  }
  const notes: string[] = [];
  const revisions = await resolveRevisions(runtime, layout.snapshotsDir, layout.refsDir, options.revision);

  // List blobs/ before the snapshots: a pointer exists only after its blob is complete
  // (`docs/DESIGN.md §Invariants 5`), so a blob linked at any point of our walk is already in this list,
  // and a blob published after it is not in it (no false "extra").
  let blobNames: string[] = [];
  try {
    blobNames = await runtime.fs.readdir(layout.blobsDir);
  } catch (err) {
    if (!isFsError(err, "ENOENT", "ENOTDIR")) throw err;
  }
  const tempFiles = await scanRepoTempFiles(runtime, layout.repoDir);

  const hashed = new Map<string, { hex: string; size: number; algorithm: HashAlgorithm } | "vanished">();
  const files: VerifiedFile[] = [];
  const extra: ExtraEntry[] = [];

  for (const commit of revisions) {
    const snapshot = joinPath(layout.snapshotsDir, commit);
    // What each file's own name says: a symlink into blobs/<etag> carries its address.
    const pointers: { entry: DirEntry; blobPath: string; named: string | null }[] = [];
    for (const entry of await listFilesRecursive(runtime, snapshot)) {
      if (entry.info.kind !== "symlink") {
        pointers.push({ entry, blobPath: entry.path, named: null });
        continue;
      }
      let blobPath: string;
      try {
        blobPath = await symlinkFirstHop(runtime, entry.path);
      } catch (err) {
        if (isFsError(err, "ENOENT")) continue; // removed while we walk
        throw err;
      }
      const name = basename(blobPath);
      pointers.push({ entry, blobPath, named: dirname(blobPath) === layout.blobsDir && isEtag(name) ? name : null });
    }
    let tree = await readTree(runtime, layout, commit);
    if (tree === null && !offline && pointers.some((p) => p.named === null)) {
      tree = await fetchTree(runtime, layout, commit, options, notes);
    }
    for (const { entry, blobPath, named } of pointers) {
      const listed = tree?.get(entry.relative) ?? null;
      const base = {
        commit,
        path: entry.relative,
        pointerPath: entry.path,
        expectedSize: listed?.size ?? null,
      };
      let expected: string | null = null;
      if (entry.info.kind === "symlink") {
        expected = named;
        if (expected !== null && listed !== null && listed.etag !== expected) {
          files.push({
            ...base,
            blobPath,
            status: "damaged",
            expected: listed.etag,
            actual: null,
            algorithm: null,
            actualSize: null,
            detail: `points to blob ${expected} but trees/${commit}.json lists ${listed.etag}`,
          });
          continue;
        }
        expected ??= listed?.etag ?? null;
      } else {
        if (tree !== null && listed === null) {
          extra.push({ path: entry.path, reason: `regular file not listed in trees/${commit}.json` });
          continue;
        }
        expected = listed?.etag ?? null;
      }
      if (expected === null) {
        files.push({
          ...base,
          blobPath,
          status: "unverifiable",
          expected: null,
          actual: null,
          algorithm: null,
          actualSize: null,
          detail: entry.info.kind === "symlink"
            ? "pointer does not target blobs/<etag> and no trees listing names its hash"
            : `no trees/${commit}.json to tell its hash${offline ? " (verify online to fetch it)" : ""}`,
        });
        continue;
      }
      const algorithm = hashAlgorithmFor(expected);
      let digest = hashed.get(blobPath);
      if (digest === undefined) {
        try {
          digest = await hashWith(runtime, blobPath, algorithm);
        } catch (err) {
          if (!isFsError(err, "ENOENT", "ENOTDIR", "ELOOP")) throw err;
          digest = "vanished";
        }
        hashed.set(blobPath, digest);
      }
      if (digest === "vanished") {
        // Pointer still there, blob not: missing. Both gone: a concurrent removal.
        const pointerGone = (await lstatOrNull(runtime, entry.path)) === null;
        files.push({
          ...base,
          blobPath,
          status: pointerGone ? "vanished" : "missing",
          expected,
          actual: null,
          algorithm,
          actualSize: null,
          detail: pointerGone ? "removed while verifying" : `blob missing: ${blobPath}`,
        });
        continue;
      }
      // A blob may be shared by pointers of both kinds of address only if names collide;
      // re-hash when the algorithm differs.
      if (digest.algorithm !== algorithm) digest = await hashWith(runtime, blobPath, algorithm);
      const sizeOk = base.expectedSize === null || base.expectedSize === digest.size;
      const hashOk = digest.hex === expected;
      files.push({
        ...base,
        blobPath,
        status: hashOk && sizeOk ? "ok" : "damaged",
        expected,
        actual: digest.hex,
        algorithm,
        actualSize: digest.size,
        detail: hashOk && sizeOk
          ? "ok"
          : !hashOk
          ? `${algorithm === "sha1" ? "git-sha1" : "sha256"} mismatch: expected ${expected}, got ${digest.hex} (${digest.size} bytes)`
          : `size mismatch: expected ${base.expectedSize} bytes, got ${digest.size}`,
      });
    }
  }

  // Every snapshot counts for "referenced", not only the verified revisions.
  const referenced = await referencedBlobs(runtime, layout.repoDir);
  for (const name of blobNames.sort()) {
    const entry = parseBlobsEntry(name);
    const path = joinPath(layout.blobsDir, name);
    if (entry.kind === "blob") {
      if (!referenced.has(path)) {
        extra.push({ path, reason: "blob linked by no snapshot (a download in progress may not have linked it yet)" });
      }
    } else if (entry.kind === "other") {
      extra.push({ path, reason: "unknown file in blobs/" });
    }
  }
  if (tempFiles.length > 0) {
    notes.push(`${tempFiles.length} temp file(s) ignored (downloads in progress or leftovers; see 'cache prune')`);
  }
  if (files.some((f) => f.status === "vanished")) {
    notes.push("some files were removed while verifying (a concurrent rm/prune); not counted as damage");
  }

  const damaged = files.filter((f) => f.status === "damaged");
  const missing = files.filter((f) => f.status === "missing");
  return {
    repoType,
    repoId,
    repoPath: layout.repoDir,
    revisions,
    files,
    damaged,
    missing,
    unverifiable: files.filter((f) => f.status === "unverifiable"),
    extra,
    tempFiles,
    notes,
    healthy: damaged.length === 0 && missing.length === 0,
  };
}

/**
 * The listing of `commit` from the Hub's tree API, cached at `trees/<commit>.json`; `null`
 * (with a note saying why) when it cannot be had — then the files stay `unverifiable`.
 */
async function fetchTree(
  runtime: Runtime,
  layout: RepoLayout,
  commit: string,
  options: VerifyOptions,
  notes: string[],
): Promise<Map<string, ListedFile> | null> {
  try {
    const ctx = await resolveRepoContext({ ...options, runtime, repo: layout.repoId, repoType: layout.repoType, revision: commit, cacheDir: layout.cacheDir, offline: false });
    const files = await listTree(ctx, commit, DEFAULT_MAX_ATTEMPTS);
    await writeTreeCache(runtime, layout, commit, files);
    notes.push(`fetched the file listing of ${commit} from ${ctx.client.endpoint} (cached in trees/${commit}.json)`);
    return await readTree(runtime, layout, commit);
  } catch (err) {
    if (!(err instanceof HubcacheError)) throw err;
    notes.push(`could not fetch the file listing of ${commit}: ${err.message}`);
    return null;
  }
}

async function hashWith(runtime: Runtime, path: string, algorithm: HashAlgorithm): Promise<{ hex: string; size: number; algorithm: HashAlgorithm }> {
  const { digest, size } = await hashFile(runtime, path, algorithm);
  return { hex: digest, size, algorithm };
}
