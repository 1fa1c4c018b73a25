// Leases fenced against FerretDB's non-atomic findOneAndUpdate, shared by schedules and webhook
// deliveries. A claim takes a due item with a lease (findOneAndUpdate), then inserts the fence
// `<item>/<attempts before the claim>`: of several claimers that read the same state, only the one
// whose insert wins proceeds. A losing claim's write can land after the winner finished, putting the
// item back to its claimed state, so the outcome is kept on the fence too and a loser copies it back.
import type { Collection, Document, Sort } from 'mongodb';
import { isDuplicateKey } from './entries.js';

export interface Claimable {
  _id: string;
  attempts: number;
  claimedBy?: string | null;
  /** Of a claim (not stored in the item): the fence this claimer holds. */
  fence?: string;
}

export interface Fence<T> {
  _id: string;
  at: string;
  runner: string;
  outcome?: Partial<T>;
}

export interface ClaimRules<T> {
  /** The filter of items that may be claimed at `at` (due, or whose claimer's lease ran out). */
  due(at: string): Document;
  /** The state a claimed item is in. */
  claimedState: string;
  /** Which due item first. */
  sort: Sort;
  /** How many lost races to retry before giving up for now. */
  tries: number;
}

/** The driver's typing cannot follow a generic T through filters and updates: these are untyped views. */
type Untyped = Collection<{ _id: string } & Document>;

export class FencedClaims<T extends Claimable> {
  constructor(
    private readonly items: Collection<T>,
    private readonly fences: Collection<Fence<T>>,
    private readonly rules: ClaimRules<T>,
  ) {}

  /** Claims one due item for `runner`; null when none. */
  async claim(now: Date, leaseMs: number, runner: string): Promise<T | null> {
    const at = now.toISOString();
    const items = this.items as unknown as Untyped;
    const fences = this.fences as unknown as Untyped;
    for (let tries = 0; tries < this.rules.tries; tries++) {
      const before = (await items.findOneAndUpdate(
        this.rules.due(at),
        { $set: { state: this.rules.claimedState, claimedBy: runner, leaseUntil: new Date(now.getTime() + leaseMs).toISOString() }, $inc: { attempts: 1 } },
        { sort: this.rules.sort, returnDocument: 'before' },
      )) as T | null;
      if (!before) return null;
      const fence = `${before._id}/${before.attempts}`;
      try {
        await fences.insertOne({ _id: fence, at, runner });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // another claimer fenced first; if it has finished, our claim's write may have undone that
        const won = (await fences.findOne({ _id: fence })) as Fence<T> | null;
        if (won?.outcome) await items.updateOne({ _id: before._id }, { $set: won.outcome });
        continue;
      }
      return { ...before, state: this.rules.claimedState, claimedBy: runner, attempts: before.attempts + 1, fence };
    }
    return null;
  }

  /** The fence of a claim whose claimer may still finish it (none when a later claim took over). */
  async held(item: T): Promise<Fence<T> | null> {
    const fences = this.fences as unknown as Untyped;
    const fence = item.fence ? ((await fences.findOne({ _id: item.fence })) as Fence<T> | null) : null;
    if (!fence || fence.runner !== item.claimedBy) return null;
    // a later claim (our lease ran out meanwhile) owns the outcome now
    if (await fences.findOne({ _id: `${item._id}/${item.attempts}` }, { projection: { _id: 1 } })) return null;
    return fence;
  }

  /** Records a held claim's outcome: on the fence first (a late losing claim copies it back), then the item. */
  async finish(item: T, outcome: Partial<T>): Promise<void> {
    await (this.fences as unknown as Untyped).updateOne({ _id: item.fence! }, { $set: { outcome } });
    await (this.items as unknown as Untyped).updateOne({ _id: item._id }, { $set: outcome });
  }

  /** Removes fences older than `before`. */
  async prune(before: string): Promise<void> {
    await (this.fences as unknown as Untyped).deleteMany({ at: { $lt: before } });
  }
}
