// Entries of each content type live in their own collection, `content_<type>`. No rules here:
// reads, conditional writes and indexes. Duplicate keys come back as a conflict naming the field.
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

export interface IndexSpec {
  field: string;
  unique: boolean;
}

const INDEX_PREFIX = 'cms_';
const indexName = (spec: IndexSpec) => `${INDEX_PREFIX}${spec.unique ? 'unique' : 'index'}_${spec.field}`;

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

  private collection(type: string) {
    return this.db.collection<StoredEntry>(`content_${type}`);
  }

  /**
   * Which unique field a duplicate-key error was about. MongoDB names it in keyPattern; FerretDB
   * does not, so ask: which unique value is already held by another entry?
   */
  private async duplicateField(type: string, entry: StoredEntry, unique: string[], isInsert: boolean, err: MongoServerError): Promise<DuplicateKeyError> {
    const fromPattern = err.keyPattern ? Object.keys(err.keyPattern)[0] : undefined;
    if (fromPattern) return new DuplicateKeyError(fromPattern);
    const collection = this.collection(type);
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

  async findById(type: string, id: string, projection?: Document): Promise<StoredEntry | null> {
    return this.collection(type).findOne({ _id: id }, projection ? { projection } : {});
  }

  async find(type: string, options: FindOptions): Promise<StoredEntry[]> {
    const cursor = this.collection(type)
      .find(options.filter, options.projection ? { projection: options.projection } : {})
      .sort(options.sort)
      .limit(options.limit);
    if (options.skip) cursor.skip(options.skip);
    return cursor.toArray();
  }

  async count(type: string, filter: Filter<StoredEntry>): Promise<number> {
    return this.collection(type).countDocuments(filter);
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
  async syncIndexes(type: string, specs: IndexSpec[]): Promise<{ created: string[]; dropped: string[] }> {
    const collection = this.collection(type);
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
