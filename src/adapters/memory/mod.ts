/**
 * The memory adapter (`hubcache/adapters/memory`).
 *
 * @module
 */

export * from "./file_system.ts";
