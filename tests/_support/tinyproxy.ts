/**
 * A private tinyproxy (Debian's `tinyproxy`) on 127.0.0.1: its own config, port, log and pid
 * file in a temp dir, in the foreground as the test's child. Its log says which URLs it was
 * asked for, so a test can count what went through the proxy.
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { startOnFreePort, stopServer } from "./ports.ts";
import { makeTempDir, removeTempDir } from "./tmp.ts";

/** Where Debian installs it. */
export const TINYPROXY_BINARY = "/usr/bin/tinyproxy";

/**
 * A running tinyproxy.
 *
 * @example
 * ```ts
 * const proxy = await Tinyproxy.start();
 * // … requests with HTTP_PROXY=proxy.url …
 * console.log(await proxy.requestedHosts());
 * await proxy.close();
 * ```
 */
export class Tinyproxy {
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly #exited: Promise<void>;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;

  private constructor(child: ChildProcess, dir: string, port: number, exited: Promise<void>) {
    this.#child = child;
    this.#dir = dir;
    this.#exited = exited;
    this.url = `http://127.0.0.1:${port}`;
  }

  /**
   * Start one on a free port; throws, saying how to install it, when tinyproxy is missing.
   *
   * @example
   * ```ts
   * const proxy = await Tinyproxy.start();
   * ```
   */
  static async start(): Promise<Tinyproxy> {
    if (!existsSync(TINYPROXY_BINARY)) {
      throw new Error(
        `tinyproxy is not installed (no ${TINYPROXY_BINARY}): the proxy tests need a real proxy and do not skip. ` +
          "Install it with `apt-get install tinyproxy` (.ci/run does so when run as root)",
      );
    }
    const dir = await makeTempDir("hubcache-tinyproxy-");
    try {
      const started = await startOnFreePort("tinyproxy", async (port) => {
        await fsp.writeFile(join(dir, "tinyproxy.conf"), [
          `Port ${port}`,
          "Listen 127.0.0.1",
          "Timeout 60",
          `LogFile "${join(dir, "tinyproxy.log")}"`,
          "LogLevel Info",
          `PidFile "${join(dir, "tinyproxy.pid")}"`,
          "MaxClients 64",
          "Allow 127.0.0.1",
          "",
        ].join("\n"));
        return { command: TINYPROXY_BINARY, args: ["-d", "-c", join(dir, "tinyproxy.conf")] };
      }, join(dir, "tinyproxy.log"), /in use|Could not create listening/i);
      return new Tinyproxy(started.child, dir, started.port, started.exited);
    } catch (err) {
      await removeTempDir(dir);
      throw err;
    }
  }

  /**
   * The `host:port` of every request the proxy was asked to forward, oldest first, from its
   * log's `Request (file descriptor N): GET http://host:port/… HTTP/1.1` lines (a plain proxied
   * request) and `CONNECT host:port HTTP/1.1` (a tunnel, which may carry several requests).
   *
   * @example
   * ```ts
   * const viaProxy = (await proxy.requestedHosts()).filter((h) => h === new URL(hub.endpoint).host);
   * ```
   */
  async requestedHosts(): Promise<string[]> {
    const log = await fsp.readFile(join(this.#dir, "tinyproxy.log"), "utf8").catch(() => "");
    return [...log.matchAll(/Request \(file descriptor \d+\): ([A-Z]+) (\S+) HTTP\//g)].map((m) =>
      m[1] === "CONNECT" ? m[2] : new URL(m[2]).host
    );
  }

  /**
   * Stop it (its own child, by pid) and remove its folder.
   *
   * @example
   * ```ts
   * after(() => proxy.close());
   * ```
   */
  async close(): Promise<void> {
    await stopServer({ child: this.#child, exited: this.#exited });
    await removeTempDir(this.#dir);
  }
}
