// The content service: entries of a content type, validated against the type, with optimistic
// concurrency on `_version`. For a type with drafts, writes change the working copy (the draft) and
// readers see the published snapshot until someone publishes. Every write is a version in the
// entry's history and a record in the change log.
import { ObjectId } from 'mongodb';
import type { ContentType, ContentTypeRegistry } from '../content-types/registry.js';
import { CmsError, codes, invalid, notFound, type ErrorDetail } from '../errors.js';
import type { ChangeLog } from '../storage/changes.js';
import { DuplicateKeyError, type EntriesRepository, type StoredEntry, type View } from '../storage/entries.js';
import type { Revision, RevisionAction, RevisionsRepository } from '../storage/revisions.js';
import { escapePointer, isObject, readPath, same, writePath } from '../json.js';
import { detailOf, mergePatch, normalizeDates, prepareBody, redactPrivate, type Fields } from './documents.js';
import { ALL_LOCALES, type Locales } from './locales.js';
import { ALWAYS_RETURNED, ID_PATTERN, toPage, mongoSort, parseFields, parseListQuery, projectionFor, type ListLimits } from './query.js';
import { collectRefs, keptFields, parsePopulateTree, type PopulateNode } from './populate.js';
import { EntryWriter } from './writes.js';

/** `any`: may the caller write this type at all? Asked before the body or the entry is looked at. */
export type WriteAction = 'create' | 'update' | 'delete' | 'any';

/** Who is reading or writing, as the service needs to know it (routes build it from `request.auth`). */
export interface Caller {
  /** Stored as `_createdBy` on create, and as the author of each version. */
  id: string;
  /** Sees private fields and `_createdBy`; others get neither, and cannot query on private fields. */
  seesPrivate: boolean;
  mayRead(type: ContentType): void;
  /** Throws unless the caller may do this to an entry created by `owner`. */
  mayWrite(type: ContentType, action: WriteAction, owner?: string): void;
  /** Throws unless the caller may read drafts and history (`?preview=true`, versions). */
  mayPreview(type: ContentType): void;
  /** Throws unless the caller may publish, unpublish, discard and schedule. */
  mayPublish(type: ContentType): void;
  /** A preview token: the one entry whose draft it opens. */
  only?: { type: string; id: string };
}

const allow = () => undefined;

/** The server itself (command-line tools, imports, schedules): everything is allowed. */
export const SYSTEM: Caller = { id: 'system', seesPrivate: true, mayRead: allow, mayWrite: allow, mayPreview: allow, mayPublish: allow };

/** What entries need of the media library: checking media fields, and populating them. */
export interface MediaFields {
  checkEntry(type: ContentType, fields: Fields): Promise<string[] | undefined>;
  populate(entries: StoredEntry[], paths: string[]): Promise<void>;
}

export interface ListResult {
  data: StoredEntry[];
  meta: { total: number; limit: number; offset: number; nextCursor: string | null; preview: boolean; locale: string };
}

export interface WriteResult {
  entry: StoredEntry;
  created: boolean;
  /** Fields whose value changed (for the audit log). */
  changed: string[];
  /** The version written; undefined when there was nothing to do. */
  version?: number;
}

export interface WriteOptions {
  /** `?locale=`: the body's localized fields are this locale's values. */
  locale?: unknown;
  /** The schedule running this write (recorded with the version). */
  schedule?: string;
}

export interface VersionSummary {
  version: number;
  action: RevisionAction;
  at: string;
  by?: string;
  from?: number;
  schedule?: string;
}

export interface FieldChange {
  path: string;
  op: 'added' | 'removed' | 'changed';
  from?: unknown;
  to?: unknown;
}

export interface Referrer {
  type: string;
  id: string;
  /** The ref field that holds the id. */
  field: string;
  title?: string;
  onDelete: 'refuse' | 'nullify';
}

export type Clock = () => Date;

/** Tries of a write that keeps losing its version to concurrent writers (with a growing random pause). */
const MAX_ATTEMPTS = 10;
const MAX_VERSIONS_PAGE = 100;
/** Entries one answer may hold through populate, copies included. */
const MAX_POPULATED = 10_000;

function pick(entry: StoredEntry, fields: string[] | undefined): StoredEntry {
  if (!fields) return entry;
  const out: Record<string, unknown> = {};
  for (const key of [...ALWAYS_RETURNED, '_status', '_locale', ...fields]) if (key in entry) out[key] = entry[key];
  return out as StoredEntry;
}

/** A write's precondition: an exact version, `*` (the entry must exist), or none. */
export type Precondition = number | '*' | undefined;

function versionMismatch(expected: Exclude<Precondition, undefined>, current: number): CmsError {
  if (current === 0) {
    return new CmsError('precondition', codes.entryVersion, 'The entry does not exist, so the precondition fails', [
      { path: '/_version', message: `expected ${expected === '*' ? 'an existing entry' : expected}, but there is none`, current },
    ]);
  }
  return new CmsError('precondition', codes.entryVersion, `The entry is at version ${current}, not ${expected}: reload it and retry`, [
    { path: '/_version', message: `expected ${expected}, current is ${current}`, current },
  ]);
}

const isStale = (expected: Precondition, current: number): expected is number => typeof expected === 'number' && current !== expected;

/** What one write does: the new working copy and, for drafts, the published snapshot it leaves. */
interface Plan {
  action: RevisionAction;
  /** The working copy after the write; null deletes the entry. */
  doc: StoredEntry | null;
  /** Types with drafts: the published snapshot after the write (null: none); undefined: unchanged. */
  published?: StoredEntry | null;
  from?: number;
  locales: string[];
  public: boolean;
  changed: string[];
}

