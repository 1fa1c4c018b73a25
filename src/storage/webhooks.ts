// Webhooks, their deliveries, and the dispatcher's bookkeeping.
//
// Deliveries are made from the change log (the outbox): a dispatcher reads the log past a cursor
// and inserts one delivery per matching change and webhook, with the deterministic _id
// `<webhook>-<seq>`. However many processes read the same change, the unique _id lets one insert
// win, so each delivery exists once; the cursor is only a hint of where to read from (it may lag
// or even slip back: the inserts that follow are refused as duplicates). The debounced
// `site.publish` delivery of a burst is `<webhook>-site-<seq of the burst's first change>`.
//
// Sending is claimed per delivery with a lease fenced as schedules are (src/storage/claims.ts):
// several processes may read the same pending delivery; only the one that inserts the fence sends.
import { ObjectId, type Db } from 'mongodb';
import type { Change } from './changes.js';
import { FencedClaims, type Fence } from './claims.js';
import { isDuplicateKey } from './entries.js';
import { REVISION_ACTIONS } from './revisions.js';

export const ENTRY_ACTIONS = REVISION_ACTIONS;
export const MEDIA_ACTIONS = ['create', 'update', 'delete'] as const;
export const EVENTS: readonly string[] = [
  'entry.*',
  ...ENTRY_ACTIONS.map((a) => `entry.${a}`),
  'media.*',
  ...MEDIA_ACTIONS.map((a) => `media.${a}`),
  'site.publish',
];

export interface Webhook {
  _id: string;
  url: string;
  events: string[];
  /** Content types whose entry changes count (all when absent). */
  types?: string[];
  /** The signing key, kept as given (it signs): never returned after create. */
  secret: string;
  enabled: boolean;
  description: string;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
  /** The change log's head when it was created (or last enabled): it hears of changes after it. */
  since: number;
}

export type DeliveryState = 'pending' | 'sending' | 'succeeded' | 'failed';

export interface DeliveryResponse {
  at: string;
  /** The HTTP status, or 0 when there was none (refused, timed out, connection failed). */
  status: number;
  ms: number;
  error?: string;
}

export interface Delivery {
  _id: string;
  webhook: string;
  event: string;
  /** The change's sequence number (the first of a site.publish burst). */
  seq: number;
  /** The last change of a site.publish burst. */
  lastSeq?: number;
  payload: Record<string, unknown>;
  state: DeliveryState;
  /** Sends so far, over every replay. */
  attempts: number;
  /** `attempts` when the current round (the first, or a replay) began: a round gives up after the maximum. */
  roundStart: number;
  replays: number;
  nextAttemptAt: string;
  createdAt: string;
  updatedAt: string;
  responses: DeliveryResponse[];
  claimedBy?: string | null;
  leaseUntil?: string | null;
  /** Of a claim (not stored): the fence this sender holds. */
  fence?: string;
}

/** How many responses a delivery keeps (the newest). */
const MAX_RESPONSES = 50;

export class WebhooksRepository {
  private readonly claims: FencedClaims<Delivery>;

  constructor(private readonly db: Db) {
    this.claims = new FencedClaims(this.deliveries, this.db.collection<Fence<Delivery>>('webhook_claims'), {
      due: (at) => ({ $or: [{ state: 'pending', nextAttemptAt: { $lte: at } }, { state: 'sending', leaseUntil: { $lt: at } }] }),
      claimedState: 'sending',
      sort: { nextAttemptAt: 1 },
      tries: 20,
    });
  }

  private get hooks() {
    return this.db.collection<Webhook>('webhooks');
  }

  private get deliveries() {
    return this.db.collection<Delivery>('webhook_deliveries');
  }



  private get cursors() {
    return this.db.collection<{ _id: string; seq: number }>('webhook_cursor');
  }

  private get changes() {
    return this.db.collection<Change>('changes');
  }

  async ensureIndexes(): Promise<void> {
    await this.deliveries.createIndex({ webhook: 1, createdAt: -1 }, { name: 'cms_webhook_created' });
    await this.deliveries.createIndex({ state: 1, nextAttemptAt: 1 }, { name: 'cms_state_next' });
  }

  // --- webhooks ---

  async create(w: Omit<Webhook, '_id'>): Promise<Webhook> {
    const doc: Webhook = { _id: new ObjectId().toHexString(), ...w };
    await this.hooks.insertOne(doc);
    return doc;
  }

  get(id: string): Promise<Webhook | null> {
    return this.hooks.findOne({ _id: id });
  }

  list(): Promise<Webhook[]> {
    return this.hooks.find({}).sort({ createdAt: 1, _id: 1 }).limit(1000).toArray();
  }

