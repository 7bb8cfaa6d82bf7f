/**
 * Fulcio-compatible HTTP API (fulcio api/v2 + the legacy v1 endpoint older cosign versions use):
 *   POST /api/v2/signingCert   token in credentials.oidcIdentityToken or Authorization: Bearer;
 *                              publicKeyRequest {publicKey {algorithm, content}, proofOfPossession}
 *                              or certificateSigningRequest; answers signedCertificateEmbeddedSct
 *                              (CT log configured) or signedCertificateDetachedSct
 *   GET  /api/v2/trustBundle   {chains: [{certificates: [PEM]}]}
 *   GET  /api/v2/configuration {issuers: [{issuerUrl | wildcardIssuerUrl, audience, challengeClaim, spiffeTrustDomain}]}
 *   POST /api/v1/signingCert   201, application/pem-certificate-chain, SCT header when detached
 *   POST /cairn/v1/subordinate-ca   (Cairn; only with `subordinates` configured) a JWT-SVID of a
 *                              registered subordinate CA server + certificateSigningRequest →
 *                              201 {chain: {certificates: [PEM]}, spiffeId, trustDomain, notAfter}
 *   POST /cairn/v1/trust-domains          (Cairn; only with `trustDomains` configured) register a
 *                              trust domain: {trustDomain, bundle, spiffeIds, oidcIssuer?, proof} → 201
 *                              {status: pending, challenge} or {status: active}
 *   POST /cairn/v1/trust-domains/:td/validate   check the http-01 answer → 200 {status: active}
 *   GET  /cairn/v1/trust-domains/:td      the registration (bundle, IDs, status)
 *   PUT  /cairn/v1/trust-domains/:td      replace bundle and IDs: {bundle, spiffeIds, proof}, the
 *                              proof signed by the bundle registered now
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { installErrorHandler, frameworkErrors } from '../http/errors.js';
import { REQUEST_LOGGING } from '../http/logging.js';
import { SERVER_TIMEOUTS } from '../http/timeouts.js';
import { registerOps } from '../http/ops.js';
import { signerUnready } from '../keys/probe.js';
import type { IssuersConfig } from './config.js';
import type { CodeSigningCa, IssuedChain, SigningRequest } from './core.js';
import { CaError } from './errors.js';
import type { SubordinateIssuer } from './subordinate.js';
import type { Registration, TrustDomainRegistry } from './trust-domains.js';

export interface CaPluginOptions {
  ca: CodeSigningCa;
  issuers: IssuersConfig;
  /** Issues name-constrained subordinate CA certificates (subordinate.ts); the route exists only with it. */
  subordinates?: SubordinateIssuer;
  /** Registered trust domains (trust-domains.ts); the routes exist only with it. */
  trustDomains?: TrustDomainRegistry;
  /** fastify/pino logger options (host/http/logging.ts); default: no logging. */
  logger?: import('../http/logging.js').ServiceLogger;
  bodyLimit?: number;
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

function b64(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length > 16384) throw new CaError('CA_BAD_REQUEST', `${what} must be base64`);
  return new Uint8Array(Buffer.from(v, 'base64'));
}

/**
 * Certificate requests in progress at once. Each may wait on upstreams (the issuer's JWKS, the CT
 * log: up to 10 s each) and on the signing key; a burst while one of them is slow or hangs would
 * otherwise gather requests, each with its socket and parsed body, without limit. Beyond this
 * many, 503 CA_OVERLOADED with Retry-After (STYLE.md point 3, as Tessera's ErrPushback).
 */
export const MAX_ISSUING = 1024;

