// Webhooks: management (admins only, strict validation, the secret shown once), the URL policy at
// create/update and again at delivery, signatures, deliveries made from the change log with a type
// filter, retries with backoff on an injected clock, the delivery log and replay, exactly-once
// delivery with three processes on one database, and the debounced site.publish.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { classifyAddress, refusal } from '../src/services/webhooks.js';
import type { Delivery, Webhook } from '../src/storage/webhooks.js';
import { loadConfig } from '../src/config.js';
import { buildTestApp, call, signIn, tokenFor, type Json } from './helpers.js';

// --- the injected clock: nothing here sleeps to let time pass (only the timeout test waits for its 300 ms) ---
let clock = new Date('2031-03-01T00:00:00Z');
const now = () => clock;
const SECOND = 1000;
const advance = (ms: number) => {
  clock = new Date(clock.getTime() + ms);
};
const advanceTo = (iso: string) => {
  clock = new Date(Math.max(clock.getTime(), Date.parse(iso)));
};

const ENV = { WEBHOOK_ALLOW_LOOPBACK: 'true', WEBHOOK_POLL_MS: '0' };

// --- a real receiver on 127.0.0.1 ---

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  url: (path: string) => string;
  port: number;
  received: Received[];
  /** What a path answers: a status, or 'hang' (never answers). */
  modes: Map<string, number | 'hang'>;
  of: (path: string) => Received[];
  /** Resolves once `n` requests have arrived. */
  waitFor: (n: number) => Promise<void>;
}

