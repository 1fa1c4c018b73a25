// Bad input through HTTP: every refusal is a 4xx with a stable error.code and the offending path in
// error.details, and nothing is written (the stored entries are compared before and after).
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { codes } from '../src/errors.js';
import { buildTestApp, call, countStored, type Json } from './helpers.js';

type Test = Pick<typeof t, 'equal' | 'ok' | 'same' | 'match'>;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The JSON pointer of the body as a whole: where a body-level problem (size, depth, syntax) is. */
const BODY = '';

let app: FastifyInstance;
/** An entry that refused PUT/PATCH/DELETE requests must leave exactly as it is. */
let keep: Json;
let keepUrl: string;
const MISSING_ID = '0123456789abcdef01234567';

t.before(async () => {
  app = await buildTestApp(t);
  const res = await call(app, 'POST', '/api/content/article', {
    title: 'Keep me',
    slug: 'keep',
    readingMinutes: 3,
    tags: ['a'],
    seo: { noIndex: false },
  });
  if (res.status !== 201) throw new Error(`seeding: ${res.status} ${JSON.stringify(res.body)}`);
  keep = res.body.data as Json;
  keepUrl = `/api/content/article/${String(keep._id)}`;
  const cat = await call(app, 'POST', '/api/content/category', { name: 'Cat', slug: 'cat' });
  if (cat.status !== 201) throw new Error(`seeding: ${cat.status} ${JSON.stringify(cat.body)}`);
});

async function allStored(type: string): Promise<Json[]> {
  return app.mongo.db.collection(`content_${type}`).find({}).sort({ _id: 1 }).toArray();
}

interface Refusal {
  method: Method;
  url: string;
  /** An object is sent as JSON; a string is sent as is (raw JSON text, or anything else). */
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  /** Each must be the path of one of error.details. */
  paths?: string[];
  /** The collection that must not change (default: article). */
  type?: string;
}

/** Sends a request that must be refused, and checks the refusal and that nothing was written. */
async function refused(t: Test, r: Refusal): Promise<Json> {
  const type = r.type ?? 'article';
  const count = await countStored(app, type);
  const before = await allStored(type);
  const res = await call(app, r.method, r.url, r.body, r.headers);
  const shown = typeof r.body === 'string' ? r.body : r.body === undefined ? '' : JSON.stringify(r.body);
  const label = `${r.method} ${r.url.slice(0, 120)}${shown ? ` ${shown.slice(0, 60)}${shown.length > 60 ? '…' : ''}` : ''}`;
  t.equal(res.status, r.status, `${label}: status ${r.status}`);
  t.equal(res.body.error?.code, r.code, `${label}: ${r.code}`);
  const details = (res.body.error?.details ?? []) as Json[];
  for (const path of r.paths ?? []) {
    t.ok(
      details.some((d) => d.path === path),
      `${label}: details name ${JSON.stringify(path)} (got ${JSON.stringify(details.map((d) => d.path))})`,
    );
  }
  t.equal(await countStored(app, type), count, `${label}: nothing stored`);
  t.same(await allStored(type), before, `${label}: stored entries unchanged`);
  return res.body;
}

const list = '/api/content/article';
const valid = (slug: string) => ({ title: 'Valid', slug });

t.test('operator injection in a body', async (t) => {
  const FORBIDDEN = codes.bodyForbiddenKey;
  await refused(t, { method: 'POST', url: list, body: { title: { $ne: '' }, slug: 'inj-1' }, status: 400, code: FORBIDDEN, paths: ['/title/$ne'] });
  await refused(t, { method: 'POST', url: list, body: { ...valid('inj-2'), $set: { title: 'x' } }, status: 400, code: FORBIDDEN, paths: ['/$set'] });
  await refused(t, { method: 'POST', url: list, body: { ...valid('inj-3'), seo: { $where: 'sleep(1000)' } }, status: 400, code: FORBIDDEN, paths: ['/seo/$where'] });
  await refused(t, { method: 'POST', url: list, body: { ...valid('inj-4'), tags: [{ $gt: '' }] }, status: 400, code: FORBIDDEN, paths: ['/tags/0/$gt'] });
  await refused(t, { method: 'POST', url: list, body: { ...valid('inj-5'), 'seo.noIndex': true }, status: 400, code: FORBIDDEN, paths: ['/seo.noIndex'] });
  await refused(t, { method: 'POST', url: list, body: { ...valid('inj-6'), seo: { 'a.b': 1 } }, status: 400, code: FORBIDDEN, paths: ['/seo/a.b'] });
  await refused(t, { method: 'POST', url: list, body: { ...valid('inj-7'), 'x\u0000y': 1 }, status: 400, code: FORBIDDEN, paths: ['/x\u0000y'] });
  // every offending key is reported, with JSON-pointer escaping
  await refused(t, {
    method: 'POST',
    url: list,
    body: { ...valid('inj-8'), $inc: { readingMinutes: 1 }, 'a.b': 1, '$a/b~c': 1 },
    status: 400,
    code: FORBIDDEN,
    paths: ['/$inc', '/a.b', '/$a~1b~0c'],
  });
  await refused(t, { method: 'PUT', url: keepUrl, body: { title: { $ne: '' }, slug: 'keep' }, status: 400, code: FORBIDDEN, paths: ['/title/$ne'] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: { $set: { title: 'hacked' } }, status: 400, code: FORBIDDEN, paths: ['/$set'] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: { seo: { 'noIndex.x': true } }, status: 400, code: FORBIDDEN, paths: ['/seo/noIndex.x'] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: { $unset: { title: '' } }, status: 400, code: FORBIDDEN, paths: ['/$unset'] });
});

