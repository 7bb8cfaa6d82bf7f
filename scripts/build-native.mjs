// Builds the optional SO_PEERCRED addon (host/spiffe/native). It is optional on purpose: without it
// the Workload API falls back to `ss -xpn` (see host/spiffe/peercred.ts), so a machine without a
// C toolchain can still install Cairn. The reason is printed, never swallowed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

if (process.platform !== 'linux') {
  console.log(`peercred addon: skipped (SO_PEERCRED is Linux-only; platform is ${process.platform})`);
  process.exit(0);
}
const dir = fileURLToPath(new URL('../host/spiffe/native/', import.meta.url));
// npm puts its bundled node-gyp on PATH for lifecycle scripts.
const r = spawnSync('node-gyp', ['rebuild', '--directory', dir], { stdio: ['ignore', 'ignore', 'pipe'], shell: false });
if (r.status === 0) console.log('peercred addon: built');
else console.log(`peercred addon: not built (${r.error?.message ?? (r.stderr?.toString().trim().split('\n').pop() || `exit ${r.status}`)}); the Workload API will use ss -xpn`);
