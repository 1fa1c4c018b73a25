// GET /api/openapi.json: a valid OpenAPI 3.1 document that lists every route of every content type,
// and whose schemas accept what the API really answers (so the document cannot drift from the API).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { ValidateFunction } from 'ajv';
import type { FastifyInstance, HTTPMethods } from 'fastify';
import sharp from 'sharp';
import t from 'tap';
import { createContentAjv } from '../src/content-types/ajv.js';
import { buildTestApp, call, type Json } from './helpers.js';

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

/** Every component schema, compiled by the project's own Ajv (2020-12, strict mode on). */
function compileComponents(doc: Json): (name: string) => ValidateFunction {
  const ajv = createContentAjv();
  // the document's refs point into components; in a standalone schema they point into $defs
  const defs = JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('"#/components/schemas/', '"#/$defs/')) as Json;
  ajv.addSchema({ $id: 'https://cms.test/openapi', $defs: defs });
  return (name: string) => {
    const validate = ajv.getSchema(`https://cms.test/openapi#/$defs/${name}`);
    if (!validate) throw new Error(`no component schema ${name}`);
    return validate;
  };
}

async function fetchDoc(app: FastifyInstance): Promise<Json> {
  const res = await app.inject({ method: 'GET', url: '/api/openapi.json', headers: { cookie: '' } });
  if (res.statusCode !== 200) throw new Error(`GET /api/openapi.json: ${res.statusCode} ${res.body}`);
  return JSON.parse(res.body) as Json;
}

const entryOf = (res: { body: Json }) => res.body.data as Json;

t.test('the document is public, valid OpenAPI 3.1, and made once', async (t) => {
  const app = await buildTestApp(t, { as: 'anonymous' });
  const res = await app.inject({ method: 'GET', url: '/api/openapi.json' });
  t.equal(res.statusCode, 200, 'anonymous clients get it');
  t.match(res.headers['content-type'], /^application\/json/);
  const doc = JSON.parse(res.body) as Json;
  t.equal(doc.openapi, '3.1.0');
  const validator = new Validator();
  const result = await validator.validate(doc);
  t.same(result.errors, undefined, 'no validation errors');
  t.equal(result.valid, true, 'valid against the OpenAPI schema');
  t.equal(validator.version, '3.1');
  const again = await app.inject({ method: 'GET', url: '/api/openapi.json' });
  t.equal(again.body, res.body, 'the same document every time');

  t.same(Object.keys(doc.components.securitySchemes).sort(), ['apiToken', 'previewToken', 'session']);
  t.same(doc.components.securitySchemes.session, { type: 'apiKey', in: 'cookie', name: 'cms_session', description: doc.components.securitySchemes.session.description });
  t.equal(doc.components.securitySchemes.apiToken.bearerFormat, 'cmst_…');
  t.equal(doc.components.securitySchemes.previewToken.bearerFormat, 'cmsp_…');
  // error responses share one schema
  for (const status of ['400', '401', '403', '404', '409', '412', '500', '503']) {
    t.same(doc.components.responses[`Error${status}`].content['application/json'].schema, { $ref: '#/components/schemas/Error' }, `Error${status}`);
  }
  // no x-cms keyword anywhere in the schemas: they are plain JSON Schema
  t.notMatch(JSON.stringify(doc.components.schemas), /"x-cms"/);
});

