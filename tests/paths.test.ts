import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { dirname, joinPath, normalizePath, symlinkTargetPath } from "../src/core/fs/paths.ts";

describe("symlinkTargetPath", () => {
  const general = (link: string, target: string): string =>
    normalizePath(target.startsWith("/") ? target : joinPath(dirname(link), target));

  test("a snapshot pointer leads to its repo's blobs/ folder", () => {
    const link = "/root/.cache/huggingface/hub/models--a--b/snapshots/0123/onnx/model.onnx";
    assert.equal(symlinkTargetPath(link, "../../../blobs/e3b0"), "/root/.cache/huggingface/hub/models--a--b/blobs/e3b0");
    assert.equal(symlinkTargetPath("/c/r/snapshots/0123/config.json", "../../blobs/e3b0"), "/c/r/blobs/e3b0");
  });

  test("agrees with normalising the joined path, for every shape of link and target", () => {
    // Seeded, so a failure names the same pair every run.
    let seed = 12345;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const segments = ["a", "bb", ".", "..", "", ".hidden", "blobs", "x.y", "..."];
    const path = (parts: number): string => Array.from({ length: parts }, () => segments[next(segments.length)]).join("/");
    for (let i = 0; i < 20_000; i++) {
      const link = "/" + path(1 + next(6)) + (next(8) === 0 ? "/" : "");
      const target = (next(6) === 0 ? "/" : "") + "../".repeat(next(5)) + path(next(4));
      assert.equal(symlinkTargetPath(link, target), general(link, target), JSON.stringify({ link, target }));
    }
  });
});
