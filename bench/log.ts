/**
 * Transparency-log suite (issue 3 targets, on this 2-core machine):
 *  1. Appends: signature-checked hashedrekord entries POSTed over HTTP on loopback by autocannon,
 *     the log in a SEPARATE node process, every acknowledgement after a durable (fsynced) batch
 *     commit. Reports entries/s and p50/p99 acknowledgement latency. Target ≥ 10,000/s, p99 ≤ 1 s.
 *     Same-run baselines: the per-entry cost of the signature check (@noble/curves prehash verify,
 *     what hashedrekord needs: node:crypto cannot verify ECDSA over a digest) against node:crypto's
 *     message verify, to show where the time goes. The WASM P-256 verifier (issue 10) replaces it.
 *     Then the same appends through the PostgreSQL store (host/log/store-pg.ts), on one log node
 *     and on two nodes sharing the database, against the SQLite rows of the same run.
 *  2. Proof reads: GET /api/v1/log/entries?logIndex=<random> (entry + SET + inclusion proof +
 *     checkpoint) on a tree of 1,000,000 entries (100,000 with --quick). Target p99 ≤ 5 ms.
 * Anchors (published, not measured here): Trillian Tessera ~2,900 entries/s on a 12-core VM with
 * POSIX storage; TesseraCT ~10,000 entries/s on ~7 cores with NVMe.
 */
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { execFileSync, spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { initCore } from '../host/core/index.js';
import { prepareEntry } from '../host/log/entries.js';
import { loadOrCreateLogKey } from '../host/log/keys.js';
import { TransparencyLog } from '../host/log/log.js';
import { setSigner } from '../host/log/set.js';
import { SqliteLogStore } from '../host/log/store.js';
import { postgresBin, startPostgres } from '../scripts/postgres.mjs';
import { fmt, processCpuSeconds, serviceProcess, statCpuSeconds, threadCpuSeconds, table, type BenchOptions, type SuiteResult } from './harness.js';

interface CannonResult {
  requests: { average: number; total: number }; latency: { p50: number; p99: number; p99_9?: number }; non2xx: number; errors: number; duration: number;
  statusCodeStats?: Record<string, { count: number }>;
}
// autocannon (CommonJS) ships no types; this is the slice of its API used here.
const autocannon = createRequire(import.meta.url)('autocannon') as ((o: Record<string, unknown>) => Promise<CannonResult>) &
  ((o: Record<string, unknown>, done: (err: unknown, r: CannonResult) => void) => { on(ev: 'response', f: () => void): void });

/**
 * A fixed number of requests, timed from the start to the LAST response. autocannon itself only
 * finishes on its next one-second sampling tick, so timing its promise would round every run up
 * to whole seconds (6,000 entries at 3,500/s would read as 6,000 / 2.03 s).
 */
function fixedAmount(o: Record<string, unknown>): Promise<{ r: CannonResult; secs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let last = t0;
    const inst = autocannon(o, (err, r) => (err ? reject(err) : resolve({ r, secs: (last - t0) / 1000 })));
    inst.on('response', () => {
      last = performance.now();
    });
  });
}

/**
 * Appends from clients that are already connected. autocannon writes each connection's first
 * request before the connection is up, so its first requests include connection set-up, which a
 * saturated Node server stretches to seconds (libuv 1.45+ accepts one connection per event-loop
 * iteration, libuv#3696). Here every socket is opened and used once (GET /healthz) before the
 * clock starts; then each sends POSTs one at a time (HTTP/1.1 keep-alive, no pipelining), a
 * response read by its Content-Length. Latency = request written → response complete.
 */
