/**
 * `cairn serve tsa`: identity and serial store under --data-dir, then listen. Prints nothing;
 * host/cli/serve.ts writes the ready line.
 *
 * Optional --config (YAML or JSON):
 *   policies: ["1.3.6.1.4.1.57264.2", ...]   # accepted TSA policies, first = default
 *   keyType: ecdsa-p256 | ecdsa-p384 | rsa     # only used when the identity is first created
 *   accuracy: { seconds: 1, millis: 0, micros: 0 }
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Standalone, StandaloneOptions } from '../cli/serve.js';
import { serviceLogger } from '../http/logging.js';
import { TimestampAuthority, type AuthorityOptions } from './core.js';
import { TsaError } from './errors.js';
import { loadOrCreateTsaIdentity, type TsaKeyType } from './keys.js';
import { build } from './plugin.js';
import { SerialStore } from './store.js';

export interface TsaConfig {
  policies?: string[];
  keyType?: TsaKeyType;
  accuracy?: AuthorityOptions['accuracy'];
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
  for (const k of Object.keys(d)) if (!['policies', 'keyType', 'accuracy'].includes(k)) bad(`unknown key ${k}`);
  const out: TsaConfig = {};
  if (d.policies !== undefined) {
    if (!Array.isArray(d.policies) || d.policies.length === 0 || !d.policies.every((p) => typeof p === 'string' && OID_RE.test(p))) {
      bad('policies must be a non-empty list of OIDs');
    }
    out.policies = d.policies as string[];
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
  const identity = await loadOrCreateTsaIdentity(opts.dataDir, config.keyType);
  const authorityOpts: AuthorityOptions = { ...identity };
  if (config.policies) authorityOpts.policies = config.policies;
  if (config.accuracy) authorityOpts.accuracy = config.accuracy;
  const authority = new TimestampAuthority(authorityOpts);
  const serials = new SerialStore({ path: join(opts.dataDir, 'tsa.db') });
  const app = await build({ authority, serials, logger: serviceLogger(opts.logLevel, 'tsa') });
  try {
    await app.listen({ port: opts.port, host: opts.host });
  } catch (e) {
    serials.close();
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
    close: async () => {
      await app.close();
      serials.close();
      await identity.signer.close();
    },
  };
}

function subjectCn(subject: string): string | undefined {
  return /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1];
}
