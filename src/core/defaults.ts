/**
 * Every default and tuning value of hubcache, each documented once, here. `docs/DESIGN.md
 * §Defaults` lists them; options that override one say so in their own documentation.
 *
 * @module
 */

/**
 * The public Hub, used when neither `endpoint` nor `HF_ENDPOINT` is set.
 *
 * @example
 * ```ts
 * import { DEFAULT_ENDPOINT } from "hubcache/core";
 * console.log(new URL("/api/models/gpt2", DEFAULT_ENDPOINT).href); // "https://huggingface.co/api/models/gpt2"
 * ```
 */
export const DEFAULT_ENDPOINT = "https://huggingface.co";

/** The revision downloads and snapshots use when none is given, as in the Python client. */
export const DEFAULT_REVISION = "main";

/**
 * Attempts of one request or one download on dropped connections, stalls, 5xx, 408 and 429
 * (option `maxAttempts`). A download resets the count whenever bytes arrive, so a flaky link
 * that keeps making progress is never given up on.
 */
export const DEFAULT_MAX_ATTEMPTS = 5;

/** A response that sends no byte for this long is treated as dropped and retried (option `idleTimeoutMs`). */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/**
 * A temp file of a writer on another host (or a legacy `<etag>.incomplete`) that has not grown
 * for this long is judged abandoned and claimed for resume (option `staleAfterMs`). Long,
 * because a writer judged only by time may be alive (a paused VM); claiming it costs a copy.
 */
export const DEFAULT_STALE_AFTER_MS = 10 * 60_000;

/**
 * Files a snapshot download fetches at once (option `concurrency`, CLI `--concurrency`). Measured
 * with `npm run bench` (1,000 files of 10 KiB, 2 busy cores): 16 and 32 were not reliably faster
 * than 8 (the per-file work on the event loop, not the network, bounds it there), so it stays 8.
 */
export const DEFAULT_SNAPSHOT_CONCURRENCY = 8;

/**
 * How long a snapshot trusts its listings of `blobs/` and of its snapshot folders to say a file
 * is absent. Past that, each file is looked for again before it is fetched: another process
 * downloading the same repo (ranks of one job) publishes files meanwhile, and a listing kept for
 * the whole snapshot made a process lagging behind another fetch everything again. Within it, a
 * fresh snapshot of many small files is spared one failing lookup per file.
 */
export const SNAPSHOT_LISTING_TRUST_MS = 1_000;

/**
 * File-system operations a cache command (`cache ls`, `prune`, `rm` planning, and the walk of a
 * folder) keeps in flight per folder it lists, instead of one at a time: a scan of 200,000
 * files is hundreds of thousands of round trips, slow on a network file system. Measured with
 * `npm run bench` (the `ls` scenario).
 */
export const CACHE_SCAN_CONCURRENCY = 16;

/** Repo folders a cache scan works on at once, each with its own {@link CACHE_SCAN_CONCURRENCY}. */
export const CACHE_SCAN_REPOS_AT_ONCE = 4;

/**
 * Times a snapshot download re-places files that vanished before its ref moved (`hf cache prune`
 * deletes a revision no ref points at yet, with its blobs; see snapshot.ts). Bounded, so a pruner
 * running in a loop makes the download fail with `SnapshotIncomplete` instead of spinning.
 */
export const SNAPSHOT_RECHECK_ROUNDS = 3;

/**
 * How long a leftover whose writer cannot be asked (another host, no owner in its name) must be
 * unmodified before `cache prune` removes it (option `olderThan`, CLI `--older-than`).
 */
export const DEFAULT_PRUNE_OLDER_THAN = "1d";

/** `cache prune --max-size`: revisions used this recently are never removed to make room (`keepUsedWithin`). */
export const DEFAULT_KEEP_USED_WITHIN = "10m";

/** A `.hubcache-lock` whose heartbeat is older than this is abandoned by its holder. */
export const LOCK_STALE_AFTER_MS = 30_000;

/**
 * How often a lock holder refreshes its heartbeat: six times per stale period, at least once a
 * second, so one late beat (a busy machine, a network file system's lag) never looks abandoned.
 */
export function lockHeartbeatMs(staleAfterMs: number): number {
  return Math.max(1_000, Math.floor(staleAfterMs / 6));
}

/** A lock waiter's first pause; each next one doubles, up to {@link LOCK_POLL_MAX_MS}. */
export const LOCK_POLL_FIRST_MS = 50;

/** A lock waiter's longest pause between looks at the lock and the blob. */
export const LOCK_POLL_MAX_MS = 500;

