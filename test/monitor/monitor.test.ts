/**
 * `cairn monitor` (host/monitor): against a real log over HTTP, it reports exactly the entries
 * whose certificates name a watched identity, continues from its state, audits every entry
 * against the signed root, and raises an alarm for a changed entry, a rolled-back checkpoint and a
 * forked tree signed with the log's own key. The compact range is checked against the core.
 */
import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCore, leafHash, rootFromLeafHashes } from '../../host/core/index.js';
import { loadOrCreateLogKey } from '../../host/log/keys.js';
import { formatCheckpoint, formatNote, parseCheckpoint, parseNote, signNoteBody } from '../../host/log/note.js';
import { CompactRange } from '../../host/monitor/compact-range.js';
import { ctSource, entryIdentities, keyVerifier, monitorOnce, rekorV1Source, tilesSource, type MonitorState } from '../../host/monitor/monitor.js';
import { certSigner, ecSigner, hashedrekord, startLog, type RunningLog } from '../log/helpers.js';

const BIN = join(import.meta.dirname, '../../bin/cairn.js');
let log: RunningLog;
let pem: string;
const WATCH = [/^spiffe:\/\/a\.test\//];
const tiles = (verify: ReturnType<typeof keyVerifier>, get?: (url: string) => Promise<Uint8Array>) => tilesSource({ base: log.url, verifyCheckpoint: verify, ...(get ? { get } : {}) });

beforeAll(async () => {
  await initCore();
  log = await startLog('batchAgeMs: 5\n');
  pem = (await log.get('/api/v1/log/publicKey')).text;
});
afterAll(() => log.close());

/** Posts `n` entries; those at positions in `as` are signed under certificates for `uri`. Returns the log indices of the certified ones. */
async function post(n: number, certified: Map<number, string>): Promise<number[]> {
  const plain = ecSigner();
  const out: number[] = [];
  const rs = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const uri = certified.get(i);
    const s = uri ? await certSigner(uri, `ops${i}@example.com`) : plain;
    return { uri, r: await log.post('/api/v1/log/entries', hashedrekord(s, randomBytes(16)).body) };
  }));
  for (const { uri, r } of rs) {
    expect(r.status).toBe(201);
    if (uri?.startsWith('spiffe://a.test/')) out.push((Object.values(r.json)[0] as { logIndex: number }).logIndex);
  }
  return out.sort((a, b) => a - b);
}

