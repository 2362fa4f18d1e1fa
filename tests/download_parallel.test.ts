/**
 * One file over several ranged connections (`docs/DESIGN.md §Parallel ranges`), in process,
 * against every kind of CDN the emulator plays and the network faults a single connection can
 * meet. Each test judges the bytes (the blob is exact, nothing with holes is kept as a prefix)
 * and the requests the CDN saw (bounded ranges, each byte asked once unless a connection failed,
 * never `If-Range`, never the token on the CDN host).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { downloadSnapshot } from "../src/core/download/snapshot.ts";
import { AbortedError, InvalidInputError, NetworkError } from "../src/core/errors.ts";
import { chunkBytesFor } from "../src/core/download/transfer.ts";
import type { RecordedRequest } from "../src/testing/mod.ts";
import { bytes, type HubFixture, listDir, randomBetween, readBytes, sameBytes, startHub } from "./_support/hub.ts";
import { CDN_VARIANTS } from "./_support/cdn_variants.ts";

const MiB = 1024 * 1024;
const SIZE = 40 * MiB + 123_457;
const CHUNK = chunkBytesFor(SIZE, 4); // about four ranges per connection, the last one short
const CHUNKS = Math.ceil(SIZE / CHUNK);


/** `[start, end]` of a `bytes=a-b` request; `undefined` for anything else. */
function bounds(r: RecordedRequest): [number, number] | undefined {
  const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? "");
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const cdnGets = (fx: HubFixture): RecordedRequest[] => fx.hub.requests.filter((r) => r.cdn && r.method === "GET");
const trail = (gets: RecordedRequest[]): string => gets.map((r) => `${r.range ?? "full"}→${r.status}:${r.bytesSent}`).join(", ");

/**
 * What the CDN's answers say about how the file was fetched: each request is either a fresh chunk
 * (at a chunk boundary, one chunk long, asked once) or the rest of an earlier request with the
 * same end that failed or was re-issued — starting no earlier than that request's start and no
 * later than what it sent (the written bytes are kept). Returns the problems, the fresh chunks,
 * the rests, and whether the 206s cover the whole file.
 */
function audit(gets: RecordedRequest[], size: number): { problems: string[]; fresh: number; rests: number; covered: boolean } {
  const problems: string[] = [];
  let fresh = 0;
  let rests = 0;
  const seen: RecordedRequest[] = [];
  for (const r of gets) {
    const b = bounds(r);
    if (b === undefined) {
      problems.push(`not a bounded range: ${r.range ?? "full"}`);
      continue;
    }
    const earlier = seen.filter((p) => bounds(p)![1] === b[1]);
    if (earlier.length === 0) {
      fresh++;
      if (b[0] % CHUNK !== 0 || b[1] !== Math.min(size, b[0] + CHUNK) - 1) problems.push(`not a chunk: ${r.range}`);
    } else {
      rests++;
      const prev = earlier.at(-1)!;
      const from = bounds(prev)![0];
      if (prev.status === 206 && (b[0] < from || b[0] > from + prev.bytesSent)) problems.push(`${r.range} does not continue ${prev.range} (sent ${prev.bytesSent})`);
    }
    seen.push(r);
  }
  const spans = gets.filter((r) => r.status === 206).map(bounds).filter((b): b is [number, number] => b !== undefined)
    .sort((a, b) => a[0] - b[0]);
  let next = 0;
  for (const [start, end] of spans) if (start <= next) next = Math.max(next, end + 1);
  return { problems, fresh, rests, covered: next === size };
}

