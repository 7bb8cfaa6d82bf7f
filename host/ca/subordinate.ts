/**
 * Subordinate CA certificates, the seed's Phase 3 ("Subordinate Fulcio instances"): an organisation
 * registers its subordinate CA server by SPIFFE ID with this (parent) CA; the server proves that
 * identity with a JWT-SVID and gets a medium-term CA certificate, name-constrained to its own
 * trust domain, with which it issues the 10-minute leaves itself. Verifiers holding only the
 * parent's root follow the chain leaf → subordinate → root (host/verify/pipeline.ts).
 *
 * Pure core: config, template, issuance. The route is in plugin.ts; the renewing client (the
 * seed's "certbot" for these certificates) in subordinate-client.ts.
 *
 *   subordinates:
 *     validity: 720h                # default 30 days ("medium-term (1 month?)"); at most 90 days
 *     key: { type: file, key: ..., chain: ... }   # the key that signs them; default: the root
 *                                   # generated in DIR (ca-root-key.pem), whose pathLen is 1
 *     registered:                   # the registry ("a PR to a repo with a SPIFFE namespace")
 *       - spiffe-id: spiffe://prod.acme.example/cairn/ca
 *
 * The JWT-SVID must come from an oidc-issuers entry of type spiffe for that trust domain, so
 * the trust domain's own OIDC discovery document and keys vouch for the registered ID, or, when
 * the CA takes trust-domain registrations, verify with that trust domain's registered bundle.
 */
import { createHash, randomBytes } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { encodeNameConstraints, type NameConstraints } from '../verify/name-constraints.js';
import { oid, octets, seq, set, tlv } from '../tsa/encode.js';
import type { IssuersConfig } from './config.js';
import { submitPrecert, type CtLog } from './ct-client.js';
import { CaError } from './errors.js';
import { parseSpiffeId, principalFor } from './identity.js';
import type { VerifiedToken } from './oidc.js';
import { authorityKeyIdExtension, extensionDer, issue, OID_CODE_SIGNING, poisonExtension, sctListExtension, spkiKeyBits, tbsDer, toPem, type IssuingCa, type LeafTemplate } from './profile.js';
import { checkedCsrKey } from './core.js';

const HOUR = 3_600_000;
export const DEFAULT_VALIDITY_MS = 720 * HOUR;
export const MAX_VALIDITY_MS = 2160 * HOUR;

export interface SubordinatesConfig {
  validityMs: number;
  /** Registered SPIFFE IDs of subordinate CA servers → their trust domain. */
  registered: Map<string, string>;
  /** The signing key config (keys.ts CaKeyConfig); undefined: the generated root. */
  key?: unknown;
}

function bad(m: string): never {
  throw new CaError('CA_BAD_CONFIG', `subordinates: ${m}`);
}

/** "720h", "30d" → milliseconds. */
export function parseDuration(v: unknown, what: string): number {
  const m = typeof v === 'string' ? /^(\d{1,6})(h|d)$/.exec(v) : null;
  if (!m) bad(`${what} must be a duration like 720h or 30d`);
  return Number(m[1]) * (m[2] === 'd' ? 24 : 1) * HOUR;
}

/**
 * `registeredDomains`: the CA also accepts trust-domain registrations (trust-domains.ts), so a
 * trust domain without an OIDC issuer may still prove its IDs once registered.
 */
export function parseSubordinatesConfig(v: unknown, issuers: IssuersConfig, registeredDomains = false): SubordinatesConfig {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('must be a mapping');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['validity', 'key', 'registered'].includes(k)) bad(`unknown key ${k}`);
  const validityMs = o.validity === undefined ? DEFAULT_VALIDITY_MS : parseDuration(o.validity, 'validity');
  if (validityMs < HOUR || validityMs > MAX_VALIDITY_MS) bad('validity must be between 1h and 2160h (90 days)');
  if (!Array.isArray(o.registered) || o.registered.length === 0) bad('registered must list at least one { spiffe-id }');
  const registered = new Map<string, string>();
  for (const [i, r] of (o.registered as unknown[]).entries()) {
    const id = (r as Record<string, unknown> | null)?.['spiffe-id'];
    if (typeof id !== 'string') bad(`registered[${i}] needs spiffe-id`);
    let td: string;
    try {
      td = parseSpiffeId(id).trustDomain;
    } catch {
      return bad(`registered[${i}]: ${id} is not a SPIFFE ID`);
    }
    // Without an issuer for the trust domain no JWT-SVID could ever prove the ID: say so at start.
    if (!registeredDomains && ![...issuers.issuers.values()].some((c) => c.type === 'spiffe' && c.spiffeTrustDomain === td)) bad(`registered[${i}]: no oidc-issuers entry of type spiffe for trust domain ${td} (nor trustDomains registration)`);
    registered.set(id, td);
  }
  return { validityMs, registered, ...(o.key !== undefined ? { key: o.key } : {}) };
}

/**
 * The constraints of a subordinate for trust domain `td`: URIs only under spiffe://td (the URI
 * constraint is on the host, RFC 5280 §4.2.1.10, and a SPIFFE ID's host is its trust domain).
 * RFC 5280 leaves a name form without a permitted subtree unconstrained, so for verifiers that
 * follow it to the letter (OpenSSL) the other forms are closed too: every dNSName and IP address
 * is excluded ("" is every DNS name; a zero mask every address), and mailboxes are permitted only
 * at the reserved name "invalid" (RFC 6761 §6.4), since no constraint excludes every mailbox.
 */