describe('compact range', () => {
  it('gives the core’s root at every size, and survives a round trip through its state', () => {
    const leaves = Array.from({ length: 300 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
    const r = CompactRange.empty();
    for (let n = 1; n <= 300; n++) {
      r.append(leaves[n - 1]!);
      expect(Buffer.from(r.root()!), `size ${n}`).toEqual(Buffer.from(rootFromLeafHashes(Buffer.concat(leaves.slice(0, n)))));
      const back = CompactRange.from(n, r.state().hashes.map((h) => Buffer.from(h, 'hex')));
      expect(Buffer.from(back.root()!)).toEqual(Buffer.from(r.root()!));
    }
    expect(() => CompactRange.from(5, [new Uint8Array(32)])).toThrow(/2 hashes/);
    // positions(n) names the subtrees the range holds: their roots, from the leaves, are its hashes.
    for (const n of [1, 2, 3, 7, 8, 100, 255, 256, 300]) {
      const r2 = CompactRange.empty();
      leaves.slice(0, n).forEach((l) => r2.append(l));
      const want = CompactRange.positions(n).map(([level, index]) => Buffer.from(rootFromLeafHashes(Buffer.concat(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level)))).toString('hex'));
      expect(r2.state().hashes, `size ${n}`).toEqual(want);
    }
  });
});

describe('monitoring a log', () => {
  let first: MonitorState;
  let firstCheckpoint: string;

  it('reports exactly the entries certified for a watched identity, auditing all 300', async () => {
    const watched = await post(300, new Map([[3, 'spiffe://a.test/build'], [77, 'spiffe://a.test/release'], [150, 'spiffe://b.test/other'], [299, 'spiffe://a.test/build']]));
    expect(watched).toHaveLength(3);
    const r = await monitorOnce({ source: tiles(keyVerifier(pem)), identities: WATCH });
    expect(r.read).toBe(300);
    expect(r.state.size).toBe(300);
    expect(r.matches.map((m) => m.index)).toEqual(watched);
    expect(r.matches.every((m) => m.kind === 'hashedrekord' && m.identities.every((id) => id.startsWith('uri:spiffe://a.test/')))).toBe(true);
    first = r.state;
    firstCheckpoint = r.state.checkpoint;
  });

  it('continues from its state: only new entries are read and reported', async () => {
    const watched = await post(40, new Map([[10, 'spiffe://a.test/late']]));
    const r = await monitorOnce({ source: tiles(keyVerifier(pem)), identities: WATCH, state: first });
    expect(r.read).toBe(40);
    expect(r.matches.map((m) => m.index)).toEqual(watched);
  });

  it('starts at the current tree when asked (its nodes checked against the signed root), then reports only what follows', async () => {
    const head = await monitorOnce({ source: tiles(keyVerifier(pem)), identities: WATCH, fromHead: true });
    expect(head.read).toBe(0);
    expect(head.matches).toEqual([]);
    expect(head.state.size).toBe((await log.get('/api/v1/log')).json.treeSize);
    const watched = await post(5, new Map([[2, 'spiffe://a.test/after-head']]));
    const next = await monitorOnce({ source: tiles(keyVerifier(pem)), identities: WATCH, state: head.state });
    expect(next.read).toBe(5);
    expect(next.matches.map((m) => m.index)).toEqual(watched);
    // One flipped byte in a level-0 tile: the nodes no longer hash to the signed root.
    const tamper = async (url: string): Promise<Uint8Array> => {
      const b = new Uint8Array(await (await fetch(url)).arrayBuffer());
      if (url.includes('/tile/0/')) b[0]! ^= 1;
      return b;
    };
    await expect(monitorOnce({ source: tiles(keyVerifier(pem), tamper), identities: WATCH, fromHead: true })).rejects.toMatchObject({ code: 'MONITOR_INCONSISTENT' });
  });

  it('raises MONITOR_INCONSISTENT for a changed entry, MONITOR_ROLLBACK for an older checkpoint, and catches a fork signed with the log key', async () => {
    const tamper = async (url: string): Promise<Uint8Array> => {
      const b = new Uint8Array(await (await fetch(url)).arrayBuffer());
      if (url.includes('/tile/entries/001')) b[b.length - 5]! ^= 1; // one byte of one entry
      return b;
    };
    await expect(monitorOnce({ source: tiles(keyVerifier(pem), tamper), identities: WATCH })).rejects.toMatchObject({ code: 'MONITOR_INCONSISTENT' });

    const current = (await monitorOnce({ source: tiles(keyVerifier(pem)), identities: WATCH })).state;
    const older = async (url: string): Promise<Uint8Array> => (url.endsWith('/checkpoint') ? Buffer.from(firstCheckpoint) : new Uint8Array(await (await fetch(url)).arrayBuffer()));
    await expect(monitorOnce({ source: tiles(keyVerifier(pem), older), identities: WATCH, state: current })).rejects.toMatchObject({ code: 'MONITOR_ROLLBACK' });

    // A checkpoint for the same size with another root, properly signed: only the audit catches it.
    const key = await loadOrCreateLogKey(join(log.dataDir, 'rekor-key.pem'), 'ecdsa-p256');
    const cp = parseCheckpoint(parseNote(current.checkpoint).body);
    const body = formatCheckpoint({ origin: cp.origin, size: cp.size, root: createHash('sha256').update('fork').digest() });
    const forged = formatNote({ body, signatures: [signNoteBody(body, cp.origin, key)] });
    const fork = async (url: string): Promise<Uint8Array> => (url.endsWith('/checkpoint') ? Buffer.from(forged) : new Uint8Array(await (await fetch(url)).arrayBuffer()));
    expect(keyVerifier(pem)(forged).size).toBe(cp.size); // the signature itself is good
    await expect(monitorOnce({ source: tiles(keyVerifier(pem), fork), identities: WATCH, state: current })).rejects.toMatchObject({ code: 'MONITOR_INCONSISTENT' });
    // A checkpoint signed by another key is refused before anything is read.
    await expect(monitorOnce({ source: tiles(keyVerifier(ecSigner().publicKeyPem)), identities: WATCH })).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE' });
  });

  it('decodes the checkpoint strictly as UTF-8 (C2SP signed-note): a bad byte is refused, not replaced', async () => {
    const real = Buffer.from(await (await fetch(`${log.url}/checkpoint`)).arrayBuffer());
    const serve = (checkpoint: Buffer) => async (url: string): Promise<Uint8Array> => (url.endsWith('/checkpoint') ? checkpoint : new Uint8Array(await (await fetch(url)).arrayBuffer()));
    const round = (checkpoint: Buffer) => monitorOnce({ source: tiles(keyVerifier(pem), serve(checkpoint)), identities: WATCH, fromHead: true });
    expect((await round(real)).state.checkpoint).toBe(real.toString('utf8'));
    // A second signature line, by a key whose name holds a byte that is not UTF-8. Replaced by
    // U+FFFD, the note still parses and the log's own signature verifies, though the text
    // checked is not the bytes served.
    const badName = Buffer.concat([real, Buffer.from('\u2014 bad'), Buffer.from([0xff]), Buffer.from('name AAAAAAAA\n')]);
    await expect(round(badName)).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE', message: expect.stringMatching(/not valid UTF-8/) });
    // A byte-order mark is text too, kept and refused with the origin it spoils: not silently dropped.
    await expect(round(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), real]))).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE' });
    // A checkpoint that does not parse is the log's bad response, under the monitor's code.
    await expect(round(Buffer.from('not a checkpoint\n'))).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE' });
  });

  it('reads the same log through its Rekor v1 API (entries by log index) to the same tree and the same matches', async () => {
    const viaTiles = await monitorOnce({ source: tiles(keyVerifier(pem)), identities: WATCH });
    const viaV1 = await monitorOnce({ source: rekorV1Source({ base: log.url, verifyCheckpoint: keyVerifier(pem) }), identities: WATCH });
    expect(viaV1.read).toBe(viaTiles.read);
    expect(viaV1.matches).toEqual(viaTiles.matches);
    expect({ ...viaV1.state, checkpoint: '' }).toEqual({ ...viaTiles.state, checkpoint: '' });
    const watched = await post(3, new Map([[1, 'spiffe://a.test/v1']]));
    const next = await monitorOnce({ source: rekorV1Source({ base: log.url, verifyCheckpoint: keyVerifier(pem) }), identities: WATCH, state: viaV1.state });
    expect(next.read).toBe(3);
    expect(next.matches.map((m) => m.index)).toEqual(watched);
    // Rekor v1 serves no tree nodes: it cannot start at its head.
    await expect(monitorOnce({ source: rekorV1Source({ base: log.url, verifyCheckpoint: keyVerifier(pem) }), identities: WATCH, fromHead: true })).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE' });
  });

  it('finds identities in every entry shape it may meet', async () => {
    const s = await certSigner('spiffe://a.test/x', 'a@example.com');
    const body = Buffer.from(JSON.stringify(hashedrekord(s, Buffer.from('x')).body));
    expect(entryIdentities(body).identities.sort()).toEqual(['email:a@example.com', 'uri:spiffe://a.test/x']);
    const der = Buffer.from(s.certPem!.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const v2 = Buffer.from(JSON.stringify({ kind: 'dsse', spec: { dsseV002: { signatures: [{ verifier: { x509Certificate: { rawBytes: der.toString('base64') } } }] } } }));
    expect(entryIdentities(v2)).toEqual({ kind: 'dsse', identities: expect.arrayContaining(['uri:spiffe://a.test/x']) });
    expect(entryIdentities(Buffer.from(JSON.stringify(hashedrekord(ecSigner(), Buffer.from('y')).body))).identities).toEqual([]);
    expect(entryIdentities(Buffer.from('not json')).identities).toEqual([]);
  });
});

