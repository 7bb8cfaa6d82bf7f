/**
 * Wire clients for the services a keyless signature needs, speaking the public APIs (so they work
 * against Cairn or against Sigstore's public instances): Fulcio v2 signingCert, Rekor v1 entries,
 * RFC 3161 timestamps, and the signing_config.json that names them.
 */
import { createHash, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { checkDer } from '../tsa/der.js';
import { embeddedCertificates, verifyTimestampToken } from '../tsa/verify.js';
import { algorithmIdentifier, integer, octets, seq } from '../tsa/encode.js';
import { HASH_OIDS } from '../tsa/oids.js';
import { SignerError } from './errors.js';

async function post(url: string, body: string | Uint8Array, contentType: string, accept: string, code: 'SIGNER_CA_FAILED' | 'SIGNER_LOG_FAILED' | 'SIGNER_TSA_FAILED'): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType, accept }, body, signal: AbortSignal.timeout(30_000), redirect: 'error' });
  } catch (cause) {
    throw new SignerError(code, `${url} is unreachable`, { cause });
  }
  if (!res.ok) {
    const text = (await res.text()).slice(0, 300);
    throw new SignerError(code, `${url} answered ${res.status}: ${text}`);
  }
  return res;
}

export interface Endpoints {
  ca: string;
  log: string;
  /** Rekor API version to write entries with: 1 (default) or 2 (rekor-tiles, no SET; needs a TSA). */
  logVersion?: 1 | 2;
  tsa?: string;
}

/** signing_config.json v0.2: the newest valid URL of each service (SigningConfig: newest first). */
export async function readSigningConfig(path: string): Promise<Endpoints> {
  let cfg: Record<string, { url: string; majorApiVersion?: number; validFor?: { start?: string; end?: string } }[]>;
  try {
    cfg = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new SignerError('SIGNER_BAD_CONFIG', `cannot read signing config ${path}`, { cause });
  }
  const now = Date.now();
  // TimeRange is closed, [start, end] (sigstore_common.proto), and its times are RFC 3339 with any
  // fraction or offset: compared as instants, never as strings ("…00.5Z" is later than "…00Z").
  const start = (s: { validFor?: { start?: string } }): number => (s.validFor?.start ? Date.parse(s.validFor.start) : -Infinity);
  const pick = (k: string, versions: number[]): string | undefined =>
    (cfg[k] ?? [])
      .filter((s) => versions.includes(s.majorApiVersion ?? 1) && start(s) <= now && (!s.validFor?.end || Date.parse(s.validFor.end) >= now))
      .sort((a, b) => start(b) - start(a))[0]?.url;
  const ca = pick('caUrls', [1]);
  // The highest Rekor API version the config offers wins (SigningConfig: clients pick the newest
  // version they support); v2 entries carry no SET, so they need a TSA.
  const tsa = pick('tsaUrls', [1]);
  const v2 = tsa ? pick('rekorTlogUrls', [2]) : undefined;
  const log = v2 ?? pick('rekorTlogUrls', [1]);
  if (!ca || !log) throw new SignerError('SIGNER_BAD_CONFIG', `${path} names no CA or no Rekor log`);
  return { ca, log, ...(v2 ? { logVersion: 2 as const } : {}), ...(tsa ? { tsa } : {}) };
}

/** The JSON body of a response, or a coded error naming who sent something else. */
async function jsonOf(res: Response, code: 'SIGNER_CA_FAILED' | 'SIGNER_LOG_FAILED', who: string): Promise<unknown> {
  try {
    return await res.json();
  } catch (cause) {
    throw new SignerError(code, `${who} answered with something that is not JSON`, { cause });
  }
}

