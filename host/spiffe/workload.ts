/**
 * The SPIFFE Workload API (standards/SPIFFE_Workload_API.md) as a gRPC service on a UNIX socket
 * (SPIFFE Workload Endpoint §3–§4), with workload attestation from the socket peer's kernel
 * credentials (peercred.ts).
 *
 * How the peer is tied to a call: we own the listening socket (node:net), read the peer's
 * credentials for each accepted connection, then hand the connection to grpc-js through its public
 * `createConnectionInjector`. grpc-js exposes only `call.getPeer()` (the socket's remoteAddress,
 * which a UNIX socket lacks), so each accepted socket gets a unique opaque remoteAddress
 * (`cairn-peer:<n>`) that keys our per-connection table. Credentials are fixed per connection,
 * exactly as SO_PEERCRED describes them.
 *
 * Errors (Workload Endpoint §6): a request without metadata `workload.spiffe.io: true` ->
 * InvalidArgument; a caller without identity -> PermissionDenied; a malformed request ->
 * InvalidArgument; the WIT-SVID profile is not offered -> Unimplemented (§7 of the API spec).
 */
import { existsSync } from 'node:fs';
import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Agent } from './agent.js';
import { SpiffeError } from './errors.js';
import { parseSpiffeId } from './id.js';
import { validateJwtSvid } from './jwt.js';
import { peerCredentials, unixSelectors, type PeerCredentials } from './peercred.js';

/** The Workload API .proto, from sources (host/spiffe) or the compiled tree (dist/host/spiffe). */
export function workloadProtoPath(): string {
  for (const rel of ['./proto/workload.proto', '../../../host/spiffe/proto/workload.proto']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new SpiffeError('SPIFFE_UNAVAILABLE', 'workload.proto not found');
}

export const PROTO_LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export function loadWorkloadService(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(workloadProtoPath(), PROTO_LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { SpiffeWorkloadAPI: { service: grpc.ServiceDefinition } };
  return pkg.SpiffeWorkloadAPI.service;
}

/** Parses SPIFFE_ENDPOINT_SOCKET (Workload Endpoint §4); only the `unix` scheme is served here. */
export function parseEndpointSocket(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch (e) {
    throw new SpiffeError('SPIFFE_BAD_CONFIG', 'SPIFFE_ENDPOINT_SOCKET is not a URI', { cause: e });
  }
  if (u.protocol !== 'unix:') throw new SpiffeError('SPIFFE_BAD_CONFIG', 'SPIFFE_ENDPOINT_SOCKET must use the unix scheme here');
  if (u.host !== '' || u.username || u.password || u.search || u.hash || !u.pathname.startsWith('/')) {
    throw new SpiffeError('SPIFFE_BAD_CONFIG', 'SPIFFE_ENDPOINT_SOCKET must be unix:///absolute/path with no other component');
  }
  return decodeURIComponent(u.pathname);
}

interface Peer {
  creds: PeerCredentials;
  selectors: Set<string>;
}

export interface WorkloadApiOptions {
  agent: Agent;
  socketPath: string;
  /** SPIRE's allow_unauthenticated_verifiers: serve bundles / validation to callers without identity. */
  allowUnauthenticatedVerifiers?: boolean;
  /** Socket file mode (default 0o777: any local user may ask; attestation decides what they get). */
  socketMode?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface WorkloadApi {
  socketPath: string;
  close(): Promise<void>;
}

type Call = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

function status(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

function toStatus(e: unknown): grpc.ServiceError {
  if (e instanceof SpiffeError) {
    switch (e.code) {
      case 'SPIFFE_PERMISSION_DENIED':
        return status(grpc.status.PERMISSION_DENIED, e.message);
      case 'SPIFFE_UNAVAILABLE':
        return status(grpc.status.UNAVAILABLE, e.message);
      default:
        return status(grpc.status.INVALID_ARGUMENT, e.message);
    }
  }
  return status(grpc.status.INTERNAL, "internal error");
}

/** google.protobuf.Struct in proto-loader's object form, from plain JSON. */
function toStruct(obj: Record<string, unknown>): { fields: Record<string, unknown> } {
  const value = (v: unknown): unknown => {
    if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
    if (typeof v === 'number') return { numberValue: v };
    if (typeof v === 'string') return { stringValue: v };
    if (typeof v === 'boolean') return { boolValue: v };
    if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
    return { structValue: toStruct(v as Record<string, unknown>) };
  };
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, value(v)])) };
}

