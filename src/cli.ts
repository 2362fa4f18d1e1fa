#!/usr/bin/env node
/**
 * The `hubcache` executable: binds the CLI to this process (argv, stdio, signals) on Node,
 * Deno and Bun alike, and inside `bun build --compile` binaries.
 *
 * @example
 * ```sh
 * npx hubcache download openai-community/gpt2 config.json
 * deno run -A src/cli.ts download openai-community/gpt2 config.json
 * bun src/cli.ts download openai-community/gpt2 config.json
 * ```
 *
 * @module
 */

import process from "node:process";
import { resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { setFlagsFromString } from "node:v8";
import { setMaxListeners } from "node:events";
import { defaultRuntime, detectRuntime } from "./adapters/runtime_auto.ts";
import { runCli } from "./cli/main.ts";
import { testHooksFromEnvironment, withTestHooks } from "./cli/test_hooks.ts";

// Node's `fetch` parses HTTP with llhttp compiled to WebAssembly, and V8's optimising compile of
// that module costs ~30 MiB of peak memory, more than the whole rest of a failed request. The
// baseline compiler parses as fast here (512 MiB received: same CPU time), so the executable
// (which owns its process; the library never changes flags) keeps WebAssembly on it.
// Must run before the first `fetch` compiles the module.
if (detectRuntime() === "node") setFlagsFromString("--liftoff-only");

const controller = new AbortController();
// Every request in flight listens on this one signal: with `--concurrency 16` Node warned of a
// "possible memory leak" (more than 10 listeners), which is only the number of files at once.
setMaxListeners(0, controller.signal);
let interrupted = 0;
const onSignal = (): void => {
  // First Ctrl-C: stop cleanly, releasing partial downloads for resume. Second: exit now.
  if (++interrupted > 1) process.exit(130);
  process.stderr.write("\nhubcache: interrupted; keeping partial downloads for the next run\n");
  controller.abort(new Error("interrupted"));
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const argv = absoluteCacheDir(process.argv.slice(2));
// The torture suite's switch (crash points, a short idle timeout); the library never reads it.
const hooks = testHooksFromEnvironment();
const code = await runCli(argv, {
  runtime: withTestHooks(defaultRuntime(), hooks),
  ...(hooks.idleTimeoutMs !== undefined ? { idleTimeoutMs: hooks.idleTimeoutMs } : {}),
  stdout: (line) => void process.stdout.write(line + "\n"),
  stderr: (text) => void process.stderr.write(text),
  stderrIsTTY: process.stderr.isTTY === true,
  ...(process.stderr.isTTY && process.stderr.columns > 0 ? { stderrColumns: process.stderr.columns } : {}),
  signal: controller.signal,
  confirm: process.stdin.isTTY ? confirm : undefined,
});
process.exitCode = code;
// Let stdout drain, then leave even if a keep-alive socket lingers.
process.stdout.write("", () => process.exit(code));

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** The core wants absolute POSIX paths; users type relative ones (`--cache-dir`, `--local-dir`, `--reuse-local-dir`). */
function absoluteCacheDir(args: string[]): string[] {
  const dirFlags = ["--cache-dir", "--local-dir", "--reuse-local-dir"];
  return args.map((a, i) => {
    if (dirFlags.includes(args[i - 1])) return resolve(a);
    const flag = dirFlags.find((f) => a.startsWith(f + "="));
    return flag ? `${flag}=${resolve(a.slice(flag.length + 1))}` : a;
  });
}
