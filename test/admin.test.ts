// The admin UI's server side: the built app at /admin (caching, SPA fallback, CSP, a missing build),
// GET /api/admin/info and GET /api/admin/types.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { buildApp } from '../src/app.js';
import { loadContentTypes } from '../src/content-types/loader.js';
import { DEFAULT_ADMIN_UI_DIR } from '../src/routes/admin.js';
import { ROOT, send, signIn, testConfig, tokenFor, type Json } from './helpers.js';

/** An app with nobody signed in, serving the UI from `uiDir` (default: the project's build). */
async function appWith(tt: Tap, uiDir?: string, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = testConfig(env);
  const registry = await loadContentTypes(config.contentTypesDir, { locales: config.locales });
  const app = await buildApp(config, { registry, ...(uiDir ? { adminUiDir: uiDir } : {}) });
  tt.teardown(async () => {
    await app.mongo.db.dropDatabase().catch(() => undefined);
    await app.close();
  });
  return app;
}
type Tap = { teardown(fn: () => unknown): void };

const INDEX = '<!doctype html><html><head><script type="module" src="/admin/assets/index-AbC123.js"></script><link rel="stylesheet" href="/admin/assets/index-XyZ789.css"></head><body><div id="root"></div></body></html>';

/** A build as Vite makes it: index.html, hashed assets, and one plain file. */
async function fixtureBuild(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cms-admin-ui-'));
  await mkdir(join(dir, 'assets'));
  await writeFile(join(dir, 'index.html'), INDEX);
  await writeFile(join(dir, 'assets', 'index-AbC123.js'), 'console.log("app")\n');
  await writeFile(join(dir, 'assets', 'index-XyZ789.css'), 'body{margin:0}\n');
  await writeFile(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  return dir;
}

const header = (res: { headers: Record<string, unknown> }, name: string) => String(res.headers[name] ?? '');

t.test('the built UI: caching, SPA fallback, redirects, a missing asset', async (t) => {
  const dir = await fixtureBuild();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const app = await appWith(t, dir);

  const index = await send(app, 'GET', '/admin/');
  t.equal(index.status, 200);
  t.match(header(index, 'content-type'), /^text\/html/);
  t.equal(header(index, 'cache-control'), 'no-cache', 'index.html is always revalidated');
  t.equal(index.raw, INDEX);

  const js = await send(app, 'GET', '/admin/assets/index-AbC123.js');
  t.equal(js.status, 200);
  t.match(header(js, 'content-type'), /javascript/);
  t.equal(header(js, 'cache-control'), 'public, max-age=31536000, immutable');
  t.equal(js.raw, 'console.log("app")\n');
  const css = await send(app, 'GET', '/admin/assets/index-XyZ789.css');
  t.match(header(css, 'content-type'), /^text\/css/);
  t.equal(header(css, 'cache-control'), 'public, max-age=31536000, immutable');

  for (const path of ['/admin/content/post/abc', '/admin/login?next=%2Fmedia', '/admin/users', '/admin/index.html']) {
    const page = await send(app, 'GET', path);
    t.equal(page.status, 200, `${path} is a route of the app`);
    t.equal(page.raw, INDEX, `${path} answers index.html`);
    t.equal(header(page, 'cache-control'), 'no-cache');
  }

  const missing = await send(app, 'GET', '/admin/assets/missing.js');
  t.equal(missing.status, 404, 'a missing asset is a 404, not the app');
  t.equal(missing.body.error?.code, 'CMS_ERR_ROUTE_NOT_FOUND');
  t.notMatch(missing.raw, /<div id="root">/);

  const icon = await send(app, 'GET', '/admin/favicon.svg');
  t.equal(icon.status, 200);
  t.match(header(icon, 'content-type'), /^image\/svg\+xml/);
  t.equal(header(icon, 'cache-control'), 'no-cache', 'an unhashed file is revalidated');

  for (const path of ['/admin/assets/../../package.json', '/admin/assets/%2e%2e/%2e%2e/package.json', '/admin/..%2f..%2fpackage.json', '/admin/%2e%2e/index.html']) {
    const res = await send(app, 'GET', path);
    t.notMatch(res.raw, /"name": "cms"/, `${path} does not leave the build folder`);
    t.not(res.status, 500, path);
  }

  const bare = await send(app, 'GET', '/admin');
  t.equal(bare.status, 301);
  t.equal(header(bare, 'location'), '/admin/');
  const withQuery = await send(app, 'GET', '/admin?x=1');
  t.equal(header(withQuery, 'location'), '/admin/?x=1');

  const head = await send(app, 'HEAD', '/admin/assets/index-AbC123.js');
  t.equal(head.status, 200);
  t.equal(header(head, 'cache-control'), 'public, max-age=31536000, immutable');

  const stale = await send(app, 'GET', '/admin/content/post', { headers: { cookie: 'cms_session=not-a-session' } });
  t.equal(stale.status, 200, 'a stale session cookie does not stop the app from loading');
});

t.test('the pages have a strict CSP; the API keeps its own', async (t) => {
  const dir = await fixtureBuild();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const app = await appWith(t, dir);
  for (const path of ['/admin/', '/admin/content/post/abc', '/admin/assets/index-AbC123.js']) {
    const res = await send(app, 'GET', path);
    const csp = header(res, 'content-security-policy');
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v]));
    t.same(directives.get('default-src'), ["'self'"], path);
    t.same(directives.get('script-src'), ["'self'"], `${path}: scripts only from the app itself`);
    t.same(directives.get('style-src'), ["'self'"]);
    t.same(directives.get('connect-src'), ["'self'"]);
    t.same(directives.get('frame-ancestors'), ["'none'"]);
    t.same(directives.get('base-uri'), ["'none'"]);
    t.same(directives.get('object-src'), ["'none'"]);
    t.same(directives.get('form-action'), ["'self'"]);
    t.same(directives.get('img-src'), ["'self'", 'data:', 'blob:']);
    t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'nothing inline, no eval');
    t.equal(header(res, 'x-frame-options'), 'SAMEORIGIN', 'the other security headers stay');
    t.equal(header(res, 'x-content-type-options'), 'nosniff');
  }
  const api = await send(app, 'GET', '/api/admin/info');
  t.match(header(api, 'content-security-policy'), /^default-src 'none'/, 'the API keeps its own policy');

  const elsewhere = await appWith(t, dir, { PUBLIC_URL: 'https://cms.example.com/base' });
  const res = await send(elsewhere, 'GET', '/admin/');
  t.match(header(res, 'content-security-policy'), /img-src 'self' data: blob: https:\/\/cms\.example\.com;/, 'media URLs carry PUBLIC_URL: its origin may serve images');
});

