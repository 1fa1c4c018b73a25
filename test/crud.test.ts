import t from 'tap';
import type { Revision } from '../src/storage/revisions.js';
import { buildTestApp, call, countStored, type Json } from './helpers.js';

const app = await buildTestApp(t);

const article = (n: number, extra: Record<string, unknown> = {}) => ({ title: `Post ${n}`, slug: `post-${n}`, ...extra });

t.test('create, read, replace, patch, delete', async (t) => {
  const created = await call(app, 'POST', '/api/content/article', article(1, { tags: ['a', 'b'], seo: { title: 'SEO' } }));
  t.equal(created.status, 201);
  const entry = created.body.data;
  t.match(entry, { _type: 'article', _version: 1, title: 'Post 1', slug: 'post-1', tags: ['a', 'b'], seo: { title: 'SEO' } });
  t.match(entry._id, /^[0-9a-f]{24}$/);
  t.equal(entry._createdAt, entry._updatedAt);
  t.equal(created.headers.location, `/api/content/article/${entry._id}`);
  t.equal(entry.featured, false, 'schema defaults are filled in');
  t.equal(entry.format, 'standard');

  const read = await call(app, 'GET', `/api/content/article/${entry._id}`);
  t.equal(read.status, 200);
  t.same(read.body.data, entry, 'GET returns exactly what was stored');

  const replaced = await call(app, 'PUT', `/api/content/article/${entry._id}`, article(1, { title: 'Renamed', rating: 4.5 }));
  t.equal(replaced.status, 200);
  t.match(replaced.body.data, { _version: 2, title: 'Renamed', rating: 4.5, _createdAt: entry._createdAt });
  t.notOk('tags' in replaced.body.data, 'PUT replaces every field: tags are gone');

  const patched = await call(app, 'PATCH', `/api/content/article/${entry._id}`, { seo: { description: 'D' }, rating: null, tags: ['x'] }, {
    'content-type': 'application/merge-patch+json',
  });
  t.equal(patched.status, 200);
  t.match(patched.body.data, { _version: 3, title: 'Renamed', seo: { description: 'D' }, tags: ['x'] });
  t.notOk('rating' in patched.body.data, 'null in a merge patch removes the field');

  const nested = await call(app, 'PATCH', `/api/content/article/${entry._id}`, { seo: { title: 'T2' } });
  t.same(nested.body.data.seo, { description: 'D', title: 'T2' }, 'nested objects merge');

  const deleted = await app.inject({ method: 'DELETE', url: `/api/content/article/${entry._id}` });
  t.equal(deleted.statusCode, 204);
  t.equal(deleted.body, '');
  const gone = await call(app, 'GET', `/api/content/article/${entry._id}`);
  t.equal(gone.status, 404);
  t.equal(gone.body.error.code, 'CMS_ERR_ENTRY_NOT_FOUND');
  const again = await call(app, 'DELETE', `/api/content/article/${entry._id}`);
  t.equal(again.status, 404);
});

t.test('PUT and PATCH of a missing entry are 404 and create nothing', async (t) => {
  const before = await countStored(app, 'article');
  const id = '0123456789abcdef01234567';
  t.equal((await call(app, 'PUT', `/api/content/article/${id}`, article(99))).status, 404);
  t.equal((await call(app, 'PATCH', `/api/content/article/${id}`, { title: 'x' })).status, 404);
  t.equal(await countStored(app, 'article'), before);
});

t.test('validation reports every failing path in one 400 and stores nothing', async (t) => {
  const before = await countStored(app, 'article');
  const res = await call(app, 'POST', '/api/content/article', {
    title: '',
    slug: 'Not A Slug',
    rating: 9,
    format: 'poem',
    canonicalUrl: 'not a url',
    publishDate: 'yesterday',
    seo: { title: 5, extra: true },
    surprise: 1,
  });
  t.equal(res.status, 400);
  t.equal(res.body.error.code, 'CMS_ERR_ENTRY_VALIDATION');
  const paths = res.body.error.details.map((d: { path: string }) => d.path).sort();
  for (const p of ['/title', '/slug', '/rating', '/format', '/canonicalUrl', '/publishDate', '/seo/title', '/seo/extra', '/surprise']) {
    t.ok(paths.includes(p), `reports ${p}`);
  }
  const unknown = res.body.error.details.find((d: { path: string }) => d.path === '/surprise');
  t.equal(unknown.message, 'unknown field');
  const missing = await call(app, 'POST', '/api/content/article', { title: 'No slug' });
  t.equal(missing.status, 400);
  t.match(missing.body.error.details, [{ path: '/slug', message: 'is required' }]);
  t.equal(await countStored(app, 'article'), before);
});

