// The operations scenarios of `npm run bench` (alone: BENCH_ONLY=ops): what `cms export`, `cms import`
// and `cms migrate apply` cost over the same I/O done with the raw driver and S3 client, in this process.
//   1. Export of BENCH_OPS_ENTRIES small `article` entries (inserted with the raw driver, in the shape the
//      CMS stores) and BENCH_OPS_OBJECTS media objects, through exportArchive (src/services/backup/export.ts),
//      against a baseline that writes the same members with no CMS logic: a cursor over every collection →
//      canonical Extended JSON lines → a temporary file (a tar member needs its size first) → tar-stream →
//      gzip → the file, then every object's GetObject body streamed into the same tar. Then again at twice
//      the entries, to show that memory does not grow with them.
//   2. Import of each CMS archive through importArchive (src/services/backup/restore.ts) into an empty
//      database and bucket, against a baseline that reads the same archive once (gunzip → tar-stream), inserts
//      the lines with insertMany in batches of 500 and stores the objects with PutObject (8 in flight, as the
//      CMS does).
//   3. `cms migrate apply` renaming `article.excerpt` to `summary` (x-cms.renamedFrom) over
//      BENCH_OPS_MIGRATE entries through applyMigration (src/services/migrations/migrate.ts), against
//      updateMany with $rename and against one updateOne ($set/$unset) per entry sent in bulkWrite batches.
// Times are wall-clock seconds; memory is this process's RSS (and heap + external) sampled every 50 ms,
// as growth over its level just before the run, after a forced garbage collection. Every database
// command is counted (driver command monitoring), to explain the ratios.
//
//   BENCH_OPS_ENTRIES=10000  entries exported at N (and then at 2N)
//   BENCH_OPS_OBJECTS=200    small media objects (50 KB of random bytes each; plus two of 5 MB)
//   BENCH_OPS_MIGRATE=500    entries renamed by the migration scenario (the CMS sends six commands per
//                            entry; its updates are slow on FerretDB)
//   BENCH_OPS_TRACE=1        log every database command
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createGunzip, createGzip } from 'node:zlib';
import { DeleteBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { BSON, MongoClient, ObjectId, type AnyBulkWriteOperation, type Db, type Document } from 'mongodb';
import tar, { type Header, type Pack } from 'tar-stream';
import type { Config } from '../src/config.js';
import { loadContentTypes } from '../src/content-types/loader.js';
import type { ContentTypeRegistry } from '../src/content-types/registry.js';
import { exportArchive, listObjects } from '../src/services/backup/export.js';
import { importArchive } from '../src/services/backup/restore.js';
import { applyMigration, indexSpecs } from '../src/services/migrations/migrate.js';
import { viewsOf } from '../src/services/migrations/check.js';
import { EntriesRepository } from '../src/storage/entries.js';
import { ObjectStore } from '../src/storage/objects.js';
import { createS3, ensureBucket, type S3 } from '../src/storage/s3.js';
import { BenchError, int, intFromEnv, log, ratio, rng } from './common.js';

export const OPS_START = '<!-- bench:ops:start -->';
export const OPS_END = '<!-- bench:ops:end -->';

const ARTICLES = 'content_article';
const SMALL_OBJECT = 50 * 1024;
const LARGE_OBJECTS = 2;
const LARGE_OBJECT = 5 * 1024 * 1024;
const INSERT_BATCH = 1000;
const RAW_IMPORT_BATCH = 500;
const UPLOADS_IN_FLIGHT = 8;
const MIGRATE_BATCH = 100;
/**
 * updateOne statements per bulkWrite in the per-entry migrate baseline. FerretDB 1.24 (SQLite) never
 * answers an update command of 100 statements or more (99 take about a second), so a page of 100 is
 * sent in two.
 */
const BULK = 50;
const WARMUP_ENTRIES = 100;

export interface OpsContext {
  config: Config;
}

// --- memory and commands ---

/** Whether `gc` below really collects. */
let gcAvailable = false;
/** A garbage collection on demand, without --expose-gc on the command line. */
const gc: () => void = (() => {
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    if (typeof fn === 'function') {
      gcAvailable = true;
      return fn as () => void;
    }
  } catch {
    // not available: measure without
  }
  return () => undefined;
})();

interface Memory {
  rssBefore: number;
  /** Peak RSS over the level before. */
  rss: number;
  /** Peak of heapUsed + external (Buffers included) over the level before. */
  heap: number;
}

/**
 * Per command and collection (`update revisions`): how many were sent, and the milliseconds they
 * took as the driver timed them (from sending to the parsed reply).
 */
type CommandCounts = Map<string, { n: number; ms: number }>;

/** The same counts by command name alone. */
function byName(m: CommandCounts): CommandCounts {
  const out: CommandCounts = new Map();
  for (const [key, { n, ms }] of m) {
    const name = key.split(' ')[0]!;
    const row = out.get(name) ?? { n: 0, ms: 0 };
    row.n += n;
    row.ms += ms;
    out.set(name, row);
  }
  return out;
}

