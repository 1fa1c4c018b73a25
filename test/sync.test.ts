// The change feed (GET /api/sync), its folder client, and the build export (GET /api/export): full
// and incremental syncs presented exactly as reads are, tombstones for deletes and unpublishes, the
// types filter, preview, locales, paging, bad and expired tokens, access, a client that stays exact
// while others write concurrently, and a resumable export with hashes and populated references.
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { syncToFolder } from '../src/client/sync.js';
import { SYSTEM } from '../src/services/entries.js';
import { encodeSyncToken, SyncService } from '../src/services/sync.js';
import { EntriesRepository, type FindOptions, type View } from '../src/storage/entries.js';
import { MediaRepository } from '../src/storage/media.js';
import { buildTestApp, call, EXAMPLE_TYPES, signIn, tokenFor, type Json } from './helpers.js';

type Headers = Record<string, string>;

// the example types, plus `memo`: not public, so anonymous clients read none of it
const typesDir = await mkdtemp(join(tmpdir(), 'cms-sync-types-'));
t.teardown(() => rm(typesDir, { recursive: true, force: true }));
for (const file of await readdir(EXAMPLE_TYPES)) if (file.endsWith('.json')) await copyFile(join(EXAMPLE_TYPES, file), join(typesDir, file));
await writeFile(
  join(typesDir, 'memo.json'),
  JSON.stringify({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Memo',
    type: 'object',
    'x-cms': { displayField: 'title' },
    properties: { title: { type: 'string', minLength: 1 } },
    required: ['title'],
    additionalProperties: false,
  }),
);

// small list pages, so full syncs and exports go through several batches
const app = await buildTestApp(t, {
  as: 'anonymous',
  contentTypesDir: typesDir,
  env: { LOCALES: 'en,fr', LIST_MAX_LIMIT: '3', LIST_DEFAULT_LIMIT: '3' },
});
const admin = await signIn(app, 'admin');
const ANON: Headers = {};

const dump = (res: { status: number; body: Json }) => `${res.status} ${JSON.stringify(res.body)}`;
const req = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown, headers: Headers = admin) => call(app, method, url, body, headers);

async function ok(method: 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, body?: unknown): Promise<Json> {
  const res = await req(method, url, body);
  if (res.status >= 300) throw new Error(`${method} ${url} failed: ${dump(res)}`);
  return res.body.data as Json;
}

let n = 0;
const newPost = async (extra: Json = {}) => {
  n++;
  return ok('POST', '/api/content/post', { title: { en: `Post ${n}`, fr: `Billet ${n}` }, slug: `post-${n}`, body: { en: `Body ${n}` }, reviewNotes: 'secret', ...extra });
};
const newAuthor = async () => {
  n++;
  return ok('POST', '/api/content/author', { name: `Author ${n}`, slug: `author-${n}`, email: `a${n}@example.com` });
};
const publish = (id: string) => ok('POST', `/api/content/post/${id}/publish`);

interface Ndjson {
  status: number;
  type: string;
  cache: string;
  lines: Json[];
  body: Json;
}

async function raw(url: string, headers: Headers): Promise<Ndjson> {
  const res = await app.inject({ method: 'GET', url, headers });
  const text = res.body;
  const isJson = String(res.headers['content-type'] ?? '').startsWith('application/json');
  return {
    status: res.statusCode,
    type: String(res.headers['content-type'] ?? ''),
    cache: String(res.headers['cache-control'] ?? ''),
    lines: isJson ? [] : text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json),
    body: isJson ? (JSON.parse(text) as Json) : {},
  };
}

const qs = (params: Record<string, string | undefined>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
};

/** One sync request; throws unless it answered NDJSON ending with an end line. */
async function syncPage(headers: Headers, params: Record<string, string | undefined> = {}): Promise<{ lines: Json[]; end: Json }> {
  const res = await raw(`/api/sync${qs(params)}`, headers);
  if (res.status !== 200) throw new Error(`sync failed: ${res.status} ${JSON.stringify(res.body)}`);
  const end = res.lines[res.lines.length - 1];
  if (end?.op !== 'end') throw new Error('no end line');
  return { lines: res.lines.slice(0, -1), end };
}