t.test('a UI that has not been built: a 503 that says how to build it', async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'cms-admin-ui-empty-'));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  const app = await appWith(t, join(empty, 'dist'));
  const json = await send(app, 'GET', '/admin/');
  t.equal(json.status, 503);
  t.equal(json.body.error?.code, 'CMS_ERR_ADMIN_UI_NOT_BUILT');
  t.match(json.body.error?.message, /npm run build/);
  const page = await send(app, 'GET', '/admin/content/post', { headers: { accept: 'text/html,application/xhtml+xml' } });
  t.equal(page.status, 503);
  t.match(header(page, 'content-type'), /^text\/html/);
  t.match(page.raw, /npm run build/);
  t.equal(header(page, 'cache-control'), 'no-store');
  t.equal((await send(app, 'GET', '/admin/assets/index-AbC123.js')).status, 503);
  t.equal((await send(app, 'GET', '/api/admin/info')).status, 200, 'the API works without the UI');

  // built while the server runs: served from then on
  await mkdir(join(empty, 'dist', 'assets'), { recursive: true });
  await writeFile(join(empty, 'dist', 'index.html'), INDEX);
  t.equal((await send(app, 'GET', '/admin/')).status, 200);
  // a rebuild empties the folder first: meanwhile the answer is the 503 again, not a 404
  await rm(join(empty, 'dist', 'index.html'));
  t.equal((await send(app, 'GET', '/admin/content/post')).status, 503);
});

