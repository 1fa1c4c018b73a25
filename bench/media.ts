// The media scenarios of `npm run bench` (alone: BENCH_ONLY=media), each against a baseline
// measured in the same run, on the same input:
//   1. variant generation: first-time variant requests to the CMS (GET /media/:id/:name?w=…&format=webp&q=…,
//      each a cache miss) against raw sharp doing the same resize of the same original, in memory;
//   2. variant serving from cache: autocannon on a stored variant's URL against Fastify with the raw
//      driver and a raw S3 GetObject (the same lookups) and bare Fastify replying with the same bytes;
//   3. upload throughput: POST /api/media of a file against a raw PutObjectCommand of the same bytes to
//      the same S3 server.
// Writes its table between the media markers of BENCHMARKS.md (appending the section when missing).
//
//   BENCH_MEDIA_ROUNDS=10   rounds of variant generation (each renders every width with both)
//   BENCH_MEDIA_UPLOADS=10  uploads of each file with each of the two, after one warm-up upload
//   BENCH_DURATION          seconds of measured load per server when serving from cache (bench/run.ts)
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { arch, cpus, platform, totalmem } from 'node:os';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Db } from 'mongodb';
import sharp from 'sharp';
import type { MediaJson } from '../src/services/media/service.js';
import type { MediaDoc } from '../src/storage/media.js';
import type { S3 } from '../src/storage/s3.js';
import { BenchError, checkClean, int, intFromEnv, kb, log, ms, percentile, ratio, rng, writeSection } from './common.js';
import type { LoadRequest, LoadResult } from './load.js';

export const MEDIA_START = '<!-- bench:media:start -->';
export const MEDIA_END = '<!-- bench:media:end -->';

/** The original every variant is made from: a photo-like JPEG, the same bytes in every run. */
const PHOTO = { width: 2400, height: 1600, quality: 85, seed: 20240611 };
/** The variants rendered in scenario 1: these widths, as WebP at this quality (both in the default allowlists). */
const WIDTHS = [320, 640, 1280, 1920];
const QUALITY = 75;
/** The variant served in scenario 2: the srcset URL a site would put in an <img> for this width. */
const SERVED_WIDTH = 640;
/** The document of scenario 3. */
const DOCUMENT_BYTES = 5 * 1024 * 1024;
const IMMUTABLE = 'public, max-age=31536000, immutable';

export interface MediaContext {
  app: FastifyInstance;
  cmsUrl: string;
  /** The raw driver's database: a MongoClient of the benchmark's own, on the CMS's URI and database. */
  db: Db;
  /** An S3 client of the benchmark's own, made from the CMS's S3 configuration. */
  s3: S3;
  measure(req: LoadRequest): Promise<LoadResult[]>;
  duration: number;
  warmup: number;
  connections: number;
  slices: number;
  /** Closes `server` when the benchmark ends, also on error. */
  track(server: FastifyInstance): void;
}

interface GenerationRow {
  width: number;
  /** Bytes of the variant (the CMS's answer). */
  bytes: number;
  height: number;
  cms: number[];
  raw: number[];
}

interface UploadRow {
  label: string;
  mime: string;
  size: number;
  cms: number[];
  raw: number[];
}

export interface MediaOutcome {
  photoBytes: number;
  rounds: number;
  uploads: number;
  generation: GenerationRow[];
  /** Whether the CMS's variant was byte-identical to raw sharp's, per width. */
  identical: boolean[];
  serving: { path: string; bytes: number; cms: LoadResult; raw: LoadResult; bare: LoadResult };
  upload: UploadRow[];
  notes: string[];
}

// --- inputs ---

/**
 * A 2400×1600 photo-like JPEG: random colour fields at two scales (80 px and 12 px cells, upscaled
 * with a cubic kernel: soft shapes and texture), diagonal colour gradients, and per-pixel grain,
 * encoded by sharp at quality 85 (4:2:0). Seeded, so the same bytes every run with the same sharp.
 */
async function makePhoto(): Promise<Buffer> {
  const { width: W, height: H } = PHOTO;
  const rand = rng(PHOTO.seed);
  const field = async (cell: number) => {
    const w = Math.ceil(W / cell);
    const h = Math.ceil(H / cell);
    const px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < px.length; i++) px[i] = Math.floor(rand() * 256);
    return sharp(px, { raw: { width: w, height: h, channels: 3 } }).resize(W, H, { kernel: 'cubic' }).raw().toBuffer();
  };
  const coarse = await field(80);
  const fine = await field(12);
  const px = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      const gradient = [(x / W) * 255, (y / H) * 255, (1 - x / W) * 200];
      for (let c = 0; c < 3; c++) {
        const v = 0.45 * coarse[i + c]! + 0.15 * fine[i + c]! + 0.3 * gradient[c]! + (rand() - 0.5) * 24;
        px[i + c] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return sharp(px, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: PHOTO.quality }).toBuffer();
}

