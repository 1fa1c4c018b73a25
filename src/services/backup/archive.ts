// What a backup archive holds and how its members are named. Shared by export, verify and restore.
//
// A backup is a gzipped tar:
//   collections/<name>.ndjson   one per collection, one document per line, canonical Extended JSON
//   objects/<key>               one per S3 object, its exact bytes
//   manifest.json               versions, counts, indexes, content-type files, size and SHA-256 of
//                               every member above
//   manifest.sha256             the SHA-256 of manifest.json (`sha256sum` format), so the manifest
//                               is checked too
// The manifest comes last because export streams: a member's checksum is known only once it is
// written. Import reads the archive twice: once to check everything, once to write.
import { createHash, type Hash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from 'mongodb';
import type { S3 } from '../../storage/s3.js';

export const FORMAT = 'cms-backup';
export const FORMAT_VERSION = 1;
export const MANIFEST = 'manifest.json';
export const MANIFEST_SUM = 'manifest.sha256';
export const COLLECTIONS_DIR = 'collections/';
export const OBJECTS_DIR = 'objects/';

/** Where an interrupted import keeps its progress; never exported. */
export const IMPORT_STATE = '_import_state';

/**
 * Collections that are not part of a backup:
 * - sessions: a session's id is the sign-in cookie itself, so an archive with sessions would carry
 *   live logins; after a restore everyone signs in again (API tokens are stored as hashes and keep working);
 * - login_attempts, locks: short-lived counters and leases of running processes.
 */
export const NOT_EXPORTED = new Set([IMPORT_STATE, 'sessions', 'login_attempts', 'locks']);

export interface IndexDefinition {
  key: Record<string, number | string>;
  name: string;
  /** The other options as the server reported them (unique, sparse, …). */
  [option: string]: unknown;
}

export interface CollectionEntry {
  name: string;
  member: string;
  documents: number;
  indexes: IndexDefinition[];
}

export interface MemberEntry {
  name: string;
  size: number;
  sha256: string;
  /** Objects only: the Content-Type stored with the object. */
  contentType?: string;
}

export interface Manifest {
  format: typeof FORMAT;
  formatVersion: number;
  cmsVersion: string;
  createdAt: string;
  database: string;
  bucket: string;
  collections: CollectionEntry[];
  objects: { count: number; bytes: number };
  /** The content-type files at export time: file name → exact text. */
  contentTypes: Record<string, string>;
  /** Every member except manifest.json and manifest.sha256, in archive order. */
  members: MemberEntry[];
}

/** What an export and an import both work on, and how they report progress. */
export interface BackupTarget {
  db: Db;
  s3: S3;
  contentTypesDir: string;
  /** Called once the number of documents and objects is known. */
  onTotal?(total: number): void;
  /** Called as documents and objects are written. */
  onProgress?(n: number): void;
}

/** An archive that cannot be used, or an import that must not go ahead. */
export class BackupError extends Error {
  constructor(
    /** corrupt: the archive is damaged or not a backup; refused: writing would lose data; conflict: content types differ. */
    readonly reason: 'corrupt' | 'refused' | 'conflict',
    message: string,
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'BackupError';
  }
}

export const collectionMember = (name: string) => `${COLLECTIONS_DIR}${name}.ndjson`;
export const objectMember = (key: string) => `${OBJECTS_DIR}${key}`;

export const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** Counts and hashes the bytes that pass through. */
export class Digest {
  readonly hash: Hash = createHash('sha256');
  size = 0;
  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.size += chunk.length;
  }
  hex(): string {
    return this.hash.digest('hex');
  }
}

/** The collections a backup covers: every collection of the database but system ones and NOT_EXPORTED. */
export async function backedUpCollections(db: Db): Promise<string[]> {
  const all = await db.listCollections({}, { nameOnly: true }).toArray();
  return all
    .map((c) => c.name)
    .filter((name) => !name.startsWith('system.') && !NOT_EXPORTED.has(name))
    .sort();
}

/** The content-type files of a directory as the loader sees them (`*.json`): name → text. */
export async function readContentTypeFiles(dir: string): Promise<Record<string, string>> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  const out: Record<string, string> = {};
  for (const name of names) out[name] = await readFile(join(dir, name), 'utf8');
  return out;
}

/** The project's version, from package.json. */
export async function cmsVersion(): Promise<string> {
  // dist/src/services/backup → the project root holds package.json
  for (const up of ['../../../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(await readFile(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'cms' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return 'unknown';
}
