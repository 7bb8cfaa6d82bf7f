/**
 * From verified token claims to the certificate's identity, per issuer type (Fulcio's
 * "principals"): the one SAN, the proof-of-possession challenge, and the 1.3.6.1.4.1.57264.1.*
 * extension values the claims supply.
 */
import type { IssuersConfig } from './config.js';
import { CaError } from './errors.js';
import { parseCiTemplate, renderCiTemplate } from './ci-template.js';
import type { VerifiedToken } from './oidc.js';

export type San = { type: 'uri'; value: string } | { type: 'email'; value: string } | { type: 'username'; value: string };

export interface Principal {
  san: San;
  /** The claim the proof of possession signs (Fulcio: `email` for email issuers, else `sub`). */
  challenge: string;
  /** Fulcio extension name -> value (see profile.ts for OIDs). */
  extensions: Record<string, string>;
}

/** SPIFFE ID syntax (SPIFFE-ID §2): lower-case trust domain, path segments of [A-Za-z0-9._-], no dot segments. */
export function parseSpiffeId(id: string): { trustDomain: string; path: string } {
  const m = /^spiffe:\/\/([a-z0-9._-]{1,255})((?:\/[A-Za-z0-9._-]+)*)$/.exec(id);
  if (!m || id.length > 2048) throw new CaError('CA_BAD_SPIFFE_ID', 'sub is not a valid SPIFFE ID');
  if (m[2]!.split('/').some((s) => s === '.' || s === '..')) throw new CaError('CA_BAD_SPIFFE_ID', 'SPIFFE ID path has dot segments');
  return { trustDomain: m[1]!, path: m[2]! };
}

function claimStr(claims: Record<string, unknown>, name: string): string {
  const v = claims[name];
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw new CaError('CA_BAD_IDENTITY', `token claim ${name} is missing or not a string`);
  return v;
}

/** A Fulcio CI template (host/ca/ci-template.ts) over the token's claims and the defaults. */
export function fillTemplate(t: string, claims: Record<string, unknown>, defaults: Record<string, string>): string {
  return renderCiTemplate(parseCiTemplate(t), claims, defaults);
}

/**
 * SAN values go into IA5String fields (RFC 5280 §4.2.1.6): printable ASCII only. Control
 * characters (a NUL in an email), spaces, non-ASCII and, in a URI, a backslash (which URL
 * parsers read as "/") would make the name mean different things to different verifiers.
 */
function checkSan(p: Principal): Principal {
  const v = p.san.value;
  if (p.san.type !== 'username' && (!/^[\x21-\x7e]+$/.test(v) || (p.san.type === 'uri' && v.includes('\\')))) {
    throw new CaError('CA_BAD_IDENTITY', `the ${p.san.type} identity must be printable ASCII without spaces${p.san.type === 'uri' ? ' or backslashes' : ''}`);
  }
  return p;
}

export function principalFor(t: VerifiedToken, cfg: IssuersConfig): Principal {
  return checkSan(principalOf(t, cfg));
}

function principalOf(t: VerifiedToken, cfg: IssuersConfig): Principal {
  const { issuer, claims } = t;
  const sub = claimStr(claims, 'sub');
  const extensions: Record<string, string> = {};
  switch (issuer.type) {
    case 'email': {
      const email = claimStr(claims, 'email');
      if (!issuer.skipEmailVerified && claims.email_verified !== true) throw new CaError('CA_BAD_IDENTITY', 'email_verified is not true');
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new CaError('CA_BAD_IDENTITY', 'email claim is not an email address');
      return { san: { type: 'email', value: email }, challenge: email, extensions };
    }
    case 'spiffe': {
      const id = parseSpiffeId(sub);
      if (id.trustDomain !== issuer.spiffeTrustDomain) throw new CaError('CA_BAD_SPIFFE_ID', `SPIFFE ID is in trust domain ${id.trustDomain}, not ${issuer.spiffeTrustDomain}`);
      return { san: { type: 'uri', value: sub }, challenge: sub, extensions };
    }
    case 'uri': {
      let u: URL;
      let d: URL;
      try {
        u = new URL(sub);
        d = new URL(issuer.subjectDomain!);
      } catch {
        throw new CaError('CA_BAD_IDENTITY', 'sub is not a URI');
      }
      // Fulcio uri type: the subject must share scheme and host with the configured subject domain.
      if (u.protocol !== d.protocol || u.host !== d.host) throw new CaError('CA_BAD_IDENTITY', 'sub is not under the configured subject-domain');
      return { san: { type: 'uri', value: sub }, challenge: sub, extensions };
    }
    case 'username': {
      if (sub.includes('!')) throw new CaError('CA_BAD_IDENTITY', 'username must not contain "!"');
      return { san: { type: 'username', value: `${sub}!${issuer.subjectDomain}` }, challenge: sub, extensions };
    }
    case 'kubernetes': {
      const k = claims['kubernetes.io'] as { namespace?: unknown; serviceaccount?: { name?: unknown } } | undefined;
      const ns = k?.namespace;
      const sa = k?.serviceaccount?.name;
      if (typeof ns !== 'string' || typeof sa !== 'string' || !/^[a-z0-9.-]{1,253}$/.test(ns) || !/^[a-z0-9.-]{1,253}$/.test(sa)) throw new CaError('CA_BAD_IDENTITY', 'kubernetes.io claim lacks namespace / serviceaccount.name');
      return { san: { type: 'uri', value: `https://kubernetes.io/namespaces/${ns}/serviceaccounts/${sa}` }, challenge: sub, extensions };
    }
    case 'ci-provider': {
      const meta = cfg.ci.get(issuer.ciProvider!)!;
      for (const [name, tpl] of Object.entries(meta.extensionTemplates)) {
        const v = fillTemplate(tpl, claims, meta.defaults);
        // As Fulcio renders them (omitempty): an empty value, an optional claim such as
        // `environment` defaulting to "", adds no extension.
        if (v !== '') extensions[name] = v;
      }
      const san = meta.sanTemplate ? fillTemplate(meta.sanTemplate, claims, meta.defaults) : sub;
      return { san: { type: 'uri', value: san }, challenge: sub, extensions };
    }
  }
}
