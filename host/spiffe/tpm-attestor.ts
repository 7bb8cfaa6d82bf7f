/**
 * TPM 2.0 node attestation (server side). Protocol:
 *   1. the agent sends its attestation key's public area (TPM2B_PUBLIC as written by
 *      `tpm2_createak -u`, base64) and gets a fresh single-use nonce plus the PCRs to quote;
 *   2. it answers with `tpm2_quote -q <nonce> -l sha256:<pcrs>`: the TPMS_ATTEST, the TPMT_SIGNATURE
 *      and the PCR values.
 * The server then (a) consumes the nonce (a replayed quote finds it used), (b) checks in WASM the
 * magic, type, extraData == nonce, attested selection == requested and the recomputed PCR digest
 * (assembly/tpm.ts; the CVE-2024-29038/29039 checks), (c) checks that the quote's qualifiedSigner
 * is the Name of the presented AK, (d) verifies the AK's signature over the TPMS_ATTEST with
 * node:crypto, (e) derives selectors `tpm:ak:<sha256 of the AK's SPKI>` and
 * `tpm:pcr:sha256:<i>:<hex>` and (f) requires a node entry (parent = the server's ID) matching them.
 *
 * Credential activation (on by default): the challenge request also carries the EK's public area,
 * and the server answers with a TPM2_MakeCredential blob (host/spiffe/tpm-credential.ts) for a
 * random secret, bound to the AK's Name and encrypted to the EK. Only the TPM holding that EK can
 * run TPM2_ActivateCredential on it, and only for an object with that Name, so returning the secret
 * with the quote proves the AK is resident in the same TPM as the EK (and that its fixedTPM /
 * restricted attributes are real, since the TPM computed the Name). The agent's ID is then derived
 * from the EK (`spiffe://<td>/spire/agent/tpm/<sha256 of the EK SPKI>`, as SPIRE's TPM attestors
 * do) and `tpm:ek:<hash>` joins the selectors.
 *
 * Why (f): which EKs (or AKs) belong to this trust domain is the operator's decision: a node
 * entry naming `tpm:ek:<hash>` or `tpm:ak:<hash>`, recorded at enrolment, is the trust anchor,
 * and PCR selectors pin the boot state.
 *
 * EK certificates (TCG EK Credential Profile 2.0): with `ekCas` configured (the TPM manufacturers'
 * CA certificates), an agent may send the EK certificate its TPM holds in NV (and intermediates).
 * If it is for the activated EK and chains to one of those CAs, the selectors
 * `tpm:ek-ca:<sha256 of the anchor CA's SPKI>` and `tpm:manufacturer:`/`tpm:model:`/`tpm:version:`
 * (from the certificate's TCG subjectAltName, §3.2.9) are added, so one node entry can admit
 * every genuine TPM of a vendor (with PCRs for the boot state) instead of one hash per machine.
 * A certificate that does not chain, or names another key, is refused outright.
 */