interface Upload {
  label: string;
  filename: string;
  mime: string;
  /** The whole multipart/form-data body; `file` is a view into it. */
  payload: Buffer;
  file: Buffer;
  contentType: string;
  /** Makes the file's bytes distinct for upload `n` (so the CMS's dedupe never answers instead). */
  stamp(n: number): void;
}

function multipart(filename: string, mime: string, file: Buffer): { payload: Buffer; file: Buffer; contentType: string } {
  const boundary = '----cmsbench7d3f0a91c2e84b56';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${mime}\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const payload = Buffer.concat([head, file, tail]);
  return { payload, file: payload.subarray(head.length, head.length + file.length), contentType: `multipart/form-data; boundary=${boundary}` };
}

/**
 * 5 MiB that file-type sniffs as a PDF (`%PDF-` magic): a header line, a comment holding the
 * upload's number, then seeded random bytes (incompressible, like a PDF's compressed streams) and
 * `%%EOF`. Not an image, so the CMS spools, hashes and sniffs it, but decodes nothing.
 */
function documentUpload(): Upload {
  const head = Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n% bench upload 000000\n', 'latin1');
  const tail = Buffer.from('\n%%EOF\n', 'latin1');
  const body = Buffer.alloc(DOCUMENT_BYTES - head.length - tail.length);
  const rand = rng(7);
  for (let i = 0; i + 4 <= body.length; i += 4) body.writeUInt32LE(Math.floor(rand() * 4294967296), i);
  const { payload, file, contentType } = multipart('report.pdf', 'application/pdf', Buffer.concat([head, body, tail]));
  const at = head.indexOf('000000', 0, 'latin1');
  return { label: `${(DOCUMENT_BYTES / 1024 ** 2).toFixed(0)} MiB document (PDF-like)`, filename: 'report.pdf', mime: 'application/pdf', payload, file, contentType, stamp: (n) => void file.write(String(n).padStart(6, '0'), at, 'latin1') };
}

/**
 * The 2400×1600 photo with a JPEG comment segment (COM) right after SOI holding the upload's number:
 * a valid JPEG, the same pixels, distinct bytes. The CMS also reads its header and decodes it once,
 * small, for the placeholder.
 */
function photoUpload(photo: Buffer): Upload {
  const text = Buffer.from('bench upload 000000', 'latin1');
  const com = Buffer.alloc(4 + text.length);
  com.writeUInt16BE(0xfffe, 0);
  com.writeUInt16BE(2 + text.length, 2);
  text.copy(com, 4);
  const jpeg = Buffer.concat([photo.subarray(0, 2), com, photo.subarray(2)]);
  const { payload, file, contentType } = multipart('photo.jpg', 'image/jpeg', jpeg);
  const at = 2 + 4 + text.indexOf('000000', 0, 'latin1');
  return { label: `${PHOTO.width}×${PHOTO.height} photo (JPEG)`, filename: 'photo.jpg', mime: 'image/jpeg', payload, file, contentType, stamp: (n) => void file.write(String(n).padStart(6, '0'), at, 'latin1') };
}

// --- helpers ---

const now = () => Number(process.hrtime.bigint()) / 1e6;
const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const median = (values: number[]) => percentile(sorted(values), 0.5);
const p90 = (values: number[]) => percentile(sorted(values), 0.9);
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
/** The variant's object key, as MediaService names it (width-only resize: fit `inside`, no height). */
const variantName = (width: number, quality = QUALITY) => `${width}x0-inside-q${quality}.webp`;
const variantKey = (id: string, width: number) => `media/${id}/v/${variantName(width)}`;

async function exists(s3: S3, key: string): Promise<boolean> {
  try {
    await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
    return true;
  } catch (err) {
    if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return false;
    throw err;
  }
}

interface Got {
  status: number;
  body: Buffer;
  headers: Headers;
}

