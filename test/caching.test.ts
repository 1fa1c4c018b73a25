// HTTP caching of the delivery API: strong ETags and If-None-Match (304), Cache-Control from
// x-cms.cache for anonymous readers and private,no-store for everyone else, Vary, Surrogate-Key, and
// the in-process cache of public responses: hits skip the database, memory is bounded, drafts and
// authenticated answers are never kept, and invalidation from the change log reaches every process.
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import t from 'tap';
import { DeliveryCache, type CachedResponse } from '../src/services/delivery-cache.js';
import { cacheKey } from '../src/plugins/cache.js';
import type { Change, ChangeLog } from '../src/storage/changes.js';
import { buildTestApp, call, EXAMPLE_TYPES, send, signIn, tokenFor, type Json, type Res } from './helpers.js';

type Headers = Record<string, string>;

// content types as shipped, except that posts may be kept by caches for a minute
const dir = await mkdtemp(join(tmpdir(), 'cms-caching-types-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
for (const file of await readdir(EXAMPLE_TYPES)) if (file.endsWith('.json')) await copyFile(join(EXAMPLE_TYPES, file), join(dir, file));
const postSchema = JSON.parse(await readFile(join(dir, 'post.json'), 'utf8')) as Json;
postSchema['x-cms'].cache = { maxAge: 60, staleWhileRevalidate: 30 };
await writeFile(join(dir, 'post.json'), JSON.stringify(postSchema));

// the poll is driven by hand here (local writes evict at once without it)
const app = await buildTestApp(t, { as: 'anonymous', contentTypesDir: dir, env: { DELIVERY_CACHE_POLL_MS: '0' }, mongoClientOptions: { monitorCommands: true } });
const admin = await signIn(app, 'admin');
const ANON: Headers = {};

// every command sent to the database while `recording` is on
const commands: Json[] = [];
let recording = false;
app.mongo.client.on('commandStarted', (e) => {
  if (recording) commands.push({ name: e.commandName, collection: (e.command as Json)[e.commandName] });
});
async function commandsDuring(fn: () => Promise<unknown>): Promise<Json[]> {
  commands.length = 0;
  recording = true;
  try {
    await fn();
  } finally {
    recording = false;
  }
  return [...commands];
}

const get = (url: string, headers: Headers = ANON, a: FastifyInstance = app) => send(a, 'GET', url, { headers });
const dump = (res: { status: number; body: Json }) => `${res.status} ${JSON.stringify(res.body)}`;
const sha1 = (raw: string) => `"${createHash('sha1').update(raw).digest('base64url')}"`;
const keysOf = (res: Res) => String(res.headers['surrogate-key'] ?? '').split(' ').filter(Boolean);

let n = 0;
async function author(a: FastifyInstance = app, headers: Headers = admin, extra: Json = {}): Promise<Json> {
  n++;
  const res = await call(a, 'POST', '/api/content/author', { name: `Author ${n}`, slug: `author-${n}`, email: `a${n}@example.com`, ...extra }, headers);
  if (res.status !== 201) throw new Error(`creating an author failed: ${dump(res)}`);
  return res.body.data as Json;
}

async function post(extra: Json = {}, publish = true): Promise<Json> {
  n++;
  const res = await call(app, 'POST', '/api/content/post', { title: { en: `Post ${n}` }, slug: `post-${n}`, body: { en: `Body ${n}` }, ...extra }, admin);
  if (res.status !== 201) throw new Error(`creating a post failed: ${dump(res)}`);
  if (publish) {
    const pub = await call(app, 'POST', `/api/content/post/${res.body.data._id}/publish`, undefined, admin);
    if (pub.status !== 200) throw new Error(`publishing failed: ${dump(pub)}`);
  }
  return res.body.data as Json;
}

t.test('a strong ETag of the exact bytes; If-None-Match answers 304 without a body', async (t) => {
  const a = await author();
  const url = `/api/content/author/${a._id}`;
  const first = await get(url);
  t.equal(first.status, 200, dump(first));
  const etag = String(first.headers.etag);
  t.match(etag, /^"[A-Za-z0-9_-]{27}"$/, 'a quoted base64url hash, not weak');
  t.equal(etag, sha1(first.raw), 'the hash of the body as sent');
  t.equal(first.headers['cache-control'], 'public, max-age=0, must-revalidate', 'author has no x-cms.cache: revalidate every time');
  t.match(String(first.headers.vary), /Authorization/);
  t.match(String(first.headers.vary), /Cookie/);

  const conditional = async (inm: string) => get(url, { 'if-none-match': inm });
  for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, `"a","b" , W/${etag}`, '*']) {
    const res = await conditional(inm);
    t.equal(res.status, 304, `If-None-Match: ${inm}`);
    t.equal(res.raw, '', 'no body');
    t.equal(res.headers.etag, etag, 'the same ETag');
    t.equal(res.headers['cache-control'], first.headers['cache-control'], 'the same Cache-Control');
    t.equal(res.headers['content-length'], undefined, 'no Content-Length (it would have to be the 200\'s)');
    t.equal(res.headers['content-type'], undefined, 'nor Content-Type');
    t.match(String(res.headers.vary), /Authorization, Cookie/);
  }
  for (const inm of ['"nope"', etag.slice(0, -2) + '"', 'W/"x"']) {
    const res = await conditional(inm);
    t.equal(res.status, 200, `If-None-Match: ${inm} does not match`);
    t.equal(res.raw, first.raw);
  }

  // computed afresh (nothing cached), the same bytes have the same tag, and 304 works the same way
  app.deliveryCache.clear();
  const fresh = await conditional(etag);
  t.equal(fresh.status, 304, 'a miss answers 304 too');
  t.equal(fresh.headers.etag, etag);
  t.equal(fresh.raw, '');
  t.equal(fresh.headers['content-length'], undefined);
  t.equal(fresh.headers['content-type'], undefined);
  t.equal(fresh.headers['cache-control'], 'public, max-age=0, must-revalidate');
  app.deliveryCache.clear();
  t.equal((await get(url)).headers.etag, etag, 'same bytes, same ETag');

  // HEAD: the headers of GET, no body
  const head = await send(app, 'HEAD', url);
  t.equal(head.status, 200);
  t.equal(head.raw, '');
  t.equal(head.headers.etag, etag);
  t.equal(head.headers['content-length'], String(Buffer.byteLength(first.raw)), 'the length GET would send');
  t.equal(head.headers['cache-control'], 'public, max-age=0, must-revalidate');
  const head304 = await send(app, 'HEAD', url, { headers: { 'if-none-match': etag } });
  t.equal(head304.status, 304);
  t.equal(head304.raw, '');

  // a write changes the bytes, so the tag
  const patched = await call(app, 'PATCH', url, { bio: 'Now with a bio' }, admin);
  t.equal(patched.status, 200, dump(patched));
  const after = await conditional(etag);
  t.equal(after.status, 200, 'the old tag no longer matches');
  t.equal(after.body.data.bio, 'Now with a bio');
  t.not(after.headers.etag, etag);
  t.equal(after.headers.etag, sha1(after.raw));

  // lists too
  const list = await get('/api/content/author?sort=slug');
  t.equal(list.status, 200);
  t.equal(list.headers.etag, sha1(list.raw));
  t.equal((await get('/api/content/author?sort=slug', { 'if-none-match': String(list.headers.etag) })).status, 304);
  // errors carry no ETag
  const missing = await get('/api/content/author/0123456789abcdef01234567');
  t.equal(missing.status, 404);
  t.notOk(missing.headers.etag);
});

