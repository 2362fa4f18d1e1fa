/**
 * The simulation's model of the network (torture part 5).
 *
 * This is NOT a replacement for the Hub emulator: every other test and torture part talks to
 * the real emulator over HTTP on 127.0.0.1. The deterministic simulation cannot, because a real
 * socket delivers bytes when the kernel says so, and the simulation must decide itself, from
 * its seed, which simulated process moves next. So it serves the same repositories from the
 * emulator's pure data store (`src/testing/repo_store.ts`: commits, git blob sha1s, LFS sha256s,
 * tree entries) through a `fetch`-compatible function whose every request and every body chunk
 * is a scheduling point, with seeded chunk sizes, refused connections, 503s, dropped bodies,
 * corrupted bytes, ignored ranges and wrong `Content-Range`s. It answers the way `docs/DESIGN.md §Hub protocol`'s
 * "Hub protocol" section says the Hub answers (HEAD with `ETag`/`X-Repo-Commit`, 302 to a CDN on
 * another host with `X-Linked-Etag`/`X-Linked-Size`, ranges with `If-Range`, `X-Error-Code`).
 *
 * Commit ids are renamed to stable ones derived from labels: the store dates its commits from a
 * process-wide counter, and a replay in a fresh process must see the same ids (they end up in
 * paths, and paths order directory listings).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { RepoStore } from "../../src/testing/repo_store.ts";
import type { EmulatedRepo } from "../../src/testing/repo_store.ts";
import type { Catalog, Prng } from "./invariants.ts";

/** How hostile the simulated network is. Probabilities are per request (or per body). */
export interface NetworkFaults {
  readonly refuse: number;
  readonly status503: number;
  readonly drop: number;
  readonly corrupt: number;
  readonly ignoreRange: number;
  readonly wrongContentRange: number;
  /** Body chunk sizes, bytes. */
  readonly chunkMin: number;
  readonly chunkMax: number;
}

/** A network that never misbehaves. */
export const CALM_NETWORK: NetworkFaults = {
  refuse: 0,
  status503: 0,
  drop: 0,
  corrupt: 0,
  ignoreRange: 0,
  wrongContentRange: 0,
  chunkMin: 32 * 1024,
  chunkMax: 256 * 1024,
};

/** One scheduling point: resolves when the scheduler lets the caller move (or never). */
export type Gate = (kind: string, detail: string) => Promise<void>;

/** One file the simulated Hub serves. */
export interface SimFile {
  readonly path: string;
  readonly content: Uint8Array;
  readonly etag: string;
  readonly lfs: boolean;
  readonly gitSha1: string;
  readonly sha256: string;
}

/** Counters of what the network did, for the report. */
export interface NetworkTally {
  requests: number;
  faults: number;
  /** Requests carrying `Range` (resumes). */
  ranged: number;
}

const HUB = "http://hub.sim";
const CDN = "http://cdn.sim";

/**
 * One simulated Hub with one model repo and two commits on `main` (the branch can move from the
 * first to the second at a step the seed chooses).
 *
 * @example
 * ```ts
 * const hub = new SimHub(new Prng(1));
 * const fetch = hub.fetchFor(gate, signal);
 * ```
 */
export class SimHub {
  readonly endpoint = HUB;
  readonly repoId = "sim/alpha";
  /** Stable commit ids, oldest first. */
  readonly commits: readonly string[];
  readonly catalog: Catalog;
  readonly tally: NetworkTally = { requests: 0, faults: 0, ranged: 0 };
  faults: NetworkFaults = CALM_NETWORK;
  /** `main` points at the second commit once true. */
  moved = false;
  readonly #repo: EmulatedRepo;
  readonly #store: RepoStore;
  readonly #toStore = new Map<string, string>();
  readonly #rng: Prng;
  readonly #files = new Map<string, Map<string, SimFile>>();
  /** Streams not finished yet, per owner, so a finished seed can end them. */
  readonly #open = new Set<ReadableStreamDefaultController<Uint8Array>>();

