// Who is asking, for every route: `request.auth`. Also CSRF (same-origin Origin on cookie writes),
// `Cache-Control: private, no-store` on authenticated answers, security headers and CORS.
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ANONYMOUS, type Auth } from '../auth/access.js';
import { CmsError, codes } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth: Auth;
  }
  interface FastifyContextConfig {
    /** false: the route never looks at credentials (public delivery, health). */
    auth?: boolean;
    /** Query parameters a write route takes (others are refused, not ignored). */
    query?: string[];
    /** A delivery read (content GET): ETag, If-None-Match, public Cache-Control, the delivery cache (src/plugins/cache.ts). */
    delivery?: boolean;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface AuthPluginOptions {
  publicUrl: string;
  corsOrigins: string[];
}

/** The origin a browser shows for this server: PUBLIC_URL's, else the one the request was made to. */
function ownOrigin(request: FastifyRequest, publicUrl: string): string {
  if (publicUrl) return new URL(publicUrl).origin;
  return `${request.protocol}://${request.host}`;
}

/** Delivery reads a browser on another site may make: content and media, GET and HEAD only. */
const isDeliveryRead = (method: string, url: string) =>
  (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') && /^\/(?:api\/content|api\/media|media)(?:[/?]|$)/.test(url);

export default fp<AuthPluginOptions>(
  async (app: FastifyInstance, opts) => {
    await app.register(helmet, {
      global: true,
      // the API serves JSON and files, never pages: nothing may run or be framed
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] } },
      crossOriginResourcePolicy: { policy: 'cross-origin' },
      strictTransportSecurity: opts.publicUrl.startsWith('https:'),
    });
    await app.register(cors, {
      delegator: (request, callback) => {
        if (!opts.corsOrigins.length || !isDeliveryRead(request.method ?? '', request.url ?? '')) {
          callback(null, { origin: false });
          return;
        }
        callback(null, {
          origin: opts.corsOrigins,
          methods: ['GET', 'HEAD'],
          allowedHeaders: ['Authorization', 'If-None-Match', 'If-Range', 'Range'],
          exposedHeaders: ['ETag', 'Content-Range', 'Accept-Ranges', 'Content-Length', 'Location'],
          maxAge: 600,
        });
      },
    });

    // set for every request by the hook below; Fastify's typing of decorateRequest rejects a union
    (app.decorateRequest as (this: FastifyInstance, name: string, value: null) => void).call(app, 'auth', null);
    app.addHook('onRequest', async (request, reply) => {
      request.auth = ANONYMOUS;
      if (request.routeOptions.config.auth === false) return;
      let result;
      try {
        result = await app.auth.authenticate({ authorization: request.headers.authorization, cookie: request.headers.cookie });
      } catch (err) {
        if (err instanceof CmsError && err.code === codes.authInvalid && request.headers.authorization === undefined) reply.header('set-cookie', app.auth.sessions.blank());
        throw err;
      }
      request.auth = result.auth;
      if (result.setCookie) reply.header('set-cookie', result.setCookie);
      // a cookie rides along on cross-site requests; a write must prove it comes from our own pages
      if (result.auth.kind === 'user' && !SAFE_METHODS.has(request.method)) {
        const origin = request.headers.origin;
        if (!origin || origin !== ownOrigin(request, opts.publicUrl)) {
          throw new CmsError('forbidden', codes.csrf, 'A signed-in write must come from this site (the Origin header is missing or foreign)', [{ path: 'origin', message: origin ? 'foreign origin' : 'missing' }]);
        }
      }
    });
    app.addHook('onSend', async (request, reply) => {
      if (request.auth && request.auth.kind !== 'anonymous') reply.header('cache-control', 'private, no-store');
    });
  },
  { name: 'auth', dependencies: ['services'] },
);