/** A client: a map of `<type>:<id>` (or `media:<id>`) to what the feed said, and its token. */
class Client {
  readonly map = new Map<string, Json>();
  token: string | undefined;
  constructor(
    readonly headers: Headers,
    readonly params: Record<string, string | undefined> = {},
  ) {}

  async sync(): Promise<number> {
    let pages = 0;
    for (;;) {
      const { lines, end } = await syncPage(this.headers, { ...this.params, token: this.token });
      pages++;
      for (const l of lines) {
        const key = l.kind === 'media' ? `media:${l.id}` : `${l.type}:${l.id}`;
        if (l.op === 'upsert') this.map.set(key, l.kind === 'media' ? l.media : l.entry);
        else if (l.op === 'delete') this.map.delete(key);
        else throw new Error(`unknown line ${JSON.stringify(l)}`);
      }
      this.token = end.token;
      if (!end.more) return pages;
    }
  }

  entries(): Map<string, Json> {
    return new Map([...this.map].filter(([k]) => !k.startsWith('media:')));
  }
}

/** Every entry of these types as the list API gives it to `headers`, keyed like the client's map. */
async function serverState(types: string[], headers: Headers = ANON, extra = ''): Promise<Map<string, Json>> {
  const out = new Map<string, Json>();
  for (const type of types) {
    let cursor: string | undefined;
    do {
      const res = await req('GET', `/api/content/${type}?limit=3${extra}${cursor ? `&cursor=${cursor}` : ''}`, undefined, headers);
      if (res.status !== 200) throw new Error(`listing ${type} failed: ${dump(res)}`);
      for (const e of res.body.data as Json[]) out.set(`${type}:${e._id}`, e);
      cursor = res.body.meta.nextCursor ?? undefined;
    } while (cursor);
  }
  return out;
}

const sorted = (m: Map<string, Json>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));

t.test('full sync: published entries of readable types, presented exactly as reads present them', async (t) => {
  const author = await newAuthor();
  const live = await newPost({ author: author._id });
  const liveN = n;
  await publish(live._id);
  const draft = await newPost();
  await ok('POST', '/api/content/memo', { title: 'internal' });
  const res = await raw('/api/sync', ANON);
  t.equal(res.status, 200);
  t.match(res.type, /^application\/x-ndjson/);
  t.equal(res.cache, 'no-store', 'a feed is never cached');
  const end = res.lines[res.lines.length - 1]!;
  t.match(end, { op: 'end', more: false });
  t.type(end.token, 'string');
  const lines = res.lines.slice(0, -1);
  t.ok(lines.every((l) => l.op === 'upsert' && l.type !== 'memo'), 'anonymous clients get no memo');
  t.notOk(lines.some((l) => l.id === draft._id), 'a draft that was never published is not delivered');
  t.notOk(lines.some((l) => l.kind === 'media'), 'anonymous clients get no media library');
  const post = lines.find((l) => l.id === live._id)!;
  const read = await req('GET', `/api/content/post/${live._id}`, undefined, ANON);
  t.same(post.entry, read.body.data, 'the entry as GET presents it to this caller');
  t.notOk('reviewNotes' in post.entry, 'private fields are redacted');
  t.notOk('_media' in post.entry);
  t.equal(post.entry.title, `Post ${liveN}`, 'localized fields flattened to the default locale');
  t.equal(post.entry._locale, 'en');
  const authorLine = lines.find((l) => l.id === author._id)!;
  t.notOk('email' in authorLine.entry, 'private author email is redacted');
  // the admin sees memos and private fields
  const adminRes = await raw('/api/sync', admin);
  t.ok(adminRes.lines.some((l) => l.type === 'memo'));
  t.equal(adminRes.lines.find((l) => l.id === live._id)!.entry.reviewNotes, 'secret');
  t.match(adminRes.cache, /no-store/);
  // ids across several batches (list pages of 3) arrive in order, each once
  for (let i = 0; i < 4; i++) await newAuthor();
  const authors = (await raw('/api/sync?types=author', ANON)).lines.filter((l) => l.type === 'author').map((l) => l.id as string);
  t.same(authors, [...authors].sort(), 'cursor order by _id');
  t.equal(new Set(authors).size, authors.length);
  t.same(new Set(authors), new Set([...(await serverState(['author'])).keys()].map((k) => k.split(':')[1])), 'every author, once');
});

