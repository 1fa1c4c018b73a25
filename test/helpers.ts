// Test helpers: each test file builds its own app on its own database and bucket.
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { MongoClientOptions } from 'mongodb';
import { buildApp, type AppOptions } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import { loadContentTypes } from '../src/content-types/loader.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const EXAMPLE_TYPES = join(ROOT, 'content-types');

interface Teardown {
  teardown(fn: () => unknown): void;
}

export function testConfig(env: Record<string, string> = {}): Config {
  if (!process.env.MONGODB_URI) throw new Error('MONGODB_URI is not set: run the tests with `npm test`, which starts the services');
  const id = `${basename(process.argv[1] ?? 'test').replace(/\W+/g, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  return loadConfig({
    ...process.env,
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    MONGODB_DB: `t_${id}`.slice(0, 63),
    S3_BUCKET: `t-${id.toLowerCase().replace(/_/g, '-')}`.slice(0, 63).replace(/-+$/, ''),
    CONTENT_TYPES_DIR: EXAMPLE_TYPES,
    ...env,
  });
}

export interface TestAppOptions {
  env?: Record<string, string>;
  contentTypesDir?: string;
  mongoClientOptions?: MongoClientOptions;
  now?: AppOptions['now'];
}

/** Builds the whole app on a fresh database; the database is dropped and the app closed at teardown. */
export async function buildTestApp(t: Teardown, options: TestAppOptions = {}): Promise<FastifyInstance> {
  const config = testConfig({ ...(options.contentTypesDir ? { CONTENT_TYPES_DIR: options.contentTypesDir } : {}), ...options.env });
  const registry = await loadContentTypes(config.contentTypesDir);
  const app = await buildApp(config, {
    registry,
    ...(options.now ? { now: options.now } : {}),
    ...(options.mongoClientOptions ? { mongoClientOptions: options.mongoClientOptions } : {}),
  });
  t.teardown(async () => {
    await app.mongo.db.dropDatabase().catch(() => undefined);
    await app.close();
  });
  return app;
}

/** Counts the stored entries of a type, straight from the database. */
export async function countStored(app: FastifyInstance, type: string): Promise<number> {
  return app.mongo.db.collection(`content_${type}`).countDocuments({});
}

// `any`: tests read response bodies loosely; tap's assertions are what check their shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

/** A JSON request through Fastify's inject, returning status, headers and parsed body. */
export async function call(
  app: FastifyInstance,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: Json }> {
  const res = await app.inject({
    method,
    url,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.statusCode, headers: res.headers, body: res.body ? (JSON.parse(res.body) as Json) : {} };
}
