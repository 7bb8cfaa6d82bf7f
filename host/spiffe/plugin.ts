/**
 * HTTP face of the SPIFFE identity provider:
 *   GET  /.well-known/openid-configuration   OIDC discovery (as SPIRE's oidc-discovery-provider)
 *   GET  /keys                               the JWT-SVID keys as a JWKS
 *   GET  /bundle                             SPIFFE bundle endpoint (Federation §5; https_web when
 *                                            served over TLS, see standalone.ts)
 *   /admin/v1/...                            registration entries, join tokens, rotation, agents
 *                                            (Authorization: Bearer <admin token>)
 *   POST /node/v1/attest/join_token          node attestation with a join token
 *   POST /node/v1/attest/tpm/challenge|quote node attestation with a TPM 2.0 quote
 *   /agent/v1/...                            attested agents on other nodes (agent-api.ts)
 * Every route has request and response schemas; errors go through the one root handler.
 */
import { createHash, createPublicKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyRequest } from 'fastify';
import { installErrorHandler, frameworkErrors } from '../http/errors.js';
import { REQUEST_LOGGING } from '../http/logging.js';
import { NODE_SERVER_TIMEOUTS, SERVER_TIMEOUTS } from '../http/timeouts.js';
import { registerOps } from '../http/ops.js';
import type { TrustDomainCa } from './ca.js';
import { SpiffeError } from './errors.js';
import { parseFederatesWith, type SpiffeStore, type RegistrationEntry } from './store.js';
import type { TpmAttestor } from './tpm-attestor.js';
import { agentRoutes } from './agent-api.js';
import { parseSpiffeId } from './id.js';

export interface SpiffePluginOptions {
  ca: TrustDomainCa;
  store: SpiffeStore;
  /** The admin bearer token (admin routes are absent when undefined). */
  adminToken?: string;
  /** The issuer URL (OIDC discovery base), known only after listen. */
  issuer: () => string;
  tpm?: TpmAttestor;
  /** TTL of agent X509-SVIDs issued by node attestation (default 1 h). */
  agentSvidTtlMs?: number;
  /**
   * Trust domains this server has a federation relationship with (the config's `federation`): the
   * only ones an entry's `federatesWith` may name. None when absent.
   */
  federatedTrustDomains?: readonly string[];
}

export interface BuildOptions extends SpiffePluginOptions {
  /** fastify/pino logger options (host/http/logging.ts); default: no logging. */
  logger?: import('../http/logging.js').ServiceLogger;
  /** Serve over TLS (the bundle endpoint's https_web profile, Federation §5.2.1). */
  https?: { key: string | Buffer; cert: string | Buffer };
}

const errorSchema = {
  type: 'object',
  properties: { code: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;
const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema } as const;

const jwkSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    kty: { type: 'string' }, crv: { type: 'string' }, x: { type: 'string' }, y: { type: 'string' },
    kid: { type: 'string' }, use: { type: 'string' }, alg: { type: 'string' },
    x5c: { type: 'array', items: { type: 'string' } },
  },
} as const;

const entrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    spiffeId: { type: 'string' },
    parentId: { type: 'string' },
    selectors: { type: 'array', items: { type: 'string' } },
    hint: { type: 'string' },
    x509SvidTtl: { type: 'integer' },
    jwtSvidTtl: { type: 'integer' },
    federatesWith: { type: 'array', items: { type: 'string' } },
    dnsNames: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'integer' },
  },
} as const;

const newEntrySchema = {
  type: 'object',
  required: ['spiffeId', 'parentId', 'selectors'],
  additionalProperties: false,
  properties: {
    spiffeId: { type: 'string', maxLength: 2048 },
    parentId: { type: 'string', maxLength: 2048 },
    selectors: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', maxLength: 4200 } },
    hint: { type: 'string', maxLength: 128 },
    x509SvidTtl: { type: 'integer' },
    jwtSvidTtl: { type: 'integer' },
    // Element shapes are the store's checks (coded SPIFFE_BAD_TRUST_DOMAIN / SPIFFE_BAD_REQUEST).
    federatesWith: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 255 + 'spiffe://'.length } },
    dnsNames: { type: 'array', maxItems: 32, items: { type: 'string', maxLength: 253 } },
  },
} as const;

