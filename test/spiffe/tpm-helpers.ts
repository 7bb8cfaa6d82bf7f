/**
 * Shared by the swtpm tests (tpm.test.ts, tpm-ekcert.test.ts): which tools are on PATH, and a
 * pair of free loopback ports for a software TPM.
 */
import { execFileSync } from 'node:child_process';
import net from 'node:net';

export function hasTool(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function listenOn(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/** Two consecutive free ports: the swtpm TCTI finds the control channel at port + 1. */
export async function freePortPair(): Promise<number> {
  for (;;) {
    const a = await listenOn(0);
    const port = (a!.address() as net.AddressInfo).port;
    const b = port < 65535 ? await listenOn(port + 1) : undefined;
    await new Promise((r) => a!.close(r));
    if (b) {
      await new Promise((r) => b.close(r));
      return port;
    }
  }
}
