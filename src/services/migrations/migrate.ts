// Schema migrations: compare today's content types with the stored entries (a plan), then bring the
// entries in line (apply). Each changed entry gets a new version (`migrate`) through the same claim,
// write and change-log steps as any other write, so history can undo it and caches and sync see it.
// A record in `migrations` keeps where an apply got to: a killed apply resumes there, and entries
// already migrated are left alone (their transform changes nothing), so each is migrated once.
import { createHash } from 'node:crypto';
import type { Db } from 'mongodb';
import type { LocaleConfig } from '../../config.js';
import type { ContentType, ContentTypeRegistry } from '../../content-types/registry.js';
import type { ErrorDetail } from '../../errors.js';
import { ChangeLog } from '../../storage/changes.js';
import { DuplicateKeyError, EntriesRepository, INDEX_PREFIX, indexName, type StoredEntry, type View } from '../../storage/entries.js';
import { RevisionsRepository, type Revision } from '../../storage/revisions.js';
import { mediaRefs } from '../media/service.js';
import { EntryWriter, indexSpecs } from '../writes.js';
import { collectionOf, countOf, viewsOf, type StartProgress } from './check.js';
import { storedProblems, systemFields, transformFields, userFields, type Change, type Transformed } from './transform.js';

export interface DocRef {
  id: string;
  view: View;
  problems: ErrorDetail[];
}

export interface FieldStep {
  kind: 'rename' | 'remove' | 'fill' | 'convert';
  field: string;
  from?: string;
  to?: string;
  /** Documents (working copies and published snapshots) it applies to. */
  count: number;
  /** remove: `drop` with --drop, else `keep` (the documents keep the key and fail validation). */
  action?: 'drop' | 'keep';
  /** fill: the value filled in. */
  default?: unknown;
}

export interface LossyStep {
  field: string;
  from?: string;
  to?: string;
  count: number;
  /** The first documents, with where and why. */
  ids: DocRef[];
}

export interface IndexStep {
  view: View;
  name: string;
  field?: string;
  unique?: boolean;
}

export interface TypePlan {
  type: string;
  /** Working copies looked at (each with its published snapshot, for a type with drafts). */
  entries: number;
  /** Entries the migration changes (each gets one new version). */
  toMigrate: number;
  steps: FieldStep[];
  lossy: LossyStep[];
  /** Documents that would not match the type after the migration. */
  failing: { count: number; ids: DocRef[] };
  /** Entries holding keys the type no longer has. */
  holdingRemoved: number;
  indexes: { create: IndexStep[]; drop: IndexStep[] };
}

export interface MigrationPlan {
  /** Identifies the migration: a hash of the types it migrates to and of --drop. */
  id: string;
  drop: boolean;
  types: TypePlan[];
  /** Entries that change, in all types. */
  toMigrate: number;
  failing: number;
  lossy: number;
  /** Documents holding keys their type no longer has, which stay without --drop. */
  kept: number;
  indexes: number;
  /** Nothing to do: no entry changes and no index to build or drop. */
  empty: boolean;
  /** Why apply refuses (empty: it may run). */
  refusals: string[];
}

export interface MigrationOptions {
  locales: LocaleConfig;
  /** Remove stored keys the types no longer have. */
  drop?: boolean;
  /** Offending documents listed per type and field (default 10). */
  maxIds?: number;
  progress?: StartProgress;
  now?: () => Date;
}

export interface ApplyOptions extends MigrationOptions {
  /** Entries read per batch; the migration record moves on after each (default 100). */
  batchSize?: number;
  /**
   * Fault injection for tests: stop (as a killed process would, with MigrationInterrupted) once
   * this many entries were migrated in this run.
   */
  stopAfter?: number;
  /** With stopAfter: the next entry's version is claimed but not written before stopping. */
  stopMidEntry?: boolean;
}

export interface ApplyResult {
  id: string;
  /** Nothing to migrate: the plan was empty. */
  nothing: boolean;
  /** It went on from where an earlier, interrupted apply stopped. */
  resumed: boolean;
  migrated: number;
  /** Entries that could not be written (changed meanwhile so they no longer fit, or a unique clash). */
  failed: DocRef[];
  indexes: { created: IndexStep[]; dropped: IndexStep[] };
  plan: MigrationPlan;
}

/** apply stopped on purpose (stopAfter), leaving the migration record as a killed process would. */
export class MigrationInterrupted extends Error {
  constructor(readonly migrated: number) {
    super(`migration interrupted after ${migrated} entries`);
    this.name = 'MigrationInterrupted';
  }
}

