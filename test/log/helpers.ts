/** Test helpers: a log on real SQLite files in a temp dir, listening on 127.0.0.1, and signers. */
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, sign, webcrypto, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { Standalone } from '../../host/cli/serve.js';
import { startStandalone } from '../../host/log/standalone.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface RunningLog {
  dir: string;
  dataDir: string;
  url: string;
  started: Standalone;
  restart(): Promise<void>;
  close(): Promise<void>;
  post(path: string, body: unknown, type?: string): Promise<{ status: number; json: any; headers: Headers; text: string }>;
  get(path: string): Promise<{ status: number; json: any; headers: Headers; bytes: Buffer; text: string }>;
}

let postgresUrl: string | undefined;

/**
 * Logs started after this keep their trees in PostgreSQL at `url` (a schema of their own each),
 * not in SQLite: test/log/postgres-api.test.ts runs the API suites again this way.
 */
export function usePostgres(url: string | undefined): void {
  postgresUrl = url;
}

let schemas = 0;

/** `dataDir`: start on an existing data directory (its keys), as a second node of a log does. */
export async function startLog(config = '', o: { dataDir?: string } = {}): Promise<RunningLog> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-log-'));
  const cfg = join(dir, 'config.yaml');
  const store = postgresUrl ? `postgres: { url: "${postgresUrl}", schema: t${process.pid}_${++schemas} }\n` : '';
  await writeFile(cfg, store + config);
  const dataDir = o.dataDir ?? join(dir, 'data');
  const run: RunningLog = {
    dir,
    dataDir,
    url: '',
    started: undefined as unknown as Standalone,
    async restart() {
      await run.started.close();
      run.started = await startStandalone({ dataDir, port: 0, host: '127.0.0.1', config: cfg });
      run.url = run.started.ready.log!;
    },
    async close() {
      await run.started.close();
      await rm(dir, { recursive: true, force: true });
    },
    async post(path, body, type = 'application/json') {
      const r = await fetch(run.url + path, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) });
      const text = await r.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: r.status, json, headers: r.headers, text };
    },
    async get(path) {
      const r = await fetch(run.url + path);
      const bytes = Buffer.from(await r.arrayBuffer());
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch {
        json = undefined;
      }
      return { status: r.status, json, headers: r.headers, bytes, text: bytes.toString('utf8') };
    },
  };
  run.started = await startStandalone({ dataDir, port: 0, host: '127.0.0.1', config: cfg });
  run.url = run.started.ready.log!;
  return run;
}

export interface Signer {
  privateKey: KeyObject;
  publicKeyPem: string;
  certPem?: string;
}

export function ecSigner(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }) as string };
}

/** A self-signed P-256 certificate with a URI SAN (a SPIFFE ID) and an email SAN. */
export async function certSigner(uri: string, email: string): Promise<Signer> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: '',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 600_000),
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }, { type: 'email', value: email }], true)],
  });
  const { createPrivateKey } = await import('node:crypto');
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { privateKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }), publicKeyPem: '', certPem: cert.toString('pem') };
}

export function hashedrekord(s: Signer, artifact: Buffer): { body: unknown; digest: string; sig: Buffer } {
  const sig = sign('sha256', artifact, s.privateKey);
  const digest = createHash('sha256').update(artifact).digest('hex');
  return {
    digest,
    sig,
    body: {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: digest } },
        signature: { content: sig.toString('base64'), publicKey: { content: Buffer.from(s.certPem ?? s.publicKeyPem).toString('base64') } },
      },
    },
  };
}

export function pae(type: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `), payload]);
}

export interface LogProcess {
  url: string;
  /** SIGKILL: the process ends with no chance to flush or close anything. */
  kill(): Promise<void>;
}

/**
 * A log server in a process of its own (`startStandalone` on `dataDir`, with `config` if given),
 * for tests that kill it. Resolves once it has printed its ready line.
 */
export async function spawnLog(dataDir: string, config?: string): Promise<LogProcess> {
  const code = `
    const m = await import(${JSON.stringify(join(import.meta.dirname, '../../host/log/standalone.ts'))});
    const s = await m.startStandalone({ dataDir: ${JSON.stringify(dataDir)}, port: 0, host: '127.0.0.1'${config ? `, config: ${JSON.stringify(config)}` : ''} });
    process.stdout.write(JSON.stringify(s.ready) + '\\n');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
    child.once('exit', (c) => reject(new Error(`log server exited with ${c}`)));
  });
  return {
    url: (JSON.parse(line) as { log: string }).log,
    kill: () => new Promise<void>((r) => {
      if (child.exitCode !== null || child.signalCode !== null) return r();
      child.once('exit', () => r());
      child.kill('SIGKILL');
    }),
  };
}

/** A hashedrekord request body (JSON text) signed by a fresh P-256 key, over a unique artifact. */
export function freshEntry(tag: string): string {
  return JSON.stringify(hashedrekord(ecSigner(), Buffer.from(`${tag} ${Math.random()}`)).body);
}
