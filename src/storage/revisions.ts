// Every write of an entry first claims its next version here: inserting `<type>/<id>/<version>`
// succeeds for exactly one writer, because a unique _id is the one write both MongoDB and FerretDB
// make atomic under concurrency (FerretDB's conditional updates are not). The record holds the full
// document, so a claim whose writer died can be rolled forward, and it is the entry's history.
import { MongoServerError, type Db } from 'mongodb';
import type { StoredEntry } from './entries.js';

export type RevisionAction = 'create' | 'update' | 'delete';

export interface Revision {
  _id: string;
  type: string;
  entryId: string;
  version: number;
  action: RevisionAction;
  at: string;
  /** The entry as written; null for a delete. */
  doc: StoredEntry | null;
}

const revisionId = (type: string, entryId: string, version: number) => `${type}/${entryId}/${version}`;

export class RevisionsRepository {
  constructor(private readonly db: Db) {}

  private get collection() {
    return this.db.collection<Revision>('revisions');
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ type: 1, entryId: 1, version: -1 }, { name: 'cms_entry_version' });
  }

  /** True when this writer now owns the version; false when another writer took it first. */
  async claim(rev: Omit<Revision, '_id'>): Promise<boolean> {
    try {
      await this.collection.insertOne({ _id: revisionId(rev.type, rev.entryId, rev.version), ...rev });
      return true;
    } catch (err) {
      if (err instanceof MongoServerError && err.code === 11000) return false;
      throw err;
    }
  }

  async release(type: string, entryId: string, version: number): Promise<void> {
    await this.collection.deleteOne({ _id: revisionId(type, entryId, version) });
  }

  async get(type: string, entryId: string, version: number): Promise<Revision | null> {
    return this.collection.findOne({ _id: revisionId(type, entryId, version) });
  }

  async latest(type: string, entryId: string): Promise<Revision | null> {
    return this.collection.findOne({ type, entryId }, { sort: { version: -1 } });
  }
}
