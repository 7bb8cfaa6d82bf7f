/**
 * Issuer configuration in Fulcio's format (YAML or JSON), pure:
 *
 *   oidc-issuers:
 *     https://issuer.example:            # the key is the exact `iss`
 *       issuer-url: https://issuer.example
 *       client-id: sigstore              # required `aud`
 *       type: email | spiffe | uri | username | kubernetes | ci-provider
 *       spiffe-trust-domain: example.org # type spiffe
 *       subject-domain: https://example.com   # type uri (URI prefix) / username (domain)
 *       ci-provider: github-workflow     # type ci-provider: key into ci-issuer-metadata
 *       skip-email-verified: false       # type email: accept tokens without email_verified=true
 *       insecure-loopback-http: false    # Cairn: allow http:// discovery on 127.0.0.1/localhost (tests, `cairn up`)
 *   meta-issuers:                        # keys with `*` wildcards, matched anchored; each `*` = [-_a-zA-Z0-9]+
 *     https://oidc.eks.*.amazonaws.com/id/*: { client-id: sigstore, type: kubernetes }
 *   ci-issuer-metadata:
 *     github-workflow:
 *       default-template-values: { url: https://github.com }
 *       subject-alternative-name-template: "{{ .url }}/{{ .job_workflow_ref }}"
 *       extension-templates: { build-signer-uri: "{{ .url }}/{{ .job_workflow_ref }}", ... }
 */
import { CaError } from './errors.js';
import { parseCiTemplate } from './ci-template.js';
import { FULCIO_EXTENSIONS, FULCIO_RAW_EXTENSIONS } from './profile.js';

export type IssuerType = 'email' | 'spiffe' | 'uri' | 'username' | 'kubernetes' | 'ci-provider';
const TYPES: IssuerType[] = ['email', 'spiffe', 'uri', 'username', 'kubernetes', 'ci-provider'];

export interface IssuerConfig {
  issuerUrl: string;
  clientId: string;
  type: IssuerType;
  spiffeTrustDomain?: string;
  subjectDomain?: string;
  ciProvider?: string;
  skipEmailVerified: boolean;
  insecureLoopbackHttp: boolean;
}

export interface CiMetadata {
  defaults: Record<string, string>;
  sanTemplate?: string;
  extensionTemplates: Record<string, string>;
}

export interface IssuersConfig {
  issuers: Map<string, IssuerConfig>;
  meta: { pattern: RegExp; key: string; config: Omit<IssuerConfig, 'issuerUrl'> }[];
  ci: Map<string, CiMetadata>;
}

function bad(m: string): never {
  throw new CaError('CA_BAD_CONFIG', `issuer config: ${m}`);
}

