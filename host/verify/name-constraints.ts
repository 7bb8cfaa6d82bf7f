/**
 * X.509 name constraints (RFC 5280 §4.2.1.10), pure: encode them for a subordinate CA certificate
 * and check a leaf's subjectAltName against the constraints of every CA above it.
 *
 *   NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees OPTIONAL,
 *                                  excludedSubtrees  [1] GeneralSubtrees OPTIONAL }
 *   GeneralSubtree  ::= SEQUENCE { base GeneralName, minimum [0] 0, maximum [1] absent }
 *
 * The module is implicitly tagged (RFC 5280 Appendix A.2), so [0]/[1] replace the SEQUENCE OF tag
 * and each GeneralName is its context tag: rfc822Name [1], dNSName [2], uniformResourceIdentifier
 * [6] (IA5String), iPAddress [7] (OCTET STRING: address then mask in a constraint).
 *
 * One rule here is stricter than RFC 5280, on purpose. The RFC leaves a name unconstrained when
 * its CA has no permitted subtree of the name's type, so a CA constrained to
 * `spiffe://acme.example/` could still issue a Fulcio username (otherName) SAN that a policy
 * names. Under a CA with name constraints we refuse any SAN of a type the constraints do not
 * cover when the CA has any permitted subtree, and any constraint of a type we do not evaluate
 * (directoryName, otherName, ...).
 */
import { children, readTlv, type Tlv } from '../tsa/der.js';
import { seq, tlv } from '../tsa/encode.js';

export type GeneralName =
  | { type: 'email' | 'dns' | 'uri'; value: string }
  | { type: 'ip'; value: Uint8Array }
  | { type: 'other'; tag: number };

export interface Subtree {
  base: GeneralName;
}

export interface NameConstraints {
  permitted: Subtree[];
  excluded: Subtree[];
}

export class NameConstraintError extends Error {}

const ascii = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

function generalName(buf: Uint8Array, t: Tlv): GeneralName {
  const v = buf.subarray(t.valueStart, t.end);
  switch (t.tag) {
    case 0x81:
      return { type: 'email', value: ascii(v) };
    case 0x82:
      return { type: 'dns', value: ascii(v) };
    case 0x86:
      return { type: 'uri', value: ascii(v) };
    case 0x87:
      return { type: 'ip', value: v };
    default:
      return { type: 'other', tag: t.tag };
  }
}

/** GeneralNames (a subjectAltName extension's value). */
export function parseGeneralNames(der: Uint8Array): GeneralName[] {
  const top = readTlv(der, 0);
  if (top.tag !== 0x30 || top.end !== der.length) throw new NameConstraintError('subjectAltName is not a SEQUENCE');
  return children(der, top).map((t) => generalName(der, t));
}

/** The extension value of nameConstraints (2.5.29.30). Throws on anything but well-formed DER. */
export function parseNameConstraints(der: Uint8Array): NameConstraints {
  const top = readTlv(der, 0);
  if (top.tag !== 0x30 || top.end !== der.length) throw new NameConstraintError('nameConstraints is not a SEQUENCE');
  const out: NameConstraints = { permitted: [], excluded: [] };
  for (const part of children(der, top)) {
    if (part.tag !== 0xa0 && part.tag !== 0xa1) throw new NameConstraintError('nameConstraints holds an unknown field');
    const list = part.tag === 0xa0 ? out.permitted : out.excluded;
    for (const st of children(der, part)) {
      if (st.tag !== 0x30) throw new NameConstraintError('GeneralSubtree is not a SEQUENCE');
      const [base, ...rest] = children(der, st);
      if (!base) throw new NameConstraintError('GeneralSubtree has no base');
      // RFC 5280: minimum MUST be zero and maximum MUST be absent; a CA that sets either is not
      // one we can evaluate faithfully.
      if (rest.length > 0) throw new NameConstraintError('GeneralSubtree carries minimum/maximum');
      list.push({ base: generalName(der, base) });
    }
  }
  if (out.permitted.length === 0 && out.excluded.length === 0) throw new NameConstraintError('nameConstraints is empty (RFC 5280 §4.2.1.10)');
  return out;
}

/** The DER of a NameConstraints value (the CA side: host/ca/subordinate.ts). */
export function encodeNameConstraints(nc: NameConstraints): Uint8Array {
  const name = (g: GeneralName): Uint8Array => {
    if (g.type === 'email') return tlv(0x81, Buffer.from(g.value, 'latin1'));
    if (g.type === 'dns') return tlv(0x82, Buffer.from(g.value, 'latin1'));
    if (g.type === 'uri') return tlv(0x86, Buffer.from(g.value, 'latin1'));
    if (g.type === 'ip') return tlv(0x87, g.value);
    throw new NameConstraintError('cannot encode this GeneralName form');
  };
  const trees = (tag: number, l: Subtree[]): Uint8Array[] => (l.length ? [tlv(tag, ...l.map((s) => seq(name(s.base))))] : []);
  return seq(...trees(0xa0, nc.permitted), ...trees(0xa1, nc.excluded));
}

