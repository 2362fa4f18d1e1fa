/**
 * The idle watchdog of a response body (`docs/DESIGN.md §Runtimes`): one timer per body, yet a
 * read is given up exactly when it has waited the idle time — not earlier because an earlier
 * read was slow, not later because the timer was armed before the read began — and time spent
 * between reads (a slow disk write) is not idleness. A simulated clock decides.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryClock, memoryRuntime } from "../src/adapters/memory/mod.ts";
import { IdleWatchdog } from "../src/core/download/idle_watchdog.ts";
import { NetworkError } from "../src/core/errors.ts";

const IDLE = 1_000;

/** A body whose chunks the test hands out one by one, and which records whether it was cancelled. */
function controlledBody(): { stream: ReadableStream<Uint8Array>; push(n: number): void; cancelled: () => unknown } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let reason: unknown;
  const stream = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    cancel: (r) => void (reason = r ?? "cancelled"),
  }, { highWaterMark: 0 });
  return { stream, push: (n) => controller.enqueue(new Uint8Array(n)), cancelled: () => reason };
}

/** Let promise callbacks run (the clock only resolves timers; their continuations need turns). */
const turns = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
};

/** A promise's outcome so far: "pending", "chunk", or what it rejected with. */
function track(p: Promise<unknown>): { outcome(): unknown } {
  let outcome: unknown = "pending";
  p.then(() => (outcome = "chunk"), (err) => (outcome = err));
  return { outcome: () => outcome };
}

function setup(): { clock: MemoryClock; body: ReturnType<typeof controlledBody>; watchdog: IdleWatchdog } {
  const clock = new MemoryClock({ timers: "manual" });
  const rt = memoryRuntime({ clock });
  const body = controlledBody();
  const watchdog = new IdleWatchdog(body.stream.getReader(), IDLE, rt.platform);
  return { clock, body, watchdog };
}

describe("idle watchdog", () => {
  test("a read pending for the idle time is given up with a NetworkError and the body cancelled; not a moment before", async () => {
    const { clock, body, watchdog } = setup();
    const read = track(watchdog.read());
    clock.advance(IDLE - 1);
    await turns();
    assert.equal(read.outcome(), "pending", "one ms short of the idle time the read still waits");
    clock.advance(1);
    await turns();
    assert.ok(read.outcome() instanceof NetworkError, `given up: ${String(read.outcome())}`);
    assert.ok(body.cancelled() instanceof NetworkError, "the body was cancelled, so the connection goes");
    await assert.rejects(watchdog.read(), NetworkError, "an expired watchdog fails every later read");
  });

  test("each read gets the whole idle time from when it began, although one timer serves them all", async () => {
    const { clock, body, watchdog } = setup();
    // Reads that each take 0.9 × the idle time: together far beyond it, none of them idle.
    for (let i = 0; i < 5; i++) {
      const read = watchdog.read();
      clock.advance(IDLE * 0.9);
      await turns();
      body.push(10);
      assert.equal((await read).value?.length, 10, `read ${i} came back in time`);
    }
    // The next read stalls: given up exactly IDLE after it began, not at the timer's next tick.
    const read = track(watchdog.read());
    clock.advance(IDLE - 1);
    await turns();
    assert.equal(read.outcome(), "pending");
    clock.advance(1);
    await turns();
    assert.ok(read.outcome() instanceof NetworkError, `given up: ${String(read.outcome())}`);
    watchdog.stop();
  });

  test("time between reads (a slow disk write) is not idleness", async () => {
    const { clock, body, watchdog } = setup();
    body.push(10);
    await watchdog.read();
    clock.advance(IDLE * 5); // no read pending: the caller is busy elsewhere
    await turns();
    const read = watchdog.read();
    clock.advance(IDLE / 2);
    await turns();
    body.push(10);
    assert.equal((await read).value?.length, 10);
    assert.equal(body.cancelled(), undefined, "never cancelled");
    watchdog.stop();
  });

  test("stop ends the timer: a stopped watchdog never gives a read up", async () => {
    const { clock, body, watchdog } = setup();
    const read = track(watchdog.read());
    watchdog.stop();
    clock.advance(IDLE * 10);
    await turns();
    assert.equal(read.outcome(), "pending");
    assert.equal(body.cancelled(), undefined, "a stopped watchdog never cancels");
    body.push(1);
    await turns();
    assert.equal(read.outcome(), "chunk");
  });
});
