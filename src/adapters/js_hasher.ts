/**
 * The pure-JavaScript hasher: sha256/sha1 from `@noble/hashes` (audited, no dependencies).
 *
 * It runs wherever JavaScript runs, including where WebAssembly may not be compiled at run time
 * (Cloudflare Workers refuse it: "Wasm code generation disallowed by embedder"; so do pages whose
 * Content-Security-Policy lacks `'wasm-unsafe-eval'`). WebCrypto is no substitute: `digest()`
 * takes the whole file at once, and a download is hashed while it streams and, after a resume,
 * from a prefix read back from disk. No `node:*` imports: this file must bundle for browsers.
 *
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { sha1 } from "@noble/hashes/legacy.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import type { HashAlgorithm, Hasher, HasherFactory } from "../core/ports.ts";

/** The `@noble/hashes` {@link HasherFactory}. */
export function jsHashers(): HasherFactory {
  return {
    create(algorithm: HashAlgorithm): Promise<Hasher> {
      const inner = algorithm === "sha256" ? sha256.create() : algorithm === "sha1" ? sha1.create() : undefined;
      if (inner === undefined) return Promise.reject(new TypeError(`unsupported hash algorithm: ${String(algorithm)}`));
      return Promise.resolve({
        update(data: Uint8Array): void {
          inner.update(data); // copies what it keeps, so the caller may reuse `data`
        },
        digestHex(): string {
          return bytesToHex(inner.digest());
        },
      });
    },
  };
}
