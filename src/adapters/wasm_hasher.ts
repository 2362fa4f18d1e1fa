/**
 * The WebAssembly hasher: sha256/sha1 via `hash-wasm`.
 *
 * For runtimes without `node:crypto` that compile WebAssembly at run time: the
 * portable hasher (`portable_hasher.ts`) picks it there and falls back to pure JS
 * where compiling is refused (Cloudflare Workers). It is several times slower than
 * `node:crypto` but WebCrypto cannot hash incrementally, and this one's state can be
 * saved and restored, which a resumed download could use to avoid re-reading its
 * partial file. No `node:*` imports: this file must bundle for browsers.
 *
 * @module
 */

import { createSHA1, createSHA256 } from "hash-wasm";
import type { IHasher } from "hash-wasm";
import type { HashAlgorithm, Hasher, HasherFactory } from "../core/ports.ts";

/** A {@link Hasher} whose intermediate state can be exported. */
export interface ResumableHasher extends Hasher {
  /** The hasher's internal state; feed it to {@link WasmHasherFactory.resume} to continue. */
  save(): Uint8Array;
}

/** A {@link HasherFactory} that can also continue from a saved state. */
export interface WasmHasherFactory extends HasherFactory {
  /** A fresh hasher, narrowed to {@link ResumableHasher} so its state can be saved. */
  create(algorithm: HashAlgorithm): Promise<ResumableHasher>;
  /** A hasher continuing from `state` (from {@link ResumableHasher.save} of the same algorithm). */
  resume(algorithm: HashAlgorithm, state: Uint8Array): Promise<ResumableHasher>;
}

function wrap(inner: IHasher): ResumableHasher {
  return {
    update(data: Uint8Array): void {
      inner.update(data);
    },
    digestHex(): string {
      return inner.digest("hex");
    },
    save(): Uint8Array {
      return inner.save();
    },
  };
}

async function instantiate(algorithm: HashAlgorithm): Promise<IHasher> {
  if (algorithm === "sha256") return await createSHA256();
  if (algorithm === "sha1") return await createSHA1();
  throw new TypeError(`unsupported hash algorithm: ${String(algorithm)}`);
}

/** The hash-wasm {@link HasherFactory}. */
export function wasmHashers(): WasmHasherFactory {
  return {
    async create(algorithm: HashAlgorithm): Promise<ResumableHasher> {
      const inner = await instantiate(algorithm);
      inner.init();
      return wrap(inner);
    },
    async resume(algorithm: HashAlgorithm, state: Uint8Array): Promise<ResumableHasher> {
      const inner = await instantiate(algorithm);
      inner.load(state);
      return wrap(inner);
    },
  };
}
