/**
 * The agent's side of TPM node attestation (host/spiffe/tpm-attestor.ts is the server's), driving
 * the TPM through tpm2-tools so any TCTI works (a device, the resource manager, swtpm):
 *   1. tpm2_createek (RSA EK, the default template) and tpm2_createak (ECC P-256 AK, ECDSA-SHA256)
 *      under it;
 *   2. POST /node/v1/attest/tpm/challenge {akPublic, ekPublic, pcrs} → nonce + credential blob;
 *   3. tpm2_activatecredential (EK authorised through a PolicySecret session) recovers the
 *      credential, which only this TPM can do, and only for this AK;
 *   4. tpm2_quote over the nonce and the PCRs, tpm2_pcrread for their values;
 *   5. POST /node/v1/attest/tpm/quote with a fresh P-256 agent key, and the EK certificate when
 *      the TPM holds one (or one is given) → the agent X509-SVID.
 * The agent's private key is written mode 0600; the TPM work files stay in `workDir`.
 */
import { writeSecretFile } from '../keys/file.js';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SpiffeError } from './errors.js';

const run = promisify(execFile);

export interface TpmAgentOptions {
  /** The SPIFFE server's base URL. */
  server: string;
  /** Directory for TPM context files and the results (svid.pem, bundle.pem, key.pem). */
  workDir: string;
  /** TPM2TOOLS_TCTI, e.g. `swtpm:host=127.0.0.1,port=2321` or `device:/dev/tpmrm0` (default: tpm2-tools' own). */
  tcti?: string;
  /** PCRs to quote (default: the server's choice). */
  pcrs?: number[];
  /** tpm2-tools without a resource manager (swtpm, a raw device) needs transient objects flushed. */
  flushTransient?: boolean;
  /**
   * The EK certificate (DER or PEM file) when the TPM does not hold it in NV (some firmware TPMs:
   * the vendor serves it online); by default it is read from NV index 0x01c00002 (TCG EK
   * Credential Profile §2.2.1.4, RSA 2048 EK certificate), and sent when present.
   */
  ekCertificateFile?: string;
  /** Intermediate CA certificates (PEM file) between the EK certificate and the manufacturer CA. */
  ekChainFile?: string;
  /** How to POST to the server (remote-agent.ts passes its authenticated connection); default fetch. */
  post?: <T>(path: string, body: unknown) => Promise<T>;
}

export interface TpmAttestation {
  spiffeId: string;
  selectors: string[];
  /** PEM files written under workDir. */
  files: { svid: string; bundle: string; key: string };
}

