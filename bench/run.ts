// `npm run bench`: how much the CMS costs over two baselines, measured in the same run.
//
// Starts the local services (FerretDB + versitygw, fresh temporary data) unless MONGODB_URI is
// set, builds the CMS on its own database, seeds article entries, then for each scenario measures
// three servers, one after the other, on the same URL:
//   - the CMS;
//   - "Fastify + raw driver": a bare Fastify server (no plugins) whose routes run the CMS's database
//     work for that URL with the raw `mongodb` driver (its own MongoClient, the same database and
//     collection) and reply with JSON.stringify of the same response shape. CMS / raw driver is the
//     CMS's own overhead: routing, hooks, query checking, the service, the compiled serializer;
//   - "bare Fastify (same bytes)": a bare Fastify server answering with the very bytes the CMS
//     returned, no database at all. CMS / bare Fastify is everything over HTTP alone.
// The load generator (autocannon) runs in a child process; the servers run in this process. Prints
// a markdown table and writes it between the markers in BENCHMARKS.md. Then the media scenarios
// (bench/media.ts), which write their own section. Everything started is stopped, even on error.
//
//   BENCH_DURATION=8   seconds of measured load per run (warm-up: a quarter of it, 1–2 s)
//   BENCH_ONLY=        content, media, publishing, delivery or ops: run only that part (default: all); see
//                      bench/media.ts, bench/publishing.ts, bench/delivery.ts and bench/ops.ts
//                      for BENCH_MEDIA_ROUNDS and BENCH_MEDIA_UPLOADS
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { join } from 'node:path';
import { DeleteBucketCommand } from '@aws-sdk/client-s3';
import Fastify, { type FastifyInstance } from 'fastify';
import { MongoClient, type Db } from 'mongodb';
import { buildApp } from '../src/app.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { loadContentTypes } from '../src/content-types/loader.js';
import { ObjectStore } from '../src/storage/objects.js';
import { createS3, type S3 } from '../src/storage/s3.js';
import { FERRETDB_VERSION, ServicesError, startMissingServices, VERSITYGW_VERSION } from '../scripts/services.js';
import { BenchError, checkClean, int, intFromEnv, kb, loadProcesses, log, measure, ms, ratio, rng, writeSection } from './common.js';
import type { LoadResult } from './load.js';
import { cpuShares, cpuTimes, mediaSection, runMedia, writeMediaReport } from './media.js';
import { DELIVERY_END, DELIVERY_PROSE, DELIVERY_START, deliverySection, runDelivery } from './delivery.js';
import { OPS_END, OPS_PROSE, OPS_START, opsSection, runOps } from './ops.js';
import { PUBLISHING_END, PUBLISHING_PROSE, PUBLISHING_START, publishingSection, runPublishing } from './publishing.js';

const ROOT = join(import.meta.dirname, '..', '..');
const REPORT = join(ROOT, 'BENCHMARKS.md');
const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

const CONNECTIONS = 10;
const ENTRIES = 300;
/** The page size of the list scenario. */
const LIST_LIMIT = 100;
/** Where the CMS keeps `article` entries (src/storage/entries.ts: `content_<type>`). */
const ARTICLES = 'content_article';
const SEED_CONCURRENCY = 8;
/**
 * Each server's measured seconds are split into this many slices, alternating the servers: CMS, raw
 * driver, bare Fastify, then bare Fastify, raw driver, CMS (bench/load.ts). More slices would
 * spread bursts of outside load more evenly, but every slice loses the requests in flight when it
 * ends, which for the list (near a second each against FerretDB) would cut its throughput further.
 */
const SLICES = 2;

function durationFromEnv(): number {
  const raw = process.env.BENCH_DURATION;
  if (raw === undefined || raw === '') return 8;
  if (!/^\d{1,3}$/.test(raw) || Number(raw) < 1 || Number(raw) > 600) {
    throw new BenchError(`BENCH_DURATION must be a whole number of seconds from 1 to 600, not "${raw}"`);
  }
  return Number(raw);
}

// --- seed data: deterministic, so runs are comparable ---

const WORDS = (
  'content schema editor publish draft release query index cache render template layout media asset image ' +
  'workflow review locale translation field entry version history webhook api client server request response ' +
  'latency throughput database collection document storage bucket upload preview navigation search filter sort ' +
  'page author category article team product launch design system component token theme deploy pipeline build'
).split(' ');

const TAGS = ['engineering', 'product', 'design', 'release', 'guide', 'tutorial', 'announcement', 'performance', 'security', 'api', 'cms', 'frontend'];
const FORMATS = ['standard', 'gallery', 'video', 'link'] as const;

