/**
 * Bundles built to get past the verifier (test/verify/forge.ts signs everything for real, so each
 * case changes one thing). Each was found by a review and fixed; each must now be refused with a
 * code, never accepted and never a crash.
 */
import { createHash, sign } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../host/core/index.js';
import { parseBundle, parseTrustedRoot, verifyBundle, withPartner } from '../../host/verify/index.js';
import { dsseBundle, genKeys, hashedrekordBody, makeLeaf, makeRoot, spkiOf, tlogEntryProof, tlogEntrySet, trustedRoot, x509, type Keys } from './forge.js';

const ID = 'spiffe://own.example/release';
const ISSUER = 'https://oidc.own.example';

/** The verdict: 'verified', or the error's code ('CRASH ...' for anything uncoded). */
function verdict(f: () => unknown): string {
  try {
    f();
    return 'verified';
  } catch (e) {
    const x = e as { name?: string; code?: string; message?: string };
    return x.name === 'VerificationError' ? x.code! : `CRASH ${x.message}`;
  }
}

let ca: Awaited<ReturnType<typeof makeRoot>>;
let log: Keys;
let ct: Keys;
let trust: ReturnType<typeof parseTrustedRoot>;
const statementFor = (artifact: Buffer) => Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'a', digest: { sha256: createHash('sha256').update(artifact).digest('hex') } }], predicateType: 'p', predicate: {} }));

beforeAll(async () => {
  await initCore();
  ca = await makeRoot('Own CA');
  log = await genKeys();
  ct = await genKeys();
  trust = parseTrustedRoot(trustedRoot({ cas: [[ca.der]], tlogs: [{ keys: log }], ctlogs: [ct] }));
});

describe('DSSE bundles are bound to the artifact only through an in-toto statement', () => {
  it('refuses any other payload type for an artifact (it names none), and odd statement shapes with a code', async () => {
    const leaf = await makeLeaf({ ca, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct } });
    const a = Buffer.from('artifact A');
    const b = Buffer.from('artifact B, never signed');
    const policy = { identity: ID, issuer: ISSUER };
    const inToto = parseBundle(dsseBundle(leaf, log, 'application/vnd.in-toto+json', statementFor(a)));
    expect(verdict(() => verifyBundle(inToto, { bytes: a }, trust, policy))).toBe('verified');
    expect(verdict(() => verifyBundle(inToto, { bytes: b }, trust, policy))).toBe('ARTIFACT_MISMATCH');
    for (const type of ['text/plain', 'application/vnd.in-toto+JSON']) {
      const other = parseBundle(dsseBundle(leaf, log, type, type === 'text/plain' ? Buffer.from('hello') : statementFor(b)));
      expect(verdict(() => verifyBundle(other, { bytes: b }, trust, policy)), type).toBe('ARTIFACT_MISMATCH');
      expect(verdict(() => verifyBundle(other, { digest: { algorithm: 'sha256', value: createHash('sha256').update(b).digest() } }, trust, policy)), type).toBe('ARTIFACT_MISMATCH');
    }
    for (const payload of ['null', '{"subject":"x"}', '{"subject":{"a":1}}', '[1]']) {
      const odd = parseBundle(dsseBundle(leaf, log, 'application/vnd.in-toto+json', Buffer.from(payload)));
      expect(verdict(() => verifyBundle(odd, { bytes: a }, trust, policy)), payload).toBe('ARTIFACT_MISMATCH');
    }
  });
});