async function get(url: string): Promise<Got> {
  const res = await fetch(url);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

async function postUpload(ctx: MediaContext & { token: string }, upload: Pick<Upload, 'payload' | 'contentType'>): Promise<{ status: number; text: string }> {
  const res = await fetch(`${ctx.cmsUrl}/api/media`, {
    method: 'POST',
    body: upload.payload,
    headers: { 'content-type': upload.contentType, authorization: `Bearer ${ctx.token}` },
  });
  return { status: res.status, text: await res.text() };
}

// --- the scenarios ---

async function uploadPhoto(ctx: MediaContext & { token: string }, photo: Buffer): Promise<MediaJson> {
  const { status, text } = await postUpload(ctx, multipart('photo.jpg', 'image/jpeg', photo));
  if (status !== 201) throw new BenchError(`uploading the photo answered ${status}: ${text.slice(0, 300)}`);
  const doc = (JSON.parse(text) as { data: MediaJson[] }).data[0];
  if (!doc || doc.width !== PHOTO.width || doc.height !== PHOTO.height) throw new BenchError(`the uploaded photo is recorded as ${doc?.width}×${doc?.height}`);
  return doc;
}

/** Scenario 1: first-time variants from the CMS against raw sharp, interleaved; one warm-up round. */
async function generation(ctx: MediaContext, doc: MediaJson, photo: Buffer, rounds: number): Promise<{ rows: GenerationRow[]; identical: boolean[] }> {
  const allowed = ctx.app.media.config;
  for (const w of WIDTHS) if (!allowed.widths.includes(w)) throw new BenchError(`width ${w} is not in MEDIA_WIDTHS (${allowed.widths.join(',')})`);
  if (!allowed.qualities.includes(QUALITY)) throw new BenchError(`quality ${QUALITY} is not in MEDIA_QUALITIES (${allowed.qualities.join(',')})`);
  const rows: GenerationRow[] = WIDTHS.map((width) => ({ width, height: Math.round((PHOTO.height * width) / PHOTO.width), bytes: 0, cms: [], raw: [] }));
  const identical: boolean[] = WIDTHS.map(() => false);
  const path = `/media/${doc._id}/${encodeURIComponent(doc.filename)}`;

  const viaCms = async (row: GenerationRow): Promise<{ ms: number; body: Buffer }> => {
    const key = variantKey(doc._id, row.width);
    await ctx.s3.client.send(new DeleteObjectCommand({ Bucket: ctx.s3.bucket, Key: key }));
    if (await exists(ctx.s3, key)) throw new BenchError(`the variant ${key} is still stored after deleting it`);
    const start = now();
    const res = await get(`${ctx.cmsUrl}${path}?w=${row.width}&format=webp&q=${QUALITY}`);
    const took = now() - start;
    if (res.status !== 200 || res.headers.get('content-type') !== 'image/webp') {
      throw new BenchError(`the CMS answered the ${row.width} px variant with ${res.status} ${res.headers.get('content-type')}: ${res.body.subarray(0, 200).toString()}`);
    }
    if (!(await exists(ctx.s3, key))) throw new BenchError(`the CMS did not store the variant ${key}`);
    return { ms: took, body: res.body };
  };
  const viaSharp = async (row: GenerationRow): Promise<{ ms: number; body: Buffer }> => {
    const start = now();
    const body = await sharp(photo).rotate().resize({ width: row.width, withoutEnlargement: true }).webp({ quality: QUALITY }).toBuffer();
    return { ms: now() - start, body };
  };

  for (let round = 0; round <= rounds; round++) {
    for (const [j, row] of rows.entries()) {
      // CMS first, then raw sharp; the other way round for the next width and the next round
      const cmsFirst = (round + j) % 2 === 0;
      const first = cmsFirst ? await viaCms(row) : await viaSharp(row);
      const second = cmsFirst ? await viaSharp(row) : await viaCms(row);
      const [cms, raw] = cmsFirst ? [first, second] : [second, first];
      if (round === 0) {
        // the warm-up round: not measured; checks that both made the same image
        row.bytes = cms.body.length;
        identical[j] = cms.body.equals(raw.body);
        const meta = await sharp(cms.body).metadata();
        if (meta.width !== row.width || meta.height !== row.height) throw new BenchError(`the CMS's ${row.width} px variant is ${meta.width}×${meta.height}`);
        continue;
      }
      row.cms.push(cms.ms);
      row.raw.push(raw.ms);
    }
    if (round > 0 && (round % 5 === 0 || round === rounds)) log(`  variant generation: ${round}/${rounds} rounds`);
  }
  return { rows, identical };
}

/**
 * The "Fastify + raw driver + S3" baseline of scenario 2: what the CMS does to answer a stored
 * variant, with nothing else: findOne of the media record by string `_id` (its own MongoClient),
 * GetObject of the variant's key (its own S3 client), the body streamed with the CMS's headers. It
 * serves only the benchmark's variant: the query string is not parsed, the key is fixed.
 */
function rawServer(ctx: MediaContext, width: number, headers: Record<string, string>): FastifyInstance {
  const media = ctx.db.collection<MediaDoc>('media');
  const server = Fastify({ logger: false });
  server.get<{ Params: { id: string; name: string } }>('/media/:id/:name', async (request, reply) => {
    const doc = await media.findOne({ _id: request.params.id });
    if (!doc) return reply.code(404).send();
    const out = await ctx.s3.client.send(new GetObjectCommand({ Bucket: ctx.s3.bucket, Key: variantKey(doc._id, width) }));
    return reply
      .headers(headers)
      .header('etag', `"${doc._id}-${variantName(width)}"`)
      .header('content-length', out.ContentLength ?? 0)
      .send(out.Body as Readable);
  });
  return server;
}

/** Scenario 2: a stored variant served by the CMS, by Fastify + raw driver + S3, by bare Fastify. */
async function serving(ctx: MediaContext, doc: MediaJson, notes: string[]): Promise<MediaOutcome['serving']> {
  const entry = doc.srcset?.find((s) => s.width === SERVED_WIDTH);
  if (!entry) throw new BenchError(`the photo's srcset has no ${SERVED_WIDTH} px entry`);
  const path = entry.url;
  // stored by scenario 1 (or now); the answers measured below are all cache hits
  const first = await get(ctx.cmsUrl + path);
  if (first.status !== 200) throw new BenchError(`GET ${path} answered ${first.status}`);
  if (!(await exists(ctx.s3, variantKey(doc._id, SERVED_WIDTH)))) throw new BenchError(`GET ${path} did not store its variant under the expected key`);
  const cms = await get(ctx.cmsUrl + path);
  if (!cms.body.equals(first.body)) throw new BenchError(`GET ${path} answered different bytes from the cache`);

  // every header the CMS answers with, as constants (the security headers included), but those Node.js
  // writes itself for any response
  const automatic = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
  const headers = Object.fromEntries([...cms.headers.entries()].filter(([h]) => !automatic.has(h)));
  if (headers['content-type'] !== 'image/webp') throw new BenchError(`GET ${path} answered ${headers['content-type']}`);
  if (headers['cache-control'] !== IMMUTABLE) throw new BenchError(`GET ${path} answered cache-control: ${headers['cache-control']}`);
  const bytes = cms.body;
  const bare = Fastify({ logger: false });
  ctx.track(bare);
  bare.get('/media/:id/:name', (_request, reply) => reply.headers(headers).send(bytes));
  const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });
  const raw = rawServer(ctx, SERVED_WIDTH, headers);
  ctx.track(raw);
  const rawUrl = await raw.listen({ host: '127.0.0.1', port: 0 });

  const names = (g: Got) => [...g.headers.keys()].sort();
  for (const [name, url] of [['bare Fastify', bareUrl], ['the raw driver + S3', rawUrl]] as const) {
    const other = await get(url + path);
    if (other.status !== 200 || !other.body.equals(bytes)) throw new BenchError(`the ${name} baseline does not answer ${path} with the CMS's bytes`);
    for (const h of [...Object.keys(headers), 'content-length']) {
      if (other.headers.get(h) !== cms.headers.get(h)) throw new BenchError(`the ${name} baseline answers ${h}: ${other.headers.get(h)}, the CMS ${cms.headers.get(h)}`);
    }
    const extra = names(cms).filter((h) => !names(other).includes(h));
    const missing = names(other).filter((h) => !names(cms).includes(h));
    if (extra.length || missing.length) notes.push(`Serving from cache: response headers differ from ${name}'s (CMS only: ${extra.join(', ') || 'none'}; ${name} only: ${missing.join(', ') || 'none'}).`);
  }
  notes.push(`Serving from cache: both baselines answer with the CMS’s bytes and the same headers, values included: ${[...Object.keys(headers), 'content-length'].sort().join(', ')}.`);

  const servers = [
    { name: 'CMS', url: ctx.cmsUrl },
    { name: 'Fastify + raw driver + S3', url: rawUrl },
    { name: 'bare Fastify', url: bareUrl },
  ];
  log(`serving a stored variant (${kb(bytes.length)}): ${servers.map((s) => s.name).join(', ')}; ${ctx.warmup} s warm-up each, then ${ctx.duration} s each …`);
  const results = await ctx.measure({ urls: servers.map((s) => s.url + path), connections: ctx.connections, duration: ctx.duration, warmup: ctx.warmup, slices: ctx.slices });
  const [cmsResult, rawResult, bareResult] = results;
  if (!cmsResult || !rawResult || !bareResult) throw new BenchError(`the load generator returned ${results.length} results for ${servers.length} servers`);
  results.forEach((r, i) => {
    checkClean(`serving from cache, ${servers[i]!.name}`, r);
    log(`  ${servers[i]!.name}: ${int(r.requestsPerSec)} req/s, p50 ${ms(r.latency.p50)} ms, p99 ${ms(r.latency.p99)} ms`);
  });
  return { path, bytes: bytes.length, cms: cmsResult, raw: rawResult, bare: bareResult };
}

