/**
 * TSA suite: time-stamp tokens per second.
 *  1. Core (in-process, no HTTP): parse a DER TimeStampReq + build and sign the TimeStampResp,
 *     against two baselines measured in the same run — the bare ECDSA P-256 signature (the floor
 *     no TSA can beat) and asn1-schema serialising the same TSTInfo (what hand-splicing avoids).
 *  2. HTTP: autocannon on loopback against `startStandalone` running in a SEPARATE node process
 *     (server and load generator each get one of the machine's cores), DER and Sigstore JSON
 *     requests, fixed duration. Target from issue 5: >= 5,000 timestamps/s on 2 cores.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Accuracy, MessageImprint, TSTInfo } from '@peculiar/asn1-tsp';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
// autocannon (CommonJS) ships no types; this is the slice of its API used here.
const autocannon = createRequire(import.meta.url)('autocannon') as (o: Record<string, unknown>) => Promise<{
  requests: { average: number }; latency: { p99: number }; non2xx: number; errors: number;
}>;
import { Bench } from 'tinybench';
import { parseTimeStampReq, TimestampAuthority, messageImprintDer } from '../host/tsa/core.js';
import { algorithmIdentifier, integer, octets, seq } from '../host/tsa/encode.js';
import { createTsaIdentity } from '../host/tsa/keys.js';
import { HASH_OIDS } from '../host/tsa/oids.js';
import { fmt, serviceProcess, table, type BenchOptions, type SuiteResult } from './harness.js';

const digest = createHash('sha256').update('bench').digest();
const query = Buffer.from(seq(integer(1n), seq(algorithmIdentifier(HASH_OIDS.sha256), octets(digest)), integer(0x1234567890abcdefn), Uint8Array.of(0x01, 0x01, 0xff)));
const jsonBody = JSON.stringify({ artifactHash: digest.toString('base64'), hashAlgorithm: 'sha256', certificates: true, nonce: 123456789 });

async function coreRates(quick: boolean): Promise<{ name: string; hz: number }[]> {
  const { identity } = await createTsaIdentity({ type: 'ecdsa-p256' });
  const tsa = new TimestampAuthority(identity);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const attrs = new Uint8Array(150).fill(1); // the size of our signedAttrs
  const now = new Date();
  let serial = 1n;
  const bench = new Bench({ time: quick ? 300 : 1500, warmupTime: quick ? 50 : 200 });
  bench
    .add('baseline: bare ECDSA P-256 sign (node:crypto)', () => {
      sign('sha256', attrs, privateKey);
    })
    .add('baseline: TSTInfo via asn1-schema serialize', () => {
      AsnConvert.serialize(new TSTInfo({
        version: 1, policy: '1.3.6.1.4.1.57264.2', serialNumber: new Uint8Array([1, 2, 3]).buffer, genTime: now,
        messageImprint: new MessageImprint({ hashAlgorithm: new AlgorithmIdentifier({ algorithm: HASH_OIDS.sha256 }), hashedMessage: new OctetString(digest) }),
        accuracy: new Accuracy({ seconds: 1 }),
      }));
    })
    .add('Cairn: TSTInfo, hand-spliced DER', () => {
      tsa.tstInfo({ hashAlgorithm: 'sha256', hashedMessage: digest, messageImprintDer: messageImprintDer('sha256', digest), certReq: true }, serial++, now);
    })
    .add('Cairn: parse TimeStampReq + build + sign TimeStampResp', async () => {
      await tsa.respond(parseTimeStampReq(query), serial++, new Date());
    });
  await bench.run();
  return bench.tasks.map((t) => {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`${t.name}: ${r.state}`);
    return { name: t.name, hz: 1000 / r.latency.p50 };
  });
}

async function load(url: string, body: string | Buffer, contentType: string, seconds: number): Promise<{ rps: number; p99: number; non2xx: number; errors: number }> {
  const r = await autocannon({
    url: `${url}/api/v1/timestamp`, method: 'POST', headers: { 'content-type': contentType }, body,
    connections: 32, pipelining: 1, duration: seconds,
  });
  return { rps: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
}

export const tsaSuite = async (opts: BenchOptions): Promise<SuiteResult> => {
  const core = await coreRates(opts.quick);
  const bare = core[0]!.hz;
  const seconds = opts.quick ? 3 : 10;
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-tsa-'));
  const server = await serviceProcess('tsa', dir, 'tsa');
  let der;
  let json;
  try {
    await load(server.url, query, 'application/timestamp-query', 1); // warm-up (JIT, first serial block)
    der = await load(server.url, query, 'application/timestamp-query', seconds);
    json = await load(server.url, jsonBody, 'application/json', seconds);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const target = 5000;
  const load1 = loadavg()[0]!.toFixed(2);
  const md = [
    'Core, in one process (tinybench):',
    '',
    table(['operation', 'ops/s (1 / median latency)', 'vs bare ECDSA sign'], core.map((c) => [c.name, fmt.ops(c.hz), fmt.x(c.hz / bare)])),
    '',
    `HTTP on loopback, TSA in a separate node process, autocannon 32 connections, ${seconds} s each, ECDSA P-256 signer:`,
    '',
    table(['request', 'timestamps/s', 'p99 latency (ms)', 'non-2xx', 'errors', 'vs 5,000/s target'], [
      ['DER application/timestamp-query (nonce, certReq)', fmt.ops(der.rps), der.p99, der.non2xx, der.errors, fmt.x(der.rps / target)],
      ['Sigstore JSON', fmt.ops(json.rps), json.p99, json.non2xx, json.errors, fmt.x(json.rps / target)],
    ]),
    '',
    `1-minute load average when the HTTP runs ended: ${load1} (the load generator shares the 2 cores with the server; ` +
      'on a shared machine the HTTP numbers vary by 2x between runs, so compare rows within one run).',
  ].join('\n');
  return { title: 'RFC 3161 TSA: timestamps per second', markdown: md };
};

// `node --import tsx bench/tsa.ts [--quick]` runs this suite alone.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  tsaSuite({ quick: process.argv.includes('--quick') }).then((r) => console.log(`## ${r.title}\n\n${r.markdown}`));
}
