// Writes a backup: every collection (read with a cursor) and every S3 object (streamed), then the
// manifest. Memory stays bounded: a collection goes through a temporary file first (a tar member
// needs its size before its bytes), an object streams straight from S3 into the archive.
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { GetObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { BSON, type Db } from 'mongodb';
import tar, { type Header, type Pack } from 'tar-stream';
import { ObjectStore } from '../../storage/objects.js';
import type { S3 } from '../../storage/s3.js';
import { countOf } from '../migrations/check.js';
import {
  backedUpCollections,
  cmsVersion,
  collectionMember,
  Digest,
  FORMAT,
  FORMAT_VERSION,
  MANIFEST,
  MANIFEST_SUM,
  objectMember,
  readContentTypeFiles,
  sha256,
  type BackupTarget,
  type CollectionEntry,
  type IndexDefinition,
  type Manifest,
  type MemberEntry,
} from './archive.js';

/** A member's tar header: the name, the rest optional. */
type HeaderArgument = Partial<Header> & Pick<Header, 'name'>;

export interface ExportOptions extends BackupTarget {
  /** Where the gzipped archive is written. */
  out: Writable;
  /** For the temporary collection files (default: the system's). */
  tmpDir?: string;
  now?: () => Date;
}

export interface ExportSummary {
  database: string;
  bucket: string;
  collections: number;
  documents: number;
  objects: number;
  objectBytes: number;
  contentTypes: number;
  members: number;
  manifestSha256: string;
}

export async function exportArchive(options: ExportOptions): Promise<ExportSummary> {
  const { db, s3 } = options;
  const createdAt = (options.now ?? (() => new Date()))();
  const names = await backedUpCollections(db);
  const contentTypes = await readContentTypeFiles(options.contentTypesDir);

  // totals first, for the progress bar: estimates (an exact count reads every document on FerretDB);
  // the manifest's counts are those actually written
  let total = 0;
  for (const name of names) total += await countOf(db, name);
  for await (const page of listObjects(s3)) total += page.length;
  options.onTotal?.(total);

  const pack = tar.pack();
  const gzip = createGzip();
  const writing = pipeline(pack, gzip, options.out);
  // a failed output must not leave the producer waiting for a drain that never comes
  const failed = new Promise<never>((_, reject) => writing.catch(reject));
  failed.catch(() => undefined);
  const tmp = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'cms-export-'));
  const members: MemberEntry[] = [];
  const collections: CollectionEntry[] = [];
  let objects = 0;
  let objectBytes = 0;
  try {
    const add = (header: HeaderArgument, source: AsyncIterable<Buffer>, digest?: Digest) =>
      Promise.race([addEntry(pack, { mtime: createdAt, mode: 0o644, ...header }, source, digest, failed), failed]);

    for (const name of names) {
      const file = join(tmp, 'collection.ndjson');
      const digest = new Digest();
      const documents = await dumpCollection(db, name, file, digest, options.onProgress);
      const member = collectionMember(name);
      await add({ name: member, size: digest.size }, createReadStream(file));
      members.push({ name: member, size: digest.size, sha256: digest.hex() });
      collections.push({ name, member, documents, indexes: await indexesOf(db, name) });
      await rm(file, { force: true });
    }

    for await (const page of listObjects(s3)) {
      for (const key of page) {
        const out = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key })).catch((e: unknown) => {
          // deleted since it was listed (the server may run during an export): not part of the backup
          if (e instanceof S3ServiceException && (e.name === 'NoSuchKey' || e.$metadata.httpStatusCode === 404)) return null;
          throw e;
        });
        if (!out) {
          options.onProgress?.(1);
          continue;
        }
        const size = out.ContentLength ?? 0;
        const digest = new Digest();
        await add({ name: objectMember(key), size }, out.Body as Readable, digest);
        members.push({ name: objectMember(key), size, sha256: digest.hex(), ...(out.ContentType ? { contentType: out.ContentType } : {}) });
        objects++;
        objectBytes += size;
        options.onProgress?.(1);
      }
    }

    const manifest: Manifest = {
      format: FORMAT,
      formatVersion: FORMAT_VERSION,
      cmsVersion: await cmsVersion(),
      createdAt: createdAt.toISOString(),
      database: db.databaseName,
      bucket: s3.bucket,
      collections,
      objects: { count: objects, bytes: objectBytes },
      contentTypes,
      members,
    };
    const manifestText = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    const manifestSha256 = sha256(manifestText);
    await add({ name: MANIFEST, size: manifestText.length }, toIterable(manifestText));
    const sum = Buffer.from(`${manifestSha256}  ${MANIFEST}\n`);
    await add({ name: MANIFEST_SUM, size: sum.length }, toIterable(sum));
    pack.finalize();
    await writing;
    return {
      database: db.databaseName,
      bucket: s3.bucket,
      collections: collections.length,
      documents: collections.reduce((n, c) => n + c.documents, 0),
      objects,
      objectBytes,
      contentTypes: Object.keys(contentTypes).length,
      members: members.length + 2,
      manifestSha256,
    };
  } catch (e) {
    pack.destroy(e as Error);
    await writing.catch(() => undefined);
    throw e;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Every key of the bucket, a page (up to 1000) at a time. */
export async function* listObjects(s3: S3): AsyncGenerator<string[]> {
  for await (const page of new ObjectStore(s3).pages('')) yield page.map((o) => o.key);
}

/** Writes a collection as NDJSON (canonical Extended JSON) into `file`; returns the document count. */
async function dumpCollection(db: Db, name: string, file: string, digest: Digest, onProgress?: (n: number) => void): Promise<number> {
  const out = createWriteStream(file);
  let documents = 0;
  try {
    for await (const doc of db.collection(name).find({}, { batchSize: 500 })) {
      const line = Buffer.from(`${BSON.EJSON.stringify(doc, { relaxed: false })}\n`);
      digest.update(line);
      if (!out.write(line)) await once(out, 'drain');
      documents++;
      onProgress?.(1);
    }
  } finally {
    out.end();
    await finished(out);
  }
  return documents;
}

async function indexesOf(db: Db, name: string): Promise<IndexDefinition[]> {
  const indexes = await db.collection(name).listIndexes().toArray();
  return indexes.map((index) => {
    const { v: _v, ns: _ns, ...definition } = index as IndexDefinition & { v?: unknown; ns?: unknown };
    return definition;
  });
}

/** Streams `source` into a new tar member, hashing it on the way when a digest is given. */
function addEntry(pack: Pack, header: HeaderArgument, source: AsyncIterable<Buffer>, digest: Digest | undefined, failed: Promise<never>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    void (async () => {
      for await (const chunk of source) {
        const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        digest?.update(buffer);
        if (!entry.write(buffer)) await Promise.race([once(entry, 'drain'), failed]);
      }
      entry.end(undefined);
    })().catch((e: unknown) => {
      entry.destroy(e as Error);
      reject(e as Error);
    });
  });
}

async function* toIterable(buffer: Buffer): AsyncGenerator<Buffer> {
  yield buffer;
}
