// Publishing: drafts are invisible to readers until published (by id, in lists, filters, counts and
// through populate), publish/unpublish/discard and what readers see after each, validation at
// publish, roles and token scopes, version history (paging, diff, restore, retention), deletes, and
// types without drafts.
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { buildTestApp, call, countStored, EXAMPLE_TYPES, signIn, tokenFor, type Json } from './helpers.js';

type Headers = Record<string, string>;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

// built as anonymous: every request names its caller, so "anonymous" really is nobody
const app = await buildTestApp(t, {
  as: 'anonymous',
  env: { LOCALES: 'en,fr,fr-CA', LOCALE_FALLBACKS: 'fr-CA:fr' },
  mongoClientOptions: { monitorCommands: true },
});
const admin = await signIn(app, 'admin');
const ANON: Headers = {};

// the find commands sent while `recording` is on (to count populate's queries)
const finds: Json[] = [];
let recording = false;
app.mongo.client.on('commandStarted', (e) => {
  if (recording && e.commandName === 'find') finds.push(e.command as Json);
});

const req = (method: Method, url: string, headers: Headers = admin, body?: unknown) => call(app, method, url, body, headers);
const published = (id: string) => app.mongo.db.collection('published_post').countDocuments({ _id: id as never });
const dump = (res: { status: number; body: Json }) => `${res.status} ${JSON.stringify(res.body)}`;

let n = 0;
/** A complete post draft (publishable), created by `headers`. */
async function draft(extra: Json = {}, headers: Headers = admin): Promise<Json> {
  n++;
  const res = await req('POST', '/api/content/post', headers, { title: { en: `Post ${n}` }, slug: `post-${n}`, body: { en: `Body ${n}` }, ...extra });
  if (res.status !== 201) throw new Error(`creating a post failed: ${dump(res)}`);
  return res.body.data as Json;
}

async function publish(id: string, headers: Headers = admin): Promise<Json> {
  const res = await req('POST', `/api/content/post/${id}/publish`, headers);
  if (res.status !== 200) throw new Error(`publishing ${id} failed: ${dump(res)}`);
  return res.body.data as Json;
}

async function versionsOf(id: string, type = 'post', query = ''): Promise<Json[]> {
  const res = await req('GET', `/api/content/${type}/${id}/versions${query}`);
  if (res.status !== 200) throw new Error(`versions of ${id} failed: ${dump(res)}`);
  return res.body.data as Json[];
}

const ids = (rows: Json[]) => rows.map((r) => r._id as string);

t.test('smoke: draft, publish, read, versions, change log', async (t) => {
  const created = await req('POST', '/api/content/post', admin, { slug: 'hello', title: { en: 'Hello' } });
  t.equal(created.status, 201, dump(created));
  const id = created.body.data._id;
  t.equal(created.body.data._status, 'draft');
  t.equal((await req('GET', `/api/content/post/${id}`, ANON)).status, 404);
  const bad = await req('POST', `/api/content/post/${id}/publish`);
  t.equal(bad.status, 400, dump(bad));
  t.match(bad.body.error, { code: 'CMS_ERR_ENTRY_VALIDATION', details: [{ path: '/body' }] });
  t.equal((await req('PATCH', `/api/content/post/${id}?locale=fr`, admin, { title: 'Bonjour', body: 'Texte' })).status, 200);
  t.equal((await req('PATCH', `/api/content/post/${id}?locale=en`, admin, { body: 'Text' })).status, 200);
  t.equal((await req('POST', `/api/content/post/${id}/publish`)).status, 200);
  const read = await req('GET', `/api/content/post/${id}?locale=fr-CA`, ANON);
  t.equal(read.status, 200, dump(read));
  t.equal(read.body.data.title, 'Bonjour', 'fr-CA falls back to fr');
  t.equal(read.body.data._locale, 'fr-CA');
  t.same((await versionsOf(id)).map((v) => v.action), ['publish', 'update', 'update', 'create']);
  const diff = await req('GET', `/api/content/post/${id}/versions/diff?from=1`);
  t.equal(diff.status, 200, dump(diff));
  t.same(diff.body.data.changes.map((c: Json) => c.path), ['/body', '/title/fr']);
  const changes = await app.changes.since(0, 100);
  t.same(changes.map((c) => c._id), [1, 2, 3, 4]);
  t.same(changes.map((c) => c.locales), [['*'], ['fr'], ['en'], ['*']], JSON.stringify(changes));
  t.same(changes.map((c) => c.public), [false, false, false, true]);
});

// ---------------------------------------------------------------------------------------------
// 1. drafts are invisible to readers

t.test('a draft is invisible to readers: by id, in lists, filters, counts', async (t) => {
  const reader = await tokenFor(app, ['content:read']);
  const publicTotal = async () => {
    const res = await req('GET', '/api/content/post', ANON);
    t.equal(res.status, 200, dump(res));
    return res.body.meta.total as number;
  };
  const before = await publicTotal();
  t.equal(before, await app.mongo.db.collection('published_post').countDocuments(), 'the public total counts published snapshots');

  const d = await draft();
  const p = await draft();
  await publish(p._id);

  for (const [who, headers] of [['anonymous', ANON], ['content:read token', reader], ['admin session', admin]] as const) {
    const byId = await req('GET', `/api/content/post/${d._id}`, headers);
    t.equal(byId.status, 404, `${who}: a draft by id is 404 (${dump(byId)})`);
    t.equal(byId.body.error?.code, 'CMS_ERR_ENTRY_NOT_FOUND');
    t.equal((await req('GET', `/api/content/post/${d._id}?locale=*`, headers)).status, 404, `${who}: in any locale`);
    t.equal((await req('GET', `/api/content/post/${d._id}?preview=false`, headers)).status, 404, `${who}: preview=false too`);
    t.equal((await req('GET', `/api/content/post/${p._id}`, headers)).status, 200, `${who}: the published one is there`);

    const list = await req('GET', '/api/content/post?limit=100', headers);
    t.equal(list.status, 200);
    t.notOk(ids(list.body.data).includes(d._id), `${who}: not in the list`);
    t.ok(ids(list.body.data).includes(p._id), `${who}: the published one is listed`);
    t.equal(list.body.meta.preview, false);

    const filtered = await req('GET', `/api/content/post?filter[slug][eq]=${d.slug}`, headers);
    t.equal(filtered.status, 200, dump(filtered));
    t.same(filtered.body.data, [], `${who}: a filter on the draft's slug finds nothing`);
    t.equal(filtered.body.meta.total, 0, `${who}: and counts nothing`);
    const byTitle = await req('GET', `/api/content/post?filter[title][eq]=${encodeURIComponent(d.title.en)}`, headers);
    t.equal(byTitle.body.meta.total, 0, `${who}: nor on its localized title`);
    const pFiltered = await req('GET', `/api/content/post?filter[slug][eq]=${p.slug}`, headers);
    t.same(ids(pFiltered.body.data), [p._id]);
    t.equal(pFiltered.body.meta.total, 1);
  }

  t.equal(await publicTotal(), before + 1, 'meta.total counts only the published post');
  const preview = await req('GET', `/api/content/post?preview=true&filter[slug][in]=${d.slug},${p.slug}`);
  t.equal(preview.status, 200, dump(preview));
  t.same(ids(preview.body.data).sort(), [d._id, p._id].sort(), 'preview lists the draft too');
  t.equal(preview.body.meta.total, 2);
  t.equal(preview.body.meta.preview, true);
  const previewOne = await req('GET', `/api/content/post/${d._id}?preview=true`);
  t.equal(previewOne.status, 200);
  t.equal(previewOne.body.data._status, 'draft');
  t.notOk('_publishedAt' in previewOne.body.data, 'a never-published draft has no _publishedAt');
});

