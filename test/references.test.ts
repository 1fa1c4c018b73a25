// References: writes check their targets, populate resolves nested paths with one batched query per
// path and level (counted through the driver's command monitoring), a depth limit, fields per path,
// cycles, what deleting a referenced entry does (refuse or nullify), and who refers to an entry.
import type { CommandStartedEvent } from 'mongodb';
import t from 'tap';
import { buildTestApp, call, signIn, tokenFor, type Json } from './helpers.js';

type Headers = Record<string, string>;

const app = await buildTestApp(t, { as: 'anonymous', mongoClientOptions: { monitorCommands: true } });
const admin = await signIn(app, 'admin');
const ANON: Headers = {};

const finds: CommandStartedEvent[] = [];
let recording = false;
// finds on entries only (background loops of other features read their own collections)
app.mongo.client.on('commandStarted', (e) => {
  if (recording && e.commandName === 'find' && /^(content|published)_/.test(String(e.command.find))) finds.push(e);
});

const dump = (res: { status: number; body: Json }) => `${res.status} ${JSON.stringify(res.body)}`;
let n = 0;

async function author(extra: Json = {}): Promise<Json> {
  n++;
  const res = await call(app, 'POST', '/api/content/author', { name: `Author ${n}`, slug: `author-${n}`, email: `a${n}@example.com`, ...extra }, admin);
  if (res.status !== 201) throw new Error(dump(res));
  return res.body.data as Json;
}

async function post(extra: Json = {}, publish = true): Promise<Json> {
  n++;
  const res = await call(app, 'POST', '/api/content/post', { title: { en: `Post ${n}` }, slug: `post-${n}`, body: { en: 'Body' }, ...extra }, admin);
  if (res.status !== 201) throw new Error(dump(res));
  if (publish) {
    const pub = await call(app, 'POST', `/api/content/post/${res.body.data._id}/publish`, undefined, admin);
    if (pub.status !== 200) throw new Error(dump(pub));
  }
  return res.body.data as Json;
}

t.test('writes check that each reference names an entry of its type', async (t) => {
  const a = await author();
  const other = await call(app, 'POST', '/api/content/category', { name: 'News', slug: 'news' }, admin);
  t.equal(other.status, 201);
  const before = await app.mongo.db.collection('content_post').countDocuments();
  const cases: [Json, string[]][] = [
    [{ author: '0123456789abcdef01234567' }, ['/author']],
    [{ author: other.body.data._id }, ['/author']],
    [{ author: 'not-an-id' }, ['/author']],
    [{ author: a._id, related: [a._id, '0123456789abcdef01234567'] }, ['/related/0', '/related/1']],
  ];
  for (const [extra, paths] of cases) {
    const res = await call(app, 'POST', '/api/content/post', { title: { en: 'X' }, slug: `bad-${++n}`, body: { en: 'b' }, ...extra }, admin);
    t.equal(res.status, 400, dump(res));
    t.equal(res.body.error.code, 'CMS_ERR_ENTRY_REF');
    t.same(res.body.error.details.map((d: Json) => d.path), paths);
  }
  t.equal(await app.mongo.db.collection('content_post').countDocuments(), before, 'nothing stored');
  // a draft will do as a target: it resolves to null until published
  const draft = await post({}, false);
  const ok = await call(app, 'POST', '/api/content/post', { title: { en: 'Y' }, slug: `ok-${++n}`, body: { en: 'b' }, author: a._id, related: [draft._id] }, admin);
  t.equal(ok.status, 201, dump(ok));
  const patched = await call(app, 'PATCH', `/api/content/post/${ok.body.data._id}`, { author: '0123456789abcdef01234567' }, admin);
  t.equal(patched.status, 400, 'a PATCH is checked too');
  t.equal((await call(app, 'GET', `/api/content/post/${ok.body.data._id}?preview=true`, undefined, admin)).body.data.author, a._id, 'and changes nothing');
});

