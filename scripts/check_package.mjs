#!/usr/bin/env node
// What a user of the published package meets: `npm pack` this clone, install the tarball into a
// fresh project, then import `hubcache` from Node ESM, Deno and Bun, run its `hubcache` bin
// through npx, and compile the CLI from the installed package with `bun build --compile`; each
// downloads one file from the Hub emulator. Then the README's shell commands, literally: every
// `npx hubcache …` line in that project, every `npx deno|bun src/cli.ts …` line in this clone,
// with HOME in a temp dir and HF_ENDPOINT naming the emulator (which serves the repos they name).
//
// Contract checked: the tarball ships dist/ (built by `prepack`) and no dist/tests, and its
// package.json runs nothing at install (no install/postinstall/prepare); `npm pack` and
// `npm install <tarball>` print no warning (npm 11 warns about dependencies' install scripts
// not covered by `allowScripts`: a user's project has none); every run exits 0, prints the
// downloaded file's path as its only stdout line and nothing at all on stderr.

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "node_modules", ".bin");
const EMULATOR = path.join(ROOT, "dist", "src", "testing", "mod.js");
const REPO = "org/demo";
const FILE = "config.json";
const CONTENT = '{"packaged":true}';
const TIMEOUT_MS = 180_000;
/** The token the README saves in its private-repo example. */
const README_TOKEN = "hf_ExampleToken123";

let failures = 0;
function fail(message) {
  failures++;
  console.log(`FAIL: ${message}`);
}

function run(cmd, args, { cwd, env, timeoutMs = TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: `${stderr}${err.message}\n` });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? `signal ${signal}` : code, stdout, stderr });
    });
  });
}

function show(label, r) {
  console.log(`$ ${label} → exit ${r.code}`);
  for (const [name, text] of [["stdout", r.stdout], ["stderr", r.stderr]]) {
    const t = text.replace(/\s+$/, "");
    if (t) console.log(`--- ${name} ---\n${t.split("\n").slice(-30).join("\n")}`);
  }
}

/** npm's own warnings ("npm warn …", "npm WARN …"); notices about the tarball are fine. */
const npmWarnings = (text) => text.split("\n").filter((l) => /^npm (warn|WARN|ERR)/.test(l));

