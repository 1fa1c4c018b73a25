// The in-process cache of public delivery responses: the exact bytes of an anonymous GET of
// /api/content/..., with their ETag, Cache-Control and surrogate keys, bounded in bytes (LRU).
//
// Invalidation comes from the change log, the one mechanism for changes: every process reads the log
// past the last record it applied (a cheap `_id` lookup while nothing is new) and evicts what a public
// change touches: `type:T` (lists of T, and responses that populated references into T) and `T:<id>`,
// or `media:<id>` for media. A write made by this process evicts at once, before the write answers.
//
// A response computed before an invalidation must not be stored after it: each request notes the
// cache's clock when it starts, each invalidation stamps the groups it touches (a content type, or
// `media`) with a new tick, and a response is refused if a group it depends on was stamped since.
import { LRUCache } from 'lru-cache';
import type { Change, ChangeLog } from '../storage/changes.js';

export interface CachedResponse {
  body: Buffer;
  etag: string;
  contentType: string;
  cacheControl: string;
  /** The Surrogate-Key header: `keys` space-separated. */
  surrogateKey: string;
  keys: string[];
}

export interface DeliveryCacheOptions {
  /** Bytes the cache may hold (bodies, headers and keys); 0 turns it off. */
  maxBytes: number;
  /** Milliseconds between reads of the change log; 0: never (one process only). */
  pollMs: number;
  /** Looks a change up by its sequence number (an `_id` lookup: cheap on every backend). */
  probe: (seq: number) => Promise<Change | null>;
  /** A cheap hint of the newest record stored (it may lag): only to notice records missing from the log. */
  head: () => Promise<number>;
  /** Called when a poll fails (the cache is emptied: it can no longer tell what is stale). */
  onError?: (err: unknown) => void;
}

/** Probes one by one while catching up; further behind than this, the log is read in batches. */
const PROBES_PER_POLL = 32;
const BATCH = 1000;
/** Per cached response, beyond its bytes: the key, the index sets, the object. */
const OVERHEAD = 256;

/** The surrogate keys a change evicts. */
export function keysOfChange(change: Pick<Change, 'kind' | 'type' | 'id'>): string[] {
  if (change.kind === 'media') return [`media:${change.id}`];
  return [`type:${change.type}`, `${change.type}:${change.id}`];
}

/** The group whose clock a change stamps: its content type, or `media`. */
const groupOfChange = (change: Pick<Change, 'kind' | 'type'>) => (change.kind === 'media' ? 'media' : (change.type ?? ''));

export class DeliveryCache {
  private readonly lru: LRUCache<string, CachedResponse> | undefined;
  /** Surrogate key → the cache keys of the responses that carry it. */
  private readonly index = new Map<string, Set<string>>();
  /** Ticks on every invalidation. */
  private tick = 0;
  /** Group → the tick of its last invalidation. */
  private readonly stamped = new Map<string, number>();
  /** The tick of the last time everything was dropped. */
  private flushed = 0;
  /** The last change-log record applied. */
  private seen = 0;
  /** Records this process wrote and already applied (skipped when the poll reaches them). */
  private readonly local = new Set<number>();
  private lastPoll = Date.now();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly stats = { hits: 0, misses: 0, stored: 0, refused: 0, evicted: 0 };

  constructor(
    private readonly changes: ChangeLog,
    private readonly options: DeliveryCacheOptions,
  ) {
    if (options.maxBytes > 0) {
      this.lru = new LRUCache<string, CachedResponse>({
        maxSize: options.maxBytes,
        sizeCalculation: (value, key) => value.body.length + value.etag.length + value.cacheControl.length + value.surrogateKey.length * 3 + key.length * (value.keys.length + 1) + OVERHEAD,
        dispose: (value, key) => this.unindex(key, value),
      });
    }
  }

  get enabled(): boolean {
    return this.lru !== undefined;
  }

  /** Starts from the end of the log: nothing is cached yet, so nothing before it can be stale. */
  async init(): Promise<void> {
    this.seen = await this.changes.head();
    this.lastPoll = Date.now();
  }

  /** The clock a request notes before it reads anything (see `store`). */
  now(): number {
    return this.tick;
  }