interface Target {
  type: ContentType;
  id: string;
}

export class EntriesService {
  /** Claims, writes, logs and rolls forward versions: the one write path. */
  private readonly writer: EntryWriter;

  constructor(
    private readonly registry: ContentTypeRegistry,
    private readonly repo: EntriesRepository,
    private readonly revisions: RevisionsRepository,
    changes: ChangeLog,
    private readonly locales: Locales,
    private readonly limits: ListLimits,
    private readonly media: MediaFields,
    private readonly now: Clock = () => new Date(),
  ) {
    this.writer = new EntryWriter(repo, revisions, changes);
  }

  /** Checks the media fields, and records the media ids the entry holds in `_media`. */
  private async withMedia(type: ContentType, fields: Fields): Promise<Fields> {
    const ids = await this.media.checkEntry(type, fields);
    if (ids) fields._media = ids;
    return fields;
  }

  knownType(id: string): ContentType | undefined {
    return this.registry.get(id);
  }

  type(id: string): ContentType {
    const type = this.registry.get(id);
    if (!type) {
      throw new CmsError('not-found', codes.typeNotFound, `There is no content type "${id.slice(0, 64)}"`, [{ path: 'type', message: 'no such content type' }]);
    }
    return type;
  }

  /** The type, which must be a collection (entries addressed by id). */
  collectionType(id: string): ContentType {
    const type = this.type(id);
    if (type.singleton) {
      throw new CmsError('not-found', codes.typeIsSingleton, `"${id}" is a singleton: use /api/content/${id} without an id`);
    }
    return type;
  }

  private checkId(id: string): void {
    if (!ID_PATTERN.test(id)) {
      throw invalid(codes.entryInvalidId, `"${id.slice(0, 64)}" is not an entry id (24 hexadecimal characters)`, [{ path: 'id', message: 'not an entry id' }]);
    }
  }

  /**
   * The type and id an address names (a singleton's id is its type id). `allowed` runs once the
   * type is known and before anything else (the id, the body, the entry): a caller without access
   * learns nothing about them.
   */
  private resolve(typeId: string, id: string | undefined, allowed: (type: ContentType) => void): Target {
    if (id === undefined) {
      const type = this.type(typeId);
      allowed(type);
      if (!type.singleton) throw new CmsError('not-allowed', codes.typeNotSingleton, `"${typeId}" is a collection: address an entry by id`);
      return { type, id: type.id };
    }
    const type = this.collectionType(typeId);
    allowed(type);
    this.checkId(id);
    return { type, id };
  }

  /** Validates stored fields: a draft may lack required fields, anything else is checked whole. */
  private complete(type: ContentType, fields: Fields, whole = !type.drafts): Fields {
    const validate = whole ? type.validate : type.validateDraft;
    if (!validate(fields)) {
      const details = (validate.errors ?? []).map(detailOf);
      const what = whole && type.drafts ? 'cannot be published: it does not match' : 'does not match';
      throw invalid(codes.entryValidation, `The entry ${what} type "${type.id}" (${details.length} problem${details.length === 1 ? '' : 's'})`, details);
    }
    normalizeDates(type.storedSchema, fields);
    return fields;
  }

  /** The type as the caller may query it: without private fields unless they see them. */
  private viewOf(type: ContentType, caller: Caller): ContentType {
    return caller.seesPrivate ? type : this.registry.publicView(type);
  }

  private present(type: ContentType, entry: StoredEntry, caller: Caller, locale: string): StoredEntry {
    delete entry._media;
    if (!caller.seesPrivate) redactPrivate(type, entry);
    this.locales.flatten(type, entry, locale);
    return entry;
  }

  /** `preview` and `locale` of a read; what is left is the type's own query. */
  private readMode(type: ContentType, query: Record<string, unknown>, caller: Caller): { preview: boolean; locale: string; rest: Record<string, unknown> } {
    const { preview: rawPreview, locale: rawLocale, ...rest } = query;
    let preview = false;
    if (rawPreview !== undefined) {
      if (rawPreview !== 'true' && rawPreview !== 'false') throw invalid(codes.queryBadValue, 'preview takes true or false', [{ path: 'preview', message: 'must be true or false' }]);
      preview = rawPreview === 'true';
    }
    if (preview) caller.mayPreview(type);
    return { preview, locale: this.locales.forRead(rawLocale), rest };
  }

  /** Which copy a read sees: drafts when previewing, else what is published. */
  private viewFor(type: ContentType, preview: boolean): View {
    return type.drafts && !preview ? 'published' : 'draft';
  }

  /**
   * A preview token opens one entry's draft: previewing any other entry of its type is refused, and
   * without `preview=true` it reads only what anonymous clients may.
   */
  private checkOnly(type: ContentType, id: string | undefined, preview: boolean, caller: Caller): void {
    if (!caller.only || caller.only.type !== type.id) return;
    if (!preview && !type.public) throw new CmsError('forbidden', codes.previewTokenScope, 'A preview token reads its own entry, with ?preview=true');
    if (preview && id !== undefined && id !== caller.only.id) {
      throw new CmsError('forbidden', codes.previewTokenScope, 'This preview token is for another entry');
    }
  }

