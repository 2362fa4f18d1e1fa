import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { symlinksSupported } from "../src/core/cache/pointers.ts";
import { repoLayout } from "../src/core/cache/layout.ts";
import { TRANSIENT_RETRY_PAUSES_MS } from "../src/core/defaults.ts";
import { FsError } from "../src/core/ports.ts";
import { bytes, type HubFixture, listDir, readBytes, sameBytes, startHub, TOKEN } from "./_support/hub.ts";

describe("symlink fallback (hf-hub PR #172)", () => {
  let fx: HubFixture;
  let commit: string;
  before(async () => {
    fx = await startHub();
    commit = fx.hub.createRepo("org/nolink").commit({
      "fresh.bin": bytes(400_000, 41),
      "shared.bin": bytes(300_000, 42),
      "pre.bin": bytes(200_000, 43),
      "env.bin": bytes(100_000, 44),
      "sub/dir/nested.bin": bytes(50_000, 45),
    });
  });
  after(() => fx.close());
  const repoDir = (): string => join(fx.cacheDir, "models--org--nolink");
  const info = (p: string) => fx.hub.repo("org/nolink").fileInfo(p);

  test("a fresh download is moved into the snapshot: a regular file, stored once (no blob copy)", async () => {
    const path = await downloadFile({ ...fx.base, repo: "org/nolink", path: "fresh.bin", symlinks: "never" });
    const st = await fsp.lstat(path);
    assert.equal(st.isFile(), true);
    assert.ok(sameBytes(await readBytes(path), bytes(400_000, 41)));
    assert.ok(!(await listDir(join(repoDir(), "blobs"))).includes(info("fresh.bin").sha256));
    const nested = await downloadFile({ ...fx.base, repo: "org/nolink", path: "sub/dir/nested.bin", symlinks: "never" });
    assert.equal((await fsp.lstat(nested)).isFile(), true);
  });

  test("an existing blob is placed by reflink, else hard link, else copy: stored once, and the blob stays", async () => {
    const linked = await downloadFile({ ...fx.base, repo: "org/nolink", path: "shared.bin" });
    assert.equal((await fsp.lstat(linked)).isSymbolicLink(), true);
    await fsp.unlink(linked);
    const copied = await downloadFile({ ...fx.base, repo: "org/nolink", path: "shared.bin", symlinks: "never" });
    assert.equal((await fsp.lstat(copied)).isFile(), true);
    const blob = join(repoDir(), "blobs", info("shared.bin").sha256);
    assert.ok(sameBytes(await readBytes(blob), bytes(300_000, 42)));
    assert.ok(sameBytes(await readBytes(copied), bytes(300_000, 42)));
    // Where the file system can reflink (XFS, Btrfs) the snapshot file is a separate inode
    // sharing the blob's extents; elsewhere (ext4, overlayfs, tmpfs) it is the blob's inode.
    const probe = join(repoDir(), "reflink-probe");
    const reflinks = spawnSync("cp", ["--reflink=always", blob, probe]).status === 0;
    await fsp.rm(probe, { force: true });
    if (reflinks) assert.notEqual((await fsp.stat(blob)).ino, (await fsp.stat(copied)).ino);
    else assert.equal((await fsp.stat(blob)).ino, (await fsp.stat(copied)).ino, "a hard link, not a second copy");
  });

  test("a regular snapshot file already in place is reused without downloading again", async () => {
    await downloadFile({ ...fx.base, repo: "org/nolink", path: "pre.bin", symlinks: "never" });
    fx.hub.clearRequests();
    const again = await downloadFile({ ...fx.base, repo: "org/nolink", path: "pre.bin" });
    assert.deepEqual(fx.hub.requests.map((r) => r.method), ["HEAD"]);
    assert.equal((await fsp.lstat(again)).isFile(), true);
  });

  test("HF_HUB_DISABLE_SYMLINKS=1 in the environment means no symlinks", async () => {
    const runtime = {
      ...fx.runtime,
      platform: { ...fx.runtime.platform, env: (n: string) => (n === "HF_HUB_DISABLE_SYMLINKS" ? "1" : fx.runtime.platform.env(n)) },
    };
    const path = await downloadFile({ ...fx.base, runtime, repo: "org/nolink", path: "env.bin" });
    assert.equal((await fsp.lstat(path)).isFile(), true);
    assert.equal(path, join(repoDir(), "snapshots", commit, "env.bin"));
  });

  test("concurrent pointer creation that finds the right target in place is success", async () => {
    fx.hub.repo("org/nolink").commit({ "race.bin": bytes(150_000, 46) });
    const paths = await Promise.all(Array.from({ length: 6 }, () =>
      downloadFile({ ...fx.base, repo: "org/nolink", path: "race.bin", lock: "none" })
    ));
    assert.equal(new Set(paths).size, 1);
    assert.equal((await fsp.lstat(paths[0])).isSymbolicLink(), true);
    assert.ok(sameBytes(await readBytes(paths[0]), bytes(150_000, 46)));
    assert.deepEqual((await listDir(join(repoDir(), "blobs"))).filter((n) => n.includes(".")), []);
  });
});