/** Scenario 3: one upload at a time through the CMS against a raw PutObject of the same bytes, interleaved. */
async function uploads(ctx: MediaContext & { token: string }, files: Upload[], count: number): Promise<UploadRow[]> {
  const rows: UploadRow[] = [];
  let serial = 0;
  for (const f of files) {
    const row: UploadRow = { label: f.label, mime: f.mime, size: f.file.length, cms: [], raw: [] };
    for (let i = 0; i <= count; i++) {
      f.stamp(++serial);
      const viaCms = async () => {
        const start = now();
        const res = await postUpload(ctx, f);
        const took = now() - start;
        if (res.status !== 201) throw new BenchError(`uploading ${f.filename} answered ${res.status}: ${res.text.slice(0, 300)}`);
        const body = JSON.parse(res.text) as { data: MediaJson[]; meta: { deduplicated: string[] } };
        const doc = body.data[0];
        if (!doc || body.meta.deduplicated.length || doc.size !== f.file.length || doc.mime !== f.mime) {
          throw new BenchError(`uploading ${f.filename} was recorded as ${JSON.stringify({ size: doc?.size, mime: doc?.mime, deduplicated: body.meta.deduplicated })}`);
        }
        return { took, id: doc._id };
      };
      const key = `bench-raw/${serial}-${f.filename}`;
      const viaPut = async () => {
        const start = now();
        await ctx.s3.client.send(new PutObjectCommand({ Bucket: ctx.s3.bucket, Key: key, Body: f.file, ContentType: f.mime }));
        return now() - start;
      };
      const cmsFirst = i % 2 === 0;
      let cms: { took: number; id: string };
      let raw: number;
      if (cmsFirst) {
        cms = await viaCms();
        raw = await viaPut();
      } else {
        raw = await viaPut();
        cms = await viaCms();
      }
      if (i === 0) {
        // the warm-up upload: not measured; checks what reached S3
        const stored = await ctx.s3.client.send(new HeadObjectCommand({ Bucket: ctx.s3.bucket, Key: `media/${cms.id}/original` }));
        const put = await ctx.s3.client.send(new HeadObjectCommand({ Bucket: ctx.s3.bucket, Key: key }));
        if (stored.ContentLength !== f.file.length || put.ContentLength !== f.file.length) {
          throw new BenchError(`S3 holds ${stored.ContentLength} bytes from the CMS and ${put.ContentLength} from PutObject, not ${f.file.length}`);
        }
      } else {
        row.cms.push(cms.took);
        row.raw.push(raw);
      }
      // not timed: keep the bucket and the library from growing over the run
      await ctx.app.media.remove(cms.id, true);
      await ctx.s3.client.send(new DeleteObjectCommand({ Bucket: ctx.s3.bucket, Key: key }));
    }
    log(`  ${f.label}: CMS median ${ms(median(row.cms))} ms, raw PutObject median ${ms(median(row.raw))} ms`);
    rows.push(row);
  }
  return rows;
}