t.test('populate resolves references from the published view, one query per field', async (t) => {
  const author = await req('POST', '/api/content/author', admin, { name: 'Ada', slug: 'ada', email: 'ada@example.com' });
  t.equal(author.status, 201, dump(author));
  const a = author.body.data;
  const hidden = await draft({ title: { en: 'Hidden' } });
  const shown = await draft({ title: { en: 'Shown' }, reviewNotes: 'private notes' });
  await publish(shown._id);
  const gone = await draft({ title: { en: 'Gone' } });
  const holder = await draft({ author: a._id, related: [hidden._id, shown._id, gone._id], rating: 5 });
  await publish(holder._id);
  // deleted after the holder was published: the snapshot keeps the id (its draft loses it)
  t.equal((await req('DELETE', `/api/content/post/${gone._id}`)).status, 204);
  const holder2 = await draft({ author: a._id, related: [shown._id], rating: 5 });
  await publish(holder2._id);

  const anon = await req('GET', `/api/content/post/${holder._id}?populate=author,related`, ANON);
  t.equal(anon.status, 200, dump(anon));
  const related = anon.body.data.related as (Json | null)[];
  t.equal(related.length, 3, 'arrays keep their length');
  t.equal(related[0], null, 'an unpublished post resolves to null');
  t.equal(related[1]?._id, shown._id, 'a published post resolves to its snapshot');
  t.equal(related[1]?.title, 'Shown');
  t.equal(related[1]?._status, 'published');
  t.notOk(related[1] && 'reviewNotes' in related[1], 'private fields of a populated post are redacted for anonymous');
  t.equal(related[2], null, 'a missing post resolves to null');
  t.equal(anon.body.data.author?.name, 'Ada', 'author is populated');
  t.notOk(anon.body.data.author && 'email' in anon.body.data.author, 'and its private email is redacted for anonymous');

  const token = await req('GET', `/api/content/post/${holder._id}?populate=author`, await tokenFor(app, ['content:read']));
  t.equal(token.status, 200);
  t.equal(token.body.data.author?.name, 'Ada');
  t.notOk('email' in (token.body.data.author ?? {}), 'tokens do not see the email either');

  const asAdmin = await req('GET', `/api/content/post/${holder._id}?populate=author,related`);
  t.equal(asAdmin.body.data.author?.email, 'ada@example.com', 'a session sees the email');
  t.equal(asAdmin.body.data.related[0], null, 'without preview even an admin gets null for the draft');
  t.equal(asAdmin.body.data.related[1]?.reviewNotes, 'private notes');

  const preview = await req('GET', `/api/content/post/${holder._id}?preview=true&populate=related`);
  t.equal(preview.status, 200, dump(preview));
  t.equal(preview.body.data.related[0]?._id, hidden._id, 'with preview the draft is resolved');
  t.equal(preview.body.data.related[0]?._status, 'draft');
  t.equal(preview.body.data.related[0]?.title, 'Hidden');
  t.equal(preview.body.data.related.length, 2, 'the draft lost the deleted reference ("onDelete": "nullify")');
  t.equal(preview.body.data._status, 'changed', 'which is a draft edit of the published holder');

  // a referenced post with unpublished edits: readers get its published fields, preview its draft
  await req('PATCH', `/api/content/post/${shown._id}`, admin, { title: { en: 'Shown, edited' } });
  const pubView = await req('GET', `/api/content/post/${holder._id}?populate=related`, ANON);
  t.match(pubView.body.data.related[1], { title: 'Shown', _status: 'published' }, 'the snapshot, not the draft edit');
  t.notOk('_createdBy' in pubView.body.data.related[1], 'populated entries hide _createdBy from anonymous');
  const draftView = await req('GET', `/api/content/post/${holder._id}?preview=true&populate=related`);
  t.match(draftView.body.data.related[1], { title: 'Shown, edited', _status: 'changed' });

  // a list: two posts, each with an author and related posts: one query per populated field
  finds.length = 0;
  recording = true;
  const list = await req('GET', `/api/content/post?filter[author][eq]=${a._id}&populate=author,related&sort=slug`, ANON);
  recording = false;
  t.equal(list.status, 200, dump(list));
  t.same(ids(list.body.data).sort(), [holder._id, holder2._id].sort());
  for (const row of list.body.data as Json[]) {
    t.equal(row.author?._id, a._id);
    t.notOk('email' in (row.author ?? {}));
  }
  const byIds = (collection: string) => finds.filter((c) => c.find === collection && c.filter?._id?.$in);
  t.equal(byIds('content_author').length, 1, 'one query for the authors of all rows');
  t.equal(byIds('published_post').length, 1, 'one query for the related posts of all rows');
  t.equal(byIds('content_post').length, 0, 'a public read never looks at drafts');
  t.same(finds.filter((c) => c.find === 'content_post'), [], 'not even for the page');

  // the same list in a filter on a draft's author finds nothing
  const draftOnly = await draft({ author: a._id });
  const afterDraft = await req('GET', `/api/content/post?filter[author][eq]=${a._id}`, ANON);
  t.equal(afterDraft.body.meta.total, 2, 'a draft referring to the author is not counted');
  t.notOk(ids(afterDraft.body.data).includes(draftOnly._id));
});

// ---------------------------------------------------------------------------------------------
// 2. publish, edit, re-publish, discard, unpublish

t.test('publish shows the entry at once; later edits wait for the next publish', async (t) => {
  const e = await draft({ title: { en: 'First' } });
  t.equal(e._status, 'draft');
  t.equal((await req('GET', `/api/content/post/${e._id}`, ANON)).status, 404);

  const pub = await req('POST', `/api/content/post/${e._id}/publish`);
  t.equal(pub.status, 200, dump(pub));
  t.match(pub.body.data, { _id: e._id, _status: 'published', _version: 2 });
  t.type(pub.body.data._publishedAt, 'string');
  t.equal(pub.body.data._publishedAt, pub.body.data._updatedAt);
  const publishedAt = pub.body.data._publishedAt;

  const seen = await req('GET', `/api/content/post/${e._id}`, ANON);
  t.equal(seen.status, 200);
  t.match(seen.body.data, { title: 'First', _status: 'published', _version: 2, _publishedAt: publishedAt });
  t.same(ids((await req('GET', `/api/content/post?filter[slug][eq]=${e.slug}`, ANON)).body.data), [e._id], 'listed at once');

  const edit = await req('PATCH', `/api/content/post/${e._id}`, admin, { title: { en: 'Second' } });
  t.equal(edit.status, 200, dump(edit));
  t.match(edit.body.data, { _status: 'changed', _version: 3, _publishedAt: publishedAt });
  const stillOld = await req('GET', `/api/content/post/${e._id}`, ANON);
  t.match(stillOld.body.data, { title: 'First', _status: 'published', _version: 2 }, 'readers still see the published fields');
  const adminPlain = await req('GET', `/api/content/post/${e._id}`);
  t.equal(adminPlain.body.data.title, 'First', 'a session without preview too');
  const previewed = await req('GET', `/api/content/post/${e._id}?preview=true`);
  t.match(previewed.body.data, { title: 'Second', _status: 'changed', _version: 3 });
  t.same((await req('GET', `/api/content/post?filter[title][eq]=Second`, ANON)).body.data, [], 'filters see the published title');
  t.same(ids((await req('GET', `/api/content/post?filter[title][eq]=First`, ANON)).body.data), [e._id]);

  const again = await req('POST', `/api/content/post/${e._id}/publish`);
  t.equal(again.status, 200);
  t.match(again.body.data, { _status: 'published', _version: 4, title: { en: 'Second' } });
  t.match((await req('GET', `/api/content/post/${e._id}`, ANON)).body.data, { title: 'Second', _version: 4 }, 're-publish shows the edit');

  // publishing what is already published: 200, nothing written
  const before = await versionsOf(e._id);
  const noop = await req('POST', `/api/content/post/${e._id}/publish`);
  t.equal(noop.status, 200, dump(noop));
  t.equal(noop.body.data._version, 4, 'no new version');
  t.same(await versionsOf(e._id), before, 'history unchanged');
});

t.test('concurrent publishes of one draft write one version', async (t) => {
  const e = await draft();
  const results = await Promise.all([1, 2, 3].map(() => req('POST', `/api/content/post/${e._id}/publish`)));
  t.same(results.map((r) => r.status), [200, 200, 200], results.map(dump).join('\n'));
  t.same(results.map((r) => r.body.data._version), [2, 2, 2], 'all answer the one published version');
  t.same((await versionsOf(e._id)).map((v) => v.action), ['publish', 'create']);
  t.equal(await published(e._id), 1);
});