t.test('__proto__ and constructor keys', async (t) => {
  const FORBIDDEN = codes.bodyForbiddenKey;
  await refused(t, { method: 'POST', url: list, body: '{"title":"x","slug":"proto-1","__proto__":{"a":1}}', status: 400, code: FORBIDDEN, paths: ['/__proto__'] });
  await refused(t, { method: 'POST', url: list, body: '{"constructor":{"prototype":{}}}', status: 400, code: FORBIDDEN, paths: ['/constructor'] });
  await refused(t, { method: 'POST', url: list, body: '{"title":"x","slug":"proto-3","constructor":{"a":1}}', status: 400, code: FORBIDDEN, paths: ['/constructor'] });
  await refused(t, { method: 'POST', url: list, body: '{"title":"x","slug":"proto-4","prototype":{}}', status: 400, code: FORBIDDEN, paths: ['/prototype'] });
  await refused(t, { method: 'POST', url: list, body: '{"title":"x","slug":"proto-5","seo":{"__proto__":{"noIndex":true}}}', status: 400, code: FORBIDDEN, paths: ['/seo/__proto__'] });
  await refused(t, { method: 'POST', url: list, body: '{"title":"x","slug":"proto-6","tags":[{"constructor":{"prototype":{"x":1}}}]}', status: 400, code: FORBIDDEN, paths: ['/tags/0/constructor'] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: '{"__proto__":{"title":"hacked"}}', status: 400, code: FORBIDDEN, paths: ['/__proto__'] });
  await refused(t, { method: 'PUT', url: keepUrl, body: '{"title":"x","slug":"keep","constructor":{"prototype":{"polluted":true}}}', status: 400, code: FORBIDDEN, paths: ['/constructor'] });
  const probe: Json = {};
  t.equal(probe.a, undefined, 'Object.prototype is not polluted');
  t.equal(probe.polluted, undefined, 'Object.prototype is not polluted');
});