function issuer(key: string, v: unknown, meta: boolean): IssuerConfig {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${key} must be a mapping`);
  const o = v as Record<string, unknown>;
  const known = ['issuer-url', 'client-id', 'type', 'spiffe-trust-domain', 'subject-domain', 'ci-provider', 'skip-email-verified', 'insecure-loopback-http', 'contact', 'description'];
  for (const k of Object.keys(o)) if (!known.includes(k)) bad(`${key}: unknown key ${k}`);
  const type = o.type as IssuerType;
  if (!TYPES.includes(type)) bad(`${key}: type must be one of ${TYPES.join(', ')}`);
  if (typeof o['client-id'] !== 'string' || !o['client-id']) bad(`${key}: client-id is required`);
  const issuerUrl = meta ? key : ((o['issuer-url'] as string | undefined) ?? key);
  if (!meta) {
    let u: URL;
    try {
      u = new URL(issuerUrl);
    } catch {
      return bad(`${key}: issuer-url is not a URL`);
    }
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && o['insecure-loopback-http'] === true && isLoopback(u.hostname))) {
      bad(`${key}: issuer-url must be https (http only on loopback with insecure-loopback-http: true)`);
    }
  }
  if (type === 'spiffe' && (typeof o['spiffe-trust-domain'] !== 'string' || !/^[a-z0-9._-]{1,255}$/.test(o['spiffe-trust-domain']))) bad(`${key}: type spiffe needs a valid spiffe-trust-domain`);
  if ((type === 'uri' || type === 'username') && typeof o['subject-domain'] !== 'string') bad(`${key}: type ${type} needs subject-domain`);
  if (type === 'ci-provider' && typeof o['ci-provider'] !== 'string') bad(`${key}: type ci-provider needs ci-provider`);
  return {
    issuerUrl,
    clientId: o['client-id'] as string,
    type,
    ...(typeof o['spiffe-trust-domain'] === 'string' ? { spiffeTrustDomain: o['spiffe-trust-domain'] } : {}),
    ...(typeof o['subject-domain'] === 'string' ? { subjectDomain: o['subject-domain'] } : {}),
    ...(typeof o['ci-provider'] === 'string' ? { ciProvider: o['ci-provider'] } : {}),
    skipEmailVerified: o['skip-email-verified'] === true,
    insecureLoopbackHttp: o['insecure-loopback-http'] === true,
  };
}

export function isLoopback(hostname: string): boolean {
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]' || hostname === '::1';
}

export function parseIssuersConfig(doc: Record<string, unknown>): IssuersConfig {
  const out: IssuersConfig = { issuers: new Map(), meta: [], ci: new Map() };
  const oi = doc['oidc-issuers'] ?? {};
  const mi = doc['meta-issuers'] ?? {};
  const ci = doc['ci-issuer-metadata'] ?? {};
  for (const [name, v] of [['oidc-issuers', oi], ['meta-issuers', mi], ['ci-issuer-metadata', ci]] as const) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${name} must be a mapping`);
  }
  for (const [k, v] of Object.entries(oi as Record<string, unknown>)) {
    const c = issuer(k, v, false);
    out.issuers.set(k, c);
  }
  for (const [k, v] of Object.entries(mi as Record<string, unknown>)) {
    const c = issuer(k, v, true);
    if (!k.startsWith('https://')) bad(`meta-issuer ${k} must be https`);
    // Fulcio: each `*` matches one DNS-label-ish token, the whole issuer is matched anchored.
    const pattern = new RegExp(`^${k.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('[-_a-zA-Z0-9]+')}$`);
    const { issuerUrl: _ignored, ...rest } = c;
    out.meta.push({ pattern, key: k, config: rest });
  }
  for (const [k, v] of Object.entries(ci as Record<string, unknown>)) {
    const o = (v ?? {}) as Record<string, unknown>;
    const meta: CiMetadata = {
      defaults: (o['default-template-values'] ?? {}) as Record<string, string>,
      ...(typeof o['subject-alternative-name-template'] === 'string' ? { sanTemplate: o['subject-alternative-name-template'] } : {}),
      extensionTemplates: (o['extension-templates'] ?? {}) as Record<string, string>,
    };
    // Checked now, not on the first request: every template in the subset Fulcio's language
    // that is evaluated (host/ca/ci-template.ts), every extension one the profile can write.
    for (const [name, tpl] of Object.entries(meta.extensionTemplates)) {
      if (!(name in FULCIO_EXTENSIONS) && !(name in FULCIO_RAW_EXTENSIONS)) bad(`ci-issuer-metadata ${k}: unknown extension ${name}`);
      parseCiTemplate(tpl);
    }
    if (meta.sanTemplate !== undefined) parseCiTemplate(meta.sanTemplate);
    out.ci.set(k, meta);
  }
  for (const c of out.issuers.values()) if (c.type === 'ci-provider' && !out.ci.has(c.ciProvider!)) bad(`ci-provider ${c.ciProvider} has no ci-issuer-metadata`);
  return out;
}

/** The issuer config for a token's `iss`: exact match first, then meta-issuer patterns. */
export function issuerFor(cfg: IssuersConfig, iss: string): IssuerConfig | undefined {
  const exact = cfg.issuers.get(iss);
  if (exact) return exact;
  for (const m of cfg.meta) if (m.pattern.test(iss)) return { ...m.config, issuerUrl: iss };
  return undefined;
}
