/**
 * RFC 6962 certificate-transparency structures (pure): chain checks for add-chain and
 * add-pre-chain, the MerkleTreeLeaf (§3.4), and the signed structures of SCTs (§3.2) and tree
 * heads (§3.5). The CT personality is a separate TransparencyLog instance with its own ECDSA key;
 * its leaves are MerkleTreeLeaf bytes and the submitted chain is kept for get-entries' extra_data,
 * each issuer certificate once (packExtra).
 */
import { createHash, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { BoundedCache } from '../bounded-cache.js';
import { signAsync, verifyAsync } from '../keys/async-crypto.js';
import { checkDer, children, readTlv } from '../tsa/der.js';
import { oid, tlv } from '../tsa/encode.js';
import { LogError } from './errors.js';

/** id-ce-ctPrecertificatePoison (RFC 6962 §3.1). */
export const OID_CT_POISON = '1.3.6.1.4.1.11129.2.4.3';

export type CtEntryType = 0 | 1; // x509_entry, precert_entry

export interface ParsedChain {
  entryType: CtEntryType;
  /** DER of every submitted certificate, leaf first. */
  chain: Buffer[];
  /** x509_entry: the leaf DER; precert_entry: the TBSCertificate with the poison removed. */
  signedEntry: Buffer;
  /** precert_entry: SHA-256 of the issuer's SubjectPublicKeyInfo. */
  issuerKeyHash?: Buffer;
}

function u(n: number | bigint, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  if (bytes === 8) b.writeBigUInt64BE(BigInt(n));
  else b.writeUIntBE(Number(n), 0, bytes);
  return b;
}

/**
 * The TBSCertificate of `certDer` without extension `oid`, cut out of the DER directly (no
 * re-encoding of anything else, so the bytes are exactly what the issuer signed minus that
 * extension). Returns undefined when the extension is absent. X.509 (RFC 5280 §4.1):
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue };
 * extensions are the [3] EXPLICIT SEQUENCE OF Extension at the end of the TBS.
 */
export function tbsWithoutExtension(certDer: Uint8Array, oid: string): { tbs: Buffer; critical: boolean } | undefined {
  const want = oidBytes(oid);
  const cert = readTlv(certDer, 0);
  const tbs = children(certDer, cert)[0];
  if (!tbs || tbs.tag !== 0x30) throw new LogError('CT_BAD_CHAIN', 'certificate has no TBSCertificate');
  const fields = children(certDer, tbs);
  const parts: Uint8Array[] = [];
  let found: { critical: boolean } | undefined;
  for (const f of fields) {
    if (f.tag !== 0xa3) {
      parts.push(certDer.subarray(f.start, f.end));
      continue;
    }
    const extsSeq = children(certDer, f)[0];
    if (!extsSeq) throw new LogError('CT_BAD_CHAIN', 'empty extensions field');
    const kept: Uint8Array[] = [];
    for (const e of children(certDer, extsSeq)) {
      const ex = children(certDer, e);
      const id = ex[0];
      if (id && id.tag === 0x06 && Buffer.from(certDer.subarray(id.valueStart, id.end)).equals(want)) {
        // critical BOOLEAN DEFAULT FALSE: present (and TRUE) only when critical.
        const crit = ex.length === 3 && ex[1]!.tag === 0x01 && certDer[ex[1]!.valueStart] !== 0;
        found = { critical: crit };
        continue;
      }
      kept.push(certDer.subarray(e.start, e.end));
    }
    if (kept.length > 0) parts.push(tlv(0xa3, tlv(0x30, ...kept)));
  }
  if (!found) return undefined;
  return { tbs: Buffer.from(tlv(0x30, ...parts)), critical: found.critical };
}

function oidBytes(dotted: string): Buffer {
  const full = oid(dotted);
  return Buffer.from(full.subarray(2)); // drop tag and (short) length
}

/** The TBSCertificate of a precertificate with the poison extension removed (RFC 6962 §3.2). */
export function tbsWithoutPoison(precertDer: Uint8Array): Buffer {
  let r: ReturnType<typeof tbsWithoutExtension>;
  try {
    r = tbsWithoutExtension(precertDer, OID_CT_POISON);
  } catch (cause) {
    if (cause instanceof LogError) throw cause;
    throw new LogError('CT_BAD_CHAIN', 'the precertificate is not DER', { cause });
  }
  if (!r || !r.critical) throw new LogError('CT_BAD_CHAIN', 'the first certificate is not a precertificate (no critical poison extension)');
  return r.tbs;
}

/**
 * Checks that each certificate is signed by the next and, when `roots` are configured, that the
 * chain ends at one of them (RFC 6962 §4.1: "the log MUST verify that the submitted chain leads
 * to an accepted root"). Without configured roots the log is open (a private stack's own CA).
 */
export async function parseChain(input: unknown, precert: boolean, roots: X509Certificate[]): Promise<ParsedChain> {
  const chainIn = (input as { chain?: unknown } | null)?.chain;
  if (!Array.isArray(chainIn) || chainIn.length < 1 || chainIn.length > 10) throw new LogError('CT_BAD_CHAIN', 'chain must list 1..10 base64 DER certificates');
  chainIn.forEach((c, i) => {
    if (typeof c !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(c) || c.length > 65536) throw new LogError('CT_BAD_CHAIN', `chain[${i}] is not base64`);
  });
  const b64s = chainIn as string[];
  const chain = b64s.map((c) => Buffer.from(c, 'base64'));
  // The leaf is new on every request; the certificates above it (the CA's chain) repeat, so they
  // are parsed once and every link between two of them is verified once (both caches are keyed by
  // the exact DER, so a different byte is a different certificate).
  const issuers = b64s.slice(1).map((c, i) => issuerCertificate(c, chain[i + 1]!, i + 1));
  // A chain in the RFC 5280 §6.1 sense (RFC 6962 §4.1 "a valid chain"): every certificate above
  // the leaf is a CA, each names the next as its issuer, and each is signed by the next. Without
  // the CA check, any leaf under an accepted root (an SVID, say) could sign "precertificates".
  issuers.forEach((c, i) => {
    if (!c.ca) throw new LogError('CT_BAD_CHAIN', `chain[${i + 1}] is not a CA certificate (basicConstraints cA)`);
  });
  if (issuers.length > 0) await checkLeafSignature(chain[0]!, issuers[0]!, subjectDer(b64s[1]!, chain[1]!));
  else cachedCertificate(b64s[0]!, chain[0]!, 0); // a lone certificate must still parse
  for (let i = 0; i + 1 < issuers.length; i++) {
    if (!verifiedLink(b64s[i + 1]!, b64s[i + 2]!, () => issuers[i]!.checkIssued(issuers[i + 1]!) && issuers[i]!.verify(issuers[i + 1]!.publicKey))) {
      throw new LogError('CT_BAD_CHAIN', `chain[${i + 1}] is not issued and signed by chain[${i + 2}]`);
    }
  }
  if (roots.length > 0) {
    const lastB64 = b64s[b64s.length - 1]!;
    const last = issuers.length > 0 ? issuers[issuers.length - 1]! : cachedCertificate(lastB64, chain[0]!, 0);
    const anchored = roots.some((r) => r.raw.equals(last.raw) || verifiedLink(lastB64, r.raw.toString('base64'), () => last.checkIssued(r) && last.verify(r.publicKey)));
    if (!anchored) throw new LogError('CT_BAD_CHAIN', 'the chain does not lead to an accepted root');
  }
  if (!precert) {
    if (chain[0]!.length > 0xffffff) throw new LogError('CT_BAD_CHAIN', 'certificate too large');
    if (tryHasPoison(chain[0]!)) throw new LogError('CT_BAD_CHAIN', 'add-chain takes final certificates; use add-pre-chain for precertificates');
    return { entryType: 0, chain, signedEntry: chain[0]! };
  }
  if (chain.length < 2) throw new LogError('CT_BAD_CHAIN', 'a precertificate chain needs its issuer');
  // RFC 6962 §3.1: a precertificate may be signed by a Precertificate Signing Certificate (EKU
  // 1.3.6.1.4.1.11129.2.4.4) that the final issuer certified for the purpose. The SCT then covers
  // the TBS as the final certificate will have it (§3.2): issuer changed to the final issuer, the
  // Authority Key Identifier (if any) changed to the PSC's, which names the final issuer's key,
  // and issuer_key_hash over the final issuer's key.
  if (issuers[0]!.keyUsage?.includes(OID_PRECERT_SIGNING)) {
    if (issuers.length < 2) throw new LogError('CT_BAD_CHAIN', 'a precertificate signed by a Precertificate Signing Certificate needs the final issuer after it in the chain (RFC 6962 §3.1)');
    return { entryType: 1, chain, signedEntry: tbsForFinalIssuer(tbsWithoutPoison(chain[0]!), chain[1]!), issuerKeyHash: issuerKeyHash(b64s[2]!, issuers[1]!) };
  }
  return { entryType: 1, chain, signedEntry: tbsWithoutPoison(chain[0]!), issuerKeyHash: issuerKeyHash(b64s[1]!, issuers[0]!) };
}

/** id-ce-authorityKeyIdentifier (RFC 5280 §4.2.1.1). */
const OID_AKI = '2.5.29.35';

/**
 * RFC 6962 §3.2 for a precertificate issued by a Precertificate Signing Certificate: its TBS (poison
 * already removed) with the issuer Name replaced by the PSC's issuer, and its Authority Key
 * Identifier extension replaced by the PSC's own (which identifies the final issuer's key). A
 * precertificate with an AKI needs a PSC with one ("the corresponding extension must also be
 * present in the Precertificate Signing Certificate"). Everything else is kept byte for byte.
 */
function tbsForFinalIssuer(tbs: Buffer, pscDer: Buffer): Buffer {
  try {
    const pscTbs = children(pscDer, readTlv(pscDer, 0))[0]!;
    const pscFields = children(pscDer, pscTbs);
    // TBSCertificate (RFC 5280 §4.1): [0] version?, serialNumber, signature, issuer, ...
    const pscIssuer = pscFields[pscFields[0]!.tag === 0xa0 ? 3 : 2]!;
    const aki = oidBytes(OID_AKI);
    const extensionIn = (der: Buffer, fields: ReturnType<typeof children>, id: Buffer) => {
      const exts = fields.find((f) => f.tag === 0xa3);
      if (!exts) return undefined;
      return children(der, children(der, exts)[0]!).find((e) => {
        const x = children(der, e)[0];
        return x?.tag === 0x06 && Buffer.from(der.subarray(x.valueStart, x.end)).equals(id);
      });
    };
    const pscAki = extensionIn(pscDer, pscFields, aki);
    const fields = children(tbs, readTlv(tbs, 0));
    const issuerAt = fields[0]!.tag === 0xa0 ? 3 : 2;
    const parts: Uint8Array[] = [];
    fields.forEach((f, i) => {
      if (i === issuerAt) {
        if (f.tag !== 0x30 || pscIssuer.tag !== 0x30) throw new LogError('CT_BAD_CHAIN', 'malformed issuer name');
        parts.push(pscDer.subarray(pscIssuer.start, pscIssuer.end));
      } else if (f.tag === 0xa3) {
        const exts = children(tbs, children(tbs, f)[0]!).map((e) => {
          const parts = children(tbs, e);
          const x = parts[0];
          if (x?.tag !== 0x06 || !Buffer.from(tbs.subarray(x.valueStart, x.end)).equals(aki)) return tbs.subarray(e.start, e.end);
          if (!pscAki) throw new LogError('CT_BAD_CHAIN', 'the precertificate has an Authority Key Identifier but its Precertificate Signing Certificate has none (RFC 6962 §3.2)');
          // Only the value changes (to the PSC's, which names the final issuer's key): the
          // precertificate's extnID and critical flag stay, as in the final certificate.
          const pscParts = children(pscDer, pscAki);
          const value = pscParts[pscParts.length - 1]!;
          return tlv(0x30, ...parts.slice(0, -1).map((p) => tbs.subarray(p.start, p.end)), pscDer.subarray(value.start, value.end));
        });
        parts.push(tlv(0xa3, tlv(0x30, ...exts)));
      } else parts.push(tbs.subarray(f.start, f.end));
    });
    return Buffer.from(tlv(0x30, ...parts));
  } catch (cause) {
    if (cause instanceof LogError) throw cause;
    throw new LogError('CT_BAD_CHAIN', 'the Precertificate Signing Certificate or precertificate is not DER', { cause });
  }
}

/** RFC 6962 §3.1: the extended key usage of a Precertificate Signing Certificate. */
const OID_PRECERT_SIGNING = '1.3.6.1.4.1.11129.2.4.4';

const certCache = new BoundedCache<X509Certificate>(256);
const linkCache = new BoundedCache<true>(1024);
const keyHashCache = new BoundedCache<Buffer>(256);

const subjectCache = new BoundedCache<Buffer>(256);

/** The encoded subject Name of a certificate (RFC 5280 §4.1: [0] version?, serial, signature, issuer, validity, subject). */
function subjectDer(b64: string, der: Buffer): Buffer {
  const hit = subjectCache.get(b64);
  if (hit) return hit;
  // The strict DER reader, on a certificate OpenSSL accepted: an issuer it cannot read (BER
  // lengths, say) makes the chain invalid here (RFC 6962 §4.1), not a TSA_MALFORMED answer.
  try {
    const fields = children(der, children(der, readTlv(der, 0))[0]!);
    const f = fields[fields[0]!.tag === 0xa0 ? 5 : 4]!;
    return subjectCache.set(b64, Buffer.from(der.subarray(f.start, f.end)));
  } catch (cause) {
    throw new LogError('CT_BAD_CHAIN', "chain[1] is not strict DER (its subject cannot be read)", { cause });
  }
}

function cachedCertificate(b64: string, der: Buffer, i: number): X509Certificate {
  const hit = certCache.get(b64);
  if (hit) return hit;
  try {
    return certCache.set(b64, new X509Certificate(der));
  } catch (cause) {
    throw new LogError('CT_BAD_CHAIN', `chain[${i}] is not a DER certificate`, { cause });
  }
}

/**
 * A certificate above the leaf, whose key the chain checks use. X509Certificate decodes the key
 * only when it is first read, so a certificate OpenSSL parses can still carry a key it cannot
 * decode (an EC point with a bad format octet, say): that chain is not valid (RFC 6962 §4.1), so it
 * is CT_BAD_CHAIN here rather than a throw from the first `.publicKey` below. The key stays cached
 * on the (cached) certificate.
 */
function issuerCertificate(b64: string, der: Buffer, i: number): X509Certificate {
  const c = cachedCertificate(b64, der, i);
  try {
    void c.publicKey;
  } catch (cause) {
    throw new LogError('CT_BAD_CHAIN', `chain[${i}]'s public key cannot be decoded`, { cause });
  }
  return c;
}

/** Caches only successes: a failed link is re-checked (and refused) every time. */
function verifiedLink(child: string, parent: string, check: () => boolean): boolean {
  const k = `${child}|${parent}`;
  if (linkCache.get(k)) return true;
  if (!check()) return false;
  linkCache.set(k, true);
  return true;
}

function issuerKeyHash(b64: string, issuer: X509Certificate): Buffer {
  return keyHashCache.get(b64) ?? keyHashCache.set(b64, createHash('sha256').update(issuer.publicKey.export({ format: 'der', type: 'spki' })).digest());
}

/** Certificate signature algorithms (RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §3) → node:crypto digest. */
const SIG_ALGS: Record<string, { digest: string | null; key: string }> = {
  '06082a8648ce3d040302': { digest: 'sha256', key: 'ec' }, // ecdsa-with-SHA256
  '06082a8648ce3d040303': { digest: 'sha384', key: 'ec' }, // ecdsa-with-SHA384
  '06082a8648ce3d040304': { digest: 'sha512', key: 'ec' }, // ecdsa-with-SHA512
  '06092a864886f70d01010b0500': { digest: 'sha256', key: 'rsa' }, // sha256WithRSAEncryption, NULL params
  '06092a864886f70d01010c0500': { digest: 'sha384', key: 'rsa' },
  '06092a864886f70d01010d0500': { digest: 'sha512', key: 'rsa' },
  '06032b6570': { digest: null, key: 'ed25519' }, // id-Ed25519
};

/**
 * The leaf (pre)certificate's signature by its issuer, checked on the DER directly: Certificate ::=
 * SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } (RFC 5280 §4.1), the
 * TBS's own signature field must equal signatureAlgorithm (§4.1.2.3), and the bytes signed are
 * exactly the TBS TLV. Parsing the whole certificate with OpenSSL for every submission cost more
 * than the signature check; an algorithm not listed here still goes through X509Certificate.
 */
async function checkLeafSignature(der: Buffer, issuer: X509Certificate, issuerSubject: Buffer): Promise<void> {
  let tbs: Buffer;
  let algHex: string;
  let sig: Buffer;
  let issuerName: Buffer;
  try {
    const top = checkDer(der);
    const [tbsT, algT, sigT, ...rest] = children(der, top);
    if (!tbsT || tbsT.tag !== 0x30 || !algT || algT.tag !== 0x30 || !sigT || sigT.tag !== 0x03 || rest.length > 0) throw new Error('not a Certificate SEQUENCE');
    const fields = children(der, tbsT);
    const inner = fields[0]?.tag === 0xa0 ? fields[2] : fields[1];
    if (!inner || !der.subarray(inner.start, inner.end).equals(der.subarray(algT.start, algT.end))) throw new Error('signature algorithm mismatch');
    if (der[sigT.valueStart] !== 0) throw new Error('signature BIT STRING has unused bits');
    const name = fields[fields[0]?.tag === 0xa0 ? 3 : 2];
    if (!name || name.tag !== 0x30) throw new Error('no issuer name');
    issuerName = der.subarray(name.start, name.end);
    tbs = der.subarray(tbsT.start, tbsT.end);
    algHex = der.subarray(algT.valueStart, algT.end).toString('hex');
    sig = der.subarray(sigT.valueStart + 1, sigT.end);
  } catch (cause) {
    throw new LogError('CT_BAD_CHAIN', 'chain[0] is not a DER certificate', { cause });
  }
  // RFC 5280 §6.1.3 (a)(4): the issuer name is the issuing certificate's subject. Compared as
  // encoded, as issuers and their certificates are produced by one CA.
  if (!issuerName.equals(issuerSubject)) throw new LogError('CT_BAD_CHAIN', "chain[0]'s issuer is not chain[1]'s subject");
  const alg = SIG_ALGS[algHex];
  let ok: boolean;
  if (alg && issuer.publicKey.asymmetricKeyType === alg.key) {
    ok = await verifyAsync(alg.digest, tbs, issuer.publicKey, sig);
  } else {
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(der);
    } catch (cause) {
      throw new LogError('CT_BAD_CHAIN', 'chain[0] is not a DER certificate', { cause });
    }
    ok = leaf.verify(issuer.publicKey);
  }
  if (!ok) throw new LogError('CT_BAD_CHAIN', 'chain[0] is not signed by chain[1]');
}

