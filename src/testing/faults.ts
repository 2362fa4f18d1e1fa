/**
 * Fault switches for the Hub emulator: the network and server misbehaviour a download client
 * must survive (dropped connections, stalls, corrupted bytes, servers that ignore `Range`,
 * transient 5xx/429, a branch that moves mid-download).
 *
 * Faults form a queue. Each one applies to the next request(s) it *matches* and *applies to*;
 * a fault that cannot act on a request (a body fault on a `HEAD`, a `corrupt` whose offset lies
 * outside the bytes being served) leaves that request alone and stays queued.
 *
 * @module
 */

/** Which requests a fault may act on. Every field given must match. */
export interface FaultMatch {
  /** The repo file path (`sub/dir/x.bin`), for resolve requests and CDN downloads. */
  readonly path?: string;
  /** HTTP method, case-insensitive. */
  readonly method?: string;
  /** `true`: only requests to the CDN listener; `false`: only requests to the Hub endpoint. */
  readonly cdn?: boolean;
  /** The repo id (`org/name`) the request is about. */
  readonly repo?: string;
}

/** Fields every fault accepts. */
export interface FaultCommon {
  /** How many matching requests the fault acts on before it is used up. Default 1. */
  readonly times?: number;
  /** Which requests the fault may act on; default: any it can act on. */
  readonly match?: FaultMatch;
}

/**
 * One fault. Body faults (`drop`, `stall`, `corrupt`, `shortBody`, `ignoreRange`,
 * `wrongContentRange`) act only on `GET`s that serve file bytes (a resolve of a regular file, or a
 * CDN download); `status`, `redirect` and `moveBranch` act on any matching request.
 *
 * - `drop`: send the headers and `afterBytes` body bytes, then destroy the socket
 *   (only for bodies longer than `afterBytes`).
 * - `stall`: send `afterBytes` body bytes, pause `ms`, then continue.
 * - `corrupt`: flip one byte at absolute file offset `offset` (only when the served bytes cover it).
 * - `ignoreRange`: answer a request that carries `Range` with `200` and the whole body.
 * - `status`: answer `status`, with `Retry-After: retryAfter` when given (a number of seconds, or
 *   a string sent verbatim: an HTTP date such as `new Date(Date.now() + 2000).toUTCString()`).
 * - `wrongContentRange`: answer `206` with a `Content-Range` other than `bytes START-END/TOTAL` for
 *   the range asked: `form` `"shifted"` (default) starts one byte off, `"unsatisfied"` is the 416 form (a `*` instead
 *   of the range, then `/TOTAL`), `"unknownTotal"` is `bytes START-END/*` (right range, no total; RFC 9110 allows it).
 * - `redirect`: answer `status` (default 302) with a relative `Location` naming the same
 *   resource (path and query as requested, plus `hop=N`), as a CDN or mirror moving a path does.
 * - `shortBody`: declare the full `Content-Length`, send `bytes`, then destroy the socket.
 * - `moveBranch`: point `branch` of the request's repo at commit `to`, then answer normally.
 */
export type Fault =
  | (FaultCommon & { readonly kind: "drop"; readonly afterBytes: number })
  | (FaultCommon & { readonly kind: "stall"; readonly afterBytes: number; readonly ms: number })
  | (FaultCommon & { readonly kind: "corrupt"; readonly offset: number })
  | (FaultCommon & { readonly kind: "ignoreRange" })
  | (FaultCommon & { readonly kind: "status"; readonly status: 500 | 502 | 503 | 504 | 429; readonly retryAfter?: number | string })
  | (FaultCommon & { readonly kind: "wrongContentRange"; readonly form?: "shifted" | "unsatisfied" | "unknownTotal" })
  | (FaultCommon & { readonly kind: "redirect"; readonly status?: 301 | 302 | 303 | 307 | 308 })
  | (FaultCommon & { readonly kind: "shortBody"; readonly bytes: number })
  | (FaultCommon & { readonly kind: "moveBranch"; readonly branch: string; readonly to: string });

/** The names of the fault kinds. */
export type FaultKind = Fault["kind"];

/** The fault of one kind. */
export type FaultOf<K extends FaultKind> = Extract<Fault, { kind: K }>;

/** What the emulator knows about a request when it asks for faults. */
export interface FaultTarget {
  /** HTTP method, upper case. */
  readonly method: string;
  /** Whether the request went to the CDN host rather than the Hub (LFS downloads). */
  readonly cdn: boolean;
  /** The file's path in the repo, for file requests. */
  readonly path?: string;
  /** The repo id, when the URL names one. */
  readonly repo?: string;
}

interface Pending {
  readonly fault: Fault;
  left: number;
}

const NON_NEGATIVE: Partial<Record<FaultKind, readonly string[]>> = {
  drop: ["afterBytes"],
  stall: ["afterBytes", "ms"],
  corrupt: ["offset"],
  shortBody: ["bytes"],
};

/** The queue of injected faults. */
export class FaultQueue {
  #pending: Pending[] = [];

  /** Queue a fault; throws on a malformed one so a typo fails the test that made it. */
  add(fault: Fault): void {
    const times = fault.times ?? 1;
    if (!Number.isSafeInteger(times) || times < 1) throw new RangeError(`fault.times must be a positive integer, got ${times}`);
    for (const field of NON_NEGATIVE[fault.kind] ?? []) {
      const value = (fault as unknown as Record<string, unknown>)[field];
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(`fault '${fault.kind}' needs a non-negative integer '${field}', got ${String(value)}`);
      }
    }
    this.#pending.push({ fault, left: times });
  }

  /** Remove every queued fault. */
  clear(): void {
    this.#pending = [];
  }

  /** How many faults are still queued (a fault with `times: 3` counts once). */
  get size(): number {
    return this.#pending.length;
  }

  /**
   * Use up one application of the first queued fault of `kind` that matches `target` and for
   * which `applies` is true.
   */
  take<K extends FaultKind>(
    kind: K,
    target: FaultTarget,
    applies: (fault: FaultOf<K>) => boolean = () => true,
  ): FaultOf<K> | undefined {
    const index = this.#pending.findIndex((p) =>
      p.fault.kind === kind && matches(p.fault.match, target) && applies(p.fault as FaultOf<K>)
    );
    if (index < 0) return undefined;
    const pending = this.#pending[index];
    pending.left -= 1;
    if (pending.left === 0) this.#pending.splice(index, 1);
    return pending.fault as FaultOf<K>;
  }
}

function matches(match: FaultMatch | undefined, target: FaultTarget): boolean {
  if (!match) return true;
  if (match.method !== undefined && match.method.toUpperCase() !== target.method.toUpperCase()) return false;
  if (match.cdn !== undefined && match.cdn !== target.cdn) return false;
  if (match.path !== undefined && match.path !== target.path) return false;
  if (match.repo !== undefined && match.repo !== target.repo) return false;
  return true;
}