import { createHash, createPublicKey, randomBytes, timingSafeEqual, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { children, decodeOid, readTlv } from '../tsa/der.js';
import { splitCertificate } from '../verify/x509-lite.js';
import type { QuoteChecker } from '../core/tpm-reference.js';
import { TpmQuoteError } from '../core/tpm-reference.js';
import { SpiffeError } from './errors.js';
import { makeCredential, parseEkPublic } from './tpm-credential.js';
import { selectorsMatch } from './selectors.js';
import type { SpiffeStore } from './store.js';

export const TPM_ALG_RSA = 0x0001;
export const TPM_ALG_SHA256 = 0x000b;
export const TPM_ALG_NULL = 0x0010;
export const TPM_ALG_RSASSA = 0x0014;
export const TPM_ALG_RSAPSS = 0x0016;
export const TPM_ALG_ECDSA = 0x0018;
export const TPM_ALG_ECC = 0x0023;
export const TPM_ECC_NIST_P256 = 0x0003;

// TPMA_OBJECT bits (Part 2 §8.3.2)
const FIXED_TPM = 1 << 1;
const FIXED_PARENT = 1 << 4;
const SENSITIVE_DATA_ORIGIN = 1 << 5;
const RESTRICTED = 1 << 16;
const DECRYPT = 1 << 17;
const SIGN = 1 << 18;

export interface AkPublic {
  /** The marshalled TPMT_PUBLIC (what the Name hashes). */
  tpmtPublic: Uint8Array;
  /** TPM2B_NAME contents: nameAlg (u16) || SHA-256(TPMT_PUBLIC). */
  name: Uint8Array;
  key: KeyObject;
  /** Hex SHA-256 of the key's SubjectPublicKeyInfo DER: the `tpm:ak:` selector value. */
  spkiSha256: string;
  type: 'ecc' | 'rsa';
}

const bad = (why: string, cause?: unknown): never => {
  throw new SpiffeError('SPIFFE_TPM_REJECTED', why, cause === undefined ? {} : { cause });
};

/** A tiny big-endian reader that throws SPIFFE_TPM_REJECTED on any overrun. */
class Reader {
  p = 0;
  constructor(readonly b: Buffer) {}
  u8(): number {
    if (this.p + 1 > this.b.length) bad('AK public area truncated');
    return this.b[this.p++]!;
  }
  u16(): number {
    if (this.p + 2 > this.b.length) bad('AK public area truncated');
    const v = this.b.readUInt16BE(this.p);
    this.p += 2;
    return v;
  }
  u32(): number {
    if (this.p + 4 > this.b.length) bad('AK public area truncated');
    const v = this.b.readUInt32BE(this.p);
    this.p += 4;
    return v;
  }
  bytes(n: number): Buffer {
    if (this.p + n > this.b.length) bad('AK public area truncated');
    const v = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return v;
  }
  tpm2b(): Buffer {
    return this.bytes(this.u16());
  }
}

/**
 * Parses a TPM2B_PUBLIC (or a bare TPMT_PUBLIC) of an attestation key (Part 2 §12.2.4–§12.2.5):
 * it must be a restricted, non-decrypting signing key that never left the TPM (fixedTPM,
 * fixedParent, sensitiveDataOrigin), nameAlg SHA-256, ECC P-256 with ECDSA-SHA256 or RSA with
 * RSASSA/RSAPSS-SHA256.
 */
export function parseAkPublic(input: Uint8Array): AkPublic {
  let buf = Buffer.from(input);
  if (buf.length < 10 || buf.length > 2048) bad('AK public area has an implausible size');
  // TPM2B_PUBLIC = u16 size || TPMT_PUBLIC; a TPMT_PUBLIC starts with its type (0x0001/0x0023).
  if (buf.readUInt16BE(0) === buf.length - 2) buf = buf.subarray(2);
  const r = new Reader(buf);
  const type = r.u16();
  const nameAlg = r.u16();
  const attrs = r.u32();
  r.tpm2b(); // authPolicy
  if (nameAlg !== TPM_ALG_SHA256) bad('AK nameAlg must be SHA-256');
  const need = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | RESTRICTED | SIGN;
  if ((attrs & need) !== need || (attrs & DECRYPT) !== 0) bad('AK must be a restricted signing key with fixedTPM, fixedParent and sensitiveDataOrigin');
  let jwk: Record<string, string>;
  let keyType: 'ecc' | 'rsa';
  if (type === TPM_ALG_ECC) {
    if (r.u16() !== TPM_ALG_NULL) bad('AK symmetric must be NULL'); // TPMT_SYM_DEF_OBJECT
    const scheme = r.u16();
    if (scheme !== TPM_ALG_ECDSA || r.u16() !== TPM_ALG_SHA256) bad('AK scheme must be ECDSA with SHA-256');
    if (r.u16() !== TPM_ECC_NIST_P256) bad('AK curve must be NIST P-256');
    if (r.u16() !== TPM_ALG_NULL) bad('AK kdf must be NULL');
    const x = r.tpm2b();
    const y = r.tpm2b();
    if (x.length !== 32 || y.length !== 32) bad('AK point must be 32-byte coordinates');
    jwk = { kty: 'EC', crv: 'P-256', x: x.toString('base64url'), y: y.toString('base64url') };
    keyType = 'ecc';
  } else if (type === TPM_ALG_RSA) {
    if (r.u16() !== TPM_ALG_NULL) bad('AK symmetric must be NULL');
    const scheme = r.u16();
    if ((scheme !== TPM_ALG_RSASSA && scheme !== TPM_ALG_RSAPSS) || r.u16() !== TPM_ALG_SHA256) bad('AK scheme must be RSASSA or RSAPSS with SHA-256');
    const bits = r.u16();
    if (bits < 2048 || bits > 4096) bad('AK RSA key size must be 2048..4096');
    const exponent = r.u32();
    const n = r.tpm2b();
    if (n.length * 8 !== bits) bad('AK modulus length does not match keyBits');
    const e = exponent === 0 ? 65537 : exponent;
    const eb = Buffer.alloc(4);
    eb.writeUInt32BE(e);
    jwk = { kty: 'RSA', n: n.toString('base64url'), e: eb.subarray(eb.findIndex((x) => x !== 0)).toString('base64url') };
    keyType = 'rsa';
  } else {
    return bad('AK type must be ECC or RSA');
  }
  if (r.p !== buf.length) bad('AK public area has trailing bytes');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk, format: 'jwk' });
  } catch (e) {
    return bad('AK public key is invalid', e);
  }
  const tpmtPublic = new Uint8Array(buf);
  const name = Buffer.concat([Buffer.from([0x00, 0x0b]), createHash('sha256').update(tpmtPublic).digest()]);
  const spki = key.export({ type: 'spki', format: 'der' });
  return { tpmtPublic, name: new Uint8Array(name), key, spkiSha256: createHash('sha256').update(spki).digest('hex'), type: keyType };
}