function makeArticle(i: number, rand: () => number): Record<string, unknown> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const words = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(' ');
  const sentence = () => {
    const s = words(8 + Math.floor(rand() * 10));
    return s.charAt(0).toUpperCase() + s.slice(1) + '.';
  };
  const paragraph = () => Array.from({ length: 3 + Math.floor(rand() * 3) }, sentence).join(' ');
  const heading = words(3 + Math.floor(rand() * 3));
  const title = `${heading.charAt(0).toUpperCase()}${heading.slice(1)}, part ${i + 1}`;
  const slug = `${heading.replace(/ /g, '-')}-part-${i + 1}`;

  const parts = [
    `# ${title}`,
    paragraph(),
    `## ${sentence().slice(0, -1)}`,
    paragraph(),
    Array.from({ length: 4 }, () => `- **${pick(WORDS)}**: ${sentence()}`).join('\n'),
    '```ts\n' + `const ${pick(WORDS)} = await cms.entries.list('article', { limit: ${10 + (i % 90)} });\n` + '```',
    `See [the ${pick(WORDS)} guide](https://example.com/docs/${pick(WORDS)}) for details.`,
  ];
  while (parts.join('\n\n').length < 2000) parts.push(paragraph());
  const body = parts.join('\n\n').slice(0, 2200);

  const excerpt = paragraph().slice(0, 300);
  const published = Date.UTC(2023, 0, 1) + Math.floor(rand() * 730 * 86_400_000);
  const tags = [...new Set(Array.from({ length: 2 + Math.floor(rand() * 4) }, () => pick(TAGS)))];
  return {
    title,
    slug,
    excerpt,
    body,
    tags,
    publishDate: new Date(published).toISOString(),
    readingMinutes: Math.max(1, Math.round(body.split(/\s+/).length / 200)),
    featured: rand() < 0.1,
    rating: Math.round(rand() * 50) / 10,
    format: pick(FORMATS),
    canonicalUrl: `https://example.com/blog/${slug}`,
    seo: { title: title.slice(0, 70), description: excerpt.slice(0, 160), noIndex: false },
  };
}

async function seed(app: FastifyInstance): Promise<string[]> {
  const rand = rng(20240611);
  const docs = Array.from({ length: ENTRIES }, (_, i) => makeArticle(i, rand));
  const ids: string[] = new Array<string>(ENTRIES);
  let next = 0;
  const worker = async () => {
    while (next < docs.length) {
      const i = next++;
      ids[i] = (await app.entries.create('article', docs[i])).entry._id;
    }
  };
  await Promise.all(Array.from({ length: SEED_CONCURRENCY }, worker));
  return ids;
}

// --- measuring ---

interface Fetched {
  body: string;
  contentType: string;
  headers: string[];
}

async function fetchOnce(url: string): Promise<Fetched> {
  const res = await fetch(url);
  const body = await res.text();
  if (res.status !== 200) throw new BenchError(`GET ${url} answered ${res.status}: ${body.slice(0, 300)}`);
  const contentType = res.headers.get('content-type');
  if (!contentType) throw new BenchError(`GET ${url} has no content-type`);
  return { body, contentType, headers: [...res.headers.keys()].sort() };
}

interface Scenario {
  name: string;
  path: string;
  route: string;
}

interface Outcome {
  scenario: Scenario;
  bytes: number;
  cms: LoadResult;
  /** Fastify + raw driver. */
  raw: LoadResult;
  /** Bare Fastify serving the CMS's bytes. */
  bare: LoadResult;
}

// --- the "Fastify + raw driver" baseline ---

/** An entry as the raw driver reads it: the CMS stores `_id` as a 24-hex string, not an ObjectId. */
interface RawEntry {
  _id: string;
  [field: string]: unknown;
}

/**
 * A bare Fastify server (no plugins) whose two routes do what the CMS asks the database for these
 * URLs, with nothing else: no query checking, no service, no compiled serializer. The queries are
 * the ones EntriesService.get/list send for them (src/services/entries.ts, src/storage/entries.ts):
 * findOne by string `_id`; for the first page in the default order, find({}) sorted on `_id` with
 * limit + 1 (the CMS reads one more to know whether there is a next page), in parallel with
 * countDocuments({}). Query strings are ignored: only the benchmark's URLs are served.
 */
