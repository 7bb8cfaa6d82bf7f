/**
 * Every HTTP route of every service, as its own OpenAPI document lists it, fed bad input: path
 * parameters that are empty, huge, negative, out of range or path tricks; query parameters
 * likewise; bodies that are not JSON, the wrong JSON type, deeply nested, or bytes of the wrong
 * media type. The rule (STYLE.md point 3, and "a bad input never causes a 500"): every answer is
 * below 500, and every refusal carries a stable code (`error`, upper-case) in a JSON body. New
 * routes are swept as soon as they are registered, because the list comes from /openapi.json.
 *
 * The services run as `cairn up` runs them (startStack: SPIFFE/OIDC, CA, log with CT, TSA, the
 * stack's TUF app), plus a witness.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type RunningStack } from '../../host/cli/up.js';
import { startStandalone as startWitness } from '../../host/witness/standalone.js';
import type { Standalone } from '../../host/cli/serve.js';

let dir: string;
let stack: RunningStack;
let witness: Standalone;
let bases: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-sweep-'));
  stack = await startStack({ dataDir: join(dir, 'stack'), host: '127.0.0.1', port: 0, trustDomain: 'sweep.local', operator: 'sweep.local', config: {}, logLevel: 'silent' });
  // A witness for some log (its key is all the config needs).
  await writeFile(join(dir, 'log.pem'), generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string);
  await writeFile(join(dir, 'witness.yaml'), `name: sweep.example/w1\nlogs:\n  - { origin: sweep.example, publicKey: ${join(dir, 'log.pem')} }\n`);
  witness = await startWitness({ dataDir: join(dir, 'witness'), port: 0, host: '127.0.0.1', config: join(dir, 'witness.yaml') });
  const r = stack.ready;
  bases = { spiffe: r.oidc, ca: r.ca, log: r.log, tsa: r.tsa, stack: r.tuf.replace(/\/tuf$/, ''), witness: Object.values(witness.ready).find((v) => typeof v === 'string' && v.startsWith('http')) as string };
}, 120_000);
afterAll(async () => {
  await witness?.close();
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

const PATH_VALUES = ['x', '-1', '0', '99999999999999999999', '%00', '..%2F..%2Fetc%2Fpasswd', 'a'.repeat(2000), '%E2%80%AE', '1.5'];
const QUERY_VALUES = ['', 'x', '-1', '99999999999999999999', '1e3', '%00', 'a'.repeat(2000)];
const JSON_BODIES = ['not json', '{', '{}', '[]', 'null', '"str"', '12', '{"a":'.repeat(200) + '1' + '}'.repeat(200), '{"kind":1,"spec":[],"apiVersion":{}}', '{"entryUUIDs":["x"],"logIndexes":[-1],"entries":[{}]}', '{"hash":5,"publicKey":{"content":[]},"email":{},"uri":[]}', '{"chain":["%%%"]}', '{"credentials":{"oidcIdentityToken":"a.b.c"},"publicKeyRequest":{"publicKey":{"algorithm":"ECDSA","content":"x"},"proofOfPossession":"x"}}'];

interface Op { method: string; path: string; query: string[] }

async function operations(base: string): Promise<Op[]> {
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>> };
  const out: Op[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue;
      out.push({ method: method.toUpperCase(), path, query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name) });
    }
  }
  return out;
}

function urls(base: string, op: Op): string[] {
  const params = op.path.match(/\{[^}]+\}/g) ?? [];
  const paths = params.length === 0 ? [op.path] : PATH_VALUES.map((v) => op.path.replace(/\{[^}]+\}/g, v));
  const queries = op.query.length === 0 ? [''] : ['', ...QUERY_VALUES.map((v) => `?${op.query.map((q) => `${q}=${v}`).join('&')}`)];
  return paths.flatMap((p) => queries.map((q) => `${base}${p}${q}`));
}

it('no route of any service answers bad input with a 5xx, and every refusal carries a code', async () => {
  const bad: string[] = [];
  let requests = 0;
  const check = async (service: string, method: string, url: string, init: RequestInit = {}): Promise<void> => {
    requests++;
    let res: Response;
    try {
      res = await fetch(url, { method, ...init, signal: AbortSignal.timeout(10_000) });
    } catch (e) {
      bad.push(`${service} ${method} ${url.slice(0, 120)}: no answer (${(e as Error).message})`);
      return;
    }
    const text = Buffer.from(await res.arrayBuffer()).toString('latin1');
    if (res.status >= 500) {
      bad.push(`${service} ${method} ${url.slice(0, 120)} ${String(init.body ?? '').slice(0, 40)}: ${res.status} ${text.slice(0, 120)}`);
      return;
    }
    if (res.status >= 400) {
      // The TSA refuses in RFC 3161's own terms: a TimeStampResp whose PKIStatusInfo says
      // rejection, with a PKIFailureInfo bit as the code (§2.4.2), which every TSA client reads.
      if (res.headers.get('content-type') === 'application/timestamp-reply') {
        const der = Buffer.from(text, 'latin1');
        if (service === 'tsa' && der[0] === 0x30 && /\x02\x01\x02/.test(text.slice(0, 12))) return;
      }
      let code: unknown;
      try {
        code = (JSON.parse(text) as { error?: unknown }).error;
      } catch {
        code = undefined;
      }
      if (typeof code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(code)) bad.push(`${service} ${method} ${url.slice(0, 120)}: ${res.status} without a code: ${text.slice(0, 120)}`);
    }
  };
  const ops: [string, Op][] = [];
  for (const [service, base] of Object.entries(bases)) for (const op of await operations(base)) ops.push([service, op]);
  // Every service lists its API; the sweep covers each one's main routes.
  const paths = ops.map(([s, o]) => `${s} ${o.method} ${o.path}`);
  for (const want of ['log POST /api/v1/log/entries', 'log POST /api/v2/log/entries', 'log POST /ct/v1/add-chain', 'ca POST /api/v2/signingCert', 'tsa POST /api/v1/timestamp']) {
    expect(paths.some((p) => p.startsWith(want)), want).toBe(true);
  }
  for (const [service, op] of ops) {
    const base = bases[service]!;
    for (const url of urls(base, op)) {
      if (op.method === 'GET' || op.method === 'DELETE') {
        await check(service, op.method, url);
        continue;
      }
      await check(service, op.method, url);
      for (const body of JSON_BODIES) await check(service, op.method, url, { body, headers: { 'content-type': 'application/json' } });
      await check(service, op.method, url, { body: Buffer.from([0x30, 0x82, 0xff, 0xff, 0x00]), headers: { 'content-type': 'application/timestamp-query' } });
      await check(service, op.method, url, { body: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      await check(service, op.method, url, { body: Buffer.alloc(64, 0xff), headers: { 'content-type': 'application/octet-stream' } });
    }
  }
  expect(requests).toBeGreaterThan(400);
  expect(bad).toEqual([]);
}, 300_000);