t.test('the real build (npm run build) is served with hashed assets and no inline script', async (t) => {
  const index = join(DEFAULT_ADMIN_UI_DIR, 'index.html');
  t.equal(DEFAULT_ADMIN_UI_DIR, join(ROOT, 'admin-ui', 'dist'), 'the UI is looked for at the project root');
  if (!existsSync(index)) {
    t.fail(`The admin UI is not built: ${index} is missing. Run \`npm run build\` (npm test does) before these tests.`);
    return;
  }
  const html = readFileSync(index, 'utf8');
  t.notMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/i, 'every script of index.html is a file');
  const scripts = [...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]!);
  const styles = [...html.matchAll(/<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"/g)].map((m) => m[1]!);
  t.ok(scripts.length >= 1, 'index.html loads the app');
  const app = await appWith(t);
  const page = await send(app, 'GET', '/admin/content/post/abc');
  t.equal(page.status, 200);
  t.equal(page.raw, html, 'an app route answers the built index.html');
  for (const src of [...scripts, ...styles]) {
    t.match(src, /^\/admin\/assets\/[\w.-]+-[\w-]{6,}\.(js|css)$/, `${src} is a hashed asset under /admin/assets`);
    const res = await send(app, 'GET', src);
    t.equal(res.status, 200, src);
    t.equal(header(res, 'cache-control'), 'public, max-age=31536000, immutable');
    t.match(header(res, 'content-type'), src.endsWith('.js') ? /javascript/ : /^text\/css/);
  }
});

t.test('GET /api/admin/info says whether first-run setup is open', async (t) => {
  const app = await appWith(t);
  const before = await send(app, 'GET', '/api/admin/info');
  t.equal(before.status, 200);
  t.same(before.body, { data: { setupRequired: true } });
  t.equal(header(before, 'cache-control'), 'no-store');
  const bad = await send(app, 'GET', '/api/admin/info?debug=1');
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'CMS_ERR_QUERY_UNKNOWN_PARAM');
  t.equal(bad.body.error.details[0].path, 'debug');

  const token = await app.auth.openSetup();
  const made = await send(app, 'POST', '/api/auth/setup', { body: { token, email: 'ada@example.com', name: 'Ada', password: 'a very long passphrase' } });
  t.equal(made.status, 201);
  const after = await send(app, 'GET', '/api/admin/info');
  t.same(after.body, { data: { setupRequired: false } });
  const signedIn = await send(app, 'GET', '/api/admin/info', { headers: { cookie: String(made.headers['set-cookie']).split(';')[0]! } });
  t.same(signedIn.body, { data: { setupRequired: false } }, 'the same for a signed-in user');
});