  async update(id: string, set: Partial<Webhook>): Promise<Webhook | null> {
    const result = await this.hooks.updateOne({ _id: id }, { $set: set });
    return result.matchedCount ? this.get(id) : null;
  }

  async unsetTypes(id: string): Promise<Webhook | null> {
    const result = await this.hooks.updateOne({ _id: id }, { $unset: { types: '' } });
    return result.matchedCount ? this.get(id) : null;
  }

  /** Removes the webhook, its deliveries and its dispatcher state. */
  async delete(id: string): Promise<boolean> {
    const result = await this.hooks.deleteOne({ _id: id });
    await this.deliveries.deleteMany({ webhook: id });
    await this.cursors.deleteMany({ _id: { $in: [id, `site/${id}`] } });
    return result.deletedCount === 1;
  }

  // --- the dispatcher's positions (hints: they may lag, or slip back when writes race) ---

  async cursor(name: string): Promise<number | undefined> {
    return (await this.cursors.findOne({ _id: name }))?.seq;
  }

  async moveCursor(name: string, seq: number): Promise<void> {
    try {
      await this.cursors.updateOne({ _id: name }, { $max: { seq } }, { upsert: true });
    } catch (err) {
      // two first upserts at once: the other one made the document
      if (!isDuplicateKey(err)) throw err;
      await this.cursors.updateOne({ _id: name }, { $max: { seq } });
    }
  }

  /** Whether change `seq` is stored (a lookup by _id: cheap where range queries scan). */
  async changeExists(seq: number): Promise<boolean> {
    return (await this.changes.findOne({ _id: seq }, { projection: { _id: 1 } })) !== null;
  }

  /** Public changes after `after`, oldest first. */
  publicChanges(after: number, limit: number): Promise<Change[]> {
    return this.changes.find({ _id: { $gt: after }, public: true }).sort({ _id: 1 }).limit(limit).toArray();
  }

  // --- deliveries ---

  /** Inserts a delivery unless it exists; false when another process (or an earlier run) made it. */
  async createDelivery(d: Delivery): Promise<boolean> {
    try {
      await this.deliveries.insertOne(d);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  getDelivery(id: string): Promise<Delivery | null> {
    return this.deliveries.findOne({ _id: id });
  }

  async listDeliveries(webhook: string, state: DeliveryState | undefined, limit: number, offset: number): Promise<{ rows: Delivery[]; total: number }> {
    const filter = state ? { webhook, state } : { webhook };
    const [rows, total] = await Promise.all([
      this.deliveries.find(filter, { projection: { claimedBy: 0, leaseUntil: 0 } }).sort({ createdAt: -1, seq: -1 }).skip(offset).limit(limit).toArray(),
      this.deliveries.countDocuments(filter),
    ]);
    return { rows, total };
  }

  /** Claims one delivery that is due (or whose sender's lease ran out) for `runner`; null when none. */
  claim(now: Date, leaseMs: number, runner: string): Promise<Delivery | null> {
    return this.claims.claim(now, leaseMs, runner);
  }

  /** Records a claimed send's outcome, if this sender still holds its fence. */
  async finish(d: Delivery, response: DeliveryResponse, next: { state: DeliveryState; nextAttemptAt?: string }, at: string): Promise<boolean> {
    if (!(await this.claims.held(d))) return false;
    const set: Partial<Delivery> = {
      state: next.state,
      attempts: d.attempts,
      responses: [...d.responses, response].slice(-MAX_RESPONSES),
      updatedAt: at,
      claimedBy: null,
      leaseUntil: null,
      ...(next.nextAttemptAt ? { nextAttemptAt: next.nextAttemptAt } : {}),
    };
    await this.claims.finish(d, set);
    return true;
  }

  /** Sends a delivery again from now: a new round of attempts (the earlier responses stay). */
  async replay(d: Delivery, at: string): Promise<boolean> {
    const result = await this.deliveries.updateOne(
      { _id: d._id, state: { $in: ['pending', 'succeeded', 'failed'] } },
      { $set: { state: 'pending', nextAttemptAt: at, roundStart: d.attempts, updatedAt: at }, $inc: { replays: 1 } },
    );
    return result.modifiedCount === 1;
  }

  /** Removes claim fences older than `before`, and finished deliveries last touched before `deliveredBefore`. */
  async prune(before: string, deliveredBefore: string): Promise<void> {
    await this.claims.prune(before);
    await this.deliveries.deleteMany({ state: { $in: ['succeeded', 'failed'] }, updatedAt: { $lt: deliveredBefore } });
  }
}
