/**
 * `cairn serve ca --data-dir DIR --port N [--config FILE]`: the Fulcio-compatible CA on its own.
 * host/cli/serve.ts prints {"ready":true,"ca":URL}.
 *
 * --config (YAML or JSON) is Fulcio's issuer configuration (see host/ca/config.ts: oidc-issuers,
 * meta-issuers, ci-issuer-metadata) plus:
 *   ct:  { url: http://127.0.0.1:7462, publicKey: ct.pem }   # RFC 6962 log for embedded SCTs; its
 *                                                           # key is pinned here (PEM file or inline)
 *        transport: auto (default: a log served by this same process, as under `cairn up`, is
 *        called directly; any other over HTTP) or http (always POST /ct/v1/add-pre-chain)
 *   key: { type: file, key: ca-key.pem, chain: ca-chain.pem, passphraseEnv: CAIRN_CA_PASSPHRASE, passphraseFile: F }
 *   key: { type: pkcs11, module: /usr/lib/softhsm/libsofthsm2.so, tokenLabel: cairn, pinEnv: CAIRN_PKCS11_PIN,
 *          keyLabel: cairn-ca, chain: ca-chain.pem, sessions: 2 }
 *        The chain file lists the CA key's certificate and its issuers up to the root, in either
 *        order (root first, or issuing CA first); it is re-ordered and verified on load.
 *   subordinates: { validity: 720h, registered: [{ spiffe-id: spiffe://td/cairn/ca }], key: {...} }
 *        issue name-constrained subordinate CA certificates (host/ca/subordinate.ts); signed by
 *        the generated root in DIR unless `key` names another CA key whose pathLen allows it
 *   parent: { url, socket, audience, spiffeId, roots, wait, retryMaxSeconds }
 *        run as a subordinate CA: get this CA's certificate from the parent with a JWT-SVID and
 *        keep it renewed (host/ca/subordinate-client.ts); excludes `key`
 *   trustDomains: { challenge: http-01 | dns-01 | none, dnsServers: [10.0.0.53], resolve: { acme.example: 10.0.0.5:80 },
 *                   audience: sigstore, insecureLoopbackIssuers: false }
 *        accept registrations of SPIFFE trust domains (bundle + allowed IDs, proven by a JWT-SVID
 *        and an http-01 or dns-01 answer) and certify their JWT-SVIDs (host/ca/trust-domains.ts);
 *        state in DIR/trust-domains.db
 *   bodyLimit: 65536
 *   verifyWorkers: 0   # worker threads checking P-256 proofs of possession in the WASM core;
 *                      # default 0: OpenSSL on the libuv pool, which measured faster on 2 cores
 *                      # (bench/RESULTS.md); more workers move the checks off the event loop
 * Without `key`, a root and an intermediate are generated in DIR on the first start and reused.
 * Without `ct`, certificates carry no SCT and the API answers signedCertificateDetachedSct.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { initCore, verifySignature } from '../core/index.js';
import { BatchingVerifier, VerifyPool } from '../core/pool.js';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Standalone, StandaloneOptions } from '../cli/serve.js';
import type { TrustedRootInput } from '../trust/trust-files.js';
import { serviceLogger } from '../http/logging.js';
import { issuerFor, parseIssuersConfig } from './config.js';
import { IdentityVerifier, parseTrustDomainsConfig, TrustDomainRegistry, TrustDomainStore } from './trust-domains.js';
import { CodeSigningCa } from './core.js';
import { CaError } from './errors.js';
import { ensureGeneratedCa, ensureGeneratedRoot, loadCa, loadFileCa, type CaKeyConfig, type LoadedCa } from './keys.js';
import { SubordinateClient, parseParentConfig } from './subordinate-client.js';
import { SubordinateIssuer, parseSubordinatesConfig } from './subordinate.js';
import { TokenVerifier } from './oidc.js';
import { build } from './plugin.js';
import { listenService } from '../http/ops.js';
import { closeAll, closeOnce } from '../closers.js';

const KEYS = ['oidc-issuers', 'meta-issuers', 'ci-issuer-metadata', 'ct', 'key', 'bodyLimit', 'verifyWorkers', 'subordinates', 'parent', 'trustDomains'];

export async function startStandalone(opts: StandaloneOptions): Promise<Standalone> {
  let doc: Record<string, unknown> = {};
  if (opts.config) {
    try {
      doc = (parseYaml(await readFile(opts.config, 'utf8')) ?? {}) as Record<string, unknown>;
    } catch (cause) {
      throw new CaError('CA_BAD_CONFIG', 'CA config is not valid YAML/JSON', { cause });
    }
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new CaError('CA_BAD_CONFIG', 'CA config: expected a mapping');
    for (const k of Object.keys(doc)) if (!KEYS.includes(k)) throw new CaError('CA_BAD_CONFIG', `CA config: unknown key ${k}`);
  }
  const issuers = parseIssuersConfig(doc);
  const dataDir = resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const keyCfg = doc.key as CaKeyConfig | undefined;
  if (keyCfg !== undefined && doc.parent !== undefined) throw new CaError('CA_BAD_CONFIG', 'CA config: give key or parent, not both');
  const caRef: { current?: CodeSigningCa } = {};
  const trustListeners: ((t: TrustedRootInput) => void)[] = [];
  // Nothing known while a subordinate waits for its first certificate (see mergeTrustedRoot).
  let trustNow: TrustedRootInput = {};
  let url = '';
  const subClient = doc.parent !== undefined
    ? await SubordinateClient.start({
      dataDir,
      parent: parseParentConfig(doc.parent),
      onRenew: (c) => {
        caRef.current?.setIssuingCa(c);
        if (!url) return; // not listening yet: the trust is read from the client below
        // The anchor (the parent's chain) is what the trust files list; it changes when the
        // first certificate arrives, not on an ordinary renewal.
        const next = trustOf(c, true, url);
        if (JSON.stringify(next) !== JSON.stringify(trustNow)) {
          trustNow = next;
          for (const f of trustListeners) f(next);
        }
      },
      onError: (e) => {
        caRef.current?.setPendingReason(`waiting for the parent CA to issue this CA's certificate: ${(e as Error).message}`);
        process.stderr.write(`${JSON.stringify({ level: 'warn', service: 'ca', msg: caRef.current?.issuingCa ? 'subordinate certificate renewal failed; retrying' : 'no certificate from the parent CA yet; retrying', error: (e as Error).message })}\n`);
      },
    })
    : undefined;
  const issuing = subClient ? subClient.current : keyCfg !== undefined ? await loadCa(keyCfg) : await loadFileCa(await ensureGeneratedCa(dataDir));

  // A key opened above (a PKCS#11 session, say) is closed again if the CA does not start, and so
  // is everything opened below before the failure: verify worker threads left running keep the
  // process alive (`cairn up` reporting a bad CA config then never exits).
  const opened: (() => unknown)[] = [];
  if (subClient) opened.push(() => subClient.close());
  try {
    const ctCfg = doc.ct as { url?: unknown; publicKey?: unknown; transport?: unknown } | undefined;
    let ct;
    if (ctCfg) {
      if (typeof ctCfg.url !== 'string') throw new CaError('CA_BAD_CONFIG', 'ct.url is required');
      // The CT log's key must be pinned by configuration: an SCT checked against a key fetched from
      // the same log would prove nothing. `publicKey` is a PEM file or inline PEM.
      if (typeof ctCfg.publicKey !== 'string') throw new CaError('CA_BAD_CONFIG', 'ct.publicKey (PEM file or inline PEM) is required');
      const pem = ctCfg.publicKey.includes('-----BEGIN') ? ctCfg.publicKey : await readFile(ctCfg.publicKey, 'utf8');
      if (ctCfg.transport !== undefined && ctCfg.transport !== 'auto' && ctCfg.transport !== 'http') throw new CaError('CA_BAD_CONFIG', 'ct.transport must be auto or http');
      ct = { url: ctCfg.url, publicKey: createPublicKey(pem), ...(ctCfg.transport ? { transport: ctCfg.transport as 'auto' | 'http' } : {}) };
    }
    // verifyWorkers > 0: P-256 proofs of possession are checked in the WASM core on worker threads.
    // Default 0: OpenSSL (key import on the event loop, verification on the libuv pool) used less
    // CPU per certificate and gave more certificates/s on this 2-core machine. If a worker dies,
    // the same core check runs on the event loop.
    const vw = doc.verifyWorkers ?? 0;
    if (!Number.isInteger(vw) || (vw as number) < 0 || (vw as number) > 64) throw new CaError('CA_BAD_CONFIG', 'verifyWorkers must be an integer 0..64');
    const batcher = (vw as number) > 0 ? new BatchingVerifier(new VerifyPool(vw as number)) : undefined;
    if (batcher) opened.push(() => batcher.close());
    if (batcher) await initCore(); // for the event-loop fallback
    // Registered trust domains: their JWT-SVIDs are checked against the registered bundles; every
    // other token goes to the configured OIDC issuers.
    const tdStore = doc.trustDomains !== undefined ? new TrustDomainStore(join(dataDir, 'trust-domains.db')) : undefined;
    if (tdStore) opened.push(() => tdStore.close());
    // Trust domains that a configured issuer (type spiffe) vouches for are never registrable.
    const reserved = [...issuers.issuers.values(), ...issuers.meta.map((m) => m.config)].filter((i) => i.type === 'spiffe' && i.spiffeTrustDomain).map((i) => i.spiffeTrustDomain!);
    const trustDomains = tdStore ? new TrustDomainRegistry(tdStore, { ...parseTrustDomainsConfig(doc.trustDomains), reserved }) : undefined;
    const verifier = new IdentityVerifier(new TokenVerifier(issuers), trustDomains, (iss) => issuerFor(issuers, iss) !== undefined);
    const ca = new CodeSigningCa({ issuers, verifier, ...(issuing ? { ca: issuing } : {}), ...(ct ? { ct } : {}), ...(batcher ? { verifyCore: (item) => batcher.verify(item).catch(() => verifySignature(item)) } : {}) });
    caRef.current = ca;
    if (!issuing && subClient?.lastError) ca.setPendingReason(`waiting for the parent CA to issue this CA's certificate: ${subClient.lastError.message}`);
    let subordinates: SubordinateIssuer | undefined;
    let subSigner: LoadedCa | undefined;
    if (doc.subordinates !== undefined) {
      const sc = parseSubordinatesConfig(doc.subordinates, issuers, trustDomains !== undefined);
      if (sc.key === undefined && (keyCfg !== undefined || subClient)) throw new CaError('CA_BAD_CONFIG', 'subordinates.key is required when the CA key is configured (the generated root signs subordinates otherwise)');
      subSigner = sc.key !== undefined ? await loadCa(sc.key as CaKeyConfig) : await loadFileCa(await ensureGeneratedRoot(dataDir));
      opened.push(() => subSigner?.signer.close());
      subordinates = new SubordinateIssuer({ issuers, verifier, config: sc, parent: subSigner, ...(ct ? { ct } : {}) });
    }
    const app = await build({ ca, issuers, logger: serviceLogger(opts.logLevel, 'ca'), ...(trustDomains ? { trustDomains } : {}), ...(subordinates ? { subordinates } : {}), ...(typeof doc.bodyLimit === 'number' ? { bodyLimit: doc.bodyLimit } : {}) });
    await listenService(app, opts);
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : opts.port;
    url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
    const now = subClient ? subClient.current : issuing;
    if (now) trustNow = trustOf(now, subClient !== undefined, url);
    return {
      ready: { ca: url },
      trust: trustNow,
      onTrustChange: (fn) => {
        trustListeners.push(fn);
      },
      close: closeOnce(() => closeAll([() => app.close(), () => batcher?.close(), () => subClient?.close(), () => ca.issuingCa?.signer.close(), () => subSigner?.signer.close(), () => tdStore?.close()])),
    };
  } catch (e) {
    await closeAll([...opened.reverse(), () => issuing?.signer.close()]).catch(() => undefined);
    throw e;
  }
}

/**
 * What the CA contributes to trusted_root.json. A subordinate's own certificate is renewed
 * monthly, so verifiers anchor at the parent's chain (its bundles carry the subordinate).
 */
function trustOf(issuing: LoadedCa, subordinate: boolean, url: string): TrustedRootInput {
  const anchorDer = subordinate ? issuing.chainDer.slice(1) : issuing.chainDer;
  const leafCa = new X509Certificate(anchorDer[0]!);
  return {
    certificateAuthorities: [{
      subject: { organization: 'Cairn', commonName: /CN=([^\n,]+)/.exec(leafCa.subject)?.[1] ?? 'Cairn CA' },
      uri: url,
      certChain: anchorDer,
      validFor: { start: new Date(leafCa.validFrom) },
    }],
  };
}
