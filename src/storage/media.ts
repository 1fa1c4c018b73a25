// Media records (`media`) and open direct uploads (`media_uploads`). No rules here.
import { isDuplicateKey } from './entries.js';
import { type Db, type Document, type Filter, type Sort } from 'mongodb';

export interface FocalPoint {
  x: number;
  y: number;
}

export interface MediaDoc {
  /** The first 24 hex digits of the SHA-256: the same bytes always get the same id. */
  _id: string;
  _version: number;
  _createdAt: string;
  _updatedAt: string;
  filename: string;
  mime: string;
  kind: 'image' | 'video' | 'audio' | 'document';
  size: number;
  hash: string;
  width?: number;
  height?: number;
  /** Frames of an animated image. */
  pages?: number;
  placeholder?: string;
  alt: string;
  caption: string;
  title: string;
  focal: FocalPoint;
  tags: string[];
  /** Who uploaded it (`_createdBy` of entries): authors may change only their own. */
  createdBy?: string;
}

export interface PendingUpload {
  _id: string;
  key: string;
  filename: string;
  mime: string;
  maxSize: number;
  createdAt: string;
  expiresAt: string;
  meta: Partial<Pick<MediaDoc, 'alt' | 'caption' | 'title' | 'tags' | 'focal'>>;
  createdBy?: string;
}


export class MediaRepository {
  constructor(private readonly db: Db) {}

  private get media() {
    return this.db.collection<MediaDoc>('media');
  }

  private get intents() {
    return this.db.collection<{ _id: string; at: string }>('media_intents');
  }

  private get uploads() {
    return this.db.collection<PendingUpload>('media_uploads');
  }

  /** False when a record with this id exists already. */
  async insert(doc: MediaDoc): Promise<boolean> {
    try {
      await this.media.insertOne(doc);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  findById(id: string): Promise<MediaDoc | null> {
    return this.media.findOne({ _id: id });
  }

  findMany(ids: string[]): Promise<MediaDoc[]> {
    if (!ids.length) return Promise.resolve([]);
    return this.media.find({ _id: { $in: ids } }).toArray();
  }

  find(options: { filter: Filter<MediaDoc>; sort: Sort; limit: number; skip?: number; projection?: Document }): Promise<MediaDoc[]> {
    return this.media
      .find(options.filter, options.projection ? { projection: options.projection } : {})
      .sort(options.sort)
      .skip(options.skip ?? 0)
      .limit(options.limit)
      .toArray();
  }

  count(filter: Filter<MediaDoc>): Promise<number> {
    return this.media.countDocuments(filter);
  }

  /** Replaces the record if it is still at `version`; false otherwise. */
  async replaceIfVersion(doc: MediaDoc, version: number): Promise<boolean> {
    const res = await this.media.replaceOne({ _id: doc._id, _version: version }, doc);
    return res.matchedCount === 1;
  }

  async delete(id: string): Promise<void> {
    await this.media.deleteOne({ _id: id });
  }

  /** Notes that objects under a media id may exist without a record (a store or delete in flight). */
  async addIntent(id: string, at: string): Promise<void> {
    try {
      await this.intents.updateOne({ _id: id }, { $set: { at } }, { upsert: true });
    } catch (err) {
      // two upserts of one id at once (FerretDB lets both try to insert): the intent is there
      if (!isDuplicateKey(err)) throw err;
    }
  }

  async removeIntent(id: string): Promise<void> {
    await this.intents.deleteOne({ _id: id });
  }

  staleIntents(before: string, limit = 100): Promise<{ _id: string; at: string }[]> {
    return this.intents.find({ at: { $lt: before } }).limit(limit).toArray();
  }

  async insertUpload(upload: PendingUpload): Promise<void> {
    await this.uploads.insertOne(upload);
  }

  findUpload(id: string): Promise<PendingUpload | null> {
    return this.uploads.findOne({ _id: id });
  }

  async deleteUpload(id: string): Promise<void> {
    await this.uploads.deleteOne({ _id: id });
  }

  expiredUploads(before: string, limit = 100): Promise<PendingUpload[]> {
    return this.uploads.find({ expiresAt: { $lt: before } }).limit(limit).toArray();
  }
}