t.test('discard puts the draft back to the published fields', async (t) => {
  const e = await draft({ title: { en: 'Kept' }, rating: 2 });
  const never = await req('POST', `/api/content/post/${e._id}/discard`);
  t.equal(never.status, 409, dump(never));
  t.equal(never.body.error?.code, 'CMS_ERR_ENTRY_NOTHING_TO_DISCARD', 'a never-published draft has nothing to go back to');

  await publish(e._id);
  const nothing = await req('POST', `/api/content/post/${e._id}/discard`);
  t.equal(nothing.status, 409, dump(nothing));
  t.equal(nothing.body.error?.code, 'CMS_ERR_ENTRY_NOTHING_TO_DISCARD', 'a published entry without edits has nothing to discard');

  const edited = await req('PATCH', `/api/content/post/${e._id}`, admin, { title: { en: 'Thrown away', fr: 'Jeté' }, rating: null, summary: { en: 'new' } });
  t.equal(edited.body.data._status, 'changed');
  const discarded = await req('POST', `/api/content/post/${e._id}/discard`);
  t.equal(discarded.status, 200, dump(discarded));
  t.match(discarded.body.data, { _status: 'published', _version: 4, title: { en: 'Kept' }, rating: 2 });
  t.equal(discarded.body.data._publishedAt, edited.body.data._publishedAt, 'the publish time stays that of the snapshot');
  t.notOk('summary' in discarded.body.data, 'a field added by the draft is gone');
  t.same(discarded.body.data.title, { en: 'Kept' }, 'a locale added by the draft is gone');
  const preview = await req('GET', `/api/content/post/${e._id}?preview=true`);
  t.match(preview.body.data, { _status: 'published', title: 'Kept', rating: 2, _version: 4 });
  const pub = await req('GET', `/api/content/post/${e._id}`, ANON);
  t.match(pub.body.data, { title: 'Kept', rating: 2 });
  t.same((await versionsOf(e._id)).map((v) => v.action), ['discard', 'update', 'publish', 'create']);
  const again = await req('POST', `/api/content/post/${e._id}/discard`);
  t.equal(again.status, 409);
  t.equal(again.body.error?.code, 'CMS_ERR_ENTRY_NOTHING_TO_DISCARD');
});

t.test('unpublish takes the entry off the public view at once; the draft stays', async (t) => {
  const never = await draft();
  const notPub = await req('POST', `/api/content/post/${never._id}/unpublish`);
  t.equal(notPub.status, 409, dump(notPub));
  t.equal(notPub.body.error?.code, 'CMS_ERR_ENTRY_NOT_PUBLISHED');
  t.same((await versionsOf(never._id)).map((v) => v.action), ['create'], 'the refused unpublish wrote nothing');

  const e = await draft({ title: { en: 'Live' } });
  await publish(e._id);
  await req('PATCH', `/api/content/post/${e._id}`, admin, { title: { en: 'Live, edited' } });
  const un = await req('POST', `/api/content/post/${e._id}/unpublish`);
  t.equal(un.status, 200, dump(un));
  t.match(un.body.data, { _status: 'draft', title: { en: 'Live, edited' } });
  t.notOk('_publishedAt' in un.body.data, 'no longer has a publish time');

  const byId = await req('GET', `/api/content/post/${e._id}`, ANON);
  t.equal(byId.status, 404, dump(byId));
  t.equal(byId.body.error?.code, 'CMS_ERR_ENTRY_NOT_FOUND');
  const list = await req('GET', '/api/content/post?limit=100', ANON);
  t.notOk(ids(list.body.data).includes(e._id), 'gone from the list');
  t.equal((await req('GET', `/api/content/post?filter[slug][eq]=${e.slug}`, ANON)).body.meta.total, 0);
  t.equal(await published(e._id), 0, 'the snapshot is removed');
  const preview = await req('GET', `/api/content/post/${e._id}?preview=true`);
  t.match(preview.body.data, { _status: 'draft', title: 'Live, edited' }, 'the draft keeps its edits');

  const twice = await req('POST', `/api/content/post/${e._id}/unpublish`);
  t.equal(twice.status, 409);
  t.equal(twice.body.error?.code, 'CMS_ERR_ENTRY_NOT_PUBLISHED');
  const discard = await req('POST', `/api/content/post/${e._id}/discard`);
  t.equal(discard.status, 409, 'an unpublished draft has nothing to discard');
  t.same((await versionsOf(e._id)).map((v) => v.action), ['unpublish', 'update', 'publish', 'create']);

  const back = await req('POST', `/api/content/post/${e._id}/publish`);
  t.equal(back.status, 200);
  t.equal((await req('GET', `/api/content/post/${e._id}`, ANON)).body.data.title, 'Live, edited', 'published again with the draft fields');
});

// ---------------------------------------------------------------------------------------------
// 3. validation

t.test('publishing an invalid draft is a 400 and publishes nothing', async (t) => {
  const noBody = await req('POST', '/api/content/post', admin, { slug: 'no-body', title: { en: 'No body' } });
  t.equal(noBody.status, 201, `a draft may lack a required field (${dump(noBody)})`);
  const id = noBody.body.data._id;
  const res = await req('POST', `/api/content/post/${id}/publish`);
  t.equal(res.status, 400, dump(res));
  t.equal(res.body.error?.code, 'CMS_ERR_ENTRY_VALIDATION');
  t.same(res.body.error?.details.map((d: Json) => d.path), ['/body']);
  t.equal((await req('GET', `/api/content/post/${id}`, ANON)).status, 404);
  t.equal(await published(id), 0, 'no snapshot');
  t.equal((await req('GET', `/api/content/post/${id}?preview=true`)).body.data._status, 'draft');
  t.same((await versionsOf(id)).map((v) => v.action), ['create'], 'no publish version');

  // the default locale's title is required, another locale's is not enough
  const frOnly = await req('POST', '/api/content/post', admin, { slug: 'fr-only', title: { fr: 'Seulement' }, body: { en: 'Body' } });
  t.equal(frOnly.status, 201, dump(frOnly));
  const frRes = await req('POST', `/api/content/post/${frOnly.body.data._id}/publish`);
  t.equal(frRes.status, 400, dump(frRes));
  t.equal(frRes.body.error?.code, 'CMS_ERR_ENTRY_VALIDATION');
  t.same(frRes.body.error?.details.map((d: Json) => d.path), ['/title/en']);
  t.equal(await published(frOnly.body.data._id), 0);

  // every missing path in one answer
  const bare = await req('POST', '/api/content/post', admin, { slug: 'bare' });
  t.equal(bare.status, 201, dump(bare));
  const bareRes = await req('POST', `/api/content/post/${bare.body.data._id}/publish`);
  t.equal(bareRes.status, 400);
  t.same(bareRes.body.error?.details.map((d: Json) => d.path).sort(), ['/body', '/title']);

  t.equal(await app.mongo.db.collection('published_post').countDocuments({ slug: { $in: ['no-body', 'fr-only', 'bare'] } }), 0, 'published_post has none of them');

  // a published entry whose draft became invalid keeps its snapshot
  const live = await draft({ title: { en: 'Valid' } });
  await publish(live._id);
  const broken = await req('PATCH', `/api/content/post/${live._id}`, admin, { body: null, title: { en: 'Invalid now' } });
  t.equal(broken.status, 200, `a draft save may drop a required field (${dump(broken)})`);
  t.equal(broken.body.data._status, 'changed');
  const refused = await req('POST', `/api/content/post/${live._id}/publish`);
  t.equal(refused.status, 400);
  t.same(refused.body.error?.details.map((d: Json) => d.path), ['/body']);
  const still = await req('GET', `/api/content/post/${live._id}`, ANON);
  t.match(still.body.data, { title: 'Valid', body: `Body ${n}`, _version: 2 }, 'readers still see the valid snapshot');
});