export async function startWorkloadApi(opts: WorkloadApiOptions): Promise<WorkloadApi> {
  const { agent } = opts;
  const log = opts.log ?? (() => undefined);
  const peers = new Map<string, Peer>();
  let seq = 0;

  /** Security header and caller lookup shared by every RPC; throws a gRPC status. */
  const caller = (call: Call): Peer => {
    const v = call.metadata.get('workload.spiffe.io');
    if (v.length !== 1 || v[0] !== 'true') throw status(grpc.status.INVALID_ARGUMENT, 'security header workload.spiffe.io: true is missing');
    const peer = peers.get(call.getPeer());
    if (!peer) throw status(grpc.status.PERMISSION_DENIED, 'caller could not be attested');
    return peer;
  };
  const requireIdentity = (peer: Peer): void => {
    if (agent.entitledEntries(peer.selectors).length === 0) throw status(grpc.status.PERMISSION_DENIED, 'no identity issued');
  };

  /**
   * A server stream that sends `build()` now and again on every agent update or at `refreshAt`,
   * skipping messages identical to the last one (Workload API §4.3), and ending the stream with the
   * status `build()` throws (e.g. PermissionDenied once the caller's entries are deleted).
   */
  const serveStream = (
    call: grpc.ServerWritableStream<unknown, unknown>,
    build: () => Promise<{ message: unknown; fingerprint: string; refreshAt?: number }>,
  ): void => {
    let last = '';
    let timer: NodeJS.Timeout | undefined;
    let running = false;
    let again = false;
    let done = false;
    const finish = (): void => {
      done = true;
      if (timer) clearTimeout(timer);
      agent.off('update', push);
    };
    const push = (): void => {
      if (done) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      Promise.resolve()
        .then(build)
        .then(({ message, fingerprint, refreshAt }) => {
          if (done) return;
          if (fingerprint !== last) {
            last = fingerprint;
            call.write(message);
          }
          if (timer) clearTimeout(timer);
          if (refreshAt !== undefined) {
            timer = setTimeout(push, Math.max(0, Math.min(refreshAt - Date.now(), 2 ** 31 - 1)));
            timer.unref();
          }
        })
        .catch((e: unknown) => {
          if (done) return;
          finish();
          call.emit('error', e instanceof Error && 'code' in e && typeof (e as grpc.ServiceError).code === 'number' ? (e as grpc.ServiceError) : toStatus(e));
        })
        .finally(() => {
          running = false;
          if (again && !done) {
            again = false;
            push();
          }
        });
    };
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', finish);
    agent.on('update', push);
    push();
  };

  const impl: grpc.UntypedServiceImplementation = {
    FetchX509SVID(call: grpc.ServerWritableStream<unknown, unknown>) {
      let peer: Peer;
      try {
        peer = caller(call);
      } catch (e) {
        call.emit('error', e as grpc.ServiceError);
        return;
      }
      serveStream(call, async () => {
        const entries = agent.entitledEntries(peer.selectors);
        if (entries.length === 0) throw status(grpc.status.PERMISSION_DENIED, 'no identity issued');
        const minted = await agent.x509Svids(entries);
        const bundle = agent.ownX509Bundle();
        // Only the trust domains the caller's entries federate with (SPIRE `federatesWith`).
        const federated = Object.fromEntries(agent.federatedX509Bundles(agent.federatesWith(entries)));
        // Hints must be unique per response (§5.2.1): later duplicates go out without a hint.
        const seen = new Set<string>();
        const svids = minted.map(({ entry, svid }) => {
          const hint = entry.hint && !seen.has(entry.hint) ? entry.hint : '';
          if (hint) seen.add(hint);
          return { spiffe_id: svid.spiffeId, x509_svid: Buffer.concat(svid.chain), x509_svid_key: Buffer.from(svid.keyPkcs8), bundle, hint };
        });
        const fingerprint = JSON.stringify([minted.map((m) => m.svid.serial), bundle.toString('base64'), Object.entries(federated).map(([k, v]) => [k, v.toString('base64')])]);
        return { message: { svids, crl: [], federated_bundles: federated }, fingerprint, refreshAt: agent.nextRefresh(minted.map((m) => m.svid)) };
      });
    },

    FetchX509Bundles(call: grpc.ServerWritableStream<unknown, unknown>) {
      let peer: Peer;
      try {
        peer = caller(call);
      } catch (e) {
        call.emit('error', e as grpc.ServiceError);
        return;
      }
      serveStream(call, () => {
        if (!opts.allowUnauthenticatedVerifiers) requireIdentity(peer);
        const bundles = Object.fromEntries(agent.allX509Bundles(agent.federatesWith(agent.entitledEntries(peer.selectors))));
        const fingerprint = JSON.stringify(Object.entries(bundles).map(([k, v]) => [k, v.toString('base64')]));
        return Promise.resolve({ message: { crl: [], bundles }, fingerprint });
      });
    },

    FetchJWTBundles(call: grpc.ServerWritableStream<unknown, unknown>) {
      let peer: Peer;
      try {
        peer = caller(call);
      } catch (e) {
        call.emit('error', e as grpc.ServiceError);
        return;
      }
      serveStream(call, () => {
        if (!opts.allowUnauthenticatedVerifiers) requireIdentity(peer);
        const bundles = Object.fromEntries(agent.allJwtBundles(agent.federatesWith(agent.entitledEntries(peer.selectors))));
        const fingerprint = JSON.stringify(Object.entries(bundles).map(([k, v]) => [k, v.toString('base64')]));
        return Promise.resolve({ message: { bundles }, fingerprint });
      });
    },

    FetchJWTSVID(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
      void (async () => {
        const peer = caller(call);
        const req = call.request as { audience?: unknown; spiffe_id?: unknown };
        const audience = req.audience;
        // §6.2.1: audience is mandatory (§4.5: an empty mandatory field -> InvalidArgument).
        if (!Array.isArray(audience) || audience.length === 0 || audience.some((a) => typeof a !== 'string' || a === '')) {
          throw status(grpc.status.INVALID_ARGUMENT, 'audience must contain at least one non-empty value');
        }
        let entries = agent.entitledEntries(peer.selectors);
        if (typeof req.spiffe_id === 'string' && req.spiffe_id !== '') {
          parseSpiffeId(req.spiffe_id);
          entries = entries.filter((e) => e.spiffeId === req.spiffe_id);
        }
        if (entries.length === 0) throw status(grpc.status.PERMISSION_DENIED, 'no identity issued');
        const seenIds = new Set<string>();
        const seenHints = new Set<string>();
        const svids = [];
        for (const e of entries) {
          if (seenIds.has(e.spiffeId)) continue;
          seenIds.add(e.spiffeId);
          const jwt = await agent.ca.mintJwtSvid(e.spiffeId, audience as string[], { ttlMs: e.jwtSvidTtl * 1000 });
          const hint = e.hint && !seenHints.has(e.hint) ? e.hint : '';
          if (hint) seenHints.add(hint);
          svids.push({ spiffe_id: e.spiffeId, svid: jwt.token, hint });
        }
        return { svids };
      })().then(
        (res) => callback(null, res),
        (e: unknown) => callback(e instanceof Error && typeof (e as grpc.ServiceError).code === 'number' ? (e as grpc.ServiceError) : toStatus(e)),
      );
    },

    ValidateJWTSVID(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
      void (async () => {
        const peer = caller(call);
        if (!opts.allowUnauthenticatedVerifiers) requireIdentity(peer);
        const req = call.request as { audience?: unknown; svid?: unknown };
        if (typeof req.audience !== 'string' || req.audience === '') throw status(grpc.status.INVALID_ARGUMENT, 'audience must be set');
        if (typeof req.svid !== 'string' || req.svid === '') throw status(grpc.status.INVALID_ARGUMENT, 'svid must be set');
        // Tokens of a federated trust domain validate only for callers whose entries federate with it.
        const federatesWith = agent.federatesWith(agent.entitledEntries(peer.selectors));
        const v = await validateJwtSvid(req.svid, req.audience, (td) => agent.jwtKeysFor(td, federatesWith));
        return { spiffe_id: v.spiffeId, claims: toStruct(v.claims as Record<string, unknown>) };
      })().then(
        (res) => callback(null, res),
        (e: unknown) => callback(e instanceof Error && typeof (e as grpc.ServiceError).code === 'number' ? (e as grpc.ServiceError) : toStatus(e)),
      );
    },
  };

  const server = new grpc.Server();
  server.addService(loadWorkloadService(), impl);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());

  // A stale socket file from a crashed run would make listen fail with EADDRINUSE; remove it, but
  // only if it is a socket (never delete a regular file someone pointed us at by mistake).
  try {
    const st = await lstat(opts.socketPath);
    if (st.isSocket()) await unlink(opts.socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }

  const netServer = net.createServer((socket) => {
    const id = `cairn-peer:${++seq}`;
    socket.pause();
    peerCredentials(socket)
      .then(async (creds) => {
        peers.set(id, { creds, selectors: new Set(await unixSelectors(creds)) });
      })
      .catch((e: unknown) => {
        // No credentials: the connection is still served, and every RPC answers PermissionDenied.
        log('workload peer credentials unavailable', { err: String(e) });
      })
      .finally(() => {
        if (socket.destroyed) {
          peers.delete(id);
          return;
        }
        Object.defineProperty(socket, 'remoteAddress', { value: id, configurable: true });
        socket.once('close', () => peers.delete(id));
        injector.injectConnection(socket);
        socket.resume();
      });
  });
  await new Promise<void>((resolve, reject) => {
    netServer.once('error', reject);
    netServer.listen(opts.socketPath, () => {
      netServer.off('error', reject);
      resolve();
    });
  });
  await chmod(opts.socketPath, opts.socketMode ?? 0o777);

  return {
    socketPath: opts.socketPath,
    close: async () => {
      injector.drain(200);
      await new Promise<void>((resolve) => netServer.close(() => resolve()));
      injector.destroy();
      server.forceShutdown();
      await unlink(opts.socketPath).catch(() => undefined);
    },
  };
}
