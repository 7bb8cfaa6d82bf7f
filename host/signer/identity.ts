/**
 * Where the signer's identity token comes from: a JWT-SVID fetched from the SPIFFE Workload API
 * (SPIFFE Workload Endpoint + JWT-SVID specs; gRPC FetchJWTSVID over the UNIX socket named by
 * SPIFFE_ENDPOINT_SOCKET, header `workload.spiffe.io: true`), or for CI without SPIFFE an OIDC
 * token from a file or an environment variable.
 */
import { readFile } from 'node:fs/promises';
import { fetchJwtSvids, socketPath } from '../spiffe/workload-client.js';
import { SignerError } from './errors.js';

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
  let svids;
  try {
    svids = await fetchJwtSvids([audience], { socket, ...(spiffeId ? { spiffeId } : {}) });
  } catch (e) {
    throw new SignerError('SIGNER_NO_IDENTITY', `no JWT-SVID from the Workload API at ${socketPath(socket)}: ${(e as Error).message}`, { cause: e });
  }
  const s = svids[0];
  if (!s) throw new SignerError('SIGNER_NO_IDENTITY', 'the Workload API returned no JWT-SVID for this workload');
  return { token: s.token, spiffeId: s.spiffeId };
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