export async function runMedia(ctx: MediaContext): Promise<MediaOutcome> {
  const rounds = intFromEnv('BENCH_MEDIA_ROUNDS', 10, 1, 500);
  const count = intFromEnv('BENCH_MEDIA_UPLOADS', 10, 1, 500);
  const notes: string[] = [];
  // uploads need an API token with media:write, made by an active admin (delivery is public): both
  // made through the auth service, as the admin UI would
  const admin = await ctx.app.auth.createUser({ email: 'bench@example.com', name: 'Benchmark', password: randomBytes(24).toString('base64url'), role: 'admin' });
  const { secret } = await ctx.app.auth.createToken(admin._id, { name: 'benchmark uploads', scopes: ['media:write'] });
  const withToken = { ...ctx, token: secret };

  const photo = await makePhoto();
  const doc = await uploadPhoto(withToken, photo);
  log(`media: a ${PHOTO.width}×${PHOTO.height} JPEG of ${kb(photo.length)} uploaded as ${doc._id}`);

  log(`variant generation: ${WIDTHS.join(', ')} px WebP q${QUALITY}, CMS and raw sharp; 1 warm-up round, then ${rounds} …`);
  const { rows, identical } = await generation(ctx, doc, photo, rounds);
  for (const r of rows) log(`  ${r.width} px: CMS median ${ms(median(r.cms))} ms, raw sharp median ${ms(median(r.raw))} ms`);

  const served = await serving(ctx, doc, notes);

  const files = [documentUpload(), photoUpload(photo)];
  log(`uploads: ${files.map((f) => `${f.label}, ${kb(f.file.length)}`).join('; ')}; CMS and raw PutObject, 1 warm-up, then ${count} each …`);
  const upload = await uploads(withToken, files, count);

  return { photoBytes: photo.length, rounds, uploads: count, generation: rows, identical, serving: served, upload, notes };
}

// --- reporting ---

/** CPU time counters of the whole machine (Linux: /proc/stat), to tell how much CPU the run could have. */
export interface CpuTimes {
  total: number;
  idle: number;
  steal: number;
}

export async function cpuTimes(): Promise<CpuTimes | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
    const [, ...fields] = line.trim().split(/\s+/);
    // user nice system idle iowait irq softirq steal (guest time is already counted in user)
    const n = fields.slice(0, 8).map(Number);
    if (n.length < 8 || n.some((v) => !Number.isFinite(v))) return undefined;
    return { total: n.reduce((a, b) => a + b, 0), idle: n[3]! + n[4]!, steal: n[7]! };
  } catch {
    return undefined;
  }
}

