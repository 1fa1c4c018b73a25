// Locales and preview links: localized fields written whole or one locale at a time, read flattened
// to a locale with its fallbacks, filtered and sorted per locale; preview tokens that open the draft
// of one entry; and the configuration / content-type errors around both.
import { copyFile, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { ConfigError, loadConfig, parseLocales } from '../src/config.js';
import { ContentTypeLoadError, loadContentTypes, type ContentTypeIssue } from '../src/content-types/loader.js';
import { EXAMPLE_TYPES, buildTestApp, call, countStored, originOf, send, signIn, tokenFor, type Json } from './helpers.js';

const env = { LOCALES: 'en,fr,fr-CA,de', LOCALE_FALLBACKS: 'fr-CA:fr' };
const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase 42';

// the clock of the main app (admin by default)
let clock = new Date();
const app = await buildTestApp(t, { env, now: () => clock });

/** Everything stored for a type: working copies and published snapshots. */
async function stored(a: FastifyInstance, type = 'post'): Promise<{ drafts: Json[]; published: Json[] }> {
  const db = a.mongo.db;
  return {
    drafts: await db.collection(`content_${type}`).find({}).sort({ _id: 1 }).toArray(),
    published: await db.collection(`published_${type}`).find({}).sort({ _id: 1 }).toArray(),
  };
}

const paths = (body: Json): string[] => ((body.error?.details ?? []) as Json[]).map((d) => String(d.path));

let slugs = 0;
const nextSlug = (what: string) => `${what}-${++slugs}`;

/** A post made with the whole localized objects; returns its stored (whole) form. */
async function makePost(a: FastifyInstance, fields: Json, headers: Record<string, string> = {}): Promise<Json> {
  const res = await call(a, 'POST', '/api/content/post', { slug: nextSlug('post'), ...fields }, headers);
  if (res.status !== 201) throw new Error(`seeding a post: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data as Json;
}

async function publish(a: FastifyInstance, id: string, headers: Record<string, string> = {}): Promise<Json> {
  const res = await call(a, 'POST', `/api/content/post/${id}/publish`, undefined, headers);
  if (res.status !== 200) throw new Error(`publishing: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data as Json;
}

type Test = Pick<typeof t, 'equal' | 'ok' | 'same' | 'match'>;

/** A write that must be refused with this status/code (and these detail paths), changing nothing stored. */
async function refused(
  t: Test,
  method: 'POST' | 'PUT' | 'PATCH',
  url: string,
  body: unknown,
  status: number,
  code: string,
  expectPaths: string[] = [],
): Promise<Json> {
  const before = await stored(app);
  const count = await countStored(app, 'post');
  const res = await call(app, method, url, body);
  const label = `${method} ${url} ${JSON.stringify(body)}`;
  t.equal(res.status, status, `${label}: status ${status}`);
  t.equal(res.body.error?.code, code, `${label}: ${code}`);
  for (const p of expectPaths) t.ok(paths(res.body).includes(p), `${label}: details name ${p} (got ${JSON.stringify(paths(res.body))})`);
  t.equal(await countStored(app, 'post'), count, `${label}: no entry added`);
  t.same(await stored(app), before, `${label}: nothing stored changed`);
  return res.body;
}

t.test('localized writes: whole objects, or one locale with ?locale=', async (t) => {
  // a whole-object write, answered whole
  const created = await call(app, 'POST', '/api/content/post', {
    slug: 'hello',
    title: { en: 'Hello', fr: 'Bonjour' },
    body: { en: 'Body', fr: 'Corps' },
    rating: 4,
  });
  t.equal(created.status, 201, JSON.stringify(created.body));
  const entry = created.body.data;
  t.same(entry.title, { en: 'Hello', fr: 'Bonjour' }, 'a write without ?locale answers whole objects');
  t.same(entry.body, { en: 'Body', fr: 'Corps' });
  t.notOk('_locale' in entry, 'no _locale on a whole answer');
  const url = `/api/content/post/${entry._id}`;
  const whole = async () => (await call(app, 'GET', `${url}?locale=*&preview=true`)).body.data as Json;

  // POST ?locale=fr: the body's localized values are fr's
  const fr = await call(app, 'POST', '/api/content/post?locale=fr', { slug: 'salut', title: 'Salut', body: 'Texte' });
  t.equal(fr.status, 201, JSON.stringify(fr.body));
  t.match(fr.body.data, { title: 'Salut', body: 'Texte', _locale: 'fr' }, 'answered flattened to fr');
  const frStored = (await call(app, 'GET', `/api/content/post/${fr.body.data._id}?locale=*&preview=true`)).body.data;
  t.same(frStored.title, { fr: 'Salut' }, 'stored under fr only');
  t.same(frStored.body, { fr: 'Texte' });
  // en is the required locale: a draft may lack it, publishing may not
  const noEn = await call(app, 'POST', `/api/content/post/${fr.body.data._id}/publish`);
  t.equal(noEn.status, 400);
  t.equal(noEn.body.error.code, 'CMS_ERR_ENTRY_VALIDATION');
  t.ok(paths(noEn.body).includes('/title/en'), `publish needs the default locale's title (got ${JSON.stringify(paths(noEn.body))})`);
  t.ok(paths(noEn.body).includes('/body/en'), 'and its body');

  // PUT ?locale=fr replaces fr's values and keeps the other locales
  const put = await call(app, 'PUT', `${url}?locale=fr`, { slug: 'hello', title: 'Bonjour 2', body: 'Corps 2' });
  t.equal(put.status, 200, JSON.stringify(put.body));
  t.match(put.body.data, { _version: 2, title: 'Bonjour 2', body: 'Corps 2', _locale: 'fr' });
  let now = await whole();
  t.same(now.title, { en: 'Hello', fr: 'Bonjour 2' }, 'PUT ?locale=fr keeps en');
  t.same(now.body, { en: 'Body', fr: 'Corps 2' });
  t.notOk('rating' in now, 'a field that is not localized is replaced as by any PUT');

  // PUT ?locale=fr without title: fr's title goes, en's stays
  const putNoTitle = await call(app, 'PUT', `${url}?locale=fr`, { slug: 'hello', body: 'Corps 3' });
  t.equal(putNoTitle.status, 200, JSON.stringify(putNoTitle.body));
  t.equal(putNoTitle.body.data.title, 'Hello', 'the answer falls back to en for fr');
  now = await whole();
  t.same(now.title, { en: 'Hello' }, 'only fr\'s title was removed');
  t.same(now.body, { en: 'Body', fr: 'Corps 3' });

  // PATCH ?locale=fr sets fr only
  const patch = await call(app, 'PATCH', `${url}?locale=fr`, { title: 'Bonjour 4' });
  t.equal(patch.status, 200, JSON.stringify(patch.body));
  t.match(patch.body.data, { title: 'Bonjour 4', body: 'Corps 3', _locale: 'fr' });
  now = await whole();
  t.same(now.title, { en: 'Hello', fr: 'Bonjour 4' });
  t.same(now.body, { en: 'Body', fr: 'Corps 3' }, 'PATCH leaves what it does not name');

  // PATCH ?locale=de too
  t.equal((await call(app, 'PATCH', `${url}?locale=de`, { title: 'Hallo' })).status, 200);
  now = await whole();
  t.same(now.title, { en: 'Hello', fr: 'Bonjour 4', de: 'Hallo' });

  // PATCH ?locale=fr with null removes fr's value only
  const unset = await call(app, 'PATCH', `${url}?locale=fr`, { title: null });
  t.equal(unset.status, 200, JSON.stringify(unset.body));
  t.equal(unset.body.data.title, 'Hello', 'fr now falls back to en');
  now = await whole();
  t.same(now.title, { en: 'Hello', de: 'Hallo' }, 'null removed fr, not en or de');
  t.same(now.body, { en: 'Body', fr: 'Corps 3' });

  // PATCH without ?locale: objects merge member by member
  const merged = await call(app, 'PATCH', url, { title: { fr: 'Bonjour 5', de: null } });
  t.equal(merged.status, 200, JSON.stringify(merged.body));
  t.same(merged.body.data.title, { en: 'Hello', fr: 'Bonjour 5' }, 'answered whole; merged per locale');

  // PUT without ?locale replaces the whole objects
  const replaced = await call(app, 'PUT', url, { slug: 'hello', title: { en: 'Hi' }, body: { de: 'Inhalt' } });
  t.equal(replaced.status, 200, JSON.stringify(replaced.body));
  now = await whole();
  t.same(now.title, { en: 'Hi' });
  t.same(now.body, { de: 'Inhalt' });
  t.equal(now._version, 8);
});

t.test('removing the last locale value of a field', async (t) => {
  const e = await makePost(app, { title: { en: 'Only' }, body: { en: 'b' } });
  const url = `/api/content/post/${e._id}`;
  const whole = async () => (await call(app, 'GET', `${url}?locale=*&preview=true`)).body.data as Json;
  // PUT ?locale=en without title: the field goes altogether
  t.equal((await call(app, 'PUT', `${url}?locale=en`, { slug: e.slug, body: 'b' })).status, 200);
  t.notOk('title' in (await whole()), 'PUT ?locale: no locale left, no field');
  t.equal((await call(app, 'PATCH', `${url}?locale=en`, { title: 'Back' })).status, 200);
  t.same((await whole()).title, { en: 'Back' });
  // PATCH ?locale=en with null: the value goes; the read is the same either way
  const patched = await call(app, 'PATCH', `${url}?locale=en`, { title: null });
  t.equal(patched.status, 200);
  t.notOk('title' in patched.body.data, 'no value in any locale: absent from the flattened answer');
  const stored = await whole();
  t.notOk('title' in stored, `PATCH ?locale: no locale left, no field, as with PUT (stored ${JSON.stringify(stored.title)})`);
  const version = stored._version;
  const noop = await call(app, 'PATCH', `${url}?locale=fr`, { summary: null });
  t.equal(noop.status, 200);
  const after = await whole();
  t.notOk('summary' in after, `removing a value that is not there stores nothing (stored ${JSON.stringify(after.summary)})`);
  t.equal(after._version, version, 'a PATCH that changes nothing is no new version');
});

t.test('refused localized writes: 400 naming the locale, nothing stored', async (t) => {
  const entry = await makePost(app, { title: { en: 'Keep', fr: 'Garder' }, body: { en: 'Body' } });
  const url = `/api/content/post/${entry._id}`;
  const list = '/api/content/post';
  const V = 'CMS_ERR_ENTRY_VALIDATION';

  // a plain value for a localized field needs ?locale
  for (const [method, u] of [['POST', list], ['PUT', url]] as const) {
    const res = await refused(t, method, u, { slug: 'plain', title: 'Plain', body: { en: 'x' } }, 400, V, ['/title']);
    t.match(res.error.details, [{ path: '/title', message: /localized/ }]);
  }
  await refused(t, 'PATCH', url, { title: 'Plain' }, 400, V, ['/title']);
  await refused(t, 'PATCH', url, { body: ['a'] }, 400, V, ['/body']);

  // each locale's value is validated with the field's schema
  await refused(t, 'POST', list, { slug: 'bad-fr', title: { en: 'A', fr: '' }, body: { en: 'x' } }, 400, V, ['/title/fr']);
  const unknown = await refused(t, 'POST', list, { slug: 'bad-xx', title: { en: 'A', xx: 'a' }, body: { en: 'x' } }, 400, V, ['/title/xx']);
  t.match(unknown.error.details.find((d: Json) => d.path === '/title/xx'), { message: 'unknown field' });
  await refused(t, 'POST', list, { slug: 'bad-de', title: { en: 'A' }, body: { de: 5 } }, 400, V, ['/body/de']);
  await refused(t, 'PUT', url, { slug: entry.slug, title: { en: 'A', fr: '' } }, 400, V, ['/title/fr']);
  await refused(t, 'PATCH', url, { title: { fr: '' } }, 400, V, ['/title/fr']);
  await refused(t, 'PATCH', url, { title: { 'fr-ca': 'x' } }, 400, V, ['/title/fr-ca']);
  await refused(t, 'PATCH', url, { title: { en: 'x'.repeat(201) } }, 400, V, ['/title/en']);
  // with ?locale the value is that locale's, and it is checked there
  await refused(t, 'POST', `${list}?locale=fr`, { slug: 'bad-loc', title: '' }, 400, V, ['/title/fr']);
  await refused(t, 'PUT', `${url}?locale=de`, { slug: entry.slug, body: 5 }, 400, V, ['/body/de']);
  await refused(t, 'PATCH', `${url}?locale=fr-CA`, { title: '' }, 400, V, ['/title/fr-CA']);
  await refused(t, 'PATCH', `${url}?locale=fr`, { title: { en: 'nested' } }, 400, V, ['/title/fr']);

  // the locale of a write must be configured; * is for reads
  const L = 'CMS_ERR_LOCALE_UNKNOWN';
  for (const locale of ['xx', 'FR', 'fr-ca', '*', '']) {
    const q = `locale=${encodeURIComponent(locale)}`;
    await refused(t, 'POST', `${list}?${q}`, { slug: 'bad-locale', title: 'x', body: 'y' }, 400, L, ['locale']);
    await refused(t, 'PUT', `${url}?${q}`, { slug: entry.slug, title: 'x' }, 400, L, ['locale']);
    await refused(t, 'PATCH', `${url}?${q}`, { title: 'x' }, 400, L, ['locale']);
  }
  // twice is not one locale
  await refused(t, 'PATCH', `${url}?locale=fr&locale=de`, { title: 'x' }, 400, 'CMS_ERR_QUERY_BAD_VALUE', ['locale']);
  await refused(t, 'POST', `${list}?locale=fr&locale=fr`, { slug: 'twice', title: 'x' }, 400, 'CMS_ERR_QUERY_BAD_VALUE', ['locale']);

  const after = (await call(app, 'GET', `${url}?locale=*&preview=true`)).body.data;
  t.equal(after._version, 1, 'the entry is still at version 1');
  t.same(after.title, { en: 'Keep', fr: 'Garder' });
});

t.test('reads: flattened to a locale through its fallbacks', async (t) => {
  const a = await makePost(app, {
    title: { en: 'Hello', fr: 'Bonjour' },
    body: { en: 'Body', fr: 'Corps', 'fr-CA': 'Corps CA' },
    summary: { de: 'Zusammenfassung' },
    reviewNotes: 'internal',
  });
  const b = await makePost(app, { title: { en: 'Only English' }, body: { en: 'B' } });
  await publish(app, a._id);
  await publish(app, b._id);
  const get = (id: string, q = '') => call(app, 'GET', `/api/content/post/${id}${q}`);

  const en = await get(a._id);
  t.equal(en.status, 200);
  t.match(en.body.data, { title: 'Hello', body: 'Body', _locale: 'en' }, 'no ?locale: the default locale');
  t.notOk('summary' in en.body.data, 'a field with no value in en (nor a fallback) is absent');
  t.same((await get(a._id, '?locale=en')).body.data, en.body.data, '?locale=en is the same');

  const fr = (await get(a._id, '?locale=fr')).body.data;
  t.match(fr, { title: 'Bonjour', body: 'Corps', _locale: 'fr' });
  t.notOk('summary' in fr, 'summary has neither fr nor en: absent');

  const frCA = (await get(a._id, '?locale=fr-CA')).body.data;
  t.match(frCA, { title: 'Bonjour', body: 'Corps CA', _locale: 'fr-CA' }, 'fr-CA: its own value, else fr');
  t.notOk('summary' in frCA);
  t.equal((await get(b._id, '?locale=fr-CA')).body.data.title, 'Only English', 'fr-CA → fr → en');

  const de = (await get(a._id, '?locale=de')).body.data;
  t.match(de, { title: 'Hello', body: 'Body', summary: 'Zusammenfassung', _locale: 'de' }, 'de falls back to en');
  t.equal(de.reviewNotes, 'internal', 'a signed-in admin sees private fields');

  const all = (await get(a._id, '?locale=*')).body.data;
  t.same(all.title, { en: 'Hello', fr: 'Bonjour' });
  t.same(all.body, { en: 'Body', fr: 'Corps', 'fr-CA': 'Corps CA' });
  t.same(all.summary, { de: 'Zusammenfassung' });
  t.notOk('_locale' in all, '?locale=* has no _locale');

  const withFields = (await get(a._id, '?locale=fr&fields=title')).body.data;
  t.equal(withFields.title, 'Bonjour', 'fields= and locale= together');
  t.equal(withFields._locale, 'fr');
  t.notOk('body' in withFields);

  // refused locales, by id and in lists
  for (const u of [`/api/content/post/${a._id}`, '/api/content/post']) {
    for (const locale of ['xx', 'FR', 'fr-ca', 'en-US', '']) {
      const res = await call(app, 'GET', `${u}?locale=${encodeURIComponent(locale)}`);
      t.equal(res.status, 400, `${u} locale=${locale}`);
      t.equal(res.body.error?.code, 'CMS_ERR_LOCALE_UNKNOWN');
      t.same(paths(res.body), ['locale']);
    }
    const twice = await call(app, 'GET', `${u}?locale=fr&locale=de`);
    t.equal(twice.status, 400, `${u}: locale twice`);
    t.equal(twice.body.error?.code, 'CMS_ERR_QUERY_BAD_VALUE');
    t.same(paths(twice.body), ['locale']);
  }

  // lists
  const listFr = await call(app, 'GET', `/api/content/post?locale=fr&filter[slug][in]=${a.slug},${b.slug}&sort=slug`);
  t.equal(listFr.status, 200, JSON.stringify(listFr.body));
  t.match(listFr.body.meta, { locale: 'fr', preview: false });
  t.same(listFr.body.data.map((e: Json) => e.title), ['Bonjour', 'Only English']);
  t.same(listFr.body.data.map((e: Json) => e._locale), ['fr', 'fr']);
  const listDefault = await call(app, 'GET', `/api/content/post?filter[slug][in]=${a.slug},${b.slug}&sort=slug`);
  t.equal(listDefault.body.meta.locale, 'en');
  t.same(listDefault.body.data.map((e: Json) => e.title), ['Hello', 'Only English']);
  const listAll = await call(app, 'GET', `/api/content/post?locale=*&filter[slug][eq]=${a.slug}`);
  t.equal(listAll.body.meta.locale, '*');
  t.same(listAll.body.data[0].title, { en: 'Hello', fr: 'Bonjour' });
  t.notOk('_locale' in listAll.body.data[0]);
});

t.test('filter and sort on a localized field use the locale\'s own value', async (t) => {
  const x = await makePost(app, { title: { en: 'Apple', fr: 'Bonjour' }, body: { en: 'x' } });
  const y = await makePost(app, { title: { en: 'Zebra', fr: 'Abeille' }, body: { en: 'y' } });
  const z = await makePost(app, { title: { en: 'Bonjour' }, body: { en: 'z' } });
  for (const e of [x, y, z]) await publish(app, e._id);
  const ids = (res: { body: Json }) => (res.body.data as Json[]).map((e) => e._id);
  // only these three (other tests' entries are published too)
  const only = `filter[_id][in]=${[x._id, y._id, z._id].join(',')}`;
  const list = (q: string) => call(app, 'GET', `/api/content/post?${only}&${q}`);

  const frHit = await list('filter[title][eq]=Bonjour&locale=fr');
  t.equal(frHit.status, 200, JSON.stringify(frHit.body));
  t.same(ids(frHit), [x._id], 'locale=fr: found by its fr title');
  t.equal(frHit.body.data[0].title, 'Bonjour');
  t.equal(frHit.body.meta.total, 1);
  const enHit = await list('filter[title][eq]=Bonjour&locale=en');
  t.notOk(ids(enHit).includes(x._id), 'locale=en: not found by its fr title');
  t.same(ids(enHit), [z._id], 'locale=en: the entry whose en title is Bonjour');
  t.same(ids(await list('filter[title][eq]=Bonjour')), [z._id], 'no locale: the default locale\'s values');
  t.same(ids(await list('filter[title][eq]=Bonjour&locale=fr-CA')), [], 'no fallback in filters: fr-CA has no title of its own');
  t.same(ids(await list('filter[title][eq]=Apple&locale=fr')), [], 'the en title is not matched in fr');
  t.same(ids(await list('filter[title][startsWith]=Abe&locale=fr')), [y._id]);
  t.same(ids(await list('filter[title][contains]=bonj&locale=fr')), [x._id]);
  t.same(ids(await list('filter[title][exists]=true&locale=fr&sort=_id')).length, 2, 'exists: per locale');
  t.same(ids(await list('filter[title][exists]=false&locale=fr')), [z._id]);

  t.same(ids(await list('sort=title&locale=en')), [x._id, z._id, y._id], 'en: Apple, Bonjour, Zebra');
  // fr: z has no fr title, and a missing value sorts first
  t.same(ids(await list('sort=title&locale=fr')), [z._id, y._id, x._id], 'fr: (none), Abeille, Bonjour');
  t.same(ids(await list('sort=-title&locale=fr')), [x._id, y._id, z._id]);

  // cursors page through a localized sort
  const first = await list('sort=title&locale=fr&limit=2');
  t.same(ids(first), [z._id, y._id]);
  t.type(first.body.meta.nextCursor, 'string');
  const second = await list(`sort=title&locale=fr&limit=2&cursor=${first.body.meta.nextCursor}`);
  t.equal(second.status, 200, JSON.stringify(second.body));
  t.same(ids(second), [x._id]);
  // a cursor of the fr sort is not one of the en sort
  const foreign = await list(`sort=title&locale=en&limit=2&cursor=${first.body.meta.nextCursor}`);
  t.equal(foreign.status, 400, 'a cursor belongs to its locale\'s sort');
  t.equal(foreign.body.error?.code, 'CMS_ERR_QUERY_BAD_CURSOR');
});

t.test('publishing is per entry: every locale goes public together', async (t) => {
  const e = await makePost(app, { title: { en: 'Pub', fr: 'Pub FR' }, body: { en: 'b', fr: 'b fr' } });
  const url = `/api/content/post/${e._id}`;
  const anon = (q: string) => call(app, 'GET', `${url}${q}`, undefined, { cookie: '' });
  t.equal((await call(app, 'GET', '/api/auth/me', undefined, { cookie: '' })).status, 401, 'cookie "" makes the request anonymous');
  for (const q of ['', '?locale=en', '?locale=fr', '?locale=*']) {
    const res = await anon(q);
    t.equal(res.status, 404, `unpublished: ${q || 'no locale'} → 404`);
    t.equal(res.body.error?.code, 'CMS_ERR_ENTRY_NOT_FOUND');
  }
  await publish(app, e._id);
  t.equal((await anon('?locale=en')).body.data.title, 'Pub');
  t.equal((await anon('?locale=fr')).body.data.title, 'Pub FR');
  t.equal((await anon('?locale=de')).body.data.title, 'Pub', 'fallback in the published view too');

  // a draft edit of one locale stays unpublished until the entry is published again
  const edit = await call(app, 'PATCH', `${url}?locale=fr`, { title: 'Pub FR 2' });
  t.equal(edit.status, 200);
  t.equal(edit.body.data._status, 'changed');
  t.equal((await anon('?locale=fr')).body.data.title, 'Pub FR', 'readers still see the published fr');
  t.equal((await call(app, 'GET', `${url}?locale=fr&preview=true`)).body.data.title, 'Pub FR 2', 'preview sees the draft');
  const editEn = await call(app, 'PATCH', `${url}?locale=en`, { title: 'Pub 2' });
  t.equal(editEn.status, 200);
  await publish(app, e._id);
  t.equal((await anon('?locale=fr')).body.data.title, 'Pub FR 2');
  t.equal((await anon('?locale=en')).body.data.title, 'Pub 2');
  const pubAll = (await anon('?locale=*')).body.data;
  t.same(pubAll.title, { en: 'Pub 2', fr: 'Pub FR 2' });
  t.notOk('reviewNotes' in pubAll);

  // unpublishing takes every locale away
  t.equal((await call(app, 'POST', `${url}/unpublish`)).status, 200);
  t.equal((await anon('?locale=fr')).status, 404);
  t.equal((await anon('?locale=en')).status, 404);
});

t.test('populate flattens the referenced entries to the same locale', async (t) => {
  const target = await makePost(app, { title: { en: 'Target', fr: 'Cible' }, body: { en: 't' } });
  await publish(app, target._id);
  const holder = await makePost(app, { title: { en: 'Holder' }, body: { en: 'h' }, related: [target._id] });
  await publish(app, holder._id);
  const res = await call(app, 'GET', `/api/content/post/${holder._id}?locale=fr&populate=related`);
  t.equal(res.status, 200, JSON.stringify(res.body));
  t.equal(res.body.data.title, 'Holder', 'fr falls back to en');
  t.match(res.body.data.related, [{ _id: target._id, title: 'Cible', _locale: 'fr' }]);
});

t.test('versions of a localized entry', async (t) => {
  const e = await makePost(app, { title: { en: 'V1', fr: 'V1 fr' }, body: { en: 'b' } });
  const base = `/api/content/post/${e._id}/versions`;
  t.equal((await call(app, 'PATCH', `/api/content/post/${e._id}?locale=fr`, { title: 'V2 fr', body: 'b fr' })).status, 200);

  const v1fr = await call(app, 'GET', `${base}/1?locale=fr`);
  t.equal(v1fr.status, 200, JSON.stringify(v1fr.body));
  t.match(v1fr.body.data, { version: 1, action: 'create', entry: { title: 'V1 fr', body: 'b', _locale: 'fr' } }, 'flattened; body falls back to en');
  const v2fr = await call(app, 'GET', `${base}/2?locale=fr`);
  t.match(v2fr.body.data, { version: 2, action: 'update', entry: { title: 'V2 fr', body: 'b fr', _locale: 'fr' } });
  const v2de = await call(app, 'GET', `${base}/2?locale=de`);
  t.match(v2de.body.data.entry, { title: 'V1', body: 'b', _locale: 'de' });
  const v2whole = await call(app, 'GET', `${base}/2`);
  t.same(v2whole.body.data.entry.title, { en: 'V1', fr: 'V2 fr' }, 'no ?locale: whole objects');
  t.notOk('_locale' in v2whole.body.data.entry);
  const v2star = await call(app, 'GET', `${base}/2?locale=*`);
  t.same(v2star.body.data.entry.title, { en: 'V1', fr: 'V2 fr' });
  const bad = await call(app, 'GET', `${base}/2?locale=xx`);
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'CMS_ERR_LOCALE_UNKNOWN');
  t.same(paths(bad.body), ['locale']);

  const diff = await call(app, 'GET', `${base}/diff?from=1&to=2`);
  t.equal(diff.status, 200);
  t.same(
    diff.body.data.changes,
    [
      { path: '/body/fr', op: 'added', to: 'b fr' },
      { path: '/title/fr', op: 'changed', from: 'V1 fr', to: 'V2 fr' },
    ],
    'localized fields are compared locale by locale',
  );
});

// --- preview tokens: an app whose requests are anonymous unless they carry credentials ---

let pclock = new Date();
const papp = await buildTestApp(t, { env, as: 'anonymous', now: () => pclock });
const advance = (ms: number) => {
  pclock = new Date(pclock.getTime() + ms);
};
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

t.test('preview tokens: what one opens and what it does not', async (t) => {
  const admin = await signIn(papp, 'admin');
  t.equal((await send(papp, 'GET', '/api/auth/me')).status, 401, 'the preview app is anonymous by default');

  const draft = await makePost(papp, { title: { en: 'Draft', fr: 'Brouillon' }, body: { en: 'Draft body' }, reviewNotes: 'secret' }, admin);
  const other = await makePost(papp, { title: { en: 'Other draft' }, body: { en: 'o' } }, admin);
  const live = await makePost(papp, { title: { en: 'Live' }, body: { en: 'l' } }, admin);
  await publish(papp, live._id, admin);
  const url = `/api/content/post/${draft._id}`;

  const res = await call(papp, 'POST', `${url}/preview`, undefined, admin);
  t.equal(res.status, 201, JSON.stringify(res.body));
  const { token, expiresAt, url: link } = res.body.data as { token: string; expiresAt: string; url: string };
  t.match(token, /^cmsp_[A-Za-z0-9_-]{43}$/);
  t.equal(expiresAt, new Date(pclock.getTime() + 60 * 60_000).toISOString(), 'expires after PREVIEW_TOKEN_MINUTES (60)');
  t.equal(link, `http://localhost:4321/blog/${draft.slug}?preview=${encodeURIComponent(token)}&locale=en`, 'the default locale when none is asked');
  t.equal(
    (await papp.mongo.db.collection('preview_tokens').countDocuments({ _id: token as never })),
    0,
    'the token itself is not stored (only its hash)',
  );

  const inFr = await call(papp, 'POST', `${url}/preview?locale=fr`, undefined, admin);
  t.equal(inFr.status, 201);
  t.equal(inFr.body.data.url, `http://localhost:4321/blog/${draft.slug}?preview=${inFr.body.data.token}&locale=fr`);
  const badLocale = await call(papp, 'POST', `${url}/preview?locale=xx`, undefined, admin);
  t.equal(badLocale.status, 400);
  t.equal(badLocale.body.error?.code, 'CMS_ERR_LOCALE_UNKNOWN');
  const unknownParam = await call(papp, 'POST', `${url}/preview?ttl=5`, undefined, admin);
  t.equal(unknownParam.status, 400);
  const missing = await call(papp, 'POST', '/api/content/post/0123456789abcdef01234567/preview', undefined, admin);
  t.equal(missing.status, 404);
  t.equal(missing.body.error?.code, 'CMS_ERR_ENTRY_NOT_FOUND');

  const as = bearer(token);
  t.equal((await send(papp, 'GET', '/api/auth/me', { headers: as })).status, 403, 'a preview token is not a user');

  // its own draft
  const own = await call(papp, 'GET', `${url}?preview=true`, undefined, as);
  t.equal(own.status, 200, JSON.stringify(own.body));
  t.match(own.body.data, { _id: draft._id, _status: 'draft', title: 'Draft', body: 'Draft body', _locale: 'en' });
  t.notOk('reviewNotes' in own.body.data, 'private fields stay hidden from a preview token');
  t.notOk('_createdBy' in own.body.data);
  t.equal((await call(papp, 'GET', `${url}?preview=true&locale=fr`, undefined, as)).body.data.title, 'Brouillon');

  // not another entry's draft, nor another published entry with preview=true
  for (const id of [other._id, live._id]) {
    const scoped = await call(papp, 'GET', `/api/content/post/${id}?preview=true`, undefined, as);
    t.equal(scoped.status, 403, `preview=true of ${id === live._id ? 'a published' : 'another draft'} entry`);
    t.equal(scoped.body.error?.code, 'CMS_ERR_PREVIEW_TOKEN_SCOPE');
  }
  const otherType = await call(papp, 'GET', '/api/content/author?preview=true', undefined, as);
  t.equal(otherType.status, 403, 'preview=true of another type');

  // lists
  const listed = await call(papp, 'GET', '/api/content/post?preview=true', undefined, as);
  t.equal(listed.status, 200, JSON.stringify(listed.body));
  t.same(listed.body.data.map((e: Json) => e._id), [draft._id], 'preview=true lists only its entry');
  t.match(listed.body.meta, { total: 1, preview: true });
  const published = await call(papp, 'GET', '/api/content/post', undefined, as);
  t.same(published.body.data.map((e: Json) => e._id), [live._id], 'without preview=true: the published view, as anonymous');
  t.equal(published.body.meta.preview, false);

  // without preview=true it reads like anonymous
  const plain = await call(papp, 'GET', url, undefined, as);
  t.equal(plain.status, 404);
  t.equal(plain.body.error?.code, 'CMS_ERR_ENTRY_NOT_FOUND');
  t.equal((await call(papp, 'GET', `/api/content/post/${live._id}`, undefined, as)).status, 200);

  // the history of another entry is not opened by it either
  const otherVersions = await call(papp, 'GET', `/api/content/post/${other._id}/versions/1?locale=*`, undefined, as);
  t.equal(otherVersions.status, 403, `versions of another entry: ${otherVersions.status} ${JSON.stringify(otherVersions.body).slice(0, 200)}`);
  const otherList = await call(papp, 'GET', `/api/content/post/${other._id}/versions`, undefined, as);
  t.equal(otherList.status, 403, `version list of another entry: ${otherList.status}`);
  const otherDiff = await call(papp, 'GET', `/api/content/post/${other._id}/versions/diff?from=1`, undefined, as);
  t.equal(otherDiff.status, 403, `diff of another entry: ${otherDiff.status}`);

  // writes are refused, and change nothing
  const before = await stored(papp);
  const writes: Array<[string, 'POST' | 'PUT' | 'PATCH' | 'DELETE', string, unknown]> = [
    ['create', 'POST', '/api/content/post', { slug: 'by-preview', title: { en: 'x' } }],
    ['replace', 'PUT', url, { slug: draft.slug, title: { en: 'x' } }],
    ['patch', 'PATCH', url, { title: { en: 'x' } }],
    ['patch ?locale', 'PATCH', `${url}?locale=fr`, { title: 'x' }],
    ['delete', 'DELETE', url, undefined],
    ['publish', 'POST', `${url}/publish`, undefined],
    ['unpublish', 'POST', `/api/content/post/${live._id}/unpublish`, undefined],
    ['restore', 'POST', `${url}/versions/1/restore`, undefined],
    ['schedule', 'POST', `${url}/schedules`, { action: 'publish', at: '2099-01-01T00:00:00Z' }],
    ['another preview token', 'POST', `${url}/preview`, undefined],
    ['article create', 'POST', '/api/content/article', { title: 'x', slug: 'by-preview' }],
  ];
  for (const [what, method, u, body] of writes) {
    const w = await call(papp, method, u, body, as);
    t.equal(w.status, 403, `${what} with a preview token: 403 (got ${w.status})`);
    t.equal(w.body.error?.code, 'CMS_ERR_FORBIDDEN', what);
  }
  t.same(await stored(papp), before, 'nothing written');
  t.equal(await countStored(papp, 'article'), 0);

  // tokens that are not ours
  const fake = await call(papp, 'GET', `${url}?preview=true`, undefined, bearer(`cmsp_${'A'.repeat(43)}`));
  t.equal(fake.status, 401);
  t.equal(fake.body.error?.code, 'CMS_ERR_AUTH_INVALID');
  for (const bad of ['cmsp_', 'cmsp_short', `${token}x`, token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')]) {
    const r = await call(papp, 'GET', `${url}?preview=true`, undefined, bearer(bad));
    t.equal(r.status, 401, `made-up token ${bad.slice(0, 12)}…`);
    t.equal(r.body.error?.code, 'CMS_ERR_AUTH_INVALID');
  }
  // without preview rights at all, anonymous preview=true is 401
  t.equal((await call(papp, 'GET', `${url}?preview=true`)).status, 401);

  // expiry follows the app's clock: valid up to expiresAt, not at it
  pclock = new Date(Date.parse(expiresAt) - 1);
  t.equal((await call(papp, 'GET', `${url}?preview=true`, undefined, as)).status, 200, 'a millisecond before expiresAt');
  pclock = new Date(expiresAt);
  const expired = await call(papp, 'GET', `${url}?preview=true`, undefined, as);
  t.equal(expired.status, 401, 'at expiresAt');
  t.equal(expired.body.error?.code, 'CMS_ERR_AUTH_INVALID');
  const expiredPlain = await call(papp, 'GET', `/api/content/post/${live._id}`, undefined, as);
  t.equal(expiredPlain.status, 401, 'an expired token is refused even for public reads');
  advance(1000);
});

t.test('who may make preview tokens; article has no previewUrl', async (t) => {
  const admin = await signIn(papp, 'admin');
  const draft = await makePost(papp, { title: { en: 'Who' }, body: { en: 'w' } }, admin);
  const url = `/api/content/post/${draft._id}/preview`;

  const anon = await call(papp, 'POST', url);
  t.equal(anon.status, 401);
  t.equal(anon.body.error?.code, 'CMS_ERR_AUTH_REQUIRED');

  const reader = await call(papp, 'POST', url, undefined, await tokenFor(papp, ['content:read']));
  t.equal(reader.status, 403, 'a content:read token');
  t.equal(reader.body.error?.code, 'CMS_ERR_FORBIDDEN');
  const otherType = await call(papp, 'POST', url, undefined, await tokenFor(papp, ['content:preview'], { types: ['article'] }));
  t.equal(otherType.status, 403, 'a content:preview token for another type');

  const previewer = await call(papp, 'POST', url, undefined, await tokenFor(papp, ['content:preview']));
  t.equal(previewer.status, 201, JSON.stringify(previewer.body));
  t.match(previewer.body.data.token, /^cmsp_/);
  const opened = await call(papp, 'GET', `/api/content/post/${draft._id}?preview=true`, undefined, bearer(previewer.body.data.token));
  t.equal(opened.status, 200, 'a token made by an API token opens the draft');
  const writer = await call(papp, 'POST', url, undefined, await tokenFor(papp, ['content:write']));
  t.equal(writer.status, 201, 'content:write may preview too');

  for (const role of ['editor', 'author', 'viewer'] as const) {
    const r = await call(papp, 'POST', url, undefined, await signIn(papp, role));
    t.equal(r.status, 201, `a signed-in ${role} may make a preview link`);
  }

  // a type without previewUrl: a token, and no url
  const article = await call(papp, 'POST', '/api/content/article', { title: 'Art', slug: 'art' }, admin);
  t.equal(article.status, 201);
  const link = await call(papp, 'POST', `/api/content/article/${article.body.data._id}/preview`, undefined, admin);
  t.equal(link.status, 201, JSON.stringify(link.body));
  t.match(link.body.data, { token: /^cmsp_/, expiresAt: String, url: null });
  const read = await call(papp, 'GET', `/api/content/article/${article.body.data._id}?preview=true`, undefined, bearer(link.body.data.token));
  t.equal(read.status, 200);
  t.equal(read.body.data.title, 'Art');
});

t.test('a preview link is voided when its maker is suspended or changes password', async (t) => {
  const admin = await signIn(papp, 'admin');
  const draft = await makePost(papp, { title: { en: 'Maker' }, body: { en: 'm' } }, admin);
  const url = `/api/content/post/${draft._id}`;
  const open = (token: string) => call(papp, 'GET', `${url}?preview=true`, undefined, bearer(token));

  async function user(role: 'editor' | 'author') {
    const u = await papp.auth.createUser({ email: `${role}.${Date.now()}.${Math.random()}@example.com`, name: `A ${role}`, password: PASSWORD, role });
    const { cookie } = await papp.auth.sessions.create(u._id);
    return { id: u._id, headers: { cookie: cookie.split(';')[0]!, origin: originOf(papp) } };
  }

  // suspended
  const editor = await user('editor');
  const made = await call(papp, 'POST', `${url}/preview`, undefined, editor.headers);
  t.equal(made.status, 201);
  const token = made.body.data.token as string;
  t.equal((await open(token)).status, 200, 'works while its maker is active');
  advance(1000);
  const suspend = await send(papp, 'PATCH', `/api/users/${editor.id}`, { body: { status: 'suspended' }, headers: admin });
  t.equal(suspend.status, 200, JSON.stringify(suspend.body));
  const off = await open(token);
  t.equal(off.status, 401, 'its maker was suspended');
  t.equal(off.body.error?.code, 'CMS_ERR_AUTH_INVALID');
  advance(1000);
  t.equal((await send(papp, 'PATCH', `/api/users/${editor.id}`, { body: { status: 'active' }, headers: admin })).status, 200);
  t.equal((await open(token)).status, 401, 'reactivating the maker does not revive the link');

  // password changed
  const author = await user('author');
  const mine = await call(papp, 'POST', `${url}/preview`, undefined, author.headers);
  t.equal(mine.status, 201);
  t.equal((await open(mine.body.data.token)).status, 200);
  advance(1000);
  const changed = await send(papp, 'POST', '/api/auth/password', { body: { current: PASSWORD, password: NEW_PASSWORD }, headers: author.headers });
  t.equal(changed.status, 204, JSON.stringify(changed.body));
  const voided = await open(mine.body.data.token);
  t.equal(voided.status, 401, 'its maker changed password');
  t.equal(voided.body.error?.code, 'CMS_ERR_AUTH_INVALID');

  // a deleted maker
  const gone = await user('editor');
  const theirs = await call(papp, 'POST', `${url}/preview`, undefined, gone.headers);
  t.equal(theirs.status, 201);
  const del = await send(papp, 'DELETE', `/api/users/${gone.id}`, { headers: admin });
  t.ok(del.status === 200 || del.status === 204, `user deleted (${del.status})`);
  t.equal((await open(theirs.body.data.token)).status, 401, 'its maker was deleted');

  // the link of another maker is not affected
  const fresh = await call(papp, 'POST', `${url}/preview`, undefined, admin);
  t.equal((await open(fresh.body.data.token)).status, 200);
});

t.test('a preview link made with an API token ends with that token', async (t) => {
  const admin = await signIn(papp, 'admin');
  const draft = await makePost(papp, { title: { en: 'Api' }, body: { en: 'a' } }, admin);
  const owner = await papp.auth.createUser({ email: `tok.${Date.now()}@example.com`, name: 'Owner', password: PASSWORD, role: 'admin' });
  const { token: apiToken, secret } = await papp.auth.createToken(owner._id, { name: 'site', scopes: ['content:preview'] });
  const made = await call(papp, 'POST', `/api/content/post/${draft._id}/preview`, undefined, { authorization: `Bearer ${secret}` });
  t.equal(made.status, 201);
  const open = () => call(papp, 'GET', `/api/content/post/${draft._id}?preview=true`, undefined, bearer(made.body.data.token));
  t.equal((await open()).status, 200);
  advance(1000);
  await papp.auth.revokeToken(apiToken._id);
  t.equal((await call(papp, 'GET', '/api/content/post', undefined, { authorization: `Bearer ${secret}` })).status, 401, 'the API token is revoked');
  const after = await open();
  // a link is as good as what made it: a revoked API token voids its links
  t.equal(after.status, 401, `the preview link made with the revoked API token (got ${after.status})`);
});

// --- configuration and content-type files ---

t.test('locale configuration: parsed, or a ConfigError naming the variable', async (t) => {
  const ok = loadConfig({ LOCALES: 'en,fr,fr-CA,de', LOCALE_FALLBACKS: 'fr-CA:fr' });
  t.same(ok.locales.locales, ['en', 'fr', 'fr-CA', 'de']);
  t.equal(ok.locales.default, 'en');
  t.same(ok.locales.chains['fr-CA'], ['fr', 'en']);
  t.same(ok.locales.chains.fr, ['en']);
  t.same(ok.locales.chains.de, ['en']);
  t.same(ok.locales.chains.en ?? [], []);
  t.same(loadConfig({}).locales.locales, ['en'], 'en alone by default');
  t.same(parseLocales(' de , en ').locales, ['de', 'en'], 'the first is the default, spaces trimmed');

  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ LOCALES: 'en,EN!' }, /LOCALES/],
    [{ LOCALES: 'en,fr,en' }, /LOCALES/],
    [{ LOCALES: 'en,,en' }, /LOCALES/],
    [{ LOCALES: ',' }, /LOCALES/],
    [{ LOCALES: 'english' }, /LOCALES/],
    [{ LOCALES: 'en,fr', LOCALE_FALLBACKS: 'xx:en' }, /LOCALE_FALLBACKS/],
    [{ LOCALES: 'en,fr', LOCALE_FALLBACKS: 'fr' }, /LOCALE_FALLBACKS/],
    [{ LOCALES: 'en,fr', LOCALE_FALLBACKS: 'fr:xx' }, /LOCALE_FALLBACKS/],
    [{ LOCALES: 'en,fr', LOCALE_FALLBACKS: 'fr:fr' }, /LOCALE_FALLBACKS/],
    [{ LOCALES: 'en,fr', LOCALE_FALLBACKS: 'fr:en:de' }, /LOCALE_FALLBACKS/],
  ];
  for (const [e, message] of cases) {
    let caught: unknown;
    try {
      loadConfig(e);
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof ConfigError, `${JSON.stringify(e)}: a ConfigError`);
    t.match((caught as Error | undefined)?.message, message, `${JSON.stringify(e)}: names ${message}`);
  }
});

