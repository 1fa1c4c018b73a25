// The content service: create, read, list, replace, patch and delete entries of a content type,
// with validation against the type and optimistic concurrency on `_version`.
import { ObjectId } from 'mongodb';
import type { ContentType, ContentTypeRegistry } from '../content-types/registry.js';
import { CmsError, codes, invalid, notFound } from '../errors.js';
import { DuplicateKeyError, type EntriesRepository, type StoredEntry } from '../storage/entries.js';
import type { RevisionsRepository } from '../storage/revisions.js';
import { mergePatch, normalizeDates, prepareBody, redactPrivate, validateFields, type Fields } from './documents.js';
import { ALWAYS_RETURNED, ID_PATTERN, toPage, mongoSort, parseFields, parseListQuery, parsePopulate, projectionFor, type ListLimits } from './query.js';

/** `any`: may the caller write this type at all? Asked before the body or the entry is looked at. */
export type WriteAction = 'create' | 'update' | 'delete' | 'any';

/** Who is reading or writing, as the service needs to know it (routes build it from `request.auth`). */
export interface Caller {
  /** Stored as `_createdBy` on create. */
  id: string;
  /** Sees private fields and `_createdBy`; others get neither, and cannot query on private fields. */
  seesPrivate: boolean;
  mayRead(type: ContentType): void;
  /** Throws unless the caller may do this to an entry created by `owner`. */
  mayWrite(type: ContentType, action: WriteAction, owner?: string): void;
}

/** The server itself (command-line tools, imports): everything is allowed. */
export const SYSTEM: Caller = { id: 'system', seesPrivate: true, mayRead: () => undefined, mayWrite: () => undefined };

/** What entries need of the media library: checking media fields, and populating them. */
export interface MediaFields {
  checkEntry(type: ContentType, fields: Fields): Promise<string[] | undefined>;
  populate(entries: StoredEntry[], paths: string[]): Promise<void>;
}

export interface ListResult {
  data: StoredEntry[];
  meta: { total: number; limit: number; offset: number; nextCursor: string | null };
}

export type Clock = () => Date;

const MAX_ATTEMPTS = 5;

