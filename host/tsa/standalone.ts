/**
 * `cairn serve tsa`: identity and serial store under --data-dir, then listen. Prints nothing;
 * host/cli/serve.ts writes the ready line.
 *
 * Optional --config (YAML or JSON):
 *   policies: ["1.3.6.1.4.1.57264.2", ...]   # accepted TSA policies, first = default
 *   keyType: ecdsa-p256 | ecdsa-p384 | rsa     # only used when the identity is first created
 *   accuracy: { seconds: 1, millis: 0, micros: 0 }
 *   serials: sequential | random               # sequential (default): increasing, reserved in
 *                                              # DIR/tsa.db; random: 159 random bits, no state, for
 *                                              # several TSA nodes sharing one key
 *   key:                                       # optional: an existing TSA key instead of the generated one
 *     type: file                               # encrypted PKCS#8 (mode 0600)
 *     path: tsa-key.pem
 *     passphraseEnv: CAIRN_TSA_PASSPHRASE      # or passphraseFile: F
 *     chain: tsa-chain.pem                     # PEM, TSA certificate first, root last
 *   key:
 *     type: pkcs11                             # the key stays in the token (SoftHSM, an HSM)
 *     module: /usr/lib/softhsm/libsofthsm2.so
 *     tokenLabel: cairn                        # or slot: 0
 *     pinEnv: CAIRN_PKCS11_PIN
 *     keyLabel: tsa
 *     chain: tsa-chain.pem
 * Without `key`, an ECDSA identity (root + TSA certificate, key PKCS#8 at 0600) is generated in
 * DIR on the first start and reused.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Standalone, StandaloneOptions } from '../cli/serve.js';
import { serviceLogger } from '../http/logging.js';
import { TimestampAuthority, type AuthorityOptions } from './core.js';
import { TsaError } from './errors.js';
import { loadOrCreateTsaIdentity, pemCertificates, type TsaKeyType } from './keys.js';
import { openFileSigner } from '../keys/file.js';
import { openPkcs11Signer } from '../keys/pkcs11.js';
import type { KeySigner } from '../keys/types.js';
import { build } from './plugin.js';
import { RandomSerials, SerialStore, type SerialSource } from './store.js';
import { listenService } from '../http/ops.js';
import { closeAll, closeOnce } from '../closers.js';

export type TsaKeyConfig =
  | { type: 'file'; path: string; chain: string; passphraseEnv?: string; passphraseFile?: string }
  | { type: 'pkcs11'; module: string; tokenLabel?: string; slot?: number; pinEnv?: string; keyLabel: string; chain: string };

export interface TsaConfig {
  policies?: string[];
  keyType?: TsaKeyType;
  accuracy?: AuthorityOptions['accuracy'];
  key?: TsaKeyConfig;
  serials?: 'sequential' | 'random';
}

const OID_RE = /^[0-2](\.(0|[1-9][0-9]*))+$/;

/** Parse and check a TSA config document; unknown keys are errors so typos do not pass silently. */
export function parseTsaConfig(text: string): TsaConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new TsaError('TSA_BAD_CONFIG', 'TSA config is not valid YAML/JSON', { cause: e });
  }
  if (doc === null || doc === undefined) return {};
  const bad = (m: string): never => {
    throw new TsaError('TSA_BAD_CONFIG', `TSA config: ${m}`);
  };
  if (typeof doc !== 'object' || Array.isArray(doc)) bad('expected a mapping');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!['policies', 'keyType', 'accuracy', 'key', 'serials'].includes(k)) bad(`unknown key ${k}`);
  if (d.key !== undefined) {
    const k = d.key as Record<string, unknown>;
    if (typeof k !== 'object' || k === null) bad('key must be a mapping');
    if (typeof k.chain !== 'string') bad('key.chain (PEM file, TSA certificate first) is required');
    if (k.type === 'file') {
      if (typeof k.path !== 'string') bad('key.path is required for type file');
    } else if (k.type === 'pkcs11') {
      if (typeof k.module !== 'string' || typeof k.keyLabel !== 'string') bad('key.module and key.keyLabel are required for type pkcs11');
    } else {
      bad('key.type must be file or pkcs11');
    }
  }
  const out: TsaConfig = {};
  if (d.key !== undefined) out.key = d.key as TsaKeyConfig;
  if (d.policies !== undefined) {
    if (!Array.isArray(d.policies) || d.policies.length === 0 || !d.policies.every((p) => typeof p === 'string' && OID_RE.test(p))) {
      bad('policies must be a non-empty list of OIDs');
    }
    out.policies = d.policies as string[];
  }
  if (d.serials !== undefined) {
    if (d.serials !== 'sequential' && d.serials !== 'random') bad('serials must be sequential or random');
    out.serials = d.serials as 'sequential' | 'random';
  }
  if (d.keyType !== undefined) {
    if (!['ecdsa-p256', 'ecdsa-p384', 'rsa'].includes(d.keyType as string)) bad('keyType must be ecdsa-p256, ecdsa-p384 or rsa');
    out.keyType = d.keyType as TsaKeyType;
  }
  if (d.accuracy !== undefined) {
    const a = d.accuracy as Record<string, unknown>;
    if (typeof a !== 'object' || a === null) bad('accuracy must be a mapping');
    for (const [k, v] of Object.entries(a)) {
      if (!['seconds', 'millis', 'micros'].includes(k)) bad(`unknown accuracy field ${k}`);
      // RFC 3161 §2.4.2: millis and micros are INTEGER (1..999).
      if (!Number.isInteger(v) || (v as number) < 0 || (k !== 'seconds' && (v as number) > 999)) bad(`accuracy.${k} out of range`);
    }
    out.accuracy = a as TsaConfig['accuracy'];
  }
  return out;
}