/** Commands sent through the monitored client. */
class Commands {
  counts: CommandCounts = new Map();
  private readonly keys = new Map<number, string>();
  constructor(client: MongoClient) {
    const at = (key: string) => {
      let row = this.counts.get(key);
      if (!row) this.counts.set(key, (row = { n: 0, ms: 0 }));
      return row;
    };
    client.on('commandStarted', (e) => {
      const target: unknown = e.command[e.commandName];
      const collection = typeof target === 'string' ? target : typeof e.command.collection === 'string' ? e.command.collection : '';
      const key = collection ? `${e.commandName} ${collection}` : e.commandName;
      this.keys.set(e.requestId, key);
      at(key).n++;
      if (process.env.BENCH_OPS_TRACE) log(`${new Date().toISOString()} ${e.databaseName} ${key} ${JSON.stringify(e.command.filter ?? e.command.updates?.[0]?.q ?? '').slice(0, 100)}`);
    });
    const done = (e: { requestId: number; duration: number; commandName: string }) => {
      at(this.keys.get(e.requestId) ?? e.commandName).ms += e.duration;
      this.keys.delete(e.requestId);
    };
    client.on('commandSucceeded', done);
    client.on('commandFailed', done);
  }
  take(): CommandCounts {
    const out = this.counts;
    this.counts = new Map();
    return out;
  }
}

interface Timed<T> {
  seconds: number;
  memory: Memory;
  commands: CommandCounts;
  value: T;
}

async function timed<T>(commands: Commands, fn: () => Promise<T>): Promise<Timed<T>> {
  gc();
  const before = process.memoryUsage();
  const live = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external;
  let rssPeak = before.rss;
  let livePeak = live(before);
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > rssPeak) rssPeak = m.rss;
    if (live(m) > livePeak) livePeak = live(m);
  };
  commands.take();
  const timer = setInterval(sample, 50);
  const start = performance.now();
  let value: T;
  try {
    value = await fn();
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - start) / 1000;
  sample();
  return { seconds, memory: { rssBefore: before.rss, rss: rssPeak - before.rss, heap: livePeak - live(before) }, commands: commands.take(), value };
}

// --- seed data ---

const WORDS = (
  'content schema editor publish draft release query index cache render template layout media asset image ' +
  'workflow review locale translation field entry version history webhook api client server request response'
).split(' ');
const TAGS = ['engineering', 'product', 'design', 'release', 'guide', 'tutorial', 'announcement', 'performance'];
const FORMATS = ['standard', 'gallery', 'video', 'link'];

/** A small `article` (about 1 KB) in the shape the CMS stores an entry of a type without drafts. */
function article(i: number, rand: () => number, at: string): Document {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const words = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(' ');
  const sentence = () => `${words(8 + Math.floor(rand() * 8))}.`;
  return {
    _id: new ObjectId().toHexString(),
    _type: 'article',
    _version: 1,
    _createdAt: at,
    _updatedAt: at,
    _createdBy: 'system',
    title: `Article ${i + 1}: ${words(4)}`,
    slug: `article-${i + 1}`,
    excerpt: sentence(),
    body: Array.from({ length: 6 }, sentence).join(' '),
    tags: [pick(TAGS), pick(TAGS)].filter((t, k, all) => all.indexOf(t) === k),
    publishDate: new Date(Date.UTC(2025, 0, 1) + Math.floor(rand() * 365 * 86_400_000)).toISOString(),
    readingMinutes: 1 + Math.floor(rand() * 10),
    featured: rand() < 0.1,
    rating: Math.round(rand() * 50) / 10,
    format: pick(FORMATS),
    _status: 'published',
    _publishedAt: at,
  };
}

async function insertArticles(db: Db, from: number, count: number, seed: number): Promise<void> {
  const rand = rng(seed);
  const at = new Date(Date.UTC(2026, 0, 1)).toISOString();
  for (let k = 0; k < count; k += INSERT_BATCH) {
    const docs = Array.from({ length: Math.min(INSERT_BATCH, count - k) }, (_, j) => article(from + k + j, rand, at));
    await db.collection(ARTICLES).insertMany(docs, { ordered: false });
  }
}

/** The indexes the server builds at start-up for every type, as its repository builds them. */
async function buildIndexes(db: Db, registry: ContentTypeRegistry): Promise<void> {
  const repo = new EntriesRepository(db);
  for (const type of registry.all()) for (const view of viewsOf(type)) await repo.syncIndexes(type.id, indexSpecs(type), view);
}

async function putObjects(s3: S3, count: number): Promise<{ objects: number; bytes: number }> {
  const sizes = [...Array.from({ length: count }, () => SMALL_OBJECT), ...Array.from({ length: LARGE_OBJECTS }, () => LARGE_OBJECT)];
  let next = 0;
  const worker = async () => {
    while (next < sizes.length) {
      const i = next++;
      const key = `media/${String(i).padStart(5, '0')}/original`;
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: randomBytes(sizes[i]!), ContentType: 'application/octet-stream' }));
    }
  };
  await Promise.all(Array.from({ length: UPLOADS_IN_FLIGHT }, worker));
  return { objects: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}

// --- the export baseline ---

function addEntry(pack: Pack, header: Partial<Header> & { name: string }, source: AsyncIterable<Buffer>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    void (async () => {
      for await (const chunk of source) if (!entry.write(chunk)) await once(entry, 'drain');
      entry.end(undefined);
    })().catch((e: unknown) => {
      entry.destroy(e as Error);
      reject(e as Error);
    });
  });
}

