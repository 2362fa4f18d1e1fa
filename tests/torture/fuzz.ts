/**
 * Torture part 6: hostile-input fuzzing with fast-check.
 *
 * Every validator and header parser the core applies to what users and servers send —
 * repo ids, revisions, file paths, ETags, commit hashes, sizes, `Content-Range`, `Link`,
 * `Retry-After`, names found in `blobs/` and in the cache root, cached tree listings, and the
 * `Location` of redirects (through a tiny HTTP server on 127.0.0.1) — is fed generated input,
 * mostly built from the pieces attacks are made of (`..`, `/`, `\`, NUL, control characters,
 * lone surrogates, drive letters, percent escapes, `W/` and quotes, signs and exponents).
 *
 * Properties: nothing that passes validation escapes the cache once joined under it (the joined
 * path is normalised and its prefix checked); no `..`, absolute path, backslash or NUL survives;
 * whatever passes can be put in a request URL and comes back out of it unchanged; parsers throw
 * nothing but our typed errors (and never crash the process); validators and parsers are
 * idempotent; names the cache layout produces parse back to what produced them; and a redirect
 * never sends the token to another host, never leaves http(s), and is not followed to another
 * host when the caller asked to stop at absolute redirects.
 *
 * @module
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as fc from "fast-check";
import { memoryRuntime } from "../../src/adapters/memory/mod.ts";
import { HubcacheError, InvalidInputError, UnsafeResponseError } from "../../src/core/errors.ts";
import { hubFetch, type HubClient } from "../../src/core/hub/client.ts";
import { retryDelayMs } from "../../src/core/hub/retries.ts";
import { resolveUrl } from "../../src/core/hub/urls.ts";
import {
  blobPath,
  noExistPath,
  parseBlobsEntry,
  parseRepoFolderName,
  pointerPath,
  refPath,
  relativeBlobTarget,
  repoFolderName,
  repoLayout,
  tempBlobName,
  treePath,
} from "../../src/core/cache/layout.ts";
import { dirname, joinPath } from "../../src/core/fs/paths.ts";
import type { Platform } from "../../src/core/ports.ts";
import { nextLink } from "../../src/core/hub/listing.ts";
import { contentRangeMatches } from "../../src/core/download/transfer.ts";
import { readTreeCache } from "../../src/core/cache/tree_cache.ts";
import {
  isEtag,
  parseCommit,
  parseEtag,
  parseSize,
  type RepoType,
  validateRepoId,
  validateRepoPath,
  validateRevision,
} from "../../src/core/cache/validate.ts";
import { normalizePosix } from "./invariants.ts";
import type { PartOptions, PartReport } from "./report.ts";

const PART = "fuzz";
const CACHE = "/home/u/.cache/huggingface/hub";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const ETAG64 = "a".repeat(64);
const TYPES: readonly RepoType[] = ["model", "dataset", "space"];

// ---------------------------------------------------------------------------------------------
// Helpers

class PropertyFailure extends Error {}

function check(cond: boolean, message: string): asserts cond {
  if (!cond) throw new PropertyFailure(message);
}

/** Call a validator/parser; anything thrown must be the typed error it documents. */
function attempt<T>(fn: () => T, allowed: abstract new (...args: never[]) => Error): { ok: true; value: T } | { ok: false } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (err instanceof PropertyFailure) throw err;
    check(err instanceof allowed, `threw ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)} instead of ${allowed.name}`);
    return { ok: false };
  }
}

function inside(path: string, dir: string, what: string): void {
  const n = normalizePosix(path);
  check(n.startsWith(dir + "/"), `${what} '${path}' normalises to '${n}', outside ${dir}`);
  check(!path.includes("\0") && !path.includes("\\"), `${what} '${path}' carries a NUL or a backslash`);
}

/** Whether a string is well-formed UTF-16 (no lone surrogate): `String.prototype.isWellFormed`. */
function wellFormed(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

function shown(value: unknown): string {
  const text = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value, (_k, v) => typeof v === "bigint" ? String(v) : v);
  return (text ?? String(value)).slice(0, 300);
}

const stubPlatform = (seed: number): Platform => {
  let x = seed >>> 0;
  return {
    now: () => 1_700_000_000_000,
    sleep: () => Promise.resolve(),
    timeout: (_ms, signal) => new Promise<void>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true })),
    randomHex: (bytes) => {
      let hex = "";
      for (let i = 0; i < bytes; i++) {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        hex += (x >>> 24).toString(16).padStart(2, "0");
      }
      return hex;
    },
    hostname: () => "fuzzhost",
    pid: () => 1,
    isProcessAlive: () => true,
    env: () => undefined,
    homeDir: () => "/home/u",
  };
};

