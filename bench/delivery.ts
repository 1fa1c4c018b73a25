// The delivery scenarios of `npm run bench` (alone: BENCH_ONLY=delivery): what the public read path costs
// with references populated, what the delivery cache wins, and how fast the sync feed streams.
//   1. A populated list, `GET /api/content/post?limit=100&populate=author,related`, through a second CMS
//      app on the same database with the delivery cache off (DELIVERY_CACHE_BYTES=0), against a bare
//      Fastify route running the same batched queries with the raw driver (find on published_post with
//      limit 101 + count, one $in on content_author, one $in on published_post) and JSON.stringify.
//   2. The cached single entry and the cached populated list (the normal app, cache on, anonymous) against
//      bare Fastify serving the same bytes.
//   3. A full sync of BENCH_SYNC_ENTRIES categories (inserted with the raw driver), streamed over HTTP:
//      entries per second and the peak growth of this process's RSS (the server runs in it).
//   4. An incremental sync after 10 changes: the median time of a few rounds.
// HTTP scenarios alternate the servers in slices (bench/load.ts), as the content scenarios do.
//
//   BENCH_SYNC_ENTRIES=100000  categories in the full sync
//   BENCH_SYNC_ROUNDS=5        incremental-sync rounds (10 fresh changes each)
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import { ObjectId, type Db } from 'mongodb';
import { BenchError, checkClean, int, intFromEnv, kb, log, ms, percentile, ratio, rng, type measure as Measure } from './common.js';
import { BATCH } from '../src/services/sync.js';
import type { LoadResult } from './load.js';

export const DELIVERY_START = '<!-- bench:delivery:start -->';
export const DELIVERY_END = '<!-- bench:delivery:end -->';

const AUTHORS = 20;
const POSTS = 200;
const LIMIT = 100;
const SEED_CONCURRENCY = 8;
const CHANGES = 10;
const LIST_PATH = `/api/content/post?limit=${LIMIT}&populate=author,related`;

export interface DeliveryContext {
  /** The CMS as configured (delivery cache on). */
  cmsUrl: string;
  /** A second app on the same database with DELIVERY_CACHE_BYTES=0. */
  uncachedUrl: string;
  app: FastifyInstance;
  db: Db;
  measure: typeof Measure;
  track: (server: FastifyInstance) => void;
  duration: number;
  warmup: number;
  connections: number;
  slices: number;
}

interface HttpRow {
  name: string;
  path: string;
  bytes: number;
  cms: LoadResult;
  baseline: LoadResult;
  baselineName: string;
}

interface SyncResult {
  entries: number;
  requested: number;
  insertSeconds: number;
  seconds: number;
  bytes: number;
  rssBefore: number;
  rssPeak: number;
  heapBefore: number;
  heapPeak: number;
  firstLineMs: number;
  /** The same batched queries with the raw driver, in process, JSON.stringify per entry, no HTTP. */
  rawSeconds: number;
  rawBefore: number;
  rawAfter: number;
}

interface IncrementalResult {
  rounds: number[];
  lines: number;
  writeMedian: number;
}

export interface DeliveryOutcome {
  http: HttpRow[];
  headerNotes: string[];
  sync: SyncResult;
  incremental: IncrementalResult;
  cacheHits: number;
}

async function pool<T>(items: T[], fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: SEED_CONCURRENCY }, worker));
}

