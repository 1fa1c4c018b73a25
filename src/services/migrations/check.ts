// Checks stored entries against today's content types: every one (`cms check`), or the first
// `limit` of each collection (the server at start-up). Streams with a cursor, so memory stays
// bounded whatever the size.
import type { Db } from 'mongodb';
import type { ContentType, ContentTypeRegistry } from '../../content-types/registry.js';
import type { ErrorDetail } from '../../errors.js';
import type { StoredEntry, View } from '../../storage/entries.js';
import { storedProblems } from './transform.js';

/** A progress display (the CLI's bar); the services only count. */
export interface Ticker {
  increment(n?: number): void;
  stop(): void;
}
export type StartProgress = (label: string, total: number) => Ticker;

export interface Offender {
  id: string;
  view: View;
  problems: ErrorDetail[];
}

export interface TypeCheck {
  type: string;
  checked: number;
  failing: number;
  /** Per collection: `draft` is content_<type> (the working copies), `published` the snapshots. */
  views: { view: View; collection: string; checked: number; failing: number }[];
  /** The first offending documents. */
  offenders: Offender[];
}

export interface StoredCheck {
  ok: boolean;
  checked: number;
  failing: number;
  /** True when only the first `limit` documents of each collection were looked at. */
  sampled: boolean;
  types: TypeCheck[];
}

export interface CheckOptions {
  /** Documents looked at per collection (default: all). */
  limit?: number;
  /** Offending documents listed per type (default 10). */
  maxIds?: number;
  progress?: StartProgress;
}

export const collectionOf = (type: string, view: View) => `${view === 'draft' ? 'content' : 'published'}_${type}`;

export const viewsOf = (type: ContentType): View[] => (type.drafts ? ['draft', 'published'] : ['draft']);

/** A quick count for progress bars (0 for a collection not created yet). */
export async function countOf(db: Db, collection: string): Promise<number> {
  return db.collection(collection).estimatedDocumentCount().catch(() => 0);
}

export async function checkStored(db: Db, registry: ContentTypeRegistry, options: CheckOptions = {}): Promise<StoredCheck> {
  const maxIds = options.maxIds ?? 10;
  const types = registry.all();
  let total = 0;
  for (const type of types) {
    for (const view of viewsOf(type)) {
      const n = await countOf(db, collectionOf(type.id, view));
      total += options.limit === undefined ? n : Math.min(n, options.limit);
    }
  }
  const ticker = options.progress?.('Checking stored entries', total);
  const result: StoredCheck = { ok: true, checked: 0, failing: 0, sampled: options.limit !== undefined, types: [] };
  try {
    for (const type of types) {
      const report: TypeCheck = { type: type.id, checked: 0, failing: 0, views: [], offenders: [] };
      for (const view of viewsOf(type)) {
        const collection = collectionOf(type.id, view);
        const counts = { view, collection, checked: 0, failing: 0 };
        // natural order: a sort could make the database hold the whole collection
        const cursor = db.collection<StoredEntry>(collection).find({}, { batchSize: 500 });
        if (options.limit !== undefined) cursor.limit(options.limit);
        for await (const doc of cursor) {
          counts.checked++;
          ticker?.increment();
          const problems = storedProblems(type, doc, view);
          if (!problems.length) continue;
          counts.failing++;
          if (report.offenders.length < maxIds) report.offenders.push({ id: String(doc._id), view, problems: problems.slice(0, 20) });
        }
        report.views.push(counts);
        report.checked += counts.checked;
        report.failing += counts.failing;
      }
      result.types.push(report);
      result.checked += report.checked;
      result.failing += report.failing;
    }
  } finally {
    ticker?.stop();
  }
  result.ok = result.failing === 0;
  return result;
}

/** The server refuses to start (SCHEMA_STRICT) because stored entries do not match the types. */
export class SchemaMismatchError extends Error {
  constructor(message: string, readonly check: StoredCheck) {
    super(message);
    this.name = 'SchemaMismatchError';
  }
}

/** Documents looked at per collection at start-up: enough to notice, too few to slow a start. */
export const STARTUP_SAMPLE = 1000;

/** One paragraph naming each type with mismatched entries and what to run. */
export function describeMismatch(check: StoredCheck): string {
  const lines = check.types
    .filter((t) => t.failing)
    .map((t) => {
      const first = t.offenders[0];
      const example = first ? ` (e.g. ${first.id}${first.view === 'published' ? ' published' : ''}: ${first.problems.slice(0, 2).map((p) => `${p.path || '/'} ${p.message}`).join('; ')})` : '';
      return `  ${t.type}: ${t.failing} of ${t.checked}${check.sampled ? ' sampled' : ''} entries do not match${example}`;
    });
  return `Stored entries do not match the content-type files:\n${lines.join('\n')}\nRun \`cms migrate plan\` to see what a migration would do, and \`cms check\` for the full list.`;
}

/**
 * The start-up check: the first STARTUP_SAMPLE documents of each collection. Returns undefined
 * when all match, else the report and its message; `strict` throws SchemaMismatchError instead.
 */
export async function startupCheck(db: Db, registry: ContentTypeRegistry, options: { strict: boolean; limit?: number }): Promise<{ check: StoredCheck; message: string } | undefined> {
  const check = await checkStored(db, registry, { limit: options.limit ?? STARTUP_SAMPLE, maxIds: 3 });
  if (check.ok) return undefined;
  const message = describeMismatch(check);
  if (options.strict) throw new SchemaMismatchError(`${message}\nSCHEMA_STRICT is on, so the server does not start.`, check);
  return { check, message };
}