t.test('content-type files: localized and previewUrl mistakes name the file and the pointer', async (t) => {
  const locales = parseLocales(env.LOCALES, env.LOCALE_FALLBACKS);
  // the example types load with these locales
  const registry = await loadContentTypes(EXAMPLE_TYPES, { locales });
  t.same(registry.get('post')?.localized.sort(), ['body', 'summary', 'title']);
  t.equal(registry.get('post')?.previewUrl, 'http://localhost:4321/blog/{slug}?preview={token}&locale={locale}');
  t.equal(registry.get('article')?.previewUrl, undefined);

  const examples = (await readdir(EXAMPLE_TYPES)).filter((n) => n.endsWith('.json'));
  async function issuesWith(broken: unknown): Promise<ContentTypeIssue[]> {
    const dir = await mkdtemp(join(tmpdir(), 'cms-locales-'));
    for (const n of examples) await copyFile(join(EXAMPLE_TYPES, n), join(dir, n));
    await writeFile(join(dir, 'broken.json'), JSON.stringify(broken, null, 2));
    try {
      await loadContentTypes(dir, { locales });
    } catch (err) {
      if (err instanceof ContentTypeLoadError) return err.issues;
      throw err;
    }
    return [];
  }
  const str = { type: 'string' };
  const type = (properties: Json, extra: Json = {}) => ({ type: 'object', properties: { name: str, ...properties }, additionalProperties: false, ...extra });
  const cases: Array<[string, unknown, string, RegExp]> = [
    [
      'localized on a nested field',
      type({ seo: { type: 'object', properties: { title: { type: 'string', 'x-cms': { localized: true } } }, additionalProperties: false } }),
      '/properties/seo/properties/title/x-cms/localized',
      /top-level/,
    ],
    [
      'localized inside an array',
      type({ tags: { type: 'array', items: { type: 'string', 'x-cms': { localized: true } } } }),
      '/properties/tags/items/x-cms/localized',
      /top-level/,
    ],
    ['localized and unique', type({ slug: { type: 'string', 'x-cms': { unique: true, localized: true } } }, { required: ['slug'] }), '/properties/slug/x-cms/localized', /unique/],
    ['localized and a ref', type({ who: { type: 'string', 'x-cms': { ref: 'author', localized: true } } }), '/properties/who/x-cms/localized', /ref/],
    ['localized and media', type({ pic: { type: 'string', 'x-cms': { media: {}, localized: true } } }), '/properties/pic/x-cms/localized', /media/],
    ['a previewUrl with an unknown placeholder', type({}, { 'x-cms': { previewUrl: 'https://site.example/{nope}' } }), '/x-cms/previewUrl', /\{nope\}/],
    ['a previewUrl that is not http(s)', type({ slug: str }, { 'x-cms': { previewUrl: 'ftp://x/{slug}' } }), '/x-cms/previewUrl', /http/],
    ['a previewUrl that is not a URL', type({}, { 'x-cms': { previewUrl: 'blog/{id}' } }), '/x-cms/previewUrl', /http/],
    [
      'a previewUrl placeholder on a private field',
      type({ secret: { type: 'string', 'x-cms': { private: true } } }, { 'x-cms': { previewUrl: 'https://site.example/{secret}' } }),
      '/x-cms/previewUrl',
      /\{secret\}.*private/,
    ],
    ['a previewUrl placeholder on an object field', type({ seo: { type: 'object', properties: {}, additionalProperties: false } }, { 'x-cms': { previewUrl: 'https://site.example/{seo}' } }), '/x-cms/previewUrl', /\{seo\}/],
    ['a previewUrl placeholder from the prototype', type({}, { 'x-cms': { previewUrl: 'https://site.example/{constructor}' } }), '/x-cms/previewUrl', /\{constructor\}/],
  ];
  for (const [name, broken, pointer, message] of cases) {
    const issues = await issuesWith(broken);
    t.ok(issues.length >= 1, `${name}: refused`);
    t.ok(
      issues.every((i) => i.file.endsWith('broken.json')),
      `${name}: only broken.json is reported (${JSON.stringify(issues.map((i) => i.file))})`,
    );
    const hit = issues.find((i) => i.pointer === pointer);
    t.ok(hit, `${name}: reported at ${pointer} (got ${JSON.stringify(issues.map((i) => i.pointer))})`);
    t.match(hit?.message, message, `${name}: message`);
  }
  // what is allowed: placeholders of the type's own string/number fields (localized too) and the built-ins
  const fine = await issuesWith(
    type({ slug: str, n: { type: 'integer' }, title: { type: 'string', 'x-cms': { localized: true } } }, { 'x-cms': { previewUrl: 'https://site.example/{type}/{id}/{slug}/{n}/{title}?t={token}&l={locale}' } }),
  );
  t.same(fine, [], 'every allowed placeholder');
});
