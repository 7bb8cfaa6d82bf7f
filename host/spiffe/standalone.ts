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
 *   tls: { spiffe: true }                    # or serve https with this server's own X509-SVID,
 *                                            # spiffe://TD/spire/server, re-minted at half its TTL
 *                                            # (bundle endpoint profile https_spiffe)
 *   allowUnauthenticatedVerifiers: false
 *   federation:
 *     - { trustDomain: other.org, url: https://other.org/bundle, profile: https_web, ca: ca.pem }  # ca: optional PEM file
 *     - { trustDomain: third.org, url: https://third.org:8443/bundle, profile: https_spiffe,
 *         endpointSpiffeId: spiffe://third.org/spire/server, bundle: third.org.json }  # bundle: the
 *                                            # endpoint trust domain's SPIFFE bundle, to start from
 *                                            # (each bundle accepted is kept in DIR/federation and
 *                                            # trusted from there after a restart)
 *                                            # (a workload gets a federated bundle only if one of
 *                                            # its entries names the trust domain in federatesWith)
 *   allowInsecureHttpFederation: false        # http bundle URLs, for loopback tests only
 *   tpmEkCas: tpm-vendors.pem                 # TPM manufacturer CA certificates (PEM): EK
 *                                            # certificates that chain to one add tpm:ek-ca:<hash>
 *                                            # and tpm:manufacturer/model/version selectors
 *   entries:                                  # registration entries ensured at start (idempotent);
 *     - { spiffeId: spiffe://TD/ci/build, selectors: [unix:uid:1000], hint: build }   # parent: the local agent
 *     - { spiffeId: spiffe://TD/web, selectors: [unix:uid:33], federatesWith: [other.org], dnsNames: [web.internal] }
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import type { Server as TlsServer } from 'node:tls';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Standalone, StandaloneOptions } from '../cli/serve.js';
import { serviceLogger } from '../http/logging.js';
import { initTpm, wasmQuoteChecker } from '../core/tpm.js';
import { Agent } from './agent.js';
import { TrustDomainCa } from './ca.js';
import { SpiffeError } from './errors.js';
import { FederationClient, type FederationRelationship } from './federation.js';
import { parseSpiffeId, parseTrustDomain } from './id.js';
import { parseBundle } from './bundle.js';
import { FilePersistence, loadOrCreateAdminToken } from './keystore.js';
import { build } from './plugin.js';
import { parseDnsNames, parseFederatesWith, SpiffeStore } from './store.js';
import { TpmAttestor } from './tpm-attestor.js';
import { parseEndpointSocket, startWorkloadApi } from './workload.js';
import { listenService } from '../http/ops.js';
import { closeAll, closeOnce } from '../closers.js';

export interface SpiffeConfig {
  socket?: string;
  jwtIssuer?: string;
  caTtl?: number;
  x509SvidTtl?: number;
  jwtSvidTtl?: number;
  refreshHint?: number;
  activationDelay?: number;
  tls?: { cert: string; key: string } | { spiffe: true };
  allowUnauthenticatedVerifiers?: boolean;
  federation?: FederationRelationship[];
  allowInsecureHttpFederation?: boolean;
  entries?: { spiffeId: string; selectors: string[]; hint?: string; federatesWith?: string[]; dnsNames?: string[] }[];
  tpmEkCas?: string;
}

const KEYS = ['tpmEkCas', 'socket', 'jwtIssuer', 'caTtl', 'x509SvidTtl', 'jwtSvidTtl', 'refreshHint', 'activationDelay', 'tls', 'allowUnauthenticatedVerifiers', 'federation', 'allowInsecureHttpFederation', 'entries'];

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
  for (const k of ['socket', 'jwtIssuer', 'tpmEkCas']) if (d[k] !== undefined && typeof d[k] !== 'string') bad(`${k} must be a string`);
  if (d.tls !== undefined) {
    const t = d.tls as Record<string, unknown>;
    if (typeof t !== 'object' || t === null) bad('tls must be a mapping');
    else if (t.spiffe !== undefined) {
      if (t.spiffe !== true || Object.keys(t).length !== 1) bad('tls: { spiffe: true } takes no other keys');
    } else if (typeof t.cert !== 'string' || typeof t.key !== 'string') bad('tls needs cert and key file names, or spiffe: true');
  }
  if (d.federation !== undefined) {
    if (!Array.isArray(d.federation)) bad('federation must be a list');
    for (const r of d.federation as Record<string, unknown>[]) {
      if (typeof r !== 'object' || r === null || typeof r.trustDomain !== 'string' || typeof r.url !== 'string') bad('each federation entry needs trustDomain and url');
      if (r.profile === undefined) r.profile = 'https_web';
      if (r.profile === 'https_spiffe' && (typeof r.endpointSpiffeId !== 'string' || typeof r.bundle !== 'string')) bad('an https_spiffe federation entry needs endpointSpiffeId and bundle (a SPIFFE bundle file)');
    }
  }
  if (d.entries !== undefined) {
    if (!Array.isArray(d.entries)) bad('entries must be a list');
    for (const e of d.entries as Record<string, unknown>[]) {
      if (typeof e !== 'object' || e === null || typeof e.spiffeId !== 'string' || !Array.isArray(e.selectors)) bad('each entry needs spiffeId and selectors');
      for (const k of ['federatesWith', 'dnsNames'] as const) {
        if (e[k] !== undefined && (!Array.isArray(e[k]) || !(e[k] as unknown[]).every((x) => typeof x === 'string'))) bad(`entries: ${k} must be a list of strings`);
      }
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
  // Closed again if the start fails from here on (a tpmEkCas or TLS file that does not load, a
  // port in use), as are the closers below: nothing of a failed start stays open.
  const closers: (() => Promise<void> | void)[] = [];
  try {
    const { token: adminToken, path: adminTokenFile } = await loadOrCreateAdminToken(dataDir);
    await initTpm();
    let ekCas: X509Certificate[] | undefined;
    if (config.tpmEkCas !== undefined) {
      const pems = (await readFile(config.tpmEkCas, 'utf8')).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      if (pems.length === 0) throw new SpiffeError('SPIFFE_BAD_CONFIG', `SPIFFE config: tpmEkCas ${config.tpmEkCas} holds no certificates`);
      ekCas = pems.map((p) => new X509Certificate(p));
      if (!ekCas.every((c) => c.ca)) throw new SpiffeError('SPIFFE_BAD_CONFIG', 'SPIFFE config: every tpmEkCas certificate must be a CA certificate');
    }
    const tpm = new TpmAttestor({ trustDomain, store, checker: wasmQuoteChecker, ...(ekCas ? { ekCas } : {}) });

    let issuer = config.jwtIssuer ?? '';
    // https_spiffe (Federation §5.2.2): the server's own X509-SVID is its TLS certificate.
    const serverId = `spiffe://${trustDomain}/spire/server`;
    const serverSvid = async (): Promise<{ cert: string; key: string; ttlMs: number }> => {
      const svid = await ca.mintX509Svid(serverId);
      const key = createPrivateKey({ key: Buffer.from(svid.keyPkcs8), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
      return { cert: svid.chain.map((d) => new X509Certificate(d).toString()).join(''), key, ttlMs: svid.notAfter.getTime() - Date.now() };
    };
    const tlsConfig = config.tls;
    const tls = !tlsConfig ? undefined : 'spiffe' in tlsConfig ? await serverSvid() : { cert: await readFile(tlsConfig.cert), key: await readFile(tlsConfig.key) };
    const federatedTrustDomains = (config.federation ?? []).map((r) => r.trustDomain);
    const app = await build({ ca, store, adminToken, tpm, federatedTrustDomains, logger: serviceLogger(opts.logLevel, 'spiffe'), issuer: () => issuer, ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}) });
    if (tls && 'ttlMs' in tls) {
      // Re-minted at half its lifetime (from the current CA, so a rotation is picked up too).
      let timer: NodeJS.Timeout;
      let stopped = false;
      const renew = (afterMs: number): void => {
        if (stopped) return;
        // setTimeout holds at most 2^31-1 ms (24.8 days) and fires at once past it: with a long
        // x509SvidTtl, half of it is longer, so the wait is taken in steps.
        const MAX_TIMEOUT = 2 ** 31 - 1;
        if (afterMs > MAX_TIMEOUT) {
          timer = setTimeout(() => renew(afterMs - MAX_TIMEOUT), MAX_TIMEOUT);
          timer.unref();
          return;
        }
        timer = setTimeout(() => {
          serverSvid()
            .then((next) => {
              if (stopped) return;
              (app.server as unknown as TlsServer).setSecureContext({ cert: next.cert, key: next.key });
              renew(Math.max(1000, next.ttlMs / 2));
            })
            .catch((e: unknown) => {
              app.log.error({ err: e }, 'server X509-SVID renewal failed');
              renew(5_000);
            });
        }, afterMs);
        timer.unref();
      };
      renew(Math.max(1000, tls.ttlMs / 2));
      closers.push(() => {
        stopped = true;
        clearTimeout(timer);
      });
    }
    await listenService(app, opts);
    closers.push(() => app.close());
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : opts.port;
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    const base = `${tls ? 'https' : 'http'}://${host}:${port}`;
    if (!issuer) issuer = base;
    ca.jwtIssuer = issuer;

    // `ca` in the config names a PEM file of trust anchors for the endpoint's TLS certificate.
    // `bundle` (https_spiffe) names a SPIFFE bundle file of the endpoint's trust domain.
    const relationships = await Promise.all(
      (config.federation ?? []).map(async (r) => {
        const raw = r as FederationRelationship & { bundle?: unknown };
        const { bundle: bundleFile, ...rest } = raw;
        const out: FederationRelationship = { ...rest, ...(r.ca ? { ca: await readFile(r.ca, 'utf8') } : {}) };
        if (typeof bundleFile === 'string' && r.endpointSpiffeId) out.bootstrap = parseBundle(parseSpiffeId(r.endpointSpiffeId).trustDomain, await readFile(bundleFile));
        return out;
      }),
    );
    // Accepted federated bundles are kept in DIR/federation and trusted again from a restart on.
    const federationDir = join(dataDir, 'federation');
    if (relationships.length > 0) await mkdir(federationDir, { recursive: true, mode: 0o700 });
    const federation = new FederationClient({
      relationships,
      stateDir: federationDir,
      allowInsecureHttp: config.allowInsecureHttpFederation ?? false,
      log: (msg, fields) => app.log.warn(fields ?? {}, msg),
    });
    closers.push(() => federation.close());
    await federation.start();

    const agentId = `spiffe://${trustDomain}/spire/agent/local`;
    store.recordAgent({ spiffeId: agentId, attestationType: 'local', selectors: [], attestedAt: Date.now() });
    // Entries from the config are ensured, not duplicated: an entry with the same SPIFFE ID,
    // parent and selector set already stored is left alone (restarts are idempotent).
    // The config is the source of truth for its entries' federatesWith and dnsNames: an entry
    // stored with other values is replaced (SPIRE `federatesWith` and `dns`, as the admin API takes them).
    const federated = new Set(relationships.map((r) => r.trustDomain));
    for (const e of config.entries ?? []) {
      for (const td of e.federatesWith ?? []) {
        const name = td.replace(/^spiffe:\/\//, '');
        if (!federated.has(name)) throw new SpiffeError('SPIFFE_BAD_CONFIG', `SPIFFE config: entries: ${e.spiffeId} federates with ${name}, which has no federation relationship configured`);
      }
      const want = [...new Set(e.selectors)].sort().join('\n');
      const fresh = { spiffeId: e.spiffeId, parentId: agentId, selectors: e.selectors, ...(e.hint !== undefined ? { hint: e.hint } : {}), ...(e.federatesWith ? { federatesWith: e.federatesWith } : {}), ...(e.dnsNames ? { dnsNames: e.dnsNames } : {}) };
      const stored = store.listEntries({ spiffeId: e.spiffeId, parentId: agentId }).find((x) => x.selectors.join('\n') === want);
      if (stored) {
        const same = (a: readonly string[] | undefined, b: string[]): boolean => JSON.stringify(a ?? []) === JSON.stringify(b);
        if (same(stored.federatesWith, parseFederatesWith(e.federatesWith)) && same(stored.dnsNames, parseDnsNames(e.dnsNames))) continue;
        store.deleteEntry(stored.id);
      }
      store.createEntry(fresh);
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
      close: closeOnce(() => closeAll([...closers.reverse(), () => store.close()])),
    };
  } catch (e) {
    await closeAll([...closers.reverse(), () => store.close()]).catch(() => undefined);
    throw e;
  }
}
