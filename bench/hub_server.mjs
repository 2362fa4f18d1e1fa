// A Hub emulator in its own process for benchmarks, so the server does not share the clients'
// event loop. Serves `bench/model` (one LFS file of `size` bytes, behind the CDN redirect) and
// `bench/shards` (`shards` regular files of `shardBytes` each, as a sharded dataset's small files).
// Prints one JSON line {endpoint, model, shards} and then answers commands on stdin, one per line,
// with one JSON line each:
//   throttle <bytes/s>|off   limit every download body per connection (the CDN's per-connection rate)
//   stats                    {bytes, requests} sent since the last reset (bodies only)
//   reset                    forget the recorded requests
// Exits when stdin closes.
import { createInterface } from "node:readline";
import { HubEmulator } from "../dist/src/testing/mod.js";

const [size, shards, shardBytes] = process.argv.slice(2).map(Number);
const hub = await HubEmulator.start({ lfsThreshold: Number.MAX_SAFE_INTEGER });

const data = new Uint8Array(size);
for (let i = 0; i < size; i += 4096) data[i] = (i / 4096) & 0xff;
hub.createRepo("bench/model").commit({ "model.safetensors": data }, { lfs: ["model.safetensors"] });

const files = {};
for (let i = 0; i < shards; i++) {
  const shard = new Uint8Array(shardBytes);
  for (let j = 0; j < shardBytes; j += 64) shard[j] = (i * 31 + j) & 0xff;
  // Every shard distinct (as a dataset's are): identical contents share one blob, and a client
  // that stores content once would then download fewer files than the others.
  new DataView(shard.buffer).setUint32(1, i);
  files[`data/shard-${String(i).padStart(5, "0")}.bin`] = shard;
}
hub.createRepo("bench/shards").commit(files);

console.log(JSON.stringify({
  endpoint: hub.endpoint,
  model: { repo: "bench/model", path: "model.safetensors", size, url: `${hub.endpoint}/bench/model/resolve/main/model.safetensors` },
  shards: { repo: "bench/shards", files: shards, bytes: shards * shardBytes },
}));

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const [command, value] = line.trim().split(/\s+/);
  if (command === "throttle") hub.throttle(value === "off" ? null : Number(value));
  if (command === "reset") hub.clearRequests();
  const bytes = hub.requests.reduce((sum, r) => sum + r.bytesSent, 0);
  console.log(JSON.stringify({ command, bytes, requests: hub.requests.length }));
});
lines.on("close", async () => {
  await hub.close();
  process.exit(0);
});
