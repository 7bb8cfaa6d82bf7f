/**
 * More than one accept per event-loop iteration for a listening HTTP server.
 *
 * libuv 1.45 and later (so Node 20) accept ONE connection per loop iteration on a listening
 * handle (libuv pull request 3696). A server whose iterations are long because it is saturated
 * (the log at 1,024 clients: 1–3 ms each) then takes seconds to accept a burst of new
 * connections, and their first requests wait in the kernel's accept queue: the log's append p99
 * at 1,024 fresh connections was 1.5–2.5 s in most runs, against 340 ms for connected clients.
 *
 * `addAcceptors` gives the server's listening socket `n` more descriptors (dup(2), through the
 * listenfd addon, host/http/native) and an http.Server on each with the same listeners. They share
 * the kernel's one accept queue; each is polled on every iteration, so up to n + 1 connections are
 * accepted per iteration. Requests on every descriptor go to the same handler (fastify's). Without
 * the addon, or on a TLS server, nothing changes and the reason is returned.
 *
 * Closing: `stop()` stops accepting on the duplicates (call it before the main server closes, so
 * no duplicate keeps accepting on the port); `drained()` resolves when their connections ended.
 */
import { createRequire } from 'node:module';
import http from 'node:http';
import type { Server } from 'node:http';
import { Server as TlsServer } from 'node:tls';

type DupFd = (fd: number) => number;

let loaded: DupFd | null | undefined;
let loadError = '';

function dupfd(): DupFd | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  loaded = null;
  const require = createRequire(import.meta.url);
  // From host/http/*.ts (sources) or dist/host/http/*.js (compiled).
  for (const rel of ['./native/build/Release/listenfd.node', '../../../host/http/native/build/Release/listenfd.node']) {
    try {
      loaded = (require(rel) as { dupfd: DupFd }).dupfd;
      break;
    } catch (e) {
      loadError = (e as Error).message.split('\n')[0]!;
    }
  }
  return loaded ?? undefined;
}

export interface Acceptors {
  /** Duplicate descriptors listening (0 without the addon). */
  count: number;
  /** Why there are none, when there are none. */
  reason?: string;
  stop(): void;
  drained(): Promise<void>;
}

/** The events fastify (or any handler) listens for on its server, copied to each duplicate. */
const EVENTS = ['request', 'clientError', 'checkContinue', 'checkExpectation', 'upgrade', 'connection'] as const;

/**
 * `backlog` must be the main server's: every descriptor is the same socket, and libuv calls
 * listen(2) again on each, with Node's default of 511 when none is given, which would shrink the
 * one accept queue they share (a burst of 1,024 connections then overflowed it: SYNs dropped and
 * resent after 1 s, RFC 6298 §2.1).
 */
export function addAcceptors(server: Server, n: number, backlog: number): Acceptors {
  const none = (reason: string): Acceptors => ({ count: 0, reason, stop: () => undefined, drained: async () => undefined });
  if (n <= 0) return none('acceptors: 0');
  // A TLS server's certificate can rotate (setSecureContext on SVID renewal, host/spiffe), which
  // copies made here would not follow; the TLS services are not the ones that take bursts.
  if (server instanceof TlsServer) return none('a TLS server keeps its single descriptor');
  const dup = dupfd();
  if (!dup) return none(`listenfd addon not built (${loadError || 'npm run build:native'})`);
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return none('the server has no listening descriptor');
  const extra: Server[] = [];
  for (let i = 0; i < n; i++) {
    // Same timeouts and limits as the server they share the port with (Node reads how often it
    // checks the headers and request timeouts, connectionsCheckingInterval, when it starts listening).
    const s = http.createServer();
    for (const k of ['keepAliveTimeout', 'headersTimeout', 'requestTimeout', 'connectionsCheckingInterval', 'timeout', 'maxHeadersCount', 'maxRequestsPerSocket'] as const) {
      (s as unknown as Record<string, unknown>)[k] = (server as unknown as Record<string, unknown>)[k];
    }
    // Not the listeners `s` has already: node:http's own `connection` listener is one function for
    // every server, and a second copy set each socket up twice (two parsers, two error handlers).
    for (const ev of EVENTS) for (const l of server.listeners(ev)) if (!s.listeners(ev).includes(l)) s.on(ev, l as (...a: unknown[]) => void);
    // Positional: Node reads `backlog` from the options object only for a port or a path, and for
    // a descriptor only from the second argument (net.js Server#listen, backlogFromArgs).
    s.listen({ fd: dup(fd) }, backlog);
    extra.push(s);
  }
  const closed = extra.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())));
  return {
    count: extra.length,
    stop: () => {
      for (const s of extra) {
        if (!s.listening) continue;
        s.close(); // stop accepting; 'close' fires once its connections have ended
        s.closeIdleConnections();
      }
    },
    drained: async () => {
      await Promise.all(closed);
    },
  };
}
