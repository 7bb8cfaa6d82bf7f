/**
 * The log over real HTTP on 127.0.0.1 and real SQLite files: Rekor v1 and v2, tlog-tiles,
 * checkpoints, witnesses, restart. Every proof the API returns is checked with host/core.
 */
import { createHash, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCore, leafHash, nodeHash, rootFromLeafHashes, verifyConsistency, verifyInclusion } from '../../host/core/index.js';
import { jcs } from '../../host/log/jcs.js';
import { cosign, noteKeyFor, parseCheckpoint, parseNote, verifyNoteSignature, witnessVkey } from '../../host/log/note.js';
import { encodeIndex } from '../../host/log/tiles.js';
import { certSigner, ecSigner, hashedrekord, pae, startLog, type RunningLog } from './helpers.js';

const witness = generateKeyPairSync('ed25519');
const WITNESS = 'witness.example/w1';
let log: RunningLog;

beforeAll(async () => {
  await initCore();
  log = await startLog(`witnesses: ["${witnessVkey(WITNESS, witness.publicKey)}"]\nbatchAgeMs: 5\n`);
});
afterAll(() => log.close());

const first = (m: Record<string, any>): [string, any] => Object.entries(m)[0]!;

async function logKey() {
  return createPublicKey((await log.get('/api/v1/log/publicKey')).text);
}

/** Everything a Sigstore client checks about a v1 entry. */
async function checkEntry(uuid: string, e: any): Promise<void> {
  const key = await logKey();
  const logId = createHash('sha256').update(key.export({ format: 'der', type: 'spki' })).digest('hex');
  expect(e.logID).toBe(logId);
  const setPayload = jcs({ body: e.body, integratedTime: e.integratedTime, logID: e.logID, logIndex: e.logIndex });
  expect(verify('sha256', Buffer.from(setPayload), key, Buffer.from(e.verification.signedEntryTimestamp, 'base64'))).toBe(true);
  const leaf = leafHash(Buffer.from(e.body, 'base64'));
  expect(uuid.slice(-64)).toBe(Buffer.from(leaf).toString('hex'));
  const p = e.verification.inclusionProof;
  const root = Buffer.from(p.rootHash, 'hex');
  expect(verifyInclusion(leaf, p.logIndex, p.treeSize, p.hashes.map((h: string) => Buffer.from(h, 'hex')), root)).toBe(true);
  const note = parseNote(p.checkpoint);
  const cp = parseCheckpoint(note.body);
  expect(cp.size).toBe(p.treeSize);
  expect(Buffer.from(cp.root)).toEqual(root);
  expect(verifyNoteSignature(note, noteKeyFor('127.0.0.1', key))).toBe(true);
}

