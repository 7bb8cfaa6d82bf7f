/**
 * Rekor v1 entry types (pure): parse a proposed entry, verify its signature(s) against the key or
 * certificate it carries, and produce the canonical body that becomes the Merkle leaf, plus the
 * search-index keys. Canonical bodies keep only the fields Rekor's types keep, in RFC 8785 form,
 * so equal entries always give equal leaves (and duplicates are found by leaf hash).
 *
 *   hashedrekord 0.0.1  signature over a digest (sha256/384/512), key = PEM public key or cert
 *   dsse 0.0.1          DSSE envelope + verifiers; every signature must verify over the PAE
 *   intoto 0.0.2        DSSE envelope with double-base64 payload/signatures (deprecated upstream)
 */
import { createHash, createPublicKey, publicDecrypt, verify as cryptoVerify, X509Certificate, constants, type KeyObject } from 'node:crypto';
import { p256, p384 } from '@noble/curves/nist.js';
import { verifySignature } from '../core/index.js';
import { parseSpki, type SignatureAlg, type SignatureItem } from '../core/signature-formats.js';
import type { Admission } from './admission.js';
import { jcs } from './jcs.js';
import { LogError } from './errors.js';
import { parseGeneralNames } from '../verify/name-constraints.js';
import { splitCertificate } from '../verify/x509-lite.js';

export type EntryKind = 'hashedrekord' | 'dsse' | 'intoto';
export type { HashAlg };

export interface PreparedEntry {
  kind: EntryKind;
  apiVersion: string;
  /** Canonical body (RFC 8785 JSON bytes): the Merkle leaf. */
  body: Uint8Array;
  /** Search keys: `sha256:<hex>` artifact/payload hashes, `key:<sha256 of SPKI>`, `email:...`, `uri:...`. */
  searchKeys: string[];
}

const HEX = { sha256: 64, sha384: 96, sha512: 128 } as const;
type HashAlg = keyof typeof HEX;

function bad(message: string): never {
  throw new LogError('LOG_MALFORMED_ENTRY', message);
}

export function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}

export function str(v: unknown, what: string, max = 1 << 20): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) bad(`${what} must be a non-empty string`);
  return v as string;
}

export function b64(v: unknown, what: string, max = 1 << 20): Buffer {
  const s = str(v, what, max);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) bad(`${what} must be standard base64`);
  return Buffer.from(s, 'base64');
}

/**
 * A verifier parsed from a base64 PEM: a public key, or a certificate (whose identities are indexed).
 * `core` is set for the two key types the WASM core verifies (P-256 and Ed25519 SPKIs); for those
 * the node:crypto KeyObject is only built when something asks for it (`key` is a lazy getter),
 * because creating and inspecting one costs as much as the signature check itself.
 */
export interface Verifier {
  readonly key: KeyObject;
  spki: Buffer;
  core?: SignatureAlg;
  certificate?: X509Certificate;
}

function spkiVerifier(spki: Buffer, core: SignatureAlg): Verifier {
  let key: KeyObject | undefined;
  return {
    spki,
    core,
    get key(): KeyObject {
      key ??= createPublicKey({ key: spki, format: 'der', type: 'spki' });
      return key;
    },
  };
}

export function keyVerifier(key: KeyObject, certificate?: X509Certificate): Verifier {
  const spki = key.export({ format: 'der', type: 'spki' });
  const core = parseSpki(spki)?.alg;
  return { key, spki, ...(core ? { core } : {}), ...(certificate ? { certificate } : {}) };
}

/** A verifier from DER bytes (Rekor v2 / protobuf-specs PublicKey.rawBytes or X509Certificate.rawBytes). */
export function verifierFromDer(der: Buffer, isCertificate: boolean, what: string): Verifier {
  try {
    if (isCertificate) {
      const certificate = new X509Certificate(der);
      return keyVerifier(certificate.publicKey, certificate);
    }
    const core = parseSpki(der)?.alg;
    if (core) return spkiVerifier(Buffer.from(der), core);
    return keyVerifier(createPublicKey({ key: der, format: 'der', type: 'spki' }));
  } catch (cause) {
    throw new LogError('LOG_BAD_KEY', `${what} is not a DER ${isCertificate ? 'certificate' : 'SubjectPublicKeyInfo'}`, { cause });
  }
}

