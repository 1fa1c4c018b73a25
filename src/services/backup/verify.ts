// Reading an archive, and the first pass of an import: every member checked against the manifest,
// and the archive's content types against the files on disk, before anything is written.
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import {
  BackupError,
  collectionMember,
  Digest,
  FORMAT,
  FORMAT_VERSION,
  MANIFEST,
  MANIFEST_SUM,
  NOT_EXPORTED,
  OBJECTS_DIR,
  readContentTypeFiles,
  sha256,
  type Manifest,
  type MemberEntry,
} from './archive.js';

/** What a visitor is handed for each member; it may read `body` or leave it (it is drained after). */
export type Visitor = (header: Header, body: AsyncIterable<Buffer>) => Promise<'next' | 'stop'>;

/**
 * Streams through a gzipped tar, calling `visit` for each member in order. Returns the SHA-256 of the
 * archive file (of the bytes read: all of them unless a visitor stopped early). A damaged gzip or
 * tar stream is a BackupError('corrupt'); a visitor's own errors pass through unchanged.
 */
export async function readArchive(file: string, visit: Visitor, onBytes?: (n: number) => void): Promise<{ sha256: string; stopped: boolean }> {
  const whole = new Digest();
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      whole.update(chunk);
      onBytes?.(chunk.length);
      callback(null, chunk);
    },
  });
  const extract = tar.extract();
  const reading = pipeline(createReadStream(file), tap, createGunzip(), extract);
  let streamError: unknown;
  reading.catch((e: unknown) => {
    streamError ??= e;
  });
  let visitorError: unknown;
  let stopped = false;
  let last = '';
  try {
    for await (const entry of extract) {
      let verdict: 'next' | 'stop';
      try {
        verdict = await visit(entry.header, bodyOf(entry as AsyncIterable<Buffer>));
      } catch (e) {
        visitorError = e;
        throw e;
      }
      for await (const _ of entry) {
        // drain what the visitor left
      }
      last = entry.header.name;
      if (verdict === 'stop') {
        stopped = true;
        break;
      }
    }
    if (!stopped) await reading;
  } catch (e) {
    if (visitorError !== undefined && !(visitorError instanceof ReadError)) {
      extract.destroy();
      await reading.catch(() => undefined);
      throw visitorError;
    }
    const cause = (streamError ?? (e instanceof ReadError ? e.cause : e)) as Error & { code?: string };
    if (cause.code === 'ENOENT' || cause.code === 'EACCES' || cause.code === 'EISDIR') throw new BackupError('corrupt', `cannot read ${file}: ${cause.message}`, { file });
    throw new BackupError('corrupt', `the archive is truncated or damaged${last ? ` (after member ${last})` : ' (not a gzipped backup?)'}: ${cause.message}`, {
      after: last || null,
    });
  }
  if (stopped) {
    extract.destroy();
    await reading.catch(() => undefined);
  }
  return { sha256: whole.hex(), stopped };
}

/** A failure to read a member's bytes (a damaged stream), told apart from a visitor's own errors. */
class ReadError extends Error {
  constructor(override readonly cause: unknown) {
    super((cause as Error).message);
  }
}

async function* bodyOf(entry: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const iterator = entry[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await iterator.next();
    } catch (e) {
      throw new ReadError(e);
    }
    if (next.done) return;
    yield next.value;
  }
}

export interface Verified {
  manifest: Manifest;
  /** SHA-256 of the whole archive file: names the archive in an import record. */
  archiveSha256: string;
  /** The bytes in its members (uncompressed). */
  size: number;
}

