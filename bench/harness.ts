/**
 * Shared pieces of the benchmark suites (STYLE.md point 10): options, result shape, timing
 * helpers. A suite is `(opts: BenchOptions) => Promise<SuiteResult>` in bench/<area>.ts, listed
 * once in the registry in bench/run.ts. Every performance claim is a ratio against a baseline
 * measured in the same run; nothing here is a test.
 */
import { cpus } from 'node:os';
import { execFileSync } from 'node:child_process';

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