  /** The last change-log record applied. */
  get position(): number {
    return this.seen;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.lru?.size ?? 0, bytes: this.lru?.calculatedSize ?? 0 };
  }

  counters(): Readonly<DeliveryCache['stats']> {
    return { ...this.stats };
  }

  /**
   * With a poll loop, the cache is only trusted while the loop keeps up: if polls stop succeeding
   * (the database is unreachable, the event loop is stalled), responses are computed afresh.
   */
  private trusted(): boolean {
    if (!this.options.pollMs) return true;
    return Date.now() - this.lastPoll <= Math.max(this.options.pollMs * 8, 2000);
  }

  get(key: string): CachedResponse | undefined {
    if (!this.lru || !this.trusted()) return undefined;
    const hit = this.lru.get(key);
    if (hit) this.stats.hits++;
    else this.stats.misses++;
    return hit;
  }

  /**
   * Stores a response computed since `startedAt` (a `now()`), unless a group it depends on was
   * invalidated meanwhile. Returns whether it was stored.
   */
  store(key: string, value: CachedResponse, groups: Iterable<string>, startedAt: number): boolean {
    if (!this.lru || !this.trusted()) return false;
    if (this.flushed > startedAt || [...groups].some((g) => (this.stamped.get(g) ?? 0) > startedAt)) {
      this.stats.refused++;
      return false;
    }
    this.lru.set(key, value);
    // too large for the cache: not stored
    if (this.lru.peek(key) !== value) return false;
    for (const k of value.keys) {
      let set = this.index.get(k);
      if (!set) this.index.set(k, (set = new Set()));
      set.add(key);
    }
    this.stats.stored++;
    return true;
  }

  private unindex(key: string, value: CachedResponse): void {
    this.stats.evicted++;
    for (const k of value.keys) {
      const set = this.index.get(k);
      if (!set) continue;
      set.delete(key);
      if (!set.size) this.index.delete(k);
    }
  }

  /** Evicts every response carrying one of `keys`, and stamps `groups` (refusing in-flight stores). */
  invalidate(keys: string[], groups: string[]): void {
    const tick = ++this.tick;
    for (const g of groups) this.stamped.set(g, tick);
    if (!this.lru) return;
    for (const k of keys) {
      const set = this.index.get(k);
      if (!set) continue;
      for (const cacheKey of [...set]) this.lru.delete(cacheKey);
    }
  }

  /** Drops everything (and refuses every store in flight). */
  clear(): void {
    this.flushed = ++this.tick;
    this.lru?.clear();
    this.index.clear();
  }

  /** A change this process just wrote (or tried to: `seq` undefined when the append failed). */
  applyLocal(change: Omit<Change, '_id'>, seq: number | undefined): void {
    if (!change.public) return;
    this.invalidate(keysOfChange(change), [groupOfChange(change)]);
    // the poll will meet it: once evicted here, there is no need to evict again
    if (seq !== undefined && seq > this.seen && this.options.pollMs > 0) this.local.add(seq);
  }

  private apply(change: Change): void {
    this.seen = change._id;
    if (this.local.delete(change._id)) return;
    if (!change.public) return;
    this.invalidate(keysOfChange(change), [groupOfChange(change)]);
  }

  /**
   * Reads the change log past the last record applied and evicts what it touches; returns how
   * many records were read. Polls run one after another (a poll asked for while one runs waits for
   * it, then looks again). A failed poll empties the cache.
   */
  poll(): Promise<number> {
    const run = this.queue.then(() => this.pollOnce());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async pollOnce(): Promise<number> {
    try {
      let read = 0;
      for (;;) {
        let caughtUp = false;
        for (let i = 0; i < PROBES_PER_POLL; i++) {
          const change = await this.options.probe(this.seen + 1);
          if (!change) {
            caughtUp = true;
            break;
          }
          this.apply(change);
          read++;
        }
        // the next record is not there: unless the log's head says records are missing (pruned), done
        if (caughtUp && (await this.options.head()) <= this.seen) break;
        // far behind, or past a hole: read the log in batches
        const batch = await this.changes.since(this.seen, BATCH);
        for (const change of batch) {
          // records are never missing from the middle of the log; should some be (pruned), what they said is unknown
          if (change._id !== this.seen + 1) this.clear();
          this.apply(change);
          read++;
        }
        if (batch.length < BATCH) break;
      }
      this.lastPoll = Date.now();
      return read;
    } catch (err) {
      this.clear();
      throw err;
    }
  }

  /** Polls every `pollMs` until the returned function is called (which waits for a poll in flight). */
  start(): () => Promise<void> {
    if (!this.options.pollMs) return async () => undefined;
    let stopped = false;
    let running: Promise<unknown> = Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const schedule = () => {
      if (stopped) return;
      timer = setTimeout(tick, this.options.pollMs);
      timer.unref();
    };
    const tick = () => {
      running = this.poll()
        .catch((err: unknown) => this.options.onError?.(err))
        .finally(schedule);
    };
    schedule();
    return async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    };
  }
}