// RFC 7468 §13 strict PEM as every Sigstore client writes it: one "PUBLIC KEY" block, base64 lines.
const SPKI_PEM = /^-----BEGIN PUBLIC KEY-----\r?\n((?:[A-Za-z0-9+/]{1,76}\r?\n)*[A-Za-z0-9+/]*={0,2}\r?\n)-----END PUBLIC KEY-----\r?\n?$/;

export function parseVerifier(pemB64: unknown, what: string): Verifier {
  const pem = b64(pemB64, what, 64 * 1024).toString('utf8');
  try {
    const m = SPKI_PEM.exec(pem);
    if (m) {
      const der = Buffer.from(m[1]!.replace(/\r?\n/g, ''), 'base64');
      const core = parseSpki(der)?.alg;
      if (core) return spkiVerifier(der, core);
    }
    if (pem.includes('-----BEGIN CERTIFICATE-----')) {
      const certificate = new X509Certificate(pem);
      return keyVerifier(certificate.publicKey, certificate);
    }
    if (pem.includes('-----BEGIN PUBLIC KEY-----')) return keyVerifier(createPublicKey(pem));
  } catch (cause) {
    throw new LogError('LOG_BAD_KEY', `${what} is not a parseable PEM public key or certificate`, { cause });
  }
  throw new LogError('LOG_BAD_KEY', `${what} must be a PEM PUBLIC KEY or CERTIFICATE`);
}

