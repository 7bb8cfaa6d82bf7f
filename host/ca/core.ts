/**
 * The code-signing CA's pure core: token → principal → proof of possession → (pre)certificate →
 * SCT → certificate. No fastify, no storage; the plugin and the CLI wrap it.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { SignatureItem } from '../core/signature-formats.js';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { verifyAsync } from '../keys/async-crypto.js';
import { checkDer } from '../tsa/der.js';
import type { IssuersConfig } from './config.js';
import { submitPrecert, type CtLog } from './ct-client.js';
import { CaError } from './errors.js';
import { principalFor } from './identity.js';
import { checkKey, issue, leafTemplate, poisonExtension, sctListExtension, tbsDer, toPem, type IssuingCa } from './profile.js';
import type { VerifiedToken } from './oidc.js';

export interface SigningRequest {
  token: string;
  /** PEM (or base64 DER) SubjectPublicKeyInfo, with a signature over the challenge claim. */
  publicKey?: string;
  proofOfPossession?: Uint8Array;
  /** PEM or base64 DER PKCS#10 CSR; its own signature is the proof of possession. */
  csr?: string;
}

export interface IssuedChain {
  /** Leaf first, then the CA chain, PEM. */
  chainPem: string[];
  /** TLS-encoded SCT when no CT log is configured (detached response); undefined when embedded. */
  detachedSct?: Uint8Array;
  embedded: boolean;
}

export interface CaOptions {
  issuers: IssuersConfig;
  /** OIDC issuers (oidc.ts TokenVerifier), optionally with registered trust domains (trust-domains.ts IdentityVerifier). */
  verifier: { verify(token: string): Promise<VerifiedToken> };
  /** The issuing CA; absent while a subordinate waits for its first certificate (CA_PENDING). */
  ca?: IssuingCa;
  ct?: CtLog;
  /** Checks P-256 proofs of possession in the WASM core (a worker pool: host/core/pool.ts BatchingVerifier). */
  verifyCore?: (item: SignatureItem) => Promise<boolean>;
}

const SPKI_PREFIX = {
  // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) 04 || X || Y } (RFC 5480 §2)
  p256: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
  // SEQUENCE { SEQUENCE { id-ecPublicKey, secp384r1 }, BIT STRING 04 || X || Y }
  p384: Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex'),
  // SEQUENCE { SEQUENCE { id-Ed25519 }, BIT STRING 32 bytes } (RFC 8410 §4)
  ed25519: Buffer.from('302a300506032b6570032100', 'hex'),
};

export interface ParsedSpki {
  /** The exact canonical DER that goes into the certificate. */
  spki: Buffer;
  /** Which of the common key types the DER is, from its prefix; 'other' for anything else. */
  curve: 'p256' | 'p384' | 'ed25519' | 'other';
  /**
   * The key as a KeyObject. For the common types it is imported from its coordinates (JWK form:
   * OpenSSL 3's SPKI decoder costs about twice as much) only when first asked for, and the import
   * checks the point is on the curve: a bad point throws CA_UNSUPPORTED_KEY here.
   */
  readonly key: KeyObject;
}

/**
 * The submitted public key: PEM is decoded here and the common key types are recognised by their
 * exact SPKI prefix (RFC 5480 §2, RFC 8410 §4), so nothing unparsed reaches the certificate.
 */
