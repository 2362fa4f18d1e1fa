/**
 * Resolving a file's metadata with one `HEAD`: which commit the revision points
 * at, the file's content address (etag) and size, and where to GET its bytes.
 *
 * @module
 */

import { HubcacheError, UnsafeResponseError } from "./errors.ts";
import { type HubClient, requestWithRetries, resolveUrl } from "./http.ts";
import { parseCommit, parseEtag, parseSize, printable, type RepoType } from "./validate.ts";

/** What the Hub says about one file at one revision. */
export interface FileMetadata {
  /** The commit the revision resolved to (`X-Repo-Commit`). */
  readonly commit: string;
  /** Content address: sha256 (64 hex) for LFS files, git blob sha1 (40 hex) otherwise. */
  readonly etag: string;
  /** Bytes of the content (`X-Linked-Size` for LFS files): a transfer must end exactly here. */
  readonly size: number;
  /** Absolute URL to GET the bytes from (a CDN for LFS files). */
  readonly location: string;
}

/**
 * `HEAD {endpoint}/{repo}/resolve/{revision}/{path}` with retries.
 *
 * LFS files answer `302` to a CDN on another host; the metadata is in that answer's
 * `X-Linked-Etag`/`X-Linked-Size` (its own `ETag` is not the content's), so absolute
 * redirects are not followed. A renamed repo answers a relative `307`, which is.
 *
 * @example
 * ```ts
 * const meta = await resolveFileMetadata(client, { repoType: "model", repoId: "gpt2", revision: "main", path: "config.json" }, 5);
 * meta.etag; // "3f1a…"
 * ```
 */
export async function resolveFileMetadata(
  client: HubClient,
  subject: { repoType: RepoType; repoId: string; revision: string; path: string },
  maxAttempts: number,
): Promise<FileMetadata> {
  const url = resolveUrl(client.endpoint, subject.repoType, subject.repoId, subject.revision, subject.path);
  const res = await requestWithRetries(client, url, { method: "HEAD" }, { followAbsolute: false }, subject, maxAttempts);
  await res.body?.cancel().catch(() => {});
  return metadataFrom(res, url);
}

function metadataFrom(res: Response, requestUrl: string): FileMetadata {
  const h = res.headers;
  const commit = parseCommit(h.get("x-repo-commit"), "the Hub's X-Repo-Commit header");
  const linkedEtag = h.get("x-linked-etag");
  const etag = parseEtag(linkedEtag ?? h.get("etag"), linkedEtag ? "X-Linked-Etag" : "ETag");
  const size = parseSize(h.get("x-linked-size") ?? h.get("content-length"), "the file size header");
  let location = res.url || requestUrl;
  if (res.status >= 300 && res.status < 400) {
    const raw = h.get("location");
    if (!raw) throw new UnsafeResponseError(`HTTP ${res.status} without a Location header`);
    const target = new URL(raw, location);
    if (target.protocol !== "https:" && target.protocol !== "http:") {
      throw new UnsafeResponseError(`refusing a download location that is not HTTP: '${printable(raw)}'`);
    }
    location = target.href;
  } else if (res.status === 200) {
    // Pin the GET to the commit: if the branch moves between HEAD and GET we must still
    // receive the bytes whose etag we are about to verify.
    location = location.replace(/\/resolve\/[^/]+\//, `/resolve/${commit}/`);
  } else {
    throw new HubcacheError("HttpError", `unexpected HTTP ${res.status} resolving ${requestUrl}`);
  }
  return { commit, etag, size, location };
}