function rawDriverServer(db: Db, contentType: string): FastifyInstance {
  const articles = db.collection<RawEntry>(ARTICLES);
  // what the CMS keeps for itself (creator, media usage) is not sent to anonymous readers
  const hidden = { projection: { _createdBy: 0, _media: 0 } };
  const server = Fastify({ logger: false });
  server.get<{ Params: { id: string } }>('/api/content/article/:id', async (request, reply) => {
    const doc = await articles.findOne({ _id: request.params.id }, hidden);
    if (!doc) return reply.code(404).type(contentType).send('{"error":"not found"}');
    return reply.type(contentType).send(JSON.stringify({ data: doc }));
  });
  server.get('/api/content/article', async (_request, reply) => {
    const [rows, total] = await Promise.all([
      articles.find({}, hidden).sort({ _id: 1 }).limit(LIST_LIMIT + 1).toArray(),
      articles.countDocuments({}),
    ]);
    const body = { data: rows.slice(0, LIST_LIMIT), meta: { total, limit: LIST_LIMIT, offset: 0, nextCursor: null } };
    return reply.type(contentType).send(JSON.stringify(body));
  });
  return server;
}

/**
 * The body the raw-driver baseline must answer with, byte for byte, given the CMS's body. It is the
 * CMS's body itself, except for one field of the list: with 300 entries the first page of 100 has
 * a next page, so the CMS's `meta.nextCursor` holds a cursor (base64url JSON of the sort and the
 * last `_id`, from encodeCursor in src/services/query.ts), and encoding cursors is CMS logic the
 * baseline leaves out: it answers `"nextCursor":null`. Everything else (the entries with their
 * keys in stored order, which is the content type's order for these seeded entries, and number
 * and string formatting) must be the same bytes, so the comparison is on bytes, not parsed JSON.
 */
function expectedRawBody(cmsBody: string): { body: string; note?: string } {
  const meta = (JSON.parse(cmsBody) as { meta?: { nextCursor?: unknown } }).meta;
  if (typeof meta?.nextCursor !== 'string') return { body: cmsBody };
  const field = `"nextCursor":${JSON.stringify(meta.nextCursor)}`;
  if (cmsBody.indexOf(field) < 0 || cmsBody.indexOf(field) !== cmsBody.lastIndexOf(field)) {
    throw new BenchError('the CMS list body does not hold its nextCursor exactly once');
  }
  const body = cmsBody.replace(field, '"nextCursor":null');
  const shorter = Buffer.byteLength(cmsBody) - Buffer.byteLength(body);
  return { body, note: `\`meta.nextCursor\` is \`null\` instead of the CMS’s cursor to the next page (${shorter} bytes shorter)` };
}

/** Where two bodies first differ, with some context, for the error message. */
function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const around = (t: string) => JSON.stringify(t.slice(Math.max(0, i - 60), i + 60));
  return `at character ${i} of ${a.length}/${b.length}: CMS …${around(a)}… vs raw driver …${around(b)}…`;
}

// --- reporting ---

function table(outcomes: Outcome[]): string {
  const rows = ['| Scenario | Server | Requests/s | p50 latency | p99 latency |', '|---|---|--:|--:|--:|'];
  const row = (label: string, server: string, r: LoadResult) =>
    `|${label ? ` ${label} ` : ' '}| ${server} | ${int(r.requestsPerSec)} | ${ms(r.latency.p50)} ms | ${ms(r.latency.p99)} ms |`;
  const ratios = (name: string, cms: LoadResult, other: LoadResult) =>
    `| | **${name}** | **${ratio(cms.requestsPerSec / other.requestsPerSec)}** | ` +
    `**${ratio(cms.latency.p50 / other.latency.p50)}** | **${ratio(cms.latency.p99 / other.latency.p99)}** |`;
  for (const o of outcomes) {
    rows.push(
      row(`${o.scenario.name}<br>\`${o.scenario.path}\` (${kb(o.bytes)})`, 'CMS', o.cms),
      row('', 'Fastify + raw driver', o.raw),
      row('', 'Bare Fastify (same bytes)', o.bare),
      ratios('CMS / raw driver', o.cms, o.raw),
      ratios('CMS / bare Fastify', o.cms, o.bare),
    );
  }
  return rows.join('\n');
}

interface RunInfo {
  date: string;
  duration: number;
  warmup: number;
  autocannon: string;
  database: string;
  /** Notes on how the baselines' answers differ from the CMS's (headers, the list's nextCursor). */
  notes: string[];
  /** 1-minute load average before the first and after the last measurement. */
  load: [number, number];
}

/** How the measured seconds were sliced, in words. */
function slicing(duration: number): string {
  const slices = Math.min(SLICES, duration);
  if (slices === 1) return 'the servers one after the other';
  const lengths = Array.from({ length: slices }, (_, i) => Math.floor(duration / slices) + (i < duration % slices ? 1 : 0));
  const even = lengths.every((l) => l === lengths[0]);
  return (
    `in ${slices} slices ${even ? `of ${lengths[0]} s ` : `(${lengths.join(' + ')} s) `}alternating the servers ` +
    `(CMS, raw driver, bare Fastify, then the reverse order${slices > 2 ? ', and so on' : ''})`
  );
}

