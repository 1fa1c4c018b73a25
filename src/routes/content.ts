// /api/content: routes are registered per content type, so each gets a response serializer
// compiled from its own schema. Catch-all routes after them answer unknown types and methods.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ContentType } from '../content-types/registry.js';
import { CmsError, codes, invalid } from '../errors.js';
import { canReadContent, canWriteContent, creatorId, seesPrivate, type Auth } from '../auth/access.js';
import type { Caller, Precondition } from '../services/entries.js';

type Query = Record<string, unknown>;
type IdParams = { id: string };

/** If-Match carries the entry version: `"3"`, `3` or `W/"3"`. `*` only asks that the entry exists. */
export function parseIfMatch(header: string | undefined): Precondition {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return '*';
  const m = /^\s*(?:W\/)?(?:"(\d{1,15})"|(\d{1,15}))\s*$/.exec(header);
  if (!m) {
    throw invalid(codes.entryBadPrecondition, 'If-Match must hold the entry version, e.g. If-Match: "3"', [
      { path: 'if-match', message: 'not a version' },
    ]);
  }
  return Number(m[1] ?? m[2]);
}

const ifMatch = (request: FastifyRequest) => parseIfMatch(request.headers['if-match']);

function listSchema(type: ContentType) {
  return {
    200: {
      type: 'object',
      properties: {
        data: { type: 'array', items: type.serializer },
        meta: {
          type: 'object',
          properties: {
            total: { type: 'integer' },
            limit: { type: 'integer' },
            offset: { type: 'integer' },
            nextCursor: { type: ['string', 'null'] },
          },
        },
      },
    },
  };
}

function entrySchema(type: ContentType, statuses: number[]) {
  const one = { type: 'object', properties: { data: type.serializer } };
  return Object.fromEntries(statuses.map((s) => [s, one]));
}

const location = (type: ContentType, id: string) => `/api/content/${type.id}/${id}`;

/** The request's credentials, as the entries service asks about them. */
export function callerOf(auth: Auth): Caller {
  return {
    id: creatorId(auth),
    seesPrivate: seesPrivate(auth),
    mayRead: (type) => canReadContent(auth, type),
    mayWrite: (type, action, owner) => canWriteContent(auth, type, action, owner),
  };
}

export default async function contentRoutes(app: FastifyInstance): Promise<void> {
  const entries = app.entries;
  const audit = app.audit;
  const record = (request: FastifyRequest, action: string, type: ContentType, id: string, fields?: string[]) =>
    audit.record(request.auth, { ip: request.ip, userAgent: request.headers['user-agent'] }, action, { kind: 'entry', type: type.id, id, ...(fields ? { fields } : {}) });
  // writes take no query parameters: one that is not understood must not be ignored
  app.addHook('preHandler', async (request) => {
    if (request.method === 'GET' || request.method === 'HEAD') return;
    const keys = Object.keys((request.query ?? {}) as Query);
    if (keys.length) {
      throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${keys.join(', ')}`, keys.map((path) => ({ path, message: 'unknown query parameter' })));
    }
  });
  for (const type of app.registry.all()) {
    const base = `/api/content/${type.id}`;
    if (type.singleton) {
      app.get(base, { schema: { response: entrySchema(type, [200]) } }, async (request) => ({
        data: await entries.get(type.id, undefined, request.query as Query, callerOf(request.auth)),
      }));
      app.put(base, { schema: { response: entrySchema(type, [200, 201]) } }, async (request, reply) => {
        const { entry, created, changed } = await entries.replace(type.id, undefined, request.body, ifMatch(request), callerOf(request.auth));
        await record(request, created ? 'entry.create' : 'entry.update', type, type.id, changed);
        return reply.code(created ? 201 : 200).send({ data: entry });
      });
      app.patch(base, { schema: { response: entrySchema(type, [200]) } }, async (request) => {
        const { entry, changed } = await entries.patch(type.id, undefined, request.body, ifMatch(request), callerOf(request.auth));
        await record(request, 'entry.update', type, type.id, changed);
        return { data: entry };
      });
      app.delete(base, async (request, reply) => {
        await entries.remove(type.id, undefined, ifMatch(request), callerOf(request.auth));
        await record(request, 'entry.delete', type, type.id);
        return reply.code(204).send();
      });
      continue;
    }
    app.get(base, { schema: { response: listSchema(type) } }, async (request) => entries.list(type.id, request.query as Query, callerOf(request.auth)));
    app.post(base, { schema: { response: entrySchema(type, [201]) } }, async (request, reply) => {
      const { entry, changed } = await entries.create(type.id, request.body, callerOf(request.auth));
      await record(request, 'entry.create', type, entry._id, changed);
      return reply.code(201).header('location', location(type, entry._id)).send({ data: entry });
    });
    app.get<{ Params: IdParams }>(`${base}/:id`, { schema: { response: entrySchema(type, [200]) } }, async (request) => ({
      data: await entries.get(type.id, request.params.id, request.query as Query, callerOf(request.auth)),
    }));
    app.put<{ Params: IdParams }>(`${base}/:id`, { schema: { response: entrySchema(type, [200]) } }, async (request) => {
      const { entry, changed } = await entries.replace(type.id, request.params.id, request.body, ifMatch(request), callerOf(request.auth));
      await record(request, 'entry.update', type, entry._id, changed);
      return { data: entry };
    });
    app.patch<{ Params: IdParams }>(`${base}/:id`, { schema: { response: entrySchema(type, [200]) } }, async (request) => {
      const { entry, changed } = await entries.patch(type.id, request.params.id, request.body, ifMatch(request), callerOf(request.auth));
      await record(request, 'entry.update', type, entry._id, changed);
      return { data: entry };
    });
    app.delete<{ Params: IdParams }>(`${base}/:id`, async (request, reply) => {
      await entries.remove(type.id, request.params.id, ifMatch(request), callerOf(request.auth));
      await record(request, 'entry.delete', type, request.params.id);
      return reply.code(204).send();
    });
  }

  // Whatever the per-type routes did not take: an unknown type, or a method the type does not have.
  const fallback = async (request: FastifyRequest<{ Params: { type: string; id?: string } }>, reply: FastifyReply) => {
    // the service's own checks answer an unknown type, and an id on a singleton's path
    const type = request.params.id === undefined ? entries.type(request.params.type) : entries.collectionType(request.params.type);
    reply.header('allow', type.singleton || request.params.id !== undefined ? 'GET, HEAD, PUT, PATCH, DELETE' : 'GET, HEAD, POST');
    if (type.singleton && request.method === 'POST') {
      throw new CmsError('not-allowed', codes.typeIsSingleton, `"${type.id}" is a singleton: create or replace it with PUT /api/content/${type.id}`);
    }
    throw new CmsError('not-allowed', codes.methodNotAllowed, `${request.method} is not allowed on ${request.url.split('?')[0]}`);
  };
  app.all('/api/content/:type', fallback);
  app.all('/api/content/:type/:id', fallback);
}
