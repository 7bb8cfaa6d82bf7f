/**
 * Where the signer's identity token comes from: a JWT-SVID fetched from the SPIFFE Workload API
 * (SPIFFE Workload Endpoint + JWT-SVID specs; gRPC FetchJWTSVID over the UNIX socket named by
 * SPIFFE_ENDPOINT_SOCKET, header `workload.spiffe.io: true`), or for CI without SPIFFE an OIDC
 * token from a file or an environment variable.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SignerError } from './errors.js';

const PROTO = fileURLToPath(new URL('../../host/spiffe/proto/workload.proto', import.meta.url).href.replace('/dist/host/', '/host/'));

export interface IdentitySource {
  token?: string;
  tokenFile?: string;
  tokenEnv?: string;
  /** unix:///path or a plain path; default SPIFFE_ENDPOINT_SOCKET. */
  socket?: string;
  audience?: string;
}

/** `spiffeId` picks one of the workload's identities when it has several (JWTSVIDRequest.spiffe_id). */
export async function fetchJwtSvid(socket: string, audience: string, spiffeId?: string): Promise<{ token: string; spiffeId: string }> {
  const path = socket.startsWith('unix://') ? decodeURIComponent(new URL(socket).pathname) : socket;
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { SpiffeWorkloadAPI: grpc.ServiceClientConstructor };
  const client = new pkg.SpiffeWorkloadAPI(`unix://${path}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  try {
    const res = await new Promise<{ svids: { spiffe_id: string; svid: string }[] }>((resolve, reject) => {
      client.FetchJWTSVID!({ audience: [audience], ...(spiffeId ? { spiffe_id: spiffeId } : {}) }, md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, r: { svids: { spiffe_id: string; svid: string }[] }) => (err ? reject(err) : resolve(r)));
    });
    const s = res.svids[0];
    if (!s) throw new SignerError('SIGNER_NO_IDENTITY', 'the Workload API returned no JWT-SVID for this workload');
    return { token: s.svid, spiffeId: s.spiffe_id };
  } catch (e) {
    if (e instanceof SignerError) throw e;
    throw new SignerError('SIGNER_NO_IDENTITY', `no JWT-SVID from the Workload API at ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    client.close();
  }
}

export async function identityToken(src: IdentitySource): Promise<string> {
  if (src.token) return src.token;
  if (src.tokenFile) return (await readFile(src.tokenFile, 'utf8')).trim();
  if (src.tokenEnv) {
    const v = process.env[src.tokenEnv];
    if (!v) throw new SignerError('SIGNER_NO_IDENTITY', `environment variable ${src.tokenEnv} is empty`);
    return v.trim();
  }
  const socket = src.socket ?? process.env.SPIFFE_ENDPOINT_SOCKET;
  if (!socket) throw new SignerError('SIGNER_NO_IDENTITY', 'no identity: give --identity-token(-file) or a Workload API socket (SPIFFE_ENDPOINT_SOCKET)');
  return (await fetchJwtSvid(socket, src.audience ?? 'sigstore')).token;
}