describe('thresholds and windows of transparency logs', () => {
  const keyed = async () => {
    const signer = await genKeys();
    const artifact = Buffer.from('artifact');
    const digest = createHash('sha256').update(artifact).digest();
    const sig = sign('sha256', artifact, signer.priv);
    const body = hashedrekordBody(digest.toString('hex'), sig, signer.pub.export({ type: 'spki', format: 'pem' }) as string);
    const mk = (entries: object[], mediaType = 'application/vnd.dev.sigstore.bundle.v0.3+json') => parseBundle({
      mediaType,
      verificationMaterial: { publicKey: { hint: '' }, tlogEntries: entries },
      messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: digest.toString('base64') }, signature: sig.toString('base64') },
    });
    return { signer, artifact, body, mk };
  };

  it('counts one log once toward tlogThreshold, whether an entry names it by log ID or by checkpoint key ID', async () => {
    const k = await keyed();
    const logId = createHash('sha256').update(spkiOf(log.pub)).digest();
    const cpKeyId = logId.subarray(0, 4);
    const t = parseTrustedRoot(trustedRoot({ cas: [], tlogs: [{ keys: log, checkpointKeyId: cpKeyId }] }));
    const byLogId = tlogEntryProof(log, k.body, logId, logId);
    const byCpId = tlogEntryProof(log, k.body, cpKeyId, logId);
    const o = { key: k.signer.pub };
    expect(verdict(() => verifyBundle(k.mk([byLogId, byCpId]), { bytes: k.artifact }, t, {}, o))).toBe('verified');
    expect(verdict(() => verifyBundle(k.mk([byLogId, byCpId]), { bytes: k.artifact }, t, {}, { ...o, tlogThreshold: 2 }))).toBe('TLOG_ENTRY_MISSING');
  });

  it('refuses a checkpoint-only entry from a log key outside its validity window, as it refuses a SET from one', async () => {
    const k = await keyed();
    const logId = createHash('sha256').update(spkiOf(log.pub)).digest();
    const retired = trustedRoot({ cas: [], tlogs: [{ keys: log }] });
    retired.tlogs[0]!.publicKey.validFor = { start: '2020-01-01T00:00:00Z', end: '2020-06-01T00:00:00Z' } as never;
    const t = parseTrustedRoot(retired);
    const o = { key: k.signer.pub };
    expect(verdict(() => verifyBundle(k.mk([tlogEntrySet(log, k.body)], 'application/vnd.dev.sigstore.bundle+json;version=0.1'), { bytes: k.artifact }, t, {}, o))).toBe('TLOG_SET_INVALID');
    expect(verdict(() => verifyBundle(k.mk([tlogEntryProof(log, k.body, logId, logId)]), { bytes: k.artifact }, t, {}, o))).toBe('TLOG_CHECKPOINT_INVALID');
    // The same entry under the open window verifies.
    expect(verdict(() => verifyBundle(k.mk([tlogEntryProof(log, k.body, logId, logId)]), { bytes: k.artifact }, parseTrustedRoot(trustedRoot({ cas: [], tlogs: [{ keys: log }] })), {}, o))).toBe('verified');
  });
});

describe('certificates', () => {
  it('a partner CA trusted for its trust domain cannot vouch for a leaf that names no identity', async () => {
    const par = await makeRoot('Partner CA');
    const parLog = await genKeys();
    const parCt = await genKeys();
    const t = withPartner(trust, parseTrustedRoot(trustedRoot({ cas: [[par.der]], tlogs: [{ keys: parLog }], ctlogs: [parCt] })), 'partner.example');
    const art = Buffer.from('artifact');
    const run = (leaf: Awaited<ReturnType<typeof makeLeaf>>, policy: object) => verdict(() => verifyBundle(parseBundle(dsseBundle(leaf, parLog, 'application/vnd.in-toto+json', statementFor(art))), { bytes: art }, t, policy));
    const inside = await makeLeaf({ ca: par, san: [{ type: 'url', value: 'spiffe://partner.example/build' }], issuerUrl: ISSUER, ct: { keys: parCt } });
    expect(run(inside, { issuer: ISSUER })).toBe('verified');
    const outside = await makeLeaf({ ca: par, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: parCt } });
    expect(run(outside, { issuer: ISSUER })).toBe('CERTIFICATE_UNTRUSTED');
    const nameless = await makeLeaf({ ca: par, issuerUrl: ISSUER, ct: { keys: parCt } });
    expect(run(nameless, { issuer: ISSUER })).toBe('CERTIFICATE_UNTRUSTED');
    expect(run(nameless, {})).toBe('CERTIFICATE_UNTRUSTED');
  });

  it('codes what OpenSSL refuses or a strict reading cannot parse: an off-curve leaf key, a crafted intermediate', async () => {
    const leaf = await makeLeaf({ ca, san: [{ type: 'url', value: ID }] });
    const der = Buffer.from(leaf.der);
    const spki = spkiOf(leaf.keys.pub);
    der[der.indexOf(spki) + spki.length - 1] ^= 1; // the point leaves the curve
    const offCurve = parseBundle({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', verificationMaterial: { certificate: { rawBytes: der.toString('base64') }, tlogEntries: [] }, messageSignature: { signature: 'AAAA' } });
    const otherKey = (await genKeys()).pub;
    expect(verdict(() => verifyBundle(offCurve, { bytes: Buffer.from('x') }, trust, {}, { key: otherKey }))).toBe('CERTIFICATE_MALFORMED');

    // An intermediate whose outer signature algorithm differs from its TBS's (OpenSSL reads it).
    const subKeys = await genKeys();
    const evilRoot = await makeRoot('Evil root');
    const subCert = await x509.X509CertificateGenerator.create({
      serialNumber: '05', subject: 'CN=Evil sub', issuer: evilRoot.cert.subject, notBefore: new Date(Date.now() - 86400e3), notAfter: new Date(Date.now() + 86400e3),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, publicKey: subKeys.publicKey, signingKey: evilRoot.keys.privateKey,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
    });
    const subDer = Buffer.from(subCert.rawData);
    const oid = Buffer.from('2a8648ce3d040302', 'hex');
    subDer[subDer.lastIndexOf(oid) + oid.length - 1] = 0x03;
    const evilLeaf = await makeLeaf({ ca: { keys: subKeys, cert: subCert }, san: [{ type: 'url', value: ID }] });
    const art = Buffer.from('x');
    const digest = createHash('sha256').update(art).digest();
    const sig = sign('sha256', art, evilLeaf.keys.priv);
    const b = parseBundle({
      mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
      verificationMaterial: { x509CertificateChain: { certificates: [{ rawBytes: evilLeaf.der.toString('base64') }, { rawBytes: subDer.toString('base64') }] }, tlogEntries: [tlogEntrySet(log, hashedrekordBody(digest.toString('hex'), sig, evilLeaf.pem))] },
      messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: digest.toString('base64') }, signature: sig.toString('base64') },
    });
    expect(verdict(() => verifyBundle(b, { bytes: art }, trust, { identity: ID }))).toBe('CERTIFICATE_UNTRUSTED');
  });

  it('reads a Fulcio username SAN (otherName) of any length by its DER, not a pattern over the bytes', async () => {
    const tlv = (tag: number, ...parts: Buffer[]) => {
      const v = Buffer.concat(parts);
      return Buffer.concat([Buffer.from([tag, v.length]), v]);
    };
    const art = Buffer.from('a');
    for (const user of ['bob!https://o.example', 'alice!https://github.com/login/oauth']) {
      // 36 bytes: the UTF8String's length byte is '$', which a printable-run pattern swallowed.
      const san = tlv(0x30, tlv(0xa0, Buffer.from('060a2b0601040183bf300107', 'hex'), tlv(0xa0, tlv(0x0c, Buffer.from(user)))));
      const leaf = await makeLeaf({ ca, ct: { keys: ct }, extra: [new x509.Extension('2.5.29.17', true, new Uint8Array(san).buffer)] });
      expect(verdict(() => verifyBundle(parseBundle(dsseBundle(leaf, log, 'application/vnd.in-toto+json', statementFor(art))), { bytes: art }, trust, { identity: user })), user).toBe('verified');
    }
  });
});

