/**
 * The real Python client (`huggingface_hub` 2.0.0) for interoperability tests: a venv in
 * `.tmp/py`, installed once and reused across runs, and helpers to run `python -c` and the
 * `hf` command against the Hub emulator.
 *
 * Installing: `python3 -m venv .tmp/py && .tmp/py/bin/pip install --retries 0 --timeout 3
 * huggingface_hub==2.0.0` (a local pip index here; none in CI). Several test processes (Node
 * runs test files in parallel, and `scripts/test.mjs` installs before the runtimes) may ask at
 * once, so the install runs inside a Python process holding `flock` on `.tmp/py.install.lock`:
 * one installs, the others wait and then find it ready; a crashed install leaves no marker and
 * the next caller starts over.
 *
 * Where the install cannot be done, the tests that need it print that they did NOT run (the
 * one component allowed to be absent); every other failure of those tests fails normally.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type CliRun, finished, repoRoot } from "./cli.ts";

/** The version every interoperability test is written against. */
export const PYTHON_CLIENT_VERSION = "2.0.0";

/** `HUBCACHE_PYTHON_CLIENT` as `scripts/test.mjs` sets it after its own attempt. */
const PIPELINE_VERDICT = "HUBCACHE_PYTHON_CLIENT";

/** A usable venv with `huggingface_hub` installed. */
export interface PythonClient {
  /** The venv's interpreter. */
  readonly python: string;
  /**
   * Environment for a Python process talking to `endpoint` with `cacheDir` as its cache:
   * telemetry, update checks and progress bars off, no token unless given. Xet stays on as
   * for a user: the emulator's repos are not Xet-backed unless created with `{ xet: true }`,
   * and then 2.0 would try the Xet protocol, which the emulator does not speak.
   */
  env(endpoint: string, cacheDir: string, extra?: Record<string, string>): Record<string, string>;
  /** Start `python -c code`. */
  spawnPython(code: string, env: Record<string, string>): ChildProcess;
  /** Run `python -c code` to completion. */
  runPython(code: string, env: Record<string, string>): Promise<CliRun>;
  /** Start the real `hf` command. */
  spawnHf(args: readonly string[], env: Record<string, string>): ChildProcess;
  /** Run the real `hf` command to completion. */
  runHf(args: readonly string[], env: Record<string, string>): Promise<CliRun>;
}

/** The outcome of {@link pythonClient}: the client, or why it is not here. */
export type PythonClientAvailability =
  | { readonly available: true; readonly client: PythonClient; readonly skip: false }
  | { readonly available: false; readonly reason: string; readonly skip: string };

function venvDir(): string {
  return join(repoRoot(), ".tmp", "py");
}

function readyMarker(): string {
  return join(venvDir(), ".hubcache-ready");
}

function isReady(): boolean {
  try {
    return readFileSync(readyMarker(), "utf8").trim() === `huggingface_hub==${PYTHON_CLIENT_VERSION}`;
  } catch {
    return false;
  }
}

// Runs under the system python3 with `flock` held, so concurrent callers install once.
const INSTALLER = `
import fcntl, os, shutil, subprocess, sys
venv, marker, want = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(os.path.dirname(venv), exist_ok=True)
with open(venv + ".install.lock", "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        if open(marker).read().strip() == want:
            sys.exit(0)
    except OSError:
        pass
    shutil.rmtree(venv, ignore_errors=True)
    steps = [
        ("python3 -m venv", [sys.executable, "-m", "venv", venv]),
        (f"pip install {want}", [os.path.join(venv, "bin", "pip"), "install", "--retries", "0", "--timeout", "3", want]),
        ("import huggingface_hub", [os.path.join(venv, "bin", "python"), "-c", "import huggingface_hub, sys; sys.exit(huggingface_hub.__version__ != sys.argv[1])", want.split("==")[1]]),
    ]
    for label, step in steps:
        r = subprocess.run(step, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            tail = " | ".join(line for line in r.stdout.strip().splitlines()[-3:])
            print(f"{label} failed (exit {r.returncode}): {tail}", file=sys.stderr)
            sys.exit(1)
    with open(marker + ".tmp", "w") as f:
        f.write(want)
    os.replace(marker + ".tmp", marker)
`;

