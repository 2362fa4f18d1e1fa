#!/usr/bin/env node
// The `hubcache` command on Node. libuv runs every file-system call on a pool of 4 threads
// unless UV_THREADPOOL_SIZE says otherwise, read once when the pool first starts — and an ES
// module entry starts too late: Node's module loader has already used the pool to read it.
// With 4 threads at most 4 fsyncs overlap, and a snapshot of many small files fsyncs each one
// before publishing it (docs/DESIGN.md §Invariants 3), so it waited on the pool. This CommonJS
// file sets the size for `download` (unless the user did) before anything touches the pool, then
// loads the CLI. Other commands keep 4: `cache ls` of 200,000 files makes hundreds of thousands of
// tiny calls, and 16 threads on 2 cores made it slower (more wake-ups, no more work done).
"use strict";
if (process.argv[2] === "download") process.env.UV_THREADPOOL_SIZE ??= "16";
import("../dist/src/cli.js").catch((err) => {
  process.stderr.write(`hubcache: cannot load the CLI: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
