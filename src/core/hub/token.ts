/**
 * Which token to send, found as the Python client finds it (`huggingface_hub.get_token`): the
 * caller's own, else `HF_TOKEN` > `HUGGING_FACE_HUB_TOKEN`, else the file `hf auth login` wrote
 * (`HF_TOKEN_PATH` > `$HF_HOME/token` > `$XDG_CACHE_HOME/huggingface/token` >
 * `~/.cache/huggingface/token`); none of the implicit ones when `HF_HUB_DISABLE_IMPLICIT_TOKEN`
 * is set. Where the token came from is kept, so an error about it can say which one to fix.
 *
 * @module
 */

import { envFlag, envTokenFilePath } from "../environment.ts";
import { isFsError, type Runtime } from "../ports.ts";

/** A token and where it was found, for messages ("the token in /root/.cache/huggingface/token"). */
export interface HubToken {
  readonly value: string;
  /** Human words for its origin: `--token`, `HF_TOKEN`, `the token file /…/token`. */
  readonly source: string;
}

/**
 * The token to send: `explicit` (a string, or `false` for none) wins; otherwise the
 * environment, then the token file, unless `HF_HUB_DISABLE_IMPLICIT_TOKEN` forbids implicit
 * tokens. A token file that does not exist means no token; any other read failure is thrown
 * (the Python client does the same), since silently going anonymous would turn it into a
 * misleading "not found".
 */
export async function resolveToken(explicit: string | false | undefined, runtime: Runtime): Promise<HubToken | undefined> {
  if (explicit === false) return undefined;
  if (explicit !== undefined) return cleanToken(explicit) === undefined ? undefined : { value: explicit, source: "--token" };
  const { platform } = runtime;
  if (envFlag(platform, "HF_HUB_DISABLE_IMPLICIT_TOKEN")) return undefined;
  for (const name of ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]) {
    const value = cleanToken(platform.env(name));
    if (value) return { value, source: name };
  }
  const path = envTokenFilePath(platform);
  let bytes: Uint8Array;
  try {
    bytes = await runtime.fs.readFile(path);
  } catch (err) {
    if (isFsError(err, "ENOENT")) return undefined;
    throw err;
  }
  const value = cleanToken(new TextDecoder().decode(bytes));
  return value ? { value, source: `the token file ${path} (written by \`hf auth login\`)` } : undefined;
}

/** As `_clean_token`: line breaks removed, surrounding blanks trimmed, empty means none. */
function cleanToken(value: string | undefined): string | undefined {
  const cleaned = (value ?? "").replace(/[\r\n]/g, "").trim();
  return cleaned === "" ? undefined : cleaned;
}
