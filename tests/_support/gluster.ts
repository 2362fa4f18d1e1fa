/**
 * A real distributed file system for the two-host tests: a single-node GlusterFS volume, mounted
 * twice with FUSE. Each mount is one "host" (processes writing through it set
 * `HUBCACHE_HOSTNAME`); the kernel keeps a separate dentry/attribute cache per mount and the
 * volume's own client caches (md-cache, write-behind, …) sit in each mount's `glusterfs`
 * process, so one host sees another's renames late — and a path-based open that races another
 * host's rename can fail with `ESTALE`, as on NFS/Lustre/GPFS.
 *
 * Set-up stays within seconds by reusing what is there: `glusterd` is started only if it is not
 * running; the volume (named after this worktree, so checkouts never collide) is created once
 * and reused by later test files and runs; each process makes (and removes) its own pair of
 * mounts. Anything that cannot be done is thrown as an Error saying why — callers fail, never
 * skip.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import { join } from "node:path";
import process from "node:process";
import { repoRoot } from "./cli.ts";

/** One "host": a FUSE mount of the volume and the host name its processes report. */
export interface GlusterHost {
  /** `host-a` or `host-b`: what `HUBCACHE_HOSTNAME` is set to for processes on this mount. */
  readonly name: string;
  /** Where the volume is mounted for this host. */
  readonly mount: string;
}

/** A directory on the volume, as each host sees it. */
export interface SharedDir {
  /** The path relative to the volume root. */
  readonly rel: string;
  /** `paths[i]` is the directory through `hosts[i]`'s mount. */
  readonly paths: readonly [string, string];
  /** The directory through the judge's mount (see {@link GlusterVolume.judge}). */
  readonly judged: string;
}

/** A mounted GlusterFS volume with two hosts. */
export interface GlusterVolume {
  readonly volume: string;
  /** The address the brick was registered under (glusterd refuses loopback addresses). */
  readonly server: string;
  readonly hosts: readonly [GlusterHost, GlusterHost];
  /**
   * A third mount no writer uses, for checking results: it has cached nothing of what the hosts
   * did, so it shows the volume as it is rather than as one host's caches still remember it
   * (each mount may serve names and sizes up to 1 s old).
   */
  readonly judge: string;
  /** What set-up did: reused or started glusterd, created or reused the volume, timings. */
  readonly notes: readonly string[];
  /** A new empty directory on the volume, visible through both mounts. */
  sharedDir(prefix: string): Promise<SharedDir>;
  /** Unmount this process's mounts (the volume stays for the next test file or run). */
  unmount(): Promise<void>;
}

interface Ran {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly error?: Error;
}

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<Ran> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let child;
    try {
      child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      resolve({ status: null, stdout, stderr, error: error as Error });
      return;
    }
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ status: null, stdout, stderr, error });
    });
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

const said = (r: Ran): string => (r.stderr.trim() || r.stdout.trim() || r.error?.message || `exit ${r.status}`).replace(/\s+/g, " ");

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Daemons and tools live in sbin, which a non-login PATH may lack. */
function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/local/sbin"].filter(Boolean);
  for (const dir of dirs) if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

function tools(): { gluster: string; glusterd: string; mount: string; umount: string } {
  if (process.platform !== "linux") throw new Error(`GlusterFS tests need Linux (this is ${process.platform})`);
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new Error("GlusterFS tests need root (glusterd, volume create and FUSE mounts); CI runs as root");
  }
  if (!existsSync("/dev/fuse")) throw new Error("/dev/fuse does not exist: this kernel/container has no FUSE, so GlusterFS cannot be mounted");
  const missing = ["gluster", "glusterd", "mount.glusterfs"].filter((n) => findBinary(n) === undefined);
  if (missing.length > 0) {
    throw new Error(`${missing.join(", ")} not found: install GlusterFS (as root: apt-get install -y glusterfs-server glusterfs-client; .ci/run does this)`);
  }
  return { gluster: findBinary("gluster")!, glusterd: findBinary("glusterd")!, mount: findBinary("mount") ?? "mount", umount: findBinary("umount") ?? "umount" };
}

/** `gluster --mode=script …`, retried while glusterd is busy with another transaction. */
async function gluster(bin: string, args: string[]): Promise<Ran> {
  for (let attempt = 0;; attempt++) {
    const r = await run(bin, ["--mode=script", ...args], 60_000);
    const busy = /another transaction|locking failed|lock.*held|try again/i.test(r.stderr + r.stdout);
    if (r.status === 0 || !busy || attempt >= 20) return r;
    await sleep(250 + attempt * 100);
  }
}

