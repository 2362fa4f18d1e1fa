/**
 * One connection budget for a snapshot download: files in flight and the extra ranges of a
 * large file draw on the same slots (`docs/DESIGN.md §Parallel ranges`), so eight files at once
 * do not open eight connections each, and a large file left alone at the end gets the slots
 * the finished files gave back.
 *
 * @module
 */

/** Slots for connections, shared by everything one snapshot download fetches. */
export class ConnectionBudget {
  readonly #total: number;
  #inUse = 0;

  /** `total`: the most connections open at once (at least 1). */
  constructor(total: number) {
    this.#total = Math.max(1, total);
  }

  /** A file's first connection: always granted (the snapshot's concurrency already caps files). */
  claim(): void {
    this.#inUse++;
  }

  /** An extra range connection: granted only while the budget has a free slot. */
  tryTake(): boolean {
    if (this.#inUse >= this.#total) return false;
    this.#inUse++;
    return true;
  }

  /** Give back a slot taken with {@link claim} or {@link tryTake}. */
  give(): void {
    this.#inUse = Math.max(0, this.#inUse - 1);
  }

  /** Slots in use now (for tests and diagnostics). */
  get inUse(): number {
    return this.#inUse;
  }
}