  /** `count: false` leaves out the total (-1), a scan on FerretDB that an export paging through everything does not need. */
  async list(typeId: string, query: Record<string, unknown>, caller: Caller = SYSTEM, options: { count?: boolean } = {}): Promise<ListResult> {
    const base = this.collectionType(typeId);
    caller.mayRead(base);
    const mode = this.readMode(base, query, caller);
    this.checkOnly(base, undefined, mode.preview, caller);
    const type = this.viewOf(base, caller);
    const q = parseListQuery(type, mode.rest, this.limits, { locale: mode.locale === ALL_LOCALES ? this.locales.default : mode.locale, populate: true });
    if (mode.preview && caller.only?.type === type.id) {
      q.filter = { $and: [q.filter, { _id: caller.only.id }] };
      q.pageFilter = { $and: [q.pageFilter, { _id: caller.only.id }] };
    }
    const view = this.viewFor(type, mode.preview);
    const projection = projectionFor(q.fields, q.sort);
    const [rows, total] = await Promise.all([
      this.repo.find(type.id, { filter: q.pageFilter, sort: mongoSort(q.sort), limit: q.limit + 1, skip: q.offset, ...(projection ? { projection } : {}) }, view),
      options.count === false ? Promise.resolve(-1) : this.repo.count(type.id, q.filter, view),
    ]);
    const { page, meta } = toPage(rows, q, total);
    const data = page.map((e) => this.present(type, pick(e, q.fields), caller, mode.locale));
    if (q.populate) await this.populate(data, this.populateTree(type, q.populate, q.populateFields, caller), mode, caller);
    else if (Object.keys(q.populateFields).length) throw this.fieldsWithoutPopulate(q.populateFields);
    return { data, meta: { ...meta, preview: mode.preview, locale: mode.locale } };
  }