/** Shares of the machine's CPU time between two readings: stolen by the hypervisor, and idle. */
export function cpuShares(a: CpuTimes | undefined, b: CpuTimes | undefined): { steal: number; idle: number } | undefined {
  if (!a || !b || b.total <= a.total) return undefined;
  const total = b.total - a.total;
  return { steal: (b.steal - a.steal) / total, idle: (b.idle - a.idle) / total };
}

export interface MediaRunInfo {
  date: string;
  duration: number;
  warmup: number;
  connections: number;
  /** How the measured seconds were sliced, in words. */
  slicing: string;
  autocannon: string;
  database: string;
  storage: string;
  load: [number, number];
  /** Over the media measurements, from /proc/stat (Linux). */
  cpu?: { steal: number; idle: number };
}

const mbps = (bytes: number, msList: number[]) => (bytes * msList.length) / 1e6 / (sum(msList) / 1000);

function generationTable(o: MediaOutcome): string {
  const rows = [
    '| Variant (WebP q75) | Output | CMS median | CMS p90 | raw sharp median | raw sharp p90 | **CMS / raw sharp** (median) |',
    '|---|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of o.generation) {
    rows.push(
      `| \`?w=${r.width}&format=webp&q=${QUALITY}\` → ${r.width}×${r.height} | ${kb(r.bytes)} | ${ms(median(r.cms))} ms | ${ms(p90(r.cms))} ms | ` +
        `${ms(median(r.raw))} ms | ${ms(p90(r.raw))} ms | **${ratio(median(r.cms) / median(r.raw))}** |`,
    );
  }
  const allCms = o.generation.flatMap((r) => r.cms);
  const allRaw = o.generation.flatMap((r) => r.raw);
  const extra = o.generation.map((r) => median(r.cms) - median(r.raw));
  rows.push(
    `| All ${allCms.length} of each, summed | | ${ms(sum(allCms))} ms | | ${ms(sum(allRaw))} ms | | **${ratio(sum(allCms) / sum(allRaw))}** |`,
  );
  return `${rows.join('\n')}\n\nThe CMS’s time over raw sharp’s, per variant (median − median): ${o.generation.map((r, i) => `${r.width} px ${extra[i]! < 0 ? '−' : '+'}${ms(Math.abs(extra[i]!))} ms`).join(', ')}.`;
}

function servingTable(o: MediaOutcome): string {
  const s = o.serving;
  const rows = ['| Server | Requests/s | p50 latency | p99 latency |', '|---|--:|--:|--:|'];
  const row = (server: string, r: LoadResult) => `| ${server} | ${int(r.requestsPerSec)} | ${ms(r.latency.p50)} ms | ${ms(r.latency.p99)} ms |`;
  const ratios = (name: string, a: LoadResult, b: LoadResult) =>
    `| **${name}** | **${ratio(a.requestsPerSec / b.requestsPerSec)}** | **${ratio(a.latency.p50 / b.latency.p50)}** | **${ratio(a.latency.p99 / b.latency.p99)}** |`;
  rows.push(
    row('CMS', s.cms),
    row('Fastify + raw driver + S3 GetObject', s.raw),
    row('Bare Fastify (same bytes)', s.bare),
    ratios('CMS / raw driver + S3', s.cms, s.raw),
    ratios('CMS / bare Fastify', s.cms, s.bare),
  );
  return rows.join('\n');
}

function uploadTable(o: MediaOutcome): string {
  const rows = ['| File | Path | Throughput | Median per upload | p90 per upload |', '|---|---|--:|--:|--:|'];
  for (const u of o.upload) {
    const cms = mbps(u.size, u.cms);
    const raw = mbps(u.size, u.raw);
    rows.push(
      `| ${u.label}, ${(u.size / 1e6).toFixed(2)} MB | CMS \`POST /api/media\` (multipart) | ${cms.toFixed(1)} MB/s | ${ms(median(u.cms))} ms | ${ms(p90(u.cms))} ms |`,
      `| | Raw \`PutObjectCommand\` | ${raw.toFixed(1)} MB/s | ${ms(median(u.raw))} ms | ${ms(p90(u.raw))} ms |`,
      `| | **CMS / raw PutObject** | **${ratio(cms / raw)}** | **${ratio(median(u.cms) / median(u.raw))}** | **${ratio(p90(u.cms) / p90(u.raw))}** |`,
    );
  }
  return rows.join('\n');
}