t.test('every path of every content type is listed, and every listed operation is a real route', async (t) => {
  const app = await buildTestApp(t);
  const doc = await fetchDoc(app);
  const paths = doc.paths as Record<string, Json>;
  for (const type of app.registry.all()) {
    const one = type.singleton ? `/api/content/${type.id}` : `/api/content/${type.id}/{id}`;
    const expected: [string, string][] = [
      ...(type.singleton ? [] : ([[`/api/content/${type.id}`, 'get'], [`/api/content/${type.id}`, 'post']] as [string, string][])),
      [one, 'get'], [one, 'put'], [one, 'patch'], [one, 'delete'],
      [`${one}/publish`, 'post'], [`${one}/unpublish`, 'post'], [`${one}/discard`, 'post'],
      [`${one}/versions`, 'get'], [`${one}/versions/diff`, 'get'], [`${one}/versions/{version}`, 'get'], [`${one}/versions/{version}/restore`, 'post'],
      [`${one}/schedules`, 'post'], [`${one}/preview`, 'post'],
    ];
    for (const [path, method] of expected) t.ok(paths[path]?.[method], `${type.id}: ${method.toUpperCase()} ${path}`);
    if (type.singleton) t.notOk(paths[`/api/content/${type.id}/{id}`], `${type.id} is a singleton: no /{id} path`);
    const listParams = type.singleton ? [] : (paths[`/api/content/${type.id}`]!.get.parameters as Json[]).map((p) => p.name);
    if (!type.singleton) {
      for (const p of ['filter', 'sort', 'limit', 'offset', 'cursor', 'fields', 'locale']) t.ok(listParams.includes(p), `${type.id} list takes ${p}`);
      t.equal(listParams.includes('preview'), type.drafts, `${type.id}: preview= only with drafts`);
    }
  }
  // every operation in the document is a route the server has (doc ⊆ routes), with its parameters
  let operations = 0;
  for (const [path, item] of Object.entries(paths)) {
    const url = path.replace(/\{([^}]+)\}/g, ':$1');
    for (const method of METHODS) {
      if (!item[method]) continue;
      operations++;
      t.ok(app.hasRoute({ url, method: method.toUpperCase() as HTTPMethods }), `${method.toUpperCase()} ${path} is a route`);
      const declared = [...(item.parameters ?? []), ...(item[method].parameters ?? [])].filter((p: Json) => p.in === 'path').map((p: Json) => p.name).sort();
      t.same(declared, [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort(), `${method.toUpperCase()} ${path} declares its path parameters`);
    }
  }
  t.ok(operations > 100, `${operations} operations`);
  // the media and auth endpoints are summarized too
  for (const path of ['/api/media', '/api/media/{id}', '/media/{id}/{name}', '/api/auth/login', '/api/auth/me', '/api/users', '/api/tokens']) t.ok(paths[path], path);
});