function section(outcomes: Outcome[], info: RunInfo): string {
  const cpuList = cpus();
  const model = cpuList[0]?.model.trim() ?? 'unknown CPU';
  const lines = [
    START,
    '<!-- Generated by `npm run bench` (bench/run.ts); edits between these markers are overwritten. -->',
    '',
    `Run on ${info.date}.`,
    '',
    `- **Machine:** ${cpuList.length} CPU${cpuList.length === 1 ? '' : 's'} (${model}), ` +
      `${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, ${platform()}/${arch()}, Node.js ${process.version}`,
    `- **Load:** autocannon ${info.autocannon}, ${CONNECTIONS} connections, no pipelining, ${info.duration} s measured per server ` +
      `and scenario after a ${info.warmup} s warm-up, ${slicing(info.duration)}; load generator in a child process of its own`,
    `- **Database:** ${info.database}`,
    `- **Machine load:** 1-minute load average ${info.load[0].toFixed(2)} before the first measurement, ` +
      `${info.load[1].toFixed(2)} after the last (the benchmark itself keeps two to three processes busy: ` +
      'the load generator, the server, the database)',
    `- **Data:** ${ENTRIES} \`article\` entries (~2 KB markdown body each, plus title, slug, excerpt, tags, rating, ` +
      'readingMinutes, publishDate, seo, …)',
    '- **Latency:** percentiles of every 2xx response of the measured slices, from autocannon’s per-response hrtime durations',
    '',
    table(outcomes),
    '',
    'A throughput ratio below 1× and latency ratios above 1× are a cost. **CMS / raw driver** holds the database ' +
      'work equal (the same queries, on the same data, through the same driver): it is the CMS’s own overhead ' +
      '(routing, hooks, query checking, the content service, the compiled serializer). **CMS / bare Fastify** is ' +
      'everything, the database included, over a server that only writes the same bytes: the ceiling of HTTP alone.',
  ];
  const runs = (r: LoadResult) =>
    `${int(r.total)} requests in ${r.seconds.toFixed(1)} s (mean ${ms(r.latency.mean)} ms, p90 ${ms(r.latency.p90)} ms, max ${ms(r.latency.max)} ms)`;
  for (const o of outcomes) {
    lines.push(
      '',
      `<sub>${o.scenario.name}: CMS ${runs(o.cms)}; raw driver ${runs(o.raw)}; bare Fastify ${runs(o.bare)}. ` +
        'No errors or non-2xx responses.</sub>',
    );
  }
  for (const note of info.notes) lines.push('', `<sub>${note}</sub>`);
  lines.push(END);
  return lines.join('\n');
}

