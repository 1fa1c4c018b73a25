// The change log: one record per write of content or media, numbered 1, 2, 3… with no gaps. The
// sync feed, cache invalidation and webhooks read it.
//
// A record's sequence number is its _id. A writer inserts `last + 1`, where `last` is a number it
// knows is stored; the unique _id lets exactly one writer have each number, and a loser moves on to
// the next. So a number is only ever taken once the one before it is stored: a reader that sees
// record n sees every record before it, whichever process wrote them. (A counter document with $inc
// would do, but FerretDB's upserts are not atomic under concurrency, and a number taken by a writer
// that then died would leave a gap.) Where to start looking comes from a small `change_head`
// document, only ever a hint: range queries are scans on FerretDB, lookups by _id are cheap.
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

const MAX_ATTEMPTS = 500;
/** Probes past the hint before asking the log itself where it ends. */
const MAX_PROBES = 20;

export class ChangeLog {
  /** The highest sequence number this process knows is stored. */
  private last = 0;

  constructor(private readonly db: Db) {}

  private get collection() {
    return this.db.collection<Change>('changes');
  }

  private get heads() {
    return this.db.collection<{ _id: string; seq: number }>('change_head');
  }

  /** Where to start: the hint, or this process's own newest, whichever is further. */
  private async hint(): Promise<number> {
    const doc = await this.heads.findOne({ _id: 'head' });
    return Math.max(this.last, doc?.seq ?? 0);
  }

  /** The newest number stored, from the log itself (a scan on FerretDB: only when the hint is far off). */
  private async newest(): Promise<number> {
    const [row] = await this.collection.find({ _id: { $gte: this.last } }, { projection: { _id: 1 } }).sort({ _id: -1 }).limit(1).toArray();
    return row?._id ?? this.last;
  }

  /** The appends of this process, one after another: only other processes race for a number. */
  private queue: Promise<unknown> = Promise.resolve();

  private readonly listeners: ((change: Omit<Change, '_id'>, seq: number | undefined) => void)[] = [];

  /** Told of each append of this process before the writer hears back (`seq` undefined: it failed). */
  onAppend(listener: (change: Omit<Change, '_id'>, seq: number | undefined) => void): void {
    this.listeners.push(listener);
  }

  /** Appends a record and returns its sequence number. */
  append(change: Omit<Change, '_id'>): Promise<number> {
    const tell = (seq: number | undefined) => {
      for (const listener of this.listeners) listener(change, seq);
    };
    const result = this.queue.then(() => this.insert(change)).then(
      (seq) => {
        tell(seq);
        return seq;
      },
      (err: unknown) => {
        tell(undefined);
        throw err;
      },
    );
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** One record, by its number (a cheap lookup, where ranges are scans on FerretDB). */
  async get(seq: number): Promise<Change | null> {
    return this.collection.findOne({ _id: seq });
  }

  /** Where the log ends, as the head hint says (cheap; it may lag a little behind). */
  async hinted(): Promise<number> {
    return (await this.heads.findOne({ _id: 'head' }))?.seq ?? 0;
  }

  private async insert(change: Omit<Change, '_id'>): Promise<number> {
    let next = (await this.hint()) + 1;
    let probes = 0;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        await this.collection.insertOne({ _id: next, ...change });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // taken, so `next` is stored: the one after it is the next candidate
        this.last = Math.max(this.last, next);
        next = ++probes > MAX_PROBES ? (await this.newest()) + 1 : next + 1;
        if (probes > MAX_PROBES) probes = 0;
        // many writers at once: spread them out a little
        if (attempt > 5) await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, attempt)));
        continue;
      }
      this.last = Math.max(this.last, next);
      await this.moveHead(next);
      return next;
    }
    throw new Error('the change log is too busy to append to');
  }

  /** Moves the hint forward (a hint that lags or even slips back only costs a few probes). */
  private async moveHead(seq: number): Promise<void> {
    try {
      await this.heads.updateOne({ _id: 'head' }, { $max: { seq } }, { upsert: true });
    } catch (err) {
      // two first upserts at once: the other one made the document
      if (!isDuplicateKey(err)) throw err;
    }
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
