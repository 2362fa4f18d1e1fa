/**
 * A private nginx on 127.0.0.1 playing the CDN, so resume is proven against a web server we
 * did not write: its own `ETag`, RFC 9110 `If-Range` and `Range` rules, gzip, redirects. Each
 * instance has its own prefix, config, temp and log folders under a fresh temp dir and a free
 * port, runs in the foreground (`daemon off`, `master_process off`: one process, the test's
 * child) and is stopped by its pid. The access log records every request with the bytes nginx
 * sent, which is how the tests count what a download cost.
 *
 * Needs Debian's `nginx-light` (`/usr/sbin/nginx`); `.ci/run` installs it. Without it the tests
 * fail and say how to install it: they never skip.
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { dirname, join } from "node:path";
import { startOnFreePort, stopServer } from "./ports.ts";
import { makeTempDir, removeTempDir } from "./tmp.ts";

/** Where Debian's nginx-light puts the binary. */
export const NGINX_BINARY = "/usr/sbin/nginx";

/** One line of the access log. */
export interface AccessLogEntry {
  readonly method: string;
  /** The path, without the query. */
  readonly uri: string;
  /** The request's `Range`, `""` when absent. */
  readonly range: string;
  /** The request's `If-Range`, `""` when absent. */
  readonly ifRange: string;
  /** The request's `Accept-Encoding`, `""` when absent. */
  readonly acceptEncoding: string;
  readonly status: number;
  /** Bytes nginx sent, headers included (`$bytes_sent`). */
  readonly bytesSent: number;
  /** Body bytes nginx sent (`$body_bytes_sent`). */
  readonly bodyBytesSent: number;
  /** The response's `Content-Encoding`, `""` when none. */
  readonly contentEncoding: string;
  /** The response's `ETag`, `""` when none. */
  readonly etag: string;
}

/** How the instance serves. */
export interface NginxOptions {
  /** nginx `limit_rate` for `/lfs/` (per connection), e.g. `"24m"`; default unlimited. */
  readonly limitRate?: string;
}

/**
 * A running nginx. Files under {@link Nginx.root} are served as they are; `/moved/<path>`
 * answers `302` with the relative `Location: /<path>` (nginx's own `rewrite … redirect` with
 * `absolute_redirect off`); `gzip on` with `gzip_types *` applies to every response whose
 * client accepts gzip.
 *
 * @example
 * ```ts
 * const nginx = await Nginx.start({ limitRate: "24m" });
 * await nginx.publish(`lfs/${sha256}`, content);
 * // … a download through `${nginx.origin}/lfs/${sha256}` …
 * const sent = (await nginx.accessLog()).reduce((n, e) => n + e.bytesSent, 0);
 * await nginx.close();
 * ```
 */
export class Nginx {
  readonly #child: ChildProcess;
  readonly #prefix: string;
  readonly #port: number;
  #exited: Promise<void>;

  private constructor(child: ChildProcess, prefix: string, port: number, exited: Promise<void>) {
    this.#child = child;
    this.#prefix = prefix;
    this.#port = port;
    this.#exited = exited;
  }

