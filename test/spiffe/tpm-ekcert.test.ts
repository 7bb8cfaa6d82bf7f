/**
 * TPM node attestation with EK certificates (TCG EK Credential Profile): a software TPM
 * manufactured by swtpm_setup with EK certificates from swtpm_localca (a root CA and an issuing
 * CA, as TPM vendors have), the SPIFFE server trusting that root (`tpmEkCas`), and the agent
 * (`cairn spiffe attest-tpm`'s code) reading the certificate from NV index 0x01c00002. One node
 * entry on the vendor CA and the manufacturer admits the machine without its EK hash. Skipped,
 * with the reason printed, when swtpm, swtpm-tools or tpm2-tools are missing (CI installs them).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortPair, hasTool } from './tpm-helpers.js';
import https from 'node:https';
import { connectToServer } from '../../host/spiffe/remote-agent.js';
import { attestWithTpm } from '../../host/spiffe/tpm-agent.js';
import { tpmIdentityOf } from '../../host/spiffe/tpm-attestor.js';
import { startServer, type Server } from './helpers.js';

const TOOLS = ['swtpm', 'swtpm_setup', 'swtpm_localca', 'tpm2_createek', 'tpm2_createak', 'tpm2_quote', 'tpm2_nvread', 'tpm2_activatecredential'];
const missing = TOOLS.filter((t) => !hasTool(t));
if (missing.length) console.warn(`skipping TPM EK-certificate tests: missing ${missing.join(', ')} (apt-get install swtpm swtpm-tools tpm2-tools)`);

const TD = 'fleet.example';

const spkiHash = (c: X509Certificate): string => createHash('sha256').update(c.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');

describe.skipIf(missing.length > 0)('EK certificates from a TPM vendor CA', () => {
  let dir: string;
  let swtpm: ChildProcess;
  let tcti: string;
  let server: Server;
  let root: X509Certificate;
  let issuing: string;
  let bundleFile: string;
  let post: <T>(path: string, body: unknown) => Promise<T>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-ekcert-'));
    const ca = join(dir, 'vendor-ca');
    await mkdir(ca);
    await mkdir(join(dir, 'state'));
    await writeFile(join(dir, 'localca.conf'), `statedir = ${ca}\nsigningkey = ${ca}/signkey.pem\nissuercert = ${ca}/issuercert.pem\ncertserial = ${ca}/certserial\n`);
    await writeFile(join(dir, 'setup.conf'), `create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = ${join(dir, 'localca.conf')}\ncreate_certs_tool_options = /etc/swtpm-localca.options\nactive_pcr_banks = sha256\n`);
    // Manufacturing: EK key pairs, their certificates in NV (RSA 0x01c00002, ECC 0x01c00016).
    execFileSync('swtpm_setup', ['--tpm2', '--tpmstate', join(dir, 'state'), '--create-ek-cert', '--config', join(dir, 'setup.conf'), '--overwrite'], { stdio: 'pipe' });
    root = new X509Certificate(await readFile(join(ca, 'swtpm-localca-rootca-cert.pem')));
    issuing = join(ca, 'issuercert.pem');
    const port = await freePortPair();
    swtpm = spawn('swtpm', ['socket', '--tpm2', '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`, '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`, '--tpmstate', `dir=${join(dir, 'state')}`, '--flags', 'not-need-init,startup-clear'], { stdio: 'ignore' });
    tcti = `swtpm:host=127.0.0.1,port=${port}`;
    for (let i = 0; i < 50; i++) {
      try {
        execFileSync('tpm2_getrandom', ['4', '--hex'], { env: { ...process.env, TPM2TOOLS_TCTI: tcti }, stdio: 'pipe' });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await writeFile(join(dir, 'vendors.pem'), root.toString());
    // Over https: every step of the attestation goes through a connection that authenticates
    // the server by its SVID against the bootstrap bundle (remote-agent.ts connectToServer).
    server = await startServer(TD, `tpmEkCas: ${join(dir, 'vendors.pem')}\ntls: { spiffe: true }\n`);
    bundleFile = join(dir, 'bootstrap.json');
    await writeFile(bundleFile, JSON.stringify(await new Promise((resolve, reject) => {
      https.get(`${server.admin}/bundle`, { rejectUnauthorized: false }, (res) => {
        let t = '';
        res.on('data', (d: Buffer) => (t += d.toString()));
        res.on('end', () => resolve(JSON.parse(t)));
      }).on('error', reject);
    })));
    const conn = await connectToServer({ server: server.admin, trustDomain: TD, trustBundle: bundleFile });
    post = <T>(path: string, body: unknown) => conn.json<T>('POST', path, { body });
  }, 60_000);

  afterAll(async () => {
    swtpm?.kill();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('admits the machine by vendor CA and manufacturer, with the issuing CA sent as the chain', async () => {
    const manufacturer = 'id:00001014'; // swtpm_setup's TCG manufacturer ID (IBM)
    const r0 = await server.api('POST', '/admin/v1/entries', { spiffeId: `spiffe://${TD}/node/fleet`, parentId: `spiffe://${TD}/spire/server`, selectors: [`tpm:ek-ca:${spkiHash(root)}`, `tpm:manufacturer:${manufacturer}`] });
    expect(r0.status).toBe(201);
    const r = await attestWithTpm({ server: server.admin, workDir: join(dir, 'agent'), tcti, pcrs: [7], ekChainFile: issuing, post });
    expect(r.selectors).toContain(`tpm:ek-ca:${spkiHash(root)}`);
    expect(r.selectors).toContain(`tpm:manufacturer:${manufacturer}`);
    expect(r.selectors).toContain('tpm:model:swtpm');
    const ekCert = new X509Certificate(await readFile(join(dir, 'agent', 'ekcert.der')).then((b) => b.subarray(0, 4 + b.readUInt16BE(2))));
    expect(r.spiffeId).toBe(`spiffe://${TD}/spire/agent/tpm/${spkiHash(ekCert)}`);
    expect(tpmIdentityOf(ekCert)).toEqual({ manufacturer, model: 'swtpm', version: expect.stringMatching(/^id:/) });
  });

  it('a fleet: the vendor-CA node entry is an alias whose workloads a TPM-attested agent serves', async () => {
    const { startRemoteAgent } = await import('../../host/spiffe/remote-agent.js');
    const { header, streamReader, workloadClient } = await import('./helpers.js');
    const uid = process.getuid!();
    // Parented to the node entry (spiffe://TD/node/fleet) of the previous test: any agent whose
    // TPM chains to the vendor CA serves it, with no per-machine enrolment.
    expect((await server.api('POST', '/admin/v1/entries', { spiffeId: `spiffe://${TD}/fleet/collector`, parentId: `spiffe://${TD}/node/fleet`, selectors: [`unix:uid:${uid}`] })).status).toBe(201);
    const agent = await startRemoteAgent({ server: server.admin, socketPath: join(dir, 'fleet.sock'), workDir: join(dir, 'fleet-agent'), tpm: { tcti, pcrs: [7], ekChainFile: issuing }, pollMs: 100, trustDomain: TD, trustBundle: bundleFile });
    try {
      expect(agent.agentId).toMatch(new RegExp(`^spiffe://${TD}/spire/agent/tpm/[0-9a-f]{64}$`));
      const c = workloadClient(agent.socketPath);
      const r = streamReader<{ svids: { spiffe_id: string }[] }>(c.FetchX509SVID!({}, header()) as never);
      const m = await r.next();
      r.cancel();
      c.close();
      expect(m.svids.map((x) => x.spiffe_id)).toEqual([`spiffe://${TD}/fleet/collector`]);
    } finally {
      await agent.close();
    }
  });

  it('`cairn spiffe agent --tpm --ek-chain`: the CLI agent sends the vendor\'s intermediate too (README, fleet enrolment)', async () => {
    const { spawn } = await import('node:child_process');
    const { pathToFileURL } = await import('node:url');
    const main = pathToFileURL(join(import.meta.dirname, '../../host/cli/main.ts')).href;
    const args = ['spiffe', 'agent', '--tpm', '--tcti', tcti, '--ek-chain', issuing, '--trust-domain', TD, '--trust-bundle', bundleFile, '--data-dir', join(dir, 'cli-agent'), '--socket', join(dir, 'cli.sock'), '--poll', '0.1'];
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `const m = await import(${JSON.stringify(main)}); await m.main(${JSON.stringify(['node', 'cairn', ...args])});`], {
      env: { ...process.env, CAIRN_SPIFFE_SERVER: server.admin },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const ready = JSON.parse(await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
        });
        child.once('exit', (c) => reject(new Error(`cairn spiffe agent exited with ${c}: ${stderr}`)));
      })) as { ready: boolean; agentId: string };
      expect(ready.ready).toBe(true);
      // Admitted by the vendor-CA node entry: the EK certificate chained to the configured root.
      expect(ready.agentId).toMatch(new RegExp(`^spiffe://${TD}/spire/agent/tpm/[0-9a-f]{64}$`));
    } finally {
      if (child.exitCode === null) {
        await new Promise<void>((r) => {
          child.once('exit', () => r());
          child.kill('SIGTERM');
        });
      }
    }
  }, 60_000);

  it('refuses an EK certificate that does not chain, or that is for another key', async () => {
    // Without the issuing CA the certificate does not reach the configured root.
    await expect(attestWithTpm({ server: server.admin, workDir: join(dir, 'agent2'), tcti, pcrs: [7], post })).rejects.toThrow(/does not chain to a configured TPM manufacturer CA/);
    // The TPM's ECC EK certificate (NV 0x01c00016) is genuine, but not for the RSA EK in use.
    const env = { ...process.env, TPM2TOOLS_TCTI: tcti };
    execFileSync('tpm2_nvread', ['0x01c00016', '-o', join(dir, 'ecc-ek.der')], { env, stdio: 'pipe' });
    await expect(attestWithTpm({ server: server.admin, workDir: join(dir, 'agent3'), tcti, pcrs: [7], ekCertificateFile: join(dir, 'ecc-ek.der'), ekChainFile: issuing, post })).rejects.toThrow(/for another key/);
  });
});