const PROSE_HEAD = `# Benchmarks

What the CMS costs on its two hottest read paths, measured by \`npm run bench\` (source: \`bench/run.ts\`), and how
much of that is the CMS's own code rather than the database.

## What is measured

- **GET one entry:** \`GET /api/content/article/:id\`, the same entry every time.
- **List of 100:** \`GET /api/content/article?limit=100\`, the first page in the default order, with its total count.

Both go through the whole CMS app as \`buildApp\` assembles it (error handling, the per-request log hook at level
\`silent\`, query checking, the content service, the MongoDB driver, the per-type response serializer), on a
database of \`article\` entries seeded for the run.

Each scenario is measured on three servers, in the same run and in alternating slices of time (see How):

- **CMS:** the app above.
- **Fastify + raw driver:** a bare Fastify server (no plugins) on another loopback port whose two routes run the
  same database work as the CMS with the raw \`mongodb\` driver, through a \`MongoClient\` of its own on the same
  URI, database and collection (\`content_article\`), and reply with \`JSON.stringify\` of the same response shape:
  \`findOne({ _id })\` → \`{ data }\`; \`find({}).sort({ _id: 1 }).limit(101)\` (the CMS reads one more than the page
  to know whether there is a next one) in parallel with \`countDocuments({})\` →
  \`{ data: <first 100>, meta: { total, limit, offset, nextCursor: null } }\`. No query checking, no service, no
  compiled serializer.
- **Bare Fastify (same bytes):** a bare Fastify server on a third port that answers the same URL with exactly the
  bytes the CMS returned (fetched once from the CMS, served with the same content type), with no database at all.

## How

- The benchmark starts the local services itself, as \`npm test\` does (FerretDB and versitygw on fresh temporary
  data), unless \`MONGODB_URI\` is set. It builds the CMS on a database of its own (\`bench_<random>\`) with
  \`NODE_ENV=test\` and \`LOG_LEVEL=silent\`, listens on a free loopback port and seeds the entries through the
  content service. At the end it closes the baselines and the raw driver's client, drops that database, deletes
  its bucket and stops whatever it started, also when a step fails.
- Load comes from [autocannon](https://github.com/mcollina/autocannon), used programmatically from a child
  process, with the connections and seconds given in the generated section below. The three servers run in the
  benchmark's process. Each is warmed up first (results discarded); then each server's measured seconds are
  split into two slices that alternate the servers: CMS, raw driver, bare Fastify, then bare Fastify, raw
  driver, CMS. Outside load that comes and goes (on a shared machine, someone else's build) then falls on all
  three rather than on whichever one ran at that moment, and a steady drift cancels out of the ratios.
- **The figures to read are the ratios.** Absolute requests per second depend on the machine, on what else runs
  on it and on the load generator sharing its CPUs, so the table gives two ratios per scenario, each between
  servers measured in interleaved slices on the same machine and data:
  - **CMS / raw driver** is **the CMS's own overhead**: both servers send the same queries to the same database
    through the same driver, so what is left is routing, the per-request hooks, query checking, the content
    service and the compiled response serializer.
  - **CMS / bare Fastify** is everything, database included, over **the ceiling of HTTP alone**: Node.js and
    Fastify writing the same bytes.
- Before measuring, the benchmark checks once that each baseline answers like the CMS, and fails otherwise. The
  bare server's body must be the CMS's bytes. The raw driver's must be the same bytes too (entries with their keys
  in stored order, same number and string formatting), except in the list's \`meta.nextCursor\`: with 300 entries
  the first page has a next one, so the CMS returns a cursor to it (base64url JSON of the sort and the last
  \`_id\`), and encoding cursors is CMS logic the baseline leaves out; it answers \`null\` there, a few dozen bytes
  shorter out of some 300 KB. Differences in response headers, if any, are noted under the table.
- **Database:** in this setup both the CMS and the raw-driver baseline run against **FerretDB with its SQLite
  backend**, not MongoDB. FerretDB's time is in both of their figures, so it cancels out of CMS / raw driver but
  dominates CMS / bare Fastify. A real MongoDB will give different figures: with faster queries the database takes
  a smaller share of each request, and the same CMS overhead weighs more in CMS / raw driver.
- The run fails rather than reports figures if any request errors, times out or answers other than 2xx.

## Reading the results

- Read **CMS / raw driver** first. Close to 1× means the CMS adds little to what its queries cost: the gap to
  bare Fastify is then the database's, to be won with a faster database, indexes or caching, not in the CMS's
  code. Well below 1× in throughput (or well above 1× in latency) is time spent in the CMS itself.
- Against FerretDB, with ten requests at a time, a lookup by id takes tens of milliseconds and the page of 100
  with its count hundreds, so the database dominates both the CMS and the raw driver, CMS / raw driver is
  expected near 1× and CMS / bare Fastify is one to two orders of magnitude, nearly all of it FerretDB. To see
  the CMS's own overhead clearly, run the benchmark against a real MongoDB (\`MONGODB_URI=…\`), where the queries
  are much cheaper.
- These database-bound figures are noisy. While this benchmark was written, on a shared two-CPU machine, and
  before the servers were measured in alternating slices, consecutive runs gave GET one entry a CMS / raw driver
  throughput anywhere from 0.66× to 1.44× (above 1× is the CMS faster than a subset of its own work, which only
  noise explains). Interleaving narrows that, but a CMS / raw driver a little away from 1× in a single run is not
  yet a finding: rerun, with a longer \`BENCH_DURATION\`, and compare.
- On a machine with few CPUs (the generated section gives the count), the server under test, FerretDB and the
  load generator share them, so CPU time the CMS spends is also taken from the database during its run, and the
  other way round.
- Every slice loses the requests still in flight when it ends. That is nothing for one entry, but the list
  against FerretDB takes most of a second per request, so its throughput is undercounted by several percent,
  alike for the CMS and the raw driver (their ratio holds) but not for bare Fastify.
- A run that completes few requests (the list against FerretDB completes about a hundred in 8 seconds) has a
  p99 close to its maximum; the request counts are under the table. Figures vary between runs on a small shared
  machine: rerun with a longer \`BENCH_DURATION\` before drawing conclusions from a small change.

## Rerun

\`\`\`sh
npm run bench                     # builds, runs (about a minute), rewrites the section below
BENCH_DURATION=20 npm run bench   # longer runs, steadier figures
MONGODB_URI=mongodb://… S3_ENDPOINT=… S3_BUCKET=… S3_ACCESS_KEY_ID=… S3_SECRET_ACCESS_KEY=… npm run bench
\`\`\`

Compare ratios between runs on the same machine, not absolute figures between machines.

## Results

`;

