// Access control: token scopes and types (and path variants that try to get around them), roles,
// CSRF, private fields, anonymous reads, caching and CORS headers, and the audit log.
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import t from 'tap';
import type { Role, Scope } from '../src/storage/users.js';
import { buildTestApp, countStored, EXAMPLE_TYPES, originOf, send, type Json, type Res } from './helpers.js';

const PASSWORD = 'correct horse battery staple';
const SITE = 'https://site.example';

// the example types, plus a type anonymous clients may not read and a public one with a nested private field
const typesDir = await mkdtemp(join(tmpdir(), 'cms-access-types-'));
t.teardown(() => rm(typesDir, { recursive: true, force: true }));
for (const file of await readdir(EXAMPLE_TYPES)) if (file.endsWith('.json')) await copyFile(join(EXAMPLE_TYPES, file), join(typesDir, file));
await writeFile(join(typesDir, 'memo.json'), JSON.stringify({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'Memo',
  type: 'object',
  'x-cms': { displayField: 'subject' },
  properties: {
    subject: { type: 'string', minLength: 1, maxLength: 200 },
    internal: { type: 'string', 'x-cms': { private: true } },
    attachment: { type: 'string', 'x-cms': { media: { accept: ['image/*'] } } },
  },
  required: ['subject'],
  additionalProperties: false,
}));
await writeFile(join(typesDir, 'profile.json'), JSON.stringify({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'Profile',
  type: 'object',
  'x-cms': { displayField: 'name', public: true },
  properties: {
    name: { type: 'string', minLength: 1 },
    contact: {
      type: 'object',
      properties: { city: { type: 'string' }, phone: { type: 'string', 'x-cms': { private: true } } },
      additionalProperties: false,
    },
  },
  required: ['name'],
  additionalProperties: false,
}));

const app = await buildTestApp(t, { as: 'anonymous', contentTypesDir: typesDir, env: { CORS_ORIGINS: SITE } });




interface User {
  id: string;
  email: string;
  headers: Record<string, string>;
}

let users = 0;
async function makeUser(app: FastifyInstance, role: Role): Promise<User> {
  const email = `member${++users}.${role}@example.com`;
  const user = await app.auth.createUser({ email, name: `Member ${users}`, password: PASSWORD, role });
  const { cookie } = await app.auth.sessions.create(user._id);
  return { id: user._id, email, headers: { cookie: cookie.split(';')[0]!, origin: originOf(app) } };
}

async function token(app: FastifyInstance, owner: User, scopes: Scope[], types?: string[]): Promise<Record<string, string>> {
  const { secret } = await app.auth.createToken(owner.id, { name: `${scopes.join('+')} ${types?.join('+') ?? 'all'}`, scopes, ...(types ? { types } : {}) });
  return { authorization: `Bearer ${secret}` };
}

/** A multipart/form-data body with one file. */
function form(filename: string, data: Buffer, fields: Record<string, string> = {}): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----access${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: image/png\r\n\r\n`), data, Buffer.from(`\r\n--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

let colors = 0;
/** A small PNG that no other upload of the file has: uploads are deduplicated by content. */
const png = () => sharp({ create: { width: 8, height: 8, channels: 3, background: { r: (++colors * 37) % 256, g: (colors * 11) % 256, b: 200 } } }).png().toBuffer();

async function uploadAs(app: FastifyInstance, headers: Record<string, string>, fields: Record<string, string> = {}): Promise<Res> {
  const body = form(`pic${colors}.png`, await png(), fields);
  return send(app, 'POST', '/api/media', { payload: body.payload, headers: { ...headers, ...body.headers } });
}

const admin = await makeUser(app, 'admin');
const create = async (type: string, body: Json, headers = admin.headers) => {
  const res = await send(app, 'POST', `/api/content/${type}`, { body, headers });
  if (res.status !== 201) throw new Error(`seeding ${type} failed: ${res.raw}`);
  return res.body.data as Json;
};

// ---------------------------------------------------------------------------------------------
// scopes and path variants

t.test('a read-only token for one type cannot write through any spelling of the path', async (t) => {
  const cat = await create('category', { name: 'Original', slug: 'original' });
  const art = await create('article', { title: 'Not yours', slug: 'not-yours' });
  const reader = await token(app, admin, ['content:read'], ['category']);
  const before = { category: await countStored(app, 'category'), article: await countStored(app, 'article') };

  t.equal((await send(app, 'GET', '/api/content/category', { headers: reader })).status, 200, 'it can read its type');
  t.equal((await send(app, 'GET', `/api/content/category/${cat._id as string}`, { headers: reader })).status, 200);

  const collection = [
    '/api/content/category',
    '/api/content/category/',
    '/API/content/category',
    '/api/CONTENT/category',
    '/api/content/Category',
    '/api/content/CATEGORY',
    '/api/content/%63ategory',
    '/api/content/category%2F',
    '/api/content/article%2F..%2Fcategory',
    '/api/content/article/..%2Fcategory',
    '/api/content/article/../category',
    '/api/content/./category',
    '//api/content/category',
    '/api/content//category',
    '/api//content/category',
    '/api/content/category;x=1',
    '/api/content/category%00',
    '/api/content/category%20',
    '/api/content/category.json',
  ];
  const id = cat._id as string;
  const single = [
    `/api/content/category/${id}`,
    `/api/content/category/${id}/`,
    `/api/content/category//${id}`,
    `/api/content/Category/${id}`,
    `/API/content/category/${id}`,
    `/api/content/category/${id.toUpperCase()}`,
    `/api/content/category/${id}%20`,
    `/api/content/category%2F${id}`,
    `//api/content/category/${id}`,
    `/api/content/article/..%2F..%2Fcategory%2F${id}`,
    `/api/content/category/./${id}`,
  ];
  const body = { name: 'Pwned', slug: 'pwned' };
  const outcomes = new Map<string, number>();
  for (const url of [...collection, ...single]) {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      const res = await send(app, method, url, { headers: reader, ...(method === 'DELETE' ? {} : { body }) });
      outcomes.set(`${method} ${url}`, res.status);
      // a malformed id in the path is answered 400 CMS_ERR_ENTRY_INVALID_ID: refused, and it tells nothing
      const refused = [403, 404, 405].includes(res.status) || (res.status === 400 && res.body.error?.code === 'CMS_ERR_ENTRY_INVALID_ID');
      t.ok(refused, `${method} ${url}: refused (${res.status} ${res.body.error?.code as string})`);
      t.notOk(res.body.data, `${method} ${url}: no data`);
      t.notMatch(res.raw, /Pwned|Not yours|Original/, `${method} ${url}: nothing of an entry in the answer`);
      if (res.status === 404) t.ok(['CMS_ERR_ROUTE_NOT_FOUND', 'CMS_ERR_TYPE_NOT_FOUND', 'CMS_ERR_ENTRY_NOT_FOUND'].includes(res.body.error?.code), `${method} ${url}: a plain not-found`);
    }
  }
  t.equal(outcomes.get(`PUT /api/content/category/${id}`), 403, 'the exact path: 403');
  t.equal(outcomes.get(`PATCH /api/content/category/${id}`), 403);
  t.equal(outcomes.get(`DELETE /api/content/category/${id}`), 403);
  t.equal(outcomes.get('POST /api/content/category'), 403);

  // the type the token does not cover: GET and HEAD alike
  for (const method of ['GET', 'HEAD'] as const) {
    for (const url of ['/api/content/article', `/api/content/article/${art._id as string}`, '/api/content/site-settings', '/api/content/memo']) {
      const res = await send(app, method, url, { headers: reader });
      t.equal(res.status, 403, `${method} ${url} with a token for category only: 403`);
      t.notMatch(res.raw, /Not yours/);
    }
  }
  t.equal(await countStored(app, 'category'), before.category, 'no category was written');
  t.equal(await countStored(app, 'article'), before.article, 'no article was written');
  const stored = await app.mongo.db.collection('content_category').findOne({ _id: id } as Json);
  t.match(stored, { name: 'Original', slug: 'original', _version: 1 }, 'the category is untouched');

  // content:write for one type does not reach the others
  const writer = await token(app, admin, ['content:write'], ['category']);
  const made = await send(app, 'POST', '/api/content/category', { body: { name: 'Allowed', slug: 'allowed' }, headers: writer });
  t.equal(made.status, 201, 'a writer for category writes categories');
  for (const [method, url, body] of [
    ['POST', '/api/content/article', { title: 'Pwned', slug: 'pwned' }],
    ['PUT', `/api/content/article/${art._id as string}`, { title: 'Pwned', slug: 'not-yours' }],
    ['PATCH', `/api/content/article/${art._id as string}`, { title: 'Pwned' }],
    ['DELETE', `/api/content/article/${art._id as string}`, undefined],
    ['PUT', '/api/content/site-settings', { siteName: 'Pwned' }],
  ] as const) {
    const res = await send(app, method, url, { headers: writer, ...(body ? { body } : {}) });
    t.equal(res.status, 403, `${method} ${url} with a writer for category: 403`);
  }
  const media = await uploadAs(app, writer);
  t.equal(media.status, 403, 'content:write is not media:write');
  t.equal(await countStored(app, 'article'), before.article);
  t.equal(await app.mongo.db.collection('content_site-settings').countDocuments({}), 0);
});

