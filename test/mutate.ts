/**
 * Seeded, deterministic mutation of parser inputs (STYLE.md point 5: every byte from outside is
 * hostile). The fuzz-*.test.ts files take real inputs from the vectors, mutate them with these,
 * and require every outcome to be a success or a coded error (a CairnError): never a TypeError,
 * RangeError or SyntaxError, never a hang. A failing case prints its seed and iteration, so it can
 * be replayed and kept as a fixed regression case.
 */
import { CairnError } from '../host/errors.js';

/** mulberry32: a tiny, fast, seeded PRNG; the same seed gives the same sequence everywhere. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (r: () => number, n: number): number => Math.floor(r() * n);

/** Values DER length and count fields like to break on. */
const EDGE_BYTES = [0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x88, 0xff, 0x30, 0x31, 0x02, 0x04, 0x06, 0xa0, 0x1f];

/** One random mutation of `b`: bit flip, byte set, truncation, insertion, deletion, duplication, splice. */
export function mutateBytes(b: Uint8Array, r: () => number): Uint8Array {
  const a = Array.from(b);
  const pos = a.length ? int(r, a.length) : 0;
  switch (int(r, 9)) {
    case 0: // bit flip
      if (a.length) a[pos] = a[pos]! ^ (1 << int(r, 8));
      break;
    case 1: // interesting byte (lengths, tags)
      if (a.length) a[pos] = EDGE_BYTES[int(r, EDGE_BYTES.length)]!;
      break;
    case 2: // random byte
      if (a.length) a[pos] = int(r, 256);
      break;
    case 3: // truncate
      return Uint8Array.from(a.slice(0, pos));
    case 4: // insert bytes
      a.splice(pos, 0, ...Array.from({ length: 1 + int(r, 4) }, () => (r() < 0.5 ? EDGE_BYTES[int(r, EDGE_BYTES.length)]! : int(r, 256))));
      break;
    case 5: // delete a run
      a.splice(pos, 1 + int(r, 8));
      break;
    case 6: { // duplicate a run in place
      const len = 1 + int(r, Math.min(64, a.length - pos || 1));
      a.splice(pos, 0, ...a.slice(pos, pos + len));
      break;
    }
    case 7: // increment / decrement (length bytes off by one)
      if (a.length) a[pos] = (a[pos]! + (r() < 0.5 ? 1 : 255)) & 0xff;
      break;
    default: { // move a run elsewhere
      const len = 1 + int(r, 16);
      const run = a.splice(pos, len);
      a.splice(int(r, a.length + 1), 0, ...run);
    }
  }
  return Uint8Array.from(a);
}

/** 1..n stacked byte mutations. */
export function mutateBytesN(b: Uint8Array, r: () => number, n = 3): Uint8Array {
  let out = b;
  for (let k = 1 + int(r, n); k > 0; k--) out = mutateBytes(out, r);
  return out;
}

/** One random mutation of a string (as code units, so lone surrogates and controls occur too). */
export function mutateText(s: string, r: () => number): string {
  const pos = s.length ? int(r, s.length) : 0;
  const pick = ['\n', '\n\n', ' ', '+', '/', '=', '0', '9', 'x', '.', '-', '\u2014', '\r', '\t', '\0', '\ud800', '\u00e9', '%', '?', '#', ':', '\u0085'];
  switch (int(r, 6)) {
    case 0:
      return s.slice(0, pos);
    case 1:
      return s.slice(0, pos) + pick[int(r, pick.length)]! + s.slice(pos);
    case 2:
      return s.slice(0, pos) + s.slice(pos + 1 + int(r, 8));
    case 3:
      return s.slice(0, pos) + String.fromCharCode(int(r, 0x80)) + s.slice(pos + 1);
    case 4: {
      const len = 1 + int(r, 32);
      return s.slice(0, pos) + s.slice(pos, pos + len) + s.slice(pos);
    }
    default:
      return s.slice(0, pos) + pick[int(r, pick.length)]! + s.slice(pos + 1);
  }
}

type Json = unknown;
const JSON_VALUES: (() => Json)[] = [
  () => null, () => true, () => 0, () => -1, () => 1.5, () => 2 ** 64, () => '', () => 'x', () => '-1',
  () => '99999999999999999999', () => [], () => ({}), () => [null], () => ({ a: null }), () => 'AAAA', () => '====',
];