/** 20 authors and 200 published posts, each with an author and two related posts. */
async function seed(app: FastifyInstance): Promise<void> {
  const rand = rng(20260601);
  const authors: string[] = new Array<string>(AUTHORS);
  await pool(Array.from({ length: AUTHORS }, (_, i) => i), async (i) => {
    const created = await app.entries.create('author', {
      name: `Author ${i + 1}`,
      slug: `author-${i + 1}`,
      email: `author${i + 1}@example.com`,
      bio: `Writes about things, number ${i + 1}.`,
      website: `https://example.com/authors/${i + 1}`,
    });
    authors[i] = created.entry._id;
  });
  const posts: string[] = new Array<string>(POSTS);
  await pool(Array.from({ length: POSTS }, (_, i) => i), async (i) => {
    const created = await app.entries.create('post', {
      title: { en: `Post number ${i + 1}` },
      slug: `post-${i + 1}`,
      summary: { en: `The summary of post ${i + 1}, a sentence or two long.` },
      body: { en: `# Post ${i + 1}\n\n${'Some body text for the benchmark. '.repeat(20)}` },
      author: authors[Math.floor(rand() * AUTHORS)],
      rating: 1 + (i % 5),
      reviewNotes: 'private notes',
    });
    posts[i] = created.entry._id;
  });
  await pool(posts, async (id, i) => {
    const a = (i + 1 + Math.floor(rand() * (POSTS - 1))) % POSTS;
    let b = (i + 1 + Math.floor(rand() * (POSTS - 1))) % POSTS;
    if (b === a) b = (a + 1) % POSTS === i ? (a + 2) % POSTS : (a + 1) % POSTS;
    await app.entries.patch('post', id, { related: [posts[a]!, posts[b]!] });
    await app.entries.publish('post', id);
  });
}

type Doc = Record<string, unknown> & { _id: string };

/**
 * Bare Fastify, raw driver: the queries the CMS sends for the populated list, and what it does to the
 * rows (drop `_createdBy`, `_media` and private fields, flatten localized fields to `en`), JSON.stringify.
 */
function rawServer(db: Db, contentType: string): FastifyInstance {
  const posts = db.collection<Doc>('published_post');
  const authors = db.collection<Doc>('content_author');
  const localized = ['title', 'summary', 'body'];
  const showPost = (d: Doc): Doc => {
    delete d._createdBy;
    delete d._media;
    delete d.reviewNotes;
    for (const f of localized) {
      const v = d[f] as Record<string, unknown> | undefined;
      if (v && typeof v === 'object') d[f] = v.en;
    }
    d._locale = 'en';
    return d;
  };
  const showAuthor = (d: Doc): Doc => {
    delete d._createdBy;
    delete d._media;
    delete d.email;
    return d;
  };
  const server = Fastify({ logger: false });
  server.get('/api/content/post', async (_request, reply) => {
    const [rows, total] = await Promise.all([posts.find({}).sort({ _id: 1 }).limit(LIMIT + 1).toArray(), posts.countDocuments({})]);
    const page = rows.slice(0, LIMIT).map(showPost);
    const authorIds = [...new Set(page.map((p) => p.author).filter((a): a is string => typeof a === 'string'))];
    const relatedIds = [...new Set(page.flatMap((p) => (Array.isArray(p.related) ? (p.related as string[]) : [])))];
    const [authorRows, relatedRows] = await Promise.all([
      authors.find({ _id: { $in: authorIds } }).toArray(),
      posts.find({ _id: { $in: relatedIds } }).toArray(),
    ]);
    const byAuthor = new Map(authorRows.map((a) => [a._id, showAuthor(a)]));
    const byPost = new Map(relatedRows.map((p) => [p._id, showPost(p)]));
    for (const p of page) {
      // every occurrence its own copy, as the CMS populates
      if (typeof p.author === 'string') p.author = byAuthor.has(p.author) ? { ...byAuthor.get(p.author)! } : null;
      if (Array.isArray(p.related)) p.related = (p.related as string[]).map((id) => (byPost.has(id) ? { ...byPost.get(id)! } : null));
    }
    const body = { data: page, meta: { total, limit: LIMIT, offset: 0, nextCursor: null, preview: false, locale: 'en' } };
    return reply.type(contentType).send(JSON.stringify(body));
  });
  return server;
}

/** Where two parsed JSON values first differ (key order aside), or undefined. */
function firstMismatch(cms: unknown, raw: unknown, path: string): string | undefined {
  if (isDeepStrictEqual(cms, raw)) return undefined;
  if (cms && raw && typeof cms === 'object' && typeof raw === 'object' && Array.isArray(cms) === Array.isArray(raw)) {
    const a = cms as Record<string, unknown>;
    const b = raw as Record<string, unknown>;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const found = firstMismatch(a[k], b[k], `${path}/${k}`);
      if (found) return found;
    }
  }
  return `at ${path || '/'}: CMS ${JSON.stringify(cms)?.slice(0, 120)}, raw driver ${JSON.stringify(raw)?.slice(0, 120)}`;
}

