/**
 * The witness's HTTP API (C2SP tlog-witness): `POST /add-checkpoint` with the text body the spec
 * defines, answered with the spec's status codes and bodies (host/witness/witness.ts), plus the
 * service routes every Cairn service has (/healthz, /readyz, /metrics, /openapi.json).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { installErrorHandler, frameworkErrors } from '../http/errors.js';
import { REQUEST_LOGGING, type ServiceLogger } from '../http/logging.js';
import { SERVER_TIMEOUTS } from '../http/timeouts.js';
import { registerOps } from '../http/ops.js';
import type { Witness } from './witness.js';

export interface WitnessPluginOptions {
  witness: Witness;
  logger?: ServiceLogger;
}

export async function build(opts: WitnessPluginOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 64 * 1024, frameworkErrors , ...REQUEST_LOGGING, ...SERVER_TIMEOUTS });
  installErrorHandler(app);
  await registerOps(app, { service: 'witness', description: 'C2SP tlog-witness: cosigns checkpoints that are consistent with the ones it cosigned before' });
  // The body is the spec's text format whatever content type a client declares.
  app.removeAllContentTypeParsers();
  // As bytes: the witness decodes them strictly (signed notes are UTF-8, C2SP signed-note).
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/add-checkpoint', { schema: { tags: ['tlog-witness'], summary: 'old size, consistency proof and checkpoint in; cosignature out' } }, async (req, reply) => {
    const r = opts.witness.addCheckpoint(Buffer.isBuffer(req.body) ? req.body : '');
    return reply.code(r.status).type(r.contentType).send(r.body);
  });
  return app;
}
