// The change log: one record per write of content or media, numbered 1, 2, 3… with no gaps. The
// sync feed, cache invalidation and webhooks read it.
//
// A record's sequence number is its _id. A writer inserts `last + 1`, where `last` is a number it
// has seen stored; the unique _id lets exactly one writer have each number, and a loser looks again
// and tries the next one. So a number is only ever taken once the one before it is stored: a reader
// that sees record n sees every record before it, whichever process wrote them. (A counter document
// with $inc would do, but FerretDB's upserts are not atomic under concurrency, and a number taken by
// a writer that then died would leave a gap.)
import type { Db } from 'mongodb';
import { isDuplicateKey } from './entries.js';

export interface Change {
  /** The sequence number. */
  _id: number;
  at: string;
  kind: 'entry' | 'media';
  /** The content type (entries only). */
  type?: string;
  id: string;
  action: string;
  /** The entry version written (entries only). */
  version?: number;
  /** Locales whose values changed; `*` for all. */
  locales: string[];
  /** Whether what readers (the public, published view) see changed. */
  public: boolean;
}

const MAX_ATTEMPTS = 200;

export class ChangeLog {
  /** The highest sequence number this process has seen stored. */
  private last = 0;

  constructor(private readonly db: Db) {}

  private get collection() {
    return this.db.collection<Change>('changes');
  }

  private async newest(): Promise<number> {
    const [row] = await this.collection.find({ _id: { $gte: this.last } }, { projection: { _id: 1 } }).sort({ _id: -1 }).limit(1).toArray();
    return row?._id ?? this.last;
  }

  /** Appends a record and returns its sequence number. */
  async append(change: Omit<Change, '_id'>): Promise<number> {
    let next = (await this.newest()) + 1;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        await this.collection.insertOne({ _id: next, ...change });
        this.last = Math.max(this.last, next);
        return next;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // taken: someone stored `next`, so it is safe to look from there
        this.last = Math.max(this.last, next);
        next = (await this.newest()) + 1;
        // many writers at once: spread them out a little
        if (attempt > 3) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 2)));
      }
    }
    throw new Error('the change log is too busy to append to');
  }

  /** Records after `since`, oldest first. */
  async since(since: number, limit: number): Promise<Change[]> {
    return this.collection.find({ _id: { $gt: since } }).sort({ _id: 1 }).limit(limit).toArray();
  }

  /** The newest sequence number (0 when the log is empty). */
  async head(): Promise<number> {
    this.last = await this.newest();
    return this.last;
  }
}