const short = (v: string) => (v.length > 60 ? `${v.slice(0, 57)}… (${v.length} chars)` : v);

interface Fetched {
  body: string;
  contentType: string;
  headers: Record<string, string>;
}

async function fetchOnce(url: string): Promise<Fetched> {
  const res = await fetch(url);
  const body = await res.text();
  if (res.status !== 200) throw new BenchError(`GET ${url} answered ${res.status}: ${body.slice(0, 300)}`);
  return { body, contentType: res.headers.get('content-type') ?? '', headers: Object.fromEntries(res.headers) };
}

async function compare(ctx: DeliveryContext, name: string, path: string, cmsUrl: string, baselineUrl: string, baselineName: string): Promise<HttpRow> {
  log(`delivery: ${name}: ${ctx.warmup} s warm-up each, then ${ctx.duration} s each in ${Math.min(ctx.slices, ctx.duration)} alternating slice(s) …`);
  const results = await ctx.measure({ urls: [cmsUrl + path, baselineUrl + path], connections: ctx.connections, duration: ctx.duration, warmup: ctx.warmup, slices: ctx.slices });
  const [cms, baseline] = results;
  if (!cms || !baseline) throw new BenchError(`the load generator returned ${results.length} results for 2 servers`);
  checkClean(`${name}, CMS`, cms);
  checkClean(`${name}, ${baselineName}`, baseline);
  for (const [who, r] of [['CMS', cms], [baselineName, baseline]] as const) log(`  ${who}: ${int(r.requestsPerSec)} req/s, p50 ${ms(r.latency.p50)} ms, p99 ${ms(r.latency.p99)} ms`);
  const bytes = Buffer.byteLength((await fetchOnce(cmsUrl + path)).body);
  return { name, path, bytes, cms, baseline, baselineName };
}

