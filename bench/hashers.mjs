#!/usr/bin/env node
// `node bench/hashers.mjs`: hashing speed (MB/s, median of 3, 64 KiB updates) of each hasher
// on Node, Deno, Bun and in workerd (Cloudflare Workers' runtime, through miniflare), the
// measurements behind the portable hasher's choice (src/adapters/portable_hasher.ts). Prints a
// Markdown table. Options: --mib N (bytes hashed per run, default 128).
//
// workerd freezes its clock while a Worker computes (a Spectre mitigation), so there each run is
// timed from outside, around one request, minus an empty request's time. `DigestStream` and
// WebCrypto's one-shot `digest` are listed for reference: the first has an asynchronous digest and
// the second cannot hash incrementally, so neither fits the `Hasher` port.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const MIB = Number(arg("mib", 128));
const TOTAL = MIB * 1024 * 1024;
const CHUNK = 64 * 1024;
const ALGOS = ["sha256", "sha1"];
const RUNS = 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mbps = (ms) => Math.round(TOTAL / 1e6 / (ms / 1000));

/** Hash TOTAL bytes with one hasher from `factory`; returns the hex digest. */
async function hashOnce(factory, algo) {
  const chunk = new Uint8Array(CHUNK).map((_, i) => (i * 7) & 0xff);
  const h = await factory.create(algo);
  for (let done = 0; done < TOTAL; done += CHUNK) h.update(chunk);
  return await h.digestHex();
}

// ---------------------------------------------------------------------------------------------
// Inside Node, Deno or Bun: print one JSON line per (hasher, algorithm).

async function inner() {
  // Node 20 cannot load .ts: it uses the build (npm run build), Deno and Bun the sources.
  const source = (name) => (globalThis.Deno || globalThis.Bun ? join(root, "src/adapters", `${name}.ts`) : join(root, "dist/src/adapters", `${name}.js`));
  const { wasmHashers } = await import(source("wasm_hasher"));
  const { jsHashers } = await import(source("js_hasher"));
  const { nodeHashers } = await import(source("node"));
  const { wasmCompilationAllowed } = await import(source("portable_hasher"));
  const factories = { "hash-wasm": wasmHashers(), "@noble/hashes": jsHashers(), "node:crypto": nodeHashers() };
  for (const [name, factory] of Object.entries(factories)) {
    for (const algo of ALGOS) {
      const times = [];
      let digest = "";
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        digest = await hashOnce(factory, algo);
        times.push(performance.now() - t);
      }
      console.log(JSON.stringify({ name, algo, mbps: mbps(median(times)), digest }));
    }
  }
  console.log(JSON.stringify({ wasm: wasmCompilationAllowed() }));
}

// ---------------------------------------------------------------------------------------------
// The Worker: one request hashes TOTAL bytes with the hasher named in the query.

const WORKER = `
import { wasmHashers } from "./src/adapters/wasm_hasher.ts";
import { jsHashers } from "./src/adapters/js_hasher.ts";
import { nodeHashers } from "./src/adapters/node.ts";
import { wasmCompilationAllowed } from "./src/adapters/portable_hasher.ts";
const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
const webName = (algo) => (algo === "sha256" ? "SHA-256" : "SHA-1");
const factories = {
  "hash-wasm": wasmHashers(),
  "@noble/hashes": jsHashers(),
  "node:crypto": nodeHashers(),
  "DigestStream": {
    async create(algo) {
      const stream = new crypto.DigestStream(webName(algo));
      const writer = stream.getWriter();
      return {
        update(data) { writer.write(data.slice()).catch(() => {}); },
        async digestHex() { await writer.close(); return hex(await stream.digest); },
      };
    },
  },
};
const hashOnce = ${hashOnce.toString()};
export default {
  async fetch(request) {
    const q = new URL(request.url).searchParams;
    const name = q.get("hasher"), algo = q.get("algo");
    try {
      if (name === "none") return new Response("");
      if (name === "wasm?") return new Response(String(wasmCompilationAllowed()));
      if (name === "WebCrypto one-shot") return new Response(hex(await crypto.subtle.digest(webName(algo), new Uint8Array(${TOTAL}))));
      return new Response(await hashOnce(factories[name], algo));
    } catch (error) {
      return new Response(String(error), { status: 500 });
    }
  },
};`;