  /**
   * Start an instance on a free port. Throws (with the way to install it) when nginx is missing.
   *
   * @example
   * ```ts
   * const nginx = await Nginx.start();
   * ```
   */
  static async start(options: NginxOptions = {}): Promise<Nginx> {
    if (!existsSync(NGINX_BINARY)) {
      throw new Error(
        `nginx is not installed (no ${NGINX_BINARY}): these tests need a real web server and do not skip. ` +
          "Install it with `apt-get install nginx-light` (.ci/run does so when run as root)",
      );
    }
    const prefix = await makeTempDir("hubcache-nginx-");
    for (const dir of ["www", "temp", "logs"]) await fsp.mkdir(join(prefix, dir));
    try {
      const started = await startOnFreePort("nginx", async (port) => {
        await fsp.writeFile(join(prefix, "nginx.conf"), config(prefix, port, options));
        return { command: NGINX_BINARY, args: ["-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "logs", "error.log")] };
      }, join(prefix, "logs", "error.log"), /Address already in use/);
      return new Nginx(started.child, prefix, started.port, started.exited);
    } catch (err) {
      await removeTempDir(prefix);
      throw err;
    }
  }

  /**
   * `http://127.0.0.1:<port>`.
   *
   * @example
   * ```ts
   * const hub = await HubEmulator.start({ cdn: { baseUrl: nginx.origin } });
   * ```
   */
  get origin(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /**
   * The folder served at `/`.
   *
   * @example
   * ```ts
   * await fsp.writeFile(join(nginx.root, "x.bin"), bytes);
   * ```
   */
  get root(): string {
    return join(this.#prefix, "www");
  }

  /**
   * Serve `content` at `/<path>`.
   *
   * @example
   * ```ts
   * await nginx.publish(`lfs/${sha256}`, content);
   * ```
   */
  async publish(path: string, content: Uint8Array): Promise<void> {
    const target = join(this.root, path);
    await fsp.mkdir(dirname(target), { recursive: true });
    await fsp.writeFile(target, content);
  }

  /**
   * Every request logged so far, oldest first. nginx logs a request when it ends, also when
   * the client went away mid-body (with the bytes sent until then).
   *
   * @example
   * ```ts
   * const gets = (await nginx.accessLog()).filter((e) => e.uri === `/lfs/${sha256}`);
   * ```
   */
  async accessLog(): Promise<AccessLogEntry[]> {
    const text = await fsp.readFile(join(this.#prefix, "logs", "access.log"), "utf8").catch(() => "");
    return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as AccessLogEntry);
  }

  /**
   * Wait until the access log has at least `n` entries matching `match` (requests cut short
   * are logged once nginx notices the client is gone).
   *
   * @example
   * ```ts
   * const log = await nginx.waitForLog(3, (e) => e.uri.startsWith("/lfs/"));
   * ```
   */
  async waitForLog(n: number, match: (e: AccessLogEntry) => boolean, timeoutMs = 10_000): Promise<AccessLogEntry[]> {
    const started = Date.now();
    for (;;) {
      const entries = (await this.accessLog()).filter(match);
      if (entries.length >= n) return entries;
      if (Date.now() - started > timeoutMs) throw new Error(`nginx logged ${entries.length} of ${n} expected requests`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * Stop nginx (by its pid) and remove its folders.
   *
   * @example
   * ```ts
   * after(() => nginx.close());
   * ```
   */
  async close(): Promise<void> {
    await stopServer({ child: this.#child, exited: this.#exited });
    await removeTempDir(this.#prefix);
  }
}

function config(prefix: string, port: number, options: NginxOptions): string {
  const p = (...parts: string[]): string => join(prefix, ...parts);
  return `
daemon off;
master_process off;
worker_processes 1;
pid ${p("nginx.pid")};
error_log ${p("logs", "error.log")} warn;
events { worker_connections 256; }
http {
  default_type application/octet-stream;
  log_format hubcache escape=json '{"method":"$request_method","uri":"$uri","range":"$http_range",'
    '"ifRange":"$http_if_range","acceptEncoding":"$http_accept_encoding","status":$status,'
    '"bytesSent":$bytes_sent,"bodyBytesSent":$body_bytes_sent,'
    '"contentEncoding":"$sent_http_content_encoding","etag":"$sent_http_etag"}';
  access_log ${p("logs", "access.log")} hubcache;
  client_body_temp_path ${p("temp", "body")};
  proxy_temp_path ${p("temp", "proxy")};
  fastcgi_temp_path ${p("temp", "fastcgi")};
  uwsgi_temp_path ${p("temp", "uwsgi")};
  scgi_temp_path ${p("temp", "scgi")};
  gzip on;
  gzip_types *;
  gzip_min_length 1;
  absolute_redirect off;
  server {
    listen 127.0.0.1:${port};
    root ${p("www")};
    location /lfs/ {
      ${options.limitRate ? `limit_rate ${options.limitRate};` : ""}
    }
    location /moved/ {
      rewrite ^/moved/(.*)$ /$1 redirect;
    }
  }
}
`;
}
