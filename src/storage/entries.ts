// Entries of each content type live in their own collection, `content_<type>`: the working copy
// (for a type with drafts, the draft). A type with drafts keeps what readers see, the published
// snapshots, in `published_<type>`. No rules here: reads, conditional writes and indexes. Duplicate
// keys come back as a conflict naming the field.
import { MongoServerError, type Db, type Document, type Filter, type Sort } from 'mongodb';

export interface StoredEntry {
  _id: string;
  _type: string;
  _version: number;
  _createdAt: string;
  _updatedAt: string;
  [field: string]: unknown;
}

export interface FindOptions {
  filter: Filter<StoredEntry>;
  sort: Sort;
  limit: number;
  skip?: number;
  projection?: Document;
}

/** Which copy: the working one (drafts), or the published snapshots of a type with drafts. */
export type View = 'draft' | 'published';

export interface IndexSpec {
  field: string;
  unique: boolean;
}

/** Indexes named so are ours: built from the types' declarations, dropped when no longer declared. */
export const INDEX_PREFIX = 'cms_';
export const indexName = (spec: IndexSpec) => `${INDEX_PREFIX}${spec.unique ? 'unique' : 'index'}_${spec.field}`;

/** MongoDB says 11000; FerretDB (SQLite) says so on insert but reports an update's clash as code 1. */
export const isDuplicateKey = (err: unknown): err is MongoServerError =>
  err instanceof MongoServerError && (err.code === 11000 || (err.code === 1 && /UNIQUE constraint failed/.test(err.message)));

/** A unique value is taken. `field` is `_id`, a unique field, or undefined when it cannot be told. */
export class DuplicateKeyError extends Error {
  constructor(readonly field: string | undefined) {
    super(field ? `duplicate value of ${field}` : 'duplicate key');
    this.name = 'DuplicateKeyError';
  }
}

export class EntriesRepository {
  constructor(private readonly db: Db) {}

  private collection(type: string, view: View = 'draft') {
    return this.db.collection<StoredEntry>(`${view === 'draft' ? 'content' : 'published'}_${type}`);
  }

  /**
   * Which unique field a duplicate-key error was about. MongoDB names it in keyPattern; FerretDB
   * does not, so ask: which unique value is already held by another entry?
   */
  private async duplicateField(type: string, entry: StoredEntry, unique: string[], isInsert: boolean, err: MongoServerError, view: View = 'draft'): Promise<DuplicateKeyError> {
    const fromPattern = err.keyPattern ? Object.keys(err.keyPattern)[0] : undefined;
    if (fromPattern) return new DuplicateKeyError(fromPattern);
    const collection = this.collection(type, view);
    if (isInsert && (await collection.countDocuments({ _id: entry._id }, { limit: 1 }))) return new DuplicateKeyError('_id');
    for (const field of unique) {
      const taken = await collection.countDocuments({ [field]: entry[field], _id: { $ne: entry._id } }, { limit: 1 });
      if (taken) return new DuplicateKeyError(field);
    }
    return new DuplicateKeyError(undefined);
  }

  async insert(type: string, entry: StoredEntry, unique: string[]): Promise<void> {
    try {
      await this.collection(type).insertOne(entry);
    } catch (err) {
      if (isDuplicateKey(err)) throw await this.duplicateField(type, entry, unique, true, err);
      throw err;
    }
  }

  async findById(type: string, id: string, projection?: Document, view: View = 'draft'): Promise<StoredEntry | null> {
    return this.collection(type, view).findOne({ _id: id }, projection ? { projection } : {});
  }

  /** Entries by id, in one query. */
  async findByIds(type: string, ids: string[], view: View, projection?: Document): Promise<StoredEntry[]> {
    if (!ids.length) return [];
    return this.collection(type, view).find({ _id: { $in: ids } }, projection ? { projection } : {}).toArray();
  }

  async find(type: string, options: FindOptions, view: View = 'draft'): Promise<StoredEntry[]> {
    const cursor = this.collection(type, view)
      .find(options.filter, options.projection ? { projection: options.projection } : {})
      .sort(options.sort)
      .limit(options.limit);
    if (options.skip) cursor.skip(options.skip);
    return cursor.toArray();
  }

  async count(type: string, filter: Filter<StoredEntry>, view: View = 'draft'): Promise<number> {
    return this.collection(type, view).countDocuments(filter);
  }

