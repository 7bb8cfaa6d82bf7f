import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { installErrorHandler } from '../../host/http/errors.js';
import { registerOps } from '../../host/http/ops.js';

describe('ops endpoints', () => {
  let ready: string | undefined = 'store not open';
  const app = Fastify();
  const setup = (async () => {
    installErrorHandler(app);
    await registerOps(app, { service: 'demo', ready: () => ready });
    app.get('/api/v1/thing/:id', { schema: { params: { type: 'object', properties: { id: { type: 'string' } } } } }, async (req) => ({ id: (req.params as { id: string }).id }));
    await app.ready();
  })();
  afterAll(() => app.close());

  it('answers /healthz, and /readyz follows the readiness check', async () => {
    await setup;
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const r1 = await app.inject('/readyz');
    expect(r1.statusCode).toBe(503);
    expect(r1.json()).toEqual({ status: 'unready', reason: 'store not open' });
    ready = undefined;
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  });

  it('counts requests by route pattern (not raw URL) in Prometheus format', async () => {
    await setup;
    await app.inject('/api/v1/thing/a');
    await app.inject('/api/v1/thing/b');
    await app.inject('/nope');
    const m = await app.inject('/metrics');
    expect(m.headers['content-type']).toMatch(/^text\/plain/);
    expect(m.body).toContain('cairn_http_requests_total{service="demo",method="GET",route="/api/v1/thing/:id",status="200"} 2');
    expect(m.body).toContain('cairn_http_requests_total{service="demo",method="GET",route="unmatched",status="404"} 1');
    expect(m.body).toContain('cairn_process_cpu_seconds_total');
    expect(m.body).not.toContain('route="/metrics"');
  });

  it('serves an OpenAPI 3 document listing the service routes but not the ops ones', async () => {
    await setup;
    const doc = (await app.inject('/openapi.json')).json() as { openapi: string; info: { title: string }; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toBe('Cairn demo');
    expect(Object.keys(doc.paths)).toContain('/api/v1/thing/{id}');
    expect(Object.keys(doc.paths)).not.toContain('/metrics');
  });
});
