// List-query correctness through HTTP: every filter operator on the field kinds it applies to,
// sorting (several keys, directions, optional fields), cursor and offset pagination, `fields=`
// projection, meta.total, the limit bounds, and the unique index behind a lookup by slug.
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { buildTestApp, call, type Json } from './helpers.js';

type Test = Pick<typeof t, 'equal' | 'ok' | 'fail'>;

// Eight articles covering every field kind. Expected results below are written out by hand from
// this table (not recomputed with the code under test).
//
// slug     title            mins rating feat  format   publishDate (stored, UTC)   tags            seo
// alpha    Alpha               5  4.5   true  standard 2024-01-10T09:00:00.000Z   news,tech       noIndex:true
// beta     Beta               12  3     false gallery  2024-01-31T22:30:00.000Z   tech            noIndex:false
// gamma    Gamma              20  -     false video    2024-03-15T12:00:00.500Z   (empty)         -
// delta    Delta               1  5     true  standard -                          news            noIndex:true, title D
// epsilon  Epsilon            7  0     false link     2024-01-01T00:59:59.999Z   sport,news      -
// zeta     zeta lowercase    240  2.25  false standard 2024-01-10T09:00:00.000Z   Tech            -
// eta      Eta                12  -     true  gallery  2024-06-01T00:00:00.000Z   tech,sport      title E
// theta    Alpha Beta         30  3     false video    2025-01-01T00:00:00.000Z   -               -
const SEED: Json[] = [
  {
    title: 'Alpha',
    slug: 'alpha',
    readingMinutes: 5,
    rating: 4.5,
    featured: true,
    format: 'standard',
    publishDate: '2024-01-10T09:00:00Z',
    tags: ['news', 'tech'],
    seo: { noIndex: true },
    excerpt: 'Hello World (v1.0)',
  },
  {
    title: 'Beta',
    slug: 'beta',
    readingMinutes: 12,
    rating: 3,
    format: 'gallery',
    publishDate: '2024-02-01T00:30:00+02:00',
    tags: ['tech'],
    seo: { noIndex: false },
  },
  {
    title: 'Gamma',
    slug: 'gamma',
    readingMinutes: 20,
    format: 'video',
    publishDate: '2024-03-15T12:00:00.5Z',
    tags: [],
    excerpt: 'world news',
  },
  { title: 'Delta', slug: 'delta', readingMinutes: 1, rating: 5, featured: true, tags: ['news'], seo: { noIndex: true, title: 'D' } },
  {
    title: 'Epsilon',
    slug: 'epsilon',
    readingMinutes: 7,
    rating: 0,
    format: 'link',
    publishDate: '2023-12-31T23:59:59.999-01:00',
    tags: ['sport', 'news'],
  },
  {
    title: 'zeta lowercase',
    slug: 'zeta',
    readingMinutes: 240,
    rating: 2.25,
    featured: false,
    publishDate: '2024-01-10T09:00:00.000Z',
    tags: ['Tech'],
  },
  {
    title: 'Eta',
    slug: 'eta',
    readingMinutes: 12,
    featured: true,
    format: 'gallery',
    publishDate: '2024-06-01T00:00:00Z',
    tags: ['tech', 'sport'],
    seo: { title: 'E' },
  },
  { title: 'Alpha Beta', slug: 'theta', readingMinutes: 30, rating: 3, format: 'video', publishDate: '2025-01-01T00:00:00Z' },
];
const ALL = SEED.map((e) => e.slug as string);
const but = (...slugs: string[]) => ALL.filter((s) => !slugs.includes(s));

async function seed(app: FastifyInstance, entries: Json[], type = 'article'): Promise<Map<string, Json>> {
  const bySlug = new Map<string, Json>();
  for (const e of entries) {
    const res = await call(app, 'POST', `/api/content/${type}`, e);
    if (res.status !== 201) throw new Error(`seeding ${String(e.slug)}: ${res.status} ${JSON.stringify(res.body)}`);
    bySlug.set(e.slug as string, res.body.data as Json);
  }
  return bySlug;
}

/** GET a list and assert it worked. */
async function list(tt: Test, app: FastifyInstance, qs: string, type = 'article'): Promise<Json> {
  const res = await call(app, 'GET', `/api/content/${type}?${qs}`);
  tt.equal(res.status, 200, `GET ?${qs} → 200 ${res.status === 200 ? '' : JSON.stringify(res.body)}`);
  return res.body;
}

const slugs = (body: Json): string[] => ((body.data ?? []) as Json[]).map((e) => e.slug as string);

/** Reads a dotted path; missing reads as null (how MongoDB sorts a missing value). */
function valueAt(doc: Json, path: string): unknown {
  let v: unknown = doc;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return null;
    v = (v as Json)[part];
  }
  return v ?? null;
}

const typeRank = (v: unknown) => (v === null ? 0 : typeof v === 'number' ? 1 : typeof v === 'string' ? 2 : 3);