t.test('system fields belong to the server', async (t) => {
  const before = await countStored(app, 'article');
  for (const key of ['_id', '_type', '_version', '_createdAt', '_updatedAt', '_whatever']) {
    const res = await call(app, 'POST', '/api/content/article', { ...article(50), [key]: key === '_version' ? 1 : 'x' });
    t.equal(res.status, 400, key);
    t.equal(res.body.error.code, 'CMS_ERR_ENTRY_SYSTEM_FIELD', key);
    t.same(res.body.error.details.map((d: { path: string }) => d.path), [`/${key}`]);
  }
  t.equal(await countStored(app, 'article'), before);
  const created = (await call(app, 'POST', '/api/content/article', article(51))).body.data;
  const res = await call(app, 'PUT', `/api/content/article/${created._id}`, { ...article(51), _createdAt: '2000-01-01T00:00:00.000Z' });
  t.equal(res.status, 400);
  const stored = (await call(app, 'GET', `/api/content/article/${created._id}`)).body.data;
  t.equal(stored._createdAt, created._createdAt);
  t.equal(stored._version, 1);
});

t.test('date-times are stored in UTC with milliseconds', async (t) => {
  const res = await call(app, 'POST', '/api/content/article', article(60, { publishDate: '2024-03-01T10:00:00+02:00' }));
  t.equal(res.body.data.publishDate, '2024-03-01T08:00:00.000Z');
});

t.test('optimistic concurrency with If-Match and _version', async (t) => {
  const entry = (await call(app, 'POST', '/api/content/article', article(70))).body.data;
  const url = `/api/content/article/${entry._id}`;

  const ok = await call(app, 'PUT', url, article(70, { title: 'v2' }), { 'if-match': '"1"' });
  t.equal(ok.status, 200);
  t.equal(ok.body.data._version, 2);

  const stale = await call(app, 'PUT', url, article(70, { title: 'lost' }), { 'if-match': '"1"' });
  t.equal(stale.status, 412);
  t.equal(stale.body.error.code, 'CMS_ERR_ENTRY_VERSION_MISMATCH');
  t.match(stale.body.error.details, [{ path: '/_version', current: 2 }]);

  const staleBody = await call(app, 'PATCH', url, { title: 'lost', _version: 1 });
  t.equal(staleBody.status, 412);
  const staleDelete = await call(app, 'DELETE', url, undefined, { 'if-match': '1' });
  t.equal(staleDelete.status, 412);

  const current = (await call(app, 'GET', url)).body.data;
  t.equal(current.title, 'v2', 'stale writes changed nothing');
  t.equal(current._version, 2);

  const disagree = await call(app, 'PATCH', url, { title: 'x', _version: 2 }, { 'if-match': '"1"' });
  t.equal(disagree.status, 400);
  t.equal(disagree.body.error.code, 'CMS_ERR_ENTRY_BAD_PRECONDITION');

  const patched = await call(app, 'PATCH', url, { title: 'v3', _version: 2 });
  t.equal(patched.status, 200);
  t.equal(patched.body.data._version, 3);

  const del = await call(app, 'DELETE', url, undefined, { 'if-match': 'W/"3"' });
  t.equal(del.status, 204);
});

t.test('concurrent writes without a precondition all land, one version each', async (t) => {
  const entry = (await call(app, 'POST', '/api/content/article', article(80, { tags: [] }))).body.data;
  const url = `/api/content/article/${entry._id}`;
  const results = await Promise.all(
    Array.from({ length: 4 }, (_, i) => call(app, 'PATCH', url, { excerpt: `writer ${i}` })),
  );
  t.same(results.map((r) => r.status), [200, 200, 200, 200]);
  const versions = results.map((r) => r.body.data._version).sort();
  t.same(versions, [2, 3, 4, 5], 'each write got its own version');
  t.equal((await call(app, 'GET', url)).body.data._version, 5);
});

t.test('concurrent writes with the same precondition: exactly one wins', async (t) => {
  const entry = (await call(app, 'POST', '/api/content/article', article(81))).body.data;
  const url = `/api/content/article/${entry._id}`;
  const results = await Promise.all(
    Array.from({ length: 4 }, (_, i) => call(app, 'PATCH', url, { excerpt: `writer ${i}` }, { 'if-match': '"1"' })),
  );
  const statuses = results.map((r) => r.status).sort();
  t.same(statuses, [200, 412, 412, 412]);
  const winner = results.find((r) => r.status === 200)!.body.data;
  t.equal((await call(app, 'GET', url)).body.data.excerpt, winner.excerpt);
});

