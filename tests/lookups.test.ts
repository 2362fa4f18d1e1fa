// The adaptive lookups (src/adapters/lookups.ts): synchronous while the file system answers from
// memory, asynchronous for good once lookups look like round trips — with the same answers and
// the same errors either way.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { adaptiveLookups, SLOW_LOOKUP_MS, SLOW_OF_LAST_32 } from "../src/adapters/lookups.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

/** A clock where every call to `fast()`/`slow()` decides how long the next synchronous lookup takes. */
function scriptedClock(slowCall: (i: number) => boolean): { now: () => number; reads: () => number } {
  let t = 0;
  let reads = 0;
  return {
    now: () => {
      reads++;
      // Reads come in pairs (before, after): the second of call i adds its duration.
      if (reads % 2 === 0) t += slowCall(reads / 2 - 1) ? SLOW_LOOKUP_MS * 5 : SLOW_LOOKUP_MS / 20;
      return t;
    },
    reads: () => reads,
  };
}

describe("adaptive lookups", () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir("hubcache-lookups-");
    await fsp.writeFile(join(dir, "blob"), "twelve bytes");
    await fsp.symlink("../x/blob", join(dir, "link"));
    await fsp.mkdir(join(dir, "sub"));
  });
  after(async () => {
    await removeTempDir(dir);
  });

  async function answers(lookups: ReturnType<typeof adaptiveLookups>): Promise<unknown> {
    const stat = await lookups.stat(join(dir, "blob"));
    const lstat = await lookups.lstat(join(dir, "link"));
    const typed = (await lookups.readdirTyped(dir)).map((d) => [d.name, d.isFile(), d.isDirectory(), d.isSymbolicLink()]).sort();
    const missing = await lookups.stat(join(dir, "none")).then(() => "found", (err) => err.code);
    const notLink = await lookups.readlink(join(dir, "blob")).then(() => "link", (err) => err.code);
    return {
      stat: [stat.size, stat.ino, stat.isFile()],
      lstat: [lstat.isSymbolicLink(), lstat.size],
      readlink: await lookups.readlink(join(dir, "link")),
      readdir: (await lookups.readdir(dir)).sort(),
      typed,
      missing,
      notLink,
    };
  }

  const expected = {
    stat: [12, undefined, true],
    lstat: [true, "../x/blob".length],
    readlink: "../x/blob",
    readdir: ["blob", "link", "sub"],
    typed: [["blob", true, false, false], ["link", false, false, true], ["sub", false, true, false]],
    missing: "ENOENT",
    notLink: "EINVAL",
  };

  test("fast lookups stay synchronous and answer as node:fs does", async () => {
    const clock = scriptedClock(() => false);
    const lookups = adaptiveLookups(SLOW_LOOKUP_MS, clock.now);
    for (let i = 0; i < 20; i++) {
      const got = (await answers(lookups)) as typeof expected;
      assert.equal(got.stat[1], (await fsp.stat(join(dir, "blob"))).ino);
      assert.deepEqual({ ...got, stat: [got.stat[0], undefined, got.stat[2]] }, expected);
    }
    assert.equal(lookups.synchronous, true);
    assert.equal(clock.reads(), 20 * 7 * 2, "every lookup was made synchronously and timed");
  });

  test("a slow lookup now and then (a busy machine) does not give the synchronous calls up", async () => {
    // One in eight slow: at most 4 of any 32, under the quarter that means round trips.
    const lookups = adaptiveLookups(SLOW_LOOKUP_MS, scriptedClock((i) => i % 8 === 0).now);
    for (let i = 0; i < 40; i++) await answers(lookups);
    assert.equal(lookups.synchronous, true);
  });

  test("lookups that are all slow (a network file system) go asynchronous after a quarter of 32, with the same answers", async () => {
    const clock = scriptedClock(() => true);
    const lookups = adaptiveLookups(SLOW_LOOKUP_MS, clock.now);
    for (let i = 0; i < SLOW_OF_LAST_32 - 1; i++) await lookups.stat(join(dir, "blob"));
    assert.equal(lookups.synchronous, true);
    await lookups.stat(join(dir, "blob"));
    assert.equal(lookups.synchronous, false);
    const reads = clock.reads();
    const got = (await answers(lookups)) as typeof expected;
    assert.deepEqual({ ...got, stat: [got.stat[0], undefined, got.stat[2]] }, expected);
    assert.equal(clock.reads(), reads, "no lookup was made synchronously after the switch");
  });
});