async function preconnected(url: string, connections: number, bodies: string[]): Promise<{ rate: number; p50: number; p99: number; non2xx: number }> {
  const { hostname, port } = new URL(url);
  const head = (path: string, method: string, len: number): Buffer =>
    Buffer.from(`${method} ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\n${len ? `content-type: application/json\r\ncontent-length: ${len}\r\n` : ''}\r\n`, 'latin1');
  const sockets = await Promise.all(
    Array.from({ length: connections }, () => new Promise<Socket>((resolve, reject) => {
      const s = connect(Number(port), hostname, () => resolve(s));
      s.once('error', reject);
    })),
  );
  /** One request on `s`; resolves with the status once the whole response is in. */
  const exchange = (s: Socket, req: Buffer): Promise<number> => new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headers = buf.subarray(0, end).toString('latin1');
      const m = /\r\ncontent-length: *(\d+)/i.exec(headers);
      if (!m) return fail(new Error(`response without content-length: ${headers.slice(0, 80)}`));
      if (buf.length < end + 4 + Number(m[1])) return;
      if (buf.length > end + 4 + Number(m[1])) return fail(new Error('more bytes than one response'));
      s.off('data', onData);
      s.off('error', fail);
      resolve(Number(headers.slice(9, 12)));
    };
    const fail = (e: Error): void => {
      s.off('data', onData);
      reject(e);
    };
    s.on('data', onData);
    s.once('error', fail);
    s.write(req);
  });
  await Promise.all(sockets.map((s) => exchange(s, head('/healthz', 'GET', 0))));
  const lat: number[] = [];
  let next = 0;
  let non2xx = 0;
  let last = 0;
  const t0 = performance.now();
  await Promise.all(sockets.map(async (s) => {
    for (let i = next++; i < bodies.length; i = next++) {
      const body = Buffer.from(bodies[i]!);
      const sent = performance.now();
      const status = await exchange(s, Buffer.concat([head('/api/v1/log/entries', 'POST', body.length), body]));
      last = performance.now();
      lat.push(last - sent);
      if (status < 200 || status > 299) non2xx++;
    }
  }));
  for (const s of sockets) s.destroy();
  lat.sort((a, b) => a - b);
  const pct = (q: number): number => Math.round(lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!);
  return { rate: (bodies.length - non2xx) / ((last - t0) / 1000), p50: pct(0.5), p99: pct(0.99), non2xx };
}

/** n hashedrekord bodies, each signed by its own fresh P-256 key (like Fulcio-certified ephemeral keys). */
function entries(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = Buffer.from(publicKey.export({ format: 'pem', type: 'spki' }) as string).toString('base64');
    const artifact = Buffer.from(`artifact ${i} ${Math.random()}`);
    out.push(JSON.stringify({
      apiVersion: '0.0.1', kind: 'hashedrekord',
      spec: { data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(artifact).digest('hex') } }, signature: { content: sign('sha256', artifact, privateKey).toString('base64'), publicKey: { content: pem } } },
    }));
  }
  return out;
}

async function signatureCost(quick: boolean): Promise<{ name: string; hz: number }[]> {
  const body = JSON.parse(entries(1)[0]!);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const msg = Buffer.from('x'.repeat(64));
  const sig = sign('sha256', msg, privateKey);
  const bench = new Bench({ time: quick ? 300 : 1500, warmupTime: quick ? 50 : 200 });
  bench
    .add('baseline: node:crypto ECDSA P-256 verify (message)', () => {
      verify('sha256', msg, publicKey, sig);
    })
    .add('Cairn: hashedrekord parse + prehash verify + canonicalize', () => {
      prepareEntry(body);
    });
  await bench.run();
  return bench.tasks.map((t) => {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`${t.name}: ${r.state}`);
    return { name: t.name, hz: 1000 / r.latency.p50 };
  });
}

const LOG_BENCH_CONFIG = 'batchSize: 2048\nbatchAgeMs: 15\nqueueLimit: 200000\n';
const WARMUP = 1000;
/** Concurrency and verification placement per append run (verifyWorkers 0 = checks on the event loop). */
const APPEND_RUNS = [
  { connections: 64, workers: 1 },
  { connections: 256, workers: 1 },
  { connections: 1024, workers: 1 },
] as const;

/** Fills a log directly through the engine (no HTTP, no entry signature checks): the read test's tree. */
async function bulkLoad(dataDir: string, n: number): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const key = await loadOrCreateLogKey(join(dataDir, 'rekor-key.pem'), 'ecdsa-p256');
  const store = new SqliteLogStore(join(dataDir, 'rekor.db'));
  // SETs are signed at sequencing and stored, as the log service does (host/log/set.ts).
  const log = await TransparencyLog.open({ store, key, origin: '127.0.0.1', batchSize: 8192, batchAgeMs: 1, queueLimit: 1 << 20, promise: setSigner(key) });
  const chunk = 8192;
  for (let i = 0; i < n; i += chunk) {
    const ps: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + chunk); j++) ps.push(log.add({ body: Buffer.from(`{"bulk":${j}}`), searchKeys: [] }));
    await Promise.all(ps);
  }
  await log.close();
  store.close();
}

const PG_CONNECTIONS = 256;

/** CPU per acknowledged entry, in µs, of the log process (and of its event-loop thread alone) and of the load generator; undefined without /proc. */
interface CpuCost { server?: number; eventLoop?: number; client?: number }

