import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { downloadFile } from "../src/core/download/download.ts";
import { GatedRepoError, RepoNotFoundError, TokenRejectedError } from "../src/core/errors.ts";
import { resolveToken } from "../src/core/hub/token.ts";
import { memoryRuntime } from "../src/adapters/memory/mod.ts";
import { HubEmulator } from "../src/testing/mod.ts";
import { runCliProcess } from "./_support/cli.ts";
import { TOKEN } from "./_support/hub.ts";
import { pythonClient } from "./_support/python_client.ts";
import { currentRuntimeName } from "./_support/runtime.ts";
import { makeTempDir, removeTempDir } from "./_support/tmp.ts";

/** A memory runtime with this environment and these files (the token file `hf auth login` writes). */
async function runtimeWith(env: Record<string, string>, files: Record<string, string> = {}) {
  const runtime = memoryRuntime({ timers: "real", homeDir: "/home/u", env });
  for (const [path, text] of Object.entries(files)) {
    await runtime.fs.mkdirp(path.slice(0, path.lastIndexOf("/")));
    await runtime.fs.writeFile(path, new TextEncoder().encode(text));
  }
  return runtime;
}

const py = await pythonClient();

describe("the token: found where the Python client finds it", () => {
  const cases: { name: string; env: Record<string, string>; files: Record<string, string>; expect: string | undefined }[] = [
    { name: "$HF_HOME/token (hf auth login), newline trimmed", env: { HF_HOME: "/hf" }, files: { "/hf/token": "hf_file\n" }, expect: "hf_file" },
    { name: "HF_TOKEN_PATH wins over $HF_HOME/token", env: { HF_HOME: "/hf", HF_TOKEN_PATH: "/etc/tok" }, files: { "/hf/token": "hf_home", "/etc/tok": "hf_path" }, expect: "hf_path" },
    { name: "$XDG_CACHE_HOME/huggingface/token", env: { XDG_CACHE_HOME: "/xdg" }, files: { "/xdg/huggingface/token": "hf_xdg" }, expect: "hf_xdg" },
    { name: "~/.cache/huggingface/token", env: {}, files: { "/home/u/.cache/huggingface/token": "hf_default" }, expect: "hf_default" },
    { name: "HF_TOKEN wins over the file", env: { HF_HOME: "/hf", HF_TOKEN: "hf_env" }, files: { "/hf/token": "hf_file" }, expect: "hf_env" },
    { name: "HUGGING_FACE_HUB_TOKEN before the file", env: { HF_HOME: "/hf", HUGGING_FACE_HUB_TOKEN: "hf_old" }, files: { "/hf/token": "hf_file" }, expect: "hf_old" },
    { name: "HF_HUB_DISABLE_IMPLICIT_TOKEN: neither env nor file", env: { HF_HOME: "/hf", HF_TOKEN: "hf_env", HF_HUB_DISABLE_IMPLICIT_TOKEN: "1" }, files: { "/hf/token": "hf_file" }, expect: undefined },
    { name: "an empty token file is no token", env: { HF_HOME: "/hf" }, files: { "/hf/token": " \n" }, expect: undefined },
    { name: "no token anywhere", env: { HF_HOME: "/hf" }, files: {}, expect: undefined },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const token = await resolveToken(undefined, await runtimeWith(c.env, c.files));
      assert.equal(token?.value, c.expect);
    });
  }

  test("an explicit token wins, even with HF_HUB_DISABLE_IMPLICIT_TOKEN; false sends none", async () => {
    const runtime = await runtimeWith({ HF_TOKEN: "hf_env", HF_HUB_DISABLE_IMPLICIT_TOKEN: "1" });
    assert.deepEqual(await resolveToken("hf_given", runtime), { value: "hf_given", source: "--token" });
    assert.equal(await resolveToken(false, await runtimeWith({ HF_TOKEN: "hf_env" })), undefined);
  });

  test("the real huggingface_hub 2.0.0 picks the same token in the same cases", { skip: py.skip }, async () => {
    if (!py.available) return;
    const home = await makeTempDir("hubcache-auth-py-");
    try {
      // One interpreter for every case: the variables are set, then huggingface_hub's constants
      // re-read (`get_token_to_send` looks them up at call time), so each case sees its own.
      const setups = [];
      for (const [i, c] of cases.entries()) {
        const root = join(home, String(i));
        const env: Record<string, string> = { HOME: join(root, "home/u") };
        for (const [k, v] of Object.entries(c.env)) env[k] = v.startsWith("/") ? join(root, v) : v;
        for (const [path, text] of Object.entries(c.files)) {
          const file = join(root, path.replace("/home/u", "home/u"));
          await fsp.mkdir(join(file, ".."), { recursive: true });
          await fsp.writeFile(file, text);
        }
        setups.push(env);
      }
      const base = py.client.env("http://127.0.0.1:9", join(home, "cache"), {});
      for (const k of ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HOME", "XDG_CACHE_HOME", "HF_HUB_DISABLE_IMPLICIT_TOKEN"]) delete base[k];
      const r = await py.client.runPython(
        [
          "import importlib, json, os",
          "from huggingface_hub import constants",
          "from huggingface_hub.utils import _headers",
          "names = ['HOME', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_HOME', 'XDG_CACHE_HOME', 'HF_HUB_DISABLE_IMPLICIT_TOKEN']",
          "for case in json.loads(os.environ['CASES']):",
          "    for n in names: os.environ.pop(n, None)",
          "    os.environ.update(case)",
          "    importlib.reload(constants)",
          "    print(_headers.get_token_to_send(None))",
        ].join("\n"),
        { ...base, CASES: JSON.stringify(setups) },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n"), cases.map((c) => c.expect ?? "None"));
    } finally {
      await removeTempDir(home);
    }
  });
});

