// The media object store: S3 keys in, streams and files out. No business rules here.
import { createReadStream, createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createPresignedPost, type PresignedPost } from '@aws-sdk/s3-presigned-post';
import type { S3 } from './s3.js';

export interface StoredObject {
  body: Readable;
  contentLength: number;
  contentType?: string;
  /** Set for a ranged read: `bytes a-b/size`. */
  contentRange?: string;
}

const isMissing = (err: unknown) =>
  err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata.httpStatusCode === 404);

export class ObjectStore {
  constructor(private readonly s3: S3) {}

  /** Streams a local file to `key` (multipart for large files, via lib-storage). */
  async putFile(key: string, path: string, contentType: string): Promise<void> {
    const upload = new Upload({
      client: this.s3.client,
      params: { Bucket: this.s3.bucket, Key: key, Body: createReadStream(path), ContentType: contentType },
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async put(key: string, body: Buffer, contentType: string): Promise<void> {
    await this.s3.client.send(new PutObjectCommand({ Bucket: this.s3.bucket, Key: key, Body: body, ContentType: contentType }));
  }

  /** The object, or null when there is none. `range` is an HTTP byte range like `bytes=0-99`. */
  async get(key: string, range?: string): Promise<StoredObject | null> {
    try {
      const out = await this.s3.client.send(new GetObjectCommand({ Bucket: this.s3.bucket, Key: key, ...(range ? { Range: range } : {}) }));
      const object: StoredObject = { body: out.Body as Readable, contentLength: out.ContentLength ?? 0 };
      if (out.ContentType) object.contentType = out.ContentType;
      if (out.ContentRange) object.contentRange = out.ContentRange;
      return object;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async head(key: string): Promise<{ size: number; contentType?: string } | null> {
    try {
      const out = await this.s3.client.send(new HeadObjectCommand({ Bucket: this.s3.bucket, Key: key }));
      return { size: out.ContentLength ?? 0, ...(out.ContentType ? { contentType: out.ContentType } : {}) };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  /** Copies the object into a local file; false when there is no such object. */
  async download(key: string, path: string): Promise<boolean> {
    const object = await this.get(key);
    if (!object) return false;
    await pipeline(object.body, createWriteStream(path));
    return true;
  }

  async delete(key: string): Promise<void> {
    await this.s3.client.send(new DeleteObjectCommand({ Bucket: this.s3.bucket, Key: key }));
  }

  /** The objects under `prefix` (up to `max`), a page of up to 1000 at a time; empty pages are skipped. */
  async *pages(prefix: string, max = Infinity): AsyncGenerator<{ key: string; modified: Date }[]> {
    let listed = 0;
    let token: string | undefined;
    do {
      const page = await this.s3.client.send(
        new ListObjectsV2Command({ Bucket: this.s3.bucket, Prefix: prefix, MaxKeys: Math.min(1000, max - listed), ...(token ? { ContinuationToken: token } : {}) }),
      );
      const objects = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ key: o.Key, modified: o.LastModified ?? new Date(0) }] : []));
      listed += objects.length;
      if (objects.length) yield objects;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token && listed < max);
  }

  async list(prefix: string, max = 1000): Promise<{ key: string; modified: Date }[]> {
    const out: { key: string; modified: Date }[] = [];
    for await (const page of this.pages(prefix, max)) out.push(...page);
    return out;
  }

  /** Deletes every object under `prefix`. */
  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    for (;;) {
      const keys = await this.list(prefix, 1000);
      if (!keys.length) return deleted;
      const out = await this.s3.client.send(
        new DeleteObjectsCommand({ Bucket: this.s3.bucket, Delete: { Objects: keys.map((k) => ({ Key: k.key })), Quiet: true } }),
      );
      if (out.Errors?.length) throw new Error(`S3 could not delete ${out.Errors.length} objects under ${prefix}: ${out.Errors[0]?.Message ?? ''}`);
      deleted += keys.length;
    }
  }

  /** A browser-usable POST policy for exactly `key`, one content type and at most `maxSize` bytes. */
  presignPost(key: string, options: { contentType: string; maxSize: number; expires: number }): Promise<PresignedPost> {
    return createPresignedPost(this.s3.client, {
      Bucket: this.s3.bucket,
      Key: key,
      Conditions: [
        ['content-length-range', 1, options.maxSize],
        ['eq', '$Content-Type', options.contentType],
      ],
      Fields: { 'Content-Type': options.contentType },
      Expires: options.expires,
    });
  }
}
