/**
 * One timer per response body that gives up a stalled connection (`docs/DESIGN.md §Runtimes`).
 *
 * A timer, an `AbortController` and a `Promise.race` for every chunk cost more than the hash on
 * Node: a 512 MiB body arrives in about 8,200 chunks of 64 KiB, and each aborted controller
 * allocates a `DOMException` (a CPU profile showed timers, `AbortSignal` and `DOMException`
 * at ~200 ms of a 2.7 s download). The watchdog instead notes when the current read began
 * (a clock read per chunk) and sleeps until that read would be overdue; a read that came back
 * in time just moves the deadline. It runs on the platform's clock, so a simulated clock still
 * decides when a stalled read is given up, and it counts only the time spent waiting for
 * the network: a slow disk write between reads is not idleness.
 *
 * @module
 */

import { NetworkError } from "../errors.ts";
import type { Platform } from "../ports.ts";

/** Watches the reads of one body; see the module documentation. */
export class IdleWatchdog {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #idleMs: number;
  readonly #platform: Platform;
  readonly #stop = new AbortController();
  #reading = false;
  #readSince = 0;
  #expired: NetworkError | undefined;

  /** Start watching `reader`: a read pending for `idleMs` cancels it. Call {@link IdleWatchdog.stop} when done. */
  constructor(reader: ReadableStreamDefaultReader<Uint8Array>, idleMs: number, platform: Platform) {
    this.#reader = reader;
    this.#idleMs = idleMs;
    this.#platform = platform;
    void this.#watch();
  }

  /**
   * The next chunk, or a {@link NetworkError} when none came for the idle time (the reader is
   * cancelled then, which ends the pending read).
   */
  async read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (this.#expired) throw this.#expired;
    this.#readSince = this.#platform.now();
    this.#reading = true;
    try {
      const result = await this.#reader.read();
      if (this.#expired) throw this.#expired;
      return result;
    } finally {
      this.#reading = false;
    }
  }

  /** End the timer (idempotent). */
  stop(): void {
    this.#stop.abort();
  }

  async #watch(): Promise<void> {
    let wait = this.#idleMs;
    for (;;) {
      try {
        await this.#platform.timeout(wait, this.#stop.signal);
      } catch {
        return; // stopped
      }
      if (!this.#reading) {
        wait = this.#idleMs;
        continue;
      }
      const idle = this.#platform.now() - this.#readSince;
      if (idle < this.#idleMs) {
        wait = this.#idleMs - idle;
        continue;
      }
      this.#expired = new NetworkError(`no data received for ${Math.round(this.#idleMs / 1000)} s`);
      // Cancelling ends the pending read with `done`, which `read` turns into the error.
      await this.#reader.cancel(this.#expired).catch(() => {});
      return;
    }
  }
}
