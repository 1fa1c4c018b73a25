// `npm run bench`: how much the CMS costs over a bare Fastify server serving the same bytes.
//
// Starts the local services (FerretDB + versitygw, fresh temporary data) unless MONGODB_URI is
// set, builds the CMS on its own database, seeds article entries, then for each scenario measures
// the CMS and, alongside it in the same run, a bare Fastify server (no plugins) answering the same
// URL with the very response bytes the CMS returned. The load generator (autocannon) runs in a
// child process; both servers run in this process, one at a time. Prints a markdown table and
// writes it between the markers in BENCHMARKS.md. Everything started is stopped, even on error.
//
//   BENCH_DURATION=8   seconds of measured load per run (warm-up: a quarter of it, 1–2 s)
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, platform, arch, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteBucketCommand } from '@aws-sdk/client-s3';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { loadContentTypes } from '../src/content-types/loader.js';
import { FERRETDB_VERSION, startServices, type RunningServices } from '../scripts/services.js';
import type { LoadMessage, LoadRequest, LoadResult } from './load.js';

const ROOT = join(import.meta.dirname, '..', '..');
const REPORT = join(ROOT, 'BENCHMARKS.md');
const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

const CONNECTIONS = 10;
const ENTRIES = 300;
const SEED_CONCURRENCY = 8;

function durationFromEnv(): number {
  const raw = process.env.BENCH_DURATION;
  if (raw === undefined || raw === '') return 8;
  if (!/^\d{1,3}$/.test(raw) || Number(raw) < 1 || Number(raw) > 600) {
    throw new Error(`BENCH_DURATION must be a whole number of seconds from 1 to 600, not "${raw}"`);
  }
  return Number(raw);
}

const log = (line: string) => console.error(line);

// --- seed data: deterministic, so runs are comparable ---

function rng(seed: number): () => number {
  // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
      ids[i] = (await app.entries.create('article', docs[i]))._id;
    }
  };
  await Promise.all(Array.from({ length: SEED_CONCURRENCY }, worker));
  return ids;
}

// --- measuring ---

const loadProcesses = new Set<ChildProcess>();

/** One measurement, in a child process running bench/load.ts. */
function measure(req: LoadRequest): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./load.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    loadProcesses.add(child);
    let settled = false;
    const done = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    child.once('message', (msg: LoadMessage) => done(() => (msg.ok ? resolve(msg.result) : reject(new Error(`load generator failed: ${msg.error}`)))));
    child.once('error', (err) => done(() => reject(err)));
    child.once('exit', (code, signal) => {
      loadProcesses.delete(child);
      done(() => reject(new Error(`load generator exited (${signal ?? code}) without a result`)));
    });
    child.send(req);
  });
}

interface Fetched {
  body: string;
  contentType: string;
  headers: string[];
}

async function fetchOnce(url: string): Promise<Fetched> {
  const res = await fetch(url);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${body.slice(0, 300)}`);
  const contentType = res.headers.get('content-type');
  if (!contentType) throw new Error(`GET ${url} has no content-type`);
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
  baseline: LoadResult;
}

function checkClean(label: string, r: LoadResult): void {
  if (r.non2xx || r.errors || r.timeouts || r.ok === 0) {
    throw new Error(`${label}: ${r.ok} 2xx, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts; figures discarded`);
  }
}

// --- reporting ---

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));
const ratio = (n: number) => `${n.toFixed(2)}×`;
const kb = (n: number) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KB`);

