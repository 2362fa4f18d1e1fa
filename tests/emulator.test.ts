import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { HubEmulator } from "../src/testing/mod.ts";
import type { EmulatedRepo } from "../src/testing/mod.ts";

const TOKEN = "hf_test_token";
const AUTH = { Authorization: `Bearer ${TOKEN}` };

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function gitBlobSha1(content: Uint8Array): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

function sha256(content: Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

async function body(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

function head(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: "HEAD", redirect: "manual", headers });
}

function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { redirect: "manual", headers });
}

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Uint8Array;
  /** The connection ended with an error or before Content-Length bytes arrived. */
  cut: boolean;
}

/** A bare HTTP/1.1 GET over node:net, to see exactly what bytes a dropped response carried. */
function rawGet(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let errored = false;
    const socket = connect({ host: u.hostname, port: Number(u.port) }, () => {
      const lines = [`GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, "Connection: close"];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      socket.write(lines.join("\r\n") + "\r\n\r\n");
    });
    socket.on("data", (c: Uint8Array) => chunks.push(new Uint8Array(c)));
    socket.on("error", () => (errored = true));
    socket.on("close", () => {
      const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) (all.set(c, at), at += c.length);
      const text = new TextDecoder("latin1").decode(all);
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) return reject(new Error(`no complete response head (${all.length} bytes)`));
      const [statusLine, ...headerLines] = text.slice(0, split).split("\r\n");
      const map = new Map<string, string>();
      for (const line of headerLines) {
        const i = line.indexOf(":");
        map.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
      }
      const b = all.subarray(split + 4);
      resolve({
        status: Number(statusLine.split(" ")[1]),
        headers: map,
        body: b,
        cut: errored || b.length !== Number(map.get("content-length")),
      });
    });
  });
}

describe("HubEmulator", () => {
  let hub: HubEmulator;
  let repo: EmulatedRepo;
  let first: string;
  let latest: string;
  const config = '{"a":1}';
  const weights = bytes(300_000);
  const small = bytes(100, 7);
  let resolveUrl: (path: string, revision?: string) => string;

  before(async () => {
    hub = await HubEmulator.start();
    repo = hub.createRepo("org/model");
    first = repo.commit({ "config.json": config, "model.bin": weights, "sub/dir/x.txt": "x" });
    latest = repo.commit({ "small.bin": small }, { lfs: ["small.bin"] });
    resolveUrl = (path, revision = "main") => `${hub.endpoint}/org/model/resolve/${encodeURIComponent(revision)}/${path}`;
  });
  after(() => hub.close());
  afterEach(() => {
    hub.clearFaults();
    hub.throttle(null);
  });

  describe("listeners", () => {
    test("the Hub listens on 127.0.0.1 and the CDN on another host name, both reachable", async () => {
      const endpoint = new URL(hub.endpoint);
      const cdn = new URL(hub.cdnOrigin);
      assert.equal(endpoint.hostname, "127.0.0.1");
      assert.notEqual(cdn.hostname, endpoint.hostname);
      assert.equal((await get(`${hub.endpoint}/nope`)).status, 404);
      const res = await get(`${hub.cdnOrigin}/lfs/${"0".repeat(64)}`);
      await res.body?.cancel();
      assert.equal(res.status, 404);
    });

    test("close() ends a stalled download promptly and frees the ports", async () => {
      const own = await HubEmulator.start();
      own.createRepo("a/b").commit({ "w.bin": bytes(5000) }, { regular: ["w.bin"] });
      // Longer than the test's own timeout: a close() that waited for the stall fails the test.
      own.injectFault({ kind: "stall", afterBytes: 100, ms: 600_000 });
      const res = await get(`${own.endpoint}/a/b/resolve/main/w.bin`);
      const reading = body(res).then(() => "complete", () => "cut");
      await new Promise((r) => setTimeout(r, 50));
      await own.close();
      assert.equal(await reading, "cut");
      await assert.rejects(fetch(`${own.endpoint}/a/b/resolve/main/w.bin`));
    });
  });

  describe("resolve", () => {
    test("a regular file answers 200 with its git blob sha1 as ETag, the commit and its bytes", async () => {
      const content = new TextEncoder().encode(config);
      const h = await head(resolveUrl("config.json"));
      assert.equal(h.status, 200);
      assert.equal(h.headers.get("etag"), `"${gitBlobSha1(content)}"`);
      assert.equal(h.headers.get("x-repo-commit"), latest);
      assert.equal(h.headers.get("content-length"), String(content.length));
      const g = await get(resolveUrl("config.json"));
      assert.equal(g.status, 200);
      assert.deepEqual(await body(g), content);
      assert.deepEqual(repo.fileInfo("config.json"), {
        etag: gitBlobSha1(content),
        size: content.length,
        lfs: false,
        sha256: sha256(content),
        gitSha1: gitBlobSha1(content),
        commit: latest,
      });
    });

    test("an LFS file answers 302 to the CDN host with X-Linked-Etag and X-Linked-Size; its own ETag is not the content hash", async () => {
      for (const method of ["HEAD", "GET"]) {
        const res = await fetch(resolveUrl("model.bin"), { method, redirect: "manual" });
        await res.body?.cancel();
        assert.equal(res.status, 302);
        const location = new URL(res.headers.get("location")!);
        assert.equal(location.origin, hub.cdnOrigin);
        assert.equal(res.headers.get("x-linked-etag"), `"${sha256(weights)}"`);
        assert.equal(res.headers.get("x-linked-size"), String(weights.length));
        assert.equal(res.headers.get("x-repo-commit"), latest);
        const etag = res.headers.get("etag");
        assert.ok(etag && !etag.includes(sha256(weights)), `302 ETag ${etag} must not be the content's`);
        assert.equal(res.headers.get("x-xet-hash"), null);
      }
      const info = repo.fileInfo("model.bin");
      assert.equal(info.lfs, true);
      assert.equal(info.etag, sha256(weights));
      assert.equal(info.size, weights.length);
    });

    test("the CDN serves LFS bytes under its own ETag (like a real CDN, never the sha256), and fetch follows the redirect", async () => {
      const h = await head(resolveUrl("model.bin"));
      const cdn = await get(h.headers.get("location")!);
      assert.equal(cdn.status, 200);
      assert.match(cdn.headers.get("etag")!, /^"[0-9a-f]+-[0-9a-f]+"$/);
      assert.ok(!cdn.headers.get("etag")!.includes(sha256(weights)));
      assert.ok(!Number.isNaN(Date.parse(cdn.headers.get("last-modified")!)));
      assert.equal(cdn.headers.get("content-length"), String(weights.length));
      assert.deepEqual(await body(cdn), weights);
      const followed = await fetch(resolveUrl("model.bin"));
      assert.deepEqual(await body(followed), weights);
    });

    test("LFS is chosen by size (lfsThreshold) unless a commit lists the path as lfs or regular", () => {
      assert.equal(repo.fileInfo("small.bin").lfs, true, "forced LFS below the threshold");
      assert.equal(repo.fileInfo("sub/dir/x.txt").lfs, false);
      const other = hub.createRepo("org/threshold");
      other.commit({ "a.bin": bytes(1023), "b.bin": bytes(1024), "c.bin": bytes(5000) }, { regular: ["c.bin"] });
      assert.equal(other.fileInfo("a.bin").lfs, false);
      assert.equal(other.fileInfo("b.bin").lfs, true);
      assert.equal(other.fileInfo("c.bin").lfs, false);
      assert.equal(other.fileInfo("c.bin").etag, gitBlobSha1(bytes(5000)));
    });

    test("xet repos add X-Xet-Hash to LFS answers and the plain CDN download still works", async () => {
      const xet = hub.createRepo("org/xet", { xet: true });
      const content = bytes(4096, 3);
      xet.commit({ "w.bin": content, "r.txt": "regular" });
      const h = await head(`${hub.endpoint}/org/xet/resolve/main/w.bin`);
      assert.equal(h.status, 302);
      assert.match(h.headers.get("x-xet-hash") ?? "", /^[0-9a-f]{64}$/);
      assert.equal(h.headers.get("x-xet-hash"), xet.fileInfo("w.bin").xetHash);
      assert.deepEqual(await body(await get(h.headers.get("location")!)), content);
      const r = await head(`${hub.endpoint}/org/xet/resolve/main/r.txt`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("x-xet-hash"), null);
    });

    test("datasets and spaces are served under /datasets/ and /spaces/ only", async () => {
      hub.createRepo("org/set", { type: "dataset" }).commit({ "data.csv": "a,b\n" });
      hub.createRepo("org/app", { type: "space" }).commit({ "app.py": "print(1)" });
      assert.equal((await head(`${hub.endpoint}/datasets/org/set/resolve/main/data.csv`)).status, 200);
      assert.equal((await head(`${hub.endpoint}/spaces/org/app/resolve/main/app.py`)).status, 200);
      const asModel = await head(`${hub.endpoint}/org/set/resolve/main/data.csv`);
      assert.equal(asModel.headers.get("x-error-code"), "RepoNotFound");
      assert.equal(hub.repo("org/set", "dataset").files().join(), "data.csv");
    });

    test("single-segment repo ids resolve like canonical models", async () => {
      hub.createRepo("gpt9").commit({ "config.json": "{}" });
      const res = await head(`${hub.endpoint}/gpt9/resolve/main/config.json`);
      assert.equal(res.status, 200);
    });

    test("revisions resolve by branch, tag, full commit and refs/pr/N (encoded or raw)", async () => {
      const dev = repo.commit({ "config.json": '{"dev":1}' }, { branch: "dev" });
      repo.setTag("v1", first);
      const pr = repo.createPullRequest(dev);
      const cases: [string, string][] = [
        [resolveUrl("config.json", "dev"), dev],
        [`${hub.endpoint}/org/model/resolve/dev/config.json`, dev],
        [resolveUrl("config.json", "v1"), first],
        [resolveUrl("config.json", first), first],
        [resolveUrl("config.json", `refs/pr/${pr}`), dev],
        [`${hub.endpoint}/org/model/resolve/refs/pr/${pr}/config.json`, dev],
      ];
      for (const [url, commit] of cases) {
        const res = await head(url);
        assert.equal(res.status, 200, url);
        assert.equal(res.headers.get("x-repo-commit"), commit, url);
      }
      assert.equal(repo.fileInfo("config.json", `refs/pr/${pr}`).commit, dev);
      const onPr = repo.commit({ "pr.txt": "p" }, { branch: `refs/pr/${pr}` });
      assert.equal(repo.resolveRevision(`refs/pr/${pr}`), onPr, "committing onto refs/pr/N moves the pull request");
      assert.equal(repo.resolveRevision("dev"), dev);
      assert.throws(() => repo.commit({ "x.txt": "x" }, { branch: "refs/pr/99" }));
      assert.deepEqual(repo.files("dev"), ["config.json", "model.bin", "small.bin", "sub/dir/x.txt"], "a new branch starts from main");
    });

    test("a commit carries the branch's files over and drops the deleted ones", async () => {
      const r = hub.createRepo("org/carry");
      const one = r.commit({ "a.txt": "a", "b.txt": "b" });
      const two = r.commit({ "c.txt": "c" }, { delete: ["a.txt"] });
      assert.notEqual(one, two);
      assert.deepEqual(r.files(), ["b.txt", "c.txt"]);
      assert.deepEqual(r.files(one), ["a.txt", "b.txt"]);
      const gone = await head(`${hub.endpoint}/org/carry/resolve/main/a.txt`);
      assert.equal(gone.headers.get("x-error-code"), "EntryNotFound");
      assert.equal((await head(`${hub.endpoint}/org/carry/resolve/${one}/a.txt`)).status, 200);
      assert.match(r.commit({}), /^[0-9a-f]{40}$/);
    });

    test("path segments are URL-decoded", async () => {
      const r = hub.createRepo("org/names");
      r.commit({ "dir with space/ä+b#.txt": "odd" });
      const res = await get(`${hub.endpoint}/org/names/resolve/main/${encodeURIComponent("dir with space")}/${encodeURIComponent("ä+b#.txt")}`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "odd");
    });
  });

  describe("errors", () => {
    test("a missing repo is RepoNotFound: 401 without a valid token, 404 with one", async () => {
      const anonymous = await head(`${hub.endpoint}/org/missing/resolve/main/x`);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get("x-error-code"), "RepoNotFound");
      assert.ok(anonymous.headers.get("x-error-message"));
      const authed = await get(`${hub.endpoint}/org/missing/resolve/main/x`, AUTH);
      assert.equal(authed.status, 404);
      assert.equal(authed.headers.get("x-error-code"), "RepoNotFound");
      assert.ok(((await authed.json()) as { error: string }).error);
    });

    test("a private repo is RepoNotFound (401) without a token and served with one; an unknown token is refused", async () => {
      hub.createRepo("org/private", { private: true }).commit({ "a.txt": "secret" });
      hub.createRepo("org/open").commit({ x: "public" });
      const url = `${hub.endpoint}/org/private/resolve/main/a.txt`;
      const anonymous = await head(url);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get("x-error-code"), "RepoNotFound");
      for (const target of [url, `${hub.endpoint}/org/open/resolve/main/x`]) {
        const wrong = await head(target, { Authorization: "Bearer hf_wrong" });
        assert.equal(wrong.status, 401, "an unknown token is refused, for public repos too");
        assert.equal(wrong.headers.get("x-error-code"), null);
        assert.equal(wrong.headers.get("x-error-message"), "Invalid credentials in Authorization header");
      }
      const ok = await get(url, AUTH);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), "secret");
      const api = await get(`${hub.endpoint}/api/models/org/private/revision/main`);
      assert.equal(api.headers.get("x-error-code"), "RepoNotFound");
      await api.body?.cancel();
    });

    test("a gated repo is GatedRepo: 401 without a valid token, 403 for a valid token without access", async () => {
      const own = await HubEmulator.start({ tokens: ["hf_alice", "hf_bob"] });
      try {
        own.createRepo("org/gated", { gated: true, grantedTokens: ["hf_alice"] }).commit({ "a.txt": "g" });
        const url = `${own.endpoint}/org/gated/resolve/main/a.txt`;
        const anonymous = await head(url);
        assert.equal(anonymous.status, 401);
        assert.equal(anonymous.headers.get("x-error-code"), "GatedRepo");
        const invalid = await head(url, { Authorization: "Bearer hf_test_token" });
        assert.equal(invalid.status, 401);
        assert.equal(invalid.headers.get("x-error-message"), "Invalid credentials in Authorization header");
        const bob = await head(url, { Authorization: "Bearer hf_bob" });
        assert.equal(bob.status, 403);
        assert.equal(bob.headers.get("x-error-code"), "GatedRepo");
        assert.ok(bob.headers.get("x-error-message"));
        assert.equal((await head(url, { Authorization: "Bearer hf_alice" })).status, 200);
      } finally {
        await own.close();
      }
    });

    test("an unknown revision is RevisionNotFound (404)", async () => {
      for (const revision of ["nope", "0123456789abcdef0123456789abcdef01234567", "refs/pr/99"]) {
        const res = await head(resolveUrl("config.json", revision));
        assert.equal(res.status, 404, revision);
        assert.equal(res.headers.get("x-error-code"), "RevisionNotFound", revision);
        assert.ok(res.headers.get("x-error-message"));
      }
    });

    test("a missing file is EntryNotFound (404) and carries X-Repo-Commit", async () => {
      for (const path of ["nope.txt", "sub/dir"]) {
        const res = await head(resolveUrl(path));
        assert.equal(res.status, 404);
        assert.equal(res.headers.get("x-error-code"), "EntryNotFound");
        assert.equal(res.headers.get("x-repo-commit"), repo.resolveRevision("main"));
        assert.ok(res.headers.get("x-error-message"));
      }
    });

    test("unknown routes and wrong methods answer 404", async () => {
      for (const [method, path] of [
        ["GET", "/"],
        ["GET", "/org/model"],
        ["GET", "/org/model/blob/main/config.json"],
        ["POST", "/org/model/resolve/main/config.json"],
        ["GET", "/api/whatever/org/model"],
        ["GET", "/api/models/org/model/paths-info/main"],
        ["POST", "/api/models/org/model/revision/main"],
      ]) {
        const res = await fetch(hub.endpoint + path, { method, redirect: "manual" });
        await res.body?.cancel();
        assert.equal(res.status, 404, `${method} ${path}`);
      }
      const cdn = await get(`${hub.cdnOrigin}/org/model/resolve/main/config.json`);
      await cdn.body?.cancel();
      assert.equal(cdn.status, 404, "the CDN host does not serve Hub routes");
    });
  });

  describe("ranges", () => {
    test("Range bytes=N- and bytes=N-M answer 206 with Content-Range, on resolve and on the CDN", async () => {
      const regular = new TextEncoder().encode(config);
      const cdnUrl = (await head(resolveUrl("model.bin"))).headers.get("location")!;
      for (const [url, content] of [[resolveUrl("config.json"), regular], [cdnUrl, weights]] as const) {
        const open = await get(url, { Range: "bytes=3-" });
        assert.equal(open.status, 206);
        assert.equal(open.headers.get("content-range"), `bytes 3-${content.length - 1}/${content.length}`);
        assert.deepEqual(await body(open), content.subarray(3));
        const closed = await get(url, { Range: "bytes=2-4" });
        assert.equal(closed.status, 206);
        assert.equal(closed.headers.get("content-range"), `bytes 2-4/${content.length}`);
        assert.equal(closed.headers.get("content-length"), "3");
        assert.deepEqual(await body(closed), content.subarray(2, 5));
        const past = await get(url, { Range: `bytes=1-${content.length + 100}` });
        assert.equal(past.headers.get("content-range"), `bytes 1-${content.length - 1}/${content.length}`);
        await past.body?.cancel();
        const suffix = await get(url, { Range: "bytes=-2" });
        assert.deepEqual(await body(suffix), content.subarray(content.length - 2));
      }
    });

    test("a range starting at or past the end answers 416 with Content-Range bytes */TOTAL", async () => {
      const size = new TextEncoder().encode(config).length;
      for (const start of [size, size + 10]) {
        const res = await get(resolveUrl("config.json"), { Range: `bytes=${start}-` });
        await res.body?.cancel();
        assert.equal(res.status, 416);
        assert.equal(res.headers.get("content-range"), `bytes */${size}`);
      }
    });

    test("the CDN's If-Range is strict RFC 9110: only its own strong ETag or exact Last-Modified keeps the range", async () => {
      const cdnUrl = (await head(resolveUrl("model.bin"))).headers.get("location")!;
      const plain = await head(cdnUrl);
      const etag = plain.headers.get("etag")!;
      const lastModified = plain.headers.get("last-modified")!;
      assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/, "nginx-like \"<hex mtime>-<hex size>\"");
      assert.equal(etag.split("-")[1], `${weights.length.toString(16)}"`);
      assert.equal(plain.headers.get("accept-ranges"), "bytes");
      for (const kept of [etag, lastModified]) {
        const res = await get(cdnUrl, { Range: "bytes=100-", "If-Range": kept });
        assert.equal(res.status, 206, kept);
        assert.deepEqual(await body(res), weights.subarray(100));
      }
      const older = new Date(Date.parse(lastModified) - 1000).toUTCString();
      for (const other of [`"${sha256(weights)}"`, `W/${etag}`, etag.slice(1, -1), older, "not a date"]) {
        const whole = await get(cdnUrl, { Range: "bytes=100-", "If-Range": other });
        assert.equal(whole.status, 200, other);
        assert.equal(whole.headers.get("content-range"), null);
        assert.deepEqual(await body(whole), weights);
      }
      const regularEtag = `"${repo.fileInfo("config.json").gitSha1}"`;
      const regular = await get(resolveUrl("config.json"), { Range: "bytes=1-", "If-Range": regularEtag });
      assert.equal(regular.status, 206, "the Hub's own ETag of a regular file is its git blob id");
      await regular.body?.cancel();
    });
  });

  describe("api", () => {
    test("GET /api/{type}s/{repo}/revision/{rev} answers id, sha and siblings", async () => {
      const res = await get(`${hub.endpoint}/api/models/org/model/revision/main`);
      assert.equal(res.status, 200);
      const info = (await res.json()) as { id: string; sha: string; siblings: { rfilename: string }[] };
      assert.equal(info.id, "org/model");
      assert.equal(info.sha, repo.resolveRevision("main"));
      assert.deepEqual(info.siblings.map((s) => s.rfilename), repo.files());
      const pr = repo.createPullRequest(first);
      const byPr = (await (await get(`${hub.endpoint}/api/models/org/model/revision/${encodeURIComponent(`refs/pr/${pr}`)}`)).json()) as { sha: string };
      assert.equal(byPr.sha, first);
      const set = hub.createRepo("org/api-set", { type: "dataset" });
      set.commit({ "d.csv": "1" });
      const ds = (await (await get(`${hub.endpoint}/api/datasets/org/api-set/revision/main`)).json()) as { id: string; siblings: unknown[] };
      assert.equal(ds.id, "org/api-set");
      assert.equal(ds.siblings.length, 1);
      const plain = (await (await get(`${hub.endpoint}/api/models/org/model`)).json()) as { sha: string };
      assert.equal(plain.sha, repo.resolveRevision("main"));
      const missing = await get(`${hub.endpoint}/api/models/org/model/revision/nope`);
      assert.equal(missing.status, 404);
      assert.equal(missing.headers.get("x-error-code"), "RevisionNotFound");
      await missing.body?.cancel();
    });

    test("GET …/tree/{rev}?recursive=true lists files (lfs for LFS files) and directories", async () => {
      const res = await get(`${hub.endpoint}/api/models/org/model/tree/main?recursive=true&expand=false`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("link"), null);
      const entries = (await res.json()) as Record<string, unknown>[];
      assert.deepEqual(entries.map((e) => `${e.type}:${e.path}`), [
        "file:config.json",
        "file:model.bin",
        "file:small.bin",
        "directory:sub",
        "directory:sub/dir",
        "file:sub/dir/x.txt",
      ]);
      const byPath = new Map(entries.map((e) => [e.path, e]));
      const cfg = new TextEncoder().encode(config);
      assert.deepEqual(byPath.get("config.json"), { type: "file", oid: gitBlobSha1(cfg), size: cfg.length, path: "config.json" });
      const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(weights)}\nsize ${weights.length}\n`;
      assert.deepEqual(byPath.get("model.bin"), {
        type: "file",
        oid: gitBlobSha1(new TextEncoder().encode(pointer)),
        size: weights.length,
        path: "model.bin",
        lfs: { oid: sha256(weights), size: weights.length, pointerSize: pointer.length },
      });
      const dir = byPath.get("sub") as { oid: string; size: number };
      assert.match(dir.oid, /^[0-9a-f]{40}$/);
      assert.equal(dir.size, 0);

      const top = (await (await get(`${hub.endpoint}/api/models/org/model/tree/main`)).json()) as { path: string }[];
      assert.deepEqual(top.map((e) => e.path), ["config.json", "model.bin", "small.bin", "sub"]);
      const sub = (await (await get(`${hub.endpoint}/api/models/org/model/tree/main/sub?recursive=true`)).json()) as { path: string }[];
      assert.deepEqual(sub.map((e) => e.path), ["sub/dir", "sub/dir/x.txt"]);
      const missing = await get(`${hub.endpoint}/api/models/org/model/tree/main/nope`);
      assert.equal(missing.status, 404);
      assert.equal(missing.headers.get("x-error-code"), "EntryNotFound");
      await missing.body?.cancel();
    });

    test("tree listings are paginated with an absolute Link rel=\"next\" until the last page", async () => {
      const own = await HubEmulator.start({ pageSize: 3 });
      try {
        const files: Record<string, string> = {};
        for (let i = 0; i < 10; i++) files[`f${i}.txt`] = String(i);
        files["d/e.txt"] = "e";
        own.createRepo("org/many").commit(files);
        let url: string | undefined = `${own.endpoint}/api/models/org/many/tree/main?recursive=true&expand=false`;
        const seen: string[] = [];
        let pages = 0;
        while (url) {
          const res: Response = await get(url);
          assert.equal(res.status, 200);
          const page = (await res.json()) as { path: string }[];
          assert.ok(page.length <= 3);
          seen.push(...page.map((e) => e.path));
          pages++;
          const link = res.headers.get("link");
          const m = link === null ? null : /^<([^>]+)>;\s*rel="next"$/.exec(link);
          if (link !== null) assert.ok(m, `malformed Link: ${link}`);
          url = m?.[1];
          if (url) {
            assert.ok(url.startsWith(`${own.endpoint}/api/models/org/many/tree/main?`), url);
            assert.ok(new URL(url).searchParams.get("cursor"));
            assert.equal(new URL(url).searchParams.get("recursive"), "true");
          }
        }
        assert.equal(pages, 4);
        assert.deepEqual(seen, ["d", "d/e.txt", ...Object.keys(files).filter((f) => f.startsWith("f")).sort()]);
      } finally {
        await own.close();
      }
    });

    test("POST …/paths-info/{rev} answers the entries of the paths that exist, JSON or form-encoded", async () => {
      const url = `${hub.endpoint}/api/models/org/model/paths-info/main`;
      const json = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ paths: ["config.json", "nope", "sub", "model.bin"], expand: false }),
      });
      assert.equal(json.status, 200);
      const entries = (await json.json()) as { path: string; type: string; lfs?: unknown }[];
      assert.deepEqual(entries.map((e) => `${e.type}:${e.path}`), ["file:config.json", "directory:sub", "file:model.bin"]);
      assert.ok(entries[2].lfs);
      const form = await fetch(url, { method: "POST", body: new URLSearchParams([["paths", "small.bin"], ["paths", "x"], ["expand", "false"]]) });
      assert.deepEqual(((await form.json()) as { path: string }[]).map((e) => e.path), ["small.bin"]);
      const bad = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{" });
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
    });
  });

  describe("tokens and redirects", () => {
    test("every request records whether it carried an Authorization header, CDN requests included", async () => {
      hub.clearRequests();
      const h = await head(resolveUrl("model.bin"), AUTH);
      const location = h.headers.get("location")!;
      await (await get(location)).arrayBuffer();
      await (await get(location, AUTH)).arrayBuffer();
      const [resolve, clean, leaked] = hub.requests;
      assert.equal(hub.requests.length, 3);
      assert.deepEqual([resolve.cdn, resolve.authorization, resolve.status], [false, true, 302]);
      assert.equal(resolve.host, new URL(hub.endpoint).host);
      assert.equal(resolve.path, "/org/model/resolve/main/model.bin");
      assert.equal(resolve.filePath, "model.bin");
      assert.equal(resolve.repo, "org/model");
      assert.equal(resolve.url, resolveUrl("model.bin"));
      assert.deepEqual([clean.cdn, clean.authorization, clean.status, clean.bytesSent], [true, false, 200, weights.length]);
      assert.equal(clean.host, new URL(hub.cdnOrigin).host);
      assert.equal(clean.filePath, "model.bin");
      assert.deepEqual([leaked.cdn, leaked.authorization], [true, true]);
      hub.clearRequests();
      assert.equal(hub.requests.length, 0);
    });

    test("requests record Range and If-Range", async () => {
      hub.clearRequests();
      await (await get(resolveUrl("config.json"), { Range: "bytes=1-", "If-Range": '"x"' })).arrayBuffer();
      assert.equal(hub.requests[0].range, "bytes=1-");
      assert.equal(hub.requests[0].ifRange, '"x"');
      assert.equal(hub.requests[0].status, 200);
    });

    test("a renamed repo answers 307 with a relative Location to the same URL under the new id", async () => {
      const r = hub.createRepo("org/before");
      r.commit({ "a.txt": "renamed" });
      hub.renameRepo("org/before", "org/after");
      assert.equal(r.id, "org/after");
      assert.equal(hub.repo("org/after"), r);
      assert.throws(() => hub.repo("org/before"));
      const res = await head(`${hub.endpoint}/org/before/resolve/main/a.txt?x=1`);
      assert.equal(res.status, 307);
      assert.equal(res.headers.get("location"), "/org/after/resolve/main/a.txt?x=1");
      const api = await get(`${hub.endpoint}/api/models/org/before/revision/main`);
      assert.equal(api.status, 307);
      assert.equal(api.headers.get("location"), "/api/models/org/after/revision/main");
      await api.body?.cancel();
      const followed = await fetch(`${hub.endpoint}/org/before/resolve/main/a.txt`);
      assert.equal(await followed.text(), "renamed");
      const set = hub.createRepo("org/set-before", { type: "dataset" });
      set.commit({ "d.csv": "1" });
      hub.renameRepo("org/set-before", "org/set-after", "dataset");
      const ds = await head(`${hub.endpoint}/datasets/org/set-before/resolve/main/d.csv`);
      assert.equal(ds.headers.get("location"), "/datasets/org/set-after/resolve/main/d.csv");
    });
  });

  describe("branch moves", () => {
    test("setBranch moves what a branch resolves to", async () => {
      const r = hub.createRepo("org/moving");
      const a = r.commit({ "f.txt": "a" });
      const b = r.commit({ "f.txt": "b" });
      const url = `${hub.endpoint}/org/moving/resolve/main/f.txt`;
      assert.equal((await head(url)).headers.get("x-repo-commit"), b);
      r.setBranch("main", a);
      const res = await get(url);
      assert.equal(res.headers.get("x-repo-commit"), a);
      assert.equal(await res.text(), "a");
      r.setBranch("other", b);
      assert.equal(r.resolveRevision("other"), b);
      r.deleteBranch("other");
      assert.equal((await head(`${hub.endpoint}/org/moving/resolve/other/f.txt`)).headers.get("x-error-code"), "RevisionNotFound");
      assert.throws(() => r.setBranch("main", "f".repeat(40)));
    });

    test("a moveBranch fault moves the branch just before the matching request is answered", async () => {
      const r = hub.createRepo("org/racing");
      const a = r.commit({ "f.txt": "a", "g.txt": "g" });
      const b = r.commit({ "f.txt": "b" });
      hub.injectFault({ kind: "moveBranch", branch: "main", to: a, match: { path: "f.txt", method: "GET" } });
      const url = `${hub.endpoint}/org/racing/resolve/main/f.txt`;
      assert.equal((await head(`${hub.endpoint}/org/racing/resolve/main/g.txt`)).headers.get("x-repo-commit"), b);
      assert.equal((await head(url)).headers.get("x-repo-commit"), b, "HEAD does not match the fault");
      const res = await get(url);
      assert.equal(res.headers.get("x-repo-commit"), a);
      assert.equal(await res.text(), "a");
      assert.equal(r.resolveRevision("main"), a);
      assert.equal(hub.pendingFaults, 0);
    });
  });

  describe("faults", () => {
    const cdnUrl = async (): Promise<string> => (await head(resolveUrl("model.bin"))).headers.get("location")!;

    test("drop sends the headers and afterBytes body bytes, then cuts the connection", async () => {
      hub.injectFault({ kind: "drop", afterBytes: 1000, match: { cdn: true } });
      const url = await cdnUrl();
      const raw = await rawGet(url);
      assert.equal(raw.status, 200);
      assert.equal(raw.headers.get("content-length"), String(weights.length));
      assert.equal(raw.cut, true);
      assert.deepEqual(raw.body, weights.subarray(0, 1000));
      const res = await get(url);
      assert.equal((await body(res)).length, weights.length, "used up after one request");

      hub.injectFault({ kind: "drop", afterBytes: 0 });
      const zero = await rawGet(url);
      assert.equal(zero.status, 200);
      assert.equal(zero.body.length, 0);
      assert.equal(zero.cut, true);

      hub.injectFault({ kind: "drop", afterBytes: 5000 });
      const viaFetch = await get(url, { Range: "bytes=1000-" });
      assert.equal(viaFetch.status, 206);
      await assert.rejects(body(viaFetch));
    });

    test("shortBody declares the full Content-Length but ends after `bytes`", async () => {
      hub.injectFault({ kind: "shortBody", bytes: 3, match: { path: "config.json" } });
      const raw = await rawGet(resolveUrl("config.json"));
      const content = new TextEncoder().encode(config);
      assert.equal(raw.status, 200);
      assert.equal(raw.headers.get("content-length"), String(content.length));
      assert.deepEqual(raw.body, content.subarray(0, 3));
      assert.equal(raw.cut, true);
      hub.injectFault({ kind: "shortBody", bytes: 70_000 });
      const big = await rawGet(await cdnUrl(), { Range: "bytes=10-" });
      assert.equal(big.status, 206);
      assert.equal(big.headers.get("content-length"), String(weights.length - 10));
      assert.deepEqual(big.body, weights.subarray(10, 70_010));
      assert.equal(big.cut, true);
    });

    test("stall pauses after afterBytes and then delivers the whole body", async () => {
      hub.injectFault({ kind: "stall", afterBytes: 4096, ms: 300, match: { cdn: true } });
      const started = Date.now();
      const res = await get(await cdnUrl());
      assert.deepEqual(await body(res), weights);
      assert.ok(Date.now() - started >= 280, `took ${Date.now() - started} ms`);
    });

    test("corrupt flips exactly the byte at that file offset, in whole and in ranged bodies", async () => {
      const url = await cdnUrl();
      hub.injectFault({ kind: "corrupt", offset: 200_000 });
      const got = await body(await get(url));
      const diffs = [...got.keys()].filter((i) => got[i] !== weights[i]);
      assert.deepEqual(diffs, [200_000]);
      assert.equal(got[200_000], weights[200_000] ^ 0xff);
      assert.deepEqual(await body(await get(url)), weights, "the stored content is untouched");

      hub.injectFault({ kind: "corrupt", offset: 150_000 });
      const before = await body(await get(url, { Range: "bytes=160000-" }));
      assert.deepEqual(before, weights.subarray(160_000), "a range that does not cover the offset is intact");
      assert.equal(hub.pendingFaults, 1);
      const ranged = await body(await get(url, { Range: "bytes=100000-" }));
      assert.equal(ranged[50_000], weights[150_000] ^ 0xff);
      assert.equal(hub.pendingFaults, 0);
    });

    test("ignoreRange answers a ranged GET with 200 and the whole body", async () => {
      hub.injectFault({ kind: "ignoreRange", match: { cdn: true } });
      const res = await get(await cdnUrl(), { Range: "bytes=1000-" });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-range"), null);
      assert.deepEqual(await body(res), weights);
    });

    test("status answers the injected status with Retry-After, `times` times", async () => {
      hub.injectFault({ kind: "status", status: 503, retryAfter: 2, times: 2 });
      for (let i = 0; i < 2; i++) {
        const res = await head(resolveUrl("config.json"));
        assert.equal(res.status, 503);
        assert.equal(res.headers.get("retry-after"), "2");
      }
      assert.equal((await head(resolveUrl("config.json"))).status, 200);
      hub.injectFault({ kind: "status", status: 429, match: { cdn: true } });
      hub.injectFault({ kind: "status", status: 500, match: { path: "nope" } });
      assert.equal((await head(resolveUrl("model.bin"))).status, 302);
      const cdn = await get(await cdnUrl());
      await cdn.body?.cancel();
      assert.equal(cdn.status, 429);
      assert.equal(cdn.headers.get("retry-after"), null);
      assert.equal(hub.pendingFaults, 1);
      hub.clearFaults();
      assert.equal(hub.pendingFaults, 0);
      const api = await get(`${hub.endpoint}/api/models/org/model/revision/main`);
      assert.equal(api.status, 200);
      await api.body?.cancel();
    });

    test("wrongContentRange answers 206 with a Content-Range that starts elsewhere", async () => {
      hub.injectFault({ kind: "wrongContentRange" });
      const res = await get(await cdnUrl(), { Range: "bytes=1000-" });
      assert.equal(res.status, 206);
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
      assert.ok(m);
      assert.notEqual(Number(m[1]), 1000);
      assert.deepEqual(await body(res), weights.subarray(Number(m[1])), "the body matches the header it came with");
    });

    test("body faults wait for a GET that serves file bytes; match filters by path and host", async () => {
      hub.injectFault({ kind: "drop", afterBytes: 10, match: { path: "model.bin" } });
      assert.equal((await head(resolveUrl("model.bin"))).status, 302, "a HEAD carries no body");
      await (await get(resolveUrl("config.json"))).arrayBuffer();
      assert.equal(hub.pendingFaults, 1);
      assert.equal((await rawGet(await cdnUrl())).body.length, 10);
      assert.equal(hub.pendingFaults, 0);
      hub.injectFault({ kind: "drop", afterBytes: 10, match: { cdn: false } });
      assert.deepEqual(await body(await get(await cdnUrl())), weights);
      hub.injectFault({ kind: "drop", afterBytes: 10_000_000 });
      assert.deepEqual(await body(await get(await cdnUrl())), weights, "a body no longer than afterBytes is not dropped");
      assert.equal(hub.pendingFaults, 2);
      assert.throws(() => hub.injectFault({ kind: "drop", afterBytes: -1 }));
      assert.throws(() => hub.injectFault({ kind: "stall", afterBytes: 0, ms: 10, times: 0 }));
    });

    test("throttle limits the body rate per connection, and null lifts it", async () => {
      const url = await cdnUrl();
      hub.throttle(500_000);
      hub.clearRequests();
      const started = Date.now();
      assert.deepEqual(await body(await get(url, { Range: "bytes=0-149999" })), weights.subarray(0, 150_000));
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250, `150 kB at 500 kB/s took only ${elapsed} ms`);
      assert.equal(hub.requests[0].bytesSent, 150_000);
      // At 1 kB/s the whole body would outlast the test's timeout: it arrives only if null lifts it.
      hub.throttle(1_000);
      hub.throttle(null);
      assert.deepEqual(await body(await get(url)), weights);
    });
  });

  describe("large files", () => {
    test("a 64 MiB LFS file streams whole and by range, byte-exact", async () => {
      const big = new Uint8Array(64 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
      const r = hub.createRepo("org/big");
      r.commit({ "big.bin": big });
      const location = (await head(`${hub.endpoint}/org/big/resolve/main/big.bin`)).headers.get("location")!;
      const whole = await body(await get(location));
      assert.equal(whole.length, big.length);
      assert.equal(sha256(whole), r.fileInfo("big.bin").sha256);
      const tail = await body(await get(location, { Range: `bytes=${big.length - 5_000_000}-` }));
      assert.deepEqual(tail, big.subarray(big.length - 5_000_000));
    });
  });
});

describe("HubEmulator: CDN variants and HTTP quirks of real servers", () => {
  const weights = bytes(50_000, 9);
  const text = "hello ".repeat(400);

  async function started(options: Parameters<typeof HubEmulator.start>[0]): Promise<{ hub: HubEmulator; cdnUrl: string; resolve: (p: string) => string }> {
    const hub = await HubEmulator.start(options);
    hub.createRepo("org/v").commit({ "w.bin": weights, "t.txt": text }, { regular: ["t.txt"] });
    const resolve = (p: string): string => `${hub.endpoint}/org/v/resolve/main/${p}`;
    const location = (await head(resolve("w.bin"))).headers.get("location")!;
    return { hub, cdnUrl: new URL(location, hub.endpoint).href, resolve };
  }

  async function ranged(url: string, ifRange?: string): Promise<number> {
    const res = await get(url, { Range: "bytes=10-", ...(ifRange === undefined ? {} : { "If-Range": ifRange }) });
    const got = await body(res);
    assert.deepEqual(got, res.status === 206 ? weights.subarray(10) : weights);
    return res.status;
  }

  test("etag 'none' (the Xet bridge): no ETag; Range still works; If-Range only with the exact Last-Modified", async () => {
    const { hub, cdnUrl } = await started({ cdn: { etag: "none" } });
    try {
      const h = await head(cdnUrl);
      assert.equal(h.headers.get("etag"), null);
      assert.equal(await ranged(cdnUrl), 206);
      assert.equal(await ranged(cdnUrl, `"${sha256(weights)}"`), 200);
      assert.equal(await ranged(cdnUrl, h.headers.get("last-modified")!), 206);
    } finally {
      await hub.close();
    }
  });

  test("etag 'weak': W/ tags never satisfy If-Range, not even the server's own", async () => {
    const { hub, cdnUrl } = await started({ cdn: { etag: "weak" } });
    try {
      const etag = (await head(cdnUrl)).headers.get("etag")!;
      assert.match(etag, /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
      assert.equal(await ranged(cdnUrl, etag), 200);
      assert.equal(await ranged(cdnUrl, etag.slice(2)), 200);
      assert.equal(await ranged(cdnUrl), 206);
    } finally {
      await hub.close();
    }
  });

  test("etag 'md5' (S3): a stable 32-hex tag that is not the content hash; it satisfies If-Range", async () => {
    const { hub, cdnUrl } = await started({ cdn: { etag: "md5" } });
    try {
      const etag = (await head(cdnUrl)).headers.get("etag")!;
      assert.match(etag, /^"[0-9a-f]{32}"$/);
      assert.equal((await head(cdnUrl)).headers.get("etag"), etag);
      assert.equal(await ranged(cdnUrl, etag), 206);
      assert.equal(await ranged(cdnUrl, `"${sha256(weights)}"`), 200);
    } finally {
      await hub.close();
    }
  });

  test("etag 'per-request' (several CDN nodes): every answer has its own tag, so an earlier tag answers 200", async () => {
    const { hub, cdnUrl } = await started({ cdn: { etag: "per-request" } });
    try {
      const first = (await head(cdnUrl)).headers.get("etag")!;
      const second = (await head(cdnUrl)).headers.get("etag")!;
      assert.match(first, /^"[0-9a-f]+-[0-9a-f]+"$/);
      assert.notEqual(first, second);
      assert.equal(await ranged(cdnUrl, second), 200);
      assert.equal(await ranged(cdnUrl), 206);
    } finally {
      await hub.close();
    }
  });

  test("ranges false: Range is ignored (200, whole body, no Accept-Ranges)", async () => {
    const { hub, cdnUrl } = await started({ cdn: { ranges: false } });
    try {
      assert.equal((await head(cdnUrl)).headers.get("accept-ranges"), null);
      assert.equal(await ranged(cdnUrl), 200);
    } finally {
      await hub.close();
    }
  });

  test("cdn.baseUrl sends LFS redirects to another server; a bad baseUrl is refused", async () => {
    const { hub, cdnUrl } = await started({ cdn: { baseUrl: "http://127.0.0.1:9/mirror" } });
    try {
      assert.match(cdnUrl, /^http:\/\/127\.0\.0\.1:9\/mirror\/lfs\/[0-9a-f]{64}\?/);
    } finally {
      await hub.close();
    }
    await assert.rejects(HubEmulator.start({ cdn: { baseUrl: "ftp://x" } }), RangeError);
  });

  test("quirk relativeLfsRedirect: the LFS 302 names /lfs/… on the Hub host, which serves it", async () => {
    const { hub, resolve } = await started({ quirks: { relativeLfsRedirect: true } });
    try {
      const h = await head(resolve("w.bin"));
      assert.equal(h.status, 302);
      assert.match(h.headers.get("location")!, /^\/lfs\/[0-9a-f]{64}\?/);
      assert.equal(h.headers.get("x-linked-etag"), `"${sha256(weights)}"`);
      assert.deepEqual(await body(await get(new URL(h.headers.get("location")!, hub.endpoint).href)), weights);
    } finally {
      await hub.close();
    }
  });

  test("quirk noContentLength: chunked bodies, and HEAD of a regular file without Content-Length", async () => {
    const { hub, cdnUrl, resolve } = await started({ quirks: { noContentLength: true } });
    try {
      const h = await head(resolve("t.txt"));
      assert.equal(h.status, 200);
      assert.equal(h.headers.get("content-length"), null);
      const raw = await rawGet(resolve("t.txt"));
      assert.equal(raw.headers.get("content-length"), undefined);
      assert.equal(raw.headers.get("transfer-encoding"), "chunked");
      assert.deepEqual(await body(await get(cdnUrl)), weights);
      const first = await get(cdnUrl, { Range: "bytes=0-0" });
      assert.equal(first.headers.get("content-range"), `bytes 0-0/${weights.length}`);
      await first.body?.cancel();
    } finally {
      await hub.close();
    }
  });

  test("quirk forceGzip: bodies are gzip although identity was asked, ranges count gzip bytes", async () => {
    const { hub, resolve } = await started({ quirks: { forceGzip: true } });
    try {
      const raw = await rawGet(resolve("t.txt"), { "Accept-Encoding": "identity" });
      assert.equal(raw.headers.get("content-encoding"), "gzip");
      const { gunzipSync } = await import("node:zlib");
      assert.equal(new TextDecoder().decode(gunzipSync(raw.body)), text);
      const tail = await rawGet(resolve("t.txt"), { "Accept-Encoding": "identity", Range: "bytes=5-" });
      assert.equal(tail.status, 206);
      assert.deepEqual(tail.body, raw.body.subarray(5));
    } finally {
      await hub.close();
    }
  });

  test("quirk headerCase: header names go out in the case asked for", async () => {
    for (const headerCase of ["lower", "upper"] as const) {
      const { hub, resolve } = await started({ quirks: { headerCase } });
      try {
        const names = await rawHeaderNames(resolve("t.txt"));
        assert.ok(names.includes(headerCase === "lower" ? "x-repo-commit" : "X-REPO-COMMIT"), names.join(","));
        assert.ok(names.includes(headerCase === "lower" ? "etag" : "ETAG"), names.join(","));
      } finally {
        await hub.close();
      }
    }
  });

  test("faults: a relative redirect to the same resource; Retry-After as an HTTP date; Content-Range forms", async () => {
    const { hub, cdnUrl } = await started({});
    try {
      hub.injectFault({ kind: "redirect", status: 307, match: { cdn: true } });
      const moved = await get(cdnUrl);
      await moved.body?.cancel();
      assert.equal(moved.status, 307);
      const location = moved.headers.get("location")!;
      assert.ok(location.startsWith(new URL(cdnUrl).pathname + "?"), location);
      assert.equal(new URLSearchParams(location.split("?")[1]).get("hop"), "1");
      assert.deepEqual(await body(await get(new URL(location, cdnUrl).href)), weights);

      const date = new Date(Date.now() + 5000).toUTCString();
      hub.injectFault({ kind: "status", status: 503, retryAfter: date });
      const busy = await get(cdnUrl);
      await busy.body?.cancel();
      assert.equal(busy.headers.get("retry-after"), date);

      hub.injectFault({ kind: "wrongContentRange", form: "unsatisfied" });
      const star = await get(cdnUrl, { Range: "bytes=10-" });
      await star.body?.cancel();
      assert.equal(star.status, 206);
      assert.equal(star.headers.get("content-range"), `bytes */${weights.length}`);
      hub.injectFault({ kind: "wrongContentRange", form: "unknownTotal" });
      const unknown = await get(cdnUrl, { Range: "bytes=10-" });
      assert.equal(unknown.headers.get("content-range"), `bytes 10-${weights.length - 1}/*`);
      assert.deepEqual(await body(unknown), weights.subarray(10));
    } finally {
      await hub.close();
    }
  });
});

/** The response header names exactly as the server wrote them. */
function rawHeaderNames(url: string): Promise<string[]> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let text = "";
    const socket = connect({ host: u.hostname, port: Number(u.port) }, () => {
      socket.write(`HEAD ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`);
    });
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => (text += d));
    socket.on("error", reject);
    socket.on("close", () => resolve(text.split("\r\n\r\n")[0].split("\r\n").slice(1).map((l) => l.slice(0, l.indexOf(":")))));
  });
}