/** Fulcio POST /api/v2/signingCert with a public key and its proof of possession. Returns DER, leaf first. */
export async function requestCertificate(caUrl: string, token: string, publicKeyPem: string, proof: Uint8Array): Promise<Buffer[]> {
  const res = await post(
    `${caUrl.replace(/\/$/, '')}/api/v2/signingCert`,
    JSON.stringify({ credentials: { oidcIdentityToken: token }, publicKeyRequest: { publicKey: { algorithm: 'ECDSA', content: publicKeyPem }, proofOfPossession: Buffer.from(proof).toString('base64') } }),
    'application/json',
    'application/json',
    'SIGNER_CA_FAILED',
  );
  const j = (await jsonOf(res, 'SIGNER_CA_FAILED', 'the CA')) as { signedCertificateEmbeddedSct?: { chain?: { certificates?: unknown } }; signedCertificateDetachedSct?: { chain?: { certificates?: unknown } } } | null;
  const pems = (j?.signedCertificateEmbeddedSct ?? j?.signedCertificateDetachedSct)?.chain?.certificates;
  if (!Array.isArray(pems) || pems.length === 0 || !pems.every((p) => typeof p === 'string')) throw new SignerError('SIGNER_CA_FAILED', 'the CA returned no certificate chain');
  const ders = (pems as string[]).map((p) => Buffer.from(p.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''), 'base64'));
  // The leaf must be a certificate, and for the key this signer asked about: anything else would
  // make a bundle that no verifier accepts.
  let leafSpki: Buffer;
  try {
    leafSpki = new X509Certificate(ders[0]!).publicKey.export({ format: 'der', type: 'spki' });
  } catch (cause) {
    throw new SignerError('SIGNER_CA_FAILED', 'the CA returned a leaf that is not a certificate', { cause });
  }
  if (!leafSpki.equals(createPublicKey(publicKeyPem).export({ format: 'der', type: 'spki' }))) throw new SignerError('SIGNER_CA_FAILED', 'the CA certified another key than the one requested');
  return ders;
}

export interface RekorV1Entry {
  uuid: string;
  body: string;
  integratedTime: number;
  logID: string;
  logIndex: number;
  verification: { signedEntryTimestamp: string; inclusionProof?: { checkpoint: string; hashes: string[]; logIndex: number; rootHash: string; treeSize: number } };
}

export async function createLogEntry(logUrl: string, proposed: unknown): Promise<RekorV1Entry> {
  const res = await post(`${logUrl.replace(/\/$/, '')}/api/v1/log/entries`, JSON.stringify(proposed), 'application/json', 'application/json', 'SIGNER_LOG_FAILED');
  const j = (await jsonOf(res, 'SIGNER_LOG_FAILED', 'the log')) as Record<string, Omit<RekorV1Entry, 'uuid'>> | null;
  const [uuid, e] = (j && typeof j === 'object' ? Object.entries(j)[0] : undefined) ?? [];
  // The fields a bundle's tlog entry is made of (Rekor v1 LogEntry), checked for their types.
  if (!uuid || !e || typeof e !== 'object' || typeof e.body !== 'string' || !Number.isSafeInteger(e.logIndex) || !Number.isSafeInteger(e.integratedTime) || typeof e.logID !== 'string' || typeof e.verification?.signedEntryTimestamp !== 'string') {
    throw new SignerError('SIGNER_LOG_FAILED', 'the log returned no well-formed entry (body, logIndex, integratedTime, logID, signedEntryTimestamp)');
  }
  // The bundle's kindVersion is read from the body, and the inclusion proof (when sent) is
  // re-encoded field by field: both must have their types, or the signer fails with a TypeError.
  let kind: { kind?: unknown; apiVersion?: unknown } | null;
  try {
    kind = JSON.parse(Buffer.from(e.body, 'base64').toString('utf8')) as typeof kind;
  } catch (cause) {
    throw new SignerError('SIGNER_LOG_FAILED', 'the log returned an entry whose body is not base64 JSON', { cause });
  }
  if (typeof kind !== 'object' || kind === null || typeof kind.kind !== 'string' || typeof kind.apiVersion !== 'string') throw new SignerError('SIGNER_LOG_FAILED', 'the log returned an entry body without kind and apiVersion');
  const p = e.verification.inclusionProof as Record<string, unknown> | undefined | null;
  if (p !== undefined && (typeof p !== 'object' || p === null || !Number.isSafeInteger(p.logIndex) || !Number.isSafeInteger(p.treeSize) || typeof p.rootHash !== 'string' || typeof p.checkpoint !== 'string' || !Array.isArray(p.hashes) || !p.hashes.every((h) => typeof h === 'string'))) {
    throw new SignerError('SIGNER_LOG_FAILED', 'the log returned a malformed inclusion proof (logIndex, treeSize, rootHash, hashes, checkpoint)');
  }
  return { uuid, ...e };
}