export function parseSpki(s: string): ParsedSpki {
  let der: Buffer;
  if (s.includes('-----BEGIN')) {
    const m = /^\s*-----BEGIN PUBLIC KEY-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END PUBLIC KEY-----\s*$/.exec(s);
    if (!m) throw new CaError('CA_UNSUPPORTED_KEY', 'the public key is not a PEM SubjectPublicKeyInfo ("PUBLIC KEY")');
    der = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  } else {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) throw new CaError('CA_UNSUPPORTED_KEY', 'the public key is not PEM or base64 DER');
    der = Buffer.from(s, 'base64');
  }
  const b64u = (b: Buffer): string => b.toString('base64url');
  const imported = (jwk: Record<string, string>): (() => KeyObject) => () => {
    try {
      return createPublicKey({ key: jwk, format: 'jwk' });
    } catch (cause) {
      throw new CaError('CA_UNSUPPORTED_KEY', 'the public key is not a valid point on its curve', { cause });
    }
  };
  const lazy = (spki: Buffer, curve: ParsedSpki['curve'], make: () => KeyObject): ParsedSpki => {
    let key: KeyObject | undefined;
    return {
      spki,
      curve,
      get key(): KeyObject {
        key ??= make();
        return key;
      },
    };
  };
  if (der.length === 91 && der.subarray(0, 26).equals(SPKI_PREFIX.p256) && der[26] === 4) {
    return lazy(der, 'p256', imported({ kty: 'EC', crv: 'P-256', x: b64u(der.subarray(27, 59)), y: b64u(der.subarray(59)) }));
  }
  if (der.length === 120 && der.subarray(0, 23).equals(SPKI_PREFIX.p384) && der[23] === 4) {
    return lazy(der, 'p384', imported({ kty: 'EC', crv: 'P-384', x: b64u(der.subarray(24, 72)), y: b64u(der.subarray(72)) }));
  }
  if (der.length === 44 && der.subarray(0, 12).equals(SPKI_PREFIX.ed25519)) {
    return lazy(der, 'ed25519', imported({ kty: 'OKP', crv: 'Ed25519', x: b64u(der.subarray(12)) }));
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (cause) {
    throw new CaError('CA_UNSUPPORTED_KEY', 'the public key is not a valid SubjectPublicKeyInfo', { cause });
  }
  // Re-encode so the certificate carries the canonical DER of the key, not the client's bytes.
  return { key, spki: key.export({ format: 'der', type: 'spki' }), curve: 'other' };
}

/**
 * The key of a PKCS#10 request (PEM or base64 DER), checked against the certificate profile, with
 * the request's own signature as the proof of possession (RFC 2986 §3).
 */
export async function checkedCsrKey(pemOrB64: string): Promise<ParsedSpki> {
  let csr: x509.Pkcs10CertificateRequest;
  let spki: Buffer;
  try {
    csr = new x509.Pkcs10CertificateRequest(pemOrB64.includes('-----BEGIN') ? pemOrB64 : Buffer.from(pemOrB64, 'base64'));
    // asn1js under @peculiar/x509 ignores trailing bytes and takes any nesting: the request must
    // be exactly one strict DER TLV (X.690 §10), as Go's x509.ParseCertificateRequest (Fulcio)
    // requires. rawData is the bytes received (the decoded PEM block), not a re-encoding.
    checkDer(new Uint8Array(csr.rawData));
    // The key is decoded only when first read: one that does not decode throws here.
    spki = Buffer.from(csr.publicKey.rawData);
  } catch (cause) {
    throw new CaError('CA_BAD_REQUEST', 'certificateSigningRequest is not a PKCS#10 request', { cause });
  }
  const parsed = parseSpki(spki.toString('base64'));
  checkKey(parsed.key);
  if (!(await csr.verify().catch(() => false))) throw new CaError('CA_BAD_PROOF', 'the CSR signature does not verify with its own key');
  return parsed;
}

function hashFor(key: KeyObject): string | null {
  if (key.asymmetricKeyType === 'ed25519') return null;
  if (key.asymmetricKeyType === 'ec') return key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'sha384' : 'sha256';
  return 'sha256';
}

export class CodeSigningCa {
  /** DER chain and issuer SPKI per issuing CA, computed once each (a renewal brings a new one). */
  private readonly derived = new WeakMap<IssuingCa, { chain: Uint8Array[]; issuerSpki: Uint8Array }>();
  private pendingReason = 'waiting for the parent CA to issue this CA\'s certificate';

  constructor(private o: CaOptions) {}

  /**
   * Switches to another issuing CA (a renewed subordinate certificate and its new key:
   * subordinate-client.ts), or sets the first one. A request keeps the CA it started with, from
   * its template to its final certificate (signingCert reads it once).
   */
  setIssuingCa(ca: IssuingCa): void {
    this.o = { ...this.o, ca };
  }

  /** Why there is no issuing CA yet (shown in CA_PENDING answers and /readyz). */
  setPendingReason(reason: string): void {
    this.pendingReason = reason;
  }

  /** The issuing CA, or undefined while pending. */
  get issuingCa(): IssuingCa | undefined {
    return this.o.ca;
  }

  /** Undefined when the CA can issue; otherwise why not. */
  pending(): string | undefined {
    const ca = this.o.ca;
    if (!ca) return this.pendingReason;
    // Outside its own window the CA refuses every request (profile.ts leafTemplate, RFC 5280
    // §6.1.3): a subordinate whose renewals failed is as unable to issue as one still waiting.
    const now = Date.now();
    if (now < ca.cert.notBefore.getTime() || now > ca.cert.notAfter.getTime()) {
      return `the issuing CA certificate is not valid now (${ca.cert.notBefore.toISOString()} to ${ca.cert.notAfter.toISOString()})`;
    }
    return undefined;
  }

