// The second pass of an import: restore every member, resumably.
//
// An import record in `_import_state` names the archive (its SHA-256) and how many members, in
// archive order, are fully restored. A rerun of the same archive skips those and redoes the one it
// was in: documents are inserted with unknown ids only (a duplicate `_id` is skipped), objects are
// simply written again. The record is removed at the end, after the indexes are rebuilt.
import { Readable } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BSON, MongoBulkWriteError, MongoServerError, type Db, type Document, type Filter } from 'mongodb';
import { ObjectStore } from '../../storage/objects.js';
import type { S3 } from '../../storage/s3.js';
import {
  BackupError,
  type BackupTarget,
  COLLECTIONS_DIR,
  Digest,
  IMPORT_STATE,
  type IndexDefinition,
  MANIFEST,
  MANIFEST_SUM,
  NOT_EXPORTED,
  OBJECTS_DIR,
  type Manifest,
} from './archive.js';
import { listObjects } from './export.js';
import { checkContentTypes, readArchive, verifyArchive } from './verify.js';

const BATCH = 500;
/** Objects up to this size are sent in one request; larger ones as a multipart upload. */
const SINGLE_PUT = 8 * 1024 * 1024;
/** Small objects uploaded side by side (memory: at most this many times SINGLE_PUT). */
const UPLOADS_IN_FLIGHT = 8;
const STATE_ID = 'import';

interface ImportState {
  _id: string;
  archiveSha256: string;
  startedAt: Date;
  membersDone: number;
}

export interface ImportOptions extends BackupTarget {
  file: string;
  /** Drop every collection and delete every object first, when the target is not empty. */
  replace?: boolean;
  /** Things the operator must see (what --replace deletes, that an import resumes). */
  onNotice?(message: string): void;
  /** Bytes of the archive checked so far (the first pass). */
  onChecked?(bytes: number): void;
  /** Called between the checking pass and the writing pass. */
  onVerified?(manifest: Manifest): void;
  /** Stops after restoring this many members in this run, as if interrupted (tests). */
  stopAfter?: number;
}

export interface ImportSummary {
  archiveSha256: string;
  complete: boolean;
  resumed: boolean;
  replaced: boolean;
  collections: number;
  documents: number;
  objects: number;
  objectBytes: number;
  indexes: number;
  membersDone: number;
  members: number;
}

/**
 * What a server writes on its first start, before anyone uses it: the drafts setting of each type
 * (`type_states`) and the one-time setup token. A target holding only these counts as empty, and
 * they are cleared before a restore so the archive's own come back.
 */
const FIRST_START: Record<string, { clear: Filter<Document>; others: Filter<Document> | null }> = {
  type_states: { clear: {}, others: null },
  settings: { clear: { _id: 'setup' } as unknown as Filter<Document>, others: { _id: { $ne: 'setup' } } as unknown as Filter<Document> },
};

/** What the target holds, apart from what a fresh deployment has anyway. */
export async function targetContents(db: Db, s3: S3): Promise<{ collections: { name: string; documents: number }[]; objects: number }> {
  const collections: { name: string; documents: number }[] = [];
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  for (const name of names) {
    if (name.startsWith('system.') || NOT_EXPORTED.has(name)) continue;
    const others = FIRST_START[name] ? FIRST_START[name].others : {};
    const documents = others ? await db.collection(name).countDocuments(others) : 0;
    if (documents) collections.push({ name, documents });
  }
  let objects = 0;
  for await (const page of listObjects(s3)) objects += page.length;
  return { collections, objects };
}