t.test('incremental sync: upserts, tombstones for unpublish and delete, drafts edits unseen', async (t) => {
  const client = new Client(ANON);
  await client.sync();
  t.same(sorted(client.entries()), sorted(await serverState(['article', 'author', 'category', 'page', 'post'])), 'after a full sync, the map is the published state');
  const a = await newPost();
  const b = await newPost();
  await publish(a._id);
  await publish(b._id);
  let { lines } = await syncPage(ANON, { token: client.token });
  t.same(lines.map((l) => [l.op, l.id]).sort(), [['upsert', a._id], ['upsert', b._id]].sort(), 'the two publishes, once each');
  await client.sync();
  // a draft edit changes nothing readers see
  await ok('PATCH', `/api/content/post/${a._id}`, { rating: 4 });
  ({ lines } = await syncPage(ANON, { token: client.token }));
  t.same(lines, [], 'a draft save is not in the published feed');
  await publish(a._id);
  await ok('POST', `/api/content/post/${b._id}/unpublish`);
  ({ lines } = await syncPage(ANON, { token: client.token }));
  t.same(lines.find((l) => l.id === a._id), { op: 'upsert', type: 'post', id: a._id, entry: (await req('GET', `/api/content/post/${a._id}`, undefined, ANON)).body.data });
  t.same(lines.find((l) => l.id === b._id), { op: 'delete', type: 'post', id: b._id }, 'unpublish is a tombstone');
  await client.sync();
  await ok('DELETE', `/api/content/post/${a._id}`);
  ({ lines } = await syncPage(ANON, { token: client.token }));
  t.same(lines, [{ op: 'delete', type: 'post', id: a._id }], 'delete is a tombstone');
  await client.sync();
  t.same(sorted(client.entries()), sorted(await serverState(['article', 'author', 'category', 'page', 'post'])));
  // nothing new: the same token comes back
  const again = await syncPage(ANON, { token: client.token });
  t.same(again.lines, []);
  t.equal(again.end.token, client.token);
  t.equal(again.end.more, false);
});

t.test('paging: more until the log is read, last record per entry', async (t) => {
  const client = new Client(ANON, { types: 'author', limit: '2' });
  await client.sync();
  const author = await newAuthor();
  for (let i = 0; i < 3; i++) await ok('PATCH', `/api/content/author/${author._id}`, { bio: `v${i}` });
  const others = [await newAuthor(), await newAuthor()];
  const first = await syncPage(ANON, { types: 'author', limit: '2', token: client.token });
  t.equal(first.end.more, true);
  t.same(first.lines.map((l) => l.id), [author._id], 'create and update of one entry: one line');
  // the page size is not part of the token: a bigger page reads the rest at once
  const whole = await syncPage(ANON, { types: 'author', limit: '10', token: client.token });
  t.equal(whole.end.more, false);
  t.same(whole.lines.map((l) => l.id).sort(), [author._id, ...others.map((o) => o._id)].sort());
  const pages = await client.sync();
  t.ok(pages >= 3, `${pages} pages`);
  t.equal(client.map.get(`author:${author._id}`)?.bio, 'v2', 'the newest version');
  for (const o of others) t.ok(client.map.has(`author:${o._id}`));
  const big = await syncPage(ANON, { types: 'author', limit: '1001' }).catch((e: Error) => e);
  t.match(String(big), /400/);
});

