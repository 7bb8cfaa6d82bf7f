// Builds the optional native addons. Both are optional on purpose, so a machine without a C
// toolchain can still install Cairn; the reason a build failed is printed, never swallowed.
//  - peercred (host/spiffe/native): SO_PEERCRED; without it the Workload API falls back to
//    `ss -xpn` (host/spiffe/peercred.ts).
//  - listenfd (host/http/native): dup(2) of a listening socket; without it a server accepts one
//    new connection per event-loop iteration (host/http/acceptors.ts).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const addons = [
  { name: 'peercred', dir: '../host/spiffe/native/', why: 'SO_PEERCRED is Linux-only', fallback: 'the Workload API will use ss -xpn' },
  { name: 'listenfd', dir: '../host/http/native/', why: 'built and tested on Linux only', fallback: 'servers will accept one new connection per event-loop iteration' },
];
for (const a of addons) {
  if (process.platform !== 'linux') {
    console.log(`${a.name} addon: skipped (${a.why}; platform is ${process.platform})`);
    continue;
  }
  const dir = fileURLToPath(new URL(a.dir, import.meta.url));
  // npm puts its bundled node-gyp on PATH for lifecycle scripts.
  const r = spawnSync('node-gyp', ['rebuild', '--directory', dir], { stdio: ['ignore', 'ignore', 'pipe'], shell: false });
  if (r.status === 0) console.log(`${a.name} addon: built`);
  else console.log(`${a.name} addon: not built (${r.error?.message ?? (r.stderr?.toString().trim().split('\n').pop() || `exit ${r.status}`)}); ${a.fallback}`);
}
