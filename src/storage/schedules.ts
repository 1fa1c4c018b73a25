// Scheduled publish and unpublish. A runner claims a due schedule with a lease; a claim whose lease
// ran out (its process died) can be claimed again. Claims are fenced (src/storage/claims.ts): only
// the fence's owner may finish the run (the document's own `claimedBy` is whichever racing claim was
// written last).
import { ObjectId, type Db } from 'mongodb';
import { FencedClaims, type Fence } from './claims.js';

export type ScheduleAction = 'publish' | 'unpublish';
export type ScheduleState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

export interface Schedule {
  _id: string;
  type: string;
  entryId: string;
  action: ScheduleAction;
  /** When it is due (UTC ISO-8601). */
  at: string;
  state: ScheduleState;
  createdBy: string;
  createdAt: string;
  /** Claims so far. */
  attempts: number;
  claimedBy?: string;
  leaseUntil?: string;
  finishedAt?: string;
  /** The draft's version when it was scheduled: later edits must come from someone who may publish. */
  draftVersion?: number;
  /** The entry version the run wrote (none when there was nothing to do). */
  version?: number;
  error?: { code: string; message: string };
  /** Of a claim (not stored in the schedule): the fence this runner holds. */
  fence?: string;
}

export class SchedulesRepository {
  private readonly claims: FencedClaims<Schedule>;

  constructor(private readonly db: Db) {
    this.claims = new FencedClaims(this.collection, this.db.collection<Fence<Schedule>>('schedule_claims'), {
      due: (at) => ({ $or: [{ state: 'pending', at: { $lte: at } }, { state: 'running', leaseUntil: { $lt: at } }] }),
      claimedState: 'running',
      sort: { at: 1 },
      tries: 10,
    });
  }

  private get collection() {
    return this.db.collection<Schedule>('schedules');
  }



  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ state: 1, at: 1 }, { name: 'cms_state_at' });
    await this.collection.createIndex({ type: 1, entryId: 1 }, { name: 'cms_entry' });
  }

  async create(s: Omit<Schedule, '_id' | 'state' | 'attempts'>): Promise<Schedule> {
    const doc: Schedule = { _id: new ObjectId().toHexString(), state: 'pending', attempts: 0, ...s };
    await this.collection.insertOne(doc);
    return doc;
  }

  async get(id: string): Promise<Schedule | null> {
    return this.collection.findOne({ _id: id });
  }

  async list(filter: { type?: string; entryId?: string; state?: ScheduleState }, limit: number): Promise<Schedule[]> {
    const query: Record<string, string> = {};
    if (filter.type) query.type = filter.type;
    if (filter.entryId) query.entryId = filter.entryId;
    if (filter.state) query.state = filter.state;
    return this.collection.find(query).sort({ at: 1, _id: 1 }).limit(limit).toArray();
  }

  /** Cancels a pending schedule; false when it is not pending (any more). */
  async cancel(id: string, at: string): Promise<boolean> {
    const result = await this.collection.updateOne({ _id: id, state: 'pending' }, { $set: { state: 'cancelled', finishedAt: at } });
    return result.modifiedCount === 1;
  }

  /** Claims one due schedule (or one whose claimer's lease ran out) for `runner`; null when none. */
  claim(now: Date, leaseMs: number, runner: string): Promise<Schedule | null> {
    return this.claims.claim(now, leaseMs, runner);
  }

  /** Ends a claimed run, if this runner still holds its fence. */
  async finish(s: Schedule, outcome: Pick<Schedule, 'state' | 'version' | 'error'>, at: string): Promise<boolean> {
    const fence = await this.claims.held(s);
    if (!fence) return false;
    const set: Partial<Schedule> = { state: outcome.state, finishedAt: at, claimedBy: fence.runner, attempts: s.attempts };
    if (outcome.version !== undefined) set.version = outcome.version;
    if (outcome.error) set.error = outcome.error;
    await this.claims.finish(s, set);
    return true;
  }

  /** Removes the claim fences of schedules that ended before `before`. */
  async pruneFences(before: string): Promise<void> {
    await this.claims.prune(before);
  }
}