t.test('Cache-Control: x-cms.cache for anonymous readers, private,no-store for everyone else', async (t) => {
  const p = await post();
  for (const url of ['/api/content/post', `/api/content/post/${p._id}`]) {
    const res = await get(url);
    t.equal(res.status, 200, dump(res));
    t.equal(res.headers['cache-control'], 'public, max-age=60, stale-while-revalidate=30', `${url}: from post's x-cms.cache`);
    const signedIn = await get(url, admin);
    t.equal(signedIn.status, 200);
    t.equal(signedIn.headers['cache-control'], 'private, no-store', `${url}: a signed-in answer is never shared`);
    t.ok(signedIn.headers.etag, 'but it has an ETag');
    t.equal((await get(url, { ...admin, 'if-none-match': String(signedIn.headers.etag) })).status, 304, 'and revalidates');
    const token = await tokenFor(app, ['content:read']);
    t.equal((await get(url, token)).headers['cache-control'], 'private, no-store', `${url}: a token's answer neither`);
  }
  const settings = await call(app, 'PUT', '/api/content/site-settings', { siteName: 'Cached' }, admin);
  t.equal(settings.status, 201, dump(settings));
  t.equal((await get('/api/content/site-settings')).headers['cache-control'], 'public, max-age=0, must-revalidate');
});

