/**
 * Parallel ranges survive their process dying at a random instant (`docs/DESIGN.md §Parallel
 * ranges`). A CLI process on one runtime downloads over 4 throttled connections and gets SIGKILL
 * (or SIGINT) at a random moment; a CLI process on the next runtime claims what it left and
 * finishes. Judged, round by round:
 *
 * - the blob is exact and no temp file is left;
 * - after SIGKILL the killed file's record never claims a byte that is not the content's, and the
 *   next run asks for nothing below it: its first byte requested is exactly the recorded prefix;
 * - what the killed process asked for beyond that point — the bytes a kill can cost — is at most
 *   connections × chunk (judged from the ranges requested, not from the
 *   bytes the CDN pushed into the kernel's socket buffers, which the dead process never read);
 * - after SIGINT the released `.partial` is a plain prefix of the content (no holes) and the next
 *   run starts exactly at its end.
 *
 * Rounds are divided among the host runtimes `npm test` runs together (`hostShare()`).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { chunkBytesFor } from "../src/core/download/transfer.ts";
import { PREFIX_RECORD_BYTES, readPrefixRecord } from "../src/core/download/prefix_record.ts";
import type { RecordedRequest } from "../src/testing/mod.ts";
import { finished, RUNTIMES, spawnCli } from "./_support/cli.ts";
import { bytes, type HubFixture, listDir, randomBetween, readBytes, sameBytes, startHub, TOKEN, waitFor } from "./_support/hub.ts";
import { hostShare, testRuntime } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

const CONNECTIONS = 4;
const SIZE = 96 * 1024 * 1024 + 777; // several records before the end
const CHUNK = chunkBytesFor(SIZE, CONNECTIONS);
const RATE = 16_000_000; // per connection: ~1.5 s for the file over 4 connections
const BOUND = CONNECTIONS * CHUNK;

const ROUNDS = Array.from({ length: 6 }, (_, i) => ({
  i,
  killed: RUNTIMES[i % RUNTIMES.length],
  next: RUNTIMES[(i + 1) % RUNTIMES.length],
  signal: (i % 2 === 0 ? "SIGKILL" : "SIGINT") as "SIGKILL" | "SIGINT",
}));
const share = hostShare();
const mine = ROUNDS.filter((r) => share === undefined || r.i % share.of === share.index);

function bounds(r: RecordedRequest): [number, number] | undefined {
  const m = /^bytes=(\d+)-(\d+)?$/.exec(r.range ?? "");
  return m ? [Number(m[1]), m[2] === undefined ? SIZE - 1 : Number(m[2])] : undefined;
}
const trail = (gets: RecordedRequest[]): string => gets.map((r) => `${r.range ?? "full"}→${r.status}:${r.bytesSent}`).join(", ");

describe(`parallel ranges (${CONNECTIONS} connections) killed at random instants, finished by another runtime`, () => {
  const data = bytes(SIZE, 59);
  let fx: HubFixture;
  let etag: string;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/kill").commit({ "model.bin": data });
    etag = fx.hub.repo("org/kill").fileInfo("model.bin").sha256;
  });
  after(() => fx.close());

  for (const round of mine) {
    test(`round ${round.i}: ${round.signal} to ${round.killed}, finished by ${round.next}`, async () => {
      const cache = await makeTempDir("hubcache-parkill-");
      try {
        const blobs = join(cache, "models--org--kill", "blobs");
        const args = [
          "download", "org/kill", "model.bin", "--endpoint", fx.hub.endpoint, "--cache-dir", cache, "--token", TOKEN,
          "--quiet", "--connections", String(CONNECTIONS),
        ];
        fx.hub.clearRequests();
        fx.hub.throttle(RATE);
        // Half the rounds hold the first range back for a while, as a slow CDN node would: the
        // other connections must not run ahead of the durable prefix by more than the bound.
        const stall = round.i % 4 === 0 ? { afterBytes: randomBetween(0, CHUNK), ms: 2500 } : undefined;
        if (stall) fx.hub.injectFault({ kind: "stall", ...stall, match: { cdn: true, method: "GET" } });
        const child = spawnCli(round.killed, args);
        const exited = finished(child);
        const delay = randomBetween(0, stall ? 2600 : 1400);
        const story = `round ${round.i}: ${round.signal} ${delay} ms after the first byte was asked` +
          (stall ? ` (the first range stalled ${stall.ms} ms after ${stall.afterBytes} bytes)` : "");
        try {
          await waitFor(() => fx.hub.requests.some((r) => r.cdn && r.method === "GET"), 60_000, "the first ranged request");
          await new Promise((r) => setTimeout(r, delay));
        } finally {
          // process.kill, not child.kill: Deno's ChildProcess reports a signal it sent itself.
          try {
            process.kill(child.pid!, round.signal);
          } catch { /* it finished first: judged below */ }
        }
        const ended = await exited;
        fx.hub.throttle(null);
        fx.hub.clearFaults();
        const killedGets = fx.hub.requests.filter((r) => r.cdn && r.method === "GET");
        const names = await listDir(blobs);
        if (ended.code === 0) {
          // The download won the race against the signal: nothing to resume, the blob must be exact.
          assert.ok(sameBytes(await readBytes(join(blobs, etag)), data), story);
          return;
        }

        let expectedStart: number;
        if (round.signal === "SIGKILL") {
          assert.equal(ended.signal, "SIGKILL", story);
          const temp = names.find((n) => n.endsWith(".incomplete"));
          assert.ok(temp !== undefined, `${story}: the killed writer's temp file is left (${names})`);
          const handle = await testRuntime().fs.openRead(join(blobs, temp));
          const size = await handle.size();
          const recorded = size === SIZE + PREFIX_RECORD_BYTES ? await readPrefixRecord(handle, SIZE) : null;
          await handle.close();
          // A file no longer than the content is a prefix (killed before its first out-of-order byte).
          expectedStart = recorded ?? (size <= SIZE ? size : 0);
          const onDisk = await readBytes(join(blobs, temp));
          assert.ok(sameBytes(onDisk.subarray(0, expectedStart), data.subarray(0, expectedStart)), `${story}: the recorded ${expectedStart} bytes are the content's`);
        } else {
          assert.equal(ended.code, 130, `${story}: ${ended.stderr}`);
          const partial = names.find((n) => n.endsWith(".partial"));
          if (partial === undefined) {
            // Interrupted before a byte was kept: nothing to resume.
            assert.deepEqual(names.filter((n) => n.includes(".")), [], story);
            expectedStart = 0;
          } else {
            const kept = await readBytes(join(blobs, partial));
            assert.ok(kept.length < SIZE && sameBytes(kept, data.subarray(0, kept.length)), `${story}: the partial is a prefix of the content (${kept.length} bytes)`);
            expectedStart = kept.length;
          }
        }

        fx.hub.clearRequests();
        const second = await finished(spawnCli(round.next, args));
        assert.equal(second.code, 0, `${story}: ${second.stderr}`);
        assert.deepEqual(await listDir(blobs), [etag], `${story}: one blob, no temp file`);
        assert.ok(sameBytes(await readBytes(join(blobs, etag)), data), `${story}: the blob is exact`);

        const resumed = fx.hub.requests.filter((r) => r.cdn && r.method === "GET");
        const starts = resumed.map((r) => bounds(r)?.[0] ?? 0);
        assert.equal(Math.min(...starts), expectedStart, `${story}: the resume starts at the durable prefix (${trail(resumed)})`);
        const asked = Math.max(...killedGets.map((r) => (bounds(r)?.[1] ?? SIZE - 1) + 1));
        assert.ok(asked - expectedStart <= BOUND,
          `${story}: the killed process asked up to ${asked}, ${asked - expectedStart} past the resume point (bound ${BOUND}): ${trail(killedGets)}`);
      } finally {
        fx.hub.throttle(null);
        await removeTempDir(cache);
      }
    });
  }
});
