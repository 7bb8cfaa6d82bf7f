/**
 * `cairn serve spiffe --data-dir DIR --port N --trust-domain TD`: the SPIFFE server (CA, OIDC
 * discovery, bundle endpoint, admin and node-attestation API) plus a local agent serving the
 * Workload API on a UNIX socket. Prints nothing; host/cli/serve.ts writes the ready line
 * {"ready":true,"oidc":URL,"socket":PATH,...}.
 *
 * The socket is, in order: config `socket`, $SPIFFE_ENDPOINT_SOCKET (unix:///path), DIR/agent.sock.
 * The in-process agent's SPIFFE ID is spiffe://TD/spire/agent/local; workload entries name it as
 * their parent (the CLI's default). It needs no attestation: it is the server process itself.
 *
 * Optional --config (YAML or JSON):
 *   socket: /run/cairn/agent.sock
 *   jwtIssuer: https://oidc.example.org     # default: this server's URL
 *   caTtl: 604800  x509SvidTtl: 3600  jwtSvidTtl: 300  refreshHint: 300  activationDelay: 0   # seconds
 *   tls: { cert: cert.pem, key: key.pem }    # serve https (bundle endpoint profile https_web)
 *   allowUnauthenticatedVerifiers: false
 *   federation:
 *     - { trustDomain: other.org, url: https://other.org/bundle, profile: https_web, ca: ca.pem }  # ca: optional PEM file
 *   allowInsecureHttpFederation: false        # http bundle URLs, for loopback tests only
 *   entries:                                  # registration entries ensured at start (idempotent);
 *     - { spiffeId: spiffe://TD/ci/build, selectors: [unix:uid:1000], hint: build }   # parent: the local agent
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Standalone, StandaloneOptions } from '../cli/serve.js';
import { serviceLogger } from '../http/logging.js';
import { initTpm, wasmQuoteChecker } from '../core/tpm.js';
import { Agent } from './agent.js';
import { TrustDomainCa } from './ca.js';
import { SpiffeError } from './errors.js';
import { FederationClient, type FederationRelationship } from './federation.js';
import { parseTrustDomain } from './id.js';
import { FilePersistence, loadOrCreateAdminToken } from './keystore.js';
import { build } from './plugin.js';
import { SpiffeStore } from './store.js';
import { TpmAttestor } from './tpm-attestor.js';
import { parseEndpointSocket, startWorkloadApi } from './workload.js';
import { LISTEN_BACKLOG } from '../http/ops.js';

export interface SpiffeConfig {
  socket?: string;
  jwtIssuer?: string;
  caTtl?: number;
  x509SvidTtl?: number;
  jwtSvidTtl?: number;
  refreshHint?: number;
  activationDelay?: number;
  tls?: { cert: string; key: string };
  allowUnauthenticatedVerifiers?: boolean;
  federation?: FederationRelationship[];
  allowInsecureHttpFederation?: boolean;
  entries?: { spiffeId: string; selectors: string[]; hint?: string }[];
}

const KEYS = ['socket', 'jwtIssuer', 'caTtl', 'x509SvidTtl', 'jwtSvidTtl', 'refreshHint', 'activationDelay', 'tls', 'allowUnauthenticatedVerifiers', 'federation', 'allowInsecureHttpFederation', 'entries'];

/** Parses and checks a config document; unknown keys are errors so typos do not pass silently. */
export function parseSpiffeConfig(text: string): SpiffeConfig {
  const bad = (m: string): never => {
    throw new SpiffeError('SPIFFE_BAD_CONFIG', `SPIFFE config: ${m}`);
  };
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new SpiffeError('SPIFFE_BAD_CONFIG', 'SPIFFE config is not valid YAML/JSON', { cause: e });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) return bad('expected a mapping');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!KEYS.includes(k)) bad(`unknown key ${k}`);
  for (const k of ['caTtl', 'x509SvidTtl', 'jwtSvidTtl', 'refreshHint', 'activationDelay']) {
    if (d[k] !== undefined && (!Number.isInteger(d[k]) || (d[k] as number) < 0 || (d[k] as number) > 10 * 365 * 86_400)) bad(`${k} must be a number of seconds`);
  }
  for (const k of ['socket', 'jwtIssuer']) if (d[k] !== undefined && typeof d[k] !== 'string') bad(`${k} must be a string`);
  if (d.tls !== undefined) {
    const t = d.tls as Record<string, unknown>;
    if (typeof t !== 'object' || t === null || typeof t.cert !== 'string' || typeof t.key !== 'string') bad('tls needs cert and key file names');
  }
  if (d.federation !== undefined) {
    if (!Array.isArray(d.federation)) bad('federation must be a list');
    for (const r of d.federation as Record<string, unknown>[]) {
      if (typeof r !== 'object' || r === null || typeof r.trustDomain !== 'string' || typeof r.url !== 'string') bad('each federation entry needs trustDomain and url');
      if (r.profile === undefined) r.profile = 'https_web';
    }
  }
  if (d.entries !== undefined) {
    if (!Array.isArray(d.entries)) bad('entries must be a list');
    for (const e of d.entries as Record<string, unknown>[]) {
      if (typeof e !== 'object' || e === null || typeof e.spiffeId !== 'string' || !Array.isArray(e.selectors)) bad('each entry needs spiffeId and selectors');
    }
  }
  return d as SpiffeConfig;
}

