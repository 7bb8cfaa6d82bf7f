/**
 * RFC 6962 client for the CA: submit a precertificate chain to a CT log (`add-pre-chain`, §4.1),
 * check the returned v1 SCT's signature against the log's public key over the §3.2
 * digitally-signed struct (precert_entry: issuer_key_hash + TBS without the poison), and encode
 * it for the SignedCertificateTimestampList (§3.3).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { verifyAsync } from '../keys/async-crypto.js';
import { localCt } from '../log/local-ct.js';
import { CaError } from './errors.js';
import { deadline } from '../http/deadline.js';

export interface CtLog {
  url: string;
  publicKey: KeyObject;
  /** 'auto' (default): call a log served by this process directly (host/log/local-ct.ts); 'http': always POST. */
  transport?: 'auto' | 'http';
}

function u(n: number | bigint, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  if (bytes === 8) b.writeBigUInt64BE(BigInt(n));
  else b.writeUIntBE(Number(n), 0, bytes);
  return b;
}

const logIds = new WeakMap<CtLog, Buffer>();
/** RFC 6962 §3.2: LogID = SHA-256 of the log's DER SubjectPublicKeyInfo. */
function logIdOf(log: CtLog): Buffer {
  let id = logIds.get(log);
  if (!id) {
    id = createHash('sha256').update(log.publicKey.export({ format: 'der', type: 'spki' })).digest();
    logIds.set(log, id);
  }
  return id;
}

/**
 * Keep-alive agents per CT log origin. node:http with a pooled connection costs a fraction of
 * fetch() per request, and a CA posts to its CT log on every certificate (bench/ca.ts, the
 * `ct.transport: http` row).
 */
const agents = new Map<string, HttpAgent | HttpsAgent>();
function agentFor(u: URL): HttpAgent | HttpsAgent {
  let a = agents.get(u.origin);
  if (!a) {
    a = u.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, maxSockets: 64 }) : new HttpAgent({ keepAlive: true, maxSockets: 64 });
    agents.set(u.origin, a);
  }
  return a;
}

const MAX_ANSWER = 16 * 1024;

/**
 * CT logs that let a submission run into its 10 s deadline: not asked again for HUNG_PAUSE_MS.
 * Without this a log that hangs holds every certificate request for the full deadline; with it
 * the requests meanwhile get 503 CA_CT_FAILED with Retry-After at once (as the CA does for an
 * issuer that failed, host/ca/oidc.ts). Only a timeout counts: a refused connection or an error
 * status is answered at once anyway, and a single reset must not stop issuance.
 */
const HUNG_PAUSE_MS = 5_000;
const hungUntil = new Map<string, number>();

async function postPrecert(log: CtLog, chain: string[]): Promise<unknown> {
  const url = new URL(`${log.url.replace(/\/$/, '')}/ct/v1/add-pre-chain`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CaError('CA_CT_FAILED', `the CT log URL must be http(s), not ${url.protocol}`);
  const until = hungUntil.get(url.origin);
  if (until !== undefined) {
    const left = until - Date.now();
    if (left > 0) throw new CaError('CA_CT_FAILED', 'the CT log did not answer within 10 s a moment ago; not asked again yet', { retryAfter: Math.ceil(left / 1000) });
    hungUntil.delete(url.origin);
  }
  const body = Buffer.from(JSON.stringify({ chain }));
  const { status, raw } = await new Promise<{ status: number; raw: Buffer }>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      agent: agentFor(url),
      headers: { 'content-type': 'application/json', 'content-length': body.length },
      timeout: 10_000,
    }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_ANSWER) {
          res.destroy();
          reject(new CaError('CA_CT_FAILED', 'the CT log answer is too large for an SCT'));
        } else parts.push(d);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, raw: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    // A stalled or trickling log must not hold the certificate request: 10 s for the whole answer.
    const hung = (): Error => {
      hungUntil.set(url.origin, Date.now() + HUNG_PAUSE_MS);
      return new Error('timed out after 10 s');
    };
    req.on('timeout', () => req.destroy(hung()));
    deadline(req, 10_000, hung);
    req.on('error', (cause) => reject(cause instanceof CaError ? cause : new CaError('CA_CT_FAILED', 'the CT log is unreachable', { cause })));
    req.end(body);
  });
  // Redirects are not followed: the log is pinned by URL as well as by key.
  if (status < 200 || status >= 300) throw new CaError('CA_CT_FAILED', `the CT log answered ${status}`);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (cause) {
    throw new CaError('CA_CT_FAILED', 'the CT log answer is not JSON', { cause });
  }
}

