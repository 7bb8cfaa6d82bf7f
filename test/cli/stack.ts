/**
 * A `cairn up` stack as a child process (bin/cairn.js, the compiled entry point `npm start` runs)
 * on free ports, and what tests do with it: a JWT-SVID from its Workload API socket, and
 * `cairn verify` with its exit status and output.
 */
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { RunningStack } from '../../host/cli/up.js';
import { unary, workloadClient } from '../spiffe/helpers.js';

export const BIN = join(import.meta.dirname, '../../bin/cairn.js');
export const execFileP = promisify(execFile);

/** The ready line `cairn up` prints: the stack's own type. */
export type Ready = RunningStack['ready'];

export interface Stack {
  child: ChildProcessByStdio<null, Readable, Readable>;
  ready: Ready;
  stderr: () => string;
}

export async function up(dataDir: string): Promise<Stack> {
  const env = { ...process.env };
  delete env.SPIFFE_ENDPOINT_SOCKET;
  const child = spawn(process.execPath, [BIN, 'up', '--data-dir', dataDir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`no ready line within 60 s; stderr:\n${err}`)), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        resolve(buf.slice(0, nl));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`cairn up exited ${code} before ready; stderr:\n${err}`));
    });
  });
  return { child, ready: JSON.parse(line) as Ready, stderr: () => err };
}

export async function down(s: Stack): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => s.child.once('exit', resolve));
  s.child.kill('SIGTERM');
  return exited;
}

export async function jwtSvid(socket: string): Promise<string> {
  const client = workloadClient(socket);
  try {
    const { svids } = await unary<{ svids: { svid: string }[] }>(client, 'FetchJWTSVID', { audience: ['sigstore'] });
    return svids[0]!.svid;
  } finally {
    client.close();
  }
}

/** `cairn verify ...`: its exit status, and its stdout (on success) or stderr. */
export async function cairnVerify(args: string[]): Promise<{ code: number; output: string }> {
  try {
    return { code: 0, output: (await execFileP(process.execPath, [BIN, 'verify', ...args])).stdout };
  } catch (e) {
    return { code: (e as { code: number }).code, output: (e as { stderr: string }).stderr };
  }
}