t.test('a slug held by a published snapshot cannot be published by another entry', async (t) => {
  const a = await draft({ slug: 'shared-slug' });
  await publish(a._id);
  t.equal((await req('PATCH', `/api/content/post/${a._id}`, admin, { slug: 'moved-slug' })).status, 200, 'the draft moves on');
  const b = await req('POST', '/api/content/post', admin, { slug: 'shared-slug', title: { en: 'B' }, body: { en: 'B' } });
  t.equal(b.status, 201, 'drafts only clash with drafts');
  const clash = await req('POST', `/api/content/post/${b.body.data._id}/publish`);
  t.equal(clash.status, 409, dump(clash));
  t.equal(clash.body.error?.code, 'CMS_ERR_ENTRY_UNIQUE');
  t.match(clash.body.error?.details, [{ path: '/slug' }]);
  t.equal(await published(b.body.data._id), 0, 'nothing published');
  t.same((await versionsOf(b.body.data._id)).map((v) => v.action), ['create'], 'no version left behind');
  t.equal((await req('GET', `/api/content/post/${b.body.data._id}?preview=true`)).body.data._status, 'draft');
  // discarding a would take the slug back from b's draft: refused too
  const discard = await req('POST', `/api/content/post/${a._id}/discard`);
  t.equal(discard.status, 409, dump(discard));
  t.equal(discard.body.error?.code, 'CMS_ERR_ENTRY_UNIQUE');
  t.equal((await req('GET', `/api/content/post/${a._id}?preview=true`)).body.data.slug, 'moved-slug');
  // once a publishes its new slug, b can publish the old one
  await publish(a._id);
  t.equal((await req('POST', `/api/content/post/${b.body.data._id}/publish`)).status, 200);
  t.same(ids((await req('GET', '/api/content/post?filter[slug][in]=shared-slug,moved-slug&sort=slug', ANON)).body.data), [a._id, b.body.data._id]);
});

t.test('draft saves check types and the unique slug, always', async (t) => {
  const before = await countStored(app, 'post');
  const noSlug = await req('POST', '/api/content/post', admin, { title: { en: 'No slug' } });
  t.equal(noSlug.status, 400, dump(noSlug));
  t.equal(noSlug.body.error?.code, 'CMS_ERR_ENTRY_VALIDATION');
  t.match(noSlug.body.error?.details, [{ path: '/slug', message: 'is required' }]);

  const typed = await req('POST', '/api/content/post', admin, { slug: 'typed', rating: 'five', title: { en: 5 }, body: { en: '' } });
  t.equal(typed.status, 400, dump(typed));
  t.equal(typed.body.error?.code, 'CMS_ERR_ENTRY_VALIDATION');
  t.same(typed.body.error?.details.map((d: Json) => d.path).sort(), ['/body/en', '/rating', '/title/en']);

  const plain = await req('POST', '/api/content/post', admin, { slug: 'plain', title: 'not an object' });
  t.equal(plain.status, 400, 'a localized field without ?locale takes an object');
  t.match(plain.body.error?.details, [{ path: '/title' }]);

  const badSlug = await req('POST', '/api/content/post', admin, { slug: 'Not A Slug' });
  t.equal(badSlug.status, 400);
  t.match(badSlug.body.error?.details, [{ path: '/slug' }]);

  const taken = await draft();
  const dup = await req('POST', '/api/content/post', admin, { slug: taken.slug });
  t.equal(dup.status, 409, dump(dup));
  t.equal(dup.body.error?.code, 'CMS_ERR_ENTRY_UNIQUE');
  t.equal(await countStored(app, 'post'), before + 1, 'only the valid draft was stored');

  // updates: dropping the slug or a type error is refused
  const dropSlug = await req('PATCH', `/api/content/post/${taken._id}`, admin, { slug: null });
  t.equal(dropSlug.status, 400, dump(dropSlug));
  t.match(dropSlug.body.error?.details, [{ path: '/slug' }]);
  const badRating = await req('PATCH', `/api/content/post/${taken._id}`, admin, { rating: 9 });
  t.equal(badRating.status, 400);
  t.match(badRating.body.error?.details, [{ path: '/rating' }]);
  t.equal((await req('GET', `/api/content/post/${taken._id}?preview=true`)).body.data._version, 1, 'refused saves wrote nothing');
});

// ---------------------------------------------------------------------------------------------
// 4. roles, scopes, preview, If-Match

t.test('roles: authors write drafts, editors and admins publish, viewers neither', async (t) => {
  const author = await signIn(app, 'author');
  const editor = await signIn(app, 'editor');
  const viewer = await signIn(app, 'viewer');

  const own = await draft({}, author);
  t.equal(own._status, 'draft');
  const edit = await req('PATCH', `/api/content/post/${own._id}`, author, { rating: 3 });
  t.equal(edit.status, 200, dump(edit));
  for (const action of ['publish', 'unpublish', 'discard']) {
    const res = await req('POST', `/api/content/post/${own._id}/${action}`, author);
    t.equal(res.status, 403, `an author cannot ${action} (${dump(res)})`);
    t.equal(res.body.error?.code, 'CMS_ERR_FORBIDDEN');
  }
  t.equal(await published(own._id), 0, 'the author publish did not happen');

  const other = await draft();
  const foreign = await req('PATCH', `/api/content/post/${other._id}`, author, { rating: 1 });
  t.equal(foreign.status, 403, 'an author cannot edit an entry they did not create');

  for (const action of ['publish', 'unpublish', 'discard']) {
    const res = await req('POST', `/api/content/post/${own._id}/${action}`, viewer);
    t.equal(res.status, 403, `a viewer cannot ${action}`);
    t.equal(res.body.error?.code, 'CMS_ERR_FORBIDDEN');
  }
  t.equal((await req('POST', '/api/content/post', viewer, { slug: 'viewer-post' })).status, 403, 'a viewer cannot create');
  const anonPublish = await req('POST', `/api/content/post/${own._id}/publish`, ANON);
  t.equal(anonPublish.status, 401);
  t.equal(anonPublish.body.error?.code, 'CMS_ERR_AUTH_REQUIRED');

  const byEditor = await req('POST', `/api/content/post/${own._id}/publish`, editor);
  t.equal(byEditor.status, 200, dump(byEditor));
  t.equal((await req('GET', `/api/content/post/${own._id}`, ANON)).body.data.rating, 3, 'the editor published the author draft');
  // the author can keep editing; the editor can discard and unpublish
  t.equal((await req('PATCH', `/api/content/post/${own._id}`, author, { rating: 4 })).status, 200);
  t.equal((await req('POST', `/api/content/post/${own._id}/discard`, author)).status, 403);
  t.equal((await req('POST', `/api/content/post/${own._id}/discard`, editor)).status, 200);
  t.equal((await req('POST', `/api/content/post/${own._id}/unpublish`, editor)).status, 200);
  t.equal((await req('GET', `/api/content/post/${own._id}`, ANON)).status, 404);

  const editorId = (await draft({}, editor))._createdBy;
  const history = await versionsOf(own._id);
  t.same(history.map((v) => [v.action, v.by === editorId ? 'editor' : v.by === own._createdBy ? 'author' : v.by]), [
    ['unpublish', 'editor'],
    ['discard', 'editor'],
    ['update', 'author'],
    ['publish', 'editor'],
    ['update', 'author'],
    ['create', 'author'],
  ], 'each version names who did it');
});

t.test('token scopes: content:publish publishes, content:write does not', async (t) => {
  const writer = await tokenFor(app, ['content:write']);
  const publisher = await tokenFor(app, ['content:publish']);
  const reader = await tokenFor(app, ['content:read']);
  const otherType = await tokenFor(app, ['content:publish'], { types: ['article'] });

  const created = await req('POST', '/api/content/post', writer, { slug: 'by-token', title: { en: 'Token' }, body: { en: 'B' } });
  t.equal(created.status, 201, dump(created));
  const id = created.body.data._id;
  t.notOk('_createdBy' in created.body.data, 'tokens do not see _createdBy');

  for (const [what, headers] of [['content:write', writer], ['content:read', reader], ['content:publish for article only', otherType]] as const) {
    const res = await req('POST', `/api/content/post/${id}/publish`, headers);
    t.equal(res.status, 403, `${what} cannot publish (${dump(res)})`);
    t.equal(res.body.error?.code, 'CMS_ERR_FORBIDDEN');
  }
  t.equal(await published(id), 0);

  const ok = await req('POST', `/api/content/post/${id}/publish`, publisher);
  t.equal(ok.status, 200, dump(ok));
  t.equal(ok.body.data._status, 'published');
  t.equal((await req('GET', `/api/content/post/${id}`, ANON)).status, 200);
  const [last] = await versionsOf(id);
  t.match(last, { action: 'publish', by: /^token:/ });
  t.equal((await req('POST', `/api/content/post/${id}/unpublish`, writer)).status, 403);
  t.equal((await req('POST', `/api/content/post/${id}/unpublish`, publisher)).status, 200);
});

