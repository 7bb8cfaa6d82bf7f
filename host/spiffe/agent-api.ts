/**
 * The server's API for agents on other nodes (SPIRE's agent ↔ server API, over HTTP): after node
 * attestation gave an agent its X509-SVID (spiffe://td/spire/agent/...), the agent fetches the
 * entries it may serve and has SVIDs minted for its workloads. remote-agent.ts is the client.
 *
 *   GET  /agent/v1/entries      entries whose parent is the agent or one of its node aliases
 *   POST /agent/v1/svid/x509    {spiffeId, publicKey} → {chain, expiresAt}   (key made by the agent)
 *   POST /agent/v1/svid/jwt     {spiffeId, audience}  → {token, expiresAt}
 *   POST /agent/v1/renew        {publicKey} → a new agent X509-SVID for the same ID
 *
 * Every request is signed with the agent SVID's key, like an RFC 9449 (DPoP) proof: header
 * `Authorization: SVID <JWS>`, ES256, its `x5c` the agent's SVID chain, payload
 * {htm, htu, iat, jti, bh} with bh = base64url SHA-256 of the RFC 8785 form of the JSON body. The
 * server checks the chain up to one of its own X.509 authorities (X509-SVID §5), the SVID's
 * validity, that its SPIFFE ID is an attested agent that has not been evicted, the method and
 * path, a 60 s window on iat, and that the jti was not used before. Over plain HTTP a captured
 * request cannot be replayed or altered; TLS (`tls:` in the server config) also keeps it private.
 *
 * Node aliases (SPIRE): a node entry (parent = spiffe://td/spire/server) whose selectors are all
 * among an agent's attestation selectors (tpm:ek-ca:..., join_token:...) names a group of
 * nodes; workload entries parented to that alias are served by every agent in the group.
 */
import { createHash, X509Certificate, verify as cryptoVerify } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { jcs } from '../log/jcs.js';
import type { TrustDomainCa } from './ca.js';
import { SpiffeError } from './errors.js';
import { parseAgentKey } from './plugin.js';
import { selectorsMatch } from './selectors.js';
import type { RegistrationEntry, SpiffeStore } from './store.js';

const WINDOW_S = 60;

export interface AgentApiOptions {
  ca: TrustDomainCa;
  store: SpiffeStore;
  agentSvidTtlMs: number;
  now?: () => number;
  /** The replay cache (default: a new one). */
  seen?: SeenJtis;
}

/**
 * The jtis each agent used, each kept only while a proof carrying it could still pass the iat
 * window (until iat + WINDOW_S). Per agent, so that one agent flooding requests can only push out
 * its own (past `perAgent`, oldest first), never reopen another agent's replay window. Expired
 * jtis, and the agents left with none (evicted, re-attested under a new ID, gone), are swept at
 * most once per window, so what is held is what the last two windows' requests used.
 */
export class SeenJtis {
  private readonly byAgent = new Map<string, Map<string, number>>();
  private sweptAt = 0;

  constructor(private readonly perAgent = 20_000) {}

  /** Records `jti` for `agent` until `expiresAt` (ms, inclusive); false if it is held already (a replay). */
  add(agent: string, jti: string, expiresAt: number, now: number): boolean {
    if (Math.abs(now - this.sweptAt) >= WINDOW_S * 1000) this.sweep(now);
    let m = this.byAgent.get(agent);
    if (!m) this.byAgent.set(agent, (m = new Map()));
    const at = m.get(jti);
    if (at !== undefined && at >= now) return false;
    if (at === undefined && m.size >= this.perAgent) m.delete(m.keys().next().value!);
    m.set(jti, expiresAt);
    return true;
  }

  /** jtis held, over every agent. */
  get size(): number {
    let n = 0;
    for (const m of this.byAgent.values()) n += m.size;
    return n;
  }

  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [agent, m] of this.byAgent) {
      for (const [jti, at] of m) if (at < now) m.delete(jti);
      if (m.size === 0) this.byAgent.delete(agent);
    }
  }
}

const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

/** The bh claim: SHA-256 over the RFC 8785 form of the JSON body ("" when there is none). */
export function bodyHash(body: unknown): string {
  return b64u(createHash('sha256').update(body === undefined ? '' : jcs(body)).digest());
}

const unauth = (why: string): never => {
  throw new SpiffeError('SPIFFE_UNAUTHENTICATED', `agent request refused: ${why}`);
};

