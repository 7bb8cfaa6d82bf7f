/**
 * `cairn spiffe ...`: administer a running SPIFFE server (`cairn serve spiffe`) over its admin API.
 *   cairn spiffe entry create --spiffe-id ID --parent-id ID --selector S [--selector S ...] [--hint H]
 *       [--federates-with TD ...] [--dns NAME ...]
 *   cairn spiffe entry list [--parent-id ID] [--spiffe-id ID]
 *   cairn spiffe entry delete <entry id>
 *   cairn spiffe token generate [--ttl SECONDS]
 *   cairn spiffe rotate
 *   cairn spiffe attest-tpm --out DIR [--tcti TCTI] [--pcrs 0,1,7]   (the agent side; no admin token)
 *       [--trust-domain TD --trust-bundle FILE | --insecure-bootstrap]
 *   cairn spiffe agent --data-dir DIR --socket PATH (--join-token T | --join-token-file F | --tpm [--tcti TCTI] [--ek-cert F] [--ek-chain F])
 *       [--trust-domain TD --trust-bundle FILE | --insecure-bootstrap]
 *       an agent on this node: attests, then serves the Workload API for the entries the server
 *       lets it serve (host/spiffe/remote-agent.ts); prints {"ready":true,"agentId":..,"socket":..}
 *   cairn spiffe fetch x509 [--socket S] [--write DIR]     the workload's side (spire-agent api
 *   cairn spiffe fetch jwt --audience A [--spiffe-id ID]   fetch / validate): the Workload API
 *   cairn spiffe validate jwt --audience A --svid T|-      socket only, no server or admin token
 * Server: --server URL or $CAIRN_SPIFFE_SERVER. Admin token: --admin-token-file FILE (default
 * .cairn/spiffe/admin-token, the one `cairn serve spiffe` writes with mode 0600) or
 * $CAIRN_SPIFFE_ADMIN_TOKEN. Every command prints one JSON line; the token is never printed.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { isCairnError } from '../errors.js';
import { readSecretFile } from '../keys/file.js';
import { attestWithTpm } from '../spiffe/tpm-agent.js';

interface Conn {
  server?: string;
  adminTokenFile?: string;
}

async function connection(cmd: Command): Promise<{ base: string; token: string }> {
  const o = cmd.optsWithGlobals<Conn>();
  const base = o.server ?? process.env.CAIRN_SPIFFE_SERVER;
  if (!base) cmd.error('cairn spiffe: --server URL (or CAIRN_SPIFFE_SERVER) is required', { exitCode: 2 });
  let token = process.env.CAIRN_SPIFFE_ADMIN_TOKEN;
  if (o.adminTokenFile !== undefined || !token) {
    const file = o.adminTokenFile ?? '.cairn/spiffe/admin-token';
    // The admin token grants the whole registration API (any SPIFFE ID, any selectors): a copy of
    // it that group or others can read is refused with a chmod hint and never sent, as the server
    // refuses its own admin-token file and SSH a private key (readSecretFile).
    try {
      token = (await readSecretFile(file)).trim();
    } catch (e) {
      cmd.error(`cairn spiffe: ${isCairnError(e) ? e.message : `cannot read admin token file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`}`, { exitCode: 1 });
    }
  }
  return { base: base!.replace(/\/$/, ''), token: token! };
}

async function call(cmd: Command, method: string, path: string, body?: unknown): Promise<void> {
  const { base, token } = await connection(cmd);
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (e) {
    cmd.error(`cairn spiffe: cannot reach ${base}: ${(e as Error).message}`, { exitCode: 1 });
    return;
  }
  const text = await res.text();
  if (!res.ok) {
    let msg = text;
    try {
      const j = JSON.parse(text) as { error?: string; message?: string };
      msg = `${j.error ?? res.status}: ${j.message ?? ''}`;
    } catch {
      /* not JSON */
    }
    cmd.error(`cairn spiffe: ${msg}`, { exitCode: 1, code: String(res.status) });
  }
  process.stdout.write(`${text === '' ? JSON.stringify({ ok: true }) : text}\n`);
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('not a positive integer');
  return n;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function registerSpiffe(program: Command): void {
  const spiffe = program
    .command('spiffe')
    .description('administer a running SPIFFE server (registration entries, join tokens, rotation)')
    .option('--server <url>', 'server base URL (default $CAIRN_SPIFFE_SERVER)')
    .option('--admin-token-file <file>', 'admin bearer token file (default .cairn/spiffe/admin-token or $CAIRN_SPIFFE_ADMIN_TOKEN)');

  const entry = spiffe.command('entry').description('registration entries: SPIFFE ID -> parent ID + selectors');
  entry
    .command('create')
    .description('create a registration entry')
    .requiredOption('--spiffe-id <id>', 'the workload SPIFFE ID, e.g. spiffe://example.org/build')
    .requiredOption('--parent-id <id>', 'the agent that may issue it (the local agent is spiffe://<td>/spire/agent/local)')
    .requiredOption('--selector <s>', 'selector, repeatable: unix:uid:1000, unix:gid:0, unix:path:/usr/bin/x, tpm:ek:<hex>, tpm:ak:<hex>, tpm:pcr:sha256:7:<hex>', collect)
    .option('--hint <hint>', 'Workload API hint')
    .option('--x509-ttl <seconds>', 'X509-SVID lifetime', seconds)
    .option('--jwt-ttl <seconds>', 'JWT-SVID lifetime', seconds)
    .option('--federates-with <td>', 'trust domain whose federated bundle the workload gets (SPIRE -federatesWith), repeatable; the server must federate with it', collect)
    .option('--dns <name>', 'DNS SAN of the X509-SVID (SPIRE -dns), repeatable, at most 32; the first is also the subject CN', collect)
    .action(async function (this: Command, o: { spiffeId: string; parentId: string; selector: string[]; hint?: string; x509Ttl?: number; jwtTtl?: number; federatesWith?: string[]; dns?: string[] }) {
      await call(this, 'POST', '/admin/v1/entries', {
        spiffeId: o.spiffeId,
        parentId: o.parentId,
        selectors: o.selector,
        ...(o.hint !== undefined ? { hint: o.hint } : {}),
        ...(o.x509Ttl !== undefined ? { x509SvidTtl: o.x509Ttl } : {}),
        ...(o.jwtTtl !== undefined ? { jwtSvidTtl: o.jwtTtl } : {}),
        ...(o.federatesWith !== undefined ? { federatesWith: o.federatesWith } : {}),
        ...(o.dns !== undefined ? { dnsNames: o.dns } : {}),
      });
    });
  entry
    .command('list')
    .description('list registration entries')
    .option('--parent-id <id>', 'only entries under this parent')
    .option('--spiffe-id <id>', 'only entries for this SPIFFE ID')
    .action(async function (this: Command, o: { parentId?: string; spiffeId?: string }) {
      const q = new URLSearchParams();
      if (o.parentId) q.set('parentId', o.parentId);
      if (o.spiffeId) q.set('spiffeId', o.spiffeId);
      await call(this, 'GET', `/admin/v1/entries${q.size ? `?${q}` : ''}`);
    });
  entry
    .command('delete')
    .description('delete a registration entry')
    .argument('<id>', 'entry id (from create or list)')
    .action(async function (this: Command, id: string) {
      await call(this, 'DELETE', `/admin/v1/entries/${encodeURIComponent(id)}`);
    });

  spiffe
    .command('token')
    .description('join tokens for node attestation')
    .command('generate')
    .description('create a single-use join token')
    .option('--ttl <seconds>', 'lifetime', seconds, 600)
    .action(async function (this: Command, o: { ttl: number }) {
      await call(this, 'POST', '/admin/v1/jointokens', { ttl: o.ttl });
    });

  spiffe
    .command('rotate')
    .description('prepare a new CA authority (X.509 signing cert + JWT key); the old one stays in the bundle for the overlap')
    .action(async function (this: Command) {
      await call(this, 'POST', '/admin/v1/rotate');
    });

  spiffe
    .command('attest-tpm')
    .description('node attestation with this machine\'s TPM (tpm2-tools): EK + AK, credential activation, PCR quote; writes the agent SVID, bundle and key (0600) to --out')
    .requiredOption('--out <dir>', 'work directory for TPM context files and the resulting svid.pem, bundle.pem, key.pem')
    .option('--tcti <tcti>', 'TPM2TOOLS_TCTI, e.g. device:/dev/tpmrm0 or swtpm:host=127.0.0.1,port=2321')
    .option('--pcrs <list>', 'PCRs to quote, comma-separated (default: the server\'s)', (v: string) => v.split(',').map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 0 || n > 23) throw new InvalidArgumentError('PCR indices are 0..23');
      return n;
    }))
    .option('--ek-cert <file>', 'the EK certificate (DER or PEM) when the TPM does not hold it in NV 0x01c00002')
    .option('--ek-chain <file>', 'intermediate CA certificates (PEM) between the EK certificate and the TPM manufacturer CA')
    .option('--trust-domain <td>', 'with an https --server: its trust domain')
    .option('--trust-bundle <file>', 'with an https --server: the bootstrap bundle its SVID must chain to')
    .option('--insecure-bootstrap', 'accept a plain-http --server without authenticating it (labs and loopback tests only)')
    .action(async function (this: Command, o: { out: string; tcti?: string; pcrs?: number[]; ekCert?: string; ekChain?: string; trustDomain?: string; trustBundle?: string; insecureBootstrap?: boolean }) {
      const base = this.optsWithGlobals<Conn>().server ?? process.env.CAIRN_SPIFFE_SERVER;
      if (!base) this.error('cairn spiffe: --server URL (or CAIRN_SPIFFE_SERVER) is required', { exitCode: 2 });
      try {
        // The server is authenticated as the agent does it (remote-agent.ts): over https by its
        // SVID against the bootstrap bundle; plain http only with --insecure-bootstrap. An
        // unauthenticated server could hand out an SVID and bundle of its own choosing.
        let post: (<T>(path: string, body: unknown) => Promise<T>) | undefined;
        const { connectToServer } = await import('../spiffe/remote-agent.js');
        const conn = await connectToServer({ server: base!, ...(o.trustDomain ? { trustDomain: o.trustDomain } : {}), ...(o.trustBundle ? { trustBundle: o.trustBundle } : {}), ...(o.insecureBootstrap ? { insecureBootstrap: true } : {}) });
        if (base!.startsWith('https:')) post = <T>(path: string, body: unknown) => conn.json<T>('POST', path, { body });
        const r = await attestWithTpm({ server: base!, workDir: o.out, ...(o.tcti ? { tcti: o.tcti } : {}), ...(o.pcrs ? { pcrs: o.pcrs } : {}), ...(o.ekCert ? { ekCertificateFile: o.ekCert } : {}), ...(o.ekChain ? { ekChainFile: o.ekChain } : {}), ...(post ? { post } : {}) });
        process.stdout.write(`${JSON.stringify(r)}\n`);
      } catch (e) {
        this.error(`cairn spiffe: ${(e as Error).message}`, { exitCode: 1 });
      }
    });

  spiffe
    .command('agent')
    .description('run an agent on this node: node attestation (join token or TPM), then the Workload API on a local socket for the entries parented to this agent or its node aliases')
    .requiredOption('--data-dir <dir>', 'the agent\'s key and SVID (0600), reused on restart')
    .requiredOption('--socket <path>', 'where to serve the Workload API (UNIX socket)')
    .option('--join-token <token>', 'attest with this single-use join token (`cairn spiffe token generate`); visible to other local users in the process list, so prefer --join-token-file')
    .option('--join-token-file <file>', 'attest with the join token in this file (mode 0600, as SSH wants its keys)')
    .option('--tpm', 'attest with this machine\'s TPM (tpm2-tools)')
    .option('--tcti <tcti>', 'with --tpm: TPM2TOOLS_TCTI')
    // As attest-tpm: a TPM without its EK certificate in NV, or a vendor whose EK certificates
    // come from an intermediate CA, needs these for the server's tpmEkCas check (README).
    .option('--ek-cert <file>', 'with --tpm: the EK certificate (DER or PEM) when the TPM does not hold it in NV 0x01c00002')
    .option('--ek-chain <file>', 'with --tpm: intermediate CA certificates (PEM) between the EK certificate and the TPM manufacturer CA')
    .option('--trust-domain <td>', 'the server\'s trust domain (with an https --server)')
    .option('--trust-bundle <file>', 'the bootstrap bundle (SPIFFE bundle JSON or PEM) that authenticates an https --server')
    .option('--insecure-bootstrap', 'accept a plain-http --server without authenticating it (labs and loopback tests only)')
    .option('--poll <seconds>', 'how often to fetch entries and the bundle', (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0.1 || n > 3600) throw new InvalidArgumentError('0.1..3600 seconds');
      return n;
    }, 5)
    .action(async function (this: Command, o: { dataDir: string; socket: string; joinToken?: string; joinTokenFile?: string; tpm?: boolean; tcti?: string; ekCert?: string; ekChain?: string; poll: number; trustDomain?: string; trustBundle?: string; insecureBootstrap?: boolean }) {
      const base = this.optsWithGlobals<Conn>().server ?? process.env.CAIRN_SPIFFE_SERVER;
      if (!base) this.error('cairn spiffe: --server URL (or CAIRN_SPIFFE_SERVER) is required', { exitCode: 2 });
      if (o.joinToken && o.joinTokenFile) this.error('cairn spiffe: give --join-token or --join-token-file, not both', { exitCode: 2 });
      if ((o.ekCert || o.ekChain) && !o.tpm) this.error('cairn spiffe: --ek-cert and --ek-chain go with --tpm', { exitCode: 2 });
      if (o.joinTokenFile) {
        try {
          o.joinToken = (await readSecretFile(o.joinTokenFile)).trim();
        } catch (e) {
          this.error(`cairn spiffe: ${(e as Error).message}`, { exitCode: 2 });
        }
        if (!o.joinToken) this.error(`cairn spiffe: ${o.joinTokenFile} is empty`, { exitCode: 2 });
      }
      const { startRemoteAgent } = await import('../spiffe/remote-agent.js');
      try {
        const a = await startRemoteAgent({
          server: base!,
          socketPath: o.socket,
          workDir: o.dataDir,
          pollMs: o.poll * 1000,
          ...(o.trustDomain ? { trustDomain: o.trustDomain } : {}),
          ...(o.trustBundle ? { trustBundle: o.trustBundle } : {}),
          ...(o.insecureBootstrap ? { insecureBootstrap: true } : {}),
          ...(o.joinToken ? { joinToken: o.joinToken } : {}),
          ...(o.tpm ? { tpm: { ...(o.tcti ? { tcti: o.tcti } : {}), ...(o.ekCert ? { ekCertificateFile: o.ekCert } : {}), ...(o.ekChain ? { ekChainFile: o.ekChain } : {}) } } : {}),
          log: (msg, fields) => process.stderr.write(`${JSON.stringify({ level: 'warn', msg, ...fields })}\n`),
        });
        process.stdout.write(`${JSON.stringify({ ready: true, agentId: a.agentId, socket: a.socketPath })}\n`);
        const stop = (): void => void a.close().then(() => process.exit(0));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      } catch (e) {
        this.error(`cairn spiffe: ${(e as Error).message}`, { exitCode: 1 });
      }
    });

  // The workload's side (spire-agent api fetch / validate): no server URL or admin token, only
  // the Workload API socket (--socket or SPIFFE_ENDPOINT_SOCKET).
  const fetchCmd = spiffe.command('fetch').description('ask the Workload API for this process\'s SVIDs, as a workload does (like spire-agent api fetch)');
  fetchCmd
    .command('x509')
    .description('X.509-SVIDs with their bundles: one JSON line each; --write also writes them as PEM (svid.N.pem, svid.N.key at 0600, bundle.N.pem, federated_bundle.<td>.pem)')
    .option('--socket <path>', 'Workload API socket, unix:///path or a path (default $SPIFFE_ENDPOINT_SOCKET)')
    .option('--write <dir>', 'also write the SVIDs, keys and bundles there')
    .action(async function (this: Command, o: { socket?: string; write?: string }) {
      await workloadCall(this, async () => {
        const { fetchX509Context } = await import('../spiffe/workload-client.js');
        const ctx = await fetchX509Context(o.socket);
        const { X509Certificate } = await import('node:crypto');
        const pem = (ders: Uint8Array[]): string => ders.map((d) => new X509Certificate(d).toString()).join('');
        if (o.write) {
          const { mkdir, writeFile } = await import('node:fs/promises');
          const { join } = await import('node:path');
          const { writeSecretFile } = await import('../keys/file.js');
          const { createPrivateKey } = await import('node:crypto');
          await mkdir(o.write, { recursive: true, mode: 0o700 });
          for (const [i, s] of ctx.svids.entries()) {
            await writeFile(join(o.write, `svid.${i}.pem`), pem(s.chain), { mode: 0o644 });
            await writeSecretFile(join(o.write, `svid.${i}.key`), createPrivateKey({ key: Buffer.from(s.keyPkcs8), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string);
            await writeFile(join(o.write, `bundle.${i}.pem`), pem(s.bundle), { mode: 0o644 });
          }
          for (const [td, b] of Object.entries(ctx.federated)) await writeFile(join(o.write, `federated_bundle.${td.replace(/^spiffe:\/\//, '')}.pem`), pem(b), { mode: 0o644 });
        }
        // The key is never printed: only what identifies the SVID.
        for (const s of ctx.svids) {
          const c = new X509Certificate(s.chain[0]!);
          process.stdout.write(`${JSON.stringify({ spiffeId: s.spiffeId, hint: s.hint, serial: c.serialNumber, notAfter: new Date(c.validTo).toISOString(), chain: s.chain.length, bundle: s.bundle.length, federated: Object.keys(ctx.federated) })}\n`);
        }
      });
    });
  fetchCmd
    .command('jwt')
    .description('JWT-SVIDs for an audience: one JSON line each, with the token')
    .requiredOption('--audience <aud>', 'audience, repeatable', collect)
    .option('--spiffe-id <id>', 'only this identity, when the workload has several')
    .option('--socket <path>', 'Workload API socket (default $SPIFFE_ENDPOINT_SOCKET)')
    .action(async function (this: Command, o: { audience: string[]; spiffeId?: string; socket?: string }) {
      await workloadCall(this, async () => {
        const { fetchJwtSvids } = await import('../spiffe/workload-client.js');
        for (const s of await fetchJwtSvids(o.audience, { ...(o.socket ? { socket: o.socket } : {}), ...(o.spiffeId ? { spiffeId: o.spiffeId } : {}) })) {
          const exp = (JSON.parse(Buffer.from(s.token.split('.')[1] ?? '', 'base64url').toString('utf8') || '{}') as { exp?: number }).exp;
          process.stdout.write(`${JSON.stringify({ spiffeId: s.spiffeId, hint: s.hint, ...(exp ? { expiresAt: new Date(exp * 1000).toISOString() } : {}), token: s.token })}\n`);
        }
      });
    });
  spiffe
    .command('validate')
    .description('have the Workload API validate a JWT-SVID (like spire-agent api validate jwt)')
    .command('jwt')
    .requiredOption('--audience <aud>', 'the audience the token must carry')
    .requiredOption('--svid <token>', 'the JWT-SVID, or - to read it from stdin')
    .option('--socket <path>', 'Workload API socket (default $SPIFFE_ENDPOINT_SOCKET)')
    .action(async function (this: Command, o: { audience: string; svid: string; socket?: string }) {
      await workloadCall(this, async () => {
        const { validateJwtSvid } = await import('../spiffe/workload-client.js');
        const svid = o.svid === '-' ? readFileSync(0, 'utf8').trim() : o.svid;
        const v = await validateJwtSvid(svid, o.audience, o.socket);
        process.stdout.write(`${JSON.stringify({ valid: true, spiffeId: v.spiffeId, claims: v.claims })}\n`);
      });
    });
}

/** Runs a Workload API command; a coded failure becomes a one-line error with its code, exit 1. */
async function workloadCall(cmd: Command, op: () => Promise<void>): Promise<void> {
  try {
    await op();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    cmd.error(`cairn spiffe: ${typeof code === 'string' ? `${code}: ` : ''}${(e as Error).message}`, { exitCode: 1 });
  }
}