function tryHasPoison(der: Buffer): boolean {
  try {
    return tbsWithoutExtension(der, OID_CT_POISON) !== undefined;
  } catch {
    return false;
  }
}

/** The signed_entry part shared by the SCT input and the MerkleTreeLeaf (§3.2, §3.4). */
function entryBytes(p: ParsedChain): Buffer {
  if (p.entryType === 0) return Buffer.concat([u(0, 2), u(p.signedEntry.length, 3), p.signedEntry]);
  return Buffer.concat([u(1, 2), p.issuerKeyHash!, u(p.signedEntry.length, 3), p.signedEntry]);
}

export function merkleTreeLeaf(p: ParsedChain, timestamp: number): Buffer {
  // MerkleTreeLeaf: version v1(0), leaf_type timestamped_entry(0), TimestampedEntry, extensions<0..2^16-1> (empty).
  return Buffer.concat([Uint8Array.of(0, 0), u(timestamp, 8), entryBytes(p), u(0, 2)]);
}

/** extra_data for get-entries: PrecertChainEntry or the X509ChainEntry (§4.6). */
export function extraData(p: ParsedChain): Buffer {
  return chainEntry(p.entryType === 1 ? p.chain[0] : undefined, p.chain.slice(1));
}

/** X509ChainEntry (certificate_chain), or PrecertChainEntry when `precert` is given (§4.6). */
function chainEntry(precert: Buffer | undefined, chain: Buffer[]): Buffer {
  const body = Buffer.concat(chain.map((c) => Buffer.concat([u(c.length, 3), c])));
  const list = Buffer.concat([u(body.length, 3), body]);
  return precert ? Buffer.concat([u(precert.length, 3), precert, list]) : list;
}