t.test('authenticated answers are never kept, nor served to others', async (t) => {
  const a = await author();
  const url = `/api/content/author/${a._id}`;
  const before = app.deliveryCache.counters().stored;
  const mine = await get(url, admin);
  t.equal(mine.body.data.email, a.email, 'the admin sees the private field');
  t.equal(app.deliveryCache.counters().stored, before, 'nothing stored');
  const anon = await get(url);
  t.notOk('email' in anon.body.data, 'the public does not');
  t.equal(app.deliveryCache.counters().stored, before + 1, 'the anonymous answer is stored');
  const again = await get(url, admin);
  t.equal(again.body.data.email, a.email, 'an admin after it is not served the public copy');
  t.equal(again.headers['cache-control'], 'private, no-store');
  t.not(again.headers.etag, anon.headers.etag, 'different bytes, different tags');
});

t.test('Surrogate-Key names the type and every entry returned', async (t) => {
  const writer = await author();
  const p1 = await post({ author: writer._id });
  const p2 = await post();
  const list = await get('/api/content/post?limit=100');
  t.equal(list.status, 200);
  const keys = keysOf(list);
  t.ok(keys.includes('type:post'), 'the type');
  for (const e of list.body.data as Json[]) t.ok(keys.includes(`post:${e._id}`), `entry ${e._id}`);
  t.ok(keys.includes(`post:${p1._id}`) && keys.includes(`post:${p2._id}`));

  const one = await get(`/api/content/post/${p1._id}`);
  t.same(keysOf(one), [`post:${p1._id}`], 'one entry: its own key (its type key is for lists)');

  const populated = await get(`/api/content/post/${p1._id}?populate=author`);
  t.equal(populated.status, 200, dump(populated));
  t.equal(populated.body.data.author._id, writer._id);
  const pk = keysOf(populated);
  t.ok(pk.includes(`post:${p1._id}`));
  t.ok(pk.includes(`author:${writer._id}`), 'the populated author');
  t.ok(pk.includes('type:author'), 'and any author (a reference may resolve to nothing)');

  t.equal((await call(app, 'PUT', '/api/content/site-settings', { siteName: 'Keys' }, admin)).status, 200);
  t.same(keysOf(await get('/api/content/site-settings')).sort(), ['site-settings:site-settings', 'type:site-settings']);

  // a populated author changes: the post that shows it is evicted
  const before = await get(`/api/content/post/${p1._id}?populate=author`);
  t.equal(before.headers.etag, populated.headers.etag, 'served from the cache');
  t.equal((await call(app, 'PATCH', `/api/content/author/${writer._id}`, { name: 'Renamed' }, admin)).status, 200);
  const after = await get(`/api/content/post/${p1._id}?populate=author`);
  t.equal(after.body.data.author.name, 'Renamed', 'the new name, not the cached one');
});

t.test('a cache hit does not touch the database', async (t) => {
  await post();
  const url = '/api/content/post?sort=-_createdAt&limit=5';
  const miss = await commandsDuring(() => get(url));
  t.ok(miss.some((c) => c.name === 'find' && c.collection === 'published_post'), `a miss reads the published posts (${JSON.stringify(miss)})`);
  const hits = app.deliveryCache.counters().hits;
  const hit = await commandsDuring(async () => {
    const res = await get(url);
    t.equal(res.status, 200);
  });
  t.same(hit, [], 'a hit sends no command at all');
  t.equal(app.deliveryCache.counters().hits, hits + 1);
  // the same query, spelled differently, is the same response
  const reordered = await commandsDuring(() => get('/api/content/post?limit=5&sort=-_createdAt'));
  t.same(reordered, [], 'query parameters in another order hit too');
  const head = await commandsDuring(() => send(app, 'HEAD', url));
  t.same(head, [], 'HEAD is answered from the same entry');
});