/** Verifies a marshalled TPMT_SIGNATURE (Part 2 §11.3.4) by `ak` over `message`. */
export function verifyTpmSignature(ak: AkPublic, message: Uint8Array, signature: Uint8Array): boolean {
  const r = new Reader(Buffer.from(signature));
  const sigAlg = r.u16();
  const hash = r.u16();
  if (hash !== TPM_ALG_SHA256) return false;
  let ok: boolean;
  if (sigAlg === TPM_ALG_ECDSA && ak.type === 'ecc') {
    const rr = r.tpm2b();
    const ss = r.tpm2b();
    if (rr.length > 32 || ss.length > 32) return false;
    const p1363 = Buffer.concat([Buffer.alloc(32 - rr.length), rr, Buffer.alloc(32 - ss.length), ss]);
    ok = cryptoVerify('sha256', message, { key: ak.key, dsaEncoding: 'ieee-p1363' }, p1363);
  } else if ((sigAlg === TPM_ALG_RSASSA || sigAlg === TPM_ALG_RSAPSS) && ak.type === 'rsa') {
    const sig = r.tpm2b();
    ok = sigAlg === TPM_ALG_RSASSA
      ? cryptoVerify('sha256', message, ak.key, sig)
      : cryptoVerify('sha256', message, { key: ak.key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: -2 /* auto */ }, sig);
  } else {
    return false;
  }
  return ok && r.p === signature.length;
}

export interface TpmAttestorOptions {
  trustDomain: string;
  store: SpiffeStore;
  checker: QuoteChecker;
  /** PCRs quoted when the agent does not ask for others (default 0, 1, 7: firmware + Secure Boot). */
  defaultPcrs?: number[];
  /** The challenge must carry the EK and the quote the activated credential (default true). */
  requireCredentialActivation?: boolean;
  /** Node entries are required to match (default true; see the file comment). */
  requireMatchingEntry?: boolean;
  nonceTtlMs?: number;
  /** TPM manufacturer CA certificates that EK certificates must chain to (roots or intermediates). */
  ekCas?: X509Certificate[];
  now?: () => Date;
}