/** PEM as Go's encoding/pem writes it: 64-column base64 lines, LF line ends, a final newline. */
function pemBlock(type: string, der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.map((l) => `${l}\n`).join('')}-----END ${type}-----\n`;
}

/**
 * The key material of a parsed verifier as Rekor stores it (x509.PublicKey.CanonicalValue in
 * hashedrekord 0.0.1 and dsse 0.0.1): every certificate of a certificate PEM, or the SPKI of a
 * public key, re-encoded, then base64 as the entry carries it. The same key then makes the same
 * body, and the same leaf, whatever line breaks or surrounding text the client sent.
 */
export function canonicalKeyContent(pemB64: string, v: Verifier): string {
  if (!v.certificate) return Buffer.from(pemBlock('PUBLIC KEY', v.spki), 'utf8').toString('base64');
  const pem = Buffer.from(pemB64, 'base64').toString('utf8');
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([^-]*)-----END CERTIFICATE-----/g)].slice(0, 16);
  const ders = blocks.map((m, i) => {
    const der = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
    try {
      new X509Certificate(der);
    } catch (cause) {
      throw new LogError('LOG_BAD_KEY', `certificate ${i} of the PEM does not parse`, { cause });
    }
    return der;
  });
  return Buffer.from(ders.map((d) => pemBlock('CERTIFICATE', d)).join(''), 'utf8').toString('base64');
}

/**
 * Throws LOG_BAD_KEY if node:crypto (OpenSSL) refuses the verifier's key. Fast-path keys are only
 * shape-checked when parsed, and OpenSSL refuses off-curve P-256 points when it imports a key, so
 * after a failed check it is asked whether the key or the signature was at fault (as before the
 * fast path, when every key was imported first).
 */
export function assertKeyParses(v: Verifier, what: string): void {
  try {
    void v.key.asymmetricKeyType;
  } catch (cause) {
    throw new LogError('LOG_BAD_KEY', `${what} is not a valid public key`, { cause });
  }
}

function ecPoint(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.concat([Uint8Array.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
}

const DIGEST_INFO_PREFIX: Record<HashAlg, string> = {
  // RFC 8017 §9.2 note 1: DER of DigestInfo up to the digest.
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

/**
 * Verify a signature over a precomputed digest (hashedrekord). node:crypto cannot verify ECDSA over
 * a digest, so ECDSA P-256/SHA-256 goes through the WASM core and other curves through @noble/curves
 * with prehash off; RSA PKCS#1 v1.5 is checked by
 * recovering the DigestInfo (RFC 8017 §8.2.2).
 */
export function verifyDigestSignature(v: Verifier, alg: HashAlg, digest: Uint8Array, sig: Uint8Array): boolean {
  // P-256 over SHA-256 (nearly every Sigstore signature) runs in the WASM core (assembly/p256.ts).
  const item = coreDigestItem(v, alg, digest, sig);
  // DER only, as Rekor's ecdsa.VerifyASN1 (the core's default form).
  if (item) return verifySignature(item);
  let t: string | undefined;
  try {
    // Inside the try: a fast-path SPKI (shape-checked only) builds its KeyObject here, and
    // OpenSSL refuses an off-curve point (LOG_BAD_KEY below, not a 500).
    t = v.key.asymmetricKeyType;
    if (t === 'ec') {
      const crv = v.key.asymmetricKeyDetails?.namedCurve;
      const curve = crv === 'prime256v1' ? p256 : crv === 'secp384r1' ? p384 : undefined;
      if (!curve) throw new LogError('LOG_BAD_KEY', `unsupported EC curve ${crv}`);
      return curve.verify(sig, digest, ecPoint(v.key), { prehash: false, lowS: false, format: 'der' });
    }
    if (t === 'rsa') {
      const bits = v.key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048 || bits > 4096) throw new LogError('LOG_BAD_KEY', 'RSA keys must be 2048..4096 bits');
      const em = publicDecrypt({ key: v.key, padding: constants.RSA_PKCS1_PADDING }, sig);
      return Buffer.compare(em, Buffer.concat([Buffer.from(DIGEST_INFO_PREFIX[alg], 'hex'), digest])) === 0;
    }
  } catch (e) {
    if (e instanceof LogError) throw e;
    return false;
  }
  throw new LogError('LOG_BAD_KEY', `hashedrekord does not accept ${t} keys (Ed25519 signs messages, not digests)`);
}

/**
 * Verify a signature over a message (DSSE PAE, SETs, checkpoints, artifacts). Ed25519 and ECDSA
 * P-256 with SHA-256 go through the WASM core (host/core/signatures.ts: batch tables for
 * registered keys, the same rules in every runtime); other curves and RSA through node:crypto.
 */
export function verifyMessageSignature(v: Verifier, message: Uint8Array, sig: Uint8Array): boolean {
  if (v.core === 'ed25519') return verifySignature({ alg: 'ed25519', publicKey: v.spki, digestOrMessage: message, signature: sig });
  if (v.core === 'ecdsa-p256-sha256') return verifySignature({ alg: 'ecdsa-p256-sha256', publicKey: v.spki, digestOrMessage: createHash('sha256').update(message).digest(), signature: sig });
  let t: string | undefined;
  try {
    t = v.key.asymmetricKeyType;
    if (t === 'ed25519') return verifySignature({ alg: 'ed25519', publicKey: v.spki, digestOrMessage: message, signature: sig });
    if (t === 'ec') {
      const crv = v.key.asymmetricKeyDetails?.namedCurve;
      if (crv === 'prime256v1') return verifySignature({ alg: 'ecdsa-p256-sha256', publicKey: v.spki, digestOrMessage: createHash('sha256').update(message).digest(), signature: sig });
      const h = crv === 'secp384r1' ? 'sha384' : crv === 'secp521r1' ? 'sha512' : 'sha256';
      return cryptoVerify(h, message, v.key, sig);
    }
    if (t === 'rsa') return cryptoVerify('sha256', message, v.key, sig);
  } catch {
    return false;
  }
  throw new LogError('LOG_BAD_KEY', `unsupported key type ${t}`);
}

const verifierCache = new WeakMap<KeyObject, Verifier>();
/** verifyMessageSignature for a bare KeyObject (its SPKI is exported once and cached). */
export function verifyMessageWithKey(key: KeyObject, message: Uint8Array, sig: Uint8Array): boolean {
  let v = verifierCache.get(key);
  if (!v) {
    v = keyVerifier(key);
    verifierCache.set(key, v);
  }
  try {
    return verifyMessageSignature(v, message, sig);
  } catch {
    return false; // a key type no verifier supports cannot have made the signature
  }
}

/** DSSE v1 pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const t = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${payload.length} `), payload]);
}

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export function identityKeys(v: Verifier): string[] {
  const out = [`key:${sha256Hex(v.spki)}`];
  if (v.certificate) for (const id of certificateIdentities(v.certificate.raw)) out.push(id);
  return out;
}

