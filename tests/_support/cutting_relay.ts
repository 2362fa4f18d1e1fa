/**
 * A TCP relay on 127.0.0.1 in front of a server that cuts one connection after a given number
 * of response bytes: a dropped connection as a flaky network or middlebox makes one, while the
 * server behind it (nginx) sees a client that went away and logs what it sent.
 *
 * @module
 */

import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A relay to `target` (`http://127.0.0.1:<port>`).
 *
 * @example
 * ```ts
 * const relay = await CuttingRelay.start(nginx.origin);
 * relay.cutNextAfter(10_000_000); // the next connection dies after 10 MB of response
 * // … point the client at relay.origin …
 * await relay.close();
 * ```
 */
export class CuttingRelay {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #cutAfter: number | undefined;
  /** How many connections were cut. */
  cuts = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  /**
   * Listen on a free port and relay every connection to `target`.
   *
   * @example
   * ```ts
   * const relay = await CuttingRelay.start("http://127.0.0.1:8080");
   * ```
   */
  static start(target: string): Promise<CuttingRelay> {
    const { hostname, port } = new URL(target);
    return new Promise((resolve, reject) => {
      const server = createServer();
      const relay = new CuttingRelay(server);
      server.on("connection", (client: Socket) => relay.#relay(client, hostname, Number(port)));
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(relay));
    });
  }

  /**
   * `http://127.0.0.1:<port>` of the relay.
   *
   * @example
   * ```ts
   * const hub = await HubEmulator.start({ cdn: { baseUrl: relay.origin } });
   * ```
   */
  get origin(): string {
    return `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /**
   * Cut the next connection that opens once it has carried `bytes` bytes of response (headers
   * included); later connections pass untouched.
   *
   * @example
   * ```ts
   * relay.cutNextAfter(1 << 20);
   * ```
   */
  cutNextAfter(bytes: number): void {
    this.#cutAfter = bytes;
  }

  /**
   * Stop listening and destroy every relayed connection.
   *
   * @example
   * ```ts
   * after(() => relay.close());
   * ```
   */
  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #relay(client: Socket, host: string, port: number): void {
    const cutAfter = this.#cutAfter;
    this.#cutAfter = undefined;
    const upstream = connect({ host, port });
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on("close", () => this.#sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    let forwarded = 0;
    upstream.on("data", (chunk: Uint8Array) => {
      if (cutAfter !== undefined && forwarded + chunk.length >= cutAfter) {
        client.write(chunk.subarray(0, cutAfter - forwarded), () => {
          this.cuts++;
          client.destroy();
          upstream.destroy();
        });
        upstream.pause();
        return;
      }
      forwarded += chunk.length;
      if (!client.write(chunk)) upstream.pause();
    });
    client.on("drain", () => upstream.resume());
    upstream.on("end", () => client.end());
  }
}
