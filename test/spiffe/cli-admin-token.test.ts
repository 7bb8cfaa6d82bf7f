/**
 * `cairn spiffe` reads its admin token file (--admin-token-file, default .cairn/spiffe/admin-token)
 * as a secret (host/keys/file.ts readSecretFile): a copy that group or others can read is refused
 * with a chmod hint and the token is never sent. It used to be read with readFileSync whatever its
 * mode, although the server refuses its own admin-token file in that state. The server here is a
 * stub that records what it was sent.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const main = pathToFileURL(join(import.meta.dirname, '../../host/cli/main.ts')).href;
const script = (args: string[]) => `const m = await import(${JSON.stringify(main)}); await m.main(${JSON.stringify(['node', 'cairn', ...args])});`;
const execFileP = promisify(execFile);

async function cairn(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.CAIRN_SPIFFE_ADMIN_TOKEN;
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(args)], { env });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

it('cairn spiffe refuses an admin token file readable by others and sends nothing; at 0600 it is used', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'spiffe-cli-token-'));
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"entries":[]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const a = server.address();
    const url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    const file = join(dir, 'admin-token');
    const token = 'a'.repeat(43);
    await writeFile(file, `${token}\n`, { mode: 0o644 });
    await chmod(file, 0o644);

    const refused = await cairn(['spiffe', '--server', url, '--admin-token-file', file, 'entry', 'list']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`chmod 600 ${file}`);
    expect(refused.stderr).not.toContain(token);
    expect(seen).toEqual([]);

    await chmod(file, 0o600);
    const listed = await cairn(['spiffe', '--server', url, '--admin-token-file', file, 'entry', 'list']);
    expect(listed.code).toBe(0);
    expect(seen).toEqual([`Bearer ${token}`]);

    const missing = await cairn(['spiffe', '--server', url, '--admin-token-file', join(dir, 'absent'), 'entry', 'list']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read admin token file');
    expect(missing.stderr).toContain('ENOENT');
  } finally {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