t.test('preview=true needs preview rights', async (t) => {
  const d = await draft({ title: { en: 'Preview me' }, reviewNotes: 'secret' });

  const anon = await req('GET', `/api/content/post/${d._id}?preview=true`, ANON);
  t.equal(anon.status, 401, dump(anon));
  t.equal(anon.body.error?.code, 'CMS_ERR_AUTH_REQUIRED');
  const anonList = await req('GET', '/api/content/post?preview=true', ANON);
  t.equal(anonList.status, 401);

  const reader = await tokenFor(app, ['content:read']);
  const read = await req('GET', `/api/content/post/${d._id}?preview=true`, reader);
  t.equal(read.status, 403, dump(read));
  t.equal(read.body.error?.code, 'CMS_ERR_FORBIDDEN');
  t.equal((await req('GET', '/api/content/post?preview=true', reader)).status, 403);

  const previewer = await tokenFor(app, ['content:preview']);
  const seen = await req('GET', `/api/content/post/${d._id}?preview=true`, previewer);
  t.equal(seen.status, 200, dump(seen));
  t.match(seen.body.data, { _id: d._id, _status: 'draft', title: 'Preview me' });
  t.notOk('reviewNotes' in seen.body.data, 'a token never sees private fields, even in preview');
  const seenList = await req('GET', `/api/content/post?preview=true&filter[slug][eq]=${d.slug}`, previewer);
  t.same(ids(seenList.body.data), [d._id]);
  t.equal((await req('GET', `/api/content/post/${d._id}?preview=true`, await tokenFor(app, ['content:write']))).status, 200, 'content:write may preview');
  t.equal((await req('GET', `/api/content/post/${d._id}?preview=true`, await tokenFor(app, ['content:preview'], { types: ['article'] }))).status, 403, 'not for another type');
  t.equal((await req('GET', `/api/content/post/${d._id}`, previewer)).status, 404, 'without preview=true the previewer reads the published view');

  const bad = await req('GET', `/api/content/post/${d._id}?preview=yes`);
  t.equal(bad.status, 400, dump(bad));
  t.match(bad.body.error?.details, [{ path: 'preview' }]);
  t.equal((await req('GET', '/api/content/post?preview=1')).status, 400);
});

t.test('preview tokens read one draft and write nothing', async (t) => {
  const mine = await draft({ title: { en: 'Mine' } });
  await publish(mine._id);
  await req('PATCH', `/api/content/post/${mine._id}`, admin, { title: { en: 'Mine, edited' } });
  const link = await req('POST', `/api/content/post/${mine._id}/preview`);
  t.equal(link.status, 201, dump(link));
  const pt = { authorization: `Bearer ${link.body.data.token as string}` };
  t.equal((await req('GET', `/api/content/post/${mine._id}?preview=true`, pt)).body.data.title, 'Mine, edited');
  t.equal((await req('GET', `/api/content/post/${mine._id}`, pt)).body.data.title, 'Mine', 'without preview=true: the public view');
  for (const action of ['publish', 'unpublish', 'discard']) {
    const res = await req('POST', `/api/content/post/${mine._id}/${action}`, pt);
    t.equal(res.status, 403, `a preview token cannot ${action}`);
    t.equal(res.body.error?.code, 'CMS_ERR_FORBIDDEN');
  }
  t.equal((await req('POST', `/api/content/post/${mine._id}/versions/1/restore`, pt)).status, 403, 'nor restore');
  t.equal((await req('GET', `/api/content/post/${mine._id}`, ANON)).body.data.title, 'Mine', 'nothing changed');
  const other = await draft({ title: { en: 'Someone else' } });
  const otherRead = await req('GET', `/api/content/post/${other._id}?preview=true`, pt);
  t.equal(otherRead.status, 403);
  t.equal(otherRead.body.error?.code, 'CMS_ERR_PREVIEW_TOKEN_SCOPE');
});

// a preview link for one post must not read the draft history of any post (nor its own: history is
// for editors)
t.test('a preview token cannot read version history', async (t) => {
  const mine = await draft();
  const link = await req('POST', `/api/content/post/${mine._id}/preview`);
  t.equal(link.status, 201);
  const pt = { authorization: `Bearer ${link.body.data.token as string}` };
  const secret = await draft({ title: { en: 'Unannounced product' } });
  t.equal((await req('GET', `/api/content/post/${secret._id}?preview=true`, pt)).status, 403, 'its draft is closed to the token');
  for (const path of ['versions', 'versions/1', 'versions/diff?from=1']) {
    const res = await req('GET', `/api/content/post/${secret._id}/${path}`, pt);
    t.equal(res.status, 403, `${path} of another entry (${dump(res)})`);
    t.notOk(JSON.stringify(res.body).includes('Unannounced product'), `${path} does not leak the draft`);
    t.equal((await req('GET', `/api/content/post/${mine._id}/${path}`, pt)).status, 403, `${path} of its own entry`);
  }
});

t.test('If-Match on publish, unpublish and discard', async (t) => {
  const e = await draft();
  const stale = await req('POST', `/api/content/post/${e._id}/publish`, { ...admin, 'if-match': '"7"' });
  t.equal(stale.status, 412, dump(stale));
  t.equal(stale.body.error?.code, 'CMS_ERR_ENTRY_VERSION_MISMATCH');
  t.match(stale.body.error?.details, [{ path: '/_version', current: 1 }]);
  t.equal((await req('GET', `/api/content/post/${e._id}`, ANON)).status, 404, 'a stale publish publishes nothing');
  t.equal(await published(e._id), 0);

  const ok = await req('POST', `/api/content/post/${e._id}/publish`, { ...admin, 'if-match': '"1"' });
  t.equal(ok.status, 200, dump(ok));
  t.equal(ok.body.data._version, 2);
  await req('PATCH', `/api/content/post/${e._id}`, admin, { rating: 1 });
  const staleDiscard = await req('POST', `/api/content/post/${e._id}/discard`, { ...admin, 'if-match': '2' });
  t.equal(staleDiscard.status, 412);
  const staleUnpublish = await req('POST', `/api/content/post/${e._id}/unpublish`, { ...admin, 'if-match': 'W/"2"' });
  t.equal(staleUnpublish.status, 412);
  t.equal((await req('GET', `/api/content/post/${e._id}`, ANON)).status, 200, 'the stale unpublish left it published');
  const badHeader = await req('POST', `/api/content/post/${e._id}/publish`, { ...admin, 'if-match': 'yesterday' });
  t.equal(badHeader.status, 400);
  t.equal(badHeader.body.error?.code, 'CMS_ERR_ENTRY_BAD_PRECONDITION');
  t.equal((await req('POST', `/api/content/post/${e._id}/unpublish`, { ...admin, 'if-match': '"3"' })).status, 200);
});

// ---------------------------------------------------------------------------------------------
// 5. version history