export async function importArchive(options: ImportOptions): Promise<ImportSummary> {
  const { db, s3 } = options;
  // pass 1: check everything; nothing is written
  const { manifest, archiveSha256 } = await verifyArchive(options.file, options.onChecked);
  await checkContentTypes(manifest, options.contentTypesDir);
  options.onVerified?.(manifest);

  const states = db.collection<ImportState>(IMPORT_STATE);
  const state = await states.findOne({ _id: STATE_ID });
  const resumed = state?.archiveSha256 === archiveSha256;
  let replaced = false;
  if (state && !resumed && !options.replace) {
    throw new BackupError(
      'refused',
      `an import of another archive (SHA-256 ${state.archiveSha256.slice(0, 12)}…, started ${state.startedAt.toISOString()}) did not finish. ` +
        'Rerun that import to finish it, or pass --replace to start over with this archive.',
      { pendingArchive: state.archiveSha256 },
    );
  }
  if (!resumed) {
    const contents = await targetContents(db, s3);
    const empty = contents.collections.length === 0 && contents.objects === 0;
    if (!empty && !options.replace) {
      const docs = contents.collections.map((c) => `${c.name} (${c.documents})`).join(', ');
      throw new BackupError(
        'refused',
        `the target is not empty: ${contents.collections.length ? `documents in ${docs}` : 'no documents'}; ${contents.objects} objects in the bucket. ` +
          'Nothing was written. Import into an empty database and bucket, or pass --replace to delete everything there first.',
        { collections: contents.collections, objects: contents.objects },
      );
    }
    if (options.replace && (!empty || state)) {
      options.onNotice?.(
        `--replace: DELETING everything in database ${db.databaseName} (${contents.collections.length} collections with documents) ` +
          `and all ${contents.objects} objects in bucket ${s3.bucket} before restoring`,
      );
      await wipe(db, s3);
      replaced = true;
    }
    for (const [name, { clear }] of Object.entries(FIRST_START)) {
      await db.collection(name).deleteMany(clear);
      // left empty: dropped, so the database holds only what the archive brings
      if ((await db.collection(name).countDocuments({})) === 0) await db.collection(name).drop().catch(ignoreMissing);
    }
    await states.replaceOne({ _id: STATE_ID }, { archiveSha256, startedAt: new Date(), membersDone: 0 }, { upsert: true });
  } else {
    options.onNotice?.(`resuming an interrupted import of this archive: ${state.membersDone} of ${manifest.members.length} members were restored already`);
  }

  // pass 2: restore, member by member in archive order
  const membersDone = resumed ? state.membersDone : 0;
  const byName = new Map(manifest.members.map((m) => [m.name, m]));
  const collectionOf = new Map(manifest.collections.map((c) => [c.member, c.name]));
  options.onTotal?.(manifest.collections.reduce((n, c) => n + c.documents, 0) + manifest.objects.count);
  let index = 0;
  let read = membersDone;
  let restoredThisRun = 0;
  const uploads = new Uploads(UPLOADS_IN_FLIGHT);
  // members before this position are all stored (an upload still running holds it back)
  const done = () => uploads.lowest() ?? read;
  let savedAt = Date.now();
  const save = async (force: boolean) => {
    if (!force && Date.now() - savedAt < 1000) return;
    await states.updateOne({ _id: STATE_ID }, { $set: { membersDone: done() } });
    savedAt = Date.now();
  };
  const pass = await readArchive(options.file, async (header, body) => {
    const name = header.name;
    if (name === MANIFEST || name === MANIFEST_SUM) return 'next';
    const entry = byName.get(name);
    if (!entry) throw new BackupError('corrupt', `member ${name} is not in the manifest: the archive changed after it was checked`);
    const position = index++;
    const isCollection = name.startsWith(COLLECTIONS_DIR);
    if (position < membersDone) {
      if (isCollection) options.onProgress?.(manifest.collections.find((c) => c.member === name)?.documents ?? 0);
      else options.onProgress?.(1);
      return 'next';
    }
    const digest = new Digest();
    const hashed = hashing(body, digest);
    const changed = () => new BackupError('corrupt', `member ${name} changed after the archive was checked (its SHA-256 differs now); rerun the import`);
    const matches = () => digest.size === entry.size && digest.hex() === entry.sha256;
    if (isCollection) {
      const collection = collectionOf.get(name);
      if (!collection) throw new BackupError('corrupt', `member ${name} names no collection of the manifest`);
      await uploads.drain();
      await restoreCollection(db, collection, hashed, options.onProgress);
      if (!matches()) throw changed();
    } else if (name.startsWith(OBJECTS_DIR)) {
      const key = name.slice(OBJECTS_DIR.length);
      const type = entry.contentType ? { ContentType: entry.contentType } : {};
      if (entry.size <= SINGLE_PUT) {
        // small: read, check, then upload while the next members are read
        const chunks: Buffer[] = [];
        for await (const chunk of hashed) chunks.push(chunk);
        if (!matches()) throw changed();
        await uploads.add(position, async () => {
          await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: Buffer.concat(chunks), ...type }));
          options.onProgress?.(1);
        });
      } else {
        await uploads.drain();
        const upload = new Upload({
          client: s3.client,
          params: { Bucket: s3.bucket, Key: key, Body: Readable.from(hashed), ...type },
          partSize: SINGLE_PUT,
          queueSize: 1,
          leavePartsOnError: false,
        });
        await upload.done();
        if (!matches()) throw changed();
        options.onProgress?.(1);
      }
    } else {
      throw new BackupError('corrupt', `member ${name} is neither a collection nor an object`);
    }
    read = position + 1;
    restoredThisRun++;
    await save(isCollection);
    if (options.stopAfter !== undefined && restoredThisRun >= options.stopAfter) {
      await uploads.drain();
      return 'stop';
    }
    return 'next';
  });
  await uploads.drain();
  await save(true);
  const summary: ImportSummary = {
    archiveSha256,
    complete: false,
    resumed,
    replaced,
    collections: manifest.collections.length,
    documents: manifest.collections.reduce((n, c) => n + c.documents, 0),
    objects: manifest.objects.count,
    objectBytes: manifest.objects.bytes,
    indexes: 0,
    membersDone: done(),
    members: manifest.members.length,
  };
  if (pass.stopped && done() < manifest.members.length) return summary;
  if (!pass.stopped && pass.sha256 !== archiveSha256) throw new BackupError('corrupt', 'the archive changed after it was checked; rerun the import');

  for (const c of manifest.collections) {
    await ensureCollection(db, c.name);
    for (const definition of c.indexes) {
      if (definition.name === '_id_') continue;
      await restoreIndex(db, c.name, definition);
      summary.indexes++;
    }
  }
  await states.drop().catch(() => undefined);
  summary.complete = true;
  return summary;
}

