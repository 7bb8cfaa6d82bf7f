// A throwaway PostgreSQL server for tests and benchmarks: initdb into a fresh temporary directory,
// then `postgres` on 127.0.0.1 with a free port, trust authentication, and the server's defaults
// for durability (fsync=on, synchronous_commit=on). Running as root, as CI does, the server runs
// as the `postgres` user that Debian's package creates (PostgreSQL refuses to run as root).
// The server gets SIGINT (fast shutdown) from stop(), and SIGKILL if it lingers.
// Shared by test/log/postgres.test.ts and bench/log.ts.
import { execFileSync, spawn } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** The directory holding initdb and postgres (Debian's newest /usr/lib/postgresql/N/bin, else PATH), or undefined. */
export function postgresBin() {
  try {
    const versions = existsSync('/usr/lib/postgresql') ? execFileSync('ls', ['/usr/lib/postgresql'], { encoding: 'utf8' }).split('\n').filter((v) => /^\d+$/.test(v)) : [];
    versions.sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)) return `/usr/lib/postgresql/${v}/bin`;
    const p = execFileSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).trim();
    return p ? p.slice(0, p.lastIndexOf('/')) : undefined;
  } catch {
    return undefined;
  }
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

/** Resolves with { url, dir, stop() } once the server accepts connections. */
export async function startPostgres({ bin = postgresBin(), args = [] } = {}) {
  if (!bin) throw new Error('no PostgreSQL server binaries (initdb) found');
  const dir = await mkdtemp(join(tmpdir(), 'cairn-pg-'));
  const root = process.getuid?.() === 0;
  let uid;
  if (root) {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    await chown(dir, uid, gid);
  }
  // setpriv execs in place (runuser would fork and not pass signals on), so `proc` is the server itself.
  const as = (cmd, a) => (root ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...a]] : [cmd, a]);
  const data = join(dir, 'data');
  const [c, a] = as(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-instructions']);
  execFileSync(c, a, { stdio: 'pipe' });
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let proc;
  let log = '';
  const launch = async () => {
    const [pc, pa] = as(join(bin, 'postgres'), ['-D', data, '-k', dir, '-h', '127.0.0.1', '-p', String(port), '-c', 'max_connections=200', ...args]);
    proc = spawn(pc, pa, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr.on('data', (d) => (log = (log + d).slice(-4000)));
    // Ready when a query answers (after a crash, that is after WAL recovery).
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`postgres exited: ${log}`);
      const c = new pg.Client({ connectionString: url });
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.query('SELECT 1');
        await c.end();
        return;
      } catch {
        await c.end().catch(() => undefined);
      }
      if (Date.now() > deadline) throw new Error(`postgres did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** SIGINT: fast shutdown. SIGQUIT: immediate shutdown, no checkpoint, WAL recovery at the next start (a crash, to the database). */
  const halt = async (signal) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(t);
  };
  await launch();
  const stop = async () => {
    await halt('SIGINT');
    await rm(dir, { recursive: true, force: true });
  };
  const restart = async ({ crash = false } = {}) => {
    await halt(crash ? 'SIGQUIT' : 'SIGINT');
    await launch();
  };
  const halted = (o = {}) => halt(o.crash ? 'SIGQUIT' : 'SIGINT');
  return { url, dir, port, stop, restart, halt: halted, start: launch };
}