t.test('the component schemas accept what the API really answers, and refuse what it would not', async (t) => {
  const app = await buildTestApp(t);
  const doc = await fetchDoc(app);
  const schema = compileComponents(doc);
  for (const name of Object.keys(doc.components.schemas)) t.ok(schema(name), `${name} compiles with Ajv 2020 in strict mode`);

  const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#336699' } }).png().toBuffer();
  const boundary = '----cmsopenapi';
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cover.png"\r\nContent-Type: image/png\r\n\r\n`),
    png,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const uploaded = await app.inject({ method: 'POST', url: '/api/media', payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
  t.equal(uploaded.statusCode, 201, 'an image to use');
  const media = (JSON.parse(uploaded.body) as Json).data[0] as Json;
  t.ok(schema('Media')(media), 'Media accepts an uploaded media item');

  const author = entryOf(await call(app, 'POST', '/api/content/author', { name: 'Ada', slug: 'ada', email: 'ada@example.com' }));
  const category = entryOf(await call(app, 'POST', '/api/content/category', { name: 'News', slug: 'news' }));
  const articleBody = {
    title: 'Hello', slug: 'hello', author: author._id, categories: [category._id], cover: media._id, gallery: [media._id], tags: ['a'],
    publishDate: '2026-01-02T03:04:05Z', editorNotes: 'private', seo: { title: 'SEO', noIndex: false },
  };
  t.ok(schema('ArticleInput')(articleBody), 'ArticleInput accepts the body the API takes');
  const created = await call(app, 'POST', '/api/content/article', articleBody);
  t.equal(created.status, 201);
  const article = created.body.data as Json;

  const post = await call(app, 'POST', '/api/content/post', { title: { en: 'Post' }, slug: 'post', body: { en: 'Text' }, author: author._id, related: [], cover: media._id, reviewNotes: 'private' });
  t.equal(post.status, 201);
  t.equal((await call(app, 'POST', `/api/content/post/${post.body.data._id}/publish`)).status, 200);
  const settings = await call(app, 'PUT', '/api/content/site-settings', { siteName: 'Site', navigation: [{ label: 'Home', url: 'https://example.com/' }] });
  t.equal(settings.status, 201);

  const reads: [string, string, 'admin' | 'anonymous'][] = [
    ['Author', `/api/content/author/${author._id}`, 'admin'],
    ['Author', `/api/content/author/${author._id}`, 'anonymous'],
    ['Category', `/api/content/category/${category._id}`, 'admin'],
    ['Article', `/api/content/article/${article._id}`, 'admin'],
    ['Article', `/api/content/article/${article._id}?populate=author,categories,cover,gallery`, 'admin'],
    ['Article', `/api/content/article/${article._id}?populate=author,cover&fields=title,author,cover`, 'anonymous'],
    ['Post', `/api/content/post/${post.body.data._id}`, 'anonymous'],
    ['Post', `/api/content/post/${post.body.data._id}?preview=true&locale=*`, 'admin'],
    ['Post', `/api/content/post/${post.body.data._id}?populate=author,related,cover`, 'admin'],
    ['SiteSettings', '/api/content/site-settings', 'admin'],
  ];
  for (const [name, url, as] of reads) {
    const res = await call(app, 'GET', url, undefined, as === 'anonymous' ? { cookie: '' } : {});
    t.equal(res.status, 200, `GET ${url} as ${as}`);
    const validate = schema(name);
    t.ok(validate(res.body.data), `${name} accepts GET ${url} as ${as}`) || t.comment(JSON.stringify(validate.errors));
  }
  const populated = (await call(app, 'GET', `/api/content/article/${article._id}?populate=author,cover`)).body.data as Json;
  t.equal(populated.author._id, author._id, 'populated for real');
  t.equal(populated.cover._id, media._id);
  // a list, with its meta
  const list = await call(app, 'GET', '/api/content/article?limit=5&sort=-_createdAt', undefined, { cookie: '' });
  t.equal(list.status, 200);
  t.equal(list.body.data.length, 1);
  t.ok(list.body.data.every((e: Json) => schema('Article')(e)), 'Article accepts each listed entry');
  t.ok(schema('ListMeta')(list.body.meta), 'ListMeta accepts the list meta');
  const versions = await call(app, 'GET', `/api/content/post/${post.body.data._id}/versions`);
  t.ok(versions.body.data.every((v: Json) => schema('VersionSummary')(v)), 'VersionSummary accepts the versions');
  const preview = await call(app, 'POST', `/api/content/post/${post.body.data._id}/preview`);
  t.equal(preview.status, 201);
  t.ok(schema('PreviewLink')(preview.body.data), 'PreviewLink accepts a preview link');

  // errors: the API's error body
  const bad = await call(app, 'POST', '/api/content/article', { title: 5, slug: 'x', surprise: true });
  t.equal(bad.status, 400);
  t.ok(schema('Error')(bad.body), 'Error accepts a 400 body');
  t.notOk(schema('ArticleInput')({ title: 5, slug: 'x', surprise: true }), 'ArticleInput refuses what the API refused');
  const missing = await call(app, 'GET', '/api/content/article/0123456789abcdef01234567');
  t.equal(missing.status, 404);
  t.ok(schema('Error')(missing.body), 'Error accepts a 404 body');

  // the schemas are not vacuous
  t.notOk(schema('Article')({ ...article, surprise: 1 }), 'Article refuses an unknown field');
  t.notOk(schema('Article')({ ...article, rating: 'five' }), 'Article refuses a value of the wrong type');
  t.notOk(schema('Article')({ ...article, _type: 'page' }), 'Article refuses an entry of another type');
  t.notOk(schema('Article')({ ...article, author: 42 }), 'Article refuses a ref that is neither id nor entry');
  t.notOk(schema('Post')({ ...post.body.data, title: { xx: 'Hi' } }), 'Post refuses a localized value of an unknown locale');
  t.notOk(schema('Error')({ error: { code: 'nope', message: 'x', details: [] } }), 'Error refuses a code that is not CMS_ERR_*');
  t.ok(schema('ArticlePatch')({ excerpt: null, title: 'New' }), 'ArticlePatch takes null (remove) and values');
  t.notOk(schema('ArticlePatch')({ title: 7 }), 'ArticlePatch checks values');
  t.notOk(schema('PostInput')({ slug: 'UPPER' }), 'PostInput checks patterns');
  t.ok(schema('PostInput')({ slug: 'draft-only' }), 'PostInput (drafts) accepts an incomplete draft');
  t.notOk(schema('ArticleInput')({ slug: 'no-title' }), 'ArticleInput (no drafts) needs its required fields');
});

t.test('private fields are documented and marked', async (t) => {
  const app = await buildTestApp(t, { as: 'anonymous' });
  const doc = await fetchDoc(app);
  const schemas = doc.components.schemas as Json;
  t.match(schemas.Author.properties.email.description, /signed-in users only/);
  t.match(schemas.Article.properties.editorNotes.description, /signed-in users only/);
  t.match(schemas.Post.properties.reviewNotes.description, /signed-in users only/);
  t.match(schemas.Article.properties._createdBy.description, /signed-in users only/);
  t.notMatch(schemas.Article.properties.title.description ?? '', /signed-in users only/, 'only private fields are marked');
  const filter = (doc.paths['/api/content/author'].get.parameters as Json[]).find((p) => p.name === 'filter')!;
  t.match(filter.schema.properties.email.description, /signed-in users only/, 'filtering on a private field is marked too');
  t.same(filter.schema.properties.rating, undefined, 'no filter on a field the type does not have');
  t.same(filter.schema.properties.name.anyOf[1].propertyNames.enum, ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'exists', 'contains', 'startsWith']);
});

t.test('a type with $defs, a private nested field and an odd name: refs still resolve', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cms-openapi-types-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const type = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Event',
    type: 'object',
    'x-cms': { public: true },
    $defs: { place: { type: 'object', properties: { city: { type: 'string' }, zip: { type: 'string' } }, required: ['city'], additionalProperties: false } },
    properties: {
      name: { type: 'string', minLength: 1 },
      venue: { $ref: '#/$defs/place' },
      stops: { type: 'array', items: { $ref: '#/$defs/place' } },
      contact: { type: 'object', properties: { phone: { type: 'string', 'x-cms': { private: true } } }, additionalProperties: false },
    },
    required: ['name'],
    additionalProperties: false,
  };
  await writeFile(join(dir, 'media.json'), JSON.stringify(type));
  const app = await buildTestApp(t, { contentTypesDir: dir });
  const doc = await fetchDoc(app);
  const result = await new Validator().validate(doc);
  t.equal(result.valid, true, 'valid OpenAPI 3.1') || t.comment(JSON.stringify(result.errors));
  t.ok(doc.components.schemas.Media.properties.mime, 'the built-in Media schema keeps its name');
  t.ok(doc.components.schemas.MediaType, 'a type named media gets another name');
  t.ok(doc.paths['/api/content/media/{id}'].get, 'its paths are there');
  t.equal(doc.components.schemas.MediaType.properties.venue.$ref, '#/components/schemas/MediaType/$defs/place', 'its own refs point into its component');
  t.match(doc.components.schemas.MediaType.properties.contact.properties.phone.description, /signed-in users only/);
  const schema = compileComponents(doc);
  const created = await call(app, 'POST', '/api/content/media', { name: 'Fair', venue: { city: 'Lyon' }, stops: [{ city: 'Paris', zip: '75001' }], contact: { phone: '1' } });
  t.equal(created.status, 201);
  t.ok(schema('MediaType')(created.body.data), 'the component accepts the created entry');
  t.notOk(schema('MediaType')({ ...created.body.data, venue: { town: 'Lyon' } }), 'and checks $defs');
  t.ok(schema('MediaTypeInput')({ name: 'x', venue: { city: 'Nice' } }));
  t.notOk(schema('MediaTypeInput')({ name: 'x', venue: {} }), 'the input keeps nested required');
  t.ok(schema('MediaTypePatch')({ venue: null }));
});