describe('Rekor v1', () => {
  let uuid: string;
  const s = ecSigner();
  const artifact = Buffer.from('hello, log');

  it('accepts a signature-checked hashedrekord: 201, ETag, Location, SET, inclusion proof, signed checkpoint', async () => {
    const { body } = hashedrekord(s, artifact);
    const r = await log.post('/api/v1/log/entries', body);
    expect(r.status).toBe(201);
    const [u, e] = first(r.json);
    uuid = u;
    expect(u).toMatch(/^[0-9a-f]{80}$/);
    expect(r.headers.get('etag')).toBe(u);
    expect(r.headers.get('location')).toBe(`/api/v1/log/entries/${u}`);
    await checkEntry(u, e);
    expect(JSON.parse(Buffer.from(e.body, 'base64').toString())).toEqual(body);
  });

  it('answers a duplicate with 409 and the Location of the original', async () => {
    const r = await log.post('/api/v1/log/entries', hashedrekord(s, artifact).body);
    // ECDSA signatures are randomized, so a re-signed artifact is a new entry; the same body is a duplicate.
    expect(r.status).toBe(201);
    const again = await log.post('/api/v1/log/entries', JSON.parse(Buffer.from(first(r.json)[1].body, 'base64').toString()));
    expect(again.status).toBe(409);
    expect(again.json.error).toBe('LOG_DUPLICATE');
    expect(again.headers.get('location')).toBe(`/api/v1/log/entries/${first(r.json)[0]}`);
  });

  it('reads entries by UUID (80 and 64 hex), by index, and through entries/retrieve', async () => {
    const byUuid = await log.get(`/api/v1/log/entries/${uuid}`);
    expect(byUuid.status).toBe(200);
    await checkEntry(uuid, first(byUuid.json)[1]);
    expect((await log.get(`/api/v1/log/entries/${uuid.slice(16)}`)).status).toBe(200);
    // Hex in either case, as Rekor reads it.
    expect((await log.get(`/api/v1/log/entries/${uuid.toUpperCase()}`)).status).toBe(200);
    const idx = first(byUuid.json)[1].logIndex;
    expect(first((await log.get(`/api/v1/log/entries?logIndex=${idx}`)).json)[0]).toBe(uuid);
    const r = await log.post('/api/v1/log/entries/retrieve', { entryUUIDs: [uuid], logIndexes: [idx] });
    expect(r.json.map((m: any) => first(m)[0])).toEqual([uuid, uuid]);
    // The SET was signed once, when the entry was sequenced, and is served as stored (ECDSA
    // signatures are randomized, so a re-signed SET would differ from read to read).
    const sets = [byUuid.json, (await log.get(`/api/v1/log/entries?logIndex=${idx}`)).json, ...r.json].map((m: any) => first(m)[1].verification.signedEntryTimestamp);
    expect(new Set(sets).size).toBe(1);
  });

  it('entries/retrieve finds a proposed entry by its canonical form, checking its signature as an append does', async () => {
    const s = ecSigner();
    const { body } = hashedrekord(s, Buffer.from('retrieve me'));
    const added = await log.post('/api/v1/log/entries', body);
    expect(added.status).toBe(201);
    const r = await log.post('/api/v1/log/entries/retrieve', { entries: [body] });
    expect(r.status).toBe(200);
    expect(r.json.map((m: any) => first(m)[0])).toEqual([first(added.json)[0]]);
    // Not logged: nothing found. A bad signature: refused, as an append would be.
    expect((await log.post('/api/v1/log/entries/retrieve', { entries: [hashedrekord(s, Buffer.from('never logged')).body] })).json).toEqual([]);
    type Hr = { spec: { signature: { content: string } } };
    const forged = structuredClone(body) as Hr;
    forged.spec.signature.content = (hashedrekord(s, Buffer.from('other')).body as Hr).spec.signature.content;
    const bad = await log.post('/api/v1/log/entries/retrieve', { entries: [forged] });
    expect([bad.status, bad.json.error]).toEqual([400, 'LOG_BAD_SIGNATURE']);
  });

  it('searches the index by artifact hash, public key, email and SPIFFE URI', async () => {
    const c = await certSigner('spiffe://example.org/ci/build', 'Builder@Example.org');
    const art = Buffer.from('built by CI');
    const { body, digest } = hashedrekord(c, art);
    const r = await log.post('/api/v1/log/entries', body);
    expect(r.status).toBe(201);
    const u = first(r.json)[0];
    expect((await log.post('/api/v1/index/retrieve', { hash: `sha256:${digest}` })).json).toEqual([u]);
    expect((await log.post('/api/v1/index/retrieve', { uri: 'spiffe://example.org/ci/build' })).json).toEqual([u]);
    expect((await log.post('/api/v1/index/retrieve', { email: 'builder@example.org' })).json).toEqual([u]);
    expect((await log.post('/api/v1/index/retrieve', { publicKey: { format: 'x509', content: Buffer.from(c.certPem!).toString('base64') } })).json).toEqual([u]);
    expect((await log.post('/api/v1/index/retrieve', { hash: `sha256:${digest}`, uri: 'spiffe://example.org/other' })).json).toEqual([]);
  });

  it('accepts a dsse entry whose signature verifies over the PAE, and indexes the statement subject', async () => {
    const s2 = ecSigner();
    const subject = createHash('sha256').update('artifact bytes').digest('hex');
    const payload = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'a', digest: { sha256: subject } }], predicateType: 'https://slsa.dev/provenance/v1', predicate: {} }));
    const type = 'application/vnd.in-toto+json';
    const sig = sign('sha256', pae(type, payload), s2.privateKey);
    const envelope = JSON.stringify({ payloadType: type, payload: payload.toString('base64'), signatures: [{ sig: sig.toString('base64'), keyid: '' }] });
    const r = await log.post('/api/v1/log/entries', { apiVersion: '0.0.1', kind: 'dsse', spec: { proposedContent: { envelope, verifiers: [Buffer.from(s2.publicKeyPem).toString('base64')] } } });
    expect(r.status).toBe(201);
    const [u, e] = first(r.json);
    await checkEntry(u, e);
    const canon = JSON.parse(Buffer.from(e.body, 'base64').toString());
    expect(canon.spec.payloadHash.value).toBe(createHash('sha256').update(payload).digest('hex'));
    expect((await log.post('/api/v1/index/retrieve', { hash: `sha256:${subject}` })).json).toEqual([u]);
    // The same envelope with a signature by another key is refused.
    const other = ecSigner();
    const bad = await log.post('/api/v1/log/entries', { apiVersion: '0.0.1', kind: 'dsse', spec: { proposedContent: { envelope, verifiers: [Buffer.from(other.publicKeyPem).toString('base64')] } } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('LOG_BAD_SIGNATURE');
  });

  it('accepts an intoto 0.0.2 entry as Rekor keeps it: the client\'s envelope digest, keyid and key as proposed, the payload digest computed', async () => {
    const s2 = ecSigner();
    const payload = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'b', digest: { sha256: createHash('sha256').update('intoto artifact').digest('hex') } }], predicateType: 'https://slsa.dev/provenance/v1', predicate: {} }));
    const type = 'application/vnd.in-toto+json';
    const sig = sign('sha256', pae(type, payload), s2.privateKey);
    const envelopeJson = JSON.stringify({ payloadType: type, payload: payload.toString('base64'), signatures: [{ keyid: 'k1', sig: sig.toString('base64') }] });
    const envelopeHash = createHash('sha256').update(envelopeJson).digest('hex');
    const twice = (b: Buffer | string) => Buffer.from(Buffer.from(b).toString('base64')).toString('base64');
    const proposed = (hash?: unknown) => ({
      apiVersion: '0.0.2', kind: 'intoto',
      spec: { content: { envelope: { payloadType: type, payload: twice(payload), signatures: [{ keyid: 'k1', sig: twice(sig), publicKey: Buffer.from(s2.publicKeyPem).toString('base64') }] }, ...(hash !== undefined ? { hash } : {}) } },
    });
    // No envelope digest: refused, as Rekor refuses it ("missing envelope digest").
    const none = await log.post('/api/v1/log/entries', proposed());
    expect([none.status, none.json.error]).toEqual([400, 'LOG_MALFORMED_ENTRY']);
    const r = await log.post('/api/v1/log/entries', proposed({ algorithm: 'sha256', value: envelopeHash }));
    expect(r.status).toBe(201);
    const [u, e] = first(r.json);
    await checkEntry(u, e);
    const body = Buffer.from(e.body, 'base64').toString();
    // The canonical body, key for key (RFC 8785 order, which is also the order Rekor's models marshal in).
    expect(body).toBe(jcs({
      apiVersion: '0.0.2', kind: 'intoto',
      spec: { content: {
        envelope: { payloadType: type, signatures: [{ keyid: 'k1', publicKey: Buffer.from(s2.publicKeyPem).toString('base64'), sig: twice(sig) }] },
        hash: { algorithm: 'sha256', value: envelopeHash },
        payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
      } },
    }));
  });

  it('stores keys and certificates re-encoded as Rekor does, so another encoding of the same key is a duplicate', async () => {
    const s2 = ecSigner();
    const artifact = Buffer.from(`canonical key ${Math.random()}`);
    const h = hashedrekord(s2, artifact);
    const der = createPublicKey(s2.publicKeyPem).export({ format: 'der', type: 'spki' });
    const variants = [
      s2.publicKeyPem.replace(/\n/g, '\r\n'), // CRLF
      `Key for the release:\n${s2.publicKeyPem}`, // text before the block
      `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`, // one long line
    ];
    const withKey = (pem: string) => {
      const b = structuredClone(h.body) as any;
      b.spec.signature.publicKey.content = Buffer.from(pem).toString('base64');
      return b;
    };
    const firstPost = await log.post('/api/v1/log/entries', withKey(variants[0]!));
    expect(firstPost.status).toBe(201);
    const [, e] = first(firstPost.json);
    const stored = JSON.parse(Buffer.from(e.body, 'base64').toString()).spec.signature.publicKey.content;
    expect(Buffer.from(stored, 'base64').toString()).toBe(s2.publicKeyPem); // 64 columns, LF, as Go's encoding/pem
    for (const v of variants.slice(1)) {
      const again = await log.post('/api/v1/log/entries', withKey(v));
      expect([again.status, again.json.error]).toEqual([409, 'LOG_DUPLICATE']);
    }
    // A certificate is re-encoded the same way (here with CRLF line ends).
    const c = await certSigner('spiffe://example.org/canon', 'canon@example.org');
    const hc = hashedrekord({ ...c, certPem: c.certPem!.replace(/\n/g, '\r\n') }, Buffer.from('cert canon'));
    const rc = await log.post('/api/v1/log/entries', hc.body);
    expect(rc.status).toBe(201);
    const certStored = JSON.parse(Buffer.from(first(rc.json)[1].body, 'base64').toString()).spec.signature.publicKey.content;
    expect(Buffer.from(certStored, 'base64').toString()).toBe(c.certPem!.trim() + '\n');
  });

  it('refuses an entry whose canonical body would not fit an entry bundle (413), and an off-curve key over SHA-384 with a code', async () => {
    const s2 = ecSigner();
    const h = hashedrekord(s2, Buffer.from('big'));
    // intoto 0.0.2 keeps each signature's key as proposed: two signatures whose PEMs carry 40 KB
    // of text before the block make a body over 65,535 bytes.
    const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}');
    const type = 'application/vnd.in-toto+json';
    const sig = sign('sha256', pae(type, payload), s2.privateKey);
    const twice = (b: Buffer | string) => Buffer.from(Buffer.from(b).toString('base64')).toString('base64');
    const padded = Buffer.from(`${'x'.repeat(40_000)}\n${s2.publicKeyPem}`).toString('base64');
    const item = { sig: twice(sig), publicKey: padded };
    const tooBig = await log.post('/api/v1/log/entries', { apiVersion: '0.0.2', kind: 'intoto', spec: { content: { envelope: { payloadType: type, payload: twice(payload), signatures: [item, item] }, hash: { algorithm: 'sha256', value: 'ab'.repeat(32) } } } });
    expect([tooBig.status, tooBig.json.error]).toEqual([413, 'LOG_ENTRY_TOO_LARGE']);
    // The tiles stay servable: the entry bundle of the current edge still reads.
    const size = (await log.get('/api/v1/log')).json.treeSize as number;
    const edge = await log.get(`/tile/entries/${encodeIndex(Math.floor(size / 256))}${size % 256 ? `.p/${size % 256}` : ''}`);
    expect(edge.status).toBe(200);
    // P-256 point off the curve, hashed with SHA-384 (no core path): a coded 400, not a 500.
    const der = createPublicKey(s2.publicKeyPem).export({ format: 'der', type: 'spki' });
    der[der.length - 1] ^= 1; // y no longer on the curve
    const off = structuredClone(h.body) as any;
    off.spec.data.hash = { algorithm: 'sha384', value: createHash('sha384').update('big').digest('hex') };
    off.spec.signature.publicKey.content = Buffer.from(`-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`).toString('base64');
    const r = await log.post('/api/v1/log/entries', off);
    expect([r.status, r.json.error]).toEqual([400, 'LOG_BAD_KEY']);
  });

  it('serves consistency proofs that verify, and the tree head', async () => {
    const head = (await log.get('/api/v1/log')).json;
    expect(head.treeSize).toBeGreaterThanOrEqual(4);
    for (let m = 1; m < head.treeSize; m++) {
      const p = (await log.get(`/api/v1/log/proof?firstSize=${m}&lastSize=${head.treeSize}`)).json;
      const old = (await log.get(`/api/v1/log/proof?firstSize=1&lastSize=${m}`)).json.rootHash;
      expect(verifyConsistency(m, head.treeSize, p.hashes.map((h: string) => Buffer.from(h, 'hex')), Buffer.from(old, 'hex'), Buffer.from(head.rootHash, 'hex'))).toBe(true);
    }
    // Rekor's treeID: this log's own tree answers as without it; another tree is one it does not
    // have (404), not silently this one; a non-decimal ID is a bad request.
    const own = (await log.get(`/api/v1/log/proof?firstSize=1&lastSize=${head.treeSize}&treeID=${head.treeID}`)).json;
    expect(own.rootHash).toBe(head.rootHash);
    const other = (BigInt(head.treeID) + 1n).toString();
    for (const path of [`/api/v1/log/proof?firstSize=1&lastSize=${head.treeSize}&treeID=${other}`, `/api/v1/log/publicKey?treeID=${other}`]) {
      const r = await log.get(path);
      expect([r.status, r.json.error]).toEqual([404, 'LOG_NOT_FOUND']);
    }
    expect((await log.get(`/api/v1/log/publicKey?treeID=${head.treeID}`)).text).toContain('BEGIN PUBLIC KEY');
    const bad = await log.get('/api/v1/log/publicKey?treeID=0x12');
    expect([bad.status, bad.json.error]).toEqual([400, 'LOG_BAD_REQUEST']);
  });
});