t.test('nested populate: one query per path and level, fields per path, a depth limit', async (t) => {
  const authors = [await author(), await author()];
  const targets: Json[] = [];
  for (let i = 0; i < 5; i++) targets.push(await post({ author: authors[i % 2]!._id }));
  const tag = `batch-${++n}`;
  for (let i = 0; i < 100; i++) {
    await app.entries.create('post', { title: { en: `${tag} ${i}` }, slug: `${tag}-${i}`, body: { en: 'b' }, rating: 1, author: authors[i % 2]!._id, related: [targets[i % 5]!._id, targets[(i + 1) % 5]!._id] });
  }
  const rows = await app.mongo.db.collection('content_post').find({ slug: { $regex: `^${tag}-` } }).toArray();
  for (const row of rows) await app.entries.publish('post', String(row._id));

  finds.length = 0;
  recording = true;
  const list = await call(app, 'GET', `/api/content/post?filter[slug][startsWith]=${tag}-&limit=100&populate=author,related`, undefined, ANON);
  recording = false;
  t.equal(list.status, 200, dump(list));
  t.equal(list.body.data.length, 100);
  t.ok(finds.length <= 3, `100 entries, 2 populated paths: ${finds.length} finds (${finds.map((f) => f.command.find).join(', ')})`);
  t.ok(list.body.data.every((e: Json) => e.author?._id && e.related.length === 2 && e.related.every((r: Json) => r?._status === 'published')));

  finds.length = 0;
  recording = true;
  const nested = await call(app, 'GET', `/api/content/post?filter[slug][startsWith]=${tag}-&limit=100&populate=author,related.author&fields[related]=slug`, undefined, ANON);
  recording = false;
  t.equal(nested.status, 200, dump(nested));
  t.equal(finds.length, 4, `the page, authors, related posts, their authors: one find each (${finds.map((f) => f.command.find).join(', ')})`);
  const first = nested.body.data[0] as Json;
  const rel = first.related[0] as Json;
  t.same(Object.keys(rel).sort(), ['_id', '_locale', '_type', '_version', 'author', 'slug'].sort(), 'fields[related] picks the fields (and keeps what nested populate needs)');
  t.match(rel.author, { _type: 'author', name: /^Author/ });
  t.notOk('email' in rel.author, 'private fields stay hidden at every level');

  // a cycle between posts ends at the depth limit, as separate copies
  const x = await post();
  const y = await post({ related: [x._id] });
  t.equal((await call(app, 'PATCH', `/api/content/post/${x._id}`, { related: [y._id] }, admin)).status, 200);
  t.equal((await call(app, 'POST', `/api/content/post/${x._id}/publish`, undefined, admin)).status, 200);
  const cyc = await call(app, 'GET', `/api/content/post/${x._id}?populate=related.related`, undefined, ANON);
  t.equal(cyc.status, 200, dump(cyc));
  t.equal(cyc.body.data.related[0]._id, y._id);
  t.equal(cyc.body.data.related[0].related[0]._id, x._id, 'x → y → x');
  t.same(cyc.body.data.related[0].related[0].related, [y._id], 'the third level keeps ids: nothing is populated past the path');
  const deep = await call(app, 'GET', `/api/content/post/${rows[0]!._id}?populate=related.related.author`, undefined, ANON);
  t.equal(deep.status, 400, 'three levels is over the default limit of 2');
  t.match(deep.body.error.details, [{ path: 'populate' }]);
  const deeper = await buildTestApp(t, { env: { POPULATE_MAX_DEPTH: '3' } });
  t.equal((await call(deeper, 'GET', `/api/content/post?populate=related.related.author`)).status, 200, 'POPULATE_MAX_DEPTH raises it');

  for (const [query, code] of [
    ['populate=nope', 'CMS_ERR_QUERY_UNKNOWN_FIELD'],
    ['populate=rating', 'CMS_ERR_QUERY_BAD_VALUE'],
    ['populate=cover.x', 'CMS_ERR_QUERY_BAD_VALUE'],
    ['populate=author.name', 'CMS_ERR_QUERY_BAD_VALUE'],
    ['populate=author&fields[author]=nope', 'CMS_ERR_QUERY_UNKNOWN_FIELD'],
    ['populate=author&fields[author]=email', 'CMS_ERR_QUERY_UNKNOWN_FIELD'],
    ['fields[author]=name', 'CMS_ERR_QUERY_BAD_VALUE'],
    ['populate=author&fields[related]=slug', 'CMS_ERR_QUERY_BAD_VALUE'],
    ['populate=,author', 'CMS_ERR_QUERY_BAD_VALUE'],
  ]) {
    const res = await call(app, 'GET', `/api/content/post?${query}`, undefined, ANON);
    t.equal(res.status, 400, `${query}: ${dump(res)}`);
    t.equal(res.body.error.code, code, `code for ${query}`);
    const one = await call(app, 'GET', `/api/content/post/${rows[0]!._id}?${query}`, undefined, ANON);
    t.equal(one.status, 400, `one entry, ${query}`);
  }
  const asAdmin = await call(app, 'GET', `/api/content/post/${rows[0]!._id}?populate=author&fields[author]=email`, undefined, admin);
  t.equal(asAdmin.status, 200, 'a session may pick a private field');
  t.same(Object.keys(asAdmin.body.data.author).sort(), ['_id', '_type', '_version', 'email'].sort());
});

