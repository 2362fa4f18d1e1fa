/**
 * `hubcache/testing`: a local Hugging Face Hub for offline tests of download clients: a real
 * HTTP server on 127.0.0.1 with in-memory repos, a CDN on another host name that behaves like
 * real ones (its own `ETag`, strict `If-Range`, switchable variants), fault switches and a
 * request log. Runs on Node 20+, Deno and Bun.
 *
 * @example
 * ```ts
 * import { HubEmulator } from "hubcache/testing";
 * const hub = await HubEmulator.start();
 * const repo = hub.createRepo("org/model");
 * repo.commit({ "config.json": '{"a":1}', "model.bin": new Uint8Array(1 << 20) });
 * hub.injectFault({ kind: "drop", afterBytes: 65536, match: { cdn: true } });
 * // … point the client at hub.endpoint, download, assert on hub.requests …
 * await hub.close();
 * ```
 *
 * @module
 */

export { HubEmulator } from "./emulator.ts";
export type { HttpQuirks, HubEmulatorOptions, RecordedRequest } from "./emulator.ts";
export type { CdnEtagStyle, CdnOptions } from "./cdn.ts";
export { EmulatedRepo } from "./repo_store.ts";
export type { CommitOptions, FileInfo, RepoOptions, Snapshot, StoredFile, TreeEntry } from "./repo_store.ts";
export type { Fault, FaultCommon, FaultKind, FaultMatch } from "./faults.ts";
export type { RepoType } from "../core/cache/validate.ts";
