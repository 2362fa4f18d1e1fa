/**
 * The file lookups a cache command makes by the hundred thousand — `stat`, `lstat`, `readlink`,
 * `readdir` (a `cache ls` of 200,000 snapshot files is 200,000 readlinks and 100,000 stats) —
 * made synchronously while the file system answers them from memory, and off the main thread
 * once they look like round trips.
 *
 * Why: an asynchronous call hands the work to a thread and the answer back, which costs far
 * more than a lookup the kernel answers from its caches. Measured here (50,000 readlinks / stats
 * of a page-cached cache, ms): Node 1,133 / 1,076 through the callback API (half the CPU of
 * `node:fs/promises`), 402 / 475 synchronously; Deno 1,281 / 3,135 through `node:fs/promises`,
 * 421 / 1,228 synchronously; Bun 396 / 506, 288 / 369. On a network file system (GlusterFS,
 * NFS, Lustre) each lookup is a round trip: there, calls must overlap, so once a quarter of the
 * latest 32 synchronous calls took longer than {@link SLOW_LOOKUP_MS}, this process makes the
 * asynchronous calls for good (`docs/DESIGN.md §Cache management`). A lookup answered from memory
 * takes microseconds; the few that block for a round trip before the switch cost nothing noticeable.
 * The price: until the switch, a lookup that hangs (a hard-mounted NFS whose server is down)
 * blocks the whole event loop — timers and abort signals included — where an asynchronous one
 * would only have held a thread; the next lookup of the same file would hang there anyway.
 *
 * @module
 */

import {
  type Dirent,
  lstat as lstatCallback,
  lstatSync,
  readdir as readdirCallback,
  readdirSync,
  readlink as readlinkCallback,
  readlinkSync,
  stat as statCallback,
  statSync,
  type Stats,
} from "node:fs";
import * as fsp from "node:fs/promises";
import { detectRuntime } from "./runtime_name.ts";

/** A synchronous lookup slower than this was not answered from memory: from then on, go asynchronous. */
export const SLOW_LOOKUP_MS = 0.2;

/**
 * Slow calls among the last 32 that mean a round trip rather than a passing delay: one slow call
 * can be the process losing its core for a moment on a busy machine (seen here under load), and
 * a switch for that would give the speed away; on a network file system nearly every call is slow.
 */
export const SLOW_OF_LAST_32 = 8;

function bitCount(bits: number): number {
  let n = 0;
  for (let b = bits; b !== 0; b &= b - 1) n++;
  return n;
}

/** The lookups, each answering as `node:fs` does. */
export interface Lookups {
  stat(path: string): Promise<Stats>;
  lstat(path: string): Promise<Stats>;
  readlink(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
  readdirTyped(path: string): Promise<Dirent[]>;
  /** Whether calls are still made synchronously (false once a quarter of the latest 32 were slow). */
  readonly synchronous: boolean;
}

/**
 * Lookups that run synchronously until one takes longer than `slowMs` (measured with `now`),
 * then asynchronously for the rest of the process.
 */
export function adaptiveLookups(slowMs: number = SLOW_LOOKUP_MS, now: () => number = () => performance.now()): Lookups {
  const later = asynchronousLookups();
  let synchronous = true;
  let recent = 0; // bit i set: the i-th latest synchronous call was slow
  const run = <T>(fast: () => T, slow: () => Promise<T>): Promise<T> => {
    if (!synchronous) return slow();
    const started = now();
    try {
      return Promise.resolve(fast());
    } catch (err) {
      return Promise.reject(err);
    } finally {
      recent = ((recent << 1) | (now() - started > slowMs ? 1 : 0)) >>> 0;
      if (recent !== 0 && bitCount(recent) >= SLOW_OF_LAST_32) synchronous = false;
    }
  };
  return {
    stat: (path) => run(() => statSync(path), () => later.stat(path)),
    lstat: (path) => run(() => lstatSync(path), () => later.lstat(path)),
    readlink: (path) => run(() => readlinkSync(path), () => later.readlink(path)),
    readdir: (path) => run(() => readdirSync(path), () => later.readdir(path)),
    readdirTyped: (path) => run(() => readdirSync(path, { withFileTypes: true }), () => later.readdirTyped(path)),
    get synchronous() {
      return synchronous;
    },
  };
}

/** Settle a Node callback-API call as a promise. */
export function settle<T>(call: (done: (err: Error | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => call((err, value) => (err ? reject(err) : resolve(value))));
}

/**
 * The asynchronous lookups: on Node the callback API, which costs about half the CPU of
 * `node:fs/promises` per call (40,000 readlinks, 16 in flight: 765 → 442 ms CPU); under Bun the
 * promise API is the faster one and Deno gains nothing from the callbacks, so they keep it.
 */
function asynchronousLookups(): Omit<Lookups, "synchronous"> {
  if (detectRuntime() !== "node") {
    return {
      stat: (path) => fsp.stat(path),
      lstat: (path) => fsp.lstat(path),
      readlink: (path) => fsp.readlink(path),
      readdir: (path) => fsp.readdir(path),
      readdirTyped: (path) => fsp.readdir(path, { withFileTypes: true }),
    };
  }
  return {
    stat: (path) => settle((done) => statCallback(path, done)),
    lstat: (path) => settle((done) => lstatCallback(path, done)),
    readlink: (path) => settle((done) => readlinkCallback(path, done)),
    readdir: (path) => settle((done) => readdirCallback(path, done)),
    readdirTyped: (path) => settle((done) => readdirCallback(path, { withFileTypes: true }, done)),
  };
}