/** Rekor v2 POST /api/v2/log/entries; returns the protobuf-specs TransparencyLogEntry (JSON). */
export async function createLogEntryV2(logUrl: string, request: unknown): Promise<Record<string, unknown>> {
  const res = await post(`${logUrl.replace(/\/$/, '')}/api/v2/log/entries`, JSON.stringify(request), 'application/json', 'application/json', 'SIGNER_LOG_FAILED');
  const e = (await jsonOf(res, 'SIGNER_LOG_FAILED', 'the log')) as Record<string, unknown> | null;
  // protobuf-specs TransparencyLogEntry: a v2 entry is only usable with its proof and body.
  if (!e || typeof e !== 'object' || typeof e.canonicalizedBody !== 'string' || typeof e.inclusionProof !== 'object' || e.inclusionProof === null) throw new SignerError('SIGNER_LOG_FAILED', 'the log returned no TransparencyLogEntry with a body and an inclusion proof');
  return e;
}

/** RFC 3161 §2.4.1 TimeStampReq over SHA-256(data), with a nonce and certReq; returns the granted TimeStampResp (DER). */
export async function requestTimestamp(tsaUrl: string, data: Uint8Array): Promise<Buffer> {
  const digest = createHash('sha256').update(data).digest();
  const nonce = BigInt(`0x${randomBytes(8).toString('hex')}`);
  const req = seq(integer(1n), seq(algorithmIdentifier(HASH_OIDS.sha256), octets(digest)), integer(nonce), Uint8Array.of(0x01, 0x01, 0xff));
  const url = new URL(tsaUrl).pathname === '/' ? `${tsaUrl.replace(/\/$/, '')}/api/v1/timestamp` : tsaUrl;
  const res = await post(url, req, 'application/timestamp-query', 'application/timestamp-reply', 'SIGNER_TSA_FAILED');
  const resp = Buffer.from(await res.arrayBuffer());
  // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }:
  // return the token, i.e. the TLV after the status.
  const tlvEnd = (buf: Buffer, p: number): number => {
    let len = buf[p + 1]!;
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[p + 2 + i]!;
      hdr += n;
    }
    return p + hdr + len;
  };
  try {
    checkDer(resp); // the whole response, strictly (no truncation, no trailing bytes)
  } catch (cause) {
    throw new SignerError('SIGNER_TSA_FAILED', 'the TSA response is not well-formed DER', { cause });
  }
  const outerEnd = tlvEnd(resp, 0);
  const start = resp[1]! & 0x80 ? 2 + (resp[1]! & 0x7f) : 2;
  // PKIStatusInfo ::= SEQUENCE { status INTEGER (0 granted, 1 grantedWithMods), ... }
  const statusValue = resp[start + 2] === 0x02 ? resp[start + 4] : undefined;
  const statusEnd = tlvEnd(resp, start);
  if ((statusValue !== 0 && statusValue !== 1) || statusEnd >= outerEnd) throw new SignerError('SIGNER_TSA_FAILED', 'the TSA granted no token');
  // The token must answer this request: its imprint is our digest and it echoes our nonce (RFC
  // 3161 §2.4.2), signed by the certificate it carries (certReq was set, so §2.4.1 requires it).
  // A replayed or mixed-up token would otherwise go into the bundle and fail only at verification.
  // Whether that certificate is trusted is the verifier's question (the trusted root), not ours.
  try {
    const certs = embeddedCertificates(resp);
    if (certs.length === 0) throw new SignerError('SIGNER_TSA_FAILED', 'the TSA token carries no certificate although the request set certReq (RFC 3161 §2.4.1)');
    verifyTimestampToken(resp, { digest: { algorithm: 'sha256', value: digest }, nonce, trustedCerts: certs });
  } catch (cause) {
    if (cause instanceof SignerError) throw cause;
    throw new SignerError('SIGNER_TSA_FAILED', `the TSA token does not answer this request: ${(cause as Error).message}`, { cause });
  }
  // protobuf-specs RFC3161SignedTimestamp.signed_timestamp is the whole DER TimeStampResp.
  return resp.subarray(0, outerEnd);
}