async function writeReport(generated: string): Promise<void> {
  let text: string;
  if (existsSync(REPORT)) {
    const current = await readFile(REPORT, 'utf8');
    const a = current.indexOf(START);
    const b = current.indexOf(END);
    text = a >= 0 && b > a ? current.slice(0, a) + generated + current.slice(b + END.length) : `${current.trimEnd()}\n\n${generated}\n`;
  } else {
    text = `${PROSE_HEAD}${generated}\n`;
  }
  await writeFile(REPORT, text);
}

// --- main ---

const PARTS = ['content', 'media', 'publishing', 'delivery', 'ops'] as const;
type Part = (typeof PARTS)[number];

function partsFromEnv(): Part[] {
  const raw = process.env.BENCH_ONLY;
  if (raw === undefined || raw === '') return [...PARTS];
  if (!(PARTS as readonly string[]).includes(raw)) throw new BenchError(`BENCH_ONLY must be ${PARTS.join(', ')}, not "${raw}"`);
  return [raw as Part];
}

async function main(): Promise<void> {
  const duration = durationFromEnv();
  const parts = partsFromEnv();
  const warmup = Math.max(1, Math.min(2, Math.round(duration / 4)));
  const require = createRequire(import.meta.url);
  const autocannonVersion = (require('autocannon/package.json') as { version: string }).version;

  let services: Awaited<ReturnType<typeof startMissingServices>> | undefined;
  let app: FastifyInstance | undefined;
  /** A second CMS app on the same database (the delivery part's, cache off), closed before the first. */
  let uncachedApp: FastifyInstance | undefined;
  let rawClient: MongoClient | undefined;
  let rawS3: S3 | undefined;
  /** Baseline servers, closed at the end. */
  const servers: FastifyInstance[] = [];
  let cleaned: Promise<void> | undefined;

  const cleanup = () =>
    (cleaned ??= (async () => {
      const step = async (what: string, fn: () => Promise<unknown>) => {
        try {
          await fn();
        } catch (err) {
          log(`cleanup: ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      };
      for (const child of loadProcesses) {
        await step('stopping the load generator', async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        });
      }
      for (const server of servers) await step('closing a baseline server', () => server.close());
      if (rawClient) await step("closing the raw driver's MongoClient", () => rawClient!.close());
      if (rawS3) await step("closing the benchmark's S3 client", async () => rawS3!.client.destroy());
      if (uncachedApp) await step('closing the uncached CMS', () => uncachedApp!.close());
      if (app) {
        const a = app;
        await step('dropping the bench database', () => a.mongo.db.dropDatabase());
        await step('emptying the bench bucket', () => new ObjectStore(a.s3).deletePrefix(''));
        await step('deleting the bench bucket', () => a.s3.client.send(new DeleteBucketCommand({ Bucket: a.s3.bucket })));
        await step('closing the CMS', () => a.close());
      }
      if (services) await step('stopping the services and removing their data', () => services!.stop());
    })());

  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // start, on fresh data, whatever the environment does not point at (as `npm test` does)
    services = await startMissingServices('cms-bench', log);
    const env = services.env;
    let database = 'an external MongoDB-compatible server (MONGODB_URI was set)';
    if (services.started?.mongoUri) {
      database = `FerretDB ${FERRETDB_VERSION} with its SQLite backend, started by the benchmark on fresh data (not MongoDB)`;
    }
    let storage = 'an external S3-compatible server (S3_ENDPOINT was set)';
    if (services.started?.s3) {
      storage = `versitygw ${VERSITYGW_VERSION} with its posix backend (files in a temporary directory on the same disk), started by the benchmark on fresh data, over loopback HTTP`;
    }
    if (services.started) log(`services: MongoDB wire at ${env.MONGODB_URI}, S3 at ${env.S3_ENDPOINT}`);

    const id = randomBytes(4).toString('hex');
    const config = loadConfig({
      ...env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      PORT: '0',
      MONGODB_DB: `bench_${id}`,
      S3_BUCKET: `bench-${id}`,
      CONTENT_TYPES_DIR: join(ROOT, 'content-types'),
    });
    const registry = await loadContentTypes(config.contentTypesDir, { locales: config.locales });
    app = await buildApp(config, { registry });
    const cmsUrl = await app.listen({ host: '127.0.0.1', port: 0 });

    // The raw driver's own client, on the CMS's URI and database, with the driver's defaults (as the CMS's).
    if (!config.mongo.uri) throw new BenchError('no MongoDB URI for the raw-driver baseline');
    rawClient = new MongoClient(config.mongo.uri, { serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000, appName: 'cms-bench-raw' });
    await rawClient.connect();
    const rawDb = rawClient.db(config.mongo.db);

    if (parts.includes('content')) {
      const generated = await runContent({ app, cmsUrl, rawDb, servers, duration, warmup, autocannon: autocannonVersion, database });
      console.log(generated.split('\n').filter((l) => !l.startsWith('<!--')).join('\n').trim());
      await writeReport(generated);
      log(`wrote ${REPORT}`);
    }

    if (parts.includes('media')) {
      // an S3 client of the benchmark's own, as the raw driver has its own MongoClient
      rawS3 = createS3(config.s3);
      const loadBefore = loadavg()[0]!;
      const cpuBefore = await cpuTimes();
      const outcome = await runMedia({
        app,
        cmsUrl,
        db: rawDb,
        s3: rawS3,
        measure,
        duration,
        warmup,
        connections: CONNECTIONS,
        slices: SLICES,
        track: (server) => servers.push(server),
      });
      const cpu = cpuShares(cpuBefore, await cpuTimes());
      const generated = mediaSection(outcome, {
        date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        duration,
        warmup,
        connections: CONNECTIONS,
        slicing: slicing(duration).replace('raw driver', 'raw driver + S3'),
        autocannon: autocannonVersion,
        database,
        storage,
        load: [loadBefore, loadavg()[0]!],
        ...(cpu ? { cpu } : {}),
      });
      console.log(generated.split('\n').filter((l) => !l.startsWith('<!--')).join('\n').trim());
      await writeMediaReport(REPORT, generated);
      log(`wrote the media section of ${REPORT}`);
    }

    if (parts.includes('publishing')) {
      const rows = await runPublishing({ app, db: rawDb, uri: config.mongo.uri });
      const generated = publishingSection(rows, { date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), rounds: intFromEnv('BENCH_PUBLISH_ROUNDS', 200, 10, 100000), database });
      console.log(generated.split('\n').filter((l) => !l.startsWith('<!--')).join('\n').trim());
      await writeSection(REPORT, PUBLISHING_START, PUBLISHING_END, PUBLISHING_PROSE, generated);
      log(`wrote the publishing section of ${REPORT}`);
    }

    if (parts.includes('delivery')) {
      // the same CMS on the same database and bucket, with the delivery cache off
      uncachedApp = await buildApp({ ...config, deliveryCache: { ...config.deliveryCache, maxBytes: 0 } }, { registry });
      const uncachedUrl = await uncachedApp.listen({ host: '127.0.0.1', port: 0 });
      const loadBefore = loadavg()[0]!;
      const outcome = await runDelivery({
        app,
        cmsUrl,
        uncachedUrl,
        db: rawDb,
        measure,
        track: (server) => servers.push(server),
        duration,
        warmup,
        connections: CONNECTIONS,
        slices: SLICES,
      });
      const generated = deliverySection(outcome, {
        date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        duration,
        warmup,
        connections: CONNECTIONS,
        slicing: slicing(duration).replace(', raw driver, bare Fastify, then the reverse order', ', then its baseline, then the reverse order'),
        autocannon: autocannonVersion,
        database,
        load: [loadBefore, loadavg()[0]!],
      });
      console.log(generated.split('\n').filter((l) => !l.startsWith('<!--')).join('\n').trim());
      await writeSection(REPORT, DELIVERY_START, DELIVERY_END, DELIVERY_PROSE, generated);
      log(`wrote the delivery section of ${REPORT}`);
    }

    if (parts.includes('ops')) {
      const outcome = await runOps({ config });
      const generated = opsSection(outcome, { date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), database, storage });
      console.log(generated.split('\n').filter((l) => !l.startsWith('<!--')).join('\n').trim());
      await writeSection(REPORT, OPS_START, OPS_END, OPS_PROSE, generated);
      log(`wrote the operations section of ${REPORT}`);
    }
  } finally {
    await cleanup();
  }
}

interface ContentContext {
  app: FastifyInstance;
  cmsUrl: string;
  rawDb: Db;
  /** Baseline servers started here are pushed here, to be closed at the end. */
  servers: FastifyInstance[];
  duration: number;
  warmup: number;
  autocannon: string;
  database: string;
}

/** GET one entry and the list of 100 against the raw driver and bare Fastify: the generated section. */
async function runContent(ctx: ContentContext): Promise<string> {
  const { app, cmsUrl, duration, warmup } = ctx;
  const seedStart = Date.now();
  const ids = await seed(app);
  log(`seeded ${ids.length} article entries in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);
  const oneId = ids[Math.floor(ids.length / 2)]!;

  const scenarios: Scenario[] = [
    { name: 'GET one entry', path: `/api/content/article/${oneId}`, route: '/api/content/article/:id' },
    { name: 'List of 100 entries', path: `/api/content/article?limit=${LIST_LIMIT}`, route: '/api/content/article' },
  ];

  // The CMS's answers, fetched once; the bare Fastify baseline serves exactly these.
  const answers = new Map<string, Fetched>();
  for (const s of scenarios) answers.set(s.route, await fetchOnce(cmsUrl + s.path));
  const listed = JSON.parse(answers.get('/api/content/article')!.body) as { data: unknown[]; meta: { total: number } };
  if (listed.data.length !== LIST_LIMIT || listed.meta.total !== ENTRIES) {
    throw new BenchError(`the list answered ${listed.data.length} entries of ${listed.meta.total}, expected ${LIST_LIMIT} of ${ENTRIES}`);
  }
  const contentType = answers.get('/api/content/article')!.contentType;
  if (answers.get('/api/content/article/:id')!.contentType !== contentType) throw new BenchError('the CMS answers its two routes with different content types');

  const bare = Fastify({ logger: false });
  ctx.servers.push(bare);
  for (const s of scenarios) {
    const { body, contentType: type } = answers.get(s.route)!;
    bare.get(s.route, (_request, reply) => reply.type(type).send(body));
  }
  const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });

  const rawServer = rawDriverServer(ctx.rawDb, contentType);
  ctx.servers.push(rawServer);
  const rawUrl = await rawServer.listen({ host: '127.0.0.1', port: 0 });

  // Once, before measuring: each baseline answers like the CMS. The bare server, the same bytes;
  // the raw driver, the same bytes but for the list's nextCursor (see expectedRawBody).
  const notes: string[] = [];
  const headerDiff = (s: Scenario, name: string, cms: Fetched, other: Fetched) => {
    const extra = cms.headers.filter((h) => !other.headers.includes(h));
    const missing = other.headers.filter((h) => !cms.headers.includes(h));
    if (extra.length || missing.length) {
      notes.push(`${s.name}: response headers differ from ${name}'s (CMS only: ${extra.join(', ') || 'none'}; ${name} only: ${missing.join(', ') || 'none'}).`);
    }
  };
  for (const s of scenarios) {
    const cms = answers.get(s.route)!;
    const bareAnswer = await fetchOnce(bareUrl + s.path);
    if (bareAnswer.body !== cms.body || bareAnswer.contentType !== cms.contentType) {
      throw new BenchError(`the bare Fastify baseline does not answer ${s.path} like the CMS`);
    }
    headerDiff(s, 'bare Fastify', cms, bareAnswer);
    const rawAnswer = await fetchOnce(rawUrl + s.path);
    const expected = expectedRawBody(cms.body);
    if (rawAnswer.body !== expected.body) {
      throw new BenchError(`the raw-driver baseline does not answer ${s.path} like the CMS, ${firstDifference(expected.body, rawAnswer.body)}`);
    }
    if (rawAnswer.contentType !== cms.contentType) throw new BenchError(`the raw-driver baseline answers ${s.path} as ${rawAnswer.contentType}, not ${cms.contentType}`);
    headerDiff(s, 'the raw driver', cms, rawAnswer);
    notes.push(
      `${s.name}: the raw driver’s body is byte-identical to the CMS’s` + (expected.note ? `, except that ${expected.note}.` : '.'),
    );
  }

  const loadBefore = loadavg()[0]!;
  const outcomes: Outcome[] = [];
  const servers = [
    { name: 'CMS', url: cmsUrl },
    { name: 'Fastify + raw driver', url: rawUrl },
    { name: 'bare Fastify', url: bareUrl },
  ];
  for (const s of scenarios) {
    const bytes = Buffer.byteLength(answers.get(s.route)!.body);
    log(
      `${s.name} (${kb(bytes)}): ${servers.map((v) => v.name).join(', ')}; ${warmup} s warm-up each, ` +
        `then ${duration} s each in ${Math.min(SLICES, duration)} alternating slice(s) …`,
    );
    const results = await measure({ urls: servers.map((v) => v.url + s.path), connections: CONNECTIONS, duration, warmup, slices: SLICES });
    const [cms, raw, bareResult] = results;
    if (!cms || !raw || !bareResult) throw new BenchError(`the load generator returned ${results.length} results for ${servers.length} servers`);
    results.forEach((r, i) => {
      checkClean(`${s.name}, ${servers[i]!.name}`, r);
      log(`  ${servers[i]!.name}: ${int(r.requestsPerSec)} req/s, p50 ${ms(r.latency.p50)} ms, p99 ${ms(r.latency.p99)} ms`);
    });
    outcomes.push({ scenario: s, bytes, cms, raw, bare: bareResult });
  }

  return section(outcomes, {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    duration,
    warmup,
    autocannon: ctx.autocannon,
    database: ctx.database,
    notes,
    load: [loadBefore, loadavg()[0]!],
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const expected = err instanceof BenchError || err instanceof ConfigError || err instanceof ServicesError;
    console.error(`The benchmark failed: ${expected ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