async function ensureGlusterd(t: ReturnType<typeof tools>, notes: string[]): Promise<void> {
  if ((await gluster(t.gluster, ["pool", "list"])).status === 0) {
    notes.push("glusterd was already running");
    return;
  }
  const started = await run(t.glusterd, [], 30_000);
  if (started.status !== 0) throw new Error(`could not start glusterd: ${said(started)}`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await gluster(t.gluster, ["pool", "list"]);
    if (r.status === 0) break;
    if (Date.now() > deadline) throw new Error(`glusterd started but does not answer 'gluster pool list': ${said(r)}`);
    await sleep(200);
  }
  notes.push("started glusterd");
}

/** Addresses to register the brick under: the host name, then every non-loopback IPv4 address. */
function candidateServers(): string[] {
  const out = [os.hostname()];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) out.push(a.address);
  }
  return [...new Set(out.filter(Boolean))];
}

/** The brick (`server:/path`) of an existing volume and whether it is started; undefined if absent. */
async function volumeInfo(bin: string, volume: string): Promise<{ brick: string; started: boolean } | undefined> {
  const r = await gluster(bin, ["volume", "info", volume, "--xml"]);
  const brick = /<brick [^>]*>([^<]+)</.exec(r.stdout)?.[1];
  if (r.status !== 0 || brick === undefined) return undefined;
  return { brick, started: /<statusStr>Started<\/statusStr>/.test(r.stdout) };
}

/** Whether the volume's brick process is running (`gluster volume status` says `<status>1`). */
async function brickOnline(bin: string, volume: string): Promise<boolean> {
  const r = await gluster(bin, ["volume", "status", volume, "--xml"]);
  return r.status === 0 && /<node>[\s\S]*?<status>1<\/status>/.test(r.stdout);
}

async function ensureVolume(t: ReturnType<typeof tools>, volume: string, brickDir: string, notes: string[]): Promise<string> {
  const existing = await volumeInfo(t.gluster, volume);
  if (existing && (!existing.brick.endsWith(":" + brickDir) || !existsSync(join(brickDir, ".glusterfs")))) {
    // Left by an earlier run whose temp folder was cleaned away: start over.
    await gluster(t.gluster, ["volume", "stop", volume, "force"]);
    const del = await gluster(t.gluster, ["volume", "delete", volume]);
    if (del.status !== 0) throw new Error(`volume ${volume} has a missing brick (${existing.brick}) and cannot be deleted: ${said(del)}`);
    notes.push(`deleted stale volume ${volume} (its brick ${existing.brick} was gone)`);
  } else if (existing) {
    // "Started" survives a reboot of glusterd while the brick process does not: a mount then
    // fails with "failed to get the port number for remote subvolume". `start force` restarts it.
    if (existing.started && !(await brickOnline(t.gluster, volume))) {
      const s = await gluster(t.gluster, ["volume", "start", volume, "force"]);
      if (s.status !== 0) throw new Error(`gluster volume start ${volume} force (its brick was offline) failed: ${said(s)}`);
      notes.push(`restarted the offline brick of volume ${volume}`);
    } else if (!existing.started) {
      const s = await gluster(t.gluster, ["volume", "start", volume, "force"]);
      if (s.status !== 0) throw new Error(`gluster volume start ${volume} failed: ${said(s)}`);
      notes.push(`started existing volume ${volume}`);
    } else {
      notes.push(`reused running volume ${volume}`);
    }
    return existing.brick.slice(0, existing.brick.lastIndexOf(":"));
  }
  await fsp.mkdir(brickDir, { recursive: true });
  const refused: string[] = [];
  for (const server of candidateServers()) {
    const c = await gluster(t.gluster, ["volume", "create", volume, `${server}:${brickDir}`, "force"]);
    if (c.status !== 0) {
      refused.push(`${server}: ${said(c)}`);
      continue;
    }
    const s = await gluster(t.gluster, ["volume", "start", volume]);
    if (s.status !== 0) throw new Error(`gluster volume start ${volume} failed: ${said(s)}`);
    notes.push(`created and started volume ${volume} with brick ${server}:${brickDir}`);
    return server;
  }
  throw new Error(`gluster volume create ${volume} failed for every address of this machine: ${refused.join("; ")}`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}

/**
 * Serialise set-up between test processes of this worktree (Node runs test files in parallel):
 * a directory made with mkdir, holding the owner's pid; a dead owner's lock is broken.
 */
async function withSetupLock<T>(stateDir: string, body: () => Promise<T>): Promise<T> {
  const lock = join(stateDir, "setup.lock");
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await fsp.mkdir(lock);
      await fsp.writeFile(join(lock, "pid"), String(process.pid));
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
      const owner = Number(await fsp.readFile(join(lock, "pid"), "utf8").catch(() => "0"));
      const age = Date.now() - ((await fsp.stat(lock).catch(() => null))?.mtimeMs ?? Date.now());
      if ((owner > 0 && !pidAlive(owner)) || (owner === 0 && age > 10_000)) {
        await fsp.rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`GlusterFS set-up lock ${lock} held by pid ${owner} for 2 minutes`);
      await sleep(100);
    }
  }
  try {
    return await body();
  } finally {
    await fsp.rm(lock, { recursive: true, force: true });
  }
}

