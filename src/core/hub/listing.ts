/**
 * What a revision holds, from the Hub's API: the commit a branch or tag names
 * (`/api/{type}s/{repo}/revision/{rev}`) and every file of a commit with its size and content
 * address (`/api/{type}s/{repo}/tree/{commit}?recursive=true`, paginated by `Link: rel="next"`).
 * Every path and hash is validated as it arrives: a hostile listing must not make us write
 * outside the cache (`docs/DESIGN.md §Invariants 9`).
 *
 * @module
 */

import type { TreeFile } from "../cache/tree_cache.ts";
import { isCommitHash, parseCommit, parseEtag, printable, type RepoType, validateRepoPath } from "../cache/validate.ts";
import { MAX_TREE_PAGES } from "../defaults.ts";
import { UnsafeResponseError } from "../errors.ts";
import type { HubClient } from "./client.ts";
import { requestWithRetries } from "./retries.ts";
import { apiUrl } from "./urls.ts";

/** Which repo to ask about, and through which client. */
export interface RepoRequest {
  /** Endpoint, token, fetch and signal. */
  readonly client: HubClient;
  /** `model`, `dataset` or `space`. */
  readonly repoType: RepoType;
  /** `name` or `namespace/name`. */
  readonly repoId: string;
}

/** The commit `revision` names: itself when it is a commit hash, else the revision API's answer. */
export async function resolveCommit(repo: RepoRequest, revision: string, maxAttempts: number): Promise<string> {
  if (isCommitHash(revision)) return revision;
  const url = apiUrl(repo.client.endpoint, repo.repoType, repo.repoId, `/revision/${encodeURIComponent(revision)}`);
  const res = await requestWithRetries(repo.client, url, { method: "GET" }, { followAbsolute: false }, { ...repo, revision }, maxAttempts);
  const info = await res.json().catch(() => null) as { sha?: unknown } | null;
  return parseCommit(typeof info?.sha === "string" ? info.sha : "", "the revision API's sha");
}

/**
 * List every file of `commit` with `GET /api/{type}s/{repo}/tree/{commit}?recursive=true`,
 * following `Link: rel="next"`; every path and hash is validated (a hostile tree must not
 * make us write outside the cache).
 */
export async function listTree(repo: RepoRequest, commit: string, maxAttempts: number): Promise<TreeFile[]> {
  const files: TreeFile[] = [];
  const endpointOrigin = new URL(repo.client.endpoint).origin;
  let url: string | null = apiUrl(repo.client.endpoint, repo.repoType, repo.repoId, `/tree/${commit}?recursive=true&expand=false`);
  for (let pages = 0; url; pages++) {
    if (pages > MAX_TREE_PAGES) throw new UnsafeResponseError(`the tree listing does not end (more than ${MAX_TREE_PAGES} pages)`);
    const res: Response = await requestWithRetries(repo.client, url, { method: "GET" }, { followAbsolute: false }, repo, maxAttempts);
    const entries = await res.json().catch(() => null);
    if (!Array.isArray(entries)) throw new UnsafeResponseError(`the tree listing of ${repo.repoId} is not a JSON array`);
    for (const entry of entries) {
      if (entry?.type === "file") files.push(treeFileFrom(entry));
    }
    const next = nextLink(res.headers.get("link"));
    const page: string = res.url || url;
    url = null;
    if (next) {
      // A relative target is relative to the page that named it (RFC 8288), not to the endpoint.
      const target = new URL(next, page);
      if (target.origin !== endpointOrigin) throw new UnsafeResponseError(`tree pagination leads to another host: '${printable(next)}'`);
      url = target.href;
    }
  }
  return files;
}

function treeFileFrom(entry: Record<string, unknown>): TreeFile {
  let path: string;
  try {
    path = validateRepoPath(String(entry.path ?? ""));
  } catch (err) {
    throw new UnsafeResponseError(`the tree listing names an unsafe path: ${(err as Error).message}`);
  }
  const size = entry.size;
  if (!Number.isSafeInteger(size) || (size as number) < 0) throw new UnsafeResponseError(`bad size for '${printable(path)}' in the tree listing`);
  const blobId = parseEtag(String(entry.oid ?? ""), `the tree oid of '${printable(path)}'`);
  const lfs = entry.lfs as Record<string, unknown> | undefined | null;
  if (!lfs) return { path, size: size as number, blobId };
  const lfsSha256 = parseEtag(String(lfs.oid ?? lfs.sha256 ?? ""), `the LFS oid of '${printable(path)}'`);
  const lfsSize = lfs.size ?? size;
  if (!Number.isSafeInteger(lfsSize) || (lfsSize as number) < 0) throw new UnsafeResponseError(`bad LFS size for '${printable(path)}'`);
  const xet = typeof entry.xetHash === "string" ? entry.xetHash : undefined;
  return { path, size: lfsSize as number, blobId, lfsSha256, lfsSize: lfsSize as number, xetHash: xet };
}

/** The `rel="next"` target of a `Link` header. */
export function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /(^|;)\s*rel\s*=\s*"?next"?\s*(;|$)/i.test(m[2])) return m[1];
  }
  return null;
}
