// Test helpers: each test file builds its own app on its own database and bucket.
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Role, Scope } from '../src/storage/users.js';
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
    // schedules run when a test says so
    SCHEDULE_POLL_SECONDS: '0',
    // webhooks are sent when a test says so
    WEBHOOK_POLL_MS: '0',
    ...env,
  });
}

export interface TestAppOptions {
  /** Whose requests `app.inject` and `call` make by default: a signed-in admin (default), or nobody. */
  as?: 'admin' | 'anonymous';
  env?: Record<string, string>;
  contentTypesDir?: string;
  mongoClientOptions?: MongoClientOptions;
  now?: AppOptions['now'];
  /** The built admin UI to serve at /admin (default: admin-ui/dist). */
  adminUiDir?: string;
}

/** Builds the whole app on a fresh database; the database is dropped and the app closed at teardown. */
export async function buildTestApp(t: Teardown, options: TestAppOptions = {}): Promise<FastifyInstance> {
  const config = testConfig({ ...(options.contentTypesDir ? { CONTENT_TYPES_DIR: options.contentTypesDir } : {}), ...options.env });
  const registry = await loadContentTypes(config.contentTypesDir, { locales: config.locales });
  const app = await buildApp(config, {
    registry,
    ...(options.now ? { now: options.now } : {}),
    ...(options.mongoClientOptions ? { mongoClientOptions: options.mongoClientOptions } : {}),
    ...(options.adminUiDir ? { adminUiDir: options.adminUiDir } : {}),
  });
  t.teardown(async () => {
    await app.mongo.db.dropDatabase().catch(() => undefined);
    await app.close();
  });
  origins.set(app, config.publicUrl ? new URL(config.publicUrl).origin : 'http://localhost:80');
  if (options.as !== 'anonymous') {
    const headers = await signIn(app, 'admin');
    const inject = app.inject.bind(app);
    // every request of the test is the admin's unless it says otherwise (its own headers win)
    app.inject = ((opts: InjectOptions) => inject({ ...opts, headers: { ...headers, ...(opts.headers ?? {}) } })) as typeof app.inject;
    adminHeaders.set(app, headers);
  }
  return app;
}

const adminHeaders = new WeakMap<FastifyInstance, Record<string, string>>();
const origins = new WeakMap<FastifyInstance, string>();

/** The headers of the test's admin (for requests that do not go through inject). */
export function authHeaders(app: FastifyInstance): Record<string, string> {
  const headers = adminHeaders.get(app);
  if (!headers) throw new Error('this app was built without a signed-in admin');
  return headers;
}

/** The Origin a browser would send to this app. */
export function originOf(app: FastifyInstance): string {
  return origins.get(app) ?? 'http://localhost:80';
}

let users = 0;

/** Creates a user with this role and signs them in; returns the headers a browser would send. */
export async function signIn(app: FastifyInstance, role: Role, email = `${role}${++users}@example.com`): Promise<Record<string, string>> {
  const user = await app.auth.createUser({ email, name: `${role} ${users}`, password: 'correct horse battery staple', role });
  const { cookie } = await app.auth.sessions.create(user._id);
  return { cookie: cookie.split(';')[0]!, origin: originOf(app) };
}

/** An API token with these scopes (created by a fresh admin). */
export async function tokenFor(app: FastifyInstance, scopes: Scope[], extra: { types?: string[]; expiresAt?: string } = {}): Promise<Record<string, string>> {
  const owner = await app.auth.createUser({ email: `owner${++users}@example.com`, name: 'Token owner', password: 'correct horse battery staple', role: 'admin' });
  const { secret } = await app.auth.createToken(owner._id, { name: `token ${users}`, scopes, ...extra });
  return { authorization: `Bearer ${secret}` };
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

export interface Res {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: Json;
  raw: string;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

/**
 * One request exactly as a client at `ip` would make it. Credentials come only from `headers` (an
 * app built as admin still adds the admin's unless these override them).
 */
export async function send(app: FastifyInstance, method: Method, url: string, opts: { body?: unknown; headers?: Record<string, string>; ip?: string; payload?: Buffer } = {}): Promise<Res> {
  const res = await app.inject({
    method,
    url,
    remoteAddress: opts.ip ?? '127.0.0.1',
    headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    ...(opts.body !== undefined ? { payload: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : opts.payload ? { payload: opts.payload } : {}),
  });
  let body: Json = {};
  try {
    body = res.body ? (JSON.parse(res.body) as Json) : {};
  } catch {
    body = {};
  }
  return { status: res.statusCode, headers: res.headers, body, raw: res.body };
}