let pending: Promise<PythonClientAvailability> | undefined;

/**
 * The real Python client, installing it into `.tmp/py` first if needed (once per machine,
 * whoever asks first). Never throws: an install that cannot be done comes back as
 * `available: false` with the reason, and `skip` holds the line to give `describe`'s
 * `skip` option so the report says the tests did not run and why.
 *
 * @example
 * ```ts
 * const py = await pythonClient();
 * describe("Python reads our cache", { skip: py.skip }, () => { … py.available && py.client.runPython(…) … });
 * ```
 */
export function pythonClient(): Promise<PythonClientAvailability> {
  pending ??= ensure().then((result) => {
    if (!result.available) {
      console.error(`[python client] huggingface_hub ${PYTHON_CLIENT_VERSION} is not available: ${result.reason}`);
      console.error("[python client] the interoperability tests with the real Python client DID NOT RUN");
    }
    return result;
  });
  return pending;
}

/**
 * Install (or find) the venv without the console report; for `scripts/test.mjs`, which
 * prints its own line and passes the verdict to the test processes.
 *
 * @example
 * ```ts
 * const r = await ensurePythonClient(); // { available: true, … } or { available: false, reason }
 * ```
 */
export async function ensurePythonClient(): Promise<PythonClientAvailability> {
  return await ensure();
}

async function ensure(): Promise<PythonClientAvailability> {
  const verdict = process.env[PIPELINE_VERDICT];
  if (verdict !== undefined && verdict.startsWith("unavailable:")) return unavailable(verdict.slice("unavailable:".length));
  if (!isReady()) {
    const run = await finished(
      spawn("python3", ["-c", INSTALLER, venvDir(), readyMarker(), `huggingface_hub==${PYTHON_CLIENT_VERSION}`], {
        stdio: ["ignore", "pipe", "pipe"],
      }),
      300_000,
    ).catch((err: Error) => ({ code: null, signal: null, stdout: "", stderr: `python3 could not be started: ${err.message}` }));
    if (run.code !== 0 || !isReady()) {
      return unavailable(run.stderr.trim().split("\n").slice(-2).join(" ") || `installer exited with ${run.code ?? run.signal}`);
    }
  }
  const python = join(venvDir(), "bin", "python");
  const hf = join(venvDir(), "bin", "hf");
  if (!existsSync(hf)) return unavailable(`${hf} is missing after the install`);
  return { available: true, skip: false, client: makeClient(python, hf) };
}

function unavailable(reason: string): PythonClientAvailability {
  return {
    available: false,
    reason,
    skip: `DID NOT RUN: the real Python client (huggingface_hub ${PYTHON_CLIENT_VERSION}) is not installed here: ${reason}`,
  };
}

function makeClient(python: string, hf: string): PythonClient {
  const start = (cmd: string, args: readonly string[], env: Record<string, string>): ChildProcess =>
    spawn(cmd, [...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  return {
    python,
    env(endpoint, cacheDir, extra = {}) {
      const base: Record<string, string> = {};
      // Only what a Python process needs to start; nothing of ours (HF_TOKEN, HF_HOME…) leaks in.
      for (const name of ["PATH", "HOME", "LANG", "TMPDIR"]) {
        const v = process.env[name];
        if (v !== undefined) base[name] = v;
      }
      return {
        ...base,
        HF_ENDPOINT: endpoint,
        HF_HUB_CACHE: cacheDir,
        // Where `hf` keeps its own files (token, agent registry): never inside the cache under test.
        HF_HOME: join(venvDir(), "hf-home"),
        HF_HUB_DISABLE_TELEMETRY: "1",
        HF_HUB_DISABLE_PROGRESS_BARS: "1",
        HF_HUB_DISABLE_IMPLICIT_TOKEN: "1",
        HF_HUB_DISABLE_UPDATE_CHECK: "1",
        NO_COLOR: "1",
        PYTHONDONTWRITEBYTECODE: "1",
        ...extra,
      };
    },
    spawnPython: (code, env) => start(python, ["-c", code], env),
    runPython: (code, env) => finished(start(python, ["-c", code], env)),
    spawnHf: (args, env) => start(hf, args, env),
    runHf: (args, env) => finished(start(hf, args, env)),
  };
}
