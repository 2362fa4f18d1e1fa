/**
 * A local Hugging Face Hub: a real HTTP server on 127.0.0.1 serving in-memory repos the way the
 * Hub answers (resolve with ETag / 302 to a CDN on another host, the revision, tree and
 * paths-info APIs, the error codes, ranges), plus fault switches and a request log, so download
 * clients can be tested offline, under failure, on Node, Deno and Bun (`node:http` on all three).
 *
 * @example
 * ```ts
 * import { HubEmulator } from "hubcache/testing";
 *
 * const hub = await HubEmulator.start();
 * hub.createRepo("org/model").commit({ "config.json": '{"a":1}', "model.bin": new Uint8Array(1 << 20) });
 * const head = await fetch(`${hub.endpoint}/org/model/resolve/main/model.bin`, { method: "HEAD", redirect: "manual" });
 * console.log(head.status, head.headers.get("location")); // 302, a URL on hub.cdnOrigin
 * await hub.close();
 * ```
 *
 * @module
 */

import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { setMaxListeners } from "node:events";
import { CdnLabels, ifRangeHolds } from "./cdn.ts";
import type { CdnOptions, Validators } from "./cdn.ts";
import { FaultQueue } from "./faults.ts";
import type { Fault, FaultTarget } from "./faults.ts";
import { RepoStore } from "./repo_store.ts";
import type { EmulatedRepo, RepoOptions, Snapshot, TreeEntry } from "./repo_store.ts";
import type { RepoType } from "../core/cache/validate.ts";

/** Options of {@link HubEmulator.start}. */
export interface HubEmulatorOptions {
  /** Entries per page of a tree listing. Default 1000 (the Hub's page size without `expand`). */
  readonly pageSize?: number;
  /** The bearer tokens that are valid. Default `["hf_test_token"]`. */
  readonly tokens?: readonly string[];
  /** Files of at least this many bytes are committed as LFS. Default 1024. */
  readonly lfsThreshold?: number;
  /** How the CDN serving LFS files behaves; the default is an nginx-like server (see {@link CdnOptions}). */
  readonly cdn?: CdnOptions;
  /** HTTP behaviours of real servers that clients tend not to expect; all off by default. */
  readonly quirks?: HttpQuirks;
}

/** HTTP behaviours of real servers, proxies and mirrors, each switched on separately. */
export interface HttpQuirks {
  /**
   * LFS files answer `302` with a `Location` relative to the Hub (`/lfs/<sha256>?…`), and the Hub
   * listener serves those paths itself: a mirror that stores LFS objects on its own host.
   */
  readonly relativeLfsRedirect?: boolean;
  /**
   * File bodies are sent without `Content-Length` (chunked), and `HEAD` of a regular file carries
   * no `Content-Length`: a server that streams what it serves.
   */
  readonly noContentLength?: boolean;
  /** The LFS `302` carries no `X-Linked-Size` (a proxy that passes only some of the Hub's headers). */
  readonly noLinkedSize?: boolean;
  /** File bodies are gzip-encoded (`Content-Encoding: gzip`) although the client asked for `identity`. */
  readonly forceGzip?: boolean;
  /** Response header names as sent: `"lower"` (as HTTP/2 and many proxies write them) or `"upper"`. */
  readonly headerCase?: "lower" | "upper";
  /** Tree pages name the next page with a relative reference (`Link: <?cursor=…>; rel="next"`), which RFC 8288 resolves against the page. */
  readonly relativeLinks?: boolean;
}

/**
 * One request as the emulator saw and answered it. The entry is added when the request arrives
 * and updated while it is answered (`status` is 0 until the headers go out; `bytesSent` grows
 * with the body).
 */
export interface RecordedRequest {
  /** Upper-case HTTP method. */
  readonly method: string;
  /** Absolute URL, as requested (`http://127.0.0.1:1234/org/name/resolve/main/x`). */
  readonly url: string;
  /** The `Host` header. */
  readonly host: string;
  /** The URL path as sent, still percent-encoded, without the query. */
  readonly path: string;
  /** The repo file path, for resolve requests and CDN downloads. */
  readonly filePath?: string;
  /** The repo id the request is about, when it names one. */
  readonly repo?: string;
  /** True for requests to the CDN listener. */
  readonly cdn: boolean;
  /** The `Range` header, if sent. */
  readonly range?: string;
  /** The `If-Range` header, if sent. */
  readonly ifRange?: string;
  /** An `Authorization` header was present (valid or not). */
  readonly authorization: boolean;
  /** The answer's status; 0 until the headers are written. */
  readonly status: number;
  /** Body bytes handed to the socket. */
  readonly bytesSent: number;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** One request being answered. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly record: Writable<RecordedRequest>;
  readonly target: Writable<FaultTarget>;
  readonly method: string;
  readonly rawPath: string;
  readonly rawQuery: string;
  readonly segments: readonly string[];
}

