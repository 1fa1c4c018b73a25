// The change feed for static builds (`GET /api/sync`) and the build export (`GET /api/export`).
//
// A sync without a token is a full one: the change log's head is taken first, then every entry of
// the requested types (and the media library) is read in `_id` order, a batch at a time, and the
// answer ends with a token for that head. Anything written while the stream runs is logged after
// the head, so the next sync delivers it again: upserts are idempotent. A sync with a token reads
// the log after the token's sequence number, keeps the last record of each entry, and reads each
// entry as it is now in the sync's view: there, an upsert; gone, a tombstone. Records are logged
// after their write is applied, so the entry read is at least as new as the record.
//
// No HTTP here: the routes turn the lines into an NDJSON response.
import { createHash } from 'node:crypto';
import type { ContentType, ContentTypeRegistry } from '../content-types/registry.js';
import { CmsError, codes, invalid } from '../errors.js';
import type { Change, ChangeLog } from '../storage/changes.js';
import type { EntriesRepository, StoredEntry, View } from '../storage/entries.js';
import type { MediaDoc, MediaRepository } from '../storage/media.js';
import type { Caller, EntriesService } from './entries.js';
import type { Locales } from './locales.js';
import { encodeCursor, ID_PATTERN } from './query.js';

export const SYNC_DEFAULT_LIMIT = 500;
export const SYNC_MAX_LIMIT = 1000;
/** Entries read per query by a full sync and by the export (memory stays flat whatever the size). */
export const BATCH = 200;
const MAX_TOKEN_LENGTH = 8192;

/** What a sync token holds (base64url JSON): where in the log, and what it is a sync of. */
export interface SyncTokenData {
  v: 1;
  seq: number;
  view: 'published' | 'preview';
  /** The types covered (sorted): those requested, or every type the caller could read. */
  types?: string[];
  /** No types were named: `types` is what the caller could read then. */
  all?: boolean;
  locale: string;
  media: boolean;
}

/** What the caller may do beyond content reads: is the media library theirs to read? */
export interface SyncAccess {
  caller: Caller;
  /** Throws unless the caller may read the media library. */
  mayReadMedia(): void;
}

export type SyncLine =
  | { op: 'upsert'; type: string; id: string; entry: StoredEntry }
  | { op: 'upsert'; kind: 'media'; id: string; media: unknown }
  | { op: 'delete'; type: string; id: string }
  | { op: 'delete'; kind: 'media'; id: string }
  | { op: 'end'; token: string; more: boolean };

export interface SyncPlan {
  /** The answer's lines, as NDJSON text chunks (a batch at a time). */
  chunks: AsyncGenerator<string>;
  full: boolean;
}

/** A line of the export. */
export type ExportLine = { type: string; id: string; hash: string; entry: StoredEntry } | { op: 'end'; count: number };

const line = (value: SyncLine | ExportLine) => `${JSON.stringify(value)}\n`;

/** Whether an access check passes. */
const passes = (check: () => void): boolean => {
  try {
    check();
    return true;
  } catch {
    return false;
  }
};

const bad = (param: string, message: string, code: string = codes.queryBadValue) =>
  invalid(code, `Invalid query parameter ${param}: ${message}`, [{ path: param, message }]);

const badToken = (message: string) => invalid(codes.syncToken, `Invalid sync token: ${message}`, [{ path: 'token', message }]);

export function encodeSyncToken(data: SyncTokenData): string {
  return Buffer.from(JSON.stringify(data)).toString('base64url');
}

export function decodeSyncToken(raw: string): SyncTokenData {
  if (raw.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(raw)) throw badToken('not a token from this server');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw badToken('not a token from this server');
  }
  const t = parsed as Partial<SyncTokenData> | null;
  const ok =
    t !== null &&
    typeof t === 'object' &&
    t.v === 1 &&
    Number.isSafeInteger(t.seq) &&
    (t.seq as number) >= 0 &&
    (t.view === 'published' || t.view === 'preview') &&
    (t.types === undefined || (Array.isArray(t.types) && t.types.every((x) => typeof x === 'string'))) &&
    typeof t.locale === 'string' &&
    typeof t.media === 'boolean';
  if (!ok) throw badToken('not a token from this server');
  return t as SyncTokenData;
}

