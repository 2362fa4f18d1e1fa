/**
 * Who wrote a file. Every temp file, lock, scratch file and prune claim carries its writer's
 * identity `<host>-<pid>-<nonce>` — in its name, or for a lock in its content — so that any
 * other process can tell whether that writer may still be working (`docs/DESIGN.md §Resume`).
 * This module builds that text once ({@link ownerName}), parses it once
 * ({@link parseOwnerName}), and judges it once ({@link writerState}); the names around it
 * (`<etag>.<owner>.incomplete`, `<purpose>.<owner>.tmp`, …) live in `cache/layout.ts`.
 *
 * @module
 */

import type { Platform } from "./ports.ts";

/** Who wrote a temp file: enough to tell whether its writer can still be alive. */
export interface TempOwner {
  /** Sanitised host name: a pid can be checked for liveness only on the host that issued it. */
  readonly host: string;
  /** The writer's process id; on the same host, a dead pid means the file is abandoned. */
  readonly pid: number;
  /** Random hex, so two downloads in one process (same host and pid) never share a name. */
  readonly nonce: string;
}

/**
 * Whether the writer of a file may still be writing it: `alive`/`dead` when it ran on this
 * host and its pid is / is not running; `unknown` for another host or a name without an owner.
 */
export type OwnerState = "alive" | "dead" | "unknown";

/**
 * A host name made safe for a file name: anything but `[A-Za-z0-9_-]` becomes `_` (a dot would
 * split the name where the parsers expect the owner), at most 64 characters.
 */
export function sanitizeHost(host: string): string {
  return (host || "host").replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64);
}

/**
 * This process's host and pid, asked of the platform once per platform object: every temp file,
 * lock and claim asks for them, and on Node each answer is a system call (`os.hostname()` is
 * `uname`, `process.pid` is `getpid`) — a snapshot of 1,000 small files made 2,000 of each.
 * Neither changes while a process runs.
 */
const selves = new WeakMap<Platform, { readonly host: string; readonly pid: number }>();

function self(platform: Platform): { readonly host: string; readonly pid: number } {
  let me = selves.get(platform);
  if (me === undefined) selves.set(platform, me = { host: sanitizeHost(platform.hostname()), pid: platform.pid() });
  return me;
}

/** A new identity for one writer: this host, this pid and 16 random bytes (cacache saw collisions with 4). */
export function writerIdentity(platform: Platform): TempOwner {
  const { host, pid } = self(platform);
  return { host, pid, nonce: platform.randomHex(16) };
}

/** The text form of an identity, `<host>-<pid>-<nonce>`, as it appears in file names. */
export function ownerName(owner: TempOwner): string {
  return `${sanitizeHost(owner.host)}-${owner.pid}-${owner.nonce}`;
}

const OWNER_NAME = /^([A-Za-z0-9_-]+)-(\d+)-([0-9a-f]{8,64})$/;

/** The identity an {@link ownerName} text holds, or `null` when `text` is not one. */
export function parseOwnerName(text: string): TempOwner | null {
  const m = OWNER_NAME.exec(text);
  return m ? { host: m[1], pid: Number(m[2]), nonce: m[3] } : null;
}

/**
 * Whether the writer named in a temp file or lock can still be working: on this host, ask the
 * OS about its pid (our own pid counts as alive); on another host — or with no owner recorded —
 * nobody can tell, and callers judge by age instead. The one place every "may I take this
 * over?" decision (claim, sweep, lock, prune, scan) asks.
 */
export function writerState(platform: Platform, owner: TempOwner | null): OwnerState {
  const me = self(platform);
  if (owner === null || owner.host !== me.host) return "unknown";
  return owner.pid === me.pid || platform.isProcessAlive(owner.pid) ? "alive" : "dead";
}