export async function startStandalone(opts: StandaloneOptions): Promise<Standalone> {
  const trustDomain = parseTrustDomain(opts.trustDomain);
  const config = opts.config ? parseSpiffeConfig(await readFile(opts.config, 'utf8')) : {};
  const dataDir = resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const envSocket = process.env.SPIFFE_ENDPOINT_SOCKET;
  const socketPath = config.socket ?? (envSocket ? parseEndpointSocket(envSocket) : join(dataDir, 'agent.sock'));

  const s = (v: number | undefined): number | undefined => (v === undefined ? undefined : v * 1000);
  const ca = await TrustDomainCa.open({
    trustDomain,
    persistence: new FilePersistence(dataDir),
    ...(config.caTtl !== undefined ? { caTtlMs: s(config.caTtl)! } : {}),
    ...(config.x509SvidTtl !== undefined ? { x509SvidTtlMs: s(config.x509SvidTtl)! } : {}),
    ...(config.jwtSvidTtl !== undefined ? { jwtSvidTtlMs: s(config.jwtSvidTtl)! } : {}),
    ...(config.activationDelay !== undefined ? { activationDelayMs: s(config.activationDelay)! } : {}),
    ...(config.refreshHint !== undefined ? { refreshHintSeconds: config.refreshHint } : {}),
  });
  const store = new SpiffeStore({ path: join(dataDir, 'spiffe.db') });
  const { token: adminToken, path: adminTokenFile } = await loadOrCreateAdminToken(dataDir);
  await initTpm();
  const tpm = new TpmAttestor({ trustDomain, store, checker: wasmQuoteChecker });

  let issuer = config.jwtIssuer ?? '';
  const tls = config.tls ? { cert: await readFile(config.tls.cert), key: await readFile(config.tls.key) } : undefined;
  const app = await build({ ca, store, adminToken, tpm, logger: serviceLogger(opts.logLevel, 'spiffe'), issuer: () => issuer, ...(tls ? { https: tls } : {}) });
  const closers: (() => Promise<void> | void)[] = [];
  try {
    await app.listen({ port: opts.port, host: opts.host, backlog: LISTEN_BACKLOG });
    closers.push(() => app.close());
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : opts.port;
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    const base = `${tls ? 'https' : 'http'}://${host}:${port}`;
    if (!issuer) issuer = base;
    ca.jwtIssuer = issuer;

    // `ca` in the config names a PEM file of trust anchors for the endpoint's TLS certificate.
    const relationships = await Promise.all(
      (config.federation ?? []).map(async (r) => ({ ...r, ...(r.ca ? { ca: await readFile(r.ca, 'utf8') } : {}) })),
    );
    const federation = new FederationClient({
      relationships,
      allowInsecureHttp: config.allowInsecureHttpFederation ?? false,
      log: (msg, fields) => app.log.warn(fields ?? {}, msg),
    });
    closers.push(() => federation.close());
    await federation.start();

    const agentId = `spiffe://${trustDomain}/spire/agent/local`;
    store.recordAgent({ spiffeId: agentId, attestationType: 'local', selectors: [], attestedAt: Date.now() });
    // Entries from the config are ensured, not duplicated: an entry with the same SPIFFE ID,
    // parent and selector set already stored is left alone (restarts are idempotent).
    for (const e of config.entries ?? []) {
      const want = [...new Set(e.selectors)].sort().join('\n');
      const same = store.listEntries({ spiffeId: e.spiffeId, parentId: agentId }).some((x) => x.selectors.join('\n') === want);
      if (!same) store.createEntry({ spiffeId: e.spiffeId, parentId: agentId, selectors: e.selectors, ...(e.hint !== undefined ? { hint: e.hint } : {}) });
    }
    const agent = new Agent({ agentId, ca, entries: store, federation });
    closers.push(() => agent.close());
    const workload = await startWorkloadApi({
      agent,
      socketPath,
      allowUnauthenticatedVerifiers: config.allowUnauthenticatedVerifiers ?? false,
      log: (msg, fields) => app.log.warn(fields ?? {}, msg),
    });
    closers.push(() => workload.close());

    // Rotation and retirement are time-driven; a failure is logged and retried on the next tick.
    const tick = setInterval(() => {
      ca.maintain().catch((e: unknown) => app.log.error({ err: e }, 'CA maintenance failed'));
    }, 5_000);
    tick.unref();
    closers.push(() => clearInterval(tick));

    return {
      ready: { oidc: issuer, socket: socketPath, bundle: `${base}/bundle`, admin: base, adminTokenFile },
      close: async () => {
        for (const c of closers.reverse()) await c();
        store.close();
      },
    };
  } catch (e) {
    for (const c of closers.reverse()) await c();
    store.close();
    throw e;
  }
}