const lower = (s: string): string => s.toLowerCase();

/** dNSName: the constraint, or the constraint with labels added on the left; "" matches every name. */
function dnsWithin(name: string, base: string): boolean {
  const n = lower(name).replace(/\.$/, '');
  const b = lower(base).replace(/^\./, '');
  if (b === '') return true;
  return n === b || n.endsWith(`.${b}`);
}

/**
 * rfc822Name (§4.2.1.10): a constraint with '@' is one mailbox; one starting with '.' is every
 * host below that domain; otherwise every mailbox on exactly that host. Hosts compare without case.
 */
function emailWithin(name: string, base: string): boolean {
  const at = name.lastIndexOf('@');
  if (at <= 0) return false;
  const host = lower(name.slice(at + 1));
  if (base.includes('@')) {
    const bat = base.lastIndexOf('@');
    return name.slice(0, at) === base.slice(0, bat) && host === lower(base.slice(bat + 1));
  }
  if (base.startsWith('.')) return host.endsWith(lower(base));
  return host === lower(base);
}

/** The host of a URI (RFC 3986 §3.2.2), or undefined when it has no authority. */
export function uriHost(uri: string): string | undefined {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(uri);
  if (!m) return undefined;
  let auth = m[1]!;
  auth = auth.slice(auth.lastIndexOf('@') + 1);
  if (auth.startsWith('[')) return undefined; // IP-literal hosts are not DNS names
  const host = auth.replace(/:\d*$/, '');
  return host === '' ? undefined : lower(host);
}

/**
 * uniformResourceIdentifier: the constraint applies to the host part; "host" is exactly that host,
 * ".domain" any host below it. A URI without a host cannot satisfy a constraint (§4.2.1.10).
 * A SPIFFE ID's host is its trust domain (SPIFFE-ID §2.1), so `acme.example` constrains a CA to
 * spiffe://acme.example/…
 */
function uriWithin(name: string, base: string): boolean {
  const host = uriHost(name);
  if (host === undefined) return false;
  const b = lower(base);
  return b.startsWith('.') ? host.endsWith(b) : host === b;
}

/** iPAddress: same family, and equal to the constraint's address under its mask. */
function ipWithin(addr: Uint8Array, base: Uint8Array): boolean {
  if (base.length !== addr.length * 2) return false;
  for (let i = 0; i < addr.length; i++) {
    const mask = base[addr.length + i]!;
    if ((addr[i]! & mask) !== (base[i]! & mask)) return false;
  }
  return true;
}

function within(n: GeneralName, s: Subtree): boolean {
  const b = s.base;
  if (n.type !== b.type) return false;
  if (n.type === 'ip') return ipWithin(n.value, (b as { value: Uint8Array }).value);
  if (n.type === 'other') return false;
  const bv = (b as { value: string }).value;
  if (n.type === 'dns') return dnsWithin(n.value, bv);
  if (n.type === 'email') return emailWithin(n.value, bv);
  return uriWithin(n.value, bv);
}

/**
 * Why `names` (a leaf's SANs) break `nc`, or undefined when they do not. See the module comment
 * for the one rule stricter than RFC 5280.
 */
export function violation(names: GeneralName[], nc: NameConstraints): string | undefined {
  for (const s of [...nc.permitted, ...nc.excluded]) {
    if (s.base.type === 'other') return `the CA's name constraints use a name form (tag 0x${s.base.tag.toString(16)}) this verifier does not evaluate`;
  }
  for (const n of names) {
    const label = n.type === 'ip' ? `IP ${Buffer.from(n.value).toString('hex')}` : n.type === 'other' ? `name form 0x${n.tag.toString(16)}` : `${n.type} ${n.value}`;
    if (nc.excluded.some((s) => within(n, s))) return `${label} is in an excluded subtree`;
    const ofType = nc.permitted.filter((s) => s.base.type === n.type);
    if (ofType.length === 0) {
      if (nc.permitted.length > 0) return `${label}: the CA's name constraints permit no names of this form`;
      continue; // a CA with excluded subtrees only: RFC 5280 semantics
    }
    if (!ofType.some((s) => within(n, s))) return `${label} is outside the permitted subtrees`;
  }
  return undefined;
}

export const OID_NAME_CONSTRAINTS = '2.5.29.30';