/** CPU seconds so far of a log process: all its threads, and its main (event-loop) thread. */
function serverCpu(pid: number): { all?: number; main?: number } {
  return { all: processCpuSeconds(pid), main: threadCpuSeconds(pid, pid) };
}
const diff = (a?: number, b?: number): number | undefined => (a === undefined || b === undefined ? undefined : b - a);
const perEntry = (secs: number | undefined, entries: number): number | undefined => (secs === undefined || entries === 0 ? undefined : (secs * 1e6) / entries);
/** The rate the machine's cores could sustain if the log and its load generator used all of them. */
const ceiling = (c: CpuCost): string => (c.server === undefined || c.client === undefined ? '—' : fmt.ops((availableParallelism() * 1e6) / (c.server + c.client)));
const us = (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(0));

/**
 * The kernel's count of connections dropped because a listening socket's accept queue was full
 * (TcpExt ListenOverflows, /proc/net/netstat; machine-wide), or undefined without /proc. A dropped
 * SYN is resent only after 1 s (RFC 6298 §2.1), so each one is an acknowledgement over a second.
 */
function listenOverflows(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    const v = Number(values[names.indexOf('ListenOverflows')]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** wrk (a C load generator: Debian package wrk), or why there is none. */
function wrkBinary(): string | undefined {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  return r.error ? undefined : 'wrk';
}

/**
 * Sustained appends from wrk for `secs` seconds (one wrk thread, `connections` keep-alive
 * connections, each request one distinct body from `bodiesFile`, bench/wrk-bodies.lua), against a
 * log process `pid`. entries/s = 201 answers / wrk's run time; the entries still in flight when
 * it stops are not counted. wrk's CPU is read from the shell that waited for it (cutime/cstime).
 */
function wrkAppends(url: string, pid: number, bodiesFile: string, connections: number, secs: number): { rate: number; p50: number; p99: number; other: number; errors: number; cpu: CpuCost } {
  const lua = fileURLToPath(new URL('./wrk-bodies.lua', import.meta.url));
  const s0 = serverCpu(pid);
  const out = execFileSync('sh', ['-c', 'wrk -t1 -c"$1" -d"$2"s --timeout 30s -s "$3" "$4" -- "$5" 1 | tail -n 1; cat /proc/$$/stat 2>/dev/null || true', 'sh', String(connections), String(secs), lua, url, bodiesFile], { encoding: 'utf8' });
  const s1 = serverCpu(pid);
  const [summary, stat] = out.trim().split('\n');
  const r = JSON.parse(summary!) as { created: number; other: number; exhausted: number; us: number; p50: number; p99: number; errors: number };
  if (r.exhausted > 0) throw new Error(`wrk ran out of distinct bodies (${r.exhausted} requests over): give it more`);
  const client = stat ? perEntry(statCpuSeconds(stat, true), r.created) : undefined;
  return {
    rate: r.created / (r.us / 1e6), p50: Math.round(r.p50 / 1000), p99: Math.round(r.p99 / 1000), other: r.other, errors: r.errors,
    cpu: { server: perEntry(diff(s0.all, s1.all), r.created), eventLoop: perEntry(diff(s0.main, s1.main), r.created), client },
  };
}

/** Posts `part` to the log(s) at `urls` from `connections` autocannon clients split between them; entries/s over the slowest. */
async function appendsTo(urls: string[], part: string[], connections: number): Promise<{ rate: number; p50: number; p99: number; non2xx: number }> {
  const share = Math.ceil(part.length / urls.length);
  const done = await Promise.all(urls.map((url, k) => {
    const mine = part.slice(k * share, (k + 1) * share);
    let i = 0;
    return fixedAmount({
      url, connections: Math.ceil(connections / urls.length), pipelining: 1, amount: mine.length, timeout: 30,
      requests: [{ method: 'POST', path: '/api/v1/log/entries', headers: { 'content-type': 'application/json' }, setupRequest: (req: Record<string, unknown>) => ({ ...req, body: mine[i++ % mine.length] }) }],
    });
  }));
  // Every node's clients start together; the run ends with the last acknowledgement on any node.
  const secs = Math.max(...done.map((d) => d.secs));
  const acked = done.reduce((n, d) => n + d.r.requests.total - d.r.non2xx, 0);
  // With two nodes the percentiles are the worse node's.
  return { rate: acked / secs, p50: Math.max(...done.map((d) => d.r.latency.p50)), p99: Math.max(...done.map((d) => d.r.latency.p99)), non2xx: done.reduce((n, d) => n + d.r.non2xx, 0) };
}

/**
 * The same appends with the trees in PostgreSQL (a server started here, fsync and
 * synchronous_commit on): one log node, then two nodes sharing the database and the keys.
 */
async function postgresAppends(dir: string, bodies: string[], warm: string[], reps: number, perRun: number): Promise<{ nodes: number; rate: number; p50: number; p99: number; non2xx: number; all: number[] }[] | string> {
  if (!postgresBin()) return 'skipped: no PostgreSQL server installed';
  const pg = await startPostgres();
  const out = [];
  let next = 0;
  try {
    for (const nodes of [1, 2]) {
      const cfg = `${LOG_BENCH_CONFIG}postgres: { url: "${pg.url}", schema: bench${nodes} }\n`;
      const dataDir = join(dir, `pg-${nodes}`);
      const servers = [];
      try {
        // Nodes start one after another: the first creates the schema and the keys the second reuses.
        for (let k = 0; k < nodes; k++) servers.push(await serviceProcess('log', dataDir, 'log', cfg));
        const urls = servers.map((x) => x.url);
        await appendsTo(urls, warm.slice((nodes - 1) * WARMUP, nodes * WARMUP), 32);
        const runs = [];
        for (let rep = 0; rep < reps; rep++) {
          runs.push(await appendsTo(urls, bodies.slice(next, next + perRun), PG_CONNECTIONS));
          next += perRun;
        }
        runs.sort((a, b) => a.rate - b.rate);
        out.push({ nodes, ...runs[runs.length >> 1]!, all: runs.map((r) => r.rate) });
      } finally {
        for (const x of servers) await x.stop();
      }
    }
  } finally {
    await pg.stop();
  }
  return out;
}

export const logSuite = async (opts: BenchOptions): Promise<SuiteResult> => {
  await initCore(); // hashedrekord checks run in the WASM core
  const costs = await signatureCost(opts.quick);
  // Each configuration runs `reps` times on its log (distinct entries every time); the median run is shown.
  const reps = opts.quick ? 1 : 3;
  const perRun = opts.quick ? 1333 : 10000;
  // autocannon runs, then one run from pre-connected clients, per configuration.
  const n = perRun * (reps + 1) * APPEND_RUNS.length;
  const bodies = entries(n);
  const warmup = entries(APPEND_RUNS.length * WARMUP);
  const pgBodies = entries(perRun * reps * 2);
  const pgWarmup = entries(2 * WARMUP);
  // wrk runs for a fixed time: enough distinct bodies for 8,000 entries/s, above the CPU ceiling.
  const wrk = wrkBinary();
  const wrkSecs = opts.quick ? 2 : 5;
  const wrkRuns = APPEND_RUNS.filter((c) => c.connections >= 256);
  const wrkBodies = wrk ? entries(wrkRuns.length * wrkSecs * 8000) : [];
  const onWrk: { connections: number; rate: number; p50: number; p99: number; other: number; errors: number; cpu: CpuCost }[] = [];
  let onPostgres;
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-log-'));
  let append;
  let read;
  const readSize = opts.quick ? 100_000 : 1_000_000;
  let loadSecs = 0;
  try {
    // Each configuration gets a fresh log; every run posts its own distinct entries (no duplicates).
    append = [];
    let next = 0;
    for (const [k, c] of APPEND_RUNS.entries()) {
      const server = await serviceProcess('log', join(dir, `append-${c.connections}-${c.workers}`), 'log', `${LOG_BENCH_CONFIG}verifyWorkers: ${c.workers}\n`);
      try {
        // Warm-up (not measured): worker threads loading the core, JIT, SQLite pages.
        let w = 0;
        const warm = warmup.slice(k * WARMUP, (k + 1) * WARMUP);
        await autocannon({
          url: server.url, connections: 32, pipelining: 1, amount: warm.length, timeout: 30,
          requests: [{ method: 'POST', path: '/api/v1/log/entries', headers: { 'content-type': 'application/json' }, setupRequest: (req: Record<string, unknown>) => ({ ...req, body: warm[w++] }) }],
        });
        const runs = [];
        for (let rep = 0; rep < reps; rep++) {
          const part = bodies.slice(next, next + perRun);
          next += perRun;
          let i = 0;
          const s0 = serverCpu(server.pid);
          const o0 = listenOverflows();
          const c0 = process.cpuUsage();
          const { r, secs } = await fixedAmount({
            url: server.url, connections: c.connections, pipelining: 1, amount: part.length, timeout: 30,
            requests: [{ method: 'POST', path: '/api/v1/log/entries', headers: { 'content-type': 'application/json' }, setupRequest: (req: Record<string, unknown>) => ({ ...req, body: part[i++ % part.length] }) }],
          });
          const c1 = process.cpuUsage(c0);
          const s1 = serverCpu(server.pid);
          const overflows = diff(o0, listenOverflows());
          const acked = r.requests.total - r.non2xx;
          // autocannon runs in this process, which does nothing else meanwhile.
          const cpu: CpuCost = { server: perEntry(diff(s0.all, s1.all), acked), eventLoop: perEntry(diff(s0.main, s1.main), acked), client: perEntry((c1.user + c1.system) / 1e6, acked) };
          runs.push({ ...c, r, rate: acked / secs, cpu, overflows });
        }
        runs.sort((a, b) => a.rate - b.rate);
        const warmClients = await preconnected(server.url, c.connections, bodies.slice(next, next + perRun));
        next += perRun;
        const wk = wrkRuns.findIndex((x) => x === c);
        if (wrk && wk >= 0) {
          const file = join(dir, `wrk-${c.connections}.txt`);
          await writeFile(file, `${wrkBodies.slice(wk * wrkSecs * 8000, (wk + 1) * wrkSecs * 8000).join('\n')}\n`);
          onWrk.push({ connections: c.connections, ...wrkAppends(server.url, server.pid, file, c.connections, wrkSecs) });
        }
        append.push({ ...runs[runs.length >> 1]!, all: runs.map((x) => ({ rate: x.rate, p99: x.r.latency.p99, overflows: x.overflows })), warmClients });
      } finally {
        await server.stop();
      }
    }
    onPostgres = await postgresAppends(dir, pgBodies, pgWarmup, reps, perRun);
    const t0 = performance.now();
    await bulkLoad(join(dir, 'read'), readSize);
    loadSecs = (performance.now() - t0) / 1000;
    const reader = await serviceProcess('log', join(dir, 'read'), 'log', LOG_BENCH_CONFIG);
    try {
      read = await autocannon({
        url: reader.url, connections: 8, pipelining: 1, duration: opts.quick ? 3 : 10,
        requests: [{ method: 'GET', setupRequest: (req: Record<string, unknown>) => ({ ...req, path: `/api/v1/log/entries?logIndex=${Math.floor(Math.random() * readSize)}` }) }],
      });
    } finally {
      await reader.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const base = costs[0]!.hz;
  const md = [
    'Per-entry admission cost, in one process (tinybench, ops/s = 1 / median latency):',
    '',
    table(['operation', 'ops/s', 'vs node:crypto verify'], costs.map((c) => [c.name, fmt.ops(c.hz), fmt.x(c.hz / base)])),
    '',
    `Appends over HTTP: ${perRun} distinct signature-checked hashedrekord entries per run, ${reps} run(s) per row on the same log, the median-throughput run shown; each entry signed by its own P-256 key, POSTed by autocannon in the bench process; ` +
      'the log in a separate node process (signature checks on `verifyWorkers` worker threads, SETs signed on the libuv pool), every acknowledgement after an fsynced batch commit. ' +
      'entries/s = acknowledged entries / time from the first request to the last acknowledgement. ' +
      `CPU per entry: the log process's CPU time (all its threads, and its event-loop thread alone, /proc) and the bench process's (autocannon) over the run, divided by the entries acknowledged; the rest of the log's is the signature-check worker, V8's GC and compiler threads and the libuv pool (SETs, fsync). The ceiling is what ${availableParallelism()} cores would give at that cost with no idle time:`,
    '',
    table(['connections', 'verifyWorkers', 'entries/s', 'p50 ack (ms)', 'p99 ack (ms)', 'non-2xx', 'errors', 'vs 10,000/s target', 'log CPU (µs/entry)', 'of which event loop', 'client CPU (µs/entry)', 'CPU ceiling (entries/s)'], append.map((a) => [
      a.connections, a.workers, fmt.ops(a.rate), a.r.latency.p50, a.r.latency.p99, a.r.non2xx, a.r.errors, fmt.x(a.rate / 10000), us(a.cpu.server), us(a.cpu.eventLoop), us(a.cpu.client), ceiling(a.cpu),
    ])),
    '',
    // Every run's p99 too: a stall (GC, a slow fsync on the shared disk) shows in one run's tail.
    `Every run, entries/s (p99 ms, accept-queue overflows on the machine during the run): ${append.map((a) => `${a.connections} connections ${a.all.map((x) => `${fmt.ops(x.rate)} (${x.p99}, ${x.overflows ?? '—'})`).join(' / ')}`).join('; ')}.`,
    '',
    `The same log, then ${perRun} more entries from clients already connected (raw keep-alive sockets, each opened and used once before the clock starts, one request at a time): autocannon's first request on each connection includes connection set-up, ` +
      'which a saturated Node server stretched to seconds before the services listened through 32 duplicate descriptors (libuv accepts one connection per descriptor per event-loop iteration; host/http/acceptors.ts):',
    '',
    table(['connections', 'entries/s', 'p50 ack (ms)', 'p99 ack (ms)', 'non-2xx', 'p99 vs 1 s target'], append.map((a) => [
      a.connections, fmt.ops(a.warmClients.rate), a.warmClients.p50, a.warmClients.p99, a.warmClients.non2xx, a.warmClients.p99 <= 1000 ? 'met' : 'missed',
    ])),
    '',
    `The same log, then sustained appends from wrk (a load generator in C, one thread) for ${wrkSecs} s, every request a distinct entry; entries/s = 201 answers / wrk's run time. A lighter client leaves the log more of the machine:`,
    '',
    wrk
      ? table(['connections', 'entries/s', 'p50 ack (ms)', 'p99 ack (ms)', 'non-201', 'socket errors', 'vs 10,000/s target', 'log CPU (µs/entry)', 'of which event loop', 'client CPU (µs/entry)', 'CPU ceiling (entries/s)'], onWrk.map((w) => [
          w.connections, fmt.ops(w.rate), w.p50, w.p99, w.other, w.errors, fmt.x(w.rate / 10000), us(w.cpu.server), us(w.cpu.eventLoop), us(w.cpu.client), ceiling(w.cpu),
        ]))
      : 'skipped: wrk is not installed (Debian: apt-get install wrk)',
    '',
    `The same appends (${perRun} per run, ${reps} run(s), median shown) with both trees in PostgreSQL 15 on this machine (host/log/store-pg.ts; fsync and synchronous_commit on, each batch one transaction under the sequencing lock), ${PG_CONNECTIONS} autocannon connections split evenly between the nodes; two nodes share the database and the keys. ` +
      'The SQLite row is the same-run row above at that connection count:',
    '',
    typeof onPostgres === 'string'
      ? onPostgres
      : table(['store', 'log nodes', 'entries/s', 'p50 ack (ms)', 'p99 ack (ms)', 'non-2xx', 'vs SQLite, 1 node', 'every run (entries/s)'], [
          ...append.filter((a) => a.connections === PG_CONNECTIONS).slice(0, 1).map((a) => ['SQLite', 1, fmt.ops(a.rate), a.r.latency.p50, a.r.latency.p99, a.r.non2xx, fmt.x(1), a.all.map((x) => fmt.ops(x.rate)).join(' / ')]),
          ...onPostgres.map((p) => {
            const sqlite = append.find((a) => a.connections === PG_CONNECTIONS);
            return ['PostgreSQL', p.nodes, fmt.ops(p.rate), p.p50, p.p99, p.non2xx, sqlite ? fmt.x(p.rate / sqlite.rate) : '', p.all.map((x) => fmt.ops(x)).join(' / ')];
          }),
        ]),
    '',
    `Proof reads over HTTP at ${readSize.toLocaleString('en-US')} entries (bulk-loaded through the engine in ${loadSecs.toFixed(1)} s), GET entry + SET + inclusion proof + checkpoint at random indices, 8 connections:`,
    '',
    table(['reads/s', 'p50 (ms)', 'p99 (ms)', 'non-2xx', 'vs 5 ms p99 target'], [[fmt.ops(read.requests.average), read.latency.p50, read.latency.p99, read.non2xx, read.latency.p99 <= 5 ? 'met' : 'missed']]),
    '',
    `1-minute load average at the end: ${loadavg()[0]!.toFixed(2)}. Anchors (published): Tessera ~2,900 entries/s on 12 cores (POSIX); TesseraCT ~10,000/s on ~7 cores (NVMe).`,
  ].join('\n');
  return { title: 'Transparency log: appends and proof reads', markdown: md };
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  logSuite({ quick: process.argv.includes('--quick') }).then((r) => console.log(`## ${r.title}\n\n${r.markdown}`));
}