/**
 * Builds an index as the archive defines it. An index of the same name or keys with other options
 * (made by a server of another version on first start) is replaced by the archive's.
 */
async function restoreIndex(db: Db, collection: string, definition: IndexDefinition): Promise<void> {
  const { key, ...options } = definition;
  const build = () => db.collection(collection).createIndex(key as Record<string, 1 | -1>, options);
  try {
    await build();
  } catch (e) {
    // 85: IndexOptionsConflict, 86: IndexKeySpecsConflict
    if (!(e instanceof MongoServerError && (e.code === 85 || e.code === 86))) throw e;
    const same = JSON.stringify(key);
    for (const index of await db.collection(collection).listIndexes().toArray()) {
      if (index.name !== '_id_' && (index.name === definition.name || JSON.stringify(index.key) === same)) await db.collection(collection).dropIndex(String(index.name));
    }
    await build();
  }
}

/** Drops every collection but the system ones and deletes every object of the bucket. */
async function wipe(db: Db, s3: S3): Promise<void> {
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
  for (const name of names) if (!name.startsWith('system.')) await db.collection(name).drop().catch(ignoreMissing);
  await new ObjectStore(s3).deletePrefix('');
}

function ignoreMissing(e: unknown): void {
  // 26: NamespaceNotFound
  if (!(e instanceof MongoServerError && e.code === 26)) throw e;
}