/**
 * The uri: and email: SANs of a certificate, read from its DER (RFC 5280 §4.2.1.6). Node's
 * subjectAltName string is not used: it quotes values holding ',', '"', '\'' or '\\' (so
 * `o'brien@example.org` would be indexed as `email:"o'brien@example.org"`).
 */
export function certificateIdentities(der: Uint8Array): string[] {
  try {
    const san = splitCertificate(der).extensions.get('2.5.29.17');
    if (!san) return [];
    return parseGeneralNames(san.value).flatMap((n) => (n.type === 'uri' ? [`uri:${n.value}`] : n.type === 'email' ? [`email:${n.value.toLowerCase()}`] : []));
  } catch {
    return []; // a SAN that does not parse names nobody
  }
}

export function done(kind: EntryKind, apiVersion: string, canonical: unknown, searchKeys: string[]): PreparedEntry {
  const text = jcs(canonical);
  return { kind, apiVersion, body: new Uint8Array(Buffer.from(text, 'utf8')), searchKeys: [...new Set(searchKeys)] };
}

interface HashedRekord {
  algorithm: HashAlg;
  value: string;
  digest: Buffer;
  sig: Buffer;
  content: string;
  pkContent: string;
  v: Verifier;
}

function parseHashedrekord(spec: Record<string, unknown>): HashedRekord {
  const data = obj(spec.data, 'spec.data');
  const hash = obj(data.hash, 'spec.data.hash');
  const algorithm = str(hash.algorithm, 'spec.data.hash.algorithm', 16) as HashAlg;
  if (!(algorithm in HEX)) bad('spec.data.hash.algorithm must be sha256, sha384 or sha512');
  const value = str(hash.value, 'spec.data.hash.value', 128);
  if (value.length !== HEX[algorithm] || !/^[0-9a-f]+$/.test(value)) bad(`spec.data.hash.value must be ${HEX[algorithm]} lower-case hex digits`);
  const signature = obj(spec.signature, 'spec.signature');
  const sig = b64(signature.content, 'spec.signature.content', 8192);
  const pk = obj(signature.publicKey, 'spec.signature.publicKey');
  const v = parseVerifier(pk.content, 'spec.signature.publicKey.content');
  return { algorithm, value, digest: Buffer.from(value, 'hex'), sig, content: signature.content as string, pkContent: pk.content as string, v };
}

function finishHashedrekord(h: HashedRekord, verified: boolean): PreparedEntry {
  if (!verified) {
    assertKeyParses(h.v, 'spec.signature.publicKey.content');
    throw new LogError('LOG_BAD_SIGNATURE', 'the signature does not verify over the digest with the given key');
  }
  return done(
    'hashedrekord',
    '0.0.1',
    {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: { data: { hash: { algorithm: h.algorithm, value: h.value } }, signature: { content: h.content, publicKey: { content: canonicalKeyContent(h.pkContent, h.v) } } },
    },
    [`${h.algorithm}:${h.value}`, ...identityKeys(h.v)],
  );
}

function hashedrekord(spec: Record<string, unknown>): PreparedEntry {
  const h = parseHashedrekord(spec);
  return finishHashedrekord(h, verifyDigestSignature(h.v, h.algorithm, h.digest, h.sig));
}

/** verifyDigestSignature, with the core's P-256 check handed to `admission` (worker threads) when given: same verdicts. */
export async function verifyDigestAdmitted(v: Verifier, alg: HashAlg, digest: Uint8Array, sig: Uint8Array, admission?: Admission): Promise<boolean> {
  const item = admission && coreDigestItem(v, alg, digest, sig);
  return item ? admission.verify(item) : verifyDigestSignature(v, alg, digest, sig);
}

