/**
 * The CDN behaviours seen in the field, for tests that run one story against each: the
 * emulator's default (nginx-like `ETag`, strict RFC 9110 `If-Range`) and its variants.
 *
 * @module
 */

import type { CdnOptions } from "../../src/testing/mod.ts";

/** Every emulator CDN variant, named for test titles. */
export const CDN_VARIANTS: ReadonlyArray<{ readonly name: string; readonly cdn: CdnOptions }> = [
  { name: "nginx-like ETag (default)", cdn: {} },
  { name: "no ETag (Xet bridge)", cdn: { etag: "none" } },
  { name: "weak W/ ETag", cdn: { etag: "weak" } },
  { name: "MD5-style ETag (S3)", cdn: { etag: "md5" } },
  { name: "a different ETag per request (several CDN nodes)", cdn: { etag: "per-request" } },
  { name: "Range ignored", cdn: { ranges: false } },
];