/** The export's I/O with nothing else: no counts, hashes, indexes, manifest or content types. */
async function rawExport(db: Db, s3: S3, file: string): Promise<{ documents: number; objects: number }> {
  const tmp = await mkdtemp(join(tmpdir(), 'cms-bench-raw-export-'));
  const pack = tar.pack();
  const writing = pipeline(pack, createGzip(), createWriteStream(file));
  let documents = 0;
  let objects = 0;
  try {
    const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => !n.startsWith('system.')).sort();
    for (const name of names) {
      const path = join(tmp, 'collection.ndjson');
      const out = createWriteStream(path);
      let size = 0;
      for await (const doc of db.collection(name).find({}, { batchSize: 500 })) {
        const line = Buffer.from(`${BSON.EJSON.stringify(doc, { relaxed: false })}\n`);
        size += line.length;
        documents++;
        if (!out.write(line)) await once(out, 'drain');
      }
      out.end();
      await finished(out);
      await addEntry(pack, { name: `collections/${name}.ndjson`, size }, createReadStream(path));
      await rm(path);
    }
    for await (const page of listObjects(s3)) {
      for (const key of page) {
        const got = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
        await addEntry(pack, { name: `objects/${key}`, size: got.ContentLength ?? 0 }, got.Body as Readable);
        objects++;
      }
    }
    pack.finalize();
    await writing;
  } catch (e) {
    pack.destroy(e as Error);
    await writing.catch(() => undefined);
    throw e;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { documents, objects };
}

// --- the import baseline ---

/** The import's I/O with nothing else: one read of the archive, insertMany of 500, PutObject (8 in flight). */
async function rawImport(file: string, db: Db, s3: S3): Promise<{ documents: number; objects: number }> {
  const extract = tar.extract();
  const reading = pipeline(createReadStream(file), createGunzip(), extract);
  reading.catch(() => undefined);
  let documents = 0;
  let objects = 0;
  const uploads = new Set<Promise<void>>();
  let failure: unknown;
  for await (const entry of extract) {
    const name = entry.header.name;
    if (name.startsWith('collections/') && name.endsWith('.ndjson')) {
      const collection = db.collection(name.slice('collections/'.length, -'.ndjson'.length));
      let batch: Document[] = [];
      let rest = '';
      const flush = async () => {
        if (!batch.length) return;
        await collection.insertMany(batch, { ordered: false });
        documents += batch.length;
        batch = [];
      };
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        const lines = (rest + chunk.toString('utf8')).split('\n');
        rest = lines.pop()!;
        for (const line of lines) {
          if (!line) continue;
          batch.push(BSON.EJSON.parse(line, { relaxed: false }) as Document);
          if (batch.length >= RAW_IMPORT_BATCH) await flush();
        }
      }
      if (rest) batch.push(BSON.EJSON.parse(rest, { relaxed: false }) as Document);
      await flush();
    } else if (name.startsWith('objects/')) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
      const upload: Promise<void> = s3.client
        .send(new PutObjectCommand({ Bucket: s3.bucket, Key: name.slice('objects/'.length), Body: Buffer.concat(chunks) }))
        .then(
          () => {
            objects++;
            uploads.delete(upload);
          },
          (e: unknown) => {
            failure ??= e;
            uploads.delete(upload);
          },
        );
      uploads.add(upload);
      while (uploads.size >= UPLOADS_IN_FLIGHT) await Promise.race(uploads);
    } else {
      for await (const _ of entry) {
        // the manifest: not needed
      }
    }
    if (failure !== undefined) throw failure;
  }
  await reading;
  await Promise.all(uploads);
  if (failure !== undefined) throw failure;
  return { documents, objects };
}

// --- the scenarios ---

interface ExportRow {
  entries: number;
  documents: number;
  objects: number;
  cms: Timed<unknown>;
  raw: Timed<unknown>;
  cmsBytes: number;
  rawBytes: number;
}

interface ImportRow {
  entries: number;
  documents: number;
  objects: number;
  archiveBytes: number;
  cms: Timed<unknown>;
  raw: Timed<unknown>;
}

interface MigrateResult {
  entries: number;
  cms: Timed<unknown>;
  rename: Timed<unknown>;
  perEntry: Timed<unknown>;
  /** Revisions and change-log records the CMS wrote. */
  revisions: number;
  changes: number;
}

export interface OpsOutcome {
  objects: { count: number; bytes: number };
  exports: ExportRow[];
  imports: ImportRow[];
  migrate: MigrateResult;
  renameSupported: boolean;
  seedSeconds: number;
  load: [number, number];
  gc: boolean;
}

async function dropDb(db: Db): Promise<void> {
  await db.dropDatabase();
}

async function emptyBucket(s3: S3): Promise<void> {
  await new ObjectStore(s3).deletePrefix('');
}

async function countObjects(s3: S3): Promise<number> {
  let n = 0;
  for await (const page of listObjects(s3)) n += page.length;
  return n;
}

async function countDocuments(db: Db): Promise<number> {
  let n = 0;
  for (const c of await db.listCollections({}, { nameOnly: true }).toArray()) {
    if (!c.name.startsWith('system.') && !c.name.startsWith('_')) n += await db.collection(c.name).countDocuments({});
  }
  return n;
}

/** The content types with `article.excerpt` renamed to `summary` (x-cms.renamedFrom), in a directory of their own. */
async function renamedTypes(dir: string, from: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const name of await readdir(from)) if (name.endsWith('.json')) await copyFile(join(from, name), join(dir, name));
  const path = join(dir, 'article.json');
  const schema = JSON.parse(await readFile(path, 'utf8')) as { properties: Record<string, Record<string, unknown>> };
  const properties: Record<string, Record<string, unknown>> = {};
  for (const [key, value] of Object.entries(schema.properties)) {
    if (key === 'excerpt') properties.summary = { ...value, 'x-cms': { ...((value['x-cms'] as object | undefined) ?? {}), renamedFrom: 'excerpt' } };
    else properties[key] = value;
  }
  schema.properties = properties;
  await writeFile(path, JSON.stringify(schema, null, 2));
}

