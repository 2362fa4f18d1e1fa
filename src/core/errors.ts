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
  | "TokenRejected"
  | "IntegrityError"
  | "OfflineCacheMiss"
  | "InvalidInput"
  | "UnsafeResponse"
  | "HttpError"
  | "NetworkError"
  | "Aborted"
  | "SnapshotIncomplete"
  | "NotEnoughSpace"
  | "CacheError";

/**
 * Base class of every hubcache error.
 *
 * @example
 * ```ts
 * import { downloadFile, HubcacheError } from "hubcache";
 *
 * try { await downloadFile({ repo: "gpt2", path: "nope.bin" }); }
 * catch (e) { if (e instanceof HubcacheError && e.code === "EntryNotFound") console.log("absent"); }
 * ```
 */
export class HubcacheError extends Error {
  /** What went wrong, stable across versions: branch on this, not on `message` or the class name. */
  readonly code: HubcacheErrorCode;
  /** Subclasses pass their own `code`; `options.cause` keeps the underlying error. */
  constructor(code: HubcacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The repository does not exist, or it is private and no valid token was sent (the Hub
 * answers both the same way, so we cannot tell them apart).
 *
 * @example
 * ```ts
 * import { downloadFile, RepoNotFoundError } from "hubcache";
 *
 * try { await downloadFile({ repo: "org/private-model", path: "config.json" }); }
 * catch (e) { if (e instanceof RepoNotFoundError) console.error("check the id, or set HF_TOKEN"); }
 * ```
 */
export class RepoNotFoundError extends HubcacheError {
  /** `message` should say what to check next (the id, `--repo-type`, the token). */
  constructor(message: string, options?: { cause?: unknown }) {
    super("RepoNotFound", message, options);
  }
}

/**
 * The branch, tag or commit does not exist in the repository.
 *
 * @example
 * ```ts
 * import { downloadFile, RevisionNotFoundError } from "hubcache";
 *
 * try { await downloadFile({ repo: "gpt2", path: "config.json", revision: "v9" }); }
 * catch (e) { if (e instanceof RevisionNotFoundError) console.error(e.message); }
 * ```
 */
export class RevisionNotFoundError extends HubcacheError {
  /** `message` names the revision and the repo. */
  constructor(message: string, options?: { cause?: unknown }) {
    super("RevisionNotFound", message, options);
  }
}

/**
 * The file does not exist at that revision. `commit` is set when the Hub told us which commit.
 *
 * @example
 * ```ts
 * import { downloadFile, EntryNotFoundError } from "hubcache";
 *
 * try { await downloadFile({ repo: "gpt2", path: "tokenizer.json" }); }
 * catch (e) { if (e instanceof EntryNotFoundError) console.log(`absent at ${e.commit ?? "unknown commit"}`); }
 * ```
 */
export class EntryNotFoundError extends HubcacheError {
  /**
   * The commit the Hub resolved the revision to (`X-Repo-Commit`), so the absence can be
   * recorded in `.no_exist/<commit>/`; `undefined` when the Hub did not say.
   */
  readonly commit: string | undefined;
  /** `commit` only when it is a full 40-hex hash: it becomes a folder name in the cache. */
  constructor(message: string, commit?: string, options?: { cause?: unknown }) {
    super("EntryNotFound", message, options);
    this.commit = commit;
  }
}

/**
 * The repository is gated: accept its conditions on the Hub and pass a token.
 *
 * @example
 * ```ts
 * import { downloadFile, GatedRepoError } from "hubcache";
 *
 * try { await downloadFile({ repo: "meta-llama/Llama-3.2-1B", path: "config.json" }); }
 * catch (e) { if (e instanceof GatedRepoError) console.error("accept the licence on the Hub, then set HF_TOKEN"); }
 * ```
 */
export class GatedRepoError extends HubcacheError {
  /** `message` carries the Hub's own explanation when it sent one. */
  constructor(message: string, options?: { cause?: unknown }) {
    super("GatedRepo", message, options);
  }
}

/**
 * The Hub refused the token that was sent (401: invalid, expired or revoked). The message says
 * where the token came from (`--token`, `HF_TOKEN`, the token file `hf auth login` wrote).
 *
 * @example
 * ```ts
 * import { downloadFile, TokenRejectedError } from "hubcache";
 *
 * try { await downloadFile({ repo: "org/private-model", path: "config.json", token: "hf_expired" }); }
 * catch (e) { if (e instanceof TokenRejectedError) console.error("run `hf auth login` again"); }
 * ```
 */
export class TokenRejectedError extends HubcacheError {
  /** `message` names the token's origin and how to replace it. */
  constructor(message: string, options?: { cause?: unknown }) {
    super("TokenRejected", message, options);
  }
}

/**
 * Downloaded bytes did not match their content address (sha256 / git sha1) or size, twice:
 * the download already restarted from zero once. The bad bytes never reach `blobs/`.
 *
 * @example
 * ```ts
 * import { downloadFile, IntegrityError } from "hubcache";
 *
 * try { await downloadFile({ repo: "gpt2", path: "model.safetensors" }); }
 * catch (e) { if (e instanceof IntegrityError) console.error(`expected ${e.expected}, got ${e.actual}`); }
 * ```
 */
export class IntegrityError extends HubcacheError {
  /** The content address (etag) the file must have. */
  readonly expected: string;
  /** The digest of the bytes received; both sizes are in `message`. */
  readonly actual: string;
  /** No `cause`: the mismatch is the whole story. */
  constructor(message: string, expected: string, actual: string) {
    super("IntegrityError", message);
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * Offline (or the Hub unreachable) and the cache does not hold what was asked for.
 *
 * @example
 * ```ts
 * import { downloadFile, OfflineCacheMissError } from "hubcache";
 *
 * try { await downloadFile({ repo: "gpt2", path: "config.json", offline: true }); }
 * catch (e) { if (e instanceof OfflineCacheMissError) console.error("download it once while online"); }
 * ```
 */
export class OfflineCacheMissError extends HubcacheError {
  /** `options.cause` is the network failure when we fell back to the cache because of one. */
  constructor(message: string, options?: { cause?: unknown }) {
    super("OfflineCacheMiss", message, options);
  }
}

/**
 * A repo id, revision, path or option from the user is not acceptable. The CLI exits with
 * status 2 for it, as for any other usage error.
 *
 * @example
 * ```ts
 * import { InvalidInputError, validateRepoId } from "hubcache";
 *
 * try { validateRepoId("../etc"); }
 * catch (e) { if (e instanceof InvalidInputError) console.error(e.message); }
 * ```
 */
export class InvalidInputError extends HubcacheError {
  /** No `cause`: the input itself is the problem, and `message` says what is accepted. */
  constructor(message: string) {
    super("InvalidInput", message);
  }
}

/**
 * The server answered something we refuse to act on (bad etag, unsafe redirect, bad range).
 *
 * @example
 * ```ts
 * import { downloadFile, UnsafeResponseError } from "hubcache";
 *
 * try { await downloadFile({ repo: "gpt2", path: "config.json", endpoint: "https://mirror.example" }); }
 * catch (e) { if (e instanceof UnsafeResponseError) console.error(`mirror misbehaves: ${e.message}`); }
 * ```
 */
export class UnsafeResponseError extends HubcacheError {
  /** `message` quotes the server's value through `printable`: it is untrusted and ends up on a terminal. */
  constructor(message: string, options?: { cause?: unknown }) {
    super("UnsafeResponse", message, options);
  }
}

/**
 * An HTTP status we could not turn into a more specific error.
 *
 * @example
 * ```ts
 * import { downloadFile, HttpError } from "hubcache";
 *
 * try { await downloadFile({ repo: "gpt2", path: "config.json" }); }
 * catch (e) { if (e instanceof HttpError && e.status === 403) console.error(`forbidden: ${e.url}`); }
 * ```
 */
export class HttpError extends HubcacheError {
  /** The final response's status, after retries of 429/5xx ran out. */
  readonly status: number;
  /** The URL that answered (after redirects), for the bug report. */
  readonly url: string;
  /** `status` and `url` are kept apart from `message` so callers can branch without parsing it. */
  constructor(message: string, status: number, url: string, options?: { cause?: unknown }) {
    super("HttpError", message, options);
    this.status = status;
    this.url = url;
  }
}

/**
 * The Hub could not be reached (connection refused, reset, timed out), after retries.
 *
 * @example
 * ```ts
 * import { downloadFile, NetworkError } from "hubcache";
 *
 * try { await downloadFile({ repo: "gpt2", path: "config.json" }); }
 * catch (e) { if (e instanceof NetworkError) await downloadFile({ repo: "gpt2", path: "config.json", offline: true }); }
 * ```
 */
export class NetworkError extends HubcacheError {
  /** `options.cause` is the `fetch` rejection, whose message differs per runtime. */
  constructor(message: string, options?: { cause?: unknown }) {
    super("NetworkError", message, options);
  }
}

/**
 * The caller's AbortSignal fired. Any partial download was kept for resume.
 *
 * @example
 * ```ts
 * import { AbortedError, downloadFile } from "hubcache";
 *
 * const signal = AbortSignal.timeout(30_000);
 * try { await downloadFile({ repo: "gpt2", path: "model.safetensors", signal }); }
 * catch (e) { if (e instanceof AbortedError) console.log("stopped; run again to resume"); }
 * ```
 */
export class AbortedError extends HubcacheError {
  /** The default message tells the user the next run resumes, which is what they need to know. */
  constructor(message = "download aborted; the partial file was kept and the next run resumes it", options?: { cause?: unknown }) {
    super("Aborted", message, options);
  }
}

/**
 * The cache is in a state we cannot safely use (for example a file where a folder must be).
 *
 * @example
 * ```ts
 * import { CacheError, verifyRepo } from "hubcache";
 *
 * try { await verifyRepo({ repo: "gpt2" }); }
 * catch (e) { if (e instanceof CacheError) console.error(e.message); } // "model 'gpt2' is not in the cache …"
 * ```
 */
export class CacheError extends HubcacheError {
  /** `message` names the path at fault so the user can inspect or remove it. */
  constructor(message: string, options?: { cause?: unknown }) {
    super("CacheError", message, options);
  }
}

/**
 * The disk holding the cache has less free space than a download still needs, found before
 * any byte was fetched (a kept partial that could not be completed would fill it).
 *
 * @example
 * ```ts
 * import { downloadFile, NotEnoughSpaceError } from "hubcache";
 *
 * try { await downloadFile({ repo: "openai-community/gpt2", path: "model.safetensors" }); }
 * catch (e) { if (e instanceof NotEnoughSpaceError) console.error(`free ${e.needed - e.available} bytes`); }
 * ```
 */
export class NotEnoughSpaceError extends HubcacheError {
  /** Bytes the download still needs. */
  readonly needed: number;
  /** Bytes free where it would write them. */
  readonly available: number;
  /** `message` says how much is needed, where, and what to do. */
  constructor(message: string, needed: number, available: number, options?: { cause?: unknown }) {
    super("NotEnoughSpace", message, options);
    this.needed = needed;
    this.available = available;
  }
}

/**
 * Some files of a snapshot download failed. No new file starts after the first failure (the
 * cause is often shared: disk full, token revoked); files in flight finish, and everything
 * completed stays cached, so a rerun fetches only the rest.
 *
 * @example
 * ```ts
 * import { downloadSnapshot, SnapshotIncompleteError } from "hubcache";
 *
 * try { await downloadSnapshot({ repo: "gpt2" }); }
 * catch (e) { if (e instanceof SnapshotIncompleteError) for (const f of e.failures) console.error(f.path); }
 * ```
 */
export class SnapshotIncompleteError extends HubcacheError {
  /** Each failed file with its error. */
  readonly failures: ReadonlyArray<{ readonly path: string; readonly error: unknown }>;
  /** The first failure becomes `cause`, so tools that only print causes still show one. */
  constructor(message: string, failures: ReadonlyArray<{ path: string; error: unknown }>) {
    super("SnapshotIncomplete", message, { cause: failures[0]?.error });
    this.failures = failures;
  }
}
