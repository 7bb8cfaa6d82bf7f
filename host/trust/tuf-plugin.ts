/**
 * Serves a TUF repository (host/trust/tuf-repo.ts layout) read-only over HTTP, the way a static
 * TUF CDN does (tuf-repo-cdn.sigstore.dev):
 * Mounted with fastify's register prefix (e.g. `app.register(tufPlugin, { repoDir, prefix: '/tuf' })`):
 *   GET <prefix>/metadata/<file>.json   application/json
 *   GET <prefix>/<file>.json            the same metadata (the single-mirror layout Sigstore clients use)
 *   GET <prefix>/targets/<path>         application/json for .json targets, else application/octet-stream
 * Names are checked segment by segment (no `..`, no hidden files, no separators or encoded
 * tricks) before any file-system access, and the resolved path must stay under the repository.
 * Versioned files never change once written, so they are cacheable; timestamp.json (and the
 * unversioned convenience copies) must not be cached, or clients would miss refreshes (§5.4).
 */
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { readFile, realpath } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { installErrorHandler, frameworkErrors } from '../http/errors.js';
import { REQUEST_LOGGING } from '../http/logging.js';
import { SERVER_TIMEOUTS } from '../http/timeouts.js';
import { TrustError } from './errors.js';
import { SAFE_SEGMENT } from './tuf.js';

export interface TufPluginOptions {
  /** The repository directory (holds metadata/ and targets/). */
  repoDir: string;
}

const errorSchema = {
  type: 'object',
  properties: { code: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

const fileResponse = {
  200: { description: 'the file, byte for byte', type: 'string', format: 'binary' },
  400: errorSchema,
  404: errorSchema,
} as const;

/** Upper bound on a served path; real names are far shorter (TUF metadata and hashed targets). */
const MAX_PATH = 512;

export const tufRoutes: FastifyPluginAsync<TufPluginOptions> = async (app, opts) => {
  const root = resolve(opts.repoDir);

  async function send(area: 'metadata' | 'targets', rel: string): Promise<{ body: Buffer; type: string; immutable: boolean }> {
    const segs = rel.split('/');
    if (rel.length === 0 || rel.length > MAX_PATH || segs.some((s) => !SAFE_SEGMENT.test(s)) || (area === 'metadata' && segs.length !== 1)) {
      throw new TrustError('TUF_BAD_TARGET_NAME', 'path not allowed', { status: 400 });
    }
    const base = join(root, area);
    const file = join(base, ...segs);
    let real: string;
    try {
      // Follow symlinks and re-check containment: nothing outside the repository is ever served.
      real = await realpath(file);
      const realBase = await realpath(base);
      if (!real.startsWith(realBase + sep)) throw new Error('escapes repository');
      const body = await readFile(real);
      const last = segs[segs.length - 1]!;
      return {
        body,
        type: last.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        immutable: area === 'targets' || /^[0-9]+\./.test(last),
      };
    } catch (cause) {
      throw new TrustError('TUF_NOT_FOUND', `no such ${area} file`, { status: 404, cause });
    }
  }

  const paramsSchema = (key: string) => ({
    type: 'object',
    required: [key],
    properties: { [key]: { type: 'string', maxLength: MAX_PATH } },
  });

  const metadata = async (req: { params: { file: string } }, reply: import('fastify').FastifyReply) => {
    const f = await send('metadata', req.params.file);
    return reply
      .type(f.type)
      .header('Cache-Control', f.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .send(f.body);
  };
  app.get<{ Params: { file: string } }>('/metadata/:file', { schema: { params: paramsSchema('file'), response: fileResponse } }, metadata);
  // Sigstore clients (@sigstore/tuf, sigstore-go) take one mirror URL and fetch metadata from its
  // root and targets from <mirror>/targets, as on tuf-repo-cdn.sigstore.dev: serve both layouts.
  app.get<{ Params: { file: string } }>('/:file', { schema: { params: paramsSchema('file'), response: fileResponse } }, metadata);
  app.get<{ Params: { '*': string } }>('/targets/*', { schema: { params: paramsSchema('*'), response: fileResponse } }, async (req, reply) => {
    const f = await send('targets', req.params['*']);
    return reply.type(f.type).header('Cache-Control', 'public, max-age=31536000, immutable').send(f.body);
  });
};

/** A standalone app serving only the repository (tests, `cairn tuf serve`). */
export async function build(opts: TufPluginOptions & { prefix?: string; logger?: boolean }): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, frameworkErrors , ...REQUEST_LOGGING, ...SERVER_TIMEOUTS });
  installErrorHandler(app);
  // fastify's own register `prefix` mounts the routes, e.g. under /tuf.
  await app.register(tufRoutes, { repoDir: opts.repoDir, prefix: opts.prefix ?? '' });
  return app;
}

/** Alias for the stack: `app.register(tufPlugin, { repoDir, prefix: '/tuf' })`. */
export const tufPlugin = tufRoutes;
