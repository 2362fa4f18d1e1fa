// Peer: @huggingface/hub into the same cache layout. Prints the file's (or snapshot's) path.
//   node bench/peer_hfjs.mjs file <endpoint> <repo> <path> <cacheDir>
//   node bench/peer_hfjs.mjs snapshot <endpoint> <repo> <cacheDir>
import { downloadFileToCacheDir, snapshotDownload } from "@huggingface/hub";

const [mode, hubUrl, repo, ...rest] = process.argv.slice(2);
const accessToken = "hf_test_token";
const out = mode === "snapshot"
  ? await snapshotDownload({ repo, hubUrl, cacheDir: rest[0], accessToken })
  : await downloadFileToCacheDir({ repo, path: rest[0], hubUrl, cacheDir: rest[1], accessToken });
console.log(out);