t.test('types filter: deletions of those types, nothing of the others', async (t) => {
  const client = new Client(ANON, { types: 'post' });
  await client.sync();
  t.ok([...client.map.keys()].every((k) => k.startsWith('post:')));
  const p = await newPost();
  await publish(p._id);
  const author = await newAuthor();
  await client.sync();
  t.ok(client.map.has(`post:${p._id}`));
  t.notOk(client.map.has(`author:${author._id}`));
  await ok('DELETE', `/api/content/post/${p._id}`);
  await ok('DELETE', `/api/content/author/${author._id}`);
  const { lines } = await syncPage(ANON, { types: 'post', token: client.token });
  t.same(lines, [{ op: 'delete', type: 'post', id: p._id }]);
});

t.test('preview: drafts for those who may read them', async (t) => {
  const d = await newPost();
  const client = new Client(admin, { preview: 'true', types: 'post' });
  await client.sync();
  t.equal(client.map.get(`post:${d._id}`)?._status, 'draft', 'the draft is there');
  t.equal(client.map.get(`post:${d._id}`)?.reviewNotes, 'secret');
  await ok('PATCH', `/api/content/post/${d._id}`, { rating: 2 });
  await client.sync();
  t.equal(client.map.get(`post:${d._id}`)?.rating, 2, 'draft saves are in the preview feed');
  t.same(sorted(client.entries()), sorted(await serverState(['post'], admin, '&preview=true')));
  const anon = await raw('/api/sync?preview=true', ANON);
  t.equal(anon.status, 401, JSON.stringify(anon.body));
  const reader = await tokenFor(app, ['content:read']);
  const refused = await raw('/api/sync?preview=true&types=post', reader);
  t.equal(refused.status, 403);
  t.equal(refused.body.error.code, 'CMS_ERR_FORBIDDEN');
  const previewer = await tokenFor(app, ['content:preview'], { types: ['post'] });
  const viaToken = await syncPage(previewer, { preview: 'true' });
  t.ok(viaToken.lines.some((l) => l.id === d._id));
  t.ok(viaToken.lines.every((l) => l.type === 'post'), 'a token syncs only its types');
  t.notOk('reviewNotes' in viaToken.lines.find((l) => l.id === d._id)!.entry, 'tokens never see private fields');
});

t.test('locales: flattened per locale, whole with *', async (t) => {
  const p = await newPost({ title: { en: 'Hello', fr: 'Bonjour' } });
  await publish(p._id);
  const fr = new Client(ANON, { types: 'post', locale: 'fr' });
  await fr.sync();
  t.equal(fr.map.get(`post:${p._id}`)?.title, 'Bonjour');
  t.equal(fr.map.get(`post:${p._id}`)?._locale, 'fr');
  await ok('PATCH', `/api/content/post/${p._id}?locale=fr`, { title: 'Salut' });
  await publish(p._id);
  await fr.sync();
  t.equal(fr.map.get(`post:${p._id}`)?.title, 'Salut');
  const all = await syncPage(ANON, { types: 'post', locale: '*' });
  t.same(all.lines.find((l) => l.id === p._id)!.entry.title, { en: 'Hello', fr: 'Salut' });
  const bad = await raw('/api/sync?locale=de', ANON);
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'CMS_ERR_LOCALE_UNKNOWN');
  // the token remembers the locale
  const other = await raw(`/api/sync?types=post&locale=en&token=${fr.token}`, ANON);
  t.equal(other.status, 400);
  t.match(other.body.error, { code: 'CMS_ERR_SYNC_TOKEN', details: [{ path: 'token' }] });
});

