/**
 * The code-signing CA's pure core: token → principal → proof of possession → (pre)certificate →
 * SCT → certificate. No fastify, no storage; the plugin and the CLI wrap it.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { IssuersConfig } from './config.js';
import { submitPrecert, type CtLog } from './ct-client.js';
import { CaError } from './errors.js';
import { principalFor } from './identity.js';
import { checkKey, issue, leafTemplate, poisonExtension, sctListExtension, toPem, type IssuingCa } from './profile.js';
import type { TokenVerifier } from './oidc.js';

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
  verifier: TokenVerifier;
  ca: IssuingCa;
  ct?: CtLog;
}

function parseSpki(s: string): KeyObject {
  try {
    if (s.includes('-----BEGIN')) return createPublicKey(s);
    return createPublicKey({ key: Buffer.from(s, 'base64'), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new CaError('CA_UNSUPPORTED_KEY', 'the public key is not a PEM or DER SubjectPublicKeyInfo', { cause });
  }
}

function hashFor(key: KeyObject): string | null {
  if (key.asymmetricKeyType === 'ed25519') return null;
  if (key.asymmetricKeyType === 'ec') return key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'sha384' : 'sha256';
  return 'sha256';
}

export class CodeSigningCa {
  private caDerCache?: Uint8Array[];
  private issuerSpkiCache?: Uint8Array;

  constructor(private readonly o: CaOptions) {}

  private caDer(): Uint8Array[] {
    return (this.caDerCache ??= this.o.ca.chainPem.map((p) => new Uint8Array(new x509.X509Certificate(p).rawData)));
  }

  private issuerSpki(): Uint8Array {
    return (this.issuerSpkiCache ??= new Uint8Array(this.o.ca.cert.publicKey.rawData));
  }

  get caChainPem(): string[] {
    return this.o.ca.chainPem;
  }

  async signingCert(req: SigningRequest): Promise<IssuedChain> {
    if (!req.token) throw new CaError('CA_MISSING_TOKEN', 'no identity token (credentials.oidcIdentityToken or Authorization: Bearer)');
    if (!req.publicKey && !req.csr) throw new CaError('CA_BAD_REQUEST', 'give publicKeyRequest or certificateSigningRequest');
    const verified = await this.o.verifier.verify(req.token);
    const principal = principalFor(verified, this.o.issuers);

    let key: KeyObject;
    if (req.csr) {
      let csr: x509.Pkcs10CertificateRequest;
      try {
        csr = new x509.Pkcs10CertificateRequest(req.csr.includes('-----BEGIN') ? req.csr : Buffer.from(req.csr, 'base64'));
      } catch (cause) {
        throw new CaError('CA_BAD_REQUEST', 'certificateSigningRequest is not a PKCS#10 request', { cause });
      }
      key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
      checkKey(key);
      if (!(await csr.verify().catch(() => false))) throw new CaError('CA_BAD_PROOF', 'the CSR signature does not verify with its own key');
      if (req.publicKey && !parseSpki(req.publicKey).equals(key)) throw new CaError('CA_BAD_PROOF', 'the CSR key does not match the public key in the request');
    } else {
      key = parseSpki(req.publicKey!);
      checkKey(key);
      const pop = req.proofOfPossession;
      if (!pop || pop.length === 0) throw new CaError('CA_BAD_PROOF', 'proofOfPossession is required with publicKeyRequest');
      let ok = false;
      try {
        ok = verify(hashFor(key), Buffer.from(principal.challenge, 'utf8'), key, pop);
      } catch {
        ok = false;
      }
      if (!ok) throw new CaError('CA_BAD_PROOF', `proofOfPossession is not a signature over the ${verified.issuer.type === 'email' ? 'email' : 'sub'} claim by the submitted key`);
    }

    const spki = new Uint8Array(key.export({ format: 'der', type: 'spki' }));
    const template = leafTemplate(this.o.ca, {
      publicKeySpki: spki,
      principal,
      issuerUrl: verified.issuer.issuerUrl,
      subject: String(verified.claims.sub),
    });
    const caPem = this.o.ca.chainPem;
    if (!this.o.ct) {
      const leaf = await issue(this.o.ca, template, undefined);
      return { chainPem: [toPem(leaf), ...caPem], embedded: false };
    }
    // RFC 6962 §3.1: precertificate (poison) → SCT → final certificate carrying the SCT list.
    const pre = await issue(this.o.ca, template, poisonExtension());
    const sct = await submitPrecert(this.o.ct, [pre, ...this.caDer()], this.issuerSpki());
    const leaf = await issue(this.o.ca, template, sctListExtension([sct]));
    return { chainPem: [toPem(leaf), ...caPem], embedded: true };
  }
}
