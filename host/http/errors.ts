import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CairnError } from '../errors.js';

/** Retry-After for a 503 whose error names no figure of its own. */
export const DEFAULT_RETRY_AFTER_S = 5;

/**
 * The one root error handler (STYLE.md point 3): CairnError -> its status and code; fastify's own
 * validation/body errors -> 4xx with a stable code; anything else -> plain 500, details only in the
 * server log (never echo a driver or stack message to a client).
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | CairnError | Error, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof CairnError) {
      if (err.status >= 500) req.log.warn({ code: err.code, err: err.cause ?? err }, err.message);
      // Every 503 says when to come back (RFC 9110 §10.2.3): the error's own figure, or 5 s.
      const retryAfter = err.retryAfter ?? (err.status === 503 ? DEFAULT_RETRY_AFTER_S : undefined);
      if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
      return reply.code(err.status).send({ code: err.status, error: err.code, message: err.message });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return reply.code(400).send({ code: 400, error: 'INVALID_REQUEST', message: fe.message });
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      const code = fastifyCodeMap[fe.code ?? ''] ?? 'BAD_REQUEST';
      return reply.code(fe.statusCode).send({ code: fe.statusCode, error: code, message: fe.message });
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send({ code: 500, error: 'INTERNAL', message: 'internal error' });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ code: 404, error: 'NOT_FOUND', message: `no route for ${req.method} ${req.url.split('?')[0]}` });
  });
}

/**
 * Fastify's `frameworkErrors` option: errors its router raises before any route or hook runs
 * (a path parameter over maxParamLength, a URL that does not decode), which would otherwise be
 * answered in fastify's own shape, without a Cairn code. Pass it to every Fastify() constructor.
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
  void reply.code(status).send({ code: status, error: fastifyCodeMap[err.code ?? ''] ?? 'BAD_REQUEST', message: err.message });
}

const fastifyCodeMap: Record<string, string> = {
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
  FST_ERR_BAD_URL: 'BAD_URL',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
};