/**
 * extra_data as stored: the certificates above the leaf repeat on nearly every entry (one CA
 * chain signs everything), so, as static-ct-api does with its issuers, each is kept once in the
 * store's content-addressed blobs and an entry keeps only their SHA-256s:
 *
 *   "CTX1" | entry_type (1) | [precert_entry: uint24 length | pre_certificate DER] | count (1) | count × SHA-256
 *
 * Entries stored before this form hold the RFC 6962 §4.6 extra_data itself, which starts with a
 * uint24 length: read as one, "CTX" would announce 4.4 MB, far over any body this log accepts, so
 * the two forms cannot be confused (unpackExtra also checks the length).
 */
const PACKED_MAGIC = Buffer.from('CTX1', 'latin1');

export function packExtra(p: ParsedChain): { packed: Buffer; blobs: { key: Buffer; value: Buffer }[] } {
  const blobs = p.chain.slice(1).map((der) => ({ key: createHash('sha256').update(der).digest(), value: der }));
  const head = p.entryType === 0 ? [PACKED_MAGIC, Uint8Array.of(0)] : [PACKED_MAGIC, Uint8Array.of(1), u(p.chain[0]!.length, 3), p.chain[0]!];
  return { packed: Buffer.concat([...head, Uint8Array.of(blobs.length), ...blobs.map((b) => b.key)]), blobs };
}