describe('log bodies', () => {
  it('codes a body whose signature list is not a list (checked before the SET, so anyone can send one)', async () => {
    const leaf = await makeLeaf({ ca });
    const logId = createHash('sha256').update(spkiOf(log.pub)).digest();
    const payload = Buffer.from('{}');
    for (const [kind, version, spec] of [
      ['dsse', '0.0.1', { payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') }, signatures: 'x' }],
      ['dsse', '0.0.2', { dsseV002: { payloadHash: { digest: createHash('sha256').update(payload).digest('base64') }, signatures: {} } }],
      ['intoto', '0.0.2', { content: { payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') }, envelope: { signatures: 1 } } }],
    ] as const) {
      const body = Buffer.from(JSON.stringify({ kind, apiVersion: version, spec }));
      const b = parseBundle({
        mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
        verificationMaterial: { x509CertificateChain: { certificates: [{ rawBytes: leaf.der.toString('base64') }] }, tlogEntries: [{ logIndex: '1', logId: { keyId: logId.toString('base64') }, kindVersion: { kind, version }, integratedTime: '1', inclusionPromise: { signedEntryTimestamp: 'AAAA' }, canonicalizedBody: body.toString('base64') }] },
        dsseEnvelope: { payloadType: 'application/vnd.in-toto+json', payload: payload.toString('base64'), signatures: [{ sig: 'AAAA' }] },
      });
      expect(verdict(() => verifyBundle(b, { bytes: Buffer.from('x') }, trust, {})), `${kind}/${version}`).toBe('TLOG_BODY_MISMATCH');
    }
  });
});

describe('a certificate bundle with no verified time', () => {
  it('is checked against the certificate\'s window at the current time, not against none', async () => {
    // Reachable through the API only: thresholds of 0 for logs and timestamps, and a bundle that
    // carries neither. Before, an empty list of times skipped every validity check.
    const leaf = await makeLeaf({ ca, san: [{ type: 'url', value: ID }], issuerUrl: ISSUER, ct: { keys: ct } });
    const a = Buffer.from('artifact A');
    const raw = dsseBundle(leaf, log, 'application/vnd.in-toto+json', statementFor(a));
    raw.verificationMaterial.tlogEntries = [];
    const b = parseBundle(raw);
    const policy = { identity: ID, issuer: ISSUER };
    const o = { tlogThreshold: 0, timestampThreshold: 0 };
    expect(verdict(() => verifyBundle(b, { bytes: a }, trust, policy, o))).toBe('verified');
    const later = new Date(Date.now() + 2 * 3600e3); // past the leaf's 15 minutes
    expect(verdict(() => verifyBundle(b, { bytes: a }, trust, policy, { ...o, now: later }))).toBe('CERTIFICATE_NOT_VALID_AT_TIME');
    // With the default threshold the missing time is itself the failure.
    expect(verdict(() => verifyBundle(b, { bytes: a }, trust, policy, { tlogThreshold: 0 }))).toBe('TIMESTAMP_MISSING');
  });
});
