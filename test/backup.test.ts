// Backup and restore: the restore drill (seed, export, wipe, import, compare everything), corrupt
// archives refused before any write, a non-empty target, content-type conflicts, and a resumed import.
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import { BSON } from 'mongodb';
import sharp from 'sharp';
import t from 'tap';
import tar from 'tar-stream';
import { run } from '../src/cli/index.js';
import type { Io } from '../src/cli/shared.js';
import { backedUpCollections, IMPORT_STATE } from '../src/services/backup/archive.js';
import { listObjects } from '../src/services/backup/export.js';
import { importArchive } from '../src/services/backup/restore.js';
import { ObjectStore } from '../src/storage/objects.js';
import { buildTestApp, call, EXAMPLE_TYPES, signIn, tokenFor, type Json } from './helpers.js';

// the public delivery cache is off, so every answer after the restore comes from the restored data
const app = await buildTestApp(t, { as: 'anonymous', env: { DELIVERY_CACHE_BYTES: '0', WEBHOOK_ALLOW_LOOPBACK: 'true' } });
const db = app.mongo.db;
const dir = await mkdtemp(join(tmpdir(), 'cms-backup-test-'));
t.teardown(async () => {
  await new ObjectStore(app.s3).deletePrefix('').catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

// the CLI reads the same environment as the server: point it at this test's database and bucket
process.env.MONGODB_DB = db.databaseName;
process.env.S3_BUCKET = app.s3.bucket;
process.env.CONTENT_TYPES_DIR = EXAMPLE_TYPES;

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string; json: Json }> {
  let out = '';
  let err = '';
  const io: Io = { out: (s) => void (out += s), err: (s) => void (err += s), tty: false };
  const code = await run(argv, io);
  process.exitCode = 0;
  let json: Json = {};
  try {
    json = JSON.parse(out) as Json;
  } catch {
    json = {};
  }
  return { code, out, err, json };
}

/** Every document of every backed-up collection, as sorted canonical Extended JSON lines. */
async function dumpDb(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const name of await backedUpCollections(db)) {
    const docs = await db.collection(name).find({}).toArray();
    out[name] = docs.map((d) => BSON.EJSON.stringify(d, { relaxed: false })).sort();
  }
  return out;
}

async function indexNames(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const name of await backedUpCollections(db)) out[name] = (await db.collection(name).listIndexes().toArray()).map((i) => `${String(i.name)} ${JSON.stringify(i.key)}${i.unique ? ' unique' : ''}`).sort();
  return out;
}

/** key → SHA-256 of every object in the bucket. */
async function objectHashes(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const page of listObjects(app.s3)) {
    for (const key of page) {
      const got = await app.s3.client.send(new GetObjectCommand({ Bucket: app.s3.bucket, Key: key }));
      out[key] = createHash('sha256').update(await got.Body!.transformToByteArray()).digest('hex');
    }
  }
  return out;
}

async function counts(): Promise<{ collections: number; documents: number; objects: number }> {
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
  let documents = 0;
  for (const name of names) documents += await db.collection(name).countDocuments({});
  let objects = 0;
  for await (const page of listObjects(app.s3)) objects += page.length;
  return { collections: names.length, documents, objects };
}

async function wipe(): Promise<void> {
  await db.dropDatabase();
  await new ObjectStore(app.s3).deletePrefix('');
}

function multipart(filename: string, type: string, data: Buffer<ArrayBufferLike>, fields: Record<string, string>) {
  const boundary = `----cms${Math.random().toString(16).slice(2)}`;
  const parts: Buffer<ArrayBufferLike>[] = Object.entries(fields).map(([k, v]) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`), data, Buffer.from(`\r\n--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** The members of a .tar.gz, in order. */
async function readMembers(file: string): Promise<{ name: string; data: Buffer }[]> {
  const extract = tar.extract();
  const members: { name: string; data: Buffer }[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c) => chunks.push(c as Buffer));
      stream.on('end', () => {
        members.push({ name: header.name, data: Buffer.concat(chunks) });
        next();
      });
    });
    extract.on('finish', () => resolve());
    extract.on('error', reject);
  });
  extract.end(gunzipSync(await readFile(file)));
  await done;
  return members;
}

