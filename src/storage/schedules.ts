// Scheduled publish and unpublish. A runner claims a due schedule with a lease (findOneAndUpdate);
// a claim whose lease ran out (its process died) can be claimed again. FerretDB does not make
// findOneAndUpdate atomic under concurrency, so each claim is also fenced by inserting
// `<schedule>/<attempts before the claim>`: only one of several runners that read the same state
// can insert it, and only the fence's owner may finish the run (the document's own `claimedBy` is
// whichever racing claim was written last). A losing claim's write can even land after the winner
// finished, putting the schedule back to `running`: the outcome is kept on the fence too, and a
// loser copies it back.
import { ObjectId, type Db } from 'mongodb';
import { isDuplicateKey } from './entries.js';

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
  constructor(private readonly db: Db) {}

  private get collection() {
    return this.db.collection<Schedule>('schedules');
  }

  private get fences() {
    return this.db.collection<{ _id: string; at: string; runner: string; outcome?: Partial<Schedule> }>('schedule_claims');
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
  async claim(now: Date, leaseMs: number, runner: string): Promise<Schedule | null> {
    const at = now.toISOString();
    for (let tries = 0; tries < 10; tries++) {
      const before = await this.collection.findOneAndUpdate(
        { $or: [{ state: 'pending', at: { $lte: at } }, { state: 'running', leaseUntil: { $lt: at } }] },
        { $set: { state: 'running', claimedBy: runner, leaseUntil: new Date(now.getTime() + leaseMs).toISOString() }, $inc: { attempts: 1 } },
        { sort: { at: 1 }, returnDocument: 'before' },
      );
      if (!before) return null;
      const fence = `${before._id}/${before.attempts}`;
      try {
        await this.fences.insertOne({ _id: fence, at, runner });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // another runner read the same state and fenced first; if it has finished, our claim's
        // write may have undone that: put its outcome back
        const won = await this.fences.findOne({ _id: fence });
        if (won?.outcome) await this.collection.updateOne({ _id: before._id }, { $set: won.outcome });
        continue;
      }
      return { ...before, state: 'running', claimedBy: runner, attempts: before.attempts + 1, fence };
    }
    return null;
  }

  /** Ends a claimed run, if this runner still holds its fence. */
  async finish(s: Schedule, outcome: Pick<Schedule, 'state' | 'version' | 'error'>, at: string): Promise<boolean> {
    const fence = s.fence ? await this.fences.findOne({ _id: s.fence }) : null;
    if (!fence || fence.runner !== s.claimedBy) return false;
    // a later claim (our lease ran out meanwhile) owns the outcome now
    if (await this.fences.findOne({ _id: `${s._id}/${s.attempts}` }, { projection: { _id: 1 } })) return false;
    const set: Partial<Schedule> = { state: outcome.state, finishedAt: at, claimedBy: fence.runner, attempts: s.attempts };
    if (outcome.version !== undefined) set.version = outcome.version;
    if (outcome.error) set.error = outcome.error;
    await this.fences.updateOne({ _id: s.fence! }, { $set: { outcome: set } });
    await this.collection.updateOne({ _id: s._id }, { $set: set });
    return true;
  }

  /** Removes the claim fences of schedules that ended before `before`. */
  async pruneFences(before: string): Promise<void> {
    await this.fences.deleteMany({ at: { $lt: before } });
  }
}
