// The media library: upload (multipart or presigned), dedupe, image checks, metadata, usage
// tracking, deletion with its S3 objects, and the variants a static site asks for.
import { readPath, writePath } from '../../json.js';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ValidateFunction } from 'ajv';
import { ObjectId, type Document } from 'mongodb';
import { createContentAjv } from '../../content-types/ajv.js';
import { type FieldInfo, type SchemaNode } from '../../content-types/fields.js';
import type { ChangeLog } from '../../storage/changes.js';
import { builtInType, type ContentType, type ContentTypeRegistry } from '../../content-types/registry.js';
import type { MediaConfig } from '../../config.js';
import { CmsError, codes, invalid, notFound, type ErrorDetail } from '../../errors.js';
import type { EntriesRepository, StoredEntry } from '../../storage/entries.js';
import type { MediaDoc, MediaRepository, PendingUpload } from '../../storage/media.js';
import type { ObjectStore, StoredObject } from '../../storage/objects.js';
import { detailOf } from '../documents.js';
import { ID_PATTERN, mongoSort, parseListQuery, projectionFor, toPage } from '../query.js';
import { cleanFilename, isAllowedType, kindOf, matchesType } from './files.js';
import { FORMAT_TYPES, ImageRejected, inspectImage, RASTER_TYPES, renderVariant, type Fit, type ImageFacts, type OutputFormat, type VariantSpec } from './images.js';
import { sniffFile } from './files.js';

export type Clock = () => Date;

/** A file received into a temporary file, hashed on the way in. */
export interface Spooled {
  path: string;
  size: number;
  hash: string;
}

/** A spooled file that passed every check. */
export interface Candidate extends Spooled {
  filename: string;
  mime: string;
  image?: ImageFacts;
}

export type EditableMeta = Partial<Pick<MediaDoc, 'filename' | 'alt' | 'caption' | 'title' | 'tags' | 'focal'>>;

export interface MediaJson extends MediaDoc {
  url: string;
  srcset?: { width: number; height: number; url: string }[];
}

export interface ListResult {
  data: MediaJson[];
  meta: { total: number; limit: number; offset: number; nextCursor: string | null };
}

const ORIGINAL = 'original';
const prefixOf = (id: string) => `media/${id}/`;
const originalKey = (id: string) => `${prefixOf(id)}${ORIGINAL}`;
/** Objects a failed request or a dead process may have left: older than this, the sweeper may remove them. */
const INTENT_GRACE_MS = 60 * 60 * 1000;

const EDIT_SCHEMA = {
  type: 'object',
  properties: {
    _version: { type: 'integer', minimum: 1 },
    filename: { type: 'string', minLength: 1, maxLength: 200 },
    alt: { type: 'string', maxLength: 1000 },
    caption: { type: 'string', maxLength: 2000 },
    title: { type: 'string', maxLength: 300 },
    tags: { type: 'array', maxItems: 50, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]*$' } },
    focal: {
      type: 'object',
      properties: { x: { type: 'number', minimum: 0, maximum: 1 }, y: { type: 'number', minimum: 0, maximum: 1 } },
      required: ['x', 'y'],
      additionalProperties: false,
    },
  },
  additionalProperties: false,
} as const;

