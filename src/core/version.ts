/**
 * The version of hubcache, in one place (package.json and deno.json carry the same).
 *
 * @module
 */

/**
 * Version reported in the User-Agent, so Hub operators can tell hubcache releases apart.
 *
 * @example
 * ```ts
 * import { VERSION } from "hubcache/core";
 *
 * console.log(`hubcache ${VERSION}`); // "hubcache 0.1.0"
 * ```
 */
export const VERSION = "0.1.0";
