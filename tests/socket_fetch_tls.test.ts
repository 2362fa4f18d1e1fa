/**
 * The socket transport over TLS trusts what the runtime's own `fetch` trusts (`docs/DESIGN.md
 * §Runtimes`): a Hub behind a certificate from a throwaway private CA is refused by default and
 * downloaded from once the runtime's setting names the CA — `NODE_EXTRA_CA_CERTS` on Node and
 * Bun, `DENO_CERT` on Deno. Each host runtime checks its own CLI (the setting is read at start).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as net from "node:net";
import * as tls from "node:tls";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { HubEmulator } from "../src/testing/mod.ts";
import { bytes, readBytes, sameBytes, TOKEN } from "./_support/hub.ts";
import { runCliProcess } from "./_support/cli.ts";
import { currentRuntimeName } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

/** Make a CA and a certificate it signed for localhost and 127.0.0.1, with the openssl CLI. */
async function throwawayCa(dir: string): Promise<{ ca: string; key: string; cert: string }> {
  const run = (...args: string[]): void => {
    try {
      execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    } catch (err) {
      throw new Error(`this test needs the openssl CLI (Debian package openssl): openssl ${args[0]} failed: ${err instanceof Error ? err.message : err}`);
    }
  };
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=hubcache throwaway CA");
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
  await fsp.writeFile(join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf");
  return { ca: join(dir, "ca.pem"), key: await fsp.readFile(join(dir, "server.key"), "utf8"), cert: await fsp.readFile(join(dir, "server.pem"), "utf8") };
}

describe("socket transport over TLS with a private CA", () => {
  const runtime = currentRuntimeName();
  const data = bytes(3 << 20, 11); // larger than a connection's read buffers
  let dir = "";
  let ca = "";
  let hub: HubEmulator;
  let relay: tls.Server;
  let endpoint = "";

  before(async () => {
    dir = await makeTempDir("hubcache-tls-");
    const made = await throwawayCa(dir);
    ca = made.ca;
    hub = await HubEmulator.start({ lfsThreshold: Number.MAX_SAFE_INTEGER });
    hub.createRepo("org/tls").commit({ "weights.bin": data, "config.json": '{"a":1}' });
    const upstream = new URL(hub.endpoint);
    // TLS in front of the emulator: every byte the CLI receives came over TLS.
    relay = tls.createServer({ key: made.key, cert: made.cert }, (client) => {
      const up = net.connect(Number(upstream.port), upstream.hostname);
      client.pipe(up).on("error", () => {});
      up.pipe(client).on("error", () => {});
      client.on("error", () => up.destroy());
      up.on("error", () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
    endpoint = `https://localhost:${(relay.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => relay?.close(resolve));
    await hub?.close();
    await removeTempDir(dir);
  });

  const download = async (cache: string, env: Record<string, string>) =>
    await runCliProcess(runtime, ["download", "org/tls", "weights.bin", "config.json", "--endpoint", endpoint, "--token", TOKEN, "--cache-dir", cache, "--quiet"], {
      NODE_EXTRA_CA_CERTS: "", DENO_CERT: "", HTTPS_PROXY: "", https_proxy: "", HTTP_PROXY: "", http_proxy: "", ...env,
    });

  test(`${runtime}: the certificate is verified, and the runtime's CA setting makes it trusted`, async () => {
    const refused = await download(join(dir, "refused"), {});
    assert.notEqual(refused.code, 0, "a certificate from an unknown CA must be refused");
    assert.match(refused.stderr, /certificate|issuer/i);
    const setting = runtime === "deno" ? "DENO_CERT" : "NODE_EXTRA_CA_CERTS";
    const cache = join(dir, "trusted");
    const run = await download(cache, { [setting]: ca });
    assert.equal(run.code, 0, run.stderr);
    const [weights] = run.stdout.trim().split("\n");
    assert.ok(sameBytes(await readBytes(weights), data), "the file arrived intact over TLS");
  });
});
