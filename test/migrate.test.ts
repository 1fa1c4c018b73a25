// Schema migrations and `cms check`: entries are written through the API under one version of the
// content types, the files change, and the CLI (run in-process) plans and applies the migration.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { run } from '../src/cli/index.js';
import { parseLocales } from '../src/config.js';
import { ContentTypeLoadError, loadContentTypes } from '../src/content-types/loader.js';
import { SchemaMismatchError, startupCheck } from '../src/services/migrations/check.js';
import { applyMigration, MigrationInterrupted } from '../src/services/migrations/migrate.js';
import { buildTestApp, call, ROOT, type Json } from './helpers.js';

const SCHEMA = 'https://json-schema.org/draft/2020-12/schema';
type Props = Record<string, Json>;
const type = (properties: Props, required: string[] = [], cms?: Json) => ({ $schema: SCHEMA, type: 'object', ...(cms ? { 'x-cms': cms } : {}), properties, required, additionalProperties: false });

async function typesDir(t: Tap, files: Record<string, object>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cms-migrate-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeTypes(dir, files);
  return dir;
}

/** Replaces every type file in dir. */
async function writeTypes(dir: string, files: Record<string, object>): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name));
  for (const [id, schema] of Object.entries(files)) await writeFile(join(dir, `${id}.json`), JSON.stringify(schema, null, 2));
}

type Tap = { teardown(fn: () => unknown): void };

interface CliResult {
  code: number;
  out: string;
  err: string;
  json: Json;
}

/** Runs `cms …` in-process against the app's database and the types in dir. */
async function cms(app: FastifyInstance, dir: string, argv: string[], env: Record<string, string> = {}): Promise<CliResult> {
  let out = '';
  let err = '';
  const io = {
    out: (s: string) => void (out += s),
    err: (s: string) => void (err += s),
    tty: false,
    env: { ...process.env, MONGODB_DB: app.mongo.db.databaseName, CONTENT_TYPES_DIR: dir, ...env },
  };
  const code = await run(argv, io);
  // run() leaves process.exitCode set, as the real command needs; the test process must not inherit it
  process.exitCode = 0;
  let json: Json = {};
  if (argv.includes('--json')) json = JSON.parse(out) as Json;
  return { code, out, err, json };
}

/** Another app on the same database, with the types in dir (a restarted server). */
function reopen(t: Tap, app: FastifyInstance, dir: string, env: Record<string, string> = {}): Promise<FastifyInstance> {
  return buildTestApp(t, { contentTypesDir: dir, env: { MONGODB_DB: app.mongo.db.databaseName, ...env } });
}