t.test('drafts are never cached nor served publicly', async (t) => {
  const p = await post({ title: { en: 'Published title' } });
  const url = `/api/content/post/${p._id}`;
  const listUrl = '/api/content/post?limit=100';
  const shown = await get(url);
  t.equal(shown.body.data.title, 'Published title');
  const listed = await get(listUrl);

  // a draft save is not what readers see: the cached answers stay (and stay right)
  const stored = app.deliveryCache.counters().evicted;
  t.equal((await call(app, 'PATCH', url, { title: { en: 'Draft title' } }, admin)).status, 200);
  t.equal(app.deliveryCache.counters().evicted, stored, 'a draft save evicts nothing');
  t.equal((await get(url)).body.data.title, 'Published title');
  t.equal((await get(listUrl)).headers.etag, listed.headers.etag);

  // previews: signed in, never stored
  const before = app.deliveryCache.counters().stored;
  const preview = await get(`${url}?preview=true`, admin);
  t.equal(preview.body.data.title, 'Draft title');
  t.equal(preview.headers['cache-control'], 'private, no-store');
  const anonPreview = await get(`${url}?preview=true`);
  t.ok(anonPreview.status === 401 || anonPreview.status === 403, `anonymous preview is refused (${anonPreview.status})`);
  t.notOk(anonPreview.headers.etag);
  const link = await call(app, 'POST', `${url}/preview`, undefined, admin);
  t.equal(link.status, 201, dump(link));
  const pt = { authorization: `Bearer ${link.body.data.token as string}` };
  const viaToken = await get(`${url}?preview=true`, pt);
  t.equal(viaToken.body.data.title, 'Draft title');
  t.equal(viaToken.headers['cache-control'], 'private, no-store');
  t.equal((await get(url, pt)).headers['cache-control'], 'private, no-store', 'a preview token reading the public view: not shared either');
  t.equal(app.deliveryCache.counters().stored, before, 'none of them was stored');
  t.equal((await get(url)).body.data.title, 'Published title', 'the public still sees the published version');

  // an entry never published is not found publicly, and a 404 is not kept
  const d = await post({}, false);
  t.equal((await get(`/api/content/post/${d._id}`)).status, 404);
  t.equal((await get(`/api/content/post/${d._id}`, admin)).status, 404, 'nor for the admin without preview');
  t.equal((await call(app, 'POST', `/api/content/post/${d._id}/publish`, undefined, admin)).status, 200);
  t.equal((await get(`/api/content/post/${d._id}`)).status, 200, 'published: found at once');

  // publishing evicts: the new title, in the entry and in lists
  t.equal((await call(app, 'POST', `${url}/publish`, undefined, admin)).status, 200);
  t.equal((await get(url)).body.data.title, 'Draft title', 'published: the entry');
  const relisted = await get(listUrl);
  t.ok((relisted.body.data as Json[]).some((e) => e._id === p._id && e.title === 'Draft title'), 'and the list');
  // unpublishing takes it off at once
  t.equal((await call(app, 'POST', `${url}/unpublish`, undefined, admin)).status, 200);
  t.equal((await get(url)).status, 404);
  t.notOk((await get(listUrl)).body.data.some((e: Json) => e._id === p._id));
});

t.test('a response computed before an invalidation is not stored after it', async (t) => {
  const a = await author();
  const url = `/api/content/author/${a._id}`;
  // while the GET reads the database, another process's change of an author arrives (as a poll applies it)
  let armed = true;
  const onCommand = (e: { commandName: string; command: Json }) => {
    if (armed && e.commandName === 'find' && e.command.find === 'content_author') {
      armed = false;
      app.deliveryCache.invalidate(['type:author', 'author:0123456789abcdef01234567'], ['author']);
    }
  };
  app.mongo.client.on('commandStarted', onCommand);
  t.teardown(() => void app.mongo.client.off('commandStarted', onCommand));
  const refused = app.deliveryCache.counters().refused;
  const res = await get(url);
  t.equal(res.status, 200);
  t.notOk(armed, 'the invalidation came while computing');
  t.equal(app.deliveryCache.counters().refused, refused + 1, 'the response was refused by the cache');
  const next = await commandsDuring(() => get(url));
  t.ok(next.some((c) => c.name === 'find'), 'so the next request reads the database');
  const third = await commandsDuring(() => get(url));
  t.same(third, [], 'which is stored: no invalidation came in between');

  // an invalidation of another type does not refuse an author
  armed = true;
  app.mongo.client.off('commandStarted', onCommand);
  const other = (e: { commandName: string; command: Json }) => {
    if (armed && e.commandName === 'find' && e.command.find === 'content_author') {
      armed = false;
      app.deliveryCache.invalidate(['type:category'], ['category']);
    }
  };
  app.mongo.client.on('commandStarted', other);
  t.teardown(() => void app.mongo.client.off('commandStarted', other));
  const b = await author();
  const stored = app.deliveryCache.counters().stored;
  await get(`/api/content/author/${b._id}`);
  t.notOk(armed);
  t.equal(app.deliveryCache.counters().stored, stored + 1, 'stored: what changed was a category');
});

