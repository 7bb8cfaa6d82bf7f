/**
 * CA test fixtures (fulcio/ct/keys tests): a test OIDC issuer on loopback (discovery + JWKS, jose)
 * hosting several issuers, a CA over real HTTP on 127.0.0.1, the real transparency log's CT
 * personality (host/log), and client keys with proofs of possession.
 */
import { createPublicKey, generateKeyPairSync, sign, webcrypto, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { parseIssuersConfig, type IssuersConfig } from '../../host/ca/config.js';
import { CodeSigningCa } from '../../host/ca/core.js';
import type { CtLog } from '../../host/ca/ct-client.js';
import { ensureGeneratedCa, loadFileCa } from '../../host/ca/keys.js';
import { TokenVerifier } from '../../host/ca/oidc.js';
import { build } from '../../host/ca/plugin.js';
import type { IssuingCa } from '../../host/ca/profile.js';
import type { Standalone } from '../../host/cli/serve.js';
import { startStandalone as startLog } from '../../host/log/standalone.js';
import { BatchingVerifier, VerifyPool } from '../../host/core/pool.js';

export interface IssuerKey {
  kid: string;
  alg: string;
  privateKey: webcrypto.CryptoKey;
  jwk: JWK;
}

/**
 * One loopback HTTP server hosting several issuers at `${base}/<name>`, each with its own
 * discovery document; all publish the same JWKS (tests may extend it to simulate rotation).
 */
export class TestIssuer {
  readonly keys: IssuerKey[] = [];
  server!: Server;
  base = '';
  fetches = 0;

  static async start(): Promise<TestIssuer> {
    const t = new TestIssuer();
    await t.addKey('k1');
    t.server = createServer((req, res) => {
      const m = /^\/([a-z0-9-]+)\/(\.well-known\/openid-configuration|keys)$/.exec(req.url ?? '');
      if (!m) {
        res.writeHead(404).end();
        return;
      }
      t.fetches++;
      const iss = `${t.base}/${m[1]}`;
      const body = m[2] === 'keys' ? { keys: t.keys.map((k) => k.jwk) } : { issuer: iss, jwks_uri: `${iss}/keys`, id_token_signing_alg_values_supported: ['ES256'] };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((r) => t.server.listen(0, '127.0.0.1', r));
    const addr = t.server.address() as { port: number };
    t.base = `http://127.0.0.1:${addr.port}`;
    return t;
  }

  async addKey(kid: string): Promise<IssuerKey> {
    const k = await newKey(kid);
    this.keys.push(k);
    return k;
  }

  url(name: string): string {
    return `${this.base}/${name}`;
  }

  /** Mints a token for issuer `name` (aud sigstore, 5 minutes) with `claims` overriding the defaults. */
  async mint(name: string, claims: JWTPayload & Record<string, unknown>, key: IssuerKey = this.keys[0]!): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: this.url(name), aud: 'sigstore', iat: now, nbf: now, exp: now + 300, ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .sign(key.privateKey);
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

export async function newKey(kid: string): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return { kid, alg: 'ES256', privateKey: privateKey as webcrypto.CryptoKey, jwk };
}

/** Fulcio-format issuer config for every issuer type, all served by `t`. */
export function issuerConfigDoc(t: TestIssuer): Record<string, unknown> {
  const common = { 'client-id': 'sigstore', 'insecure-loopback-http': true };
  return {
    'oidc-issuers': {
      [t.url('email')]: { ...common, 'issuer-url': t.url('email'), type: 'email' },
      [t.url('spiffe')]: { ...common, 'issuer-url': t.url('spiffe'), type: 'spiffe', 'spiffe-trust-domain': 'example.org' },
      [t.url('uri')]: { ...common, 'issuer-url': t.url('uri'), type: 'uri', 'subject-domain': 'https://example.com' },
      [t.url('username')]: { ...common, 'issuer-url': t.url('username'), type: 'username', 'subject-domain': 'example.com' },
      [t.url('kubernetes')]: { ...common, 'issuer-url': t.url('kubernetes'), type: 'kubernetes' },
      [t.url('github')]: { ...common, 'issuer-url': t.url('github'), type: 'ci-provider', 'ci-provider': 'github-workflow' },
    },
    'meta-issuers': {
      'https://oidc.eks.*.amazonaws.com/id/*': { 'client-id': 'sigstore', type: 'kubernetes' },
    },
    'ci-issuer-metadata': {
      'github-workflow': {
        'default-template-values': { url: 'https://github.com' },
        'subject-alternative-name-template': '{{ .url }}/{{ .job_workflow_ref }}',
        'extension-templates': {
          'build-signer-uri': '{{ .url }}/{{ .job_workflow_ref }}',
          'build-signer-digest': '{{ .job_workflow_sha }}',
          'runner-environment': '{{ .runner_environment }}',
          'source-repository-uri': '{{ .url }}/{{ .repository }}',
          'source-repository-digest': '{{ .sha }}',
          'source-repository-ref': '{{ .ref }}',
          'build-trigger': '{{ .event_name }}',
        },
      },
    },
  };
}

export type LoadedCa = IssuingCa & { chainDer: Uint8Array[] };

export interface RunningCa {
  url: string;
  app: FastifyInstance;
  issuing: LoadedCa;
  issuers: IssuersConfig;
  close(): Promise<void>;
}

export async function startCa(doc: Record<string, unknown>, o: { ct?: CtLog; issuing?: LoadedCa; bodyLimit?: number; verifyWorkers?: number } = {}): Promise<RunningCa> {
  const dir = await mkdtemp(join(tmpdir(), 'ca-'));
  const issuers = parseIssuersConfig(doc);
  const issuing = o.issuing ?? (await loadFileCa(await ensureGeneratedCa(dir)));
  // verifyWorkers: P-256 proofs of possession go to the WASM core on worker threads, as the standalone CA does by default.
  const batcher = o.verifyWorkers ? new BatchingVerifier(new VerifyPool(o.verifyWorkers)) : undefined;
  const ca = new CodeSigningCa({ issuers, verifier: new TokenVerifier(issuers), ca: issuing, ...(o.ct ? { ct: o.ct } : {}), ...(batcher ? { verifyCore: (item) => batcher.verify(item) } : {}) });
  const app = await build({ ca, issuers, ...(o.bodyLimit ? { bodyLimit: o.bodyLimit } : {}) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    issuing,
    issuers,
    close: async () => {
      await app.close();
      await batcher?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The real transparency log (host/log) with its CT personality, in a temp dir. */
export async function startCtLog(): Promise<{ started: Standalone; ct: CtLog; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ca-ctlog-'));
  const started = await startLog({ dataDir: dir, port: 0, host: '127.0.0.1' });
  const spki = started.trust!.ctlogs![0]!.publicKeySpki;
  const ct: CtLog = { url: started.ready.ct!, publicKey: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }) };
  return {
    started,
    ct,
    close: async () => {
      await started.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ClientKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  pem: string;
  prove(challenge: string): string;
}

export function clientKey(kind: 'p256' | 'p384' | 'ed25519' | 'rsa2048' | 'rsa1024' | 'p521' = 'p256'): ClientKey {
  const kp =
    kind === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : kind.startsWith('rsa')
        ? generateKeyPairSync('rsa', { modulusLength: Number(kind.slice(3)) })
        : generateKeyPairSync('ec', { namedCurve: kind === 'p256' ? 'P-256' : kind === 'p384' ? 'P-384' : 'P-521' });
  const hash = kind === 'ed25519' ? null : kind === 'p384' ? 'sha384' : kind === 'p521' ? 'sha512' : 'sha256';
  return {
    privateKey: kp.privateKey,
    publicKey: kp.publicKey,
    pem: kp.publicKey.export({ format: 'pem', type: 'spki' }) as string,
    prove: (challenge) => sign(hash, Buffer.from(challenge), kp.privateKey).toString('base64'),
  };
}

export function v2Body(token: string | undefined, key: ClientKey, challenge: string): Record<string, unknown> {
  return {
    ...(token !== undefined ? { credentials: { oidcIdentityToken: token } } : {}),
    publicKeyRequest: { publicKey: { algorithm: 'ECDSA', content: key.pem }, proofOfPossession: key.prove(challenge) },
  };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* PEM (v1) */
  }
  return { status: res.status, json, headers: res.headers, text };
}

export function chainOf(json: Record<string, unknown>): string[] {
  const r = (json.signedCertificateEmbeddedSct ?? json.signedCertificateDetachedSct) as { chain: { certificates: string[] } };
  return r.chain.certificates;
}

/**
 * An issuing CA whose key lives in a fresh SoftHSM token (PKCS#11 backend), certified by a
 * throwaway root: root → intermediate(HSM key). Undefined (with the reason) when SoftHSM is absent.
 */
export async function softhsmCa(label: string): Promise<{ issuing: LoadedCa; close(): Promise<void> } | { skip: string }> {
  const { softhsmMissing, softhsmToken, SOFTHSM_MODULE } = await import('../keys/softhsm.js');
  const missing = softhsmMissing();
  if (missing) return { skip: missing };
  const x509 = await import('@peculiar/x509');
  const { generatePkcs11EcKey, openPkcs11Signer } = await import('../../host/keys/pkcs11.js');
  const { loadCa } = await import('../../host/ca/keys.js');
  const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
  const token = await softhsmToken(label, '2468');
  process.env.CAIRN_TEST_HSM_PIN = '2468';
  const opts = { module: SOFTHSM_MODULE, tokenLabel: label, pinEnv: 'CAIRN_TEST_HSM_PIN', keyLabel: 'ca' };
  await generatePkcs11EcKey({ ...opts, curve: 'P-256' });
  const probe = await openPkcs11Signer(opts);
  const spki = probe.publicKeySpki;
  await probe.close();
  const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
  const root = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=HSM Test Root', notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000), keys: root as never, signingAlgorithm: SIGN,
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true), await x509.SubjectKeyIdentifierExtension.create(root.publicKey as never, false, crypto)],
  }, crypto);
  const pub = new x509.PublicKey(spki);
  const inter = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: 'CN=HSM Test Intermediate', issuer: rootCert.subject, notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000),
    publicKey: pub, signingKey: root.privateKey as never, signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(pub, false, crypto),
      await x509.AuthorityKeyIdentifierExtension.create(root.publicKey as never, false, crypto),
    ],
  }, crypto);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(token.dir, 'chain.pem'), `${rootCert.toString('pem')}\n${inter.toString('pem')}\n`);
  const issuing = await loadCa({ type: 'pkcs11', ...opts, chain: join(token.dir, 'chain.pem') });
  return {
    issuing,
    close: async () => {
      await issuing.signer.close();
      await token.close();
    },
  };
}

/**
 * A CT log (with a key of its own) that takes every submission and never answers, until
 * `release()`: then it answers 500 and drops the connections it held. For the CA's behaviour
 * against a hanging upstream.
 */
export async function startHungCtLog(): Promise<{ ct: CtLog; requests(): number; release(): void; close(): Promise<void> }> {
  let requests = 0;
  let hang = true;
  const server = createServer((_req, res) => {
    requests++;
    if (!hang) res.writeHead(500).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    ct: { url, publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, transport: 'http' },
    requests: () => requests,
    release() {
      hang = false;
      server.closeAllConnections();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
