/**
 * `npm run bench [-- --quick] [-- --only merkle,log] [-- --write | --no-write] [-- --json FILE]`
 *
 * `--json FILE` also writes the results for machines (CI systems tracking regressions): every
 * table of every suite run, as rows keyed by column, numbers parsed (bench/harness.ts tablesOf),
 * with the machine, Node version and date:
 *   { schema: "cairn-bench/1", machine, node, date, quick, suites: { <id>: { title, seconds, tables } } }
 *
 * Runs the registered suites one after another (never in parallel: the numbers are only
 * comparable inside one quiet run). A full run rewrites each suite's own section of
 * bench/RESULTS.md (between `<!-- suite:<id> -->` markers, so running one suite keeps the others);
 * a `--quick` run only prints, unless `--write` is given.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { machine, tablesOf, type BenchOptions, type ResultTable, type Suite } from './harness.js';

/** The registry: one line per suite, id -> lazy import of bench/<area>.ts. */
const suites: Record<string, () => Promise<Suite>> = {
  merkle: async () => (await import('./merkle.js')).merkleSuite,
  tsa: async () => (await import('./tsa.js')).tsaSuite,
  spiffe: async () => (await import('./spiffe.js')).spiffeSuite,
  log: async () => (await import('./log.js')).logSuite,
  ca: async () => (await import('./ca.js')).caSuite,
  signatures: async () => (await import('./signatures.js')).signaturesSuite,
  verify: async () => (await import('./verify.js')).verifySuite,
  browser: async () => (await import('./browser.js')).browserSuite,
  runtimes: async () => (await import('./runtimes.js')).runtimesSuite,
};

const RESULTS = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

function parseArgs(argv: string[]): { opts: BenchOptions; only: string[]; write: boolean; json?: string } {
  const quick = argv.includes('--quick');
  const i = argv.indexOf('--only');
  const only = i >= 0 ? (argv[i + 1] ?? '').split(',').filter(Boolean) : Object.keys(suites);
  for (const id of only) if (!suites[id]) throw new Error(`unknown suite "${id}"; known: ${Object.keys(suites).join(', ')}`);
  const write = argv.includes('--write') || (!quick && !argv.includes('--no-write'));
  const j = argv.indexOf('--json');
  if (j >= 0 && !argv[j + 1]) throw new Error('--json needs a file name');
  return { opts: { quick }, only, write, ...(j >= 0 ? { json: argv[j + 1]! } : {}) };
}

/** Replaces (or appends) the section of suite `id` in RESULTS.md. */
function upsertSection(doc: string, id: string, body: string): string {
  const start = `<!-- suite:${id} -->`;
  const end = `<!-- /suite:${id} -->`;
  const block = `${start}\n${body.trim()}\n${end}`;
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  if (a >= 0 && b > a) return doc.slice(0, a) + block + doc.slice(b + end.length);
  return `${doc.trimEnd()}\n\n${block}\n`;
}

async function main(): Promise<void> {
  const { opts, only, write, json } = parseArgs(process.argv.slice(2));
  const machineReadable: Record<string, { title: string; seconds: number; tables: ResultTable[] }> = {};
  const where = machine();
  let doc: string;
  try {
    doc = await readFile(RESULTS, 'utf8');
  } catch {
    doc = '# Cairn benchmark results\n\nWritten by `npm run bench` (full runs). Each section names its machine and date;\nevery ratio compares implementations measured in the same run on the same input.\n';
  }
  for (const id of only) {
    const suite = await suites[id]!();
    console.log(`\n=== ${id}${opts.quick ? ' (quick)' : ''} — ${where}`);
    const t0 = performance.now();
    const result = await suite(opts);
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const header = `## ${result.title}\n\nMeasured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${where}` +
      `${opts.quick ? ' (--quick)' : ''}; suite took ${secs} s.\n\n`;
    console.log(result.markdown);
    doc = upsertSection(doc, id, header + result.markdown);
    machineReadable[id] = { title: result.title, seconds: Number(secs), tables: tablesOf(result.markdown) };
  }
  if (json) {
    await writeFile(json, `${JSON.stringify({ schema: 'cairn-bench/1', machine: where, node: process.version, date: new Date().toISOString(), quick: opts.quick, suites: machineReadable }, null, 2)}\n`);
    console.log(`wrote ${json}`);
  }
  if (write) {
    await writeFile(RESULTS, doc);
    console.log(`\nwrote ${RESULTS}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
