#!/usr/bin/env node
// Proves the core, the in-memory adapter and the WASM hasher bundle for a browser: esbuild
// `--platform=browser --bundle`, and nothing in them imports `node:*`/`bun:*`/`npm:`/`jsr:` or a
// bare Node built-in, or refers to the `Deno`, `Bun` or `process` globals. Exit 0 if clean.
//
// Global references are found with esbuild `define`: each global is replaced by a marker
// identifier, so only real references are caught (not the word "process" in a string or comment),
// and esbuild's `// path/to/file.ts` section comments tell which source file holds each one.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ENTRIES = ["src/core/mod.ts", "src/adapters/memory/mod.ts", "src/adapters/wasm_hasher.ts"];
const FORBIDDEN_GLOBALS = ["Deno", "Bun", "process"];
const MARK = "__HUBCACHE_FORBIDDEN_GLOBAL_";

const problems = [];
const warnings = [];

const missing = ENTRIES.filter((e) => !fs.existsSync(path.join(ROOT, e)));
for (const m of missing) problems.push(`missing: ${m}`);
if (missing.length === ENTRIES.length) finish();

let esbuild;
try {
  esbuild = await import("esbuild");
} catch (e) {
  problems.push(`esbuild is not installed (npm install): ${e.message}`);
  finish();
}

const builtins = new Set(builtinModules.filter((m) => !m.startsWith("_")));
const forbiddenImports = [];
const forbidImportsPlugin = {
  name: "forbid-runtime-imports",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const spec = args.path;
      const bare = spec.split("/")[0];
      if (/^(node|bun|npm|jsr):/.test(spec) || builtins.has(spec) || builtins.has(bare) && !spec.startsWith(".")) {
        forbiddenImports.push(`${path.relative(ROOT, args.importer) || args.importer} imports "${spec}"`);
        return { path: spec, external: true };
      }
      return undefined;
    });
  },
};

const define = {};
for (const g of FORBIDDEN_GLOBALS) {
  define[g] = `${MARK}${g}`;
  define[`globalThis.${g}`] = `${MARK}${g}`;
  define[`self.${g}`] = `${MARK}${g}`;
  define[`window.${g}`] = `${MARK}${g}`;
}
// esbuild substitutes this one by itself for browser builds; take it back so it is flagged too.
define["process.env.NODE_ENV"] = `${MARK}process.env.NODE_ENV`;

const present = ENTRIES.filter((e) => !missing.includes(e));
const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "hubcache-browser-"));
try {
  let result;
  try {
    result = await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: present,
      bundle: true,
      platform: "browser",
      format: "esm",
      target: "es2022",
      outdir,
      write: false,
      metafile: true,
      logLevel: "silent",
      define,
      plugins: [forbidImportsPlugin],
    });
  } catch (e) {
    for (const err of e.errors ?? [{ text: String(e) }]) {
      const loc = err.location ? `${err.location.file}:${err.location.line}: ` : "";
      problems.push(`esbuild: ${loc}${err.text}`);
    }
  }
  problems.push(...new Set(forbiddenImports));
  if (result) {
    for (const w of result.warnings) warnings.push(`esbuild warning: ${w.location ? `${w.location.file}:${w.location.line}: ` : ""}${w.text}`);
    for (const out of result.outputFiles) {
      const lines = out.text.split("\n");
      let source = "?";
      for (let i = 0; i < lines.length; i++) {
        const section = /^\/\/ (\S+\.[cm]?[jt]sx?)$/.exec(lines[i]);
        if (section) source = section[1];
        for (const m of lines[i].matchAll(new RegExp(`${MARK}(\\w+)`, "g"))) {
          const what = `refers to ${m[1]}: ${lines[i].trim().replaceAll(MARK, "").slice(0, 160)}`;
          // Third-party code is not ours to fix, but say so; ours must be clean.
          if (/(^|\/)node_modules\//.test(source)) warnings.push(`${source} ${what}`);
          else problems.push(`${source} ${what}`);
        }
      }
    }
    const bytes = result.outputFiles.reduce((s, f) => s + f.contents.length, 0);
    const inputs = Object.keys(result.metafile.inputs);
    console.log(`bundled ${present.join(", ")}: ${inputs.length} input files, ${bytes} bytes`);
    for (const i of inputs) console.log(`  ${i}`);
  }
} finally {
  fs.rmSync(outdir, { recursive: true, force: true });
}
finish();

function finish() {
  for (const w of warnings) console.log(`warning: ${w}`);
  if (problems.length === 0) {
    console.log("browser bundle: ok");
    process.exit(0);
  }
  for (const p of problems) console.log(`FAIL: ${p}`);
  console.log(`browser bundle: ${problems.length} problem(s)`);
  process.exit(1);
}