function pick(entry: StoredEntry, fields: string[] | undefined): StoredEntry {
  if (!fields) return entry;
  const out: Record<string, unknown> = {};
  for (const key of [...ALWAYS_RETURNED, ...fields]) if (key in entry) out[key] = entry[key];
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

export class EntriesService {
  constructor(
    private readonly registry: ContentTypeRegistry,
    private readonly repo: EntriesRepository,
    private readonly revisions: RevisionsRepository,
    private readonly limits: ListLimits,
    private readonly media: MediaFields,
    private readonly now: Clock = () => new Date(),
  ) {}

  /** Checks the media fields, and records the media ids the entry holds in `_media`. */
  private async withMedia(type: ContentType, fields: Fields): Promise<Fields> {
    const ids = await this.media.checkEntry(type, fields);
    if (ids) fields._media = ids;
    return fields;
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

  /** The id under which a type's entry lives: the type id for singletons. */
  /**
   * The type and id an address names. `allowed` runs once the type is known and before anything else
   * (the id, the body, the entry): a caller without access learns nothing about them.
   */
  private resolve(typeId: string, id: string | undefined, allowed: (type: ContentType) => void): { type: ContentType; id: string } {
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

  private complete(type: ContentType, fields: Fields): Fields {
    validateFields(type, fields);
    normalizeDates(type.schema, fields);
    return fields;
  }

  /** The type as the caller may query it: without private fields unless they see them. */
  private viewOf(type: ContentType, caller: Caller): ContentType {
    caller.mayRead(type);
    return caller.seesPrivate ? type : this.registry.publicView(type);
  }

  private present(type: ContentType, entry: StoredEntry, caller: Caller): StoredEntry {
    delete entry._media;
    if (!caller.seesPrivate) redactPrivate(type, entry);
    return entry;
  }

  async list(typeId: string, query: Record<string, unknown>, caller: Caller = SYSTEM): Promise<ListResult> {
    const type = this.viewOf(this.collectionType(typeId), caller);
    const q = parseListQuery(type, query, this.limits);
    const projection = projectionFor(q.fields, q.sort);
    const [rows, total] = await Promise.all([
      this.repo.find(type.id, {
        filter: q.pageFilter,
        sort: mongoSort(q.sort),
        limit: q.limit + 1,
        skip: q.offset,
        ...(projection ? { projection } : {}),
      }),
      this.repo.count(type.id, q.filter),
    ]);
    const { page, meta } = toPage(rows, q, total);
    const data = page.map((e) => this.present(type, pick(e, q.fields), caller));
    if (q.populate) await this.media.populate(data, q.populate);
    return { data, meta };
  }

  async get(typeId: string, id: string | undefined, query: Record<string, unknown> = {}, caller: Caller = SYSTEM): Promise<StoredEntry> {
    const resolved = this.resolve(typeId, id, (type) => caller.mayRead(type));
    const target = { id: resolved.id, type: this.viewOf(resolved.type, caller) };
    const unknown = Object.keys(query).filter((k) => k !== 'fields' && k !== 'populate');
    if (unknown.length) {
      throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${unknown.join(', ')}`, unknown.map((path) => ({ path, message: 'unknown query parameter' })));
    }
    let fields: string[] | undefined;
    if (query.fields !== undefined) {
      if (typeof query.fields !== 'string') throw invalid(codes.queryBadValue, 'fields is given more than once', [{ path: 'fields', message: 'given more than once' }]);
      fields = parseFields(target.type, query.fields);
    }
    let populate: string[] | undefined;
    if (query.populate !== undefined) {
      if (typeof query.populate !== 'string') throw invalid(codes.queryBadValue, 'populate is given more than once', [{ path: 'populate', message: 'given more than once' }]);
      populate = parsePopulate(target.type, query.populate);
    }
    const entry = await this.repo.findById(target.type.id, target.id, projectionFor(fields));
    if (!entry) throw notFound(codes.entryNotFound, `No ${target.type.id} entry with id ${target.id}`);
    const out = this.present(target.type, pick(entry, fields), caller);
    if (populate) await this.media.populate([out], populate);
    return out;
  }

  async create(typeId: string, body: unknown, caller: Caller = SYSTEM): Promise<{ entry: StoredEntry; changed: string[] }> {
    const type = this.collectionType(typeId);
    caller.mayWrite(type, 'create');
    const { fields } = prepareBody(body, { allowVersion: false });
    await this.withMedia(type, this.complete(type, fields));
    const now = this.now().toISOString();
    const entry: StoredEntry = {
      _id: new ObjectId().toHexString(),
      _type: type.id,
      _version: 1,
      _createdAt: now,
      _updatedAt: now,
      _createdBy: caller.id,
      ...fields,
    };
    await this.revisions.claim({ type: type.id, entryId: entry._id, version: 1, action: 'create', at: now, doc: entry });
    try {
      await this.repo.insert(type.id, entry, uniqueFields(type));
    } catch (err) {
      await this.revisions.release(type.id, entry._id, 1);
      throw uniqueConflict(err);
    }
    return { entry: this.present(type, { ...entry }, caller), changed: Object.keys(userFields(entry)) };
  }

  /** PUT: replaces every field. A singleton is created by its first PUT. */
  async replace(typeId: string, id: string | undefined, body: unknown, ifMatch?: Precondition, caller: Caller = SYSTEM): Promise<{ entry: StoredEntry; created: boolean; changed: string[] }> {
    const target = this.resolve(typeId, id, (type) => caller.mayWrite(type, 'any'));
    const prepared = prepareBody(body, { allowVersion: true });
    const expected = this.precondition(ifMatch, prepared.version);
    const fields = this.complete(target.type, prepared.fields);
    return this.write(target.type, target.id, expected, () => fields, caller);
  }

  /** PATCH: a JSON Merge Patch applied to the current fields, then validated as a whole. */
  async patch(typeId: string, id: string | undefined, body: unknown, ifMatch?: Precondition, caller: Caller = SYSTEM): Promise<{ entry: StoredEntry; changed: string[] }> {
    const target = this.resolve(typeId, id, (type) => caller.mayWrite(type, 'any'));
    const prepared = prepareBody(body, { allowVersion: true });
    const expected = this.precondition(ifMatch, prepared.version);
    const { entry, changed } = await this.write(target.type, target.id, expected, (current) => {
      if (!current) throw notFound(codes.entryNotFound, `No ${target.type.id} entry with id ${target.id}`);
      const merged = mergePatch(userFields(current), prepared.fields) as Fields;
      return this.complete(target.type, merged);
    }, caller);
    return { entry, changed };
  }

  async remove(typeId: string, id: string | undefined, ifMatch?: Precondition, caller: Caller = SYSTEM): Promise<void> {
    const { type, id: entryId } = this.resolve(typeId, id, (t) => caller.mayWrite(t, 'any'));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.repo.findById(type.id, entryId, { _version: 1, _createdBy: 1 });
      if (!current && ifMatch !== undefined) throw versionMismatch(ifMatch, 0);
      if (!current) throw notFound(codes.entryNotFound, `No ${type.id} entry with id ${entryId}`);
      caller.mayWrite(type, 'delete', current._createdBy as string | undefined);
      if (isStale(ifMatch, current._version)) throw versionMismatch(ifMatch, current._version);
      const version = current._version + 1;
      const claimed = await this.revisions.claim({ type: type.id, entryId, version, action: 'delete', at: this.now().toISOString(), doc: null });
      if (!claimed) {
        await this.settle(type, entryId, version);
        if (typeof ifMatch === 'number') throw versionMismatch(ifMatch, version);
        continue;
      }
      await this.repo.delete(type.id, entryId, current._version);
      return;
    }
    throw busy();
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
   * Read, compute, claim the next version, write. Exactly one writer claims a version (see
   * RevisionsRepository). Without a precondition a lost race is retried on the fresh entry; with
   * one it is a 412.
   */
  private async write(
    type: ContentType,
    id: string,
    expected: Precondition,
    compute: (current: StoredEntry | null) => Fields,
    caller: Caller,
  ): Promise<{ entry: StoredEntry; created: boolean; changed: string[] }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.repo.findById(type.id, id);
      if (current && isStale(expected, current._version)) throw versionMismatch(expected, current._version);
      if (!current && !type.singleton) throw notFound(codes.entryNotFound, `No ${type.id} entry with id ${id}`);
      if (!current && expected !== undefined) throw versionMismatch(expected, 0);
      caller.mayWrite(type, current ? 'update' : 'create', current?._createdBy as string | undefined);
      const fields = await this.withMedia(type, compute(current));
      const now = this.now().toISOString();
      // a singleton deleted earlier keeps counting versions, so old claims are never reused
      const version = current ? current._version + 1 : ((await this.revisions.latest(type.id, id))?.version ?? 0) + 1;
      const entry: StoredEntry = {
        _id: id,
        _type: type.id,
        _version: version,
        _createdAt: current ? current._createdAt : now,
        _updatedAt: now,
        _createdBy: (current?._createdBy as string | undefined) ?? caller.id,
        ...fields,
      };
      const action = current ? 'update' : 'create';
      if (!(await this.revisions.claim({ type: type.id, entryId: id, version, action, at: now, doc: entry }))) {
        // another writer owns this version: make sure it is applied (its writer may have died), so
        // a 412 names a version that a reload will actually show
        await this.settle(type, id, version);
        if (typeof expected === 'number') throw versionMismatch(expected, version);
        continue;
      }
      try {
        // a false from replaceIfVersion means another writer already rolled our claim forward
        if (current) await this.repo.replaceIfVersion(type.id, id, current._version, entry, uniqueFields(type));
        else await this.repo.insert(type.id, entry, uniqueFields(type));
      } catch (err) {
        const rolledForward =
          !current && err instanceof DuplicateKeyError && err.field === '_id' && (await this.repo.findById(type.id, id, { _version: 1 }))?._version === version;
        if (!rolledForward) {
          await this.revisions.release(type.id, id, version);
          throw uniqueConflict(err);
        }
      }
      const before = current ? userFields(current) : {};
      const after = userFields(entry);
      const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
      return { entry: this.present(type, { ...entry }, caller), created: !current, changed };
    }
    throw busy();
  }

  /**
   * Another writer claimed `version`. If the entry is still one behind, that write may be in flight
   * or its writer may have died: apply the claimed revision (the same bytes either way). A claim
   * that can no longer be applied (its unique value was taken meanwhile) is dropped.
   */
  private async settle(type: ContentType, id: string, version: number): Promise<void> {
    const [rev, current] = await Promise.all([this.revisions.get(type.id, id, version), this.repo.findById(type.id, id, { _version: 1 })]);
    if (!rev) return;
    try {
      if (rev.action === 'delete') {
        if (current?._version === version - 1) await this.repo.delete(type.id, id, version - 1);
      } else if (current) {
        if (current._version === version - 1 && rev.doc) await this.repo.replaceIfVersion(type.id, id, version - 1, rev.doc, uniqueFields(type));
      } else if (rev.doc && (await this.revisions.latest(type.id, id))?.version === version) {
        await this.repo.insert(type.id, rev.doc, uniqueFields(type));
      }
    } catch (err) {
      if (err instanceof DuplicateKeyError) {
        // the same insert by the writer itself wins the race: then the claim stands
        if (err.field === '_id') return;
        await this.revisions.release(type.id, id, version);
        return;
      }
      throw err;
    }
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

function uniqueFields(type: ContentType): string[] {
  return [...type.fields.values()].filter((f) => f.unique).map((f) => f.path);
}

function userFields(entry: StoredEntry): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(entry)) if (!k.startsWith('_')) out[k] = v;
  return out;
}