for (const variant of CDN_VARIANTS) {
  describe(`parallel ranges through a CDN with ${variant.name}`, () => {
    const data = bytes(SIZE, 41);
    let fx: HubFixture;
    before(async () => {
      fx = await startHub({ cdn: variant.cdn });
      fx.hub.createRepo("org/par").commit({ "model.bin": data });
    });
    after(() => fx.close());

    test("4 connections: the blob is exact, progress only grows, and the CDN saw what it should", async () => {
      const seen: number[] = [];
      const path = await downloadFile({
        ...fx.base, repo: "org/par", path: "model.bin", connections: 4,
        onProgress: (p) => p.phase !== "cached" && seen.push(p.bytesDone),
      });
      assert.ok(sameBytes(await readBytes(path), data), "the blob is exact");
      assert.deepEqual(await listDir(join(fx.cacheDir, "models--org--par", "blobs")), [fx.hub.repo("org/par").fileInfo("model.bin").sha256]);
      assert.ok(seen.every((n, i) => i === 0 || n >= seen[i - 1]), "progress never goes back");
      assert.equal(seen.at(-1), SIZE);
      const gets = cdnGets(fx);
      assert.ok(gets.every((r) => r.ifRange === undefined && !r.authorization), `no If-Range, no token on the CDN host: ${trail(gets)}`);
      if (variant.cdn.ranges === false) {
        // The first answer (200 to a range) sends the download back to one stream.
        assert.equal(gets.at(-1)!.status, 200, trail(gets));
        assert.ok(gets.length <= 2, `one probe, then one stream: ${trail(gets)}`);
        return;
      }
      assert.ok(gets.every((r) => r.status === 206), `every answer is a 206: ${trail(gets)}`);
      // On a loaded machine a crawling connection may be re-issued: its rest continues where it got to.
      const { problems, fresh, covered } = audit(gets, SIZE);
      assert.deepEqual(problems, [], trail(gets));
      assert.equal(fresh, CHUNKS, `each chunk asked once: ${trail(gets)}`);
      assert.ok(covered, trail(gets));
    });
  });
}