/** TCG OIDs (TCG EK Credential Profile 2.0 §3.2.9; TCG "OID" registry 2.23.133.2.x). */
const TCG_ATTRS: Record<string, string> = { '2.23.133.2.1': 'manufacturer', '2.23.133.2.2': 'model', '2.23.133.2.3': 'version' };

/**
 * The TPM manufacturer, model and version from an EK certificate's subjectAltName directoryName
 * (a Name whose attributes are TCG OIDs; one multi-valued RDN or one per attribute, both seen).
 */
export function tpmIdentityOf(cert: X509Certificate): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    // Inside the try: OpenSSL accepted this certificate and its manufacturer's signature, but
    // EK certificates in the field are not always strict DER (BER lengths, odd extensions); a
    // certificate our strict reader refuses gives no TCG selectors rather than a failed attestation.
    const ext = splitCertificate(cert.raw).extensions.get('2.5.29.17')?.value;
    if (!ext) return out;
    for (const gn of children(ext, readTlv(ext, 0))) {
      if (gn.tag !== 0xa4) continue; // directoryName [4] EXPLICIT Name
      const name = readTlv(ext, gn.valueStart, gn.end);
      for (const rdn of children(ext, name)) {
        for (const atv of children(ext, rdn)) {
          const [type, value] = children(ext, atv);
          if (!type || !value || type.tag !== 0x06) continue;
          const label = TCG_ATTRS[decodeOid(ext.subarray(type.valueStart, type.end))];
          if (label) out[label] = Buffer.from(ext.subarray(value.valueStart, value.end)).toString('utf8');
        }
      }
    }
  } catch {
    return {}; // an unreadable SAN yields no TCG selectors; the chain check still stands
  }
  return out;
}

const within = (c: X509Certificate, t: Date): boolean => t >= new Date(c.validFrom) && t <= new Date(c.validTo);

/**
 * The CA `ekCert` chains to through `intermediates` (each link signed, each issuer a CA valid
 * now), or why not. RFC 5280 path validation in the small: at most 4 intermediates.
 */
export function ekCertificateAnchor(ekCert: X509Certificate, intermediates: X509Certificate[], anchors: X509Certificate[], now: Date): X509Certificate {
  if (!within(ekCert, now)) bad('the EK certificate is not valid now');
  let cur = ekCert;
  for (let depth = 0; depth <= 4; depth++) {
    const anchor = anchors.find((a) => cur.checkIssued(a) && cur.verify(a.publicKey));
    if (anchor) {
      if (!within(anchor, now)) bad('the TPM manufacturer CA certificate is not valid now');
      return anchor;
    }
    const next = intermediates.find((i) => i !== cur && i.ca && cur.checkIssued(i) && cur.verify(i.publicKey));
    if (!next || !within(next, now)) break;
    cur = next;
  }
  return bad('the EK certificate does not chain to a configured TPM manufacturer CA');
}

/** Name of any TPM object from its TPM2B_PUBLIC / TPMT_PUBLIC (Part 1 §16: nameAlg || H(TPMT_PUBLIC)). */
export function objectName(pub: Uint8Array): Buffer {
  let buf = Buffer.from(pub);
  if (buf.length < 4 || buf.length > 2048) bad('public area has an implausible size');
  if (buf.readUInt16BE(0) === buf.length - 2) buf = buf.subarray(2);
  // Checked again without the TPM2B size: a TPMT_PUBLIC starts with type and nameAlg (Part 2 §12.2.4).
  if (buf.length < 4) bad('public area has an implausible size');
  if (buf.readUInt16BE(2) !== TPM_ALG_SHA256) bad('nameAlg must be SHA-256');
  return Buffer.concat([Buffer.from([0x00, 0x0b]), createHash('sha256').update(buf).digest()]);
}

