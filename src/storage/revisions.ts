// Every write of an entry first claims its next version here: inserting `<type>/<id>/<version>`
// succeeds for exactly one writer, because a unique _id is the one write both MongoDB and FerretDB
// make atomic under concurrency (FerretDB's conditional updates are not). The record holds the full
// document (and, for a type with drafts, the published snapshot the write leaves), so a claim whose
// writer died can be rolled forward, and it is the entry's version history.
import { type Db } from 'mongodb';
import { isDuplicateKey, type StoredEntry } from './entries.js';

/** What a version records; webhooks name their entry events after these. */
export const REVISION_ACTIONS = ['create', 'update', 'delete', 'publish', 'unpublish', 'discard', 'restore', 'migrate'] as const;
export type RevisionAction = (typeof REVISION_ACTIONS)[number];

export interface Revision {
  _id: string;
  type: string;
  entryId: string;
  version: number;
  action: RevisionAction;
  at: string;
  /** Who: a user id, `token:<id>`, `schedule:<id>` or `system`. */
  by: string;
  /** The entry as written; null for a delete. */
  doc: StoredEntry | null;
  /** Types with drafts: the published snapshot this write leaves (null: none). Absent: unchanged. */
  published?: StoredEntry | null;
  /** A restore: the version it brought back. */
  from?: number;
  /** The schedule that did it. */
  schedule?: string;
  /** Locales whose values changed (`*`: all). */
  locales: string[];
  /** Whether what readers see changed. */
  public: boolean;
  /** Appended to the change log; a write whose process died before that is appended by the sweep. */
  logged: boolean;
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
      if (isDuplicateKey(err)) return false;
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

  /** An entry's versions, newest first, without their documents. */
  async list(type: string, entryId: string, limit: number, before?: number): Promise<Omit<Revision, 'doc' | 'published'>[]> {
    const filter = before === undefined ? { type, entryId } : { type, entryId, version: { $lt: before } };
    return this.collection.find(filter, { projection: { doc: 0, published: 0 } }).sort({ version: -1 }).limit(limit).toArray();
  }

  /** The version a schedule wrote, if it did. */
  async bySchedule(type: string, entryId: string, schedule: string): Promise<Revision | null> {
    return this.collection.findOne({ type, entryId, schedule });
  }

  async markLogged(type: string, entryId: string, version: number): Promise<void> {
    await this.collection.updateOne({ _id: revisionId(type, entryId, version) }, { $set: { logged: true } });
  }

  /** Writes older than `before` that never reached the change log. */
  async unlogged(before: string, limit: number): Promise<Revision[]> {
    return this.collection.find({ logged: false, at: { $lt: before } }).sort({ at: 1 }).limit(limit).toArray();
  }

  /**
   * Drops the version that `version` pushed out of the newest `keep`: one lookup by _id, which
   * FerretDB answers without a scan. Every 100th version also sweeps everything older (versions
   * left behind when `keep` was lowered).
   */
  async prune(type: string, entryId: string, version: number, keep: number): Promise<void> {
    const oldest = version - keep;
    if (oldest < 1) return;
    if (version % 100 === 0) await this.collection.deleteMany({ type, entryId, version: { $lte: oldest }, logged: true });
    else await this.collection.deleteOne({ _id: revisionId(type, entryId, oldest), logged: true });
  }
}