async function writeMembers(file: string, members: { name: string; data: Buffer }[]): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => chunks.push(c as Buffer));
  const packed = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const m of members) pack.entry({ name: m.name, size: m.data.length }, m.data);
  pack.finalize();
  await packed;
  await writeFile(file, gzipSync(Buffer.concat(chunks)));
}

/** Rewrites a .tar.gz member by member: `edit` returns the new bytes, or null to leave the member out. */
async function rewrite(src: string, dst: string, edit: (name: string, data: Buffer) => Buffer | null): Promise<void> {
  const members = (await readMembers(src)).flatMap((m) => {
    const data = edit(m.name, m.data);
    return data ? [{ name: m.name, data }] : [];
  });
  await writeMembers(dst, members);
}

// --- seed: two content types with drafts and references, media with a variant, users, a token, a webhook ---
const admin = await signIn(app, 'admin');
const reader = await tokenFor(app, ['content:read', 'content:preview']);
const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#3366cc' } }).png().toBuffer();
const form = multipart('harbour.png', 'image/png', png, { alt: 'The harbour' });
const uploaded = await app.inject({ method: 'POST', url: '/api/media', headers: { ...admin, ...form.headers }, payload: form.payload });
const media = JSON.parse(uploaded.body) as Json;
const mediaId = (media.data?.[0]?._id ?? media.data?._id) as string;
const variant = await app.inject({ method: 'GET', url: `/media/${mediaId}/harbour.png?w=160&format=webp` });
const author = await call(app, 'POST', '/api/content/author', { name: 'Ada Lovelace', slug: 'ada', email: 'ada@example.com', bio: 'Mathematician.' }, admin);
const authorId = author.body.data._id as string;
const first = await call(app, 'POST', '/api/content/post', { title: { en: 'Harbour at dawn' }, slug: 'harbour', body: { en: 'Boats.' }, author: authorId, cover: mediaId, rating: 4, reviewNotes: 'private' }, admin);
const firstId = first.body.data._id as string;
const published = await call(app, 'POST', `/api/content/post/${firstId}/publish`, undefined, admin);
const edited = await call(app, 'PATCH', `/api/content/post/${firstId}`, JSON.stringify({ title: { en: 'Harbour at dawn (draft edit)' } }), { ...admin, 'content-type': 'application/merge-patch+json' });
const second = await call(app, 'POST', '/api/content/post', { title: { en: 'Second' }, slug: 'second', body: { en: 'More.' }, author: authorId, related: [firstId] }, admin);
const secondId = second.body.data._id as string;
const hook = await call(app, 'POST', '/api/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['entry.*'], description: 'Rebuild' }, admin);

/** What readers see: public delivery (anonymous) and a token's reads, populated. */
async function answers(): Promise<Json[]> {
  const requests: [string, Record<string, string>][] = [
    ['/api/content/post?populate=author,cover', {}],
    [`/api/content/post/${firstId}?populate=author,cover`, {}],
    ['/api/content/author', {}],
    [`/api/content/post/${secondId}?populate=author,related&preview=true`, reader],
    [`/api/content/post/${firstId}?populate=author,cover&preview=true`, reader],
    [`/api/media/${mediaId}`, reader],
  ];
  const out: Json[] = [];
  for (const [url, headers] of requests) {
    const res = await app.inject({ method: 'GET', url, headers });
    out.push({ url, status: res.statusCode, etag: res.headers.etag ?? null, body: JSON.parse(res.body) as Json });
  }
  const file = await app.inject({ method: 'GET', url: `/media/${mediaId}/harbour.png` });
  out.push({ url: 'original', status: file.statusCode, etag: file.headers.etag ?? null, sha256: createHash('sha256').update(file.rawPayload).digest('hex') });
  return out;
}

// taken before any subtest starts (the root test ends when its subtests are done)
// answers first: reading with the token records its last use
const beforeAnswers = await answers();
const before = { answers: beforeAnswers, docs: await dumpDb(), objects: await objectHashes(), indexes: await indexNames() };
const archive = join(dir, 'backup.tar.gz');

t.test('the seed worked', async (t) => {
  t.equal(uploaded.statusCode, 201, uploaded.body);
  t.equal(variant.statusCode, 200, 'a variant was rendered and stored');
  t.equal(author.status, 201);
  t.equal(first.status, 201);
  t.equal(published.status, 200);
  t.equal(edited.status, 200);
  t.equal(second.status, 201);
  t.equal(hook.status, 201, JSON.stringify(hook.body));
});

t.test('export writes one archive with a manifest', async (t) => {
  t.ok(Object.keys(before.objects).some((k) => k.endsWith('/original')), 'the original is in the bucket');
  t.ok(Object.keys(before.objects).some((k) => k.includes('/v/')), 'and a variant');
  t.ok(before.docs.published_post?.length === 1 && before.docs.content_post?.length === 2, 'a published post with a newer draft, and a draft-only post');
  const res = await cli(['export', archive, '--json']);
  t.equal(res.code, 0, res.err + res.out);
  t.match(res.json, { ok: true, objects: Object.keys(before.objects).length, database: db.databaseName });
  t.equal(res.json.documents, Object.values(before.docs).reduce((n, d) => n + d.length, 0), 'every document');
  t.equal((await stat(archive)).mode & 0o077, 0, 'only its owner may read the archive (it holds password hashes and secrets)');
  const nowhere = await cli(['export', join(dir, 'no-such-dir', 'backup.tar.gz'), '--json']);
  t.equal(nowhere.code, 2, 'a file that cannot be written: usage (2)');
  t.match(nowhere.json, { ok: false, error: { message: /Cannot write .*no-such-dir.*ENOENT/ } }, 'one JSON document on stdout');
  const again = await cli(['export', archive]);
  t.equal(again.code, 3, 'an existing file is not overwritten without --force');
  t.match(again.err, /exists; pass --force/);
  const all = await readMembers(archive);
  const members = all.map((m) => m.name);
  t.equal(members.at(-2), 'manifest.json');
  t.equal(members.at(-1), 'manifest.sha256');
  t.ok(members.includes('collections/content_post.ndjson') && members.includes('collections/users.ndjson') && members.includes('collections/webhooks.ndjson'));
  t.notOk(members.includes('collections/sessions.ndjson'), 'sessions are not exported');
  const manifest = JSON.parse(all.find((m) => m.name === 'manifest.json')!.data.toString('utf8')) as Json;
  t.equal(manifest.contentTypes['post.json'], await readFile(join(EXAMPLE_TYPES, 'post.json'), 'utf8'), 'the content-type files themselves');
  t.ok(manifest.collections.find((c: Json) => c.name === 'users').indexes.some((i: Json) => i.name === 'cms_unique_email'), 'index definitions');
});

t.test('corrupt archives are refused before any write', async (t) => {
  await wipe();
  const empty = await counts();
  t.same(empty, { collections: 0, documents: 0, objects: 0 });
  const original = Object.keys(before.objects).find((k) => k.endsWith('/original'))!;
  const cases: [string, (src: string, dst: string) => Promise<void>, RegExp][] = [
    ['a flipped byte in an object', (s, d) => rewrite(s, d, (name, data) => (name === `objects/${original}` ? flip(data, 20) : data)), new RegExp(`objects/${original}.*corrupt`)],
    ['a flipped byte in a collection', (s, d) => rewrite(s, d, (name, data) => (name === 'collections/content_post.ndjson' ? flip(data, 5) : data)), /collections\/content_post\.ndjson is corrupt/],
    ['a flipped byte in the manifest', (s, d) => rewrite(s, d, (name, data) => (name === 'manifest.json' ? flip(data, 40) : data)), /manifest\.json does not match its checksum/],
    ['a missing member', (s, d) => rewrite(s, d, (name, data) => (name === 'collections/users.ndjson' ? null : data)), /collections\/users\.ndjson is missing/],
    ['an unknown member', async (s, d) => {
      const members = await readMembers(s);
      members.splice(members.length - 2, 0, { name: 'objects/intruder', data: Buffer.from('x') });
      await writeMembers(d, members);
    }, /objects\/intruder is not in the manifest/],
    ['a truncated file', async (s, d) => {
      const bytes = await readFile(s);
      await writeFile(d, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    }, /truncated or damaged/],
    ['no manifest at all', (s, d) => rewrite(s, d, (name, data) => (name.startsWith('manifest') ? null : data)), /has no manifest\.json/],
  ];
  for (const [what, make, message] of cases) {
    const bad = join(dir, `bad-${what.replace(/\W+/g, '-')}.tar.gz`);
    await make(archive, bad);
    const res = await cli(['import', bad, '--json']);
    t.equal(res.code, 1, `${what}: exit 1`);
    t.match(res.json.error?.message, message, `${what}: ${res.json.error?.message}`);
    t.same(await counts(), empty, `${what}: nothing written`);
  }
});

/** A forged archive: `edit` changes the manifest and the members, and every checksum is made to match again. */
async function forge(src: string, dst: string, edit: (manifest: Json, members: { name: string; data: Buffer }[]) => void): Promise<void> {
  const all = await readMembers(src);
  const manifest = JSON.parse(all.find((m) => m.name === 'manifest.json')!.data.toString('utf8')) as Json;
  const members = all.filter((m) => !m.name.startsWith('manifest.'));
  edit(manifest, members);
  const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
  manifest.members = members.map((m) => ({ ...(manifest.members.find((x: Json) => x.name === m.name) ?? {}), name: m.name, size: m.data.length, sha256: sha(m.data) }));
  const text = Buffer.from(JSON.stringify(manifest));
  await writeMembers(dst, [...members, { name: 'manifest.json', data: text }, { name: 'manifest.sha256', data: Buffer.from(`${sha(text)}  manifest.json\n`) }]);
}

t.test('a forged archive cannot write outside its places, and is refused before any write', async (t) => {
  const empty = await counts();
  t.equal(empty.documents + empty.objects, 0);
  const escaped = join(dir, 'escaped.json');
  const typesOut = join(dir, 'forged-types', 'out');
  const cases: [string, (manifest: Json, members: { name: string; data: Buffer }[]) => void, RegExp][] = [
    ['an object key with ..', (_m, members) => void members.push({ name: 'objects/../../escaped', data: Buffer.from('x') }), /member "objects\/..\/..\/escaped" holds a "." or ".." segment/],
    ['an absolute object key', (_m, members) => void members.push({ name: 'objects//etc/escaped', data: Buffer.from('x') }), /is an absolute path/],
    ['a member that is neither', (_m, members) => void members.push({ name: 'elsewhere/x', data: Buffer.from('x') }), /member "elsewhere\/x" is neither a collection nor an object/],
    ['the import record as a collection', (m, members) => {
      members.unshift({ name: 'collections/_import_state.ndjson', data: Buffer.from('{"_id":"import","archiveSha256":"x","membersDone":99}\n') });
      m.collections.push({ name: '_import_state', member: 'collections/_import_state.ndjson', documents: 1, indexes: [] });
    }, /collection "_import_state" may not be restored/],
    ['a content-type file outside the directory', (m) => void (m.contentTypes['../../escaped.json'] = '{}'), /content-type file "..\/..\/escaped.json" is not a plain file name/],
  ];
  for (const [what, edit, message] of cases) {
    const bad = join(dir, `forged-${what.replace(/\W+/g, '-')}.tar.gz`);
    await forge(archive, bad, edit);
    const res = await cli(['import', bad, '--json']);
    t.equal(res.code, 1, `${what}: exit 1`);
    t.match(res.json.error?.message, message, `${what}: ${res.json.error?.message}`);
    t.same(await counts(), empty, `${what}: nothing written`);
    const extracted = await cli(['import', bad, '--extract-types', typesOut, '--json']);
    t.equal(extracted.code, 1, `${what}: --extract-types refuses it too`);
  }
  await t.rejects(readFile(escaped), 'no file was written outside the directory');
});

function flip(data: Buffer, at: number): Buffer {
  const copy = Buffer.from(data);
  copy[at % copy.length] = copy[at % copy.length]! ^ 0xff;
  return copy;
}

t.test('content types that conflict with the files on disk are refused', async (t) => {
  const changed = join(dir, 'types-changed');
  await cp(EXAMPLE_TYPES, changed, { recursive: true });
  const post = JSON.parse(await readFile(join(changed, 'post.json'), 'utf8')) as Json;
  post.description = 'changed since the backup';
  await writeFile(join(changed, 'post.json'), JSON.stringify(post, null, 2));
  process.env.CONTENT_TYPES_DIR = changed;
  try {
    const res = await cli(['import', archive, '--json']);
    t.equal(res.code, 3);
    t.match(res.json.error, { differing: ['post'], missing: [] });
    t.match(res.json.error.message, /differ from the files .*: post/);
    const missingDir = join(dir, 'types-missing');
    await cp(EXAMPLE_TYPES, missingDir, { recursive: true });
    await rm(join(missingDir, 'author.json'));
    process.env.CONTENT_TYPES_DIR = missingDir;
    const missing = await cli(['import', archive]);
    t.equal(missing.code, 3);
    t.match(missing.err, /have entries in the archive but no file in .*: author/);
    t.same(await counts(), { collections: 0, documents: 0, objects: 0 }, 'nothing written');
    // an unexpected failure (the types directory is a file): exit 1, still one JSON document, the details on stderr
    process.env.CONTENT_TYPES_DIR = join(EXAMPLE_TYPES, 'post.json');
    const odd = await cli(['import', archive, '--json']);
    t.equal(odd.code, 1);
    t.match(odd.json, { ok: false, error: { message: /Unexpected error: .*ENOTDIR/ } });
    t.match(odd.err, /ENOTDIR/);
    t.same(await counts(), { collections: 0, documents: 0, objects: 0 }, 'nothing written');
    const out = join(dir, 'types-from-archive');
    const extracted = await cli(['import', archive, '--extract-types', out, '--json']);
    t.equal(extracted.code, 0, extracted.err);
    t.equal(await readFile(join(out, 'post.json'), 'utf8'), await readFile(join(EXAMPLE_TYPES, 'post.json'), 'utf8'), "--extract-types writes the archive's files");
  } finally {
    process.env.CONTENT_TYPES_DIR = EXAMPLE_TYPES;
  }
});

async function assertRestored(t: Pick<typeof import('tap').default, 'same' | 'equal'>, label: string): Promise<void> {
  t.same(await dumpDb(), before.docs, `${label}: every document equal`);
  t.same(await objectHashes(), before.objects, `${label}: every object byte-identical`);
  t.same(await indexNames(), before.indexes, `${label}: indexes rebuilt`);
  t.same(await answers(), before.answers, `${label}: the API answers the same`);
  t.equal(await db.collection(IMPORT_STATE).countDocuments({}), 0, `${label}: the import record is gone`);
}

t.test('an interrupted import resumes and ends in the same state', async (t) => {
  // what a server leaves on its first start: the target still counts as empty, and the archive's values win
  await db.collection<{ _id: string; drafts: boolean }>('type_states').insertOne({ _id: 'post', drafts: false });
  await db.collection<{ _id: string; hash: string }>('settings').insertOne({ _id: 'setup', hash: 'abc' });
  // an index of the same name with another definition (a server of another version) gives way to the archive's
  await db.collection('users').createIndex({ name: 1 }, { name: 'cms_unique_email' });
  const manifestMembers = Object.keys(before.objects).length + Object.keys(before.docs).length;
  const stopped = await importArchive({ file: archive, db, s3: app.s3, contentTypesDir: EXAMPLE_TYPES, stopAfter: manifestMembers - 1 });
  t.equal(stopped.complete, false);
  t.equal(stopped.membersDone, manifestMembers - 1);
  t.match(await db.collection(IMPORT_STATE).findOne({}), { membersDone: manifestMembers - 1, archiveSha256: stopped.archiveSha256 });
  t.not((await counts()).objects, Object.keys(before.objects).length, 'an object is still missing');
  // the same members packed again: a valid archive, but another file
  const other = join(dir, 'other.tar.gz');
  await rewrite(archive, other, (_name, data) => data);
  const another = await cli(['import', other, '--json']);
  t.equal(another.code, 3, 'another archive cannot start while one is unfinished');
  t.match(another.json.error?.message, /an import of another archive .* did not finish/);
  // progress recorded before the interruption is replayed: still the same end state
  await db.collection(IMPORT_STATE).updateOne({}, { $set: { membersDone: 2 } });
  const res = await cli(['import', archive, '--json']);
  t.equal(res.code, 0, res.err + res.out);
  t.match(res.json, { ok: true, resumed: true, complete: true });
  await assertRestored(t, 'resumed');
});

t.test('the restore drill: references resolve, sessions are gone, tokens work', async (t) => {
  const entry = before.answers[1]!.body.data as Json;
  t.equal(entry.author?._id, authorId, 'the author resolves');
  t.equal(entry.cover?._id, mediaId, 'the cover resolves');
  const draft = before.answers[3]!.body.data as Json;
  t.equal(before.answers[3]!.status, 200, JSON.stringify(before.answers[3]));
  t.equal(draft.related?.[0]?._id, firstId, 'a reference between posts resolves');
  t.equal(draft.author?.name, 'Ada Lovelace');
  const oldSession = await app.inject({ method: 'GET', url: '/api/webhooks', headers: admin });
  t.equal(oldSession.statusCode, 401, 'sessions are not restored: sign in again');
  t.equal(await db.collection('sessions').countDocuments({}), 0);
  const token = await app.inject({ method: 'GET', url: `/api/content/post/${secondId}?preview=true`, headers: reader });
  t.equal(token.statusCode, 200, 'API tokens still work');
  const file = await app.inject({ method: 'GET', url: `/media/${mediaId}/harbour.png` });
  t.ok(file.rawPayload.equals(png), 'the media file is the uploaded bytes');
});

t.test('a non-empty target needs --replace', async (t) => {
  const refused = await cli(['import', archive, '--json']);
  t.equal(refused.code, 3);
  t.match(refused.json.error.message, /target is not empty/);
  // change something, so --replace has work to do
  await db.collection('content_author').deleteMany({});
  await new ObjectStore(app.s3).put('stray/object', Buffer.from('stray'), 'text/plain');
  const replaced = await cli(['import', archive, '--replace']);
  t.equal(replaced.code, 0, replaced.err);
  t.match(replaced.err, /WARNING: --replace: DELETING everything/);
  await assertRestored(t, 'replaced');
});

t.test('import refuses while a server runs on the embedded services it would use', async (t) => {
  // a data directory announced by a live process (this test's parent stands in for the server)
  const dataDir = await mkdtemp(join(tmpdir(), 'cms-backup-live-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const s3 = { endpoint: process.env.S3_ENDPOINT!, region: process.env.S3_REGION ?? 'us-east-1', accessKeyId: process.env.S3_ACCESS_KEY_ID!, secretAccessKey: process.env.S3_SECRET_ACCESS_KEY! };
  await writeFile(join(dataDir, 'services.json'), JSON.stringify({ pid: process.ppid, mongoUri: process.env.MONGODB_URI, s3 }));
  const saved = { ...process.env };
  t.teardown(() => {
    for (const k of ['MONGODB_URI', 'S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_FORCE_PATH_STYLE', 'DATA_DIR']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  for (const k of ['MONGODB_URI', 'S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_FORCE_PATH_STYLE']) delete process.env[k];
  process.env.DATA_DIR = dataDir;
  const before = await dumpDb();
  const res = await cli(['import', join(dataDir, 'services.json'), '--replace', '--json']);
  t.equal(res.code, 3, 'refused');
  t.match(res.json, { ok: false, error: { exit: 3, message: new RegExp(`process ${process.ppid}.*stop it before importing`) } });
  t.same(await dumpDb(), before, 'nothing was written, not even with --replace');
});
