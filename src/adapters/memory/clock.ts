/**
 * A controllable clock for the memory runtime: time that passes only when a test says so
 * (`manual`), that skips ahead to end every sleep at once (`auto`), or real time (`real`).
 *
 * It keeps the `Platform` port's two kinds of wait apart. A sleep is all its caller waits for,
 * so `auto` may skip time ahead to end it. A timeout guards other work (a network read that
 * takes real time, a lock held while bytes arrive): skipping ahead to fire it would time out
 * work that is still going, so a timeout fires only when time passes for another reason — a
 * test's `advance`, or the end of a sleep further ahead.
 *
 * @module
 */

/** How a {@link MemoryClock}'s sleeps complete. */
export type TimerMode =
  /** Sleeps and timeouts resolve only when a test calls `advance`. */
  | "manual"
  /** Sleeps resolve on their own, soon, advancing virtual time to their deadline (timeouts do not). */
  | "auto"
  /** Sleeps and timeouts take real time; `now()` is the real clock plus whatever `advance` added. */
  | "real";

interface Sleeper {
  deadline: number;
  seq: number;
  /** A timeout: never the reason `auto` skips time ahead. */
  guard: boolean;
  resolve: () => void;
}

/**
 * A controllable clock.
 *
 * @example
 * ```ts
 * import { MemoryClock, memoryRuntime } from "hubcache/adapters/memory";
 *
 * const clock = new MemoryClock({ timers: "manual" });
 * const done = clock.sleep(1000);
 * clock.advance(1000); // `done` resolves
 * await done;
 * const a = memoryRuntime({ clock, pid: 1 });
 * const b = memoryRuntime({ clock, fs: a.fs, pid: 2 }); // two "processes" that share time and disk
 * ```
 */
export class MemoryClock {
  /** How sleeps resolve and where `now()` comes from (see {@link TimerMode}). */
  readonly timers: TimerMode;
  #now: number;
  #offset = 0;
  #sleepers: Sleeper[] = [];
  #seq = 0;
  #drainScheduled = false;

  /**
   * Default `"manual"` timers, starting at 1 700 000 000 000 ms (a fixed date, so file
   * times in failing tests are reproducible).
   */
  constructor(options: { timers?: TimerMode; startMs?: number } = {}) {
    this.timers = options.timers ?? "manual";
    this.#now = options.startMs ?? 1_700_000_000_000;
  }

  /** Current time, ms since the epoch. */
  now(): number {
    return this.timers === "real" ? Date.now() + this.#offset : this.#now;
  }

  /** Sleeps not yet resolved (manual and auto modes), timeouts not counted. */
  get pendingSleeps(): number {
    return this.#sleepers.filter((s) => !s.guard).length;
  }

  /** Move time forward by `ms`, resolving every sleep whose deadline is reached, in deadline order. */
  advance(ms: number): void {
    if (this.timers === "real") {
      this.#offset += ms;
      return;
    }
    this.#advanceTo(this.#now + Math.max(0, ms));
  }

  /** Resolve after `ms` of this clock's time, or reject with the signal's reason. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.#wait(ms, signal, false);
  }

  /** Like {@link MemoryClock.sleep}, but `auto` never skips time ahead for it (see the module documentation). */
  timeout(ms: number, signal: AbortSignal): Promise<void> {
    return this.#wait(ms, signal, true);
  }

  #wait(ms: number, signal: AbortSignal | undefined, guard: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      let cancel = (): void => {};
      const onAbort = (): void => {
        cancel();
        reject(signal!.reason);
      };
      const done = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      if (this.timers === "real") {
        const timer = setTimeout(done, Math.max(0, ms));
        cancel = () => clearTimeout(timer);
        return;
      }
      const sleeper: Sleeper = { deadline: this.#now + Math.max(0, ms), seq: this.#seq++, guard, resolve: done };
      cancel = () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
      };
      this.#sleepers.push(sleeper);
      if (ms <= 0) this.#advanceTo(this.#now);
      else if (this.timers === "auto" && !guard) this.#scheduleDrain();
    });
  }

  #advanceTo(target: number): void {
    for (;;) {
      const due = this.#sleepers
        .filter((s) => s.deadline <= target)
        .sort((a, b) => a.deadline - b.deadline || a.seq - b.seq);
      if (due.length === 0) break;
      const first = due[0]!;
      this.#now = Math.max(this.#now, first.deadline);
      this.#sleepers = this.#sleepers.filter((s) => s !== first);
      first.resolve();
    }
    this.#now = Math.max(this.#now, target);
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    // A macrotask lets every ready promise chain run first, so concurrent sleepers
    // registered "at the same time" wake in deadline order.
    setTimeout(() => {
      this.#drainScheduled = false;
      const sleeps = this.#sleepers.filter((s) => !s.guard);
      if (sleeps.length === 0) return;
      this.#advanceTo(Math.min(...sleeps.map((s) => s.deadline)));
      if (this.#sleepers.some((s) => !s.guard)) this.#scheduleDrain();
    }, 0);
  }
}