t.test('non-admins get nowhere near the admin routes, however the path is spelt', async (t) => {
  const editor = await makeUser(app, 'editor');
  const full = await token(app, admin, ['content:read', 'content:preview', 'content:write', 'media:write']);
  const usersBefore = await app.mongo.db.collection('users').countDocuments({});
  const tokensBefore = await app.mongo.db.collection('tokens').countDocuments({});
  const paths = [
    '/api/users',
    '/api/users/',
    '/API/users',
    '/api/Users',
    '/api/USERS',
    '//api/users',
    '/api//users',
    '/api/./users',
    '/api/users/.',
    '/api/content/../users',
    '/api/content/..%2F..%2Fapi%2Fusers',
    '/api/users%2F',
    '/api/%75sers',
    `/api/users/${admin.id}`,
    `/api/users/${admin.id}/`,
    `/API/users/${admin.id}`,
    '/api/tokens',
    '/api/tokens/',
    '/API/tokens',
    '/api/audit',
    '/api/audit/',
    '/api/audit.csv',
    '/api/AUDIT.csv',
    '/api/audit%2Ecsv',
  ];
  for (const [who, headers] of [['an editor', editor.headers], ['a token with every scope', full]] as const) {
    for (const url of paths) {
      for (const method of ['GET', 'POST', 'PATCH', 'DELETE'] as const) {
        const body = method === 'GET' || method === 'DELETE' ? undefined : { email: 'intruder@example.com', name: 'Intruder', password: PASSWORD, role: 'admin', scopes: ['content:write'] };
        const res = await send(app, method, url, { headers, ...(body ? { body } : {}) });
        t.ok([403, 404, 405].includes(res.status), `${who}: ${method} ${url} → ${res.status}`);
        t.notOk(res.body.data, `${who}: ${method} ${url}: no data`);
        t.notMatch(res.raw, /argon2|@example\.com"|"role"/, `${who}: ${method} ${url}: nothing about users`);
      }
    }
  }
  t.equal(await app.mongo.db.collection('users').countDocuments({}), usersBefore, 'no user created or deleted');
  t.equal(await app.mongo.db.collection('users').countDocuments({ email: 'intruder@example.com' }), 0);
  t.equal(await app.mongo.db.collection('users').countDocuments({ _id: admin.id, role: 'admin', status: 'active' } as Json), 1, 'the admin is untouched');
  t.equal(await app.mongo.db.collection('tokens').countDocuments({}), tokensBefore, 'no token created');
});

// ---------------------------------------------------------------------------------------------
// CSRF

t.test('a cookie write needs our own Origin; a bearer token needs none', async (t) => {
  const editor = await makeUser(app, 'editor');
  const entry = await create('category', { name: 'Guarded', slug: 'guarded' });
  const id = entry._id as string;
  const before = await countStored(app, 'category');
  const mediaBefore = await app.mongo.db.collection('media').countDocuments({});
  const cookie = editor.headers.cookie!;
  const origins: [string, Record<string, string>][] = [
    ['no Origin', {}],
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['Origin null', { origin: 'null' }],
    ['an empty Origin', { origin: '' }],
    ['another port', { origin: 'http://localhost:8080' }],
    ['another scheme', { origin: 'https://localhost:80' }],
    ['a look-alike host', { origin: 'http://localhost:80.evil.example' }],
    ['a trailing slash', { origin: `${originOf(app)}/` }],
    ['the CORS site', { origin: SITE }],
    ['a same-site Referer but no Origin', { referer: `${originOf(app)}/admin/` }],
  ];
  for (const [what, extra] of origins) {
    const headers = { cookie, ...extra };
    const results = [
      await send(app, 'POST', '/api/content/category', { body: { name: 'Forged', slug: 'forged' }, headers }),
      await send(app, 'PATCH', `/api/content/category/${id}`, { body: { name: 'Forged' }, headers }),
      await send(app, 'PUT', `/api/content/category/${id}`, { body: { name: 'Forged', slug: 'guarded' }, headers }),
      await send(app, 'DELETE', `/api/content/category/${id}`, { headers }),
      await send(app, 'PATCH', '/api/auth/me', { body: { name: 'Forged' }, headers }),
      await (async () => {
        const f = form('forged.png', await png());
        return send(app, 'POST', '/api/media', { payload: f.payload, headers: { ...headers, ...f.headers } });
      })(),
    ];
    for (const res of results) {
      t.equal(res.status, 403, `${what}: 403`);
      t.equal(res.body.error?.code, 'CMS_ERR_CSRF', `${what}: CMS_ERR_CSRF`);
    }
  }
  t.equal(await countStored(app, 'category'), before, 'no category written');
  t.match(await app.mongo.db.collection('content_category').findOne({ _id: id } as Json), { name: 'Guarded', _version: 1 }, 'the entry is untouched');
  t.equal(await app.mongo.db.collection('media').countDocuments({}), mediaBefore, 'no media stored');
  t.notOk(await app.mongo.db.collection('users').findOne({ name: 'Forged' }), 'the name is untouched');

  const read = await send(app, 'GET', `/api/content/category/${id}`, { headers: { cookie } });
  t.equal(read.status, 200, 'a cookie read needs no Origin');
  const own = await send(app, 'PATCH', `/api/content/category/${id}`, { body: { name: 'Changed' }, headers: { cookie, origin: originOf(app) } });
  t.equal(own.status, 200, 'our own Origin: the write goes through');

  const writer = await token(app, admin, ['content:write', 'media:write']);
  const byToken = await send(app, 'POST', '/api/content/category', { body: { name: 'By token', slug: 'by-token' }, headers: writer });
  t.equal(byToken.status, 201, 'a bearer write without Origin');
  const byTokenForeign = await send(app, 'POST', '/api/content/category', { body: { name: 'By token 2', slug: 'by-token-2' }, headers: { ...writer, origin: 'https://evil.example' } });
  t.equal(byTokenForeign.status, 201, 'a bearer write with any Origin');
  t.equal((await uploadAs(app, writer)).status, 201, 'a bearer upload without Origin');
  t.equal(await countStored(app, 'category'), before + 2);
});

// ---------------------------------------------------------------------------------------------
// roles

t.test('authors change only their own entries; viewers change nothing; editors change anything', async (t) => {
  const [author, other, editor, viewer] = [await makeUser(app, 'author'), await makeUser(app, 'author'), await makeUser(app, 'editor'), await makeUser(app, 'viewer')];
  const mine = await create('article', { title: 'Mine', slug: 'mine-1' }, author.headers);
  const theirs = await create('article', { title: 'Theirs', slug: 'theirs-1' }, other.headers);
  t.equal(mine._createdBy, author.id, 'the creator is recorded');
  const url = (e: Json) => `/api/content/article/${e._id as string}`;

  for (const [method, body] of [['PATCH', { title: 'Hijacked' }], ['PUT', { title: 'Hijacked', slug: 'theirs-1' }], ['DELETE', undefined]] as const) {
    const res = await send(app, method, url(theirs), { headers: author.headers, ...(body ? { body } : {}) });
    t.equal(res.status, 403, `an author ${method}s another's entry: 403`);
    t.equal(res.body.error.code, 'CMS_ERR_FORBIDDEN');
  }
  const takeover = await send(app, 'PATCH', url(theirs), { body: { _createdBy: author.id }, headers: author.headers });
  t.ok([400, 403].includes(takeover.status), `nor by claiming it (${takeover.status})`);
  const sneak = await send(app, 'PATCH', url(mine), { body: { _createdBy: other.id, title: 'x' }, headers: author.headers });
  t.equal(sneak.status, 400, 'nobody sets _createdBy');
  t.equal(sneak.body.error.code, 'CMS_ERR_ENTRY_SYSTEM_FIELD');
  t.match(await app.mongo.db.collection('content_article').findOne({ _id: theirs._id } as Json), { title: 'Theirs', _version: 1, _createdBy: other.id }, 'their entry is untouched');

  const edited = await send(app, 'PATCH', url(mine), { body: { title: 'Mine, edited' }, headers: author.headers });
  t.equal(edited.status, 200, 'an author edits their own');
  const replaced = await send(app, 'PUT', url(mine), { body: { title: 'Mine, replaced', slug: 'mine-1' }, headers: author.headers });
  t.equal(replaced.status, 200);
  t.equal(replaced.body.data._createdBy, author.id, 'and stays its creator');

  const before = await countStored(app, 'article');
  for (const [method, target, body] of [['POST', '/api/content/article', { title: 'By viewer', slug: 'by-viewer' }], ['PATCH', url(mine), { title: 'By viewer' }], ['PUT', url(mine), { title: 'By viewer', slug: 'mine-1' }], ['DELETE', url(mine), undefined], ['PUT', '/api/content/site-settings', { siteName: 'By viewer' }]] as const) {
    const res = await send(app, method, target, { headers: viewer.headers, ...(body ? { body } : {}) });
    t.equal(res.status, 403, `a viewer ${method} ${target}: 403`);
  }
  t.equal((await send(app, 'GET', url(theirs), { headers: viewer.headers })).status, 200, 'a viewer reads');
  t.equal(await countStored(app, 'article'), before, 'the viewer wrote nothing');

  t.equal((await send(app, 'PATCH', url(theirs), { body: { title: 'Edited by editor' }, headers: editor.headers })).status, 200, 'an editor edits anyone\'s');
  t.equal((await send(app, 'DELETE', url(mine), { headers: author.headers })).status, 204, 'an author deletes their own');
  t.equal((await send(app, 'DELETE', url(theirs), { headers: editor.headers })).status, 204, 'an editor deletes anyone\'s');

  // a singleton made by the admin is not the author's
  t.equal((await send(app, 'PUT', '/api/content/site-settings', { body: { siteName: 'Site' }, headers: admin.headers })).status, 201);
  t.equal((await send(app, 'PUT', '/api/content/site-settings', { body: { siteName: 'Mine now' }, headers: author.headers })).status, 403, 'an author cannot replace the admin\'s singleton');
  t.equal((await send(app, 'DELETE', '/api/content/site-settings', { headers: author.headers })).status, 403);
  t.equal((await send(app, 'GET', '/api/content/site-settings')).body.data.siteName, 'Site');
});

t.test('media: authors upload, and change or delete only their own uploads', async (t) => {
  const [author, editor, viewer] = [await makeUser(app, 'author'), await makeUser(app, 'editor'), await makeUser(app, 'viewer')];
  const adminUpload = await uploadAs(app, admin.headers);
  t.equal(adminUpload.status, 201);
  const adminsId = adminUpload.body.data[0]._id as string;
  const own = await uploadAs(app, author.headers, { alt: 'mine' });
  t.equal(own.status, 201, 'an author uploads');
  const ownId = own.body.data[0]._id as string;
  t.notOk('createdBy' in own.body.data[0], 'the uploader is not shown');

  const del = await send(app, 'DELETE', `/api/media/${adminsId}`, { headers: author.headers });
  t.equal(del.status, 403, 'an author deletes another\'s upload: 403');
  t.equal(del.body.error.code, 'CMS_ERR_FORBIDDEN');
  const edit = await send(app, 'PATCH', `/api/media/${adminsId}`, { body: { alt: 'hijacked' }, headers: author.headers });
  t.equal(edit.status, 403, 'an author edits another\'s upload: 403');
  t.match(await app.mongo.db.collection('media').findOne({ _id: adminsId } as Json), { alt: '', _version: 1 }, 'it is untouched');

  t.equal((await uploadAs(app, viewer.headers)).status, 403, 'a viewer cannot upload');
  t.equal((await send(app, 'DELETE', `/api/media/${ownId}`, { headers: viewer.headers })).status, 403, 'nor delete');
  const reader = await token(app, admin, ['content:read']);
  t.equal((await uploadAs(app, reader)).status, 403, 'a read token cannot upload');
  t.equal((await send(app, 'DELETE', `/api/media/${ownId}`, { headers: reader })).status, 403, 'nor delete');
  t.equal((await send(app, 'GET', `/api/media/${ownId}`, { headers: reader })).status, 200, 'but may read the library');
  t.equal((await send(app, 'GET', '/api/media')).status, 401, 'anonymous clients may not list the library');

  t.equal((await send(app, 'PATCH', `/api/media/${ownId}`, { body: { alt: 'still mine' }, headers: author.headers })).status, 200, 'an author edits their own');
  t.equal((await send(app, 'DELETE', `/api/media/${ownId}`, { headers: author.headers })).status, 204, 'and deletes their own');
  t.equal((await send(app, 'PATCH', `/api/media/${adminsId}`, { body: { alt: 'by editor' }, headers: editor.headers })).status, 200, 'an editor edits anyone\'s');
  t.equal((await send(app, 'DELETE', `/api/media/${adminsId}`, { headers: editor.headers })).status, 204, 'and deletes anyone\'s');
});

// ---------------------------------------------------------------------------------------------
// private fields and anonymous access

t.test('private fields and _createdBy never reach anonymous clients or tokens', async (t) => {
  const NOTE = 'NOTE-XYZZY-private';
  const MAIL = 'hidden.writer@example.com';
  const PHONE = '+1-555-0100-PRIVATE';
  const article = await create('article', { title: 'Has notes', slug: 'has-notes', editorNotes: NOTE });
  const author = await create('author', { name: 'Hidden Writer', slug: 'hidden-writer', email: MAIL });
  const profile = await create('profile', { name: 'Someone', contact: { city: 'Paris', phone: PHONE } });
  t.equal(article.editorNotes, NOTE, 'a signed-in admin sees the notes');
  t.equal(article._createdBy, admin.id);

  const reader = await token(app, admin, ['content:read']);
  const preview = await token(app, admin, ['content:preview']);
  const writer = await token(app, admin, ['content:write']);
  const secrets = new RegExp(`${NOTE}|${MAIL.replace(/\./g, '\\.')}|${PHONE.replace(/\+/g, '\\+')}|_createdBy|${admin.id}`);

  const reads = (id: Json) => [
    `/api/content/article/${article._id as string}`,
    '/api/content/article',
    '/api/content/article?fields=title,slug',
    `/api/content/article/${article._id as string}?fields=title`,
    '/api/content/article?filter[title]=Has%20notes',
    '/api/content/article?sort=-title',
    `/api/content/author/${author._id as string}`,
    '/api/content/author',
    '/api/content/author?fields=name',
    `/api/content/profile/${id._id as string}`,
    '/api/content/profile',
    `/api/content/profile/${id._id as string}?fields=contact`,
    '/api/content/profile?fields=contact',
  ];
  for (const [who, headers] of [['anonymous', {}], ['a content:read token', reader], ['a content:preview token', preview], ['a content:write token', writer]] as const) {
    for (const url of reads(profile)) {
      const res = await send(app, 'GET', url, { headers });
      t.equal(res.status, 200, `${who}: GET ${url}`);
      t.notMatch(res.raw, secrets, `${who}: GET ${url} shows no private field and no creator`);
    }
    const one = await send(app, 'GET', `/api/content/profile/${profile._id as string}`, { headers });
    t.same(one.body.data.contact, { city: 'Paris' }, `${who}: the nested private field is cut, its siblings stay`);
    for (const url of [
      '/api/content/article?fields=editorNotes',
      '/api/content/article?fields=title,editorNotes',
      `/api/content/article/${article._id as string}?fields=editorNotes`,
      `/api/content/article?filter[editorNotes]=${NOTE}`,
      '/api/content/article?filter[editorNotes][exists]=true',
      '/api/content/article?filter[editorNotes][startsWith]=N',
      '/api/content/article?filter[editorNotes][contains]=XYZZY',
      '/api/content/article?sort=editorNotes',
      '/api/content/article?sort=-editorNotes',
      '/api/content/article?sort=title,-editorNotes',
      `/api/content/author?filter[email]=${MAIL}`,
      '/api/content/author?filter[email][startsWith]=hidden',
      '/api/content/author?sort=email',
      '/api/content/author?fields=email',
      '/api/content/profile?filter[contact.phone][exists]=true',
      '/api/content/profile?sort=contact.phone',
      '/api/content/article?fields=_createdBy',
      `/api/content/article?filter[_createdBy]=${admin.id}`,
      '/api/content/article?sort=_createdBy',
    ]) {
      const res = await send(app, 'GET', url, { headers });
      t.equal(res.status, 400, `${who}: GET ${url} → 400`);
      t.equal(res.body.error?.code, 'CMS_ERR_QUERY_UNKNOWN_FIELD', `${who}: ${url}: CMS_ERR_QUERY_UNKNOWN_FIELD`);
      t.notMatch(res.raw, new RegExp(NOTE), 'the value is not echoed');
    }
  }

  // writes by a token: the answers leave the private fields out too
  const posted = await send(app, 'POST', '/api/content/article', { body: { title: 'Token post', slug: 'token-post', editorNotes: `${NOTE}-2` }, headers: writer });
  t.equal(posted.status, 201);
  t.notMatch(posted.raw, secrets, 'POST by a token: nothing private in the answer');
  t.notOk('editorNotes' in posted.body.data);
  const patched = await send(app, 'PATCH', `/api/content/article/${article._id as string}`, { body: { excerpt: 'patched' }, headers: writer });
  t.equal(patched.status, 200);
  t.notMatch(patched.raw, secrets, 'PATCH by a token: nothing private in the answer');
  const patchedNotes = await send(app, 'PATCH', `/api/content/article/${posted.body.data._id as string}`, { body: { editorNotes: `${NOTE}-3` }, headers: writer });
  t.equal(patchedNotes.status, 200);
  t.notMatch(patchedNotes.raw, secrets, 'PATCH of the private field itself: not echoed');
  const put = await send(app, 'PUT', `/api/content/author/${author._id as string}`, { body: { name: 'Hidden Writer', slug: 'hidden-writer', email: MAIL, bio: 'new' }, headers: writer });
  t.equal(put.status, 200);
  t.notMatch(put.raw, secrets, 'PUT by a token: nothing private in the answer');
  const profilePut = await send(app, 'PATCH', `/api/content/profile/${profile._id as string}`, { body: { name: 'Someone else' }, headers: writer });
  t.equal(profilePut.status, 200);
  t.same(profilePut.body.data.contact, { city: 'Paris' }, 'PATCH by a token: the nested private field is cut');

  // media populated into a public entry show no uploader either
  const pic = await uploadAs(app, admin.headers);
  const withCover = await create('article', { title: 'With cover', slug: 'with-cover', cover: pic.body.data[0]._id });
  const populated = await send(app, 'GET', `/api/content/article/${withCover._id as string}?populate=cover`);
  t.equal(populated.status, 200);
  t.equal(populated.body.data.cover._id, pic.body.data[0]._id, 'the cover is populated');
  t.notMatch(populated.raw, /createdBy|_createdBy/, 'no uploader, no creator');

  // signed-in users see and query everything
  const viewer = await makeUser(app, 'viewer');
  const seen = await send(app, 'GET', `/api/content/article/${article._id as string}`, { headers: viewer.headers });
  t.equal(seen.body.data.editorNotes, NOTE, 'a signed-in viewer sees private fields');
  t.equal(seen.body.data._createdBy, admin.id, 'and the creator');
  const filtered = await send(app, 'GET', `/api/content/article?filter[editorNotes]=${NOTE}`, { headers: viewer.headers });
  t.equal(filtered.status, 200, 'a signed-in user filters on a private field');
  t.same(filtered.body.data.map((e: Json) => e._id), [article._id]);
  const sorted = await send(app, 'GET', '/api/content/article?sort=-editorNotes&fields=title,editorNotes', { headers: viewer.headers });
  t.equal(sorted.status, 200, 'and sorts and selects on it');
  t.equal(sorted.body.data[0].editorNotes, `${NOTE}-3`);
  const byMail = await send(app, 'GET', `/api/content/author?filter[email]=${MAIL}`, { headers: viewer.headers });
  t.equal(byMail.body.meta.total, 1);
  const phone = await send(app, 'GET', '/api/content/profile?filter[contact.phone][exists]=true', { headers: viewer.headers });
  t.equal(phone.body.data[0].contact.phone, PHONE);
});

t.test('anonymous clients read public types only, and write nothing', async (t) => {
  const memo = await create('memo', { subject: 'Board minutes', internal: 'secret' });
  const art = await create('article', { title: 'Public post', slug: 'public-post' });
  for (const url of ['/api/content/article', `/api/content/article/${art._id as string}`, '/api/content/category', '/api/content/author', '/api/content/page', '/api/content/profile']) {
    const res = await send(app, 'GET', url);
    t.equal(res.status, 200, `anonymous GET ${url}`);
  }
  const settings = await send(app, 'GET', '/api/content/site-settings');
  t.ok([200, 404].includes(settings.status), 'the public singleton is readable (or not there yet)');
  t.not(settings.status, 401);

  for (const [method, url] of [
    ['GET', '/api/content/memo'],
    ['GET', `/api/content/memo/${memo._id as string}`],
    ['GET', '/api/content/memo/0123456789abcdef01234567'],
    ['HEAD', '/api/content/memo'],
    ['GET', '/api/content/memo?filter[subject]=Board%20minutes'],
  ] as const) {
    const res = await send(app, method, url);
    t.equal(res.status, 401, `anonymous ${method} ${url}: 401`);
    if (method === 'GET') t.equal(res.body.error.code, 'CMS_ERR_AUTH_REQUIRED');
    t.notMatch(res.raw, /Board minutes|secret/);
  }
  const before = await countStored(app, 'article');
  for (const [method, url, body] of [
    ['POST', '/api/content/article', { title: 'Anon', slug: 'anon' }],
    ['PATCH', `/api/content/article/${art._id as string}`, { title: 'Anon' }],
    ['PUT', `/api/content/article/${art._id as string}`, { title: 'Anon', slug: 'public-post' }],
    ['DELETE', `/api/content/article/${art._id as string}`, undefined],
    ['POST', '/api/content/memo', { subject: 'Anon' }],
    ['PUT', '/api/content/site-settings', { siteName: 'Anon' }],
  ] as const) {
    const res = await send(app, method, url, body ? { body } : {});
    t.equal(res.status, 401, `anonymous ${method} ${url}: 401`);
    t.equal(res.body.error.code, 'CMS_ERR_AUTH_REQUIRED');
  }
  t.equal(await countStored(app, 'article'), before, 'nothing written');
  t.match(await app.mongo.db.collection('content_article').findOne({ _id: art._id } as Json), { title: 'Public post', _version: 1 });
  t.equal((await uploadAs(app, {})).status, 401, 'anonymous uploads: 401');
  t.equal((await send(app, 'GET', '/api/auth/me')).status, 401);
});

t.test('credentials are checked before the body and the entry: no schema or existence leaks', async (t) => {
  const memo = await create('memo', { subject: 'Existing memo' });
  const missing = '0123456789abcdef01234567';
  const categoryWriter = await token(app, admin, ['content:write'], ['category']);
  for (const [who, headers, status, code] of [['anonymous', {}, 401, 'CMS_ERR_AUTH_REQUIRED'], ['a writer for category only', categoryWriter, 403, 'CMS_ERR_FORBIDDEN']] as const) {
    for (const [what, method, url, body] of [
      ['PUT, an invalid body', 'PUT', `/api/content/memo/${memo._id as string}`, { nonsense: true }],
      ['PUT, an invalid body, no such entry', 'PUT', `/api/content/memo/${missing}`, {}],
      ['PUT, a valid body, no such entry', 'PUT', `/api/content/memo/${missing}`, { subject: 'probe' }],
      ['PUT, a valid body, an existing entry', 'PUT', `/api/content/memo/${memo._id as string}`, { subject: 'probe' }],
      ['PATCH, no such entry', 'PATCH', `/api/content/memo/${missing}`, { subject: 'probe' }],
      ['PATCH, an existing entry', 'PATCH', `/api/content/memo/${memo._id as string}`, { subject: 'probe' }],
      ['DELETE, no such entry', 'DELETE', `/api/content/memo/${missing}`, undefined],
      ['DELETE, an existing entry', 'DELETE', `/api/content/memo/${memo._id as string}`, undefined],
    ] as const) {
      const res = await send(app, method, url, { headers, ...(body ? { body } : {}) });
      t.equal(res.status, status, `${who}, ${what}: ${status} (got ${res.status} ${res.body.error?.code as string})`);
      t.equal(res.body.error?.code, code, `${who}, ${what}: ${code}`);
      t.notMatch(res.raw, /subject|required/, `${who}, ${what}: nothing about the type's fields`);
    }
  }
  t.match(await app.mongo.db.collection('content_memo').findOne({ _id: memo._id } as Json), { subject: 'Existing memo', _version: 1 }, 'the memo is untouched');
});

t.test('media usage does not show a token entries of types it does not cover', async (t) => {
  const pic = await uploadAs(app, admin.headers);
  const id = pic.body.data[0]._id as string;
  await create('memo', { subject: 'Confidential merger memo', attachment: id });
  const categoryReader = await token(app, admin, ['content:read'], ['category']);
  const res = await send(app, 'GET', `/api/media/${id}/usage`, { headers: categoryReader });
  t.ok([200, 403].includes(res.status), `answered ${res.status}`);
  t.notMatch(res.raw, /Confidential merger memo/, 'the title of a memo the token may not read is not shown');
  t.notMatch(res.raw, /"memo"/, 'nor that a memo uses it');
});

// ---------------------------------------------------------------------------------------------
// caching and CORS

t.test('authenticated answers are private, no-store; anonymous public reads are not', async (t) => {
  const viewer = await makeUser(app, 'viewer');
  const reader = await token(app, admin, ['content:read'], ['category']);
  for (const [what, res] of [
    ['a cookie read', await send(app, 'GET', '/api/content/article', { headers: viewer.headers })],
    ['a token read', await send(app, 'GET', '/api/content/category', { headers: reader })],
    ['a token refused', await send(app, 'GET', '/api/content/article', { headers: reader })],
    ['a viewer refused', await send(app, 'POST', '/api/content/article', { body: { title: 'x', slug: 'x' }, headers: viewer.headers })],
    ['/api/auth/me', await send(app, 'GET', '/api/auth/me', { headers: viewer.headers })],
    ['the media library', await send(app, 'GET', '/api/media', { headers: viewer.headers })],
    ['the user list', await send(app, 'GET', '/api/users', { headers: admin.headers })],
  ] as const) {
    t.equal(res.headers['cache-control'], 'private, no-store', `${what}: private, no-store`);
  }
  for (const url of ['/api/content/article', '/api/content/category', '/api/content/author']) {
    const res = await send(app, 'GET', url);
    t.equal(res.status, 200);
    t.notMatch(String(res.headers['cache-control'] ?? ''), /private|no-store/, `anonymous ${url}: not private`);
  }
});

t.test('CORS: delivery reads for the configured site only; never writes', async (t) => {
  const ok = await send(app, 'GET', '/api/content/article', { headers: { origin: SITE } });
  t.equal(ok.status, 200);
  t.equal(ok.headers['access-control-allow-origin'], SITE, 'the configured site may read');
  t.notOk(ok.headers['access-control-allow-credentials'], 'without credentials');
  const head = await send(app, 'HEAD', '/api/content/article', { headers: { origin: SITE } });
  t.equal(head.headers['access-control-allow-origin'], SITE, 'HEAD too');

  const foreign = await send(app, 'GET', '/api/content/article', { headers: { origin: 'https://evil.example' } });
  t.equal(foreign.status, 200);
  t.notOk(foreign.headers['access-control-allow-origin'], 'a foreign origin gets no CORS header');
  const sub = await send(app, 'GET', '/api/content/article', { headers: { origin: 'https://site.example.evil.example' } });
  t.notOk(sub.headers['access-control-allow-origin'], 'nor a look-alike');

  const writer = await token(app, admin, ['content:write']);
  for (const [method, url, body] of [
    ['POST', '/api/content/category', { name: 'Cors', slug: 'cors' }],
    ['PATCH', '/api/content/category/0123456789abcdef01234567', { name: 'Cors' }],
    ['DELETE', '/api/content/category/0123456789abcdef01234567', undefined],
    ['PUT', '/api/content/site-settings', { siteName: 'Cors' }],
  ] as const) {
    const res = await send(app, method, url, { headers: { ...writer, origin: SITE }, ...(body ? { body } : {}) });
    t.notOk(res.headers['access-control-allow-origin'], `${method} ${url} (${res.status}): no CORS header`);
  }
  for (const [method, url] of [['GET', '/api/users'], ['GET', '/api/auth/me'], ['GET', '/api/tokens'], ['POST', '/api/auth/login']] as const) {
    const res = await send(app, method, url, { headers: { origin: SITE }, ...(method === 'POST' ? { body: { email: 'a@example.com', password: 'whatever it is' } } : {}) });
    t.notOk(res.headers['access-control-allow-origin'], `${method} ${url}: no CORS header`);
  }
  const preflight = await send(app, 'OPTIONS', '/api/content/category', { headers: { origin: SITE, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
  t.notMatch(String(preflight.headers['access-control-allow-methods'] ?? ''), /POST|PUT|PATCH|DELETE/, 'a preflight never allows a write method');
  const loginPreflight = await send(app, 'OPTIONS', '/api/auth/login', { headers: { origin: SITE, 'access-control-request-method': 'POST' } });
  t.notOk(loginPreflight.headers['access-control-allow-origin'], 'no preflight for sign-in');
});

// ---------------------------------------------------------------------------------------------
// the audit log

t.test('the audit log records who did what from where; admins only; CSV is defused', async (t) => {
  const log = await buildTestApp(t, { as: 'anonymous' });
  const o = originOf(log);
  const ip = (n: number) => `192.0.2.${n}`;
  const setupToken = await log.auth.openSetup();
  const setup = await send(log, 'POST', '/api/auth/setup', { body: { token: setupToken, email: 'root@example.com', name: 'Root Admin', password: PASSWORD }, headers: { origin: o }, ip: ip(1) });
  t.equal(setup.status, 201);
  const rootId = setup.body.data._id as string;
  let root = { cookie: setup.headers['set-cookie']!.toString().split(';')[0]!, origin: o };

  t.equal((await send(log, 'POST', '/api/auth/login', { body: { email: 'root@example.com', password: 'not the right one' }, headers: { origin: o, 'user-agent': '@SUM(1+1)*cmd|" /C calc"!A0' }, ip: ip(2) })).status, 401);
  t.equal((await send(log, 'POST', '/api/auth/login', { body: { email: '=HYPERLINK("http://evil.example","x")', password: 'whatever it is' }, headers: { origin: o, 'user-agent': '+cmd' }, ip: ip(2) })).status, 401);
  t.equal((await send(log, 'POST', '/api/auth/login', { body: { email: '-2+3@example.com', password: 'whatever it is' }, headers: { origin: o, 'user-agent': '-1' }, ip: ip(2) })).status, 401);
  const signedIn = await send(log, 'POST', '/api/auth/login', { body: { email: 'root@example.com', password: PASSWORD }, headers: { origin: o, 'user-agent': 'Browser/1.0' }, ip: ip(3) });
  t.equal(signedIn.status, 200);
  const second = { cookie: signedIn.headers['set-cookie']!.toString().split(';')[0]!, origin: o };
  t.equal((await send(log, 'POST', '/api/auth/logout', { headers: second, ip: ip(4) })).status, 204);

  const changed = await send(log, 'POST', '/api/auth/password', { body: { current: PASSWORD, password: 'another good passphrase' }, headers: root, ip: ip(5) });
  t.equal(changed.status, 204);
  root = { cookie: changed.headers['set-cookie']!.toString().split(';')[0]!, origin: o };

  const made = await send(log, 'POST', '/api/users', { body: { email: 'writer@example.com', name: 'Writer', password: PASSWORD, role: 'author' }, headers: root, ip: ip(6) });
  t.equal(made.status, 201);
  const writerId = made.body.data._id as string;
  t.equal((await send(log, 'PATCH', `/api/users/${writerId}`, { body: { role: 'editor', name: 'Writer' }, headers: root, ip: ip(7) })).status, 200);
  const tok = await send(log, 'POST', '/api/tokens', { body: { name: 'build', scopes: ['content:read', 'content:write', 'media:write'] }, headers: root, ip: ip(8) });
  t.equal(tok.status, 201);
  const tokenId = tok.body.data._id as string;
  const bearer = { authorization: `Bearer ${tok.body.secret as string}` };

  const entry = await send(log, 'POST', '/api/content/article', { body: { title: 'Logged', slug: 'logged', excerpt: 'e' }, headers: root, ip: ip(9) });
  t.equal(entry.status, 201);
  const entryId = entry.body.data._id as string;
  t.equal((await send(log, 'PATCH', `/api/content/article/${entryId}`, { body: { title: 'Logged again', excerpt: 'e' }, headers: bearer, ip: ip(10) })).status, 200);
  t.equal((await send(log, 'DELETE', `/api/content/article/${entryId}`, { headers: root, ip: ip(11) })).status, 204);

  const pic = form('logged.png', await png());
  const up = await send(log, 'POST', '/api/media', { payload: pic.payload, headers: { ...root, ...pic.headers }, ip: ip(12) });
  t.equal(up.status, 201);
  const mediaId = up.body.data[0]._id as string;
  t.equal((await send(log, 'PATCH', `/api/media/${mediaId}`, { body: { alt: 'described' }, headers: bearer, ip: ip(13) })).status, 200);
  t.equal((await send(log, 'DELETE', `/api/media/${mediaId}`, { headers: root, ip: ip(14) })).status, 204);
  t.equal((await send(log, 'DELETE', `/api/tokens/${tokenId}`, { headers: root, ip: ip(15) })).status, 200);
  t.equal((await send(log, 'DELETE', `/api/users/${writerId}`, { headers: root, ip: ip(16) })).status, 204);

  const find = async (action: string) => {
    const res = await send(log, 'GET', `/api/audit?filter[action]=${encodeURIComponent(action)}&sort=at`, { headers: root });
    t.equal(res.status, 200, `GET /api/audit for ${action}`);
    return res.body.data as Json[];
  };
  const user = { actorType: 'user', actorId: rootId, actorName: 'root@example.com' };
  const expectations: [string, Json][] = [
    ['setup', { ...user, targetKind: 'user', targetId: rootId, ip: ip(1) }],
    ['login', { ...user, targetKind: 'user', targetId: rootId, ip: ip(3), userAgent: 'Browser/1.0' }],
    ['logout', { ...user, ip: ip(4) }],
    ['password.change', { ...user, targetId: rootId, ip: ip(5) }],
    ['user.create', { ...user, targetKind: 'user', targetId: writerId, ip: ip(6) }],
    ['user.update', { ...user, targetKind: 'user', targetId: writerId, fields: ['role'], ip: ip(7) }],
    ['token.create', { ...user, targetKind: 'token', targetId: tokenId, ip: ip(8) }],
    ['entry.create', { ...user, targetKind: 'entry', targetType: 'article', targetId: entryId, ip: ip(9) }],
    ['entry.update', { actorType: 'token', actorId: tokenId, actorName: 'build', targetType: 'article', targetId: entryId, fields: ['title'], ip: ip(10) }],
    ['entry.delete', { ...user, targetType: 'article', targetId: entryId, ip: ip(11) }],
    ['media.upload', { ...user, targetKind: 'media', targetId: mediaId, ip: ip(12) }],
    ['media.update', { actorType: 'token', actorId: tokenId, targetKind: 'media', targetId: mediaId, fields: ['alt'], ip: ip(13) }],
    ['media.delete', { ...user, targetKind: 'media', targetId: mediaId, ip: ip(14) }],
    ['token.revoke', { ...user, targetKind: 'token', targetId: tokenId, ip: ip(15) }],
    ['user.delete', { ...user, targetKind: 'user', targetId: writerId, ip: ip(16) }],
  ];
  for (const [action, expected] of expectations) {
    const rows = await find(action);
    t.equal(rows.length, 1, `one ${action} record`);
    t.match(rows[0], { action, ...expected }, `${action}: actor, target and address`);
    t.match(rows[0]?.at, /^\d{4}-\d\d-\d\dT/, `${action}: a time`);
  }
  const created = (await find('entry.create'))[0]!;
  t.same([...(created.fields as string[])].sort(), ['excerpt', 'featured', 'format', 'slug', 'title'], 'entry.create names the fields set');
  const failed = await find('login.failed');
  t.equal(failed.length, 3, 'three failed sign-ins');
  t.match(failed[0], { actorType: 'anonymous', targetKind: 'user', targetId: 'root@example.com', ip: ip(2) }, 'the failed sign-in names the account tried');
  t.notOk(failed[0]!.actorId);
  t.notMatch(JSON.stringify(failed), /not the right one|whatever it is/, 'no password is logged');

  // the query language
  const byActor = await send(log, 'GET', `/api/audit?filter[actorId]=${tokenId}`, { headers: root });
  t.same(byActor.body.data.map((r: Json) => r.action).sort(), ['entry.update', 'media.update'], 'filter[actorId]');
  const byType = await send(log, 'GET', '/api/audit?filter[targetType]=article&sort=at', { headers: root });
  t.same(byType.body.data.map((r: Json) => r.action), ['entry.create', 'entry.update', 'entry.delete'], 'filter[targetType]');
  const since = (await find('entry.update'))[0]!.at as string;
  const later = await send(log, 'GET', `/api/audit?filter[at][gte]=${encodeURIComponent(since)}&filter[action][in]=entry.update,entry.delete,user.delete`, { headers: root });
  t.equal(later.body.meta.total, 3, 'filter[at][gte]');
  const page1 = await send(log, 'GET', '/api/audit?limit=2&sort=at', { headers: root });
  t.equal(page1.body.data.length, 2);
  t.equal(page1.body.data[0].action, 'setup', 'sort=at: oldest first');
  const page2 = await send(log, 'GET', `/api/audit?limit=2&sort=at&cursor=${page1.body.meta.nextCursor as string}`, { headers: root });
  t.equal(page2.status, 200);
  t.notSame(page2.body.data.map((r: Json) => r._id), page1.body.data.map((r: Json) => r._id), 'the cursor moves on');
  t.equal((await send(log, 'GET', '/api/audit?filter[password]=x', { headers: root })).status, 400, 'unknown fields: 400');

  // admins only
  const editor = await makeUser(log, 'editor');
  const viewer = await makeUser(log, 'viewer');
  const { secret } = await log.auth.createToken(rootId, { name: 'all', scopes: ['content:read', 'content:preview', 'content:write', 'media:write'] });
  for (const url of ['/api/audit', '/api/audit.csv', '/api/audit?filter[action]=login']) {
    for (const [who, headers, status] of [['an editor', editor.headers, 403], ['a viewer', viewer.headers, 403], ['a token', { authorization: `Bearer ${secret}` }, 403], ['anonymous', {}, 401]] as const) {
      const res = await send(log, 'GET', url, { headers });
      t.equal(res.status, status, `${who}: GET ${url} → ${status}`);
      t.notMatch(res.raw, /root@example\.com|192\.0\.2/, `${who}: nothing of the log`);
    }
  }

  // CSV
  const csv = await log.inject({ method: 'GET', url: '/api/audit.csv', headers: root });
  t.equal(csv.statusCode, 200);
  t.match(csv.headers['content-type'], /^text\/csv/);
  t.match(csv.headers['content-disposition'], /^attachment; filename="audit-\d{4}-\d\d-\d\d\.csv"$/);
  t.equal(csv.headers['cache-control'], 'private, no-store');
  const rows = parseCsv(csv.body);
  t.same(rows[0], ['at', 'action', 'actorType', 'actorId', 'actorName', 'targetKind', 'targetType', 'targetId', 'fields', 'ip', 'userAgent'], 'a header row');
  const total = (await send(log, 'GET', '/api/audit', { headers: root })).body.meta.total as number;
  t.equal(rows.length - 1, total, 'one row per record');
  t.ok(rows.slice(1).every((r) => r.length === 11), 'every row has every column');
  for (const row of rows) for (const cell of row) t.notMatch(cell, /^[=+\-@]/, `cell ${JSON.stringify(cell)} cannot run as a formula`);
  const cells = rows.flat();
  t.ok(cells.includes(`'=hyperlink("http://evil.example","x")`), 'a formula in an email is prefixed with a quote');
  t.ok(cells.includes("'@SUM(1+1)*cmd|\" /C calc\"!A0"), 'a formula in a user agent is prefixed');
  t.ok(cells.includes("'+cmd") && cells.includes("'-1") && cells.includes("'-2+3@example.com"), '+ and - too');
  const filteredCsv = parseCsv((await log.inject({ method: 'GET', url: '/api/audit.csv?filter[action]=login.failed', headers: root })).body);
  t.equal(filteredCsv.length, 4, 'the CSV takes the same filters');
});

/** RFC 4180 rows (quoted cells may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  if (cell || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