async function glusterMountsUnder(dir: string): Promise<string[]> {
  const table = await fsp.readFile("/proc/mounts", "utf8").catch(() => "");
  // /proc/mounts escapes spaces as \040; our directories have none.
  return table.split("\n").map((l) => l.split(" ")).filter((f) => f[2] === "fuse.glusterfs" && f[1]?.startsWith(dir + "/")).map((f) => f[1]);
}

async function unmountDir(t: ReturnType<typeof tools>, dir: string): Promise<void> {
  let r = await run(t.umount, [dir]);
  // Busy (a killed writer's descriptor still closing): detach lazily, the kernel finishes later.
  if (r.status !== 0) r = await run(t.umount, ["-l", dir]);
  if (r.status === 0) await fsp.rmdir(dir).catch(() => {});
}

/** Mounts left by test processes that died (SIGKILL of a test runner): their pid is in the name. */
async function sweepDeadMounts(t: ReturnType<typeof tools>, stateDir: string, notes: string[]): Promise<void> {
  for (const dir of await glusterMountsUnder(stateDir)) {
    const pid = Number(/\/mnt-(\d+)-/.exec(dir)?.[1] ?? "0");
    if (pid > 0 && !pidAlive(pid)) {
      await unmountDir(t, dir);
      notes.push(`unmounted ${dir}, left by dead test process ${pid}`);
    }
  }
}

async function probeVisibility(a: string, b: string): Promise<void> {
  const name = `probe-${process.pid}-${Math.random().toString(16).slice(2)}`;
  await fsp.writeFile(join(a, name), "probe");
  try {
    for (let i = 0;; i++) {
      const seen = await fsp.readFile(join(b, name), "utf8").catch(() => undefined);
      if (seen === "probe") return;
      if (i >= 50) throw new Error(`a file written through ${a} never became visible through ${b}`);
      await sleep(100);
    }
  } finally {
    await fsp.rm(join(a, name), { force: true });
  }
}

/**
 * Start (or reuse) this worktree's GlusterFS volume and mount it twice for this process.
 * Throws an Error saying why when GlusterFS cannot be started or mounted here.
 *
 * @example
 * ```ts
 * const gv = await mountGlusterVolume();
 * try { const dir = await gv.sharedDir("race-"); … } finally { await gv.unmount(); }
 * ```
 */
export async function mountGlusterVolume(): Promise<GlusterVolume> {
  const started = Date.now();
  const t = tools();
  const id = createHash("sha256").update(repoRoot()).digest("hex").slice(0, 10);
  const volume = `hubcache-${id}`;
  const stateDir = join(os.tmpdir(), `hubcache-gluster-${id}`);
  await fsp.mkdir(stateDir, { recursive: true });
  const notes: string[] = [];
  const nonce = Math.random().toString(16).slice(2, 10);
  const mounts = ["host-a", "host-b", "judge"].map((name) => ({ name, mount: join(stateDir, `mnt-${process.pid}-${nonce}-${name}`) }));
  const server = await withSetupLock(stateDir, async () => {
    await ensureGlusterd(t, notes);
    await sweepDeadMounts(t, stateDir, notes);
    const server = await ensureVolume(t, volume, join(stateDir, "brick"), notes);
    for (const m of mounts) {
      await fsp.mkdir(m.mount, { recursive: true });
      const r = await run(t.mount, ["-t", "glusterfs", `${server}:/${volume}`, m.mount], 60_000);
      if (r.status !== 0 || !(await glusterMountsUnder(stateDir)).includes(m.mount)) {
        for (const done of mounts) await unmountDir(t, done.mount);
        throw new Error(`mount -t glusterfs ${server}:/${volume} ${m.mount} failed: ${said(r)}`);
      }
    }
    return server;
  });
  const hosts = mounts.slice(0, 2) as unknown as readonly [GlusterHost, GlusterHost];
  const judge = mounts[2].mount;
  const unmount = async (): Promise<void> => {
    for (const m of mounts) await unmountDir(t, m.mount);
  };
  try {
    await probeVisibility(mounts[0].mount, mounts[1].mount);
  } catch (err) {
    await unmount();
    throw err;
  }
  notes.push(`mounted ${server}:/${volume} at ${mounts.map((m) => m.mount).join(" and ")} in ${Date.now() - started} ms`);
  return {
    volume,
    server,
    hosts,
    judge,
    notes,
    async sharedDir(prefix: string): Promise<SharedDir> {
      const a = await fsp.mkdtemp(join(hosts[0].mount, prefix));
      const rel = a.slice(hosts[0].mount.length + 1);
      const b = join(hosts[1].mount, rel);
      for (let i = 0; !existsSync(b); i++) {
        if (i >= 50) throw new Error(`${a} never became visible as ${b}`);
        await sleep(100);
      }
      return { rel, paths: [a, b], judged: join(judge, rel) };
    },
    unmount,
  };
}