// ---------------------------------------------------------------------------------------------
// Arbitraries: built from the pieces attacks are made of

const PIECES = [
  "..", ".", "", "/", "//", "\\", "\0", "--", "-", "_", "a", "Z", "9", "x.y", "org", "name", "refs", "pr", "1",
  "%2e%2e", "%2F", "%00", "C:", "c:\\", "~", " ", "\t", "\n", "\r", "\u0007", "\u007f", "é", "\u202e", "\ud800", "\udc00",
  "\ufeff", ".git", "CON", "a:b", "?", "#", "*", "..%2f", "／", "．．",
];
const piece = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...PIECES) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 4 }) },
);
/** Path-like strings: mostly hostile pieces glued together. */
const pathish = fc.oneof(
  { weight: 6, arbitrary: fc.array(piece, { maxLength: 9 }).map((p) => p.join("")) },
  { weight: 3, arbitrary: fc.array(fc.oneof(piece, fc.stringMatching(/^[a-z0-9._-]{1,8}$/)), { maxLength: 6 }).map((p) => p.join("/")) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
);
const hexish = fc.oneof(
  fc.stringMatching(/^[0-9a-f]{40}$/),
  fc.stringMatching(/^[0-9a-f]{64}$/),
  fc.stringMatching(/^[0-9a-fA-F]{38,66}$/),
  fc.stringMatching(/^[0-9a-g]{40}$/),
);
const etagHeader = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom("", "W/", "w/", " W/", "W/W/"), fc.constantFrom("", '"', "'"), hexish, fc.constantFrom("", '"', "'"), fc.constantFrom("", " ", "\t", "\n", "/..", ".partial"))
    .map((p) => p.join("")) },
  { weight: 1, arbitrary: pathish },
);
const sizeHeader = fc.oneof(
  fc.nat().map(String),
  fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
  fc.tuple(fc.constantFrom("", " ", "+", "-", "0", "00", "\t"), fc.stringMatching(/^[0-9]{1,18}$/), fc.constantFrom("", " ", ".0", "e3", "n", "\n", " 1"))
    .map((p) => p.join("")),
  fc.constantFrom("", "NaN", "Infinity", "0x10", "1e3", "٣", "１２", "9007199254740991", "9007199254740992", "-0"),
  pathish,
);

// ---------------------------------------------------------------------------------------------
// The properties

interface FuzzProperty {
  readonly name: string;
  /** Share of the run's inputs (relative weight). */
  readonly weight: number;
  readonly make: (ctx: FuzzContext) => fc.IProperty<never> | fc.IAsyncProperty<never>;
}

interface FuzzContext {
  server?: RedirectServer;
}

function repoIdProperty(): fc.IProperty<never> {
  return fc.property(pathish, fc.constantFrom(...TYPES), (raw: string, type: RepoType) => {
    const r = attempt(() => validateRepoId(raw), InvalidInputError);
    if (!r.ok) return;
    const id = r.value;
    check(id === raw, "validateRepoId changed its input");
    check(validateRepoId(id) === id, "validateRepoId is not idempotent");
    const folder = repoFolderName(type, id);
    check(!/[/\\\0]/.test(folder) && folder !== ".." && folder !== ".", `repo folder '${folder}' is not a single safe name`);
    inside(joinPath(CACHE, folder), CACHE, "repo folder");
    const back = parseRepoFolderName(folder);
    check(back !== null && back.repoType === type && back.repoId === id, `repo folder '${folder}' parses back as ${shown(back)}`);
    const layout = repoLayout(CACHE, type, id);
    for (const p of [layout.blobsDir, layout.refsDir, layout.snapshotsDir, layout.locksDir, layout.tmpDir]) inside(p, CACHE, "repo folder");
    const url = new URL(resolveUrl("https://hub.example", type, id, "main", "f"));
    check(url.origin === "https://hub.example" && url.pathname.includes(`/${id}/resolve/main/f`), `repo id '${id}' changes the request URL: ${url.href}`);
  }) as unknown as fc.IProperty<never>;
}

