// /api/content: routes are registered per content type, so each gets a response serializer
// compiled from its own schema. Catch-all routes after them answer unknown types and methods.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ContentType } from '../content-types/registry.js';
import { CmsError, codes, invalid } from '../errors.js';
import { allowed, canPreviewContent, canPublish, canReadContent, canWriteContent, creatorId, requireUser, seesPrivate, type Auth } from '../auth/access.js';
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
            preview: { type: 'boolean' },
            locale: { type: 'string' },
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
    mayPreview: (type) => canPreviewContent(auth, type),
    mayPublish: (type) => canPublish(auth, type),
    ...(auth.kind === 'preview' ? { only: { type: auth.preview.type, id: auth.preview.entryId } } : {}),
  };
}

export default async function contentRoutes(app: FastifyInstance): Promise<void> {
  const entries = app.entries;
  const audit = app.audit;
  const record = (request: FastifyRequest, action: string, type: ContentType, id: string, fields?: string[]) =>
    audit.record(request.auth, { ip: request.ip, userAgent: request.headers['user-agent'] }, action, { kind: 'entry', type: type.id, id, ...(fields ? { fields } : {}) });
  // writes take only the query parameters their route names: one that is not understood must not be ignored
  app.addHook('preHandler', async (request) => {
    if (request.method === 'GET' || request.method === 'HEAD') return;
    const allowed = request.routeOptions.config.query ?? [];
    const keys = Object.keys((request.query ?? {}) as Query).filter((k) => !allowed.includes(k));
    if (keys.length) {
      throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${keys.join(', ')}`, keys.map((path) => ({ path, message: 'unknown query parameter' })));
    }
  });
  const withLocale = { config: { query: ['locale'] } };
  const localeOf = (request: FastifyRequest) => ({ locale: (request.query as Query).locale });
  for (const type of app.registry.all()) {
    const base = `/api/content/${type.id}`;
    if (type.singleton) {
      app.get(base, { config: { delivery: true }, schema: { response: entrySchema(type, [200]) } }, async (request) => ({
        data: await entries.get(type.id, undefined, request.query as Query, callerOf(request.auth)),
      }));
      app.put(base, { ...withLocale, schema: { response: entrySchema(type, [200, 201]) } }, async (request, reply) => {
        const { entry, created, changed } = await entries.replace(type.id, undefined, request.body, ifMatch(request), callerOf(request.auth), localeOf(request));
        await record(request, created ? 'entry.create' : 'entry.update', type, type.id, changed);
        return reply.code(created ? 201 : 200).send({ data: entry });
      });
      app.patch(base, { ...withLocale, schema: { response: entrySchema(type, [200]) } }, async (request) => {
        const { entry, changed } = await entries.patch(type.id, undefined, request.body, ifMatch(request), callerOf(request.auth), localeOf(request));
        await record(request, 'entry.update', type, type.id, changed);
        return { data: entry };
      });
      app.delete(base, async (request, reply) => {
        await entries.remove(type.id, undefined, ifMatch(request), callerOf(request.auth));
        await record(request, 'entry.delete', type, type.id);
        return reply.code(204).send();
      });
      entryActions(type, base, () => undefined);
      continue;
    }
    app.get(base, { config: { delivery: true }, schema: { response: listSchema(type) } }, async (request) => entries.list(type.id, request.query as Query, callerOf(request.auth)));
    app.post(base, { ...withLocale, schema: { response: entrySchema(type, [201]) } }, async (request, reply) => {
      const { entry, changed } = await entries.create(type.id, request.body, callerOf(request.auth), localeOf(request));
      await record(request, 'entry.create', type, entry._id, changed);
      return reply.code(201).header('location', location(type, entry._id)).send({ data: entry });
    });
    app.get<{ Params: IdParams }>(`${base}/:id`, { config: { delivery: true }, schema: { response: entrySchema(type, [200]) } }, async (request) => ({
      data: await entries.get(type.id, request.params.id, request.query as Query, callerOf(request.auth)),
    }));
    app.put<{ Params: IdParams }>(`${base}/:id`, { ...withLocale, schema: { response: entrySchema(type, [200]) } }, async (request) => {
      const { entry, changed } = await entries.replace(type.id, request.params.id, request.body, ifMatch(request), callerOf(request.auth), localeOf(request));
      await record(request, 'entry.update', type, entry._id, changed);
      return { data: entry };
    });
    app.patch<{ Params: IdParams }>(`${base}/:id`, { ...withLocale, schema: { response: entrySchema(type, [200]) } }, async (request) => {
      const { entry, changed } = await entries.patch(type.id, request.params.id, request.body, ifMatch(request), callerOf(request.auth), localeOf(request));
      await record(request, 'entry.update', type, entry._id, changed);
      return { data: entry };
    });
    app.delete<{ Params: IdParams }>(`${base}/:id`, async (request, reply) => {
      await entries.remove(type.id, request.params.id, ifMatch(request), callerOf(request.auth));
      await record(request, 'entry.delete', type, request.params.id);
      return reply.code(204).send();
    });
    entryActions(type, `${base}/:id`, (request) => (request.params as IdParams).id);
  }

  /** Publishing, history, schedules and previews of one entry (`at`: its URL). */
  function entryActions(type: ContentType, at: string, idOf: (request: FastifyRequest) => string | undefined): void {
    const one = entrySchema(type, [200]);
    const state = (action: 'publish' | 'unpublish' | 'discard') =>
      app.post(`${at}/${action}`, { schema: { response: one } }, async (request) => {
        const result = await entries[action](type.id, idOf(request), ifMatch(request), callerOf(request.auth));
        if (result.version !== undefined) await record(request, `entry.${action}`, type, result.entry._id, action === 'discard' ? result.changed : undefined);
        return { data: result.entry };
      });
    state('publish');
    state('unpublish');
    state('discard');
    app.get(`${at}/referrers`, async (request) => ({ data: await entries.referrers(type.id, idOf(request), callerOf(request.auth)) }));
    app.get(`${at}/versions`, async (request) => entries.versions(type.id, idOf(request), request.query as Query, callerOf(request.auth)));
    app.get(`${at}/versions/diff`, async (request) => ({ data: await entries.diff(type.id, idOf(request), request.query as Query, callerOf(request.auth)) }));
    app.get<{ Params: { version: string } }>(`${at}/versions/:version`, async (request) => ({
      data: await entries.version(type.id, idOf(request), request.params.version, request.query as Query, callerOf(request.auth)),
    }));
    app.post<{ Params: { version: string } }>(`${at}/versions/:version/restore`, { schema: { response: one } }, async (request) => {
      const { entry, changed } = await entries.restore(type.id, idOf(request), request.params.version, ifMatch(request), callerOf(request.auth));
      await record(request, 'entry.restore', type, entry._id, changed);
      return { data: entry };
    });
    app.post(`${at}/schedules`, async (request, reply) => {
      const schedule = await app.schedules.create(type.id, idOf(request), request.body, callerOf(request.auth));
      await record(request, `schedule.create`, type, schedule.entryId);
      return reply.code(201).header('location', `/api/schedules/${schedule._id}`).send({ data: schedule });
    });
    app.post(`${at}/preview`, withLocale, async (request, reply) => {
      const link = await app.previews.create(type.id, idOf(request), localeOf(request).locale === undefined ? {} : localeOf(request), callerOf(request.auth));
      return reply.code(201).send({ data: link });
    });
  }

  app.get('/api/schedules', async (request) => {
    const caller = callerOf(request.auth);
    // those who may read drafts, or publish, see a type's schedules
    const visible = (type: ContentType) => allowed(() => caller.mayPreview(type)) || allowed(() => caller.mayPublish(type));
    if (request.auth.kind === 'anonymous' || request.auth.kind === 'preview') requireUser(request.auth);
    return { data: await app.schedules.list(request.query as Query, visible) };
  });
  app.delete<{ Params: IdParams }>('/api/schedules/:id', async (request) => {
    const schedule = await app.schedules.cancel(request.params.id, callerOf(request.auth));
    await record(request, 'schedule.cancel', entries.type(schedule.type), schedule.entryId);
    return { data: schedule };
  });

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
