/**
 * RFC 6962 certificate-transparency structures (pure): chain checks for add-chain and
 * add-pre-chain, the MerkleTreeLeaf (§3.4), and the signed structures of SCTs (§3.2) and tree
 * heads (§3.5). The CT personality is a separate TransparencyLog instance with its own ECDSA key;
 * its leaves are MerkleTreeLeaf bytes and the submitted chain is kept as extra_data.
 */
import { createHash, sign as cryptoSign, X509Certificate, type KeyObject } from 'node:crypto';
import { children, readTlv } from '../tsa/der.js';
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
export function parseChain(input: unknown, precert: boolean, roots: X509Certificate[]): ParsedChain {
  const chainIn = (input as { chain?: unknown } | null)?.chain;
  if (!Array.isArray(chainIn) || chainIn.length < 1 || chainIn.length > 10) throw new LogError('CT_BAD_CHAIN', 'chain must list 1..10 base64 DER certificates');
  const chain = chainIn.map((c, i) => {
    if (typeof c !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(c) || c.length > 65536) throw new LogError('CT_BAD_CHAIN', `chain[${i}] is not base64`);
    return Buffer.from(c, 'base64');
  });
  let certs: X509Certificate[];
  try {
    certs = chain.map((d) => new X509Certificate(d));
  } catch (cause) {
    throw new LogError('CT_BAD_CHAIN', 'chain holds something that is not a DER certificate', { cause });
  }
  for (let i = 0; i + 1 < certs.length; i++) {
    if (!certs[i]!.verify(certs[i + 1]!.publicKey)) throw new LogError('CT_BAD_CHAIN', `chain[${i}] is not signed by chain[${i + 1}]`);
  }
  const last = certs[certs.length - 1]!;
  if (roots.length > 0) {
    const anchored = roots.some((r) => r.raw.equals(last.raw) || (last.checkIssued(r) && last.verify(r.publicKey)));
    if (!anchored) throw new LogError('CT_BAD_CHAIN', 'the chain does not lead to an accepted root');
  }
  if (!precert) {
    if (certs[0]!.raw.length > 0xffffff) throw new LogError('CT_BAD_CHAIN', 'certificate too large');
    if (tryHasPoison(chain[0]!)) throw new LogError('CT_BAD_CHAIN', 'add-chain takes final certificates; use add-pre-chain for precertificates');
    return { entryType: 0, chain, signedEntry: chain[0]! };
  }
  if (certs.length < 2) throw new LogError('CT_BAD_CHAIN', 'a precertificate chain needs its issuer');
  const issuerSpki = certs[1]!.publicKey.export({ format: 'der', type: 'spki' });
  return { entryType: 1, chain, signedEntry: tbsWithoutPoison(chain[0]!), issuerKeyHash: createHash('sha256').update(issuerSpki).digest() };
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
  const certList = (certs: Buffer[]): Buffer => {
    const body = Buffer.concat(certs.map((c) => Buffer.concat([u(c.length, 3), c])));
    return Buffer.concat([u(body.length, 3), body]);
  };
  if (p.entryType === 0) return certList(p.chain.slice(1));
  return Buffer.concat([u(p.chain[0]!.length, 3), p.chain[0]!, certList(p.chain.slice(1))]);
}

/** TLS DigitallySigned with ECDSA over SHA-256 (HashAlgorithm 4, SignatureAlgorithm 3). */
function digitallySigned(data: Buffer, key: KeyObject): Buffer {
  const sig = cryptoSign('sha256', data, key);
  return Buffer.concat([Uint8Array.of(4, 3), u(sig.length, 2), sig]);
}

export interface Sct {
  sct_version: 0;
  id: string;
  timestamp: number;
  extensions: string;
  signature: string;
}

export function signSct(p: ParsedChain, timestamp: number, logId: Buffer, key: KeyObject): Sct {
  // digitally-signed struct: sct_version v1(0), signature_type certificate_timestamp(0), timestamp, entry, extensions.
  const data = Buffer.concat([Uint8Array.of(0, 0), u(timestamp, 8), entryBytes(p), u(0, 2)]);
  return { sct_version: 0, id: logId.toString('base64'), timestamp, extensions: '', signature: digitallySigned(data, key).toString('base64') };
}

export function signTreeHead(size: number, timestamp: number, root: Uint8Array, key: KeyObject): string {
  // TreeHeadSignature: version v1(0), signature_type tree_hash(1), timestamp, tree_size, sha256_root_hash.
  return digitallySigned(Buffer.concat([Uint8Array.of(0, 1), u(timestamp, 8), u(size, 8), root]), key).toString('base64');
}

/** Parse a MerkleTreeLeaf back far enough to re-derive nothing but its timestamp (for get-entries checks). */
export function leafTimestamp(leaf: Uint8Array): number {
  return Number(Buffer.from(leaf).readBigUInt64BE(2));
}