describe("the Hub's answers about the token say what to do", () => {
  let hub: HubEmulator;
  before(async () => {
    hub = await HubEmulator.start({ tokens: [TOKEN, "hf_other"] });
    hub.createRepo("org/private", { private: true }).commit({ "a.txt": "secret" });
    hub.createRepo("org/gated", { gated: true, grantedTokens: [TOKEN] }).commit({ "a.txt": "gated" });
  });
  after(() => hub.close());
  const get = (runtime: ReturnType<typeof memoryRuntime>, repo: string, token?: string | false) =>
    downloadFile({ runtime, cacheDir: "/cache", endpoint: hub.endpoint, repo, path: "a.txt", ...(token === undefined ? {} : { token }) });

  test("a private repo downloads with the token file `hf auth login` saved", async () => {
    const runtime = await runtimeWith({ HF_HOME: "/hf" }, { "/hf/token": `${TOKEN}\n` });
    const path = await get(runtime, "org/private");
    assert.equal(new TextDecoder().decode(await runtime.fs.readFile(path)), "secret");
  });

  test("a rejected token says so and names where it came from", async () => {
    const runtime = await runtimeWith({ HF_HOME: "/hf" }, { "/hf/token": "hf_expired" });
    const err = await get(runtime, "org/private").then(() => null, (e) => e);
    assert.ok(err instanceof TokenRejectedError, String(err));
    assert.equal(err.code, "TokenRejected");
    assert.match(err.message, /your token was rejected \(401\)/);
    assert.match(err.message, /the token file \/hf\/token/);
    const fromEnv = await get(await runtimeWith({ HF_TOKEN: "hf_expired" }), "org/private").then(() => null, (e) => e);
    assert.ok(fromEnv instanceof TokenRejectedError);
    assert.match(fromEnv.message, /from HF_TOKEN/);
  });

  test("HF_HUB_DISABLE_IMPLICIT_TOKEN: the saved token is not sent; no token is suggested as the fix", async () => {
    const runtime = await runtimeWith({ HF_HOME: "/hf", HF_HUB_DISABLE_IMPLICIT_TOKEN: "1" }, { "/hf/token": TOKEN });
    const before = hub.requests.length;
    const err = await get(runtime, "org/private").then(() => null, (e) => e);
    assert.ok(err instanceof RepoNotFoundError, String(err));
    assert.match(err.message, /log in with `hf auth login`/);
    assert.ok(hub.requests.slice(before).every((r) => !r.authorization), "a token was sent");
  });

  test("private repo, no token: not found, log in; gated: precise for no token and for a token without access", async () => {
    const none = await get(await runtimeWith({}), "org/private").then(() => null, (e) => e);
    assert.ok(none instanceof RepoNotFoundError);
    assert.match(none.message, /if it is private, log in with `hf auth login`/);
    const gatedAnon = await get(await runtimeWith({}), "org/gated").then(() => null, (e) => e);
    assert.ok(gatedAnon instanceof GatedRepoError);
    assert.match(gatedAnon.message, /is gated and no token was sent/);
    const gatedOther = await get(await runtimeWith({}), "org/gated", "hf_other").then(() => null, (e) => e);
    assert.ok(gatedOther instanceof GatedRepoError);
    assert.match(gatedOther.message, /your token \(from --token\) has not been granted access \(403\)/);
  });

  test("the CLI reads the saved token and prints the rejection as one line", async () => {
    const home = await makeTempDir("hubcache-auth-cli-");
    try {
      await fsp.mkdir(join(home, "hf"));
      await fsp.writeFile(join(home, "hf", "token"), `${TOKEN}\n`);
      const args = ["download", "org/private", "a.txt", "--endpoint", hub.endpoint, "--cache-dir", join(home, "cache")];
      const env = { HF_HOME: join(home, "hf"), HF_TOKEN: "", HUGGING_FACE_HUB_TOKEN: "", HF_TOKEN_PATH: "" };
      const ok = await runCliProcess(currentRuntimeName(), args, env);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(await fsp.readFile(ok.stdout.trim(), "utf8"), "secret");
      await fsp.writeFile(join(home, "hf", "token"), "hf_expired");
      const bad = await runCliProcess(currentRuntimeName(), args, env);
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout, "");
      assert.match(bad.stderr, /^hubcache: TokenRejected: your token was rejected \(401\): the token from the token file .*\/hf\/token/);
      assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    } finally {
      await removeTempDir(home);
    }
  });
});