t.test('GET /api/admin/types describes the content types to signed-in users', async (t) => {
  const app = await appWith(t);

  const anonymous = await send(app, 'GET', '/api/admin/types');
  t.equal(anonymous.status, 401);
  t.equal(anonymous.body.error.code, 'CMS_ERR_AUTH_REQUIRED');
  const token = await send(app, 'GET', '/api/admin/types', { headers: await tokenFor(app, ['content:read', 'content:write', 'content:publish']) });
  t.equal(token.status, 403, 'an API token is not a signed-in user');
  t.equal(token.body.error.code, 'CMS_ERR_FORBIDDEN');
  const garbage = await send(app, 'GET', '/api/admin/types', { headers: { authorization: 'Bearer nope' } });
  t.equal(garbage.status, 401);

  const editor = await signIn(app, 'editor');
  const res = await send(app, 'GET', '/api/admin/types', { headers: editor });
  t.equal(res.status, 200);
  t.match(header(res, 'cache-control'), /no-store/);
  const body = res.body as Json;
  const ids = (body.data as Json[]).map((x) => x.id).sort();
  t.same(ids, ['article', 'author', 'category', 'page', 'post', 'site-settings']);
  t.same(body.meta, { locales: app.locales.config.locales, defaultLocale: app.locales.default });
  const byId = new Map((body.data as Json[]).map((x) => [x.id, x]));
  const field = (type: string, name: string) => (byId.get(type)!.fields as Json[]).find((f) => f.name === name);

  const post = byId.get('post')!;
  t.match(post, { id: 'post', title: 'Blog post', singleton: false, drafts: true, public: true, previewUrl: true, displayField: 'slug' });
  t.equal(post.description, 'A post written in several languages, saved as drafts and published when ready.');
  t.match(post.schema, { type: 'object', required: ['title', 'slug', 'body'] }, 'the authored schema');
  t.same(post.schema.properties.title['x-cms'], { localized: true }, 'annotations included');
  t.equal(typeof post.previewUrl, 'boolean', 'the preview URL template itself is not sent');
  t.same(field('post', 'title'), { name: 'title', type: 'string', label: 'Title', required: true, localized: true, unique: false, private: false });
  t.match(field('post', 'slug'), { type: 'string', unique: true, slugFrom: 'title', widget: 'slug', required: true, localized: false });
  t.match(field('post', 'related'), { type: 'array', ref: 'post', required: false });
  t.match(field('post', 'cover'), { media: { accept: ['image/*'] } });
  t.match(field('post', 'reviewNotes'), { private: true, widget: 'textarea', label: 'Review notes' });

  t.match(field('article', 'cover'), { label: 'Cover image', widget: 'media', media: { accept: ['image/*'] } });
  t.match(field('article', 'publishDate'), { label: 'Publish date', format: 'date-time', type: 'string' });
  t.match(field('article', 'format'), { enum: ['standard', 'gallery', 'video', 'link'] });
  t.match(field('article', 'categories'), { type: 'array', ref: 'category' });
  t.match(field('article', 'editorNotes'), { private: true, label: 'Notes for editors' });
  t.match(field('article', 'featured'), { type: 'boolean' });
  t.match(field('article', 'readingMinutes'), { type: 'integer', label: 'Reading minutes' });
  t.match(field('author', 'email'), { private: true, unique: true, help: 'Never sent to the public or to API tokens.' });
  t.match(byId.get('site-settings'), { singleton: true, drafts: false, previewUrl: false });
  t.match(field('page', 'path'), { label: 'URL path' });

  const unknown = await send(app, 'GET', '/api/admin/types?type=post', { headers: editor });
  t.equal(unknown.status, 400);
  t.equal(unknown.body.error.code, 'CMS_ERR_QUERY_UNKNOWN_PARAM');
});