export const caRoutes = async (app: FastifyInstance, opts: CaPluginOptions): Promise<void> => {
  const { ca } = opts;
  let issuing = 0;
  const signingCert = async (r: SigningRequest): Promise<IssuedChain> => {
    if (issuing >= MAX_ISSUING) throw new CaError('CA_OVERLOADED', 'too many certificate requests are in progress; retry later', { retryAfter: 1 });
    issuing++;
    try {
      return await ca.signingCert(r);
    } finally {
      issuing--;
    }
  };
  app.post('/api/v2/signingCert', { schema: { tags: ['fulcio v2'], body: { type: 'object' } } }, async (req) => {
    const b = req.body as {
      credentials?: { oidcIdentityToken?: unknown };
      publicKeyRequest?: { publicKey?: { algorithm?: unknown; content?: unknown }; proofOfPossession?: unknown };
      certificateSigningRequest?: unknown;
    };
    const token = (typeof b.credentials?.oidcIdentityToken === 'string' ? b.credentials.oidcIdentityToken : undefined) ?? bearer(req) ?? '';
    const pk = b.publicKeyRequest;
    if (pk !== undefined && (typeof pk !== 'object' || pk === null || typeof pk.publicKey?.content !== 'string')) throw new CaError('CA_BAD_REQUEST', 'publicKeyRequest.publicKey.content must be a PEM public key');
    if (b.certificateSigningRequest !== undefined && typeof b.certificateSigningRequest !== 'string') throw new CaError('CA_BAD_REQUEST', 'certificateSigningRequest must be a string');
    const csr = b.certificateSigningRequest !== undefined ? Buffer.from(b.certificateSigningRequest as string, 'base64').toString('utf8') : undefined;
    const issued = await signingCert({
      token,
      ...(pk ? { publicKey: pk.publicKey!.content as string, proofOfPossession: b64(pk.proofOfPossession, 'proofOfPossession') } : {}),
      ...(csr !== undefined ? { csr: csr.includes('-----BEGIN') ? csr : (b.certificateSigningRequest as string) } : {}),
    });
    const chain = { certificates: issued.chainPem };
    if (issued.embedded) return { signedCertificateEmbeddedSct: { chain } };
    return { signedCertificateDetachedSct: { chain, signedCertificateTimestamp: issued.detachedSct ? Buffer.from(issued.detachedSct).toString('base64') : '' } };
  });

  app.get('/api/v2/trustBundle', { schema: { tags: ['fulcio v2'] } }, async () => ({ chains: [{ certificates: ca.caChainPem }] }));

  app.get('/api/v2/configuration', { schema: { tags: ['fulcio v2'] } }, async () => ({
    issuers: [
      ...[...opts.issuers.issuers.values()].map((i) => ({
        issuerUrl: i.issuerUrl,
        audience: i.clientId,
        challengeClaim: i.type === 'email' ? 'email' : 'sub',
        ...(i.spiffeTrustDomain ? { spiffeTrustDomain: i.spiffeTrustDomain } : {}),
      })),
      ...opts.issuers.meta.map((m) => ({ wildcardIssuerUrl: m.key, audience: m.config.clientId, challengeClaim: m.config.type === 'email' ? 'email' : 'sub' })),
    ],
  }));

  const sub = opts.subordinates;
  if (sub) {
    app.post('/cairn/v1/subordinate-ca', { schema: { tags: ['cairn subordinate CAs'], body: { type: 'object' } } }, async (req, reply) => {
      const b = req.body as { credentials?: { oidcIdentityToken?: unknown }; certificateSigningRequest?: unknown };
      const token = (typeof b.credentials?.oidcIdentityToken === 'string' ? b.credentials.oidcIdentityToken : undefined) ?? bearer(req) ?? '';
      if (typeof b.certificateSigningRequest !== 'string' || b.certificateSigningRequest.length > 16384) throw new CaError('CA_BAD_REQUEST', 'certificateSigningRequest must be a base64 PEM (or DER) PKCS#10 request');
      // As in Fulcio's v2 API, the field holds the PEM base64-encoded; plain PEM is taken too.
      const raw = b.certificateSigningRequest;
      const decoded = raw.includes('-----BEGIN') ? raw : Buffer.from(raw, 'base64').toString('latin1');
      const issued = await sub.issue({ token, csr: decoded.includes('-----BEGIN') ? decoded : raw });
      return reply.code(201).send({ chain: { certificates: issued.chainPem }, spiffeId: issued.spiffeId, trustDomain: issued.trustDomain, notAfter: issued.notAfter.toISOString() });
    });
  }

  const reg = opts.trustDomains;
  if (reg) {
    const view = (r: Registration): Record<string, unknown> => ({
      trustDomain: r.trustDomain,
      status: r.status,
      spiffeIds: r.spiffeIds,
      ...(r.oidcIssuer ? { oidcIssuer: r.oidcIssuer } : {}),
      bundle: JSON.parse(r.bundle) as unknown,
      registeredAt: new Date(r.registeredAt).toISOString(),
      ...(r.activatedAt ? { activatedAt: new Date(r.activatedAt).toISOString() } : {}),
    });
    const tdParam = (req: FastifyRequest): string => {
      const td = (req.params as { td?: string }).td ?? '';
      if (!/^[a-z0-9.-]{1,255}$/.test(td)) throw new CaError('CA_BAD_REQUEST', 'not a trust domain name');
      return td;
    };
    const tags = ['cairn registered trust domains'];
    app.post('/cairn/v1/trust-domains', { schema: { tags, body: { type: 'object' } } }, async (req, reply) => {
      const b = req.body as Record<string, unknown>;
      const { registration, challenge } = await reg.register({ trustDomain: b.trustDomain, bundle: b.bundle, spiffeIds: b.spiffeIds, ...(b.oidcIssuer !== undefined ? { oidcIssuer: b.oidcIssuer } : {}), proof: b.proof });
      return reply.code(201).send({ ...view(registration), ...(challenge ? { challenge } : {}) });
    });
    app.post('/cairn/v1/trust-domains/:td/validate', { schema: { tags } }, async (req) => view(await reg.validate(tdParam(req))));
    app.get('/cairn/v1/trust-domains/:td', { schema: { tags } }, async (req) => {
      const td = tdParam(req);
      const r = reg.get(td);
      if (!r) throw new CaError('CA_NOT_FOUND', `${td} is not registered`, { status: 404 });
      return view(r);
    });
    app.put('/cairn/v1/trust-domains/:td', { schema: { tags, body: { type: 'object' } } }, async (req) => {
      const b = req.body as Record<string, unknown>;
      return view(await reg.update(tdParam(req), { bundle: b.bundle, spiffeIds: b.spiffeIds, ...(b.oidcIssuer !== undefined ? { oidcIssuer: b.oidcIssuer } : {}), proof: b.proof }));
    });
  }

  app.post('/api/v1/signingCert', { schema: { tags: ['fulcio v1 (legacy)'], body: { type: 'object' } } }, async (req, reply) => {
    const b = req.body as { publicKey?: { content?: unknown; algorithm?: unknown }; signedEmailAddress?: unknown };
    if (typeof b.publicKey?.content !== 'string') throw new CaError('CA_BAD_REQUEST', 'publicKey.content is required');
    const content = b.publicKey.content;
    // v1 clients send base64 DER (cosign) or base64 PEM.
    const decoded = Buffer.from(content, 'base64').toString('utf8');
    const issued = await signingCert({
      token: bearer(req) ?? '',
      publicKey: decoded.includes('-----BEGIN') ? decoded : content,
      proofOfPossession: b64(b.signedEmailAddress, 'signedEmailAddress'),
    });
    if (!issued.embedded && issued.detachedSct) reply.header('SCT', Buffer.from(issued.detachedSct).toString('base64'));
    return reply.code(201).type('application/pem-certificate-chain').send(issued.chainPem.map((p) => p.trim() + '\n').join(''));
  });
};

export async function build(opts: CaPluginOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: opts.bodyLimit ?? 64 * 1024, frameworkErrors , ...REQUEST_LOGGING, ...SERVER_TIMEOUTS });
  installErrorHandler(app);
  // Unready while a subordinate waits for its first certificate (its API answers CA_PENDING),
  // while the issuing certificate is outside its validity window (CodeSigningCa.pending), or while
  // its key cannot sign (an HSM session lost).
  await registerOps(app, {
    service: 'ca',
    description: 'Fulcio-compatible keyless code-signing CA',
    ready: async () => {
      const ca = opts.ca.issuingCa;
      return opts.ca.pending() ?? (ca ? await signerUnready(ca.signer) : undefined);
    },
  });
  await caRoutes(app, opts);
  return app;
}
