/**
 * Fault injection for the memory file system: make the nth matching call of an operation fail
 * with a chosen error code (`ENOSPC` mid-write, `EXDEV` on rename, `ESTALE` on read, …), the
 * failures real disks rarely show on demand.
 *
 * @module
 */

import { FsError } from "../../core/ports.ts";
import type { FileSystem, FsErrorCode } from "../../core/ports.ts";

/** Operation names that faults and the `MemoryFileSystem.beforeOp` hook match on. */
export type MemoryFsOp =
  | keyof FileSystem
  | "write"
  | "read"
  | "truncate"
  | "sync"
  | "size"
  | "close"
  | "tryLock";

/** What `MemoryFileSystem.injectFault` accepts. */
export interface FaultSpec {
  /**
   * The operation to fail: a {@link FileSystem} method name, a {@link FileHandle}
   * method name, `"tryLock"`, `"open"` (any of the three opens) or `"*"`.
   */
  op: MemoryFsOp | "open" | "*";
  /** The error code to fail with. */
  code: FsErrorCode;
  /** Fail the nth matching call (1-based). Default 1. */
  nth?: number;
  /** How many consecutive matching calls fail from the nth on. Default 1; `Infinity` for all. */
  times?: number;
  /** Match only calls where one of the paths involved contains this string. */
  pathIncludes?: string;
}

/** A fault that has been injected. */
export interface Fault {
  /** How many calls this fault has failed so far. */
  readonly fired: number;
  /** How many calls matched (failed or not). */
  readonly matched: number;
  /** Stop injecting. */
  remove(): void;
}

interface ActiveFault {
  spec: Required<Omit<FaultSpec, "pathIncludes">> & { pathIncludes: string | undefined };
  fired: number;
  matched: number;
  removed: boolean;
}

const OPEN_OPS: ReadonlySet<string> = new Set(["createExclusive", "openRead", "openReadWrite"]);

/** The faults injected into one file system, in injection order. */
export class FaultTable {
  #faults: ActiveFault[] = [];

  /** Add a fault; the returned handle counts its matches and removes it. */
  inject(spec: FaultSpec): Fault {
    const active: ActiveFault = {
      spec: {
        op: spec.op,
        code: spec.code,
        nth: spec.nth ?? 1,
        times: spec.times ?? 1,
        pathIncludes: spec.pathIncludes,
      },
      fired: 0,
      matched: 0,
      removed: false,
    };
    this.#faults.push(active);
    return {
      get fired(): number {
        return active.fired;
      },
      get matched(): number {
        return active.matched;
      },
      remove: (): void => {
        active.removed = true;
        this.#faults = this.#faults.filter((f) => f !== active);
      },
    };
  }

  /** Remove every fault. */
  clear(): void {
    for (const f of this.#faults) f.removed = true;
    this.#faults = [];
  }

  /** Throw the {@link FsError} of the first fault that fires on this call, if any. */
  check(op: MemoryFsOp, paths: readonly string[]): void {
    for (const f of this.#faults) {
      const s = f.spec;
      if (s.op !== "*" && s.op !== op && !(s.op === "open" && OPEN_OPS.has(op))) continue;
      if (s.pathIncludes !== undefined && !paths.some((p) => p.includes(s.pathIncludes!))) continue;
      f.matched++;
      if (f.matched >= s.nth && f.matched < s.nth + s.times) {
        f.fired++;
        throw new FsError(s.code, op, paths[0] ?? "", `${s.code}: ${op} '${paths[0] ?? ""}' (injected fault)`);
      }
    }
  }
}
