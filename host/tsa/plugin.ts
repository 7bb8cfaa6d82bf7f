/**
 * HTTP face of the TSA, wire-compatible with sigstore/timestamp-authority (its openapi.yaml: 201 on
 * success, application/pem-certificate-chain for the chain):
 *   POST /api/v1/timestamp            application/timestamp-query (RFC 3161 §3.4) or Sigstore JSON
 *                                     -> 201 application/timestamp-reply (a refusal: 400, same type,
 *                                        a rejection TimeStampResp with its PKIFailureInfo)
 *   GET  /api/v1/timestamp/certchain  -> PEM chain, TSA leaf first
 */
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { installErrorHandler, frameworkErrors } from '../http/errors.js';
import { REQUEST_LOGGING } from '../http/logging.js';
import { SERVER_TIMEOUTS } from '../http/timeouts.js';
import { registerOps } from '../http/ops.js';
import { failureResponse, MAX_REQUEST_BYTES, messageImprintDer, parseTimeStampReq, TimestampAuthority, type TimeStampRequest } from './core.js';
import { integer } from './encode.js';
import { TsaRefusal } from './errors.js';
import { HASH_LENGTH, type HashName } from './oids.js';
import type { SerialSource } from './store.js';

export interface TsaPluginOptions {
  authority: TimestampAuthority;
  serials: SerialSource;
  /** Clock (tests). */
  now?: () => Date;
}

export interface BuildOptions extends TsaPluginOptions {
  /** fastify/pino logger options (host/http/logging.ts); default: no logging. */
  logger?: import('../http/logging.js').ServiceLogger;
}

const TSQ = 'application/timestamp-query';
const TSR = 'application/timestamp-reply';

/**
 * Time-stamps being signed at once. A key backend that stops answering (a network HSM across a
 * partition) would otherwise collect every request that arrives, each with its socket and state,
 * for as long as it hangs; beyond this many the TSA answers 503 systemFailure with Retry-After at
 * once. A signature takes well under a millisecond on a file key and a few on a token, so a
 * healthy TSA stays far below it.
 */
export const MAX_SIGNING = 1024;

/** Sigstore timestamp-authority's JSON request (pkg/api JSONRequest). */
interface JsonRequest {
  artifactHash: string;
  hashAlgorithm: string;
  certificates?: boolean;
  nonce?: number | string;
  tsaPolicyOID?: string;
}

const jsonRequestSchema = {
  type: 'object',
  required: ['artifactHash', 'hashAlgorithm'],
  additionalProperties: false,
  properties: {
    artifactHash: { type: 'string', maxLength: 256 },
    hashAlgorithm: { type: 'string', maxLength: 16 },
    certificates: { type: 'boolean' },
    // A JSON number loses precision past 2^53; a decimal string is accepted for larger nonces.
    // String first: with fastify's type coercion an integer branch would round a long digit string.
    nonce: { anyOf: [{ type: 'string', pattern: '^[0-9]{1,77}$' }, { type: 'integer', minimum: 0 }] },
    tsaPolicyOID: { type: 'string', maxLength: 128, pattern: '^[0-2](\\.[0-9]+)+$' },
  },
} as const;

const errorSchema = {
  type: 'object',
  properties: { code: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

const binary = { type: 'string', format: 'binary' } as const;

/** Map the JSON form onto a TimeStampRequest; refusals carry RFC 3161 failInfo like the DER form. */
function fromJson(body: JsonRequest): TimeStampRequest {
  const alg = body.hashAlgorithm.toLowerCase().replace('-', '');
  if (!Object.hasOwn(HASH_LENGTH, alg)) throw new TsaRefusal('badAlg', `hash algorithm ${body.hashAlgorithm} is not accepted`);
  const hashAlgorithm = alg as HashName;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body.artifactHash)) throw new TsaRefusal('badDataFormat', 'artifactHash is not base64');
  const hashedMessage = new Uint8Array(Buffer.from(body.artifactHash, 'base64'));
  if (hashedMessage.length !== HASH_LENGTH[hashAlgorithm]) throw new TsaRefusal('badDataFormat', `artifactHash is not a ${hashAlgorithm} digest`);
  const req: TimeStampRequest = {
    hashAlgorithm, hashedMessage, messageImprintDer: messageImprintDer(hashAlgorithm, hashedMessage), certReq: body.certificates === true,
  };
  if (body.tsaPolicyOID !== undefined) req.policy = body.tsaPolicyOID;
  if (body.nonce !== undefined) {
    // JSON numbers past 2^53 are not exact, and 1e400 parses to Infinity (which the schema's
    // integer check lets through): only safe integers name a nonce here.
    if (typeof body.nonce === 'number' && !Number.isSafeInteger(body.nonce)) throw new TsaRefusal('badRequest', 'a JSON number nonce must be an integer below 2^53 (give larger ones as a decimal string)');
    const n = BigInt(body.nonce);
    if (n >= 1n << 256n) throw new TsaRefusal('badRequest', 'nonce too large');
    req.nonce = n;
    req.nonceDer = integer(n);
  }
  return req;
}