t.test('deeply nested JSON', async (t) => {
  const DEEP = codes.bodyTooDeep;
  await refused(t, { method: 'POST', url: list, body: '['.repeat(10000) + ']'.repeat(10000), status: 400, code: DEEP, paths: [BODY] });
  await refused(t, { method: 'POST', url: list, body: '{"a":'.repeat(10000) + '1' + '}'.repeat(10000), status: 400, code: DEEP, paths: [BODY] });
  const deepSeo = '{"title":"x","slug":"deep","seo":' + '{"a":'.repeat(10000) + '1' + '}'.repeat(10000) + '}';
  await refused(t, { method: 'POST', url: list, body: deepSeo, status: 400, code: DEEP, paths: [BODY] });
  await refused(t, { method: 'PUT', url: keepUrl, body: deepSeo, status: 400, code: DEEP, paths: [BODY] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: '{"tags":' + '['.repeat(10000) + ']'.repeat(10000) + '}', status: 400, code: DEEP, paths: [BODY] });
  // the limit (JSON_MAX_DEPTH, 32 by default) is exact: 33 levels are refused as too deep, 32 get to validation
  const nested = (levels: number) => `{"title":"x","slug":"depth","tags":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
  await refused(t, { method: 'POST', url: list, body: nested(33), status: 400, code: DEEP, paths: [BODY] });
  await refused(t, { method: 'POST', url: list, body: nested(32), status: 400, code: codes.entryValidation, paths: ['/tags/0'] });
});

t.test('a body over the limit', async (t) => {
  const big = JSON.stringify({ title: 'x', slug: 'big', body: 'a'.repeat(1024 * 1024) });
  await refused(t, { method: 'POST', url: list, body: big, status: 413, code: codes.bodyTooLarge, paths: [BODY] });
  await refused(t, { method: 'PUT', url: keepUrl, body: big, status: 413, code: codes.bodyTooLarge, paths: [BODY] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: big, status: 413, code: codes.bodyTooLarge, paths: [BODY] });
});

t.test('malformed JSON', async (t) => {
  for (const text of ['{"title": "x",', '{title: "x", slug: "y"}', "{'title':'x'}", '{"title":"x","slug":"y"}}', 'undefined', '{"title":"x" "slug":"y"}']) {
    await refused(t, { method: 'POST', url: list, body: text, status: 400, code: codes.bodyInvalidJson, paths: [BODY] });
  }
  await refused(t, { method: 'PUT', url: keepUrl, body: '{"title":', status: 400, code: codes.bodyInvalidJson, paths: [BODY] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: '{"title":', status: 400, code: codes.bodyInvalidJson, paths: [BODY] });
});

t.test('a JSON body that is not an object', async (t) => {
  for (const text of ['[]', '[{"title":"x","slug":"in-array"}]', '"a string"', '42', 'true', 'null']) {
    await refused(t, { method: 'POST', url: list, body: text, status: 400, code: codes.entryValidation, paths: [BODY] });
  }
  await refused(t, { method: 'PUT', url: keepUrl, body: '[]', status: 400, code: codes.entryValidation, paths: [BODY] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: '"title"', status: 400, code: codes.entryValidation, paths: [BODY] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: 'null', status: 400, code: codes.entryValidation, paths: [BODY] });
});

t.test('limit and offset out of bounds', async (t) => {
  const BAD = codes.queryBadValue;
  for (const limit of ['1e9', '-1', '0', '101', '1000000000', 'abc', '1.5', '', '0x10', '%201']) {
    await refused(t, { method: 'GET', url: `${list}?limit=${limit}`, status: 400, code: BAD, paths: ['limit'] });
  }
  for (const offset of ['-5', '1e3', '10001', 'x', '2.5']) {
    await refused(t, { method: 'GET', url: `${list}?offset=${offset}`, status: 400, code: BAD, paths: ['offset'] });
  }
});

t.test('unknown query parameters', async (t) => {
  const UNKNOWN = codes.queryUnknownParam;
  await refused(t, { method: 'GET', url: `${list}?foo=1`, status: 400, code: UNKNOWN, paths: ['foo'] });
  await refused(t, { method: 'GET', url: `${list}?foo=1&bar=2`, status: 400, code: UNKNOWN, paths: ['foo', 'bar'] });
  await refused(t, { method: 'GET', url: `${list}?Limit=5`, status: 400, code: UNKNOWN, paths: ['Limit'] });
  await refused(t, { method: 'GET', url: `${list}?filter=title`, status: 400, code: UNKNOWN, paths: ['filter'] });
  await refused(t, { method: 'GET', url: `${list}?filter[title][eq][x]=1`, status: 400, code: UNKNOWN, paths: ['filter[title][eq][x]'] });
  await refused(t, { method: 'GET', url: `${list}?filter[]=1`, status: 400, code: UNKNOWN, paths: ['filter[]'] });
  await refused(t, { method: 'GET', url: `${list}?__proto__=1`, status: 400, code: UNKNOWN, paths: ['__proto__'] });
  await refused(t, { method: 'GET', url: `${keepUrl}?limit=5`, status: 400, code: UNKNOWN, paths: ['limit'] });
  // on writes too: a parameter the API does not know must not be ignored (a client asking for a dry run gets a write)
  await refused(t, { method: 'POST', url: `${list}?dryRun=true`, body: valid('dry-run'), status: 400, code: UNKNOWN, paths: ['dryRun'] });
  // (on entries of their own, so that a write that gets through does not spoil the other tests)
  for (const [method, slug] of [['PATCH', 'dry-patch'], ['PUT', 'dry-put'], ['DELETE', 'dry-delete']] as const) {
    const created = await call(app, 'POST', list, valid(slug));
    t.equal(created.status, 201);
    const url = `${list}/${String(created.body.data?._id)}?dryRun=true`;
    await refused(t, { method, url, ...(method === 'DELETE' ? {} : { body: valid(slug) }), status: 400, code: UNKNOWN, paths: ['dryRun'] });
  }
});

t.test('unknown and inapplicable operators', async (t) => {
  const OP = codes.queryUnknownOperator;
  for (const param of [
    'filter[title][regex]=.*',
    'filter[title][$ne]=',
    'filter[title][$regex]=.*',
    'filter[title][$where]=1',
    'filter[title][like]=a',
    'filter[title][EQ]=x',
    'filter[title][__proto__]=x',
    'filter[featured][gt]=true',
    'filter[featured][in]=true',
    'filter[readingMinutes][contains]=1',
    'filter[readingMinutes][startsWith]=1',
    'filter[tags][eq]=x',
    'filter[tags][startsWith]=x',
    'filter[seo][eq]=x',
  ]) {
    await refused(t, { method: 'GET', url: `${list}?${param}`, status: 400, code: OP, paths: [param.slice(0, param.indexOf('='))] });
  }
});

t.test('filters, sorts and fields on unknown fields', async (t) => {
  const FIELD = codes.queryUnknownField;
  for (const param of ['filter[nope][eq]=1', 'filter[nope]=1', 'filter[$where]=1', 'filter[seo.nope]=1', 'filter[seo.title.x]=1', 'filter[title.length]=1', 'filter[Title]=x']) {
    await refused(t, { method: 'GET', url: `${list}?${param}`, status: 400, code: FIELD, paths: [param.slice(0, param.indexOf('='))] });
  }
  for (const sort of ['nope', '-nope', 'title,nope']) {
    await refused(t, { method: 'GET', url: `${list}?sort=${sort}`, status: 400, code: FIELD, paths: ['sort'] });
  }
  for (const fields of ['nope', 'title,nope', 'seo.title']) {
    await refused(t, { method: 'GET', url: `${list}?fields=${fields}`, status: 400, code: FIELD, paths: ['fields'] });
  }
  await refused(t, { method: 'GET', url: `${keepUrl}?fields=nope`, status: 400, code: FIELD, paths: ['fields'] });
});

t.test('fields that may not be queried: _type and prototype names', async (t) => {
  const FIELD = codes.queryUnknownField;
  for (const param of [
    'filter[_type]=article',
    'filter[_type][eq]=article',
    'filter[__proto__]=x',
    'filter[__proto__][exists]=true',
    'filter[constructor][eq]=x',
    'filter[toString]=x',
    'filter[hasOwnProperty][exists]=true',
  ]) {
    await refused(t, { method: 'GET', url: `${list}?${param}`, status: 400, code: FIELD, paths: [param.slice(0, param.indexOf('='))] });
  }
  for (const sort of ['_type', 'constructor', '__proto__', '-toString']) {
    await refused(t, { method: 'GET', url: `${list}?sort=${sort}`, status: 400, code: FIELD, paths: ['sort'] });
  }
  for (const fields of ['constructor', '__proto__', 'toString', 'title,valueOf']) {
    await refused(t, { method: 'GET', url: `${list}?fields=${fields}`, status: 400, code: FIELD, paths: ['fields'] });
  }
  await refused(t, { method: 'GET', url: `${keepUrl}?fields=constructor`, status: 400, code: FIELD, paths: ['fields'] });
});

t.test('filter values of the wrong type', async (t) => {
  const BAD = codes.queryBadValue;
  for (const param of [
    'filter[readingMinutes][gt]=abc',
    'filter[readingMinutes][eq]=4.5',
    'filter[readingMinutes][eq]=',
    'filter[readingMinutes][in]=1,x',
    'filter[readingMinutes][lt]=9007199254740993',
    'filter[rating][gt]=1e999',
    'filter[rating][lt]=0x10',
    'filter[rating][eq]=NaN',
    'filter[rating][eq]=Infinity',
    'filter[rating][gte]=%201',
    'filter[featured][eq]=yes',
    'filter[featured]=1',
    'filter[featured][eq]=TRUE',
    'filter[seo.noIndex]=no',
    'filter[publishDate][gt]=not-a-date',
    'filter[publishDate][eq]=2024-13-45T00:00:00Z',
    'filter[publishDate][eq]=2024-02-30T00:00:00Z',
    'filter[publishDate][lt]=2024-01-10junk',
    // no offset: the instant would depend on the server's time zone
    'filter[publishDate][gt]=2024-01-10T09:00:00',
    'filter[publishDate][gt]=2024-01-10T25:00:00Z',
    'filter[publishDate][gt]=1704877200000',
    'filter[publishDate][in]=2024-01-10T09:00:00Z,tomorrow',
    'filter[publishDate][contains]=2024',
    'filter[_createdAt][gt]=yesterday',
    'filter[_id][eq]=not-an-id',
    'filter[_id][in]=0123456789abcdef01234567,nope',
    'filter[_version][eq]=one',
    'filter[title][exists]=yes',
    'filter[title][contains]=',
    'filter[title][startsWith]=',
    `filter[title][eq]=${'x'.repeat(1001)}`,
    `filter[title][in]=${Array.from({ length: 101 }, (_, i) => `t${i}`).join(',')}`,
  ]) {
    await refused(t, { method: 'GET', url: `${list}?${param}`, status: 400, code: BAD, paths: [param.slice(0, param.indexOf('='))] });
  }
});

t.test('enum values not in the enum', async (t) => {
  const BAD = codes.queryBadValue;
  for (const param of ['filter[format][eq]=podcast', 'filter[format]=Standard', 'filter[format][ne]=podcast', 'filter[format][in]=video,podcast', 'filter[format][nin]=podcast']) {
    await refused(t, { method: 'GET', url: `${list}?${param}`, status: 400, code: BAD, paths: [param.slice(0, param.indexOf('='))] });
  }
  await refused(t, { method: 'POST', url: list, body: { ...valid('enum-1'), format: 'podcast' }, status: 400, code: codes.entryValidation, paths: ['/format'] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: { format: 'Standard' }, status: 400, code: codes.entryValidation, paths: ['/format'] });
  await refused(t, { method: 'PUT', url: keepUrl, body: { title: 'Keep me', slug: 'keep', format: '' }, status: 400, code: codes.entryValidation, paths: ['/format'] });
});

t.test('repeated query parameters', async (t) => {
  const BAD = codes.queryBadValue;
  await refused(t, { method: 'GET', url: `${list}?limit=1&limit=2`, status: 400, code: BAD, paths: ['limit'] });
  await refused(t, { method: 'GET', url: `${list}?filter[title]=a&filter[title]=b`, status: 400, code: BAD, paths: ['filter[title]'] });
  await refused(t, { method: 'GET', url: `${list}?filter[title][in]=a&filter[title][in]=b`, status: 400, code: BAD, paths: ['filter[title][in]'] });
  await refused(t, { method: 'GET', url: `${list}?sort=title&sort=-title`, status: 400, code: BAD, paths: ['sort'] });
  await refused(t, { method: 'GET', url: `${list}?fields=title&fields=slug`, status: 400, code: BAD, paths: ['fields'] });
  await refused(t, { method: 'GET', url: `${list}?offset=1&offset=1`, status: 400, code: BAD, paths: ['offset'] });
  await refused(t, { method: 'GET', url: `${keepUrl}?fields=title&fields=slug`, status: 400, code: BAD, paths: ['fields'] });
});

t.test('altered, garbage and foreign cursors', async (t) => {
  const CURSOR = codes.queryBadCursor;
  // three more entries, so that a list has a next page
  for (const slug of ['c-1', 'c-2', 'c-3']) {
    const res = await call(app, 'POST', list, { title: slug, slug, rating: 2 });
    t.equal(res.status, 201);
  }
  const first = await call(app, 'GET', `${list}?sort=-rating,title&limit=1`);
  t.equal(first.status, 200);
  const cursor = first.body.meta?.nextCursor as string;
  t.type(cursor, 'string', 'a real cursor to tamper with');
  const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { s: string; v: unknown[] };
  t.same(decoded.v.length, 3, 'rating, title and _id');
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const ok = await call(app, 'GET', `${list}?sort=-rating,title&limit=1&cursor=${encode(decoded)}`);
  t.equal(ok.status, 200, 'the cursor re-encoded unchanged still works');

  const flipped = cursor.slice(0, 10) + (cursor[10] === 'A' ? 'B' : 'A') + cursor.slice(11);
  const bad: Array<[string, string]> = [
    ['garbage', encodeURIComponent('not a cursor!')],
    ['empty', ''],
    ['not JSON', 'abc'],
    ['truncated', cursor.slice(0, -4)],
    ['one character changed', flipped],
    ['padded base64', `${cursor}==`],
    ['too long', 'A'.repeat(5000)],
    ['JSON but not a cursor', encode([1, 2, 3])],
    ['JSON null', encode(null)],
    ['another signature', encode({ ...decoded, s: 'title,_id' })],
    ['a value too few', encode({ ...decoded, v: decoded.v.slice(1) })],
    ['a value too many', encode({ ...decoded, v: [...decoded.v, 1] })],
    ['an operator as a value', encode({ ...decoded, v: [{ $gt: '' }, decoded.v[1], decoded.v[2]] })],
    ['a string for a number', encode({ ...decoded, v: ['5', decoded.v[1], decoded.v[2]] })],
    ['a number for a string', encode({ ...decoded, v: [decoded.v[0], 7, decoded.v[2]] })],
    ['an _id that is not an id', encode({ ...decoded, v: [decoded.v[0], decoded.v[1], 'zzz'] })],
    ['an _id that is a number', encode({ ...decoded, v: [decoded.v[0], decoded.v[1], 1] })],
  ];
  for (const [what, value] of bad) {
    const body = await refused(t, { method: 'GET', url: `${list}?sort=-rating,title&limit=1&cursor=${value}`, status: 400, code: CURSOR, paths: ['cursor'] });
    t.ok(body.error, what);
  }
  // a cursor from a different sort
  for (const other of ['sort=rating,title', 'sort=-rating', 'sort=title', '', 'sort=-rating,title,_createdAt', 'sort=-rating,-title']) {
    await refused(t, { method: 'GET', url: `${list}?${other}${other ? '&' : ''}limit=1&cursor=${cursor}`, status: 400, code: CURSOR, paths: ['cursor'] });
  }
  await refused(t, { method: 'GET', url: `${list}?sort=-rating,title&limit=1&cursor=${cursor}&offset=2`, status: 400, code: codes.queryBadValue, paths: ['cursor'] });
  await refused(t, { method: 'GET', url: `${list}?sort=-rating,title&limit=1&cursor=${cursor}&cursor=${cursor}`, status: 400, code: codes.queryBadValue, paths: ['cursor'] });
});

t.test('an id that is not an id', async (t) => {
  const ID = codes.entryInvalidId;
  for (const id of ['not-an-id', '0123456789ABCDEF01234567', '0123456789abcdef0123456', '0123456789abcdef012345678', '%24ne', 'a'.repeat(100)]) {
    const url = `${list}/${id}`;
    await refused(t, { method: 'GET', url, status: 400, code: ID, paths: ['id'] });
    await refused(t, { method: 'PUT', url, body: valid('by-bad-id'), status: 400, code: ID, paths: ['id'] });
    await refused(t, { method: 'PATCH', url, body: { title: 'x' }, status: 400, code: ID, paths: ['id'] });
    await refused(t, { method: 'DELETE', url, status: 400, code: ID, paths: ['id'] });
  }
  // a well-formed id of no entry: PUT does not create on a collection
  await refused(t, { method: 'PUT', url: `${list}/${MISSING_ID}`, body: valid('by-missing-id'), status: 404, code: codes.entryNotFound });
  await refused(t, { method: 'PATCH', url: `${list}/${MISSING_ID}`, body: { title: 'x' }, status: 404, code: codes.entryNotFound });
  await refused(t, { method: 'DELETE', url: `${list}/${MISSING_ID}`, status: 404, code: codes.entryNotFound });
});

t.test('an unknown type', async (t) => {
  const TYPE = codes.typeNotFound;
  for (const type of ['nope', 'Article', 'constructor', '__proto__']) {
    await refused(t, { method: 'GET', url: `/api/content/${type}`, status: 404, code: TYPE, paths: ['type'], type });
    await refused(t, { method: 'POST', url: `/api/content/${type}`, body: valid('unknown-type'), status: 404, code: TYPE, paths: ['type'], type });
    await refused(t, { method: 'GET', url: `/api/content/${type}/${MISSING_ID}`, status: 404, code: TYPE, paths: ['type'], type });
    await refused(t, { method: 'PUT', url: `/api/content/${type}/${MISSING_ID}`, body: valid('unknown-type'), status: 404, code: TYPE, paths: ['type'], type });
  }
  const collections = (await app.mongo.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
  t.notOk(collections.includes('content_nope'), 'no collection was created for the unknown type');
});

t.test('system fields in a body', async (t) => {
  const SYSTEM = codes.entrySystemField;
  await refused(t, { method: 'POST', url: list, body: { ...valid('sys-1'), _id: MISSING_ID }, status: 400, code: SYSTEM, paths: ['/_id'] });
  await refused(t, { method: 'POST', url: list, body: { ...valid('sys-2'), _version: 1 }, status: 400, code: SYSTEM, paths: ['/_version'] });
  await refused(t, { method: 'POST', url: list, body: { ...valid('sys-3'), _createdAt: '2020-01-01T00:00:00.000Z' }, status: 400, code: SYSTEM, paths: ['/_createdAt'] });
  await refused(t, { method: 'POST', url: list, body: { ...valid('sys-4'), _updatedAt: '2020-01-01T00:00:00.000Z' }, status: 400, code: SYSTEM, paths: ['/_updatedAt'] });
  await refused(t, { method: 'POST', url: list, body: { ...valid('sys-5'), _type: 'page' }, status: 400, code: SYSTEM, paths: ['/_type'] });
  await refused(t, {
    method: 'POST',
    url: list,
    body: { ...valid('sys-6'), _id: MISSING_ID, _createdAt: '2020-01-01T00:00:00.000Z', _private: true },
    status: 400,
    code: SYSTEM,
    paths: ['/_id', '/_createdAt', '/_private'],
  });
  await refused(t, { method: 'PUT', url: keepUrl, body: { title: 'Keep me', slug: 'keep', _createdAt: '2020-01-01T00:00:00.000Z' }, status: 400, code: SYSTEM, paths: ['/_createdAt'] });
  await refused(t, { method: 'PUT', url: keepUrl, body: { title: 'Keep me', slug: 'keep', _id: MISSING_ID }, status: 400, code: SYSTEM, paths: ['/_id'] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: { _id: MISSING_ID }, status: 400, code: SYSTEM, paths: ['/_id'] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: { _type: 'page', title: 'x' }, status: 400, code: SYSTEM, paths: ['/_type'] });
  // _version on PUT/PATCH is a precondition, and must be one
  for (const version of [0, -1, 1.5, '1', null, true]) {
    await refused(t, { method: 'PATCH', url: keepUrl, body: { title: 'x', _version: version }, status: 400, code: codes.entryBadPrecondition, paths: ['/_version'] });
  }
});

t.test('unknown fields are refused, never stripped', async (t) => {
  const collection = app.mongo.db.collection('content_article');
  await refused(t, { method: 'POST', url: list, body: { ...valid('unknown-1'), color: 'red' }, status: 400, code: codes.entryValidation, paths: ['/color'] });
  t.equal(await collection.countDocuments({ slug: 'unknown-1' }), 0, 'not stored with the field, nor without it');
  await refused(t, { method: 'POST', url: list, body: { ...valid('unknown-2'), seo: { title: 'x', keywords: 'a' } }, status: 400, code: codes.entryValidation, paths: ['/seo/keywords'] });
  t.equal(await collection.countDocuments({ slug: 'unknown-2' }), 0);
  await refused(t, { method: 'POST', url: list, body: { ...valid('unknown-3'), Title: 'x', 'sl ug': 'y' }, status: 400, code: codes.entryValidation, paths: ['/Title', '/sl ug'] });
  t.equal(await collection.countDocuments({ slug: 'unknown-3' }), 0);
  await refused(t, { method: 'PUT', url: keepUrl, body: { title: 'Keep me', slug: 'keep', color: 'red' }, status: 400, code: codes.entryValidation, paths: ['/color'] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: { color: 'red' }, status: 400, code: codes.entryValidation, paths: ['/color'] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: { seo: { keywords: 'a' } }, status: 400, code: codes.entryValidation, paths: ['/seo/keywords'] });
});

t.test('a validation failure reports every failing path at once', async (t) => {
  const body = await refused(t, {
    method: 'POST',
    url: list,
    body: {
      title: '',
      slug: 'Bad Slug',
      readingMinutes: 0,
      rating: 9,
      format: 'podcast',
      tags: 'x',
      seo: { noIndex: 'yes' },
      canonicalUrl: 'not a uri',
      publishDate: 'yesterday',
      featured: 'no',
    },
    status: 400,
    code: codes.entryValidation,
    paths: ['/title', '/slug', '/readingMinutes', '/rating', '/format', '/tags', '/seo/noIndex', '/canonicalUrl', '/publishDate', '/featured'],
  });
  t.ok((body.error?.details as Json[]).length >= 10, 'one detail per problem');
  await refused(t, { method: 'POST', url: list, body: {}, status: 400, code: codes.entryValidation, paths: ['/title', '/slug'] });
  await refused(t, {
    method: 'POST',
    url: list,
    body: { slug: 'many-1', tags: ['', 'ok', 5], readingMinutes: 2.5 },
    status: 400,
    code: codes.entryValidation,
    paths: ['/title', '/tags/0', '/tags/2', '/readingMinutes'],
  });
  await refused(t, {
    method: 'PUT',
    url: keepUrl,
    body: { title: 'Keep me', slug: 'keep', readingMinutes: 500, rating: -1 },
    status: 400,
    code: codes.entryValidation,
    paths: ['/readingMinutes', '/rating'],
  });
  // PATCH: the merged entry is validated as a whole (removing a required field fails)
  await refused(t, { method: 'PATCH', url: keepUrl, body: { title: null, rating: 6 }, status: 400, code: codes.entryValidation, paths: ['/title', '/rating'] });
});

t.test('a Content-Type that is not JSON', async (t) => {
  const MEDIA = codes.bodyUnsupportedType;
  const json = JSON.stringify(valid('wrong-type'));
  for (const contentType of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'text/html', 'application/xml', 'multipart/form-data; boundary=x']) {
    await refused(t, { method: 'POST', url: list, body: json, headers: { 'content-type': contentType }, status: 415, code: MEDIA, paths: ['content-type'] });
  }
  await refused(t, { method: 'PUT', url: keepUrl, body: JSON.stringify({ title: 'Changed', slug: 'keep' }), headers: { 'content-type': 'text/plain' }, status: 415, code: MEDIA, paths: ['content-type'] });
  await refused(t, { method: 'PATCH', url: keepUrl, body: JSON.stringify({ title: 'Changed' }), headers: { 'content-type': 'text/plain' }, status: 415, code: MEDIA, paths: ['content-type'] });
});

t.test('If-Match that is not a version', async (t) => {
  const PRE = codes.entryBadPrecondition;
  for (const ifMatch of ['abc', '"1.5"', '-1', 'W/"x"', '"1", "2"', '1e3', '1234567890123456', 'W/ "1"']) {
    await refused(t, { method: 'PATCH', url: keepUrl, body: { title: 'Changed' }, headers: { 'if-match': ifMatch }, status: 400, code: PRE, paths: ['if-match'] });
    await refused(t, { method: 'PUT', url: keepUrl, body: { title: 'Changed', slug: 'keep' }, headers: { 'if-match': ifMatch }, status: 400, code: PRE, paths: ['if-match'] });
    await refused(t, { method: 'DELETE', url: keepUrl, headers: { 'if-match': ifMatch }, status: 400, code: PRE, paths: ['if-match'] });
  }
  // If-Match and a _version in the body that disagree
  await refused(t, { method: 'PATCH', url: keepUrl, body: { title: 'Changed', _version: 2 }, headers: { 'if-match': '"1"' }, status: 400, code: PRE, paths: ['/_version'] });
  // a version the entry is not at is a precondition failure, not a write
  await refused(t, { method: 'PATCH', url: keepUrl, body: { title: 'Changed' }, headers: { 'if-match': '"7"' }, status: 412, code: codes.entryVersion, paths: ['/_version'] });
  await refused(t, { method: 'DELETE', url: keepUrl, headers: { 'if-match': '"7"' }, status: 412, code: codes.entryVersion, paths: ['/_version'] });
});

t.test('after all of that, the kept entry is untouched', async (t) => {
  const res = await call(app, 'GET', keepUrl);
  t.equal(res.status, 200);
  t.same(res.body.data, keep, 'same fields, same _version, same _updatedAt');
  t.equal(await countStored(app, 'category'), 1);
});

t.test('control characters in a text filter are matched literally, never a 500', async (t) => {
  for (const op of ['contains', 'startsWith']) {
    const res = await call(app, 'GET', `${list}?filter[title][${op}]=${encodeURIComponent('a\u0000b')}`);
    t.equal(res.status, 200, `${op} with a NUL`);
    t.same(res.body.data, []);
  }
});

t.test('an error never grows past 100 details, however many problems a body has', async (t) => {
  const tags = Array.from({ length: 5000 }, () => '');
  const body = await refused(t, { method: 'POST', url: list, body: { title: 'x', slug: 'many-errors', tags }, status: 400, code: codes.entryValidation, paths: ['/tags'] });
  const details = body.error.details as Json[];
  t.equal(details.length, 101);
  t.match(details[100], { path: '', message: /^\d+ more problems not shown$/ });
  const keys = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`$k${i}`, 1]));
  const forbidden = await refused(t, { method: 'POST', url: list, body: keys, status: 400, code: codes.bodyForbiddenKey, paths: ['/$k0'] });
  t.equal(forbidden.error.details.length, 101);
  t.match(forbidden.error.details[100], { message: '900 more problems not shown' });
});