async function inWorkerd() {
  const esbuild = await import("esbuild");
  const { Miniflare } = await import("miniflare");
  const bundle = await esbuild.build({
    stdin: { contents: WORKER, resolveDir: root, loader: "js" },
    bundle: true,
    format: "esm",
    platform: "browser",
    conditions: ["workerd", "worker"],
    external: ["node:*"],
    write: false,
    define: { TOTAL: String(TOTAL), CHUNK: String(CHUNK) },
  });
  const mf = new Miniflare({
    modules: true,
    script: bundle.outputFiles[0].text,
    compatibilityDate: "2026-04-01",
    compatibilityFlags: ["nodejs_compat"],
  });
  const rows = [];
  try {
    const ask = async (query) => {
      const t = performance.now();
      const res = await mf.dispatchFetch(`http://bench/?${new URLSearchParams(query)}`);
      const text = await res.text();
      return { ok: res.ok, text, ms: performance.now() - t };
    };
    await ask({ hasher: "none" }); // start-up
    const empties = [];
    for (let i = 0; i < RUNS; i++) empties.push((await ask({ hasher: "none" })).ms);
    const empty = median(empties);
    for (const name of ["hash-wasm", "@noble/hashes", "node:crypto", "DigestStream", "WebCrypto one-shot"]) {
      for (const algo of ALGOS) {
        const times = [];
        let last;
        for (let i = 0; i < RUNS; i++) {
          last = await ask({ hasher: name, algo });
          if (!last.ok) break;
          times.push(last.ms - empty);
        }
        rows.push(last.ok ? { name, algo, mbps: mbps(median(times)), digest: last.text } : { name, algo, error: last.text });
      }
    }
    rows.push({ wasm: (await ask({ hasher: "wasm?" })).text === "true" });
  } finally {
    await mf.dispose();
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------

if (process.argv.includes("--inner")) {
  await inner();
} else {
  const bin = (n) => join(root, "node_modules", ".bin", n);
  const self = fileURLToPath(import.meta.url);
  const commands = {
    node: [process.execPath, [self, "--inner", "--mib", String(MIB)]],
    deno: [bin("deno"), ["run", "-A", self, "--inner", "--mib", String(MIB)]],
    bun: [bin("bun"), [self, "--inner", "--mib", String(MIB)]],
  };
  const results = {};
  for (const [rt, [cmd, args]] of Object.entries(commands)) {
    const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8" });
    if (r.status !== 0) {
      console.error(`${rt}: exit ${r.status}\n${r.stderr}`);
      continue;
    }
    results[rt] = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  }
  results.workerd = await inWorkerd();

  const runtimes = Object.keys(results);
  const names = ["hash-wasm", "@noble/hashes", "node:crypto", "DigestStream", "WebCrypto one-shot"];
  const cell = (rt, name) => {
    const rows = results[rt].filter((r) => r.name === name);
    if (rows.length === 0) return "–";
    if (rows.some((r) => r.error)) return /disallowed/.test(rows[0].error) ? "refused" : "error";
    return rows.map((r) => r.mbps).join(" / ");
  };
  console.log(`Hashing ${MIB} MiB in 64 KiB updates, MB/s as sha256 / sha1 (median of ${RUNS}):\n`);
  console.log(`| hasher | ${runtimes.join(" | ")} |`);
  console.log(`|---|${runtimes.map(() => "---").join("|")}|`);
  for (const name of names) console.log(`| ${name} | ${runtimes.map((rt) => cell(rt, name)).join(" | ")} |`);
  console.log(`| compiles WebAssembly | ${runtimes.map((rt) => (results[rt].find((r) => "wasm" in r)?.wasm ? "yes" : "no")).join(" | ")} |`);
  // Every hasher that ran must agree, or the speeds mean nothing (WebCrypto hashed zeros: left out).
  for (const algo of ALGOS) {
    const digests = new Set(Object.values(results).flat().filter((r) => r.algo === algo && r.digest && r.name !== "WebCrypto one-shot").map((r) => r.digest));
    if (digests.size !== 1) {
      console.error(`${algo} digests disagree: ${[...digests].join(", ")}`);
      process.exit(1);
    }
  }
}