t.test('version history: list, paging, one version, diff', async (t) => {
  const created = await req('POST', '/api/content/post', admin, { slug: 'history', title: { en: 'One' }, body: { en: 'Body' }, rating: 1 });
  t.equal(created.status, 201);
  const v1 = created.body.data;
  const id = v1._id;
  const url = `/api/content/post/${id}`;
  const v2 = (await req('PATCH', `${url}?locale=fr`, admin, { title: 'Un' })).body.data;
  t.equal(v2._locale, 'fr', 'a write with ?locale answers in that locale');
  const v3 = (await req('PUT', url, admin, { slug: 'history', title: { en: 'Two', fr: 'Un' }, body: { en: 'Body' }, rating: 2 })).body.data;
  t.equal(v3._version, 3);
  await publish(id);
  const v5 = (await req('PATCH', url, admin, { summary: { en: 'S' }, rating: null })).body.data;
  t.equal(v5._version, 5);

  const all = await versionsOf(id);
  t.same(all.map((v) => [v.version, v.action]), [[5, 'update'], [4, 'publish'], [3, 'update'], [2, 'update'], [1, 'create']]);
  for (const v of all) {
    t.equal(v.by, v1._createdBy, `version ${v.version} names the admin`);
    t.type(v.at, 'string');
    t.notOk('entry' in v || 'doc' in v, 'the list has no documents');
  }
  t.ok(all.every((v, i) => i === 0 || v.at <= all[i - 1]!.at), 'newest first');

  // paging
  const p1 = await req('GET', `${url}/versions?limit=2`);
  t.same(p1.body.data.map((v: Json) => v.version), [5, 4]);
  t.equal(p1.body.meta.nextBefore, 4);
  const p2 = await req('GET', `${url}/versions?limit=2&before=${p1.body.meta.nextBefore}`);
  t.same(p2.body.data.map((v: Json) => v.version), [3, 2]);
  t.equal(p2.body.meta.nextBefore, 2);
  const p3 = await req('GET', `${url}/versions?limit=2&before=2`);
  t.same(p3.body.data.map((v: Json) => v.version), [1]);
  t.equal(p3.body.meta.nextBefore, null, 'the last page has no next');
  const exact = await req('GET', `${url}/versions?limit=5`);
  t.equal(exact.body.meta.nextBefore, null, 'a page that holds the rest exactly has no next');
  const past = await req('GET', `${url}/versions?before=1`);
  t.same(past.body.data, []);
  for (const q of ['limit=0', 'limit=101', 'limit=-1', 'limit=two', 'before=0', 'before=1.5', 'before=x']) {
    const res = await req('GET', `${url}/versions?${q}`);
    t.equal(res.status, 400, `${q} is refused (${dump(res)})`);
    t.equal(res.body.error?.code, 'CMS_ERR_VERSION_INVALID', q);
  }
  t.equal((await req('GET', `${url}/versions?limit=100`)).status, 200);
  t.equal((await req('GET', `${url}/versions?foo=1`)).status, 400, 'an unknown parameter is refused');
  const unknownEntry = await req('GET', '/api/content/post/0123456789abcdef01234567/versions');
  t.equal(unknownEntry.status, 404);
  t.equal(unknownEntry.body.error?.code, 'CMS_ERR_ENTRY_NOT_FOUND');

  // one version: the entry as it was saved then
  const one = await req('GET', `${url}/versions/1`);
  t.equal(one.status, 200, dump(one));
  t.match(one.body.data, { version: 1, action: 'create', by: v1._createdBy });
  t.same(one.body.data.entry, v1, 'version 1 holds exactly what the create answered');
  const three = await req('GET', `${url}/versions/3`);
  t.same(three.body.data.entry, v3);
  const five = await req('GET', `${url}/versions/5`);
  t.same(five.body.data.entry, v5);
  const frTwo = await req('GET', `${url}/versions/2?locale=fr`);
  t.equal(frTwo.body.data.entry.title, 'Un', 'a version read in a locale is flattened');
  t.equal(frTwo.body.data.entry._locale, 'fr');
  for (const bad of ['0', '-1', '1.5', 'abc', '1e3', '99999999999999999']) {
    const res = await req('GET', `${url}/versions/${bad}`);
    t.equal(res.status, 400, `version ${bad} (${dump(res)})`);
    t.equal(res.body.error?.code, 'CMS_ERR_VERSION_INVALID', `version ${bad}`);
  }
  const missing = await req('GET', `${url}/versions/99`);
  t.equal(missing.status, 404);
  t.equal(missing.body.error?.code, 'CMS_ERR_VERSION_NOT_FOUND');

  // diff
  const d12 = await req('GET', `${url}/versions/diff?from=1&to=2`);
  t.equal(d12.status, 200, dump(d12));
  t.same(d12.body.data, { from: 1, to: 2, changes: [{ path: '/title/fr', op: 'added', to: 'Un' }] });
  const d21 = await req('GET', `${url}/versions/diff?from=2&to=1`);
  t.same(d21.body.data.changes, [{ path: '/title/fr', op: 'removed', from: 'Un' }]);
  const d13 = await req('GET', `${url}/versions/diff?from=1&to=3`);
  t.same(d13.body.data.changes, [
    { path: '/rating', op: 'changed', from: 1, to: 2 },
    { path: '/title/en', op: 'changed', from: 'One', to: 'Two' },
    { path: '/title/fr', op: 'added', to: 'Un' },
  ]);
  const dLatest = await req('GET', `${url}/versions/diff?from=3`);
  t.equal(dLatest.body.data.to, 5, 'to defaults to the newest version');
  t.same(dLatest.body.data.changes, [
    { path: '/rating', op: 'removed', from: 2 },
    { path: '/summary', op: 'added', to: { en: 'S' } },
  ]);
  t.same((await req('GET', `${url}/versions/diff?from=3&to=4`)).body.data.changes, [], 'a publish changes no field');
  const noFrom = await req('GET', `${url}/versions/diff`);
  t.equal(noFrom.status, 400);
  t.equal(noFrom.body.error?.code, 'CMS_ERR_VERSION_INVALID');
  t.match(noFrom.body.error?.details, [{ path: 'from' }]);
  t.equal((await req('GET', `${url}/versions/diff?from=x`)).body.error?.code, 'CMS_ERR_VERSION_INVALID');
  t.equal((await req('GET', `${url}/versions/diff?from=1&to=0`)).body.error?.code, 'CMS_ERR_VERSION_INVALID');
  const diffMissing = await req('GET', `${url}/versions/diff?from=1&to=42`);
  t.equal(diffMissing.status, 404);
  t.equal(diffMissing.body.error?.code, 'CMS_ERR_VERSION_NOT_FOUND');

  // history needs preview rights
  t.equal((await req('GET', `${url}/versions`, ANON)).status, 401);
  t.equal((await req('GET', `${url}/versions`, await tokenFor(app, ['content:read']))).status, 403);
  t.equal((await req('GET', `${url}/versions/1`, ANON)).status, 401);
  t.equal((await req('GET', `${url}/versions/diff?from=1`, ANON)).status, 401);
  const previewer = await tokenFor(app, ['content:preview']);
  t.equal((await req('GET', `${url}/versions`, previewer)).status, 200);
  t.equal((await req('GET', `${url}/versions/1`, previewer)).status, 200);

  // private fields stay private in history read with a token
  await req('PATCH', url, admin, { reviewNotes: 'private review' });
  const adminView = await req('GET', `${url}/versions/6`);
  t.equal(adminView.body.data.entry.reviewNotes, 'private review');
  const tokenView = await req('GET', `${url}/versions/6`, previewer);
  t.equal(tokenView.status, 200);
  t.notOk('reviewNotes' in tokenView.body.data.entry, 'a token does not see the private field in a version');
  t.notOk('_createdBy' in tokenView.body.data.entry);
  t.same((await req('GET', `${url}/versions/diff?from=5&to=6`)).body.data.changes, [{ path: '/reviewNotes', op: 'added', to: 'private review' }]);
  t.same((await req('GET', `${url}/versions/diff?from=5&to=6`, previewer)).body.data.changes, [], 'nor in a diff');
});