/** apply refuses: the plan has documents that would fail, lossy conversions, or data to drop. */
export class MigrationRefused extends Error {
  constructor(readonly plan: MigrationPlan) {
    super(`The migration is refused:\n${plan.refusals.map((r) => `  - ${r}`).join('\n')}`);
    this.name = 'MigrationRefused';
  }
}

interface MigrationRecord {
  _id: string;
  state: 'running' | 'done' | 'incomplete';
  drop: boolean;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  /** Per type, the _id of the last working copy processed. */
  positions: Record<string, string>;
  migrated: number;
  runs: number;
}

// the indexes a type declares, next to the migration that builds them
export { indexSpecs };

export function migrationId(registry: ContentTypeRegistry, drop: boolean): string {
  const types = registry.all().map((t) => [t.id, t.drafts, t.storedSchema]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  return createHash('sha256').update(JSON.stringify({ types, drop })).digest('hex').slice(0, 24);
}

/** One entry as the migration sees it: its working copy and published snapshot, transformed. */
interface Inspected {
  draft: Transformed;
  published?: Transformed;
  /** Problems after the migration, per copy. */
  problems: { view: View; problems: ErrorDetail[] }[];
  lossy: { view: View; change: Change }[];
  changed: boolean;
}

function inspect(type: ContentType, current: StoredEntry, snapshot: StoredEntry | null, options: MigrationOptions): Inspected {
  const transform = { locales: options.locales, drop: options.drop === true };
  const draft = transformFields(type, userFields(current), transform);
  const published = snapshot ? transformFields(type, userFields(snapshot), transform) : undefined;
  const problems: Inspected['problems'] = [];
  const lossy: Inspected['lossy'] = [];
  const copies: [View, StoredEntry, Transformed][] = [['draft', current, draft]];
  if (snapshot && published) copies.push(['published', snapshot, published]);
  for (const [view, doc, t] of copies) {
    for (const change of t.changes) if (change.kind === 'lossy') lossy.push({ view, change });
    const found = storedProblems(type, doc, view, t.fields);
    if (found.length) problems.push({ view, problems: found });
  }
  return { draft, ...(published ? { published } : {}), problems, lossy, changed: draft.changed || Boolean(published?.changed) };
}

class PlanBuilder {
  private readonly steps = new Map<string, FieldStep>();
  private readonly lossy = new Map<string, LossyStep>();
  readonly plan: TypePlan;

  constructor(type: ContentType, private readonly maxIds: number, private readonly drop: boolean) {
    this.plan = { type: type.id, entries: 0, toMigrate: 0, steps: [], lossy: [], failing: { count: 0, ids: [] }, holdingRemoved: 0, indexes: { create: [], drop: [] } };
  }

  add(type: ContentType, id: string, found: Inspected): void {
    this.plan.entries++;
    if (found.changed) this.plan.toMigrate++;
    let holdsRemoved = false;
    for (const t of [found.draft, found.published]) {
      if (!t) continue;
      // one count per document and step, however many values (locales, array items) it touches
      const seen = new Set<string>();
      for (const c of t.changes) {
        if (c.kind === 'lossy') continue;
        const key = `${c.kind}|${c.field}|${c.from ?? ''}|${c.to ?? ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const step = this.steps.get(key) ?? {
          kind: c.kind,
          field: c.field,
          ...(c.from !== undefined ? { from: c.from } : {}),
          ...(c.to !== undefined ? { to: c.to } : {}),
          count: 0,
          ...(c.kind === 'remove' ? { action: this.drop ? ('drop' as const) : ('keep' as const) } : {}),
          ...(c.kind === 'fill' ? { default: defaultOf(type, c.field) } : {}),
        };
        step.count++;
        this.steps.set(key, step);
        if (c.kind === 'remove') holdsRemoved = true;
      }
    }
    if (holdsRemoved) this.plan.holdingRemoved++;
    for (const { view, change } of found.lossy) {
      const key = `${change.field}|${change.from ?? ''}|${change.to ?? ''}`;
      const step = this.lossy.get(key) ?? { field: change.field, ...(change.from ? { from: change.from } : {}), ...(change.to ? { to: change.to } : {}), count: 0, ids: [] };
      step.count++;
      if (step.ids.length < this.maxIds) step.ids.push({ id, view, problems: [{ path: change.pointer, message: change.message ?? 'cannot be converted' }] });
      this.lossy.set(key, step);
    }
    if (found.problems.length) {
      this.plan.failing.count++;
      for (const p of found.problems) if (this.plan.failing.ids.length < this.maxIds) this.plan.failing.ids.push({ id, view: p.view, problems: p.problems.slice(0, 20) });
    }
  }

  finish(): TypePlan {
    this.plan.steps = [...this.steps.values()];
    this.plan.lossy = [...this.lossy.values()];
    return this.plan;
  }
}

/** The `default` of a field, by its dotted path (`list[]` steps into an array's items). */
function defaultOf(type: ContentType, field: string): unknown {
  let node = type.schema;
  for (const part of field.split('.')) {
    node = node.properties?.[part.replace(/\[\]$/, '')] ?? {};
    if (part.endsWith('[]')) node = node.items ?? {};
  }
  return node.default;
}

async function indexPlan(db: Db, type: ContentType): Promise<TypePlan['indexes']> {
  const out: TypePlan['indexes'] = { create: [], drop: [] };
  const wanted = new Map(indexSpecs(type).map((s) => [indexName(s), s]));
  for (const view of viewsOf(type)) {
    let existing: string[] = [];
    try {
      existing = (await db.collection(collectionOf(type.id, view)).listIndexes().toArray()).map((i) => String(i.name));
    } catch {
      // no collection yet: no indexes
    }
    for (const name of existing) if (name.startsWith(INDEX_PREFIX) && !wanted.has(name)) out.drop.push({ view, name });
    for (const [name, spec] of wanted) if (!existing.includes(name)) out.create.push({ view, name, field: spec.field, unique: spec.unique });
  }
  return out;
}

/**
 * A type's working copies in _id order, after `after` and up to `until` (both optional), in batches
 * of `batchSize`: one query and one cursor (on FerretDB a query per batch scans the collection
 * each time). A document may have changed since the cursor read it: each is read again before it
 * is written, and a version claimed meanwhile is rolled forward first.
 */
async function* workingCopies(db: Db, type: ContentType, batchSize: number, after?: string, until?: string): AsyncGenerator<StoredEntry[]> {
  const range = { ...(after !== undefined ? { $gt: after } : {}), ...(until !== undefined ? { $lte: until } : {}) };
  const cursor = db
    .collection<StoredEntry>(collectionOf(type.id, 'draft'))
    .find(Object.keys(range).length ? { _id: range } : {}, { batchSize })
    .sort({ _id: 1 });
  try {
    let batch: StoredEntry[] = [];
    for await (const doc of cursor) {
      batch.push(doc);
      if (batch.length < batchSize) continue;
      yield batch;
      batch = [];
    }
    if (batch.length) yield batch;
  } finally {
    await cursor.close();
  }
}

/** Compares the files with the stored entries: what apply would do, and what stops it. */
export async function planMigration(db: Db, registry: ContentTypeRegistry, options: MigrationOptions): Promise<MigrationPlan> {
  const drop = options.drop === true;
  const repo = new EntriesRepository(db);
  const types = [...registry.all()].sort((a, b) => a.id.localeCompare(b.id));
  let total = 0;
  for (const type of types) total += await countOf(db, collectionOf(type.id, 'draft'));
  const ticker = options.progress?.('Planning', total);
  const plans: TypePlan[] = [];
  try {
    for (const type of types) {
      const builder = new PlanBuilder(type, options.maxIds ?? 10, drop);
      // read only, so one streaming cursor (apply pages by _id instead, as it writes while it reads)
      for await (const doc of db.collection<StoredEntry>(collectionOf(type.id, 'draft')).find({}, { batchSize: 500 })) {
        const snapshot = type.drafts ? await repo.findById(type.id, doc._id, undefined, 'published') : null;
        builder.add(type, doc._id, inspect(type, doc, snapshot, options));
        ticker?.increment();
      }
      const plan = builder.finish();
      plan.indexes = await indexPlan(db, type);
      plans.push(plan);
    }
  } finally {
    ticker?.stop();
  }
  const sum = (f: (p: TypePlan) => number) => plans.reduce((n, p) => n + f(p), 0);
  const plan: MigrationPlan = {
    id: migrationId(registry, drop),
    drop,
    types: plans,
    toMigrate: sum((p) => p.toMigrate),
    failing: sum((p) => p.failing.count),
    lossy: sum((p) => p.lossy.reduce((n, l) => n + l.count, 0)),
    kept: drop ? 0 : sum((p) => p.holdingRemoved),
    indexes: sum((p) => p.indexes.create.length + p.indexes.drop.length),
    empty: false,
    refusals: [],
  };
  plan.empty = plan.toMigrate === 0 && plan.indexes === 0 && plan.failing === 0 && plan.lossy === 0 && plan.kept === 0;
  const ids = (refs: DocRef[]) => refs.map((r) => r.id).filter((id, i, all) => all.indexOf(id) === i).join(', ');
  for (const p of plans) {
    for (const l of p.lossy) {
      plan.refusals.push(`${p.type}.${l.field}: ${l.count} document${l.count === 1 ? '' : 's'} cannot be converted from ${l.from ?? '?'} to ${l.to ?? '?'} without losing data (${ids(l.ids)})`);
    }
    const kept = p.steps.filter((s) => s.kind === 'remove' && s.action === 'keep');
    for (const s of kept) {
      plan.refusals.push(`${p.type}.${s.field}: ${s.count} document${s.count === 1 ? ' holds' : 's hold'} this field, which the type no longer has: pass --drop to remove it (old versions keep the values)`);
    }
    if (p.failing.count) {
      plan.refusals.push(`${p.type}: ${p.failing.count} entr${p.failing.count === 1 ? 'y' : 'ies'} would not match the type after the migration (${ids(p.failing.ids)})`);
    }
  }
  return plan;
}

/**
 * `_media` follows the migrated fields, as every write keeps it (media usage is found through it):
 * the ids held by the type's media fields, none when the type has no media field.
 */
function withMediaIds(type: ContentType, entry: StoredEntry): StoredEntry {
  delete entry._media;
  const refs = mediaRefs(type, entry);
  return refs ? { ...entry, _media: [...new Set(refs.map((r) => r.id))] } : entry;
}

/** Writes the migrated versions of entries: one new version per entry, written as every write is. */
class Writer {
  readonly repo: EntriesRepository;
  private readonly writes: EntryWriter;

  constructor(db: Db, private readonly options: ApplyOptions) {
    this.repo = new EntriesRepository(db);
    this.writes = new EntryWriter(this.repo, new RevisionsRepository(db), new ChangeLog(db));
  }

  /** Migrates one entry; returns whether it was written, or why not. */
  async entry(type: ContentType, doc: StoredEntry, interrupt?: 'before-claim' | 'after-claim'): Promise<'migrated' | 'unchanged' | DocRef> {
    let current: StoredEntry | null = doc;
    for (let attempt = 0; attempt < 10; attempt++) {
      if (attempt > 0) current = await this.repo.findById(type.id, doc._id);
      if (!current) return 'unchanged';
      const snapshot = type.drafts ? await this.repo.findById(type.id, current._id, undefined, 'published') : null;
      const found = inspect(type, current, snapshot, this.options);
      if (!found.changed) return 'unchanged';
      if (found.lossy.length || found.problems.length) {
        const first = found.problems[0];
        const lossy = found.lossy.map((l) => ({ path: l.change.pointer, message: l.change.message ?? 'cannot be converted' }));
        return { id: current._id, view: first?.view ?? 'draft', problems: [...lossy, ...(first?.problems ?? [])] };
      }
      const version = current._version + 1;
      const now = (this.options.now?.() ?? new Date()).toISOString();
      const next: StoredEntry = withMediaIds(type, { ...(systemFields(current) as StoredEntry), ...found.draft.fields, _version: version, _updatedAt: now });
      let published: StoredEntry | undefined;
      if (snapshot && found.published) {
        if (snapshot._version === current._version) published = { ...next };
        else if (found.published.changed) published = withMediaIds(type, { ...(systemFields(snapshot) as StoredEntry), ...found.published.fields });
      }
      const rev: Omit<Revision, '_id'> = {
        type: type.id,
        entryId: current._id,
        version,
        action: 'migrate',
        at: now,
        by: 'system',
        doc: next,
        locales: ['*'],
        public: !type.drafts || published !== undefined,
        logged: false,
        ...(published ? { published } : {}),
      };
      if (interrupt === 'before-claim') throw new MigrationInterrupted(0);
      if (!(await this.writes.claim(rev))) {
        // someone claimed it (an earlier, killed apply, or a writer of the running server): make it
        // real (and logged: a killed apply never logs it), then look at the entry again
        await this.writes.settle(type, current._id, version, { log: true });
        continue;
      }
      if (interrupt === 'after-claim') throw new MigrationInterrupted(0);
      try {
        // a unique clash releases the claim
        await this.writes.write(type, rev, current);
      } catch (err) {
        if (!(err instanceof DuplicateKeyError)) throw err;
        return { id: current._id, view: 'draft', problems: [{ path: err.field ? `/${err.field}` : '', message: 'another entry already has this unique value' }] };
      }
      return 'migrated';
    }
    return { id: doc._id, view: 'draft', problems: [{ path: '', message: 'the entry kept changing while being migrated' }] };
  }
}

/**
 * Runs the plan: refuses (MigrationRefused) when a document would fail, a conversion would lose
 * data, or fields would be dropped without `drop`; otherwise migrates the entries in batches, then
 * builds and drops indexes. Idempotent: a second run finds nothing to migrate.
 */
export async function applyMigration(db: Db, registry: ContentTypeRegistry, options: ApplyOptions): Promise<ApplyResult> {
  const plan = await planMigration(db, registry, options);
  if (plan.refusals.length) throw new MigrationRefused(plan);
  const records = db.collection<MigrationRecord>('migrations');
  const result: ApplyResult = { id: plan.id, nothing: plan.empty, resumed: false, migrated: 0, failed: [], indexes: { created: [], dropped: [] }, plan };
  const now = () => (options.now?.() ?? new Date()).toISOString();
  if (plan.empty) {
    await records.updateOne({ _id: plan.id, state: 'running' }, { $set: { state: 'done', updatedAt: now(), finishedAt: now() } });
    return result;
  }
  let record = await records.findOne({ _id: plan.id });
  if (record?.state === 'running') {
    result.resumed = true;
    await records.updateOne({ _id: plan.id }, { $inc: { runs: 1 }, $set: { updatedAt: now() } });
  } else {
    // new, or done before and the data moved away from it since (types reverted and back): start over
    record = { _id: plan.id, state: 'running', drop: plan.drop, startedAt: now(), updatedAt: now(), positions: {}, migrated: 0, runs: 1 };
    await records.replaceOne({ _id: plan.id }, record, { upsert: true });
  }
  const writer = new Writer(db, options);
  const batchSize = options.batchSize ?? 100;
  const ticker = options.progress?.('Migrating', plan.toMigrate);
  try {
    for (const type of [...registry.all()].sort((a, b) => a.id.localeCompare(b.id))) {
      const typePlan = plan.types.find((p) => p.type === type.id);
      if (!typePlan?.toMigrate) continue;
      const resumeAt = record.positions[type.id];
      for await (const batch of workingCopies(db, type, batchSize, resumeAt)) {
        for (const doc of batch) {
          const stopping = options.stopAfter !== undefined && result.migrated >= options.stopAfter;
          const outcome = await writer.entry(type, doc, stopping ? (options.stopMidEntry ? 'after-claim' : 'before-claim') : undefined).catch((err: unknown) => {
            if (err instanceof MigrationInterrupted) throw new MigrationInterrupted(result.migrated);
            throw err;
          });
          if (outcome === 'migrated') {
            result.migrated++;
            ticker?.increment();
          } else if (outcome !== 'unchanged') {
            result.failed.push(outcome);
          }
        }
        const last = batch[batch.length - 1]!._id;
        await records.updateOne({ _id: plan.id }, { $set: { [`positions.${type.id}`]: last, updatedAt: now() } });
      }
      // resumed: entries before the resume point that changed since the interrupted run (a server
      // on the old files wrote them) are migrated too; usually all of them are done already
      if (resumeAt !== undefined) {
        for await (const batch of workingCopies(db, type, batchSize, undefined, resumeAt)) {
          for (const doc of batch) {
            const outcome = await writer.entry(type, doc);
            if (outcome === 'migrated') {
              result.migrated++;
              ticker?.increment();
            } else if (outcome !== 'unchanged') result.failed.push(outcome);
          }
        }
      }
    }
  } finally {
    ticker?.stop();
    if (result.migrated) await records.updateOne({ _id: plan.id }, { $inc: { migrated: result.migrated } }).catch(() => undefined);
  }
  // indexes last: a unique index is built on migrated values
  for (const type of registry.all()) {
    for (const view of viewsOf(type)) {
      const { created, dropped } = await writer.repo.syncIndexes(type.id, indexSpecs(type), view);
      result.indexes.created.push(...created.map((name) => ({ view, name })));
      result.indexes.dropped.push(...dropped.map((name) => ({ view, name })));
    }
  }
  await records.updateOne({ _id: plan.id }, { $set: { state: result.failed.length ? 'incomplete' : 'done', updatedAt: now(), finishedAt: now() } });
  return result;
}