/** Reads the whole archive and checks every member against the manifest. Writes nothing. */
/** `onBytes` is told how many bytes of the file were read, as they are. */
export async function verifyArchive(file: string, onBytes?: (n: number) => void): Promise<Verified> {
  const seen: MemberEntry[] = [];
  const names = new Set<string>();
  const problems: string[] = [];
  let manifestText: Buffer | undefined;
  let sumText: string | undefined;
  let size = 0;
  const { sha256: archiveSha256 } = await readArchive(file, async (header, body) => {
    const name = header.name;
    if (names.has(name)) problems.push(`member ${name} appears twice`);
    names.add(name);
    if (header.type !== 'file') {
      problems.push(`member ${name} is a ${header.type ?? 'special entry'}, not a file`);
      return 'next';
    }
    if (sumText !== undefined) problems.push(`member ${name} follows ${MANIFEST_SUM}, which must be last`);
    if (name === MANIFEST || name === MANIFEST_SUM) {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      const text = Buffer.concat(chunks);
      if (name === MANIFEST) manifestText = text;
      else sumText = text.toString('utf8');
      return 'next';
    }
    if (manifestText) problems.push(`member ${name} follows ${MANIFEST}, which must come after every member`);
    const digest = new Digest();
    for await (const chunk of body) digest.update(chunk);
    seen.push({ name, size: digest.size, sha256: digest.hex() });
    size += digest.size;
    return 'next';
  }, onBytes);
  if (!manifestText) throw new BackupError('corrupt', `the archive has no ${MANIFEST}: it is incomplete or not a backup`, { missing: [MANIFEST] });
  if (sumText === undefined) throw new BackupError('corrupt', `the archive has no ${MANIFEST_SUM}: it is incomplete`, { missing: [MANIFEST_SUM] });
  if (sumText.split(/\s+/)[0] !== sha256(manifestText)) throw new BackupError('corrupt', `${MANIFEST} does not match its checksum in ${MANIFEST_SUM}: the archive is corrupt`, { corrupt: [MANIFEST] });
  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestText.toString('utf8')) as Manifest;
  } catch (e) {
    throw new BackupError('corrupt', `${MANIFEST} is not valid JSON: ${(e as Error).message}`, { corrupt: [MANIFEST] });
  }
  if (manifest.format !== FORMAT || !Array.isArray(manifest.members) || !Array.isArray(manifest.collections)) {
    throw new BackupError('corrupt', `${MANIFEST} does not describe a CMS backup`, { corrupt: [MANIFEST] });
  }
  if (manifest.formatVersion !== FORMAT_VERSION) {
    throw new BackupError('corrupt', `the archive has format version ${String(manifest.formatVersion)}; this version of the CMS reads version ${FORMAT_VERSION}`);
  }
  if (!isRecord(manifest.contentTypes) || !isRecord(manifest.objects)) throw new BackupError('corrupt', `${MANIFEST} does not describe a CMS backup`, { corrupt: [MANIFEST] });
  // manifest.sha256 shows the manifest is intact, not that a CMS wrote it: its names must not reach
  // outside where they are written, and every member must be a collection or an object
  problems.push(...unsafeNames(manifest));

  const expected = new Map(manifest.members.map((m) => [m.name, m]));
  const corrupt: string[] = [];
  const unknown: string[] = [];
  for (const member of seen) {
    const want = expected.get(member.name);
    if (!want) unknown.push(member.name);
    else if (want.size !== member.size || want.sha256 !== member.sha256) corrupt.push(member.name);
  }
  const missing = manifest.members.filter((m) => !names.has(m.name)).map((m) => m.name);
  for (const c of manifest.collections) if (!expected.has(c.member)) problems.push(`collection ${c.name} has no member in the manifest`);
  for (const name of corrupt) problems.push(`member ${name} is corrupt: its size or SHA-256 differs from the manifest`);
  for (const name of missing) problems.push(`member ${name} is missing`);
  for (const name of unknown) problems.push(`member ${name} is not in the manifest`);
  if (problems.length) {
    const shown = problems.slice(0, 10).join('; ');
    throw new BackupError('corrupt', `the archive is corrupt, nothing was written: ${shown}${problems.length > 10 ? `; and ${problems.length - 10} more` : ''}`, {
      problems,
      corrupt,
      missing,
      unknown,
    });
  }
  return { manifest, archiveSha256, size };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Collection names a restore may create: no system or internal collection, nothing odd. */