t.test('restore writes a new version; history is never rewritten', async (t) => {
  const e = await draft({ title: { en: 'Original' }, rating: 1 });
  const url = `/api/content/post/${e._id}`;
  await req('PATCH', url, admin, { title: { en: 'Middle' }, rating: 2 });
  await publish(e._id);
  const before = await versionsOf(e._id);
  const v1Before = (await req('GET', `${url}/versions/1`)).body.data;

  const restored = await req('POST', `${url}/versions/1/restore`);
  t.equal(restored.status, 200, dump(restored));
  t.match(restored.body.data, { _version: 4, _status: 'changed', title: { en: 'Original' }, rating: 1 });
  const after = await versionsOf(e._id);
  t.match(after[0], { version: 4, action: 'restore', from: 1, by: e._createdBy });
  t.same(after.slice(1), before, 'earlier versions are unchanged');
  t.same((await req('GET', `${url}/versions/1`)).body.data, v1Before, 'version 1 itself is unchanged');
  t.same((await req('GET', `${url}/versions/4`)).body.data.entry, restored.body.data);

  const pub = await req('GET', url, ANON);
  t.match(pub.body.data, { title: 'Middle', rating: 2, _version: 3 }, 'the public view is unchanged by a restore');
  t.equal((await req('GET', `${url}?preview=true`)).body.data.title, 'Original');
  await publish(e._id);
  t.equal((await req('GET', url, ANON)).body.data.title, 'Original', 'published after a publish');

  // a never-published draft stays a draft
  const d = await draft({ rating: 5 });
  await req('PATCH', `/api/content/post/${d._id}`, admin, { rating: 4 });
  const rd = await req('POST', `/api/content/post/${d._id}/versions/1/restore`);
  t.match(rd.body.data, { _status: 'draft', rating: 5, _version: 3 });
  t.equal(await published(d._id), 0);

  const unknown = await req('POST', `${url}/versions/99/restore`);
  t.equal(unknown.status, 404, dump(unknown));
  t.equal(unknown.body.error?.code, 'CMS_ERR_VERSION_NOT_FOUND');
  for (const bad of ['0', 'abc', '-2', '2.5']) {
    const res = await req('POST', `${url}/versions/${bad}/restore`);
    t.equal(res.status, 400, `restore ${bad}`);
    t.equal(res.body.error?.code, 'CMS_ERR_VERSION_INVALID', `restore ${bad}`);
  }
  const staleRestore = await req('POST', `${url}/versions/1/restore`, { ...admin, 'if-match': '"1"' });
  t.equal(staleRestore.status, 412);
  t.equal((await versionsOf(e._id)).length, 5, 'refused restores wrote nothing');

  // rights: anonymous and viewers cannot, an author only their own entries
  t.equal((await req('POST', `${url}/versions/1/restore`, ANON)).status, 401);
  t.equal((await req('POST', `${url}/versions/1/restore`, await signIn(app, 'viewer'))).status, 403);
  const author = await signIn(app, 'author');
  t.equal((await req('POST', `${url}/versions/1/restore`, author)).status, 403, 'not on another user entry');
  const own = await draft({ rating: 1 }, author);
  await req('PATCH', `/api/content/post/${own._id}`, author, { rating: 2 });
  const ownRestore = await req('POST', `/api/content/post/${own._id}/versions/1/restore`, author);
  t.equal(ownRestore.status, 200, dump(ownRestore));
  t.equal(ownRestore.body.data.rating, 1);

  // a restore is validated as a draft save: a slug taken since then is a conflict
  const movable = await draft();
  const oldSlug = movable.slug;
  await req('PATCH', `/api/content/post/${movable._id}`, admin, { slug: `${oldSlug}-moved` });
  const squatter = await req('POST', '/api/content/post', admin, { slug: oldSlug });
  t.equal(squatter.status, 201);
  const clash = await req('POST', `/api/content/post/${movable._id}/versions/1/restore`);
  t.equal(clash.status, 409, dump(clash));
  t.equal(clash.body.error?.code, 'CMS_ERR_ENTRY_UNIQUE');
  t.same((await versionsOf(movable._id)).map((v) => v.action), ['update', 'create'], 'the refused restore left no version');
});

t.test('versions of a type without drafts are recorded too', async (t) => {
  const created = await req('POST', '/api/content/article', admin, { title: 'A1', slug: 'a-one' });
  t.equal(created.status, 201);
  const id = created.body.data._id;
  await req('PATCH', `/api/content/article/${id}`, admin, { title: 'A2' });
  const versions = await versionsOf(id, 'article');
  t.same(versions.map((v) => [v.version, v.action]), [[2, 'update'], [1, 'create']]);
  const diff = await req('GET', `/api/content/article/${id}/versions/diff?from=1`);
  t.same(diff.body.data.changes, [{ path: '/title', op: 'changed', from: 'A1', to: 'A2' }]);
  const restore = await req('POST', `/api/content/article/${id}/versions/1/restore`);
  t.equal(restore.status, 200, dump(restore));
  t.match(restore.body.data, { title: 'A1', _status: 'published', _version: 3 });
  t.equal((await req('GET', `/api/content/article/${id}`, ANON)).body.data.title, 'A1', 'without drafts a restore is published at once');
});

t.test('retention keeps the newest x-cms.versions.keep versions', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cms-publishing-types-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const file of await readdir(EXAMPLE_TYPES)) if (file.endsWith('.json')) await copyFile(join(EXAMPLE_TYPES, file), join(dir, file));
  const schema = JSON.parse(await readFile(join(dir, 'post.json'), 'utf8')) as Json;
  schema['x-cms'].versions.keep = 3;
  await writeFile(join(dir, 'post.json'), JSON.stringify(schema));
  const small: FastifyInstance = await buildTestApp(t, { contentTypesDir: dir });

  const created = await call(small, 'POST', '/api/content/post', { slug: 'kept', title: { en: 'T0' }, body: { en: 'B' } });
  t.equal(created.status, 201, dump(created));
  const id = created.body.data._id;
  for (let i = 1; i <= 4; i++) t.equal((await call(small, 'PATCH', `/api/content/post/${id}`, { title: { en: `T${i}` } })).status, 200);
  t.equal((await call(small, 'POST', `/api/content/post/${id}/publish`)).status, 200, 'the sixth write');

  const list = await call(small, 'GET', `/api/content/post/${id}/versions`);
  t.same(list.body.data.map((v: Json) => [v.version, v.action]), [[6, 'publish'], [5, 'update'], [4, 'update']], 'only the newest 3 remain');
  t.equal(await small.mongo.db.collection('revisions').countDocuments({ type: 'post', entryId: id }), 3, 'the others are deleted');
  const gone = await call(small, 'GET', `/api/content/post/${id}/versions/3`);
  t.equal(gone.status, 404);
  t.equal(gone.body.error?.code, 'CMS_ERR_VERSION_NOT_FOUND');
  t.equal((await call(small, 'GET', `/api/content/post/${id}/versions/4`)).body.data.entry.title.en, 'T3');
  t.equal((await call(small, 'POST', `/api/content/post/${id}/versions/2/restore`)).status, 404, 'a pruned version cannot be restored');
  t.equal((await call(small, 'GET', `/api/content/post/${id}`)).body.data.title, 'T4', 'pruning left the entry alone');
});

// ---------------------------------------------------------------------------------------------
// 6. deletes

t.test('deleting a published entry removes the draft and the snapshot', async (t) => {
  const e = await draft({ title: { en: 'Doomed' } });
  await publish(e._id);
  await req('PATCH', `/api/content/post/${e._id}`, admin, { title: { en: 'Doomed, edited' } });
  const holder = await draft({ related: [e._id] });
  await publish(holder._id);
  t.equal(await published(e._id), 1);

  const stale = await req('DELETE', `/api/content/post/${e._id}`, { ...admin, 'if-match': '"2"' });
  t.equal(stale.status, 412, dump(stale));
  t.equal((await req('GET', `/api/content/post/${e._id}`, ANON)).status, 200, 'a stale delete leaves the snapshot');
  const del = await req('DELETE', `/api/content/post/${e._id}`, { ...admin, 'if-match': '"3"' });
  t.equal(del.status, 204, dump(del));
  const pub = await req('GET', `/api/content/post/${e._id}`, ANON);
  t.equal(pub.status, 404);
  t.equal(pub.body.error?.code, 'CMS_ERR_ENTRY_NOT_FOUND');
  const preview = await req('GET', `/api/content/post/${e._id}?preview=true`);
  t.equal(preview.status, 404, 'the draft is gone too');
  t.equal(await published(e._id), 0, 'no snapshot left');
  t.equal(await app.mongo.db.collection('content_post').countDocuments({ _id: e._id as never }), 0);
  t.equal((await req('GET', `/api/content/post?filter[slug][eq]=${e.slug}`, ANON)).body.meta.total, 0);
  t.same((await req('GET', `/api/content/post/${holder._id}?populate=related`, ANON)).body.data.related, [null], 'references to it resolve to null');

  const versions = await versionsOf(e._id);
  t.same(versions.map((v) => v.action), ['delete', 'update', 'publish', 'create'], 'the history stays');
  const last = await req('GET', `/api/content/post/${e._id}/versions/${versions[0]!.version}`);
  t.equal(last.body.data.entry, null, 'a delete version has no entry');
  const restoreDelete = await req('POST', `/api/content/post/${e._id}/versions/${versions[0]!.version}/restore`);
  t.equal(restoreDelete.status, 404);
  t.equal((await req('POST', `/api/content/post/${e._id}/publish`)).status, 404, 'nothing to publish');

  // the slug is free again, in both views
  const again = await draft({ slug: e.slug });
  t.equal((await req('POST', `/api/content/post/${again._id}/publish`)).status, 200);
  t.equal((await req('GET', `/api/content/post?filter[slug][eq]=${e.slug}`, ANON)).body.meta.total, 1);

  // a never-published draft too
  const d = await draft();
  t.equal((await req('DELETE', `/api/content/post/${d._id}`)).status, 204);
  t.equal((await req('GET', `/api/content/post/${d._id}?preview=true`)).status, 404);
});

// ---------------------------------------------------------------------------------------------
// 7. types without drafts