/** JSON with object keys sorted at every level: the same entry always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export const hashOf = (entry: unknown): string => createHash('sha256').update(canonicalJson(entry)).digest('hex');

function oneString(query: Record<string, unknown>, param: string): string | undefined {
  const value = query[param];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw bad(param, 'given more than once');
  return value;
}

function rejectUnknown(query: Record<string, unknown>, known: string[]): void {
  const unknown = Object.keys(query).filter((k) => !known.includes(k));
  if (unknown.length) {
    throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${unknown.join(', ')}`, unknown.map((path) => ({ path, message: 'unknown query parameter' })));
  }
}

function parseBool(query: Record<string, unknown>, param: string): boolean | undefined {
  const raw = oneString(query, param);
  if (raw === undefined) return undefined;
  if (raw !== 'true' && raw !== 'false') throw bad(param, 'must be true or false');
  return raw === 'true';
}

export class SyncService {
  constructor(
    private readonly registry: ContentTypeRegistry,
    private readonly entries: EntriesService,
    private readonly repo: EntriesRepository,
    private readonly mediaRepo: MediaRepository,
    private readonly mediaJson: (doc: MediaDoc) => unknown,
    private readonly changes: ChangeLog,
    private readonly locales: Locales,
    private readonly batch = BATCH,
  ) {}

  /** Types in a fixed order (by id), so pages and resumes agree. */
  private allTypes(): ContentType[] {
    return this.registry.all().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * The types of a read: those named in `types=` (each must be readable, or the caller's refusal is
   * the answer), else every type the caller may read. A preview token reads as anonymous clients do
   * (its own entry's draft is for `GET /api/content`, not for a feed).
   */
  private readableTypes(raw: string | undefined, caller: Caller, preview: boolean): { types: ContentType[]; named?: string[] } {
    const readable = (type: ContentType) => {
      caller.mayRead(type);
      if (caller.only?.type === type.id && !type.public) throw new CmsError('forbidden', codes.previewTokenScope, 'A preview token reads its own entry through /api/content, with ?preview=true');
      if (preview) caller.mayPreview(type);
    };
    if (raw === undefined) {
      const types: ContentType[] = [];
      let refusal: unknown;
      for (const type of this.allTypes()) {
        try {
          readable(type);
          types.push(type);
        } catch (err) {
          refusal ??= err;
        }
      }
      if (!types.length && refusal) throw refusal;
      return { types };
    }
    const names = [...new Set(raw.split(',').map((s) => s.trim()))].sort();
    if (!names.length || names.some((n) => !n)) throw bad('types', 'a comma-separated list of content type ids');
    const unknown = names.filter((n) => !this.registry.get(n));
    if (unknown.length) {
      throw invalid(codes.typeNotFound, `Unknown content type${unknown.length > 1 ? 's' : ''}: ${unknown.map((u) => u.slice(0, 64)).join(', ')}`, [{ path: 'types', message: `no such content type: ${unknown[0]!.slice(0, 64)}` }]);
    }
    const types = names.map((n) => this.registry.get(n)!);
    for (const type of types) readable(type);
    return { types, named: names };
  }

  private viewOf(type: ContentType, preview: boolean): View {
    return type.drafts && !preview ? 'published' : 'draft';
  }

  /** Checks the request (nothing is streamed before it passes) and plans the answer. */
  async sync(query: Record<string, unknown>, access: SyncAccess): Promise<SyncPlan> {
    rejectUnknown(query, ['token', 'types', 'locale', 'preview', 'limit', 'media']);
    const { caller } = access;
    const preview = parseBool(query, 'preview') ?? false;
    if (preview && caller.only) throw new CmsError('forbidden', codes.previewTokenScope, 'A preview token cannot sync drafts: it opens one entry');
    const { types, named } = this.readableTypes(oneString(query, 'types'), caller, preview);
    const locale = this.locales.forRead(query.locale);
    const rawLimit = oneString(query, 'limit');
    let limit = SYNC_DEFAULT_LIMIT;
    if (rawLimit !== undefined) {
      if (!/^\d{1,6}$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > SYNC_MAX_LIMIT) throw bad('limit', `must be a whole number from 1 to ${SYNC_MAX_LIMIT}`);
      limit = Number(rawLimit);
    }
    // asked for: the caller must be allowed; by default: whether they are
    const mediaAsked = parseBool(query, 'media');
    if (mediaAsked) access.mayReadMedia();
    const media = mediaAsked ?? passes(access.mayReadMedia);
    // the types are pinned even when not named: a caller whose readable types changed needs a full sync
    const shape: Omit<SyncTokenData, 'seq'> = { v: 1, view: preview ? 'preview' : 'published', types: named ?? types.map((t) => t.id).sort(), ...(named ? {} : { all: true }), locale, media };
    const rawToken = oneString(query, 'token');
    const ctx: Ctx = { types, preview, locale, media, caller, shape };
    if (rawToken === undefined || rawToken === '') {
      // the head first: whatever is written from here on is delivered again by the next sync
      const head = await this.changes.head();
      return { chunks: this.full(ctx, head), full: true };
    }
    const token = decodeSyncToken(rawToken);
    const differs: string[] = (['view', 'locale', 'media'] as const).filter((k) => token[k] !== shape[k]);
    if (Boolean(token.all) !== Boolean(shape.all)) differs.push('types');
    if (JSON.stringify(token.types ?? null) !== JSON.stringify(shape.types ?? null)) {
      if (shape.all && !differs.length) {
        throw new CmsError('gone', codes.syncTokenExpired, 'The types this caller may read changed since this token: sync again without a token (a full sync)', [{ path: 'token', message: 'made for other types' }]);
      }
      differs.push('types');
    }
    if (differs.length) throw badToken(`it was made for another ${differs.join(', ')}: sync with the same types, locale, preview and media as the token's first sync`);
    const text = await this.changesSince(ctx, token.seq, limit);
    return { chunks: (async function* () { yield text; })(), full: false };
  }

  private async *full(ctx: Ctx, head: number): AsyncGenerator<string> {
    for (const type of ctx.types) {
      const view = this.viewOf(type, ctx.preview);
      let after: string | undefined;
      for (;;) {
        const rows = await this.repo.find(type.id, { filter: after === undefined ? {} : { _id: { $gt: after } }, sort: { _id: 1 }, limit: this.batch }, view);
        if (rows.length) yield rows.map((row) => line({ op: 'upsert', type: type.id, id: row._id, entry: this.entries.presentStored(type, row, ctx.caller, ctx.locale) })).join('');
        if (rows.length < this.batch) break;
        after = rows[rows.length - 1]!._id;
      }
    }
    if (ctx.media) {
      let after: string | undefined;
      for (;;) {
        const rows = await this.mediaRepo.find({ filter: after === undefined ? {} : { _id: { $gt: after } }, sort: { _id: 1 }, limit: this.batch });
        if (rows.length) yield rows.map((doc) => line({ op: 'upsert', kind: 'media', id: doc._id, media: this.mediaJson(doc) })).join('');
        if (rows.length < this.batch) break;
        after = rows[rows.length - 1]!._id;
      }
    }
    yield line({ op: 'end', token: encodeSyncToken({ ...ctx.shape, seq: head }), more: false });
  }

  /** One page of changes after `seq`, as NDJSON text (at most `limit` records read, so bounded). */
  private async changesSince(ctx: Ctx, seq: number, limit: number): Promise<string> {
    const records = await this.changes.since(seq, limit + 1);
    // the log is numbered without gaps: a first record past seq + 1 means older ones were pruned
    if (records.length && records[0]!._id > seq + 1) {
      throw new CmsError('gone', codes.syncTokenExpired, 'The change log no longer holds the changes after this token: sync again without a token (a full sync)', [{ path: 'token', message: 'older than the change log' }]);
    }
    if (!records.length && seq > (await this.changes.head())) throw badToken('it is ahead of the change log (a token of another database?)');
    const more = records.length > limit;
    const page = more ? records.slice(0, limit) : records;
    const next = page.length ? page[page.length - 1]!._id : seq;
    const wanted = new Map(ctx.types.map((t) => [t.id, t]));
    // the last record of each entry; Map order follows the last time each was touched
    const latest = new Map<string, Change>();
    for (const rec of page) {
      let key: string;
      if (rec.kind === 'media') {
        if (!ctx.media) continue;
        key = `media:${rec.id}`;
      } else {
        if (!rec.type || !wanted.has(rec.type)) continue;
        if (!ctx.preview && !rec.public) continue;
        key = `entry:${rec.type}:${rec.id}`;
      }
      latest.delete(key);
      latest.set(key, rec);
    }
    const byType = new Map<string, string[]>();
    const mediaIds: string[] = [];
    for (const rec of latest.values()) {
      if (rec.kind === 'media') mediaIds.push(rec.id);
      else byType.set(rec.type!, [...(byType.get(rec.type!) ?? []), rec.id]);
    }
    // one query per type, and one for media
    const found = new Map<string, StoredEntry>();
    await Promise.all(
      [...byType].map(async ([typeId, ids]) => {
        const type = wanted.get(typeId)!;
        for (const doc of await this.repo.findByIds(typeId, ids, this.viewOf(type, ctx.preview))) found.set(`entry:${typeId}:${doc._id}`, doc);
      }),
    );
    const mediaDocs = new Map((await this.mediaRepo.findMany(mediaIds)).map((d) => [d._id, d]));
    let out = '';
    for (const [key, rec] of latest) {
      if (rec.kind === 'media') {
        const doc = mediaDocs.get(rec.id);
        out += line(doc ? { op: 'upsert', kind: 'media', id: rec.id, media: this.mediaJson(doc) } : { op: 'delete', kind: 'media', id: rec.id });
        continue;
      }
      const doc = found.get(key);
      const type = wanted.get(rec.type!)!;
      out += line(doc ? { op: 'upsert', type: type.id, id: rec.id, entry: this.entries.presentStored(type, doc, ctx.caller, ctx.locale) } : { op: 'delete', type: type.id, id: rec.id });
    }
    out += line({ op: 'end', token: encodeSyncToken({ ...ctx.shape, seq: next }), more });
    return out;
  }

  // --- the build export ---

  /**
   * Published entries of the requested types, in type order then `_id` order, each with the
   * SHA-256 of its canonical JSON; `after=<type>:<id>` resumes after that entry. Pages through the
   * list API, so `populate=` and the caller's view of each entry are exactly those of a list.
   */
  async export(query: Record<string, unknown>, caller: Caller, pageSize: number): Promise<AsyncGenerator<string>> {
    rejectUnknown(query, ['types', 'populate', 'locale', 'after']);
    const { types } = this.readableTypes(oneString(query, 'types'), caller, false);
    const locale = this.locales.forRead(query.locale);
    const populate = oneString(query, 'populate');
    const names = populate === undefined ? [] : [...new Set(populate.split(',').map((s) => s.trim()))];
    if (populate !== undefined && (!names.length || names.some((n) => !n))) throw bad('populate', 'a comma-separated list of fields');
    // a name applies to the types that have its first field; one that no type has is unknown
    const has = (type: ContentType, name: string) => {
      const first = name.split('.')[0]!;
      return [...type.fields.keys()].some((p) => p === name || p === first || name.startsWith(`${p}.`));
    };
    const unknown = names.filter((n) => !types.some((t) => has(t, n)));
    if (unknown.length) throw invalid(codes.queryUnknownField, `Unknown field "${unknown[0]!.slice(0, 64)}" in populate: none of the exported types has it`, [{ path: 'populate', message: `unknown field "${unknown[0]!.slice(0, 64)}"` }]);
    const populateOf = new Map(types.map((t) => [t.id, names.filter((n) => has(t, n)).join(',')]));
    let start = 0;
    let afterId: string | undefined;
    const rawAfter = oneString(query, 'after');
    if (rawAfter !== undefined) {
      const m = /^([a-z][a-z0-9-]{0,47}):(.+)$/.exec(rawAfter);
      const index = m ? types.findIndex((t) => t.id === m[1]) : -1;
      const type = types[index];
      if (!m || !type || !(type.singleton ? m[2] === type.id : ID_PATTERN.test(m[2]!))) throw bad('after', 'must be <type>:<id> of an exported entry, as in a line of an earlier export');
      start = index;
      afterId = m[2]!;
    }
    const queryFor = (type: ContentType, extra: Record<string, string>) => {
      const q: Record<string, string> = { locale, ...extra };
      const p = populateOf.get(type.id);
      if (p) q.populate = p;
      return q;
    };
    // every list's own checks (populate, access) run before anything is streamed
    for (const type of types.slice(start)) {
      if (type.singleton) continue;
      await this.entries.list(type.id, queryFor(type, { limit: '1' }), caller, { count: false });
    }
    const entries = this.entries;
    let count = 0;
    return (async function* () {
      for (let i = start; i < types.length; i++) {
        const type = types[i]!;
        const resume = i === start ? afterId : undefined;
        if (type.singleton) {
          if (resume !== undefined) continue;
          let entry: StoredEntry;
          try {
            entry = await entries.get(type.id, undefined, queryFor(type, {}), caller);
          } catch (err) {
            if (err instanceof CmsError && err.code === codes.entryNotFound) continue;
            throw err;
          }
          count++;
          yield line({ type: type.id, id: entry._id, hash: hashOf(entry), entry });
          continue;
        }
        let cursor = resume === undefined ? undefined : encodeCursor([{ field: '_id', dir: 1 }], { _id: resume });
        for (;;) {
          const page = await entries.list(type.id, queryFor(type, { limit: String(pageSize), ...(cursor ? { cursor } : {}) }), caller, { count: false });
          if (page.data.length) {
            count += page.data.length;
            yield page.data.map((entry) => line({ type: type.id, id: entry._id, hash: hashOf(entry), entry })).join('');
          }
          if (!page.meta.nextCursor) break;
          cursor = page.meta.nextCursor;
        }
      }
      yield line({ op: 'end', count });
    })();
  }
}

interface Ctx {
  types: ContentType[];
  preview: boolean;
  locale: string;
  media: boolean;
  caller: Caller;
  shape: Omit<SyncTokenData, 'seq'>;
}
