/**
 * The options shared by every operation that talks to the Hub or the cache.
 *
 * @module
 */

import type { Runtime } from "./ports.ts";
import type { RepoType } from "./cache/validate.ts";

/** Options every Hub operation takes. Unset fields default from the environment (config.ts). */
export interface HubOptions {
  /** `name` or `namespace/name`. */
  repo: string;
  /** Default `"model"`. */
  repoType?: RepoType;
  /** Branch, tag, full commit hash or `refs/pr/N`. Default `"main"`. */
  revision?: string;
  /** Cache root. Default: `HF_HUB_CACHE` etc., see `defaultCacheDir`. */
  cacheDir?: string;
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
  /** The adapter bundle; `mod.ts` picks the running runtime's. */
  runtime?: Runtime;
  /** Sent as `User-Agent`. */
  userAgent?: string;
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
  readonly code: "TempFileDeleted";
  /** The file's path in the repo. */
  readonly path: string;
  /** One line for people. */
  readonly message: string;
}

/** Options of `downloadFile`. */
export interface DownloadFileOptions extends HubOptions {
  /** The file's path inside the repo, e.g. `"onnx/model.onnx"`. */
  path: string;
  /** Download again even if the cache has the file (the new blob still goes through verification). */
  forceDownload?: boolean;
  /** `"never"` stores files directly in the snapshot (`HF_HUB_DISABLE_SYMLINKS=1`). Default `"auto"`. */
  symlinks?: "auto" | "never";
  /** `"none"` disables the de-duplication lock; correctness never depends on it. Default `"auto"`. */
  lock?: "auto" | "none";
  /** Called as bytes arrive (throttled by the caller if it wants). */
  onProgress?: (progress: DownloadProgress) => void;
  /** Called when the download worked around another program's interference; see {@link DownloadWarning}. */
  onWarning?: (warning: DownloadWarning) => void;
  /**
   * A temp file of a writer on another host (or a legacy `<etag>.incomplete`) that has not
   * grown for this long is considered abandoned and claimed for resume. Default 10 minutes.
   */
  staleAfterMs?: number;
  /** Attempts for one download on dropped connections, 5xx and 429. Default 5. */
  maxAttempts?: number;
  /** Abort a request that sends no bytes for this long. Default 60 s. */
  idleTimeoutMs?: number;
}
