// HTTP plumbing shared by every route: a guarded JSON body parser, the error shape, 404s, and one
// log line per request.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { MongoError } from 'mongodb';
import { CmsError, codes, errorBody, statusOf, type ErrorDetail } from '../errors.js';

/** Nesting depth of a JSON text, counted without parsing it (strings skipped). */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

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
      return send(reply, 413, codes.bodyTooLarge, `The body is larger than the limit of ${this.initialConfig.bodyLimit} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return send(reply, 415, codes.bodyUnsupportedType, 'Send the body as application/json', [{ path: 'content-type', message: 'unsupported' }]);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return send(reply, 400, codes.bodyMissing, 'The request needs a JSON body');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return send(reply, 400, codes.requestInvalid, 'Content-Length does not match the body');
  }
  if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    const proto = /__proto__|constructor/.test(err.message);
    return proto
      ? send(reply, 400, codes.bodyForbiddenKey, 'The body contains keys that are not allowed (__proto__ or constructor.prototype)')
      : send(reply, 400, codes.bodyInvalidJson, `The body is not valid JSON: ${err.message}`);
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
    const parseJson = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser(
      ['application/json', 'application/merge-patch+json'],
      { parseAs: 'string', bodyLimit: opts.bodyLimit },
      (request, body, done) => {
        const text = body as string;
        if (jsonDepth(text, opts.jsonMaxDepth) > opts.jsonMaxDepth) {
          done(new CmsError('invalid', codes.bodyTooDeep, `The body nests deeper than ${opts.jsonMaxDepth} levels`), undefined);
          return;
        }
        parseJson(request, text, done);
      },
    );

    app.setErrorHandler(handleError);
    app.setNotFoundHandler((request, reply) =>
      send(reply, 404, codes.routeNotFound, `No route for ${request.method} ${request.url.split('?')[0]}`),
    );

    app.addHook('onResponse', async (request, reply) => {
      request.log.info(
        { method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
        'request',
      );
    });
  },
  { name: 'http' },
);