/** Retry backoff: the first pause; each next attempt doubles it, with ±25 % jitter. */
export const BACKOFF_BASE_MS = 500;

/** Retry backoff: the longest pause computed by doubling. */
export const BACKOFF_MAX_MS = 8_000;

/** The longest `Retry-After` honoured: a server asking for more is retried after this. */
export const RETRY_AFTER_MAX_MS = 60_000;

/** Redirects followed for one request before it is refused as a loop. */
export const MAX_REDIRECTS = 10;

/** Pages of a tree listing followed before it is refused as never ending. */
export const MAX_TREE_PAGES = 100_000;

/**
 * Bytes per write while downloading: network chunks (≤64 KiB on Node and Deno, ≤512 KiB on Bun)
 * are coalesced into writes of this size, which roughly doubles throughput
 * (`docs/DESIGN.md §Runtimes`).
 */
export const WRITE_CHUNK_BYTES = 1 << 20;

/** Bytes per read when hashing or copying a file already on disk. */
export const READ_CHUNK_BYTES = 1 << 20;

/**
 * Connections one file is fetched with when the caller does not say (option `connections`, CLI
 * `--connections`), for files of at least {@link PARALLEL_MIN_BYTES}. CDNs cap each connection
 * (users report 40–100 MB/s), so one stream wastes most of a fast link; 8 is what aria2c-based
 * downloaders (`-x 8`) and hf_transfer use.
 */
export const DEFAULT_CONNECTIONS = 8;

/**
 * Files smaller than this go over one connection unless `connections` is given: below it a
 * single stream finishes in about a second at CDN rates, and a killed download re-fetches at
 * most one chunk per connection (`docs/DESIGN.md §Parallel ranges`).
 */
export const PARALLEL_MIN_BYTES = 64 << 20;

/**
 * The largest range a parallel download hands out, from the front of the file; smaller files get
 * smaller ranges (at least {@link PARALLEL_MIN_CHUNK_BYTES}) so every connection gets about four.
 * A killed download re-fetches at most `connections` ranges: none is handed out further than that
 * past the durable prefix, which is fsynced and recorded every half range.
 */
export const PARALLEL_CHUNK_BYTES = 8 << 20;

/** The smallest range a parallel download hands out; a file needs two of them to be split at all. */
export const PARALLEL_MIN_CHUNK_BYTES = 1 << 20;

/**
 * Write coalescing per connection of a parallel download (two buffers each: 8 MiB at 16
 * connections). Measured: 512 → 256 KiB took peak RSS at 16 connections from 109 to ~100 MiB on
 * Node and Deno with no change in CPU.
 */
export const PARALLEL_WRITE_BYTES = 256 << 10;

/**
 * A connection holding back the contiguous prefix while others wait for work is re-issued (its
 * request aborted, the rest of its range handed to a waiting connection) when it sent nothing for
 * this long, or once it has run {@link REISSUE_MIN_RUN_MS} at less than a quarter of the best
 * rate another connection reached.
 */
export const STALLED_CONNECTION_MS = 2_000;

/** See {@link STALLED_CONNECTION_MS}: how long a connection runs before its rate is judged. */
export const REISSUE_MIN_RUN_MS = 2_000;

/** How often waiting connections look at the connection holding back the prefix. */
export const REISSUE_CHECK_MS = 250;

/** The most connections one file may use (`connections` above this is refused). */
export const MAX_CONNECTIONS = 64;

/**
 * Pauses between attempts of a file-system operation that failed with `ESTALE` (or met another
 * host's half-visible change), in ms: 12 attempts spread over ~3 s, about three times the longest
 * streak measured on GlusterFS, so a rename by another host is always outlived
 * (`docs/DESIGN.md §Network file systems`).
 */
export const TRANSIENT_RETRY_PAUSES_MS: readonly number[] = [10, 20, 40, 80, 160, 320, 500, 500, 500, 500, 500];

/** Pauses before trusting a wrong-looking size of a fresh file: ~1.5 s, past GlusterFS's 1 s attribute cache. */
export const SIZE_SETTLE_PAUSES_MS: readonly number[] = [100, 200, 400, 800];

/**
 * Only a file modified this recently can show another host's stale size; an older file of the
 * wrong size is really wrong. Generous, for clocks of different hosts that disagree a little.
 */
export const LAG_HORIZON_MS = 10_000;

/** Restarts of a scratch-folder write whose folder another process removed meanwhile, before its error is reported. */
export const SCRATCH_MAX_ATTEMPTS = 5;
