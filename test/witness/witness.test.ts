/**
 * C2SP tlog-witness (host/witness): every answer add-checkpoint defines (200 with a cosignature
 * that verifies, 400, 403, 404, 409 with the held size, 422), state that survives a restart, and
 * the log collecting cosignatures on its own: a real log server with `witnessUrls` sends each
 * checkpoint to a real witness server, and the cosignatures show on the log's /checkpoint.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consistencyProof, initCore, leafHashes, rootFromLeafHashes } from '../../host/core/index.js';
import { startStandalone as startLog } from '../../host/log/standalone.js';
import { formatCheckpoint, formatNote, noteKeyFor, parseNote, parseWitnessVkey, signNoteBody, verifyCosignature, witnessVkey } from '../../host/log/note.js';
import { build } from '../../host/witness/plugin.js';
import { startStandalone as startWitness } from '../../host/witness/standalone.js';
import { EMPTY_ROOT, Witness, WitnessStore } from '../../host/witness/witness.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const tempDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'cairn-witness-'));
  dirs.push(d);
  return d;
};

const ORIGIN = 'log.test';
const logKey = generateKeyPairSync('ed25519').privateKey;
const ecLogKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const witnessKey = generateKeyPairSync('ed25519').privateKey;
const W = 'witness.test/w1';
const leaves = Array.from({ length: 40 }, (_, i) => Buffer.from(`entry ${i}`));

beforeAll(async () => {
  await initCore();
});

function checkpoint(size: number, origin = ORIGIN, key: KeyObject = logKey, root?: Uint8Array): string {
  const r = root ?? (size === 0 ? EMPTY_ROOT : rootFromLeafHashes(leafHashes(leaves.slice(0, size))));
  const body = formatCheckpoint({ origin, size, root: r });
  return formatNote({ body, signatures: [signNoteBody(body, origin, key)] });
}
const proofLines = (from: number, to: number): string => (from === 0 ? '' : consistencyProof(leafHashes(leaves.slice(0, to)), from).map((h) => `${Buffer.from(h).toString('base64')}\n`).join(''));
const request = (old: number, to: number, note = checkpoint(to), proof = proofLines(old, to)): string => `old ${old}\n${proof}\n${note}`;

async function witnessApp(path: string) {
  const store = new WitnessStore(path);
  const witness = new Witness(W, witnessKey, [
    { origin: ORIGIN, keys: [noteKeyFor(ORIGIN, createPublicKey(logKey))] },
    { origin: 'ec.test', keys: [noteKeyFor('ec.test', createPublicKey(ecLogKey))] },
    { origin: 'other.test', keys: [noteKeyFor('other.test', createPublicKey(logKey))] },
  ], store);
  const app = await build({ witness });
  const add = async (body: string | Buffer) => {
    const r = await app.inject({ method: 'POST', url: '/add-checkpoint', payload: body, headers: { 'content-type': 'text/plain' } });
    return { status: r.statusCode, body: r.body, type: r.headers['content-type'] };
  };
  return { app, store, add };
}

describe('add-checkpoint', () => {
  it('answers every case the spec defines, and keeps its state across a restart', async () => {
    const path = join(await tempDir(), 'witness.db');
    let w = await witnessApp(path);
    const key = parseWitnessVkey(witnessVkey(W, createPublicKey(witnessKey)));
    const cosigned = (res: { body: string }, note: string): bigint | undefined => {
      const n = parseNote(`${parseNote(note).body}\n${res.body}`);
      return verifyCosignature(n.body, n.signatures.find((s) => s.name === W)!, key);
    };

    // The empty tree first, then growth with proofs.
    const r0 = await w.add(request(0, 0));
    expect(r0.status, r0.body).toBe(200);
    expect(r0.body).toMatch(/^\u2014 witness\.test\/w1 [A-Za-z0-9+/=]+\n$/);
    expect(cosigned(r0, checkpoint(0))).toBeGreaterThan(0n);
    const r10 = await w.add(request(0, 10));
    expect(r10.status).toBe(200);
    expect(cosigned(r10, checkpoint(10))).toBeDefined();
    // Stale: 409 with the size held, as text/x.tlog.size.
    const stale = await w.add(request(0, 20));
    expect(stale.status).toBe(409);
    expect(stale.body).toBe('10\n');
    expect(stale.type).toMatch(/^text\/x\.tlog\.size/);
    const r20 = await w.add(request(10, 20));
    expect(r20.status).toBe(200);
    // A proof that does not lead from the cosigned tree: 422, and nothing recorded.
    const forged = checkpoint(30, ORIGIN, logKey, new Uint8Array(32).fill(7));
    const fork = await w.add(request(20, 30, forged));
    expect([fork.status, JSON.parse(fork.body).error, fork.type]).toEqual([422, 'WITNESS_INCONSISTENT', 'application/json; charset=utf-8']);
    // Same size, another root: the log forked.
    expect((await w.add(request(20, 20, checkpoint(20, ORIGIN, logKey, new Uint8Array(32).fill(1)), ''))).status).toBe(422);
    // Bytes that are not UTF-8 are refused, not decoded into U+FFFD (C2SP signed-note).
    const bad = Buffer.concat([Buffer.from(request(20, 20, checkpoint(20), '').replace('\u2014', 'X')), Buffer.of(0xff, 0xfe)]);
    const notUtf8 = await w.add(bad);
    expect([notUtf8.status, JSON.parse(notUtf8.body).error, JSON.parse(notUtf8.body).message]).toEqual([400, 'WITNESS_MALFORMED', 'the request is not valid UTF-8']);
    // A leading byte-order mark is part of the text, not dropped: a request that is valid only
    // without it is refused, since the text checked must be the bytes sent.
    const bom = await w.add(Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf), Buffer.from(request(20, 20, checkpoint(20), ''))]));
    expect([bom.status, JSON.parse(bom.body).error]).toEqual([400, 'WITNESS_MALFORMED']);
    // Same size, same root, but with proof lines: a proof between equal sizes is empty (RFC 9162 §2.1.4).
    const padded = await w.add(request(20, 20, checkpoint(20), `${Buffer.alloc(32, 3).toString('base64')}\n`));
    expect([padded.status, JSON.parse(padded.body).error]).toEqual([422, 'WITNESS_INCONSISTENT']);
    // Same size, same root: a fresh cosignature.
    expect((await w.add(request(20, 20, checkpoint(20), ''))).status).toBe(200);

    // Unknown origin, untrusted or broken signature.
    const unknown = await w.add(request(0, 5, checkpoint(5, 'nobody.test')));
    expect([unknown.status, JSON.parse(unknown.body).error]).toEqual([404, 'WITNESS_UNKNOWN_LOG']);
    const stranger = generateKeyPairSync('ed25519').privateKey;
    const strangers = await w.add(request(20, 25, checkpoint(25, ORIGIN, stranger)));
    expect([strangers.status, JSON.parse(strangers.body).error]).toEqual([403, 'WITNESS_BAD_SIGNATURE']);
    const good = checkpoint(25);
    // The log's own signature line with one signature byte flipped (key name and ID intact).
    const broken = good.replace(/(\u2014 \S+ )([A-Za-z0-9+/=]+)\n$/, (_m, head: string, b64: string) => {
      const raw = Buffer.from(b64, 'base64');
      raw[20]! ^= 0x01;
      return `${head}${raw.toString('base64')}\n`;
    });
    expect(broken).not.toBe(good);
    expect((await w.add(request(20, 25, broken))).status).toBe(403);

    // Malformed requests and sizes.
    const noBlank = await w.add(`old 20\n${checkpoint(25)}`); // no empty line
    expect([noBlank.status, JSON.parse(noBlank.body).error]).toEqual([400, 'WITNESS_MALFORMED']);
    expect((await w.add(`old 30\n\n${checkpoint(25)}`)).status).toBe(400); // old > size
    expect((await w.add(`old 20\nnot-a-hash\n\n${checkpoint(25)}`)).status).toBe(400);
    expect((await w.add(`old 20\n${'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n'.repeat(64)}\n${checkpoint(25)}`)).status).toBe(400);
    // A size-0 checkpoint must carry the empty root; a proof from size 0 must be empty.
    expect((await w.add(request(0, 0, checkpoint(0, 'other.test', logKey, new Uint8Array(32)), ''))).status).toBe(422);
    expect((await w.add(request(0, 5, checkpoint(5, 'other.test'), proofLines(2, 5)))).status).toBe(422);

    // ECDSA P-256 checkpoints (Sigstore's Rekor keys) are witnessed too.
    expect((await w.add(request(0, 7, checkpoint(7, 'ec.test', ecLogKey)))).status).toBe(200);

    // Restart: the held size is still 20.
    await w.app.close();
    w.store.close();
    w = await witnessApp(path);
    const again = await w.add(request(0, 30));
    expect(again.status).toBe(409);
    expect(again.body).toBe('20\n');
    expect((await w.add(request(20, 30))).status).toBe(200);
    await w.app.close();
    w.store.close();
  });
});

describe('a log that collects cosignatures itself (witnessUrls)', () => {
  it('sends each checkpoint to the witness and serves the cosignatures, across a witness restart', async () => {
    const dir = await tempDir();
    // First start: the log makes its key; the witness is configured with it.
    const first = await startLog({ dataDir: join(dir, 'log'), port: 0, host: '127.0.0.1' });
    const pem = await (await fetch(`${first.ready.log}/api/v1/log/publicKey`)).text();
    await first.close();
    await writeFile(join(dir, 'witness.yaml'), JSON.stringify({ name: W, logs: [{ origin: '127.0.0.1', publicKey: pem }] }));
    let witness = await startWitness({ dataDir: join(dir, 'witness'), port: 0, host: '127.0.0.1', config: join(dir, 'witness.yaml') });
    const vkey = witness.ready.vkey!;
    await writeFile(join(dir, 'log.yaml'), JSON.stringify({ witnessUrls: [{ url: witness.ready.witness, vkey }], checkpointIntervalMs: 0 }));
    let log = await startLog({ dataDir: join(dir, 'log'), port: 0, host: '127.0.0.1', config: join(dir, 'log.yaml') });
    const wkey = parseWitnessVkey(vkey);
    const cosignedSize = async (): Promise<number | undefined> => {
      const note = parseNote(await (await fetch(`${log.ready.log}/checkpoint`)).text());
      const s = note.signatures.find((x) => x.name === W);
      return s && verifyCosignature(note.body, s, wkey) !== undefined ? Number(note.body.split('\n')[1]) : undefined;
    };
    const until = async (f: () => Promise<boolean>): Promise<void> => {
      for (let i = 0; i < 800; i++) {
        if (await f()) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('not reached in 20 s');
    };
    const add = async (i: number): Promise<void> => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const { createHash, sign } = await import('node:crypto');
      const a = Buffer.from(`witnessed ${i} ${Math.random()}`);
      const res = await fetch(`${log.ready.log}/api/v1/log/entries`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: '0.0.1', kind: 'hashedrekord', spec: { data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(a).digest('hex') } }, signature: { content: sign('sha256', a, privateKey).toString('base64'), publicKey: { content: Buffer.from(publicKey.export({ format: 'pem', type: 'spki' }) as string).toString('base64') } } } }),
      });
      expect(res.status).toBe(201);
    };
    try {
      await until(async () => (await cosignedSize()) === 0); // the empty tree, at start
      for (let i = 0; i < 5; i++) await add(i);
      await until(async () => (await cosignedSize()) === 5);
      // A witness restart keeps its state; the log learns the held size from a 409 and goes on.
      await witness.close();
      witness = await startWitness({ dataDir: join(dir, 'witness'), port: Number(new URL(witness.ready.witness!).port), host: '127.0.0.1', config: join(dir, 'witness.yaml') });
      for (let i = 5; i < 8; i++) await add(i);
      await until(async () => (await cosignedSize()) === 8);
      // A log restart starts without knowing what the witness holds: its first request gets a
      // 409 with the size, and it sends again from there.
      await log.close();
      log = await startLog({ dataDir: join(dir, 'log'), port: 0, host: '127.0.0.1', config: join(dir, 'log.yaml') });
      for (let i = 8; i < 10; i++) await add(i);
      await until(async () => (await cosignedSize()) === 10);
    } finally {
      await log.close();
      await witness.close();
    }
  }, 60_000);
});

describe('cairn verify --witness (online: the log\'s current checkpoint cosigned and consistent with the bundle\'s)', () => {
  it('passes with the witness that cosigned, fails with another or too few', async () => {
    const { startStack } = await import('../../host/cli/up.js');
    const { signArtifact } = await import('../../host/signer/sign.js');
    const { fetchJwtSvid } = await import('../../host/signer/identity.js');
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const run = promisify(execFile);
    const BIN = join(import.meta.dirname, '../../bin/cairn.js');
    const dir = await tempDir();
    const env = process.env.SPIFFE_ENDPOINT_SOCKET;
    delete process.env.SPIFFE_ENDPOINT_SOCKET;
    const stack = async (config: Record<string, unknown>) => startStack({ dataDir: join(dir, 'stack'), host: '127.0.0.1', port: 0, trustDomain: 'w.test', operator: 'w.test', config });
    let s = await stack({});
    const pem = await (await fetch(`${s.ready.log}/api/v1/log/publicKey`)).text();
    await s.close();
    await writeFile(join(dir, 'witness.yaml'), JSON.stringify({ name: W, logs: [{ origin: '127.0.0.1', publicKey: pem }] }));
    const witness = await startWitness({ dataDir: join(dir, 'witness'), port: 0, host: '127.0.0.1', config: join(dir, 'witness.yaml') });
    s = await stack({ log: { witnessUrls: [{ url: witness.ready.witness, vkey: witness.ready.vkey }], checkpointIntervalMs: 0 } });
    if (env) process.env.SPIFFE_ENDPOINT_SOCKET = env;
    try {
      const artifact = join(dir, 'a.txt');
      await writeFile(artifact, `witnessed ${Math.random()}`);
      const { readFile } = await import('node:fs/promises');
      const bundle = await signArtifact(await readFile(artifact), { endpoints: { ca: s.ready.ca, log: s.ready.log, tsa: s.ready.tsa }, token: async () => (await fetchJwtSvid(s.ready.socket, 'sigstore')).token });
      await writeFile(`${artifact}.sigstore.json`, JSON.stringify(bundle));
      const size = Number(((bundle.verificationMaterial as { tlogEntries: { inclusionProof: { treeSize: string } }[] }).tlogEntries[0]!.inclusionProof.treeSize));
      const wkey = parseWitnessVkey(witness.ready.vkey!);
      for (let i = 0; i < 800; i++) {
        const note = parseNote(await (await fetch(`${s.ready.log}/checkpoint`)).text());
        const cs = note.signatures.find((x) => x.name === W);
        if (cs && verifyCosignature(note.body, cs, wkey) !== undefined && Number(note.body.split('\n')[1]) >= size) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const args = [BIN, 'verify', artifact, '--trusted-root', s.ready.trustedRoot, '--certificate-identity', s.ready.identity, '--certificate-oidc-issuer', s.ready.oidc];
      const ok = await run(process.execPath, [...args, '--witness', witness.ready.vkey!]);
      expect(ok.stdout).toMatch(new RegExp(`^OK: .*witnessed by ${W.replace('/', '\\/')} at tree size \\d+`));
      // Another witness never cosigned this log: refused, though the bundle itself verifies.
      const other = witnessVkey('other.test/w', createPublicKey(generateKeyPairSync('ed25519').privateKey));
      const no = await run(process.execPath, [...args, '--witness', other]).catch((e: { stderr: string; code: number }) => e);
      expect((no as { code: number }).code).toBe(1);
      expect((no as { stderr: string }).stderr).toMatch(/TLOG_NOT_WITNESSED: .*0 of the 1 required/);
      const two = await run(process.execPath, [...args, '--witness', witness.ready.vkey!, '--witness', other, '--witness-threshold', '2']).catch((e: { stderr: string; code: number }) => e);
      expect((two as { stderr: string }).stderr).toMatch(/TLOG_NOT_WITNESSED: .*1 of the 2 required/);
      const one = await run(process.execPath, [...args, '--witness', witness.ready.vkey!, '--witness', other, '--witness-threshold', '1']);
      expect(one.stdout).toMatch(/^OK: /);

      // Witnessed bundles: the cosigned checkpoint goes into the bundle, which then verifies
      // witnessed with the log out of reach, and still verifies with sigstore-js.
      await run(process.execPath, [BIN, 'witness-bundle', `${artifact}.sigstore.json`, '--witness', witness.ready.vkey!, '--log', s.ready.log, '--witness-wait', '10']);
      const refreshed = JSON.parse(await readFile(`${artifact}.sigstore.json`, 'utf8'));
      const envelope = refreshed.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint.envelope as string;
      expect(envelope).toContain(`\u2014 ${W} `);
      const signed = join(dir, 'b.txt');
      await writeFile(signed, `signed and witnessed ${Math.random()}`);
      const signedOut = await run(process.execPath, [BIN, 'sign', signed, '--signing-config', s.ready.signingConfig, '--socket', s.ready.socket, '--witness', witness.ready.vkey!, '--witness-wait', '10']);
      expect(signedOut.stdout).toMatch(/signed .* -> /);
      // A Rekor v2 entry: the proof against the cosigned checkpoint comes from the log's tiles.
      const v2 = join(dir, 'c.txt');
      await writeFile(v2, `rekor v2 ${Math.random()}`);
      const b2 = await signArtifact(await readFile(v2), { endpoints: { ca: s.ready.ca, log: s.ready.log, tsa: s.ready.tsa, logVersion: 2 }, token: async () => (await fetchJwtSvid(s.ready.socket, 'sigstore')).token });
      expect((b2.verificationMaterial as { tlogEntries: { kindVersion: { version: string } }[] }).tlogEntries[0]!.kindVersion.version).toBe('0.0.2');
      await writeFile(`${v2}.sigstore.json`, JSON.stringify(b2));
      await run(process.execPath, [BIN, 'witness-bundle', `${v2}.sigstore.json`, '--witness', witness.ready.vkey!, '--log', s.ready.log, '--witness-wait', '10']);
      const trustedRoot = s.ready.trustedRoot;
      const { TrustedRoot } = await import('@sigstore/protobuf-specs');
      const { toSignedEntity, toTrustMaterial, Verifier } = await import('@sigstore/verify');
      const { bundleFromJSON } = await import('@sigstore/bundle');
      new Verifier(toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(await readFile(trustedRoot, 'utf8')))), { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 })
        .verify(toSignedEntity(bundleFromJSON(refreshed), await readFile(artifact)), { subjectAlternativeName: s.ready.identity, extensions: { issuer: s.ready.oidc } });
      await s.close();
      for (const f of [artifact, signed, v2]) {
        const offline = await run(process.execPath, [BIN, 'verify', f, '--trusted-root', trustedRoot, '--certificate-identity', s.ready.identity, '--certificate-oidc-issuer', s.ready.oidc, '--witness', witness.ready.vkey!]);
        expect(offline.stdout).toMatch(/witnessed by .* \(cosigned checkpoint in the bundle/);
      }
    } finally {
      await s.close();
      await witness.close();
    }
  }, 90_000);
});

describe('checkWitnessed against a log that forked', () => {
  it('accepts a consistent witnessed tree, and refuses a forked, smaller or uncosigned one', async () => {
    const { createServer } = await import('node:http');
    const { checkWitnessed } = await import('../../host/verify/witnessed.js');
    const wKeyObj = generateKeyPairSync('ed25519').privateKey;
    const wKey = parseWitnessVkey(witnessVkey(W, createPublicKey(wKeyObj)));
    const { cosign } = await import('../../host/log/note.js');
    const other = Array.from({ length: 40 }, (_, i) => Buffer.from(`forked ${i}`));
    let served = { size: 10, leaves: leaves as Buffer[], cosigned: true };
    const cp = (size: number, ls: Buffer[]): string => checkpoint(size, ORIGIN, logKey, rootFromLeafHashes(leafHashes(ls.slice(0, size))));
    const server = createServer((req, res) => {
      const u = new URL(req.url!, 'http://x');
      if (u.pathname === '/checkpoint') {
        const note = cp(served.size, served.leaves);
        const body = parseNote(note).body;
        const s = cosign(body, W, wKeyObj, 1700000000n);
        res.end(served.cosigned ? `${note}\u2014 ${W} ${Buffer.concat([s.keyId, s.signature]).toString('base64')}\n` : note);
      } else if (u.pathname === '/api/v1/log/proof') {
        const first = Number(u.searchParams.get('firstSize'));
        const hashes = consistencyProof(leafHashes(served.leaves.slice(0, served.size)), first).map((h) => Buffer.from(h).toString('hex'));
        res.setHeader('content-type', 'application/json').end(JSON.stringify({ hashes }));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const nk = noteKeyFor(ORIGIN, createPublicKey(logKey));
    const logId = Buffer.alloc(32, 9);
    const trust = {
      tlogs: [{ baseUrl: base, logId, checkpointKeyId: Buffer.from(nk.keyId), publicKey: createPublicKey(logKey), spki: createPublicKey(logKey).export({ type: 'spki', format: 'der' }), validFor: { start: new Date(0) } }],
      ctlogs: [], certificateAuthorities: [], timestampAuthorities: [],
    };
    const bundleAt = (size: number) => ({ tlogEntries: [{ logId, inclusionProof: { checkpoint: cp(size, leaves) } }] }) as never;
    try {
      const ok = await checkWitnessed(bundleAt(5), trust as never, { witnesses: [wKey] });
      expect(ok[0]).toMatchObject({ bundleSize: 5, witnessedSize: 10, witnesses: [W] });
      // The log showed the witness another history: the proof cannot link the two trees.
      served = { size: 10, leaves: other, cosigned: true };
      await expect(checkWitnessed(bundleAt(5), trust as never, { witnesses: [wKey] })).rejects.toMatchObject({ code: 'TLOG_NOT_WITNESSED', message: expect.stringMatching(/forked/) });
      // Same size, another root.
      await expect(checkWitnessed(bundleAt(10), trust as never, { witnesses: [wKey] })).rejects.toMatchObject({ message: expect.stringMatching(/another root/) });
      // Smaller than the bundle's tree, or not cosigned.
      served = { size: 3, leaves: leaves as Buffer[], cosigned: true };
      await expect(checkWitnessed(bundleAt(5), trust as never, { witnesses: [wKey] })).rejects.toMatchObject({ message: expect.stringMatching(/smaller/) });
      served = { size: 10, leaves: leaves as Buffer[], cosigned: false };
      await expect(checkWitnessed(bundleAt(5), trust as never, { witnesses: [wKey] })).rejects.toMatchObject({ message: expect.stringMatching(/0 of the 1/) });
      // One witness given twice (under its own name, or another) is one witness: a threshold of 2
      // cannot be met with it.
      served = { size: 10, leaves: leaves as Buffer[], cosigned: true };
      const alias = parseWitnessVkey(witnessVkey('alias.example/w', createPublicKey(wKeyObj)));
      for (const twice of [[wKey, wKey], [wKey, alias]]) {
        await expect(checkWitnessed(bundleAt(5), trust as never, { witnesses: twice, threshold: 2 })).rejects.toMatchObject({ code: 'TLOG_NOT_WITNESSED', message: expect.stringMatching(/threshold must be 1\.\.1/) });
      }
      expect((await checkWitnessed(bundleAt(5), trust as never, { witnesses: [wKey, wKey] }))[0]!.witnesses).toEqual([W]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
