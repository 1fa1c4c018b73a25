// The publishing scenarios of `npm run bench` (alone: BENCH_ONLY=publishing): what a write costs now
// that every write claims a version, may keep a published snapshot, and appends to the change log.
// Each against a baseline measured in the same run, on the same database server:
//   1. saving a draft: EntriesService.patch of a post (validate, claim the version, write, log) against
//      the raw driver's replaceOne of the same document;
//   2. publishing: EntriesService.publish of a changed draft against the raw driver writing the same two
//      documents (the snapshot and the draft);
//   3. change log, one process: ChangeLog.append in a row against insertOne of the same record with a
//      driver-made _id (no sequence);
//   4. change log, three processes racing: three ChangeLogs on three clients appending at once against
//      three clients inserting at once.
// Rounds alternate between the CMS and its baseline in slices, so load that comes and goes falls on both.
//
//   BENCH_PUBLISH_ROUNDS=200  timed operations of each kind, per side
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { MongoClient, ObjectId, type Db } from 'mongodb';
import { ChangeLog, type Change } from '../src/storage/changes.js';
import { intFromEnv, log, ms, percentile, ratio } from './common.js';

export const PUBLISHING_START = '<!-- bench:publishing:start -->';
export const PUBLISHING_END = '<!-- bench:publishing:end -->';

const SLICES = 4;
const RACERS = 3;

export interface PublishingContext {
  app: FastifyInstance;
  /** The raw driver's database: a client of the benchmark's own, on the CMS's URI and database. */
  db: Db;
  uri: string;
}

interface Timing {
  median: number;
  p95: number;
  /** Operations per second over the timed work. */
  rate: number;
}

interface Row {
  name: string;
  cms: Timing;
  raw: Timing;
}

function timing(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const total = samples.reduce((a, b) => a + b, 0);
  return { median: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), rate: (samples.length * 1000) / total };
}

/** Runs `rounds` of each side one at a time, alternating sides slice by slice. */
async function alternate(rounds: number, cms: (i: number) => Promise<unknown>, raw: (i: number) => Promise<unknown>): Promise<{ cms: number[]; raw: number[] }> {
  const out = { cms: [] as number[], raw: [] as number[] };
  const per = Math.ceil(rounds / SLICES);
  for (let slice = 0; slice < SLICES; slice++) {
    const order: ['cms' | 'raw', (i: number) => Promise<unknown>][] = slice % 2 ? [['raw', raw], ['cms', cms]] : [['cms', cms], ['raw', raw]];
    for (const [side, run] of order) {
      for (let k = 0; k < per && out[side].length < rounds; k++) {
        const i = out[side].length;
        const t = performance.now();
        await run(i);
        out[side].push(performance.now() - t);
      }
    }
  }
  return out;
}

const record = (i: number): Omit<Change, '_id'> => ({ at: new Date().toISOString(), kind: 'entry', type: 'post', id: new ObjectId().toHexString(), action: 'update', version: i, locales: ['*'], public: false });

