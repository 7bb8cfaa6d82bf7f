import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { installErrorHandler } from '../../host/http/errors.js';
import { READY_DEADLINE_MS, registerOps } from '../../host/http/ops.js';

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

  it('every coded 503 carries Retry-After: the error\'s own figure, or the default', async () => {
    const { CairnError } = await import('../../host/errors.js');
    const { DEFAULT_RETRY_AFTER_S } = await import('../../host/http/errors.js');
    const a = Fastify();
    installErrorHandler(a);
    a.get('/down', async () => {
      throw new CairnError('X_UNAVAILABLE', 'upstream down', { status: 503 });
    });
    a.get('/busy', async () => {
      throw new CairnError('X_OVERLOADED', 'busy', { status: 503, retryAfter: 1 });
    });
    a.get('/bad', async () => {
      throw new CairnError('X_BAD', 'bad input');
    });
    expect((await a.inject('/down')).headers['retry-after']).toBe(String(DEFAULT_RETRY_AFTER_S));
    expect((await a.inject('/busy')).headers['retry-after']).toBe('1');
    expect((await a.inject('/bad')).headers['retry-after']).toBeUndefined();
    await a.close();
  });

  it('a readiness check that never answers is unready within READY_DEADLINE_MS, not a hung probe', async () => {
    const { vi } = await import('vitest');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const hung = Fastify();
      await registerOps(hung, { service: 'hung', ready: () => new Promise<string | undefined>(() => undefined) });
      await hung.ready();
      const pending = hung.inject('/readyz');
      await vi.advanceTimersByTimeAsync(READY_DEADLINE_MS + 1);
      const r = await pending;
      expect(r.statusCode).toBe(503);
      expect(r.json().reason).toMatch(/did not answer within/);
      await hung.close();
    } finally {
      vi.useRealTimers();
    }
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

describe('access log', () => {
  it('one line per request (method, URL, status, time), without headers', async () => {
    const { Writable } = await import('node:stream');
    const { REQUEST_LOGGING } = await import('../../host/http/logging.js');
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({ write: (chunk: Buffer, _e, done) => { for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l)); done(); } });
    const app = Fastify({ logger: { level: 'info', stream }, ...REQUEST_LOGGING });
    installErrorHandler(app);
    await registerOps(app, { service: 'demo' });
    app.get('/ok', async () => ({ ok: true }));
    await app.ready();
    try {
      await app.inject({ url: '/ok?x=1', headers: { authorization: 'Bearer secret-token' } });
      await app.inject('/missing');
      const requests = lines.filter((l) => l.msg === 'request');
      expect(requests.map((l) => [l.method, l.url, l.statusCode])).toEqual([['GET', '/ok?x=1', 200], ['GET', '/missing', 404]]);
      expect(requests.every((l) => typeof l.responseTime === 'number' && l.level === 30)).toBe(true);
      // fastify's own pair of lines per request is off, and nothing carries the header.
      expect(lines.some((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toBe(false);
      expect(JSON.stringify(lines)).not.toContain('secret-token');
    } finally {
      await app.close();
    }
  });

  it('a request that does not parse leaves its raw bytes (and so its headers) out of the log, at trace too', async () => {
    const { Writable } = await import('node:stream');
    const { connect } = await import('node:net');
    const { serviceLogger, REQUEST_LOGGING } = await import('../../host/http/logging.js');
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({ write: (chunk: Buffer, _e, done) => { for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l)); done(); } });
    const app = Fastify({ logger: { ...(serviceLogger('trace', 'demo') as object), stream }, ...REQUEST_LOGGING });
    app.get('/', async () => ({ ok: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const port = (app.server.address() as { port: number }).port;
      // Node's parser refuses the header line without a colon; the error carries the bytes read so far.
      await new Promise<void>((done) => {
        const s = connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret-token\r\nnot a header\r\n\r\n'));
        s.on('data', () => undefined).on('close', () => done()).on('error', () => done());
      });
      const clientError = lines.find((l) => l.msg === 'client error') as { err?: Record<string, unknown> } | undefined;
      expect(clientError?.err?.code).toBe('HPE_INVALID_HEADER_TOKEN');
      expect(clientError?.err).not.toHaveProperty('rawPacket');
      // As text or as the byte array pino writes for a Buffer.
      const bytes = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && (x as { type?: unknown }).type === 'Buffer' ? Buffer.from((x as { data: number[] }).data).toString('latin1') : x));
      expect(bytes(lines)).not.toContain('secret-token');
    } finally {
      await app.close();
    }
  });
});
