/**
 * The options every public operation takes: one object, with the runtime and the cache root
 * optional in `hubcache` (the running runtime's adapter, the cache the environment names) and
 * the runtime required in `hubcache/core` ({@link WithRuntime}).
 *
 * @module
 */

import type { Runtime } from "./ports.ts";
import type { RepoType } from "./cache/validate.ts";

/** Where an operation runs: every public operation's options extend these. */
export interface CacheOptions {
  /** Cache root, absolute. Default: `HF_HUB_CACHE` > `HUGGINGFACE_HUB_CACHE` > `$HF_HOME/hub` > `$XDG_CACHE_HOME/huggingface/hub` > `~/.cache/huggingface/hub`. */
  cacheDir?: string;
  /** The adapter bundle: optional in `hubcache` (the running runtime's), required in `hubcache/core`. */
  runtime?: Runtime;
}

/** `O` as `hubcache/core` takes it: with the {@link Runtime} given explicitly. */
export type WithRuntime<O> = O & { runtime: Runtime };

/** Options of every operation on one repo. Unset fields default from the environment. */
export interface HubOptions extends CacheOptions {
  /** `name` or `namespace/name`. */
  repo: string;
  /** Default `"model"`. */
  repoType?: RepoType;
  /** Branch, tag, full commit hash or `refs/pr/N`. Default `"main"`. */
  revision?: string;
  /** Hub base URL. Default `HF_ENDPOINT` or `https://huggingface.co`. */
  endpoint?: string;
  /** Bearer token; `false` to send none even if `HF_TOKEN` is set. */
  token?: string | false;
  /** Never touch the network (`HF_HUB_OFFLINE=1`). */
  offline?: boolean;
  /** Stop promptly; a partial download is kept for the next run. */
  signal?: AbortSignal;
  /** Override the runtime's `fetch` (proxies, instrumentation). */
  fetch?: typeof fetch;
  /** Sent as `User-Agent`. */
  userAgent?: string;
  /**
   * How long a metadata request (the `HEAD` of a file, the revision and tree APIs) may wait for
   * the Hub's answer before it counts as failed and is retried. Default `HF_HUB_ETAG_TIMEOUT`
   * (seconds) when set, else no limit beyond the network's own.
   */
  metadataTimeoutMs?: number;
  /**
   * Called with what the user should hear about while the operation goes on: a retry after
   * a network failure, an answer from the cache because the Hub was unreachable, another
   * program's interference; see {@link DownloadWarning}.
   */
  onWarning?: (warning: DownloadWarning) => void;
}

/** How bytes are reported while they arrive. */
export interface DownloadProgress {
  /** The file's path in the repo. */
  readonly path: string;
  /** Bytes of the final file on disk so far (including a resumed prefix). */
  readonly bytesDone: number;
  /** Expected size of the file. */
  readonly bytesTotal: number;
  /** Bytes reused from a partial download (0 for a fresh one). */
  readonly resumedFrom: number;
  /** `"cached"`: nothing to download; `"download"`: bytes flowing; `"done"`: published. */
  readonly phase: "cached" | "download" | "done";
}

/**
 * Something a download worked around that its user should hear about (the CLI prints it on
 * stderr). `TempFileDeleted`: another program deleted the download's temp file while it was
 * being written (`hf cache prune` deletes every `blobs/*.incomplete`); the verified bytes were
 * recovered from the still-open file and published.
 */
export interface DownloadWarning {
  /** Stable, for code that branches on it. */
  readonly code: "TempFileDeleted" | "Retrying" | "HubUnreachable";
  /** The file's path in the repo (`""` for what concerns the whole repo, such as resolving a revision). */
  readonly path: string;
  /** One line for people. */
  readonly message: string;
}

/** Options of `downloadFile`. */
export interface DownloadFileOptions extends HubOptions {
  /** The file's path inside the repo, e.g. `"onnx/model.onnx"`. */
  path: string;
  /**
   * Download again even if the cache has the file, and repair: the blob (or snapshot file) in
   * place stays only if its bytes verify, otherwise the fresh verified copy replaces it.
   */
  forceDownload?: boolean;
  /**
   * Put the file at `<localDir>/<path>` as a regular file instead of in the cache (absolute path),
   * with the Python client's bookkeeping in `<localDir>/.cache/huggingface/`, as
   * `hf download --local-dir` does; content already in the cache is copied from there.
   */
  localDir?: string;
  /**
   * With `localDir`: content already in the cache that cannot be reflinked (file systems without
   * copy-on-write) is hard-linked instead of copied — no second copy on disk, but editing the
   * local file in place then edits the cache's blob too. Default `false` (a copy).
   */
  hardLinks?: boolean;
  /**
   * Local directories (absolute) that `hf download --local-dir` or hubcache filled before: a
   * file missing from the cache whose `<dir>/<path>` is recorded there with the same etag and
   * unchanged since is placed from there (reflink, else a copy) and verified instead of fetched;
   * anything that does not verify is fetched. Never hard-linked. Not with `localDir`.
   */
  reuseLocalDirs?: readonly string[];
  /** `"never"` stores files directly in the snapshot (`HF_HUB_DISABLE_SYMLINKS=1`). Default `"auto"`. */
  symlinks?: "auto" | "never";
  /** `"none"` disables the de-duplication lock; correctness never depends on it. Default `"auto"`. */
  lock?: "auto" | "none";
  /** Called as bytes arrive (throttled by the caller if it wants). */
  onProgress?: (progress: DownloadProgress) => void;
  /**
   * A temp file of a writer on another host (or a legacy `<etag>.incomplete`) that has not
   * grown for this long is considered abandoned and claimed for resume. Default 10 minutes.
   */
  staleAfterMs?: number;
  /** Attempts for one download on dropped connections, 5xx and 429. Default 5. */
  maxAttempts?: number;
  /** Abort a request that sends no bytes for this long. Default 60 s. */
  idleTimeoutMs?: number;
  /**
   * Ranged connections one file is fetched with, written at their offsets into one temp file
   * and hashed in file order (`docs/DESIGN.md §Parallel ranges`). Default 8 for files of at
   * least 64 MiB, 1 below; a server that ignores `Range` gets one stream whatever this says.
   */
  connections?: number;
}
