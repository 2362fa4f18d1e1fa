/**
 * Resolving a file's metadata with one `HEAD`: which commit the revision points
 * at, the file's content address (etag) and size, and where to GET its bytes.
 *
 * @module
 */

import { parseCommit, parseEtag, parseSize, printable, type RepoType } from "../cache/validate.ts";
import { HubcacheError, UnsafeResponseError } from "../errors.ts";
import type { HubClient } from "./client.ts";
import type { RequestSubject } from "./error_mapping.ts";
import { contentCodings, parseContentRange } from "./headers.ts";
import { requestWithRetries } from "./retries.ts";
import { resolveUrl } from "./urls.ts";

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
 * A server may leave the size out (a `HEAD` without `Content-Length` from a server that
 * streams, or one whose `Content-Length` is that of an encoded body). huggingface_hub 2.0
 * then learns it from the download's `Content-Range` or `Content-Length`; we need it before
 * the first byte (a git blob id hashes the size first, and completeness checks compare it),
 * so we ask for the first byte alone and read the total from the answer.
 */
export async function resolveFileMetadata(
  client: HubClient,
  subject: { repoType: RepoType; repoId: string; revision: string; path: string },
  maxAttempts: number,
): Promise<FileMetadata> {
  const url = resolveUrl(client.endpoint, subject.repoType, subject.repoId, subject.revision, subject.path);
  const res = await requestWithRetries(client, url, { method: "HEAD" }, { followAbsolute: false }, subject, maxAttempts);
  await res.body?.cancel().catch(() => {});
  const { size, ...meta } = metadataFrom(res, url);
  return { ...meta, size: size ?? await probeSize(client, meta.location, subject, maxAttempts) };
}

function metadataFrom(res: Response, requestUrl: string): Omit<FileMetadata, "size"> & { size: number | undefined } {
  const h = res.headers;
  const commit = parseCommit(h.get("x-repo-commit"), "the Hub's X-Repo-Commit header");
  const linkedEtag = h.get("x-linked-etag");
  const etag = parseEtag(linkedEtag ?? h.get("etag"), linkedEtag ? "X-Linked-Etag" : "ETag");
  // A redirect's Content-Length is that of its own little body, never the file's.
  const linkedSize = h.get("x-linked-size");
  const length = res.status === 200 && contentCodings(res) === undefined ? h.get("content-length") : null;
  const size = linkedSize !== null || length !== null ? parseSize(linkedSize ?? length, "the file size header") : undefined;
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

/**
 * The size of the file at `location`, from a request for its first byte: a `206` names the
 * total in `Content-Range`; a server that ignores `Range` answers `200` with the whole length.
 */
async function probeSize(client: HubClient, location: string, subject: RequestSubject, maxAttempts: number): Promise<number> {
  const res = await requestWithRetries(client, location, { method: "GET", headers: { range: "bytes=0-0" } }, { followAbsolute: true }, subject, maxAttempts);
  await res.body?.cancel().catch(() => {});
  // An encoded body's lengths are those of the encoding, not of the file.
  const plain = contentCodings(res) === undefined;
  const range = res.status === 206 && plain ? parseContentRange(res.headers.get("content-range")) : null;
  const length = res.status === 200 && plain ? res.headers.get("content-length") : null;
  if (range?.start === 0 && range.total !== undefined) return range.total;
  if (length !== null) return parseSize(length, "the Content-Length of the download");
  throw new UnsafeResponseError(
    `the server does not say how large '${subject.path}' is (no size on HEAD; a request for its first byte got ` +
      `HTTP ${res.status}, Content-Range '${printable(res.headers.get("content-range") ?? "")}', ` +
      `Content-Encoding '${printable(res.headers.get("content-encoding") ?? "")}'); hubcache needs the size to verify the file`,
  );
}