function revisionProperty(): fc.IProperty<never> {
  return fc.property(pathish, (raw: string) => {
    const r = attempt(() => validateRevision(raw), InvalidInputError);
    if (!r.ok) return;
    const rev = r.value;
    check(rev === raw && validateRevision(rev) === rev, "validateRevision is not idempotent / changed its input");
    fc.pre(wellFormed(rev)); // lone surrogates: their own property below
    const layout = repoLayout(CACHE, "model", "org/name");
    inside(refPath(layout, rev), layout.refsDir, "ref file");
    check(normalizePosix(refPath(layout, rev)) === refPath(layout, rev), `ref path for ${shown(rev)} is not canonical`);
    let href: string;
    try {
      href = resolveUrl("https://hub.example", "model", "org/name", rev, "f");
    } catch (err) {
      throw new PropertyFailure(`a revision that passed validation cannot be put in a URL: resolveUrl threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    }
    const url = new URL(href);
    const m = /^\/org\/name\/resolve\/([^/]*)\/f$/.exec(url.pathname);
    check(url.origin === "https://hub.example" && m !== null, `revision ${shown(rev)} changes the request URL: ${url.href}`);
    check(decodeURIComponent(m[1]!) === rev, `revision ${shown(rev)} does not come back out of its URL`);
  }) as unknown as fc.IProperty<never>;
}

function repoPathProperty(): fc.IProperty<never> {
  return fc.property(pathish, fc.constantFrom(COMMIT.slice(0, 40).replace(/^./, "f"), ETAG64), (raw: string, etag: string) => {
    const r = attempt(() => validateRepoPath(raw), InvalidInputError);
    if (!r.ok) return;
    const path = r.value;
    check(path === raw && validateRepoPath(path) === path, "validateRepoPath is not idempotent / changed its input");
    fc.pre(wellFormed(path)); // lone surrogates: their own property below
    const layout = repoLayout(CACHE, "model", "org/name");
    const snap = joinPath(layout.snapshotsDir, COMMIT);
    const pointer = pointerPath(layout, COMMIT, path);
    inside(pointer, snap, "pointer");
    check(normalizePosix(pointer) === pointer, `pointer for ${shown(path)} is not canonical: '${pointer}'`);
    inside(noExistPath(layout, COMMIT, path), joinPath(layout.noExistDir, COMMIT), ".no_exist marker");
    const target = relativeBlobTarget(path, etag);
    check(normalizePosix(joinPath(dirname(pointer), target)) === blobPath(layout, etag), `pointer ${shown(path)} -> '${target}' does not land on its blob`);
    let href: string;
    try {
      href = resolveUrl("https://hub.example", "dataset", "org/name", "main", path);
    } catch (err) {
      throw new PropertyFailure(`a path that passed validation cannot be put in a URL: resolveUrl threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    }
    const url = new URL(href);
    const prefix = "/datasets/org/name/resolve/main/";
    check(url.origin === "https://hub.example" && url.pathname.startsWith(prefix) && url.search === "" && url.hash === "", `path ${shown(path)} changes the request URL: ${url.href}`);
    check(url.pathname.slice(prefix.length).split("/").map(decodeURIComponent).join("/") === path, `path ${shown(path)} does not come back out of its URL`);
  }) as unknown as fc.IProperty<never>;
}

function unicodeProperty(): fc.IProperty<never> {
  return fc.property(pathish, fc.boolean(), (raw: string, asRevision: boolean) => {
    const r = attempt(() => (asRevision ? validateRevision(raw) : validateRepoPath(raw)), InvalidInputError);
    if (!r.ok) return;
    const what = asRevision ? "revision" : "file path";
    // A lone surrogate has no UTF-8 form: encodeURIComponent throws URIError (untyped) when the
    // request URL is built, and file systems store U+FFFD instead, so two such paths share a file.
    let urlError = "";
    try {
      resolveUrl("https://hub.example", "model", "org/name", asRevision ? r.value : "main", asRevision ? "f" : r.value);
    } catch (err) {
      urlError = `; building its request URL throws ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
    }
    check(wellFormed(r.value), `${what} ${shown(r.value)} passed validation but holds a lone UTF-16 surrogate${urlError}`);
  }) as unknown as fc.IProperty<never>;
}

function etagProperty(): fc.IProperty<never> {
  return fc.property(fc.oneof(etagHeader, fc.constant(null)), (raw: string | null) => {
    const r = attempt(() => parseEtag(raw, "ETag"), UnsafeResponseError);
    if (!r.ok) return;
    const etag = r.value;
    check(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(etag), `parseEtag accepted ${shown(raw)} as '${etag}'`);
    check(parseEtag(etag, "x") === etag && parseEtag(`"${etag}"`, "x") === etag && parseEtag(`W/"${etag}"`, "x") === etag, "parseEtag is not idempotent");
    const layout = repoLayout(CACHE, "model", "org/name");
    inside(blobPath(layout, etag), layout.blobsDir, "blob");
    const entry = parseBlobsEntry(etag);
    check(entry.kind === "blob" && entry.etag === etag, `blob name '${etag}' is classified as ${shown(entry)}`);
  }) as unknown as fc.IProperty<never>;
}

function commitProperty(): fc.IProperty<never> {
  return fc.property(fc.oneof(etagHeader, hexish, fc.constant(undefined)), (raw: string | undefined) => {
    const r = attempt(() => parseCommit(raw, "X-Repo-Commit"), UnsafeResponseError);
    if (!r.ok) return;
    check(/^[0-9a-f]{40}$/.test(r.value), `parseCommit accepted ${shown(raw)} as '${r.value}'`);
    check(parseCommit(r.value, "x") === r.value, "parseCommit is not idempotent");
    const layout = repoLayout(CACHE, "model", "org/name");
    inside(joinPath(layout.snapshotsDir, r.value), layout.snapshotsDir, "snapshot");
  }) as unknown as fc.IProperty<never>;
}

function sizeProperty(): fc.IProperty<never> {
  return fc.property(sizeHeader, (raw: string) => {
    const r = attempt(() => parseSize(raw, "Content-Length"), UnsafeResponseError);
    if (!r.ok) return;
    check(Number.isSafeInteger(r.value) && r.value >= 0 && !Object.is(r.value, -0), `parseSize accepted ${shown(raw)} as ${r.value}`);
    check(BigInt(raw.trim()) === BigInt(r.value), `parseSize(${shown(raw)}) = ${r.value} is not the number written`);
    check(parseSize(String(r.value), "x") === r.value, "parseSize is not idempotent");
  }) as unknown as fc.IProperty<never>;
}

function contentRangeProperty(): fc.IProperty<never> {
  const header = fc.oneof(
    fc.tuple(fc.constantFrom("bytes ", "bytes  ", "BYTES ", "bytes=", " bytes ", "bytes\t", "items "), fc.nat(), fc.constantFrom("-", "–", " - "), fc.nat(), fc.constantFrom("/", " / "), fc.oneof(fc.nat().map(String), fc.constantFrom("*", "", "-1", "1e3")), fc.constantFrom("", " ", "\n", ",0-1/2"))
      .map(([a, s, d, e, sl, t, z]) => `${a}${s}${d}${e}${sl}${t}${z}`),
    pathish,
    fc.constant(null),
  );
  return fc.property(header, fc.nat(), fc.nat(), (h: string | null, start: number, total: number) => {
    let ok: boolean;
    try {
      ok = contentRangeMatches(h, start, total);
    } catch (err) {
      throw new PropertyFailure(`contentRangeMatches threw ${String(err)}`);
    }
    check(typeof ok === "boolean", "contentRangeMatches returned a non-boolean");
    if (ok) {
      // The total may be "*" (unknown to the server, RFC 9110 §14.4): the end still shows it.
      const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(h ?? "");
      check(m !== null && Number(m[1]) === start && (m[3] === "*" || Number(m[3]) === total) && Number(m[2]) === total - 1, `accepted ${shown(h)} for a request from ${start} of ${total}`);
    }
    if (start < total) check(contentRangeMatches(`bytes ${start}-${total - 1}/${total}`, start, total), `refused the exact range for ${start} of ${total}`);
    if (start < total) check(contentRangeMatches(`bytes ${start}-${total - 1}/*`, start, total), `refused the exact range with an unknown total for ${start} of ${total}`);
    check(!contentRangeMatches(`bytes */${total}`, start, total), `accepted the unsatisfied form for ${start} of ${total}`);
  }) as unknown as fc.IProperty<never>;
}

function linkProperty(): fc.IProperty<never> {
  const url = fc.stringMatching(/^https?:\/\/[a-z0-9.:-]{1,20}\/[A-Za-z0-9/?=&%._-]{0,30}$/);
  const param = fc.constantFrom('rel="next"', "rel=next", 'rel="prev"', 'REL="NEXT"', "rel = next", 'title="a,b"', 'rel="last"');
  const link = fc.tuple(url, fc.array(param, { maxLength: 3 })).map(([u, ps]) => `<${u}>${ps.map((p) => `; ${p}`).join("")}`);
  const header = fc.oneof(
    fc.array(link, { maxLength: 4 }).map((ls) => ls.join(", ")),
    pathish,
    fc.constant(null),
  );
  return fc.property(header, (h: string | null) => {
    let next: string | null;
    try {
      next = nextLink(h);
    } catch (err) {
      throw new PropertyFailure(`nextLink threw ${String(err)}`);
    }
    if (next !== null) check(typeof next === "string" && (h ?? "").includes(`<${next}>`), `nextLink(${shown(h)}) = ${shown(next)}, not a <target> of the header`);
    if (h !== null && /^(<[^<>,]*>(; [^;,<>]*)*)(, <[^<>,]*>(; [^;,<>]*)*)*$/.test(h)) {
      // Well-formed: the first link whose params contain rel=next (any case/quoting) is the one.
      const expected = h.split(", ").find((l) => /;\s*rel\s*=\s*"?next"?\s*(;|$)/i.test(l.slice(l.indexOf(">") + 1)));
      const want = expected ? expected.slice(1, expected.indexOf(">")) : null;
      check(next === want, `nextLink(${shown(h)}) = ${shown(next)}, expected ${shown(want)}`);
    }
  }) as unknown as fc.IProperty<never>;
}

function retryAfterProperty(): fc.IProperty<never> {
  const header = fc.oneof(
    fc.constant(null),
    fc.nat({ max: 100_000 }).map(String),
    fc.double().map(String),
    fc.constantFrom("", " ", "-1", "-0", "0", "Infinity", "1e309", "NaN", "0x10", "120 ", "Wed, 21 Oct 2015 07:28:00 GMT", "Thu, 01 Jan 2099 00:00:00 GMT", "Mon, 99 Foo 2024 99:99:99 GMT"),
    fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()),
    pathish,
  );
  return fc.property(fc.integer({ min: 1, max: 200 }), header, fc.nat(), (attemptNo: number, h: string | null, seed: number) => {
    let d: number;
    try {
      d = retryDelayMs(attemptNo, h, stubPlatform(seed));
    } catch (err) {
      throw new PropertyFailure(`retryDelayMs threw ${String(err)}`);
    }
    check(Number.isFinite(d) && d >= 0 && d <= 60_000, `retryDelayMs(${attemptNo}, ${shown(h)}) = ${d}`);
    if (h === null) check(d <= 10_000, `backoff ${d} ms for attempt ${attemptNo} exceeds 8 s + jitter`);
  }) as unknown as fc.IProperty<never>;
}

function blobsEntryProperty(): fc.IProperty<never> {
  const owner = fc.record({
    host: fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/),
    pid: fc.nat({ max: 4_000_000 }),
    nonce: fc.stringMatching(/^[0-9a-f]{8,32}$/),
  });
  const name = fc.oneof(
    fc.tuple(hexish, fc.constantFrom("", ".partial", ".incomplete", ".x.incomplete", ".partial.incomplete", ".lock", "/..", "..", ".a-1-0123456789.incomplete"), pathish)
      .map(([h, s, t]) => h + s + (t.length % 3 === 0 ? t : "")),
    fc.tuple(hexish, owner).map(([h, o]) => tempBlobName(h, o)),
    pathish,
  );
  return fc.property(name, (n: string) => {
    let e;
    try {
      e = parseBlobsEntry(n);
    } catch (err) {
      throw new PropertyFailure(`parseBlobsEntry threw ${String(err)}`);
    }
    if (e.kind === "other") return;
    check(isEtag(e.etag) && (n === e.etag || n.startsWith(e.etag + ".")), `'${n}' classified ${e.kind} with etag '${e.etag}'`);
    if (e.kind === "blob") check(n === e.etag, `'${n}' taken for a blob`);
    if (e.kind === "partial") check(n === `${e.etag}.partial`, `'${n}' taken for a partial`);
    if (e.kind === "legacy") check(n === `${e.etag}.incomplete`, `'${n}' taken for a legacy temp`);
    if (e.kind === "temp") check(tempBlobName(e.etag, e.owner) === n, `'${n}' parsed as a temp of ${shown(e.owner)} that names differently`);
    if (e.kind === "foreign-temp") check(n.endsWith(".incomplete"), `'${n}' taken for a foreign temp`);
    check(!n.includes("/") && !n.includes("\0"), `'${n}' (with a slash or NUL) was recognised as a ${e.kind}`);
  }) as unknown as fc.IProperty<never>;
}

function folderNameProperty(): fc.IProperty<never> {
  const name = fc.oneof(
    fc.tuple(fc.constantFrom("models", "datasets", "spaces", "model", "Models", ""), fc.array(fc.oneof(piece, fc.constant("--")), { maxLength: 6 }))
      .map(([t, rest]) => `${t}--${rest.join("")}`),
    pathish,
  ).filter((n) => !n.includes("/") && !n.includes("\0"));
  return fc.property(name, (n: string) => {
    let parsed;
    try {
      parsed = parseRepoFolderName(n);
    } catch (err) {
      throw new PropertyFailure(`parseRepoFolderName threw ${String(err)}`);
    }
    if (parsed === null) return;
    check(repoFolderName(parsed.repoType, parsed.repoId) === n, `'${n}' parses as ${shown(parsed)}, which names another folder`);
    // Names come from readdir: no "/" and no NUL (a backslash is an ordinary character on POSIX).
    const layout = repoLayout(CACHE, parsed.repoType, parsed.repoId);
    for (const p of [layout.repoDir, layout.blobsDir, layout.snapshotsDir, layout.locksDir]) {
      check(normalizePosix(p).startsWith(CACHE + "/") && normalizePosix(p) === p, `layout of parsed folder '${n}' leaves the cache: '${p}'`);
    }
  }) as unknown as fc.IProperty<never>;
}

function treeCacheProperty(): fc.IAsyncProperty<never> {
  const runtime = memoryRuntime({ pid: 77 });
  const layout = repoLayout(CACHE, "model", "org/name");
  // Mostly valid entries with one field made hostile, so each hostile value reaches the check.
  const validEntry = fc.record({
    size: fc.nat(),
    blob_id: fc.stringMatching(/^[0-9a-f]{40}$/),
    lfs_sha256: fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: undefined }),
    lfs_size: fc.option(fc.nat(), { nil: undefined }),
  }, { requiredKeys: ["size", "blob_id"] });
  const hostileField = fc.oneof(
    fc.record({ size: fc.oneof(fc.integer({ min: -(2 ** 53), max: -1 }), fc.double(), fc.constant(null), fc.string(), fc.constant(2 ** 53)) }),
    fc.record({ blob_id: fc.oneof(hexish, pathish, fc.integer(), fc.constant(null)) }),
    fc.record({ lfs_sha256: fc.oneof(hexish, pathish, fc.integer(), fc.constant(null)) }),
    fc.record({ lfs_size: fc.oneof(fc.integer({ min: -1000, max: -1 }), fc.double(), fc.string()) }),
    fc.constant({}),
  );
  const entry = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(validEntry, hostileField).map(([e, h]) => ({ ...e, ...h })) },
    { weight: 1, arbitrary: fc.jsonValue() },
  );
  const filePath = fc.oneof(fc.stringMatching(/^[a-z0-9_-]{1,8}(\/[a-z0-9_.-]{1,8}){0,2}$/), pathish);
  const tree = fc.record({
    format_version: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom("1", 2, null, 1.5) }),
    files: fc.oneof({ weight: 5, arbitrary: fc.dictionary(filePath, entry, { maxKeys: 4 }) }, { weight: 1, arbitrary: fc.jsonValue() }),
  }, { requiredKeys: [] });
  const raw = fc.oneof(
    { weight: 6, arbitrary: tree.map((t) => JSON.stringify(t)) },
    { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
  );
  return fc.asyncProperty(raw, async (text: string) => {
    await runtime.fs.mkdirp(layout.treesDir);
    await runtime.fs.writeFile(treePath(layout, COMMIT), new TextEncoder().encode(text));
    let files;
    try {
      files = await readTreeCache(runtime, layout, COMMIT);
    } catch (err) {
      throw new PropertyFailure(`readTreeCache threw ${String(err)}`);
    }
    if (files === null) return;
    check(Array.isArray(files), "readTreeCache returned a non-array");
    for (const f of files) {
      check(attempt(() => validateRepoPath(f.path), InvalidInputError).ok, `readTreeCache returned an invalid path ${shown(f.path)}`);
      check(isEtag(f.blobId) && (f.lfsSha256 === undefined || isEtag(f.lfsSha256)), `readTreeCache returned bad hashes for ${shown(f.path)}`);
      check(Number.isSafeInteger(f.size) && f.size >= 0, `readTreeCache returned size ${f.size} for ${shown(f.path)} (a file size is a non-negative integer)`);
      inside(pointerPath(layout, COMMIT, f.path), layout.snapshotsDir, "pointer from a cached tree");
    }
  }) as unknown as fc.IAsyncProperty<never>;
}

// ---------------------------------------------------------------------------------------------
// Redirects through a real loopback server

interface RedirectServer {
  readonly port: number;
  plan(id: string, hops: Array<{ status: number; location: string }>): void;
  unsendable: number;
  close(): Promise<void>;
}

async function startRedirectServer(): Promise<RedirectServer> {
  const plans = new Map<string, { hops: Array<{ status: number; location: string }>; next: number }>();
  const state = { unsendable: 0 };
  const server = createServer((req, res) => {
    const id = String(req.headers["x-fuzz-case"] ?? "");
    const p = plans.get(id);
    const hop = p && p.next < p.hops.length ? p.hops[p.next++] : undefined;
    if (!hop) {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "2" });
      res.end("ok");
      return;
    }
    try {
      res.writeHead(hop.status, { location: hop.location, "content-length": "0" });
    } catch {
      state.unsendable++;
      res.writeHead(200, { "content-length": "0" });
    }
    res.end();
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    plan: (id, hops) => {
      plans.set(id, { hops, next: 0 });
    },
    get unsendable(): number {
      return state.unsendable;
    },
    set unsendable(_v: number) {},
    close: () =>
      new Promise<void>((resolve) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

function locationProperty(ctx: FuzzContext): fc.IAsyncProperty<never> {
  const server = ctx.server!;
  const own = `http://127.0.0.1:${server.port}`;
  const other = `http://localhost:${server.port}`;
  const location = fc.oneof(
    fc.tuple(
      fc.constantFrom("", "http:", "https:", "HTTP:", "ftp:", "file:", "javascript:", "data:", "blob:", " http:", "h\ttp:"),
      fc.constantFrom("", "//", "\\\\", "/\\", "\\/", "/\t/", "///", " //", "/ /"),
      fc.constantFrom(`127.0.0.1:${server.port}`, `localhost:${server.port}`, "evil.invalid", "127.0.0.1", "", "user:pw@localhost:" + server.port, "[::1]"),
      fc.constantFrom("", "/", "/x", "/../../etc/passwd", "/%2e%2e/", "?q=1", "#f", "/a b", "/é"),
    ).map((p) => p.join("")),
    fc.constantFrom(`${own}/next`, `${other}/next`, "/relative", "relative", "../up", "", " ", "//localhost:" + server.port + "/x"),
    fc.string({ unit: "binary-ascii", maxLength: 30 }),
    pathish,
  );
  const hops = fc.array(fc.record({ status: fc.constantFrom(301, 302, 303, 307, 308), location }), { minLength: 1, maxLength: 3 });
  let n = 0;
  return fc.asyncProperty(hops, fc.boolean(), async (plan: Array<{ status: number; location: string }>, followAbsolute: boolean) => {
    const id = `case-${++n}`;
    server.plan(id, plan);
    const seen: Array<{ url: string; auth: boolean }> = [];
    const wrapped = (async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
      const auth = new Headers(init?.headers).has("authorization");
      seen.push({ url: url.href, auth });
      // Loopback only: anything else is answered here, never sent.
      if (url.hostname !== "127.0.0.1" && url.hostname !== "localhost") return new Response("not sent", { status: 200 });
      return await fetch(url.href, init);
    }) as typeof fetch;
    const client: HubClient = {
      endpoint: own,
      token: "hf_fuzz_secret",
      fetch: wrapped,
      platform: stubPlatform(n),
      userAgent: "hubcache-fuzz",
      signal: undefined,
    };
    let res: Response | undefined;
    try {
      res = await hubFetch(client, `${own}/start`, { method: "HEAD", headers: { "x-fuzz-case": id } }, { followAbsolute });
    } catch (err) {
      check(err instanceof HubcacheError, `hubFetch threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}, not a typed error`);
    }
    await res?.body?.cancel().catch(() => {});
    check(seen.length <= 11, `hubFetch made ${seen.length} requests`);
    for (const s of seen) {
      const u = new URL(s.url);
      check(u.protocol === "http:" || u.protocol === "https:", `hubFetch requested a non-HTTP URL ${s.url}`);
      if (s.auth) check(u.origin === own, `the token was sent to ${u.origin} (endpoint ${own}) after Location ${shown(plan.map((h) => h.location))}`);
      if (!followAbsolute) {
        check(u.origin === own, `with followAbsolute false, hubFetch followed Location ${shown(plan.map((h) => h.location))} to another host: ${s.url}`);
      }
    }
  }) as unknown as fc.IAsyncProperty<never>;
}

const PROPERTIES: readonly FuzzProperty[] = [
  { name: "validateRepoId: accepted ids stay one folder inside the cache and round-trip through the folder name", weight: 10, make: repoIdProperty },
  { name: "validateRevision: accepted revisions stay under refs/ and round-trip through the request URL", weight: 10, make: revisionProperty },
  { name: "validateRepoPath: accepted paths stay in their snapshot, link to their blob, round-trip through the URL", weight: 14, make: repoPathProperty },
  { name: "validateRevision/validateRepoPath: accepted strings are well-formed Unicode (one URL, one file name)", weight: 6, make: unicodeProperty },
  { name: "parseEtag: only 40/64 lowercase hex, idempotent, a blob name", weight: 8, make: etagProperty },
  { name: "parseCommit: only 40 lowercase hex, idempotent", weight: 6, make: commitProperty },
  { name: "parseSize: only non-negative safe integers, exactly the number written, idempotent", weight: 7, make: sizeProperty },
  { name: "contentRangeMatches: accepts exactly the range asked for (total given or *), never throws", weight: 8, make: contentRangeProperty },
  { name: "nextLink: returns a <target> of the header (the rel=next one), never throws", weight: 7, make: linkProperty },
  { name: "retryDelayMs: finite, between 0 and 60 s, whatever Retry-After says", weight: 7, make: retryAfterProperty },
  { name: "parseBlobsEntry: a recognised name is exactly the name its kind produces", weight: 8, make: blobsEntryProperty },
  { name: "parseRepoFolderName: a parsed folder names itself again and stays inside the cache", weight: 6, make: folderNameProperty },
  { name: "readTreeCache: arbitrary JSON gives null or files whose paths, hashes and sizes are valid", weight: 6, make: treeCacheProperty },
  { name: "hubFetch: Location headers never leak the token, leave http(s), or cross hosts when told not to", weight: 1.5, make: locationProperty },
];

// ---------------------------------------------------------------------------------------------
// The part

/** Options of {@link runFuzz} (the torture script passes {@link PartOptions}). */
export interface FuzzOptions extends Partial<PartOptions> {
  /** Total generated inputs over all properties. Default: short 2 000, long 120 000. */
  inputs?: number;
  /** fast-check seed. Default: from the clock (printed in the report). */
  seed?: number;
}

/**
 * Run part 6: every property with its share of `inputs`.
 *
 * @example
 * ```ts
 * const report = await runFuzz({ inputs: 100_000, seed: 42 });
 * ```
 */
export async function runFuzz(options: FuzzOptions = {}): Promise<PartReport> {
  const mode = options.mode ?? "short";
  const inputs = options.inputs ?? options.rounds ?? (mode === "short" ? 2_000 : 120_000);
  const seed = options.seed ?? ((Date.now() % 1_000_000_007) >>> 0);
  const started = Date.now();
  const totalWeight = PROPERTIES.reduce((n, p) => n + p.weight, 0);
  const violations: PartReport["violations"] = [];
  const notes: string[] = [`fast-check seed ${seed}`];
  let ran = 0;
  const ctx: FuzzContext = { server: await startRedirectServer() };
  try {
    const list = options.onlyRound !== undefined ? [options.onlyRound] : PROPERTIES.map((_, i) => i);
    for (const index of list) {
      const prop = PROPERTIES[index];
      if (!prop) continue;
      if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs) {
        notes.push(`skipped (time budget): ${prop.name}`);
        continue;
      }
      const numRuns = Math.max(20, Math.round((inputs * prop.weight) / totalWeight));
      const t0 = Date.now();
      const details = await fc.check(prop.make(ctx) as fc.IAsyncProperty<never>, { numRuns, seed: (seed + index) | 0 });
      ran += details.numRuns;
      notes.push(`${details.numRuns} inputs (${Date.now() - t0} ms): ${prop.name}`);
      if (details.failed) {
        const err = details.errorInstance;
        const why = err instanceof PropertyFailure ? err.message : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        violations.push({
          round: index,
          detail: `${prop.name}: ${why.slice(0, 600)} — shrunk counterexample ${shown(details.counterexample)} (fast-check seed ${details.seed}, path "${details.counterexamplePath}")`,
          replay: `node scripts/torture.mjs --part ${PART} --mode ${mode} --seed ${seed} --round ${index}`,
        });
        options.log?.(`${PART}: property ${index} FAILED: ${why.slice(0, 200)}`);
      }
    }
    if (ctx.server!.unsendable > 0) notes.push(`${ctx.server!.unsendable} generated Location values could not be sent by node:http (invalid header characters)`);
  } finally {
    await ctx.server!.close();
  }
  return {
    part: PART,
    title: "Hostile input fuzzing (fast-check) of validators, header parsers and redirects",
    rounds: ran,
    inputs: ran,
    runtimes: [typeof (globalThis as { Deno?: unknown }).Deno !== "undefined" ? "deno" : typeof (globalThis as { Bun?: unknown }).Bun !== "undefined" ? "bun" : "node"],
    durationMs: Date.now() - started,
    violations,
    notes,
  };
}