async function main() {
  if (!fs.existsSync(EMULATOR)) return fail("dist/src/testing/mod.js missing (run the build first)");
  const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "hubcache-pkg-")));
  const env = {
    PATH: `${BIN}${path.delimiter}${process.env.PATH ?? ""}`,
    HOME: path.join(tmp, "home"),
    HF_HOME: path.join(tmp, "hf-home"),
    // npm's cache and registry settings stay the machine's: the fresh project installs the
    // tarball's dependencies from the registry, as a user's would.
    npm_config_cache: process.env.npm_config_cache ?? path.join(os.homedir(), ".npm"),
    npm_config_update_notifier: "false",
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
    DENO_NO_PROMPT: "1",
  };
  for (const name of ["npm_config_registry", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"]) {
    if (process.env[name]) env[name] = process.env[name];
  }
  fs.mkdirSync(env.HOME);
  let hub;
  try {
    // 1. Pack (runs `prepack`, the build).
    const pack = await run("npm", ["pack", "--json", "--pack-destination", tmp], { cwd: ROOT, env });
    if (pack.code !== 0) return show("npm pack", pack), fail("npm pack failed");
    for (const w of npmWarnings(pack.stderr)) fail(`npm pack warned: ${w}`);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf("[")));
    const files = info.files.map((f) => f.path);
    const tarball = path.join(tmp, info.filename);
    console.log(`packed ${info.filename}: ${files.length} files, ${info.size} bytes`);
    const shipped = (p) => files.includes(p);
    for (const p of ["bin/hubcache.cjs", "dist/mod.js", "dist/mod.d.ts", "dist/src/cli.js", "dist/src/testing/mod.js", "README.md"]) {
      if (!shipped(p)) fail(`the tarball lacks ${p}`);
    }
    const testFiles = files.filter((p) => p.startsWith("dist/tests/") || p.startsWith("tests/"));
    if (testFiles.length > 0) fail(`the tarball ships tests: ${testFiles.slice(0, 3).join(", ")}…`);

    // 2. Install into a fresh project.
    const project = path.join(tmp, "project");
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "user-project", private: true, type: "module" }));
    const install = await run("npm", ["install", "--no-audit", "--no-fund", tarball], { cwd: project, env });
    show("npm install <tarball>", install);
    if (install.code !== 0) return fail("npm install of the tarball failed");
    for (const w of npmWarnings(install.stdout + install.stderr)) fail(`npm install warned: ${w}`);
    const manifest = JSON.parse(fs.readFileSync(path.join(project, "node_modules", "hubcache", "package.json"), "utf8"));
    for (const s of ["preinstall", "install", "postinstall", "prepare"]) {
      if (manifest.scripts?.[s]) fail(`the installed package.json has a "${s}" script: ${manifest.scripts[s]}`);
    }

    // 3. One download per way of using it.
    const { HubEmulator } = await import(pathToFileURL(EMULATOR).href);
    hub = await HubEmulator.start({ tokens: ["hf_test_token", README_TOKEN] });
    await hub.createRepo(REPO).commit({ [FILE]: CONTENT });
    fs.writeFileSync(
      path.join(project, "app.mjs"),
      `import { downloadFile } from "hubcache";\n` +
        `console.log(await downloadFile({ repo: ${JSON.stringify(REPO)}, path: ${JSON.stringify(FILE)}, endpoint: process.env.HF_ENDPOINT, cacheDir: process.env.HF_HUB_CACHE }));\n`,
    );
    const binary = path.join(project, "hubcache-bin");
    const ways = [
      ["node app.mjs", "node", ["app.mjs"]],
      ["deno run -A app.mjs", path.join(BIN, "deno"), ["run", "-A", "app.mjs"]],
      ["bun app.mjs", path.join(BIN, "bun"), ["app.mjs"]],
      ["npx hubcache download", "npx", ["--no-install", "hubcache", "download", REPO, FILE]],
      ["compiled binary", binary, ["download", REPO, FILE]],
    ];
    for (const [label, cmd, args] of ways) {
      if (cmd === binary) {
        const compile = await run(path.join(BIN, "bun"), ["build", "--compile", "node_modules/hubcache/dist/src/cli.js", "--outfile", binary], { cwd: project, env });
        if (compile.code !== 0) {
          show("bun build --compile node_modules/hubcache/dist/src/cli.js", compile);
          fail("bun build --compile of the installed package failed");
          continue;
        }
      }
      const cacheDir = path.join(tmp, `cache-${label.split(" ")[0]}`);
      const r = await run(cmd, args, { cwd: project, env: { ...env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir } });
      show(label, r);
      const lines = r.stdout.split("\n").filter((l) => l.trim() !== "");
      if (r.code !== 0) fail(`${label} exited with ${r.code}`);
      else if (r.stderr.trim() !== "") fail(`${label} printed on stderr: ${r.stderr.trim().split("\n")[0]}`);
      else if (lines.length !== 1 || !lines[0].startsWith(cacheDir + path.sep)) fail(`${label} printed ${JSON.stringify(r.stdout)}, not one path inside ${cacheDir}`);
      else if (fs.readFileSync(lines[0], "utf8") !== CONTENT) fail(`${label}: ${lines[0]} does not hold the committed bytes`);
      else console.log(`${label}: ok`);
    }
    await readmeCommands(project, env, hub, tmp);
  } catch (e) {
    fail(`unexpected error: ${e?.stack ?? e}`);
  } finally {
    if (hub) await hub.close().catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The lines of the README's ```sh blocks, without their trailing comments. */
function readmeShellLines() {
  const text = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const lines = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const raw of block[1].split("\n")) {
      const line = raw.replace(/\s{2,}#.*$/, "").trim();
      if (line !== "" && !line.startsWith("#")) lines.push(line);
    }
  }
  return lines;
}

async function readmeCommands(project, env, hub, tmp) {
  // The repos and token the README's examples name.
  const gpt2 = hub.createRepo("openai-community/gpt2");
  await gpt2.commit({
    "config.json": '{"model_type":"gpt2"}',
    "generation_config.json": '{"do_sample":false}',
    "tokenizer.json": '{"version":"1.0"}',
    "model.safetensors": new Uint8Array(50_000).fill(7),
  });
  await hub.createRepo("your-org/private-model", { private: true }).commit({ "config.json": '{"private":true}' });
  const home = path.join(tmp, "readme-home");
  fs.mkdirSync(home);
  const shellEnv = { ...env, HOME: home, HF_ENDPOINT: hub.endpoint };
  delete shellEnv.HF_HOME;
  let ran = 0;
  const skipped = [];
  for (const line of readmeShellLines()) {
    const inClone = /^npx (deno run -A|bun) src\/cli\.ts\b/.test(line);
    const runnable = inClone || /\bnpx hubcache\b/.test(line) || /^(mkdir|printf) /.test(line);
    if (!runnable || /build --compile/.test(line)) {
      skipped.push(line);
      continue;
    }
    const r = await run("sh", ["-c", line], { cwd: inClone ? ROOT : project, env: shellEnv });
    ran++;
    if (r.code !== 0) {
      show(`README: ${line}`, r);
      fail(`README command failed (exit ${r.code}): ${line}`);
    } else {
      console.log(`README ok: ${line}`);
    }
  }
  console.log(`README: ran ${ran} command(s); not run (installs, builds, the test suite): ${skipped.join(" | ")}`);
  if (ran < 5) fail(`README: only ${ran} runnable command(s) found; the extraction is broken`);
}

await main();
console.log(failures === 0 ? "package: ok" : `package: ${failures} problem(s)`);
process.exit(failures === 0 ? 0 : 1);
