import t from 'tap';
import { buildTestApp, call } from './helpers.js';

const app = await buildTestApp(t, { env: { LOCALES: 'en,fr,fr-CA', LOCALE_FALLBACKS: 'fr-CA:fr' } });

t.test('smoke: draft, publish, read, versions', async (t) => {
  const created = await call(app, 'POST', '/api/content/post', { slug: 'hello', title: { en: 'Hello' } });
  t.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.data._id;
  t.equal(created.body.data._status, 'draft');
  const anon = await app.inject({ method: 'GET', url: `/api/content/post/${id}`, headers: { cookie: '' } });
  t.equal(anon.statusCode, 404);
  const bad = await call(app, 'POST', `/api/content/post/${id}/publish`);
  t.equal(bad.status, 400, JSON.stringify(bad.body));
  const fr = await call(app, 'PATCH', `/api/content/post/${id}?locale=fr`, { title: 'Bonjour', body: 'Texte' });
  t.equal(fr.status, 200, JSON.stringify(fr.body));
  const en = await call(app, 'PATCH', `/api/content/post/${id}?locale=en`, { body: 'Text' });
  t.equal(en.status, 200, JSON.stringify(en.body));
  const pub = await call(app, 'POST', `/api/content/post/${id}/publish`);
  t.equal(pub.status, 200, JSON.stringify(pub.body));
  const read = await call(app, 'GET', `/api/content/post/${id}?locale=fr-CA`);
  t.equal(read.status, 200, JSON.stringify(read.body));
  t.equal(read.body.data.title, 'Bonjour');
  const list = await call(app, 'GET', `/api/content/post?locale=*`);
  t.equal(list.body.data.length, 1, JSON.stringify(list.body));
  const versions = await call(app, 'GET', `/api/content/post/${id}/versions`);
  t.equal(versions.status, 200, JSON.stringify(versions.body));
  t.same(versions.body.data.map((v: { action: string }) => v.action), ['publish', 'update', 'update', 'create']);
  const diff = await call(app, 'GET', `/api/content/post/${id}/versions/diff?from=1`);
  t.equal(diff.status, 200, JSON.stringify(diff.body));
  const changes = await app.changes.since(0, 100);
  t.same(changes.map((c) => c._id), [1, 2, 3, 4]);
  t.same(changes.map((c) => c.locales), [['*'], ['fr'], ['en'], ['*']], JSON.stringify(changes));
});