describe('monitoring a CT log (RFC 6962)', () => {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  type Keys = { publicKey: never; privateKey: never };
  let ca: x509.X509Certificate;
  let caKeys: Keys;
  const POISON = new x509.Extension('1.3.6.1.4.1.11129.2.4.3', true, Uint8Array.of(5, 0));

  async function chain(uri: string, precert: boolean): Promise<string[]> {
    caKeys ??= (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never;
    ca ??= await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=Monitor Test CA', keys: caKeys, signingAlgorithm: alg, notBefore: new Date(Date.now() - 1e5), notAfter: new Date(Date.now() + 1e7), extensions: [new x509.BasicConstraintsExtension(true, 0, true)] });
    const leafKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as Keys;
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(8).toString('hex'), subject: '', issuer: ca.subject, publicKey: leafKeys.publicKey, signingKey: caKeys.privateKey, signingAlgorithm: alg,
      notBefore: new Date(), notAfter: new Date(Date.now() + 6e5),
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }, { type: 'email', value: 'Ops@Example.com' }], true), ...(precert ? [POISON] : [])],
    });
    return [leaf, ca].map((c) => Buffer.from(c.rawData).toString('base64'));
  }

  it('audits every leaf against the signed tree head and reports the (pre)certificates issued for watched identities', async () => {
    const ctKey = createPublicKey(createPrivateKey(await readFile(join(log.dataDir, 'ct-key.pem'), 'utf8')));
    const other = await chain('spiffe://b.test/x', true);
    const add = async (c: string[], precert: boolean): Promise<number> => {
      const r = await log.post(precert ? '/ct/v1/add-pre-chain' : '/ct/v1/add-chain', { chain: c });
      expect(r.status).toBe(200);
      return r.json.timestamp as number;
    };
    // More than one get-entries page (256), the watched ones among them.
    const before = (await log.get('/ct/v1/get-sth')).json.tree_size as number;
    for (let i = 0; i < 270; i++) {
      if (i === 5) await add(await chain('spiffe://a.test/ci', true), true);
      else if (i === 260) await add(await chain('spiffe://a.test/final', false), false);
      else await add(other, true);
    }
    const source = ctSource({ base: log.url, key: ctKey });
    const r = await monitorOnce({ source, identities: WATCH });
    expect(r.state.size).toBe(before + 270);
    expect(r.matches).toEqual([
      { index: before + 5, kind: 'precert', identities: ['uri:spiffe://a.test/ci'] },
      { index: before + 260, kind: 'x509', identities: ['uri:spiffe://a.test/final'] },
    ]);
    // Email patterns see the lower-cased mailbox.
    expect((await monitorOnce({ source, identities: [/^ops@example\.com$/] })).matches).toHaveLength(270);

    await add(await chain('spiffe://a.test/ci', true), true);
    const next = await monitorOnce({ source, identities: WATCH, state: r.state });
    expect(next.read).toBe(1);
    expect(next.matches.map((m) => m.index)).toEqual([before + 270]);

    // One changed byte in one leaf, and a head signed by another key.
    const tamper = async (url: string): Promise<Uint8Array> => {
      const j = (await (await fetch(url)).json()) as { entries?: { leaf_input: string }[] };
      if (j.entries?.[3]) {
        const b = Buffer.from(j.entries[3].leaf_input, 'base64');
        b[b.length - 40]! ^= 1;
        j.entries[3].leaf_input = b.toString('base64');
      }
      return Buffer.from(JSON.stringify(j));
    };
    await expect(monitorOnce({ source: ctSource({ base: log.url, key: ctKey, get: tamper }), identities: WATCH })).rejects.toMatchObject({ code: 'MONITOR_INCONSISTENT' });
    await expect(monitorOnce({ source: ctSource({ base: log.url, key: createPublicKey(ecSigner().publicKeyPem) }), identities: WATCH })).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE' });
    // JSON between systems is UTF-8 (RFC 8259 §8.1): a tree head with a byte that is not is refused, and so is one that is not an object.
    const sth = async (body: Buffer) => monitorOnce({ source: ctSource({ base: log.url, key: ctKey, get: async (url) => (url.endsWith('/get-sth') ? body : new Uint8Array(await (await fetch(url)).arrayBuffer())) }), identities: WATCH });
    const real = (await log.get('/ct/v1/get-sth')).text;
    expect((await sth(Buffer.from(real))).state.size).toBe(before + 271);
    await expect(sth(Buffer.concat([Buffer.from(real.slice(0, -1) + ',"x":"'), Buffer.from([0xc3]), Buffer.from('"}')]))).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE', message: expect.stringMatching(/not valid UTF-8/) });
    await expect(sth(Buffer.from('null'))).rejects.toMatchObject({ code: 'MONITOR_BAD_RESPONSE' });
  });
});

