import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileProgress } from "../src/cli/download_command.ts";
import { type ProgressDisplay, progressDisplay } from "../src/cli/progress.ts";
import { cliCommand } from "./_support/cli.ts";
import { bytes, type HubFixture, startHub, TOKEN } from "./_support/hub.ts";
import { currentRuntimeName } from "./_support/runtime.ts";
import { runInTerminal } from "./_support/terminal.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

const MB = 1_000_000;
/** A progress line: name, percentage, bar, sizes and rate with their units. */
const BAR = /^\s*(\S.*) +(\d+)% \[[#.]+\] \d+(\.\d)? (B|kB|MB)\/\d+(\.\d)? (B|kB|MB) \d+(\.\d)? (B|kB|MB)\/s/;

describe("progress in a real terminal (tmux, 80 columns)", () => {
  let fx: HubFixture;
  let cache: string;
  const cli = cliCommand(currentRuntimeName());
  before(async () => {
    fx = await startHub();
    fx.hub.createRepo("org/one").commit({ "weights/model.safetensors": bytes(3 * MB, 1) });
    fx.hub.createRepo("org/many").commit(Object.fromEntries([1, 2, 3, 4].map((i) => [`shard-0000${i}-of-00004.safetensors`, bytes(MB, i)])));
  });
  after(() => fx.close());
  const run = async (args: string[], env: Record<string, string> = {}, during?: (lines: string[]) => boolean, columns = 80) => {
    cache = await makeTempDir("hc-term-");
    try {
      const r = await runInTerminal([...cli, ...args, "--endpoint", fx.hub.endpoint, "--cache-dir", cache, "--token", TOKEN], env, { during, columns });
      return r;
    } finally {
      await removeTempDir(cache);
    }
  };

  test("one file: the bar fits 80 columns through every redraw, has units, and the path gets its own line", async () => {
    fx.hub.throttle(2 * MB); // ~1.5 s of redraws
    try {
      const r = await run(["download", "org/one", "weights/model.safetensors"]);
      assert.equal(r.code, 0, r.lines.join("\n"));
      // A redraw that wrapped would leave its fragments behind, read back joined into one
      // over-long line; a path glued to the bar would share its line.
      assert.equal(r.lines.length, 2, r.lines.join("\n"));
      const [barLine, pathLine] = r.lines;
      assert.ok(barLine.length <= 79, `${barLine.length} columns: ${barLine}`);
      assert.match(barLine, BAR);
      assert.match(barLine, /^weights\/model\.safetensors +100% \[#{20}\] 3\.0 MB\/3\.0 MB /);
      assert.match(pathLine, /^\/.*\/models--org--one\/snapshots\/[0-9a-f]{40}\/weights\/model\.safetensors$/);
    } finally {
      fx.hub.throttle(null);
    }
  });

  test("many files: one overall bar plus a bar per file in flight; the overall bar stays", async () => {
    fx.hub.throttle(MB); // per connection: each shard ~1 s, two at a time
    try {
      let mid: string[] = [];
      const r = await run(["download", "org/many", "--concurrency", "2"], {}, (screen) => {
        const bars = screen.filter((l) => BAR.test(l));
        if (bars.length >= 3) mid = screen.filter((l) => l.trim() !== "");
        return bars.length >= 3;
      });
      assert.equal(r.code, 0, r.lines.join("\n"));
      assert.ok(r.seen, `never saw the overall bar with two file bars:\n${r.lines.join("\n")}`);
      assert.match(mid[0], /^[0-3]\/4 files +\d+% \[/);
      for (const l of mid.slice(1, 3)) assert.match(l, /^ {2}shard-0000\d-of-00004\.safetensors +\d+% \[/);
      const bars = mid.slice(1, 3).map((l) => /\[([#.]+)\]/.exec(l)![1].length);
      assert.equal(bars[0], bars[1], `the file bars are not aligned:\n${mid.join("\n")}`);
      for (const l of mid) assert.ok(l.length <= 79, l);
      assert.equal(r.lines.length, 3, r.lines.join("\n"));
      assert.match(r.lines[0], /^4\/4 files +100% \[#{20}\] 4\.0 MB\/4\.0 MB /);
      assert.match(r.lines[1], /^org\/many: 4 files \(4\.0 MB\), 4 downloaded, 0 already cached, in \d+\.\d s$/);
      assert.match(r.lines[2], /\/models--org--many\/snapshots\/[0-9a-f]{40}$/);
    } finally {
      fx.hub.throttle(null);
    }
  });

  test("a 50-column terminal: the bar shrinks to fit it", async () => {
    fx.hub.throttle(3 * MB);
    try {
      const r = await run(["download", "org/one", "weights/model.safetensors"], {}, undefined, 50);
      assert.equal(r.code, 0, r.lines.join("\n"));
      assert.equal(r.lines.length, 2, r.lines.join("\n"));
      assert.ok(r.lines[0].length <= 49, `${r.lines[0].length} columns: ${r.lines[0]}`);
      assert.match(r.lines[0], /100% \[#+\] 3\.0 MB\/3\.0 MB /);
    } finally {
      fx.hub.throttle(null);
    }
  });

  test("HF_HUB_DISABLE_PROGRESS_BARS=1: no bar at all, only the path", async () => {
    const r = await run(["download", "org/one", "weights/model.safetensors"], { HF_HUB_DISABLE_PROGRESS_BARS: "1" });
    assert.equal(r.code, 0, r.lines.join("\n"));
    assert.equal(r.lines.length, 1, r.lines.join("\n"));
    assert.match(r.lines[0], /\/weights\/model\.safetensors$/);
  });
});

describe("progress lines", () => {
  const recording = (): { display: ProgressDisplay; shown: string[][] } => {
    const shown: string[][] = [];
    const inner = progressDisplay(() => {}, { enabled: true, columns: 80, now: () => 0 });
    return { shown, display: { ...inner, width: inner.width, update: (lines) => void shown.push([...(typeof lines === "function" ? lines() : lines)]) } };
  };

  test("after a resume the rate counts only the bytes that came over the network", () => {
    const { display, shown } = recording();
    let t = 0;
    const onProgress = fileProgress(display, () => t);
    onProgress({ path: "model.bin", bytesDone: 50 * MB, bytesTotal: 100 * MB, resumedFrom: 50 * MB, phase: "download" });
    t = 1000;
    onProgress({ path: "model.bin", bytesDone: 51 * MB, bytesTotal: 100 * MB, resumedFrom: 50 * MB, phase: "download" });
    assert.match(shown.at(-1)![0], /^model\.bin +51% \[#+\.+\] 51\.0 MB\/100\.0 MB 1\.0 MB\/s \(resumed at 50\.0 MB\)$/);
  });

  test("a long name gives way from the left so the numbers stay on an 80-column line", () => {
    const { display, shown } = recording();
    const onProgress = fileProgress(display, () => 0);
    const path = `${"deep/".repeat(20)}model-00001-of-00009.safetensors`;
    onProgress({ path, bytesDone: 5 * MB, bytesTotal: 10 * MB, resumedFrom: 0, phase: "download" });
    const line = shown.at(-1)![0];
    assert.ok(line.length <= 79, `${line.length}: ${line}`);
    assert.match(line, /^….*-00001-of-00009\.safetensors +50% \[#+\.+\] 5\.0 MB\/10\.0 MB 0 B\/s$/);
  });

  test("a warning printed during a download goes above the bars, not glued to them", () => {
    let screen = "";
    const display = progressDisplay((s) => (screen += s), { enabled: true, columns: 80, now: () => 0 });
    display.update(["a.bin  10% [##........]"], true);
    display.print("hubcache: warning: Retrying: …\n");
    display.finish(1);
    // Erase, the warning on its own line, then the bar drawn again and ended by a newline.
    assert.match(screen, /\r\x1b\[2K\rhubcache: warning: Retrying: …\n\x1b\[2Ka\.bin {2}10% \[##\.{8}\]/);
    assert.ok(screen.endsWith("\n"));
  });
});