export function mediaSection(o: MediaOutcome, info: MediaRunInfo): string {
  const cpuList = cpus();
  const model = cpuList[0]?.model.trim() ?? 'unknown CPU';
  const s = o.serving;
  const runs = (r: LoadResult) =>
    `${int(r.total)} requests in ${r.seconds.toFixed(1)} s (mean ${ms(r.latency.mean)} ms, p90 ${ms(r.latency.p90)} ms, max ${ms(r.latency.max)} ms)`;
  const same = o.identical.every(Boolean);
  const lines = [
    MEDIA_START,
    '<!-- Generated by `npm run bench` (bench/media.ts); edits between these markers are overwritten. -->',
    '',
    `Run on ${info.date}.`,
    '',
    `- **Machine:** ${cpuList.length} CPU${cpuList.length === 1 ? '' : 's'} (${model}), ` +
      `${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, ${platform()}/${arch()}, Node.js ${process.version}, ` +
      `sharp ${sharp.versions.sharp} with libvips ${sharp.versions.vips} (sharp.concurrency() ${sharp.concurrency()})`,
    `- **Database:** ${info.database}`,
    `- **Object storage:** ${info.storage}`,
    `- **Machine load:** 1-minute load average ${info.load[0].toFixed(2)} before the first media measurement, ${info.load[1].toFixed(2)} after the last` +
      (info.cpu
        ? `; over the media measurements ${(info.cpu.steal * 100).toFixed(0)}% of the machine’s CPU time was stolen by the hypervisor ` +
          `(given to other virtual machines) and ${(info.cpu.idle * 100).toFixed(0)}% idle`
        : ''),
    `- **Original:** a ${PHOTO.width}×${PHOTO.height} photo-like JPEG of ${kb(o.photoBytes)} (quality ${PHOTO.quality}, generated from seeded noise and gradients), uploaded once`,
    '',
    `### Variant generation: CMS vs raw sharp`,
    '',
    `${o.rounds} round${o.rounds === 1 ? '' : 's'} after one warm-up round; each round renders every width once through the CMS (a cache miss: ` +
      'the stored variant is deleted first, untimed) and once with raw sharp from the original in memory, alternating which goes first. ' +
      'Milliseconds per variant, from the request to the last byte of the response (CMS) or from the call to the buffer (sharp).',
    '',
    generationTable(o),
    '',
    same
      ? '<sub>In the warm-up round the CMS’s variant was byte-identical to raw sharp’s at every width.</sub>'
      : `<sub>In the warm-up round the CMS’s variant was byte-identical to raw sharp’s at ${o.identical.filter(Boolean).length} of ${o.identical.length} widths (${o.generation.filter((_, i) => !o.identical[i]).map((r) => `${r.width} px`).join(', ')} differ).</sub>`,
    '',
    `### Serving a stored variant: CMS vs raw driver + S3 vs bare Fastify`,
    '',
    `\`GET ${s.path}\` (${kb(s.bytes)} of WebP, a cache hit), autocannon ${info.autocannon}, ${info.connections} connections, no pipelining, ` +
      `${info.duration} s measured per server after a ${info.warmup} s warm-up, ${info.slicing}.`,
    '',
    servingTable(o),
    '',
    `<sub>CMS ${runs(s.cms)}; raw driver + S3 ${runs(s.raw)}; bare Fastify ${runs(s.bare)}. No errors or non-2xx responses.</sub>`,
    '',
    `### Uploads: CMS vs raw PutObject`,
    '',
    `One upload at a time, ${o.uploads} of each file through each path after one warm-up upload of each, alternating which goes first; ` +
      'every upload has distinct bytes (a counter in the file), so the CMS stores each one (201, never deduplicated). ' +
      'Throughput is bytes of file over the summed upload times (MB = 10⁶ bytes); the CMS’s time runs from sending the request ' +
      'to reading its JSON answer.',
    '',
    uploadTable(o),
  ];
  for (const note of o.notes) lines.push('', `<sub>${note}</sub>`);
  lines.push(MEDIA_END);
  return lines.join('\n');
}

