/**
 * Ports on 127.0.0.1 for the real servers tests start (nginx, tinyproxy).
 *
 * @module
 */

import { connect, createServer } from "node:net";

/** A port that was free on 127.0.0.1 a moment ago (a server may still take it first: retry). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Wait until something accepts connections on 127.0.0.1:`port`; false if `gone()` or after 10 s. */
export async function listening(port: number, gone: () => boolean): Promise<boolean> {
  const started = Date.now();
  while (!gone() && Date.now() - started < 10_000) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port }, () => (socket.destroy(), resolve(true)));
      socket.on("error", () => resolve(false));
    });
    if (ok) {
      // Something else may hold the port while the server fails to bind it: give it time to say so.
      await new Promise((r) => setTimeout(r, 50));
      return !gone();
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
