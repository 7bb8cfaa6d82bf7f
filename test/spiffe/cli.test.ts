/**
 * `cairn serve spiffe` in a child process (ready line, key file modes, SIGTERM) and the
 * `cairn spiffe entry create|list|delete` admin CLI against it; the created entry is then served on
 * the Workload API socket named in the ready line.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { expect, it } from 'vitest';
import { unary, workloadClient } from './helpers.js';

const main = pathToFileURL(join(import.meta.dirname, '../../host/cli/main.ts')).href;
const script = (args: string[]) => `const m = await import(${JSON.stringify(main)}); await m.main(${JSON.stringify(['node', 'cairn', ...args])});`;
const execFileP = promisify(execFile);

async function cairn(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(args)]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

it('cairn serve spiffe prints the ready line; cairn spiffe entry create/list/delete administer it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'spiffe-cli-'));
  const dataDir = join(dir, 'data');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(['serve', 'spiffe', '--data-dir', dataDir, '--port', '0', '--trust-domain', 'cli.example'])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${join(dir, 'workload.sock')}` },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let client: ReturnType<typeof workloadClient> | undefined;
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
      });
      void exited.then((c) => reject(new Error(`exited ${c} before ready`)));
    });
    const ready = JSON.parse(line) as { ready: boolean; oidc: string; socket: string; admin: string; adminTokenFile: string };
    expect(ready.ready).toBe(true);
    expect(ready.oidc).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.socket).toBe(join(dir, 'workload.sock'));
    // Secrets are readable by the owner only.
    expect((await stat(ready.adminTokenFile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, 'spiffe-ca.json'))).mode & 0o777).toBe(0o600);

    // The admin API refuses callers without the token.
    const anon = await fetch(`${ready.admin}/admin/v1/entries`);
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { error: string }).error).toBe('SPIFFE_UNAUTHENTICATED');

    const conn = ['--server', ready.admin, '--admin-token-file', ready.adminTokenFile];
    const created = await cairn(['spiffe', ...conn, 'entry', 'create', '--spiffe-id', 'spiffe://cli.example/job', '--parent-id', 'spiffe://cli.example/spire/agent/local', '--selector', `unix:uid:${process.getuid!()}`]);
    expect(created.code).toBe(0);
    const entry = JSON.parse(created.stdout) as { id: string; selectors: string[] };
    expect(entry.selectors).toEqual([`unix:uid:${process.getuid!()}`]);
    expect(created.stdout).not.toContain((await import('node:fs')).readFileSync(ready.adminTokenFile, 'utf8').trim());

    const bad = await cairn(['spiffe', ...conn, 'entry', 'create', '--spiffe-id', 'spiffe://cli.example/job/', '--parent-id', 'spiffe://cli.example/spire/agent/local', '--selector', 'unix:uid:1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('SPIFFE_BAD_ID');

    const listed = await cairn(['spiffe', ...conn, 'entry', 'list']);
    expect((JSON.parse(listed.stdout) as { entries: { id: string }[] }).entries.map((e) => e.id)).toEqual([entry.id]);

    client = workloadClient(ready.socket);
    const res = await unary<{ svids: { spiffe_id: string }[] }>(client, 'FetchJWTSVID', { audience: ['x'] });
    expect(res.svids[0]!.spiffe_id).toBe('spiffe://cli.example/job');

    expect((await cairn(['spiffe', ...conn, 'entry', 'delete', entry.id])).code).toBe(0);
    await expect(unary(client, 'FetchJWTSVID', { audience: ['x'] })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    const again = await cairn(['spiffe', ...conn, 'entry', 'delete', entry.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('SPIFFE_NOT_FOUND');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    client?.close();
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