  private current(): IssuingCa {
    if (!this.o.ca) throw new CaError('CA_PENDING', this.pendingReason, { retryAfter: 5 });
    return this.o.ca;
  }

  private derive(ca: IssuingCa): { chain: Uint8Array[]; issuerSpki: Uint8Array } {
    let d = this.derived.get(ca);
    if (!d) {
      d = { chain: ca.chainPem.map((p) => new Uint8Array(new x509.X509Certificate(p).rawData)), issuerSpki: new Uint8Array(ca.cert.publicKey.rawData) };
      this.derived.set(ca, d);
    }
    return d;
  }

  get caChainPem(): string[] {
    return this.current().chainPem;
  }

  async signingCert(req: SigningRequest): Promise<IssuedChain> {
    // One issuing CA for the whole request: a renewal switching CAs while the precertificate is at
    // the CT log must not give the final certificate another issuer than the one the SCT covers.
    const ca = this.current();
    if (!req.token) throw new CaError('CA_MISSING_TOKEN', 'no identity token (credentials.oidcIdentityToken or Authorization: Bearer)');
    if (!req.publicKey && !req.csr) throw new CaError('CA_BAD_REQUEST', 'give publicKeyRequest or certificateSigningRequest');
    const verified = await this.o.verifier.verify(req.token);
    const principal = principalFor(verified, this.o.issuers);

    let spki: Buffer;
    if (req.csr) {
      const parsed = await checkedCsrKey(req.csr);
      spki = parsed.spki;
      if (req.publicKey && !parseSpki(req.publicKey).key.equals(parsed.key)) throw new CaError('CA_BAD_PROOF', 'the CSR key does not match the public key in the request');
    } else {
      const parsed = parseSpki(req.publicKey!);
      spki = parsed.spki;
      if (parsed.curve !== 'p256') checkKey(parsed.key); // P-256 is accepted by the profile as it is
      const pop = req.proofOfPossession;
      if (!pop || pop.length === 0) throw new CaError('CA_BAD_PROOF', 'proofOfPossession is required with publicKeyRequest');
      const challenge = Buffer.from(principal.challenge, 'utf8');
      // P-256 (nearly every client): checked by the WASM core on a worker thread when the CA has
      // one, so neither the key import nor the verification runs on the event loop. Fulcio's
      // proof is an ASN.1 (DER) signature; anything not framed as one fails here as it does there.
      const ok = parsed.curve === 'p256' && this.o.verifyCore
        ? (await this.o.verifyCore({ alg: 'ecdsa-p256-sha256', publicKey: spki, digestOrMessage: createHash('sha256').update(challenge).digest(), signature: pop }))
        : await verifyAsync(parsed.curve === 'p256' ? 'sha256' : parsed.curve === 'p384' ? 'sha384' : parsed.curve === 'ed25519' ? null : hashFor(parsed.key), challenge, parsed.key, pop);
      if (!ok) void parsed.key; // a point OpenSSL refuses is CA_UNSUPPORTED_KEY, not a bad proof
      if (!ok) throw new CaError('CA_BAD_PROOF', `proofOfPossession is not a signature over the ${verified.issuer.type === 'email' ? 'email' : 'sub'} claim by the submitted key`);
    }

    const template = leafTemplate(ca, {
      publicKeySpki: new Uint8Array(spki),
      principal,
      issuerUrl: verified.issuer.issuerUrl,
      subject: String(verified.claims.sub),
    });
    const caPem = ca.chainPem;
    if (!this.o.ct) {
      const leaf = await issue(ca, template, undefined);
      return { chainPem: [toPem(leaf), ...caPem], embedded: false };
    }
    // RFC 6962 §3.1: precertificate (poison) → SCT → final certificate carrying the SCT list.
    const d = this.derive(ca);
    const pre = await issue(ca, template, poisonExtension());
    const sct = await submitPrecert(this.o.ct, [pre, ...d.chain], d.issuerSpki, tbsDer(ca, template));
    const leaf = await issue(ca, template, sctListExtension([sct]));
    return { chainPem: [toPem(leaf), ...caPem], embedded: true };
  }
}