const svidResponseSchema = {
  type: 'object',
  properties: {
    spiffeId: { type: 'string' },
    selectors: { type: 'array', items: { type: 'string' } },
    svid: { type: 'array', items: { type: 'string' } },
    bundle: { type: 'array', items: { type: 'string' } },
    expiresAt: { type: 'integer' },
  },
} as const;

/** The agent's public key for its SVID: an SPKI in PEM or base64 DER; must be EC P-256. */
export function parseAgentKey(v: string): KeyObject {
  try {
    const key = v.includes('-----BEGIN') ? createPublicKey(v) : createPublicKey({ key: Buffer.from(v, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not P-256');
    return key;
  } catch (e) {
    throw new SpiffeError('SPIFFE_BAD_REQUEST', 'publicKey must be an ECDSA P-256 SPKI (PEM or base64 DER)', { cause: e });
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export const spiffeRoutes: FastifyPluginAsync<SpiffePluginOptions> = async (app, opts) => {
  const { ca, store } = opts;

  // ---------------------------------------------------------------------------------------------
  // OIDC discovery (OpenID Connect Discovery 1.0 §3–§4), the document SPIRE's provider serves.
  app.get('/.well-known/openid-configuration', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            issuer: { type: 'string' },
            jwks_uri: { type: 'string' },
            authorization_endpoint: { type: 'string' },
            response_types_supported: { type: 'array', items: { type: 'string' } },
            subject_types_supported: { type: 'array', items: { type: 'string' } },
            id_token_signing_alg_values_supported: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
  }, async (_req, reply) => {
    const issuer = opts.issuer();
    reply.header('cache-control', 'public, max-age=60');
    return {
      issuer,
      jwks_uri: `${issuer.replace(/\/$/, '')}/keys`,
      authorization_endpoint: '',
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    };
  });

  app.get('/keys', {
    schema: { response: { 200: { type: 'object', properties: { keys: { type: 'array', items: jwkSchema } } } } },
  }, async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=60');
    return ca.jwtJwks('sig');
  });

  // SPIFFE bundle endpoint (Federation §5.2: no client authentication, UTF-8 JSON).
  app.get('/bundle', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: { keys: { type: 'array', items: jwkSchema }, spiffe_sequence: { type: 'integer' }, spiffe_refresh_hint: { type: 'integer' } },
        },
      },
    },
  }, async (_req, reply) => {
    reply.type('application/json; charset=utf-8');
    return ca.bundle();
  });

  // ---------------------------------------------------------------------------------------------
  // Node attestation. The agent's SPIFFE ID is derived from the evidence, never chosen by it.

  const issueAgentSvid = async (spiffeId: string, selectors: string[], publicKey: KeyObject, type: 'join_token' | 'tpm') => {
    const svid = await ca.mintX509Svid(spiffeId, { publicKey, ttlMs: opts.agentSvidTtlMs ?? 3_600_000 });
    store.recordAgent({ spiffeId, attestationType: type, selectors, attestedAt: Date.now(), svidSerial: svid.serial.toLowerCase() });
    return {
      spiffeId,
      selectors,
      svid: svid.chain.map((c) => Buffer.from(c).toString('base64')),
      bundle: ca.x509Authorities().map((c) => Buffer.from(c).toString('base64')),
      expiresAt: svid.notAfter.getTime(),
    };
  };

  app.post<{ Body: { token: string; publicKey: string } }>('/node/v1/attest/join_token', {
    schema: {
      body: {
        type: 'object',
        required: ['token', 'publicKey'],
        additionalProperties: false,
        properties: { token: { type: 'string', maxLength: 256 }, publicKey: { type: 'string', maxLength: 4096 } },
      },
      response: { 200: svidResponseSchema, ...errors },
    },
  }, async (req) => {
    const key = parseAgentKey(req.body.publicKey);
    const tokenId = store.consumeJoinToken(req.body.token);
    // SPIRE's join_token attestor names the agent spiffe://<td>/spire/agent/join_token/<token>; we
    // use a hash of the token instead so that the ID never reveals the secret.
    return issueAgentSvid(`spiffe://${ca.trustDomain}/spire/agent/join_token/${tokenId}`, [`join_token:${tokenId}`], key, 'join_token');
  });

  if (opts.tpm) {
    const tpm = opts.tpm;
    app.post<{ Body: { akPublic: string; ekPublic?: string; pcrs?: number[] } }>('/node/v1/attest/tpm/challenge', {
      schema: {
        body: {
          type: 'object',
          required: ['akPublic'],
          additionalProperties: false,
          properties: {
            akPublic: { type: 'string', maxLength: 8192 },
            ekPublic: { type: 'string', maxLength: 8192 },
            pcrs: { type: 'array', minItems: 1, maxItems: 24, items: { type: 'integer', minimum: 0, maximum: 23 } },
          },
        },
        response: {
          200: { type: 'object', properties: { nonce: { type: 'string' }, pcrs: { type: 'array', items: { type: 'integer' } }, expiresAt: { type: 'integer' }, credentialBlob: { type: 'string' } } },
          ...errors,
        },
      },
    }, async (req) => {
      const c = tpm.challenge(req.body.akPublic, req.body.pcrs, req.body.ekPublic);
      // credentialBlob: tpm2-tools' credential file, for `tpm2_activatecredential -i`.
      return { nonce: Buffer.from(c.nonce).toString('hex'), pcrs: c.pcrs, expiresAt: c.expiresAt, ...(c.credentialBlob ? { credentialBlob: c.credentialBlob.toString('base64') } : {}) };
    });

    app.post<{ Body: { ekPublic?: string; akPublic: string; nonce: string; credential?: string; attest: string; signature: string; pcrValues: string[]; publicKey: string; ekCertificate?: string; ekChain?: string[] } }>('/node/v1/attest/tpm/quote', {
      schema: {
        body: {
          type: 'object',
          required: ['akPublic', 'nonce', 'attest', 'signature', 'pcrValues', 'publicKey'],
          additionalProperties: false,
          properties: {
            ekPublic: { type: 'string', maxLength: 8192 },
            akPublic: { type: 'string', maxLength: 8192 },
            nonce: { type: 'string', pattern: '^[0-9a-f]{64}$' },
            credential: { type: 'string', pattern: '^[0-9a-f]{2,64}$' },
            attest: { type: 'string', maxLength: 4096 },
            signature: { type: 'string', maxLength: 4096 },
            pcrValues: { type: 'array', maxItems: 24, items: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
            publicKey: { type: 'string', maxLength: 4096 },
            ekCertificate: { type: 'string', maxLength: 8192, pattern: '^[A-Za-z0-9+/]*={0,2}$' },
            ekChain: { type: 'array', maxItems: 4, items: { type: 'string', maxLength: 8192, pattern: '^[A-Za-z0-9+/]*={0,2}$' } },
          },
        },
        response: { 200: svidResponseSchema, ...errors },
      },
    }, async (req) => {
      const key = parseAgentKey(req.body.publicKey);
      const b = req.body;
      const result = await tpm.verify({
        ...(b.ekPublic !== undefined ? { ekPublic: b.ekPublic } : {}),
        akPublic: b.akPublic,
        nonce: Buffer.from(b.nonce, 'hex'),
        ...(b.credential !== undefined ? { credential: Buffer.from(b.credential, 'hex') } : {}),
        attest: Buffer.from(b.attest, 'base64'),
        signature: Buffer.from(b.signature, 'base64'),
        pcrValues: b.pcrValues.map((h) => Buffer.from(h, 'hex')),
        ...(b.ekCertificate !== undefined ? { ekCertificate: Buffer.from(b.ekCertificate, 'base64') } : {}),
        ...(b.ekChain !== undefined ? { ekChain: b.ekChain.map((c) => Buffer.from(c, 'base64')) } : {}),
      });
      return issueAgentSvid(result.spiffeId, result.selectors, key, 'tpm');
    });
  }

  // The agent API authenticates agents by their SVIDs, not the admin token: it is there either way.
  await agentRoutes(app, { ca, store, agentSvidTtlMs: opts.agentSvidTtlMs ?? 3_600_000 });

  // ---------------------------------------------------------------------------------------------
  // Admin API (bearer token). Absent entirely when no token is configured.
  if (opts.adminToken === undefined) return;
  const expected = digest(opts.adminToken);
  const authenticate = async (req: FastifyRequest): Promise<void> => {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer ([\x21-\x7e]{1,512})$/.exec(h) : null;
    // Compare fixed-length digests in constant time: no length or prefix oracle on the token.
    if (!m || !timingSafeEqual(digest(m[1]!), expected)) throw new SpiffeError('SPIFFE_UNAUTHENTICATED', 'admin bearer token required');
  };

  await app.register(async (admin) => {
    admin.addHook('onRequest', authenticate);

    admin.post<{ Body: Parameters<SpiffeStore['createEntry']>[0] }>('/admin/v1/entries', {
      schema: { body: newEntrySchema, response: { 201: entrySchema, ...errors } },
    }, async (req, reply) => {
      checkEntryScope(ca.trustDomain, req.body);
      checkFederatesWith(ca.trustDomain, req.body.federatesWith, opts.federatedTrustDomains ?? []);
      const entry: RegistrationEntry = store.createEntry(req.body);
      return reply.code(201).send(entry);
    });

    admin.get<{ Querystring: { parentId?: string; spiffeId?: string } }>('/admin/v1/entries', {
      schema: {
        querystring: { type: 'object', additionalProperties: false, properties: { parentId: { type: 'string', maxLength: 2048 }, spiffeId: { type: 'string', maxLength: 2048 } } },
        response: { 200: { type: 'object', properties: { entries: { type: 'array', items: entrySchema } } }, ...errors },
      },
    }, async (req) => ({ entries: store.listEntries(req.query) }));

    admin.delete<{ Params: { id: string } }>('/admin/v1/entries/:id', {
      schema: {
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9a-f-]{36}$' } } },
        response: { 204: { type: 'null' }, ...errors },
      },
    }, async (req, reply) => {
      store.deleteEntry(req.params.id);
      return reply.code(204).send();
    });

    admin.post<{ Body: { ttl?: number } }>('/admin/v1/jointokens', {
      schema: {
        body: { type: 'object', additionalProperties: false, properties: { ttl: { type: 'integer', minimum: 1, maximum: 604800 } } },
        response: { 201: { type: 'object', properties: { token: { type: 'string' }, expiresAt: { type: 'integer' } } }, ...errors },
      },
    }, async (req, reply) => reply.code(201).send(store.createJoinToken(req.body?.ttl ?? 600)));

    admin.post('/admin/v1/rotate', {
      schema: { response: { 200: { type: 'object', properties: { spiffe_sequence: { type: 'integer' } } }, ...errors } },
    }, async () => {
      await ca.rotate();
      return { spiffe_sequence: ca.bundleSequence };
    });

    admin.get('/admin/v1/agents', {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: {
              agents: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { spiffeId: { type: 'string' }, attestationType: { type: 'string' }, selectors: { type: 'array', items: { type: 'string' } }, attestedAt: { type: 'integer' } },
                },
              },
            },
          },
          ...errors,
        },
      },
    }, async () => ({ agents: store.listAgents() }));

    // Eviction (SPIRE `agent evict`): the agent's SVID stops working on the agent API at once, it
    // cannot renew, and it must attest again (a join token is single-use; a TPM can re-attest).
    admin.delete<{ Params: { id: string } }>('/admin/v1/agents/:id', {
      schema: { params: { type: 'object', properties: { id: { type: 'string', maxLength: 2048 } } }, response: { 204: { type: 'null' }, ...errors } },
    }, async (req, reply) => {
      if (!store.deleteAgent(req.params.id)) throw new SpiffeError('SPIFFE_NOT_FOUND', `no attested agent ${req.params.id}`);
      return reply.code(204).send();
    });
  });
};