/** Streams a sync answer, counting lines; returns the last line (the `end` line) parsed. */
async function streamSync(url: string, onFirstByte?: () => void): Promise<{ lines: number; upserts: number; bytes: number; end: { op: string; token?: string; more?: boolean } }> {
  const res = await fetch(url);
  if (res.status !== 200 || !res.body) throw new BenchError(`GET ${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const decoder = new TextDecoder();
  let lines = 0;
  let upserts = 0;
  let bytes = 0;
  /** The incomplete line at the end of what was read so far. */
  let pending = '';
  /** The last complete line. */
  let last = '';
  let first = true;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    if (first) {
      first = false;
      onFirstByte?.();
    }
    bytes += chunk.byteLength;
    const text = pending + decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      lines++;
      // `{"op":"upsert"` opens every upsert line
      if (text.startsWith('{"op":"upsert"', start)) upserts++;
      last = text.slice(start, nl);
      start = nl + 1;
    }
    pending = text.slice(start);
  }
  if (pending.trim()) {
    lines++;
    last = pending;
  }
  const end = JSON.parse(last) as { op: string; token?: string; more?: boolean };
  if (end.op !== 'end') throw new BenchError(`the sync at ${url} did not end with an end line: ${last.slice(0, 200)}`);
  return { lines, upserts, bytes, end };
}

/** 3. BENCH_SYNC_ENTRIES categories inserted with the raw driver, then one full sync over HTTP. */
async function fullSync(ctx: DeliveryContext, requested: number): Promise<{ result: SyncResult; token: string; ids: string[] }> {
  const categories = ctx.db.collection<Doc>('content_category');
  const t0 = performance.now();
  const ids: string[] = [];
  const batch = 1000;
  const at = new Date(Date.UTC(2026, 0, 1)).toISOString();
  for (let from = 0; from < requested; from += batch) {
    const docs: Doc[] = [];
    for (let i = from; i < Math.min(requested, from + batch); i++) {
      const id = new ObjectId().toHexString();
      ids.push(id);
      docs.push({ _id: id, _type: 'category', _version: 1, _createdAt: at, _updatedAt: at, _status: 'published', _publishedAt: at, name: `Category ${i + 1}`, slug: `category-${i + 1}`, order: i });
    }
    await categories.insertMany(docs, { ordered: false });
    if ((from / batch) % 10 === 9) log(`delivery: inserted ${int(from + batch)} categories`);
  }
  const insertSeconds = (performance.now() - t0) / 1000;
  log(`delivery: ${int(requested)} categories inserted in ${insertSeconds.toFixed(1)} s; full sync …`);

  // the baseline: the sync's queries alone (a batch at a time, `_id > last`, sorted), each entry
  // stringified, in process, no HTTP; once before and once after the CMS's sync
  const rawLoop = async (): Promise<number> => {
    const rawStart = performance.now();
    let after: string | undefined;
    let rawCount = 0;
    for (;;) {
      const rows = await categories.find(after === undefined ? {} : { _id: { $gt: after } }).sort({ _id: 1 }).limit(BATCH).toArray();
      for (const row of rows) JSON.stringify(row);
      rawCount += rows.length;
      if (rows.length < BATCH) break;
      after = rows[rows.length - 1]!._id;
    }
    if (rawCount !== requested) throw new BenchError(`the raw driver read ${rawCount} categories of ${requested}`);
    return (performance.now() - rawStart) / 1000;
  };
  const rawBefore = await rawLoop();
  log(`delivery: the sync's batched queries with the raw driver: ${rawBefore.toFixed(1)} s; the CMS's full sync …`);

  global.gc?.();
  const before = process.memoryUsage();
  let rssPeak = before.rss;
  let heapPeak = before.heapUsed;
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > rssPeak) rssPeak = m.rss;
    if (m.heapUsed > heapPeak) heapPeak = m.heapUsed;
  };
  const timer = setInterval(sample, 50);
  const start = performance.now();
  let firstLineMs = Number.NaN;
  let out: Awaited<ReturnType<typeof streamSync>>;
  try {
    out = await streamSync(`${ctx.cmsUrl}/api/sync?types=category`, () => (firstLineMs = performance.now() - start));
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - start) / 1000;
  sample();
  const rawAfter = await rawLoop();

  if (out.upserts !== requested) throw new BenchError(`the full sync sent ${out.upserts} upserts for ${requested} categories`);
  if (!out.end.token) throw new BenchError('the full sync ended without a token');
  return {
    result: { entries: out.upserts, requested, insertSeconds, seconds, bytes: out.bytes, rssBefore: before.rss, rssPeak, heapBefore: before.heapUsed, heapPeak, firstLineMs, rawSeconds: (rawBefore + rawAfter) / 2, rawBefore, rawAfter },
    token: out.end.token,
    ids,
  };
}

/** 4. Rounds of 10 patches, then an incremental sync from the previous token. */
async function incremental(ctx: DeliveryContext, token: string, ids: string[], rounds: number): Promise<IncrementalResult> {
  const times: number[] = [];
  const writes: number[] = [];
  let lines = 0;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < CHANGES; k++) {
      const id = ids[(r * CHANGES + k) * 97 % ids.length]!;
      const t = performance.now();
      await ctx.app.entries.patch('category', id, { order: 1_000_000 + r * CHANGES + k });
      writes.push(performance.now() - t);
    }
    const t = performance.now();
    const out = await streamSync(`${ctx.cmsUrl}/api/sync?types=category&token=${encodeURIComponent(token)}`);
    times.push(performance.now() - t);
    if (out.upserts !== CHANGES || out.end.more) throw new BenchError(`incremental sync round ${r + 1}: ${out.upserts} upserts (more: ${out.end.more}) for ${CHANGES} changes`);
    lines = out.lines;
    token = out.end.token!;
  }
  return { rounds: times, lines, writeMedian: percentile([...writes].sort((a, b) => a - b), 0.5) };
}

export async function runDelivery(ctx: DeliveryContext): Promise<DeliveryOutcome> {
  const syncEntries = intFromEnv('BENCH_SYNC_ENTRIES', 100000, 10, 1000000, 'entries');
  const syncRounds = intFromEnv('BENCH_SYNC_ROUNDS', 5, 1, 100);
  const seedStart = performance.now();
  await seed(ctx.app);
  log(`delivery: seeded ${AUTHORS} authors and ${POSTS} published posts in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  // 1. populated list, cache off, against the raw driver
  const tList = performance.now();
  const uncached = await fetchOnce(ctx.uncachedUrl + LIST_PATH);
  log(`delivery: one populated list, cache off, alone: ${ms(performance.now() - tList)} ms`);
  if (uncached.headers['x-cms-cache'] !== undefined) log(`delivery: uncached app says x-cms-cache: ${uncached.headers['x-cms-cache']}`);
  const listed = JSON.parse(uncached.body) as { data: Doc[]; meta: { total: number; nextCursor: unknown } };
  if (listed.data.length !== LIMIT || listed.meta.total !== POSTS) throw new BenchError(`the populated list answered ${listed.data.length} of ${listed.meta.total}, expected ${LIMIT} of ${POSTS}`);
  const first = listed.data[0]!;
  if (typeof first.author !== 'object' || !Array.isArray(first.related) || typeof first.related[0] !== 'object') throw new BenchError('the populated list did not populate author and related');
  const raw = rawServer(ctx.db, uncached.contentType);
  ctx.track(raw);
  const rawUrl = await raw.listen({ host: '127.0.0.1', port: 0 });
  const rawAnswer = await fetchOnce(rawUrl + LIST_PATH);
  const expected = { ...listed, meta: { ...listed.meta, nextCursor: null } };
  const mismatch = firstMismatch(expected, JSON.parse(rawAnswer.body), '');
  if (mismatch) throw new BenchError(`the raw-driver baseline does not answer the populated list with the same JSON as the CMS: ${mismatch}`);
  const headerNotes: string[] = [
    `Populated list: the raw driver’s answer parses to the same JSON as the CMS’s but for \`meta.nextCursor\` (\`null\`); ${kb(Buffer.byteLength(uncached.body))} from the CMS, ${kb(Buffer.byteLength(rawAnswer.body))} from the raw driver (key order may differ).`,
  ];
  const http: HttpRow[] = [];
  http.push(await compare(ctx, 'Populated list, delivery cache off', LIST_PATH, ctx.uncachedUrl, rawUrl, 'Fastify + raw driver'));

  // 2. cached single entry and cached populated list, against bare Fastify with the same bytes
  const oneId = listed.data[Math.floor(LIMIT / 2)]!._id;
  const onePath = `/api/content/post/${oneId}`;
  const bare = Fastify({ logger: false });
  ctx.track(bare);
  const answers = new Map<string, Fetched>();
  for (const path of [onePath, LIST_PATH]) {
    await fetchOnce(ctx.cmsUrl + path); // fills the cache
    answers.set(path, await fetchOnce(ctx.cmsUrl + path));
  }
  const one = answers.get(onePath)!;
  const list = answers.get(LIST_PATH)!;
  bare.get('/api/content/post/:id', (_request, reply) => reply.type(one.contentType).send(one.body));
  bare.get('/api/content/post', (_request, reply) => reply.type(list.contentType).send(list.body));
  const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });
  for (const [path, cms] of answers) {
    const b = await fetchOnce(bareUrl + path);
    if (b.body !== cms.body) throw new BenchError(`bare Fastify does not answer ${path} with the CMS's bytes`);
    const extra = Object.keys(cms.headers).filter((h) => !(h in b.headers)).sort();
    headerNotes.push(`\`${path.replace(oneId, ':id')}\`: headers the CMS sends and bare Fastify does not: ${extra.map((h) => `\`${h}: ${short(cms.headers[h]!)}\``).join(', ') || 'none'}.`);
  }
  const hitsBefore = ctx.app.deliveryCache.counters().hits;
  http.push(await compare(ctx, 'Single entry, delivery cache on', onePath, ctx.cmsUrl, bareUrl, 'Bare Fastify (same bytes)'));
  http.push(await compare(ctx, 'Populated list, delivery cache on', LIST_PATH, ctx.cmsUrl, bareUrl, 'Bare Fastify (same bytes)'));
  const cacheHits = ctx.app.deliveryCache.counters().hits - hitsBefore;

  // 3. and 4. sync
  const full = await fullSync(ctx, syncEntries);
  log(`delivery: full sync of ${int(full.result.entries)} in ${full.result.seconds.toFixed(1)} s; ${syncRounds} incremental rounds …`);
  const inc = await incremental(ctx, full.token, full.ids, syncRounds);
  return { http, headerNotes, sync: full.result, incremental: inc, cacheHits };
}

const mib = (n: number) => `${(n / 1024 ** 2).toFixed(1)} MiB`;

export function deliverySection(o: DeliveryOutcome, info: { date: string; duration: number; warmup: number; connections: number; slicing: string; autocannon: string; database: string; load: [number, number] }): string {
  const s = o.sync;
  const inc = [...o.incremental.rounds].sort((a, b) => a - b);
  const reduced = s.requested < 100000;
  // the last batch is short, or, when the count is a multiple of the batch, an empty one follows
  const batches = Math.floor(s.entries / BATCH) + 1;
  const lines = [
    DELIVERY_START,
    '<!-- Generated by `npm run bench` (bench/delivery.ts); edits between these markers are overwritten. -->',
    '',
    `Run ${info.date} on ${info.database}; autocannon ${info.autocannon}, ${info.connections} connections, ${info.duration} s measured per server ` +
      `and scenario after a ${info.warmup} s warm-up, ${info.slicing}. 1-minute load average ${info.load[0].toFixed(2)} before, ${info.load[1].toFixed(2)} after.`,
    `Data: ${AUTHORS} authors and ${POSTS} published posts (each with an author and 2 related posts); ${int(s.requested)} categories for the sync` +
      (reduced ? ` (**reduced** from the default 100,000 with \`BENCH_SYNC_ENTRIES\`; see below).` : '.'),
    '',
    '| Scenario | Server | Requests/s | p50 latency | p99 latency |',
    '|---|---|--:|--:|--:|',
  ];
  for (const r of o.http) {
    lines.push(
      `| ${r.name}<br>\`${r.path.replace(/[0-9a-f]{24}/, ':id')}\` (${kb(r.bytes)}) | CMS | ${int(r.cms.requestsPerSec)} | ${ms(r.cms.latency.p50)} ms | ${ms(r.cms.latency.p99)} ms |`,
      `| | ${r.baselineName} | ${int(r.baseline.requestsPerSec)} | ${ms(r.baseline.latency.p50)} ms | ${ms(r.baseline.latency.p99)} ms |`,
      `| | **CMS / ${r.baselineName.replace(/ \(same bytes\)/, '')}** | **${ratio(r.cms.requestsPerSec / r.baseline.requestsPerSec)}** | ` +
        `**${ratio(r.cms.latency.p50 / r.baseline.latency.p50)}** | **${ratio(r.cms.latency.p99 / r.baseline.latency.p99)}** |`,
    );
  }
  lines.push(
    '',
    `<sub>Request counts: ${o.http.map((r) => `${r.name}: CMS ${int(r.cms.total)}, ${r.baselineName} ${int(r.baseline.total)}`).join('; ')}. ` +
      `The cached runs were answered from the delivery cache (${int(o.cacheHits)} hits). No errors or non-2xx responses.</sub>`,
    ...o.headerNotes.map((n) => `\n<sub>${n}</sub>`),
    '',
    '| Sync | Figure |',
    '|---|--:|',
    `| Full sync, \`GET /api/sync?types=category\`: entries | ${int(s.entries)} |`,
    `| Full sync: time (first line after) | ${s.seconds.toFixed(2)} s (${ms(s.firstLineMs)} ms) |`,
    `| Full sync: entries per second | ${int(s.entries / s.seconds)} |`,
    `| Full sync: queries (batches of ${BATCH}, \`_id > last\` sorted on \`_id\`), time per query | ${int(batches)}, ${ms((s.seconds * 1000) / batches)} ms |`,
    `| The same batched queries with the raw driver, in process, no HTTP: time (run before / after the CMS's), entries per second | ${s.rawSeconds.toFixed(2)} s (${s.rawBefore.toFixed(1)} s / ${s.rawAfter.toFixed(1)} s), ${int(s.entries / s.rawSeconds)} |`,
    `| Full sync: CMS ÷ raw driver (time, against the mean of the two) | ${ratio(s.seconds / s.rawSeconds)} |`,
    `| Full sync: bytes streamed | ${mib(s.bytes)} |`,
    `| Full sync: peak RSS growth of the process (RSS before ${mib(s.rssBefore)}) | ${mib(s.rssPeak - s.rssBefore)} |`,
    `| Full sync: peak heap growth | ${mib(s.heapPeak - s.heapBefore)} |`,
    `| Incremental sync after ${CHANGES} changes: median of ${inc.length} rounds | ${ms(percentile(inc, 0.5))} ms |`,
    `| Incremental sync: fastest / slowest round | ${ms(inc[0]!)} ms / ${ms(inc[inc.length - 1]!)} ms |`,
    `| One of the ${CHANGES} writes (\`entries.patch\`), median | ${ms(o.incremental.writeMedian)} ms |`,
    '',
    `<sub>The ${int(s.requested)} categories were inserted with the raw driver (insertMany of 1,000) in ${s.insertSeconds.toFixed(1)} s, not through the CMS. ` +
      'RSS and heap are sampled every 50 ms in the benchmark process, which runs the server and reads the stream, so the figure covers both ends.</sub>',
    ...(reduced
      ? [
          '',
          `<sub>**Reduced size.** The full sync reads each batch with a range query (\`_id > last\`, sorted, limit ${BATCH}); FerretDB ` +
            'with its SQLite backend answers range queries by scanning the collection, so every batch costs time in proportion to the ' +
            'whole collection and the full sync grows with the square of the entry count. 100,000 entries were not attempted on FerretDB ' +
            '(about 500 queries each scanning 100,000 documents); the default run is meant for MongoDB, where `_id` ranges use the index.</sub>',
        ]
      : []),
    DELIVERY_END,
  );
  return lines.join('\n');
}