t.test('bad requests and access', async (t) => {
  const { end } = await syncPage(ANON, { types: 'post' });
  const cases: [string, Headers, number, string, string?][] = [
    ['/api/sync?token=not-a-token!', ANON, 400, 'CMS_ERR_SYNC_TOKEN', 'token'],
    [`/api/sync?token=${Buffer.from('{"v":2}').toString('base64url')}`, ANON, 400, 'CMS_ERR_SYNC_TOKEN', 'token'],
    [`/api/sync?token=${end.token}`, ANON, 400, 'CMS_ERR_SYNC_TOKEN', 'token'],
    [`/api/sync?types=author&token=${end.token}`, ANON, 400, 'CMS_ERR_SYNC_TOKEN', 'token'],
    [`/api/sync?types=post&preview=true&token=${end.token}`, admin, 400, 'CMS_ERR_SYNC_TOKEN', 'token'],
    ['/api/sync?types=nope', ANON, 400, 'CMS_ERR_TYPE_NOT_FOUND', 'types'],
    ['/api/sync?types=post,', ANON, 400, 'CMS_ERR_QUERY_BAD_VALUE', 'types'],
    ['/api/sync?types=memo', ANON, 401, 'CMS_ERR_AUTH_REQUIRED'],
    ['/api/sync?limit=0', ANON, 400, 'CMS_ERR_QUERY_BAD_VALUE', 'limit'],
    ['/api/sync?preview=yes', ANON, 400, 'CMS_ERR_QUERY_BAD_VALUE', 'preview'],
    ['/api/sync?media=true', ANON, 401, 'CMS_ERR_AUTH_REQUIRED'],
    ['/api/sync?filter[$ne]=x', ANON, 400, 'CMS_ERR_QUERY_UNKNOWN_PARAM', 'filter[$ne]'],
    ['/api/sync?types=post&types=author', ANON, 400, 'CMS_ERR_QUERY_BAD_VALUE', 'types'],
    [`/api/sync?types=post&token=${encodeSyncToken({ v: 1, seq: 1e9, view: 'published', types: ['post'], locale: 'en', media: false })}`, ANON, 400, 'CMS_ERR_SYNC_TOKEN', 'token'],
  ];
  for (const [url, headers, status, code, path] of cases) {
    const res = await raw(url, headers);
    t.equal(res.status, status, `${url}: ${JSON.stringify(res.body)}`);
    t.equal(res.body.error?.code, code, url);
    if (path) t.equal(res.body.error.details[0]?.path, path, url);
  }
  const scoped = await tokenFor(app, ['content:read'], { types: ['post'] });
  const denied = await raw('/api/sync?types=author', scoped);
  t.equal(denied.status, 403);
  const own = await syncPage(scoped);
  t.ok(own.lines.length > 0 && own.lines.every((l) => l.type === 'post' || l.kind === 'media'), 'without types=, the types the token covers');
});

t.test('full sync: writes made while it streams come in the next sync; batches stay small', async (t) => {
  const made = [await newAuthor(), await newAuthor(), await newAuthor()];
  const repo = new EntriesRepository(app.mongo.db);
  const limits: number[] = [];
  let calls = 0;
  let changed: string | undefined;
  // a repository that lets a writer in between the first batch and the second
  const spy = Object.create(repo) as EntriesRepository;
  spy.find = async (type: string, options: FindOptions, view?: View) => {
    limits.push(options.limit);
    const rows = await repo.find(type, options, view);
    if (type === 'author' && ++calls === 2) {
      changed = (await repo.find('author', { filter: {}, sort: { _id: 1 }, limit: 1 }))[0]!._id;
      await app.entries.patch('author', changed, { bio: 'written during the stream' }, undefined, SYSTEM);
    }
    return rows;
  };
  const service = new SyncService(app.registry, app.entries, spy, new MediaRepository(app.mongo.db), (d) => app.media.toJson(d), app.changes, app.locales, 2);
  const access = { caller: SYSTEM, mayReadMedia: () => undefined };
  const plan = await service.sync({ types: 'author' }, access);
  let text = '';
  for await (const chunk of plan.chunks) text += chunk;
  const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json);
  t.ok(calls >= 2, `${calls} batches`);
  t.ok(limits.every((l) => l === 2), 'every query reads one batch');
  t.ok(made.every((m) => lines.some((l) => l.id === m._id)));
  t.not(lines.find((l) => l.id === changed)!.entry.bio, 'written during the stream', 'the full sync read it before the write');
  const next = await service.sync({ types: 'author', token: lines.at(-1)!.token }, access);
  let rest = '';
  for await (const chunk of next.chunks) rest += chunk;
  t.match(rest.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json), [{ op: 'upsert', id: changed, entry: { bio: 'written during the stream' } }, { op: 'end' }], 'the next sync delivers it');
});