t.test('unique fields: a duplicate is a 409 naming the field, and changes nothing', async (t) => {
  const a = (await call(app, 'POST', '/api/content/author', { name: 'Ada', slug: 'ada', email: 'ada@example.com' })).body.data;
  const before = await countStored(app, 'author');
  const dupSlug = await call(app, 'POST', '/api/content/author', { name: 'Ada 2', slug: 'ada', email: 'ada2@example.com' });
  t.equal(dupSlug.status, 409);
  t.equal(dupSlug.body.error.code, 'CMS_ERR_ENTRY_UNIQUE');
  t.match(dupSlug.body.error.details, [{ path: '/slug', field: 'slug' }]);
  const dupEmail = await call(app, 'POST', '/api/content/author', { name: 'Ada 3', slug: 'ada-3', email: 'ada@example.com' });
  t.equal(dupEmail.status, 409);
  t.match(dupEmail.body.error.details, [{ path: '/email', field: 'email' }]);
  t.equal(await countStored(app, 'author'), before);

  const b = (await call(app, 'POST', '/api/content/author', { name: 'Bob', slug: 'bob', email: 'bob@example.com' })).body.data;
  const clash = await call(app, 'PATCH', `/api/content/author/${b._id}`, { slug: 'ada' });
  t.equal(clash.status, 409);
  t.match(clash.body.error.details, [{ path: '/slug' }]);
  const replaced = await call(app, 'PUT', `/api/content/author/${b._id}`, { name: 'Bob', slug: 'bob', email: 'ada@example.com' });
  t.equal(replaced.status, 409, 'PUT too');
  t.match(replaced.body.error.details, [{ path: '/email', field: 'email' }]);
  const stored = (await call(app, 'GET', `/api/content/author/${b._id}`)).body.data;
  t.equal(stored.slug, 'bob');
  t.equal(stored.email, 'bob@example.com');
  t.equal(stored._version, 1);
  const again = await call(app, 'PATCH', `/api/content/author/${b._id}`, { name: 'Bobby' });
  t.equal(again.status, 200, 'a refused write leaves no claim behind');
  t.equal(again.body.data._version, 2);
  t.ok(a._id);
});

t.test('singletons: no list, GET/PUT/PATCH/DELETE act on the one document', async (t) => {
  const url = '/api/content/site-settings';
  const empty = await call(app, 'GET', url);
  t.equal(empty.status, 404);
  t.equal(empty.body.error.code, 'CMS_ERR_ENTRY_NOT_FOUND');
  t.equal((await call(app, 'PATCH', url, { tagline: 'x' })).status, 404, 'PATCH does not create');

  const created = await call(app, 'PUT', url, { siteName: 'My site', navigation: [{ label: 'Home', url: 'https://example.com/' }] });
  t.equal(created.status, 201);
  t.match(created.body.data, { _id: 'site-settings', _type: 'site-settings', _version: 1, siteName: 'My site', postsPerPage: 10 });

  const replaced = await call(app, 'PUT', url, { siteName: 'Renamed' }, { 'if-match': '"1"' });
  t.equal(replaced.status, 200);
  t.equal(replaced.body.data._version, 2);
  t.notOk('navigation' in replaced.body.data);

  const patched = await call(app, 'PATCH', url, { tagline: 'Hello' });
  t.match(patched.body.data, { siteName: 'Renamed', tagline: 'Hello', _version: 3 });
  t.same((await call(app, 'GET', url)).body.data, patched.body.data);

  const post = await call(app, 'POST', url, { siteName: 'x' });
  t.equal(post.status, 405);
  t.equal(post.body.error.code, 'CMS_ERR_TYPE_SINGLETON');
  t.equal(post.headers.allow, 'GET, HEAD, PUT, PATCH, DELETE');
  const byId = await call(app, 'GET', `${url}/0123456789abcdef01234567`);
  t.equal(byId.status, 404);
  t.equal(byId.body.error.code, 'CMS_ERR_TYPE_SINGLETON');
  t.equal(await countStored(app, 'site-settings'), 1);

  const invalid = await call(app, 'PUT', url, { siteName: '', postsPerPage: 0 });
  t.equal(invalid.status, 400);
  t.equal((await call(app, 'GET', url)).body.data.siteName, 'Renamed');

  t.equal((await call(app, 'DELETE', url)).status, 204);
  t.equal((await call(app, 'GET', url)).status, 404);
});