export const DELIVERY_PROSE = `## Delivery: populate, the delivery cache and sync

What the public read path costs when it populates references, what the delivery cache wins over it, and how
fast \`GET /api/sync\` streams (source: \`bench/delivery.ts\`; \`BENCH_ONLY=delivery npm run bench\` runs these
alone; \`BENCH_SYNC_ENTRIES\` sets the size of the full sync, \`BENCH_SYNC_ROUNDS\` the incremental rounds).

- **Populated list, cache off:** \`GET /api/content/post?limit=100&populate=author,related\` through a second
  CMS app on the same database built with \`DELIVERY_CACHE_BYTES=0\`, against a bare Fastify route doing the same
  batched queries with the raw driver (\`published_post\` limit 101 and its count, one \`$in\` on
  \`content_author\`, one \`$in\` on \`published_post\`), the same redaction and locale flattening, and
  \`JSON.stringify\`. CMS / raw driver is what the CMS adds to those four queries.
- **Cached entry and cached list:** the normal app (cache on), anonymous requests, against bare Fastify
  answering with the bytes the CMS returned. The CMS also sends \`ETag\`, \`Cache-Control\`, \`Vary\` and
  \`Surrogate-Key\` (listed under the table), which bare Fastify does not. Bare Fastify is handed the body as a
  string and encodes it to bytes on every response; for a body of a few hundred KB that can cost more than the
  CMS's cache hit, which keeps a Buffer (src/services/delivery-cache.ts), so the cached list may beat its "ceiling".
- **Full sync:** categories inserted straight into \`content_category\` with the raw driver (entries shaped
  as the CMS stores them), then \`GET /api/sync?types=category\` read over HTTP, counting lines; entries per
  second and the peak growth of the process's RSS while it streams. As a baseline, before and after it, the same batched
  queries with the raw driver in the same process (\`_id > last\`, sorted on \`_id\`, the sync's batch size),
  each entry passed through \`JSON.stringify\`, no HTTP.
- **Incremental sync:** from the full sync's token, rounds of 10 \`entries.patch\` on categories, then
  \`GET /api/sync?types=category&token=…\`, timed to the end line; the median round.

### Delivery results

`;