export const tsaRoutes: FastifyPluginAsync<TsaPluginOptions> = async (app, opts) => {
  const { authority, serials } = opts;
  const now = opts.now ?? (() => new Date());
  const chainPem = authority.certChainPem();
  /** Requests between taking a serial and their signature (see MAX_SIGNING). */
  let signing = 0;

  // Only DER queries and JSON are requests; anything else is 415 from fastify, not a guess.
  app.removeContentTypeParser(['text/plain']);
  app.addContentTypeParser(TSQ, { parseAs: 'buffer', bodyLimit: MAX_REQUEST_BYTES }, (_req, body, done) => done(null, body));

  app.post('/api/v1/timestamp', {
    bodyLimit: MAX_REQUEST_BYTES,
    attachValidation: true,
    schema: {
      body: { content: { 'application/json': { schema: jsonRequestSchema }, [TSQ]: { schema: {} } } },
      response: {
        201: { content: { [TSR]: { schema: binary } } },
        400: { content: { [TSR]: { schema: binary }, 'application/json': { schema: errorSchema } } },
        503: { content: { [TSR]: { schema: binary } } },
      },
    },
  }, async (req, reply) => {
    let tsReq: TimeStampRequest;
    try {
      if (req.validationError) throw new TsaRefusal('badRequest', req.validationError.message);
      if (Buffer.isBuffer(req.body)) tsReq = parseTimeStampReq(req.body);
      else if (req.body !== null && typeof req.body === 'object') tsReq = fromJson(req.body as JsonRequest);
      else throw new TsaRefusal('badRequest', 'expected a DER TimeStampReq or a JSON request');
      authority.policyFor(tsReq);
    } catch (e) {
      if (!(e instanceof TsaRefusal)) throw e;
      // RFC 3161 §2.4.2: a refusal is still a TimeStampResp, status rejection + failInfo.
      return reply.code(400).type(TSR).send(Buffer.from(failureResponse(e.failInfo, e.message)));
    }
    const unavailable = () => reply.code(503).header('Retry-After', '1').type(TSR)
      .send(Buffer.from(failureResponse('systemFailure', 'time-stamp could not be issued')));
    // Checked before a serial is taken: a refused request uses none.
    if (signing >= MAX_SIGNING) return unavailable();
    let der: Uint8Array;
    signing++;
    try {
      der = await authority.respond(tsReq, serials.nextSerial(), now());
    } catch (e) {
      // Serial store or key backend (e.g. an HSM session) failed: the client's request was fine,
      // so answer systemFailure (RFC 3161 §2.4.2) with 503; details go to the server log only.
      req.log.error({ err: e }, 'time-stamp signing failed');
      return unavailable();
    } finally {
      signing--;
    }
    return reply.code(201).type(TSR).send(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
  });

  app.get('/api/v1/timestamp/certchain', {
    schema: { response: { 200: { content: { 'application/pem-certificate-chain': { schema: { type: 'string' } } } } } },
  }, async (_req, reply) => reply.type('application/pem-certificate-chain').send(chainPem));
};

/** A standalone app with only the TSA (tests call `inject`; the CLI calls `listen`). */
export async function build(opts: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, frameworkErrors , ...REQUEST_LOGGING, ...SERVER_TIMEOUTS });
  installErrorHandler(app);
  await registerOps(app, {
    service: 'tsa',
    description: 'RFC 3161 time-stamp authority (Sigstore timestamp-authority API)',
    // Unready outside the TSA certificate's window or while its key cannot sign: every request
    // would get systemFailure.
    ready: () => opts.authority.unready((opts.now ?? (() => new Date()))()),
  });
  await app.register(tsaRoutes, opts);
  return app;
}