const pem = (label: string, b64: string): string => `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;

function pemBlocks(text: string): Buffer[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

function derOf(b: Buffer): Buffer {
  const text = b.toString('latin1');
  return text.includes('-----BEGIN') ? pemBlocks(text)[0] ?? Buffer.alloc(0) : trimDer(b);
}

/** The DER SEQUENCE at the start of `b`, without trailing bytes (NV indices are often padded). */
function trimDer(b: Buffer): Buffer {
  if (b.length < 4 || b[0] !== 0x30) return b;
  const l = b[1]!;
  const len = l < 0x80 ? 2 + l : 2 + (l & 0x7f) + b.subarray(2, 2 + (l & 0x7f)).reduce((a, x) => a * 256 + x, 0);
  return b.subarray(0, Math.min(len, b.length));
}

export async function attestWithTpm(o: TpmAgentOptions): Promise<TpmAttestation> {
  const dir = o.workDir;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const env = { ...process.env, ...(o.tcti ? { TPM2TOOLS_TCTI: o.tcti } : {}) };
  const tpm2 = async (...args: string[]): Promise<void> => {
    try {
      await run(args[0]!, args.slice(1), { cwd: dir, env });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new SpiffeError('SPIFFE_TPM_REJECTED', `${args[0]} failed: ${(err.stderr ?? err.message).trim().split('\n').pop()}`, { cause: e });
    } finally {
      if (o.flushTransient ?? true) await run('tpm2_flushcontext', ['-t'], { cwd: dir, env }).catch(() => undefined);
    }
  };
  const post = o.post ?? (async <T>(path: string, body: unknown): Promise<T> => {
    const res = await fetch(`${o.server.replace(/\/$/, '')}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const j = (await res.json().catch(() => ({}))) as T & { error?: string; message?: string };
    if (!res.ok) throw new SpiffeError('SPIFFE_TPM_REJECTED', `${path}: ${res.status} ${j.error ?? ''} ${j.message ?? ''}`.trim());
    return j;
  });

  await tpm2('tpm2_createek', '-c', 'ek.ctx', '-G', 'rsa', '-u', 'ek.pub');
  await tpm2('tpm2_createak', '-C', 'ek.ctx', '-c', 'ak.ctx', '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', 'ak.pub', '-n', 'ak.name');
  const ekPublic = (await readFile(join(dir, 'ek.pub'))).toString('base64');
  let ekCertificate: Buffer | undefined;
  if (o.ekCertificateFile) ekCertificate = derOf(await readFile(o.ekCertificateFile));
  else {
    // Not every TPM has one; its absence only means no ek-ca selectors.
    ekCertificate = await tpm2('tpm2_nvread', '0x01c00002', '-o', 'ekcert.der').then(() => readFile(join(dir, 'ekcert.der')), () => undefined);
    // tpm2_nvread reads the whole index, which may be padded after the DER certificate.
    if (ekCertificate) ekCertificate = trimDer(ekCertificate);
  }
  const ekChain = o.ekChainFile ? pemBlocks((await readFile(o.ekChainFile)).toString('latin1')) : [];
  const akPublic = (await readFile(join(dir, 'ak.pub'))).toString('base64');

  const ch = await post<{ nonce: string; pcrs: number[]; credentialBlob?: string }>('/node/v1/attest/tpm/challenge', { akPublic, ekPublic, ...(o.pcrs ? { pcrs: o.pcrs } : {}) });
  let credential: string | undefined;
  if (ch.credentialBlob) {
    await writeFile(join(dir, 'cred.blob'), Buffer.from(ch.credentialBlob, 'base64'));
    await tpm2('tpm2_startauthsession', '--policy-session', '-S', 'session.ctx');
    try {
      await tpm2('tpm2_policysecret', '-S', 'session.ctx', '-c', 'e');
      await tpm2('tpm2_activatecredential', '-c', 'ak.ctx', '-C', 'ek.ctx', '-i', 'cred.blob', '-o', 'cred.out', '-P', 'session:session.ctx');
    } finally {
      await tpm2('tpm2_flushcontext', 'session.ctx').catch(() => undefined);
    }
    credential = (await readFile(join(dir, 'cred.out'))).toString('hex');
  }
  const sel = `sha256:${ch.pcrs.join(',')}`;
  await tpm2('tpm2_quote', '-c', 'ak.ctx', '-l', sel, '-q', ch.nonce, '-m', 'quote.msg', '-s', 'quote.sig', '-g', 'sha256');
  await tpm2('tpm2_pcrread', sel, '-o', 'pcr.values');
  const values = await readFile(join(dir, 'pcr.values'));
  const agent = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const out = await post<{ spiffeId: string; selectors: string[]; svid: string[]; bundle: string[] }>('/node/v1/attest/tpm/quote', {
    ekPublic,
    akPublic,
    nonce: ch.nonce,
    ...(credential ? { credential } : {}),
    attest: (await readFile(join(dir, 'quote.msg'))).toString('base64'),
    signature: (await readFile(join(dir, 'quote.sig'))).toString('base64'),
    pcrValues: ch.pcrs.map((_, i) => values.subarray(i * 32, i * 32 + 32).toString('hex')),
    publicKey: agent.publicKey.export({ type: 'spki', format: 'pem' }),
    ...(ekCertificate ? { ekCertificate: ekCertificate.toString('base64') } : {}),
    ...(ekChain.length ? { ekChain: ekChain.map((c) => c.toString('base64')) } : {}),
  });
  const files = { svid: join(dir, 'svid.pem'), bundle: join(dir, 'bundle.pem'), key: join(dir, 'key.pem') };
  await writeSecretFile(files.key, agent.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  await writeFile(files.svid, out.svid.map((c) => pem('CERTIFICATE', c)).join(''));
  await writeFile(files.bundle, out.bundle.map((c) => pem('CERTIFICATE', c)).join(''));
  return { spiffeId: out.spiffeId, selectors: out.selectors, files };
}
