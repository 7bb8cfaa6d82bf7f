/**
 * Structured logs (pino, through fastify's logger) for the standalone services and `cairn up`.
 * JSON lines go to stderr, because stdout carries the machine-readable ready line. Requests are
 * logged by method, URL and status only: no headers (Authorization carries identity tokens) and
 * no bodies, so nothing secret reaches the log.
 */
import type { FastifyServerOptions } from 'fastify';

export type ServiceLogger = NonNullable<FastifyServerOptions['logger']>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function serviceLogger(level: string | undefined, service: string): ServiceLogger {
  if (level === undefined || level === 'silent') return false;
  return {
    level,
    base: { service },
    stream: process.stderr,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], remove: true },
  } as ServiceLogger;
}