export async function agentRoutes(app: FastifyInstance, o: AgentApiOptions): Promise<void> {
  const { ca, store } = o;
  const now = o.now ?? Date.now;
  const seen = o.seen ?? new SeenJtis();
  const serverId = `spiffe://${ca.trustDomain}/spire/server`;

  /** The calling agent's SPIFFE ID, from a request signed with its SVID key (see the file comment). */
  const authenticate = (req: FastifyRequest): string => authenticateSvid(req).agentId;
  /** authenticate, also answering the serial (lowercase hex) of the SVID the request was signed with. */
  const authenticateSvid = (req: FastifyRequest): { agentId: string; serial: string } => {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^SVID ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(h) : null;
    if (!m) return unauth('Authorization: SVID <JWS> required');
    let header: { alg?: unknown; x5c?: unknown };
    let claims: { htm?: unknown; htu?: unknown; iat?: unknown; jti?: unknown; bh?: unknown };
    try {
      header = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as typeof header;
      claims = JSON.parse(Buffer.from(m[2]!, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return unauth('the JWS is not JSON');
    }
    // `null` parses as JSON too: both parts must be objects before any field is read.
    const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (!isObject(header) || !isObject(claims)) unauth('the JWS header and claims must be JSON objects');
    if (header.alg !== 'ES256') unauth('alg must be ES256');
    if (!Array.isArray(header.x5c) || header.x5c.length < 1 || header.x5c.length > 4 || !header.x5c.every((c) => typeof c === 'string')) unauth('x5c must carry the agent SVID chain');
    let leaf: X509Certificate;
    let key: X509Certificate['publicKey'];
    try {
      leaf = new X509Certificate(Buffer.from((header.x5c as string[])[0]!, 'base64'));
      // Decoded only when first read: a certificate that parses can carry a key that does not.
      key = leaf.publicKey;
    } catch {
      return unauth('x5c[0] is not a certificate');
    }
    // The signature first: nothing else from the request is trusted before it verifies.
    const sig = Buffer.from(m[3]!, 'base64url');
    // ES256 only: a certificate with another key type (Ed25519, RSA) cannot have made this
    // signature, and OpenSSL would throw on it rather than answer false.
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') unauth('the SVID key must be ECDSA P-256 (ES256)');
    let signed = false;
    try {
      signed = sig.length === 64 && cryptoVerify('sha256', Buffer.from(`${m[1]}.${m[2]}`, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, sig);
    } catch {
      signed = false;
    }
    if (!signed) unauth('signature does not verify');
    // X509-SVID §5: the SVID must chain to an authority of this trust domain's bundle.
    const issuedHere = ca.x509Authorities().some((der) => {
      const a = new X509Certificate(der);
      return leaf.checkIssued(a) && leaf.verify(a.publicKey);
    });
    if (!issuedHere) unauth('the SVID is not issued by this trust domain');
    const t = now();
    if (t < new Date(leaf.validFrom).getTime() || t > new Date(leaf.validTo).getTime()) unauth('the SVID is expired');
    const uri = /^URI:(spiffe:\/\/\S+?)(,|$)/.exec(leaf.subjectAltName ?? '')?.[1];
    if (!uri || !uri.startsWith(`spiffe://${ca.trustDomain}/spire/agent/`)) throw new SpiffeError('SPIFFE_PERMISSION_DENIED', 'only agent SVIDs may use the agent API');
    const rec = store.getAgent(uri);
    if (!rec) throw new SpiffeError('SPIFFE_PERMISSION_DENIED', `${uri} is not an attested agent (evicted?)`);
    // Only the SVID the agent holds now (or the one it just renewed from) is live.
    const serial = leaf.serialNumber.toLowerCase();
    if (serial !== rec.svidSerial && serial !== rec.previousSerial) throw new SpiffeError('SPIFFE_PERMISSION_DENIED', `${uri}: this SVID was superseded by a later attestation or renewal`);
    if (claims.htm !== req.method || claims.htu !== req.url) unauth('htm/htu do not match the request');
    if (typeof claims.iat !== 'number' || Math.abs(claims.iat - t / 1000) > WINDOW_S) unauth('iat outside the 60 s window');
    if (typeof claims.jti !== 'string' || !/^[A-Za-z0-9_-]{16,64}$/.test(claims.jti)) unauth('jti required');
    let bh: string;
    try {
      bh = bodyHash(req.body);
    } catch {
      // RFC 8785 has no form for some JSON (1e400 parses to Infinity): no proof can cover it.
      return unauth('the body has no RFC 8785 canonical form (a number out of range?)');
    }
    if (claims.bh !== bh) unauth('bh does not match the body');
    // Single use within the window (older ones fail the iat check anyway).
    if (!seen.add(uri, claims.jti as string, ((claims.iat as number) + WINDOW_S) * 1000, t)) unauth('replayed request');
    return { agentId: uri, serial };
  };

  /** The parents whose entries this agent serves: itself and the node aliases its selectors match. */
  const parentsOf = (agentId: string): string[] => {
    const have = new Set(store.getAgent(agentId)!.selectors);
    const aliases = store.listEntries({ parentId: serverId }).filter((e) => selectorsMatch(e.selectors, have)).map((e) => e.spiffeId);
    return [agentId, ...new Set(aliases)];
  };
  const entitled = (agentId: string): RegistrationEntry[] => parentsOf(agentId).flatMap((p) => store.listEntries({ parentId: p }));
  const entryFor = (agentId: string, spiffeId: unknown): RegistrationEntry => {
    if (typeof spiffeId !== 'string') throw new SpiffeError('SPIFFE_BAD_REQUEST', 'spiffeId is required');
    const e = entitled(agentId).find((x) => x.spiffeId === spiffeId);
    if (!e) throw new SpiffeError('SPIFFE_PERMISSION_DENIED', `${agentId} may not obtain SVIDs for ${spiffeId}`);
    return e;
  };

  const tags = ['agent'];
  app.get('/agent/v1/entries', { schema: { tags } }, async (req) => ({ entries: entitled(authenticate(req)) }));

  app.post('/agent/v1/svid/x509', { schema: { tags, body: { type: 'object', required: ['spiffeId', 'publicKey'], properties: { spiffeId: { type: 'string', maxLength: 2048 }, publicKey: { type: 'string', maxLength: 4096 } } } } }, async (req) => {
    const agentId = authenticate(req);
    const b = req.body as { spiffeId: string; publicKey: string };
    const e = entryFor(agentId, b.spiffeId);
    const svid = await ca.mintX509Svid(e.spiffeId, { publicKey: parseAgentKey(b.publicKey), ttlMs: e.x509SvidTtl * 1000, ...(e.dnsNames.length > 0 ? { dnsNames: e.dnsNames } : {}) });
    return { chain: svid.chain.map((c) => Buffer.from(c).toString('base64')), expiresAt: svid.notAfter.getTime() };
  });

  app.post('/agent/v1/svid/jwt', { schema: { tags, body: { type: 'object', required: ['spiffeId', 'audience'], properties: { spiffeId: { type: 'string', maxLength: 2048 }, audience: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', minLength: 1, maxLength: 512 } } } } } }, async (req) => {
    const agentId = authenticate(req);
    const b = req.body as { spiffeId: string; audience: string[] };
    const e = entryFor(agentId, b.spiffeId);
    const jwt = await ca.mintJwtSvid(e.spiffeId, b.audience, { ttlMs: e.jwtSvidTtl * 1000 });
    return { token: jwt.token, expiresAt: jwt.expiresAt };
  });

  app.post('/agent/v1/renew', { schema: { tags, body: { type: 'object', required: ['publicKey'], properties: { publicKey: { type: 'string', maxLength: 4096 } } } } }, async (req) => {
    const { agentId, serial } = authenticateSvid(req);
    const svid = await ca.mintX509Svid(agentId, { publicKey: parseAgentKey((req.body as { publicKey: string }).publicKey), ttlMs: o.agentSvidTtlMs });
    // The mint awaited: the agent may have been evicted, or have attested again, meanwhile. The
    // new serial is recorded only if the one the request was signed with is still live.
    if (!store.renewAgentSvid(agentId, serial, svid.serial.toLowerCase())) throw new SpiffeError('SPIFFE_PERMISSION_DENIED', `${agentId} was evicted or attested again while this renewal was made`);
    return { spiffeId: agentId, svid: svid.chain.map((c) => Buffer.from(c).toString('base64')), bundle: ca.x509Authorities().map((c) => Buffer.from(c).toString('base64')), expiresAt: svid.notAfter.getTime() };
  });
}