async function receiver(t: { teardown(fn: () => unknown): void }): Promise<Receiver> {
  const received: Received[] = [];
  const modes = new Map<string, number | 'hang'>();
  const waiters: { n: number; resolve: () => void }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      for (const w of waiters.filter((x) => received.length >= x.n)) w.resolve();
      const mode = modes.get(path) ?? 204;
      if (mode === 'hang') return;
      if (mode >= 300 && mode < 400) res.setHeader('location', `http://127.0.0.1:${port}/redirected`);
      res.statusCode = mode;
      res.end(mode === 204 ? undefined : 'response body');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { url: (path) => `http://127.0.0.1:${port}${path}`, port, received, modes, of: (path) => received.filter((r) => r.path === path),
    waitFor: (n) => (received.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

/** What a receiver does (the README's recipe): recompute the signature, compare in constant time, refuse old timestamps. */
function verify(secret: string, headers: IncomingHttpHeaders, body: string, nowSeconds: number): boolean {
  const timestamp = Number(headers['x-cms-timestamp']);
  const sig = String(headers['x-cms-signature'] ?? '');
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > 300) return false;
  const expected = Buffer.from(`v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`);
  const given = Buffer.from(sig);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

// --- helpers ---

let posts = 0;
async function post(app: FastifyInstance, publish = true): Promise<string> {
  const n = ++posts;
  const res = await call(app, 'POST', '/api/content/post', { title: { en: `Post ${n}` }, slug: `hook-post-${n}`, body: { en: `Body ${n}` }, reviewNotes: 'private notes' });
  if (res.status !== 201) throw new Error(`creating a post failed: ${JSON.stringify(res.body)}`);
  const id = res.body.data._id as string;
  if (publish) {
    const pub = await call(app, 'POST', `/api/content/post/${id}/publish`);
    if (pub.status !== 200) throw new Error(`publishing failed: ${JSON.stringify(pub.body)}`);
  }
  return id;
}

async function hook(t: Pick<Tap, 'equal'>, app: FastifyInstance, body: Json): Promise<{ id: string; secret: string }> {
  const res = await call(app, 'POST', '/api/webhooks', body);
  t.equal(res.status, 201, `webhook created: ${JSON.stringify(res.body)}`);
  return { id: res.body.data._id as string, secret: res.body.secret as string };
}

const stored = (app: FastifyInstance) => app.mongo.db.collection<Webhook>('webhooks');
const deliveriesOf = (app: FastifyInstance) => app.mongo.db.collection<Delivery>('webhook_deliveries');
const paths = (body: Json): string[] => (body.error?.details ?? []).map((d: { path: string }) => d.path);
type Tap = typeof t;
const sharedDb = (tag: string) => `t_webhooks_${tag}_${randomBytes(4).toString('hex')}`;

// -------------------------------------------------------------------------------------------------

t.test('configuration', async (t) => {
  t.same(loadConfig({}).webhooks, { allowLoopback: false, allowPrivate: false, maxAttempts: 8, timeoutMs: 10000, debounceSeconds: 10, pollMs: 1000 }, 'defaults: no loopback, no private');
  t.match(loadConfig({ WEBHOOK_ALLOW_LOOPBACK: 'true', WEBHOOK_POLL_MS: '0', WEBHOOK_MAX_ATTEMPTS: '3' }).webhooks, { allowLoopback: true, pollMs: 0, maxAttempts: 3 });
  for (const [name, value] of [['WEBHOOK_MAX_ATTEMPTS', '0'], ['WEBHOOK_TIMEOUT_MS', '5'], ['WEBHOOK_DEBOUNCE_SECONDS', '0'], ['WEBHOOK_POLL_MS', '-1'], ['WEBHOOK_ALLOW_PRIVATE', 'maybe']] as const) {
    t.throws(() => loadConfig({ [name]: value }), new RegExp(name), `${name}=${value} is refused`);
  }
});

t.test('management: create, read, update, delete; the secret is shown once; audit', async (t) => {
  const app = await buildTestApp(t, { now, env: ENV });
  const rx = await receiver(t);

  const created = await call(app, 'POST', '/api/webhooks', { url: rx.url('/a'), events: ['entry.publish', 'entry.*'], types: ['post'], description: 'Rebuild' });
  t.equal(created.status, 201, JSON.stringify(created.body));
  const w = created.body.data;
  t.match(w._id, /^[0-9a-f]{24}$/);
  t.equal(created.headers.location, `/api/webhooks/${w._id}`);
  t.match(w, { url: rx.url('/a'), events: ['entry.publish', 'entry.*'], types: ['post'], enabled: true, description: 'Rebuild', createdAt: clock.toISOString() });
  t.match(created.body.secret, /^[0-9a-f]{64}$/, 'a generated secret, returned on create');
  t.notOk('secret' in w, 'not inside the webhook');
  t.notOk('since' in w);
  const doc = await stored(app).findOne({ _id: w._id });
  t.equal(doc?.secret, created.body.secret, 'stored as is (it signs)');

  // given secret
  const given = 'my-own-secret-0123456789';
  const second = await call(app, 'POST', '/api/webhooks', { url: rx.url('/b'), events: ['media.*'], secret: given, enabled: false });
  t.equal(second.status, 201);
  t.equal(second.body.secret, given);
  t.equal(second.body.data.enabled, false);
  t.notOk('types' in second.body.data);

  // never again
  const list = await call(app, 'GET', '/api/webhooks');
  t.equal(list.status, 200);
  t.same(list.body.data.map((x: Json) => x._id), [w._id, second.body.data._id]);
  const one = await call(app, 'GET', `/api/webhooks/${w._id}`);
  t.equal(one.status, 200);
  for (const text of [JSON.stringify(list.body), JSON.stringify(one.body)]) {
    t.notOk(text.includes(created.body.secret), 'the secret is not listed');
    t.notOk(text.includes(given));
    t.notOk(text.includes('"secret"'));
  }
  t.equal(one.headers['cache-control'], 'private, no-store');

  // update
  advance(SECOND);
  const patched = await call(app, 'PATCH', `/api/webhooks/${w._id}`, { events: ['site.publish'], description: 'Deploy', types: null });
  t.equal(patched.status, 200, JSON.stringify(patched.body));
  t.match(patched.body.data, { events: ['site.publish'], description: 'Deploy', updatedAt: clock.toISOString() });
  t.notOk('types' in patched.body.data, 'types: null removes the filter');
  t.notOk('secret' in patched.body.data);
  const rotated = await call(app, 'PATCH', `/api/webhooks/${w._id}`, { secret: 'a-rotated-secret-000000' });
  t.equal(rotated.status, 200);
  t.notOk(JSON.stringify(rotated.body).includes('a-rotated-secret'), 'a new secret is not echoed');
  t.equal((await stored(app).findOne({ _id: w._id }))?.secret, 'a-rotated-secret-000000');

  // the audit log
  const audit = await app.mongo.db.collection('audit').find({ targetKind: 'webhook' }).sort({ at: 1, _id: 1 }).toArray();
  t.same(audit.map((a) => a.action), ['webhook.create', 'webhook.create', 'webhook.update', 'webhook.update']);
  t.same(audit[2]?.fields, ['events', 'types', 'description']);
  t.same(audit[3]?.fields, ['secret']);

  // delete
  const deleted = await call(app, 'DELETE', `/api/webhooks/${w._id}`);
  t.equal(deleted.status, 204);
  const gone = await call(app, 'GET', `/api/webhooks/${w._id}`);
  t.equal(gone.status, 404);
  t.equal(gone.body.error.code, 'CMS_ERR_WEBHOOK_NOT_FOUND');
  t.equal((await call(app, 'DELETE', `/api/webhooks/${w._id}`)).status, 404);
  t.equal((await call(app, 'PATCH', `/api/webhooks/${w._id}`, { enabled: true })).status, 404);
  t.equal((await call(app, 'GET', '/api/webhooks/not-an-id')).status, 404);
  t.equal((await call(app, 'GET', '/api/webhooks?x=1')).status, 400, 'unknown query parameters');
  t.equal(await stored(app).countDocuments({}), 1);
  t.ok(await app.mongo.db.collection('audit').findOne({ action: 'webhook.delete', targetId: w._id }));
});

t.test('management: admins only', async (t) => {
  const app = await buildTestApp(t, { now, env: ENV });
  const rx = await receiver(t);
  const { id } = await hook(t, app, { url: rx.url('/'), events: ['entry.*'] });
  const editor = await signIn(app, 'editor');
  const token = await tokenFor(app, ['content:read', 'content:write', 'content:publish', 'media:write']);
  const anonymous = { cookie: '' };
  const body = { url: rx.url('/x'), events: ['entry.*'] };
  const requests: [string, string, unknown?][] = [
    ['GET', '/api/webhooks'],
    ['POST', '/api/webhooks', body],
    ['GET', `/api/webhooks/${id}`],
    ['PATCH', `/api/webhooks/${id}`, { enabled: false }],
    ['DELETE', `/api/webhooks/${id}`],
    ['GET', `/api/webhooks/${id}/deliveries`],
    ['POST', `/api/webhooks/${id}/deliveries/${id}-1/replay`],
  ];
  for (const [method, url, b] of requests) {
    const asEditor = await call(app, method as 'GET', url, b, editor);
    t.equal(asEditor.status, 403, `${method} ${url} as an editor`);
    t.equal(asEditor.body.error.code, 'CMS_ERR_FORBIDDEN');
    t.equal((await call(app, method as 'GET', url, b, token)).status, 403, `${method} ${url} with a token`);
    t.equal((await call(app, method as 'GET', url, b, anonymous)).status, 401, `${method} ${url} anonymously`);
  }
  t.equal(await stored(app).countDocuments({}), 1, 'nothing created');
  t.equal((await stored(app).findOne({ _id: id }))?.enabled, true, 'nothing changed');
});

t.test('management: strict validation, nothing stored on refusal', async (t) => {
  const app = await buildTestApp(t, { now, env: ENV });
  const rx = await receiver(t);
  const url = rx.url('/');
  const cases: [unknown, string, string[]][] = [
    [{ url, events: ['entry.*'], bogus: 1 }, 'CMS_ERR_WEBHOOK_INVALID', ['/bogus']],
    [{ url, events: ['entry.publish', 'entry.explode'] }, 'CMS_ERR_WEBHOOK_INVALID', ['/events/1']],
    [{ url, events: ['entry.publish', 'entry.publish'] }, 'CMS_ERR_WEBHOOK_INVALID', ['/events/1']],
    [{ url, events: [] }, 'CMS_ERR_WEBHOOK_INVALID', ['/events']],
    [{ url, events: 'entry.*' }, 'CMS_ERR_WEBHOOK_INVALID', ['/events']],
    [{ url, events: [{ $ne: '' }] }, 'CMS_ERR_BODY_FORBIDDEN_KEY', ['/events/0/$ne']],
    [{ url, events: [7] }, 'CMS_ERR_WEBHOOK_INVALID', ['/events/0']],
    [{ url, events: ['entry.*'], types: ['post', 'nope'] }, 'CMS_ERR_WEBHOOK_INVALID', ['/types/1']],
    [{ url, events: ['entry.*'], types: [] }, 'CMS_ERR_WEBHOOK_INVALID', ['/types']],
    [{ url, events: ['entry.*'], secret: 'short' }, 'CMS_ERR_WEBHOOK_INVALID', ['/secret']],
    [{ url, events: ['entry.*'], secret: 'has spaces in it 123456' }, 'CMS_ERR_WEBHOOK_INVALID', ['/secret']],
    [{ url, events: ['entry.*'], enabled: 'yes' }, 'CMS_ERR_WEBHOOK_INVALID', ['/enabled']],
    [{ url, events: ['entry.*'], description: 'x'.repeat(501) }, 'CMS_ERR_WEBHOOK_INVALID', ['/description']],
    [{}, 'CMS_ERR_WEBHOOK_INVALID', ['/url', '/events']],
    [[], 'CMS_ERR_WEBHOOK_INVALID', ['']],
    [{ url: 'ftp://example.com/', events: ['entry.*'] }, 'CMS_ERR_WEBHOOK_URL', ['/url']],
    [{ url: 'not a url', events: ['entry.*'] }, 'CMS_ERR_WEBHOOK_URL', ['/url']],
    [{ url: 'javascript:alert(1)', events: ['entry.*'] }, 'CMS_ERR_WEBHOOK_URL', ['/url']],
    [{ url: `http://user:pass@127.0.0.1:${rx.port}/`, events: ['entry.*'] }, 'CMS_ERR_WEBHOOK_URL', ['/url']],
    [{ url: 42, events: ['entry.*'] }, 'CMS_ERR_WEBHOOK_URL', ['/url']],
    [{ url: 'ftp://example.com/', events: ['nope'] }, 'CMS_ERR_WEBHOOK_INVALID', ['/url', '/events/0']],
  ];
  for (const [body, code, want] of cases) {
    const res = await call(app, 'POST', '/api/webhooks', body);
    t.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
    t.equal(res.body.error?.code, code);
    t.same(paths(res.body), want);
  }
  t.equal(await stored(app).countDocuments({}), 0, 'nothing stored');

  const { id } = await hook(t, app, { url, events: ['entry.*'] });
  const before = await stored(app).findOne({ _id: id });
  for (const [body, want] of [[{ events: ['x'] }, ['/events/0']], [{ url: 'ftp://x/' }, ['/url']], [{ nope: true }, ['/nope']], [{ types: ['nope'] }, ['/types/0']]] as const) {
    const res = await call(app, 'PATCH', `/api/webhooks/${id}`, body);
    t.equal(res.status, 400);
    t.same(paths(res.body), want);
  }
  t.same(await stored(app).findOne({ _id: id }), before, 'refused updates change nothing');
});

t.test('the URL policy: refused at create and update, and again when sending', async (t) => {
  // address classes, as the policy sees them
  t.equal(classifyAddress('127.0.0.1'), 'loopback');
  t.equal(classifyAddress('::1'), 'loopback');
  t.equal(classifyAddress('::ffff:127.0.0.1'), 'loopback', 'IPv4-mapped');
  t.equal(classifyAddress('::ffff:a9fe:a9fe'), 'link-local', 'IPv4-mapped in hex');
  t.equal(classifyAddress('10.1.2.3'), 'private');
  t.equal(classifyAddress('172.31.255.1'), 'private');
  t.equal(classifyAddress('172.32.0.1'), undefined, 'just outside 172.16/12');
  t.equal(classifyAddress('192.168.0.1'), 'private');
  t.equal(classifyAddress('fd12::1'), 'private');
  t.equal(classifyAddress('169.254.169.254'), 'link-local');
  t.equal(classifyAddress('fe80::1'), 'link-local');
  t.equal(classifyAddress('fd00:ec2::254'), 'link-local', 'the AWS IPv6 metadata address');
  t.equal(classifyAddress('0.0.0.0'), 'reserved');
  t.equal(classifyAddress('::'), 'reserved');
  t.equal(classifyAddress('93.184.216.34'), undefined);
  t.equal(classifyAddress('2606:4700::1111'), undefined);
  t.ok(refusal('10.0.0.1', { allowLoopback: true, allowPrivate: false }));
  t.notOk(refusal('10.0.0.1', { allowLoopback: false, allowPrivate: true }));
  t.ok(refusal('169.254.169.254', { allowLoopback: true, allowPrivate: true }), 'metadata never');

  const db = sharedDb('policy');
  const strict = await buildTestApp(t, { now, env: { WEBHOOK_POLL_MS: '0', MONGODB_DB: db } });
  const rx = await receiver(t);
  const refused = [
    `http://127.0.0.1:${rx.port}/`, `http://localhost:${rx.port}/`, 'http://[::1]/', 'http://127.9.9.9/', 'http://2130706433/',
    'http://[::ffff:127.0.0.1]/', 'http://10.0.0.1/', 'http://172.16.5.4/', 'http://192.168.1.1/', 'http://[fc00::1]/',
    'http://169.254.169.254/latest/meta-data/', 'https://[fe80::1]/', 'http://0.0.0.0/', 'http://100.100.100.200/',
  ];
  for (const url of refused) {
    const res = await call(strict, 'POST', '/api/webhooks', { url, events: ['entry.*'] });
    t.equal(res.status, 400, url);
    t.equal(res.body.error?.code, 'CMS_ERR_WEBHOOK_URL', url);
    t.same(paths(res.body), ['/url']);
  }
  t.equal(await stored(strict).countDocuments({}), 0, 'none stored');
  const publicUrl = await call(strict, 'POST', '/api/webhooks', { url: 'https://93.184.216.34/hook', events: ['entry.*'], enabled: false });
  t.equal(publicUrl.status, 201, 'a public address is fine');
  const patch = await call(strict, 'PATCH', `/api/webhooks/${publicUrl.body.data._id}`, { url: 'http://192.168.0.10/' });
  t.equal(patch.status, 400);
  t.equal(patch.body.error.code, 'CMS_ERR_WEBHOOK_URL');
  t.equal((await stored(strict).findOne({ _id: publicUrl.body.data._id }))?.url, 'https://93.184.216.34/hook', 'unchanged');

  const privateOk = await buildTestApp(t, { now, env: { WEBHOOK_POLL_MS: '0', WEBHOOK_ALLOW_PRIVATE: 'true' } });
  t.equal((await call(privateOk, 'POST', '/api/webhooks', { url: 'http://10.0.0.1/', events: ['entry.*'], enabled: false })).status, 201, 'private allowed when configured');
  t.equal((await call(privateOk, 'POST', '/api/webhooks', { url: 'http://169.254.169.254/', events: ['entry.*'] })).status, 400, 'metadata still refused');
  t.equal((await call(privateOk, 'POST', '/api/webhooks', { url: `http://127.0.0.1:${rx.port}/`, events: ['entry.*'] })).status, 400, 'loopback still refused');

  // at delivery: webhooks stored while loopback was allowed (another process's config) are refused
  // by a process that does not allow it, for a literal address and for a name (checked at connection)
  const loose = await buildTestApp(t, { now, env: { ...ENV, MONGODB_DB: db } });
  const byIp = await hook(t, loose, { url: rx.url('/ip'), events: ['entry.*'] });
  const byName = await hook(t, loose, { url: `http://localhost:${rx.port}/name`, events: ['entry.*'] });
  await post(loose, false);
  const run = await strict.webhooks.runOnce();
  t.equal(run.created, 2, 'the deliveries are made');
  t.equal(rx.received.length, 0, 'but nothing reached the receiver');
  for (const h of [byIp, byName]) {
    const [d] = (await call(strict, 'GET', `/api/webhooks/${h.id}/deliveries`)).body.data;
    t.equal(d.state, 'pending', 'to be retried');
    t.equal(d.responses[0].status, 0);
    t.match(d.responses[0].error, /refused: .*loopback/);
  }
  // the loose process delivers them
  advance(3600 * SECOND);
  await loose.webhooks.runOnce();
  t.equal(rx.of('/ip').length, 1);
  t.equal(rx.of('/name').length, 1, 'localhost resolves and, allowed, is called');
});

t.test('an entry publish delivers entry.publish, signed; the payload holds no field values', async (t) => {
  const app = await buildTestApp(t, { now, env: ENV });
  const rx = await receiver(t);
  const secret = 'receiver-secret-abcdef123456';
  const { id: hookId } = await hook(t, app, { url: rx.url('/publish'), events: ['entry.publish'], secret });

  const entryId = await post(app, false);
  t.same(await app.webhooks.runOnce(), { created: 0, sent: 0 }, 'a draft save is no entry.publish');
  t.equal(rx.received.length, 0);
  t.equal((await call(app, 'POST', `/api/content/post/${entryId}/publish`)).status, 200);
  const head = await app.changes.head();
  t.same(await app.webhooks.runOnce(), { created: 1, sent: 1 });
  t.equal(rx.received.length, 1);
  const [got] = rx.received;
  const payload = JSON.parse(got!.body) as Json;
  const deliveryId = `${hookId}-${head}`;
  t.same(payload, {
    id: deliveryId,
    event: 'entry.publish',
    at: clock.toISOString(),
    seq: head,
    type: 'post',
    entryId,
    action: 'publish',
    version: 2,
    locales: ['*'],
    public: true,
  });
  t.notOk(got!.body.includes('private notes'), 'no field values');
  t.equal(got!.headers['x-cms-webhook-id'], deliveryId);
  t.equal(got!.headers['x-cms-event'], 'entry.publish');
  t.equal(got!.headers['content-type'], 'application/json');
  t.equal(got!.headers['x-cms-timestamp'], String(Math.floor(clock.getTime() / 1000)));
  t.match(got!.headers['x-cms-signature'], /^v1=[0-9a-f]{64}$/);
  const nowSeconds = Math.floor(clock.getTime() / 1000);
  t.ok(verify(secret, got!.headers, got!.body, nowSeconds), 'verifies with the secret');
  t.notOk(verify('another-secret-abcdef123456', got!.headers, got!.body, nowSeconds), 'fails with another');
  t.notOk(verify(secret, got!.headers, got!.body.replace('"public":true', '"public":false'), nowSeconds), 'fails for a changed body');
  t.notOk(verify(secret, got!.headers, got!.body, nowSeconds + 3600), 'an old timestamp is refused');

  const log = await call(app, 'GET', `/api/webhooks/${hookId}/deliveries`);
  t.equal(log.status, 200);
  t.equal(log.body.meta.total, 1);
  t.match(log.body.data[0], { _id: deliveryId, webhook: hookId, event: 'entry.publish', state: 'succeeded', attempts: 1, payload, responses: [{ at: clock.toISOString(), status: 204 }] });
  t.notOk('claimedBy' in log.body.data[0]);
  t.same(await app.webhooks.runOnce(), { created: 0, sent: 0 }, 'delivered once');
});

t.test('events and the type filter', async (t) => {
  const app = await buildTestApp(t, { now, env: ENV });
  const rx = await receiver(t);
  await hook(t, app, { url: rx.url('/all'), events: ['entry.*'] });
  await hook(t, app, { url: rx.url('/posts'), events: ['entry.*'], types: ['post'] });
  await hook(t, app, { url: rx.url('/categories'), events: ['entry.create', 'entry.delete'], types: ['category'] });
  await hook(t, app, { url: rx.url('/media'), events: ['media.*'] });
  await hook(t, app, { url: rx.url('/off'), events: ['entry.*'], enabled: false });

  const postId = await post(app);
  const cat = await call(app, 'POST', '/api/content/category', { name: 'News', slug: 'news' });
  t.equal(cat.status, 201, JSON.stringify(cat.body));
  t.equal((await call(app, 'PATCH', `/api/content/category/${cat.body.data._id}`, { slug: 'news-2' })).status, 200);
  t.equal((await call(app, 'DELETE', `/api/content/category/${cat.body.data._id}`)).status, 204);
  await app.webhooks.runOnce();

  const events = (path: string) => rx.of(path).map((r) => `${JSON.parse(r.body).type}:${JSON.parse(r.body).event}`).sort();
  t.same(events('/all'), ['category:entry.create', 'category:entry.delete', 'category:entry.update', 'post:entry.create', 'post:entry.publish']);
  t.same(events('/posts'), ['post:entry.create', 'post:entry.publish']);
  t.same(events('/categories'), ['category:entry.create', 'category:entry.delete']);
  t.same(rx.of('/media'), []);
  t.same(rx.of('/off'), [], 'a disabled webhook hears nothing');
  t.ok(rx.of('/posts').every((r) => JSON.parse(r.body).entryId === postId));

  // turned on again: it hears of what comes next, not of what happened while it was off
  const off = (await stored(app).findOne({ url: rx.url('/off') }))!;
  t.equal((await call(app, 'PATCH', `/api/webhooks/${off._id}`, { enabled: true })).status, 200);
  await post(app, false);
  await app.webhooks.runOnce();
  t.same(rx.of('/off').map((r) => JSON.parse(r.body).event), ['entry.create']);

  // a deleted webhook's deliveries go with it
  const all = (await stored(app).findOne({ url: rx.url('/all') }))!;
  t.ok(await deliveriesOf(app).countDocuments({ webhook: all._id }));
  t.equal((await call(app, 'DELETE', `/api/webhooks/${all._id}`)).status, 204);
  t.equal(await deliveriesOf(app).countDocuments({ webhook: all._id }), 0);
});

t.test('failures are retried with backoff, logged, given up on, and replayed', async (t) => {
  const app = await buildTestApp(t, { now, env: { ...ENV, WEBHOOK_MAX_ATTEMPTS: '3', WEBHOOK_TIMEOUT_MS: '300' } });
  const rx = await receiver(t);
  rx.modes.set('/fail', 500);
  const { id: hookId } = await hook(t, app, { url: rx.url('/fail'), events: ['entry.publish'] });
  await post(app);
  const deliveryId = `${hookId}-${await app.changes.head()}`;
  const get = async () => (await deliveriesOf(app).findOne({ _id: deliveryId }))!;

  t.same(await app.webhooks.runOnce(), { created: 1, sent: 1 });
  let d = await get();
  t.match(d, { state: 'pending', attempts: 1, responses: [{ status: 500, error: 'HTTP 500', at: clock.toISOString() }] });
  let wait = Date.parse(d.nextAttemptAt) - clock.getTime();
  t.ok(wait >= 5 * SECOND && wait <= 10 * SECOND, `first retry in 5-10 s (${wait} ms)`);

  // not yet due
  advance(wait - 1);
  t.same(await app.webhooks.runOnce(), { created: 0, sent: 0 }, 'not before its time');
  t.equal(rx.received.length, 1);

  advanceTo(d.nextAttemptAt);
  t.same(await app.webhooks.runOnce(), { created: 0, sent: 1 });
  d = await get();
  t.match(d, { state: 'pending', attempts: 2 });
  wait = Date.parse(d.nextAttemptAt) - clock.getTime();
  t.ok(wait >= 10 * SECOND && wait <= 20 * SECOND, `second retry in 10-20 s (${wait} ms): exponential`);

  advanceTo(d.nextAttemptAt);
  await app.webhooks.runOnce();
  d = await get();
  t.equal(d.state, 'failed', 'given up after WEBHOOK_MAX_ATTEMPTS');
  t.equal(d.attempts, 3);
  t.equal(d.responses.length, 3);
  t.equal(rx.received.length, 3);
  advance(3600 * SECOND);
  t.same(await app.webhooks.runOnce(), { created: 0, sent: 0 }, 'a failed delivery is not sent again by itself');
  t.equal(rx.received.length, 3);

  // the delivery log
  const log = await call(app, 'GET', `/api/webhooks/${hookId}/deliveries?state=failed`);
  t.equal(log.status, 200);
  t.match(log.body.data, [{ _id: deliveryId, state: 'failed', attempts: 3 }]);
  t.same(log.body.data[0].responses.map((r: Json) => r.status), [500, 500, 500]);
  t.equal((await call(app, 'GET', `/api/webhooks/${hookId}/deliveries?state=succeeded`)).body.data.length, 0);

  // replay: a new round, the earlier attempts kept
  rx.modes.set('/fail', 200);
  const replayed = await call(app, 'POST', `/api/webhooks/${hookId}/deliveries/${deliveryId}/replay`);
  t.equal(replayed.status, 202, JSON.stringify(replayed.body));
  t.match(replayed.body.data, { state: 'pending', attempts: 3, replays: 1 });
  t.ok(await app.mongo.db.collection('audit').findOne({ action: 'webhook.replay', targetId: deliveryId }), 'audited');
  t.same(await app.webhooks.runOnce(), { created: 0, sent: 1 });
  d = await get();
  t.match(d, { state: 'succeeded', attempts: 4, replays: 1 });
  t.same(d.responses.map((r) => r.status), [500, 500, 500, 200]);
  t.equal(rx.received.length, 4);
  t.equal(rx.received[3]!.headers['x-cms-webhook-id'], deliveryId, 'the same delivery id');
  t.equal(rx.received[3]!.body, rx.received[0]!.body, 'the same body');
  // a succeeded one can be replayed too
  t.equal((await call(app, 'POST', `/api/webhooks/${hookId}/deliveries/${deliveryId}/replay`)).status, 202);
  await app.webhooks.runOnce();
  t.equal(rx.received.length, 5);
  t.equal((await get()).replays, 2);

  // replay: unknown deliveries, another webhook's
  const other = await hook(t, app, { url: rx.url('/other'), events: ['entry.create'] });
  const missing = await call(app, 'POST', `/api/webhooks/${hookId}/deliveries/${hookId}-999999/replay`);
  t.equal(missing.status, 404);
  t.equal(missing.body.error.code, 'CMS_ERR_WEBHOOK_DELIVERY_NOT_FOUND');
  t.equal((await call(app, 'POST', `/api/webhooks/${other.id}/deliveries/${deliveryId}/replay`)).status, 404, "another webhook's delivery");
  t.equal((await call(app, 'POST', `/api/webhooks/${hookId}/deliveries/${'x'.repeat(300)}/replay`)).status, 404);

  // a receiver that does not answer: a timeout; a redirect is not followed
  rx.modes.set('/hang', 'hang');
  rx.modes.set('/redirect', 302);
  const hang = await hook(t, app, { url: rx.url('/hang'), events: ['entry.publish'] });
  const redirect = await hook(t, app, { url: rx.url('/redirect'), events: ['entry.publish'] });
  await post(app);
  await app.webhooks.runOnce();
  const [timedOut] = (await call(app, 'GET', `/api/webhooks/${hang.id}/deliveries`)).body.data;
  t.match(timedOut, { state: 'pending', attempts: 1, responses: [{ status: 0, error: 'timed out after 300 ms' }] });
  t.ok(timedOut.responses[0].ms >= 250, 'it waited for the timeout');
  const [redirected] = (await call(app, 'GET', `/api/webhooks/${redirect.id}/deliveries`)).body.data;
  t.match(redirected, { state: 'pending', responses: [{ status: 302, error: /^redirect to .* not followed$/ }] });
  t.equal(rx.of('/redirected').length, 0, 'the redirect was not followed');
});

t.test('the delivery log: newest first, paginated', async (t) => {
  const app = await buildTestApp(t, { now, env: ENV });
  const rx = await receiver(t);
  const { id } = await hook(t, app, { url: rx.url('/'), events: ['entry.create'] });
  for (let i = 0; i < 5; i++) {
    await post(app, false);
    await app.webhooks.runOnce();
    advance(SECOND);
  }
  const seqs = (rows: Json[]) => rows.map((r) => r.payload.seq as number);
  const page1 = await call(app, 'GET', `/api/webhooks/${id}/deliveries?limit=2`);
  t.equal(page1.status, 200);
  t.same(page1.body.meta, { total: 5, limit: 2, offset: 0 });
  const page2 = await call(app, 'GET', `/api/webhooks/${id}/deliveries?limit=2&offset=2`);
  const page3 = await call(app, 'GET', `/api/webhooks/${id}/deliveries?limit=2&offset=4`);
  const all = [...seqs(page1.body.data), ...seqs(page2.body.data), ...seqs(page3.body.data)];
  t.equal(all.length, 5);
  t.same(all, [...all].sort((a, b) => b - a), 'newest first');
  for (const q of ['limit=0', 'limit=101', 'limit=x', 'offset=-1', 'state=bogus', 'bogus=1']) {
    const res = await call(app, 'GET', `/api/webhooks/${id}/deliveries?${q}`);
    t.equal(res.status, 400, q);
  }
  t.equal((await call(app, 'GET', '/api/webhooks/0123456789abcdef01234567/deliveries')).status, 404);
});

t.test('three processes on one database deliver each event exactly once', async (t) => {
  const db = sharedDb('race');
  const apps = [
    await buildTestApp(t, { now, env: { ...ENV, MONGODB_DB: db } }),
    await buildTestApp(t, { now, env: { ...ENV, MONGODB_DB: db } }),
    await buildTestApp(t, { now, env: { ...ENV, MONGODB_DB: db } }),
  ];
  const rx = await receiver(t);
  rx.modes.set('/flaky', 503);
  const every = await hook(t, apps[0]!, { url: rx.url('/every'), events: ['entry.*'] });
  await hook(t, apps[1]!, { url: rx.url('/flaky'), events: ['entry.publish'] });
  await hook(t, apps[2]!, { url: rx.url('/site'), events: ['site.publish'] });

  // writes from all three, while all three dispatch
  const writes: Promise<string>[] = [];
  for (let i = 0; i < 10; i++) writes.push(post(apps[i % 3]!));
  await Promise.all([...writes, ...apps.map((a) => a.webhooks.runOnce())]);
  for (let round = 0; round < 3; round++) await Promise.all(apps.map((a) => a.webhooks.runOnce()));

  const head = await apps[0]!.changes.head();
  t.equal(head, 20, 'ten creates and ten publishes');
  const ids = rx.of('/every').map((r) => String(r.headers['x-cms-webhook-id']));
  t.equal(ids.length, 20, 'every change delivered');
  t.equal(new Set(ids).size, 20, 'each exactly once');
  t.same([...new Set(ids)].sort(), Array.from({ length: 20 }, (_, i) => `${every.id}-${i + 1}`).sort());
  t.equal(rx.of('/flaky').length, 10, 'each failing delivery tried once so far');

  // the retries, raced: still once each per round
  for (let round = 0; round < 2; round++) {
    const due = await deliveriesOf(apps[0]!).find({ state: 'pending' }).toArray();
    advanceTo(due.map((d) => d.nextAttemptAt).sort().at(-1)!);
    await Promise.all(apps.map((a) => a.webhooks.runOnce()));
  }
  const flaky = rx.of('/flaky').map((r) => String(r.headers['x-cms-webhook-id']));
  t.equal(flaky.length, 30, 'three attempts each');
  const counts = new Map<string, number>();
  for (const id of flaky) counts.set(id, (counts.get(id) ?? 0) + 1);
  t.same([...counts.values()], Array(10).fill(3));
  const stored3 = await deliveriesOf(apps[0]!).find({ event: 'entry.publish', state: { $ne: 'succeeded' } }).toArray();
  t.ok(stored3.every((d) => d.attempts === 3 && d.responses.length === 3), 'the log agrees with the receiver');

  // the debounced site.publish (the retries above moved the clock far past the window)
  const site = rx.of('/site');
  t.equal(site.length, 1, 'one site.publish for the burst, sent once');
  t.match(JSON.parse(site[0]!.body), { event: 'site.publish', changes: 10 });
  t.equal(await deliveriesOf(apps[0]!).countDocuments({ event: 'site.publish' }), 1);
});

t.test("claims are fenced: a claim fenced by another process is not sent; a dead sender's lease runs out", async (t) => {
  const app = await buildTestApp(t, { now, env: { ...ENV, WEBHOOK_TIMEOUT_MS: '1000' } });
  const rx = await receiver(t);
  const { id: hookId } = await hook(t, app, { url: rx.url('/'), events: ['entry.create'] });
  await post(app, false);
  await post(app, false);
  t.equal(await app.webhooks.dispatch(), 2, 'made, not yet sent');
  t.equal(await app.webhooks.dispatch(), 0, 'made once');
  const [first, second] = [`${hookId}-1`, `${hookId}-2`];
  const claims = app.mongo.db.collection<{ _id: string; at: string; runner: string; outcome?: Json }>('webhook_claims');
  // another process read the same state and fenced both claims first; it finished the second
  await claims.insertOne({ _id: `${first}/0`, at: clock.toISOString(), runner: 'another' });
  await claims.insertOne({ _id: `${second}/0`, at: clock.toISOString(), runner: 'another', outcome: { state: 'succeeded', attempts: 1, responses: [{ at: clock.toISOString(), status: 200, ms: 1 }], claimedBy: null, leaseUntil: null } });
  t.same(await app.webhooks.runOnce(), { created: 0, sent: 0 }, 'neither is sent by this process');
  t.equal(rx.received.length, 0);
  t.match(await deliveriesOf(app).findOne({ _id: second }), { state: 'succeeded', attempts: 1 }, "the winner's outcome is put back over the losing claim");
  t.match(await deliveriesOf(app).findOne({ _id: first }), { state: 'sending' }, 'held by the lease');
  // the other process died while sending the first: once the lease runs out, it is sent
  advance(30 * SECOND);
  t.same(await app.webhooks.runOnce(), { created: 0, sent: 0 }, 'not while the lease holds');
  advance(40 * SECOND);
  t.same(await app.webhooks.runOnce(), { created: 0, sent: 1 });
  t.same(rx.received.map((r) => r.headers['x-cms-webhook-id']), [first]);
  t.match(await deliveriesOf(app).findOne({ _id: first }), { state: 'succeeded', attempts: 2, responses: [{ status: 204 }] });
});

t.test('the runner: started when the app is ready, stopped when it closes', async (t) => {
  const app = await buildTestApp(t, { now, env: { ...ENV, WEBHOOK_POLL_MS: '20' } });
  const rx = await receiver(t);
  await hook(t, app, { url: rx.url('/loop'), events: ['entry.create'] });
  await post(app, false);
  // the runner polls on its own: wait for the request to arrive
  await rx.waitFor(1);
  t.equal(rx.received.length, 1, 'delivered by the running dispatcher');
  await app.close();
  t.pass('closed with the runner stopped');
});

t.test('site.publish: one delivery per burst of public changes', async (t) => {
  const app = await buildTestApp(t, { now, env: { ...ENV, WEBHOOK_DEBOUNCE_SECONDS: '10' } });
  const rx = await receiver(t);
  const { id: hookId } = await hook(t, app, { url: rx.url('/build'), events: ['site.publish'] });
  const late = await hook(t, app, { url: rx.url('/late'), events: ['entry.create'] });
  const start = await app.changes.head();

  // five publishes, a second apart: the window stays open
  for (let i = 0; i < 5; i++) {
    await post(app);
    await app.webhooks.runOnce();
    advance(SECOND);
  }
  t.equal(rx.of('/build').length, 0, 'nothing while the burst goes on');
  const lastPublish = clock.getTime() - SECOND;
  advanceTo(new Date(lastPublish + 10 * SECOND - 1).toISOString());
  await app.webhooks.runOnce();
  t.equal(rx.of('/build').length, 0, 'not before the window has passed');
  advance(1);
  t.same(await app.webhooks.runOnce(), { created: 1, sent: 1 });
  t.equal(rx.of('/build').length, 1, 'one site.publish');
  const payload = JSON.parse(rx.of('/build')[0]!.body) as Json;
  // public changes: the five publishes (the drafts' creates are not public)
  t.match(payload, { id: `${hookId}-site-${start + 2}`, event: 'site.publish', changes: 5, firstSeq: start + 2, lastSeq: start + 10 });
  t.same(await app.webhooks.runOnce(), { created: 0, sent: 0 }, 'once');

  // a draft save is not public: no rebuild
  await post(app, false);
  advance(60 * SECOND);
  await app.webhooks.runOnce();
  t.equal(rx.of('/build').length, 1);

  // publishing without pause: a burst is cut after five windows
  const before = await app.changes.head();
  for (let i = 0; i < 12; i++) {
    await post(app);
    await app.webhooks.runOnce();
    advance(5 * SECOND);
  }
  // the bursts: publishes at 0, 5 … 45 s (ten), cut by the one at 50 s; then 50 and 55 s, closed once the window passes
  t.equal(rx.of('/build').length, 2, 'the first burst was cut at five windows');
  t.match(JSON.parse(rx.of('/build')[1]!.body), { event: 'site.publish', changes: 10 });
  advance(10 * SECOND);
  await app.webhooks.runOnce();
  t.equal(rx.of('/build').length, 3);
  t.match(JSON.parse(rx.of('/build')[2]!.body), { event: 'site.publish', changes: 2, lastSeq: before + 24 });

  // site.publish with a type filter counts that type's changes only
  const filtered = await hook(t, app, { url: rx.url('/cats'), events: ['site.publish'], types: ['category'] });
  await post(app);
  advance(60 * SECOND);
  await app.webhooks.runOnce();
  t.equal(rx.of('/cats').length, 0, 'a post is no category');
  t.equal((await call(app, 'POST', '/api/content/category', { name: 'Tech', slug: 'tech' })).status, 201);
  advance(60 * SECOND);
  await app.webhooks.runOnce();
  t.equal(rx.of('/cats').length, 1);
  t.match(JSON.parse(rx.of('/cats')[0]!.body), { id: new RegExp(`^${filtered.id}-site-`), changes: 1 });

  // site.publish added to a webhook later: bursts from then on, not the ones before
  const lateSite = () => rx.of('/late').filter((r) => JSON.parse(r.body).event === 'site.publish');
  t.ok(rx.of('/late').length >= 19, 'it heard of the creates');
  t.equal((await call(app, 'PATCH', `/api/webhooks/${late.id}`, { events: ['entry.create', 'site.publish'] })).status, 200);
  advance(60 * SECOND);
  await app.webhooks.runOnce();
  t.same(lateSite(), [], 'no site.publish for earlier bursts');
  await post(app);
  advance(60 * SECOND);
  await app.webhooks.runOnce();
  t.equal(lateSite().length, 1);
  t.match(JSON.parse(lateSite()[0]!.body), { changes: 1 });
});
