/**
 * The prefix record of a parallel download's temp file (`docs/DESIGN.md §Parallel ranges`): what a
 * claimer may trust of a file it did not write. A file with holes is never read as a prefix.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryFileSystem } from "../src/adapters/memory/mod.ts";
import { PREFIX_RECORD_BYTES, readPrefixRecord, resumablePrefix, startPrefixRecord } from "../src/core/download/prefix_record.ts";

const SIZE = 10_000;

async function fileWith(fs: MemoryFileSystem, content: Uint8Array): Promise<ReturnType<MemoryFileSystem["openReadWrite"]>> {
  const name = `/c/f${Math.random()}`;
  await (await fs.createExclusive(name)).close();
  const handle = await fs.openReadWrite(name);
  if (content.length > 0) await handle.write(content, 0);
  return handle;
}

describe("prefix record", () => {
  test("a parallel file: its recorded prefix is trusted, the holes and the trailer are cut off", async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp("/c");
    const file = await fileWith(fs, new Uint8Array(0));
    const recorder = await startPrefixRecord(file, SIZE, 0);
    assert.equal(await file.size(), SIZE + PREFIX_RECORD_BYTES, "the trailer marks the file as parallel at once");
    await file.write(new Uint8Array(3000).fill(7), 0);
    await file.write(new Uint8Array(2000).fill(9), 6000); // ahead of the prefix: a hole at 3000…6000
    await recorder.record(1000);
    await recorder.record(3000);
    assert.equal(await readPrefixRecord(file, SIZE), 3000);
    assert.equal(await resumablePrefix(file, await file.size(), SIZE), 3000);
    assert.equal(await file.size(), 3000, "holes and trailer are gone before anyone hashes or appends");
  });

  test("a torn slot leaves the other one; two bad slots, a foreign size or a wrong length mean zero", async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp("/c");
    const file = await fileWith(fs, new Uint8Array(0));
    const recorder = await startPrefixRecord(file, SIZE, 0);
    await recorder.record(4000); // slot 0 (seq 2)
    await recorder.record(5000); // slot 1 (seq 3)
    await file.write(new Uint8Array([0xff]), SIZE + 32 + 20); // tear slot 1
    assert.equal(await readPrefixRecord(file, SIZE), 4000, "the older intact slot");
    await file.write(new Uint8Array([0xff]), SIZE + 3); // tear slot 0 as well
    assert.equal(await readPrefixRecord(file, SIZE), null);
    assert.equal(await resumablePrefix(file, await file.size(), SIZE), 0);
    assert.equal(await file.size(), 0);

    const other = await fileWith(fs, new Uint8Array(0));
    await (await startPrefixRecord(other, SIZE, 0)).record(4000);
    assert.equal(await readPrefixRecord(other, SIZE), 4000);
    assert.equal(await readPrefixRecord(other, SIZE - 1), null, "a record for another size is not ours");

    const longer = await fileWith(fs, new Uint8Array(SIZE + 5));
    assert.equal(await resumablePrefix(longer, SIZE + 5, SIZE), 0, "longer than the content without a record: worthless");
  });

  test("a sequential file (every older temp file) is its own prefix, untouched", async () => {
    const fs = new MemoryFileSystem();
    await fs.mkdirp("/c");
    const file = await fileWith(fs, new Uint8Array(2500).fill(1));
    assert.equal(await resumablePrefix(file, 2500, SIZE), 2500);
    assert.equal(await file.size(), 2500);
  });
});
