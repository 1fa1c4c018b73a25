// Builds the Fastify app from a config: external plugins, then infrastructure, then domain
// services, then routes. No module-level state: tests build and close as many apps as they like.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { MongoClientOptions } from 'mongodb';
import type { Config } from './config.js';
import type { ContentTypeRegistry } from './content-types/registry.js';
import authPlugin from './plugins/auth.js';
import cachePlugin from './plugins/cache.js';
import httpPlugin from './plugins/http.js';
import authRoutes from './routes/auth.js';
import setupRoutes from './routes/setup.js';
import contentRoutes from './routes/content.js';
import healthRoutes from './routes/health.js';
import openApiRoutes from './routes/openapi.js';
import mediaRoutes from './routes/media.js';
import webhookRoutes from './routes/webhooks.js';
import syncRoutes from './routes/sync.js';
import adminRoutes from './routes/admin.js';
import type { Clock } from './services/entries.js';
import servicesPlugin from './services/plugin.js';
import mongoPlugin from './storage/mongo.js';
import s3Plugin from './storage/s3.js';

export interface AppOptions {
  registry: ContentTypeRegistry;
  now?: Clock;
  mongoClientOptions?: MongoClientOptions;
  /** Seconds between media sweeps (default 300; 0: off, as tests that sweep by hand want). */
  sweepInterval?: number;
  /** Overrides SCHEDULE_POLL_SECONDS (0: no schedule runner, as tests that run schedules by hand want). */
  schedulePollSeconds?: number;
  /** Overrides WEBHOOK_POLL_MS (0: no webhook dispatcher; tests call app.webhooks.runOnce()). */
  webhookPollMs?: number;
  /** The built admin UI served at /admin (default: the project's admin-ui/dist). */
  adminUiDir?: string;
}

function loggerOptions(config: Config) {
  const base = { level: config.logLevel, redact: ['req.headers.authorization', 'req.headers.cookie'] };
  if (config.env === 'development' && process.stdout.isTTY) {
    return { ...base, transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss', ignore: 'pid,hostname' } } };
  }
  return base;
}

export async function buildApp(config: Config, options: AppOptions): Promise<FastifyInstance> {
  if (!config.mongo.uri) throw new Error('buildApp needs config.mongo.uri (embedded services are started by the server)');
  const app = Fastify({
    logger: loggerOptions(config),
    // one line per request, written by our onResponse hook
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    // long enough that an over-long id reaches the route and gets a 400 that says why
    routerOptions: { maxParamLength: 1000 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  try {
    await app.register(httpPlugin, { bodyLimit: config.bodyLimit, jsonMaxDepth: config.jsonMaxDepth });
    await app.register(mongoPlugin, {
      uri: config.mongo.uri,
      db: config.mongo.db,
      ...(options.mongoClientOptions ? { clientOptions: options.mongoClientOptions } : {}),
    });
    await app.register(s3Plugin, { config: config.s3 });
    await app.register(servicesPlugin, {
      registry: options.registry,
      limits: config.list,
      media: config.media,
      auth: config.auth,
      publicUrl: config.publicUrl,
      locales: config.locales,
      publishing: options.schedulePollSeconds === undefined ? config.publishing : { ...config.publishing, schedulePollSeconds: options.schedulePollSeconds },
      webhooks: options.webhookPollMs === undefined ? config.webhooks : { ...config.webhooks, pollMs: options.webhookPollMs },
      ...(options.now ? { now: options.now } : {}),
      ...(options.sweepInterval !== undefined ? { sweepInterval: options.sweepInterval } : {}),
    });
    await app.register(authPlugin, { publicUrl: config.publicUrl, corsOrigins: config.auth.corsOrigins });
    await app.register(cachePlugin, config.deliveryCache);
    await app.register(healthRoutes);
    await app.register(openApiRoutes, { publicUrl: config.publicUrl });
    await app.register(authRoutes, { publicUrl: config.publicUrl });
    await app.register(setupRoutes, { publicUrl: config.publicUrl });
    await app.register(contentRoutes);
    await app.register(mediaRoutes, { config: config.media });
    await app.register(webhookRoutes, { maxOffset: config.list.maxOffset });
    await app.register(syncRoutes, { pageSize: config.list.maxLimit });
    await app.register(adminRoutes, { publicUrl: config.publicUrl, ...(options.adminUiDir ? { uiDir: options.adminUiDir } : {}) });
  } catch (err) {
    // a later plugin failed (S3 down, a unique index that cannot be built): close what was opened
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}