/** Paths (as key lists) to every value inside `v`. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) paths((v as Record<string, Json>)[k], [...at, k], out);
  return out;
}

/**
 * One structural mutation of a parsed JSON document (a fresh copy): replace a value with an
 * edge value, delete a key, mutate a string as text or as base64 bytes, wrap a value in an array,
 * duplicate an array element, or add an unknown key.
 */
export function mutateJson(doc: Json, r: () => number): Json {
  const root = { v: structuredClone(doc) } as Record<string, Json>;
  const all = paths(root.v).map((p) => ['v', ...p]);
  const p = all[int(r, all.length)]!;
  const parent = p.slice(0, -1).reduce<Json>((o, k) => (o as Record<string | number, Json>)[k], root) as Record<string | number, Json>;
  const key = p[p.length - 1]!;
  const cur = parent[key];
  switch (int(r, 7)) {
    case 0:
      parent[key] = JSON_VALUES[int(r, JSON_VALUES.length)]!();
      break;
    case 1:
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else if (key !== 'v') delete parent[key];
      break;
    case 2:
      if (typeof cur === 'string') {
        const raw = Buffer.from(cur, 'base64');
        parent[key] = /^[A-Za-z0-9+/]+={0,2}$/.test(cur) && raw.length > 4 && r() < 0.7
          ? Buffer.from(mutateBytesN(raw, r)).toString('base64')
          : mutateText(cur, r);
      } else parent[key] = JSON_VALUES[int(r, JSON_VALUES.length)]!();
      break;
    case 3:
      parent[key] = [cur];
      break;
    case 4:
      if (Array.isArray(cur) && cur.length) cur.push(structuredClone(cur[int(r, cur.length)]));
      else parent[key] = String(cur);
      break;
    case 5:
      if (cur && typeof cur === 'object' && !Array.isArray(cur)) (cur as Record<string, Json>)[`x${int(r, 9)}`] = JSON_VALUES[int(r, JSON_VALUES.length)]!();
      else parent[key] = typeof cur === 'number' ? -cur : { value: cur };
      break;
    default:
      if (typeof cur === 'number') parent[key] = [Number.MAX_SAFE_INTEGER + 2, -0, 1e308, 0.1][int(r, 4)];
      else if (typeof cur === 'string') parent[key] = cur.repeat(2);
      else parent[key] = JSON_VALUES[int(r, JSON_VALUES.length)]!();
  }
  return root.v;
}

/**
 * What a parser did with one input: 'ok', a CairnError's code, or 'CRASH <class>: <message>'
 * for anything else. Async functions are awaited.
 */
export function outcome(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return classify(e);
  }
}

export async function outcomeAsync(f: () => unknown): Promise<string> {
  try {
    await f();
    return 'ok';
  } catch (e) {
    return classify(e);
  }
}

function classify(e: unknown): string {
  if (e instanceof CairnError) return e.code;
  const err = e as Error;
  return `CRASH ${err?.constructor?.name ?? typeof e}: ${String(err?.message ?? e).slice(0, 200)}`;
}

/**
 * Runs `iterations` seeded cases, each `make(r)` producing an input and `check(input)` returning
 * an outcome. Collects crashes (with seed and iteration, to replay) and cases slower than
 * `slowMs`, and stops early after `budgetMs` so a test stays within a couple of seconds.
 */
export function fuzz<T>(seed: number, iterations: number, make: (r: () => number) => T, check: (input: T) => string, opts: { budgetMs?: number; slowMs?: number } = {}): { crashes: string[]; runs: number; codes: Map<string, number> } {
  const r = rng(seed);
  const crashes: string[] = [];
  const codes = new Map<string, number>();
  const start = performance.now();
  let runs = 0;
  for (let i = 0; i < iterations; i++) {
    if (performance.now() - start > (opts.budgetMs ?? 4000)) break;
    const input = make(r);
    const t0 = performance.now();
    const o = check(input);
    const dt = performance.now() - t0;
    runs++;
    codes.set(o, (codes.get(o) ?? 0) + 1);
    if (o.startsWith('CRASH') && crashes.length < 5) crashes.push(`seed ${seed} iteration ${i}: ${o}`);
    // 2 s: far above any honest case here (well under a millisecond), far below a pathological one,
    // and clear of a GC pause or a descheduled moment on a loaded 2-core CI machine.
    if (dt > (opts.slowMs ?? 2000) && crashes.length < 5) crashes.push(`seed ${seed} iteration ${i}: took ${dt.toFixed(0)} ms`);
  }
  return { crashes, runs, codes };
}
