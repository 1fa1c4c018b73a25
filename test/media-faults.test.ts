// Media uploads that go wrong: every refusal is a clear 4xx (or a 503 when a backing service is
// down), and leaves nothing behind: no S3 object (the whole bucket is listed), no `media` record, no
// temporary file in MEDIA_TMP_DIR (a fresh directory per test).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import { MongoClient, MongoNetworkError } from 'mongodb';
import sharp from 'sharp';
import t from 'tap';
import { codes } from '../src/errors.js';
import type { MediaDoc, MediaRepository } from '../src/storage/media.js';
import type { ObjectStore } from '../src/storage/objects.js';
import { createS3, type S3 } from '../src/storage/s3.js';
import { authHeaders, buildTestApp, call, testConfig, type Json, type TestAppOptions } from './helpers.js';

type Test = Pick<typeof t, 'equal' | 'ok' | 'same' | 'match' | 'type' | 'teardown'>;

// --- files to upload ---

/** Deterministic bytes that look random: the same run after run, so type sniffing is stable. */
function noise(length: number, seed = 'noise'): Buffer {
  const out = Buffer.alloc(length);
  let block = createHash('sha256').update(seed).digest();
  for (let at = 0; at < length; at += block.length) {
    block.copy(out, at);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** A small valid PNG; each `shade` gives different bytes (so a different media id). */
function png(shade: number, size = 8): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: { r: shade, g: 64, b: 255 - shade } } }).png().toBuffer();
}

/** A PNG of noise: it does not compress, so it is large for its size in pixels. */
function noisyPng(side: number): Promise<Buffer> {
  return sharp(noise(side * side * 3, `png${side}`), { raw: { width: side, height: side, channels: 3 } }).png().toBuffer();
}

