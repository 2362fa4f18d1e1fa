/**
 * The Hub's URLs: a file's `resolve` URL and the `/api/{models|datasets|spaces}/…` endpoints.
 *
 * @module
 */

/**
 * Build the `resolve` URL of a file. Each path segment is encoded on its own so `/` stays a
 * separator; the revision is encoded whole, so `refs/pr/1` becomes `refs%2Fpr%2F1`.
 */
export function resolveUrl(endpoint: string, repoType: string, repoId: string, revision: string, path: string): string {
  const prefix = repoType === "dataset" ? "datasets/" : repoType === "space" ? "spaces/" : "";
  const encodedPath = path.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/${prefix}${repoId}/resolve/${encodeURIComponent(revision)}/${encodedPath}`;
}

/** Build an `/api/{models|datasets|spaces}/{repo}` URL; `suffix` is appended verbatim. */
export function apiUrl(endpoint: string, repoType: string, repoId: string, suffix: string): string {
  return `${endpoint}/api/${repoType}s/${repoId}${suffix}`;
}
