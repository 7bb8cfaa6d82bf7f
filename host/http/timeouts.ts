/**
 * Limits every Cairn service's HTTP server puts on slow clients (slowloris and slow-read), passed
 * to every Fastify() constructor along with REQUEST_LOGGING and frameworkErrors.
 *
 * fastify's defaults turn Node's own limits off: `requestTimeout` 0 (Node's is 300 s) and
 * `connectionTimeout` 0. A client that sends its headers and then a body that never completes (a
 * Content-Length it never reaches, a byte now and then) held its connection, its descriptor and
 * its buffered body for as long as it liked, and a few thousand of them exhausted the process's
 * descriptors for everyone. Here:
 *
 *  - headersTimeout: the whole header block within 10 s of the request's start (a real client
 *    sends it in one write);
 *  - requestTimeout: the whole request, body included, within 30 s: Node answers 408 and closes
 *    the connection. Only receiving counts: the clock stops when the request is complete, so a
 *    handler waiting on an upstream (a CT log, a JWKS) is not cut short by it. 30 s is over 8 KiB/s
 *    for the largest body any service takes (the log's 256 KiB);
 *  - connectionsCheckingInterval: how often Node checks those two (its default, 30 s, would let a
 *    10 s limit run to 40 s). The check walks the connections with a request in progress, in C++;
 *  - connectionTimeout: a socket with no traffic either way for 120 s is destroyed. This covers a
 *    client that never reads its answer (the response stays in our buffers) and a request stuck
 *    past every deadline. It must exceed the longest a handler may legitimately be silent: the
 *    upstream deadlines are 10 s (CT log, JWKS hops of 5 s), PostgreSQL's lock wait 30 s and query
 *    timeout 60 s.
 *
 * keepAliveTimeout stays fastify's 72 s (longer than the 60 s idle timeout of common load
 * balancers, so the balancer, not us, closes an idle connection it may be reusing).
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;
export const IDLE_TIMEOUT_MS = 120_000;

/**
 * node:http(s) server options. fastify hands `http` to http.createServer only; a TLS service
 * spreads these into its `https` options (https.createServer takes the same ones).
 */
export const NODE_SERVER_TIMEOUTS = {
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
} as const;

/** Passed to every service's Fastify(). */
export const SERVER_TIMEOUTS = {
  // fastify sets these two on the server after creating it, so they are repeated here: its
  // defaults (0) would otherwise replace the values given in `http`.
  requestTimeout: REQUEST_TIMEOUT_MS,
  connectionTimeout: IDLE_TIMEOUT_MS,
  http: NODE_SERVER_TIMEOUTS,
} as const;
