/**
 * In-memory Hub repositories for the emulator: commits, branches, tags, `refs/pr/N`, file
 * contents, and the hashes the real Hub hands out (git blob sha1 for regular files, sha256 for
 * LFS files, git tree ids for directories).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { InvalidInputError } from "../core/errors.ts";
import { isCommitHash, validateRepoId, validateRepoPath, validateRepoType, validateRevision } from "../core/cache/validate.ts";
import type { RepoType } from "../core/cache/validate.ts";

/** How to create a repo. */
export interface RepoOptions {
  /** Default `model`. */
  readonly type?: RepoType;
  /** Anonymous requests (and invalid tokens) get `401 RepoNotFound`. */
  readonly private?: boolean;
  /** Anonymous requests (and invalid tokens) get `401 GatedRepo`. */
  readonly gated?: boolean;
  /**
   * For a gated repo: the valid tokens that were granted access; other valid tokens get
   * `403 GatedRepo`. Default: every valid token has access.
   */
  readonly grantedTokens?: readonly string[];
  /** Xet-backed: LFS resolves carry `X-Xet-Hash` (the plain CDN download still works). */
  readonly xet?: boolean;
}

/** How to make a commit. */
export interface CommitOptions {
  /** The branch to commit on (created from `main` if new). `refs/pr/N` commits onto that pull request. Default `main`. */
  readonly branch?: string;
  /** Paths stored in LFS whatever their size. */
  readonly lfs?: readonly string[];
  /** Paths stored as regular git blobs whatever their size. */
  readonly regular?: readonly string[];
  /** Paths removed from the files carried over from the previous commit. */
  readonly delete?: readonly string[];
  /** The commit message (part of what the commit hash is computed from). */
  readonly message?: string;
}

/** What the emulator serves for one file at one revision. */
export interface FileInfo {
  /** The content address a client must store the blob under: `sha256` for LFS, `gitSha1` otherwise. */
  readonly etag: string;
  /** Bytes of content. */
  readonly size: number;
  /** Served as a 302 to the CDN (true) or directly by the resolve endpoint (false). */
  readonly lfs: boolean;
  /** sha256 of the content (for every file). */
  readonly sha256: string;
  /** The git blob id: of the content for a regular file, of the LFS pointer file for an LFS file. */
  readonly gitSha1: string;
  /** The commit the revision resolved to. */
  readonly commit: string;
  /** Only for LFS files in repos created with `{ xet: true }`. */
  readonly xetHash?: string;
}

/** One entry of a tree listing, as `GET /api/models/{repo}/tree/{rev}` answers it. */
export type TreeEntry =
  | {
    readonly type: "file";
    readonly oid: string;
    readonly size: number;
    readonly path: string;
    readonly lfs?: { readonly oid: string; readonly size: number; readonly pointerSize: number };
    readonly xetHash?: string;
  }
  | { readonly type: "directory"; readonly oid: string; readonly size: 0; readonly path: string };

/** One file as stored in a commit. */
export interface StoredFile {
  /** The repo file path. */
  readonly path: string;
  /** The bytes; served through `subarray` views, never copied per request. */
  readonly content: Uint8Array;
  /** Stored in LFS (served through the CDN). */
  readonly lfs: boolean;
  /** sha256 of the content. */
  readonly sha256: string;
  /** The git blob id: of the content, or of the LFS pointer file for LFS files. */
  readonly gitSha1: string;
  /** Size of the LFS pointer file, for LFS files. */
  readonly pointerSize?: number;
  /** For LFS files of Xet-backed repos. */
  readonly xetHash?: string;
}

/** A commit as the emulator's routes read it. */
export interface Snapshot {
  /** The commit hash. */
  readonly sha: string;
  /** The commit date. */
  readonly date: Date;
  /** Every file path, sorted. */
  readonly paths: readonly string[];
  /** The file at `path`, if there is one. */
  file(path: string): StoredFile | undefined;
  /** The tree entry of a file or a directory. */
  entry(path: string): TreeEntry | undefined;
  /** The entries under directory `dir` (`""` = root), sorted by path; `undefined` if `dir` is not a directory. */
  list(dir: string, recursive: boolean): TreeEntry[] | undefined;
}