  constructor(content: Prng, network: Prng) {
    this.#rng = network;
    this.#store = new RepoStore({ lfsThreshold: 16 * 1024, lfsObjects: new Map() });
    this.#repo = this.#store.create(this.repoId, {});
    const shared = content.content(content.range(1_100_000, 2_300_000));
    const weightsV1 = content.content(content.range(1_100_000, 2_300_000));
    const weightsV2 = content.content(content.range(1_050_000, 2_200_000));
    const tokenizer = content.content(content.range(20_000, 400_000));
    const enc = new TextEncoder();
    const first = this.#repo.commit({
      "config.json": enc.encode(JSON.stringify({ version: 1, pad: "c".repeat(content.range(10, 900)) })),
      "model.bin": weightsV1,
      "onnx/model.bin": shared,
      "shared-copy.bin": shared,
      "tokenizer.json": tokenizer,
      "notes.txt": content.content(content.range(1_000, 12_000)),
    }, { regular: ["notes.txt", "config.json"] });
    const second = this.#repo.commit({
      "config.json": enc.encode(JSON.stringify({ version: 2, pad: "d".repeat(content.range(10, 900)) })),
      "model.bin": weightsV2,
      "extra.bin": content.content(content.range(200_000, 1_300_000)),
    }, { regular: ["config.json"], delete: ["notes.txt"] });
    const stable = [stableCommit(this.repoId, "c1"), stableCommit(this.repoId, "c2")];
    this.commits = stable;
    this.#toStore.set(stable[0]!, first);
    this.#toStore.set(stable[1]!, second);
    const contentByEtag = new Map<string, Uint8Array>();
    const files = new Map<string, Map<string, string>>();
    for (const commit of stable) {
      const snap = this.#repo.snapshot(this.#toStore.get(commit)!)!;
      const byPath = new Map<string, SimFile>();
      const etags = new Map<string, string>();
      for (const path of snap.paths) {
        const f = snap.file(path)!;
        const etag = f.lfs ? f.sha256 : f.gitSha1;
        byPath.set(path, { path, content: f.content, etag, lfs: f.lfs, gitSha1: f.gitSha1, sha256: f.sha256 });
        etags.set(path, etag);
        contentByEtag.set(etag, f.content);
      }
      this.#files.set(commit, byPath);
      files.set(commit, etags);
    }
    this.catalog = { contentByEtag, files };
  }

  /** The commit `main` points at now. */
  get main(): string {
    return this.commits[this.moved ? 1 : 0]!;
  }

  /** The files of a commit. */
  filesAt(commit: string): SimFile[] {
    return [...(this.#files.get(commit)?.values() ?? [])];
  }

  /** End every body still being read (a finished seed must not keep memory alive). */
  closeAll(): void {
    for (const c of this.#open) {
      try {
        c.error(new TypeError("simulation over"));
      } catch { /* already closed */ }
    }
    this.#open.clear();
  }

  /**
   * A `fetch` for one simulated process: `gate` is its scheduling point. Requests and body
   * chunks each pass the gate; faults are drawn from the hub's seeded generator.
   */
  fetchFor(gate: Gate): typeof fetch {
    const f = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
      const method = (init?.method ?? "GET").toUpperCase();
      const signal = init?.signal ?? undefined;
      await gate("net:request", `${method} ${url.pathname.slice(0, 80)}`);
      if (signal?.aborted) throw signal.reason ?? new DOMException("The operation was aborted.", "AbortError");
      this.tally.requests++;
      const net = this.faults;
      if (this.#rng.chance(net.refuse)) {
        this.tally.faults++;
        throw new TypeError("fetch failed (simulated: connection refused)");
      }
      const headers = new Headers(init?.headers as HeadersInit | undefined);
      if (this.#rng.chance(net.status503)) {
        this.tally.faults++;
        return respond(503, { "retry-after": String(this.#rng.int(3)) }, null, url.href);
      }
      if (url.origin === CDN) return this.#cdn(url, method, headers, gate, signal);
      if (url.origin !== HUB) throw new TypeError(`fetch failed (simulated: no such host ${url.host})`);
      return this.#hub(url, method, headers, gate, signal);
    };
    return f as typeof fetch;
  }

  #resolveRevision(raw: string): string | undefined {
    const rev = decodeURIComponent(raw);
    if (rev === "main") return this.main;
    return this.commits.includes(rev) ? rev : undefined;
  }

  #hub(url: URL, method: string, headers: Headers, gate: Gate, signal: AbortSignal | undefined): Response {
    const segs = url.pathname.split("/").filter((s) => s !== "");
    const id = this.repoId.split("/");
    if (segs[0] === "api" && segs[1] === "models" && segs[2] === id[0] && segs[3] === id[1]) {
      const commit = this.#resolveRevision(segs[5] ?? "");
      if (commit === undefined) return errorResponse(404, "RevisionNotFound", url.href);
      if (segs[4] === "revision") {
        const siblings = this.filesAt(commit).map((f) => ({ rfilename: f.path }));
        return jsonResponse({ id: this.repoId, sha: commit, siblings }, url.href);
      }
      if (segs[4] === "tree") {
        const snap = this.#repo.snapshot(this.#toStore.get(commit)!)!;
        return jsonResponse(snap.list("", true), url.href);
      }
      return errorResponse(404, undefined, url.href);
    }
    if (segs[0] !== id[0] || segs[1] !== id[1] || segs[2] !== "resolve" || segs.length < 5) return errorResponse(404, "RepoNotFound", url.href);
    const commit = this.#resolveRevision(segs[3]!);
    if (commit === undefined) return errorResponse(404, "RevisionNotFound", url.href);
    const path = segs.slice(4).map(decodeURIComponent).join("/");
    const file = this.#files.get(commit)!.get(path);
    if (!file) return errorResponse(404, "EntryNotFound", url.href, { "x-repo-commit": commit });
    if (!file.lfs) {
      return this.#bytes(file, file.gitSha1, method, headers, url.href, { "x-repo-commit": commit }, gate, signal);
    }
    return respond(302, {
      location: `${CDN}/lfs/${file.sha256}?path=${encodeURIComponent(path)}`,
      etag: `"${file.gitSha1}"`,
      "x-linked-etag": `"${file.sha256}"`,
      "x-linked-size": String(file.content.length),
      "x-repo-commit": commit,
    }, null, url.href);
  }

  #cdn(url: URL, method: string, headers: Headers, gate: Gate, signal: AbortSignal | undefined): Response {
    const sha = url.pathname.split("/")[2] ?? "";
    const content = this.#store.context.lfsObjects.get(sha);
    if (!content) return errorResponse(404, undefined, url.href);
    const file: SimFile = { path: url.searchParams.get("path") ?? sha, content, etag: sha, lfs: true, gitSha1: "", sha256: sha };
    return this.#bytes(file, sha, method, headers, url.href, {}, gate, signal);
  }

  #bytes(
    file: SimFile,
    etag: string,
    method: string,
    headers: Headers,
    href: string,
    extra: Record<string, string>,
    gate: Gate,
    signal: AbortSignal | undefined,
  ): Response {
    const size = file.content.length;
    const net = this.faults;
    let start = 0;
    let status = 200;
    const range = /^bytes=(\d+)-$/.exec(headers.get("range") ?? "");
    if (range && method === "GET") this.tally.ranged++;
    const ifRange = headers.get("if-range");
    if (range && (ifRange === null || ifRange === `"${etag}"`)) {
      if (this.#rng.chance(net.ignoreRange)) {
        this.tally.faults++;
      } else {
        start = Number(range[1]);
        if (start >= size) {
          return respond(416, { ...extra, etag: `"${etag}"`, "content-range": `bytes */${size}`, "content-length": "0" }, null, href);
        }
        status = 206;
      }
    }
    const common: Record<string, string> = { ...extra, etag: `"${etag}"`, "accept-ranges": "bytes", "content-length": String(size - start) };
    if (status === 206) {
      let shown = start;
      if (this.#rng.chance(net.wrongContentRange)) {
        this.tally.faults++;
        shown = start > 0 ? start - 1 : start + 1;
      }
      common["content-range"] = `bytes ${shown}-${size - 1}/${size}`;
    }
    if (method === "HEAD") return respond(status, common, null, href);
    const length = size - start;
    const dropAt = this.#rng.chance(net.drop) && length > 1 ? start + this.#rng.int(length) : undefined;
    const corruptAt = this.#rng.chance(net.corrupt) ? start + this.#rng.int(length) : undefined;
    if (dropAt !== undefined) this.tally.faults++;
    if (corruptAt !== undefined) this.tally.faults++;
    return respond(status, common, this.#body(file.content, start, dropAt, corruptAt, gate, signal, file.path), href);
  }

  #body(
    content: Uint8Array,
    start: number,
    dropAt: number | undefined,
    corruptAt: number | undefined,
    gate: Gate,
    signal: AbortSignal | undefined,
    label: string,
  ): ReadableStream<Uint8Array> {
    let pos = start;
    let done = false;
    let ctl: ReadableStreamDefaultController<Uint8Array> | undefined;
    const open = this.#open;
    const finish = (): void => {
      done = true;
      if (ctl) open.delete(ctl);
    };
    return new ReadableStream<Uint8Array>({
      start: (c) => {
        ctl = c;
        open.add(c);
      },
      pull: async (c) => {
        await gate("net:read", `${label}@${pos}`);
        if (done) return;
        if (signal?.aborted) {
          finish();
          c.error(signal.reason ?? new DOMException("The operation was aborted.", "AbortError"));
          return;
        }
        if (pos >= content.length) {
          finish();
          c.close();
          return;
        }
        if (dropAt !== undefined && pos >= dropAt) {
          finish();
          c.error(new TypeError("terminated (simulated: connection reset)"));
          return;
        }
        const net = this.faults;
        let n = net.chunkMin + this.#rng.int(Math.max(1, net.chunkMax - net.chunkMin));
        n = Math.min(n, content.length - pos, dropAt !== undefined ? dropAt - pos : Infinity);
        // A view, not a copy (the core copies what it keeps); a copy only to corrupt a byte.
        let chunk = content.subarray(pos, pos + n);
        if (corruptAt !== undefined && corruptAt >= pos && corruptAt < pos + n) {
          chunk = chunk.slice();
          chunk[corruptAt - pos]! ^= 0x5a;
        }
        pos += n;
        c.enqueue(chunk);
      },
      cancel: () => finish(),
    }, { highWaterMark: 0 });
  }
}

