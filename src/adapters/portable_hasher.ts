/**
 * The hasher for runtimes without `node:crypto`, and the memory adapter's default: hash-wasm
 * where the runtime lets code compile WebAssembly, `@noble/hashes` (pure JS) where it does not.
 *
 * hash-wasm compiles its module at run time. Cloudflare Workers forbid that (`CompileError:
 * WebAssembly.compile(): Wasm code generation disallowed by embedder`), as do pages whose
 * Content-Security-Policy lacks `'wasm-unsafe-eval'`, so a WebAssembly-only default failed on
 * the first download there. Where compiling is allowed hash-wasm stays: it is faster on V8 (Node,
 * Deno; Chrome runs the same engine). `node bench/hashers.mjs`, MB/s as sha256 / sha1, 64 KiB
 * updates, 2 shared cores:
 *
 * | hasher        | Node      | Deno      | Bun       | workerd     |
 * |---------------|-----------|-----------|-----------|-------------|
 * | hash-wasm     | 181 / 502 | 179 / 447 |  86 / 230 | refused     |
 * | @noble/hashes |  98 / 146 | 133 / 144 | 119 / 142 |  85 / 95    |
 * | node:crypto   | ~1500     | ~1500     | ~1500     | ~1500 (1)   |
 *
 * (1) only with the `nodejs_compat` flag, passed by hand as `hashers: nodeHashers()`. Workers' own
 * `crypto.DigestStream` (~700 / 860) has an asynchronous digest, which the `Hasher` port does not
 * allow. Bun hashes sha256 faster in pure JS, but Bun's own adapter uses `node:crypto`, so there
 * the memory adapter serves tests only. No `node:*` imports: this file must bundle for browsers.
 *
 * @module
 */

import { jsHashers } from "./js_hasher.ts";
import { wasmHashers } from "./wasm_hasher.ts";
import type { HashAlgorithm, Hasher, HasherFactory } from "../core/ports.ts";

/** The smallest valid module: `\0asm`, version 1, no sections. */
const EMPTY_WASM_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** Whether this runtime compiles WebAssembly from bytes at run time (what hash-wasm does). */
export function wasmCompilationAllowed(): boolean {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.Module !== "function") return false;
  try {
    // The module is valid, so any error here is the embedder's refusal (a CompileError in
    // workerd and under CSP), not a problem with the bytes.
    new WebAssembly.Module(EMPTY_WASM_MODULE);
    return true;
  } catch {
    return false;
  }
}

/**
 * The portable {@link HasherFactory}: hash-wasm where WebAssembly may be compiled, else
 * `@noble/hashes`. The choice is made once, at the first `create`, so importing does no work.
 */
export function portableHashers(): HasherFactory {
  let chosen: HasherFactory | undefined;
  return {
    create(algorithm: HashAlgorithm): Promise<Hasher> {
      chosen ??= wasmCompilationAllowed() ? wasmHashers() : jsHashers();
      return chosen.create(algorithm);
    },
  };
}