t.test('concurrent first PUTs of a singleton create one document', async (t) => {
  const results = await Promise.all(
    Array.from({ length: 3 }, (_, i) => call(app, 'PUT', '/api/content/site-settings', { siteName: `S${i}` })),
  );
  t.same(results.map((r) => r.status).sort(), [200, 200, 201]);
  t.equal(await countStored(app, 'site-settings'), 1);
  // the singleton was deleted by the test before: versions keep counting, never reused
  const versions = results.map((r) => r.body.data._version).sort((a: number, b: number) => a - b);
  t.same(versions, [versions[0], versions[0] + 1, versions[0] + 2], 'one version per write');
  t.equal((await call(app, 'GET', '/api/content/site-settings')).body.data._version, versions[2]);
});

t.test('collections answer method and route errors clearly', async (t) => {
  const put = await call(app, 'PUT', '/api/content/article', article(1));
  t.equal(put.status, 405);
  t.equal(put.body.error.code, 'CMS_ERR_METHOD_NOT_ALLOWED');
  t.equal(put.headers.allow, 'GET, HEAD, POST');
  const post = await call(app, 'POST', '/api/content/article/0123456789abcdef01234567', article(1));
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD, PUT, PATCH, DELETE');
  const unknownRoute = await call(app, 'GET', '/api/nothing-here');
  t.equal(unknownRoute.status, 404);
  t.equal(unknownRoute.body.error.code, 'CMS_ERR_ROUTE_NOT_FOUND');
});

/** Leaves what a writer leaves behind if it dies between claiming a version and writing the entry. */
async function plantClaim(entryId: string, version: number, doc: Json): Promise<void> {
  await app.mongo.db.collection<Revision>('revisions').insertOne({
    _id: `article/${entryId}/${version}`,
    type: 'article',
    entryId,
    version,
    action: 'update',
    at: new Date().toISOString(),
    by: 'system',
    doc: doc as Revision['doc'],
    locales: ['*'],
    public: true,
    logged: false,
  });
}

t.test('a version claimed by a writer that died is rolled forward by the next write', async (t) => {
  const entry = (await call(app, 'POST', '/api/content/article', article(90))).body.data;
  const url = `/api/content/article/${entry._id}`;
  await plantClaim(entry._id, 2, { ...entry, _version: 2, excerpt: 'from the dead writer' });
  const stale = await call(app, 'PATCH', url, { title: 'with precondition' }, { 'if-match': '"1"' });
  t.equal(stale.status, 412, 'the claimed version counts as taken');
  t.match(stale.body.error.details, [{ current: 2 }]);
  const reloaded = (await call(app, 'GET', url)).body.data;
  t.match(reloaded, { _version: 2, excerpt: 'from the dead writer' }, 'a reload shows the version the 412 named');
  const res = await call(app, 'PATCH', url, { title: 'next' }, { 'if-match': '"2"' });
  t.equal(res.status, 200, 'so a client that always sends If-Match is not locked out');
  t.match(res.body.data, { _version: 3, title: 'next', excerpt: 'from the dead writer' });

  // a dead claim that can no longer apply (its unique value was taken since) is dropped
  const other = (await call(app, 'POST', '/api/content/article', article(91))).body.data;
  await plantClaim(other._id, 2, { ...other, _version: 2, slug: 'post-90' });
  const after = await call(app, 'PATCH', `/api/content/article/${other._id}`, { excerpt: 'fine' });
  t.equal(after.status, 200);
  t.match(after.body.data, { _version: 2, slug: 'post-91', excerpt: 'fine' });
});

t.test('If-Match: * requires the entry to exist', async (t) => {
  const url = '/api/content/site-settings';
  await call(app, 'DELETE', url);
  const missing = await call(app, 'PUT', url, { siteName: 'x' }, { 'if-match': '*' });
  t.equal(missing.status, 412);
  t.match(missing.body.error.details, [{ path: '/_version', current: 0 }]);
  t.equal((await call(app, 'PUT', url, { siteName: 'x' }, { 'if-match': '"0"' })).status, 412);
  t.equal((await call(app, 'GET', url)).status, 404, 'nothing was created');
  t.equal((await call(app, 'PUT', url, { siteName: 'x' })).status, 201);
  t.equal((await call(app, 'PATCH', url, { tagline: 'y' }, { 'if-match': '*' })).status, 200);
  t.equal((await call(app, 'DELETE', url, undefined, { 'if-match': '*' })).status, 204);
  t.equal((await call(app, 'DELETE', url, undefined, { 'if-match': '*' })).status, 412);
});