function stableCommit(repo: string, label: string): string {
  return createHash("sha1").update(`hubcache-sim:${repo}:${label}`).digest("hex");
}

/** A minimal `Response`: what hubcache reads of one (status, headers, url, body, json). */
function respond(status: number, headers: Record<string, string>, body: ReadableStream<Uint8Array> | null, url: string): Response {
  const h = new Headers(headers);
  let used = false;
  const readAll = async (): Promise<Uint8Array> => {
    used = true;
    if (!body) return new Uint8Array(0);
    const reader = body.getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    return Buffer.concat(parts);
  };
  const res = {
    status,
    ok: status >= 200 && status < 300,
    statusText: "",
    redirected: false,
    type: "basic",
    url,
    headers: h,
    body,
    get bodyUsed(): boolean {
      return used;
    },
    async arrayBuffer(): Promise<ArrayBuffer> {
      const b = await readAll();
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
    async text(): Promise<string> {
      return new TextDecoder().decode(await readAll());
    },
    async json(): Promise<unknown> {
      return JSON.parse(new TextDecoder().decode(await readAll()));
    },
  };
  return res as unknown as Response;
}

function jsonResponse(value: unknown, url: string): Response {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes);
      c.close();
    },
  });
  return respond(200, { "content-type": "application/json", "content-length": String(bytes.length) }, body, url);
}

function errorResponse(status: number, code: string | undefined, url: string, extra: Record<string, string> = {}): Response {
  return respond(status, { ...extra, ...(code ? { "x-error-code": code } : {}) }, null, url);
}
