/**
 * The workload's side of the Workload API from the command line, as `spire-agent api fetch` and
 * `api validate` give it: `cairn spiffe fetch x509 [--write DIR]`, `cairn spiffe fetch jwt`,
 * `cairn spiffe validate jwt`, against a real SPIFFE server's socket. Outside judge: openssl
 * verifies the written SVID against the written bundle.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hasTool } from '../tsa/helpers.js';
import { startServer, type Server } from './helpers.js';

const TD = 'fetch.example';
const ID = `spiffe://${TD}/app`;
const main = pathToFileURL(join(import.meta.dirname, '../../host/cli/main.ts')).href;
const execFileP = promisify(execFile);
const haveOpenssl = hasTool('openssl');
if (!haveOpenssl) console.warn('test/spiffe/cli-workload.test.ts: the openssl check is skipped: openssl not found on PATH (CI installs it via apt)');

async function cairn(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = `const m = await import(${JSON.stringify(main)}); await m.main(${JSON.stringify(['node', 'cairn', ...args])});`;
  const e = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: e });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const x = err as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

let server: Server;
let empty: Server;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-fetch-'));
  server = await startServer(TD);
  const r = await server.api('POST', '/admin/v1/entries', { spiffeId: ID, parentId: `spiffe://${TD}/spire/agent/local`, selectors: [`unix:uid:${process.getuid!()}`], hint: 'app' });
  expect(r.status).toBe(201);
  empty = await startServer('nobody.example'); // no entry for anyone
});
afterAll(async () => {
  await server?.close();
  await empty?.close();
  await rm(dir, { recursive: true, force: true });
});

it('fetch x509 prints the SVID (never the key) and --write leaves PEM files that openssl verifies, the key at 0600', async () => {
  const out = join(dir, 'svids');
  const r = await cairn(['spiffe', 'fetch', 'x509', '--socket', `unix://${server.socket}`, '--write', out]);
  expect(r.code, r.stderr).toBe(0);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { spiffeId: string; hint: string; chain: number; bundle: number });
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ spiffeId: ID, hint: 'app', chain: 1 });
  expect(r.stdout).not.toContain('PRIVATE KEY');
  const cert = new X509Certificate(await readFile(join(out, 'svid.0.pem')));
  expect(cert.subjectAltName).toBe(`URI:${ID}`);
  expect((await stat(join(out, 'svid.0.key'))).mode & 0o777).toBe(0o600);
  const key = createPrivateKey(await readFile(join(out, 'svid.0.key'), 'utf8'));
  expect(key.export({ format: 'jwk' }).x).toBe(cert.publicKey.export({ format: 'jwk' }).x); // the key of this certificate
  const bundle = await readFile(join(out, 'bundle.0.pem'), 'utf8');
  expect(cert.verify(new X509Certificate(bundle).publicKey)).toBe(true);
  if (haveOpenssl) {
    expect(execFileSync('openssl', ['verify', '-CAfile', join(out, 'bundle.0.pem'), join(out, 'svid.0.pem')], { encoding: 'utf8' })).toMatch(/: OK/);
  }
});

it('fetch jwt gives a token for the audience that validate jwt accepts, and refuses it for another audience or tampered', async () => {
  const socket = `unix://${server.socket}`;
  const r = await cairn(['spiffe', 'fetch', 'jwt', '--audience', 'svc-a', '--audience', 'svc-b'], { SPIFFE_ENDPOINT_SOCKET: socket });
  expect(r.code, r.stderr).toBe(0);
  const svid = JSON.parse(r.stdout.trim()) as { spiffeId: string; token: string; expiresAt: string };
  expect(svid.spiffeId).toBe(ID);
  expect(Date.parse(svid.expiresAt)).toBeGreaterThan(Date.now());
  const ok = await cairn(['spiffe', 'validate', 'jwt', '--audience', 'svc-b', '--svid', svid.token, '--socket', socket]);
  expect(ok.code, ok.stderr).toBe(0);
  const v = JSON.parse(ok.stdout) as { valid: boolean; spiffeId: string; claims: { sub: string; aud: string[] } };
  expect(v).toMatchObject({ valid: true, spiffeId: ID });
  expect(v.claims.sub).toBe(ID);
  expect(v.claims.aud).toEqual(['svc-a', 'svc-b']);
  const other = await cairn(['spiffe', 'validate', 'jwt', '--audience', 'svc-c', '--svid', svid.token, '--socket', socket]);
  expect([other.code, /WORKLOAD_INVALID/.test(other.stderr)]).toEqual([1, true]);
  const [h, p, s] = svid.token.split('.');
  const tampered = `${h}.${p}.${s!.slice(0, -4)}${s!.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
  const bad = await cairn(['spiffe', 'validate', 'jwt', '--audience', 'svc-a', '--svid', tampered, '--socket', socket]);
  expect([bad.code, /WORKLOAD_INVALID/.test(bad.stderr)]).toEqual([1, true]);
});

it('a relative --socket is the file it names (cairn sign\'s default .cairn/spiffe/agent.sock is relative)', async () => {
  // grpc-js reads unix://a/b as authority "a", path "b": the first directory of a relative path was dropped.
  const rel = relative(process.cwd(), server.socket);
  expect(rel.startsWith('/')).toBe(false);
  const r = await cairn(['spiffe', 'fetch', 'jwt', '--audience', 'svc-a', '--socket', rel]);
  expect(r.code, r.stderr).toBe(0);
  expect((JSON.parse(r.stdout.trim()) as { spiffeId: string }).spiffeId).toBe(ID);
  // A unix:// URI with a host is not a path to dial without its host.
  const hosted = await cairn(['spiffe', 'fetch', 'jwt', '--audience', 'svc-a', '--socket', `unix://${rel}`]);
  expect([hosted.code, /WORKLOAD_NO_SOCKET/.test(hosted.stderr)], hosted.stderr).toEqual([1, true]);
});

it('says which: no socket, no identity for this process', async () => {
  const none = await cairn(['spiffe', 'fetch', 'x509'], { SPIFFE_ENDPOINT_SOCKET: undefined });
  expect([none.code, /WORKLOAD_NO_SOCKET/.test(none.stderr)]).toEqual([1, true]);
  const denied = await cairn(['spiffe', 'fetch', 'jwt', '--audience', 'a', '--socket', empty.socket]);
  expect([denied.code, /WORKLOAD_DENIED/.test(denied.stderr)]).toEqual([1, true]);
});
