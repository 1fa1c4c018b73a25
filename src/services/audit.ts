// The audit log: who did what, to what, when and from where. Queried with the content query
// language, downloadable as CSV, pruned after the retention period.
import { Readable } from 'node:stream';
import { ObjectId, type Db, type Document } from 'mongodb';
import type { Auth } from '../auth/access.js';
import { actorOf } from '../auth/access.js';
import type { SchemaNode } from '../content-types/fields.js';
import { builtInType, type ContentType } from '../content-types/registry.js';
import { mongoSort, parseListQuery, toPage, type ListLimits } from './query.js';

export interface AuditRecord {
  _id: string;
  at: string;
  /** e.g. `entry.update`, `media.delete`, `login.failed`, `token.create`. */
  action: string;
  actorType: 'user' | 'token' | 'anonymous' | 'system';
  actorId?: string;
  actorName?: string;
  /** What was acted on: `entry`, `media`, `user`, `token`, `session`. */
  targetKind?: string;
  /** The content type, for entries. */
  targetType?: string;
  targetId?: string;
  /** Names of the fields that changed. */
  fields?: string[];
  ip: string;
  userAgent?: string;
}

const SCHEMA: SchemaNode = {
  type: 'object',
  properties: Object.fromEntries(
    ['at', 'action', 'actorType', 'actorId', 'actorName', 'targetKind', 'targetType', 'targetId', 'ip', 'userAgent'].map((f) => [f, f === 'at' ? { type: 'string', format: 'date-time' } : { type: 'string' }]),
  ),
};
(SCHEMA.properties as Record<string, SchemaNode>).fields = { type: 'array', items: { type: 'string' } };

function auditType(): ContentType {
  return builtInType('audit', 'Audit log', SCHEMA);
}

export interface Where {
  ip: string;
  userAgent?: string | undefined;
}

const CSV_COLUMNS: (keyof AuditRecord)[] = ['at', 'action', 'actorType', 'actorId', 'actorName', 'targetKind', 'targetType', 'targetId', 'fields', 'ip', 'userAgent'];

function csvCell(value: unknown): string {
  let text = Array.isArray(value) ? value.join(' ') : value === undefined || value === null ? '' : String(value);
  // a cell a spreadsheet would run as a formula is defused
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export class AuditLog {
  private readonly type = auditType();

  constructor(
    private readonly db: Db,
    private readonly limits: ListLimits,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private get collection() {
    return this.db.collection<AuditRecord>('audit');
  }

  /** `system`: the command line; `{ system: name }`: the server itself, e.g. a schedule. */
  async record(auth: Auth | 'system' | { system: string }, where: Where, action: string, target: { kind?: string; type?: string; id?: string; fields?: string[] } = {}): Promise<void> {
    const actor: { type: AuditRecord['actorType']; id?: string; name?: string } =
      auth === 'system' ? { type: 'system', name: 'cms command line' } : 'system' in auth ? { type: 'system', name: auth.system } : actorOf(auth);
    const rec: AuditRecord = { _id: new ObjectId().toHexString(), at: this.now().toISOString(), action, actorType: actor.type, ip: where.ip };
    if (actor.id) rec.actorId = actor.id;
    if (actor.name) rec.actorName = actor.name;
    if (target.kind) rec.targetKind = target.kind;
    if (target.type) rec.targetType = target.type;
    if (target.id) rec.targetId = target.id;
    if (target.fields) rec.fields = target.fields;
    if (where.userAgent) rec.userAgent = where.userAgent.slice(0, 300);
    await this.collection.insertOne(rec);
  }

  private parse(query: Record<string, unknown>, limits: ListLimits) {
    const q = { ...query };
    if (q.sort === undefined) q.sort = '-at';
    return parseListQuery(this.type, q, limits);
  }

  async list(query: Record<string, unknown>) {
    const q = this.parse(query, this.limits);
    const [rows, total] = await Promise.all([
      this.collection.find(q.pageFilter as Document).sort(mongoSort(q.sort)).skip(q.offset).limit(q.limit + 1).toArray(),
      this.collection.countDocuments(q.filter as Document),
    ]);
    const { page, meta } = toPage(rows, q, total);
    return { data: page, meta };
  }

  /** Every matching record as CSV, streamed from the database (at most `max` rows). */
  csv(query: Record<string, unknown>, max = 1_000_000): Readable {
    const q = this.parse({ ...query, limit: '1' }, { ...this.limits, maxLimit: 1 });
    const cursor = this.collection.find(q.filter as Document).sort(mongoSort(q.sort)).limit(max);
    async function* rows() {
      yield `${CSV_COLUMNS.join(',')}\r\n`;
      for await (const rec of cursor) yield `${CSV_COLUMNS.map((c) => csvCell(rec[c])).join(',')}\r\n`;
    }
    return Readable.from(rows());
  }

  /** Drops records older than the retention period. */
  async prune(retentionDays: number): Promise<number> {
    const before = new Date(this.now().getTime() - retentionDays * 86400_000).toISOString();
    return (await this.collection.deleteMany({ at: { $lt: before } })).deletedCount;
  }
}
