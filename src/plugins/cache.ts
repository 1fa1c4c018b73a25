// HTTP caching of the delivery API: the content GET routes (those with `config.delivery`) get a
// strong ETag of their exact bytes, If-None-Match (→ 304), Cache-Control from the type's
// `x-cms.cache` for anonymous readers (authenticated answers keep `private, no-store`), Vary and a
// Surrogate-Key header; anonymous answers are kept in the in-process DeliveryCache.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ContentType, ContentTypeRegistry } from '../content-types/registry.js';
import { DeliveryCache } from '../services/delivery-cache.js';

declare module 'fastify' {
  interface FastifyInstance {
    deliveryCache: DeliveryCache;
  }
}

export interface CachePluginOptions {
  /** Bytes of responses kept in memory (0: none). */
  maxBytes: number;
  /** Milliseconds between reads of the change log (0: never; one process only). */
  pollMs: number;
}

/** What a delivery request carries from one hook to the next. */
interface State {
  /** The cache's clock when the request started, before anything was read. */
  startedAt: number;
  /** The cache key, for anonymous requests that may be cached. */
  key?: string;
  /** Answered from the cache. */
  hit?: boolean;
  /** Surrogate keys of the response. */
  keys?: string[];
  /** What the response depends on (content types, `media`), for the staleness check. */
  groups?: string[];
}

const states = new WeakMap<FastifyRequest, State>();

/** The headers a delivery response varies on besides the URL: credentials change what is seen. */
const VARY = ['Authorization', 'Cookie'];

/**
 * The cache key: the path as sent and the query parameters sorted by name (values keep their
 * order). Undefined for previews, which are never cached.
 */
export function cacheKey(url: string): string | undefined {
  const at = url.indexOf('?');
  const path = at === -1 ? url : url.slice(0, at);
  const raw = at === -1 ? '' : url.slice(at + 1);
  // URLSearchParams reads broken escapes (%FF) as U+FFFD, as it reads %EF%BF%BD: such a query would
  // share a key with another that the route reads differently, so it is not cached
  try {
    for (const part of raw.split(/[&=]/)) decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
  const params = new URLSearchParams(raw);
  if (params.getAll('preview').some((v) => v !== 'false')) return undefined;
  params.sort();
  const query = params.toString();
  return query ? `GET ${path}?${query}` : `GET ${path}`;
}

/** The entity tags of an If-None-Match header (`*` as itself), without `W/`: the weak comparison. */
export function parseIfNoneMatch(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text.trim() === '*') return ['*'];
  return [...text.matchAll(/(?:W\/)?("[\x21\x23-\x7e\x80-\xff]*")/g)].map((m) => m[1]!);
}

