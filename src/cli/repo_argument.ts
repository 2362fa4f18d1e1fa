/**
 * The repo argument of `download`, in the forms `hf download` takes: `org/name`,
 * `datasets/org/name` (`models/`, `spaces/`), and `hf://[<type>s/]<id>[@<revision>][/<path>]`.
 *
 * @module
 */

import type { RepoType } from "../core/cache/validate.ts";
import { InvalidInputError } from "../core/errors.ts";

/** What the argument names. */
export interface RepoArgument {
  readonly repo: string;
  /** Set when the argument names the type (`datasets/…`, `hf://spaces/…`). */
  readonly repoType?: RepoType;
  /** From `hf://…@<revision>`. */
  readonly revision?: string;
  /** From `hf://…/<path>`: a file (or, ending in `/`, a folder). */
  readonly path?: string;
}

const TYPE_PREFIXES: Readonly<Record<string, RepoType>> = { models: "model", datasets: "dataset", spaces: "space" };

/**
 * Split the repo argument. `org/name` stays as it is; a leading `datasets/`, `models/` or
 * `spaces/` names the type when three segments are given; `hf://` URIs carry type, revision
 * (`@main`, `@refs/pr/3`) and path as the Python client's `parse_hf_uri` reads them.
 */
export function parseRepoArgument(arg: string): RepoArgument {
  if (arg.startsWith("hf://")) {
    const body = arg.slice("hf://".length);
    const segments = body.split("/");
    const type = TYPE_PREFIXES[segments[0]];
    const rest = type ? segments.slice(1) : segments;
    if (rest.length === 0 || rest[0] === "") throw new InvalidInputError(`'${arg}' names no repo: expected hf://[datasets/|spaces/]<org>/<name>[@<revision>][/<path>]`);
    // The id is `org/name` (or a bare `name`) and may end in `@<revision>`.
    let idSegments: string[];
    let after: string[];
    const atInFirst = rest[0].indexOf("@");
    if (atInFirst >= 0 || rest.length === 1) {
      idSegments = [rest[0]];
      after = rest.slice(1);
    } else {
      idSegments = [rest[0], rest[1]];
      after = rest.slice(2);
    }
    let id = idSegments.join("/");
    let revision: string | undefined;
    const at = id.indexOf("@");
    if (at >= 0) {
      revision = id.slice(at + 1);
      id = id.slice(0, at);
      // refs/pr/N and refs/convert/… contain slashes: take them whole.
      if (revision === "refs" && after.length >= 2) {
        revision = ["refs", ...after.slice(0, 2)].join("/");
        after = after.slice(2);
      }
      if (revision === "") throw new InvalidInputError(`'${arg}' has an empty revision after '@'`);
    }
    const path = after.join("/");
    return { repo: id, ...(type ? { repoType: type } : {}), ...(revision ? { revision } : {}), ...(path ? { path } : {}) };
  }
  const segments = arg.split("/");
  if (segments.length === 3 && TYPE_PREFIXES[segments[0]]) {
    return { repo: segments.slice(1).join("/"), repoType: TYPE_PREFIXES[segments[0]] };
  }
  return { repo: arg };
}