const COLLECTION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,119}$/;
/** A content-type file: a plain file name, written into a directory by --extract-types. */
const TYPE_FILE = /^[^/\\\0]+\.json$/;

/** Why an S3 key from an archive is refused, or undefined when it is a plain relative key. */
function keyProblem(key: string): string | undefined {
  if (!key) return 'is empty';
  if (key.startsWith('/')) return 'is an absolute path';
  if (/[\\\0]/.test(key)) return 'holds a backslash or NUL';
  if (key.split('/').some((part) => part === '.' || part === '..')) return 'holds a "." or ".." segment';
  return undefined;
}

/** Names in the manifest that a restore must not use: odd collections, keys or files, and members that are neither. */
function unsafeNames(manifest: Manifest): string[] {
  const problems: string[] = [];
  const members = new Set<string>();
  for (const c of manifest.collections) {
    const name = String(c?.name);
    if (!COLLECTION_NAME.test(name) || name.startsWith('system.') || NOT_EXPORTED.has(name)) problems.push(`collection ${JSON.stringify(name)} may not be restored`);
    else if (c?.member !== collectionMember(name)) problems.push(`collection ${name} names member ${JSON.stringify(c?.member)} instead of ${collectionMember(name)}`);
    else members.add(c.member);
  }
  for (const m of manifest.members) {
    const name = String(m?.name);
    if (members.has(name)) continue;
    const key = name.startsWith(OBJECTS_DIR) ? name.slice(OBJECTS_DIR.length) : undefined;
    const problem = key === undefined ? 'is neither a collection nor an object' : keyProblem(key);
    if (problem) problems.push(`member ${JSON.stringify(name)} ${problem}`);
  }
  for (const [file, text] of Object.entries(manifest.contentTypes)) {
    if (!TYPE_FILE.test(file) || typeof text !== 'string') problems.push(`content-type file ${JSON.stringify(file)} is not a plain file name with its text`);
  }
  return problems;
}

export interface TypeConflicts {
  /** Files on both sides whose text differs. */
  differing: string[];
  /** Archive types with entries and no file on disk. */
  missing: string[];
}

/** Compares the archive's content-type files with the ones on disk. */
export async function compareContentTypes(manifest: Manifest, dir: string): Promise<TypeConflicts> {
  const disk = await readContentTypeFiles(dir);
  const documents = new Map(manifest.collections.map((c) => [c.name, c.documents]));
  const differing: string[] = [];
  const missing: string[] = [];
  for (const [file, text] of Object.entries(manifest.contentTypes ?? {})) {
    const type = file.replace(/\.json$/, '');
    if (file in disk) {
      if (disk[file] !== text) differing.push(type);
    } else if ((documents.get(`content_${type}`) ?? 0) + (documents.get(`published_${type}`) ?? 0) > 0) {
      missing.push(type);
    }
  }
  // entries of a type whose file the archive does not even hold
  for (const c of manifest.collections) {
    const m = /^(?:content|published)_(.+)$/.exec(c.name);
    if (m && c.documents > 0 && !(`${m[1]}.json` in disk) && !missing.includes(m[1]!)) missing.push(m[1]!);
  }
  return { differing: differing.sort(), missing: missing.sort() };
}

/** Refuses (BackupError 'conflict') when the archive's content types do not match the files on disk. */
export async function checkContentTypes(manifest: Manifest, dir: string): Promise<void> {
  const { differing, missing } = await compareContentTypes(manifest, dir);
  if (!differing.length && !missing.length) return;
  const parts: string[] = [];
  if (differing.length) parts.push(`differ from the files in ${dir}: ${differing.join(', ')}`);
  if (missing.length) parts.push(`have entries in the archive but no file in ${dir}: ${missing.join(', ')}`);
  throw new BackupError(
    'conflict',
    `the archive's content types conflict with the files on disk; these types ${parts.join('; and these ')}. ` +
      'Nothing was written. To restore, put the archive\'s versions of these files in place (`cms import <file> --extract-types <dir>` writes them out), ' +
      'import, then change the files again and run `cms migrate plan`.',
    { differing, missing, dir },
  );
}
