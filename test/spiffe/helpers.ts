/**
 * Test helpers: a Workload API client built ONLY from the public proto (the same file any SPIFFE
 * client would use), and a running standalone server in a temp dir.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Standalone } from '../../host/cli/serve.js';
import { startStandalone } from '../../host/spiffe/standalone.js';

export const PROTO = join(import.meta.dirname, '../../host/spiffe/proto/workload.proto');

export type WorkloadClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function workloadClient(socketPath: string): WorkloadClient {
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { SpiffeWorkloadAPI: grpc.ServiceClientConstructor };
  return new pkg.SpiffeWorkloadAPI(`unix://${socketPath}`, grpc.credentials.createInsecure()) as unknown as WorkloadClient;
}

export function header(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  return md;
}

export function unary<T>(client: WorkloadClient, method: string, req: unknown, md: grpc.Metadata = header()): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]!(req, md, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/** Reads messages from a server stream; `next()` resolves with the next one or rejects with the status. */
export function streamReader<T>(stream: grpc.ClientReadableStream<T>): { next(timeoutMs?: number): Promise<T>; cancel(): void } {
  const queue: T[] = [];
  const waiters: { resolve: (v: T) => void; reject: (e: unknown) => void }[] = [];
  let error: unknown;
  stream.on('data', (m: T) => {
    const w = waiters.shift();
    if (w) w.resolve(m);
    else queue.push(m);
  });
  stream.on('error', (e) => {
    error = e;
    for (const w of waiters.splice(0)) w.reject(e);
  });
  return {
    next(timeoutMs = 10_000) {
      if (queue.length) return Promise.resolve(queue.shift()!);
      if (error) return Promise.reject(error);
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('timeout waiting for a stream message')), timeoutMs);
        waiters.push({ resolve: (v) => { clearTimeout(t); resolve(v); }, reject: (e) => { clearTimeout(t); reject(e); } });
      });
    },
    cancel() {
      stream.cancel();
    },
  };
}

export interface Server {
  dir: string;
  started: Standalone;
  oidc: string;
  socket: string;
  admin: string;
  adminToken: string;
  close(): Promise<void>;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }>;
}

export async function startServer(trustDomain = 'example.org', config?: string): Promise<Server> {
  const dir = await mkdtemp(join(tmpdir(), 'spiffe-'));
  let configPath: string | undefined;
  if (config !== undefined) {
    configPath = join(dir, 'config.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(configPath, config);
  }
  const started = await startStandalone({ dataDir: join(dir, 'data'), port: 0, host: '127.0.0.1', trustDomain, ...(configPath ? { config: configPath } : {}) });
  const adminToken = (await readFile(started.ready.adminTokenFile!, 'utf8')).trim();
  const admin = started.ready.admin!;
  return {
    dir,
    started,
    oidc: started.ready.oidc!,
    socket: started.ready.socket!,
    admin,
    adminToken,
    async close() {
      await started.close();
      await rm(dir, { recursive: true, force: true });
    },
    async api(method, path, body) {
      const headers = { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
      if (admin.startsWith('https:')) {
        // A server with `tls: { spiffe: true }` presents its own SVID; the tests' admin calls do
        // not authenticate it (what is under test authenticates it, or not, on its own).
        const https = await import('node:https');
        return new Promise((resolve, reject) => {
          const req = https.request(`${admin}${path}`, { method, headers, rejectUnauthorized: false }, (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
          });
          req.on('error', reject);
          req.end(body !== undefined ? JSON.stringify(body) : undefined);
        });
      }
      const res = await fetch(`${admin}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    },
  };
}

/** Splits concatenated DER certificates (the Workload API's bundle/chain encoding): the product's own splitter. */
export { splitDer } from '../../host/spiffe/workload-client.js';
