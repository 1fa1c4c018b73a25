// /healthz, /readyz, and what clients see when MongoDB or S3 go away.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startServices } from '../scripts/services.js';
import { buildTestApp, call } from './helpers.js';

t.test('healthz and readyz answer when everything is up', async (t) => {
  const app = await buildTestApp(t);
  const health = await call(app, 'GET', '/healthz');
  t.equal(health.status, 200);
  t.same(health.body, { status: 'ok' });
  const ready = await call(app, 'GET', '/readyz');
  t.equal(ready.status, 200);
  t.same(ready.body, { status: 'ready', checks: [{ name: 'mongodb', ok: true }, { name: 's3', ok: true }] });
});

t.test('an unexpected error is a 500 that leaks nothing', async (t) => {
  const app = await buildTestApp(t);
  app.get('/boom', async () => {
    throw new Error('secret connection string mongodb://user:pw@db');
  });
  const res = await call(app, 'GET', '/boom');
  t.equal(res.status, 500);
  t.same(res.body, { error: { code: 'CMS_ERR_INTERNAL', message: 'Internal server error', details: [] } });
});

t.test('when MongoDB and S3 go away: readyz is 503 and requests get a clean 503', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cms-outage-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const own = await startServices({ dataDir: dir, log: () => undefined });
  t.teardown(() => own.stop());
  const app = await buildTestApp(t, { env: own.env });
  t.equal((await call(app, 'GET', '/readyz')).status, 200);
  const created = await call(app, 'POST', '/api/content/category', { name: 'Before', slug: 'before' });
  t.equal(created.status, 201);

  await own.stop();
  const ready = await call(app, 'GET', '/readyz');
  t.equal(ready.status, 503);
  t.match(ready.body, { status: 'unavailable', checks: [{ name: 'mongodb', ok: false }, { name: 's3', ok: false }] });

  const read = await call(app, 'GET', '/api/content/category');
  t.equal(read.status, 503);
  t.equal(read.body.error.code, 'CMS_ERR_SERVICE_UNAVAILABLE');
  t.notMatch(JSON.stringify(read.body), /127\.0\.0\.1|ECONNREFUSED|Mongo|stack/, 'no internals in the body');
  const write = await call(app, 'POST', '/api/content/category', { name: 'During', slug: 'during' });
  t.equal(write.status, 503);
  t.equal((await call(app, 'GET', '/healthz')).status, 200, 'the process itself is still alive');
});

t.test('start-up fails with a clear error when S3 is unreachable', async (t) => {
  const closedPort = 9; // discard: nothing listens on loopback here
  await t.rejects(buildTestApp(t, { env: { S3_ENDPOINT: `http://127.0.0.1:${closedPort}` } }), /ECONNREFUSED|connect/);
});

t.test('start-up refuses a unique index that existing entries violate, naming type and field', async (t) => {
  const first = await buildTestApp(t);
  const db = first.mongo.db.databaseName;
  // two categories share a description; then description becomes unique
  await first.mongo.db.collection<{ _id: string; [field: string]: unknown }>('content_category').insertMany([
    { _id: 'a', name: 'A', slug: 'a', description: 'same' },
    { _id: 'b', name: 'B', slug: 'b', description: 'same' },
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'cms-types-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'category.json'),
    JSON.stringify({
      type: 'object',
      properties: { name: { type: 'string' }, slug: { type: 'string' }, description: { type: 'string', 'x-cms': { unique: true } } },
      required: ['name', 'slug', 'description'],
      additionalProperties: false,
    }),
  );
  await t.rejects(buildTestApp(t, { contentTypesDir: dir, env: { MONGODB_DB: db } }), /unique index on category\.description/);
});

t.test('start-up builds declared indexes (nested ones too) and drops ours no longer declared', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cms-types-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const type = (withIndexes: boolean) => ({
    type: 'object',
    properties: {
      code: { type: 'string', ...(withIndexes ? { 'x-cms': { unique: true } } : {}) },
      seo: { type: 'object', properties: { title: { type: 'string', ...(withIndexes ? { 'x-cms': { index: true } } : {}) } }, additionalProperties: false },
    },
    required: ['code'],
    additionalProperties: false,
  });
  await writeFile(join(dir, 'thing.json'), JSON.stringify(type(true)));
  const first = await buildTestApp(t, { contentTypesDir: dir });
  const db = first.mongo.db.databaseName;
  const names = async () => (await first.mongo.db.collection('content_thing').listIndexes().toArray()).map((i) => [i.name, i.key, i.unique === true]);
  t.same((await names()).filter(([n]) => String(n).startsWith('cms_')).sort(), [
    ['cms_index_seo.title', { 'seo.title': 1 }, false],
    ['cms_unique_code', { code: 1 }, true],
  ]);
  await writeFile(join(dir, 'thing.json'), JSON.stringify(type(false)));
  await buildTestApp(t, { contentTypesDir: dir, env: { MONGODB_DB: db } });
  t.same((await names()).filter(([n]) => String(n).startsWith('cms_')), [], 'undeclared indexes are dropped');
});