/** extra_data (RFC 6962 §4.6) from what the store holds: the packed form or, for older entries, extra_data itself. */
export function unpackExtra(stored: Uint8Array, blob: (key: Uint8Array) => Uint8Array | undefined): Buffer {
  const v = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (v.length < 6 || !v.subarray(0, 4).equals(PACKED_MAGIC) || v.length >= 0x435458) return v;
  const corrupt = (why: string): never => {
    throw new LogError('LOG_INCONSISTENT', `stored CT entry is corrupt: ${why}`, { status: 500 });
  };
  let at = 5;
  let precert: Buffer | undefined;
  if (v[4] === 1) {
    const len = v.readUIntBE(at, 3);
    precert = v.subarray(at + 3, at + 3 + len);
    at += 3 + len;
  } else if (v[4] !== 0) corrupt('unknown entry type');
  const n = v[at++]!;
  if (at + 32 * n !== v.length) corrupt('bad issuer list');
  const certs = Array.from({ length: n }, (_, i) => {
    const der = blob(v.subarray(at + 32 * i, at + 32 * (i + 1)));
    return der ? Buffer.from(der.buffer, der.byteOffset, der.byteLength) : corrupt('an issuer certificate is missing');
  });
  return chainEntry(precert, certs);
}

/** TLS DigitallySigned with ECDSA over SHA-256 (HashAlgorithm 4, SignatureAlgorithm 3), signed on the thread pool. */
async function digitallySigned(data: Buffer, key: KeyObject): Promise<Buffer> {
  const sig = await signAsync('sha256', data, key);
  return Buffer.concat([Uint8Array.of(4, 3), u(sig.length, 2), sig]);
}

