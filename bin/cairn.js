#!/usr/bin/env node
// The `cairn` command. The TypeScript sources are compiled to dist/ by `npm install` (prepare).

// The services sign and verify on libuv's thread pool (host/keys/async-crypto.ts). Its default of
// 4 threads oversubscribes small machines: with one thread per core the CA issued 8-15% more
// certificates/s on 2 cores (bench/RESULTS.md). libuv reads this once, when the pool first starts,
// so it is set before anything else runs; an explicit UV_THREADPOOL_SIZE wins.
import { availableParallelism } from 'node:os';
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(2, Math.min(availableParallelism(), 16)));
import('../dist/host/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/host/cli')) {
    console.error('cairn: dist/ is missing; run `npm install` (or `npm run build`) first');
  } else {
    console.error(err && err.stack ? err.stack : err);
  }
  process.exit(70);
});