type RangeRequest = { kind: "none" } | { kind: "unsatisfiable" } | { kind: "range"; start: number; end: number };

interface BodyPlan {
  /** Body offset at which the socket is destroyed. */
  cutAt?: number;
  stallAt?: number;
  stallMs?: number;
  /** Body offset of the byte to flip. */
  corruptAt?: number;
}

const CHUNK = 256 * 1024;
// Bun's fetch can discard bytes it already received when the connection resets right behind
// them; a short pause before a deliberate drop lets every client see the bytes that were sent.
const LINGER_MS = 25;
const MAX_REQUEST_BODY = 8 * 1024 * 1024;
const TYPE_PREFIX: Record<RepoType, string> = { model: "", dataset: "/datasets", space: "/spaces" };
const API_TYPES: Record<string, RepoType> = { models: "model", datasets: "dataset", spaces: "space" };
const API_OPS = ["revision", "tree", "paths-info"];
const encoder = new TextEncoder();

/**
 * The Hub emulator: one listener for the Hub (`endpoint`, 127.0.0.1) and one for the LFS CDN
 * (`cdnOrigin`, `localhost`: another host name, so a client that forwards its token across
 * redirects is caught by `requests[i].authorization`).
 *
 * @example
 * ```ts
 * import { HubEmulator } from "hubcache/testing";
 *
 * const hub = await HubEmulator.start();
 * const repo = hub.createRepo("org/name");
 * const sha = repo.commit({ "config.json": '{"a":1}' });
 * const res = await fetch(`${hub.endpoint}/org/name/resolve/main/config.json`);
 * console.log(res.headers.get("x-repo-commit") === sha); // true
 * await hub.close();
 * ```
 */
