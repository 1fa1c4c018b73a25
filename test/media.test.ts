// The media library through the HTTP API: upload, dedupe, library, delivery, variants, media fields.
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import t from 'tap';
import { buildTestApp, call, type Json } from './helpers.js';

interface FilePart {
  name?: string;
  filename: string;
  type?: string;
  data: Buffer;
}

/** A multipart/form-data body, built by hand so names and bytes are exactly what the test says. */
export function multipart(files: FilePart[], fields: Record<string, string | string[]> = {}): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----cms${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${v}\r\n`));
    }
  }
  for (const f of files) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${f.name ?? 'file'}"; filename="${f.filename}"\r\nContent-Type: ${f.type ?? 'application/octet-stream'}\r\n\r\n`));
    chunks.push(f.data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

export async function upload(app: FastifyInstance, files: FilePart[], fields: Record<string, string | string[]> = {}) {
  const res = await app.inject({ method: 'POST', url: '/api/media', ...multipart(files, fields) });
  return { status: res.statusCode, body: JSON.parse(res.body) as Json };
}

const image = (width: number, height: number, color: string, format: 'jpeg' | 'png' | 'webp' = 'png') =>
  sharp({ create: { width, height, channels: 3, background: color } })[format]().toBuffer();

async function objectKeys(app: FastifyInstance): Promise<string[]> {
  const out = await app.s3.client.send(new ListObjectsV2Command({ Bucket: app.s3.bucket }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

t.test('upload: stored once, described, deduplicated by content', async (t) => {
  const app = await buildTestApp(t, { env: { PUBLIC_URL: 'https://cms.example' } });
  const png = await image(1000, 500, '#336699');
  const first = await upload(app, [{ filename: 'Sky blue.png', type: 'image/png', data: png }], { alt: 'A blue sky', tags: ['sky', 'blue'], focal: '0.25,0.75', title: 'Sky' });
  t.equal(first.status, 201);
  const m = first.body.data[0];
  t.match(m, {
    filename: 'Sky blue.png',
    mime: 'image/png',
    kind: 'image',
    size: png.length,
    width: 1000,
    height: 500,
    alt: 'A blue sky',
    title: 'Sky',
    caption: '',
    tags: ['sky', 'blue'],
    focal: { x: 0.25, y: 0.75 },
    _version: 1,
  });
  t.match(m.hash, /^[0-9a-f]{64}$/);
  t.equal(m._id, m.hash.slice(0, 24), 'the id comes from the content hash');
  t.equal(m.url, `https://cms.example/media/${m._id}/Sky%20blue.png`);
  t.ok(Buffer.from(m.placeholder, 'base64').length > 5, 'a thumbhash placeholder');
  t.same(m.srcset.map((s: Json) => s.width), [160, 320, 640, 960], 'configured widths up to the original width');
  t.same(m.srcset[1], { width: 320, height: 160, url: `https://cms.example/media/${m._id}/Sky%20blue.png?w=320&format=webp` });
  t.same(await objectKeys(app), [`media/${m._id}/original`]);

  const again = await upload(app, [{ filename: 'copy.png', type: 'image/png', data: png }], { alt: 'ignored' });
  t.equal(again.status, 200, 'the same bytes: nothing new');
  t.equal(again.body.data[0]._id, m._id);
  t.equal(again.body.data[0].alt, 'A blue sky', 'the existing record comes back unchanged');
  t.same(again.body.meta.deduplicated, [m._id]);
  t.equal(await app.mongo.db.collection('media').countDocuments({}), 1);

  const two = await upload(app, [
    { filename: 'a.png', data: await image(40, 40, '#ff0000') },
    { filename: 'notes.txt', type: 'text/plain', data: Buffer.from('plain words\n') },
  ]);
  t.equal(two.status, 201);
  t.same(two.body.data.map((d: Json) => [d.mime, d.kind]), [['image/png', 'image'], ['text/plain', 'document']]);
  t.notOk(two.body.data[1].srcset, 'no srcset for a document');
  t.equal(await app.mongo.db.collection('media_intents').countDocuments({}), 0, 'no intent is left behind');

  // the same new bytes from three clients at once: one record, one object, the same id for all
  const shared = await image(64, 48, '#0f0f0f');
  const racing = await Promise.all([1, 2, 3].map((i) => upload(app, [{ filename: `race-${i}.png`, data: shared }])));
  t.equal(new Set(racing.map((r) => r.body.data[0]._id)).size, 1, 'every client gets the same media');
  t.ok(racing.every((r) => r.status === 200 || r.status === 201), 'no client sees an error');
  t.ok(racing.some((r) => r.status === 201), 'one of them created it');
  t.equal(await app.mongo.db.collection('media').countDocuments({ _id: racing[0]!.body.data[0]._id }), 1);
  t.equal((await objectKeys(app)).filter((k) => k.startsWith(`media/${racing[0]!.body.data[0]._id}/`)).length, 1);
});

t.test('upload: EXIF orientation is applied and metadata stripped from what is generated', async (t) => {
  const app = await buildTestApp(t);
  // 300×100 pixels stored, orientation 6 (rotate 90°): displayed 100×300; GPS-like EXIF present
  const jpeg = await sharp({ create: { width: 300, height: 100, channels: 3, background: '#884422' } })
    .jpeg()
    .withMetadata({ orientation: 6, exif: { IFD0: { Copyright: 'secret-owner' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 0/1' } } })
    .toBuffer();
  t.equal((await sharp(jpeg).metadata()).orientation, 6, 'the test image carries an orientation');
  const res = await upload(app, [{ filename: 'phone.jpg', data: jpeg }]);
  t.equal(res.status, 201);
  const m = res.body.data[0];
  t.equal(m.width, 100);
  t.equal(m.height, 300);
  const variant = await app.inject({ method: 'GET', url: `/media/${m._id}/phone.jpg?w=160&format=jpeg` });
  t.equal(variant.statusCode, 200);
  const meta = await sharp(variant.rawPayload).metadata();
  t.equal(meta.width, 100, 'not enlarged past the original');
  t.equal(meta.height, 300, 'rotated upright');
  t.notOk(meta.exif, 'no EXIF in the variant');
  t.notOk(meta.orientation, 'no orientation tag left to apply twice');
  t.notOk(variant.rawPayload.includes(Buffer.from('secret-owner')), 'nothing of the EXIF survives');
});

t.test('delivery: originals with ETag, 304, ranges, and SVG as an attachment', async (t) => {
  const app = await buildTestApp(t, { env: { MEDIA_ALLOW_SVG: 'true' } });
  const text = Buffer.from('0123456789'.repeat(100));
  const m = (await upload(app, [{ filename: 'digits.txt', data: text }])).body.data[0];
  const url = `/media/${m._id}/digits.txt`;
  const full = await app.inject({ method: 'GET', url });
  t.equal(full.statusCode, 200);
  t.equal(full.body, text.toString());
  t.equal(full.headers.etag, `"${m.hash}"`);
  t.equal(full.headers['cache-control'], 'public, max-age=31536000, immutable');
  t.equal(full.headers['accept-ranges'], 'bytes');
  t.equal(full.headers['x-content-type-options'], 'nosniff');
  t.equal(full.headers['content-type'], 'text/plain; charset=utf-8');

  const notModified = await app.inject({ method: 'GET', url, headers: { 'if-none-match': `"${m.hash}"` } });
  t.equal(notModified.statusCode, 304);
  t.equal(notModified.body, '');

  const part = await app.inject({ method: 'GET', url, headers: { range: 'bytes=10-19' } });
  t.equal(part.statusCode, 206);
  t.equal(part.body, '0123456789');
  t.equal(part.headers['content-range'], 'bytes 10-19/1000');
  t.equal(part.headers['content-length'], '10');
  const tail = await app.inject({ method: 'GET', url, headers: { range: 'bytes=-5' } });
  t.equal(tail.statusCode, 206);
  t.equal(tail.body, '56789');
  t.equal(tail.headers['content-range'], 'bytes 995-999/1000');
  const open = await app.inject({ method: 'GET', url, headers: { range: 'bytes=990-' } });
  t.equal(open.body, '0123456789');
  const outside = await app.inject({ method: 'GET', url, headers: { range: 'bytes=5000-' } });
  t.equal(outside.statusCode, 416);
  t.equal(outside.headers['content-range'], 'bytes */1000');
  t.equal(outside.json().error.code, 'CMS_ERR_MEDIA_RANGE_NOT_SATISFIABLE');
  t.notOk(outside.headers['cache-control'], 'an error is not cached as immutable');
  const staleIfRange = await app.inject({ method: 'GET', url, headers: { range: 'bytes=0-9', 'if-range': '"other"' } });
  t.equal(staleIfRange.statusCode, 200, 'If-Range that does not match sends the whole file');
  const head = await app.inject({ method: 'HEAD', url });
  t.equal(head.statusCode, 200);
  t.equal(head.headers['content-length'], '1000');
  t.equal(head.body, '');

  const svg = Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>');
  const s = (await upload(app, [{ filename: 'logo.svg', type: 'image/svg+xml', data: svg }])).body.data[0];
  t.equal(s.mime, 'image/svg+xml');
  t.notOk(s.srcset, 'SVG gets no raster variants');
  const served = await app.inject({ method: 'GET', url: `/media/${s._id}/logo.svg` });
  t.equal(served.statusCode, 200);
  t.match(served.headers['content-disposition'], /^attachment;/);
  t.match(served.headers['content-security-policy'], /^sandbox/);
  const variant = await app.inject({ method: 'GET', url: `/media/${s._id}/logo.svg?w=160` });
  t.equal(variant.statusCode, 400);
  t.equal(variant.json().error.code, 'CMS_ERR_MEDIA_BAD_VARIANT');

  const missing = await app.inject({ method: 'GET', url: '/media/0123456789abcdef01234567/x.png' });
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().error.code, 'CMS_ERR_MEDIA_NOT_FOUND');
  const badId = await app.inject({ method: 'GET', url: '/media/nope/x.png' });
  t.equal(badId.statusCode, 400);
  t.equal(badId.json().error.code, 'CMS_ERR_MEDIA_INVALID_ID');
});

t.test('variants: generated once, stored in S3, bounded, cropped on the focal point', async (t) => {
  const app = await buildTestApp(t);
  // left half red, right half blue: a crop centred on the right shows only blue
  const left = await sharp({ create: { width: 500, height: 500, channels: 3, background: '#ff0000' } }).png().toBuffer();
  const png = await sharp({ create: { width: 1000, height: 500, channels: 3, background: '#0000ff' } })
    .composite([{ input: left, left: 0, top: 0 }])
    .png()
    .toBuffer();
  const m = (await upload(app, [{ filename: 'halves.png', data: png }], { focal: '0.9,0.5' })).body.data[0];
  const base = `/media/${m._id}/halves.png`;

  const first = await app.inject({ method: 'GET', url: `${base}?w=320&format=webp` });
  t.equal(first.statusCode, 200);
  t.equal(first.headers['content-type'], 'image/webp');
  t.equal(first.headers['cache-control'], 'public, max-age=31536000, immutable');
  const info = await sharp(first.rawPayload).metadata();
  t.same([info.format, info.width, info.height], ['webp', 320, 160]);
  const keys = await objectKeys(app);
  t.equal(keys.filter((k) => k.startsWith(`media/${m._id}/v/`)).length, 1, 'the variant is stored');
  const second = await app.inject({ method: 'GET', url: `${base}?w=320&format=webp` });
  t.same(second.rawPayload, first.rawPayload, 'served from the stored variant');
  t.equal(second.headers.etag, first.headers.etag);
  const cached = await app.inject({ method: 'GET', url: `${base}?w=320&format=webp`, headers: { 'if-none-match': first.headers.etag as string } });
  t.equal(cached.statusCode, 304);

  for (const format of ['avif', 'jpeg', 'png'] as const) {
    const res = await app.inject({ method: 'GET', url: `${base}?w=160&format=${format}&q=50` });
    t.equal(res.statusCode, 200, format);
    t.equal((await sharp(res.rawPayload).metadata()).format, format === 'avif' ? 'heif' : format);
  }

  // a crop without the focal point is redirected to the URL that names it
  const crop = await app.inject({ method: 'GET', url: `${base}?w=160&h=160` });
  t.equal(crop.statusCode, 302);
  t.equal(crop.headers.location, `${base}?w=160&h=160&fit=cover&format=png&fp=0.9_0.5`);
  const cropped = await app.inject({ method: 'GET', url: crop.headers.location as string });
  t.equal(cropped.statusCode, 200);
  const { data, info: ci } = await sharp(cropped.rawPayload).raw().toBuffer({ resolveWithObject: true });
  t.same([ci.width, ci.height], [160, 160]);
  const centre = (80 * 160 + 80) * ci.channels;
  t.same([data[centre], data[centre + 2]], [0, 255], 'the crop sits on the blue right half, where the focal point is');

  // moving the focal point makes the old crop URL redirect to the new one
  await call(app, 'PATCH', `/api/media/${m._id}`, { focal: { x: 0.1, y: 0.5 } });
  const moved = await app.inject({ method: 'GET', url: crop.headers.location as string });
  t.equal(moved.statusCode, 302);
  t.match(moved.headers.location, /fp=0\.1_0\.5$/);
  const redCrop = await app.inject({ method: 'GET', url: moved.headers.location as string });
  const red = await sharp(redCrop.rawPayload).raw().toBuffer({ resolveWithObject: true });
  const middle = (80 * 160 + 80) * red.info.channels;
  t.same([red.data[middle], red.data[middle + 2]], [255, 0], 'the new crop sits on the red left half');

  for (const [query, path] of [
    ['w=333', 'w'],
    ['w=320&q=42', 'q'],
    ['w=320&format=gif', 'format'],
    ['w=320&fit=stretch', 'fit'],
    ['w=320&x=1', 'x'],
    ['w=320&fp=0.5_0.5', 'fp'],
  ] as const) {
    const res = await app.inject({ method: 'GET', url: `${base}?${query}` });
    t.equal(res.statusCode, 400, query);
    t.equal(res.json().error.code, 'CMS_ERR_MEDIA_BAD_VARIANT', query);
    t.equal(res.json().error.details[0].path, path, query);
  }
});

t.test('library: list, search, filter, paginate, edit, delete with every object', async (t) => {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const app = await buildTestApp(t, { now: () => new Date((clock += 1000)) });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await upload(app, [{ filename: `photo-${i}.png`, data: await image(200, 100, `#00${i}0${i}0`) }], { tags: i % 2 ? 'even' : 'odd', alt: i === 3 ? 'A Harbour at dawn' : '' });
    ids.push(res.body.data[0]._id);
  }
  await upload(app, [{ filename: 'readme.txt', data: Buffer.from('hello') }]);

  const all = await call(app, 'GET', '/api/media');
  t.equal(all.status, 200);
  t.equal(all.body.meta.total, 6);
  t.equal(all.body.data[0].filename, 'readme.txt', 'newest first');
  const images = await call(app, 'GET', '/api/media?filter[kind]=image&sort=_createdAt');
  t.same(images.body.data.map((d: Json) => d._id), ids);
  const byMime = await call(app, 'GET', '/api/media?filter[mime][startsWith]=text/');
  t.equal(byMime.body.meta.total, 1);
  const few = await call(app, 'GET', '/api/media?fields=alt&limit=1&filter[kind]=image');
  t.equal(few.body.data[0].alt, '');
  t.match(few.body.data[0].url, /^\/media\/[0-9a-f]{24}\/photo-\d\.png$/, 'fields= still gives working URLs');
  t.equal(few.body.data[0].srcset.length, 1);
  t.notOk('caption' in few.body.data[0] || 'tags' in few.body.data[0], 'what fields= leaves out stays out');
  const tagged = await call(app, 'GET', '/api/media?filter[tags][contains]=even');
  t.equal(tagged.body.meta.total, 2);
  const since = await call(app, 'GET', `/api/media?filter[_createdAt][gt]=${encodeURIComponent(all.body.data[2]._createdAt)}`);
  t.equal(since.body.meta.total, 2, 'filter by date');
  const search = await call(app, 'GET', '/api/media?q=harbour');
  t.same(search.body.data.map((d: Json) => d._id), [ids[3]], 'search finds alt text, case-insensitively');
  t.equal((await call(app, 'GET', '/api/media?q=photo-2')).body.data[0]._id, ids[2], 'search finds file names');
  t.equal((await call(app, 'GET', '/api/media?q=odd')).body.meta.total, 3, 'search finds tags');
  t.equal((await call(app, 'GET', '/api/media?q=.*')).body.meta.total, 0, 'the search text is literal, not a pattern');

  const page1 = await call(app, 'GET', '/api/media?limit=4');
  t.equal(page1.body.data.length, 4);
  const page2 = await call(app, 'GET', `/api/media?limit=4&cursor=${page1.body.meta.nextCursor}`);
  t.equal(page2.body.data.length, 2);
  t.equal(page2.body.meta.nextCursor, null);
  t.equal(new Set([...page1.body.data, ...page2.body.data].map((d: Json) => d._id)).size, 6);

  for (const [query, code] of [
    ['filter[secret]=1', 'CMS_ERR_QUERY_UNKNOWN_FIELD'],
    ['filter[size][regex]=1', 'CMS_ERR_QUERY_UNKNOWN_OPERATOR'],
    ['bogus=1', 'CMS_ERR_QUERY_UNKNOWN_PARAM'],
    ['q=a&q=b', 'CMS_ERR_QUERY_BAD_VALUE'],
    ['filter[mime][$ne]=x', 'CMS_ERR_QUERY_UNKNOWN_OPERATOR'],
  ] as const) {
    const res = await call(app, 'GET', `/api/media?${query}`);
    t.equal(res.status, 400, query);
    t.equal(res.body.error.code, code, query);
  }

  const one = await call(app, 'GET', `/api/media/${ids[0]}`);
  t.equal(one.body.data._id, ids[0]);
  const edited = await call(app, 'PATCH', `/api/media/${ids[0]}`, { alt: 'New alt', caption: 'Cap', title: 'T', tags: ['x'], filename: 'renamed.png' }, { 'if-match': '"1"' });
  t.equal(edited.status, 200);
  t.match(edited.body.data, { alt: 'New alt', caption: 'Cap', title: 'T', tags: ['x'], filename: 'renamed.png', _version: 2 });
  t.match(edited.body.data.url, /\/renamed\.png$/);
  const stale = await call(app, 'PATCH', `/api/media/${ids[0]}`, { alt: 'lost' }, { 'if-match': '"1"' });
  t.equal(stale.status, 412);
  t.equal(stale.body.error.code, 'CMS_ERR_MEDIA_VERSION_MISMATCH');
  for (const [body, path] of [
    [{ focal: { x: 2, y: 0 } }, '/focal/x'],
    [{ tags: 'x' }, '/tags'],
    [{ mime: 'text/html' }, '/mime'],
    [{ hash: 'x' }, '/hash'],
    [{ filename: '../etc/passwd' }, '/filename'],
  ] as const) {
    const res = await call(app, 'PATCH', `/api/media/${ids[0]}`, body);
    t.equal(res.status, 400, JSON.stringify(body));
    t.equal(res.body.error.details[0].path, path, JSON.stringify(body));
  }
  t.equal((await call(app, 'GET', `/api/media/${ids[0]}`)).body.data.alt, 'New alt', 'refused edits changed nothing');

  await app.inject({ method: 'GET', url: `/media/${ids[1]}/x.png?w=160&format=webp` });
  await app.inject({ method: 'GET', url: `/media/${ids[1]}/x.png?w=160&format=jpeg` });
  t.equal((await objectKeys(app)).filter((k) => k.startsWith(`media/${ids[1]}/`)).length, 3);
  const removed = await call(app, 'DELETE', `/api/media/${ids[1]}`);
  t.equal(removed.status, 204);
  t.same((await objectKeys(app)).filter((k) => k.startsWith(`media/${ids[1]}/`)), [], 'original and variants are gone');
  t.equal((await call(app, 'GET', `/api/media/${ids[1]}`)).status, 404);
  t.equal((await app.inject({ method: 'GET', url: `/media/${ids[1]}/x.png` })).statusCode, 404);
  t.equal((await call(app, 'DELETE', `/api/media/${ids[1]}`)).status, 404);
  t.equal((await call(app, 'DELETE', `/api/media/${ids[2]}?force=maybe`)).body.error.code, 'CMS_ERR_QUERY_BAD_VALUE');
});

t.test('media fields: checked on write, populated on read, usage blocks deletion', async (t) => {
  const app = await buildTestApp(t);
  const photo = (await upload(app, [{ filename: 'cover.jpg', data: await image(800, 600, '#123456', 'jpeg') }])).body.data[0];
  const other = (await upload(app, [{ filename: 'second.png', data: await image(64, 64, '#654321') }])).body.data[0];
  const doc = (await upload(app, [{ filename: 'terms.txt', data: Buffer.from('terms') }])).body.data[0];

  const created = await call(app, 'POST', '/api/content/article', { title: 'With cover', slug: 'with-cover', cover: photo._id, gallery: [photo._id, other._id] });
  t.equal(created.status, 201);
  t.equal(created.body.data.cover, photo._id, 'the id is stored');
  t.notOk('_media' in created.body.data, 'usage bookkeeping stays internal');

  const wrong = await call(app, 'POST', '/api/content/article', { title: 'Bad', slug: 'bad', cover: doc._id, gallery: ['0123456789abcdef01234567', 'nope'] });
  t.equal(wrong.status, 400);
  t.equal(wrong.body.error.code, 'CMS_ERR_ENTRY_MEDIA');
  t.same(wrong.body.error.details.map((d: Json) => d.path).sort(), ['/cover', '/gallery/0', '/gallery/1']);
  t.match(wrong.body.error.details.find((d: Json) => d.path === '/cover').message, /text\/plain.*image\/\*/);
  t.equal((await call(app, 'GET', '/api/content/article')).body.meta.total, 1, 'nothing stored');
  t.equal((await call(app, 'POST', '/api/content/article', { title: 'S', slug: 's', _media: [] })).status, 400, '_media cannot be written by clients');

  const entryId = created.body.data._id;
  const populated = await call(app, 'GET', `/api/content/article/${entryId}?populate=cover,gallery`);
  t.equal(populated.status, 200);
  t.match(populated.body.data.cover, { _id: photo._id, mime: 'image/jpeg', width: 800, height: 600, url: `/media/${photo._id}/cover.jpg` });
  t.same(populated.body.data.cover.srcset.map((s: Json) => s.width), [160, 320, 640]);
  t.same(populated.body.data.gallery.map((g: Json) => g._id), [photo._id, other._id]);
  const list = await call(app, 'GET', '/api/content/article?populate=cover');
  t.equal(list.body.data[0].cover.placeholder, photo.placeholder);
  t.equal(typeof list.body.data[0].gallery[0], 'string', 'only what was asked is populated');
  for (const query of ['populate=title', 'populate=nothing', 'populate=cover&populate=gallery']) {
    const res = await call(app, 'GET', `/api/content/article?${query}`);
    t.equal(res.status, 400, query);
    t.equal(res.body.error.details[0].path, 'populate', query);
  }

  const blocked = await call(app, 'DELETE', `/api/media/${photo._id}`);
  t.equal(blocked.status, 409);
  t.equal(blocked.body.error.code, 'CMS_ERR_MEDIA_IN_USE');
  t.match(blocked.body.error.details, [{ type: 'article', id: entryId, message: 'used by article "With cover"' }]);
  t.same((await call(app, 'GET', `/api/media/${photo._id}/usage`)).body.data, [{ type: 'article', id: entryId, title: 'With cover' }]);

  // usage follows the entry: a patch drops the photo from the cover but keeps it in the gallery
  await call(app, 'PATCH', `/api/content/article/${entryId}`, { cover: null, gallery: [photo._id] }, { 'content-type': 'application/merge-patch+json' });
  t.equal((await call(app, 'DELETE', `/api/media/${photo._id}`)).status, 409, 'still in the gallery');
  t.equal((await call(app, 'DELETE', `/api/media/${other._id}`)).status, 204, 'no longer used once the patch removed it');
  await call(app, 'PUT', `/api/content/article/${entryId}`, { title: 'With cover', slug: 'with-cover' });
  t.same((await call(app, 'GET', `/api/media/${photo._id}/usage`)).body.data, [], 'a PUT without media frees it');
  await call(app, 'PATCH', `/api/content/article/${entryId}`, { cover: photo._id });
  t.equal((await call(app, 'GET', `/api/media/${photo._id}/usage`)).body.data.length, 1);
  await call(app, 'DELETE', `/api/content/article/${entryId}`);
  t.same((await call(app, 'GET', `/api/media/${photo._id}/usage`)).body.data, [], 'a deleted entry uses nothing');

  const again = await call(app, 'POST', '/api/content/article', { title: 'Again', slug: 'again', cover: photo._id });
  const forced = await call(app, 'DELETE', `/api/media/${photo._id}?force=true`);
  t.equal(forced.status, 204, 'force deletes media in use');
  const dangling = await call(app, 'GET', `/api/content/article/${again.body.data._id}?populate=cover`);
  t.equal(dangling.body.data.cover, null, 'a force-deleted cover populates as null');
  const save = await call(app, 'PATCH', `/api/content/article/${again.body.data._id}`, { title: 'Again!' });
  t.equal(save.status, 400, 'a save that keeps a deleted media id is refused');
  t.equal(save.body.error.details[0].path, '/cover');
});

t.test('direct upload: presigned POST to S3, then completed and registered', async (t) => {
  const app = await buildTestApp(t);
  const png = await image(300, 200, '#abcdef');
  const start = await call(app, 'POST', '/api/media/uploads', { filename: 'big.png', mime: 'image/png', size: png.length, alt: 'Direct' });
  t.equal(start.status, 201);
  const { id, url, fields, maxSize } = start.body.data;
  t.equal(maxSize, png.length);
  const form = new FormData();
  for (const [k, v] of Object.entries(fields as Record<string, string>)) form.append(k, v);
  form.append('file', new Blob([png], { type: 'image/png' }), 'big.png');
  const put = await fetch(url, { method: 'POST', body: form });
  t.ok(put.ok, `S3 accepted the POST (${put.status})`);
  const done = await call(app, 'POST', `/api/media/uploads/${id}/complete`);
  t.equal(done.status, 201);
  t.match(done.body.data, { filename: 'big.png', mime: 'image/png', width: 300, height: 200, alt: 'Direct', size: png.length });
  t.same(await objectKeys(app), [`media/${done.body.data._id}/original`], 'the upload object is gone, the original stored');
  t.equal((await call(app, 'POST', `/api/media/uploads/${id}/complete`)).status, 404, 'an upload completes once');

  for (const [body, path, status] of [
    [{ filename: 'x.exe', mime: 'application/x-msdownload', size: 10 }, '/mime', 415],
    [{ filename: 'x.png', mime: 'image/png', size: 10 ** 12 }, '/size', 413],
    [{ filename: 'x.png', mime: 'image/png' }, '/size', 400],
    [{ filename: 'a\u202Egnp.exe', mime: 'image/png', size: 10 }, '/filename', 400],
  ] as const) {
    const res = await call(app, 'POST', '/api/media/uploads', body);
    t.equal(res.status, status, JSON.stringify(body));
    t.equal(res.body.error.details[0].path, path, JSON.stringify(body));
  }
});

t.test('upload with accept: the sniffed type must match, or nothing is stored', async (t) => {
  const app = await buildTestApp(t);
  const png = await image(40, 30, '#884422');
  const pdf = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n');
  const send = (url: string, files: FilePart[]) => app.inject({ method: 'POST', url, ...multipart(files) }).then((r) => ({ status: r.statusCode, body: JSON.parse(r.body) as Json }));

  // a PDF named like an image, for an image field: refused from its bytes, with the file's path
  const refused = await send('/api/media?accept=image/*', [
    { filename: 'fine.png', type: 'image/png', data: png },
    { filename: 'photo.png', type: 'image/png', data: pdf },
  ]);
  t.equal(refused.status, 415);
  t.equal(refused.body.error.code, 'CMS_ERR_MEDIA_TYPE_NOT_ACCEPTED');
  t.match(refused.body.error.details, [{ path: '/files/1', detected: 'application/pdf' }]);
  t.match(refused.body.error.message, /"photo\.png" is application\/pdf/);
  t.equal((await call(app, 'GET', '/api/media')).body.data.length, 0, 'no media record, not even for the acceptable file');
  t.same(await objectKeys(app), [], 'and nothing in the bucket');

  const bad = await send('/api/media?accept=images', [{ filename: 'fine.png', type: 'image/png', data: png }]);
  t.equal(bad.status, 400);
  t.match(bad.body.error, { code: 'CMS_ERR_QUERY_BAD_VALUE', details: [{ path: 'accept' }] });
  const unknown = await send('/api/media?acept=image/*', [{ filename: 'fine.png', type: 'image/png', data: png }]);
  t.match(unknown.body.error, { code: 'CMS_ERR_QUERY_UNKNOWN_PARAM', details: [{ path: 'acept' }] });

  const ok = await send('/api/media?accept=application/pdf,image/*', [{ filename: 'fine.png', type: 'image/png', data: png }, { filename: 'doc.pdf', type: 'application/pdf', data: pdf }]);
  t.equal(ok.status, 201);
  t.same(ok.body.data.map((m: Json) => m.mime), ['image/png', 'application/pdf']);
});
