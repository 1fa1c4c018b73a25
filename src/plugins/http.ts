// HTTP plumbing shared by every route: a guarded JSON body parser, the error shape, 404s, and one
// log line per request.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { MongoError } from 'mongodb';
import { CmsError, codes, errorBody, invalid, statusOf, type ErrorDetail } from '../errors.js';
import { forbiddenKeys, jsonDepth } from '../json.js';

const send = (reply: FastifyReply, status: number, code: string, message: string, details: ErrorDetail[] = []) =>
  reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message, details } });

/** Errors that mean a backing service is unreachable, not that the request was wrong. */
function isUnavailable(err: unknown): boolean {
  if (err instanceof MongoError) {
    return ['MongoServerSelectionError', 'MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoNotConnectedError', 'MongoTopologyClosedError', 'MongoPoolClosedError'].includes(err.name);
  }
  const name = (err as { name?: string }).name ?? '';
  const code = (err as { code?: string }).code ?? '';
  return name === 'TimeoutError' || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(code);
}

function handleError(this: FastifyInstance, err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof CmsError) {
    const status = statusOf[err.kind];
    if (status >= 500) request.log.warn({ err }, err.message);
    return reply.code(status).type('application/json; charset=utf-8').send(errorBody(err));
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return send(reply, 413, codes.bodyTooLarge, `The body is larger than the limit of ${this.initialConfig.bodyLimit} bytes`, [{ path: '', message: `larger than ${this.initialConfig.bodyLimit} bytes` }]);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return send(reply, 415, codes.bodyUnsupportedType, 'Send the body as application/json', [{ path: 'content-type', message: 'unsupported' }]);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return send(reply, 400, codes.bodyMissing, 'The request needs a JSON body');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return send(reply, 400, codes.requestInvalid, 'Content-Length does not match the body');
  }
  if (isUnavailable(err)) {
    request.log.error({ err }, 'backing service unavailable');
    return send(reply, 503, codes.serviceUnavailable, 'A backing service is unavailable; retry shortly');
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return send(reply, err.statusCode, codes.requestInvalid, err.message);
  }
  request.log.error({ err }, 'unhandled error');
  return send(reply, 500, codes.internal, 'Internal server error');
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
      send(reply, 404, codes.routeNotFound, `No route for ${request.method} ${request.url.split('?')[0]}`),
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