export async function runPublishing(ctx: PublishingContext): Promise<Row[]> {
  const rounds = intFromEnv('BENCH_PUBLISH_ROUNDS', 200, 10, 100000);
  const { app, db } = ctx;
  const rows: Row[] = [];

  // 1. saving a draft
  const created = await app.entries.create('post', { title: { en: 'Benchmark' }, slug: 'bench-post', body: { en: 'Body' } });
  const id = created.entry._id;
  const rawPosts = db.collection<{ _id: string }>('bench_raw_post');
  const rawPublished = db.collection<{ _id: string }>('bench_raw_published_post');
  const stored = await db.collection('content_post').findOne({ _id: id as never });
  await rawPosts.insertOne({ ...stored, _id: id });
  await rawPublished.insertOne({ ...stored, _id: id });
  log(`publishing: ${rounds} draft saves each`);
  const saves = await alternate(
    rounds,
    (i) => app.entries.patch('post', id, { summary: { en: `Summary ${i}` } }),
    (i) => rawPosts.replaceOne({ _id: id }, { ...stored, summary: { en: `Summary ${i}` } }),
  );
  rows.push({ name: 'Save a draft (PATCH through the service)', cms: timing(saves.cms), raw: timing(saves.raw) });

  // 2. publishing (each publish follows an untimed save, so there is something to publish)
  log(`publishing: ${rounds} publishes each`);
  const out = { cms: [] as number[], raw: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    await app.entries.patch('post', id, { summary: { en: `Before publish ${i}` } });
    const order = i % 2 ? (['raw', 'cms'] as const) : (['cms', 'raw'] as const);
    for (const side of order) {
      const t = performance.now();
      if (side === 'cms') await app.entries.publish('post', id);
      else {
        const doc = { ...stored, _id: id, _status: 'published', summary: { en: `Before publish ${i}` } };
        await rawPublished.replaceOne({ _id: id }, doc);
        await rawPosts.replaceOne({ _id: id }, doc);
      }
      out[side].push(performance.now() - t);
    }
  }
  rows.push({ name: 'Publish (snapshot and draft)', cms: timing(out.cms), raw: timing(out.raw) });

  // 3. the change log, one process
  const log1 = new ChangeLog(db);
  const rawChanges = db.collection('bench_raw_changes');
  log(`publishing: ${rounds} change-log appends each, one process`);
  const serial = await alternate(rounds, (i) => log1.append(record(i)), (i) => rawChanges.insertOne(record(i)));
  rows.push({ name: 'Change log append, one process', cms: timing(serial.cms), raw: timing(serial.raw) });

  // 4. three processes racing: wall time of `rounds` appends spread over three clients at once
  const clients = await Promise.all(Array.from({ length: RACERS }, () => MongoClient.connect(ctx.uri, { appName: 'cms-bench-racer' })));
  try {
    const dbName = db.databaseName;
    const logs = clients.map((c) => new ChangeLog(c.db(dbName)));
    const raws = clients.map((c) => c.db(dbName).collection('bench_raw_changes'));
    log(`publishing: ${rounds} appends each, ${RACERS} processes at once`);
    const race: { cms: number[]; raw: number[] } = { cms: [], raw: [] };
    for (let slice = 0; slice < SLICES; slice++) {
      const n = Math.ceil(rounds / SLICES);
      const sides = slice % 2 ? (['raw', 'cms'] as const) : (['cms', 'raw'] as const);
      for (const side of sides) {
        const t = performance.now();
        await Promise.all(Array.from({ length: n }, (_, i) => (side === 'cms' ? logs[i % RACERS]!.append(record(i)) : raws[i % RACERS]!.insertOne(record(i)))));
        // as per-operation samples: the wall time shared out over the operations
        const each = (performance.now() - t) / n;
        for (let i = 0; i < n; i++) race[side].push(each);
      }
    }
    rows.push({ name: `Change log append, ${RACERS} processes at once (wall time per append)`, cms: timing(race.cms), raw: timing(race.raw) });
    const seqs = (await db.collection<{ _id: number }>('changes').find({}, { projection: { _id: 1 } }).toArray()).map((c) => c._id).sort((a, b) => a - b);
    if (!seqs.every((s, i) => s === i + 1)) throw new Error('the change log has a gap or a duplicate after the race');
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return rows;
}

export function publishingSection(rows: Row[], info: { date: string; rounds: number; database: string }): string {
  const lines = [
    PUBLISHING_START,
    '<!-- Generated by `npm run bench` (bench/publishing.ts); edits between these markers are overwritten. -->',
    '',
    `Run ${info.date}, ${info.rounds} timed operations per side and scenario, on ${info.database}.`,
    '',
    '| Scenario | CMS median | CMS p95 | Raw driver median | Raw driver p95 | CMS ÷ raw (median) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.name} | ${ms(r.cms.median)} ms | ${ms(r.cms.p95)} ms | ${ms(r.raw.median)} ms | ${ms(r.raw.p95)} ms | ${ratio(r.cms.median / r.raw.median)} |`),
    '',
    PUBLISHING_END,
  ];
  return lines.join('\n');
}

export const PUBLISHING_PROSE = `## Publishing: what a write costs

Every write claims its version in \`revisions\` (one insert), writes the entry (and, when publishing, the
published snapshot), then appends to the change log (a read of the head hint, one insert, one update of the
hint) and marks its version logged. These scenarios put a number on that, each against the raw driver doing
only the document writes in the same run (source: \`bench/publishing.ts\`; \`BENCH_ONLY=publishing npm run bench\`
runs these alone; \`BENCH_PUBLISH_ROUNDS\` sets the rounds).

### Publishing results

`;