/** The media record as a content type, so the library lists with the same query language as entries. */
const LIBRARY_SCHEMA: SchemaNode = {
  type: 'object',
  properties: {
    filename: { type: 'string' },
    mime: { type: 'string' },
    kind: { type: 'string', enum: ['image', 'video', 'audio', 'document'] },
    size: { type: 'integer' },
    hash: { type: 'string' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    alt: { type: 'string' },
    caption: { type: 'string' },
    title: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
  },
};

function mediaListType(): ContentType {
  return builtInType('media', 'Media', LIBRARY_SCHEMA);
}

const FITS: Fit[] = ['cover', 'contain', 'inside', 'fill'];
const FORMATS: OutputFormat[] = ['webp', 'avif', 'jpeg', 'png'];
const VARIANT_PARAMS = new Set(['w', 'h', 'fit', 'format', 'q', 'fp']);

export interface Variant {
  spec: VariantSpec;
  /** Part of the object key and the ETag; the focal point is in it for crops. */
  name: string;
}

/** Runs at most `n` jobs at once; the rest wait their turn. */
function limiter(n: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await job();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** A media id held by an entry: the field, where in the entry (a JSON pointer), and the id. */
export interface MediaRef {
  field: FieldInfo;
  pointer: string;
  id: string;
}

/**
 * The media ids the type's media fields hold in `fields`, in field order; undefined when the type
 * has no media field. Every write keeps these (deduplicated) in `_media`.
 */
export function mediaRefs(type: ContentType, fields: Record<string, unknown>): MediaRef[] | undefined {
  const mediaFields = [...type.fields.values()].filter((f) => f.media);
  if (!mediaFields.length) return undefined;
  const refs: MediaRef[] = [];
  for (const field of mediaFields) {
    const value = readPath(fields, field.path);
    const pointer = `/${field.path.replace(/\./g, '/')}`;
    if (typeof value === 'string') refs.push({ field, pointer, id: value });
    else if (Array.isArray(value)) value.forEach((v, i) => typeof v === 'string' && refs.push({ field, pointer: `${pointer}/${i}`, id: v }));
  }
  return refs;
}

export class MediaService {
  private readonly validateEdit: ValidateFunction;
  private readonly listType = mediaListType();
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private readonly limit = limiter(Math.max(1, availableParallelism()));

  constructor(
    private readonly repo: MediaRepository,
    private readonly objects: ObjectStore,
    private readonly registry: ContentTypeRegistry,
    private readonly entries: EntriesRepository,
    readonly config: MediaConfig,
    private readonly publicUrl: string,
    private readonly listLimits: { defaultLimit: number; maxLimit: number; maxOffset: number },
    private readonly changes: ChangeLog,
    private readonly now: Clock = () => new Date(),
  ) {
    this.validateEdit = createContentAjv().compile(EDIT_SCHEMA);
  }

  get defaultQuality(): number {
    const q = this.config.qualities;
    return q.includes(75) ? 75 : q[Math.floor(q.length / 2)]!;
  }

  // --- receiving files ---

  /** Writes a stream to a temporary file, hashing and counting as it goes; at most `limit` bytes. */
  async spool(source: Readable, limit: number, path = '/file'): Promise<Spooled> {
    const file = join(this.config.tmpDir, `cms-upload-${randomUUID()}`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > limit) {
          callback(tooLarge(limit, path));
          return;
        }
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(source, meter, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
    return { path: file, size, hash: hash.digest('hex') };
  }

  /** Checks a spooled file: its name, its real type against the allowlist (and `expectMime`), and images. */
  async examine(spooled: Spooled, rawName: string, path: string, expectMime?: string): Promise<Candidate> {
    const clean = cleanFilename(rawName);
    if ('problem' in clean) throw invalid(codes.mediaBadFilename, `The file name ${clean.problem}`, [{ path: `${path}/filename`, message: clean.problem }]);
    if (spooled.size === 0) throw invalid(codes.mediaEmpty, `"${clean.name}" is empty`, [{ path, message: 'empty file' }]);
    const mime = await sniffFile(spooled.path, clean.name);
    if (!isAllowedType(mime, this.config.allowedTypes, this.config.allowSvg)) {
      throw new CmsError('unsupported-media', codes.mediaTypeNotAllowed, `"${clean.name}" is ${mime}, which uploads do not accept`, [
        { path, message: `${mime} is not accepted`, detected: mime },
      ]);
    }
    if (expectMime !== undefined && mime !== expectMime) {
      throw new CmsError('unsupported-media', codes.mediaTypeMismatch, `The uploaded file is ${mime}, not the ${expectMime} that was announced`, [
        { path, message: `is ${mime}, expected ${expectMime}`, detected: mime },
      ]);
    }
    const candidate: Candidate = { ...spooled, filename: clean.name, mime };
    if (RASTER_TYPES.has(mime)) {
      try {
        candidate.image = await inspectImage(spooled.path, { maxPixels: this.config.maxImagePixels, maxFrames: this.config.maxFrames });
      } catch (err) {
        if (!(err instanceof ImageRejected)) throw err;
        const code = { 'too-many-pixels': codes.mediaTooManyPixels, 'too-many-frames': codes.mediaTooManyFrames, corrupt: codes.mediaCorrupt }[err.reason];
        const kind = err.reason === 'corrupt' ? 'invalid' : 'too-large';
        throw new CmsError(kind, code, `"${clean.name}": ${err.message}`, [{ path, message: err.message }]);
      }
    }
    return candidate;
  }

  /** Checks metadata sent with an upload or an edit; `path` prefixes each problem's pointer. */
  checkMeta(body: unknown, path = ''): EditableMeta & { _version?: number } {
    if (!this.validateEdit(body)) {
      const details = (this.validateEdit.errors ?? []).map(detailOf).map((d) => ({ ...d, path: path + d.path }));
      throw invalid(codes.mediaValidation, `The media fields are invalid (${details.length} problem${details.length === 1 ? '' : 's'})`, details);
    }
    const meta = { ...(body as EditableMeta & { _version?: number }) };
    if (meta.filename !== undefined) {
      const clean = cleanFilename(meta.filename);
      if ('problem' in clean) throw invalid(codes.mediaBadFilename, `The file name ${clean.problem}`, [{ path: `${path}/filename`, message: clean.problem }]);
      meta.filename = clean.name;
    }
    if (meta.focal) meta.focal = { x: round3(meta.focal.x), y: round3(meta.focal.y) };
    return meta;
  }

  /**
   * Stores checked files: S3 first, then the record. The same bytes give the existing record back.
   * All or nothing: when one file fails, the ones this call created are removed again.
   */
  async store(candidates: Candidate[], meta: EditableMeta = {}, createdBy?: string): Promise<{ doc: MediaDoc; created: boolean }[]> {
    const results: { doc: MediaDoc; created: boolean }[] = [];
    const touched: string[] = [];
    try {
      for (const c of candidates) {
        const id = c.hash.slice(0, 24);
        const existing = await this.repo.findById(id);
        if (existing) {
          results.push({ doc: existing, created: false });
          continue;
        }
        await this.repo.addIntent(id, this.now().toISOString());
        touched.push(id);
        await this.objects.putFile(originalKey(id), c.path, c.mime);
        const doc = this.newDoc(id, c, meta);
        if (createdBy) doc.createdBy = createdBy;
        if (await this.repo.insert(doc)) {
          results.push({ doc, created: true });
          await this.logChange(id, 'create');
        } else {
          // the same bytes arrived at the same time through another request: its record stands
          touched.pop();
          const winner = await this.repo.findById(id);
          if (winner) results.push({ doc: winner, created: false });
        }
        await this.repo.removeIntent(id);
      }
    } catch (err) {
      await this.discard(touched);
      throw err;
    }
    return results;
  }

  /** A new upload is in no published entry yet; an edit or a deletion may show on the site. */
  private async logChange(id: string, action: 'create' | 'update' | 'delete'): Promise<void> {
    await this.changes.append({ at: this.now().toISOString(), kind: 'media', id, action, locales: ['*'], public: action !== 'create' });
  }

  private newDoc(id: string, c: Candidate, meta: EditableMeta): MediaDoc {
    const now = this.now().toISOString();
    const doc: MediaDoc = {
      _id: id,
      _version: 1,
      _createdAt: now,
      _updatedAt: now,
      filename: meta.filename ?? c.filename,
      mime: c.mime,
      kind: kindOf(c.mime),
      size: c.size,
      hash: c.hash,
      alt: meta.alt ?? '',
      caption: meta.caption ?? '',
      title: meta.title ?? '',
      focal: meta.focal ?? { x: 0.5, y: 0.5 },
      tags: meta.tags ?? [],
    };
    if (c.image) {
      doc.width = c.image.width;
      doc.height = c.image.height;
      doc.placeholder = c.image.placeholder;
      if (c.image.pages > 1) doc.pages = c.image.pages;
    }
    return doc;
  }

  /** Best effort: removes what a failed store created. What it cannot reach, the sweeper finds by its intent. */
  private async discard(ids: string[]): Promise<void> {
    for (const id of ids) {
      try {
        await this.repo.delete(id);
        await this.objects.deletePrefix(prefixOf(id));
        await this.repo.removeIntent(id);
      } catch {
        // S3 or MongoDB is down: the intent stays, and the sweeper retries
      }
    }
  }

  // --- direct (presigned) uploads ---

  async createUpload(body: unknown, createdBy?: string): Promise<{ id: string; url: string; fields: Record<string, string>; expiresAt: string; maxSize: number; mime: string }> {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid(codes.mediaValidation, 'The body must be a JSON object', [{ path: '', message: 'must be an object' }]);
    const { mime, size, ...rest } = body as Record<string, unknown>;
    const details: ErrorDetail[] = [];
    if (typeof mime !== 'string') details.push({ path: '/mime', message: 'must be the media type of the file' });
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) details.push({ path: '/size', message: 'must be the file size in bytes' });
    if (typeof rest.filename !== 'string') details.push({ path: '/filename', message: 'must be the file name' });
    if (details.length) throw invalid(codes.mediaValidation, 'A direct upload needs filename, mime and size', details);
    const meta = this.checkMeta(rest);
    if (meta._version !== undefined) throw invalid(codes.mediaValidation, 'A new upload has no _version', [{ path: '/_version', message: 'not allowed' }]);
    if (!isAllowedType(mime as string, this.config.allowedTypes, this.config.allowSvg)) {
      throw new CmsError('unsupported-media', codes.mediaTypeNotAllowed, `${String(mime)} is not a type uploads accept`, [{ path: '/mime', message: 'not accepted' }]);
    }
    if ((size as number) > this.config.maxFileSize) throw tooLarge(this.config.maxFileSize, '/size');
    const id = new ObjectId().toHexString();
    const now = this.now();
    const { filename, ...kept } = meta;
    const upload: PendingUpload = {
      _id: id,
      key: `uploads/${id}`,
      filename: filename!,
      mime: mime as string,
      maxSize: size as number,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.config.uploadExpires * 1000).toISOString(),
      meta: kept,
      ...(createdBy ? { createdBy } : {}),
    };
    await this.repo.insertUpload(upload);
    const post = await this.objects.presignPost(upload.key, { contentType: upload.mime, maxSize: upload.maxSize, expires: this.config.uploadExpires });
    return { id, url: post.url, fields: post.fields, expiresAt: upload.expiresAt, maxSize: upload.maxSize, mime: upload.mime };
  }

  /** Checks what the client put in S3 (size and real type) and registers it, or refuses and removes it. */
  async completeUpload(id: string): Promise<{ doc: MediaDoc; created: boolean }> {
    if (!ID_PATTERN.test(id)) throw invalid(codes.mediaInvalidId, 'Not an upload id', [{ path: 'id', message: 'not an upload id' }]);
    const upload = await this.repo.findUpload(id);
    if (!upload || upload.expiresAt < this.now().toISOString()) throw notFound(codes.uploadNotFound, `No open upload with id ${id}`);
    const head = await this.objects.head(upload.key);
    if (!head) throw new CmsError('conflict', codes.uploadIncomplete, 'Nothing has been uploaded yet: POST the file to the presigned URL first');
    const refuse = async (err: CmsError) => {
      await this.objects.delete(upload.key);
      await this.repo.deleteUpload(id);
      return err;
    };
    if (head.size > upload.maxSize) throw await refuse(tooLarge(upload.maxSize, '/file'));
    const object = await this.objects.get(upload.key);
    if (!object) throw new CmsError('conflict', codes.uploadIncomplete, 'The upload disappeared; start again');
    let spooled: Spooled | undefined;
    try {
      spooled = await this.spool(object.body, upload.maxSize);
      const candidate = await this.examine(spooled, upload.filename, '/file', upload.mime);
      const [result] = await this.store([candidate], upload.meta, upload.createdBy);
      await this.objects.delete(upload.key);
      await this.repo.deleteUpload(id);
      return result!;
    } catch (err) {
      if (err instanceof CmsError && err.kind !== 'unavailable') throw await refuse(err);
      throw err;
    } finally {
      if (spooled) await rm(spooled.path, { force: true });
    }
  }

  /**
   * Removes what nobody will finish: expired direct uploads, and the objects of stores and deletes
   * that died half-way (an intent older than the grace period whose record is absent).
   */
  async sweep(at: Date = this.now()): Promise<{ uploads: number; orphans: number }> {
    let uploads = 0;
    for (const upload of await this.repo.expiredUploads(at.toISOString())) {
      await this.objects.delete(upload.key);
      await this.repo.deleteUpload(upload._id);
      uploads++;
    }
    let orphans = 0;
    for (const intent of await this.repo.staleIntents(new Date(at.getTime() - INTENT_GRACE_MS).toISOString())) {
      if (!(await this.repo.findById(intent._id))) {
        await this.objects.deletePrefix(prefixOf(intent._id));
        orphans++;
      }
      await this.repo.removeIntent(intent._id);
    }
    return { uploads, orphans };
  }

  // --- the library ---

  private checkId(id: string): void {
    if (!ID_PATTERN.test(id)) throw invalid(codes.mediaInvalidId, `"${id.slice(0, 64)}" is not a media id (24 hexadecimal characters)`, [{ path: 'id', message: 'not a media id' }]);
  }

  async get(id: string): Promise<MediaDoc> {
    this.checkId(id);
    const doc = await this.repo.findById(id);
    if (!doc) throw notFound(codes.mediaNotFound, `No media with id ${id}`);
    return doc;
  }

  /** The query language of entries (filter, sort, limit, cursor, offset), plus `q`: a search in filename, title, alt and tags. */
  async list(query: Record<string, unknown>): Promise<ListResult> {
    const { q, ...rest } = query;
    if (q !== undefined && (typeof q !== 'string' || q.length > 200)) throw invalid(codes.queryBadValue, 'q must be one search text of at most 200 characters', [{ path: 'q', message: 'invalid' }]);
    if (rest.sort === undefined) rest.sort = '-_createdAt';
    const parsed = parseListQuery(this.listType, rest, this.listLimits);
    const search: Document | undefined = q
      ? { $or: ['filename', 'title', 'alt', 'tags'].map((f) => ({ [f]: { $regex: escapeRegex(q), $options: 'i' } })) }
      : undefined;
    const withSearch = (f: Document): Document => (search ? (Object.keys(f).length ? { $and: [f, search] } : search) : f);
    // what `url` and `srcset` are made of comes along whatever `fields=` asks
    const projection = projectionFor(parsed.fields && [...parsed.fields, 'filename', 'mime', 'width', 'height', 'focal'], parsed.sort);
    const [rows, total] = await Promise.all([
      this.repo.find({ filter: withSearch(parsed.pageFilter), sort: mongoSort(parsed.sort), limit: parsed.limit + 1, skip: parsed.offset, ...(projection ? { projection } : {}) }),
      this.repo.count(withSearch(parsed.filter)),
    ]);
    const { page, meta } = toPage(rows, parsed, total);
    return { data: page.map((d) => this.toJson(d)), meta };
  }

  /** Edits alt, caption, title, tags, focal point or display name. `ifMatch` (or `_version`) guards against lost updates. */
  async update(id: string, body: unknown, ifMatch?: number): Promise<MediaDoc> {
    const current = await this.get(id);
    const meta = this.checkMeta(body);
    const expected = meta._version ?? ifMatch;
    if (ifMatch !== undefined && meta._version !== undefined && ifMatch !== meta._version) {
      throw invalid(codes.mediaValidation, `If-Match (${ifMatch}) and _version (${meta._version}) disagree`, [{ path: '/_version', message: 'disagrees with If-Match' }]);
    }
    if (expected !== undefined && expected !== current._version) {
      throw new CmsError('precondition', codes.mediaVersion, `The media is at version ${current._version}, not ${expected}: reload it and retry`, [
        { path: '/_version', message: `expected ${expected}, current is ${current._version}`, current: current._version },
      ]);
    }
    delete meta._version;
    const next: MediaDoc = { ...current, ...meta, _version: current._version + 1, _updatedAt: this.now().toISOString() };
    if (!(await this.repo.replaceIfVersion(next, current._version))) {
      throw new CmsError('precondition', codes.mediaVersion, 'The media changed while saving: reload it and retry');
    }
    await this.logChange(next._id, 'update');
    return next;
  }

  /**
   * Entries that hold this media id, per type (at most `max`). `visible` says, per type, whether the
   * caller sees none, only published entries, or all (drafts too).
   */
  async usage(id: string, max = 100, visible: (type: ContentType) => false | 'published' | 'all' = () => 'all'): Promise<{ type: string; id: string; title?: string }[]> {
    const users: { type: string; id: string; title?: string }[] = [];
    for (const type of this.registry.all()) {
      const sees = visible(type);
      if (!sees || ![...type.fields.values()].some((f) => f.media)) continue;
      const projection: Document = { _id: 1, ...(type.displayField ? { [type.displayField]: 1 } : {}) };
      const options = { filter: { _media: id }, sort: { _id: 1 as const }, limit: max - users.length, projection };
      // a published snapshot may hold media its draft no longer does
      const rows = type.drafts && sees === 'published' ? [] : await this.entries.find(type.id, options);
      if (type.drafts) {
        const seen = new Set(rows.map((r) => r._id));
        rows.push(...(await this.entries.find(type.id, options, 'published')).filter((r) => !seen.has(r._id)));
      }
      for (const row of rows.slice(0, max - users.length)) {
        const title = type.displayField ? row[type.displayField] : undefined;
        users.push({ type: type.id, id: row._id, ...(typeof title === 'string' ? { title } : {}) });
      }
      if (users.length >= max) break;
    }
    return users;
  }

  /** Deletes the record, the original and every variant. Media in use is a 409 unless `force`. */
  async remove(id: string, force: boolean): Promise<void> {
    await this.get(id);
    if (!force) {
      const users = await this.usage(id);
      if (users.length) {
        throw new CmsError('conflict', codes.mediaInUse, `The media is used by ${users.length}${users.length === 100 ? '+' : ''} entr${users.length === 1 ? 'y' : 'ies'}; remove it from them first, or delete with ?force=true`,
          users.map((u) => ({ path: `/${u.type}/${u.id}`, message: u.title ? `used by ${u.type} "${u.title}"` : `used by ${u.type} ${u.id}`, type: u.type, id: u.id })));
      }
    }
    await this.repo.addIntent(id, this.now().toISOString());
    await this.repo.delete(id);
    await this.logChange(id, 'delete');
    await this.objects.deletePrefix(prefixOf(id));
    await this.repo.removeIntent(id);
  }

  // --- media fields of content types ---

  /**
   * Checks every media field of an entry: each id must name media that the field accepts. Returns
   * the ids, which the entry stores as `_media` so usage is found with the entry itself (it can never
   * drift from the entry); undefined when the type has no media fields.
   */
  async checkEntry(type: ContentType, fields: Record<string, unknown>): Promise<string[] | undefined> {
    const refs = mediaRefs(type, fields);
    if (!refs) return undefined;
    const ids = [...new Set(refs.map((r) => r.id))];
    const docs = new Map((await this.repo.findMany(ids.filter((i) => ID_PATTERN.test(i)))).map((d) => [d._id, d]));
    const details: ErrorDetail[] = [];
    for (const ref of refs) {
      const doc = docs.get(ref.id);
      const rule = ref.field.media!;
      if (!doc) details.push({ path: ref.pointer, message: `no media with id "${ref.id.slice(0, 64)}"` });
      else if (rule.accept && !matchesType(doc.mime, rule.accept)) details.push({ path: ref.pointer, message: `is ${doc.mime}; the field accepts ${rule.accept.join(', ')}` });
      else if (rule.maxSize !== undefined && doc.size > rule.maxSize) details.push({ path: ref.pointer, message: `is ${doc.size} bytes; the field accepts at most ${rule.maxSize}` });
    }
    if (details.length) throw invalid(codes.entryMedia, `Media fields of this ${type.id} do not hold acceptable media (${details.length} problem${details.length === 1 ? '' : 's'})`, details);
    return ids;
  }

  /** Media fields a `populate=` may name. */
  mediaPaths(type: ContentType): string[] {
    return [...type.fields.values()].filter((f) => f.media).map((f) => f.path);
  }

  /** Replaces the ids in `paths` with media objects (null for media deleted with force), in one query. */
  async populate(entries: StoredEntry[], paths: string[]): Promise<void> {
    if (!paths.length || !entries.length) return;
    const ids = new Set<string>();
    for (const entry of entries) {
      for (const path of paths) {
        const value = readPath(entry, path);
        for (const v of Array.isArray(value) ? value : [value]) if (typeof v === 'string' && ID_PATTERN.test(v)) ids.add(v);
      }
    }
    const docs = new Map((await this.repo.findMany([...ids])).map((d) => [d._id, this.toJson(d)]));
    const resolve = (v: unknown) => (typeof v === 'string' ? (docs.get(v) ?? null) : v);
    for (const entry of entries) {
      for (const path of paths) {
        const value = readPath(entry, path);
        if (value !== undefined) writePath(entry, path, Array.isArray(value) ? value.map(resolve) : resolve(value));
      }
    }
  }

  // --- delivery ---

  url(doc: MediaDoc, params?: Record<string, string | number>): string {
    const query = params ? `?${new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString()}` : '';
    return `${this.publicUrl}/media/${doc._id}/${encodeURIComponent(doc.filename)}${query}`;
  }

  /** What a static site needs: the URL, and for raster images a srcset of the configured widths. */
  toJson(doc: MediaDoc): MediaJson {
    const { createdBy: _createdBy, ...rest } = doc;
    const out: MediaJson = { ...rest, url: this.url(doc) };
    if (RASTER_TYPES.has(doc.mime) && doc.width && doc.height) {
      const format = this.config.srcsetFormat === 'original' ? defaultFormat(doc.mime) : this.config.srcsetFormat;
      const widths = this.config.widths.filter((w) => w <= doc.width!);
      out.srcset = widths.map((w) => ({ width: w, height: Math.max(1, Math.round((doc.height! * w) / doc.width!)), url: this.url(doc, { w, format }) }));
    }
    return out;
  }

  /**
   * A variant request's parameters, checked against the allowlists. A crop (`fit=cover` with both
   * sides) names the focal point it was made for in `fp`; `redirect` is set when that is missing or
   * stale, so cached crops never outlive a focal-point change.
   */
  parseVariant(doc: MediaDoc, query: Record<string, unknown>): { variant: Variant } | { redirect: string } | undefined {
    const keys = Object.keys(query);
    if (!keys.length) return undefined;
    const bad = (param: string, message: string) => invalid(codes.mediaBadVariant, `Invalid ${param}: ${message}`, [{ path: param, message }]);
    for (const key of keys) {
      if (!VARIANT_PARAMS.has(key)) throw bad(key, 'unknown parameter (use w, h, fit, format, q, fp)');
      if (typeof query[key] !== 'string') throw bad(key, 'given more than once');
    }
    if (!RASTER_TYPES.has(doc.mime) || !doc.width || !doc.height) throw bad(keys[0]!, `${doc.mime} has no variants; request the original`);
    const q = query as Record<string, string | undefined>;
    const size = (param: 'w' | 'h') => {
      const raw = q[param];
      if (raw === undefined) return undefined;
      const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
      if (!this.config.widths.includes(n)) throw bad(param, `must be one of ${this.config.widths.join(', ')}`);
      return n;
    };
    const width = size('w');
    const height = size('h');
    const fit = (q.fit ?? (width && height ? 'cover' : 'inside')) as Fit;
    if (!FITS.includes(fit)) throw bad('fit', `must be one of ${FITS.join(', ')}`);
    const format = (q.format ?? defaultFormat(doc.mime)) as OutputFormat;
    if (!FORMATS.includes(format)) throw bad('format', `must be one of ${FORMATS.join(', ')}`);
    const quality = q.q === undefined ? this.defaultQuality : /^\d{1,3}$/.test(q.q) ? Number(q.q) : NaN;
    if (!this.config.qualities.includes(quality)) throw bad('q', `must be one of ${this.config.qualities.join(', ')}`);
    const crop = fit === 'cover' && width !== undefined && height !== undefined;
    const fp = `${doc.focal.x}_${doc.focal.y}`;
    if (crop && q.fp !== fp) {
      const params: Record<string, string | number> = { w: width, h: height, fit, format, fp };
      if (q.q !== undefined) params.q = quality;
      return { redirect: this.url(doc, params) };
    }
    if (!crop && q.fp !== undefined) throw bad('fp', 'only a crop (fit=cover with w and h) takes a focal point');
    const spec: VariantSpec = { fit, format, quality, ...(width ? { width } : {}), ...(height ? { height } : {}) };
    const name = `${width ?? 0}x${height ?? 0}-${fit}-q${quality}${crop ? `-f${doc.focal.x}_${doc.focal.y}` : ''}.${format}`;
    return { variant: { spec, name } };
  }

  /** The original, whole or a byte range. Null when the record exists but the object does not. */
  original(doc: MediaDoc, range?: { start: number; end: number }): Promise<StoredObject | null> {
    return this.objects.get(originalKey(doc._id), range ? `bytes=${range.start}-${range.end}` : undefined);
  }

  /** A stored variant, or a new one rendered and stored (once, however many ask at the same time). */
  async variant(doc: MediaDoc, variant: Variant): Promise<{ body: Readable | Buffer; length: number; type: string }> {
    const key = `${prefixOf(doc._id)}v/${variant.name}`;
    const type = FORMAT_TYPES[variant.spec.format];
    const stored = await this.objects.get(key);
    if (stored) return { body: stored.body, length: stored.contentLength, type };
    let job = this.inflight.get(key);
    if (!job) {
      job = this.limit(() => this.render(doc, variant, key)).finally(() => this.inflight.delete(key));
      this.inflight.set(key, job);
    }
    const body = await job;
    return { body, length: body.length, type };
  }

  private async render(doc: MediaDoc, variant: Variant, key: string): Promise<Buffer> {
    const file = join(this.config.tmpDir, `cms-variant-${randomUUID()}`);
    try {
      if (!(await this.objects.download(originalKey(doc._id), file))) throw missingFile(doc._id);
      let body: Buffer;
      try {
        body = await renderVariant(file, { width: doc.width!, height: doc.height! }, variant.spec, doc.focal, {
          maxPixels: this.config.maxImagePixels,
          maxFrames: this.config.maxFrames,
        });
      } catch (err) {
        // it was checked on upload, so the stored copy is damaged: a server fault, logged
        if (err instanceof ImageRejected) throw new CmsError('internal', codes.internal, `The stored original of media ${doc._id} cannot be decoded: ${err.message}`);
        throw err;
      }
      await this.objects.put(key, body, FORMAT_TYPES[variant.spec.format]);
      return body;
    } finally {
      await rm(file, { force: true });
    }
  }
}

function defaultFormat(mime: string): OutputFormat {
  const own: Record<string, OutputFormat> = { 'image/jpeg': 'jpeg', 'image/png': 'png', 'image/webp': 'webp', 'image/avif': 'avif' };
  return own[mime] ?? 'png';
}

export function missingFile(id: string): CmsError {
  return new CmsError('unavailable', codes.mediaFileMissing, `The file of media ${id} is missing from storage`);
}

export function tooLarge(limit: number, path: string): CmsError {
  return new CmsError('too-large', codes.mediaTooLarge, `The file is larger than the limit of ${limit} bytes`, [{ path, message: `larger than ${limit} bytes` }]);
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