describe('Rekor v2', () => {
  it('accepts hashedRekordRequestV002 and answers a TransparencyLogEntry whose proof verifies', async () => {
    const s = ecSigner();
    const art = Buffer.from('v2 artifact');
    const digest = createHash('sha256').update(art).digest();
    const sig = sign('sha256', art, s.privateKey);
    const der = createPublicKey(s.publicKeyPem).export({ format: 'der', type: 'spki' });
    const r = await log.post('/api/v2/log/entries', {
      hashedRekordRequestV002: { digest: digest.toString('base64'), signature: { content: sig.toString('base64'), verifier: { publicKey: { rawBytes: der.toString('base64') }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' } } },
    });
    expect(r.status).toBe(201);
    const t = r.json;
    expect(t.kindVersion).toEqual({ kind: 'hashedrekord', version: '0.0.2' });
    const body = Buffer.from(t.canonicalizedBody, 'base64');
    expect(JSON.parse(body.toString()).spec.hashedRekordV002.data.digest).toBe(digest.toString('base64'));
    const p = t.inclusionProof;
    expect(verifyInclusion(leafHash(body), Number(p.logIndex), Number(p.treeSize), p.hashes.map((h: string) => Buffer.from(h, 'base64')), Buffer.from(p.rootHash, 'base64'))).toBe(true);
    expect(parseCheckpoint(parseNote(p.checkpoint.envelope).body).size).toBe(Number(p.treeSize));
  });

  it('refuses a P-256 signature in IEEE P1363 form (r‖s) on v1 and v2 alike, as Rekor does (DER only)', async () => {
    const s = ecSigner();
    const art = Buffer.from('p1363 artifact');
    const digest = createHash('sha256').update(art).digest();
    const sig = sign('sha256', art, { key: s.privateKey, dsaEncoding: 'ieee-p1363' });
    const der = createPublicKey(s.publicKeyPem).export({ format: 'der', type: 'spki' });
    const v2 = await log.post('/api/v2/log/entries', {
      hashedRekordRequestV002: { digest: digest.toString('base64'), signature: { content: sig.toString('base64'), verifier: { publicKey: { rawBytes: der.toString('base64') }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' } } },
    });
    expect([v2.status, v2.json?.error]).toEqual([400, 'LOG_BAD_SIGNATURE']);
    const v1 = await log.post('/api/v1/log/entries', {
      apiVersion: '0.0.1', kind: 'hashedrekord',
      spec: { data: { hash: { algorithm: 'sha256', value: digest.toString('hex') } }, signature: { content: sig.toString('base64'), publicKey: { content: Buffer.from(s.publicKeyPem).toString('base64') } } },
    });
    expect([v1.status, v1.json?.error]).toEqual([400, 'LOG_BAD_SIGNATURE']);
  });
});

describe('tlog-tiles and witnesses', () => {
  it('serves a checkpoint whose root the served tiles and entry bundles re-hash to', async () => {
    const cpText = (await log.get('/checkpoint')).text;
    const cp = parseCheckpoint(parseNote(cpText).body);
    expect(cp.size).toBeGreaterThan(0);
    expect(cp.size).toBeLessThan(256);
    const tile = (await log.get(`/tile/0/${encodeIndex(0)}.p/${cp.size}`)).bytes;
    expect(tile.length).toBe(32 * cp.size);
    expect(Buffer.from(rootFromLeafHashes(tile))).toEqual(Buffer.from(cp.root));
    const bundle = (await log.get(`/tile/entries/000.p/${cp.size}`)).bytes;
    const hashes: Buffer[] = [];
    for (let off = 0; off < bundle.length; ) {
      const len = bundle.readUInt16BE(off);
      hashes.push(Buffer.from(leafHash(bundle.subarray(off + 2, off + 2 + len))));
      off += 2 + len;
    }
    expect(Buffer.concat(hashes)).toEqual(tile);
    // The same read API under /api/v2, where Rekor v2 clients read it (rekor_service.proto).
    expect((await log.get('/api/v2/checkpoint')).text).toBe(cpText);
    expect((await log.get(`/api/v2/tile/0/000.p/${cp.size}`)).bytes).toEqual(tile);
    expect((await log.get(`/api/v2/tile/entries/000.p/${cp.size}`)).bytes).toEqual(bundle);
    expect((await log.get('/api/v2/tile/0/0001')).status).toBe(404);
    expect((await log.get(`/tile/0/000.p/${cp.size + 1}`)).status).toBe(404);
    expect((await log.get('/tile/0/000')).status).toBe(404); // not full yet
    const bad = await log.get('/tile/0/0001');
    expect(bad.status).toBe(404);
    expect(bad.json.error).toBe('LOG_BAD_TILE_PATH');
    // A level-1 node is the hash of two level-0 nodes.
    expect(Buffer.from(nodeHash(tile.subarray(0, 32), tile.subarray(32, 64)))).toHaveLength(32);
  });

  it('accepts a configured witness cosignature, serves it, and refuses unknown witnesses', async () => {
    const cpText = (await log.get('/checkpoint')).text;
    const body = parseNote(cpText).body;
    const line = (s: ReturnType<typeof cosign>) => `\u2014 ${s.name} ${Buffer.concat([s.keyId, s.signature]).toString('base64')}\n`;
    const good = cosign(body, WITNESS, witness.privateKey, BigInt(Math.floor(Date.now() / 1000)));
    const r = await log.post('/checkpoint/cosignature', `${body}\n${line(good)}`, 'text/plain');
    expect(r.status).toBe(200);
    expect((await log.get('/checkpoint')).text).toContain(line(good));
    const stranger = generateKeyPairSync('ed25519');
    const r2 = await log.post('/checkpoint/cosignature', `${body}\n${line(cosign(body, 'stranger', stranger.privateKey, 1n))}`, 'text/plain');
    expect(r2.status).toBe(403);
    expect(r2.json.error).toBe('LOG_BAD_COSIGNATURE');
    // Not UTF-8: refused as such, not decoded into U+FFFD and then failing elsewhere (C2SP signed-note).
    const r3 = await log.post('/checkpoint/cosignature', Buffer.concat([Buffer.from(`${body}\n${line(good)}`), Buffer.of(0xc3, 0x28)]), 'text/plain');
    expect([r3.status, r3.json.error, r3.json.message]).toEqual([400, 'LOG_BAD_REQUEST', 'the cosigned checkpoint is not valid UTF-8']);
    // A leading byte-order mark stays in the text (not silently dropped), so the note is not the
    // checkpoint it would be without it.
    const r4 = await log.post('/checkpoint/cosignature', Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf), Buffer.from(`${body}\n${line(good)}`)]), 'text/plain');
    expect([r4.status, r4.json.error]).toEqual([400, 'LOG_BAD_COSIGNATURE']);
  });
});

describe('durability', () => {
  it('a restart keeps entries, proofs, keys and the tree', async () => {
    const before = (await log.get('/api/v1/log')).json;
    const key = (await log.get('/api/v1/log/publicKey')).text;
    const setBefore = first((await log.get('/api/v1/log/entries?logIndex=0')).json)[1].verification.signedEntryTimestamp;
    await log.restart();
    const after = (await log.get('/api/v1/log')).json;
    expect(after.treeSize).toBe(before.treeSize);
    expect(after.rootHash).toBe(before.rootHash);
    expect(after.treeID).toBe(before.treeID);
    expect((await log.get('/api/v1/log/publicKey')).text).toBe(key);
    const e = (await log.get('/api/v1/log/entries?logIndex=0')).json;
    await checkEntry(first(e)[0], first(e)[1]);
    expect(first(e)[1].verification.signedEntryTimestamp).toBe(setBefore);
    const r = await log.post('/api/v1/log/entries', hashedrekord(ecSigner(), Buffer.from('after restart')).body);
    expect(r.status).toBe(201);
    expect(first(r.json)[1].logIndex).toBe(before.treeSize);
  });

  it('acknowledges concurrent appends only with distinct, dense indices', async () => {
    const s = ecSigner();
    const start = (await log.get('/api/v1/log')).json.treeSize;
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => log.post('/api/v1/log/entries', hashedrekord(s, Buffer.from(`c${i}`)).body)));
    const idx = rs.map((r) => first(r.json)[1].logIndex).sort((a: number, b: number) => a - b);
    expect(idx).toEqual(Array.from({ length: 50 }, (_, i) => start + i));
  });
});

