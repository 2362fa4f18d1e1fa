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
  TokenRejectedError,
} from "../errors.ts";
import type { HubClient } from "./client.ts";
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

/** What the Python client and the Hub call a token the Hub does not accept (expired, revoked, mistyped). */
const INVALID_TOKEN_MESSAGE = "Invalid credentials in Authorization header";

/**
 * Where the token that went with `res` came from, or `undefined` when none went: a token is
 * only sent to the endpoint's origin (client.ts), so a CDN's 403 is never the token's fault.
 */
export function tokenSentWith(res: Response, client: HubClient): string | undefined {
  if (!client.token) return undefined;
  try {
    if (res.url && new URL(res.url).origin !== new URL(client.endpoint).origin) return undefined;
  } catch {
    return undefined;
  }
  return client.tokenSource ?? "--token";
}

/**
 * Map an error response to a typed error using the Hub's `X-Error-Code`. `tokenSource` says
 * which token was sent with the request (see {@link tokenSentWith}): the Hub answers "not
 * found" both for a missing repo and for a private one, and only knowing whether a token went
 * tells "log in" from "your token cannot see it" or "your token was rejected".
 */
export function hubErrorFor(res: Response, subject: RequestSubject, tokenSource?: string): HubcacheError {
  const code = res.headers.get("x-error-code") ?? "";
  const serverMessage = res.headers.get("x-error-message");
  const said = serverMessage ? ` (the Hub said: ${printable(serverMessage)})` : "";
  const repo = `${subject.repoType} '${subject.repoId}'`;
  const logIn = "log in with `hf auth login` (or set HF_TOKEN, or pass --token)";
  if (res.status === 401 && tokenSource !== undefined && (serverMessage === INVALID_TOKEN_MESSAGE || code === "")) {
    return new TokenRejectedError(
      `your token was rejected (401): the token from ${tokenSource} is invalid, expired or revoked; ` +
        `replace it (a new one: https://huggingface.co/settings/tokens), or ${logIn}${said}`,
    );
  }
  if (code === "GatedRepo") {
    return tokenSource === undefined
      ? new GatedRepoError(`${repo} is gated and no token was sent: accept its conditions on the Hub, then ${logIn}${said}`)
      : new GatedRepoError(
        `${repo} is gated and your token (from ${tokenSource}) has not been granted access (${res.status}): ` +
          `request access on the repo's page on the Hub and wait for approval${said}`,
      );
  }
  if (code === "RepoNotFound" || (res.status === 401 && code === "")) {
    return tokenSource === undefined
      ? new RepoNotFoundError(`${repo} was not found: check the id and --repo-type; if it is private, ${logIn}${said}`)
      : new RepoNotFoundError(
        `${repo} was not found, or your token (from ${tokenSource}) cannot see it: check the id and --repo-type, ` +
          `and that the token's account has access${said}`,
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
  if (res.status === 403 && tokenSource !== undefined) {
    return new HttpError(`HTTP 403 from the Hub for ${repo}: your token (from ${tokenSource}) lacks the permission${said}`, res.status, res.url);
  }
  return new HttpError(`HTTP ${res.status} from the Hub for ${repo}${said}`, res.status, res.url);
}