/** TPM_RH_ENDORSEMENT: the endorsement hierarchy's handle, its own qualified name (Part 1 §16). */
const TPM_RH_ENDORSEMENT = Buffer.from([0x40, 0x00, 0x00, 0x0b]);

/**
 * Qualified Name of an AK created under the EK (Part 1 §16: QN(obj) = nameAlg || H(QN(parent) ||
 * Name(obj)); a hierarchy's QN is its handle). TPMS_ATTEST.qualifiedSigner carries this value.
 */
export function akQualifiedName(ekPublic: Uint8Array, ak: AkPublic): Buffer {
  const h = (...parts: Buffer[]) => Buffer.concat([Buffer.from([0x00, 0x0b]), createHash('sha256').update(Buffer.concat(parts)).digest()]);
  const ekQn = h(TPM_RH_ENDORSEMENT, objectName(ekPublic));
  return h(ekQn, Buffer.from(ak.name));
}

export interface TpmEvidence {
  /** The EK's public area: when given, the quote's qualifiedSigner must be the AK's QN under it. */
  ekPublic?: string;
  akPublic: string;
  nonce: Uint8Array;
  /** The secret TPM2_ActivateCredential recovered from the challenge's credential blob. */
  credential?: Uint8Array;
  attest: Uint8Array;
  signature: Uint8Array;
  pcrValues: Uint8Array[];
  /** DER EK certificate (from the TPM's NV index 0x01c00002 / 0x01c0000a, or the vendor). */
  ekCertificate?: Uint8Array;
  /** DER intermediate CA certificates between it and the manufacturer CA. */
  ekChain?: Uint8Array[];
}

export class TpmAttestor {
  constructor(private readonly opts: TpmAttestorOptions) {}

  get serverId(): string {
    return `spiffe://${this.opts.trustDomain}/spire/server`;
  }

  challenge(akPublicB64: string, pcrs?: number[], ekPublicB64?: string): { nonce: Uint8Array; pcrs: number[]; expiresAt: number; credentialBlob?: Buffer } {
    const ak = parseAkPublic(Buffer.from(akPublicB64, 'base64'));
    const sel = [...new Set(pcrs ?? this.opts.defaultPcrs ?? [0, 1, 7])].sort((a, b) => a - b);
    const ttl = this.opts.nonceTtlMs ?? 60_000;
    if (ekPublicB64 === undefined) {
      if (this.opts.requireCredentialActivation ?? true) bad('credential activation is required: send the EK public area (ekPublic)');
      return this.opts.store.createTpmChallenge(ak.spkiSha256, sel, ttl);
    }
    const ek = parseEkPublic(Buffer.from(ekPublicB64, 'base64'));
    const credential = randomBytes(32);
    const credentialBlob = makeCredential(ek, ak.name, credential);
    const ch = this.opts.store.createTpmChallenge(ak.spkiSha256, sel, ttl, { ekHash: ek.spkiSha256, credentialHash: createHash('sha256').update(credential).digest('hex') });
    credential.fill(0);
    return { nonce: ch.nonce, pcrs: ch.pcrs, expiresAt: ch.expiresAt, credentialBlob };
  }

