// The three report formats `npm test` reads, one parser each. Measured against the alternative
// of one JUnit reader for all three runtimes (node --test-reporter=junit, deno --junit-path,
// bun --reporter=junit; a fixture with a failing test, a throwing `before` and `after` hook, a
// todo, a skip, a file that throws while loading and a stray rejection): Node's JUnit leaves out
// a throwing `after` hook, Bun's leaves out hook failures (the test under a failed `before` is
// listed as passed) and files that fail to load, and Deno's leaves out uncaught errors. Each
// runtime then still needs its own text scan to name every failure, so reading TAP from Node,
// JUnit from Deno and the text summary from Bun stays the simpler whole.

import * as path from "node:path";

/** The repository root, to print paths relative to it. */
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

/**
 * Parse Node's TAP. Counts come from the trailing `# pass/# fail/# cancelled` summary (tests
 * only; suites are counted apart under `# suites`). Failed names come from `not ok` lines whose
 * YAML block does not say `failureType: 'subtestsFailed'` (that marks a suite failing because
 * of its children).
 */
export function parseNodeTap(tap) {
  const lines = tap.split("\n");
  const summary = {};
  const failures = [];
  const stack = [];
  const descendantFailed = []; // per open level: did anything below it fail?
  let suiteFailures = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m = /^# (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)\s*$/.exec(line);
    if (m) {
      summary[m[1]] = Number(m[2]);
      continue;
    }
    m = /^( *)# Subtest: (.*)$/.exec(line);
    if (m) {
      const level = Math.floor(m[1].length / 4);
      stack.length = level;
      stack[level] = unescapeTap(m[2]);
      descendantFailed.length = level;
      descendantFailed[level] = false;
      continue;
    }
    m = /^( *)not ok \d+ - (.*)$/.exec(line);
    if (!m) continue;
    const indent = m[1].length;
    const level = Math.floor(indent / 4);
    let name = m[2];
    if (/ # TODO\b/.test(name)) continue; // failing todo tests do not fail the run
    name = unescapeTap(name.replace(/ # SKIP\b.*$/, ""));
    let failureType = "";
    let location = "";
    let error = "";
    let isSuite = false;
    if (lines[i + 1]?.trim() === "---") {
      for (let j = i + 2; j < lines.length; j++) {
        const y = lines[j];
        if (y.trim() === "...") break;
        const yy = y.trim();
        let k = /^failureType: '?([^']*)'?$/.exec(yy);
        if (k) failureType = k[1];
        if (yy === "type: 'suite'") isSuite = true;
        k = /^location: '(.*)'$/.exec(yy);
        if (k) location = k[1];
        k = /^error: (.*)$/.exec(yy);
        if (k && !error) {
          error = k[1];
          if (error === "|-" || error === "|" || error === ">-") error = (lines[j + 1] ?? "").trim();
          error = error.replace(/^'(.*)'$/, "$1");
        }
      }
    }
    const explained = descendantFailed[level] === true;
    for (let l = 0; l < level; l++) descendantFailed[l] = true;
    if (failureType === "subtestsFailed") continue;
    // Node leaves a suite's own failure (a throwing `after` hook) out of `# fail`; count it
    // unless a test inside already failed or was cancelled for the same reason.
    if (isSuite && !explained) suiteFailures++;
    if (path.isAbsolute(name)) name = path.relative(ROOT, name); // a file that failed to load
    const full = [...stack.slice(0, level), name].filter((s) => s !== undefined).join(" > ");
    let where = "";
    if (location) where = ` (${path.relative(ROOT, location.replace(/^file:\/\//, "")) || location})`;
    failures.push(`${full}${where}${failureType && failureType !== "testCodeFailure" ? ` [${failureType}]` : ""}${error ? ` — ${error.slice(0, 200)}` : ""}`);
  }
  if (summary.pass === undefined && summary.fail === undefined) return null;
  return {
    passed: summary.pass ?? 0,
    failed: (summary.fail ?? 0) + (summary.cancelled ?? 0) + suiteFailures,
    skipped: (summary.skipped ?? 0) + (summary.todo ?? 0),
    failures,
  };
}

function unescapeTap(s) {
  return s.replace(/\\#/g, "#").replace(/\\\\/g, "\\");
}

function decodeXml(s) {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&amp;/g, "&");
}

/**
 * Parse Deno's JUnit report. Deno runs node:test suites as a top-level test with steps, and
 * reports every step as its own <testcase> named "outer > inner > leaf" — suites included, and
 * without telling them apart. A testcase counts as a test only if no other testcase is nested
 * under it (no name starts with "<its name> > "), which matches Node's and Bun's counting. (An
 * empty `describe` therefore counts as one passing test on Deno.)
 */