t.test('a type without drafts publishes every save at once', async (t) => {
  const created = await req('POST', '/api/content/article', admin, { title: 'Now', slug: 'now' });
  t.equal(created.status, 201);
  const a = created.body.data;
  t.equal(a._status, 'published');
  t.equal(a._publishedAt, a._createdAt, '_publishedAt is the time of the save');
  const seen = await req('GET', `/api/content/article/${a._id}`, ANON);
  t.equal(seen.status, 200, 'visible at once');
  t.match(seen.body.data, { title: 'Now', _status: 'published' });
  t.same(ids((await req('GET', '/api/content/article?filter[slug][eq]=now', ANON)).body.data), [a._id]);

  const patched = await req('PATCH', `/api/content/article/${a._id}`, admin, { title: 'Later' });
  t.match(patched.body.data, { _status: 'published', _version: 2 });
  t.equal(patched.body.data._publishedAt, patched.body.data._updatedAt);
  t.match((await req('GET', `/api/content/article/${a._id}`, ANON)).body.data, { title: 'Later', _version: 2 }, 'each save is what readers see');
  t.match((await req('GET', `/api/content/article/${a._id}?preview=true`)).body.data, { title: 'Later', _version: 2 }, 'preview shows the same');

  for (const action of ['publish', 'unpublish', 'discard']) {
    const res = await req('POST', `/api/content/article/${a._id}/${action}`);
    t.equal(res.status, 409, `${action} (${dump(res)})`);
    t.equal(res.body.error?.code, 'CMS_ERR_TYPE_NO_DRAFTS', action);
  }
  // a save without drafts is validated whole: required fields cannot be left out
  const missing = await req('POST', '/api/content/article', admin, { slug: 'no-title' });
  t.equal(missing.status, 400);
  t.match(missing.body.error?.details, [{ path: '/title', message: 'is required' }]);
  t.equal(await app.mongo.db.listCollections({ name: 'published_article' }).toArray().then((c) => c.length), 0, 'no snapshot collection');
});

t.test('authors delete their own drafts, but not what readers see', async (t) => {
  const author = await signIn(app, 'author');
  const mine = await draft({}, author);
  const live = await draft({}, author);
  await publish(live._id as string);
  const refused = await req('DELETE', `/api/content/post/${live._id}`, author);
  t.equal(refused.status, 403, dump(refused));
  t.equal((await req('GET', `/api/content/post/${live._id}`, ANON)).status, 200, 'still on the site');
  t.equal(await published(live._id as string), 1);
  t.equal((await req('DELETE', `/api/content/post/${mine._id}`, author)).status, 204, 'an unpublished draft of their own');
  const editor = await signIn(app, 'editor');
  t.equal((await req('DELETE', `/api/content/post/${live._id}`, editor)).status, 204, 'an editor may');
  t.equal(await published(live._id as string), 0);
});

t.test('a save that changes nothing is no new version and keeps a published entry published', async (t) => {
  const entry = await draft({ rating: 3 });
  const pub = await publish(entry._id as string);
  const same = await req('PATCH', `/api/content/post/${entry._id}`, admin, { rating: 3 });
  t.equal(same.status, 200, dump(same));
  t.equal(same.body.data._version, pub._version, 'no new version');
  t.equal(same.body.data._status, 'published');
  const put = await req('PUT', `/api/content/post/${entry._id}`, admin, {
    title: { en: entry.title ? (entry.title as Json).en : '' }, slug: entry.slug, body: entry.body, rating: 3,
  });
  t.equal(put.status, 200, dump(put));
  t.equal(put.body.data._status, 'published', 'an identical PUT too');
  t.equal((await req('POST', `/api/content/post/${entry._id}/discard`)).status, 409, 'nothing to discard');
});

t.test('turning drafts on keeps the site: existing entries become the published versions', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cms-adopt-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const name of await readdir(EXAMPLE_TYPES)) await copyFile(join(EXAMPLE_TYPES, name), join(dir, name));
  const db = `t_adopt_${process.pid}`;
  const before = await buildTestApp(t, { contentTypesDir: dir, env: { MONGODB_DB: db } });
  const created = await call(before, 'POST', '/api/content/category', { name: 'News', slug: 'news' });
  t.equal(created.status, 201, dump(created));
  const schema = JSON.parse(await readFile(join(dir, 'category.json'), 'utf8')) as Json;
  (schema['x-cms'] as Json).drafts = true;
  await writeFile(join(dir, 'category.json'), JSON.stringify(schema));
  const after = await buildTestApp(t, { contentTypesDir: dir, env: { MONGODB_DB: db }, as: 'anonymous' });
  const read = await call(after, 'GET', `/api/content/category/${created.body.data._id}`);
  t.equal(read.status, 200, `still public (${dump(read)})`);
  t.equal(read.body.data._status, 'published');
  const edit = await call(after, 'PATCH', `/api/content/category/${created.body.data._id}`, { name: 'Latest' }, await signIn(after, 'editor'));
  t.equal(edit.status, 200, dump(edit));
  t.equal(edit.body.data._status, 'changed', 'an edit is now a draft');
  t.equal((await call(after, 'GET', `/api/content/category/${created.body.data._id}`)).body.data.name, 'News', 'readers keep the published name');
});

t.test('media usage shows drafts only to those who may read drafts', async (t) => {
  const sharp = (await import('sharp')).default;
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123456' } }).png().toBuffer();
  const boundary = 'cms-test-boundary';
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cover.png"\r\nContent-Type: image/png\r\n\r\n`),
    png,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const up = await app.inject({ method: 'POST', url: '/api/media', payload, headers: { ...admin, 'content-type': `multipart/form-data; boundary=${boundary}` } });
  t.equal(up.statusCode, 201, up.body);
  const mediaId = (JSON.parse(up.body) as Json).data[0]._id as string;
  const secret = await draft({ slug: 'secret-launch', cover: mediaId });
  const reader = await tokenFor(app, ['content:read']);
  const previewer = await tokenFor(app, ['content:preview']);
  const usage = async (headers: Headers) => (await req('GET', `/api/media/${mediaId}/usage`, headers)).body.data as Json[];
  t.same(await usage(reader), [], 'a content:read token does not learn of the draft');
  t.same((await usage(previewer)).map((u) => u.id), [secret._id], 'a content:preview token does');
  t.same((await usage(admin)).map((u) => u.id), [secret._id], 'so does a session');
  await publish(secret._id as string);
  t.same((await usage(reader)).map((u) => u.id), [secret._id], 'once published, readers see it');
  t.equal((await req('DELETE', `/api/media/${mediaId}`)).status, 409, 'and it is in use');
});

t.test('a preview token reads nothing else of a type that is not public', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cms-private-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const name of await readdir(EXAMPLE_TYPES)) await copyFile(join(EXAMPLE_TYPES, name), join(dir, name));
  const schema = JSON.parse(await readFile(join(dir, 'post.json'), 'utf8')) as Json;
  (schema['x-cms'] as Json).public = false;
  await writeFile(join(dir, 'post.json'), JSON.stringify(schema));
  const priv = await buildTestApp(t, { contentTypesDir: dir, as: 'anonymous' });
  const boss = await signIn(priv, 'admin');
  const make = async (slug: string) => (await call(priv, 'POST', '/api/content/post', { title: { en: slug }, slug, body: { en: 'b' } }, boss)).body.data as Json;
  const mine = await make('mine');
  const other = await make('other');
  for (const e of [mine, other]) t.equal((await call(priv, 'POST', `/api/content/post/${e._id}/publish`, undefined, boss)).status, 200);
  const link = await call(priv, 'POST', `/api/content/post/${mine._id}/preview`, undefined, boss);
  const pt = { authorization: `Bearer ${link.body.data.token as string}` };
  t.equal((await call(priv, 'GET', `/api/content/post/${mine._id}?preview=true`, undefined, pt)).status, 200, 'its own draft');
  for (const url of ['/api/content/post', `/api/content/post/${other._id}`, `/api/content/post/${mine._id}`]) {
    const res = await call(priv, 'GET', url, undefined, pt);
    t.equal(res.status, 403, `${url} without preview=true (${dump(res)})`);
  }
  const list = await call(priv, 'GET', '/api/content/post?preview=true', undefined, pt);
  t.same(ids(list.body.data as Json[]), [mine._id], 'a preview list holds its entry only');
});