t.test('deleting a referenced entry: refused by default, listing the referrers; nullified where declared', async (t) => {
  const a = await author();
  const p1 = await post({ author: a._id });
  const p2 = await post({ author: a._id }, false);
  const refused = await call(app, 'DELETE', `/api/content/author/${a._id}`, undefined, admin);
  t.equal(refused.status, 409, dump(refused));
  t.equal(refused.body.error.code, 'CMS_ERR_ENTRY_REFERENCED');
  t.same(refused.body.error.details.map((d: Json) => d.id).sort(), [p1._id, p2._id].sort());
  t.match(refused.body.error.details[0], { type: 'post', field: 'author' });
  t.equal((await call(app, 'GET', `/api/content/author/${a._id}`, undefined, ANON)).status, 200, 'still there');

  // once the posts let go of the author, it can go
  for (const p of [p1, p2]) t.equal((await call(app, 'PATCH', `/api/content/post/${p._id}`, { author: null }, admin)).status, 200);
  // p1's published snapshot still names the author: that refuses too, until it is republished
  t.equal((await call(app, 'DELETE', `/api/content/author/${a._id}`, undefined, admin)).status, 409, 'a published snapshot counts');
  t.equal((await call(app, 'POST', `/api/content/post/${p1._id}/publish`, undefined, admin)).status, 200);
  t.equal((await call(app, 'DELETE', `/api/content/author/${a._id}`, undefined, admin)).status, 204);

  // post.related says "onDelete": "nullify": the reference is removed from the referrer's draft
  const target = await post();
  const holder = await post({ related: [target._id] });
  const self = await post({}, false);
  t.equal((await call(app, 'PATCH', `/api/content/post/${self._id}`, { related: [self._id] }, admin)).status, 200, 'a post may refer to itself');
  t.equal((await call(app, 'DELETE', `/api/content/post/${self._id}`, undefined, admin)).status, 204, 'and still be deleted');
  t.equal((await call(app, 'DELETE', `/api/content/post/${target._id}`, undefined, admin)).status, 204);
  const draft = await call(app, 'GET', `/api/content/post/${holder._id}?preview=true`, undefined, admin);
  t.same(draft.body.data.related, [], 'the draft let go of it');
  t.equal(draft.body.data._status, 'changed');
  const versions = (await call(app, 'GET', `/api/content/post/${holder._id}/versions`, undefined, admin)).body.data as Json[];
  t.match(versions[0], { action: 'update', by: 'system' }, 'as a version by the system');
  const live = await call(app, 'GET', `/api/content/post/${holder._id}?populate=related`, undefined, ANON);
  t.same(live.body.data.related, [null], 'the published snapshot resolves it to null');
});