t.test('media: populated media carry media:<id>, and an edit of it evicts', async (t) => {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#3366ff' } }).png().toBuffer();
  const boundary = '----cachingtest';
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="alt"\r\n\r\nBlue\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="blue.png"\r\nContent-Type: image/png\r\n\r\n`),
    png,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const up = await send(app, 'POST', '/api/media', { headers: { ...admin, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
  t.equal(up.status, 201, up.raw);
  const media = (Array.isArray(up.body.data) ? up.body.data[0] : up.body.data) as Json;
  const p = await post({ cover: media._id });
  const url = `/api/content/post/${p._id}?populate=cover`;
  const first = await get(url);
  t.equal(first.status, 200, dump(first));
  t.equal(first.body.data.cover.alt, 'Blue');
  t.ok(keysOf(first).includes(`media:${media._id}`), `media key (${String(first.headers['surrogate-key'])})`);
  t.equal((await get(url)).headers.etag, first.headers.etag);
  const edit = await call(app, 'PATCH', `/api/media/${media._id}`, { alt: 'Still blue' }, admin);
  t.equal(edit.status, 200, dump(edit));
  const after = await get(url);
  t.equal(after.body.data.cover.alt, 'Still blue', 'the edit is seen at once');
  t.not(after.headers.etag, first.headers.etag);
});

t.test('memory is bounded: DELIVERY_CACHE_BYTES', async (t) => {
  const small = await buildTestApp(t, { as: 'anonymous', env: { DELIVERY_CACHE_BYTES: '4000', DELIVERY_CACHE_POLL_MS: '0' } });
  const boss = await signIn(small, 'admin');
  const made: Json[] = [];
  for (let i = 0; i < 12; i++) made.push(await author(small, boss, { bio: 'x'.repeat(200) }));
  for (const a of made) t.equal((await get(`/api/content/author/${a._id}`, ANON, small)).status, 200);
  const size = small.deliveryCache.size;
  t.ok(size.bytes <= 4000, `at most 4000 bytes held (${size.bytes})`);
  t.ok(size.entries > 0 && size.entries < made.length, `some kept, the oldest evicted (${size.entries} of ${made.length})`);
  const evicted = small.deliveryCache.counters().evicted;
  t.ok(evicted > 0, 'evictions counted');
  const misses = small.deliveryCache.counters().misses;
  t.equal((await get(`/api/content/author/${made[0]!._id}`, ANON, small)).status, 200, 'an evicted response is computed again');
  t.equal(small.deliveryCache.counters().misses, misses + 1, 'a miss');
  // a response larger than the whole cache is served, not stored
  const big = await get('/api/content/author?limit=100', ANON, small);
  t.equal(big.status, 200);
  t.ok(Buffer.byteLength(big.raw) > 4000);
  t.ok(small.deliveryCache.size.bytes <= 4000);

  const off = await buildTestApp(t, { as: 'anonymous', env: { DELIVERY_CACHE_BYTES: '0', DELIVERY_CACHE_POLL_MS: '0' } });
  const offAdmin = await signIn(off, 'admin');
  const a = await author(off, offAdmin);
  t.notOk(off.deliveryCache.enabled, '0 turns the cache off');
  const res = await get(`/api/content/author/${a._id}`, ANON, off);
  t.equal(res.headers.etag, sha1(res.raw), 'ETags still');
  t.equal((await get(`/api/content/author/${a._id}`, { 'if-none-match': String(res.headers.etag) }, off)).status, 304, 'and 304s');
  t.equal(off.deliveryCache.size.entries, 0);
});

t.test('three processes on one database: a write through one is seen through the others', async (t) => {
  const db = `t_caching_shared_${process.pid}_${Date.now().toString(36)}`;
  const manual = { as: 'anonymous' as const, env: { MONGODB_DB: db, DELIVERY_CACHE_POLL_MS: '0' }, mongoClientOptions: { monitorCommands: true } };
  const a = await buildTestApp(t, manual);
  const b = await buildTestApp(t, manual);
  const c = await buildTestApp(t, { as: 'anonymous', env: { MONGODB_DB: db, DELIVERY_CACHE_POLL_MS: '50' }, mongoClientOptions: { monitorCommands: true } });
  await c.ready();
  const boss = await signIn(a, 'admin');
  const writer = await author(a, boss, { bio: 'one' });
  const url = `/api/content/author/${writer._id}`;
  const list = '/api/content/author?limit=100';
  for (const x of [b, c]) {
    // caught up with the creation, so what is read now is kept
    await x.deliveryCache.poll();
    t.equal((await get(url, ANON, x)).body.data.bio, 'one');
    await get(list, ANON, x);
    const reads = await commandsDuringOn(x, async () => {
      await get(url, ANON, x);
      await get(list, ANON, x);
    });
    t.same(reads, [], 'the entry and the list are answered from the cache');
  }

  t.equal((await call(a, 'PATCH', url, { bio: 'two' }, boss)).status, 200);
  t.equal((await get(url, ANON, a)).body.data.bio, 'two', 'A, which wrote, sees it at once');

  // B: the poll, driven by hand, reads the change and evicts
  const read = await b.deliveryCache.poll();
  t.ok(read >= 1, `B read the change (${read})`);
  t.equal((await get(url, ANON, b)).body.data.bio, 'two', 'B after its poll');
  t.ok((await get(list, ANON, b)).body.data.some((e: Json) => e._id === writer._id && e.bio === 'two'), 'and its list');
  t.equal(b.deliveryCache.position, await a.changes.head(), 'B is at the end of the log');

  // C: its own loop, within a second (C holds both answers: only an eviction shows the write)
  const fresh = async () => {
    const [one, all] = [await get(url, ANON, c), await get(list, ANON, c)];
    return one.body.data.bio === 'two' && (all.body.data as Json[]).some((e) => e._id === writer._id && e.bio === 'two');
  };
  const started = Date.now();
  let seen = false;
  while (!seen && Date.now() - started < 2000) {
    seen = await fresh();
    if (!seen) await new Promise((r) => setTimeout(r, 20));
  }
  const took = Date.now() - started;
  t.ok(seen, 'C sees the write, in the entry and in the list');
  t.ok(took < 1000, `within a second (${took} ms)`);

  // a delete through B: A, which does not poll by itself, polls by hand
  await get(url, ANON, a);
  const bossB = await signIn(b, 'admin');
  t.equal((await call(b, 'DELETE', url, undefined, bossB)).status, 204);
  t.equal((await get(url, ANON, a)).status, 200, 'A still holds the old answer until it polls');
  await a.deliveryCache.poll();
  t.equal((await get(url, ANON, a)).status, 404, 'then the entry is gone');
});

/** Commands `x` sends while `fn` runs, but for its reads of the change log (for apps other than the main one). */
async function commandsDuringOn(x: FastifyInstance, fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const listen = (e: { commandName: string; command: Json }) => {
    const on = String(e.command[e.commandName]);
    if (on !== 'changes' && on !== 'change_head') seen.push(`${e.commandName} ${on}`);
  };
  x.mongo.client.on('commandStarted', listen);
  try {
    await fn();
  } finally {
    x.mongo.client.off('commandStarted', listen);
  }
  return seen;
}

t.test('the cache on its own: catching up in batches, gaps, failed polls, stale stores', async (t) => {
  // a change log in memory
  const log: Change[] = [];
  const record = (i: number, over: Partial<Change> = {}): Change => ({ _id: i, at: '', kind: 'entry', type: 'post', id: `p${i}`, action: 'update', locales: ['*'], public: true, ...over });
  let failing = false;
  const probes: number[] = [];
  let batches = 0;
  const changes = {
    head: async () => log.length,
    since: async (seq: number, limit: number) => {
      batches++;
      return log.filter((c) => c._id > seq).slice(0, limit);
    },
  } as unknown as ChangeLog;
  const cache = new DeliveryCache(changes, {
    maxBytes: 1 << 20,
    pollMs: 1000,
    head: async () => log.at(-1)?._id ?? 0,
    probe: async (seq) => {
      if (failing) throw new Error('database down');
      probes.push(seq);
      return log.find((c) => c._id === seq) ?? null;
    },
  });
  await cache.init();
  const entry = (keys: string[]): CachedResponse => ({ body: Buffer.from('{}'), etag: '"x"', contentType: 'application/json', cacheControl: 'public, max-age=0, must-revalidate', surrogateKey: keys.join(' '), keys });
  const put = (key: string, keys: string[], groups = ['post']) => cache.store(key, entry(keys), groups, cache.now());

  t.ok(put('list', ['type:post', 'post:p1']));
  t.ok(put('one', ['post:p7']));
  t.ok(put('author', ['author:a1'], ['author']));
  // 100 records: probed one by one up to a point, then read in batches
  for (let i = 1; i <= 100; i++) log.push(record(i, i === 7 ? {} : { public: i % 2 === 0, id: `x${i}` }));
  t.equal(await cache.poll(), 100, 'every record read');
  t.equal(cache.position, 100);
  t.ok(batches >= 1, 'far behind: read in batches');
  t.ok(probes.length <= 40, `not one lookup per record (${probes.length})`);
  t.notOk(cache.get('list'), 'a public change of a post evicts its lists');
  t.notOk(cache.get('one'), 'and the entry it names');
  t.ok(cache.get('author'), 'not another type');
  probes.length = 0;
  batches = 0;
  t.equal(await cache.poll(), 0, 'nothing new');
  t.same(probes, [101], 'one lookup while nothing is new');
  t.equal(batches, 0);

  // private changes (a draft saved) evict nothing
  t.ok(put('one', ['post:p101']));
  log.push(record(101, { id: 'p101', public: false }));
  await cache.poll();
  t.ok(cache.get('one'), 'a draft save evicts nothing');

  // a write of this process evicts at once, and the poll does not evict again what was stored since
  cache.applyLocal(record(102, { id: 'p101' }), 102);
  t.notOk(cache.get('one'), 'evicted at once');
  t.ok(put('one', ['post:p101']), 'stored again, after the write');
  log.push(record(102, { id: 'p101' }));
  await cache.poll();
  t.ok(cache.get('one'), 'the poll knows this process already evicted for it');

  // a response whose computation started before an invalidation of its type is refused
  const started = cache.now();
  cache.invalidate(['post:zzz'], ['post']);
  t.notOk(cache.store('late', entry(['post:p5']), ['post'], started), 'refused');
  t.notOk(cache.get('late'));
  t.ok(cache.store('late-author', entry(['author:a2']), ['author'], started), 'another type is not');

  // a poll that fails empties the cache and says so
  failing = true;
  await t.rejects(cache.poll(), /database down/);
  t.equal(cache.size.entries, 0, 'emptied');
  t.notOk(cache.store('after', entry(['author:a3']), ['author'], started), 'and what was in flight is refused');
  failing = false;

  // a log with records missing in the middle (say, pruned): the cache cannot tell what they said
  t.ok(put('author', ['author:a1'], ['author']));
  for (let i = 103; i <= 140; i++) if (i !== 110) log.push(record(i, { type: 'category', id: `c${i}` }));
  t.equal(await cache.poll(), 37, 'read past the hole');
  t.equal(cache.position, 140);
  t.notOk(cache.get('author'), 'and everything was dropped, whatever the missing record said');
});

t.test('cache keys: parameter order does not matter, broken escapes are not cached, previews never', async (t) => {
  t.equal(cacheKey('/api/content/post?b=2&a=1'), cacheKey('/api/content/post?a=1&b=2'));
  t.not(cacheKey('/api/content/post?a=1'), cacheKey('/api/content/post?a=2'));
  t.equal(cacheKey('/api/content/post?filter[slug]=%FF'), undefined, 'a broken escape is not cached');
  t.type(cacheKey('/api/content/post?filter[slug]=%EF%BF%BD'), 'string', 'a real U+FFFD is');
  t.equal(cacheKey('/api/content/post?preview=true'), undefined);
  t.type(cacheKey('/api/content/post?preview=false'), 'string');
});
