/**
 * Rekor v2 entries (rekor-tiles API, protobuf-specs rekor/v2): hashedRekordRequestV002 and
 * dsseRequestV002, canonicalized to the HashedRekordLogEntryV002 / DSSELogEntryV002 bodies, and
 * the TransparencyLogEntry (protobuf JSON mapping) the v2 API answers with. Rekor v2 has no SET
 * and no integrated time: the checkpoint and an RFC 3161 timestamp carry the time evidence.
 */
import { createHash } from 'node:crypto';
import { LogError } from './errors.js';
import type { Admission } from './admission.js';
import { assertKeyParses, b64, done, identityKeys, obj, pae, parseEnvelope, str, subjectDigests, verifierFromDer, verifyDigestAdmitted, verifyMessageSignature, type PreparedEntry, type Verifier } from './entries.js';
import type { TransparencyLog } from './log.js';

const KEY_DETAILS = new Set(['PKIX_ECDSA_P256_SHA_256', 'PKIX_ECDSA_P384_SHA_384', 'PKIX_ED25519', 'PKIX_RSA_PKCS1V15_2048_SHA256', 'PKIX_RSA_PKCS1V15_3072_SHA256', 'PKIX_RSA_PKCS1V15_4096_SHA256']);

function verifierV2(v: unknown, what: string): { canon: Record<string, unknown>; v: Verifier } {
  const o = obj(v, what);
  const keyDetails = str(o.keyDetails, `${what}.keyDetails`, 64);
  if (!KEY_DETAILS.has(keyDetails)) throw new LogError('LOG_BAD_KEY', `${what}.keyDetails ${keyDetails.slice(0, 40)} is not supported`);
  if (o.publicKey !== undefined) {
    const raw = b64(obj(o.publicKey, `${what}.publicKey`).rawBytes, `${what}.publicKey.rawBytes`, 16384);
    return { canon: { keyDetails, publicKey: { rawBytes: raw.toString('base64') } }, v: verifierFromDer(raw, false, `${what}.publicKey`) };
  }
  if (o.x509Certificate !== undefined) {
    const raw = b64(obj(o.x509Certificate, `${what}.x509Certificate`).rawBytes, `${what}.x509Certificate.rawBytes`, 65536);
    return { canon: { keyDetails, x509Certificate: { rawBytes: raw.toString('base64') } }, v: verifierFromDer(raw, true, `${what}.x509Certificate`) };
  }
  throw new LogError('LOG_MALFORMED_ENTRY', `${what} needs publicKey or x509Certificate`);
}

/** `admission` (host/log/admission.ts) takes the hashedRekord P-256 check off the event loop when given. */
export async function prepareEntryV2(input: unknown, admission?: Admission): Promise<PreparedEntry> {
  const req = obj(input, 'request');
  if (req.hashedRekordRequestV002 !== undefined) {
    const r = obj(req.hashedRekordRequestV002, 'hashedRekordRequestV002');
    const digest = b64(r.digest, 'hashedRekordRequestV002.digest', 128);
    if (digest.length !== 32) throw new LogError('LOG_MALFORMED_ENTRY', 'digest must be a 32-byte SHA-256 digest');
    const sig = obj(r.signature, 'hashedRekordRequestV002.signature');
    const content = b64(sig.content, 'signature.content', 8192);
    const ver = verifierV2(sig.verifier, 'signature.verifier');
    if (!(await verifyDigestAdmitted(ver.v, 'sha256', digest, content, admission))) {
      assertKeyParses(ver.v, 'signature.verifier');
      throw new LogError('LOG_BAD_SIGNATURE', 'the signature does not verify over the digest with the given key');
    }
    return done(
      'hashedrekord',
      '0.0.2',
      { apiVersion: '0.0.2', kind: 'hashedrekord', spec: { hashedRekordV002: { data: { algorithm: 'SHA2_256', digest: digest.toString('base64') }, signature: { content: content.toString('base64'), verifier: ver.canon } } } },
      [`sha256:${digest.toString('hex')}`, ...identityKeys(ver.v)],
    );
  }
  if (req.dsseRequestV002 !== undefined) {
    const r = obj(req.dsseRequestV002, 'dsseRequestV002');
    const env = parseEnvelope(r.envelope, 'dsseRequestV002.envelope');
    if (!Array.isArray(r.verifiers) || r.verifiers.length === 0 || r.verifiers.length > 16) throw new LogError('LOG_MALFORMED_ENTRY', 'dsseRequestV002.verifiers must list 1..16 verifiers');
    const vers = (r.verifiers as unknown[]).map((v, i) => verifierV2(v, `verifiers[${i}]`));
    const message = pae(env.payloadType, env.payload);
    const signatures = env.signatures.map((s, i) => {
      const hit = vers.find((v) => verifyMessageSignature(v.v, message, s.sig));
      if (!hit) {
        vers.forEach((v, j) => assertKeyParses(v.v, `verifiers[${j}]`));
        throw new LogError('LOG_BAD_SIGNATURE', `envelope signature ${i} verifies with none of the verifiers`);
      }
      return { content: s.sig.toString('base64'), verifier: hit.canon };
    });
    const payloadHash = createHash('sha256').update(env.payload).digest();
    return done(
      'dsse',
      '0.0.2',
      { apiVersion: '0.0.2', kind: 'dsse', spec: { dsseV002: { payloadHash: { algorithm: 'SHA2_256', digest: payloadHash.toString('base64') }, signatures } } },
      [`sha256:${payloadHash.toString('hex')}`, ...subjectDigests(env), ...vers.flatMap((v) => identityKeys(v.v))],
    );
  }
  throw new LogError('LOG_UNSUPPORTED_KIND', 'expected hashedRekordRequestV002 or dsseRequestV002');
}

/** protobuf-specs dev.sigstore.rekor.v1.TransparencyLogEntry, JSON mapping (int64 as strings). */
export async function transparencyLogEntryV2(log: TransparencyLog, index: number, prepared: PreparedEntry, spki: Uint8Array): Promise<Record<string, unknown>> {
  const size = log.size();
  const root = log.root();
  const checkpoint = log.checkpoint();
  const hashes = await log.inclusionProof(index, size);
  return {
    logIndex: String(index),
    logId: { keyId: createHash('sha256').update(spki).digest('base64') },
    kindVersion: { kind: prepared.kind, version: prepared.apiVersion },
    integratedTime: '0',
    inclusionProof: {
      logIndex: String(index),
      rootHash: Buffer.from(root).toString('base64'),
      treeSize: String(size),
      hashes: hashes.map((h) => Buffer.from(h).toString('base64')),
      checkpoint: { envelope: checkpoint },
    },
    canonicalizedBody: Buffer.from(prepared.body).toString('base64'),
  };
}
