/**
 * Typed errors. Every error hubcache throws on purpose is a {@link HubcacheError}
 * with a stable `code` to branch on; messages say what to do next.
 *
 * @module
 */

/** The stable codes of {@link HubcacheError}. */
export type HubcacheErrorCode =
  | "RepoNotFound"
  | "RevisionNotFound"
  | "EntryNotFound"
  | "GatedRepo"
  | "IntegrityError"
  | "OfflineCacheMiss"
  | "InvalidInput"
  | "UnsafeResponse"
  | "HttpError"
  | "NetworkError"
  | "Aborted"
  | "SnapshotIncomplete"
  | "CacheError";

/**
 * Base class of every hubcache error.
 *
 * @example
 * ```ts
 * try { await downloadFile({ repo: "gpt2", path: "nope.bin" }); }
 * catch (e) { if (e instanceof HubcacheError && e.code === "EntryNotFound") console.log("absent"); }
 * ```
 */
export class HubcacheError extends Error {
  readonly code: HubcacheErrorCode;
  constructor(code: HubcacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The repository does not exist, or it is private and no valid token was sent. */
export class RepoNotFoundError extends HubcacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("RepoNotFound", message, options);
  }
}

/** The branch, tag or commit does not exist in the repository. */
export class RevisionNotFoundError extends HubcacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("RevisionNotFound", message, options);
  }
}

/** The file does not exist at that revision. `commit` is set when the Hub told us which commit. */
export class EntryNotFoundError extends HubcacheError {
  readonly commit: string | undefined;
  constructor(message: string, commit?: string, options?: { cause?: unknown }) {
    super("EntryNotFound", message, options);
    this.commit = commit;
  }
}

/** The repository is gated: accept its conditions on the Hub and pass a token. */
export class GatedRepoError extends HubcacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("GatedRepo", message, options);
  }
}

/** Downloaded bytes did not match their content address (sha256 / git sha1) or size. */
export class IntegrityError extends HubcacheError {
  readonly expected: string;
  readonly actual: string;
  constructor(message: string, expected: string, actual: string) {
    super("IntegrityError", message);
    this.expected = expected;
    this.actual = actual;
  }
}

/** Offline (or the Hub unreachable) and the cache does not hold what was asked for. */
export class OfflineCacheMissError extends HubcacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("OfflineCacheMiss", message, options);
  }
}

/** A repo id, revision, path or option from the user is not acceptable. */
export class InvalidInputError extends HubcacheError {
  constructor(message: string) {
    super("InvalidInput", message);
  }
}

/** The server answered something we refuse to act on (bad etag, unsafe redirect, bad range). */
export class UnsafeResponseError extends HubcacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("UnsafeResponse", message, options);
  }
}

/** An HTTP status we could not turn into a more specific error. */
export class HttpError extends HubcacheError {
  readonly status: number;
  readonly url: string;
  constructor(message: string, status: number, url: string, options?: { cause?: unknown }) {
    super("HttpError", message, options);
    this.status = status;
    this.url = url;
  }
}

/** The Hub could not be reached (connection refused, reset, timed out), after retries. */
export class NetworkError extends HubcacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NetworkError", message, options);
  }
}

/** The caller's AbortSignal fired. Any partial download was kept for resume. */
export class AbortedError extends HubcacheError {
  constructor(message = "download aborted; the partial file was kept and the next run resumes it", options?: { cause?: unknown }) {
    super("Aborted", message, options);
  }
}

/** The cache is in a state we cannot safely use (for example a file where a folder must be). */
export class CacheError extends HubcacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CacheError", message, options);
  }
}

/** Some files of a snapshot download failed; the others finished or were left resumable. */
export class SnapshotIncompleteError extends HubcacheError {
  /** Each failed file with its error. */
  readonly failures: ReadonlyArray<{ readonly path: string; readonly error: unknown }>;
  constructor(message: string, failures: ReadonlyArray<{ path: string; error: unknown }>) {
    super("SnapshotIncomplete", message, { cause: failures[0]?.error });
    this.failures = failures;
  }
}