t.test('preview tokens sync what anonymous clients sync, never drafts', async (t) => {
  const d = await newPost();
  const link = await req('POST', `/api/content/post/${d._id}/preview`);
  t.equal(link.status, 201, dump(link));
  const headers = { authorization: `Bearer ${link.body.data.token}` };
  const refused = await raw('/api/sync?preview=true', headers);
  t.equal(refused.status, 403);
  t.equal(refused.body.error.code, 'CMS_ERR_PREVIEW_TOKEN_SCOPE');
  const { lines } = await syncPage(headers);
  t.notOk(lines.some((l) => l.id === d._id), 'not its draft');
  t.notOk(lines.some((l) => l.type === 'memo'));
  t.ok(lines.some((l) => l.type === 'post'));
});

t.test('media: upserts and tombstones for those who may read the library', async (t) => {
  const boundary = '----cmssync';
  const payload = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\nContent-Type: text/plain\r\n\r\nsome notes for the sync test\r\n--${boundary}--\r\n`);
  const up = await app.inject({ method: 'POST', url: '/api/media', payload, headers: { ...admin, 'content-type': `multipart/form-data; boundary=${boundary}` } });
  t.equal(up.statusCode, 201, up.body);
  const media = (JSON.parse(up.body) as Json).data[0] as Json;
  const reader = await tokenFor(app, ['content:read']);
  const client = new Client(reader, { types: 'author' });
  await client.sync();
  t.match(client.map.get(`media:${media._id}`), { _id: media._id, filename: 'notes.txt', url: String });
  t.notOk('createdBy' in client.map.get(`media:${media._id}`)!);
  const none = await syncPage(reader, { types: 'author', media: 'false' });
  t.notOk(none.lines.some((l) => l.kind === 'media'));
  await ok('PATCH', `/api/media/${media._id}`, { alt: 'Some notes' });
  let { lines } = await syncPage(reader, { types: 'author', token: client.token });
  t.match(lines, [{ op: 'upsert', kind: 'media', id: media._id, media: { alt: 'Some notes' } }]);
  await client.sync();
  await ok('DELETE', `/api/media/${media._id}`);
  ({ lines } = await syncPage(reader, { types: 'author', token: client.token }));
  t.same(lines, [{ op: 'delete', kind: 'media', id: media._id }]);
});

t.test('concurrent writers: the client ends exactly at the published state', async (t) => {
  const client = new Client(ANON, { types: 'author,post' });
  await client.sync();
  const posts: string[] = [];
  const authors: string[] = [];
  const pick = (list: string[], i: number) => list[i % Math.max(1, list.length)];
  let done = false;
  let writes = 0;
  const writer = async (w: number) => {
    for (let i = 0; i < 24; i++) {
      const k = (w * 7 + i * 13) % 8;
      try {
        if (k === 0 || posts.length < 2) posts.push((await newPost())._id as string);
        else if (k === 1) await publish(pick(posts, i + w)!);
        else if (k === 2) await ok('PATCH', `/api/content/post/${pick(posts, i)}`, { rating: 1 + (i % 5) });
        else if (k === 3) await publish(pick(posts, i * 3)!);
        else if (k === 4) await ok('POST', `/api/content/post/${pick(posts, i + 1)}/unpublish`);
        else if (k === 5) await ok('DELETE', `/api/content/post/${pick(posts, i * 5 + w)}`);
        else if (k === 6) authors.push((await newAuthor())._id as string);
        else if (authors.length) await ok(i % 3 ? 'PATCH' : 'DELETE', `/api/content/author/${pick(authors, i)}`, i % 3 ? { bio: `b${i}` } : undefined);
        writes++;
      } catch {
        // a write that meets another's result (already deleted, not published): fine
      }
    }
  };
  let rounds = 0;
  const syncer = async () => {
    while (!done) {
      await client.sync();
      rounds++;
    }
  };
  const loop = syncer();
  await Promise.all([0, 1, 2, 3].map(writer));
  done = true;
  await loop;
  await client.sync();
  t.ok(writes > 40, `${writes} writes succeeded`);
  t.ok(rounds > 1, `${rounds} sync rounds ran while writing`);
  t.same(sorted(client.entries()), sorted(await serverState(['author', 'post'])), 'the client map is exactly what the server publishes');
});

t.test('export: published entries with hashes, populated, resumable', async (t) => {
  const author = await newAuthor();
  const p = await newPost({ author: author._id });
  await publish(p._id);
  const res = await raw('/api/export?types=post,author&populate=author&locale=fr', ANON);
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.match(res.type, /^application\/x-ndjson/);
  const end = res.lines[res.lines.length - 1]!;
  const lines = res.lines.slice(0, -1);
  t.same(end, { op: 'end', count: lines.length });
  const order = lines.map((l) => `${l.type}:${l.id}`);
  t.same(order, [...order].sort(), 'types in order, then ids');
  t.same(new Set(order), new Set([...(await serverState(['author', 'post'])).keys()]), 'every published entry once');
  const canonical = (v: unknown): string =>
    Array.isArray(v) ? `[${v.map(canonical).join(',')}]` : v && typeof v === 'object' ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Json)[k])}`).join(',')}}` : JSON.stringify(v);
  for (const l of lines) t.equal(l.hash, createHash('sha256').update(canonical(l.entry)).digest('hex'), `hash of ${l.id}`);
  const line = lines.find((l) => l.id === p._id)!;
  t.match(line.entry.author, { _id: author._id, name: author.name }, 'populated');
  t.notOk('email' in line.entry.author, 'a populated entry is redacted too');
  t.equal(line.entry._locale, 'fr');
  t.same(line.entry, (await req('GET', `/api/content/post/${p._id}?populate=author&locale=fr`, undefined, ANON)).body.data);
  // resume after the fourth line
  const cut = lines[3]!;
  const rest = await raw(`/api/export?types=post,author&populate=author&locale=fr&after=${cut.type}:${cut.id}`, ANON);
  t.same(rest.lines.slice(0, -1), lines.slice(4), 'resumes right after');
  t.same(rest.lines.at(-1), { op: 'end', count: lines.length - 4 });
  const bad: [string, Headers, number, string][] = [
    ['/api/export?after=post:xyz', ANON, 400, 'CMS_ERR_QUERY_BAD_VALUE'],
    ['/api/export?types=post&after=author:' + author._id, ANON, 400, 'CMS_ERR_QUERY_BAD_VALUE'],
    ['/api/export?populate=nope', ANON, 400, 'CMS_ERR_QUERY_UNKNOWN_FIELD'],
    ['/api/export?types=memo', ANON, 401, 'CMS_ERR_AUTH_REQUIRED'],
    ['/api/export?preview=true', ANON, 400, 'CMS_ERR_QUERY_UNKNOWN_PARAM'],
  ];
  for (const [url, headers, status, code] of bad) {
    const r = await raw(url, headers);
    t.equal(r.status, status, `${url}: ${JSON.stringify(r.body)}`);
    t.equal(r.body.error?.code, code, url);
  }
  const adminExport = await raw('/api/export?types=memo', admin);
  t.ok(adminExport.lines.length > 1, 'the admin exports memos');
  t.match(adminExport.cache, /private/);
  // singletons: the published one, with its type id as id
  await ok('PUT', '/api/content/site-settings', { siteName: 'Site' });
  const settings = await raw('/api/export?types=site-settings', ANON);
  t.match(settings.lines, [{ type: 'site-settings', id: 'site-settings', entry: { siteName: 'Site' } }, { op: 'end', count: 1 }]);
});

t.test('syncToFolder: a folder of JSON files over real HTTP', async (t) => {
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  t.ok(address);
  const port = (app.server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const folder = await mkdtemp(join(tmpdir(), 'cms-sync-folder-'));
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  const first = await syncToFolder({ baseUrl, folder, types: ['post', 'author'], limit: 2 });
  t.equal(first.full, true);
  const state = await serverState(['author', 'post']);
  const files = async () => {
    const out = new Map<string, Json>();
    for (const type of ['author', 'post']) {
      let names: string[] = [];
      try {
        names = await readdir(join(folder, type));
      } catch {
        names = [];
      }
      for (const name of names) out.set(`${type}:${name.replace(/\.json$/, '')}`, JSON.parse(await readFile(join(folder, type, name), 'utf8')) as Json);
    }
    return out;
  };
  t.same(sorted(await files()), sorted(state), 'one file per published entry, as the API presents it');
  t.equal((await readFile(join(folder, '.sync-token'), 'utf8')).trim(), first.token);
  const p = await newPost();
  await publish(p._id);
  const gone = [...state.keys()].find((k) => k.startsWith('post:'))!.split(':')[1]!;
  await ok('DELETE', `/api/content/post/${gone}`);
  const second = await syncToFolder({ baseUrl, folder, types: ['post', 'author'], limit: 2 });
  t.equal(second.full, false, 'incremental');
  t.equal(second.upserts, 1);
  t.equal(second.deletes, 1);
  t.same(sorted(await files()), sorted(await serverState(['author', 'post'])));
  // a stale file and no token: the full sync removes what the server no longer has
  await writeFile(join(folder, 'post', 'ffffffffffffffffffffffff.json'), '{}');
  await rm(join(folder, '.sync-token'));
  const third = await syncToFolder({ baseUrl, folder, types: ['post', 'author'] });
  t.equal(third.full, true);
  t.equal(third.removed, 1);
  t.same(sorted(await files()), sorted(await serverState(['author', 'post'])));
  // a refusal is an error with the server's code
  await t.rejects(syncToFolder({ baseUrl, folder: join(folder, 'memos'), types: ['memo'] }), { status: 401, code: 'CMS_ERR_AUTH_REQUIRED' });
});

t.test('an expired token is a 410 (and the folder client falls back to a full sync)', async (t) => {
  const client = new Client(ANON, { types: 'post' });
  await client.sync();
  const p = await newPost();
  await publish(p._id);
  const old = client.token!;
  const seq = (JSON.parse(Buffer.from(old, 'base64url').toString()) as Json).seq as number;
  // the log keeps only what came after the token's next record: those before it were pruned
  await app.mongo.db.collection('changes').deleteMany({ _id: { $lte: seq + 1 } as never });
  const res = await raw(`/api/sync?types=post&token=${old}`, ANON);
  t.equal(res.status, 410);
  t.match(res.body.error, { code: 'CMS_ERR_SYNC_TOKEN_EXPIRED', details: [{ path: 'token' }] });
  const port = (app.server.address() as AddressInfo).port;
  const folder = await mkdtemp(join(tmpdir(), 'cms-sync-expired-'));
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  await writeFile(join(folder, '.sync-token'), old);
  const result = await syncToFolder({ baseUrl: `http://127.0.0.1:${port}`, folder, types: ['post'] });
  t.equal(result.full, true);
  t.ok(JSON.parse(await readFile(join(folder, 'post', `${p._id}.json`), 'utf8')));
});

t.test('a token pins the types it covered: a caller who may read more types must sync in full again', async (t) => {
  const narrow = await tokenFor(app, ['content:read'], { types: ['author'] });
  const wide = await tokenFor(app, ['content:read'], { types: ['author', 'post'] });
  const first = await raw('/api/sync', narrow);
  t.equal(first.status, 200);
  const end = first.lines[first.lines.length - 1]!;
  t.equal(end.op, 'end');
  const moved = await raw(`/api/sync${qs({ token: end.token as string })}`, wide);
  t.equal(moved.status, 410, JSON.stringify(moved.body));
  t.equal(moved.body.error?.code, 'CMS_ERR_SYNC_TOKEN_EXPIRED');
  t.equal((await raw(`/api/sync${qs({ token: end.token as string })}`, narrow)).status, 200, 'the same caller goes on');
});