/** MongoDB's order for the values used here: null/missing < numbers < strings < booleans; strings by code unit (ASCII data). */
function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (a === null) return 0;
  if (typeof a === 'number') return a - (b as number);
  if (typeof a === 'string') return a < (b as string) ? -1 : a > (b as string) ? 1 : 0;
  return Number(a) - Number(b);
}

/** A comparator for `sort=` (with the implicit _id tie-breaker). */
function comparator(sort: string): (a: Json, b: Json) => number {
  const keys = sort
    .split(',')
    .filter(Boolean)
    .map((k) => (k.startsWith('-') ? { path: k.slice(1), dir: -1 } : { path: k, dir: 1 }));
  if (!keys.some((k) => k.path === '_id')) keys.push({ path: '_id', dir: 1 });
  return (a, b) => {
    for (const k of keys) {
      const c = compareValues(valueAt(a, k.path), valueAt(b, k.path));
      if (c !== 0) return c * k.dir;
    }
    return 0;
  };
}

/** Orders entries that tie on every sort key the way the API must: by _id. */
function byId(entries: Map<string, Json>, ...tied: string[]): string[] {
  return [...tied].sort((a, b) => compareValues(entries.get(a)?._id, entries.get(b)?._id));
}

interface Walk {
  pages: Json[][];
  totals: number[];
}