/** The WASM-core check a hashedrekord needs, or undefined when node:crypto/noble handle its key. */
export function coreDigestItem(v: Verifier, alg: HashAlg, digest: Uint8Array, sig: Uint8Array): SignatureItem | undefined {
  return v.core === 'ecdsa-p256-sha256' && alg === 'sha256' && digest.length === 32 ? { alg: 'ecdsa-p256-sha256', publicKey: v.spki, digestOrMessage: digest, signature: sig } : undefined;
}

export interface Envelope {
  payloadType: string;
  payload: Buffer;
  signatures: { sig: Buffer; keyid?: string }[];
}

export function parseEnvelope(v: unknown, what: string): Envelope {
  const e = obj(v, what);
  const payloadType = str(e.payloadType, `${what}.payloadType`, 256);
  const payload = b64(e.payload, `${what}.payload`);
  if (!Array.isArray(e.signatures) || e.signatures.length === 0 || e.signatures.length > 16) bad(`${what}.signatures must list 1..16 signatures`);
  const signatures = (e.signatures as unknown[]).map((s, i) => {
    const so = obj(s, `${what}.signatures[${i}]`);
    return { sig: b64(so.sig, `${what}.signatures[${i}].sig`, 8192), ...(typeof so.keyid === 'string' ? { keyid: so.keyid } : {}) };
  });
  return { payloadType, payload, signatures };
}

function dsse(spec: Record<string, unknown>): PreparedEntry {
  const pc = obj(spec.proposedContent, 'spec.proposedContent');
  const envText = str(pc.envelope, 'spec.proposedContent.envelope');
  let envJson: unknown;
  try {
    envJson = JSON.parse(envText);
  } catch {
    bad('spec.proposedContent.envelope is not JSON');
  }
  const env = parseEnvelope(envJson, 'envelope');
  if (!Array.isArray(pc.verifiers) || pc.verifiers.length === 0 || pc.verifiers.length > 16) bad('spec.proposedContent.verifiers must list 1..16 keys');
  const verifiers = (pc.verifiers as unknown[]).map((v, i) => ({ b64: v as string, v: parseVerifier(v, `spec.proposedContent.verifiers[${i}]`) }));
  const message = pae(env.payloadType, env.payload);
  // Every signature must verify with one of the verifiers (Rekor dsse type: no unverified signatures).
  const signatures = env.signatures.map((s, i) => {
    const hit = verifiers.find((v) => verifyMessageSignature(v.v, message, s.sig));
    if (!hit) {
      verifiers.forEach((v, j) => assertKeyParses(v.v, `spec.proposedContent.verifiers[${j}]`));
      throw new LogError('LOG_BAD_SIGNATURE', `envelope signature ${i} verifies with none of the verifiers`);
    }
    return { signature: s.sig.toString('base64'), verifier: canonicalKeyContent(hit.b64, hit.v) };
  });
  signatures.sort((a, b) => (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0));
  const payloadHash = sha256Hex(env.payload);
  return done(
    'dsse',
    '0.0.1',
    {
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: sha256Hex(Buffer.from(envText, 'utf8')) },
        payloadHash: { algorithm: 'sha256', value: payloadHash },
        signatures,
      },
    },
    [`sha256:${payloadHash}`, ...subjectDigests(env), ...verifiers.flatMap((v) => identityKeys(v.v))],
  );
}

/** in-toto statements name their subjects' digests: index them so a search by artifact hash finds attestations. */
export function subjectDigests(env: Envelope): string[] {
  if (env.payloadType !== 'application/vnd.in-toto+json') return [];
  try {
    const st = JSON.parse(env.payload.toString('utf8')) as { subject?: { digest?: Record<string, string> }[] };
    return (st.subject ?? []).slice(0, 64).flatMap((s) => Object.entries(s.digest ?? {}).filter(([a, v]) => a in HEX && typeof v === 'string' && v.length === HEX[a as HashAlg] && /^[0-9a-f]+$/.test(v)).map(([a, v]) => `${a}:${v}`));
  } catch {
    return [];
  }
}

