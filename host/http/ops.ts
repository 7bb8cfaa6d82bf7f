/**
 * Operations endpoints every Cairn service exposes, registered once per app right after it is
 * created (before its routes, so the OpenAPI document sees them):
 *
 *   GET /healthz        liveness: the process answers (200 {"status":"ok"})
 *   GET /readyz         readiness: the service's own check (its store opens, its key signs);
 *                       503 {"status":"unready","reason":...} otherwise
 *   GET /metrics        Prometheus text format (prom-client): this service's request counters and
 *                       latency histogram, labelled service=<name>, plus process metrics
 *   GET /openapi.json   the OpenAPI 3 document built from the route schemas (@fastify/swagger)
 *
 * Several services can share one process (`cairn up`); each keeps its own prom-client Registry
 * and the process-wide default metrics are collected once and merged into every scrape.
 */
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { addAcceptors, type Acceptors } from './acceptors.js';

/**
 * listen() backlog for every service. libuv (1.45 and later, so Node 20) accepts one connection per
 * event-loop iteration (libuv#3696), and a saturated server's iterations take tens of
 * milliseconds, so a burst of new connections waits in the kernel's accept queue. Node's default
 * queue (511) then overflows (the bench machine counted 1,010 overflows after 1,024-connection log
 * runs), and a client whose SYN was dropped resends it only after its initial RTO of 1 s (RFC 6298
 * §2.1). The kernel caps the value at net.core.somaxconn.
 */
export const LISTEN_BACKLOG = 4096;

/**
 * Extra descriptors on each service's listening socket (host/http/acceptors.ts), so a saturated
 * service accepts up to this many more new connections per event-loop iteration. 32 kept the log's
 * append p99 at 1,024 fresh connections at 350–530 ms in A/B runs where one descriptor gave
 * 1.2–2.3 s (8 gave one run in six at 2.2 s). CAIRN_ACCEPTORS overrides it; 0 turns them off.
 */
export function acceptorCount(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.CAIRN_ACCEPTORS;
  if (v === undefined || v === '') return 32;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 256) throw new Error(`CAIRN_ACCEPTORS must be an integer 0..256, not ${v}`);
  return n;
}

/**
 * app.listen with the shared backlog, then the extra acceptors; closing the app stops them first
 * (so nothing accepts on the port once the service is closing) and waits for their connections.
 */
export async function listenService(app: FastifyInstance, o: { port: number; host: string }): Promise<Acceptors> {
  let acceptors: Acceptors | undefined;
  app.addHook('preClose', async () => acceptors?.stop());
  app.addHook('onClose', async () => acceptors?.drained());
  await app.listen({ port: o.port, host: o.host, backlog: LISTEN_BACKLOG });
  acceptors = addAcceptors(app.server, acceptorCount(), LISTEN_BACKLOG);
  return acceptors;
}

export interface OpsOptions {
  /** Short service name (`log`, `ca`, `tsa`, `spiffe`, ...): metric label and OpenAPI title. */
  service: string;
  /** Readiness check; resolves to an error reason, or undefined when ready. */
  ready?: () => Promise<string | undefined> | string | undefined;
  description?: string;
}

let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: 'cairn_' });
  }
  return processRegistry;
}

const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);

/** How long /readyz waits for a service's own check before calling it unready. */
export const READY_DEADLINE_MS = 3_000;

export async function registerOps(app: FastifyInstance, opts: OpsOptions): Promise<Registry> {
  // The service label is set on each observation rather than as a registry default label,
  // because Registry.merge (one scrape = process metrics + this service) drops default labels.
  const registry = new Registry();
  const service = opts.service;
  const requests = new Counter({
    name: 'cairn_http_requests_total',
    help: 'HTTP requests answered, by route and status code',
    labelNames: ['service', 'method', 'route', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'cairn_http_request_duration_seconds',
    help: 'Time from request received to response sent',
    labelNames: ['service', 'method', 'route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  await app.register(swagger, {
    openapi: {
      info: { title: `Cairn ${opts.service}`, version: '0.1.0', ...(opts.description ? { description: opts.description } : {}) },
    },
    hideUntagged: false,
  });

  app.addHook('onResponse', async (req, reply) => {
    // The route pattern (not the raw URL) keeps label cardinality bounded: /api/v1/log/entries/:id.
    const route = req.routeOptions.url ?? 'unmatched';
    if (OPS_PATHS.has(route)) return;
    requests.inc({ service, method: req.method, route, status: String(reply.statusCode) });
    latency.observe({ service, method: req.method, route }, reply.elapsedTime / 1000);
  });

  const hide = { hide: true } as const;
  app.get('/healthz', { schema: hide }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: hide }, async (_req, reply) => {
    let reason: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      // A check that hangs (a database host dropping packets, a key that never answers) is an
      // answer too: unready, within a deadline shorter than a prober's own (Kubernetes: 1 s+).
      const late = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`the readiness check did not answer within ${READY_DEADLINE_MS} ms`), READY_DEADLINE_MS);
      });
      reason = await Promise.race([Promise.resolve(opts.ready?.()), late]);
    } catch (e) {
      reason = e instanceof Error ? e.message : 'readiness check failed';
    } finally {
      clearTimeout(timer);
    }
    if (reason !== undefined) return reply.code(503).send({ status: 'unready', reason });
    return { status: 'ready' };
  });
  app.get('/metrics', { schema: hide }, async (_req, reply) => {
    const merged = Registry.merge([processMetrics(), registry]);
    return reply.type(merged.contentType).send(await merged.metrics());
  });
  app.get('/openapi.json', { schema: hide }, async () => app.swagger());
  return registry;
}