export const MEDIA_PROSE = `## Media

What the media library costs over the work it cannot avoid, measured by the same \`npm run bench\` (source:
\`bench/media.ts\`; \`BENCH_ONLY=media npm run bench\` runs these alone, \`BENCH_ONLY=content\` only the entries).
Each scenario is compared with a baseline measured in the same run, on the same bytes.

### What is measured

- **Variant generation (a cache miss):** \`GET /media/:id/:name?w=<W>&format=webp&q=75\` for W = 320, 640, 1280 and
  1920 of one 2400×1600 JPEG, each time with the stored variant deleted first, against **raw sharp** doing the same
  resize of the same original held in memory: \`sharp(original).rotate().resize({ width: W, withoutEnlargement: true
  }).webp({ quality: 75 }).toBuffer()\`. The CMS's time includes everything a first request costs: the media record
  from the database, a GetObject for the variant (missing), the original downloaded from S3 to a temporary file, the
  same sharp pipeline reading that file, a PutObject of the result, and the HTTP response. Both run in the
  benchmark's process and share libvips's threads; they never run at the same time.
- **Serving a stored variant (a cache hit):** autocannon on the variant URL a srcset holds (\`?w=640&format=webp\`)
  against **Fastify + raw driver + S3** (a bare Fastify server whose one route does the same \`findOne\` of the
  media record through its own \`MongoClient\` and the same \`GetObjectCommand\` through its own S3 client, and
  streams the body) and **bare Fastify** replying with the same bytes (a Buffer), with no database or storage at
  all. Both baselines send every header the CMS sends, with the same values, as constants (\`content-type:
  image/webp\`, \`cache-control\`, \`etag\`, and the security headers the CMS adds to every answer); the benchmark
  checks bytes and headers once before measuring. Delivery is public: no credentials are sent.
- **Uploads:** \`POST /api/media\` (multipart/form-data built by hand, sent with \`fetch\` to the listening CMS,
  with an API token of scope \`media:write\` that the benchmark makes through the auth service) against a raw
  **\`PutObjectCommand\`** of the same bytes to the same S3 server and bucket, through an S3 client of the
  benchmark's own made from the CMS's configuration. Two files: a 5 MiB **PDF-like document** (\`%PDF-\` magic, then
  seeded random bytes, so incompressible), whose bytes differ per upload by a counter in a comment line; and the
  2400×1600 **photo**, whose bytes differ per upload by a counter in a JPEG comment segment (same pixels). The CMS
  checks the token (database reads), spools the upload to a temporary file while hashing it, sniffs its type, for
  the photo reads its header and decodes it once, small, for the placeholder, streams the file to S3 (one PutObject
  below 8 MiB, via lib-storage), writes the record (intent, insert, intent removed) and an audit entry. Each upload
  is deleted again after it is timed (untimed), so neither the bucket nor the library grows during the run.

### Reading the media results

- **Variant generation:** the ratio is what a first request costs over the resize itself. What the CMS adds is
  roughly constant per request (the database lookup and three S3 round trips, the original written to and read from
  a temporary file, the variant stored), so it weighs most on small variants, whose resize is cheap, and little on
  large ones. It is paid once per variant: every later request is a cache hit.
- **Serving from cache:** **CMS / raw driver + S3** is the CMS's own overhead on this path (routing, the hooks and
  security headers, variant parameter checks); **CMS / bare Fastify** includes the database lookup and the S3 read,
  which dominate with FerretDB on SQLite and versitygw on the same two CPUs. The answers are \`immutable\`, so with
  a CDN or browser cache in front most requests for a variant never reach the CMS.
- **Uploads:** the ratio is what the CMS costs over storing the bytes: it checks the token, receives the file over
  HTTP, writes it to disk while hashing it, sniffs it, decodes images once, reads it back to send it to S3 and
  writes the record and the audit entry, so it is necessarily slower than the raw PutObject, which only sends the
  bytes once. The gap is the price of the extra hop and of dedupe by content, type checks and placeholders; for a
  small file (the photo) the fixed costs (the token, the record, the audit entry, the placeholder) weigh more than
  for a large one.
- These figures are noisy, the more so as the virtual machine this section was written on had a busy host: in the
  two runs that measured it, the hypervisor took 37% and 15% of the CPU time while the benchmark ran (the generated
  section gives the share for its run), and another session built and tested on the same two CPUs. Over seven full
  media runs made then (10 or 20 rounds, at commits from the media library to authentication), CMS / raw sharp
  ranged from 1.65× to 2.75× at 320 px, 1.15× to 2.09× at 640 px, 0.96× to 1.51× at 1280 px and 0.81× to 1.39× at
  1920 px (1.05× to 1.45× summed); CMS / raw driver + S3 throughput from 0.51× to 1.34×; upload throughput CMS / raw
  PutObject from 0.17× to 0.25× for the document and from 0.11× to 0.17× for the photo. A single run's ratio within
  those ranges is not a finding: rerun.
- The same caveats as above apply: two CPUs shared by the benchmark, FerretDB and versitygw; figures vary between
  runs; compare ratios on the same machine, and rerun with more rounds (\`BENCH_MEDIA_ROUNDS\`,
  \`BENCH_MEDIA_UPLOADS\`) or a longer \`BENCH_DURATION\` before drawing conclusions from a small change.

### Rerun

\`\`\`sh
BENCH_ONLY=media npm run bench                                   # media only, rewrites the section below
BENCH_ONLY=media BENCH_MEDIA_ROUNDS=20 BENCH_MEDIA_UPLOADS=20 BENCH_DURATION=20 npm run bench
\`\`\`

A plain \`npm run bench\` runs the entries and then these, and rewrites both sections (the media part adds one to two
minutes with the defaults).

### Media results

`;

export async function writeMediaReport(report: string, generated: string): Promise<void> {
  await writeSection(report, MEDIA_START, MEDIA_END, MEDIA_PROSE, generated);
}