export interface Sct {
  sct_version: 0;
  id: string;
  timestamp: number;
  extensions: string;
  signature: string;
}

export async function signSct(p: ParsedChain, timestamp: number, logId: Buffer, key: KeyObject): Promise<Sct> {
  // digitally-signed struct: sct_version v1(0), signature_type certificate_timestamp(0), timestamp, entry, extensions.
  const data = Buffer.concat([Uint8Array.of(0, 0), u(timestamp, 8), entryBytes(p), u(0, 2)]);
  return { sct_version: 0, id: logId.toString('base64'), timestamp, extensions: '', signature: (await digitallySigned(data, key)).toString('base64') };
}

/** TreeHeadSignature's signed input: version v1(0), signature_type tree_hash(1), timestamp, tree_size, sha256_root_hash (§3.5). */
export function treeHeadInput(size: number, timestamp: number, root: Uint8Array): Buffer {
  return Buffer.concat([Uint8Array.of(0, 1), u(timestamp, 8), u(size, 8), root]);
}

export async function signTreeHead(size: number, timestamp: number, root: Uint8Array, key: KeyObject): Promise<string> {
  return (await digitallySigned(treeHeadInput(size, timestamp, root), key)).toString('base64');
}

/** Checks an STH's tree_head_signature: a TLS DigitallySigned, ECDSA over SHA-256 (4, 3) as this log signs, by `key`. */
export function verifyTreeHead(size: number, timestamp: number, root: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  const s = Buffer.from(signature);
  if (s.length < 4 || s[0] !== 4 || s[1] !== 3 || s.readUInt16BE(2) !== s.length - 4) return false;
  return cryptoVerify('sha256', treeHeadInput(size, timestamp, root), key, s.subarray(4));
}

/** Parse a MerkleTreeLeaf back far enough to re-derive nothing but its timestamp (for get-entries checks). */
export function leafTimestamp(leaf: Uint8Array): number {
  return Number(Buffer.from(leaf).readBigUInt64BE(2));
}