  async get(typeId: string, id: string | undefined, query: Record<string, unknown> = {}, caller: Caller = SYSTEM): Promise<StoredEntry> {
    const resolved = this.resolve(typeId, id, (type) => caller.mayRead(type));
    const mode = this.readMode(resolved.type, query, caller);
    this.checkOnly(resolved.type, resolved.id, mode.preview, caller);
    const type = this.viewOf(resolved.type, caller);
    const populateFields = Object.create(null) as Record<string, string>; // keys come from the client: no prototype to set
    for (const [k, v] of Object.entries(mode.rest)) {
      const m = /^fields\[([^[\]]+)\]$/.exec(k);
      if (!m) continue;
      if (typeof v !== 'string') throw invalid(codes.queryBadValue, `${k} is given more than once`, [{ path: k, message: 'given more than once' }]);
      populateFields[m[1]!] = v;
    }
    const unknown = Object.keys(mode.rest).filter((k) => k !== 'fields' && k !== 'populate' && !/^fields\[[^[\]]+\]$/.test(k));
    if (unknown.length) {
      throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${unknown.join(', ')}`, unknown.map((path) => ({ path, message: 'unknown query parameter' })));
    }
    let fields: string[] | undefined;
    if (mode.rest.fields !== undefined) {
      if (typeof mode.rest.fields !== 'string') throw invalid(codes.queryBadValue, 'fields is given more than once', [{ path: 'fields', message: 'given more than once' }]);
      fields = parseFields(type, mode.rest.fields);
    }
    let populate: PopulateNode[] | undefined;
    if (mode.rest.populate !== undefined) {
      if (typeof mode.rest.populate !== 'string') throw invalid(codes.queryBadValue, 'populate is given more than once', [{ path: 'populate', message: 'given more than once' }]);
      populate = this.populateTree(type, mode.rest.populate, populateFields, caller);
    } else if (Object.keys(populateFields).length) {
      throw this.fieldsWithoutPopulate(populateFields);
    }
    const entry = await this.repo.findById(type.id, resolved.id, projectionFor(fields), this.viewFor(type, mode.preview));
    if (!entry) {
      const what = type.drafts && !mode.preview ? `No published ${type.id} entry with id ${resolved.id}` : `No ${type.id} entry with id ${resolved.id}`;
      throw notFound(codes.entryNotFound, what);
    }
    const out = this.present(type, pick(entry, fields), caller, mode.locale);
    if (populate) await this.populate([out], populate, mode, caller);
    return out;
  }

  private populateTree(type: ContentType, raw: string, fields: Record<string, string>, caller: Caller): PopulateNode[] {
    return parsePopulateTree(this.registry, type, raw, fields, this.limits.maxPopulateDepth ?? 2, (t) => this.viewOf(t, caller));
  }

  private fieldsWithoutPopulate(fields: Record<string, string>): CmsError {
    const keys = Object.keys(fields).map((k) => `fields[${k.slice(0, 64)}]`);
    return invalid(codes.queryBadValue, `${keys.join(', ')} without populate: name the path in populate too`, keys.map((path) => ({ path, message: 'not a populated path' })));
  }

  /**
   * Replaces ids in media and reference fields by what they point at: one batched query per node of
   * the tree (path and level), never one per entry. A reference to an entry the reader cannot see
   * (unpublished, deleted) becomes null. Each occurrence is its own copy, so cycles cannot form.
   */
  private async populate(entries: StoredEntry[], nodes: PopulateNode[], mode: { preview: boolean; locale: string }, caller: Caller, budget = { left: MAX_POPULATED }): Promise<void> {
    if (!entries.length) return;
    const media = nodes.filter((n) => n.field.media).map((n) => n.path);
    if (media.length) await this.media.populate(entries, media);
    for (const node of nodes) {
      if (!node.target) continue;
      const target = this.registry.get(node.target.id)!;
      caller.mayRead(target);
      let preview = mode.preview;
      if (preview) {
        try {
          caller.mayPreview(target);
          this.checkOnly(target, undefined, true, caller);
          // a preview token previews its own entry only
          if (caller.only) preview = false;
        } catch {
          preview = false;
        }
      }
      const holders = entries.map((e) => ({ e, value: readPath(e, node.path) }));
      const ids = [...new Set(holders.flatMap(({ value }) => (Array.isArray(value) ? value : [value])).filter((v): v is string => typeof v === 'string' && ID_PATTERN.test(v)))];
      const kept = keptFields(node);
      const rows = await this.repo.findByIds(target.id, ids, this.viewFor(target, preview), projectionFor(kept));
      const found = new Map(rows.map((d) => [d._id, d]));
      const populated: StoredEntry[] = [];
      const resolve = (id: unknown) => {
        const doc = typeof id === 'string' ? found.get(id) : undefined;
        if (!doc) return null;
        // every occurrence is a copy: references fanning out level after level must stay bounded
        if (--budget.left < 0) {
          throw invalid(codes.queryBadValue, `populate would put more than ${MAX_POPULATED} entries in one answer: ask for fewer (limit, a shorter path, or fields[…])`, [{ path: 'populate', message: 'too many populated entries' }]);
        }
        const shown = this.present(node.target!, pick({ ...doc }, kept), caller, mode.locale);
        populated.push(shown);
        return shown;
      };
      for (const { e, value } of holders) {
        if (value === undefined) continue;
        writePath(e, node.path, Array.isArray(value) ? value.map(resolve) : resolve(value));
      }
      if (node.children.length) await this.populate(populated, node.children, { ...mode, preview }, caller, budget);
    }
  }

  /** Checks every reference in the fields: each id must be an entry (a draft will do) of its type. */
  private async checkRefs(type: ContentType, fields: Fields): Promise<void> {
    const refs = collectRefs(type.storedSchema, fields);
    if (!refs.length) return;
    const details: ErrorDetail[] = [];
    for (const target of new Set(refs.map((r) => r.type))) {
      const mine = refs.filter((r) => r.type === target);
      const ids = [...new Set(mine.map((r) => r.id).filter((id) => ID_PATTERN.test(id)))];
      const found = new Set((await this.repo.findByIds(target, ids, 'draft', { _id: 1 })).map((d) => d._id));
      for (const r of mine) {
        if (!found.has(r.id)) details.push({ path: r.pointer, message: ID_PATTERN.test(r.id) ? `no ${target} entry has this id` : 'not an entry id', type: target, id: r.id.slice(0, 64) });
      }
    }
    if (details.length) throw invalid(codes.entryRef, `References of this ${type.id} do not point at entries of the right type (${details.length} problem${details.length === 1 ? '' : 's'})`, details);
  }

  /** Fields checked against the media library and the referenced entries; `_media` records the media held. */
  private async withLinks(type: ContentType, fields: Fields): Promise<Fields> {
    await this.checkRefs(type, fields);
    return this.withMedia(type, fields);
  }

  async create(typeId: string, body: unknown, caller: Caller = SYSTEM, options: WriteOptions = {}): Promise<WriteResult> {
    const type = this.collectionType(typeId);
    caller.mayWrite(type, 'create');
    const locale = this.locales.forWrite(options.locale);
    const { fields } = prepareBody(body, { allowVersion: false });
    const stored = await this.withLinks(type, this.complete(type, this.locales.toStored(type, fields, locale, null, 'put')));
    const id = new ObjectId().toHexString();
    return this.commit({ type, id }, undefined, caller, true, async (_current, version, now) => {
      const doc = this.stamp(type, { _id: id, _type: type.id, _version: version, _createdAt: now, _updatedAt: now, _createdBy: caller.id }, stored, now);
      const changed = Object.keys(userFields(doc));
      return { action: 'create', doc, locales: [ALL_LOCALES], public: !type.drafts, changed };
    }, locale);
  }

  /** The system fields a save leaves: without drafts every save is published. */
  private stamp(type: ContentType, system: StoredEntry, fields: Fields, now: string, current?: StoredEntry | null): StoredEntry {
    const entry: StoredEntry = { ...system, ...fields };
    if (!type.drafts) {
      entry._status = 'published';
      entry._publishedAt = now;
    } else if (current && current._status !== 'draft') {
      entry._status = 'changed';
      entry._publishedAt = current._publishedAt;
    } else {
      entry._status = 'draft';
    }
    return entry;
  }

  /** PUT: replaces every field. A singleton is created by its first PUT. */
  async replace(typeId: string, id: string | undefined, body: unknown, ifMatch?: Precondition, caller: Caller = SYSTEM, options: WriteOptions = {}): Promise<WriteResult> {
    const target = this.resolve(typeId, id, (type) => caller.mayWrite(type, 'any'));
    const locale = this.locales.forWrite(options.locale);
    const prepared = prepareBody(body, { allowVersion: true });
    const expected = this.precondition(ifMatch, prepared.version);
    return this.save(target, expected, caller, 'update', locale, (current) => this.locales.toStored(target.type, { ...prepared.fields }, locale, current && userFields(current), 'put'));
  }

  /** PATCH: a JSON Merge Patch applied to the current fields, then validated as a whole. */
  async patch(typeId: string, id: string | undefined, body: unknown, ifMatch?: Precondition, caller: Caller = SYSTEM, options: WriteOptions = {}): Promise<WriteResult> {
    const target = this.resolve(typeId, id, (type) => caller.mayWrite(type, 'any'));
    const locale = this.locales.forWrite(options.locale);
    const prepared = prepareBody(body, { allowVersion: true });
    const expected = this.precondition(ifMatch, prepared.version);
    return this.save(target, expected, caller, 'update', locale, (current) => {
      if (!current) throw notFound(codes.entryNotFound, `No ${target.type.id} entry with id ${target.id}`);
      const patch = this.locales.toStored(target.type, { ...prepared.fields }, locale, null, 'patch');
      return this.locales.dropEmpty(target.type, mergePatch(userFields(current), patch) as Fields);
    });
  }

  /** Restores the fields of an earlier version as a new version (a draft, for types with drafts). */
  async restore(typeId: string, id: string | undefined, version: unknown, ifMatch?: Precondition, caller: Caller = SYSTEM): Promise<WriteResult> {
    const target = this.resolve(typeId, id, (type) => caller.mayWrite(type, 'any'));
    const from = parseVersion(version, 'version');
    const rev = await this.revisions.get(target.type.id, target.id, from);
    if (!rev?.doc) throw notFound(codes.versionNotFound, rev ? `Version ${from} is a deletion: there is nothing to restore` : `No version ${from} of this entry`);
    const restored = userFields(rev.doc);
    return this.save(target, ifMatch, caller, 'restore', undefined, () => structuredClone(restored), from);
  }

  /** A save of fields (update, restore; create for a singleton's first PUT). */
  private async save(target: Target, expected: Precondition, caller: Caller, action: 'update' | 'restore', locale: string | undefined, compute: (current: StoredEntry | null) => Fields, from?: number): Promise<WriteResult> {
    const { type, id } = target;
    return this.commit(target, expected, caller, false, async (current, version, now) => {
      if (!current && !type.singleton) throw notFound(codes.entryNotFound, `No ${type.id} entry with id ${id}`);
      caller.mayWrite(type, current ? 'update' : 'create', current?._createdBy as string | undefined);
      const fields = await this.withLinks(type, this.complete(type, compute(current)));
      const doc = this.stamp(type, {
        _id: id,
        _type: type.id,
        _version: version,
        _createdAt: current ? current._createdAt : now,
        _updatedAt: now,
        _createdBy: (current?._createdBy as string | undefined) ?? caller.id,
      }, fields, now, current);
      const before = current ? userFields(current) : {};
      const after = userFields(doc);
      const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !same(before[k], after[k]));
      // a save that changes nothing is no new version (and leaves a published entry published)
      if (current && !changed.length) return null;
      return {
        action: current ? action : 'create',
        doc,
        locales: current ? this.locales.touched(type, before, after, changed) : [ALL_LOCALES],
        public: !type.drafts,
        changed,
        ...(from !== undefined ? { from } : {}),
      };
    }, locale);
  }

  async remove(typeId: string, id: string | undefined, ifMatch?: Precondition, caller: Caller = SYSTEM): Promise<void> {
    const target = this.resolve(typeId, id, (t) => caller.mayWrite(t, 'any'));
    const { type } = target;
    await this.commit(target, ifMatch, caller, false, async (current) => {
      if (!current) throw notFound(codes.entryNotFound, `No ${type.id} entry with id ${target.id}`);
      caller.mayWrite(type, 'delete', current._createdBy as string | undefined);
      // deleting what readers see takes it off the site, as unpublishing does
      if (type.drafts && current._status !== 'draft') caller.mayPublish(type);
      const refusing = (await this.findReferrers(type, target.id, 100, true)).filter((r) => r.onDelete === 'refuse' && !(r.type === type.id && r.id === target.id));
      if (refusing.length) {
        // only referrers the caller may read (drafts included) are named; the others are counted
        const named = this.shownReferrers(refusing, caller);
        const hidden = refusing.length - named.length;
        const details: ErrorDetail[] = named.map((r) => ({ path: `/${r.type}/${r.id}`, message: `${r.type} ${r.title ? `"${r.title}"` : r.id} refers to it in ${r.field}`, type: r.type, id: r.id, field: r.field }));
        if (hidden) details.push({ path: '', message: `${hidden} more entr${hidden === 1 ? 'y' : 'ies'} you may not read` });
        throw new CmsError('conflict', codes.entryReferenced, `${refusing.length}${refusing.length === 100 ? '+' : ''} entr${refusing.length === 1 ? 'y refers' : 'ies refer'} to this ${type.id}: change them first (or declare "onDelete": "nullify" on their field)`, details);
      }
      return {
        action: 'delete',
        doc: null,
        ...(type.drafts ? { published: null } : {}),
        locales: [ALL_LOCALES],
        public: !type.drafts || current._status !== 'draft',
        changed: [],
      };
    });
    await this.nullifyReferrers(type, target.id);
  }

  /**
   * Entries whose ref fields point at this one (their working copies and, with `published`, their
   * published snapshots too), with what each field's `onDelete` says. Refs inside arrays of objects
   * are not looked at.
   */
  private async findReferrers(type: ContentType, id: string, max: number, published: boolean, visible: (t: ContentType) => boolean = () => true): Promise<Referrer[]> {
    const out: Referrer[] = [];
    for (const from of this.registry.all()) {
      if (!visible(from)) continue;
      for (const field of from.fields.values()) {
        if (field.ref !== type.id || out.length >= max) continue;
        const projection = { _id: 1, ...(from.displayField ? { [from.displayField]: 1 } : {}) };
        const views: View[] = published && from.drafts ? ['draft', 'published'] : ['draft'];
        const seen = new Set<string>();
        for (const view of views) {
          for (const row of await this.repo.find(from.id, { filter: { [field.path]: id }, sort: { _id: 1 }, limit: max - out.length, projection }, view)) {
            if (seen.has(row._id)) continue;
            seen.add(row._id);
            const title = from.displayField ? row[from.displayField] : undefined;
            out.push({ type: from.id, id: row._id, field: field.path, onDelete: field.onDelete ?? 'refuse', ...(typeof title === 'string' ? { title } : {}) });
          }
        }
      }
    }
    return out;
  }

  /** Removes references to a deleted entry from the fields that say `"onDelete": "nullify"`. */
  private async nullifyReferrers(type: ContentType, id: string): Promise<void> {
    for (const r of (await this.findReferrers(type, id, 10_000, false)).filter((x) => x.onDelete === 'nullify')) {
      const from = this.registry.get(r.type)!;
      try {
        await this.save({ type: from, id: r.id }, undefined, SYSTEM, 'update', undefined, (current) => {
          if (!current) throw notFound(codes.entryNotFound, 'gone');
          const fields = userFields(current);
          const value = readPath(fields, r.field);
          if (Array.isArray(value)) writePath(fields, r.field, value.filter((v) => v !== id));
          else if (value === id) {
            const parts = r.field.split('.');
            const parent = parts.length > 1 ? readPath(fields, parts.slice(0, -1).join('.')) : fields;
            if (isObject(parent)) delete parent[parts[parts.length - 1]!];
          }
          return fields;
        });
      } catch (err) {
        // the referrer was deleted meanwhile, or no longer validates without the reference: it keeps a
        // dangling id, which populates as null
        if (!(err instanceof CmsError)) throw err;
      }
    }
  }

  /** Who refers to this entry, for the admin UI: entries of types the caller may read drafts of. */
  async referrers(typeId: string, id: string | undefined, caller: Caller = SYSTEM): Promise<Referrer[]> {
    const target = this.resolve(typeId, id, (type) => caller.mayPreview(type));
    return this.shownReferrers(await this.findReferrers(target.type, target.id, 100, false, (t) => this.readsDrafts(t, caller)), caller);
  }

  private readsDrafts(type: ContentType, caller: Caller): boolean {
    try {
      caller.mayPreview(type);
      return !caller.only;
    } catch {
      return false;
    }
  }

  /** The referrers the caller may read, titled only where the title is no private field to them. */
  private shownReferrers(referrers: Referrer[], caller: Caller): Referrer[] {
    return referrers
      .filter((r) => this.readsDrafts(this.registry.get(r.type)!, caller))
      .map((r) => {
        const from = this.registry.get(r.type)!;
        if (caller.seesPrivate || !from.displayField || !from.fields.get(from.displayField)?.private) return r;
        const { title: _hidden, ...rest } = r;
        return rest;
      });
  }

  /** The type, which must have drafts, for publish, unpublish, discard and schedules. */
  private publishable(typeId: string, id: string | undefined, caller: Caller): Target {
    const target = this.resolve(typeId, id, (type) => caller.mayPublish(type));
    if (!target.type.drafts) {
      throw new CmsError('conflict', codes.typeNoDrafts, `Type "${target.type.id}" has no drafts: every save is published (set "x-cms": {"drafts": true} to change that)`);
    }
    return target;
  }

  /** Publishes the draft: validated whole, it becomes the snapshot readers see. */
  async publish(typeId: string, id: string | undefined, ifMatch?: Precondition, caller: Caller = SYSTEM, options: WriteOptions = {}): Promise<WriteResult> {
    const target = this.publishable(typeId, id, caller);
    return this.commit(target, ifMatch, caller, false, async (current, version, now) => {
      if (!current) throw notFound(codes.entryNotFound, `No ${target.type.id} entry with id ${target.id}`);
      if (current._status === 'published') return null;
      this.complete(target.type, userFields(current), true);
      const doc: StoredEntry = { ...current, _version: version, _updatedAt: now, _status: 'published', _publishedAt: now };
      return { action: 'publish', doc, published: { ...doc }, locales: [ALL_LOCALES], public: true, changed: [] };
    }, undefined, options.schedule);
  }

  /** Takes the entry off the published view; the draft stays. */
  async unpublish(typeId: string, id: string | undefined, ifMatch?: Precondition, caller: Caller = SYSTEM, options: WriteOptions = {}): Promise<WriteResult> {
    const target = this.publishable(typeId, id, caller);
    return this.commit(target, ifMatch, caller, false, async (current, version, now) => {
      if (!current) throw notFound(codes.entryNotFound, `No ${target.type.id} entry with id ${target.id}`);
      if (current._status === 'draft') throw new CmsError('conflict', codes.entryNotPublished, 'The entry is not published');
      const { _publishedAt: _gone, ...rest } = current;
      const doc: StoredEntry = { ...rest, _version: version, _updatedAt: now, _status: 'draft' };
      return { action: 'unpublish', doc, published: null, locales: [ALL_LOCALES], public: true, changed: [] };
    }, undefined, options.schedule);
  }

  /** Drops the draft's edits: the working copy goes back to the published snapshot. */
  async discard(typeId: string, id: string | undefined, ifMatch?: Precondition, caller: Caller = SYSTEM): Promise<WriteResult> {
    const target = this.publishable(typeId, id, caller);
    return this.commit(target, ifMatch, caller, false, async (current, version, now) => {
      if (!current) throw notFound(codes.entryNotFound, `No ${target.type.id} entry with id ${target.id}`);
      if (current._status !== 'changed') throw new CmsError('conflict', codes.entryNothingToDiscard, current._status === 'draft' ? 'The entry was never published: there is no published version to go back to' : 'The draft has no edits to discard');
      const snapshot = await this.repo.findById(target.type.id, target.id, undefined, 'published');
      if (!snapshot) throw new CmsError('conflict', codes.entryNothingToDiscard, 'The published version is gone: there is nothing to go back to');
      const doc: StoredEntry = {
        ...userFields(snapshot),
        ...(snapshot._media ? { _media: snapshot._media } : {}),
        _id: current._id,
        _type: current._type,
        _version: version,
        _createdAt: current._createdAt,
        _updatedAt: now,
        _createdBy: current._createdBy,
        _status: 'published',
        _publishedAt: snapshot._publishedAt,
      } as StoredEntry;
      const before = userFields(current);
      const after = userFields(doc);
      const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !same(before[k], after[k]));
      return { action: 'discard', doc, locales: this.locales.touched(target.type, before, after, changed), public: false, changed };
    });
  }

  private precondition(header: Precondition, body: number | undefined): Precondition {
    if (typeof header === 'number' && body !== undefined && header !== body) {
      throw invalid(codes.entryBadPrecondition, `If-Match (${header}) and _version (${body}) disagree`, [
        { path: '/_version', message: 'disagrees with If-Match' },
      ]);
    }
    return body ?? header;
  }

  /**
   * Read, plan, claim the next version, apply, log. Exactly one writer claims a version (see
   * RevisionsRepository). Without a precondition a lost race is retried on the fresh entry; with
   * one it is a 412. `fresh`: the id was just made, so there is nothing to read.
   */
  private async commit(
    target: Target,
    expected: Precondition,
    caller: Caller,
    fresh: boolean,
    plan: (current: StoredEntry | null, version: number, now: string) => Promise<Plan | null>,
    locale?: string,
    schedule?: string,
  ): Promise<WriteResult> {
    const { type, id } = target;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = fresh ? null : await this.repo.findById(type.id, id);
      if (current && isStale(expected, current._version)) throw versionMismatch(expected, current._version);
      if (!current && expected !== undefined) throw versionMismatch(expected, 0);
      let version = current ? current._version + 1 : 1;
      if (!current && !fresh && type.singleton) {
        // a singleton deleted earlier keeps counting versions, so old claims are never reused; a
        // claimed first write not stored yet is rolled forward, then this write updates it
        const latest = await this.revisions.latest(type.id, id);
        if (latest?.doc) {
          await this.writer.settle(type, id, latest.version);
          continue;
        }
        version = (latest?.version ?? 0) + 1;
      }
      const now = this.now().toISOString();
      const p = await plan(current, version, now);
      if (!p) return { entry: this.shown(type, current!, caller, locale), created: false, changed: [] };
      const rev: Omit<Revision, '_id'> = {
        type: type.id,
        entryId: id,
        version,
        action: p.action,
        at: now,
        by: caller.id,
        doc: p.doc,
        locales: p.locales,
        public: p.public,
        logged: false,
        ...(p.published !== undefined ? { published: p.published } : {}),
        ...(p.from !== undefined ? { from: p.from } : {}),
        ...(schedule ? { schedule } : {}),
      };
      if (!(await this.writer.claim(rev))) {
        // another writer owns this version: make sure it is applied (its writer may have died), so
        // a 412 names a version that a reload will actually show
        await this.writer.settle(type, id, version);
        if (typeof expected === 'number') throw versionMismatch(expected, version);
        // several writers on one entry: spread them out so one wins each round
        await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
        continue;
      }
      try {
        await this.writer.write(type, rev, current);
      } catch (err) {
        // a unique clash released the claim; if the database failed midway, the claim stays, and the
        // next write or the sweep rolls it forward
        throw uniqueConflict(err);
      }
      const entry = p.doc ? this.shown(type, { ...p.doc }, caller, locale) : ({ _id: id, _type: type.id, _version: version } as StoredEntry);
      return { entry, created: !current, changed: p.changed, version };
    }
    throw busy();
  }

  /** A written entry as its writer sees it: whole, or in the locale they wrote. */
  private shown(type: ContentType, entry: StoredEntry, caller: Caller, locale: string | undefined): StoredEntry {
    return this.present(type, { ...entry }, caller, locale ?? ALL_LOCALES);
  }

  /**
   * Writes whose process died between claiming a version and logging it: roll each forward (or
   * drop it, if it can no longer apply) and append it to the change log. Run by the sweep.
   */
  async repairLog(olderThanMs = 60_000): Promise<number> {
    const before = new Date(this.now().getTime() - olderThanMs).toISOString();
    let repaired = 0;
    for (const rev of await this.revisions.unlogged(before, 500)) {
      const type = this.registry.get(rev.type);
      if (!type) {
        // a type removed from content-types: nothing to roll forward, and it must not block the others
        await this.revisions.markLogged(rev.type, rev.entryId, rev.version);
        continue;
      }
      await this.writer.settle(type, rev.entryId, rev.version);
      if (!(await this.revisions.get(rev.type, rev.entryId, rev.version))) continue;
      await this.writer.log(rev);
      repaired++;
    }
    return repaired;
  }

  // --- history ---

  /** History needs preview rights; a preview token opens one draft, not anyone's history. */
  private mayReadHistory(type: ContentType, caller: Caller): void {
    caller.mayPreview(type);
    if (caller.only) throw new CmsError('forbidden', codes.forbidden, 'A preview token cannot read version history');
  }

  /** An entry's versions, newest first: `limit` and `before` (a version number) page through them. */
  async versions(typeId: string, id: string | undefined, query: Record<string, unknown>, caller: Caller = SYSTEM): Promise<{ data: VersionSummary[]; meta: { nextBefore: number | null } }> {
    const target = this.resolve(typeId, id, (type) => this.mayReadHistory(type, caller));
    const { limit: rawLimit, before: rawBefore, ...rest } = query;
    rejectUnknown(rest);
    const limit = rawLimit === undefined ? 20 : parseVersion(rawLimit, 'limit', MAX_VERSIONS_PAGE);
    const before = rawBefore === undefined ? undefined : parseVersion(rawBefore, 'before');
    const rows = await this.revisions.list(target.type.id, target.id, limit + 1, before);
    if (!rows.length && before === undefined) throw notFound(codes.entryNotFound, `No ${target.type.id} entry with id ${target.id}`);
    const page = rows.slice(0, limit);
    return { data: page.map((r) => summary(r, caller)), meta: { nextBefore: rows.length > limit ? page[page.length - 1]!.version : null } };
  }

  async version(typeId: string, id: string | undefined, version: unknown, query: Record<string, unknown>, caller: Caller = SYSTEM): Promise<VersionSummary & { entry: StoredEntry | null }> {
    const target = this.resolve(typeId, id, (type) => this.mayReadHistory(type, caller));
    const { locale: rawLocale, ...rest } = query;
    rejectUnknown(rest);
    const locale = this.locales.forRead(rawLocale ?? ALL_LOCALES);
    const n = parseVersion(version, 'version');
    const rev = await this.revisions.get(target.type.id, target.id, n);
    if (!rev) throw notFound(codes.versionNotFound, `No version ${n} of this entry`);
    const type = this.viewOf(target.type, caller);
    return { ...summary(rev, caller), entry: rev.doc ? this.present(type, { ...rev.doc }, caller, locale) : null };
  }

  /** Field by field, what changed from one version to another (`to` defaults to the newest). */
  async diff(typeId: string, id: string | undefined, query: Record<string, unknown>, caller: Caller = SYSTEM): Promise<{ from: number; to: number; changes: FieldChange[] }> {
    const target = this.resolve(typeId, id, (type) => this.mayReadHistory(type, caller));
    const { from: rawFrom, to: rawTo, ...rest } = query;
    rejectUnknown(rest);
    if (rawFrom === undefined) throw invalid(codes.versionInvalid, 'from is required: the version to compare from', [{ path: 'from', message: 'is required' }]);
    const from = parseVersion(rawFrom, 'from');
    const to = rawTo === undefined ? (await this.revisions.latest(target.type.id, target.id))?.version ?? 0 : parseVersion(rawTo, 'to');
    const [a, b] = await Promise.all([this.revisions.get(target.type.id, target.id, from), this.revisions.get(target.type.id, target.id, to)]);
    if (!a) throw notFound(codes.versionNotFound, `No version ${from} of this entry`);
    if (!b) throw notFound(codes.versionNotFound, `No version ${to} of this entry`);
    const type = this.viewOf(target.type, caller);
    const fieldsOf = (rev: Revision) => (rev.doc ? userFields(this.present(type, { ...rev.doc }, caller, ALL_LOCALES)) : {});
    const changes: FieldChange[] = [];
    diffFields(fieldsOf(a), fieldsOf(b), '', changes);
    return { from, to, changes };
  }

  /** A stored entry as `get` shows it to this caller (private fields, `_media`, `locale`): for the sync feed. */
  presentStored(type: ContentType, entry: StoredEntry, caller: Caller, locale: string): StoredEntry {
    return this.present(this.viewOf(type, caller), { ...entry }, caller, locale);
  }
}

/** Who wrote a version is a user id: only those who see `_createdBy` see it. */
function summary(rev: Omit<Revision, 'doc' | 'published'>, caller: Caller): VersionSummary {
  return {
    version: rev.version,
    action: rev.action,
    at: rev.at,
    ...(caller.seesPrivate ? { by: rev.by } : {}),
    ...(rev.from !== undefined ? { from: rev.from } : {}),
    ...(rev.schedule ? { schedule: rev.schedule } : {}),
  };
}

function rejectUnknown(rest: Record<string, unknown>): void {
  const unknown = Object.keys(rest);
  if (unknown.length) {
    throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${unknown.join(', ')}`, unknown.map((path) => ({ path, message: 'unknown query parameter' })));
  }
}

