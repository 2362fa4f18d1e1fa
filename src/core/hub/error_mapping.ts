/**
 * Turning the Hub's error answers into typed errors, from its `X-Error-Code` header: what was
 * not found (the repo, the revision, the file) decides what the user must check next.
 *
 * @module
 */

import {
  EntryNotFoundError,
  GatedRepoError,
  HttpError,
  HubcacheError,
  RepoNotFoundError,
  RevisionNotFoundError,
} from "../errors.ts";
import { isCommitHash, printable } from "../cache/validate.ts";

/** What a request was about, for error messages. */
export interface RequestSubject {
  /** Named in every message, since the URL alone hides which repo a CDN request was for. */
  readonly repoId: string;
  /** `model`, `dataset` or `space`: a wrong type is the usual cause of "not found". */
  readonly repoType: string;
  /** For {@link RevisionNotFoundError} and {@link EntryNotFoundError} messages. */
  readonly revision?: string;
  /** For {@link EntryNotFoundError} messages; absent for repo-level requests. */
  readonly path?: string;
}

/** Map an error response to a typed error using the Hub's `X-Error-Code`. */
export function hubErrorFor(res: Response, subject: RequestSubject): HubcacheError {
  const code = res.headers.get("x-error-code") ?? "";
  const serverMessage = res.headers.get("x-error-message");
  const said = serverMessage ? ` (the Hub said: ${printable(serverMessage)})` : "";
  const repo = `${subject.repoType} '${subject.repoId}'`;
  if (code === "GatedRepo") {
    return new GatedRepoError(`${repo} is gated: accept its conditions on the Hub, then pass a token (--token or HF_TOKEN)${said}`);
  }
  if (code === "RepoNotFound" || (res.status === 401 && code === "")) {
    return new RepoNotFoundError(
      `${repo} was not found: check the id and --repo-type; if it is private, pass a token (--token or HF_TOKEN)${said}`,
    );
  }
  if (code === "RevisionNotFound") {
    return new RevisionNotFoundError(`revision '${subject.revision}' does not exist in ${repo}${said}`);
  }
  if (code === "EntryNotFound") {
    const raw = (res.headers.get("x-repo-commit") ?? "").trim().toLowerCase();
    const commit = isCommitHash(raw) ? raw : undefined;
    return new EntryNotFoundError(
      `'${subject.path}' does not exist in ${repo} at revision '${subject.revision}'${said}`,
      commit,
    );
  }
  return new HttpError(`HTTP ${res.status} from the Hub for ${repo}${said}`, res.status, res.url);
}