export async function runOps(ctx: OpsContext): Promise<OpsOutcome> {
  const { config } = ctx;
  const entries = intFromEnv('BENCH_OPS_ENTRIES', 10000, 100, 1000000, 'entries');
  const objectCount = intFromEnv('BENCH_OPS_OBJECTS', 200, 0, 100000, 'objects');
  const migrateEntries = intFromEnv('BENCH_OPS_MIGRATE', 500, 10, 1000000, 'entries');
  if (!config.mongo.uri) throw new BenchError('no MongoDB URI for the operations scenarios');
  const loadBefore = loadavg()[0]!;
  const base = config.mongo.db;
  const client = new MongoClient(config.mongo.uri, { serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000, appName: 'cms-bench-ops', monitorCommands: true });
  const commands = new Commands(client);
  const buckets: S3[] = [];
  const dbs: Db[] = [];
  const bucket = async (suffix: string) => {
    const s3 = createS3({ ...config.s3, bucket: `${config.s3.bucket}-${suffix}` });
    buckets.push(s3);
    await ensureBucket(s3);
    return s3;
  };
  const database = (suffix: string) => {
    const db = client.db(`${base}_${suffix}`);
    dbs.push(db);
    return db;
  };
  const work = await mkdtemp(join(tmpdir(), 'cms-bench-ops-'));
  try {
    await client.connect();
    const registry = await loadContentTypes(config.contentTypesDir, { locales: config.locales });
    const source = database('ops');
    const sourceS3 = await bucket('ops');
    const target = database('ops_import');
    const targetS3 = await bucket('ops-import');

    const seedStart = performance.now();
    const objects = await putObjects(sourceS3, objectCount);
    let seedSeconds = (performance.now() - seedStart) / 1000;

    // warm-up: both exports and imports once, on a few entries and the objects, untimed, so code
    // and buffers are loaded before memory is measured
    await buildIndexes(source, registry);
    await insertArticles(source, 0, WARMUP_ENTRIES, 1);
    const warm = join(work, 'warm-up.tar.gz');
    await exportArchive({ db: source, s3: sourceS3, contentTypesDir: config.contentTypesDir, out: createWriteStream(warm) });
    await rawExport(source, sourceS3, join(work, 'warm-up-raw.tar.gz'));
    await importArchive({ file: warm, db: target, s3: targetS3, contentTypesDir: config.contentTypesDir });
    await dropDb(target);
    await emptyBucket(targetS3);
    await rawImport(warm, target, targetS3);
    await dropDb(target);
    await emptyBucket(targetS3);
    await rm(warm);
    await rm(join(work, 'warm-up-raw.tar.gz'));
    await dropDb(source);
    log(`ops: warm-up done`);

    const seedArticles = performance.now();
    await buildIndexes(source, registry);
    await insertArticles(source, 0, entries, 20261201);
    seedSeconds += (performance.now() - seedArticles) / 1000;
    log(`ops: seeded ${int(entries)} articles and ${objects.objects} objects (${(objects.bytes / 1e6).toFixed(1)} MB) in ${seedSeconds.toFixed(1)} s`);

    const exports: ExportRow[] = [];
    const imports: ImportRow[] = [];
    for (const [round, n] of [entries, entries * 2].entries()) {
      if (round === 1) {
        const t = performance.now();
        await insertArticles(source, entries, entries, 20261202);
        seedSeconds += (performance.now() - t) / 1000;
      }
      const documents = await countDocuments(source);
      const cmsFile = join(work, `cms-${n}.tar.gz`);
      const rawFile = join(work, `raw-${n}.tar.gz`);
      const cmsExport = () =>
        timed(commands, () => exportArchive({ db: source, s3: sourceS3, contentTypesDir: config.contentTypesDir, out: createWriteStream(cmsFile) }));
      const rawExporting = () => timed(commands, () => rawExport(source, sourceS3, rawFile));
      // the order alternates between the two sizes
      let cms: Timed<Awaited<ReturnType<typeof exportArchive>>>;
      let raw: Timed<Awaited<ReturnType<typeof rawExport>>>;
      log(`ops: export of ${int(n)} entries, CMS and baseline …`);
      if (round === 0) {
        cms = await cmsExport();
        raw = await rawExporting();
      } else {
        raw = await rawExporting();
        cms = await cmsExport();
      }
      if (cms.value.documents !== documents || raw.value.documents !== documents) {
        throw new BenchError(`export of ${n} entries: the CMS wrote ${cms.value.documents} documents and the baseline ${raw.value.documents}, of ${documents}`);
      }
      if (cms.value.objects !== objects.objects || raw.value.objects !== objects.objects) {
        throw new BenchError(`export: the CMS wrote ${cms.value.objects} objects and the baseline ${raw.value.objects}, of ${objects.objects}`);
      }
      const row: ExportRow = { entries: n, documents, objects: objects.objects, cms, raw, cmsBytes: (await stat(cmsFile)).size, rawBytes: (await stat(rawFile)).size };
      exports.push(row);
      log(`  CMS ${cms.seconds.toFixed(2)} s, RSS +${mib(cms.memory.rss)}; baseline ${raw.seconds.toFixed(2)} s, RSS +${mib(raw.memory.rss)}`);
      await rm(rawFile);

      log(`ops: import of the ${int(n)}-entry archive, CMS and baseline …`);
      const cmsImport = async () => {
        const t = await timed(commands, () => importArchive({ file: cmsFile, db: target, s3: targetS3, contentTypesDir: config.contentTypesDir }));
        const [docs, objs] = [await target.collection(ARTICLES).countDocuments({}), await countObjects(targetS3)];
        if (!t.value.complete || docs !== n || objs !== objects.objects) throw new BenchError(`CMS import of ${n} entries: ${docs} articles and ${objs} objects restored`);
        await dropDb(target);
        await emptyBucket(targetS3);
        return t;
      };
      const rawImporting = async () => {
        const t = await timed(commands, () => rawImport(cmsFile, target, targetS3));
        const [docs, objs] = [await target.collection(ARTICLES).countDocuments({}), await countObjects(targetS3)];
        if (docs !== n || objs !== objects.objects) throw new BenchError(`baseline import of ${n} entries: ${docs} articles and ${objs} objects restored`);
        await dropDb(target);
        await emptyBucket(targetS3);
        return t;
      };
      let cmsIn: Timed<unknown>;
      let rawIn: Timed<unknown>;
      if (round === 0) {
        cmsIn = await cmsImport();
        rawIn = await rawImporting();
      } else {
        rawIn = await rawImporting();
        cmsIn = await cmsImport();
      }
      imports.push({ entries: n, documents, objects: objects.objects, archiveBytes: row.cmsBytes, cms: cmsIn, raw: rawIn });
      log(`  CMS ${cmsIn.seconds.toFixed(2)} s, RSS +${mib(cmsIn.memory.rss)}; baseline ${rawIn.seconds.toFixed(2)} s, RSS +${mib(rawIn.memory.rss)}`);
      await rm(cmsFile);
    }
    await dropDb(source);
    await emptyBucket(sourceS3);

    // migrate: three databases with the same entries
    const typesDir = join(work, 'types');
    await renamedTypes(typesDir, config.contentTypesDir);
    const renamed = await loadContentTypes(typesDir, { locales: config.locales });
    const viaCms = database('ops_mig_cms');
    const viaRename = database('ops_mig_rename');
    const viaBulk = database('ops_mig_bulk');
    for (const db of [viaCms, viaRename, viaBulk]) {
      await buildIndexes(db, renamed);
      await insertArticles(db, 0, migrateEntries, 20261203);
    }
    log(`ops: migrate apply over ${int(migrateEntries)} entries …`);
    const cmsMigrate = await timed(commands, () => applyMigration(viaCms, renamed, { locales: config.locales, batchSize: MIGRATE_BATCH }));
    if (cmsMigrate.value.migrated !== migrateEntries || cmsMigrate.value.failed.length) {
      throw new BenchError(`migrate apply: ${cmsMigrate.value.migrated} migrated, ${cmsMigrate.value.failed.length} failed, of ${migrateEntries}`);
    }
    const now = new Date().toISOString();
    let renameSupported = true;
    const rename = await timed(commands, async () => {
      try {
        return await viaRename.collection(ARTICLES).updateMany({}, { $rename: { excerpt: 'summary' }, $inc: { _version: 1 }, $set: { _updatedAt: now } });
      } catch (e) {
        renameSupported = false;
        log(`  updateMany with $rename failed: ${(e as Error).message}`);
        return null;
      }
    });
    const perEntry = await timed(commands, async () => {
      // pages by _id as the CMS does: on FerretDB a cursor left open across writes to its database blocks them
      type Article = { _id: string; _version: number; excerpt?: unknown };
      const articles = viaBulk.collection<Article>(ARTICLES);
      let ops: AnyBulkWriteOperation<Article>[] = [];
      const flush = async () => {
        if (ops.length) await articles.bulkWrite(ops, { ordered: false });
        ops = [];
      };
      let last: string | undefined;
      for (;;) {
        const page = await articles.find(last === undefined ? {} : { _id: { $gt: last } }).sort({ _id: 1 }).limit(MIGRATE_BATCH).toArray();
        if (!page.length) break;
        for (const doc of page) {
          ops.push({ updateOne: { filter: { _id: doc._id, _version: doc._version }, update: { $set: { summary: doc.excerpt, _version: doc._version + 1, _updatedAt: now }, $unset: { excerpt: '' } } } });
          if (ops.length >= BULK) await flush();
        }
        await flush();
        last = page[page.length - 1]!._id;
      }
    });
    for (const [db, what] of [[viaCms, 'CMS'], [viaBulk, 'per-entry baseline'], ...(renameSupported ? [[viaRename, '$rename baseline'] as const] : [])] as const) {
      const left = await db.collection(ARTICLES).countDocuments({ excerpt: { $exists: true } });
      const done = await db.collection(ARTICLES).countDocuments({ summary: { $exists: true } });
      if (left || done !== migrateEntries) throw new BenchError(`migrate, ${what}: ${done} entries have summary, ${left} still have excerpt`);
    }
    const migrate: MigrateResult = {
      entries: migrateEntries,
      cms: cmsMigrate,
      rename,
      perEntry,
      revisions: await viaCms.collection('revisions').countDocuments({}),
      changes: await viaCms.collection('changes').countDocuments({}).catch(() => 0),
    };
    log(`  CMS ${cmsMigrate.seconds.toFixed(2)} s; updateMany $rename ${rename.seconds.toFixed(2)} s; per-entry bulkWrite ${perEntry.seconds.toFixed(2)} s`);
    return { objects: { count: objects.objects, bytes: objects.bytes }, exports, imports, migrate, renameSupported, seedSeconds, load: [loadBefore, loadavg()[0]!], gc: gcAvailable };
  } finally {
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        log(`ops cleanup: ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    for (const db of dbs) await step(`dropping ${db.databaseName}`, () => db.dropDatabase());
    for (const s3 of buckets) {
      await step(`emptying ${s3.bucket}`, () => emptyBucket(s3));
      await step(`deleting ${s3.bucket}`, () => s3.client.send(new DeleteBucketCommand({ Bucket: s3.bucket })));
      s3.client.destroy();
    }
    await step('closing the MongoClient', () => client.close());
    await rm(work, { recursive: true, force: true });
  }
}

// --- reporting ---

const mib = (n: number) => `${(n / 1024 ** 2).toFixed(1)} MiB`;
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const secs = (n: number) => `${n.toFixed(2)} s`;

/** `find 6 (120 ms)`, most time first; per entry: `update 3.00`, leaving out rows under `least` per entry. */
function commandList(m: CommandCounts, per?: number, least = 0): string {
  const rows = [...m.entries()].filter(([, { n }]) => !per || n / per >= least).sort((a, b) => b[1].ms - a[1].ms);
  if (!rows.length) return 'none';
  return rows.map(([name, { n, ms }]) => `${name.replace(/ (.+)$/, ' `$1`')} ${per ? (n / per).toFixed(2) : int(n)} (${int(ms)} ms)`).join(', ');
}

const over = (seconds: number) => (seconds >= 0 ? `${secs(seconds)} over the baseline` : `${secs(-seconds)} less than the baseline (noise)`);
const msOf = (m: CommandCounts, name: string) => byName(m).get(name)?.ms ?? 0;
const countOf = (m: CommandCounts, name: string) => byName(m).get(name)?.n ?? 0;

/** Where the CMS's extra time goes, from the measured command times. */
function explain(o: OpsOutcome): string[] {
  const out: string[] = ['**Where the CMS’s extra time goes** (from the command times above):', ''];
  for (const r of o.exports) {
    const extra = over(r.cms.seconds - r.raw.seconds);
    const counting = (msOf(r.cms.commands, 'count') + msOf(r.cms.commands, 'aggregate')) / 1000;
    out.push(
      `- Export of ${int(r.entries)} entries: ${extra}; ${secs(counting)} of the CMS's time are the counts (\`estimatedDocumentCount\`, a \`count\` command) run on every collection ` +
        'before the export for the progress total: FerretDB counts by reading every document (MongoDB reads the collection\'s metadata). Reading the documents (`find` + `getMore`) took ' +
        `${secs((msOf(r.cms.commands, 'find') + msOf(r.cms.commands, 'getMore')) / 1000)} in the CMS's run and ${secs((msOf(r.raw.commands, 'find') + msOf(r.raw.commands, 'getMore')) / 1000)} in the baseline's; ` +
        'the rest is hashing, the manifest, and the share of two CPUs each run got.',
    );
  }
  for (const r of o.imports) {
    out.push(
      `- Import of ${int(r.entries)} entries: ${over(r.cms.seconds - r.raw.seconds)}; ${secs(msOf(r.cms.commands, 'createIndexes') / 1000)} of the CMS's time rebuild the indexes ` +
        `(${countOf(r.cms.commands, 'createIndexes')} \`createIndexes\`); \`insert\` took ${secs(msOf(r.cms.commands, 'insert') / 1000)} against ${secs(msOf(r.raw.commands, 'insert') / 1000)}. ` +
        'The rest is the checking pass: the whole archive is read, gunzipped and hashed once before anything is written.',
    );
  }
  const m = o.migrate;
  const updates = countOf(m.cms.commands, 'update');
  const inserts = countOf(m.cms.commands, 'insert');
  const baseUpdates = countOf(m.perEntry.commands, 'update');
  out.push(
    `- Migrate: the CMS sent ${int(updates)} \`update\` commands (${(msOf(m.cms.commands, 'update') / Math.max(1, updates)).toFixed(1)} ms each on average, ` +
      `${secs(msOf(m.cms.commands, 'update') / 1000)} in all) and ${int(inserts)} \`insert\` commands (${(msOf(m.cms.commands, 'insert') / Math.max(1, inserts)).toFixed(1)} ms each): ` +
      'per entry, the entry itself (replaced with a version check), the change-log head and the revision marked logged are updates; the revision claim and the change-log record are inserts. ' +
      `The per-entry baseline sent ${int(baseUpdates)} \`update\` commands of up to ${BULK} statements, ${(msOf(m.perEntry.commands, 'update') / m.entries).toFixed(1)} ms per entry. ` +
      `So on FerretDB the migration’s time is its writes (an update took ${ratio(msOf(m.cms.commands, 'update') / Math.max(1, updates) / Math.max(0.001, msOf(m.cms.commands, 'insert') / Math.max(1, inserts)))} the time of an insert), ` +
      'and CMS ÷ per-entry baseline follows from the writes per entry; ' +
      '`updateMany` with `$rename` does the whole collection in one statement and skips versions, history and the change log.',
  );
  return out;
}