function parseVersion(raw: unknown, param: string, max = Number.MAX_SAFE_INTEGER): number {
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text !== 'string' || !/^[1-9]\d{0,14}$/.test(text) || Number(text) > max) {
    throw invalid(codes.versionInvalid, `${param} must be a whole number from 1${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}`, [{ path: param, message: 'not a version number' }]);
  }
  return Number(text);
}


/** Objects are compared member by member; anything else (arrays too) as one value. */
function diffFields(a: Record<string, unknown>, b: Record<string, unknown>, prefix: string, out: FieldChange[]): void {
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const path = `${prefix}/${escapePointer(key)}`;
    const [x, y] = [a[key], b[key]];
    if (x === undefined) out.push({ path, op: 'added', to: y });
    else if (y === undefined) out.push({ path, op: 'removed', from: x });
    else if (isObject(x) && isObject(y)) diffFields(x, y, path, out);
    else if (!same(x, y)) out.push({ path, op: 'changed', from: x, to: y });
  }
}

/** A duplicate key from the repository, as the 409 a client sees. */
function uniqueConflict(err: unknown): unknown {
  if (!(err instanceof DuplicateKeyError)) return err;
  if (err.field === '_id') return new CmsError('conflict', codes.entryUnique, 'An entry with this id already exists', [{ path: '/_id', message: 'already exists' }]);
  if (!err.field) return new CmsError('conflict', codes.entryUnique, 'A unique value of this entry is already taken');
  return new CmsError('conflict', codes.entryUnique, `Another entry already has this value of "${err.field}"`, [
    { path: `/${err.field}`, message: 'must be unique', field: err.field },
  ]);
}

function busy(): CmsError {
  return new CmsError('conflict', codes.entryBusy, 'The entry changed too often while saving; retry');
}

function userFields(entry: StoredEntry): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(entry)) if (!k.startsWith('_')) out[k] = v;
  return out;
}