export function ifNoneMatchHits(header: string | string[] | undefined, etag: string): boolean {
  const tags = parseIfNoneMatch(header);
  return tags.includes('*') || tags.includes(etag.replace(/^W\//, ''));
}

export const etagOf = (body: string | Buffer) => `"${createHash('sha1').update(body).digest('base64url')}"`;

/** Cache-Control of a public (anonymous) response of this type. */
export function publicCacheControl(type: ContentType): string {
  const { maxAge, staleWhileRevalidate } = type.cache;
  if (maxAge <= 0) return 'public, max-age=0, must-revalidate';
  return `public, max-age=${maxAge}${staleWhileRevalidate > 0 ? `, stale-while-revalidate=${staleWhileRevalidate}` : ''}`;
}

function addVary(reply: FastifyReply): void {
  const current = reply.getHeader('vary');
  const have = (Array.isArray(current) ? current.join(',') : String(current ?? ''))
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  if (have.includes('*')) return;
  const lower = new Set(have.map((v) => v.toLowerCase()));
  const out = [...have, ...VARY.filter((v) => !lower.has(v.toLowerCase()))];
  reply.header('vary', out.join(', '));
}

/** The types reachable from `type` through reference fields (what `populate` may bring in). */
function referenced(registry: ContentTypeRegistry, type: ContentType): { types: Set<string>; media: boolean } {
  const types = new Set<string>();
  let media = false;
  const visit = (t: ContentType) => {
    for (const f of t.fields.values()) {
      if (f.media) media = true;
      if (f.ref && !types.has(f.ref)) {
        types.add(f.ref);
        const next = registry.get(f.ref);
        if (next) visit(next);
      }
    }
  };
  visit(type);
  return { types, media };
}

/** Entries (`_id` and `_type`) and populated media (`_id` alone) anywhere in the payload. */
function collectKeys(value: unknown, keys: Set<string>, depth = 0): void {
  if (depth > 64 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const v of value) collectKeys(v, keys, depth + 1);
    return;
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj._id === 'string') keys.add(typeof obj._type === 'string' ? `${obj._type}:${obj._id}` : `media:${obj._id}`);
  for (const v of Object.values(obj)) if (v !== null && typeof v === 'object') collectKeys(v, keys, depth + 1);
}

const isDelivery = (request: FastifyRequest) =>
  request.routeOptions.config.delivery === true && (request.method === 'GET' || request.method === 'HEAD');

/** The content type a delivery route serves: `/api/content/<type>[/:id]`. */
const typeIdOf = (request: FastifyRequest) => (request.routeOptions.url ?? '').split('/')[3] ?? '';

export default fp<CachePluginOptions>(
  async (app: FastifyInstance, opts) => {
    const changes = app.changes;
    const cache = new DeliveryCache(changes, {
      maxBytes: opts.maxBytes,
      pollMs: opts.pollMs,
      probe: (seq) => changes.get(seq),
      head: () => changes.hinted(),
      onError: (err) => app.log.warn({ err }, 'reading the change log for the delivery cache failed: cache emptied'),
    });
    await cache.init();
    app.decorate('deliveryCache', cache);

    // a write of this process evicts what it touches before it answers (the poll skips it later)
    changes.onAppend((change, seq) => cache.applyLocal(change, seq));

    let stop: (() => Promise<void>) | undefined;
    app.addHook('onReady', async () => {
      stop = cache.start();
    });
    app.addHook('onClose', async () => {
      await stop?.();
    });

    const dependsOn = new Map<string, { types: Set<string>; media: boolean }>();
    const dependencies = (type: ContentType) => {
      let d = dependsOn.get(type.id);
      if (!d) dependsOn.set(type.id, (d = referenced(app.registry, type)));
      return d;
    };

    // after the auth plugin's onRequest: `request.auth` is known
    app.addHook('onRequest', async (request, reply) => {
      if (!isDelivery(request)) return;
      const state: State = { startedAt: cache.now() };
      states.set(request, state);
      if (request.auth.kind !== 'anonymous' || !cache.enabled) return;
      const key = cacheKey(request.url);
      if (key === undefined) return;
      state.key = key;
      const hit = cache.get(key);
      if (!hit) return;
      state.hit = true;
      reply.header('etag', hit.etag).header('cache-control', hit.cacheControl);
      if (hit.surrogateKey) reply.header('surrogate-key', hit.surrogateKey);
      addVary(reply);
      if (ifNoneMatchHits(request.headers['if-none-match'], hit.etag)) {
        // HEAD: the body only tells Fastify the length a 200 would have
        return reply.code(304).send(request.method === 'HEAD' ? hit.body : undefined);
      }
      return reply.type(hit.contentType).send(hit.body);
    });

    app.addHook('preSerialization', async (request, reply, payload) => {
      const state = states.get(request);
      if (!state || state.hit || reply.statusCode !== 200) return payload;
      const type = app.registry.get(typeIdOf(request));
      if (!type) return payload;
      const keys = new Set<string>();
      const data = (payload as { data?: unknown } | null)?.data;
      if (Array.isArray(data) || type.singleton) keys.add(`type:${type.id}`);
      collectKeys(data, keys);
      const groups = new Set([type.id]);
      const query = (request.query ?? {}) as Record<string, unknown>;
      if (Object.keys(query).some((k) => k.startsWith('populate'))) {
        // a reference that resolved to nothing (unpublished, deleted) leaves no id behind: any
        // change of a type it may point into evicts the response
        const deps = dependencies(type);
        for (const t of deps.types) {
          keys.add(`type:${t}`);
          groups.add(t);
        }
        if (deps.media) groups.add('media');
      }
      state.keys = [...keys];
      state.groups = [...groups];
      return payload;
    });

    app.addHook('onSend', async (request, reply, payload) => {
      const state = states.get(request);
      if (!state || state.hit || reply.statusCode !== 200) return payload;
      if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
      const type = app.registry.get(typeIdOf(request));
      if (!type) return payload;
      const etag = etagOf(payload);
      reply.header('etag', etag);
      const anonymous = request.auth?.kind === 'anonymous';
      // authenticated answers keep the auth plugin's `private, no-store`
      if (anonymous) reply.header('cache-control', publicCacheControl(type));
      addVary(reply);
      const surrogateKey = (state.keys ?? []).join(' ');
      if (surrogateKey) reply.header('surrogate-key', surrogateKey);
      if (anonymous && state.key && !reply.hasHeader('set-cookie')) {
        cache.store(state.key, {
          body: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
          etag,
          contentType: String(reply.getHeader('content-type') ?? 'application/json; charset=utf-8'),
          cacheControl: publicCacheControl(type),
          surrogateKey,
          keys: state.keys ?? [],
        }, state.groups ?? [type.id], state.startedAt);
      }
      if (ifNoneMatchHits(request.headers['if-none-match'], etag)) {
        reply.code(304);
        reply.removeHeader('content-type');
        // HEAD: the route's own hook takes the length a 200 would have from the payload, then drops it
        return request.method === 'HEAD' ? payload : null;
      }
      return payload;
    });
  },
  { name: 'delivery-cache', dependencies: ['services', 'auth', 'mongo'] },
);