/** Follows meta.nextCursor from the first page to the last; `between` runs after each page. */
async function walk(
  tt: Test,
  app: FastifyInstance,
  qs: string,
  limit: number,
  between?: (pageIndex: number, page: Json[]) => Promise<void>,
  type = 'article',
): Promise<Walk> {
  const pages: Json[][] = [];
  const totals: number[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 500; i++) {
    const body = await list(tt, app, `${qs}${qs ? '&' : ''}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, type);
    const page = (body.data ?? []) as Json[];
    pages.push(page);
    totals.push(body.meta?.total as number);
    tt.equal(body.meta?.limit, limit, 'meta.limit echoes the limit');
    tt.ok(page.length <= limit, `page ${i} holds at most ${limit}`);
    cursor = (body.meta?.nextCursor ?? null) as string | null;
    if (cursor === null) break;
    tt.equal(page.length, limit, `a page followed by a cursor is full (page ${i})`);
    if (between) await between(i, page);
  }
  tt.equal(cursor, null, 'the walk ends');
  return { pages, totals };
}

let app: FastifyInstance;
let seeded: Map<string, Json>;
t.before(async () => {
  app = await buildTestApp(t);
  seeded = await seed(app, SEED);
});

t.test('every date-time shape a write accepts is stored normalized', async (t) => {
  const app3 = await buildTestApp(t);
  // [as written, as stored]
  const shapes: Array<[string, string]> = [
    ['2024-01-10T09:00:00Z', '2024-01-10T09:00:00.000Z'],
    ['2024-01-10T10:00:00+01', '2024-01-10T09:00:00.000Z'],
    ['2024-01-10T10:00:00+0100', '2024-01-10T09:00:00.000Z'],
    ['2024-01-10T04:30:00-04:30', '2024-01-10T09:00:00.000Z'],
    ['2024-01-10t09:00:00z', '2024-01-10T09:00:00.000Z'],
    ['2024-01-10 09:00:00Z', '2024-01-10T09:00:00.000Z'],
    ['2024-01-10T09:00:00.123456Z', '2024-01-10T09:00:00.123Z'],
    ['2024-01-10T09:00:00.5+00:00', '2024-01-10T09:00:00.500Z'],
    ['2024-02-29T23:30:00-01:00', '2024-03-01T00:30:00.000Z'],
    // a leap second is valid RFC 3339; JavaScript has no :60, so it is stored as the last millisecond before it
    ['2016-12-31T23:59:60Z', '2016-12-31T23:59:59.999Z'],
    ['2016-12-31T18:59:60-05:00', '2016-12-31T23:59:59.999Z'],
  ];
  let i = 0;
  for (const [written, stored] of shapes) {
    i++;
    const res = await call(app3, 'POST', '/api/content/article', { title: written, slug: `d-${i}`, publishDate: written });
    t.equal(res.status, 201, `${written} is accepted`);
    t.equal(res.body.data?.publishDate, stored, `${written} → ${stored}`);
    const row = await app3.mongo.db.collection('content_article').findOne({ slug: `d-${i}` });
    t.equal(row?.publishDate, stored, `${written} is stored as ${stored}`);
  }
  const nine = await list(t, app3, 'filter[publishDate]=2024-01-10T09:00:00Z&limit=100');
  t.equal(nine.meta?.total, 6, 'the six shapes of 09:00:00.000Z are one instant');
  const sorted = await list(t, app3, 'sort=-publishDate&fields=publishDate&limit=100');
  const dates = (sorted.data as Json[]).map((e) => e.publishDate as string);
  t.same(dates, [...dates].sort().reverse(), 'sorted by instant');
  t.equal(dates[0], '2024-03-01T00:30:00.000Z');
  t.same(dates.slice(-2), ['2016-12-31T23:59:59.999Z', '2016-12-31T23:59:59.999Z']);
});

t.test('date-times are stored normalized to UTC ISO with milliseconds', async (t) => {
  t.equal(seeded.get('beta')?.publishDate, '2024-01-31T22:30:00.000Z');
  t.equal(seeded.get('gamma')?.publishDate, '2024-03-15T12:00:00.500Z');
  t.equal(seeded.get('epsilon')?.publishDate, '2024-01-01T00:59:59.999Z');
  const stored = await app.mongo.db.collection('content_article').findOne({ slug: 'alpha' });
  t.equal(stored?.publishDate, '2024-01-10T09:00:00.000Z', 'normalized in the database too');
});

// [query string, expected slugs (any order)]
const FILTERS: Record<string, Array<[string, string[]]>> = {
  'string (title, excerpt)': [
    ['filter[title][eq]=Beta', ['beta']],
    ['filter[title]=Beta', ['beta']],
    ['filter[title]=beta', []],
    ['filter[title][ne]=Beta', but('beta')],
    ['filter[title][gt]=Epsilon', ['gamma', 'zeta', 'eta']],
    ['filter[title][gte]=Epsilon', ['gamma', 'epsilon', 'zeta', 'eta']],
    ['filter[title][lt]=Beta', ['alpha', 'theta']],
    ['filter[title][lte]=Beta', ['alpha', 'beta', 'theta']],
    ['filter[title][in]=Alpha,Gamma,Nope', ['alpha', 'gamma']],
    ['filter[title][nin]=Alpha,Gamma', but('alpha', 'gamma')],
    ['filter[excerpt][exists]=true', ['alpha', 'gamma']],
    ['filter[excerpt][exists]=false', but('alpha', 'gamma')],
    ['filter[title][exists]=false', []],
    ['filter[title][contains]=alpha', ['alpha', 'theta']],
    ['filter[title][contains]=A%20B', ['theta']],
    ['filter[title][contains]=TA', ['beta', 'delta', 'zeta', 'eta', 'theta']],
    // regex metacharacters are literal
    ['filter[excerpt][contains]=.', ['alpha']],
    ['filter[excerpt][contains]=(v1.0)', ['alpha']],
    ['filter[title][contains]=.*', []],
    ['filter[title][startsWith]=Alpha', ['alpha', 'theta']],
    ['filter[title][startsWith]=alpha', []],
    ['filter[title][startsWith]=zeta%20', ['zeta']],
    ['filter[title][startsWith]=.', []],
    ['filter[slug][eq]=gamma', ['gamma']],
  ],
  'integer (readingMinutes)': [
    ['filter[readingMinutes][eq]=12', ['beta', 'eta']],
    ['filter[readingMinutes]=12', ['beta', 'eta']],
    ['filter[readingMinutes][ne]=12', but('beta', 'eta')],
    ['filter[readingMinutes][gt]=12', ['gamma', 'zeta', 'theta']],
    ['filter[readingMinutes][gte]=12', ['beta', 'gamma', 'zeta', 'eta', 'theta']],
    ['filter[readingMinutes][lt]=7', ['alpha', 'delta']],
    ['filter[readingMinutes][lte]=7', ['alpha', 'delta', 'epsilon']],
    ['filter[readingMinutes][gt]=-1', ALL],
    ['filter[readingMinutes][in]=1,240,999', ['delta', 'zeta']],
    ['filter[readingMinutes][nin]=1,240', but('delta', 'zeta')],
    ['filter[readingMinutes][exists]=true', ALL],
  ],
  'number (rating, optional)': [
    ['filter[rating][eq]=3', ['beta', 'theta']],
    ['filter[rating][eq]=3.0', ['beta', 'theta']],
    ['filter[rating][eq]=2.25', ['zeta']],
    // $ne and $nin match entries without the field, as in MongoDB
    ['filter[rating][ne]=3', but('beta', 'theta')],
    ['filter[rating][gt]=2.25', ['alpha', 'beta', 'delta', 'theta']],
    ['filter[rating][gte]=2.25', ['alpha', 'beta', 'delta', 'zeta', 'theta']],
    ['filter[rating][lt]=3', ['epsilon', 'zeta']],
    ['filter[rating][lt]=2.5e0', ['epsilon', 'zeta']],
    ['filter[rating][lte]=0', ['epsilon']],
    ['filter[rating][gt]=-0.5', but('gamma', 'eta')],
    ['filter[rating][in]=0,5', ['delta', 'epsilon']],
    ['filter[rating][nin]=0,5', but('delta', 'epsilon')],
    ['filter[rating][exists]=false', ['gamma', 'eta']],
    ['filter[rating][exists]=true', but('gamma', 'eta')],
  ],
  'boolean (featured, defaulted)': [
    ['filter[featured][eq]=true', ['alpha', 'delta', 'eta']],
    ['filter[featured]=false', but('alpha', 'delta', 'eta')],
    ['filter[featured][ne]=true', but('alpha', 'delta', 'eta')],
    ['filter[featured][ne]=false', ['alpha', 'delta', 'eta']],
    ['filter[featured][exists]=true', ALL],
  ],
  'enum string (format, defaulted)': [
    ['filter[format]=gallery', ['beta', 'eta']],
    ['filter[format][eq]=standard', ['alpha', 'delta', 'zeta']],
    ['filter[format][ne]=standard', but('alpha', 'delta', 'zeta')],
    ['filter[format][in]=video,link', ['gamma', 'epsilon', 'theta']],
    ['filter[format][nin]=video,link', but('gamma', 'epsilon', 'theta')],
  ],
  'date-time (publishDate, normalized)': [
    ['filter[publishDate][eq]=2024-01-10T09:00:00Z', ['alpha', 'zeta']],
    ['filter[publishDate]=2024-01-10T10:00:00%2B01:00', ['alpha', 'zeta']],
    ['filter[publishDate][eq]=2024-01-10T09:00:00.000Z', ['alpha', 'zeta']],
    ['filter[publishDate][eq]=2024-01-31T22:30:00Z', ['beta']],
    ['filter[publishDate][ne]=2024-01-10T09:00:00Z', but('alpha', 'zeta')],
    ['filter[publishDate][gt]=2024-01-10T09:00:00Z', ['beta', 'gamma', 'eta', 'theta']],
    ['filter[publishDate][gte]=2024-01-10T09:00:00Z', ['alpha', 'beta', 'gamma', 'zeta', 'eta', 'theta']],
    // beta was written as 2024-02-01T00:30:00+02:00: it is January 31 in UTC
    ['filter[publishDate][lt]=2024-02-01T00:00:00Z', ['alpha', 'beta', 'epsilon', 'zeta']],
    ['filter[publishDate][lt]=2024-02-01T01:00:00%2B02:00', ['alpha', 'beta', 'epsilon', 'zeta']],
    ['filter[publishDate][lte]=2024-01-01T00:59:59.999Z', ['epsilon']],
    ['filter[publishDate][lt]=2024-01-01T00:59:59.999Z', []],
    // milliseconds count: gamma is at 12:00:00.500
    ['filter[publishDate][gt]=2024-03-15T12:00:00Z', ['gamma', 'eta', 'theta']],
    ['filter[publishDate][gt]=2024-03-15T12:00:00.500Z', ['eta', 'theta']],
    ['filter[publishDate][in]=2024-06-01T02:00:00%2B02:00,2025-01-01T00:00:00.000Z', ['eta', 'theta']],
    ['filter[publishDate][nin]=2024-01-10T09:00:00Z', but('alpha', 'zeta')],
    ['filter[publishDate][exists]=false', ['delta']],
    // every RFC 3339 shape a write accepts; a plain date is midnight UTC
    ['filter[publishDate][eq]=2024-01-10T10:00:00%2B01', ['alpha', 'zeta']],
    ['filter[publishDate][eq]=2024-01-10T08:00:00-0100', ['alpha', 'zeta']],
    ['filter[publishDate][eq]=2024-01-10t09:00:00z', ['alpha', 'zeta']],
    ['filter[publishDate][eq]=2024-01-10%2009:00:00.000Z', ['alpha', 'zeta']],
    ['filter[publishDate][lt]=2024-01-02', ['epsilon']],
    ['filter[publishDate][gte]=2024-01-10', ['alpha', 'beta', 'gamma', 'zeta', 'eta', 'theta']],
  ],
  'array (tags)': [
    ['filter[tags][contains]=tech', ['alpha', 'beta', 'eta']],
    ['filter[tags][contains]=Tech', ['zeta']],
    ['filter[tags][contains]=tec', []],
    ['filter[tags][in]=news,sport', ['alpha', 'delta', 'epsilon', 'eta']],
    ['filter[tags][nin]=tech,news', ['gamma', 'zeta', 'theta']],
    ['filter[tags][exists]=false', ['theta']],
  ],
  'nested object (seo) by dotted path': [
    ['filter[seo.noIndex][eq]=true', ['alpha', 'delta']],
    ['filter[seo.noIndex]=false', ['beta']],
    ['filter[seo.noIndex][ne]=true', but('alpha', 'delta')],
    ['filter[seo.noIndex][exists]=false', ['gamma', 'epsilon', 'zeta', 'eta', 'theta']],
    ['filter[seo][exists]=true', ['alpha', 'beta', 'delta', 'eta']],
    ['filter[seo.title][startsWith]=D', ['delta']],
    ['filter[seo.title][in]=D,E', ['delta', 'eta']],
  ],
  'combined filters (all must hold)': [
    ['filter[featured]=false&filter[readingMinutes][gte]=12&filter[tags][contains]=tech', ['beta']],
    ['filter[rating][gte]=3&filter[publishDate][lt]=2024-06-01T00:00:00Z', ['alpha', 'beta']],
    ['filter[readingMinutes][gt]=5&filter[readingMinutes][lt]=30', ['beta', 'gamma', 'epsilon', 'eta']],
    ['filter[title][startsWith]=Alpha&filter[rating][exists]=true&filter[format]=video', ['theta']],
    ['filter[seo.noIndex]=true&filter[featured]=true&filter[readingMinutes][lt]=2', ['delta']],
    ['filter[tags][in]=news,tech&filter[tags][nin]=sport', ['alpha', 'beta', 'delta']],
  ],
};

for (const [kind, cases] of Object.entries(FILTERS)) {
  t.test(`filters on ${kind}`, async (t) => {
    for (const [qs, expected] of cases) {
      const body = await list(t, app, qs);
      t.same([...slugs(body)].sort(), [...expected].sort(), qs);
      t.equal(body.meta?.total, expected.length, `${qs}: meta.total`);
    }
  });
}

t.test('system fields can be filtered', async (t) => {
  const alpha = seeded.get('alpha')!;
  const gamma = seeded.get('gamma')!;
  t.same(slugs(await list(t, app, `filter[_id]=${String(alpha._id)}`)), ['alpha']);
  t.same(slugs(await list(t, app, `filter[_id][in]=${String(alpha._id)},${String(gamma._id)}`)).sort(), ['alpha', 'gamma']);
  t.same(slugs(await list(t, app, 'filter[_version]=1')).sort(), [...ALL].sort());
  t.same(slugs(await list(t, app, 'filter[_createdAt][gt]=2000-01-01T00:00:00Z')).sort(), [...ALL].sort());
  t.same(slugs(await list(t, app, 'filter[_createdAt][lt]=2000-01-01T00:00:00Z')), []);
});

t.test('the default order is by _id', async (t) => {
  const body = await list(t, app, '');
  const ids = ((body.data ?? []) as Json[]).map((e) => e._id as string);
  t.equal(ids.length, ALL.length);
  t.same(ids, [...ids].sort(), 'ascending _id');
});

t.test('sort on several fields, with direction', async (t) => {
  const cases: Array<[string, string[]]> = [
    // rating desc (missing last), then title asc: theta "Alpha Beta" before beta "Beta" at 3
    ['sort=-rating,title', ['delta', 'alpha', 'theta', 'beta', 'zeta', 'epsilon', 'eta', 'gamma']],
    ['sort=readingMinutes,-publishDate', ['delta', 'alpha', 'epsilon', 'eta', 'beta', 'gamma', 'theta', 'zeta']],
    ['sort=featured,-readingMinutes', ['zeta', 'theta', 'gamma', 'beta', 'epsilon', 'eta', 'alpha', 'delta']],
    ['sort=title', ['alpha', 'theta', 'beta', 'delta', 'epsilon', 'eta', 'gamma', 'zeta']],
    ['sort=-title', ['zeta', 'gamma', 'eta', 'epsilon', 'delta', 'beta', 'theta', 'alpha']],
    ['sort=format,-title', ['eta', 'beta', 'epsilon', 'zeta', 'delta', 'alpha', 'gamma', 'theta']],
    // an optional field: missing values come first ascending and last descending; ties by _id
    ['sort=rating', [...byId(seeded, 'gamma', 'eta'), 'epsilon', 'zeta', ...byId(seeded, 'beta', 'theta'), 'alpha', 'delta']],
    ['sort=-rating', ['delta', 'alpha', ...byId(seeded, 'beta', 'theta'), 'zeta', 'epsilon', ...byId(seeded, 'gamma', 'eta')]],
    ['sort=publishDate', ['delta', 'epsilon', ...byId(seeded, 'alpha', 'zeta'), 'beta', 'gamma', 'eta', 'theta']],
    ['sort=-publishDate,title', ['theta', 'eta', 'gamma', 'beta', 'alpha', 'zeta', 'epsilon', 'delta']],
    ['sort=-seo.title,title', ['eta', 'delta', 'alpha', 'theta', 'beta', 'epsilon', 'gamma', 'zeta']],
  ];
  for (const [qs, expected] of cases) {
    t.same(slugs(await list(t, app, qs)), expected, qs);
  }
});

t.test('cursor pagination visits every entry once, in sort order', async (t) => {
  const full = new Map(((await list(t, app, 'limit=100')).data as Json[]).map((e) => [e.slug as string, e]));
  const sorts = ['', 'sort=-rating,title', 'sort=rating', 'sort=publishDate', 'sort=-publishDate', 'sort=featured', 'sort=-featured,-readingMinutes', 'sort=-seo.title', 'sort=-_id', 'sort=title,_id', 'sort=_id,rating', 'sort=-_id,featured'];
  for (const sort of sorts) {
    const unpaged = slugs(await list(t, app, `${sort}${sort ? '&' : ''}limit=100`));
    for (const limit of [1, 2, 3, 7, 8, 9]) {
      const { pages, totals } = await walk(t, app, sort, limit);
      const seen = pages.flat().map((e) => e.slug as string);
      t.same(seen, unpaged, `${sort || 'no sort'} limit=${limit}: same order as one page`);
      t.equal(new Set(seen).size, ALL.length, `${sort || 'no sort'} limit=${limit}: every entry exactly once`);
      t.equal(pages.length, Math.max(1, Math.ceil(ALL.length / limit)), 'no empty trailing page');
      t.ok(totals.every((n) => n === ALL.length), 'meta.total is the whole list on every page');
      const cmp = comparator(sort.replace(/^sort=/, ''));
      const entries = seen.map((s) => full.get(s)!);
      t.ok(
        entries.every((e, i) => i === 0 || cmp(entries[i - 1]!, e) < 0),
        `${sort || 'no sort'} limit=${limit}: in sort order`,
      );
    }
  }
  // a cursor carries the filter's results forward
  const { pages } = await walk(t, app, 'filter[featured]=false&sort=-rating', 2);
  t.same(
    slugs({ data: pages.flat() }),
    [...byId(seeded, 'beta', 'theta'), 'zeta', 'epsilon', 'gamma'],
    'filtered walk: only the filter’s entries, in order',
  );
});

t.test('cursor pagination is stable while entries are inserted between pages', async (t) => {
  const app2 = await buildTestApp(t);
  const original = await seed(app2, SEED);
  const inserted = { early: [] as string[], tie: [] as string[], late: [] as string[] };
  let n = 0;
  const add = async (kind: keyof typeof inserted, fields: Json) => {
    n++;
    const slug = `new-${n}`;
    const res = await call(app2, 'POST', '/api/content/article', { slug, ...fields });
    t.equal(res.status, 201, `insert ${slug}`);
    inserted[kind].push(slug);
  };
  const { pages } = await walk(t, app2, 'sort=-rating,title', 2, async (i, page) => {
    if (i >= 3) return;
    const last = page[page.length - 1]!;
    // sorts before everything (already passed): must not show up
    await add('early', { title: 'AAA first', rating: 5 });
    // exactly the cursor's sort values: a later _id, so it sorts right after the cursor
    await add('tie', { title: last.title as string, ...(last.rating === undefined ? {} : { rating: last.rating as number }) });
    // sorts after everything (no rating, last title): must show up
    await add('late', { title: `zz last ${String(n).padStart(3, '0')}` });
  });
  const seen = pages.flat();
  const seenSlugs = seen.map((e) => e.slug as string);
  t.equal(inserted.early.length, 3, 'entries were inserted between three page fetches');
  t.equal(new Set(seenSlugs).size, seenSlugs.length, 'nothing repeated');
  for (const slug of ALL) t.equal(seenSlugs.filter((s) => s === slug).length, 1, `${slug} seen exactly once`);
  t.same(
    seenSlugs.filter((s) => original.has(s)),
    ['delta', 'alpha', 'theta', 'beta', 'zeta', 'epsilon', 'eta', 'gamma'],
    'the original entries, in sort order',
  );
  const cmp = comparator('-rating,title');
  t.ok(seen.every((e, i) => i === 0 || cmp(seen[i - 1]!, e) < 0), 'the whole walk is in sort order');
  t.same(seenSlugs.filter((s) => inserted.early.includes(s)), [], 'entries inserted before the cursor position are not visited');
  t.same(seenSlugs.filter((s) => inserted.tie.includes(s)), inserted.tie, 'entries tying with the cursor (later _id) are visited');
  t.same(seenSlugs.filter((s) => inserted.late.includes(s)), inserted.late, 'entries inserted after the cursor position are visited');
  t.equal(seen.length, ALL.length + inserted.tie.length + inserted.late.length);
});

t.test('offset pagination', async (t) => {
  const unpaged = slugs(await list(t, app, 'sort=title&limit=100'));
  const collected: string[] = [];
  for (const offset of [0, 3, 6]) {
    const body = await list(t, app, `sort=title&limit=3&offset=${offset}`);
    t.equal(body.meta?.offset, offset, 'meta.offset echoes the offset');
    t.equal(body.meta?.total, ALL.length, 'meta.total counts the whole list');
    t.equal(body.meta?.limit, 3);
    collected.push(...slugs(body));
    if (offset < 6) t.type(body.meta?.nextCursor, 'string', 'more follow');
    else t.equal(body.meta?.nextCursor, null, 'last page');
  }
  t.same(collected, unpaged, 'offset pages concatenate to the whole list');
  t.same(slugs(await list(t, app, 'sort=title&offset=2&limit=2')), unpaged.slice(2, 4));
  const past = await list(t, app, 'sort=title&offset=50');
  t.same(past.data, [], 'an offset past the end is an empty page');
  t.equal(past.meta?.total, ALL.length);
  t.equal(past.meta?.nextCursor, null);
  t.equal((await list(t, app, '')).meta?.offset, 0, 'offset defaults to 0');
  // an offset page's cursor continues where the page ended
  const page = await list(t, app, 'sort=title&offset=2&limit=2');
  const next = await list(t, app, `sort=title&limit=2&cursor=${encodeURIComponent(page.meta?.nextCursor as string)}`);
  t.same(slugs(next), unpaged.slice(4, 6), 'a cursor from an offset page continues after it');
});

t.test('fields= projection', async (t) => {
  const system = ['_id', '_type', '_version'];
  const keysOf = (body: Json) => ((body.data ?? []) as Json[]).map((e) => Object.keys(e).sort());
  const only = await list(t, app, 'fields=title');
  t.equal((only.data as Json[]).length, ALL.length);
  for (const keys of keysOf(only)) t.same(keys, [...system, 'title'].sort(), 'fields=title: title and _id/_type/_version');
  t.ok((only.data as Json[]).every((e) => e._type === 'article' && e._version === 1), 'system fields carry values');

  // sorting on fields not asked for: still sorted, still not returned
  const sorted = await list(t, app, 'fields=slug&sort=-rating,readingMinutes');
  t.same(slugs(sorted), ['delta', 'alpha', 'beta', 'theta', 'zeta', 'epsilon', 'eta', 'gamma'], 'sorted on fields not asked for');
  for (const keys of keysOf(sorted)) t.same(keys, [...system, 'slug'].sort(), 'the sort fields are not returned');

  const nested = await list(t, app, 'fields=slug&sort=-seo.title');
  t.same(slugs(nested).slice(0, 2), ['eta', 'delta'], 'sorted on a nested field not asked for');
  for (const keys of keysOf(nested)) t.same(keys, [...system, 'slug'].sort(), 'the nested sort field is not returned');

  const withSeo = await list(t, app, 'fields=slug,seo&sort=seo.title&filter[seo][exists]=true');
  t.same(slugs(withSeo).slice(2), ['delta', 'eta'], 'sort inside a projected object');
  t.same(((withSeo.data as Json[]).find((e) => e.slug === 'delta') ?? {}).seo, { noIndex: true, title: 'D' }, 'the whole object comes back');

  const optional = await list(t, app, 'fields=slug,excerpt');
  for (const e of optional.data as Json[]) {
    const expected = ['alpha', 'gamma'].includes(e.slug as string) ? [...system, 'slug', 'excerpt'] : [...system, 'slug'];
    t.same(Object.keys(e).sort(), expected.sort(), `${String(e.slug)}: an absent field is left out`);
  }

  const withSystem = await list(t, app, 'fields=_createdAt,slug&limit=1');
  t.same(keysOf(withSystem)[0], [...system, '_createdAt', 'slug'].sort(), 'system fields can be asked for');

  // a cursor walk with a projection on a field set that excludes the sort keys
  const projected = await walk(t, app, 'fields=slug&sort=-rating,title', 3);
  t.same(slugs({ data: projected.pages.flat() }), ['delta', 'alpha', 'theta', 'beta', 'zeta', 'epsilon', 'eta', 'gamma'], 'cursor walk with fields=');
  for (const e of projected.pages.flat()) t.same(Object.keys(e).sort(), [...system, 'slug'].sort());

  const one = await call(app, 'GET', `/api/content/article/${String(seeded.get('beta')?._id)}?fields=title,rating`);
  t.equal(one.status, 200);
  t.same(Object.keys(one.body.data as Json).sort(), [...system, 'rating', 'title'].sort(), 'GET one with fields=');
  t.same((one.body.data as Json).rating, 3);

});

t.test('meta.total reflects the filter, not the page', async (t) => {
  const first = await list(t, app, 'filter[featured]=true&limit=1');
  t.equal((first.data as Json[]).length, 1);
  t.equal(first.meta?.total, 3);
  const second = await list(t, app, `filter[featured]=true&limit=1&cursor=${encodeURIComponent(first.meta?.nextCursor as string)}`);
  t.equal((second.data as Json[]).length, 1);
  t.equal(second.meta?.total, 3, 'not reduced by the cursor');
  const offset = await list(t, app, 'filter[featured]=true&limit=1&offset=2');
  t.equal(offset.meta?.total, 3, 'not reduced by the offset');
  t.equal(offset.meta?.nextCursor, null, 'offset 2 of 3 is the last page');
  const none = await list(t, app, 'filter[title]=nobody');
  t.same(none.data, []);
  t.equal(none.meta?.total, 0);
  t.equal(none.meta?.nextCursor, null);
  t.equal((await list(t, app, 'limit=2')).meta?.total, ALL.length);
});

t.test('limit: default 20, at most 100', async (t) => {
  // categories, so that there are more entries than the bounds
  const total = 105;
  for (let i = 0; i < total; i++) {
    const res = await call(app, 'POST', '/api/content/category', { name: `Cat ${String(i).padStart(3, '0')}`, slug: `cat-${i}`, order: i % 5 });
    if (res.status !== 201) t.fail(`insert cat-${i}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  const dflt = await list(t, app, '', 'category');
  t.equal((dflt.data as Json[]).length, 20, 'default page size');
  t.equal(dflt.meta?.limit, 20);
  t.equal(dflt.meta?.total, total);
  t.type(dflt.meta?.nextCursor, 'string');
  const max = await list(t, app, 'limit=100', 'category');
  t.equal((max.data as Json[]).length, 100, 'limit=100 is allowed');
  t.equal(max.meta?.limit, 100);
  const over = await call(app, 'GET', '/api/content/category?limit=101');
  t.equal(over.status, 400, 'limit=101 is refused, not clamped');
  t.equal(over.body.error?.code, 'CMS_ERR_QUERY_BAD_VALUE');
  t.match(over.body.error?.details, [{ path: 'limit' }]);
  const small = await list(t, app, 'limit=1', 'category');
  t.equal((small.data as Json[]).length, 1);

  const { pages } = await walk(t, app, 'sort=-order,name', 7, undefined, 'category');
  const seen = pages.flat();
  t.equal(seen.length, total, 'a 105-entry walk');
  t.equal(new Set(seen.map((e) => e.slug)).size, total, 'each once');
  const cmp = comparator('-order,name');
  t.ok(seen.every((e, i) => i === 0 || cmp(seen[i - 1]!, e) < 0), 'in order');
});

t.test('a lookup by a unique field is served by its unique index', async (t) => {
  const collection = app.mongo.db.collection('content_article');
  const indexes = await collection.listIndexes().toArray();
  const slugIndex = indexes.find((i) => i.name === 'cms_unique_slug');
  t.ok(slugIndex, 'cms_unique_slug exists');
  t.same(slugIndex?.key, { slug: 1 });
  t.equal(slugIndex?.unique, true, 'and is unique');
  const publishIndex = indexes.find((i) => i.name === 'cms_index_publishDate');
  t.ok(publishIndex, 'an x-cms index field gets an index too');
  t.not(publishIndex?.unique, true, 'which is not unique');

  const body = await list(t, app, 'filter[slug][eq]=beta');
  t.same(slugs(body), ['beta']);
  t.equal(body.meta?.total, 1);

  // the index is enforced: a second entry with the same slug is a conflict, and is not stored
  const dup = await call(app, 'POST', '/api/content/article', { title: 'Copy', slug: 'beta' });
  t.equal(dup.status, 409);
  t.equal(dup.body.error?.code, 'CMS_ERR_ENTRY_UNIQUE');
  t.match(dup.body.error?.details, [{ path: '/slug' }]);
  t.equal(await collection.countDocuments({ slug: 'beta' }), 1);

  // The list sends MongoDB a plain equality on the indexed field, which MongoDB answers from
  // cms_unique_slug (no regex, no $expr, nothing that would force a scan).
  const monitored = await buildTestApp(t, { env: { MONGODB_DB: app.mongo.db.databaseName }, mongoClientOptions: { monitorCommands: true } });
  const commands: Json[] = [];
  monitored.mongo.client.on('commandStarted', (e) => {
    if (e.commandName === 'find' || e.commandName === 'aggregate' || e.commandName === 'count') commands.push(e.command as Json);
  });
  const viaMonitored = await list(t, monitored, 'filter[slug][eq]=beta');
  t.same(slugs(viaMonitored), ['beta']);
  const find = commands.find((c) => c.find === 'content_article');
  t.same(find?.filter, { slug: 'beta' }, 'the page query is an equality on slug');
  const count = commands.find((c) => c.aggregate === 'content_article' || c.count === 'content_article');
  t.ok(count, 'meta.total is counted');
  t.same(count?.pipeline?.[0] ?? { $match: count?.query }, { $match: { slug: 'beta' } }, 'so is the count');

  // FerretDB 1.x (SQLite backend), which the tests run on, pushes down only _id filters: its explain
  // shows `filterPushdown: false` and a table scan whatever indexes exist. On MongoDB, check the plan.
  const plan = await collection.find({ slug: 'beta' }).sort({ _id: 1 }).limit(21).explain();
  if (!(plan.serverInfo as Json | undefined)?.ferretdbVersion) {
    const usesIndex = (node: unknown): boolean =>
      Array.isArray(node)
        ? node.some(usesIndex)
        : node !== null && typeof node === 'object'
          ? (node as Json).indexName === 'cms_unique_slug' || Object.values(node as Json).some(usesIndex)
          : false;
    t.ok(usesIndex((plan.queryPlanner as Json | undefined)?.winningPlan), 'the winning plan uses cms_unique_slug');
  }
});