async function ensureCollection(db: Db, name: string): Promise<void> {
  try {
    await db.createCollection(name);
  } catch (e) {
    // 48: NamespaceExists
    if (!(e instanceof MongoServerError && e.code === 48)) throw e;
  }
}

async function* hashing(body: AsyncIterable<Buffer>, digest: Digest): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    digest.update(chunk);
    yield chunk;
  }
}

/** Inserts the NDJSON documents of one collection, a batch at a time; ids already there are skipped. */
async function restoreCollection(db: Db, name: string, body: AsyncIterable<Buffer>, onProgress?: (n: number) => void): Promise<void> {
  await ensureCollection(db, name);
  const collection = db.collection(name);
  let batch: Document[] = [];
  const flush = async () => {
    if (!batch.length) return;
    await insertBatch(collection, batch);
    onProgress?.(batch.length);
    batch = [];
  };
  let rest = Buffer.alloc(0);
  let line = 0;
  const parse = async (raw: Buffer) => {
    line++;
    if (!raw.length) return;
    try {
      batch.push(BSON.EJSON.parse(raw.toString('utf8'), { relaxed: false }) as Document);
    } catch (e) {
      throw new BackupError('corrupt', `${name}: line ${line} is not Extended JSON: ${(e as Error).message}`);
    }
    if (batch.length >= BATCH) await flush();
  };
  for await (const chunk of body) {
    let data = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let nl: number;
    while ((nl = data.indexOf(0x0a)) !== -1) {
      await parse(data.subarray(0, nl));
      data = data.subarray(nl + 1);
    }
    rest = Buffer.from(data);
  }
  if (rest.length) await parse(rest);
  await flush();
}

async function insertBatch(collection: ReturnType<Db['collection']>, batch: Document[]): Promise<void> {
  try {
    await collection.insertMany(batch, { ordered: false });
  } catch (e) {
    const failed = duplicateIndexes(e);
    if (!failed) throw e;
    // a duplicate is fine only when it is the same document again (a resumed import), never a
    // different document that happens to share a unique value
    const ids = failed.map((i) => (batch[i] as Document)._id as unknown);
    const present = await collection.countDocuments({ _id: { $in: ids } } as unknown as Filter<Document>);
    if (present !== ids.length) throw e;
  }
}

/** The batch positions that failed only for duplicate keys, or undefined for any other failure. */
function duplicateIndexes(e: unknown): number[] | undefined {
  if (e instanceof MongoBulkWriteError) {
    const errors = Array.isArray(e.writeErrors) ? e.writeErrors : [e.writeErrors];
    if (!errors.length || e.writeConcernError) return undefined;
    if (!errors.every((w) => w.code === 11000 || (w.code === 1 && /UNIQUE constraint failed/.test(w.errmsg ?? '')))) return undefined;
    return errors.map((w) => w.index);
  }
  return undefined;
}

/** Uploads running side by side, each holding back the position of its member until it is stored. */
class Uploads {
  private readonly running = new Map<number, Promise<void>>();
  private failure: unknown;

  constructor(private readonly max: number) {}

  /** Starts an upload; waits while `max` are running. Throws the first failure of any upload. */
  async add(position: number, upload: () => Promise<void>): Promise<void> {
    const run = upload().then(
      () => {
        this.running.delete(position);
      },
      (e: unknown) => {
        this.failure ??= e;
      },
    );
    this.running.set(position, run);
    while (this.running.size >= this.max && this.failure === undefined) await Promise.race(this.running.values());
    this.check();
  }

  async drain(): Promise<void> {
    await Promise.all(this.running.values());
    this.check();
  }

  /** The first member whose upload has not finished. */
  lowest(): number | undefined {
    return this.running.size ? Math.min(...this.running.keys()) : undefined;
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
