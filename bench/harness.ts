/**
 * Shared pieces of the benchmark suites (STYLE.md point 10): options, result shape, timing
 * helpers. A suite is `(opts: BenchOptions) => Promise<SuiteResult>` in bench/<area>.ts, listed
 * once in the registry in bench/run.ts. Every performance claim is a ratio against a baseline
 * measured in the same run; nothing here is a test.
 */
import { availableParallelism, cpus } from 'node:os';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface BenchOptions {
  /** `--quick`: smaller inputs and fewer runs; the whole `npm run bench -- --quick` stays < 1 min. */
  quick: boolean;
}

export interface SuiteResult {
  /** Section title in RESULTS.md. */
  title: string;
  /** Markdown body (tables, notes); run.ts adds the machine header. */
  markdown: string;
}

export type Suite = (opts: BenchOptions) => Promise<SuiteResult>;

/** Median of the wall-clock times (ms) of `runs` calls after `warmup` untimed calls. */
export async function medianMs(fn: () => unknown, runs: number, warmup = 1): Promise<{ median: number; samples: number[] }> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, samples };
}

/** A GitHub-flavoured markdown table. */
export function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** "model name (N cores), Node version" for result headers. */
export function machine(): string {
  let model = cpus()[0]?.model?.trim() || 'unknown CPU';
  try {
    const out = execFileSync('lscpu', { encoding: 'utf8' });
    const m = /^Model name:\s*(.+)$/m.exec(out);
    if (m) model = m[1]!.trim();
  } catch {
    /* lscpu absent: keep os.cpus() */
  }
  return `${model}, ${cpus().length} cores, Node ${process.version}`;
}

export const fmt = {
  ms: (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)),
  s: (ms: number) => (ms / 1000).toFixed(3),
  x: (r: number) => `${r.toFixed(2)}×`,
  ops: (x: number) => Math.round(x).toLocaleString('en-US'),
};

/** A markdown table of a suite's result, for machines (`npm run bench -- --json FILE`). */
export interface ResultTable {
  /** The last prose line before the table: what it measures. */
  caption: string;
  columns: string[];
  /** One object per row, keyed by column; figures as numbers ("4,368" → 4368, "62.67×" → 62.67). */
  rows: Record<string, string | number>[];
}

/**
 * A cell as a number when it is one: thousands separators and a trailing × (ratios) dropped;
 * anything else ("met", "12 / 34", a label) stays text.
 */
function cellValue(cell: string): string | number {
  const t = cell.trim();
  const m = /^(-?[\d,]*\.?\d+)×?$/.exec(t);
  if (m && /\d/.test(m[1]!) && !/^,|,,|,$/.test(m[1]!)) return Number(m[1]!.replace(/,/g, ''));
  return t;
}

/**
 * The tables in a suite's markdown, in order. The markdown is what RESULTS.md shows, so the JSON
 * never disagrees with it; CI systems pick a cell by row label and column name.
 */
export function tablesOf(markdown: string): ResultTable[] {
  const lines = markdown.split('\n');
  const out: ResultTable[] = [];
  const split = (l: string): string[] => l.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i]!.trim().startsWith('|') || !/^\|(\s*:?-+:?\s*\|)+\s*$/.test(lines[i + 1]!.trim())) continue;
    const columns = split(lines[i]!);
    let caption = '';
    for (let j = i - 1; j >= 0; j--) {
      const l = lines[j]!.trim();
      if (l === '') continue;
      if (l.startsWith('|')) break;
      caption = l.replace(/^#+\s*/, '');
      break;
    }
    const rows: Record<string, string | number>[] = [];
    let k = i + 2;
    for (; k < lines.length && lines[k]!.trim().startsWith('|'); k++) {
      const cells = split(lines[k]!);
      rows.push(Object.fromEntries(columns.map((c, n) => [c, cellValue(cells[n] ?? '')])));
    }
    out.push({ caption, columns, rows });
    i = k - 1;
  }
  return out;
}

/**
 * Starts `startStandalone` of host/<service>/standalone.ts in its own node process (so the
 * service and the load generator each get a core) and resolves to the URL named by `readyKey`
 * in its ready fields. `configYaml`, when given, is written beside the data dir and passed in.
 */
/**
 * Extra node flags for the service processes a suite starts: CAIRN_BENCH_PROFILE=<dir> writes a
 * V8 CPU profile of each one there (NODE_OPTIONS refuses --cpu-prof).
 */
export function serviceExecArgv(): string[] {
  const dir = process.env.CAIRN_BENCH_PROFILE;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

/** The environment `bin/cairn.js` gives a service: libuv's pool sized to the machine (one thread per core, 2..16). */
export function serviceEnv(): NodeJS.ProcessEnv {
  return { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(Math.max(2, Math.min(availableParallelism(), 16))) };
}

export async function serviceProcess(service: string, dataDir: string, readyKey: string, configYaml?: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const root = fileURLToPath(new URL('..', import.meta.url));
  const configPath = configYaml === undefined ? undefined : join(dataDir, '..', `${service}.bench.yaml`);
  const code = `const m = await import(${JSON.stringify(join(root, `host/${service}/standalone.ts`))});
    ${configPath ? `(await import('node:fs')).writeFileSync(${JSON.stringify(configPath)}, ${JSON.stringify(configYaml)});` : ''}
    const s = await m.startStandalone({ dataDir: ${JSON.stringify(dataDir)}, port: 0, host: '127.0.0.1'${configPath ? `, config: ${JSON.stringify(configPath)}` : ''} });
    process.stdout.write(JSON.stringify(s.ready) + '\\n');
    process.on('SIGTERM', () => s.close().then(() => process.exit(0)));`;
  const child = spawn(process.execPath, [...serviceExecArgv(), '--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, env: serviceEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve((JSON.parse(buf.slice(0, nl)) as Record<string, string>)[readyKey]!);
    });
    child.once('exit', (c) => reject(new Error(`${service} process exited with ${c}`)));
  });
  return {
    url,
    pid: child.pid!,
    stop: () => new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/**
 * CPU seconds (user + system, every thread) a process has used so far, from /proc/<pid>/stat.
 * Undefined where there is no /proc.
 */
export function processCpuSeconds(pid: number | 'self'): number | undefined {
  try {
    return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** CPU seconds of one thread of a process (its main thread: tid = pid), from /proc/<pid>/task/<tid>/stat. */
export function threadCpuSeconds(pid: number, tid: number): number | undefined {
  try {
    return statCpuSeconds(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The CPU seconds in a /proc/<pid>/stat line (proc(5)): utime + stime (fields 14 and 15, clock
 * ticks), or with `children` what its waited-for children used (cutime + cstime, 16 and 17).
 */
export function statCpuSeconds(stat: string, children = false): number {
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [a, b] = children ? [f[13], f[14]] : [f[11], f[12]];
  return (Number(a) + Number(b)) / clockTicks();
}

let ticks: number | undefined;
/** sysconf(_SC_CLK_TCK): 100 on every Linux this runs on, asked of getconf once to be sure. */
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}