/** A JPEG of noise, cut in half: its header is intact, its scan data ends early. */
async function truncatedJpeg(): Promise<Buffer> {
  const whole = await sharp(noise(256 * 256 * 3, 'jpeg'), { raw: { width: 256, height: 256, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  return whole.subarray(0, Math.floor(whole.length / 2));
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A valid RGB PNG of `width`×`height` black pixels, streamed through deflate: small on disk, huge decoded. */
async function hugePng(width: number, height: number): Promise<Buffer> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type 2 (RGB), deflate, no filter, no interlace
  const rowBytes = 1 + width * 3; // filter byte 0, then black pixels
  const rowsPerWrite = 100;
  const zeros = Buffer.alloc(rowBytes * rowsPerWrite);
  const deflate = zlib.createDeflate({ level: 9, memLevel: 9, strategy: zlib.constants.Z_RLE });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((resolve, reject) => deflate.on('end', resolve).on('error', reject));
  for (let row = 0; row < height; row += rowsPerWrite) deflate.write(zeros.subarray(0, rowBytes * Math.min(rowsPerWrite, height - row)));
  deflate.end();
  await done;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', Buffer.concat(out)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A GIF89a of 1×1 frames, `frames` of them, each with its graphic control extension. */
function animatedGif(frames: number): Buffer {
  const header = Buffer.concat([
    Buffer.from('GIF89a', 'latin1'),
    Buffer.from([1, 0, 1, 0, 0x80, 0, 0]), // 1×1 screen, a global colour table of 2 entries
    Buffer.from([0, 0, 0, 255, 255, 255]),
  ]);
  const frame = Buffer.from([
    0x21, 0xf9, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, // graphic control: delay 1/100 s
    0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0x00, // image descriptor: 1×1 at 0,0, no local table
    0x02, 0x02, 0x44, 0x01, 0x00, // LZW minimum code size 2: clear, pixel 0, end of information
  ]);
  return Buffer.concat([header, ...Array.from({ length: frames }, () => frame), Buffer.from([0x3b])]);
}

const HTML = '<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n';
const SVG_TEXT = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script><rect width="10" height="10"/></svg>\n';
const PDF = '%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n';

// --- multipart bodies, by hand ---

const BOUNDARY = '----cmsMediaFaults7MA4YWxkTrZu0gW';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;

interface Part {
  name: string;
  /** A file part: written raw (UTF-8) into `filename="…"`, NULs, `..` and bidi marks included. */
  filename?: string;
  /** A whole Content-Disposition value instead (to send `filename*=UTF-8''…`); makes a file part. */
  disposition?: string;
  type?: string;
  data: Buffer | string;
}

function partHead(p: Part): Buffer {
  const disposition = p.disposition ?? `form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`;
  const isFile = p.filename !== undefined || p.disposition !== undefined;
  const type = p.type ?? (isFile ? 'application/octet-stream' : undefined);
  return Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`, 'utf8');
}

function formBody(parts: Part[]): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) chunks.push(partHead(p), Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data, 'utf8'), Buffer.from('\r\n'));
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

const file = (filename: string, data: Buffer | string, type = 'application/octet-stream'): Part => ({ name: 'file', filename, data, type });
const field = (name: string, value: string): Part => ({ name, data: value });

// --- one app per test, on its own database, bucket and temporary directory ---

interface Env {
  app: FastifyInstance;
  dir: string;
}

async function setup(t: Test, env: Record<string, string> = {}, options: Omit<TestAppOptions, 'env'> = {}): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'cms-media-faults-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const app = await buildTestApp(t, { ...options, env: { MEDIA_TMP_DIR: dir, ...env } });
  return { app, dir };
}

async function post(app: FastifyInstance, parts: Part[]): Promise<{ status: number; body: Json }> {
  const res = await app.inject({ method: 'POST', url: '/api/media', headers: { 'content-type': MULTIPART }, payload: formBody(parts) });
  return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Json) : {} };
}

/** Every key in the bucket, whatever its prefix. */
async function bucketKeys(s3: S3): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

const mediaCount = (app: FastifyInstance) => app.mongo.db.collection('media').countDocuments({});
const uploadsCount = (app: FastifyInstance) => app.mongo.db.collection('media_uploads').countDocuments({});

async function assertClean(t: Test, env: Env, label: string, s3: S3 = env.app.s3): Promise<void> {
  t.same(await bucketKeys(s3), [], `${label}: no S3 object left`);
  t.equal(await mediaCount(env.app), 0, `${label}: no media record`);
  t.same(await readdir(env.dir), [], `${label}: no temporary file left`);
}

interface Expected {
  status: number;
  code: string;
  /** Each must be the path of one of error.details. */
  paths?: string[];
  /** error.details[0].detected: the type sniffed from the bytes. */
  detected?: string;
}

function checkError(t: Test, res: { status: number; body: Json }, e: Expected, label: string): void {
  t.equal(res.status, e.status, `${label}: status ${e.status}`);
  t.equal(res.body.error?.code, e.code, `${label}: ${e.code}`);
  t.type(res.body.error?.message, 'string', `${label}: a message`);
  const details = (res.body.error?.details ?? []) as Json[];
  for (const path of e.paths ?? []) {
    t.ok(details.some((d) => d.path === path), `${label}: details name ${JSON.stringify(path)} (got ${JSON.stringify(details.map((d) => d.path))})`);
  }
  if (e.detected !== undefined) t.equal(details[0]?.detected, e.detected, `${label}: detected ${e.detected}`);
}

/** Sends a form that must be refused; checks the refusal and that nothing at all was left. */
async function refused(t: Test, env: Env, parts: Part[], e: Expected, label: string): Promise<Json> {
  const res = await post(env.app, parts);
  checkError(t, res, e, label);
  await assertClean(t, env, label);
  return res.body;
}

/**
 * After a success the route removes its temporary files in a `finally` that runs just after the
 * reply is sent, so they are polled for (briefly); after a refusal they must already be gone.
 */
async function tempGoneAfterSuccess(t: Test, env: Env, label: string): Promise<void> {
  t.ok(await until(async () => (await readdir(env.dir)).length === 0, 2000), `${label}: the temporary files go`);
  t.same(await readdir(env.dir), [], `${label}: no temporary file left`);
}

/** Polls `probe` until it holds or `ms` pass; returns its last answer. */
async function until(probe: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A TCP proxy to a backing service, which a test closes to make the service unreachable. */
async function tcpProxy(target: { host: string; port: number }, port = 0): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    track(client);
    track(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** An S3 connection of our own to the real endpoint, to look into an app's bucket when its own path is cut. */
function directS3(t: Test, bucket: string): S3 {
  const s3 = createS3({ ...testConfig().s3, bucket });
  t.teardown(() => s3.client.destroy());
  return s3;
}

/**
 * Makes the two requests that store the same media id meet: each call to addIntent waits (up to
 * 2 s) for the other one for its id, then both go to the database together. The interleaving that
 * concurrent requests for the same bytes can have, made certain rather than left to timing.
 */
function meetAtIntent(t: Test, app: FastifyInstance): void {
  const repo = (app.media as unknown as { repo: MediaRepository }).repo;
  const real = repo.addIntent.bind(repo);
  const waiting = new Map<string, () => void>();
  repo.addIntent = async (id, at) => {
    const other = waiting.get(id);
    if (other) {
      waiting.delete(id);
      other();
    } else {
      await new Promise<void>((resolve) => {
        waiting.set(id, resolve);
        setTimeout(resolve, 2000);
      });
    }
    return real(id, at);
  };
  t.teardown(() => {
    repo.addIntent = real;
  });
}

// --- the cases ---

t.test('the checks see what a good upload leaves (so "nothing left" means something)', async (t) => {
  const env = await setup(t);
  const res = await post(env.app, [file('ok.png', await png(10), 'image/png'), file('anim.gif', animatedGif(3), 'image/gif')]);
  t.equal(res.status, 201, 'a PNG and a 3-frame GIF from the same builder are accepted');
  const [stored, gif] = res.body.data as Json[];
  t.match(stored, { mime: 'image/png', width: 8, height: 8 });
  t.match(gif, { mime: 'image/gif', width: 1, height: 1, pages: 3 });
  t.same(await bucketKeys(env.app.s3), [`media/${stored!._id}/original`, `media/${gif!._id}/original`].sort(), 'the originals are listed');
  t.equal(await mediaCount(env.app), 2, 'the records are counted');
  await tempGoneAfterSuccess(t, env, 'after a success');
});

t.test('a file over MEDIA_MAX_FILE_SIZE', async (t) => {
  const env = await setup(t, { MEDIA_MAX_FILE_SIZE: '1000' });
  const big = await noisyPng(40);
  t.ok(big.length > 2000, `the PNG is well over the limit (${big.length} bytes)`);
  await refused(t, env, [file('big.png', big, 'image/png')], { status: 413, code: codes.mediaTooLarge, paths: ['/files/0'] }, 'an oversize PNG');
  await refused(t, env, [file('big.txt', 'a'.repeat(1001), 'text/plain')], { status: 413, code: codes.mediaTooLarge, paths: ['/files/0'] }, 'a text file one byte over');
  await refused(t, env, [file('big.html', HTML.repeat(20), 'text/html')], { status: 413, code: codes.mediaTooLarge, paths: ['/files/0'] }, 'oversize HTML: the size is what is wrong first');
  await refused(t, env, [file('ok.png', await png(1), 'image/png'), file('big.txt', 'c'.repeat(50_000), 'text/plain')], { status: 413, code: codes.mediaTooLarge, paths: ['/files/1'] }, 'a good file, then an oversize one');
  // the limit itself is allowed
  const atLimit = await post(env.app, [file('limit.txt', 'b'.repeat(1000), 'text/plain')]);
  t.equal(atLimit.status, 201, 'a file of exactly the limit is accepted');
  t.equal(atLimit.body.data?.[0]?.size, 1000);
  await tempGoneAfterSuccess(t, env, 'a file of exactly the limit');
});

t.test('too many files, too many parts', async (t) => {
  const env = await setup(t, { MEDIA_MAX_FILES: '2' });
  const three = [file('a.png', await png(20), 'image/png'), file('b.png', await png(21), 'image/png'), file('c.png', await png(22), 'image/png')];
  await refused(t, env, three, { status: 413, code: codes.mediaTooManyFiles, paths: ['/files'] }, 'three files where two are allowed');
  await refused(t, env, [...three, file('d.png', await png(23), 'image/png')], { status: 413, code: codes.mediaTooManyFiles, paths: ['/files'] }, 'four files where two are allowed');
  const tags = Array.from({ length: 30 }, (_, i) => field('tags', `t${i}`));
  await refused(t, env, [file('a.png', await png(20), 'image/png'), ...tags], { status: 413, code: codes.mediaTooManyParts }, 'a file, then 30 fields');
  await refused(t, env, [...tags, file('a.png', await png(20), 'image/png')], { status: 413, code: codes.mediaTooManyParts }, '30 fields, then a file');
});

t.test('bytes that are not what they claim', async (t) => {
  const env = await setup(t);
  await refused(t, env, [file('x.png', HTML, 'image/png')], { status: 415, code: codes.mediaTypeNotAllowed, paths: ['/files/0'], detected: 'text/html' }, 'HTML named x.png, sent as image/png');
  await refused(t, env, [file('photo.jpg', noise(4096, 'binary'), 'image/jpeg')], { status: 415, code: codes.mediaTypeNotAllowed, paths: ['/files/0'], detected: 'application/octet-stream' }, 'random binary named photo.jpg');
  await refused(t, env, [file('x.exe', Buffer.concat([Buffer.from('MZ'), noise(2000, 'exe')]), 'image/png')], { status: 415, code: codes.mediaTypeNotAllowed, paths: ['/files/0'] }, 'an executable header sent as image/png');
  await refused(t, env, [file('logo.svg', SVG_TEXT, 'image/svg+xml')], { status: 415, code: codes.mediaTypeNotAllowed, paths: ['/files/0'], detected: 'image/svg+xml' }, 'SVG, refused by default');
  await refused(t, env, [file('logo.png', SVG_TEXT, 'image/png')], { status: 415, code: codes.mediaTypeNotAllowed, paths: ['/files/0'], detected: 'image/svg+xml' }, 'SVG named logo.png');
});

t.test('a 17000×17000 PNG is refused from its header, without decoding it', async (t) => {
  const env = await setup(t);
  const huge = await hugePng(17000, 17000);
  t.ok(huge.length < 2_000_000, `the PNG is small on the wire (${huge.length} bytes)`);
  const meta = await sharp(huge, { limitInputPixels: false }).metadata();
  t.match(meta, { format: 'png', width: 17000, height: 17000 }, 'sharp reads it as a valid 17000×17000 PNG');
  const before = process.memoryUsage().rss;
  let peak = before;
  const sample = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  let res: { status: number; body: Json };
  try {
    res = await post(env.app, [file('huge.png', huge, 'image/png')]);
  } finally {
    clearInterval(sample);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  checkError(t, res, { status: 413, code: codes.mediaTooManyPixels, paths: ['/files/0'] }, 'huge.png');
  const grewMb = Math.round((peak - before) / 1024 / 1024);
  t.ok(grewMb < 300, `RSS grew by ${grewMb} MB (a decode needs 867 MB)`);
  await assertClean(t, env, 'huge.png');
});

t.test('a GIF of 5000 frames', async (t) => {
  const env = await setup(t);
  const gif = animatedGif(5000);
  const meta = await sharp(gif).metadata();
  t.match(meta, { format: 'gif', pages: 5000, width: 1, height: 1 }, 'sharp itself counts 5000 frames');
  await refused(t, env, [file('many.gif', gif, 'image/gif')], { status: 413, code: codes.mediaTooManyFrames, paths: ['/files/0'] }, 'a 5000-frame GIF');
  // the limit is MEDIA_MAX_FRAMES (300 by default): 301 frames are already too many
  await refused(t, env, [file('301.gif', animatedGif(301), 'image/gif')], { status: 413, code: codes.mediaTooManyFrames, paths: ['/files/0'] }, 'a 301-frame GIF');
});

t.test('a truncated JPEG', async (t) => {
  const env = await setup(t);
  const cut = await truncatedJpeg();
  await refused(t, env, [file('cut.jpg', cut, 'image/jpeg')], { status: 400, code: codes.mediaCorrupt, paths: ['/files/0'] }, 'half a JPEG');
  await refused(t, env, [file('cut.png', (await noisyPng(64)).subarray(0, 3000), 'image/png')], { status: 400, code: codes.mediaCorrupt, paths: ['/files/0'] }, 'the first 3000 bytes of a PNG');
});

t.test('file names that are paths, or hide what they are', async (t) => {
  const env = await setup(t);
  const bytes = await png(30);
  const BAD = { status: 400, code: codes.mediaBadFilename, paths: ['/files/0/filename'] };
  const names: [string, string][] = [
    ['../evil.png', 'a ../ path'],
    ['../../../../etc/passwd.png', 'a deep ../ path'],
    ['images/../../evil.png', 'a path through ..'],
    ['/etc/evil.png', 'an absolute path'],
    ['..\\\\evil.png', 'a Windows ..\\ path'],
    ['C:\\\\evil.png', 'a Windows drive path'],
    ['..', 'just ..'],
    ['evil.png\u0000.txt', 'a NUL byte'],
    ['\u0000', 'only a NUL'],
    ['a\u0007b.png', 'a BEL control character'],
    ['a\u001bb.png', 'an ESC control character'],
    ['a\tb.png', 'a tab'],
    ['a\u0085b.png', 'a C1 control character'],
    ['invoice\u202Egnp.exe', 'an RTL override (U+202E) that shows invoiceexe.png'],
    ['photo\u2067gnp.js', 'a right-to-left isolate (U+2067)'],
    ['photo\u200F.png', 'a right-to-left mark'],
  ];
  for (const [name, label] of names) await refused(t, env, [file(name, bytes, 'image/png')], BAD, `${label}: ${JSON.stringify(name)}`);
  // the same, percent-encoded as RFC 5987 extended values
  for (const [encoded, label] of [
    ['..%2Fevil.png', 'filename*= with ../'],
    ['evil%00.png', 'filename*= with a NUL'],
    ['invoice%E2%80%AEgnp.exe', 'filename*= with U+202E'],
  ] as const) {
    await refused(t, env, [{ name: 'file', disposition: `form-data; name="file"; filename*=UTF-8''${encoded}`, type: 'image/png', data: bytes }], BAD, label);
  }
  // a refused name anywhere in the form refuses the whole form
  await refused(t, env, [file('good.png', await png(31), 'image/png'), file('../bad.png', bytes, 'image/png')], { ...BAD, paths: ['/files/1/filename'] }, 'a good file, then ../bad.png');
});

t.test('a line break in a file name does not make the file vanish', async (t) => {
  // busboy drops a part whose filename holds CR or LF; the form must not then succeed without it
  const env = await setup(t);
  const good = file('good.png', await png(40), 'image/png');
  const withLf: Part = { name: 'file', disposition: `form-data; name="file"; filename*=UTF-8''evil%0A.png`, type: 'image/png', data: await png(41) };
  const alone = await post(env.app, [withLf]);
  t.ok(alone.status >= 400 && alone.status < 500, `alone: a 4xx (got ${alone.status} ${String(alone.body.error?.code)})`);
  await assertClean(t, env, 'alone');
  const res = await post(env.app, [good, withLf]);
  checkError(t, res, { status: 400, code: codes.mediaBadFilename }, 'a good file and one whose name holds LF');
  await assertClean(t, env, 'a good file and one whose name holds LF');
});

t.test('several files: all or nothing', async (t) => {
  const env = await setup(t);
  const a = file('a.png', await png(50), 'image/png');
  const b = file('b.png', await png(51), 'image/png');
  await refused(t, env, [a, b, file('c.png', HTML, 'image/png')], { status: 415, code: codes.mediaTypeNotAllowed, paths: ['/files/2'], detected: 'text/html' }, 'two PNGs, then HTML');
  await refused(t, env, [a, b, file('c.jpg', await truncatedJpeg(), 'image/jpeg')], { status: 400, code: codes.mediaCorrupt, paths: ['/files/2'] }, 'two PNGs, then a truncated JPEG');
  await refused(t, env, [a, b, file('c.gif', animatedGif(5000), 'image/gif')], { status: 413, code: codes.mediaTooManyFrames, paths: ['/files/2'] }, 'two PNGs, then 5000 frames');
  await refused(t, env, [a, b, file('', '', 'image/png')], { status: 400, code: codes.mediaEmpty, paths: ['/files/2'] }, 'two PNGs, then an empty file');

  // a failure while storing (S3 refuses the second original) removes the first, which was new,
  // and keeps media that existed before the request
  const kept = await post(env.app, [file('kept.png', await png(52), 'image/png')]);
  t.equal(kept.status, 201);
  const keptId = String(kept.body.data[0]._id);
  const objects = (env.app.media as unknown as { objects: ObjectStore }).objects;
  const real = objects.putFile.bind(objects);
  let puts = 0;
  objects.putFile = async (key, path, type) => {
    if (++puts === 2) throw Object.assign(new Error('connect ECONNRESET (injected)'), { code: 'ECONNRESET' });
    return real(key, path, type);
  };
  t.teardown(() => {
    objects.putFile = real;
  });
  const res = await post(env.app, [file('kept.png', await png(52), 'image/png'), a, b]);
  checkError(t, res, { status: 503, code: codes.serviceUnavailable }, 'S3 fails on the second new original');
  t.equal(puts, 2, 'the first new original was stored before the failure');
  t.same(await bucketKeys(env.app.s3), [`media/${keptId}/original`], 'only the media from before is in S3');
  t.same((await env.app.mongo.db.collection('media').find({}).toArray()).map((d) => d._id), [keptId], 'only the record from before');
  t.equal(await env.app.mongo.db.collection('media_intents').countDocuments({}), 0, 'no intent left: the rollback finished');
  t.same(await readdir(env.dir), [], 'no temporary file left');
  objects.putFile = real;

  // MongoDB fails to insert the record after the original went to S3: the original is removed
  const repo = (env.app.media as unknown as { repo: MediaRepository }).repo;
  const insert = repo.insert.bind(repo);
  repo.insert = async () => {
    throw new MongoNetworkError('connection reset (injected)');
  };
  t.teardown(() => {
    repo.insert = insert;
  });
  const lost = await post(env.app, [a]);
  checkError(t, lost, { status: 503, code: codes.serviceUnavailable }, 'MongoDB fails on insert');
  t.same(await bucketKeys(env.app.s3), [`media/${keptId}/original`], 'the new original was removed from S3');
  t.equal(await mediaCount(env.app), 1, 'no new record');
  t.same(await readdir(env.dir), [], 'no temporary file left');
});

t.test('the same file uploaded twice at once', async (t) => {
  // store() keeps the first record when the same bytes arrive together; both requests must succeed
  const env = await setup(t);
  meetAtIntent(t, env.app);
  const images = await Promise.all([130, 131, 132, 133].map((shade) => png(shade)));
  const results = await Promise.all(images.flatMap((bytes, i) => [0, 1].map(() => post(env.app, [file(`same${i}.png`, bytes, 'image/png')]))));
  const answers = results.map((r) => `${r.status}${r.body.error ? ` ${String(r.body.error.code)}` : ''}`);
  t.ok(results.every((r) => r.status === 200 || r.status === 201), `every upload succeeds (got ${answers.join(', ')})`);
  const ids = new Set(results.filter((r) => r.status < 300).map((r) => String(r.body.data[0]._id)));
  t.equal(ids.size, images.length, 'one media per file');
  t.equal(await mediaCount(env.app), images.length, 'one record per file');
  t.equal((await bucketKeys(env.app.s3)).length, images.length, 'one original per file');
  t.equal(await env.app.mongo.db.collection('media_intents').countDocuments({}), 0, 'no intent left');
  await tempGoneAfterSuccess(t, env, 'concurrent uploads');
});

t.test('form fields: unknown, repeated, invalid', async (t) => {
  const env = await setup(t);
  const imgBytes = await png(60);
  const img = () => file('f.png', imgBytes, 'image/png');
  await refused(t, env, [img(), field('owner', 'admin')], { status: 400, code: codes.mediaBadField, paths: ['/fields/owner'] }, 'an unknown field after the file');
  await refused(t, env, [field('owner', 'admin'), img()], { status: 400, code: codes.mediaBadField, paths: ['/fields/owner'] }, 'an unknown field before the file');
  await refused(t, env, [img(), field('alt', 'a'), field('alt', 'b')], { status: 400, code: codes.mediaBadField, paths: ['/fields/alt'] }, 'alt given twice');
  await refused(t, env, [img(), field('__proto__', 'x')], { status: 400, code: codes.bodyForbiddenKey }, 'a __proto__ field');
  const INVALID = codes.mediaValidation;
  await refused(t, env, [img(), field('focal', '2,0.5')], { status: 400, code: INVALID, paths: ['/fields/focal/x'] }, 'focal x above 1');
  await refused(t, env, [img(), field('focal', '0.5,-0.1')], { status: 400, code: INVALID, paths: ['/fields/focal/y'] }, 'focal y negative');
  await refused(t, env, [img(), field('focal', 'left,top')], { status: 400, code: INVALID, paths: ['/fields/focal/x', '/fields/focal/y'] }, 'focal words');
  await refused(t, env, [img(), field('focal', '0.5')], { status: 400, code: INVALID, paths: ['/fields/focal'] }, 'focal without y');
  await refused(t, env, [img(), field('tags', 'ok,bad\u0001tag')], { status: 400, code: INVALID, paths: ['/fields/tags/1'] }, 'a tag with a control character');
  await refused(t, env, [img(), field('tags', 'x'.repeat(65))], { status: 400, code: INVALID, paths: ['/fields/tags/0'] }, 'a tag too long');
  await refused(t, env, [img(), field('tags', 'a,b,a')], { status: 400, code: INVALID, paths: ['/fields/tags'] }, 'a repeated tag');
  await refused(t, env, [img(), field('tags', Array.from({ length: 51 }, (_, i) => `t${i}`).join(','))], { status: 400, code: INVALID, paths: ['/fields/tags'] }, '51 tags');
  await refused(t, env, [img(), field('alt', 'a'.repeat(1001))], { status: 400, code: INVALID, paths: ['/fields/alt'] }, 'alt too long');
  await refused(t, env, [field('alt', 'no file')], { status: 400, code: codes.mediaNoFile, paths: ['/files'] }, 'fields and no file');
  await refused(t, env, [], { status: 400, code: codes.mediaNoFile, paths: ['/files'] }, 'an empty form');
  await refused(t, env, [file('empty.png', Buffer.alloc(0), 'image/png')], { status: 400, code: codes.mediaEmpty, paths: ['/files/0'] }, 'an empty file');
  const json = await call(env.app, 'POST', '/api/media', { file: 'x' });
  checkError(t, json, { status: 415, code: codes.bodyUnsupportedType }, 'JSON instead of a form');
  await assertClean(t, env, 'JSON instead of a form');
});

t.test('a focal point of three numbers is not read as its first two', async (t) => {
  const env = await setup(t);
  await refused(t, env, [file('f.png', await png(61), 'image/png'), field('focal', '0.1,0.2,0.3')], { status: 400, code: codes.mediaValidation, paths: ['/fields/focal'] }, 'focal "0.1,0.2,0.3"');
});

t.test('malformed multipart bodies are the client\'s fault', async (t) => {
  const env = await setup(t);
  const head = partHead(file('a.txt', '', 'text/plain'));
  const send = async (contentType: string, payload: Buffer | string) => {
    const res = await env.app.inject({ method: 'POST', url: '/api/media', headers: { 'content-type': contentType }, payload });
    return { status: res.statusCode, body: JSON.parse(res.body) as Json };
  };
  // a complete HTTP request whose form stops in the middle of a file (no closing boundary)
  const cut = await send(MULTIPART, Buffer.concat([head, Buffer.from('hello hello hello')]));
  checkError(t, cut, { status: 400, code: codes.mediaAborted }, 'a form cut off in the middle of a file');
  await assertClean(t, env, 'a form cut off in the middle of a file');
  const cutHeaders = await send(MULTIPART, `--${BOUNDARY}\r\nContent-Disposition: form-da`);
  checkError(t, cutHeaders, { status: 400, code: codes.mediaAborted }, 'a form cut off in a part header');
  await assertClean(t, env, 'a form cut off in a part header');
  for (const [contentType, payload, label] of [
    ['multipart/form-data', Buffer.concat([head, Buffer.from(`hello\r\n--${BOUNDARY}--\r\n`)]), 'multipart/form-data without a boundary'],
    [MULTIPART, 'this is not a multipart body at all', 'a body without any boundary line'],
  ] as const) {
    const res = await send(contentType, payload);
    t.ok(res.status >= 400 && res.status < 500, `${label}: a 4xx (got ${res.status})`);
    t.not(res.body.error?.code, codes.internal, `${label}: not an internal error (got ${String(res.body.error?.code)})`);
    await assertClean(t, env, label);
  }
});

t.test('a client that goes away mid-upload', async (t) => {
  const env = await setup(t);
  await env.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = env.app.server.address() as AddressInfo;
  const temporary = async () => (await readdir(env.dir)).filter((f) => f.startsWith('cms-upload-')).length;

  /** Declares a 20 MB form, sends `head`, waits until the server spools `spooling` files, then drops the socket. */
  async function abort(head: Buffer, spooling: number, label: string): Promise<void> {
    const headers = { ...authHeaders(env.app), origin: `http://127.0.0.1:${port}`, 'content-type': MULTIPART, 'content-length': 20 * 1024 * 1024 };
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/media', headers });
    const outcome = new Promise<string>((resolve) => {
      req.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      req.on('response', (res) => resolve(`response ${res.statusCode}`));
    });
    req.write(head);
    t.ok(await until(async () => (await temporary()) >= spooling), `${label}: the server is spooling (${spooling} temporary file${spooling > 1 ? 's' : ''})`);
    req.destroy();
    await outcome;
    t.ok(await until(async () => (await readdir(env.dir)).length === 0), `${label}: the temporary files go within 5 s`);
    t.same(await readdir(env.dir), [], `${label}: no temporary file left`);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    t.equal(health.status, 200, `${label}: the server still answers`);
    t.same(await health.json(), { status: 'ok' });
    await assertClean(t, env, label);
  }

  const partial = Buffer.concat([partHead(file('big.bin', '', 'application/octet-stream')), noise(256 * 1024, 'partial')]);
  await abort(partial, 1, 'in the middle of the only file');
  const first = Buffer.concat([partHead(file('first.png', '', 'image/png')), await png(70), Buffer.from('\r\n')]);
  await abort(Buffer.concat([first, partial]), 2, 'in the second file, after a complete first one');
  await abort(Buffer.concat([first, Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="alt"\r\n\r\nhalf a fi`)]), 1, 'in a field after a file');

  // the server still takes uploads afterwards
  const form = new FormData();
  form.append('file', new Blob([await png(71)], { type: 'image/png' }), 'after.png');
  const after = await fetch(`http://127.0.0.1:${port}/api/media`, { method: 'POST', body: form, headers: { ...authHeaders(env.app), origin: `http://127.0.0.1:${port}` } });
  t.equal(after.status, 201, 'an upload after the aborted ones succeeds');
});

t.test('S3 unreachable', async (t) => {
  const real = new URL(process.env.S3_ENDPOINT ?? '');
  if (!real.port) throw new Error('S3_ENDPOINT must name a host and port: run the tests with `npm test`');
  const target = { host: real.hostname, port: Number(real.port) };
  const proxy = await tcpProxy(target);
  let reopened: Awaited<ReturnType<typeof tcpProxy>> | undefined;
  t.teardown(async () => {
    await proxy.close();
    await reopened?.close();
  });
  // direct uploads outlive the sweep below, which must reach only the failed store's intent
  const env = await setup(t, { S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`, MEDIA_UPLOAD_EXPIRES: '7200' });
  const direct = directS3(t, env.app.s3.bucket);

  // while S3 answers: one stored image, and a direct upload sent but not completed
  const before = await post(env.app, [file('before.png', await png(79), 'image/png')]);
  t.equal(before.status, 201, 'through the proxy, uploads work');
  const id = String(before.body.data[0]._id);
  const original = `media/${id}/original`;
  const bytes = await png(80);
  const pending = await createUpload(env.app, 'pending.png', 'image/png', bytes.length);
  t.equal((await postToS3(pending, bytes, 'image/png')).status, 204, 'a direct upload reaches S3');
  await tempGoneAfterSuccess(t, env, 'before S3 goes');

  await proxy.close();
  const res = await post(env.app, [file('down.png', bytes, 'image/png')]);
  checkError(t, res, { status: 503, code: codes.serviceUnavailable }, 'an upload while S3 is down');
  t.same((await env.app.mongo.db.collection('media').find({}).toArray()).map((d) => d._id), [id], 'no new media record');
  t.same(await readdir(env.dir), [], 'no temporary file left');
  t.same(await bucketKeys(direct), [original, `uploads/${String(pending.id)}`].sort(), 'no new object in the bucket (seen through the real endpoint)');

  const done = await call(env.app, 'POST', `/api/media/uploads/${String(pending.id)}/complete`);
  checkError(t, done, { status: 503, code: codes.serviceUnavailable }, 'completing a direct upload while S3 is down');
  t.equal(await uploadsCount(env.app), 1, 'the direct upload stays open, to be completed later');
  t.equal(await mediaCount(env.app), 1, 'no record for it');

  const variant = await env.app.inject({ method: 'GET', url: `/media/${id}/before.png?w=160&format=webp` });
  t.equal(variant.statusCode, 503, 'a variant while S3 is down: 503');
  t.equal(JSON.parse(variant.body).error?.code, codes.serviceUnavailable);
  t.notOk(variant.headers['cache-control'], 'the failure is not cached');
  t.same(await readdir(env.dir), [], 'no temporary file left by the variant');
  const record = await call(env.app, 'GET', `/api/media/${id}`);
  t.equal(record.status, 200, 'the library still reads from MongoDB');

  // S3 comes back: the sweeper clears the intent the failed store left, and everything works again
  reopened = await tcpProxy(target, proxy.port);
  t.match(await env.app.media.sweep(new Date(Date.now() + 1.5 * 3600e3)), { orphans: 1 }, 'the sweep finds the failed store');
  t.equal(await env.app.mongo.db.collection('media_intents').countDocuments({}), 0, 'no intent left after a sweep');
  t.same(await bucketKeys(direct), [original, `uploads/${String(pending.id)}`].sort(), 'the bucket holds what it held before');
  const completed = await call(env.app, 'POST', `/api/media/uploads/${String(pending.id)}/complete`);
  t.equal(completed.status, 201, 'the direct upload completes once S3 is back');
  const again = await post(env.app, [file('down.png', bytes, 'image/png')]);
  t.equal(again.status, 200, 'the same bytes uploaded again are the completed media');
  const variantAgain = await env.app.inject({ method: 'GET', url: `/media/${id}/before.png?w=160&format=webp` });
  t.equal(variantAgain.statusCode, 200, 'the variant renders once S3 is back');
  await tempGoneAfterSuccess(t, env, 'after S3 is back');
});

t.test('MongoDB unreachable', async (t) => {
  const uri = new URL(process.env.MONGODB_URI ?? '');
  if (!uri.port) throw new Error('MONGODB_URI must name a host and port: run the tests with `npm test`');
  const proxy = await tcpProxy({ host: uri.hostname, port: Number(uri.port) });
  let reopened: Awaited<ReturnType<typeof tcpProxy>> | undefined;
  t.teardown(async () => {
    await proxy.close();
    await reopened?.close();
  });
  const viaProxy = new URL(uri);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  const env = await setup(t, { MONGODB_URI: viaProxy.toString() }, { mongoClientOptions: { serverSelectionTimeoutMS: 1500 } });
  const direct = new MongoClient(uri.toString());
  t.teardown(() => direct.close());
  const db = direct.db(env.app.mongo.db.databaseName);

  await proxy.close();
  const res = await post(env.app, [file('down.png', await png(90), 'image/png')]);
  checkError(t, res, { status: 503, code: codes.serviceUnavailable }, 'MongoDB down');
  t.same(await bucketKeys(env.app.s3), [], 'no object in the bucket');
  t.same(await readdir(env.dir), [], 'no temporary file left');
  t.equal(await db.collection('media').countDocuments({}), 0, 'no media record (seen through a direct connection)');

  reopened = await tcpProxy({ host: uri.hostname, port: Number(uri.port) }, proxy.port);
  const again = await post(env.app, [file('down.png', await png(90), 'image/png')]);
  t.equal(again.status, 201, 'the same upload succeeds once MongoDB is back');
});

// --- presigned (direct) uploads ---

/** Asks for a presigned POST for a file of `size` bytes announced as `mime`. */
async function createUpload(app: FastifyInstance, filename: string, mime: string, size: number): Promise<Json> {
  const res = await call(app, 'POST', '/api/media/uploads', { filename, mime, size });
  if (res.status !== 201) throw new Error(`createUpload: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data as Json;
}

/** POSTs a browser-style form (every field, then the file) to the presigned URL, as a client would. */
async function postToS3(upload: Json, bytes: Buffer | string, type: string): Promise<{ status: number; text: string }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(upload.fields as Record<string, string>)) form.append(k, v);
  form.append('file', new Blob([bytes], { type }), 'upload');
  const res = await fetch(String(upload.url), { method: 'POST', body: form });
  return { status: res.status, text: await res.text() };
}

t.test('presigned upload: a bigger file than announced', async (t) => {
  const env = await setup(t);
  const small = await png(100);
  const big = await noisyPng(64);
  const upload = await createUpload(env.app, 'p.png', 'image/png', small.length);
  t.equal(upload.maxSize, small.length);
  const s3 = await postToS3(upload, big, 'image/png');
  t.ok(s3.status >= 400 && s3.status < 500, `S3 refuses ${big.length} bytes against a policy of ${small.length} (${s3.status})`);
  t.match(s3.text, /EntityTooLarge|content-length|too large/i, 'S3 says the entity is too large');
  const done = await call(env.app, 'POST', `/api/media/uploads/${String(upload.id)}/complete`);
  checkError(t, done, { status: 409, code: codes.uploadIncomplete }, 'complete after the refused POST');
  await assertClean(t, env, 'complete after the refused POST');
  // the upload stays open for a proper attempt
  t.equal(await uploadsCount(env.app), 1, 'the upload stays open');
  t.equal((await postToS3(upload, small, 'image/png')).status, 204, 'the announced file goes in');
  const ok = await call(env.app, 'POST', `/api/media/uploads/${String(upload.id)}/complete`);
  t.equal(ok.status, 201, 'and completes');
  t.same(await bucketKeys(env.app.s3), [`media/${String(ok.body.data._id)}/original`], 'only the original is left, not uploads/');
  t.equal(await uploadsCount(env.app), 0, 'the upload record is gone');
  t.same(await readdir(env.dir), [], 'no temporary file left');
});

t.test('presigned upload: other bytes than announced', async (t) => {
  const env = await setup(t);
  const cases: { label: string; mime: string; bytes: Buffer | string; expected: Expected }[] = [
    { label: 'a PDF announced as image/png', mime: 'image/png', bytes: PDF, expected: { status: 415, code: codes.mediaTypeMismatch, paths: ['/file'], detected: 'application/pdf' } },
    { label: 'a JPEG announced as image/png', mime: 'image/png', bytes: await sharp({ create: { width: 4, height: 4, channels: 3, background: '#123456' } }).jpeg().toBuffer(), expected: { status: 415, code: codes.mediaTypeMismatch, paths: ['/file'], detected: 'image/jpeg' } },
    { label: 'HTML announced as image/png', mime: 'image/png', bytes: HTML, expected: { status: 415, code: codes.mediaTypeNotAllowed, paths: ['/file'], detected: 'text/html' } },
    { label: 'SVG announced as image/png', mime: 'image/png', bytes: SVG_TEXT, expected: { status: 415, code: codes.mediaTypeNotAllowed, paths: ['/file'], detected: 'image/svg+xml' } },
    { label: 'a truncated JPEG', mime: 'image/jpeg', bytes: await truncatedJpeg(), expected: { status: 400, code: codes.mediaCorrupt, paths: ['/file'] } },
    { label: 'a 5000-frame GIF', mime: 'image/gif', bytes: animatedGif(5000), expected: { status: 413, code: codes.mediaTooManyFrames, paths: ['/file'] } },
  ];
  for (const c of cases) {
    const size = Buffer.byteLength(c.bytes);
    const upload = await createUpload(env.app, 'p.bin', c.mime, size);
    t.equal((await postToS3(upload, c.bytes, c.mime)).status, 204, `${c.label}: S3 takes the bytes (the size is as announced)`);
    t.same(await bucketKeys(env.app.s3), [`uploads/${String(upload.id)}`], `${c.label}: the object is in uploads/`);
    const done = await call(env.app, 'POST', `/api/media/uploads/${String(upload.id)}/complete`);
    checkError(t, done, c.expected, c.label);
    await assertClean(t, env, c.label);
    t.equal(await uploadsCount(env.app), 0, `${c.label}: the upload record is gone`);
    const again = await call(env.app, 'POST', `/api/media/uploads/${String(upload.id)}/complete`);
    checkError(t, again, { status: 404, code: codes.uploadNotFound }, `${c.label}: completing again`);
  }
});

t.test('presigned upload: never completed, swept when expired', async (t) => {
  const env = await setup(t);
  const bytes = await png(110);
  const uploaded = await createUpload(env.app, 'late.png', 'image/png', bytes.length);
  t.equal((await postToS3(uploaded, bytes, 'image/png')).status, 204, 'the file is in S3');
  const empty = await createUpload(env.app, 'never.png', 'image/png', 1000);
  t.same(await bucketKeys(env.app.s3), [`uploads/${String(uploaded.id)}`]);
  t.equal(await uploadsCount(env.app), 2);
  t.same(await env.app.media.sweep(new Date()), { uploads: 0, orphans: 0 }, 'nothing is swept before it expires');
  t.equal(await uploadsCount(env.app), 2);
  t.same(await env.app.media.sweep(new Date(Date.now() + 2 * 3600e3)), { uploads: 2, orphans: 0 }, 'both are swept after expiry');
  await assertClean(t, env, 'after the sweep');
  t.equal(await uploadsCount(env.app), 0, 'no upload record left');
  for (const u of [uploaded, empty]) {
    const res = await call(env.app, 'POST', `/api/media/uploads/${String(u.id)}/complete`);
    checkError(t, res, { status: 404, code: codes.uploadNotFound }, `completing swept upload ${String(u.filename ?? u.id)}`);
  }
});

t.test('presigned upload: refused before anything is signed', async (t) => {
  const env = await setup(t, { MEDIA_MAX_FILE_SIZE: '1000' });
  const cases: [unknown, Expected, string][] = [
    [{ filename: 'x.png', mime: 'image/png', size: 1001 }, { status: 413, code: codes.mediaTooLarge, paths: ['/size'] }, 'over the size limit'],
    [{ filename: 'x.svg', mime: 'image/svg+xml', size: 100 }, { status: 415, code: codes.mediaTypeNotAllowed, paths: ['/mime'] }, 'SVG'],
    [{ filename: 'x.html', mime: 'text/html', size: 100 }, { status: 415, code: codes.mediaTypeNotAllowed, paths: ['/mime'] }, 'HTML'],
    [{ filename: '../x.png', mime: 'image/png', size: 100 }, { status: 400, code: codes.mediaBadFilename, paths: ['/filename'] }, 'a ../ name'],
    [{ filename: 'x\u202Egnp.exe', mime: 'image/png', size: 100 }, { status: 400, code: codes.mediaBadFilename, paths: ['/filename'] }, 'an RTL override'],
    [{ filename: 'x.png', mime: 'image/png', size: 0 }, { status: 400, code: codes.mediaValidation, paths: ['/size'] }, 'size 0'],
    [{ filename: 'x.png', mime: 'image/png', size: 10, focal: { x: 2, y: 0 } }, { status: 400, code: codes.mediaValidation, paths: ['/focal/x'] }, 'a bad focal point'],
  ];
  for (const [body, expected, label] of cases) {
    checkError(t, await call(env.app, 'POST', '/api/media/uploads', body), expected, label);
    t.equal(await uploadsCount(env.app), 0, `${label}: no upload record`);
  }
  await assertClean(t, env, 'refused direct uploads');
  const missing = await call(env.app, 'POST', `/api/media/uploads/${randomBytes(12).toString('hex')}/complete`);
  checkError(t, missing, { status: 404, code: codes.uploadNotFound }, 'completing an unknown upload');
});

t.test('presigned upload: completed twice at once', async (t) => {
  // four direct uploads, each completed by two requests at the same time
  const env = await setup(t);
  const uploads: Json[] = [];
  for (const shade of [120, 121, 122, 123]) {
    const bytes = await png(shade);
    const upload = await createUpload(env.app, `twice${shade}.png`, 'image/png', bytes.length);
    t.equal((await postToS3(upload, bytes, 'image/png')).status, 204, `upload ${shade} is in S3`);
    uploads.push(upload);
  }
  meetAtIntent(t, env.app);
  const results = await Promise.all(uploads.flatMap((u) => [0, 1].map(() => call(env.app, 'POST', `/api/media/uploads/${String(u.id)}/complete`))));
  const answers = results.map((r) => `${r.status}${r.body.error ? ` ${String(r.body.error.code)}` : ''}`);
  t.ok(results.every((r) => [200, 201, 404, 409].includes(r.status)), `every answer is a success or a clear 4xx (got ${answers.join(', ')})`);
  for (let i = 0; i < uploads.length; i++) {
    t.ok([results[2 * i]!.status, results[2 * i + 1]!.status].includes(201), `upload ${i}: one completion creates the media (got ${answers[2 * i]}, ${answers[2 * i + 1]})`);
  }
  t.equal((await bucketKeys(env.app.s3)).filter((k) => k.startsWith('media/')).length, uploads.length, 'one original per upload');
  t.same((await bucketKeys(env.app.s3)).filter((k) => !k.startsWith('media/')), [], 'nothing left under uploads/');
  t.equal(await mediaCount(env.app), uploads.length, 'one record per upload');
  t.equal(await uploadsCount(env.app), 0, 'no upload record');
  t.equal(await env.app.mongo.db.collection('media_intents').countDocuments({}), 0, 'no intent left');
  await tempGoneAfterSuccess(t, env, 'concurrent completions');
});

t.test('a variant of an original that S3 holds damaged', async (t) => {
  const env = await setup(t);
  const res = await post(env.app, [file('photo.png', await noisyPng(200), 'image/png')]);
  t.equal(res.status, 201);
  const id = String(res.body.data[0]._id);
  // the object is replaced behind the CMS's back by half of itself
  const whole = await env.app.media.original(res.body.data[0] as MediaDoc);
  const bytes = Buffer.concat(await whole!.body.toArray());
  await env.app.s3.client.send(new PutObjectCommand({ Bucket: env.app.s3.bucket, Key: `media/${id}/original`, Body: bytes.subarray(0, 2000), ContentType: 'image/png' }));
  const variant = await env.app.inject({ method: 'GET', url: `/media/${id}/photo.png?w=160&format=webp` });
  t.ok(variant.statusCode >= 500, `not a success: the stored file is damaged (got ${variant.statusCode})`);
  t.notOk(variant.headers['cache-control'], 'the failure is not cached');
  t.same(await bucketKeys(env.app.s3), [`media/${id}/original`], 'no variant stored');
  t.same(await readdir(env.dir), [], 'no cms-variant-* temporary file left');
  // and an original that is gone altogether
  await env.app.s3.client.send(new DeleteObjectCommand({ Bucket: env.app.s3.bucket, Key: `media/${id}/original` }));
  const missing = await env.app.inject({ method: 'GET', url: `/media/${id}/photo.png?w=320&format=webp` });
  t.equal(missing.statusCode, 503, 'a variant of a missing original: 503');
  t.equal(JSON.parse(missing.body).error?.code, codes.mediaFileMissing);
  t.same(await bucketKeys(env.app.s3), [], 'nothing stored');
  t.same(await readdir(env.dir), [], 'no cms-variant-* temporary file left');
});