t.test('who refers to an entry', async (t) => {
  const a = await author();
  const p1 = await post({ author: a._id });
  const p2 = await post({ author: a._id }, false);
  const res = await call(app, 'GET', `/api/content/author/${a._id}/referrers`, undefined, admin);
  t.equal(res.status, 200, dump(res));
  t.same(res.body.data.map((r: Json) => r.id).sort(), [p1._id, p2._id].sort());
  t.match(res.body.data[0], { type: 'post', field: 'author', onDelete: 'refuse', title: /^post-/ });
  t.equal((await call(app, 'GET', `/api/content/author/${a._id}/referrers`, undefined, ANON)).status, 401);
  t.equal((await call(app, 'GET', `/api/content/author/${a._id}/referrers`, undefined, await tokenFor(app, ['content:read']))).status, 403);
  t.equal((await call(app, 'GET', `/api/content/author/${a._id}/referrers`, undefined, await tokenFor(app, ['content:preview']))).status, 200);
  t.equal((await call(app, 'GET', '/api/content/author/nope/referrers', undefined, admin)).status, 400);
});

t.test('a refused delete names only the referrers the caller may read', async (t) => {
  const a = await author();
  const secret = await post({ author: a._id, slug: `secret-launch-${++n}` }, false);
  const writer = await tokenFor(app, ['content:write'], { types: ['author'] });
  t.equal((await call(app, 'GET', `/api/content/post/${secret._id}?preview=true`, undefined, writer)).status, 403, 'the token cannot read posts');
  const res = await call(app, 'DELETE', `/api/content/author/${a._id}`, undefined, writer);
  t.equal(res.status, 409, dump(res));
  t.notOk(JSON.stringify(res.body).includes(secret._id as string), 'the draft post is not named');
  t.notOk(JSON.stringify(res.body).includes('secret-launch'), 'nor its slug');
  t.match(res.body.error.details, [{ path: '', message: /1 more entry you may not read/ }]);
  const asAdmin = await call(app, 'DELETE', `/api/content/author/${a._id}`, undefined, admin);
  t.equal(asAdmin.body.error.details[0].id, secret._id, 'an admin sees which');
});

t.test('populate is bounded in how many entries one answer holds', async (t) => {
  const dir = await buildTestApp(t, { env: { POPULATE_MAX_DEPTH: '3' } });
  const made: string[] = [];
  for (let i = 0; i < 11; i++) {
    const res = await call(dir, 'POST', '/api/content/post', { title: { en: `Fan ${i}` }, slug: `fan-${i}`, body: { en: 'b' } });
    made.push(res.body.data._id as string);
  }
  for (const id of made) {
    t.equal((await call(dir, 'PATCH', `/api/content/post/${id}`, { related: made.filter((x) => x !== id) })).status, 200);
    t.equal((await call(dir, 'POST', `/api/content/post/${id}/publish`)).status, 200);
  }
  const two = await call(dir, 'GET', '/api/content/post?limit=100&populate=related.related');
  t.equal(two.status, 200, 'two levels: 11 × 10 × 10 copies');
  const three = await call(dir, 'GET', '/api/content/post?limit=100&populate=related.related.related');
  t.equal(three.status, 400, 'three levels would be 11,000 copies');
  t.match(three.body.error, { code: 'CMS_ERR_QUERY_BAD_VALUE', details: [{ path: 'populate' }] });
});

t.test('fields[…] keys cannot reach a prototype', async (t) => {
  for (const url of ['/api/content/post?populate=author&fields[__proto__]=name', '/api/content/post?fields[constructor]=name']) {
    t.equal((await call(app, 'GET', url, undefined, ANON)).status, 400, url);
  }
});