export function subordinateConstraints(td: string): NameConstraints {
  return {
    permitted: [{ base: { type: 'uri', value: td } }, { base: { type: 'email', value: 'invalid' } }],
    excluded: [
      { base: { type: 'dns', value: '' } },
      { base: { type: 'ip', value: new Uint8Array(8) } },
      { base: { type: 'ip', value: new Uint8Array(32) } },
    ],
  };
}

const utf8 = (s: string): Uint8Array => tlv(0x0c, Buffer.from(s, 'utf8'));

/** Name: O=<parent's organisation-ish label>, CN=<trust domain> (RFC 5280 §4.1.2.6: a CA's subject is never empty). */
function subjectDer(td: string): Uint8Array {
  const rdn = (type: string, value: string): Uint8Array => set(seq(oid(type), utf8(value)));
  return seq(rdn('2.5.4.10', 'Cairn subordinate CA'), rdn('2.5.4.3', td));
}

export interface SubordinateRequest {
  token: string;
  /** PEM or base64 DER PKCS#10; its signature is the proof of possession. */
  csr: string;
}

export interface IssuedSubordinate {
  /** The subordinate CA certificate first, then the parent's chain up to the root, PEM. */
  chainPem: string[];
  spiffeId: string;
  trustDomain: string;
  notAfter: Date;
}

export interface SubordinateOptions {
  issuers: IssuersConfig;
  verifier: { verify(token: string): Promise<VerifiedToken> };
  config: SubordinatesConfig;
  /** The CA that signs subordinates (its own pathLen must allow one more CA below it). */
  parent: IssuingCa;
  ct?: CtLog;
}

export class SubordinateIssuer {
  constructor(private readonly o: SubordinateOptions) {
    const bc = o.parent.cert.getExtension(x509.BasicConstraintsExtension);
    if (!bc?.ca) throw new CaError('CA_BAD_CONFIG', 'subordinates: the signing certificate is not a CA');
    // The subordinate adds one CA below the parent: a pathLen of 0 (an intermediate like the one
    // that signs leaves) forbids it (RFC 5280 §4.2.1.9), and OpenSSL would reject every chain.
    if (bc.pathLength !== undefined && bc.pathLength < 1) throw new CaError('CA_BAD_CONFIG', 'subordinates: the signing CA has pathLen 0 and cannot certify another CA (use the root key)');
  }

  get chainPem(): string[] {
    return this.o.parent.chainPem;
  }

  async issue(req: SubordinateRequest, now = new Date()): Promise<IssuedSubordinate> {
    if (!req.token) throw new CaError('CA_MISSING_TOKEN', 'no identity token (credentials.oidcIdentityToken or Authorization: Bearer)');
    const verified = await this.o.verifier.verify(req.token);
    if (verified.issuer.type !== 'spiffe') throw new CaError('CA_NOT_REGISTERED', 'subordinate CA certificates are issued to SPIFFE IDs only (a JWT-SVID from a spiffe issuer)');
    const principal = principalFor(verified, this.o.issuers);
    const spiffeId = principal.san.value;
    const td = this.o.config.registered.get(spiffeId);
    if (!td) throw new CaError('CA_NOT_REGISTERED', `${spiffeId} is not registered for a subordinate CA certificate`);

    const parsed = await checkedCsrKey(req.csr);

    const whole = Math.floor(now.getTime() / 1000) * 1000;
    const parentEnd = this.o.parent.cert.notAfter.getTime();
    const notAfter = new Date(Math.min(whole + this.o.config.validityMs, parentEnd));
    if (notAfter.getTime() - whole < HOUR) throw new CaError('CA_BAD_CONFIG', 'the parent CA expires within the hour', { status: 503 });
    const serial = randomBytes(20);
    serial[0] = (serial[0]! & 0x7f) | 0x01;
    const skid = createHash('sha1').update(spkiKeyBits(parsed.spki)).digest();
    const template: LeafTemplate = {
      serial,
      notBefore: new Date(whole),
      notAfter,
      spki: new Uint8Array(parsed.spki),
      subject: subjectDer(td),
      extensions: [
        // basicConstraints: CA, pathLen 0 — it issues leaves, never another CA (§4.2.1.9), critical.
        extensionDer('2.5.29.19', true, seq(Uint8Array.of(0x01, 0x01, 0xff), Uint8Array.of(0x02, 0x01, 0x00))),
        // keyUsage keyCertSign | cRLSign (bits 5, 6), critical (§4.2.1.3).
        extensionDer('2.5.29.15', true, Uint8Array.of(0x03, 0x02, 0x01, 0x06)),
        // Like Fulcio's intermediates: the chain is for code signing only.
        extensionDer('2.5.29.37', false, seq(oid(OID_CODE_SIGNING))),
        extensionDer('2.5.29.14', false, octets(skid)),
        authorityKeyIdExtension(this.o.parent),
        // nameConstraints MUST be critical (§4.2.1.10).
        extensionDer('2.5.29.30', true, encodeNameConstraints(subordinateConstraints(td))),
      ],
    };
    let der: Uint8Array;
    if (this.o.ct) {
      // The subordinate's certificate is public record: precertificate → SCT → certificate
      // (RFC 6962 §3.1), as for leaves, so an issuance the organisation did not ask for shows.
      const pre = await issue(this.o.parent, template, poisonExtension());
      const parentDer = this.o.parent.chainPem.map((p) => new Uint8Array(new x509.X509Certificate(p).rawData));
      const sct = await submitPrecert(this.o.ct, [pre, ...parentDer], new Uint8Array(this.o.parent.cert.publicKey.rawData), tbsDer(this.o.parent, template));
      der = await issue(this.o.parent, template, sctListExtension([sct]));
    } else {
      der = await issue(this.o.parent, template);
    }
    return { chainPem: [toPem(der), ...this.o.parent.chainPem], spiffeId, trustDomain: td, notAfter };
  }
}