/**
 * What the admin API may register, beyond the shape the store checks:
 * - IDs of this trust domain only (an entry for another one could never be issued, and would make
 *   every FetchX509SVID of a matching caller fail);
 * - no entry for the server's own ID or an agent ID: those are given by attestation, and remote
 *   agents and https_spiffe federation peers recognise the server by exactly that ID;
 * - a node alias that selects TPMs must pin them (tpm:ek:, tpm:ak:, or the EK certificate's
 *   vendor CA and attributes): PCR values alone can be quoted by a software key presented as an
 *   EK, since the server cannot tell a TPM's EK from any RSA key without its certificate.
 */
export function checkEntryScope(trustDomain: string, e: { spiffeId: string; parentId: string; selectors: string[] }): void {
  // Well-formed first (SPIFFE_BAD_ID), then in scope.
  parseSpiffeId(e.spiffeId);
  parseSpiffeId(e.parentId);
  const td = `spiffe://${trustDomain}/`;
  if (!e.spiffeId.startsWith(td) || !e.parentId.startsWith(td)) throw new SpiffeError('SPIFFE_BAD_REQUEST', `entries name IDs of this trust domain (${trustDomain}) only`);
  if (e.spiffeId === `${td}spire/server` || e.spiffeId.startsWith(`${td}spire/agent/`)) throw new SpiffeError('SPIFFE_BAD_REQUEST', `${e.spiffeId} is the server's or an agent's own ID, given by attestation; it cannot be registered as an entry`);
  const tpm = e.selectors.filter((x) => typeof x === 'string' && x.startsWith('tpm:'));
  if (tpm.length > 0 && tpm.every((x) => x.startsWith('tpm:pcr:'))) throw new SpiffeError('SPIFFE_BAD_SELECTOR', 'a TPM node entry must pin the TPM (tpm:ek:, tpm:ak:, or tpm:ek-ca: with the EK certificate\'s attributes): PCR values alone can be quoted by a software key');
}

