/**
 * Ports on 127.0.0.1 for the real servers tests start (nginx, tinyproxy).
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
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

/** A server process started by {@link startOnFreePort}, listening on `port`. */
export interface StartedServer {
  readonly child: ChildProcess;
  readonly port: number;
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
}

/**
 * Start a server on a free port of 127.0.0.1: `prepare(port)` writes its configuration and
 * returns the command line; another process may take the port between our probe and the bind,
 * so a start whose output (stderr plus `logFile`) matches `portTaken` is tried on a new port.
 * Throws with the server's own words when it does not start.
 */
export async function startOnFreePort(
  name: string,
  prepare: (port: number) => Promise<{ command: string; args: string[] }>,
  logFile: string,
  portTaken: RegExp,
): Promise<StartedServer> {
  let lastError = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const { command, args } = await prepare(port);
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    let gone = false;
    const exited = new Promise<void>((resolve) => child.on("close", () => ((gone = true), resolve())));
    child.on("error", (e) => (stderr += String(e)));
    if (await listening(port, () => gone)) return { child, port, exited };
    if (!gone) child.kill("SIGKILL");
    await exited;
    lastError = stderr + (await readFile(logFile, "utf8").catch(() => ""));
    if (!portTaken.test(lastError)) break;
  }
  throw new Error(`${name} did not start: ${lastError.trim()}`);
}

/** Stop a server {@link startOnFreePort} started: SIGTERM, SIGKILL after 5 s, wait for its exit. */
export async function stopServer(server: { readonly child: ChildProcess; readonly exited: Promise<void> }): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill("SIGTERM");
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 5_000);
  await server.exited;
  clearTimeout(timer);
}