export class HubEmulator {
  /** Every request since start or the last {@link HubEmulator.clearRequests}, oldest first. */
  readonly requests: RecordedRequest[] = [];
  readonly #store: RepoStore;
  readonly #faults = new FaultQueue();
  readonly #tokens: ReadonlySet<string>;
  readonly #pageSize: number;
  readonly #cdn: CdnOptions;
  readonly #labels: CdnLabels;
  readonly #quirks: HttpQuirks;
  readonly #gzipped = new WeakMap<Uint8Array, Uint8Array>();
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();
  // Every response waiting on a drain, a throttle pause or a stall listens to this signal: a
  // parallel client keeps more than Node's default 10 of them open at once.
  readonly #stop = (() => {
    const controller = new AbortController();
    setMaxListeners(0, controller.signal);
    return controller;
  })();
  #throttle: number | null = null;
  #endpoint = "";
  #cdnOrigin = "";
  #closed: Promise<void> | undefined;

  private constructor(options: HubEmulatorOptions) {
    const pageSize = options.pageSize ?? 1000;
    const lfsThreshold = options.lfsThreshold ?? 1024;
    if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a positive integer, got ${pageSize}`);
    if (!Number.isSafeInteger(lfsThreshold) || lfsThreshold < 0) throw new RangeError(`lfsThreshold must be a non-negative integer, got ${lfsThreshold}`);
    this.#pageSize = pageSize;
    this.#tokens = new Set(options.tokens ?? ["hf_test_token"]);
    this.#store = new RepoStore({ lfsThreshold, lfsObjects: new Map() });
    this.#cdn = options.cdn ?? {};
    if (this.#cdn.baseUrl !== undefined && !/^https?:\/\/[^/]+(\/.*)?$/.test(this.#cdn.baseUrl)) {
      throw new RangeError(`cdn.baseUrl must be an http(s) URL, got ${this.#cdn.baseUrl}`);
    }
    // Objects "written" an hour ago: Last-Modified is then a strong validator (RFC 9110 §8.8.2.2).
    this.#labels = new CdnLabels(this.#cdn.etag ?? "nginx", Math.floor(Date.now() / 1000) - 3600);
    this.#quirks = options.quirks ?? {};
  }

  /** Start both listeners on ephemeral ports. */
  static async start(options: HubEmulatorOptions = {}): Promise<HubEmulator> {
    const hub = new HubEmulator(options);
    try {
      const hubServer = hub.#newServer(false);
      hub.#servers.push(hubServer);
      hub.#endpoint = `http://127.0.0.1:${await listen(hubServer, 0, "127.0.0.1")}`;
      hub.#cdnOrigin = `http://localhost:${await hub.#listenCdn()}`;
    } catch (error) {
      await hub.close();
      throw error;
    }
    return hub;
  }

  /** The Hub's base URL, `http://127.0.0.1:<port>`; use it as `HF_ENDPOINT`. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /**
   * The emulator's own CDN listener, `http://localhost:<port>`: a different host than the endpoint.
   * LFS downloads are redirected here unless `cdn.baseUrl` names another server.
   */
  get cdnOrigin(): string {
    return this.#cdnOrigin;
  }

  /** Create a repo (with one empty commit on `main`). */
  createRepo(id: string, options: RepoOptions = {}): EmulatedRepo {
    return this.#store.create(id, options);
  }

  /** Look up a repo by its current id; throws if there is none. */
  repo(id: string, type: RepoType = "model"): EmulatedRepo {
    const found = this.#store.find(type, id);
    if (!found || found.renamed) throw new Error(`the emulator has no ${type} repo '${id}'`);
    return found.repo;
  }

  /**
   * Rename a repo. Requests for the old id answer `307` with a relative `Location` to the same URL
   * under the new id, as the Hub does.
   */
  renameRepo(from: string, to: string, type: RepoType = "model"): void {
    this.#store.rename(type, from, to);
  }

  /** Forget the recorded requests (the `requests` array is emptied in place). */
  clearRequests(): void {
    this.requests.length = 0;
  }

  /** Queue a fault for the next matching request(s). */
  injectFault(fault: Fault): void {
    this.#faults.add(fault);
  }

  /** Remove every queued fault. */
  clearFaults(): void {
    this.#faults.clear();
  }

  /** How many injected faults have not been used up yet. */
  get pendingFaults(): number {
    return this.#faults.size;
  }

  /**
   * Limit the body rate of every file download (resolve and CDN `GET`s), per connection;
   * `null` removes the limit. Takes effect on bodies already being sent.
   */
  throttle(bytesPerSecond: number | null): void {
    if (bytesPerSecond !== null && !(bytesPerSecond > 0)) throw new RangeError(`throttle needs a positive rate or null, got ${bytesPerSecond}`);
    this.#throttle = bytesPerSecond;
  }

  /** Stop both listeners and destroy every open connection, mid-body ones included. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#stop.abort();
      const closing = this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      for (const socket of this.#sockets) socket.destroy();
      for (const server of this.#servers) server.closeAllConnections?.();
      await Promise.all(closing);
    })();
    return this.#closed;
  }

  #newServer(cdn: boolean): Server {
    const server = createServer((req, res) => void this.#handle(req, res, cdn));
    server.on("connection", (socket: Socket) => {
      if (this.#stop.signal.aborted) return void socket.destroy();
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
    });
    return server;
  }

  /**
   * The CDN listens on 127.0.0.1 and, on the same port, ::1: clients disagree on which address
   * `localhost` means (Bun tries ::1 first even when /etc/hosts lists only 127.0.0.1).
   */
  async #listenCdn(): Promise<number> {
    for (let attempt = 0;; attempt++) {
      const v4 = this.#newServer(true);
      const port = await listen(v4, 0, "127.0.0.1");
      this.#servers.push(v4);
      const v6 = this.#newServer(true);
      try {
        await listen(v6, port, "::1");
        this.#servers.push(v6);
        return port;
      } catch (error) {
        if ((error as { code?: string }).code !== "EADDRINUSE" || attempt >= 8) return port; // no IPv6 loopback
        this.#servers.pop();
        await new Promise<void>((resolve) => v4.close(() => resolve()));
      }
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse, cdn: boolean): Promise<void> {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const rawPath = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? "" : url.slice(q + 1);
    const method = (req.method ?? "GET").toUpperCase();
    const record: Writable<RecordedRequest> = {
      method,
      url: (cdn ? this.#cdnOrigin : this.#endpoint) + url,
      host: req.headers.host ?? "",
      path: rawPath,
      cdn,
      authorization: req.headers.authorization !== undefined,
      status: 0,
      bytesSent: 0,
    };
    const range = req.headers.range;
    if (range !== undefined) record.range = range;
    const ifRange = header(req, "if-range");
    if (ifRange !== undefined) record.ifRange = ifRange;
    this.requests.push(record);
    const x: Exchange = {
      req,
      res,
      record,
      target: { method, cdn },
      method,
      rawPath,
      rawQuery,
      segments: rawPath.split("/").slice(1),
    };
    try {
      if (cdn || (this.#quirks.relativeLfsRedirect && x.segments[0] === "lfs")) await this.#serveCdn(x);
      else if (x.segments[0] === "api") await this.#serveApi(x);
      else await this.#serveResolve(x);
    } catch (error) {
      if (!res.headersSent && !res.destroyed) {
        this.#error(x, 500, undefined, `emulator failure: ${(error as Error).message}`);
      } else {
        res.destroy();
      }
    }
  }

  // ---- routes ---------------------------------------------------------------------------------

  /** `{HEAD,GET} /[datasets/|spaces/]{repo}/resolve/{revision}/{path}` */
  #serveResolve(x: Exchange): void {
    let type: RepoType = "model";
    let segs = x.segments;
    if (segs[0] === "datasets" || segs[0] === "spaces") {
      type = segs[0] === "datasets" ? "dataset" : "space";
      segs = segs.slice(1);
    }
    const at = segs[2] === "resolve" ? 2 : segs[1] === "resolve" ? 1 : -1;
    if (at < 0 || (x.method !== "GET" && x.method !== "HEAD")) return this.#notFound(x);
    const id = decodeSegments(segs.slice(0, at));
    const rev = splitRevision(segs.slice(at + 1));
    const filePath = rev && decodeSegments(rev.rest);
    if (id === undefined || !rev || filePath === undefined || filePath === "") return this.#notFound(x);
    this.#describe(x, id, filePath);

    if (this.#statusFault(x) || this.#redirectFault(x)) return;
    const repo = this.#openRepo(x, type, id, TYPE_PREFIX[type], segs.slice(at));
    if (!repo) return;
    const snap = this.#checkout(x, repo, rev.revision);
    if (!snap) return;
    const file = snap.file(filePath);
    if (!file) {
      return this.#error(x, 404, "EntryNotFound", `${filePath} does not exist on "${rev.revision}"`, { "X-Repo-Commit": snap.sha });
    }
    if (!file.lfs) {
      // The Hub's own ETag for a regular file is its git blob id; it honours Range always.
      return this.#serveBytes(x, file.content, { etag: `"${file.gitSha1}"` }, true, { "X-Repo-Commit": snap.sha });
    }
    const query = new URLSearchParams({
      repo: repo.id,
      type: repo.type,
      path: filePath,
      expires: String(Math.floor(Date.now() / 1000) + 3600),
      signature: randomBytes(12).toString("hex"),
    });
    const cdnBase = this.#quirks.relativeLfsRedirect ? "" : (this.#cdn.baseUrl ?? this.#cdnOrigin);
    const location = `${cdnBase}/lfs/${file.sha256}?${query}`;
    const body = encoder.encode(`Found. Redirecting to ${location}`);
    this.#head(x, 302, {
      Location: location,
      // The 302's own ETag is the git id of the LFS pointer, not the content's hash: a client
      // that stores blobs under it fails integrity checks, as it would against the real Hub.
      ETag: `"${file.gitSha1}"`,
      "X-Linked-Etag": `"${file.sha256}"`,
      ...(this.#quirks.noLinkedSize ? {} : { "X-Linked-Size": String(file.content.length) }),
      "X-Repo-Commit": snap.sha,
      ...(file.xetHash ? { "X-Xet-Hash": file.xetHash } : {}),
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": String(body.length),
    });
    this.#end(x, body);
  }

  /** `/api/{models,datasets,spaces}/{repo}[/revision/{rev} | /tree/{rev}[/{path}] | /paths-info/{rev}]` */
  async #serveApi(x: Exchange): Promise<void> {
    const type = API_TYPES[x.segments[1] ?? ""];
    const segs = x.segments.slice(2);
    if (!type) return this.#notFound(x);
    const at = API_OPS.includes(segs[2]) ? 2 : API_OPS.includes(segs[1]) ? 1 : -1;
    const op = at < 0 ? "info" : segs[at];
    const idSegs = at < 0 ? segs : segs.slice(0, at);
    const id = decodeSegments(idSegs);
    const rev = at < 0 ? { revision: "main", rest: [] } : splitRevision(segs.slice(at + 1));
    const subPath = rev && decodeSegments(rev.rest);
    const expected = op === "paths-info" ? "POST" : "GET";
    const shapeOk = op === "tree" || subPath === "";
    if (id === undefined || idSegs.length < 1 || idSegs.length > 2 || !rev || subPath === undefined || !shapeOk) {
      return this.#notFound(x);
    }
    if (x.method !== expected && !(expected === "GET" && x.method === "HEAD")) return this.#notFound(x);
    this.#describe(x, id, undefined);

    if (this.#statusFault(x) || this.#redirectFault(x)) return;
    const repo = this.#openRepo(x, type, id, `/api/${x.segments[1]}`, segs.slice(idSegs.length));
    if (!repo) return;
    const snap = this.#checkout(x, repo, rev.revision);
    if (!snap) return;
    if (op === "info" || op === "revision") return this.#json(x, 200, repoInfo(repo, snap));
    if (op === "tree") return this.#serveTree(x, snap, subPath, rev.revision);
    await this.#servePathsInfo(x, snap);
  }

  #serveTree(x: Exchange, snap: Snapshot, dir: string, revision: string): void {
    const params = new URLSearchParams(x.rawQuery);
    const recursive = ["true", "1", "True"].includes(params.get("recursive") ?? "");
    const entries = snap.list(dir, recursive);
    if (!entries) {
      return this.#error(x, 404, "EntryNotFound", `${dir} does not exist on "${revision}"`, { "X-Repo-Commit": snap.sha });
    }
    let from = 0;
    const cursor = params.get("cursor");
    if (cursor !== null) {
      const after = decodeCursor(cursor);
      if (after === undefined) return this.#error(x, 400, undefined, "invalid cursor");
      from = entries.findIndex((e) => e.path > after);
      if (from < 0) from = entries.length;
    }
    const page = entries.slice(from, from + this.#pageSize);
    const headers: Record<string, string> = {};
    if (from + page.length < entries.length) {
      params.set("cursor", encodeCursor(page[page.length - 1].path));
      headers.Link = this.#quirks.relativeLinks ? `<?${params}>; rel="next"` : `<${this.#endpoint}${x.rawPath}?${params}>; rel="next"`;
    }
    this.#json(x, 200, page, headers);
  }

  async #servePathsInfo(x: Exchange, snap: Snapshot): Promise<void> {
    const body = await readBody(x.req);
    if (body === undefined) return this.#error(x, 413, undefined, "request body too large");
    let paths: unknown;
    if ((x.req.headers["content-type"] ?? "").includes("application/json")) {
      try {
        paths = (JSON.parse(body) as { paths?: unknown }).paths;
      } catch {
        return this.#error(x, 400, undefined, "invalid JSON body");
      }
    } else {
      paths = new URLSearchParams(body).getAll("paths");
    }
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === "string")) {
      return this.#error(x, 400, undefined, "'paths' must be a list of strings");
    }
    const seen = new Set<string>();
    const entries: TreeEntry[] = [];
    for (const path of paths as string[]) {
      const entry = seen.has(path) ? undefined : snap.entry(path);
      seen.add(path);
      if (entry) entries.push(entry);
    }
    this.#json(x, 200, entries);
  }

  /** `{HEAD,GET} {cdnOrigin}/lfs/{sha256}?repo&type&path&…` */
  #serveCdn(x: Exchange): void {
    const sha256 = x.segments[1] ?? "";
    const content = this.#store.context.lfsObjects.get(sha256);
    if (x.segments.length !== 2 || x.segments[0] !== "lfs" || (x.method !== "GET" && x.method !== "HEAD")) {
      return this.#notFound(x);
    }
    const query = new URLSearchParams(x.rawQuery);
    const id = query.get("repo") ?? undefined;
    this.#describe(x, id, query.get("path") ?? undefined);
    if (this.#statusFault(x) || this.#redirectFault(x)) return;
    if (!content) return this.#notFound(x);
    const type = query.get("type") ?? "model";
    const found = id !== undefined && type in TYPE_PREFIX ? this.#store.find(type as RepoType, id) : undefined;
    if (found) this.#moveBranchFault(x, found.repo);
    this.#serveBytes(x, content, this.#labels.of(sha256, content.length), this.#cdn.ranges ?? true, {});
  }

  // ---- shared steps ---------------------------------------------------------------------------

  #describe(x: Exchange, repo: string | undefined, filePath: string | undefined): void {
    if (repo !== undefined) x.record.repo = x.target.repo = repo;
    if (filePath !== undefined) x.record.filePath = x.target.path = filePath;
  }

  #statusFault(x: Exchange): boolean {
    const fault = this.#faults.take("status", x.target);
    if (!fault) return false;
    const headers: Record<string, string> = {};
    if (fault.retryAfter !== undefined) headers["Retry-After"] = String(fault.retryAfter);
    this.#error(x, fault.status, undefined, `injected ${fault.status}`, headers);
    return true;
  }

  /** A relative redirect to the same resource (one more `hop` in the query, so it is a new URL). */
  #redirectFault(x: Exchange): boolean {
    const fault = this.#faults.take("redirect", x.target);
    if (!fault) return false;
    const params = new URLSearchParams(x.rawQuery);
    params.set("hop", String(Number(params.get("hop") ?? "0") + 1));
    const location = `${x.rawPath}?${params}`;
    const body = encoder.encode(`Redirecting to ${location}`);
    this.#head(x, fault.status ?? 302, { Location: location, "Content-Type": "text/plain; charset=utf-8", "Content-Length": String(body.length) });
    this.#end(x, body);
    return true;
  }

  #moveBranchFault(x: Exchange, repo: EmulatedRepo): void {
    const fault = this.#faults.take("moveBranch", x.target);
    if (fault) repo.setBranch(fault.branch, fault.to);
  }

  /**
   * Access rules of the Hub: a missing or private repo is `RepoNotFound` (401 without a valid
   * token, so existence does not leak; 404 with one); a gated repo is `GatedRepo` (401 without a
   * valid token, 403 for a valid token that was not granted access). A token the Hub does not
   * know is refused outright, public repos included (401, no `X-Error-Code`, the message the
   * Python client's `hf_raise_for_status` recognises): a stale `HF_TOKEN` breaks every download.
   */
  #openRepo(x: Exchange, type: RepoType, id: string, prefix: string, rawTail: readonly string[]): EmulatedRepo | undefined {
    const token = this.#validToken(x.req);
    if (!token && /^Bearer\s/i.test(x.req.headers.authorization ?? "")) {
      this.#error(x, 401, undefined, "Invalid credentials in Authorization header");
      return undefined;
    }
    const found = this.#store.find(type, id);
    if (!found || (found.repo.private && !token)) {
      this.#error(x, token ? 404 : 401, "RepoNotFound", `Repository Not Found for url: ${x.record.url}. Please make sure you specified the correct repo id and type. If you are trying to access a private or gated repo, make sure you are authenticated.`);
      return undefined;
    }
    const repo = found.repo;
    if (found.renamed) {
      const tail = rawTail.length ? "/" + rawTail.join("/") : "";
      const location = `${prefix}/${repo.id}${tail}${x.rawQuery ? "?" + x.rawQuery : ""}`;
      this.#head(x, 307, { Location: location, "Content-Type": "text/plain; charset=utf-8" });
      this.#end(x, encoder.encode(`Temporary Redirect. Redirecting to ${location}`));
      return undefined;
    }
    if (repo.gated && (!token || (repo.grantedTokens && !repo.grantedTokens.includes(token)))) {
      this.#error(x, token ? 403 : 401, "GatedRepo", `Access to ${type} ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
      return undefined;
    }
    this.#moveBranchFault(x, repo);
    return repo;
  }

  #checkout(x: Exchange, repo: EmulatedRepo, revision: string): Snapshot | undefined {
    const snap = repo.snapshot(revision);
    if (!snap) this.#error(x, 404, "RevisionNotFound", `Invalid rev id: ${revision}`);
    return snap;
  }

  #validToken(req: IncomingMessage): string | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    return match && this.#tokens.has(match[1]) ? match[1] : undefined;
  }

  /**
   * Answer with file bytes: Range, strict If-Range (RFC 9110 §13.1.5) and 416 as a real server
   * does, the quirks, then the body faults. `validators` are what this server calls the bytes;
   * `rangesHonoured: false` is a server that ignores `Range`.
   */
  #serveBytes(x: Exchange, content: Uint8Array, validators: Validators, rangesHonoured: boolean, extra: Record<string, string>): void {
    // A server that compresses regardless of Accept-Encoding serves (and ranges over) the gzip stream.
    const served = this.#quirks.forceGzip ? this.#gzip(content) : content;
    const size = served.length;
    const get = x.method === "GET";
    let range = get && rangesHonoured ? parseRange(x.req.headers.range, size) : { kind: "none" } as RangeRequest;
    const ifRange = header(x.req, "if-range");
    if (range.kind !== "none" && ifRange !== undefined && !ifRangeHolds(ifRange, validators, Date.now())) range = { kind: "none" };
    if (range.kind !== "none" && this.#faults.take("ignoreRange", x.target)) range = { kind: "none" };
    const common: Record<string, string> = { ...extra };
    if (validators.etag !== undefined) common.ETag = validators.etag;
    if (validators.lastModified !== undefined) common["Last-Modified"] = validators.lastModified;
    if (rangesHonoured) common["Accept-Ranges"] = "bytes";
    if (this.#quirks.forceGzip) common["Content-Encoding"] = "gzip";
    if (range.kind === "unsatisfiable") {
      this.#head(x, 416, { ...common, "Content-Range": `bytes */${size}`, "Content-Length": "0" });
      return this.#end(x);
    }
    let start = 0;
    let end = size - 1;
    let status = 200;
    let contentRange: string | undefined;
    if (range.kind === "range") {
      ({ start, end } = range);
      status = 206;
      const wrong = this.#faults.take("wrongContentRange", x.target);
      // "shifted" sends the bytes its header names, just not the ones asked for.
      if (wrong && (wrong.form ?? "shifted") === "shifted") start = start > 0 ? start - 1 : start + 1;
      contentRange = `bytes ${start}-${end}/${size}`;
      if (wrong?.form === "unsatisfied") contentRange = `bytes */${size}`;
      else if (wrong?.form === "unknownTotal") contentRange = `bytes ${start}-${end}/*`;
    }
    const length = Math.max(0, end - start + 1);
    this.#head(x, status, {
      ...common,
      "Content-Type": "application/octet-stream",
      ...(this.#quirks.noContentLength ? {} : { "Content-Length": String(length) }),
      ...(contentRange !== undefined ? { "Content-Range": contentRange } : {}),
    });
    if (!get) return this.#end(x);

    const plan: BodyPlan = {};
    const drop = this.#faults.take("drop", x.target, (f) => f.afterBytes < length);
    const short = this.#faults.take("shortBody", x.target, (f) => f.bytes < length);
    if (drop || short) plan.cutAt = Math.min(drop?.afterBytes ?? length, short?.bytes ?? length);
    const stall = this.#faults.take("stall", x.target, (f) => f.afterBytes < length);
    if (stall) [plan.stallAt, plan.stallMs] = [stall.afterBytes, stall.ms];
    const corrupt = this.#faults.take("corrupt", x.target, (f) => f.offset >= start && f.offset < start + length);
    if (corrupt) plan.corruptAt = corrupt.offset - start;
    void this.#streamBody(x, served, start, length, plan).catch(() => x.res.destroy());
  }

  #gzip(content: Uint8Array): Uint8Array {
    let z = this.#gzipped.get(content);
    if (!z) this.#gzipped.set(content, z = new Uint8Array(gzipSync(content)));
    return z;
  }

  /**
   * Write `content[start, start+length)` in views (a 64 MiB file is never copied per request),
   * with backpressure, the throttle, and the planned stall / cut / corrupted byte.
   */
  async #streamBody(x: Exchange, content: Uint8Array, start: number, length: number, plan: BodyPlan): Promise<void> {
    const { res } = x;
    let pos = 0;
    let stalled = false;
    let flushed: Promise<void> = Promise.resolve();
    let pace = null as { rate: number; since: number; bytes: number } | null;
    if (plan.cutAt === 0 || plan.stallAt === 0) res.flushHeaders();
    while (!this.#gone(x)) {
      if (plan.stallAt === pos && !stalled) {
        stalled = true;
        await flushed;
        await this.#pause(x, plan.stallMs!);
        pace = null; // a stall is not made up for with a burst
        continue;
      }
      if (plan.cutAt === pos) {
        await flushed;
        await this.#pause(x, LINGER_MS);
        (res.socket ?? res).destroy();
        return;
      }
      if (pos >= length) break;
      const rate = this.#throttle;
      let next = Math.min(length, pos + (rate === null ? CHUNK : Math.max(1, Math.min(CHUNK, Math.floor(rate / 20)))));
      for (const event of [stalled ? undefined : plan.stallAt, plan.cutAt]) {
        if (event !== undefined && event > pos && event < next) next = event;
      }
      let chunk = content.subarray(start + pos, start + next);
      const corruptAt = plan.corruptAt;
      if (corruptAt !== undefined && corruptAt >= pos && corruptAt < next) {
        chunk = chunk.slice();
        chunk[corruptAt - pos] ^= 0xff;
      }
      const isEventEdge = next === plan.cutAt || (!stalled && next === plan.stallAt);
      let ok: boolean;
      if (isEventEdge) {
        let done!: () => void;
        flushed = new Promise<void>((resolve) => (done = resolve));
        ok = res.write(chunk, () => done());
        res.once("close", () => done());
      } else {
        ok = res.write(chunk);
      }
      x.record.bytesSent += chunk.length;
      pos = next;
      if (!ok) await this.#drain(x);
      if (rate === null) {
        pace = null;
      } else {
        // Paced against a deadline, not a fixed pause per chunk: the time spent writing and
        // draining counts towards the interval, so a connection gets the rate it was given
        // (a benchmark compares clients against N × this rate).
        if (pace?.rate !== rate) pace = { rate, since: Date.now(), bytes: 0 };
        pace.bytes += chunk.length;
        const due = pace.since + (pace.bytes / rate) * 1000 - Date.now();
        if (due > 0) await this.#pause(x, due);
      }
    }
    if (!this.#gone(x)) res.end();
  }

  #gone(x: Exchange): boolean {
    return this.#stop.signal.aborted || x.res.destroyed || (x.res.socket?.destroyed ?? false);
  }

  /** Wait `ms`, but no longer than the response or the emulator lives. */
  #pause(x: Exchange, ms: number): Promise<void> {
    return this.#until(x, (wake) => {
      const timer = setTimeout(wake, ms);
      return () => clearTimeout(timer);
    });
  }

  #drain(x: Exchange): Promise<void> {
    return this.#until(x, (wake) => {
      x.res.once("drain", wake);
      return () => x.res.off("drain", wake);
    });
  }

  #until(x: Exchange, arm: (wake: () => void) => () => void): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#gone(x)) return resolve();
      const signal = this.#stop.signal;
      const wake = (): void => {
        disarm();
        x.res.off("close", wake);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      const disarm = arm(wake);
      x.res.once("close", wake);
      signal.addEventListener("abort", wake);
    });
  }

  // ---- responses --------------------------------------------------------------------------------

  #head(x: Exchange, status: number, headers: Record<string, string>): void {
    x.record.status = status;
    const names = this.#quirks.headerCase;
    if (names === undefined) return void x.res.writeHead(status, headers);
    const cased: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) cased[names === "lower" ? name.toLowerCase() : name.toUpperCase()] = value;
    x.res.writeHead(status, cased);
  }

  #end(x: Exchange, body?: Uint8Array): void {
    if (body && x.method !== "HEAD") {
      x.record.bytesSent += body.length;
      x.res.end(body);
    } else {
      x.res.end();
    }
  }

  #json(x: Exchange, status: number, value: unknown, headers: Record<string, string> = {}): void {
    const body = encoder.encode(JSON.stringify(value));
    this.#head(x, status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(body.length), ...headers });
    this.#end(x, body);
  }

  #error(x: Exchange, status: number, code: string | undefined, message: string, headers: Record<string, string> = {}): void {
    const flat = message.replace(/[^\x20-\x7e]/g, "?");
    this.#json(x, status, { error: message }, {
      ...(code ? { "X-Error-Code": code } : {}),
      "X-Error-Message": flat,
      ...headers,
    });
  }

  #notFound(x: Exchange): void {
    const body = encoder.encode("Not Found");
    this.#head(x, 404, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": String(body.length) });
    this.#end(x, body);
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off("listening", onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function decodeSegments(segments: readonly string[]): string | undefined {
  try {
    return segments.map((s) => decodeURIComponent(s)).join("/");
  } catch {
    return undefined;
  }
}

/**
 * The revision is one URL-encoded segment (`refs%2Fpr%2F1`); `refs/pr/N` sent raw is accepted
 * too, as the Hub does. Other revisions with a slash must be encoded.
 */
function splitRevision(segments: readonly string[]): { revision: string; rest: readonly string[] } | undefined {
  if (segments.length === 0 || segments[0] === "") return undefined;
  if (segments[0] === "refs" && segments[1] === "pr" && /^[1-9][0-9]*$/.test(segments[2] ?? "")) {
    return { revision: `refs/pr/${segments[2]}`, rest: segments.slice(3) };
  }
  const revision = decodeSegments(segments.slice(0, 1));
  return revision === undefined ? undefined : { revision, rest: segments.slice(1) };
}

/** `bytes=N-`, `bytes=N-M`, `bytes=-S`; anything else (several ranges, junk) is ignored, as RFC 9110 allows. */
function parseRange(header: string | undefined, size: number): RangeRequest {
  const m = /^bytes=(\d*)-(\d*)$/.exec((header ?? "").trim());
  if (!m || (m[1] === "" && m[2] === "")) return { kind: "none" };
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "range", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== "" && Number(m[2]) < start) return { kind: "none" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "range", start, end: m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1) };
}

function repoInfo(repo: EmulatedRepo, snap: Snapshot): Record<string, unknown> {
  return {
    id: repo.id,
    ...(repo.type === "model" ? { modelId: repo.id } : {}),
    private: repo.private,
    gated: repo.gated ? "auto" : false,
    disabled: false,
    sha: snap.sha,
    lastModified: snap.date.toISOString(),
    siblings: snap.paths.map((rfilename) => ({ rfilename })),
  };
}

function encodeCursor(path: string): string {
  return Buffer.from(path, "utf8").toString("base64url");
}

function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(cursor)) return undefined;
  return Buffer.from(cursor, "base64url").toString("utf8");
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    req.on("data", (chunk: Uint8Array) => {
      size += chunk.length;
      if (size <= MAX_REQUEST_BODY) chunks.push(chunk);
    });
    req.on("end", () => resolve(size > MAX_REQUEST_BODY ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
