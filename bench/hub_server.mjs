// A Hub emulator in its own process for benchmarks, so the server does not share the
// client's event loop. Prints one JSON line {endpoint, repo, path, size, url} and serves
// until stdin closes.
import { HubEmulator } from "../dist/src/testing/mod.js";

const size = Number(process.argv[2] ?? 512 * 1024 * 1024);
const hub = await HubEmulator.start();
const data = new Uint8Array(size);
for (let i = 0; i < size; i += 4096) data[i] = (i / 4096) & 0xff;
hub.createRepo("bench/model").commit({ "model.safetensors": data }, { lfs: ["model.safetensors"] });
console.log(JSON.stringify({
  endpoint: hub.endpoint,
  repo: "bench/model",
  path: "model.safetensors",
  size,
  url: `${hub.endpoint}/bench/model/resolve/main/model.safetensors`,
}));
process.stdin.resume();
process.stdin.on("end", async () => {
  await hub.close();
  process.exit(0);
});