/** What repos share inside one emulator: the LFS objects the CDN serves and the LFS threshold. */
export interface RepoContext {
  /** Files of at least this many bytes are committed as LFS and served from the CDN. */
  readonly lfsThreshold: number;
  /** sha256 → bytes, for the CDN. */
  readonly lfsObjects: Map<string, Uint8Array>;
}

const encoder = new TextEncoder();
const EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
const PULL_REF = /^refs\/pr\/([1-9][0-9]*)$/;
// Commit dates move forward by one second per commit so two identical commits still get
// different hashes (tests compare X-Repo-Commit across commits).
let clock = Date.UTC(2024, 0, 1) / 1000;

function gitObjectId(kind: "blob" | "tree" | "commit", body: Uint8Array): string {
  return createHash("sha1").update(`${kind} ${body.length}\0`).update(body).digest("hex");
}

function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function lfsPointer(sha256: string, size: number): Uint8Array {
  return encoder.encode(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`);
}

class Commit implements Snapshot {
  readonly sha: string;
  readonly date: Date;
  readonly parent: string | undefined;
  readonly files: ReadonlyMap<string, StoredFile>;
  readonly paths: readonly string[];
  readonly #trees: ReadonlyMap<string, string>;

  constructor(files: ReadonlyMap<string, StoredFile>, parent: string | undefined, message: string) {
    this.files = files;
    this.parent = parent;
    this.paths = [...files.keys()].sort();
    this.#trees = treeIds(files);
    clock += 1;
    this.date = new Date(clock * 1000);
    const who = `Hub Emulator <emulator@localhost> ${clock} +0000`;
    const text = `tree ${this.#trees.get("")}\n${parent ? `parent ${parent}\n` : ""}author ${who}\ncommitter ${who}\n\n${message}\n`;
    this.sha = gitObjectId("commit", encoder.encode(text));
  }

  file(path: string): StoredFile | undefined {
    return this.files.get(path);
  }

  entry(path: string): TreeEntry | undefined {
    const file = this.files.get(path);
    if (file) return fileEntry(file);
    const oid = this.#trees.get(path);
    return oid === undefined || path === "" ? undefined : { type: "directory", oid, size: 0, path };
  }

  list(dir: string, recursive: boolean): TreeEntry[] | undefined {
    if (!this.#trees.has(dir)) return undefined;
    const prefix = dir === "" ? "" : dir + "/";
    const seen = new Set<string>();
    const entries: TreeEntry[] = [];
    const add = (path: string): void => {
      if (seen.has(path)) return;
      seen.add(path);
      entries.push(this.entry(path)!);
    };
    for (const path of this.paths) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length).split("/");
      const depth = recursive ? rest.length : 1;
      for (let i = 1; i <= depth; i++) add(prefix + rest.slice(0, i).join("/"));
    }
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}

function fileEntry(file: StoredFile): TreeEntry {
  const size = file.content.length;
  if (!file.lfs) return { type: "file", oid: file.gitSha1, size, path: file.path };
  return {
    type: "file",
    oid: file.gitSha1,
    size,
    path: file.path,
    lfs: { oid: file.sha256, size, pointerSize: file.pointerSize! },
    ...(file.xetHash ? { xetHash: file.xetHash } : {}),
  };
}

/** Git tree ids of every directory (`""` = root), computed the way git does. */
function treeIds(files: ReadonlyMap<string, StoredFile>): Map<string, string> {
  const children = new Map<string, Map<string, { mode: string; oid?: string }>>([["", new Map()]]);
  for (const [path, file] of files) {
    const parts = path.split("/");
    for (let i = 0; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      let entries = children.get(dir);
      if (!entries) children.set(dir, entries = new Map());
      const isFile = i === parts.length - 1;
      entries.set(parts[i], isFile ? { mode: "100644", oid: file.gitSha1 } : { mode: "40000" });
    }
  }
  const ids = new Map<string, string>();
  // Deepest first, so every sub-tree id is known before its parent is hashed.
  const depth = (dir: string): number => (dir === "" ? 0 : dir.split("/").length);
  const dirs = [...children.keys()].sort((a, b) => depth(b) - depth(a));
  for (const dir of dirs) {
    const entries = [...children.get(dir)!].map(([name, e]) => ({
      name,
      mode: e.mode,
      oid: e.oid ?? ids.get(dir === "" ? name : `${dir}/${name}`)!,
      // git orders a tree's entries by name, comparing a sub-tree's name as if it ended in "/".
      key: e.mode === "40000" ? name + "/" : name,
    }));
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const parts: Uint8Array[] = [];
    for (const e of entries) {
      parts.push(encoder.encode(`${e.mode} ${e.name}\0`), hexBytes(e.oid));
    }
    ids.set(dir, entries.length === 0 ? EMPTY_TREE : gitObjectId("tree", concat(parts)));
  }
  return ids;
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const repoIds = new WeakMap<EmulatedRepo, string>();

/**
 * One repository of the emulator. Get it from `hub.createRepo(...)` or `hub.repo(...)`.
 * A new repo has one empty commit on `main`.
 *
 * @example
 * ```ts
 * import { HubEmulator } from "hubcache/testing";
 *
 * const hub = await HubEmulator.start();
 * const repo = hub.createRepo("org/model");
 * repo.commit({ "config.json": '{"a":1}', "model.bin": new Uint8Array(4096) });
 * const pr = repo.createPullRequest(repo.commit({ "config.json": '{"a":2}' }, { branch: "dev" }));
 * console.log(`refs/pr/${pr}`, repo.fileInfo("model.bin").etag); // "refs/pr/1", the sha256 of 4096 zero bytes
 * await hub.close();
 * ```
 */
export class EmulatedRepo {
  /** Model, dataset or space. */
  readonly type: RepoType;
  /** See {@link RepoOptions.private}. */
  readonly private: boolean;
  /** See {@link RepoOptions.gated}. */
  readonly gated: boolean;
  /** See {@link RepoOptions.grantedTokens}. */
  readonly grantedTokens: readonly string[] | undefined;
  /** See {@link RepoOptions.xet}. */
  readonly xet: boolean;
  readonly #context: RepoContext;
  readonly #commits = new Map<string, Commit>();
  readonly #branches = new Map<string, string>();
  readonly #tags = new Map<string, string>();
  readonly #pulls = new Map<number, string>();

  /** Use `hub.createRepo` instead: the emulator owns the context. */
  constructor(id: string, options: RepoOptions, context: RepoContext) {
    repoIds.set(this, validateRepoId(id));
    this.type = validateRepoType(options.type ?? "model");
    this.private = options.private ?? false;
    this.gated = options.gated ?? false;
    this.grantedTokens = options.grantedTokens;
    this.xet = options.xet ?? false;
    this.#context = context;
    const initial = new Commit(new Map(), undefined, "initial commit");
    this.#commits.set(initial.sha, initial);
    this.#branches.set("main", initial.sha);
  }

  /** The current repo id (it changes when the repo is renamed). */
  get id(): string {
    return repoIds.get(this)!;
  }

  /**
   * Commit files onto a branch; returns the new commit hash. Files of the branch's previous commit
   * carry over unless listed in `delete`. A new branch starts from `main`. Files of at least the
   * emulator's `lfsThreshold` bytes are LFS unless listed in `regular`.
   */
  commit(files: Readonly<Record<string, string | Uint8Array>>, options: CommitOptions = {}): string {
    const branch = options.branch ?? "main";
    const pull = PULL_REF.exec(branch);
    if (pull ? !this.#pulls.has(Number(pull[1])) : branch.startsWith("refs/")) {
      throw new InvalidInputError(`cannot commit onto '${branch}': use a branch name or an existing refs/pr/N`);
    }
    validateRevision(branch);
    const parentSha = this.resolveRevision(branch) ?? this.#branches.get("main");
    const parent = parentSha === undefined ? undefined : this.#commits.get(parentSha);
    const next = new Map(parent?.files ?? []);
    for (const path of options.delete ?? []) next.delete(path);
    const forcedLfs = new Set(options.lfs ?? []);
    const forcedRegular = new Set(options.regular ?? []);
    for (const [path, value] of Object.entries(files)) {
      validateRepoPath(path);
      if (forcedLfs.has(path) && forcedRegular.has(path)) {
        throw new InvalidInputError(`'${path}' is listed both in lfs and in regular`);
      }
      const content = typeof value === "string" ? encoder.encode(value) : value.slice();
      const lfs = forcedLfs.has(path) || (!forcedRegular.has(path) && content.length >= this.#context.lfsThreshold);
      next.set(path, this.#store(path, content, lfs));
    }
    checkNoFileDirectoryClash(next);
    const commit = new Commit(next, parent?.sha, options.message ?? `commit ${this.#commits.size}`);
    this.#commits.set(commit.sha, commit);
    if (pull) this.#pulls.set(Number(pull[1]), commit.sha);
    else this.#branches.set(branch, commit.sha);
    return commit.sha;
  }

  #store(path: string, fresh: Uint8Array, lfs: boolean): StoredFile {
    const sha256 = sha256Hex(fresh);
    if (!lfs) return { path, content: fresh, lfs, sha256, gitSha1: gitObjectId("blob", fresh) };
    // Identical LFS content shares one buffer, as one object on the real CDN.
    const known = this.#context.lfsObjects.get(sha256);
    const content = known ?? fresh;
    if (!known) this.#context.lfsObjects.set(sha256, content);
    const pointer = lfsPointer(sha256, content.length);
    return {
      path,
      content,
      lfs,
      sha256,
      gitSha1: gitObjectId("blob", pointer),
      pointerSize: pointer.length,
      ...(this.xet ? { xetHash: sha256Hex(`xet merkle ${sha256}`) } : {}),
    };
  }

  /** Create a branch or move it to another commit of this repo. */
  setBranch(name: string, commitSha: string): void {
    if (name.startsWith("refs/")) throw new InvalidInputError(`'${name}' is not a branch name`);
    validateRevision(name);
    this.#branches.set(name, this.#known(commitSha));
  }

  /** Delete a branch; requests for it then answer `404 RevisionNotFound`. */
  deleteBranch(name: string): void {
    this.#branches.delete(name);
  }

  /** Create or move a tag. */
  setTag(name: string, commitSha: string): void {
    if (name.startsWith("refs/")) throw new InvalidInputError(`'${name}' is not a tag name`);
    validateRevision(name);
    this.#tags.set(name, this.#known(commitSha));
  }

  /** Open a pull request pointing at a commit; returns its number N, served as `refs/pr/N`. */
  createPullRequest(commitSha: string): number {
    const n = this.#pulls.size + 1;
    this.#pulls.set(n, this.#known(commitSha));
    return n;
  }

  /**
   * The commit a revision points at: a full commit hash of this repo, a branch, a tag,
   * `refs/pr/N`, `refs/heads/<branch>` or `refs/tags/<tag>`; `undefined` if unknown.
   */
  resolveRevision(revision: string): string | undefined {
    if (isCommitHash(revision)) return this.#commits.has(revision) ? revision : undefined;
    const pull = PULL_REF.exec(revision);
    if (pull) return this.#pulls.get(Number(pull[1]));
    if (revision.startsWith("refs/heads/")) return this.#branches.get(revision.slice("refs/heads/".length));
    if (revision.startsWith("refs/tags/")) return this.#tags.get(revision.slice("refs/tags/".length));
    return this.#branches.get(revision) ?? this.#tags.get(revision);
  }

  /** The commit a revision points at, as the routes read it. */
  snapshot(revision: string): Snapshot | undefined {
    const sha = this.resolveRevision(revision);
    return sha === undefined ? undefined : this.#commits.get(sha);
  }

  /** What the emulator serves for a file; throws if the revision or the file does not exist. */
  fileInfo(path: string, revision = "main"): FileInfo {
    const snap = this.snapshot(revision);
    if (!snap) throw new InvalidInputError(`${this.id} has no revision '${revision}'`);
    const file = snap.file(path);
    if (!file) throw new InvalidInputError(`${this.id}@${revision} has no file '${path}'`);
    return {
      etag: file.lfs ? file.sha256 : file.gitSha1,
      size: file.content.length,
      lfs: file.lfs,
      sha256: file.sha256,
      gitSha1: file.gitSha1,
      commit: snap.sha,
      ...(file.xetHash ? { xetHash: file.xetHash } : {}),
    };
  }

  /** The file paths at a revision, sorted; throws if the revision does not exist. */
  files(revision = "main"): string[] {
    const snap = this.snapshot(revision);
    if (!snap) throw new InvalidInputError(`${this.id} has no revision '${revision}'`);
    return [...snap.paths];
  }

  #known(commitSha: string): string {
    if (!this.#commits.has(commitSha)) throw new InvalidInputError(`${this.id} has no commit '${commitSha}'`);
    return commitSha;
  }
}

function checkNoFileDirectoryClash(files: ReadonlyMap<string, StoredFile>): void {
  for (const path of files.keys()) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (files.has(dir)) throw new InvalidInputError(`'${dir}' cannot be both a file and the folder of '${path}'`);
    }
  }
}

/** What a request's repo id resolves to: the repo, a renamed repo's new home, or nothing. */
export interface FoundRepo {
  /** The repo the id leads to. */
  readonly repo: EmulatedRepo;
  /** True when the id asked for is an old name of the repo. */
  readonly renamed: boolean;
}

/** Every repo of one emulator, by type and id, with the old ids of renamed repos. */
export class RepoStore {
  /** Shared by every repo created here, so identical LFS content is stored once. */
  readonly context: RepoContext;
  readonly #repos = new Map<string, EmulatedRepo>();
  readonly #moved = new Map<string, EmulatedRepo>();

  /** An empty store; repos created later share `context`. */
  constructor(context: RepoContext) {
    this.context = context;
  }

  /** Create a repo; throws if the id is taken. */
  create(id: string, options: RepoOptions): EmulatedRepo {
    const repo = new EmulatedRepo(id, options, this.context);
    const key = storeKey(repo.type, repo.id);
    if (this.#repos.has(key)) throw new InvalidInputError(`${repo.type} repo '${id}' already exists`);
    this.#repos.set(key, repo);
    this.#moved.delete(key);
    return repo;
  }

  /** Look up a repo by its current id or, for a renamed repo, an old one. */
  find(type: RepoType, id: string): FoundRepo | undefined {
    const key = storeKey(type, id);
    const repo = this.#repos.get(key);
    if (repo) return { repo, renamed: false };
    const moved = this.#moved.get(key);
    return moved ? { repo: moved, renamed: true } : undefined;
  }

  /** Give a repo a new id; the old id keeps answering with a redirect to the new one. */
  rename(type: RepoType, from: string, to: string): EmulatedRepo {
    const repo = this.#repos.get(storeKey(type, from));
    if (!repo) throw new InvalidInputError(`no ${type} repo '${from}' to rename`);
    validateRepoId(to);
    const toKey = storeKey(type, to);
    if (this.#repos.has(toKey)) throw new InvalidInputError(`${type} repo '${to}' already exists`);
    this.#repos.delete(storeKey(type, from));
    this.#repos.set(toKey, repo);
    this.#moved.delete(toKey);
    this.#moved.set(storeKey(type, from), repo);
    repoIds.set(repo, to);
    return repo;
  }
}

function storeKey(type: RepoType, id: string): string {
  return `${type}:${id}`;
}