const total = (m: CommandCounts) => [...m.values()].reduce((a, b) => a + b.n, 0);
const totalMs = (m: CommandCounts) => [...m.values()].reduce((a, b) => a + b.ms, 0);

export function opsSection(o: OpsOutcome, info: { date: string; database: string; storage: string }): string {
  const first = o.exports[0]!;
  const second = o.exports[1]!;
  const lines = [
    OPS_START,
    '<!-- Generated by `npm run bench` (bench/ops.ts); edits between these markers are overwritten. -->',
    '',
    `Run ${info.date} on ${info.database}; objects on ${info.storage}. 1-minute load average ${o.load[0].toFixed(2)} before, ${o.load[1].toFixed(2)} after` +
      ' (other work shared the two CPUs during this run, so absolute times are pessimistic; the ratios compare runs made back to back).',
    `Data: ${int(first.entries)}, then ${int(second.entries)}, small \`article\` entries (about 1 KB each, inserted with the raw driver in the stored shape, ` +
      `with the type's indexes); ${o.objects.count} objects in the bucket (${o.objects.count - LARGE_OBJECTS} × 50 KB and ${LARGE_OBJECTS} × 5 MB of random bytes, ${mb(o.objects.bytes)}). ` +
      `Seeding took ${o.seedSeconds.toFixed(1)} s in all. Memory: growth of this process's peak RSS (and of heap + external) over its level before each run, ` +
      `sampled every 50 ms${o.gc ? ', after a forced garbage collection' : ''}; one untimed warm-up of every path ran first.`,
    '',
    '| Scenario | Path | Time | Documents/s | MB/s (archive) | Peak RSS growth | Peak heap + external growth | CMS ÷ baseline (time) |',
    '|---|---|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of o.exports) {
    const docs = r.documents;
    lines.push(
      `| Export, ${int(r.entries)} entries + ${r.objects} objects<br>(archive ${mb(r.cmsBytes)}) | CMS \`exportArchive\` | ${secs(r.cms.seconds)} | ${int(docs / r.cms.seconds)} | ${(r.cmsBytes / 1e6 / r.cms.seconds).toFixed(1)} | ${mib(r.cms.memory.rss)} | ${mib(r.cms.memory.heap)} | **${ratio(r.cms.seconds / r.raw.seconds)}** |`,
      `| | Raw driver + S3 → tar → gzip | ${secs(r.raw.seconds)} | ${int(docs / r.raw.seconds)} | ${(r.rawBytes / 1e6 / r.raw.seconds).toFixed(1)} | ${mib(r.raw.memory.rss)} | ${mib(r.raw.memory.heap)} | |`,
    );
  }
  for (const r of o.imports) {
    const docs = r.documents;
    lines.push(
      `| Import of that archive, ${int(r.entries)} entries | CMS \`importArchive\` | ${secs(r.cms.seconds)} | ${int(docs / r.cms.seconds)} | ${(r.archiveBytes / 1e6 / r.cms.seconds).toFixed(1)} | ${mib(r.cms.memory.rss)} | ${mib(r.cms.memory.heap)} | **${ratio(r.cms.seconds / r.raw.seconds)}** |`,
      `| | Raw insertMany (500) + PutObject | ${secs(r.raw.seconds)} | ${int(docs / r.raw.seconds)} | ${(r.archiveBytes / 1e6 / r.raw.seconds).toFixed(1)} | ${mib(r.raw.memory.rss)} | ${mib(r.raw.memory.heap)} | |`,
    );
  }
  const m = o.migrate;
  lines.push(
    `| Migrate apply, rename \`excerpt\` → \`summary\`, ${int(m.entries)} entries | CMS \`applyMigration\` | ${secs(m.cms.seconds)} | ${int(m.entries / m.cms.seconds)} | | ${mib(m.cms.memory.rss)} | ${mib(m.cms.memory.heap)} | |`,
    `| | Raw \`updateMany\` with \`$rename\` | ${o.renameSupported ? secs(m.rename.seconds) : 'not supported'} | ${o.renameSupported ? int(m.entries / m.rename.seconds) : ''} | | ${mib(m.rename.memory.rss)} | ${mib(m.rename.memory.heap)} | **${o.renameSupported ? ratio(m.cms.seconds / m.rename.seconds) : '–'}** |`,
    `| | Raw pages of ${MIGRATE_BATCH} by \`_id\` + \`bulkWrite\` of ${BULK} \`updateOne\` (\`$set\`/\`$unset\`) | ${secs(m.perEntry.seconds)} | ${int(m.entries / m.perEntry.seconds)} | | ${mib(m.perEntry.memory.rss)} | ${mib(m.perEntry.memory.heap)} | **${ratio(m.cms.seconds / m.perEntry.seconds)}** |`,
    '',
    `**Memory when the entries double:** the CMS export's peak RSS growth went from ${mib(first.cms.memory.rss)} at ${int(first.entries)} entries to ${mib(second.cms.memory.rss)} at ${int(second.entries)} ` +
      `(heap + external ${mib(first.cms.memory.heap)} → ${mib(second.cms.memory.heap)}); the import's from ${mib(o.imports[0]!.cms.memory.rss)} to ${mib(o.imports[1]!.cms.memory.rss)} ` +
      `(heap + external ${mib(o.imports[0]!.cms.memory.heap)} → ${mib(o.imports[1]!.cms.memory.heap)}). ` +
      `Time per entry: export ${((first.cms.seconds * 1000) / first.entries).toFixed(2)} → ${((second.cms.seconds * 1000) / second.entries).toFixed(2)} ms, ` +
      `import ${((o.imports[0]!.cms.seconds * 1000) / o.imports[0]!.entries).toFixed(2)} → ${((o.imports[1]!.cms.seconds * 1000) / o.imports[1]!.entries).toFixed(2)} ms (the objects are the same in both).`,
    '',
    '| Database commands sent | CMS | Baseline |',
    '|---|---|---|',
  );
  for (const r of o.exports) lines.push(`| Export, ${int(r.entries)} entries | ${commandList(byName(r.cms.commands))} | ${commandList(byName(r.raw.commands))} |`);
  for (const r of o.imports) lines.push(`| Import, ${int(r.entries)} entries | ${commandList(byName(r.cms.commands))} | ${commandList(byName(r.raw.commands))} |`);
  lines.push(
    `| Migrate, ${int(m.entries)} entries, per entry | ${commandList(m.cms.commands, m.entries, 0.05)}; commands under 0.05 per entry (the plan's and the index checks' fixed reads) left out (${(total(m.cms.commands) / m.entries).toFixed(1)} per entry in all, ${secs(totalMs(m.cms.commands) / 1000)} of command time) | ` +
      `\`$rename\`: ${commandList(byName(m.rename.commands))}; per-entry: ${commandList(byName(m.perEntry.commands), m.entries)} |`,
    '',
    ...explain(o),
    '',
    `<sub>The migration wrote ${int(m.revisions)} revisions and ${int(m.changes)} change-log records for ${int(m.entries)} entries: each migrated entry is a new version ` +
      '(action `migrate`), claimed in `revisions`, written with a version check, appended to the change log and marked logged; the entries are read ' +
      `in pages of ${MIGRATE_BATCH} by \`_id\` (\`_id > last\`, sorted), and the migration record moves on after each page. The baselines change the documents and nothing else.</sub>`,
    OPS_END,
  );
  return lines.join('\n');
}