function intoto(spec: Record<string, unknown>): PreparedEntry {
  const content = obj(spec.content, 'spec.content');
  const e = obj(content.envelope, 'spec.content.envelope');
  // intoto 0.0.2 carries the payload and each signature base64-encoded twice.
  const payloadType = str(e.payloadType, 'spec.content.envelope.payloadType', 256);
  const payload = b64(b64(e.payload, 'spec.content.envelope.payload').toString('utf8'), 'decoded payload');
  if (!Array.isArray(e.signatures) || e.signatures.length === 0 || e.signatures.length > 16) bad('spec.content.envelope.signatures must list 1..16 signatures');
  // The envelope digest is the client's (Rekor's intoto 0.0.2 keeps content.hash as proposed and
  // refuses an entry without one, "missing envelope digest"); the payload digest is computed here.
  const hash = obj(content.hash, 'spec.content.hash (the SHA-256 of the envelope)');
  if (hash.algorithm !== 'sha256' || typeof hash.value !== 'string' || !/^[0-9a-f]{64}$/.test(hash.value)) bad('spec.content.hash must be { algorithm: sha256, value: <64 lower-case hex> }');
  const message = pae(payloadType, payload);
  const sigs = (e.signatures as unknown[]).map((s, i) => {
    const so = obj(s, `signatures[${i}]`);
    const sig = b64(b64(so.sig, `signatures[${i}].sig`).toString('utf8'), `decoded signatures[${i}].sig`);
    const v = parseVerifier(so.publicKey, `signatures[${i}].publicKey`);
    if (!verifyMessageSignature(v, message, sig)) {
      assertKeyParses(v, `signatures[${i}].publicKey`);
      throw new LogError('LOG_BAD_SIGNATURE', `envelope signature ${i} does not verify with its public key`);
    }
    if (so.keyid !== undefined && (typeof so.keyid !== 'string' || so.keyid.length > 256)) bad(`signatures[${i}].keyid must be a string`);
    // Kept as proposed, keyid included, as Rekor's canonical intoto 0.0.2 body keeps them.
    return { canon: { ...(so.keyid ? { keyid: so.keyid as string } : {}), publicKey: so.publicKey as string, sig: so.sig as string }, v };
  });
  const payloadHash = sha256Hex(payload);
  return done(
    'intoto',
    '0.0.2',
    {
      apiVersion: '0.0.2',
      kind: 'intoto',
      spec: {
        content: {
          envelope: { payloadType, signatures: sigs.map((s) => s.canon) },
          hash: { algorithm: 'sha256', value: hash.value },
          payloadHash: { algorithm: 'sha256', value: payloadHash },
        },
      },
    },
    [`sha256:${payloadHash}`, ...subjectDigests({ payloadType, payload, signatures: [] }), ...sigs.flatMap((s) => identityKeys(s.v))],
  );
}

/** Parse, verify and canonicalize a proposed Rekor v1 entry (the POST /api/v1/log/entries body). */
export function prepareEntry(input: unknown): PreparedEntry {
  const e = obj(input, 'entry');
  const kind = e.kind;
  const apiVersion = e.apiVersion;
  const spec = obj(e.spec, 'spec');
  if (kind === 'hashedrekord' && apiVersion === '0.0.1') return hashedrekord(spec);
  if (kind === 'dsse' && apiVersion === '0.0.1') return dsse(spec);
  if (kind === 'intoto' && apiVersion === '0.0.2') return intoto(spec);
  throw new LogError('LOG_UNSUPPORTED_KIND', `unsupported entry kind/apiVersion ${String(kind).slice(0, 40)}/${String(apiVersion).slice(0, 20)}; supported: hashedrekord/0.0.1, dsse/0.0.1, intoto/0.0.2`);
}

/**
 * prepareEntry, with the hashedrekord P-256 check handed to `admission` (a worker pool, see
 * host/log/admission.ts). Same checks, same order, same verdicts and errors.
 */
export async function prepareEntryAsync(input: unknown, admission: Admission): Promise<PreparedEntry> {
  const e = obj(input, 'entry');
  const spec = obj(e.spec, 'spec');
  if (e.kind !== 'hashedrekord' || e.apiVersion !== '0.0.1') return prepareEntry(input);
  const h = parseHashedrekord(spec);
  return finishHashedrekord(h, await verifyDigestAdmitted(h.v, h.algorithm, h.digest, h.sig, admission));
}