function table(outcomes: Outcome[]): string {
  const rows = ['| Scenario | Server | Requests/s | p50 latency | p99 latency |', '|---|---|--:|--:|--:|'];
  for (const o of outcomes) {
    const label = `${o.scenario.name}<br>\`${o.scenario.path}\` (${kb(o.bytes)})`;
    rows.push(`| ${label} | CMS | ${int(o.cms.requestsPerSec)} | ${ms(o.cms.latency.p50)} ms | ${ms(o.cms.latency.p99)} ms |`);
    rows.push(`| | Baseline (bare Fastify) | ${int(o.baseline.requestsPerSec)} | ${ms(o.baseline.latency.p50)} ms | ${ms(o.baseline.latency.p99)} ms |`);
    rows.push(
      `| | **CMS / baseline** | **${ratio(o.cms.requestsPerSec / o.baseline.requestsPerSec)}** | ` +
        `**${ratio(o.cms.latency.p50 / o.baseline.latency.p50)}** | **${ratio(o.cms.latency.p99 / o.baseline.latency.p99)}** |`,
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
  headerNote: string[];
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
    `- **Load:** autocannon ${info.autocannon}, ${CONNECTIONS} connections, no pipelining, ${info.duration} s measured per run ` +
      `after a ${info.warmup} s warm-up; load generator in a child process of its own`,
    `- **Database:** ${info.database}`,
    `- **Data:** ${ENTRIES} \`article\` entries (~2 KB markdown body each, plus title, slug, excerpt, tags, rating, ` +
      'readingMinutes, publishDate, seo, …)',
    '- **Latency:** percentiles of every 2xx response of the measured run, from autocannon’s per-response hrtime durations',
    '',
    table(outcomes),
    '',
    'Throughput ratio below 1× and latency ratios above 1× are the cost of the CMS (routing, validation of the ' +
      'query, the database round trips, serialization) over a server that only writes the same bytes.',
  ];
  for (const o of outcomes) {
    const c = o.cms;
    const b = o.baseline;
    lines.push(
      '',
      `<sub>${o.scenario.name}: CMS ${int(c.total)} requests in ${c.seconds.toFixed(1)} s (mean ${ms(c.latency.mean)} ms, ` +
        `p90 ${ms(c.latency.p90)} ms, max ${ms(c.latency.max)} ms); baseline ${int(b.total)} requests in ${b.seconds.toFixed(1)} s ` +
        `(mean ${ms(b.latency.mean)} ms, p90 ${ms(b.latency.p90)} ms, max ${ms(b.latency.max)} ms). No errors or non-2xx responses.</sub>`,
    );
  }
  for (const note of info.headerNote) lines.push('', `<sub>${note}</sub>`);
  lines.push(END);
  return lines.join('\n');
}

const PROSE_HEAD = `# Benchmarks

What the CMS costs on its two hottest read paths, measured by \`npm run bench\` (source: \`bench/run.ts\`).

## What is measured

- **GET one entry:** \`GET /api/content/article/:id\`, the same entry every time.
- **List of 100:** \`GET /api/content/article?limit=100\`, the first page in the default order, with its total count.

Both hit the full CMS app as \`buildApp\` assembles it (JSON body parser and error handling, the per-request log hook
at level \`silent\`, the content service, the MongoDB driver, the per-type response serializer) on a database of
article entries seeded for the run.

## How

- The benchmark starts the local services itself, as \`npm test\` does (FerretDB and versitygw on fresh temporary
  data), unless \`MONGODB_URI\` is set, builds the CMS on a database of its own (\`bench_<random>\`) with
  \`NODE_ENV=test\` and \`LOG_LEVEL=silent\`, listens on a free loopback port and seeds the entries through the
  content service.
- Load comes from [autocannon](https://github.com/mcollina/autocannon), used programmatically, with the number of
  connections and seconds given in the generated section below. Each run follows a short warm-up whose results are
  discarded.
- **The figures that matter are the ratios.** Absolute requests per second depend on the machine, on what else runs
  on it, and on the load generator sharing its CPUs, so each scenario is also run against a **baseline measured
  alongside, in the same run**: a bare Fastify server (no plugins) on another loopback port that answers the same
  URL with exactly the bytes the CMS returned (fetched once from the CMS, served with the same content type). The
  ratio CMS/baseline is what the CMS adds on top of Node.js and Fastify doing the HTTP work.
- **Database:** in this setup the CMS runs against **FerretDB with its SQLite backend**, not MongoDB. Everything the
  CMS waits on the database for (the lookup by id, the page query and the count of the list) is FerretDB's
  performance here, and a real MongoDB will give different figures, typically faster for these queries. Read the
  database-bound part of the ratios as an upper bound on the cost that is the CMS's own.
- The run fails rather than reports figures if any request errors, times out or answers other than 2xx.

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

async function main(): Promise<void> {
  const duration = durationFromEnv();
  const warmup = Math.max(1, Math.min(2, Math.round(duration / 4)));
  const require = createRequire(import.meta.url);
  const autocannonVersion = (require('autocannon/package.json') as { version: string }).version;

  let services: RunningServices | undefined;
  let dataDir: string | undefined;
  let app: FastifyInstance | undefined;
  let baseline: FastifyInstance | undefined;
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
      if (baseline) await step('closing the baseline server', () => baseline!.close());
      if (app) {
        const a = app;
        await step('dropping the bench database', () => a.mongo.db.dropDatabase());
        await step('deleting the bench bucket', () => a.s3.client.send(new DeleteBucketCommand({ Bucket: a.s3.bucket })));
        await step('closing the CMS', () => a.close());
      }
      if (services) await step('stopping the services', () => services!.stop());
      if (dataDir) await step('removing the temporary data', () => rm(dataDir!, { recursive: true, force: true }));
    })());

  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const env: NodeJS.ProcessEnv = { ...process.env };
    let database = 'an external MongoDB-compatible server (MONGODB_URI was set)';
    if (!process.env.MONGODB_URI) {
      dataDir = await mkdtemp(join(tmpdir(), 'cms-bench-'));
      services = await startServices({ dataDir, log });
      Object.assign(env, services.env);
      database = `FerretDB ${FERRETDB_VERSION} with its SQLite backend, started by the benchmark on fresh data (not MongoDB)`;
      log(`services: MongoDB wire (FerretDB) at ${services.mongoUri}, S3 at ${services.s3.endpoint}`);
    }

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
    const registry = await loadContentTypes(config.contentTypesDir);
    app = await buildApp(config, { registry });
    const cmsUrl = await app.listen({ host: '127.0.0.1', port: 0 });

    const seedStart = Date.now();
    const ids = await seed(app);
    log(`seeded ${ids.length} article entries in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);
    const oneId = ids[Math.floor(ids.length / 2)]!;

    const scenarios: Scenario[] = [
      { name: 'GET one entry', path: `/api/content/article/${oneId}`, route: '/api/content/article/:id' },
      { name: 'List of 100 entries', path: '/api/content/article?limit=100', route: '/api/content/article' },
    ];

    // The CMS's answers, fetched once; the baseline serves exactly these.
    const answers = new Map<string, Fetched>();
    for (const s of scenarios) answers.set(s.route, await fetchOnce(cmsUrl + s.path));
    const listed = JSON.parse(answers.get('/api/content/article')!.body) as { data: unknown[]; meta: { total: number } };
    if (listed.data.length !== 100 || listed.meta.total !== ENTRIES) {
      throw new Error(`the list answered ${listed.data.length} entries of ${listed.meta.total}, expected 100 of ${ENTRIES}`);
    }

    baseline = Fastify({ logger: false });
    for (const s of scenarios) {
      const { body, contentType } = answers.get(s.route)!;
      baseline.get(s.route, (_request, reply) => reply.type(contentType).send(body));
    }
    const baseUrl = await baseline.listen({ host: '127.0.0.1', port: 0 });

    const headerNote: string[] = [];
    for (const s of scenarios) {
      const cms = answers.get(s.route)!;
      const base = await fetchOnce(baseUrl + s.path);
      if (base.body !== cms.body || base.contentType !== cms.contentType) throw new Error(`the baseline does not answer ${s.path} like the CMS`);
      const extra = cms.headers.filter((h) => !base.headers.includes(h));
      const missing = base.headers.filter((h) => !cms.headers.includes(h));
      if (extra.length || missing.length) {
        headerNote.push(
          `${s.name}: response headers differ from the baseline's (CMS only: ${extra.join(', ') || 'none'}; baseline only: ${missing.join(', ') || 'none'}).`,
        );
      }
    }

    const outcomes: Outcome[] = [];
    for (const s of scenarios) {
      const bytes = Buffer.byteLength(answers.get(s.route)!.body);
      log(`${s.name} (${kb(bytes)}): CMS, ${warmup} s warm-up + ${duration} s …`);
      const cms = await measure({ url: cmsUrl + s.path, connections: CONNECTIONS, duration, warmup });
      checkClean(`${s.name}, CMS`, cms);
      log(`  ${int(cms.requestsPerSec)} req/s, p50 ${ms(cms.latency.p50)} ms, p99 ${ms(cms.latency.p99)} ms`);
      log(`${s.name} (${kb(bytes)}): baseline, ${warmup} s warm-up + ${duration} s …`);
      const base = await measure({ url: baseUrl + s.path, connections: CONNECTIONS, duration, warmup });
      checkClean(`${s.name}, baseline`, base);
      log(`  ${int(base.requestsPerSec)} req/s, p50 ${ms(base.latency.p50)} ms, p99 ${ms(base.latency.p99)} ms`);
      outcomes.push({ scenario: s, bytes, cms, baseline: base });
    }

    const generated = section(outcomes, {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      duration,
      warmup,
      autocannon: autocannonVersion,
      database,
      headerNote,
    });
    console.log(generated.split('\n').filter((l) => !l.startsWith('<!--')).join('\n').trim());
    await writeReport(generated);
    log(`wrote ${REPORT}`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    process.exit(1);
  },
);