describe("a file system that refuses symlinks (memory adapter)", () => {
  let fx: HubFixture;
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/mem").commit({ "a.bin": bytes(120_000, 51), "b.txt": "bee" });
  });
  after(() => fx.close());

  test("auto mode detects the refusal and stores files in the snapshot", async () => {
    const runtime = memoryRuntime({ timers: "real" });
    runtime.fs.symlinksSupported = false;
    const common = { runtime, cacheDir: "/cache", endpoint: fx.hub.endpoint, token: TOKEN, repo: "org/mem" };
    const path = await downloadFile({ ...common, path: "a.bin" });
    const st = await runtime.fs.lstat(path);
    assert.equal(st.kind, "file");
    assert.ok(sameBytes(await runtime.fs.readFile(path), bytes(120_000, 51)));
    const b = await downloadFile({ ...common, path: "b.txt" });
    assert.equal(new TextDecoder().decode(await runtime.fs.readFile(b)), "bee");
    const blobs = await runtime.fs.readdir("/cache/models--org--mem/blobs").catch(() => []);
    assert.deepEqual(blobs, []);
  });
});

describe("the symlink probe on a network file system", () => {
  const layout = repoLayout("/cache", "model", "org/probe");
  /** A memory runtime whose symlink call fails `times` times with `code` before working. */
  function failing(code: "EIO" | "EUNKNOWN" | "EPERM", times: number) {
    const runtime = memoryRuntime({ timers: "real" });
    let calls = 0;
    const symlink = runtime.fs.symlink.bind(runtime.fs);
    runtime.fs.symlink = async (target: string, path: string) => {
      if (++calls <= times) throw new FsError(code, "symlink", path);
      return await symlink(target, path);
    };
    return { runtime, calls: () => calls };
  }

  test("a passing EIO or UNKNOWN (GlusterFS's ESTALE on Deno) is asked again, not taken for a cache without symlinks", async () => {
    for (const code of ["EIO", "EUNKNOWN"] as const) {
      const { runtime, calls } = failing(code, 3);
      assert.equal(await symlinksSupported(runtime, layout), true, code);
      assert.equal(calls(), 4, code);
    }
  });

  test("a refusal that lasts, or EPERM at once, means no symlinks", async () => {
    const lasting = failing("EIO", Infinity);
    assert.equal(await symlinksSupported(lasting.runtime, layout), false);
    assert.equal(lasting.calls(), TRANSIENT_RETRY_PAUSES_MS.length + 1);
    const refused = failing("EPERM", Infinity);
    assert.equal(await symlinksSupported(refused.runtime, layout), false);
    assert.equal(refused.calls(), 1);
  });
});
