/**
 * The machine-readable side of `npm run bench -- --json`: tables parsed back out of a suite's
 * markdown (bench/harness.ts tablesOf), numbers as numbers, labels and verdicts as text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { table, tablesOf } from '../../bench/harness.js';

it('reads back what table() writes, with figures as numbers', () => {
  const md = ['### Appends', '', 'Over HTTP, 3 runs:', '', table(['connections', 'entries/s', 'vs target', 'p99 target'], [[256, '4,078', '0.41×', 'met'], [1024, '3,920', '0.39×', 'missed']]), '', 'after', '', table(['a', 'b'], [['x', '-1.5']])].join('\n');
  const t = tablesOf(md);
  expect(t).toHaveLength(2);
  expect(t[0]!.caption).toBe('Over HTTP, 3 runs:');
  expect(t[0]!.columns).toEqual(['connections', 'entries/s', 'vs target', 'p99 target']);
  expect(t[0]!.rows).toEqual([
    { connections: 256, 'entries/s': 4078, 'vs target': 0.41, 'p99 target': 'met' },
    { connections: 1024, 'entries/s': 3920, 'vs target': 0.39, 'p99 target': 'missed' },
  ]);
  expect(t[1]!.caption).toBe('after');
  expect(t[1]!.rows).toEqual([{ a: 'x', b: -1.5 }]);
});

it('leaves text that only looks numeric alone, and finds every table of RESULTS.md', () => {
  const t = tablesOf(table(['x'], [['12 / 34'], ['1,2,'], ['v1.2.3'], ['—']]));
  expect(t[0]!.rows.map((r) => r.x)).toEqual(['12 / 34', '1,2,', 'v1.2.3', '—']);
  const results = readFileSync(join(import.meta.dirname, '../../bench/RESULTS.md'), 'utf8');
  const all = tablesOf(results);
  expect(all.length).toBeGreaterThan(10);
  const verify = all.find((x) => x.columns.includes('bundles/s') && x.columns.includes('vs sigstore-js'))!;
  expect(verify.rows.every((r) => typeof r['bundles/s'] === 'number' && (r['bundles/s'] as number) > 0)).toBe(true);
});