/**
 * Submits, checks and returns the SCT in its TLS encoding (SignedCertificateTimestamp, §3.2).
 * A log in this process (host/log/local-ct.ts) is called directly; any other over HTTP, and its
 * SCT signature is verified.
 * `tbsNoPoison` is the precertificate's TBSCertificate without the poison extension — the CA has
 * it already (the same template encoded without the CT extension), so it is passed in rather than
 * re-parsed from the precertificate.
 */
export async function submitPrecert(log: CtLog, chainDer: Uint8Array[], issuerSpki: Uint8Array, tbsNoPoison: Uint8Array): Promise<Uint8Array> {
  const chain = chainDer.map((c) => Buffer.from(c).toString('base64'));
  const local = log.transport === 'http' ? undefined : localCt(log.url);
  let parsed: unknown;
  if (local) {
    try {
      parsed = await local({ chain }, true);
    } catch (cause) {
      throw new CaError('CA_CT_FAILED', `the CT log refused the precertificate: ${(cause as Error).message}`, { cause });
    }
  } else {
    parsed = await postPrecert(log, chain);
  }
  const sct = (parsed ?? {}) as { sct_version?: unknown; id?: unknown; timestamp?: unknown; extensions?: unknown; signature?: unknown };
  // The timestamp is a uint64 of milliseconds (§3.2): a fraction, a negative or an unsafe number
  // cannot be encoded (and would be a RangeError, a 500, below).
  if (sct.sct_version !== 0 || typeof sct.id !== 'string' || !Number.isSafeInteger(sct.timestamp) || (sct.timestamp as number) < 0 || typeof sct.signature !== 'string' || typeof (sct.extensions ?? '') !== 'string') {
    throw new CaError('CA_CT_FAILED', 'the CT log returned a malformed SCT');
  }
  const logId = Buffer.from(sct.id, 'base64');
  const expectedId = logIdOf(log);
  if (!logId.equals(expectedId)) throw new CaError('CA_CT_FAILED', 'the SCT names another log');
  const ext = Buffer.from((sct.extensions as string | undefined) ?? '', 'base64');
  const ds = Buffer.from(sct.signature, 'base64');
  // DigitallySigned (RFC 5246 §4.7): hash sha256(4), signature ecdsa(3) or rsa(1) matching the pinned key.
  const sigAlg = log.publicKey.asymmetricKeyType === 'ec' ? 3 : log.publicKey.asymmetricKeyType === 'rsa' ? 1 : -1;
  if (ds.length < 4 || ds[0] !== 4 || ds[1] !== sigAlg || ds.readUInt16BE(2) !== ds.length - 4) throw new CaError('CA_CT_FAILED', 'SCT signature is not a SHA-256 DigitallySigned for the log key type');
  const tbs = tbsNoPoison;
  const issuerKeyHash = createHash('sha256').update(issuerSpki).digest(); // §3.2 issuer_key_hash
  const signed = Buffer.concat([Uint8Array.of(0, 0), u(sct.timestamp as number, 8), u(1, 2), issuerKeyHash, u(tbs.length, 3), Buffer.from(tbs.buffer, tbs.byteOffset, tbs.byteLength), u(ext.length, 2), ext]);
  // An SCT from another process is checked against the pinned key: that is what catches a
  // misbehaving or impersonated log. A log in this process signed it with the key whose hash the
  // LogID check above just matched, in this process's own code, so a second ECDSA verification
  // would only re-check our own signer. The tests verify every SCT either way
  // (test/ca/ct-openssl.test.ts).
  if (!local && !(await verifyAsync('sha256', signed, log.publicKey, ds.subarray(4)))) throw new CaError('CA_CT_FAILED', 'the SCT signature does not verify with the CT log key');
  // SignedCertificateTimestamp: version, LogID, timestamp, extensions<0..2^16-1>, digitally-signed.
  return new Uint8Array(Buffer.concat([Uint8Array.of(0), logId, u(sct.timestamp as number, 8), u(ext.length, 2), ext, ds]));
}
