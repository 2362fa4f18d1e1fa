/**
 * How the emulator's CDN labels and validates what it serves, the way real CDNs do rather than
 * the way a client might wish: its `ETag` is its own (never the content hash), `If-Range` is
 * evaluated strictly by RFC 9110 §13.1.5, and the variants seen in the field can be switched on
 * (no `ETag` at all like the Xet bridge, a weak `W/` tag, S3's MD5-style tags, a different tag
 * from every node of a CDN, `Range` ignored).
 *
 * @module
 */

import { createHash, randomBytes } from "node:crypto";

/**
 * Which `ETag` the CDN sends.
 *
 * - `"nginx"`: `"<hex mtime>-<hex size>"`, as nginx and most static file servers do (default).
 * - `"none"`: no `ETag` (the Xet bridge).
 * - `"weak"`: `W/"…"`, which RFC 9110 forbids in `If-Range` comparisons.
 * - `"md5"`: `"<32 hex>"`, an S3/CloudFront-style tag.
 * - `"per-request"`: a different strong tag on every response (several CDN nodes, each with its own).
 */
export type CdnEtagStyle = "nginx" | "none" | "weak" | "md5" | "per-request";

/** How the emulator's CDN behaves. Every field is optional; the defaults are an nginx-like server. */
export interface CdnOptions {
  /** Which `ETag` to send. Default `"nginx"`. */
  readonly etag?: CdnEtagStyle;
  /** `false`: ignore `Range` and answer every GET with `200` and the whole body. Default `true`. */
  readonly ranges?: boolean;
  /**
   * Redirect LFS downloads to `${baseUrl}/lfs/<sha256>?…` instead of the emulator's own CDN, for
   * a real server playing the CDN (for example nginx serving a folder that holds `lfs/<sha256>`).
   */
  readonly baseUrl?: string;
}

/** The validators of one response: what it sends as `ETag` and `Last-Modified`. */
export interface Validators {
  /** The `ETag` header value, quotes (and `W/`) included; absent when none is sent. */
  readonly etag?: string;
  /** The `Last-Modified` header value (an IMF-fixdate); absent when none is sent. */
  readonly lastModified?: string;
}

/** The CDN's validators for each object: stable per object except for `"per-request"`. */
export class CdnLabels {
  readonly #style: CdnEtagStyle;
  readonly #mtime: number;

  /** `mtimeSeconds`: when the objects were "written" on the CDN (Unix seconds). */
  constructor(style: CdnEtagStyle, mtimeSeconds: number) {
    this.#style = style;
    this.#mtime = mtimeSeconds;
  }

  /** The validators to send for the object whose content hash is `sha256`, of `size` bytes. */
  of(sha256: string, size: number): Validators {
    const lastModified = new Date(this.#mtime * 1000).toUTCString();
    const nginx = `"${this.#mtime.toString(16)}-${size.toString(16)}"`;
    switch (this.#style) {
      case "nginx":
        return { etag: nginx, lastModified };
      case "none":
        return { lastModified };
      case "weak":
        return { etag: `W/${nginx}`, lastModified };
      case "md5":
        return { etag: `"${createHash("md5").update(`s3:${sha256}`).digest("hex")}"`, lastModified };
      case "per-request":
        return { etag: `"${randomBytes(8).toString("hex")}-${size.toString(16)}"`, lastModified };
    }
  }
}

/**
 * RFC 9110 §13.1.5: does `If-Range: value` let a range request through, for a representation
 * with these validators? An entity tag must match strongly (both strong, identical); a weak tag
 * never matches. A date must equal `Last-Modified` exactly, and `Last-Modified` must be a strong
 * validator: at least one second older than the response's `Date` (`nowMs`).
 */
export function ifRangeHolds(value: string, current: Validators, nowMs: number): boolean {
  const v = value.trim();
  if (v.startsWith('"') || v.startsWith("W/")) {
    return !v.startsWith("W/") && current.etag !== undefined && !current.etag.startsWith("W/") && v === current.etag;
  }
  if (current.lastModified === undefined) return false;
  const asked = Date.parse(v);
  const modified = Date.parse(current.lastModified);
  if (Number.isNaN(asked) || Number.isNaN(modified)) return false;
  return asked === modified && modified <= nowMs - 1000;
}
