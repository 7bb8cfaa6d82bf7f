/**
 * TPM 2.0 node attestation against a real software TPM (swtpm) driven by tpm2-tools, through the
 * server's HTTP node-attestation API. Skipped, with the reason printed, when the tools are missing
 * (CI installs swtpm swtpm-tools tpm2-tools).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortPair, hasTool } from './tpm-helpers.js';
import { initTpm, wasmQuoteChecker } from '../../host/core/tpm.js';
import { TrustDomainCa } from '../../host/spiffe/ca.js';
import { build } from '../../host/spiffe/plugin.js';
import { SpiffeStore } from '../../host/spiffe/store.js';
import { parseAkPublic, TpmAttestor } from '../../host/spiffe/tpm-attestor.js';
import { parseEkPublic } from '../../host/spiffe/tpm-credential.js';


const TOOLS = ['swtpm', 'tpm2_createek', 'tpm2_createak', 'tpm2_quote', 'tpm2_pcrread', 'tpm2_pcrextend', 'tpm2_flushcontext', 'tpm2_startauthsession', 'tpm2_policysecret', 'tpm2_activatecredential'];
const missing = TOOLS.filter((t) => !hasTool(t));
if (missing.length) console.warn(`skipping TPM attestation tests: missing ${missing.join(', ')} (apt-get install swtpm swtpm-tools tpm2-tools)`);

const TD = 'example.org';

describe.skipIf(missing.length > 0)('TPM quote attestation with swtpm', () => {
  let dir: string;
  let swtpm: ChildProcess;
  let env: NodeJS.ProcessEnv;
  let app: FastifyInstance;
  let store: SpiffeStore;
  let ca: TrustDomainCa;
  let ak1: string; // base64 TPM2B_PUBLIC
  let ak2: string;
  let ek: string;
  const agentKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;

  const tpm2 = (...args: string[]): string => {
    const out = execFileSync(args[0]!, args.slice(1), { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    // swtpm has no resource manager: flush transient objects after every command.
    execFileSync('tpm2_flushcontext', ['-t'], { cwd: dir, env, stdio: 'ignore' });
    return out;
  };

  /** tpm2_quote with AK `ak` (1|2) over `pcrs` with qualifying data `nonceHex`. */
  const quote = async (ak: 1 | 2, nonceHex: string, pcrs = '0,1,7') => {
    tpm2('tpm2_quote', '-c', `ak${ak}.ctx`, '-l', `sha256:${pcrs}`, '-q', nonceHex, '-m', 'msg', '-s', 'sig', '-o', 'pcrs', '-g', 'sha256');
    tpm2('tpm2_pcrread', 'sha256:0,1,7', '-o', 'pcrvals');
    const vals = await readFile(join(dir, 'pcrvals'));
    return {
      attest: (await readFile(join(dir, 'msg'))).toString('base64'),
      signature: (await readFile(join(dir, 'sig'))).toString('base64'),
      pcrValues: [0, 1, 2].map((i) => vals.subarray(i * 32, i * 32 + 32).toString('hex')),
    };
  };

  /** TPM2_ActivateCredential (EK auth through a PolicySecret session) on the blob with AK `ak`. */
  const activate = async (ak: 1 | 2, blob: string): Promise<string> => {
    await writeFile(join(dir, 'cred.blob'), Buffer.from(blob, 'base64'));
    tpm2('tpm2_startauthsession', '--policy-session', '-S', 'session.ctx');
    try {
      tpm2('tpm2_policysecret', '-S', 'session.ctx', '-c', 'e');
      tpm2('tpm2_activatecredential', '-c', `ak${ak}.ctx`, '-C', 'ek.ctx', '-i', 'cred.blob', '-o', 'cred.out', '-P', 'session:session.ctx');
    } finally {
      tpm2('tpm2_flushcontext', 'session.ctx');
    }
    return (await readFile(join(dir, 'cred.out'))).toString('hex');
  };

  /** A challenge for `akPublic` with credential activation done by the TPM; `proof` goes into the quote request. */
  const challenge = async (akPublic: string, pcrs?: number[]) => {
    const res = await app.inject({ method: 'POST', url: '/node/v1/attest/tpm/challenge', payload: { akPublic, ekPublic: ek, ...(pcrs ? { pcrs } : {}) } });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { nonce: string; pcrs: number[]; credentialBlob: string };
    const credential = await activate(akPublic === ak1 ? 1 : 2, body.credentialBlob);
    return { ...body, proof: { ekPublic: ek, credential } };
  };

  const submit = (body: Record<string, unknown>) => app.inject({ method: 'POST', url: '/node/v1/attest/tpm/quote', payload: { publicKey: agentKey, ...body } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swtpm-'));
    const port = await freePortPair();
    const ctrl = port + 1;
    swtpm = spawn('swtpm', ['socket', '--tpm2', '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`, '--ctrl', `type=tcp,port=${ctrl},bindaddr=127.0.0.1`, '--tpmstate', `dir=${dir}`, '--flags', 'not-need-init,startup-clear'], { stdio: 'ignore' });
    env = { ...process.env, TPM2TOOLS_TCTI: `swtpm:host=127.0.0.1,port=${port}` };
    for (let i = 0; ; i++) {
      try {
        tpm2('tpm2_pcrread', 'sha256:0');
        break;
      } catch (e) {
        if (i > 50) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    tpm2('tpm2_createek', '-c', 'ek.ctx', '-G', 'rsa', '-u', 'ek.pub');
    tpm2('tpm2_createak', '-C', 'ek.ctx', '-c', 'ak1.ctx', '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', 'ak1.pub', '-n', 'ak1.name');
    tpm2('tpm2_createak', '-C', 'ek.ctx', '-c', 'ak2.ctx', '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', 'ak2.pub', '-n', 'ak2.name');
    // A measured "boot": PCR 7 no longer all zeros.
    tpm2('tpm2_pcrextend', `7:sha256=${randomBytes(32).toString('hex')}`);
    ak1 = (await readFile(join(dir, 'ak1.pub'))).toString('base64');
    ak2 = (await readFile(join(dir, 'ak2.pub'))).toString('base64');
    ek = (await readFile(join(dir, 'ek.pub'))).toString('base64');

    await initTpm();
    ca = await TrustDomainCa.open({ trustDomain: TD });
    store = new SpiffeStore({ path: ':memory:' });
    app = await build({ ca, store, issuer: () => 'http://127.0.0.1', tpm: new TpmAttestor({ trustDomain: TD, store, checker: wasmQuoteChecker }) });

    // Enrol AK1 with its PCR 7 value (the operator's node entry); AK2 stays unregistered.
    const pcr7 = execFileSync('tpm2_pcrread', ['sha256:7', '-o', join(dir, 'p7')], { env }) && (await readFile(join(dir, 'p7'))).toString('hex');
    store.createEntry({ spiffeId: `spiffe://${TD}/node/builder`, parentId: `spiffe://${TD}/spire/server`, selectors: [`tpm:ak:${parseAkPublic(Buffer.from(ak1, 'base64')).spkiSha256}`, `tpm:pcr:sha256:7:${pcr7}`] });
  }, 60_000);

  afterAll(async () => {
    swtpm?.kill('SIGTERM');
    await app?.close();
    store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('accepts a good quote after credential activation and derives the agent SPIFFE ID from the EK', async () => {
    const ch = await challenge(ak1);
    expect(ch.pcrs).toEqual([0, 1, 7]);
    const q = await quote(1, ch.nonce);
    const res = await submit({ ...ch.proof, akPublic: ak1, nonce: ch.nonce, ...q });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { spiffeId: string; selectors: string[]; svid: string[]; bundle: string[] };
    const akHash = parseAkPublic(Buffer.from(ak1, 'base64')).spkiSha256;
    const ekHash = parseEkPublic(Buffer.from(ek, 'base64')).spkiSha256;
    expect(body.spiffeId).toBe(`spiffe://${TD}/spire/agent/tpm/${ekHash}`);
    expect(body.selectors).toContain(`tpm:ek:${ekHash}`);
    expect(body.selectors).toContain(`tpm:ak:${akHash}`);
    expect(body.selectors).toContain(`tpm:pcr:sha256:7:${q.pcrValues[2]}`);
    const leaf = new X509Certificate(Buffer.from(body.svid[0]!, 'base64'));
    expect(leaf.subjectAltName).toBe(`URI:${body.spiffeId}`);
    expect(leaf.verify(new X509Certificate(Buffer.from(body.bundle[0]!, 'base64')).publicKey)).toBe(true);
  });

  it('rejects a replayed quote (the nonce is single-use)', async () => {
    const ch = await challenge(ak1);
    const q = await quote(1, ch.nonce);
    expect((await submit({ ...ch.proof, akPublic: ak1, nonce: ch.nonce, ...q })).statusCode).toBe(200);
    const again = await submit({ ...ch.proof, akPublic: ak1, nonce: ch.nonce, ...q });
    expect(again.statusCode).toBe(401);
    expect(again.json()).toMatchObject({ error: 'SPIFFE_TPM_REJECTED' });
  });

  it('rejects a quote over a nonce other than the one issued', async () => {
    const ch = await challenge(ak1);
    const q = await quote(1, randomBytes(32).toString('hex'));
    const res = await submit({ ...ch.proof, akPublic: ak1, nonce: ch.nonce, ...q });
    expect(res.statusCode).toBe(401);
    expect((res.json() as { message: string }).message).toContain('TPM_QUOTE_NONCE_MISMATCH');
  });

  it('rejects a quote whose PCR selection differs from the requested one', async () => {
    const ch = await challenge(ak1);
    const q = await quote(1, ch.nonce, '0,1');
    const res = await submit({ ...ch.proof, akPublic: ak1, nonce: ch.nonce, ...q });
    expect(res.statusCode).toBe(401);
    expect((res.json() as { message: string }).message).toContain('TPM_QUOTE_SELECTION_MISMATCH');
  });

  it('rejects PCR values that do not match the attested digest, and an attestation altered after signing', async () => {
    const ch = await challenge(ak1);
    const q = await quote(1, ch.nonce);
    const values = [...q.pcrValues];
    values[2] = '00'.repeat(32);
    const res = await submit({ ...ch.proof, akPublic: ak1, nonce: ch.nonce, ...q, pcrValues: values });
    expect((res.json() as { message: string }).message).toContain('TPM_QUOTE_DIGEST_MISMATCH');

    // Patch the attested digest to match forged PCR values: the structure checks pass, the AK
    // signature over the TPMS_ATTEST does not.
    const ch2 = await challenge(ak1);
    const q2 = await quote(1, ch2.nonce);
    const attest = Buffer.from(q2.attest, 'base64');
    const { createHash } = await import('node:crypto');
    const forged = [q2.pcrValues[0]!, q2.pcrValues[1]!, '00'.repeat(32)];
    createHash('sha256').update(Buffer.concat(forged.map((h) => Buffer.from(h, 'hex')))).digest().copy(attest, attest.length - 32);
    const res2 = await submit({ ...ch2.proof, akPublic: ak1, nonce: ch2.nonce, ...q2, attest: attest.toString('base64'), pcrValues: forged });
    expect(res2.statusCode).toBe(401);
    expect((res2.json() as { message: string }).message).toMatch(/signature/);
  });

  it('rejects a quote signed by a different AK than the one presented', async () => {
    const ch = await challenge(ak1);
    const q = await quote(2, ch.nonce);
    const res = await submit({ ...ch.proof, akPublic: ak1, nonce: ch.nonce, ...q });
    expect(res.statusCode).toBe(401);
    expect((res.json() as { message: string }).message).toMatch(/not signed by the presented AK/);
    // ...and the nonce issued for AK1 cannot be spent by AK2 either.
    const ch2 = await challenge(ak1);
    const q2 = await quote(2, ch2.nonce);
    const res2 = await submit({ ...ch2.proof, akPublic: ak2, nonce: ch2.nonce, ...q2 });
    expect((res2.json() as { message: string }).message).toMatch(/another AK/);
  });

  it('rejects a genuine quote from an AK no node entry names', async () => {
    const ch = await challenge(ak2);
    const q = await quote(2, ch.nonce);
    const res = await submit({ ...ch.proof, akPublic: ak2, nonce: ch.nonce, ...q });
    expect(res.statusCode).toBe(401);
    expect((res.json() as { message: string }).message).toMatch(/no node entry/);
  });

  it('requires credential activation: no EK in the challenge, no credential, or a wrong one are refused', async () => {
    const noEk = await app.inject({ method: 'POST', url: '/node/v1/attest/tpm/challenge', payload: { akPublic: ak1 } });
    expect(noEk.statusCode).toBe(401);
    expect((noEk.json() as { message: string }).message).toMatch(/credential activation is required/);
    for (const credential of [undefined, randomBytes(32).toString('hex')]) {
      const ch = await challenge(ak1);
      const q = await quote(1, ch.nonce);
      const res = await submit({ ekPublic: ek, ...(credential ? { credential } : {}), akPublic: ak1, nonce: ch.nonce, ...q });
      expect(res.statusCode).toBe(401);
      expect((res.json() as { message: string }).message).toMatch(/activated credential does not match/);
    }
  });

  it('a credential blob bound to AK1 cannot be activated with AK2 (the TPM checks the Name)', async () => {
    const res = await app.inject({ method: 'POST', url: '/node/v1/attest/tpm/challenge', payload: { akPublic: ak1, ekPublic: ek } });
    const { credentialBlob } = res.json() as { credentialBlob: string };
    await expect(activate(2, credentialBlob)).rejects.toThrow();
    expect(await activate(1, credentialBlob)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the agent side (`cairn spiffe attest-tpm`) attests over HTTP with a fresh AK, enrolled by its EK', async () => {
    const ekHash = parseEkPublic(Buffer.from(ek, 'base64')).spkiSha256;
    const pcr7 = (await quote(1, randomBytes(32).toString('hex'))).pcrValues[2];
    store.createEntry({ spiffeId: `spiffe://${TD}/node/by-ek`, parentId: `spiffe://${TD}/spire/server`, selectors: [`tpm:ek:${ekHash}`, `tpm:pcr:sha256:7:${pcr7}`] });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const out = join(dir, 'agent');
    const cli = join(import.meta.dirname, '../../bin/cairn.js');
    // Plain http authenticates no server: refused unless asked for explicitly.
    const refused = await promisify(execFile)(process.execPath, [cli, 'spiffe', '--server', url, 'attest-tpm', '--out', out, '--tcti', env.TPM2TOOLS_TCTI!], { env }).then(() => undefined, (e: { code: number; stderr: string }) => e);
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toMatch(/plain http/);
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'spiffe', '--server', url, 'attest-tpm', '--out', out, '--tcti', env.TPM2TOOLS_TCTI!, '--insecure-bootstrap'], { env });
    const r = JSON.parse(stdout) as { spiffeId: string; selectors: string[]; files: { svid: string; bundle: string; key: string } };
    expect(r.spiffeId).toBe(`spiffe://${TD}/spire/agent/tpm/${ekHash}`);
    expect(r.selectors).toContain(`tpm:ek:${ekHash}`);
    const leaf = new X509Certificate(await readFile(r.files.svid));
    expect(leaf.subjectAltName).toBe(`URI:${r.spiffeId}`);
    expect(leaf.verify(new X509Certificate(await readFile(r.files.bundle)).publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(await readFile(r.files.key)))).toBe(true);
    expect((await stat(r.files.key)).mode & 0o777).toBe(0o600);
  });

  it('rejects malformed evidence with coded 4xx errors', async () => {
    const bad = await app.inject({ method: 'POST', url: '/node/v1/attest/tpm/challenge', payload: { akPublic: Buffer.from('garbage').toString('base64') } });
    expect(bad.statusCode).toBe(401);
    expect(bad.json()).toMatchObject({ error: 'SPIFFE_TPM_REJECTED' });
    const res = await submit({ akPublic: ak1, nonce: 'zz', attest: '', signature: '', pcrValues: [] });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'INVALID_REQUEST' });
  });
});