  async verify(ev: TpmEvidence): Promise<{ spiffeId: string; selectors: string[] }> {
    const ak = parseAkPublic(Buffer.from(ev.akPublic, 'base64'));
    // Single use first: whatever happens next, this nonce can never be answered again.
    const ch = this.opts.store.consumeTpmChallenge(ev.nonce);
    if (ch.akHash !== ak.spkiSha256) bad('the nonce was issued for another AK');
    let ekHash: string | undefined;
    if (ch.credentialHash !== undefined) {
      // Part 1 §24: only the TPM holding the EK could recover this, and only for the AK's Name.
      if (ev.ekPublic === undefined || parseEkPublic(Buffer.from(ev.ekPublic, 'base64')).spkiSha256 !== ch.ekHash) bad('the challenge was issued for another EK');
      const got = createHash('sha256').update(ev.credential ?? new Uint8Array()).digest();
      if (ev.credential === undefined || !timingSafeEqual(got, Buffer.from(ch.credentialHash, 'hex'))) bad('the activated credential does not match: the AK is not resident in the TPM holding the EK');
      ekHash = ch.ekHash;
    } else if (this.opts.requireCredentialActivation ?? true) {
      bad('credential activation is required');
    }
    let info;
    try {
      info = this.opts.checker.checkQuote({ attest: ev.attest, nonce: ev.nonce, pcrs: ch.pcrs, pcrValues: ev.pcrValues });
    } catch (e) {
      if (e instanceof TpmQuoteError) bad(`quote rejected: ${e.code}`, e);
      throw e;
    }
    // The signature below is what binds the quote to the AK; with the EK's public area we also
    // check the signer's hierarchy position (AK directly under this EK).
    if (ev.ekPublic !== undefined && !akQualifiedName(Buffer.from(ev.ekPublic, 'base64'), ak).equals(Buffer.from(info.qualifiedSigner))) {
      bad('the quote was not signed by the presented AK under the presented EK');
    }
    if (!verifyTpmSignature(ak, ev.attest, ev.signature)) bad('AK signature does not verify');
    const ekSelectors: string[] = [];
    if (ev.ekCertificate !== undefined && this.opts.ekCas?.length) {
      // Only an activated EK has a hash to compare with: the certificate must be for that key.
      if (ekHash === undefined) bad('an EK certificate needs credential activation (send ekPublic)');
      let cert: X509Certificate;
      let chain: X509Certificate[];
      try {
        cert = new X509Certificate(ev.ekCertificate);
        chain = (ev.ekChain ?? []).map((d) => new X509Certificate(d));
        // X509Certificate decodes the key only when it is first read (the hash below): a
        // certificate that parses but whose key does not decode is refused here. (A chain
        // certificate's key is read only after checkIssued, which fails without a usable key.)
        void cert.publicKey;
      } catch (e) {
        return bad('the EK certificate (or its chain) is not a DER X.509 certificate (or its key does not decode)', e);
      }
      if (createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('hex') !== ekHash) bad('the EK certificate is for another key than the activated EK');
      const anchor = ekCertificateAnchor(cert, chain, this.opts.ekCas, this.opts.now?.() ?? new Date());
      ekSelectors.push(`tpm:ek-ca:${createHash('sha256').update(anchor.publicKey.export({ type: 'spki', format: 'der' })).digest('hex')}`);
      for (const [k, v] of Object.entries(tpmIdentityOf(cert))) if (/^[\x21-\x7e]{1,64}$/.test(v)) ekSelectors.push(`tpm:${k}:${v}`);
    }
    const selectors = [
      ...(ekHash !== undefined ? [`tpm:ek:${ekHash}`] : []),
      ...ekSelectors,
      `tpm:ak:${ak.spkiSha256}`,
      ...ch.pcrs.map((i, k) => `tpm:pcr:sha256:${i}:${Buffer.from(ev.pcrValues[k]!).toString('hex')}`),
    ];
    if (this.opts.requireMatchingEntry ?? true) {
      const have = new Set(selectors);
      const nodeEntries = this.opts.store.listEntries({ parentId: this.serverId });
      // The selectors go back to the agent, which sent and proved them: they are what an operator
      // enrols (README: the EK hash "printed by a first attest-tpm run").
      if (!nodeEntries.some((e) => selectorsMatch(e.selectors, have))) bad(`no node entry matches this TPM; its selectors: ${selectors.join(' ')}`);
    }
    return { spiffeId: `spiffe://${this.opts.trustDomain}/spire/agent/tpm/${ekHash ?? ak.spkiSha256}`, selectors };
  }
}
