// Peer: @huggingface/hub's downloadFileToCacheDir into the same cache layout.
import { downloadFileToCacheDir } from "@huggingface/hub";

const [endpoint, repo, path, cacheDir] = process.argv.slice(2);
const out = await downloadFileToCacheDir({ repo, path, hubUrl: endpoint, cacheDir, accessToken: "hf_test_token" });
console.log(out);