t.test('the form validators: compiled on the server, served as a module for signed-in users', async (t) => {
  const app = await appWith(t);
  const editor = await signIn(app, 'editor');
  const types = await send(app, 'GET', '/api/admin/types', { headers: editor });
  const post = (types.body.data as Json[]).find((x) => x.id === 'post')!;
  const form = post.form as Json;
  t.equal(form.schema.title, undefined, 'no heading in the form schema');
  t.equal(form.schema.properties.title['x-cms'], undefined, 'no annotations in the form schema');
  t.same(form.schema.required, ['title', 'slug', 'body']);
  t.same(form.otherLocaleSchema.required, ['slug'], 'localized fields are required in the default locale only');
  t.match(form.validatorUrl, /^\/api\/admin\/validators\/post\.[0-9a-f]{16}\.js$/, 'the URL carries a content hash');

  const anonymous = await send(app, 'GET', form.validatorUrl);
  t.equal(anonymous.status, 401, 'a session is needed');
  const res = await send(app, 'GET', form.validatorUrl, { headers: editor });
  t.equal(res.status, 200);
  t.equal(header(res, 'content-type'), 'text/javascript; charset=utf-8');
  t.equal(header(res, 'cache-control'), 'private, max-age=31536000, immutable');
  t.match(res.raw, /^export default function load\(require\) \{$/m);
  t.notMatch(res.raw, /x-cms|new Function|eval\(/, 'plain generated code, no annotations');
  const [, hash] = /\.([0-9a-f]{16})\.js$/.exec(form.validatorUrl as string)!;
  t.equal((await send(app, 'GET', `/api/admin/validators/nope.${hash}.js`, { headers: editor })).status, 404, 'an unknown type');
  const stale = await send(app, 'GET', '/api/admin/validators/post.0123456789abcdef.js', { headers: editor });
  t.equal(stale.status, 404, 'a stale hash');
  t.equal(stale.body.error.code, 'CMS_ERR_TYPE_NOT_FOUND');
  t.equal((await send(app, 'GET', '/api/admin/validators/post.js', { headers: editor })).status, 404, 'no hash');

  // evaluated as the UI does: the module's validate functions in the form library's precompiled validator
  const { createRequire } = await import('node:module');
  const { createPrecompiledValidator } = await import('@rjsf/validator-ajv8');
  const mod = (await import(`data:text/javascript,${encodeURIComponent(res.raw)}`)) as { default: (require: NodeJS.Require) => Record<string, () => boolean> };
  const fns = mod.default(createRequire(join(ROOT, 'package.json')));
  const inDefault = createPrecompiledValidator(fns, form.schema);
  const inOther = createPrecompiledValidator(fns, form.otherLocaleSchema);
  const good = { title: 'Hello', slug: 'hello', body: 'Text' };
  t.same(inDefault.validateFormData(good, form.schema).errors, [], 'a valid entry passes');
  const long = { ...good, title: 'x'.repeat(201) };
  const errors = inDefault.validateFormData(long, form.schema).errors;
  t.match(errors, [{ name: 'maxLength', property: '.title', params: { limit: 200 } }], 'a too-long title is refused');
  t.equal(errors.length, 1);
  const server = app.registry.get('post')!.validate;
  t.notOk(server({ ...long, title: { en: long.title } }), 'as the server refuses it');
  t.match(inDefault.validateFormData({ ...good, slug: 'Not A Slug', rating: 9 }, form.schema).errors, [{ name: 'pattern', property: '.slug' }, { name: 'maximum', property: '.rating' }]);
  t.match(inDefault.validateFormData({ slug: 'hello' }, form.schema).errors.map((e) => e.property).sort(), ['body', 'title'], 'required fields');
  t.same(inOther.validateFormData({ slug: 'hello' }, form.otherLocaleSchema).errors, [], 'other locales need no localized fields');

  const article = (types.body.data as Json[]).find((x) => x.id === 'article')!;
  const code = await send(app, 'GET', article.form.validatorUrl, { headers: editor });
  const articleFns = ((await import(`data:text/javascript,${encodeURIComponent(code.raw)}`)) as typeof mod).default(createRequire(join(ROOT, 'package.json')));
  const articleValidator = createPrecompiledValidator(articleFns, article.form.schema);
  const dated = articleValidator.validateFormData({ publishDate: 'next tuesday' }, article.form.schema).errors.find((e) => e.property === '.publishDate');
  t.match(dated, { name: 'format', params: { format: 'date-time' } }, 'formats are checked (ajv-formats)');
});

t.test('every role sees the types it may read', async (t) => {
  const app = await appWith(t);
  const all = app.registry.all().map((x) => x.id).sort();
  for (const role of ['admin', 'editor', 'author', 'viewer'] as const) {
    const res = await send(app, 'GET', '/api/admin/types', { headers: await signIn(app, role) });
    t.equal(res.status, 200, role);
    // every role reads every type (src/auth/access.ts); what they may write is up to the server per request
    t.same((res.body.data as Json[]).map((x) => x.id).sort(), all, `${role} sees every readable type`);
    const article = (res.body.data as Json[]).find((x) => x.id === 'article')!;
    t.ok((article.fields as Json[]).some((f) => f.name === 'editorNotes'), `${role} (signed in) sees the private fields' descriptions`);
  }
  // a suspended user's session ends: nothing is described any more
  const headers = await signIn(app, 'editor', 'suspended@example.com');
  const user = (await app.auth.listUsers()).find((u) => u.email === 'suspended@example.com')!;
  await app.auth.updateUser(user._id, { status: 'suspended' });
  const res = await send(app, 'GET', '/api/admin/types', { headers });
  t.equal(res.status, 401);
});
