#!/usr/bin/env node
// The `cairn` command. The TypeScript sources are compiled to dist/ by `npm install` (prepare).
import('../dist/host/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/host/cli')) {
    console.error('cairn: dist/ is missing; run `npm install` (or `npm run build`) first');
  } else {
    console.error(err && err.stack ? err.stack : err);
  }
  process.exit(70);
});