describe("parallel ranges and single-connection faults", () => {
  const data = bytes(SIZE, 43);
  let fx: HubFixture;
  let etag: string;
  let blobs: string;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/f").commit({ "model.bin": data });
    etag = fx.hub.repo("org/f").fileInfo("model.bin").sha256;
    blobs = join(fx.cacheDir, "models--org--f", "blobs");
  });
  after(() => fx.close());
  const reset = async (): Promise<void> => {
    await fsp.rm(join(fx.cacheDir, "models--org--f"), { recursive: true, force: true });
    fx.hub.clearRequests();
  };
  const get = (): Promise<string> => downloadFile({ ...fx.base, repo: "org/f", path: "model.bin", connections: 4 });

  test("a connection dropped mid-range is resumed from where its bytes end; nothing else is asked twice", async () => {
    await reset();
    const dropAfter = randomBetween(1, CHUNK - 1);
    fx.hub.injectFault({ kind: "drop", afterBytes: dropAfter, match: { cdn: true, method: "GET" } });
    assert.ok(sameBytes(await readBytes(await get()), data), "the blob is exact");
    assert.equal(fx.hub.pendingFaults, 0, "the drop happened");
    const gets = cdnGets(fx);
    const { problems, fresh, rests, covered } = audit(gets, SIZE);
    assert.deepEqual(problems, [], trail(gets));
    assert.ok(covered && fresh === CHUNKS && rests >= 1, trail(gets));
    const dropped = gets.find((r) => r.bytesSent === dropAfter)!;
    const rest = gets.find((r) => r !== dropped && bounds(r)![1] === bounds(dropped)![1])!;
    // Everything but the last write buffer's worth before the drop is kept.
    assert.ok(bounds(rest)![0] >= bounds(dropped)![0] + dropAfter - 1 * MiB, `kept the written bytes: ${trail(gets)}`);
  });

  test("a connection that stalls for good is re-issued while the others wait, long before any idle timeout", async () => {
    await reset();
    // Without the re-issue this download would wait for the 10-minute idle timeout.
    fx.hub.injectFault({ kind: "stall", afterBytes: randomBetween(0, CHUNK - 1), ms: 600_000, match: { cdn: true, method: "GET" } });
    const path = await downloadFile({ ...fx.base, repo: "org/f", path: "model.bin", connections: 4, idleTimeoutMs: 600_000 });
    assert.ok(sameBytes(await readBytes(path), data), "the blob is exact");
    const gets = cdnGets(fx);
    const { problems, fresh, rests, covered } = audit(gets, SIZE);
    assert.deepEqual(problems, [], trail(gets));
    assert.ok(covered && fresh === CHUNKS && rests >= 1, `every chunk and the stalled one's rest: ${trail(gets)}`);
  });

  test("a 503 with Retry-After is waited out and the download still goes over ranges", async () => {
    await reset();
    fx.hub.injectFault({ kind: "status", status: 503, retryAfter: 1, times: 2, match: { cdn: true, method: "GET" } });
    assert.ok(sameBytes(await readBytes(await get()), data));
    const gets = cdnGets(fx);
    assert.equal(gets.filter((r) => r.status === 503).length, 2, trail(gets));
    const { problems, fresh, covered } = audit(gets, SIZE);
    assert.deepEqual(problems, [], trail(gets));
    assert.ok(covered && fresh === CHUNKS, trail(gets));
  });

  test("a corrupted byte in one range fails verification; the retry from zero publishes exact bytes", async () => {
    await reset();
    fx.hub.injectFault({ kind: "corrupt", offset: randomBetween(0, SIZE), match: { cdn: true, method: "GET" } });
    assert.ok(sameBytes(await readBytes(await get()), data));
    assert.deepEqual(await listDir(blobs), [etag]);
  });

  test("a wrong Content-Range on one range sends the download back to one stream, from the contiguous prefix", async () => {
    await reset();
    fx.hub.injectFault({ kind: "wrongContentRange", match: { cdn: true, method: "GET" } });
    assert.ok(sameBytes(await readBytes(await get()), data));
    const gets = cdnGets(fx);
    const last = gets.at(-1)!;
    assert.match(last.range ?? "bytes=0-", /^bytes=\d+-$/, `the last request is one open-ended stream: ${trail(gets)}`);
  });

  test("aborted mid-way: the partial is exactly the contiguous prefix (no holes), and the next run starts there", async () => {
    await reset();
    const controller = new AbortController();
    const abortAt = randomBetween(SIZE * 0.2, SIZE * 0.7);
    const err = await downloadFile({
      ...fx.base, repo: "org/f", path: "model.bin", connections: 4, signal: controller.signal,
      onProgress: (p) => p.bytesDone >= abortAt && controller.abort(),
    }).catch((e) => e);
    assert.ok(err instanceof AbortedError, String(err));
    const names = await listDir(blobs);
    assert.deepEqual(names, [`${etag}.partial`]);
    const partial = await readBytes(join(blobs, names[0]));
    assert.ok(partial.length > 0 && partial.length < SIZE, `the partial holds ${partial.length}`);
    assert.ok(sameBytes(partial, data.subarray(0, partial.length)), "the partial is a prefix of the content");
    fx.hub.clearRequests();
    assert.ok(sameBytes(await readBytes(await get()), data));
    const starts = cdnGets(fx).map((r) => bounds(r)?.[0] ?? -1);
    assert.equal(Math.min(...starts), partial.length, `the resume starts at the partial: ${trail(cdnGets(fx))}`);
  });

  test("a CDN that fails every request once the download is under way ends in a NetworkError (no hang), its prefix kept", async () => {
    await reset();
    let armed = false;
    const err = await downloadFile({
      ...fx.base, repo: "org/f", path: "model.bin", connections: 4, maxAttempts: 2,
      onProgress: (p) => {
        if (!armed && p.bytesDone > 0) {
          armed = true;
          fx.hub.injectFault({ kind: "status", status: 503, retryAfter: 0, times: 1000, match: { cdn: true, method: "GET" } });
        }
      },
    }).catch((e) => e);
    fx.hub.clearFaults();
    assert.ok(err instanceof NetworkError, String(err));
    const names = await listDir(blobs);
    assert.ok(names.every((n) => n === `${etag}.partial`), `only a released partial is left: ${names}`);
    if (names.length === 1) {
      const partial = await readBytes(join(blobs, names[0]));
      assert.ok(sameBytes(partial, data.subarray(0, partial.length)), "the partial is a prefix of the content");
    }
  });

  test("connections outside 1…64 are refused before anything is fetched", async () => {
    await reset();
    for (const connections of [0, 65, 1.5]) {
      await assert.rejects(downloadFile({ ...fx.base, repo: "org/f", path: "model.bin", connections }), InvalidInputError);
    }
    assert.equal(cdnGets(fx).length, 0);
  });
});

