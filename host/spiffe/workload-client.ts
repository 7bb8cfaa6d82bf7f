/**
 * The client side of the SPIFFE Workload API (SPIFFE Workload Endpoint and Workload API
 * standards; gRPC over a UNIX socket, every call with the `workload.spiffe.io: true` header, §4):
 * what `cairn spiffe fetch` and `cairn spiffe validate` use, and the signer's JWT-SVID source.
 *
 *   FetchX509SVID    first message of the stream: every X.509-SVID with key and bundle (§5.2.1)
 *   FetchJWTSVID     JWT-SVIDs for an audience (§6.2.1)
 *   ValidateJWTSVID  the agent's own check of a JWT-SVID against its bundles (§6.2.3)
 *
 * DER fields are split into certificates here (the API concatenates them, §5.2.1).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CairnError } from '../errors.js';

const PROTO = fileURLToPath(new URL('../../host/spiffe/proto/workload.proto', import.meta.url).href.replace('/dist/host/', '/host/'));

export type WorkloadErrorCode = 'WORKLOAD_NO_SOCKET' | 'WORKLOAD_UNAVAILABLE' | 'WORKLOAD_DENIED' | 'WORKLOAD_INVALID';

export class WorkloadError extends CairnError<WorkloadErrorCode> {}

export interface X509Svid {
  spiffeId: string;
  hint: string;
  /** The SVID first, then any intermediates (DER). */
  chain: Uint8Array[];
  /** PKCS#8 DER, unencrypted as the API sends it: the caller keeps it secret. */
  keyPkcs8: Uint8Array;
  /** The SVID's own trust domain bundle (DER certificates). */
  bundle: Uint8Array[];
}

export interface X509Context {
  svids: X509Svid[];
  /** Foreign trust domains' bundles, by trust domain SPIFFE ID (spiffe://td). */
  federated: Record<string, Uint8Array[]>;
}

/** Splits concatenated DER structures (certificates) by their outer lengths (X.690 §8.1.3). */
export function splitDer(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let p = 0;
  while (p < buf.length) {
    if (buf[p] !== 0x30 || p + 2 > buf.length) throw new WorkloadError('WORKLOAD_INVALID', 'the Workload API sent bytes that are not DER certificates');
    let len = buf[p + 1]!;
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4 || p + 2 + n > buf.length) throw new WorkloadError('WORKLOAD_INVALID', 'the Workload API sent a DER length that does not parse');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[p + 2 + i]!;
      hdr = 2 + n;
    }
    if (p + hdr + len > buf.length) throw new WorkloadError('WORKLOAD_INVALID', 'the Workload API sent a truncated certificate');
    out.push(buf.subarray(p, p + hdr + len));
    p += hdr + len;
  }
  return out;
}

/** The socket path of `unix:///path` or a plain path; SPIFFE_ENDPOINT_SOCKET when none is given. */
export function socketPath(socket: string | undefined): string {
  const s = socket ?? process.env.SPIFFE_ENDPOINT_SOCKET;
  if (!s) throw new WorkloadError('WORKLOAD_NO_SOCKET', 'no Workload API socket: give --socket or set SPIFFE_ENDPOINT_SOCKET');
  if (!s.startsWith('unix://')) return s;
  // unix://a/b.sock names host "a" and path /b.sock: refused rather than dialled without the "a".
  const u = new URL(s);
  if (u.host !== '') throw new WorkloadError('WORKLOAD_NO_SOCKET', `${s}: a unix:// socket URI takes an absolute path (unix:///path/to/socket), or give the path itself`);
  return decodeURIComponent(u.pathname);
}

type Client = grpc.Client & Record<string, (...a: unknown[]) => unknown>;
let ctor: grpc.ServiceClientConstructor | undefined;

function open(socket: string | undefined): Client {
  if (!ctor) {
    const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    ctor = (grpc.loadPackageDefinition(def) as unknown as { SpiffeWorkloadAPI: grpc.ServiceClientConstructor }).SpiffeWorkloadAPI;
  }
  // Absolute: grpc-js reads `unix://a/b.sock` as authority "a" and path "b.sock", so a relative
  // path (cairn sign's default .cairn/spiffe/agent.sock) lost its first directory.
  return new ctor(`unix://${resolve(socketPath(socket))}`, grpc.credentials.createInsecure()) as unknown as Client;
}

function header(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  return md;
}

/** gRPC status → coded error: PermissionDenied means "no identity for this caller" (§5.2.1). */
function coded(e: unknown, what: string): WorkloadError {
  const s = e as grpc.ServiceError;
  if (s.code === grpc.status.PERMISSION_DENIED) return new WorkloadError('WORKLOAD_DENIED', `${what}: the Workload API has no identity for this process (${s.details})`, { cause: e });
  if (s.code === grpc.status.INVALID_ARGUMENT || s.code === grpc.status.UNAUTHENTICATED) return new WorkloadError('WORKLOAD_INVALID', `${what}: ${s.details}`, { cause: e });
  return new WorkloadError('WORKLOAD_UNAVAILABLE', `${what}: ${s.details ?? (e as Error).message}`, { cause: e });
}

