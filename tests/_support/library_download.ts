/**
 * A process that uses hubcache as a library, as an application would: `downloadFile` from the
 * package's entry point, with the running runtime's adapter. Prints the snapshot path.
 * Arguments: `<endpoint> <cacheDir> <token> <repo> <path>`.
 *
 * @module
 */

import process from "node:process";
import { downloadFile } from "../../mod.ts";

const [endpoint, cacheDir, token, repo, path] = process.argv.slice(-5);
const pointer = await downloadFile({ endpoint, cacheDir, token, repo, path, forceDownload: true });
process.stdout.write(pointer + "\n");