describe("a snapshot's connection budget", () => {
  let fx: HubFixture;
  const big = bytes(SIZE, 47);
  before(async () => {
    fx = await startHub();
    const files: Record<string, Uint8Array> = { "big.bin": big };
    for (let i = 0; i < 6; i++) files[`shard-${i}.bin`] = bytes(200_000 + i, 50 + i);
    fx.hub.createRepo("org/snap").commit(files, { lfs: Object.keys(files) });
  });
  after(() => fx.close());

  test("files in flight and the ranges of a large file share one budget: never more connections open than it allows", async () => {
    let open = 0;
    let most = 0;
    // Counts a connection from the request until its body is done or cancelled.
    const counting: typeof fetch = async (input, init) => {
      open++;
      most = Math.max(most, open);
      let closed = false;
      const close = (): void => {
        if (!closed) (closed = true, open--);
      };
      let res: Response;
      try {
        res = await fetch(input, init);
      } catch (err) {
        close();
        throw err;
      }
      if (!res.body) {
        close();
        return res;
      }
      const reader = res.body.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            const { value, done } = await reader.read();
            if (done) {
              close();
              controller.close();
            } else controller.enqueue(value);
          } catch (err) {
            close();
            controller.error(err);
          }
        },
        cancel(reason) {
          close();
          return reader.cancel(reason);
        },
      });
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    };
    const dir = await downloadSnapshot({ ...fx.base, repo: "org/snap", concurrency: 2, connections: 4, fetch: counting });
    assert.ok(sameBytes(await readBytes(join(dir, "big.bin")), big), "the large file is exact");
    assert.ok(most <= 4, `at most max(concurrency, connections) = 4 connections open at once, saw ${most}`);
    const ranged = fx.hub.requests.filter((r) => r.cdn && r.method === "GET" && /^bytes=\d+-\d+$/.test(r.range ?? ""));
    assert.ok(ranged.length >= CHUNKS, `the large file still went over ranges: ${trail(ranged)}`);
    assert.ok(most >= 3, `the large file used the slots the small files gave back (most open at once: ${most})`);
  });
});

describe("a snapshot's connection budget when the CDN dies", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/dead").commit({ "a.bin": bytes(SIZE, 61), "b.bin": bytes(SIZE, 62) }, { lfs: ["a.bin", "b.bin"] });
  });
  after(() => fx.close());

  test("two large files whose extra ranges wait for slots end in SnapshotIncomplete, not a hang", async () => {
    let armed = false;
    const err = await downloadSnapshot({
      ...fx.base, repo: "org/dead", concurrency: 2, connections: 3, maxAttempts: 2,
      onProgress: (p) => {
        if (!armed && p.bytesDone > 0) {
          armed = true;
          fx.hub.injectFault({ kind: "status", status: 503, retryAfter: 0, times: 10_000, match: { cdn: true, method: "GET" } });
        }
      },
    }).catch((e) => e);
    fx.hub.clearFaults();
    assert.equal(err?.code, "SnapshotIncomplete", String(err));
  });
});