export async function startStandalone(opts: StandaloneOptions): Promise<Standalone> {
  const config = opts.config ? parseTsaConfig(await readFile(opts.config, 'utf8')) : {};
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const identity = config.key ? await openConfiguredIdentity(config.key) : await loadOrCreateTsaIdentity(opts.dataDir, config.keyType);
  // The key (a logged-in PKCS#11 session) and the serial store are released again if the TSA does
  // not start: a chain that is not the key's, a serial store that will not open, a port in use.
  let serials: SerialSource | undefined;
  let app: Awaited<ReturnType<typeof build>>;
  try {
    const authorityOpts: AuthorityOptions = { ...identity };
    if (config.policies) authorityOpts.policies = config.policies;
    if (config.accuracy) authorityOpts.accuracy = config.accuracy;
    const authority = new TimestampAuthority(authorityOpts);
    serials = config.serials === 'random' ? new RandomSerials() : new SerialStore({ path: join(opts.dataDir, 'tsa.db') });
    app = await build({ authority, serials, logger: serviceLogger(opts.logLevel, 'tsa') });
    await listenService(app, opts);
  } catch (e) {
    serials?.close();
    await identity.signer.close().catch(() => undefined);
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host}:${port}`;
  const leaf = new X509Certificate(identity.certificates[0]!);
  return {
    ready: { tsa: url },
    // trusted_root.json wants the TSA chain leaf first (protobuf-specs CertificateAuthority) and the
    // timestamp endpoint as `uri`; the window starts when the TSA certificate does.
    trust: {
      timestampAuthorities: [{
        subject: { organization: 'Cairn', commonName: subjectCn(leaf.subject) ?? 'Cairn TSA' },
        uri: `${url}/api/v1/timestamp`,
        certChain: identity.certificates,
        validFor: { start: new Date(leaf.validFrom) },
      }],
    },
    close: closeOnce(() => closeAll([() => app.close(), () => serials.close(), () => identity.signer.close()])),
  };
}

function subjectCn(subject: string): string | undefined {
  return /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1];
}

/** A configured key backend (host/keys) plus its certificate chain. */
async function openConfiguredIdentity(k: TsaKeyConfig): Promise<{ signer: KeySigner; certificates: Uint8Array[] }> {
  const certificates = pemCertificates(await readFile(k.chain, 'utf8'));
  if (certificates.length === 0) throw new TsaError('TSA_BAD_CONFIG', `${k.chain} holds no certificates`);
  const signer = k.type === 'file'
    ? await openFileSigner({ path: k.path, ...(k.passphraseEnv ? { passphraseEnv: k.passphraseEnv } : {}), ...(k.passphraseFile ? { passphraseFile: k.passphraseFile } : {}) })
    : await openPkcs11Signer({ module: k.module, keyLabel: k.keyLabel, ...(k.tokenLabel ? { tokenLabel: k.tokenLabel } : {}), ...(k.slot !== undefined ? { slot: k.slot } : {}), ...(k.pinEnv ? { pinEnv: k.pinEnv } : {}) });
  return { signer, certificates };
}