export const OPS_PROSE = `## Operations: export, import and migrate

What \`cms export\`, \`cms import\` and \`cms migrate apply\` cost over the same I/O done with the raw driver and S3
client, each pair run back to back in the benchmark's process (source: \`bench/ops.ts\`; \`BENCH_ONLY=ops npm run bench\`
runs these alone; \`BENCH_OPS_ENTRIES\`, \`BENCH_OPS_OBJECTS\` and \`BENCH_OPS_MIGRATE\` set the sizes). Each scenario uses
databases and buckets of its own, dropped at the end.

- **Export:** the service behind \`cms export\` (\`exportArchive\`) writes every collection and every object into a
  \`.tar.gz\`, against a baseline doing the same reads and writes with no CMS logic: a cursor over every collection,
  each document as a line of canonical Extended JSON into a temporary file (a tar member needs its size before its
  bytes; the CMS does the same), the file into a tar-stream pack, gzip, the archive file; then each object's
  \`GetObject\` body streamed into the same tar. What the CMS adds: counting documents and objects first (for its
  progress bar), a SHA-256 of every member, listing each collection's indexes, reading the content-type files, and
  the manifest. Run at N entries and again at 2N, the order of CMS and baseline reversed the second time.
- **Import:** the service behind \`cms import\` (\`importArchive\`) restores that archive into an empty database and
  bucket, against a baseline that reads the same archive once (gunzip, tar-stream), inserts the documents with
  \`insertMany\` in batches of 500 and stores each object with \`PutObject\` (up to 8 in flight, as the CMS). The CMS
  reads the archive twice (a first pass checks every member's SHA-256 against the manifest before anything is
  written), checks that the target is empty, keeps a resumable import record, hashes every member again as it
  writes it, and rebuilds the indexes.
- **Migrate:** the content types with \`article.excerpt\` renamed to \`summary\` (\`x-cms.renamedFrom\`), and
  \`applyMigration\` (\`cms migrate apply\`) run over entries that still hold \`excerpt\`, against two baselines on
  copies of the same entries: one \`updateMany\` with \`$rename\`, and one \`updateOne\` per entry (\`$set\` the new
  key, \`$unset\` the old, bump \`_version\`, matched on \`_id\` and \`_version\`) sent in \`bulkWrite\` batches of 50,
  reading the entries in pages of 100 by \`_id\` as the CMS does (on FerretDB a cursor held open across writes
  to its database blocks those writes; and an update command of 100 statements or more never returns, hence 50). The CMS
  plans first (reads every entry and checks it against the new type), then gives every entry a new version with
  the same steps as any other write, so history can undo it and caches and sync see it; the baselines only change
  the documents. The table of database commands under the results shows where the time goes.
- Times are wall-clock; memory is this process's peak RSS (and heap + external, which counts Buffers) over its
  level before each run, sampled every 50 ms. RSS rarely shrinks once grown, so a run after another that already
  grew the process may show less growth than it would alone; heap + external does not have that bias.
- **On FerretDB** (SQLite backend), as these runs found: a count reads every document (\`countDocuments\`, and
  \`estimatedDocumentCount\` too, which MongoDB answers from metadata), so the export's progress total costs about
  as much as reading the collections a second time. An update costs several
  times an insert, and its cost grows with the size of the collection: measured apart while this section was
  written, one \`updateOne\` by \`_id\` took about 7–10 ms in a collection of 500 documents of 1 KB and 42–49 ms in one
  of 5,000 (with \`_version\` in the filter too, as the CMS's version check has it, about 30 ms and 77 ms), while a
  \`findOne\` by \`_id\` stayed near 4 ms. A migration writes every entry (six commands per entry, five of them writes and three of
  those updates, one on the entries' own collection), so on FerretDB its time grows with the square of the entry count, and
  the default run migrates 500 entries only. Two more limits shaped the baselines: a find cursor held open across
  writes to its database blocks those writes (the migration pages by \`_id\` for that reason), and an update command
  of 100 statements or more never returns. Against MongoDB, where an update by \`_id\` uses the index, none of this
  holds, and the ratios will differ.

### Operations results

`;