async function create(app: FastifyInstance, typeId: string, body: Json): Promise<string> {
  const res = await call(app, 'POST', `/api/content/${typeId}`, body);
  if (res.status !== 201) throw new Error(`create ${typeId}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data._id as string;
}

const stored = (app: FastifyInstance, typeId: string, id: string, view = 'content') => app.mongo.db.collection<Json>(`${view}_${typeId}`).findOne({ _id: id } as Json);
const versionsOf = (app: FastifyInstance, typeId: string, id: string) => app.mongo.db.collection<Json>('revisions').find({ type: typeId, entryId: id }).sort({ version: 1 }).toArray();
const userOnly = (doc: Json | null) => Object.fromEntries(Object.entries(doc ?? {}).filter(([k]) => !k.startsWith('_')));

t.test('renamedFrom is checked in the files', async (t) => {
  const bad = async (properties: Props) => {
    const dir = await typesDir(t, { book: type(properties) });
    const err = await loadContentTypes(dir).then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof ContentTypeLoadError);
    return (err as ContentTypeLoadError).issues;
  };
  t.match(await bad({ title: { type: 'string', 'x-cms': { renamedFrom: 'name' } }, name: { type: 'string' } }), [
    { pointer: '/properties/title/x-cms/renamedFrom', message: /"name" is still a field here/ },
  ]);
  t.match(await bad({ a: { type: 'string', 'x-cms': { renamedFrom: 'old' } }, b: { type: 'string', 'x-cms': { renamedFrom: 'old' } } }), [
    { pointer: '/properties/b/x-cms/renamedFrom', message: /already renamed to "a"/ },
  ]);
  t.match(await bad({ a: { type: 'string', 'x-cms': { renamedFrom: 'a' } } }), [{ message: /renamed from itself/ }]);
  t.match(await bad({ a: { type: 'string', 'x-cms': { renamedFrom: '_id' } } }), [{ pointer: '/properties/a/x-cms/renamedFrom' }]);
});

t.test('a rename keeps the data, records a version per entry, and can be undone from history', async (t) => {
  const v1 = { book: type({ name: { type: 'string', minLength: 1 }, body: { type: 'string' } }, ['name']) };
  const v2 = { book: type({ title: { type: 'string', minLength: 1, 'x-cms': { renamedFrom: 'name' } }, body: { type: 'string' } }, ['title']) };
  const dir = await typesDir(t, v1);
  const app = await buildTestApp(t, { contentTypesDir: dir });
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await create(app, 'book', { name: `Book ${i}`, body: `text ${i}` }));

  await writeTypes(dir, v2);
  const check = await cms(app, dir, ['check', '--json']);
  t.equal(check.code, 1, 'before the migration the stored entries do not match');
  t.equal(check.json.stored.types[0].failing, 3);

  const plan = await cms(app, dir, ['migrate', 'plan', '--json']);
  t.equal(plan.code, 0, plan.out);
  t.match(plan.json.plan.types, [{ type: 'book', entries: 3, toMigrate: 3, steps: [{ kind: 'rename', field: 'title', from: 'name', count: 3 }], failing: { count: 0 } }]);
  const text = await cms(app, dir, ['migrate', 'plan']);
  t.match(text.out, /rename\s+name → title: 3 documents/);

  const applied = await cms(app, dir, ['migrate', 'apply', '--json']);
  t.equal(applied.code, 0, applied.out);
  t.equal(applied.json.migrated, 3);

  for (const [i, id] of ids.entries()) {
    const doc = await stored(app, 'book', id);
    t.same(userOnly(doc), { title: `Book ${i}`, body: `text ${i}` }, 'the value moved to the new field and the old key is gone');
    t.equal(doc!._version, 2);
    t.same((await versionsOf(app, 'book', id)).map((r) => r.action), ['create', 'migrate']);
  }
  t.equal(await app.mongo.db.collection('changes').countDocuments({ action: 'migrate', type: 'book' }), 3, 'caches and sync see each migrated entry');
  t.equal((await cms(app, dir, ['check'])).code, 0, 'after the migration every entry matches');

  // the server on the new files reads the field, and history shows the migration
  const now = await reopen(t, app, dir);
  const read = await call(now, 'GET', `/api/content/book/${ids[0]}`);
  t.equal(read.body.data.title, 'Book 0');
  const history = await call(now, 'GET', `/api/content/book/${ids[0]}/versions`);
  t.match(history.body.data, [{ version: 2, action: 'migrate' }, { version: 1, action: 'create' }]);

  // undo: the old files back, and version 1 restored through the history API
  await writeTypes(dir, v1);
  const before = await reopen(t, app, dir);
  const restored = await call(before, 'POST', `/api/content/book/${ids[0]}/versions/1/restore`);
  t.equal(restored.status, 200, JSON.stringify(restored.body));
  t.same(userOnly(await stored(app, 'book', ids[0]!)), { name: 'Book 0', body: 'text 0' });
});

t.test('a new required field with a default is filled; without one, apply refuses and writes nothing', async (t) => {
  const dir = await typesDir(t, { item: type({ name: { type: 'string' } }, ['name']) });
  const app = await buildTestApp(t, { contentTypesDir: dir });
  const ids = [await create(app, 'item', { name: 'a' }), await create(app, 'item', { name: 'b' })];

  await writeTypes(dir, { item: type({ name: { type: 'string' }, status: { type: 'string', enum: ['draft', 'live'], default: 'draft' } }, ['name', 'status']) });
  const plan = await cms(app, dir, ['migrate', 'plan', '--json']);
  t.match(plan.json.plan.types[0].steps, [{ kind: 'fill', field: 'status', count: 2, default: 'draft' }]);
  t.equal((await cms(app, dir, ['migrate', 'apply'])).code, 0);
  for (const id of ids) t.equal((await stored(app, 'item', id))!.status, 'draft');

  await writeTypes(dir, { item: type({ name: { type: 'string' }, status: { type: 'string', default: 'draft' }, rating: { type: 'integer' } }, ['name', 'status', 'rating']) });
  const failing = await cms(app, dir, ['migrate', 'plan', '--json']);
  t.equal(failing.code, 1, 'documents that will fail are a problem');
  t.equal(failing.json.plan.types[0].failing.count, 2);
  t.same(failing.json.plan.types[0].failing.ids.map((r: Json) => r.id).sort(), [...ids].sort());
  t.match(failing.json.plan.types[0].failing.ids[0].problems, [{ path: '/rating', message: 'is required' }]);

  const revisionsBefore = await app.mongo.db.collection('revisions').countDocuments({});
  const refused = await cms(app, dir, ['migrate', 'apply']);
  t.equal(refused.code, 3);
  t.match(refused.out, /would not match the type after the migration/);
  for (const id of ids) t.match(refused.out, id, 'the failing ids are listed');
  t.equal(await app.mongo.db.collection('revisions').countDocuments({}), revisionsBefore, 'nothing was written');
  for (const id of ids) t.equal((await stored(app, 'item', id))!._version, 2);
});

t.test('lossless conversions (number ↔ string, single ↔ array) are applied, a lossy one is refused with its ids', async (t) => {
  const v1 = {
    product: type({ qty: { type: 'string' }, sku: { type: 'integer' }, tag: { type: 'string' }, colors: { type: 'array', items: { type: 'string' } } }),
    gadget: type({ qty: { type: 'string' } }),
    note: type({ count: { type: 'string' } }, ['count'], { drafts: true }),
  };
  const v2 = {
    product: type({ qty: { type: 'integer' }, sku: { type: 'string' }, tag: { type: 'array', items: { type: 'string' } }, colors: { type: 'string' } }),
    gadget: type({ qty: { type: 'integer' } }),
    note: type({ count: { type: 'integer' } }, ['count'], { drafts: true }),
  };
  const dir = await typesDir(t, v1);
  const app = await buildTestApp(t, { contentTypesDir: dir });
  const a = await create(app, 'product', { qty: '12', sku: 7, tag: 'red', colors: ['blue'] });
  const b = await create(app, 'product', { qty: '3', sku: 8, tag: 'x', colors: [] });
  const ok = await create(app, 'gadget', { qty: '5' });
  const bad = await create(app, 'gadget', { qty: '12abc' });
  const padded = await create(app, 'gadget', { qty: ' 7' });
  // a note published and then edited (its snapshot is older than its draft), and one just published
  const changedNote = await create(app, 'note', { count: '1' });
  t.equal((await call(app, 'POST', `/api/content/note/${changedNote}/publish`)).status, 200);
  t.equal((await call(app, 'PATCH', `/api/content/note/${changedNote}`, { count: '2' })).status, 200);
  const liveNote = await create(app, 'note', { count: '5' });
  t.equal((await call(app, 'POST', `/api/content/note/${liveNote}/publish`)).status, 200);

  await writeTypes(dir, v2);
  const plan = await cms(app, dir, ['migrate', 'plan', '--json']);
  t.equal(plan.code, 1);
  const product = plan.json.plan.types.find((p: Json) => p.type === 'product');
  t.match(product.steps, [
    { kind: 'convert', field: 'qty', from: 'string', to: 'integer', count: 2 },
    { kind: 'convert', field: 'sku', from: 'number', to: 'string', count: 2 },
    { kind: 'convert', field: 'tag', from: 'single', to: 'array', count: 2 },
    { kind: 'convert', field: 'colors', from: 'array', to: 'single', count: 2 },
  ]);
  const gadget = plan.json.plan.types.find((p: Json) => p.type === 'gadget');
  t.match(gadget.lossy, [{ field: 'qty', from: 'string', to: 'integer', count: 2 }]);
  t.same(gadget.lossy[0].ids.map((r: Json) => r.id).sort(), [bad, padded].sort());
  t.match(gadget.lossy[0].ids.find((r: Json) => r.id === bad).problems, [{ path: '/qty', message: /"12abc" is not an integer/ }]);

  const refused = await cms(app, dir, ['migrate', 'apply', '--json']);
  t.equal(refused.code, 3);
  t.match(refused.json.refused, [new RegExp(`gadget\\.qty: 2 documents cannot be converted from string to integer.*${bad}`)]);
  t.equal((await stored(app, 'product', a))!._version, 1, 'a refused apply writes nothing, in any type');
  t.equal((await stored(app, 'gadget', ok))!.qty, '5');

  // fix the two entries through the server still running on the old files, then apply
  t.equal((await call(app, 'PATCH', `/api/content/gadget/${bad}`, { qty: '12' })).status, 200);
  t.equal((await call(app, 'PATCH', `/api/content/gadget/${padded}`, { qty: '7' })).status, 200);
  const applied = await cms(app, dir, ['migrate', 'apply', '--json']);
  t.equal(applied.code, 0, applied.out);
  t.equal(applied.json.migrated, 7);

  t.same(userOnly(await stored(app, 'product', a)), { qty: 12, sku: '7', tag: ['red'], colors: 'blue' });
  t.same(userOnly(await stored(app, 'product', b)), { qty: 3, sku: '8', tag: ['x'] }, 'an empty array becomes no value');
  t.same(userOnly(await stored(app, 'gadget', bad)), { qty: 12 });
  // the edited note: the draft and its older snapshot are both converted; the snapshot keeps its version
  const draft = await stored(app, 'note', changedNote);
  const snapshot = await stored(app, 'note', changedNote, 'published');
  t.match(draft, { count: 2, _version: 4, _status: 'changed' });
  t.match(snapshot, { count: 1, _version: 2 });
  const live = await stored(app, 'note', liveNote);
  t.match(live, { count: 5, _version: 3, _status: 'published' });
  t.match(await stored(app, 'note', liveNote, 'published'), { count: 5, _version: 3 });
  const now = await reopen(t, app, dir);
  t.equal((await call(now, 'GET', `/api/content/note/${changedNote}`)).body.data.count, 1, 'readers see the converted published value');
  t.equal((await cms(app, dir, ['check'])).code, 0);
});

t.test('removed fields are kept unless --drop', async (t) => {
  const dir = await typesDir(t, { thing: type({ name: { type: 'string' }, notes: { type: 'string' } }, ['name']) });
  const app = await buildTestApp(t, { contentTypesDir: dir });
  const withNotes = [await create(app, 'thing', { name: 'a', notes: 'x' }), await create(app, 'thing', { name: 'b', notes: 'y' })];
  const plain = await create(app, 'thing', { name: 'c' });

  await writeTypes(dir, { thing: type({ name: { type: 'string' } }, ['name']) });
  const plan = await cms(app, dir, ['migrate', 'plan', '--json']);
  t.equal(plan.code, 1);
  t.match(plan.json.plan.types[0].steps, [{ kind: 'remove', field: 'notes', count: 2, action: 'keep' }]);
  t.match(plan.json.plan.refusals, [/notes: 2 documents hold this field.*--drop/]);
  t.match((await cms(app, dir, ['migrate', 'plan'])).out, /keep\s+notes .*fail validation until migrated with --drop/);

  const refused = await cms(app, dir, ['migrate', 'apply']);
  t.equal(refused.code, 3, 'no data is dropped without --drop');
  for (const id of withNotes) t.equal((await stored(app, 'thing', id))!.notes !== undefined, true);

  const dropPlan = await cms(app, dir, ['migrate', 'plan', '--drop', '--json']);
  t.equal(dropPlan.code, 0);
  t.match(dropPlan.json.plan.types[0].steps, [{ kind: 'remove', field: 'notes', count: 2, action: 'drop' }]);
  const applied = await cms(app, dir, ['migrate', 'apply', '--drop', '--json']);
  t.equal(applied.code, 0, applied.out);
  t.equal(applied.json.migrated, 2);
  for (const id of withNotes) {
    const doc = await stored(app, 'thing', id);
    t.notOk('notes' in doc!);
    t.equal(doc!._version, 2);
    t.equal((await versionsOf(app, 'thing', id))[0]!.doc.notes !== undefined, true, 'the old version keeps the value');
  }
  t.equal((await stored(app, 'thing', plain))!._version, 1, 'an entry without the field is not touched');
});

t.test('_media follows the migrated fields: a dropped media field no longer counts as a use', async (t) => {
  const media = { type: 'string', 'x-cms': { media: { accept: ['image/*'] } } };
  const dir = await typesDir(t, { card: type({ name: { type: 'string' }, cover: media, icon: media }, ['name']) });
  const app = await buildTestApp(t, { contentTypesDir: dir });
  const [cover, icon] = ['aaaaaaaaaaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbbbbbbbbbb'];
  const at = new Date().toISOString();
  const id = 'cccccccccccccccccccccccc';
  // as a write stores it: `_media` holds the ids of the media fields
  await app.mongo.db.collection<Json>('content_card').insertOne({ _id: id, _type: 'card', _version: 1, _createdAt: at, _updatedAt: at, name: 'a', cover, icon, _media: [cover, icon] } as Json);
  await writeTypes(dir, { card: type({ name: { type: 'string' }, icon: media }, ['name']) });
  const applied = await cms(app, dir, ['migrate', 'apply', '--drop', '--json']);
  t.equal(applied.code, 0, applied.out);
  t.match(await stored(app, 'card', id), { _version: 2, icon, _media: [icon] });
  t.notOk('cover' in (await stored(app, 'card', id))!);

  await writeTypes(dir, { card: type({ name: { type: 'string' } }, ['name']) });
  t.equal((await cms(app, dir, ['migrate', 'apply', '--drop'])).code, 0);
  t.notOk('_media' in (await stored(app, 'card', id))!, 'a type without media fields keeps no _media');
});

t.test('an apply killed midway resumes, migrating each entry exactly once; a second apply is a no-op', async (t) => {
  const dir = await typesDir(t, { post: type({ name: { type: 'string' } }, ['name']) });
  const app = await buildTestApp(t, { contentTypesDir: dir });
  // the same entries in a second database, migrated without interruption, to compare with
  const other = await buildTestApp(t, { contentTypesDir: dir });
  const ids: string[] = [];
  const otherIds: string[] = [];
  for (let i = 0; i < 7; i++) {
    ids.push(await create(app, 'post', { name: `P${i}` }));
    otherIds.push(await create(other, 'post', { name: `P${i}` }));
  }
  await writeTypes(dir, { post: type({ title: { type: 'string', 'x-cms': { renamedFrom: 'name' } } }, ['title']) });
  t.equal((await cms(other, dir, ['migrate', 'apply'])).code, 0);

  const registry = await loadContentTypes(dir);
  const locales = parseLocales('en');
  // killed after 4 entries, while the 5th had its version claimed but not written
  const killed = await applyMigration(app.mongo.db, registry, { locales, batchSize: 3, stopAfter: 4, stopMidEntry: true }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(killed instanceof MigrationInterrupted, String(killed));
  t.equal((killed as MigrationInterrupted).migrated, 4);
  t.match(await app.mongo.db.collection('migrations').findOne({}), { state: 'running' });
  const half = await Promise.all(ids.map((id) => stored(app, 'post', id)));
  t.equal(half.filter((d) => d!.title !== undefined).length, 4);

  const resumed = await cms(app, dir, ['migrate', 'apply', '--json', '--batch-size', '3']);
  t.equal(resumed.code, 0, resumed.out);
  t.equal(resumed.json.resumed, true);

  for (const [i, id] of ids.entries()) {
    const doc = await stored(app, 'post', id);
    t.same(userOnly(doc), { title: `P${i}` });
    t.equal(doc!._version, 2, 'one new version per entry');
    t.same((await versionsOf(app, 'post', id)).map((r) => r.action), ['create', 'migrate']);
  }
  t.equal(await app.mongo.db.collection('changes').countDocuments({ action: 'migrate' }), 7, 'each migration is in the change log once');
  const state = async (a: FastifyInstance, list: string[]) =>
    Promise.all(list.map(async (id) => ({ doc: userOnly(await stored(a, 'post', id)), version: (await stored(a, 'post', id))!._version, history: (await versionsOf(a, 'post', id)).map((r) => [r.version, r.action, userOnly(r.doc)]) })));
  t.same(await state(app, ids), await state(other, otherIds), 'the same state as an uninterrupted run');
  t.match(await app.mongo.db.collection('migrations').findOne({}), { state: 'done' });

  const revisions = await app.mongo.db.collection('revisions').countDocuments({});
  const again = await cms(app, dir, ['migrate', 'apply']);
  t.equal(again.code, 0);
  t.match(again.out, /Nothing to migrate/);
  const againJson = await cms(app, dir, ['migrate', 'apply', '--json']);
  t.equal(againJson.json.nothing, true);
  t.equal(await app.mongo.db.collection('revisions').countDocuments({}), revisions, 'a second apply writes nothing');
});

t.test('a resumed apply also migrates entries written in the old shape before its resume point', async (t) => {
  const dir = await typesDir(t, { post: type({ name: { type: 'string' } }, ['name']) });
  const app = await buildTestApp(t, { contentTypesDir: dir });
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push(await create(app, 'post', { name: `P${i}` }));
  await writeTypes(dir, { post: type({ title: { type: 'string', 'x-cms': { renamedFrom: 'name' } } }, ['title']) });
  const registry = await loadContentTypes(dir);
  await t.rejects(applyMigration(app.mongo.db, registry, { locales: parseLocales('en'), batchSize: 2, stopAfter: 2 }), MigrationInterrupted);
  // a server still on the old files rewrites an entry the interrupted run had migrated
  t.equal((await call(app, 'PUT', `/api/content/post/${ids[0]}`, { name: 'again' })).status, 200);
  const resumed = await cms(app, dir, ['migrate', 'apply', '--json', '--batch-size', '2']);
  t.equal(resumed.code, 0, resumed.out);
  t.equal(resumed.json.resumed, true);
  t.equal(resumed.json.migrated, 3);
  t.same(userOnly(await stored(app, 'post', ids[0]!)), { title: 'again' });
  t.same((await versionsOf(app, 'post', ids[0]!)).map((r) => r.action), ['create', 'migrate', 'update', 'migrate']);
  t.equal((await cms(app, dir, ['check'])).code, 0);
});

t.test('localized fields are converted per locale, and a plain value becomes the default locale\'s', async (t) => {
  const env = { LOCALES: 'en,fr' };
  const seo = (properties: Props) => ({ type: 'object', properties, additionalProperties: false });
  const dir = await typesDir(t, { label: type({ rank: { type: 'string', 'x-cms': { localized: true } }, name: { type: 'string' }, seo: seo({ t: { type: 'string' }, n: { type: 'number' } }) }) });
  const app = await buildTestApp(t, { contentTypesDir: dir, env });
  const id = await create(app, 'label', { rank: { en: '1', fr: '2' }, name: 'x', seo: { t: 'T', n: 4 } });
  await writeTypes(dir, {
    label: type({ rank: { type: 'integer', 'x-cms': { localized: true } }, name: { type: 'string', 'x-cms': { localized: true } }, seo: seo({ title: { type: 'string', 'x-cms': { renamedFrom: 't' } }, n: { type: 'string' } }) }),
  });
  const plan = await cms(app, dir, ['migrate', 'plan', '--json'], env);
  t.match(plan.json.plan.types[0].steps, [
    { kind: 'convert', field: 'rank', from: 'string', to: 'integer', count: 1 },
    { kind: 'convert', field: 'name', from: 'plain', to: 'localized', count: 1 },
    { kind: 'rename', field: 'seo.title', from: 't', count: 1 },
    { kind: 'convert', field: 'seo.n', from: 'number', to: 'string', count: 1 },
  ]);
  const applied = await cms(app, dir, ['migrate', 'apply', '--json'], env);
  t.equal(applied.code, 0, applied.out);
  t.same(userOnly(await stored(app, 'label', id)), { rank: { en: 1, fr: 2 }, name: { en: 'x' }, seo: { title: 'T', n: '4' } });

  // back to a plain field: only a value in the default locale converts without loss
  await create(await reopen(t, app, dir, env), 'label', { name: { en: 'y', fr: 'z' } });
  await writeTypes(dir, { label: type({ rank: { type: 'integer', 'x-cms': { localized: true } }, name: { type: 'string' }, seo: seo({ title: { type: 'string' }, n: { type: 'string' } }) }) });
  const back = await cms(app, dir, ['migrate', 'plan', '--json'], env);
  t.match(back.json.plan.types[0].steps, [{ kind: 'convert', field: 'name', from: 'localized', to: 'plain', count: 1 }]);
  t.match(back.json.plan.types[0].lossy, [{ field: 'name', from: 'localized', to: 'plain', count: 1, ids: [{ problems: [{ path: '/name', message: /holds values in fr besides en/ }] }] }]);
});

t.test('a localized field with no value in any locale is left alone', async (t) => {
  const dir = await typesDir(t, { tag: type({ title: { type: 'string', 'x-cms': { localized: true } }, name: { type: 'string' } }) });
  const app = await buildTestApp(t, { contentTypesDir: dir, env: { LOCALES: 'en,fr' } });
  const id = await create(app, 'tag', { title: {}, name: 'x' });
  t.same(userOnly(await stored(app, 'tag', id)), { title: {}, name: 'x' }, 'stored as written');
  t.equal((await cms(app, dir, ['check'], { LOCALES: 'en,fr' })).code, 0, 'and valid');
  // an unrelated change: the empty localized value must neither block nor change
  await writeTypes(dir, { tag: type({ title: { type: 'string', 'x-cms': { localized: true } }, label: { type: 'string', 'x-cms': { renamedFrom: 'name' } } }) });
  const plan = await cms(app, dir, ['migrate', 'plan', '--json'], { LOCALES: 'en,fr' });
  t.equal(plan.code, 0, plan.out);
  t.match(plan.json.plan.types[0], { toMigrate: 1, failing: { count: 0 }, steps: [{ kind: 'rename', field: 'label', from: 'name', count: 1 }] });
  t.equal(plan.json.plan.types[0].steps.length, 1, 'no conversion of the empty value');
  t.equal((await cms(app, dir, ['migrate', 'apply'], { LOCALES: 'en,fr' })).code, 0);
  t.same(userOnly(await stored(app, 'tag', id)), { title: {}, label: 'x' });
});

t.test('a locale no longer configured is a removed key: kept, or dropped with --drop', async (t) => {
  const dir = await typesDir(t, { tag: type({ title: { type: 'string', 'x-cms': { localized: true } } }) });
  const app = await buildTestApp(t, { contentTypesDir: dir, env: { LOCALES: 'en,fr,de' } });
  const id = await create(app, 'tag', { title: { en: 'a', fr: 'b', de: 'c' } });
  const env = { LOCALES: 'en,fr' };
  const plan = await cms(app, dir, ['migrate', 'plan', '--json'], env);
  t.equal(plan.code, 1, plan.out);
  t.same(plan.json.plan.types[0].steps, [{ kind: 'remove', field: 'title.de', count: 1, action: 'keep' }], 'not a plain value to localize');
  t.match(plan.json.plan.refusals, [/title\.de: 1 document holds this field.*--drop/]);
  t.equal((await cms(app, dir, ['migrate', 'apply'], env)).code, 3, 'no value is dropped without --drop');
  t.same(userOnly(await stored(app, 'tag', id)), { title: { en: 'a', fr: 'b', de: 'c' } });
  const applied = await cms(app, dir, ['migrate', 'apply', '--drop', '--json'], env);
  t.equal(applied.code, 0, applied.out);
  t.same(userOnly(await stored(app, 'tag', id)), { title: { en: 'a', fr: 'b' } });
  t.equal((await cms(app, dir, ['check'], env)).code, 0);
});

t.test('cms check finds a bad stored document, with its id and path', async (t) => {
  const dir = await typesDir(t, { page: type({ title: { type: 'string' } }, ['title']), memo: type({ title: { type: 'string' } }, ['title'], { drafts: true }) });
  const app = await buildTestApp(t, { contentTypesDir: dir });
  await create(app, 'page', { title: 'fine' });
  // a draft may lack required fields; a published snapshot may not
  const memo = await create(app, 'memo', {});
  const memoAt = new Date().toISOString();
  await app.mongo.db.collection<Json>('published_memo').insertOne({ _id: memo, _type: 'memo', _version: 1, _createdAt: memoAt, _updatedAt: memoAt, _status: 'published' } as Json);
  const badId = 'ffffffffffffffffffffffff';
  const at = new Date().toISOString();
  await app.mongo.db.collection<Json>('content_page').insertOne({ _id: badId, _type: 'page', _version: 1, _createdAt: at, _updatedAt: at, title: 42 } as Json);

  const text = await cms(app, dir, ['check']);
  t.equal(text.code, 1);
  t.match(text.out, /OK: 2 content types/);
  t.match(text.out, new RegExp(`FAIL page: 2 checked, 1 failing`));
  t.match(text.out, new RegExp(`${badId}: /title must be string`));
  t.match(text.out, new RegExp(`FAIL memo: 2 checked \\(content_memo: 1, published_memo: 1\\), 1 failing\n\\s+${memo} \\(published\\): /title is required`));

  const json = await cms(app, dir, ['check', '--json']);
  t.equal(json.code, 1);
  t.match(json.json, {
    ok: false,
    types: [{ id: 'memo' }, { id: 'page' }],
    issues: [],
    stored: { ok: false, checked: 4, failing: 2, sampled: false, types: [{ type: 'memo', failing: 1, offenders: [{ id: memo, view: 'published' }] }, { type: 'page', checked: 2, failing: 1, views: [{ view: 'draft', collection: 'content_page', checked: 2, failing: 1 }], offenders: [{ id: badId, view: 'draft', problems: [{ path: '/title', message: 'must be string' }] }] }] },
  });
  const filesOnly = await cms(app, dir, ['check', '--files-only', '--json']);
  t.equal(filesOnly.code, 0);
  t.equal(filesOnly.json.stored, null);
  t.equal(filesOnly.json.storedSkipped, '--files-only');

  // start-up: a warning, or no start under SCHEMA_STRICT
  await app.mongo.db.collection('published_memo').deleteOne({ _id: memo } as Json);
  const registry = await loadContentTypes(dir);
  const warned = await startupCheck(app.mongo.db, registry, { strict: false });
  t.match(warned?.message, /page: 1 of 2 sampled entries do not match.*\n.*cms migrate plan/);
  await t.rejects(startupCheck(app.mongo.db, registry, { strict: true }), SchemaMismatchError);
  await app.mongo.db.collection('content_page').deleteOne({ _id: badId } as Json);
  t.equal(await startupCheck(app.mongo.db, registry, { strict: true }), undefined, 'matching data starts');
  await app.mongo.db.collection<Json>('content_page').insertOne({ _id: badId, _type: 'page', _version: 1, _createdAt: at, _updatedAt: at, title: 42 } as Json);

  // the real server: a warning in its log, and with SCHEMA_STRICT=true no start, with the message
  const server = (strict: boolean) => {
    const child = spawn(process.execPath, ['dist/src/server.js'], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'info', MONGODB_DB: app.mongo.db.databaseName, CONTENT_TYPES_DIR: dir, SCHEMA_STRICT: String(strict), SCHEDULE_POLL_SECONDS: '0', WEBHOOK_POLL_MS: '0' },
    });
    const got = { output: '' };
    child.stdout.on('data', (d: Buffer) => (got.output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (got.output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    return { child, got, exited };
  };
  const lenient = server(false);
  const deadline = Date.now() + 60_000;
  while (!/CMS listening|cannot start/.test(lenient.got.output) && lenient.child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.match(lenient.got.output, /CMS listening/, 'without SCHEMA_STRICT the server starts');
  t.match(lenient.got.output, /"level":40.*page: 1 of 2 sampled entries do not match.*cms migrate plan/, 'and logs a warning');
  lenient.child.kill('SIGTERM');
  await lenient.exited;

  const strict = server(true);
  const code = await strict.exited;
  const output = strict.got.output;
  t.equal(code, 1, output);
  t.match(output, /The CMS cannot start/);
  t.match(output, /page: 1 of 2 sampled entries do not match/);
  t.match(output, /SCHEMA_STRICT/);
});

t.test('a killed apply’s claimed version, rolled forward by the server, migrates the older published snapshot too', async (t) => {
  const v1 = { note: type({ count: { type: 'string' } }, ['count'], { drafts: true }) };
  const v2 = { note: type({ count: { type: 'integer' } }, ['count'], { drafts: true }) };
  const dir = await typesDir(t, v1);
  const app = await buildTestApp(t, { contentTypesDir: dir });
  // published at version 2, then edited: the snapshot is older than the draft
  const id = await create(app, 'note', { count: '1' });
  t.equal((await call(app, 'POST', `/api/content/note/${id}/publish`)).status, 200);
  t.equal((await call(app, 'PATCH', `/api/content/note/${id}`, { count: '2' })).status, 200);

  await writeTypes(dir, v2);
  const registry = await loadContentTypes(dir);
  // killed with the version claimed but nothing written; dated back, so the server's sweep takes it up
  const killed = await applyMigration(app.mongo.db, registry, { locales: parseLocales('en'), stopAfter: 0, stopMidEntry: true, now: () => new Date(Date.now() - 120_000) }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(killed instanceof MigrationInterrupted, String(killed));
  t.match(await stored(app, 'note', id), { count: '2', _version: 3 }, 'nothing written yet');
  t.match((await versionsOf(app, 'note', id)).at(-1), { version: 4, action: 'migrate', logged: false });

  t.equal(await app.entries.repairLog(), 1, 'the sweep rolls the claim forward');
  const draft = await stored(app, 'note', id);
  const snapshot = await stored(app, 'note', id, 'published');
  t.strictSame([draft!.count, draft!._version, draft!._status], [2, 4, 'changed']);
  t.strictSame([snapshot!.count, snapshot!._version], [1, 2], 'the snapshot is migrated where it stands');
  t.equal(await app.mongo.db.collection('changes').countDocuments({ action: 'migrate', id }), 1);

  const again = await cms(app, dir, ['migrate', 'apply', '--json']);
  t.equal(again.code, 0, again.out);
  t.equal(again.json.nothing, true, 'nothing is left to migrate');
  t.equal((await cms(app, dir, ['check'])).code, 0);
});