it('cairn monitor prints the matches once, keeps its state, and exits 3 on an alarm', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-monitor-'));
  try {
    await writeFile(join(dir, 'log.pem'), pem);
    const args = [BIN, 'monitor', '--log', log.url, '--log-key', join(dir, 'log.pem'), '--identity', '^spiffe://a\\.test/', '--state', join(dir, 'state.json')];
    const run = (a: string[]) => promisify(execFile)(process.execPath, a).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
    const one = await run(args);
    expect(one.code).toBe(0);
    const lines = one.stdout.trim().split('\n').map((l) => JSON.parse(l) as { index: number; identities: string[] });
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(lines.every((l) => l.identities.some((id) => id.startsWith('uri:spiffe://a.test/')))).toBe(true);
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as MonitorState;
    expect(state.size).toBe((await log.get('/api/v1/log')).json.treeSize);
    const two = await run(args);
    expect(two.code).toBe(0);
    expect(two.stdout.trim()).toBe(''); // nothing new
    // A state from a longer (other) history: the log now looks rolled back.
    await writeFile(join(dir, 'state.json'), JSON.stringify({ ...state, size: state.size + 1 }));
    const three = await run(args);
    expect(three.code).toBe(3);
    expect(JSON.parse(three.stdout.trim())).toMatchObject({ alarm: 'MONITOR_ROLLBACK' });
    // --rekor-v1: the same log through its v1 API, to the same entries and the same tree.
    const v1Args = [...args.slice(0, -1), join(dir, 'v1.json'), '--rekor-v1'];
    const v1 = await run(v1Args);
    expect(v1.code).toBe(0);
    expect(v1.stdout).toBe(one.stdout);
    expect(JSON.parse(await readFile(join(dir, 'v1.json'), 'utf8'))).toMatchObject({ origin: state.origin, size: state.size, range: state.range });
    const both = await run([...v1Args, '--ct']);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/at most one of --ct and --rekor-v1/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('cairn monitor refuses to run without --identity (a monitor that watches nothing reports nothing)', async () => {
  const { Command } = await import('commander');
  const { registerMonitor } = await import('../../host/cli/monitor.js');
  const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined });
  registerMonitor(program);
  const dir = await mkdtemp(join(tmpdir(), 'cairn-monitor-'));
  try {
    await writeFile(join(dir, 'log.pem'), pem);
    // A real log and key: before the fix the command ran, audited, and printed no match at all.
    await expect(program.parseAsync(['node', 'cairn', 'monitor', '--log', log.url, '--log-key', join(dir, 'log.pem')]))
      .rejects.toMatchObject({ code: 'commander.missingMandatoryOptionValue', message: expect.stringMatching(/--identity/) });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('identities in hostile encodings (a log that does not canonicalise)', () => {
  it('finds a certificate in every encoding the verifier accepts, and SANs holding quotes or commas as they are', async () => {
    const x509 = await import('@peculiar/x509');
    await import('reflect-metadata');
    const { webcrypto } = await import('node:crypto');
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as unknown as { publicKey: never; privateKey: never };
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01', name: '', keys, signingAlgorithm: alg, notBefore: new Date(Date.now() - 6e4), notAfter: new Date(Date.now() + 6e5),
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'https://ci.example/x?a=1,2' }, { type: 'email', value: "o'brien@own.example" }], true)],
    });
    const der = Buffer.from(cert.rawData);
    const want = ['uri:https://ci.example/x?a=1,2', "email:o'brien@own.example"];
    const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
    const pem = (label: string) => `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;
    const hashedrekord = (content: string) => Buffer.from(JSON.stringify({ apiVersion: '0.0.1', kind: 'hashedrekord', spec: { data: { hash: { algorithm: 'sha256', value: 'ab'.repeat(32) } }, signature: { content: 'AA==', publicKey: { content } } } }));
    for (const [what, content] of [['PEM', b64(pem('CERTIFICATE'))], ['DER', der.toString('base64')], ['TRUSTED CERTIFICATE', b64(pem('TRUSTED CERTIFICATE'))], ['PUBLIC KEY label', b64(pem('PUBLIC KEY'))]] as const) {
      expect(entryIdentities(hashedrekord(content)).identities.sort(), what).toEqual([...want].sort());
    }
    const v2 = Buffer.from(JSON.stringify({ apiVersion: '0.0.2', kind: 'hashedrekord', spec: { hashedRekordV002: { data: { digest: 'AA==' }, signature: { content: 'AA==', verifier: { publicKey: { rawBytes: der.toString('base64') }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' } } } } }));
    expect(entryIdentities(v2).identities.sort()).toEqual([...want].sort());
  });
});