/**
 * An entry's `federatesWith` may name only trust domains this server federates with (SPIRE
 * refuses an entry naming one without a federation relationship): a bundle the server does not
 * hold could never be sent, and the entry would silently lack the trust it asked for. The own
 * trust domain is not a federated one (its bundle is always sent, Workload API §5.2).
 */
export function checkFederatesWith(trustDomain: string, federatesWith: unknown, configured: readonly string[]): void {
  const known = new Set(configured);
  for (const td of parseFederatesWith(federatesWith)) {
    if (td === trustDomain) throw new SpiffeError('SPIFFE_BAD_TRUST_DOMAIN', `federatesWith names this server's own trust domain (${trustDomain}), whose bundle every workload already gets`);
    if (!known.has(td)) throw new SpiffeError('SPIFFE_UNKNOWN_TRUST_DOMAIN', `federatesWith names ${td}, with which this server has no federation relationship`);
  }
}

export async function build(opts: BuildOptions): Promise<FastifyInstance> {
  // removeAdditional off: an unknown field is refused (400), not silently dropped.
  const base = { logger: opts.logger ?? false, bodyLimit: 64 * 1024, frameworkErrors, ...REQUEST_LOGGING, ...SERVER_TIMEOUTS, ajv: { customOptions: { removeAdditional: false as const } } };
  // Two calls, not a conditional option: fastify's types pick the server type from `https`.
  const app = (opts.https ? Fastify({ ...base, https: { ...opts.https, ...NODE_SERVER_TIMEOUTS } }) : Fastify(base)) as unknown as FastifyInstance;
  installErrorHandler(app);
  await registerOps(app, {
    service: 'spiffe',
    description: 'SPIFFE trust-domain server: OIDC discovery, bundle endpoint, registration and node attestation',
    // Unready while no authority signs (all expired and a successor not yet saved, or the next one
    // not yet activated): every SVID, attestation and renewal would be SPIFFE_UNAVAILABLE.
    ready: () => {
      try {
        opts.ca.activeAuthorityId();
        return undefined;
      } catch (e) {
        if (e instanceof SpiffeError) return e.message;
        throw e;
      }
    },
  });
  await app.register(spiffeRoutes, opts);
  return app;
}
