/**
 * Directory fsyncs shared between concurrent callers (group commit). A rename into a folder is
 * durable once the folder is fsynced; a snapshot download publishes many files into one
 * `blobs/` at once, and each waiting for its own directory fsync made the syncs queue behind
 * each other. Here a caller waits for a sync that *started after it called* — never for one
 * already running, which may have missed its entry — and every caller that arrives while a
 * sync runs shares the next one.
 *
 * @module
 */

import type { Runtime } from "../ports.ts";

interface DirSync {
  running: Promise<void>;
  next: Promise<void> | undefined;
}

const syncs = new WeakMap<Runtime, Map<string, DirSync>>();

/** Resolve once an fsync of `dir` that started after this call has finished (or reject with its error). */
export function syncDirShared(runtime: Runtime, dir: string): Promise<void> {
  let byDir = syncs.get(runtime);
  if (byDir === undefined) syncs.set(runtime, byDir = new Map());
  const state = byDir.get(dir);
  if (state === undefined) return startSync(runtime, byDir, dir);
  state.next ??= state.running.then(noop, noop).then(() => startSync(runtime, byDir, dir));
  return state.next;
}

function startSync(runtime: Runtime, byDir: Map<string, DirSync>, dir: string): Promise<void> {
  const state: DirSync = { running: Promise.resolve(), next: undefined };
  state.running = runtime.fs.syncDir(dir).finally(() => {
    if (byDir.get(dir) === state && state.next === undefined) byDir.delete(dir);
  });
  byDir.set(dir, state);
  return state.running;
}

function noop(): void {}