export function parseDenoJunit(xml) {
  const cases = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  let m;
  while ((m = re.exec(xml)) !== null) {
    const attrs = {};
    for (const a of m[1].matchAll(/(\w+)="([^"]*)"/g)) attrs[a[1]] = decodeXml(a[2]);
    const body = m[3] ?? "";
    const failure = /<(failure|error)\b([^>]*)>/.exec(body);
    const message = failure ? /\bmessage="([^"]*)"/.exec(failure[2])?.[1] : undefined;
    cases.push({
      name: attrs.name ?? "?",
      file: attrs.classname && !attrs.classname.startsWith("ext:") ? attrs.classname : "",
      failed: Boolean(failure),
      message: message ? decodeXml(message).split("\n")[0] : "",
      skipped: /<skipped\b/.test(body),
    });
  }
  if (cases.length === 0 && !/<testsuites\b/.test(xml)) return null;
  const prefixes = new Set();
  for (const c of cases) {
    const parts = c.name.split(" > ");
    for (let i = 1; i < parts.length; i++) prefixes.add(parts.slice(0, i).join(" > "));
  }
  const failedPrefixes = new Set();
  for (const c of cases) {
    if (!c.failed) continue;
    const parts = c.name.split(" > ");
    for (let i = 1; i < parts.length; i++) failedPrefixes.add(parts.slice(0, i).join(" > "));
  }
  const result = { passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const c of cases) {
    if (prefixes.has(c.name)) {
      // A suite (or a test with t.test subtests). Its failure is its own only when nothing
      // inside failed: a throwing `after` hook.
      if (c.failed && !failedPrefixes.has(c.name)) {
        result.failed++;
        result.failures.push(`${c.name} [suite failed: hook?]${c.message ? ` — ${c.message.slice(0, 200)}` : ""}`);
      }
      continue;
    }
    if (c.skipped) result.skipped++;
    else if (c.failed) {
      result.failed++;
      result.failures.push(`${c.name}${c.file ? ` (${c.file.replace(/^\.\//, "")})` : ""}${c.message ? ` — ${c.message.slice(0, 200)}` : ""}`);
    } else result.passed++;
  }
  return result;
}

/** Errors Deno attributes to a module rather than a test (top-level throw, dangling promise). */
export function denoUncaught(logText) {
  const idx = logText.search(/^\s*FAILURES\s*$/m);
  if (idx < 0) return [];
  return [...logText.slice(idx).matchAll(/^(\S.*) \(uncaught error\)\s*$/gm)].map((m) => m[1]);
}

/**
 * Parse Bun's test output. `(fail) a > b` lines name the failures. "Unhandled error between
 * tests" (a throwing `before` hook, a top-level throw, a stray rejection) is reported by Bun as
 * ` N errors` without failing any test, so each error counts as one failure here.
 */
export function parseBunOutput(text) {
  const num = (re) => {
    const all = [...text.matchAll(re)];
    return all.length ? Number(all[all.length - 1][1]) : undefined;
  };
  const pass = num(/^\s*(\d+) pass\s*$/gm);
  const fail = num(/^\s*(\d+) fail\s*$/gm);
  if (pass === undefined && fail === undefined) return null;
  const errors = num(/^\s*(\d+) errors?\s*$/gm) ?? 0;
  const skip = (num(/^\s*(\d+) skip\s*$/gm) ?? 0) + (num(/^\s*(\d+) todo\s*$/gm) ?? 0);
  const failures = [];
  const files = new Map(); // file -> { results, errors }
  let file = "";
  const stats = () => {
    if (!files.has(file)) files.set(file, { results: 0, errors: 0 });
    return files.get(file);
  };
  let failLines = 0;
  let recap = false;
  for (const line of text.split("\n")) {
    // Long runs end with "N tests failed:" and the (fail) lines again; they are not new failures.
    if (/^\d+ tests? failed:\s*$/.test(line)) recap = true;
    if (recap) continue;
    let m = /^(\S.*\.(?:test|spec)\.[cm]?[jt]sx?):$/.exec(line);
    if (m) {
      file = m[1];
      continue;
    }
    if (/^\((pass|skip|todo)\) /.test(line)) {
      stats().results++;
      continue;
    }
    m = /^\(fail\) (.*?)(?: \[[\d.]+\s*[mµn]?s\])?\s*$/.exec(line);
    if (m) {
      stats().results++;
      failLines++;
      failures.push(`${m[1]}${file ? ` (${file})` : ""}`);
      continue;
    }
    if (/^# Unhandled error between tests/.test(line)) {
      stats().errors++;
      failures.push(`unhandled error between tests${file ? ` in ${file}` : ""} (a failing hook, top-level throw or stray rejection; see log)`);
    }
  }
  // Bun counts a file that throws while loading as one "fail" *and* one "error"; count it once.
  const loadFailures = [...files.values()].filter((f) => f.errors > 0 && f.results === 0).length;
  const errorsSeen = [...files.values()].reduce((n, f) => n + f.errors, 0);
  const failed = Math.max((fail ?? 0) - loadFailures, failLines) + Math.max(errors, errorsSeen);
  return { passed: pass ?? 0, failed, skipped: skip, failures };
}