  /**
   * Makes `doc` the published snapshot unless a newer one is there already (a late writer of an
   * older publish must not undo a newer one). `sameVersion`: also replace a snapshot at the same
   * version (a migration rewrites a snapshot where it stands).
   */
  async putPublished(type: string, doc: StoredEntry, unique: string[], sameVersion = false): Promise<void> {
    const collection = this.collection(type, 'published');
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const replaced = await collection.replaceOne({ _id: doc._id, _version: sameVersion ? { $lte: doc._version } : { $lt: doc._version } }, doc);
        if (replaced.matchedCount) return;
      } catch (err) {
        // the snapshot is there, so the clash is on a unique field
        if (isDuplicateKey(err)) throw await this.duplicateField(type, doc, unique, false, err, 'published');
        throw err;
      }
      try {
        await collection.insertOne(doc);
        // a publish that was slow to get here must not bring back what a later unpublish or delete
        // removed: then the working copy is a draft at a newer version, or gone
        const draft = await this.collection(type).findOne({ _id: doc._id }, { projection: { _version: 1, _status: 1 } });
        if (!draft || (draft._version > doc._version && draft._status === 'draft')) await collection.deleteOne({ _id: doc._id, _version: doc._version });
        return;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const existing = await collection.findOne({ _id: doc._id }, { projection: { _version: 1 } });
        if (!existing) throw await this.duplicateField(type, doc, unique, false, err, 'published');
        if (existing._version >= doc._version) return;
      }
    }
    throw new Error(`the published snapshot of ${type}/${doc._id} kept changing`);
  }

  /** Whether the type had drafts when a server last started (undefined: never recorded). */
  async hadDrafts(type: string): Promise<boolean | undefined> {
    return (await this.db.collection<{ _id: string; drafts: boolean }>('type_states').findOne({ _id: type }))?.drafts;
  }

  async rememberDrafts(type: string, drafts: boolean): Promise<void> {
    try {
      await this.db.collection<{ _id: string; drafts: boolean }>('type_states').updateOne({ _id: type }, { $set: { drafts } }, { upsert: true });
    } catch (err) {
      // two servers starting at once: the other one recorded it
      if (!isDuplicateKey(err)) throw err;
    }
  }

  /**
   * A type that (again) has drafts: while it had none, every entry was live. Each entry that is not
   * a draft becomes (or updates) its published snapshot, and snapshots of entries deleted meanwhile
   * go. Returns how many snapshots were written and removed; entries whose unique value clashes with
   * another snapshot are left as drafts and listed.
   */
  async reconcilePublished(type: string, unique: string[]): Promise<{ published: number; removed: number; clashes: string[] }> {
    const drafts = this.collection(type);
    const snapshots = this.collection(type, 'published');
    await drafts.updateMany({ _status: { $exists: false } }, { $set: { _status: 'published' } });
    const live = await drafts.find({ _status: 'published' }).toArray();
    let published = 0;
    const clashes: string[] = [];
    for (const entry of live) {
      try {
        await this.putPublished(type, { ...entry, _publishedAt: entry._publishedAt ?? entry._updatedAt }, unique);
        published++;
      } catch (err) {
        if (!(err instanceof DuplicateKeyError)) throw err;
        await drafts.updateOne({ _id: entry._id, _version: entry._version }, { $set: { _status: 'draft' } });
        clashes.push(entry._id);
      }
    }
    const ids = new Set((await drafts.find({}, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
    const orphans = (await snapshots.find({}, { projection: { _id: 1 } }).toArray()).filter((d) => !ids.has(d._id)).map((d) => d._id);
    if (orphans.length) await snapshots.deleteMany({ _id: { $in: orphans } });
    return { published, removed: orphans.length, clashes };
  }

  /** Removes the published snapshot if it is older than `version`. */
  async removePublished(type: string, id: string, version: number): Promise<void> {
    await this.collection(type, 'published').deleteOne({ _id: id, _version: { $lt: version } });
  }

  /** Replaces the entry only if it is still at `version`; null when it moved on or is gone. */
  async replaceIfVersion(type: string, id: string, version: number, entry: StoredEntry, unique: string[]): Promise<boolean> {
    try {
      const result = await this.collection(type).replaceOne({ _id: id, _version: version }, entry);
      return result.matchedCount === 1;
    } catch (err) {
      if (isDuplicateKey(err)) throw await this.duplicateField(type, entry, unique, false, err);
      throw err;
    }
  }

  /** Deletes the entry, only at `version` when one is given. */
  async delete(type: string, id: string, version?: number): Promise<boolean> {
    const filter: Filter<StoredEntry> = version === undefined ? { _id: id } : { _id: id, _version: version };
    const result = await this.collection(type).deleteOne(filter);
    return result.deletedCount === 1;
  }

  /** Creates the declared indexes and drops ours that are no longer declared. */
  async syncIndexes(type: string, specs: IndexSpec[], view: View = 'draft'): Promise<{ created: string[]; dropped: string[] }> {
    const collection = this.collection(type, view);
    const wanted = new Map(specs.map((s) => [indexName(s), s]));
    let existing: string[] = [];
    try {
      existing = (await collection.listIndexes().toArray()).map((i) => String(i.name));
    } catch (err) {
      // a collection that does not exist yet has no indexes
      if (!(err instanceof MongoServerError && err.codeName === 'NamespaceNotFound')) throw err;
    }
    const created: string[] = [];
    const dropped: string[] = [];
    for (const name of existing) {
      if (name.startsWith(INDEX_PREFIX) && !wanted.has(name)) {
        await collection.dropIndex(name);
        dropped.push(name);
      }
    }
    for (const [name, spec] of wanted) {
      if (existing.includes(name)) continue;
      try {
        await collection.createIndex({ [spec.field]: 1 }, { name, unique: spec.unique });
      } catch (err) {
        if (isDuplicateKey(err)) {
          throw new Error(`cannot create the unique index on ${type}.${spec.field}: existing entries share a value (${(err as Error).message})`);
        }
        throw err;
      }
      created.push(name);
    }
    return { created, dropped };
  }
}
