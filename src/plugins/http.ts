// HTTP plumbing shared by every route: a guarded JSON body parser, the error shape, 404s, and one
// log line per request.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { MongoError } from 'mongodb';
import { CmsError, codes, errorBody, invalid, notFound, statusOf } from '../errors.js';
import { forbiddenKeys, jsonDepth } from '../json.js';

/** Errors that mean a backing service is unreachable, not that the request was wrong. */
function isUnavailable(err: unknown): boolean {
  if (err instanceof MongoError) {
    return ['MongoServerSelectionError', 'MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoNotConnectedError', 'MongoTopologyClosedError', 'MongoPoolClosedError'].includes(err.name);
  }
  const name = (err as { name?: string }).name ?? '';
  const code = (err as { code?: string }).code ?? '';
  return name === 'TimeoutError' || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(code);
}

/** Fastify's own request errors, as ours, keeping Fastify's 4xx status where it has one. */
function fromFastify(err: FastifyError, bodyLimit: number): { status: number; error: CmsError } | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, error: new CmsError('too-large', codes.bodyTooLarge, `The body is larger than the limit of ${bodyLimit} bytes`, [{ path: '', message: `larger than ${bodyLimit} bytes` }]) };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, error: new CmsError('unsupported-media', codes.bodyUnsupportedType, 'Send the body as application/json (files as multipart/form-data to /api/media)', [{ path: 'content-type', message: 'unsupported' }]) };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, error: invalid(codes.requestInvalid, 'Content-Length does not match the body') };
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return { status: err.statusCode, error: invalid(codes.requestInvalid, err.message) };
  return undefined;
}

function handleError(this: FastifyInstance, err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  let answer: { status: number; error: CmsError } | undefined;
  if (err instanceof CmsError) {
    answer = { status: statusOf[err.kind], error: err };
    if (answer.status >= 500) request.log.warn({ err }, err.message);
  } else {
    answer = fromFastify(err, this.initialConfig.bodyLimit ?? 0);
  }
  if (!answer && isUnavailable(err)) {
    request.log.error({ err }, 'backing service unavailable');
    answer = { status: 503, error: new CmsError('unavailable', codes.serviceUnavailable, 'A backing service is unavailable; retry shortly') };
  }
  if (!answer) {
    request.log.error({ err }, 'unhandled error');
    answer = { status: 500, error: new CmsError('internal', codes.internal, 'Internal server error') };
  }
  return reply.code(answer.status).type('application/json; charset=utf-8').send(errorBody(answer.error));
}

export default fp<{ bodyLimit: number; jsonMaxDepth: number }>(
  async (app, opts) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      ['application/json', 'application/merge-patch+json'],
      { parseAs: 'string', bodyLimit: opts.bodyLimit },
      (request, body, done) => {
        const text = body as string;
        if (jsonDepth(text, opts.jsonMaxDepth) > opts.jsonMaxDepth) {
          done(new CmsError('invalid', codes.bodyTooDeep, `The body nests deeper than ${opts.jsonMaxDepth} levels`, [{ path: '', message: `nests deeper than ${opts.jsonMaxDepth} levels` }]), undefined);
          return;
        }
        if (text.length === 0) {
          done(new CmsError('invalid', codes.bodyMissing, 'The request needs a JSON body', [{ path: '', message: 'missing' }]), undefined);
          return;
        }
        let value: unknown;
        try {
          // JSON.parse makes `__proto__` an own key, never a prototype; forbiddenKeys then names it
          value = JSON.parse(text);
        } catch (err) {
          done(invalid(codes.bodyInvalidJson, `The body is not valid JSON: ${(err as Error).message}`, [{ path: '', message: (err as Error).message }]), undefined);
          return;
        }
        const forbidden = forbiddenKeys(value);
        if (forbidden.length) {
          done(invalid(codes.bodyForbiddenKey, 'The body contains keys that are not allowed', forbidden), undefined);
          return;
        }
        done(null, value);
      },
    );

    app.setErrorHandler(handleError);
    app.setNotFoundHandler((request, reply) =>
      reply
        .code(404)
        .type('application/json; charset=utf-8')
        .send(errorBody(notFound(codes.routeNotFound, `No route for ${request.method} ${request.url.split('?')[0]}`))),
    );

    // while shutting down, tell keep-alive clients to go, so draining does not wait on idle sockets
    let closing = false;
    app.addHook('preClose', async () => {
      closing = true;
    });
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close');
    });

    app.addHook('onResponse', async (request, reply) => {
      request.log.info(
        { method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
        'request',
      );
    });
  },
  { name: 'http' },
);