const DEADLINE_MS = 10_000;

/** The X.509-SVIDs of the calling workload: the first message of FetchX509SVID, then the stream is cancelled. */
export async function fetchX509Context(socket?: string): Promise<X509Context> {
  const client = open(socket);
  try {
    const msg = await new Promise<{ svids: { spiffe_id: string; x509_svid: Buffer; x509_svid_key: Buffer; bundle: Buffer; hint: string }[]; federated_bundles: Record<string, Buffer> }>((resolve, reject) => {
      const stream = client.FetchX509SVID!({}, header(), { deadline: Date.now() + DEADLINE_MS }) as grpc.ClientReadableStream<never>;
      stream.once('data', (m) => {
        resolve(m);
        stream.cancel();
      });
      stream.once('error', (e: grpc.ServiceError) => {
        if (e.code !== grpc.status.CANCELLED) reject(e);
      });
    });
    return {
      svids: msg.svids.map((s) => ({ spiffeId: s.spiffe_id, hint: s.hint, chain: splitDer(s.x509_svid), keyPkcs8: new Uint8Array(s.x509_svid_key), bundle: splitDer(s.bundle) })),
      federated: Object.fromEntries(Object.entries(msg.federated_bundles ?? {}).map(([td, b]) => [td, splitDer(b)])),
    };
  } catch (e) {
    if (e instanceof WorkloadError) throw e;
    throw coded(e, 'FetchX509SVID');
  } finally {
    client.close();
  }
}

/** JWT-SVIDs for `audience`; `spiffeId` picks one identity when the workload has several (JWTSVIDRequest.spiffe_id). */
export async function fetchJwtSvids(audience: string[], o: { socket?: string; spiffeId?: string } = {}): Promise<{ spiffeId: string; token: string; hint: string }[]> {
  const client = open(o.socket);
  try {
    const res = await new Promise<{ svids: { spiffe_id: string; svid: string; hint: string }[] }>((resolve, reject) => {
      client.FetchJWTSVID!({ audience, ...(o.spiffeId ? { spiffe_id: o.spiffeId } : {}) }, header(), { deadline: Date.now() + DEADLINE_MS }, (err: grpc.ServiceError | null, r: { svids: { spiffe_id: string; svid: string; hint: string }[] }) => (err ? reject(err) : resolve(r)));
    });
    return res.svids.map((s) => ({ spiffeId: s.spiffe_id, token: s.svid, hint: s.hint }));
  } catch (e) {
    throw coded(e, 'FetchJWTSVID');
  } finally {
    client.close();
  }
}

/** The agent's verdict on a JWT-SVID for `audience`: its SPIFFE ID and claims, or WORKLOAD_INVALID. */
export async function validateJwtSvid(svid: string, audience: string, socket?: string): Promise<{ spiffeId: string; claims: Record<string, unknown> }> {
  const client = open(socket);
  try {
    const res = await new Promise<{ spiffe_id: string; claims: { fields?: Record<string, unknown> } }>((resolve, reject) => {
      client.ValidateJWTSVID!({ audience, svid }, header(), { deadline: Date.now() + DEADLINE_MS }, (err: grpc.ServiceError | null, r: { spiffe_id: string; claims: { fields?: Record<string, unknown> } }) => (err ? reject(err) : resolve(r)));
    });
    return { spiffeId: res.spiffe_id, claims: fromStruct(res.claims) };
  } catch (e) {
    throw coded(e, 'ValidateJWTSVID');
  } finally {
    client.close();
  }
}

/** google.protobuf.Struct (as proto-loader decodes it) to plain JSON. */
function fromStruct(s: { fields?: Record<string, unknown> } | undefined): Record<string, unknown> {
  const value = (v: Record<string, unknown>): unknown => {
    if ('stringValue' in v) return v.stringValue;
    if ('numberValue' in v) return v.numberValue;
    if ('boolValue' in v) return v.boolValue;
    if ('nullValue' in v) return null;
    if ('structValue' in v) return fromStruct(v.structValue as { fields?: Record<string, unknown> });
    if ('listValue' in v) return ((v.listValue as { values?: Record<string, unknown>[] }).values ?? []).map(value);
    const k = v.kind as string | undefined;
    return k ? value({ [k]: v[k] }) : undefined;
  };
  return Object.fromEntries(Object.entries(s?.fields ?? {}).map(([k, v]) => [k, value(v as Record<string, unknown>)]));
}
