// Scheduled publishing (HTTP API, runners racing in several processes, crashed claimers, start-up
// catch-up) and the change log (gap-free under concurrent writers, flags, repair of unlogged writes).
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import t from 'tap';
import type { Change } from '../src/storage/changes.js';
import type { Revision } from '../src/storage/revisions.js';
import type { Schedule } from '../src/storage/schedules.js';
import { buildTestApp, call, signIn, tokenFor, type Json } from './helpers.js';

// --- the injected clock: nothing in this file sleeps to let time pass ---
let clock = new Date('2030-01-01T00:00:00Z');
const now = () => clock;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const advance = (ms: number) => {
  clock = new Date(clock.getTime() + ms);
};
const fromNow = (ms: number) => new Date(clock.getTime() + ms).toISOString();

/** A database name several apps ("processes") share. */
const sharedDb = (tag: string) => `t_schedules_${tag}_${randomBytes(4).toString('hex')}`;

const anonymous = { cookie: '' };
let posts = 0;

/** A draft post that is valid for publishing (unless `extra` says otherwise); returns its id. */
async function draftPost(t: Tap, app: FastifyInstance, extra: Record<string, unknown> = {}): Promise<string> {
  const n = ++posts;
  const res = await call(app, 'POST', '/api/content/post', { title: { en: `Post ${n}` }, slug: `post-${n}`, body: { en: `Body ${n}` }, ...extra });
  t.equal(res.status, 201, `draft post ${n} created`);
  return res.body.data._id as string;
}

async function schedule(t: Tap, app: FastifyInstance, id: string, action: 'publish' | 'unpublish', at: string): Promise<Json> {
  const res = await call(app, 'POST', `/api/content/post/${id}/schedules`, { action, at });
  t.equal(res.status, 201, `${action} scheduled: ${JSON.stringify(res.body)}`);
  return res.body.data as Json;
}

const schedulesOf = (app: FastifyInstance) => app.mongo.db.collection<Schedule>('schedules');
const storedSchedule = (app: FastifyInstance, id: string) => schedulesOf(app).findOne({ _id: id });
const countSchedules = (app: FastifyInstance) => schedulesOf(app).countDocuments({});

/** The entry's versions, newest first, straight from the service (sessions expire as the clock moves). */
async function versionsOf(app: FastifyInstance, id: string) {
  return (await app.entries.versions('post', id, { limit: '100' })).data;
}

const isPublic = async (app: FastifyInstance, id: string) => (await call(app, 'GET', `/api/content/post/${id}`, undefined, anonymous)).status === 200;

const paths = (body: Json): string[] => (body.error?.details ?? []).map((d: { path: string }) => d.path);

type Tap = Pick<typeof t, 'equal' | 'same' | 'ok' | 'match'>;

// -------------------------------------------------------------------------------------------------

t.test('schedules over HTTP: create, list, cancel', async (t) => {
  const app = await buildTestApp(t, { now });
  const id = await draftPost(t, app);

  const created = await call(app, 'POST', `/api/content/post/${id}/schedules`, { action: 'publish', at: '2030-01-01T03:00:00+02:00' });
  t.equal(created.status, 201, JSON.stringify(created.body));
  const s = created.body.data;
  t.match(s._id, /^[0-9a-f]{24}$/);
  t.equal(created.headers.location, `/api/schedules/${s._id}`);
  t.match(s, { type: 'post', entryId: id, action: 'publish', state: 'pending', attempts: 0, createdAt: clock.toISOString() });
  t.equal(s.at, '2030-01-01T01:00:00.000Z', 'at is stored in UTC with milliseconds');
  t.type(s.createdBy, 'string');
  t.notOk('version' in s);
  t.notOk('error' in s);

  const later = await schedule(t, app, id, 'unpublish', fromNow(5 * HOUR));
  const earlier = await schedule(t, app, id, 'publish', fromNow(30 * MINUTE));

  const listed = await call(app, 'GET', `/api/schedules?entry=${id}`);
  t.equal(listed.status, 200);
  t.same(listed.body.data.map((x: Json) => x._id), [earlier._id, s._id, later._id], 'listed, sorted by at');
  t.match(listed.body.data[1], { _id: s._id, state: 'pending', action: 'publish', entryId: id });

  const other = await draftPost(t, app);
  const otherSchedule = await schedule(t, app, other, 'publish', fromNow(2 * HOUR));
  t.same((await call(app, 'GET', `/api/schedules?entry=${other}`)).body.data.map((x: Json) => x._id), [otherSchedule._id], 'entry filter');
  t.equal((await call(app, 'GET', '/api/schedules?type=post')).body.data.length, 4, 'type filter');
  t.equal((await call(app, 'GET', '/api/schedules')).body.data.length, 4);

  // cancel
  const cancelled = await call(app, 'DELETE', `/api/schedules/${s._id}`);
  t.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
  t.equal(cancelled.body.data.state, 'cancelled');
  t.equal((await storedSchedule(app, s._id))?.state, 'cancelled', 'stored as cancelled');
  const again = await call(app, 'DELETE', `/api/schedules/${s._id}`);
  t.equal(again.status, 409);
  t.equal(again.body.error.code, 'CMS_ERR_SCHEDULE_NOT_PENDING');
  const unknown = await call(app, 'DELETE', '/api/schedules/0123456789abcdef01234567');
  t.equal(unknown.status, 404);
  t.equal(unknown.body.error.code, 'CMS_ERR_SCHEDULE_NOT_FOUND');
  t.same((await call(app, 'GET', `/api/schedules?entry=${id}&state=cancelled`)).body.data.map((x: Json) => x._id), [s._id], 'state filter');
  t.same((await call(app, 'GET', `/api/schedules?entry=${id}&state=pending`)).body.data.map((x: Json) => x._id), [earlier._id, later._id]);

  // list parameters
  t.equal((await call(app, 'GET', '/api/schedules?state=bogus')).status, 400);
  t.equal((await call(app, 'GET', '/api/schedules?entry=nope')).status, 400);
  t.equal((await call(app, 'GET', '/api/schedules?whatever=1')).status, 400);

  // a cancelled schedule never runs; one not due yet waits
  advance(HOUR + MINUTE);
  const reports = await app.schedules.runDue();
  t.same(reports.map((r) => r.schedule), [earlier._id], 'only the due, pending schedule ran');
  t.equal((await storedSchedule(app, s._id))?.state, 'cancelled');
  t.equal((await storedSchedule(app, later._id))?.state, 'pending');
  t.equal((await storedSchedule(app, otherSchedule._id))?.state, 'pending', 'not due yet');
  t.same((await versionsOf(app, id)).filter((v) => v.action === 'publish').map((v) => v.schedule), [earlier._id]);
});

t.test('schedules over HTTP: refused requests store nothing', async (t) => {
  const app = await buildTestApp(t, { now });
  const id = await draftPost(t, app);
  const url = `/api/content/post/${id}/schedules`;
  const before = await countSchedules(app);

  const past = await call(app, 'POST', url, { action: 'publish', at: fromNow(-1000) });
  t.equal(past.status, 400);
  t.equal(past.body.error.code, 'CMS_ERR_SCHEDULE_PAST');
  t.same(paths(past.body), ['/at']);
  const rightNow = await call(app, 'POST', url, { action: 'publish', at: clock.toISOString() });
  t.equal(rightNow.status, 400, 'now is not in the future');
  t.equal(rightNow.body.error.code, 'CMS_ERR_SCHEDULE_PAST');

  const badDates: unknown[] = [
    'tomorrow',
    '2030-13-01T00:00:00Z',
    '2030-06-01',
    Date.parse('2030-06-01T00:00:00Z'),
    '2030-06-01T09:00:00', // no offset
    '2030-02-29T09:00:00Z', // 2030 is not a leap year
    '2030-06-01T24:00:00Z',
    '',
    null,
  ];
  for (const at of badDates) {
    const res = await call(app, 'POST', url, { action: 'publish', at });
    t.equal(res.status, 400, `at ${JSON.stringify(at)}`);
    t.equal(res.body.error?.code, 'CMS_ERR_SCHEDULE_INVALID', `at ${JSON.stringify(at)}`);
    t.same(paths(res.body), ['/at'], `at ${JSON.stringify(at)}`);
  }
  const operator = await call(app, 'POST', url, { action: 'publish', at: { $gt: '' } });
  t.equal(operator.status, 400, 'an operator object as at');
  const missingAt = await call(app, 'POST', url, { action: 'publish' });
  t.equal(missingAt.status, 400);
  t.same(paths(missingAt.body), ['/at']);
  const tooFar = await call(app, 'POST', url, { action: 'publish', at: fromNow(11 * 366 * 24 * HOUR) });
  t.equal(tooFar.status, 400, 'more than ten years ahead');
  t.equal(tooFar.body.error.code, 'CMS_ERR_SCHEDULE_INVALID');

  for (const action of ['delete', 'Publish', '', 1, undefined]) {
    const res = await call(app, 'POST', url, { action, at: fromNow(HOUR) });
    t.equal(res.status, 400, `action ${JSON.stringify(action)}`);
    t.equal(res.body.error.code, 'CMS_ERR_SCHEDULE_INVALID');
    t.same(paths(res.body), ['/action'], `action ${JSON.stringify(action)}`);
  }
  const extra = await call(app, 'POST', url, { action: 'publish', at: fromNow(HOUR), state: 'done' });
  t.equal(extra.status, 400, 'unknown field');
  t.equal(extra.body.error.code, 'CMS_ERR_SCHEDULE_INVALID');
  t.same(paths(extra.body), ['/state']);
  const everything = await call(app, 'POST', url, { action: 'nope', at: 'never', x: 1 });
  t.equal(everything.status, 400);
  t.same(paths(everything.body).sort(), ['/action', '/at', '/x'], 'every problem in one answer');
  for (const body of ['[]', '"publish"']) {
    t.equal((await call(app, 'POST', url, body)).status, 400, `body ${body}`);
  }

  const noEntry = await call(app, 'POST', '/api/content/post/0123456789abcdef01234567/schedules', { action: 'publish', at: fromNow(HOUR) });
  t.equal(noEntry.status, 404);
  t.equal(noEntry.body.error.code, 'CMS_ERR_ENTRY_NOT_FOUND');
  const badId = await call(app, 'POST', '/api/content/post/nope/schedules', { action: 'publish', at: fromNow(HOUR) });
  t.equal(badId.status, 400);
  t.equal(badId.body.error.code, 'CMS_ERR_ENTRY_INVALID_ID');

  const author = await signIn(app, 'author');
  const byAuthor = await call(app, 'POST', url, { action: 'publish', at: fromNow(HOUR) }, author);
  t.equal(byAuthor.status, 403);
  t.equal(byAuthor.body.error.code, 'CMS_ERR_FORBIDDEN');
  const viewer = await signIn(app, 'viewer');
  t.equal((await call(app, 'POST', url, { action: 'publish', at: fromNow(HOUR) }, viewer)).status, 403, 'viewer');
  const writeToken = await tokenFor(app, ['content:read', 'content:write']);
  t.equal((await call(app, 'POST', url, { action: 'publish', at: fromNow(HOUR) }, { ...writeToken, cookie: '' })).status, 403, 'token without content:publish');
  const anon = await call(app, 'POST', url, { action: 'publish', at: fromNow(HOUR) }, anonymous);
  t.equal(anon.status, 401);
  t.equal(anon.body.error.code, 'CMS_ERR_AUTH_REQUIRED');

  const article = await call(app, 'POST', '/api/content/article', { title: 'A', slug: 'a' });
  t.equal(article.status, 201);
  const noDrafts = await call(app, 'POST', `/api/content/article/${article.body.data._id}/schedules`, { action: 'publish', at: fromNow(HOUR) });
  t.equal(noDrafts.status, 409);
  t.equal(noDrafts.body.error.code, 'CMS_ERR_TYPE_NO_DRAFTS');

  t.equal(await countSchedules(app), before, 'nothing stored by any refused request');

  // listing and cancelling need the right caller too
  const anonList = await call(app, 'GET', '/api/schedules', undefined, anonymous);
  t.equal(anonList.status, 401);
  t.equal(anonList.body.error.code, 'CMS_ERR_AUTH_REQUIRED');
  const s = await schedule(t, app, id, 'publish', fromNow(HOUR));
  t.equal((await call(app, 'DELETE', `/api/schedules/${s._id}`, undefined, anonymous)).status, 401);
  t.equal((await call(app, 'DELETE', `/api/schedules/${s._id}`, undefined, author)).status, 403);
  t.equal((await storedSchedule(app, s._id))?.state, 'pending', 'a refused cancel leaves it pending');
  const authorList = await call(app, 'GET', '/api/schedules', undefined, author);
  t.equal(authorList.status, 200, 'authors may see schedules (they may preview)');
  t.equal(authorList.body.data.length, 1);
  const publishToken = await tokenFor(app, ['content:read', 'content:publish']);
  const byToken = await call(app, 'POST', url, { action: 'unpublish', at: fromNow(2 * HOUR) }, { ...publishToken, cookie: '' });
  t.equal(byToken.status, 201, 'a content:publish token may schedule');
  t.equal(await countSchedules(app), before + 2);
});

t.test('a due schedule runs exactly once with three runners racing', async (t) => {
  const env = { MONGODB_DB: sharedDb('race') };
  const a = await buildTestApp(t, { now, env });
  const b = await buildTestApp(t, { now, env });
  const c = await buildTestApp(t, { now, env });
  const apps = [a, b, c];
  const ROUNDS = 3;
  const PER_ROUND = 10;
  const all: Json[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const ids: string[] = [];
    const scheduled: Json[] = [];
    for (let i = 0; i < PER_ROUND; i++) {
      const app = apps[i % 3]!;
      const id = await draftPost(t, app);
      ids.push(id);
      scheduled.push(await schedule(t, app, id, 'publish', fromNow(HOUR + i * 1000)));
    }
    all.push(...scheduled);
    advance(2 * HOUR);
    const results = await Promise.all(apps.map((app) => app.schedules.runDue()));
    const mine = new Set(scheduled.map((s) => s._id as string));
    const reports = results.flat().filter((r) => mine.has(r.schedule));
    t.equal(reports.length, PER_ROUND, `round ${round}: one report per schedule (${results.map((r) => r.length).join('+')})`);
    t.equal(reports.filter((r) => r.state === 'done').length, PER_ROUND, `round ${round}: all done`);
    t.same(reports.map((r) => r.schedule).sort(), [...mine].sort(), `round ${round}: each schedule reported once`);
    const again = results.flat().filter((r) => !mine.has(r.schedule));
    t.same(again, [], `round ${round}: no schedule of an earlier round (all reported done) is run again`);

    for (let i = 0; i < PER_ROUND; i++) {
      const id = ids[i]!;
      const s = scheduled[i]!;
      const publishes = (await versionsOf(a, id)).filter((v) => v.action === 'publish');
      t.equal(publishes.length, 1, `round ${round}: entry ${i} published once`);
      t.equal(publishes[0]?.schedule, s._id, 'the version names its schedule');
      t.equal(publishes[0]?.by, `schedule:${s._id}`);
      t.ok(await isPublic(b, id), 'the entry is public');
      const stored = await storedSchedule(c, s._id);
      if (stored?.state !== 'done') {
        const ranBy = results.flatMap((r, n) => (r.some((x) => x.schedule === s._id) ? [apps[n]!.schedules.runner] : []));
        t.comment(`schedule ${s._id} is ${stored?.state}: stored attempts ${stored?.attempts}, claimedBy ${stored?.claimedBy}; reported done by ${ranBy.join(', ')}`);
      }
      t.match(stored, { state: 'done', version: publishes[0]?.version, attempts: 1 }, `round ${round}: schedule ${i} done with its version`);
      const report = reports.find((r) => r.schedule === s._id);
      t.equal(report?.version, publishes[0]?.version, 'the report names the version');
      const audit = await a.mongo.db.collection('audit').countDocuments({ action: 'entry.publish', actorName: `schedule ${s._id}` });
      t.equal(audit, 1, 'audited once');
    }
    t.same(await Promise.all(apps.map((app) => app.schedules.runDue())), [[], [], []], `round ${round}: nothing left to run`);
  }
  const notDone = await schedulesOf(a).countDocuments({ state: { $ne: 'done' } });
  t.equal(notDone, 0, 'every schedule is done');
  // whatever was left running is finished by one runner once the leases run out, without publishing again
  advance(121_000);
  const healed = await a.schedules.runDue();
  t.same(healed.filter((r) => r.state !== 'done'), [], `the leftovers (${healed.length}) end done`);
  t.equal(await schedulesOf(a).countDocuments({ state: { $ne: 'done' } }), 0, 'every schedule is done once the leases ran out');
  const publishCounts = await Promise.all(all.map(async (s) => (await versionsOf(a, s.entryId)).filter((v) => v.action === 'publish').length));
  t.same(publishCounts.filter((n) => n !== 1), [], 'and every entry was published exactly once');
  const audits = await Promise.all(all.map((s) => a.mongo.db.collection('audit').countDocuments({ action: 'entry.publish', actorName: `schedule ${s._id}` })));
  t.same(audits.filter((n) => n !== 1), [], 'in the end, each schedule is audited as one publish');
});

t.test('a claimer that crashes: another runner takes over once the lease runs out', async (t) => {
  const env = { MONGODB_DB: sharedDb('crash') };
  const a = await buildTestApp(t, { now, env });
  const b = await buildTestApp(t, { now, env });

  // A claims and dies before doing anything
  const id = await draftPost(t, a);
  const s = await schedule(t, a, id, 'publish', fromNow(HOUR));
  advance(2 * HOUR);
  const claimed = await a.schedules.claimOnly();
  t.equal(claimed?._id, s._id);
  t.match(claimed, { state: 'running', attempts: 1, claimedBy: a.schedules.runner });
  t.equal(await a.schedules.claimOnly(), null, 'nothing else to claim');
  t.same(await b.schedules.runDue(), [], 'the lease is held');
  advance(60_000);
  t.same(await b.schedules.runDue(), [], 'still held after a minute');
  t.equal((await storedSchedule(b, s._id))?.state, 'running');
  t.notOk(await isPublic(b, id));
  advance(61_000);
  const reports = await b.schedules.runDue();
  t.equal(reports.length, 1, 'the lease ran out: B runs it');
  t.match(reports[0], { schedule: s._id, state: 'done' });
  const publishes = (await versionsOf(b, id)).filter((v) => v.action === 'publish');
  t.equal(publishes.length, 1, 'published once');
  t.equal(publishes[0]?.schedule, s._id);
  t.match(await storedSchedule(b, s._id), { state: 'done', version: publishes[0]?.version, attempts: 2, claimedBy: b.schedules.runner });
  t.ok(await isPublic(a, id));

  // A was only paused: it wakes up and runs its stale claim
  const versionsBefore = (await versionsOf(a, id)).length;
  await a.schedules.run(claimed!);
  t.equal((await versionsOf(a, id)).length, versionsBefore, 'the late claimer writes no version');
  t.match(await storedSchedule(a, s._id), { state: 'done', version: publishes[0]?.version, attempts: 2, claimedBy: b.schedules.runner }, 'nor changes the outcome');

  // A claims, writes its version, and dies before marking the schedule done
  const id2 = await draftPost(t, a);
  const s2 = await schedule(t, a, id2, 'publish', fromNow(HOUR));
  advance(2 * HOUR);
  const claimed2 = await a.schedules.claimOnly();
  t.equal(claimed2?._id, s2._id);
  const written = await a.entries.publish('post', id2, undefined, undefined, { schedule: s2._id });
  t.type(written.version, 'number');
  const count = (await versionsOf(a, id2)).length;
  t.same(await b.schedules.runDue(), [], 'the lease is held');
  advance(121_000);
  const reports2 = await b.schedules.runDue();
  t.same(reports2, [{ schedule: s2._id, state: 'done', version: written.version }], 'B finishes it with the version A wrote');
  t.equal((await versionsOf(b, id2)).length, count, 'and does not publish again');
  t.match(await storedSchedule(b, s2._id), { state: 'done', version: written.version, attempts: 2 });
  t.ok(await isPublic(b, id2));
  t.same(await b.schedules.runDue(), []);
  t.same(await a.schedules.runDue(), []);
});

t.test('scheduled unpublish, and runs that fail', async (t) => {
  const app = await buildTestApp(t, { now });

  const published = await draftPost(t, app);
  t.equal((await call(app, 'POST', `/api/content/post/${published}/publish`)).status, 200);
  t.ok(await isPublic(app, published));
  const unpublish = await schedule(t, app, published, 'unpublish', fromNow(HOUR));

  const invalid = await draftPost(t, app, { body: undefined }); // no body: saves as a draft, cannot publish
  const invalidSchedule = await schedule(t, app, invalid, 'publish', fromNow(HOUR));

  const doomed = await draftPost(t, app);
  const doomedSchedule = await schedule(t, app, doomed, 'publish', fromNow(HOUR));
  t.equal((await app.inject({ method: 'DELETE', url: `/api/content/post/${doomed}` })).statusCode, 204);

  const neverPublished = await draftPost(t, app);
  const pointless = await schedule(t, app, neverPublished, 'unpublish', fromNow(HOUR));

  const publishedBefore = await app.mongo.db.collection('published_post').countDocuments({});
  advance(2 * HOUR);
  const reports = await app.schedules.runDue();
  t.equal(reports.length, 4);
  const stateOf = (id: string) => reports.find((r) => r.schedule === id)?.state;

  t.equal(stateOf(unpublish._id), 'done');
  t.notOk(await isPublic(app, published), 'unpublished');
  const [newest] = await versionsOf(app, published);
  t.match(newest, { action: 'unpublish', schedule: unpublish._id, by: `schedule:${unpublish._id}` });
  t.match(await storedSchedule(app, unpublish._id), { state: 'done', version: newest?.version });
  t.equal((await app.entries.get('post', published, { preview: 'true' }))._status, 'draft');

  t.equal(stateOf(invalidSchedule._id), 'failed');
  const failed = await storedSchedule(app, invalidSchedule._id);
  t.match(failed, { state: 'failed', error: { code: 'CMS_ERR_ENTRY_VALIDATION', message: String } });
  t.notOk(failed && 'version' in failed, 'no version');
  t.same((await versionsOf(app, invalid)).map((v) => v.action), ['create'], 'nothing published');
  t.notOk(await isPublic(app, invalid));
  const audited = await app.mongo.db.collection('audit').countDocuments({ action: 'schedule.failed', actorName: `schedule ${invalidSchedule._id}` });
  t.equal(audited, 1, 'the failure is audited');

  t.equal(stateOf(doomedSchedule._id), 'failed');
  t.match(await storedSchedule(app, doomedSchedule._id), { state: 'failed', error: { code: 'CMS_ERR_ENTRY_NOT_FOUND' } });
  t.equal(await app.mongo.db.collection('content_post').countDocuments({ _id: doomed as never }), 0, 'the deleted entry stays deleted');

  t.equal(stateOf(pointless._id), 'failed');
  t.match(await storedSchedule(app, pointless._id), { state: 'failed', error: { code: 'CMS_ERR_ENTRY_NOT_PUBLISHED' } });

  t.equal(await app.mongo.db.collection('published_post').countDocuments({}), publishedBefore - 1, 'only the unpublish changed the published view');
  t.same(await app.schedules.runDue(), [], 'failed schedules are not retried');
});

t.test('schedules missed while no server ran run at start-up', async (t) => {
  const env = { MONGODB_DB: sharedDb('startup') };
  const a = await buildTestApp(t, { now, env });
  const id = await draftPost(t, a);
  const s = await schedule(t, a, id, 'publish', fromNow(HOUR));
  const future = await draftPost(t, a);
  const notYet = await schedule(t, a, future, 'publish', fromNow(5 * HOUR));
  advance(2 * HOUR);

  const b = await buildTestApp(t, { now, env: { ...env, SCHEDULE_POLL_SECONDS: '3600' } });
  await b.ready();
  const deadline = Date.now() + 5000;
  let stored = await storedSchedule(b, s._id);
  while (stored?.state !== 'done' && stored?.state !== 'failed' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    stored = await storedSchedule(b, s._id);
  }
  t.equal(stored?.state, 'done', 'the start-up run published it');
  const publishes = (await versionsOf(b, id)).filter((v) => v.action === 'publish');
  t.equal(publishes.length, 1);
  t.equal(publishes[0]?.schedule, s._id);
  t.equal(stored?.version, publishes[0]?.version);
  t.equal(stored?.claimedBy, b.schedules.runner, 'run by the new process');
  t.ok(await isPublic(a, id));
  t.equal((await storedSchedule(b, notYet._id))?.state, 'pending', 'a schedule not due yet waits');
  t.notOk(await isPublic(a, future));
  t.same(await a.schedules.runDue(), [], 'nothing left for another runner');
});

// -------------------------------------------------------------------------------------------------

const changesOf = (app: FastifyInstance) => app.mongo.db.collection<Change>('changes').find({}).sort({ _id: 1 }).toArray();

function isContiguous(t: Tap, changes: Change[], what: string): void {
  t.same(changes.map((c) => c._id), changes.map((_, i) => i + 1), `${what}: ids are 1..${changes.length}, no gaps or duplicates`);
}

t.test('change log: gap-free under concurrent writers in three processes', async (t) => {
  const env = { MONGODB_DB: sharedDb('changes'), LOCALES: 'en,fr' };
  const apps = [await buildTestApp(t, { now, env }), await buildTestApp(t, { now, env }), await buildTestApp(t, { now, env })];
  const [a] = apps as [FastifyInstance];

  const seeded: string[] = [];
  for (let i = 0; i < 10; i++) {
    const res = await call(apps[i % 3]!, 'POST', '/api/content/article', { title: `Seed ${i}`, slug: `seed-${i}` });
    t.equal(res.status, 201);
    seeded.push(res.body.data._id);
  }
  const writes: { id: string; version: number }[] = [];

  const ops = apps.flatMap((app, p) =>
    Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0
        ? call(app, 'POST', '/api/content/article', { title: `P${p} ${i}`, slug: `p${p}-${i}` })
        : call(app, 'PATCH', `/api/content/article/${seeded[(i + p) % seeded.length]}`, { excerpt: `p${p} ${i}` }),
    ),
  );
  const results = await Promise.all(ops);
  const ok = results.filter((r) => r.status === 200 || r.status === 201);
  const refused = results.filter((r) => r.status !== 200 && r.status !== 201);
  t.same(refused.map((r) => r.body.error?.code), [], 'every concurrent write succeeded');
  for (const r of ok) writes.push({ id: r.body.data._id, version: r.body.data._version });

  const changes = await changesOf(a);
  isContiguous(t, changes, 'after 60 concurrent writes');
  t.equal(changes.length, seeded.length + ok.length, `one record per successful write (${seeded.length} + ${ok.length})`);
  const keys = changes.map((c) => `${c.id}/${c.version}`);
  t.equal(new Set(keys).size, keys.length, 'no write logged twice');
  for (const w of writes) t.ok(keys.includes(`${w.id}/${w.version}`), `write ${w.id} v${w.version} is logged`);
  for (const c of changes) {
    t.match(c, { kind: 'entry', type: 'article', id: String, action: /^(create|update)$/, version: Number, locales: ['*'], public: true, at: String }, `record ${c._id}`);
  }
  t.equal(await a.mongo.db.collection<Revision>('revisions').countDocuments({ logged: false }), 0, 'every revision is marked logged');
  t.same((await a.changes.since(0, 1000)).map((c) => c._id), changes.map((c) => c._id), 'since(0) reads them all');
  t.equal(await apps[1]!.changes.head(), changes.length, 'head');
  t.same((await a.changes.since(changes.length - 2, 10)).map((c) => c._id), [changes.length - 1, changes.length]);
});

t.test('change log: what each record says', async (t) => {
  const env = { MONGODB_DB: sharedDb('flags'), LOCALES: 'en,fr' };
  const a = await buildTestApp(t, { now, env });
  const b = await buildTestApp(t, { now, env });
  const last = async () => (await changesOf(a)).at(-1)!;

  const article = await call(a, 'POST', '/api/content/article', { title: 'A', slug: 'flag-a' });
  t.match(await last(), { kind: 'entry', type: 'article', id: article.body.data._id, action: 'create', version: 1, locales: ['*'], public: true });
  await call(b, 'PATCH', `/api/content/article/${article.body.data._id}`, { title: 'B' });
  t.match(await last(), { action: 'update', version: 2, public: true, locales: ['*'] });

  const created = await call(a, 'POST', '/api/content/post', { title: { en: 'Hello' }, slug: 'hello', body: { en: 'Text' } });
  t.equal(created.status, 201);
  const id = created.body.data._id;
  t.match(await last(), { type: 'post', id, action: 'create', version: 1, locales: ['*'], public: false }, 'a draft save is not public');
  const fr = await call(b, 'PATCH', `/api/content/post/${id}?locale=fr`, { title: 'Bonjour' });
  t.equal(fr.status, 200, JSON.stringify(fr.body));
  t.match(await last(), { id, action: 'update', version: 2, locales: ['fr'], public: false }, 'only fr changed');
  await call(a, 'PATCH', `/api/content/post/${id}`, { title: { en: 'Hello!' } });
  t.match(await last(), { version: 3, locales: ['en'], public: false });
  const pub = await call(a, 'POST', `/api/content/post/${id}/publish`);
  t.equal(pub.status, 200);
  t.match(await last(), { id, action: 'publish', version: 4, locales: ['*'], public: true });
  await call(b, 'PATCH', `/api/content/post/${id}`, { slug: 'hello-again' });
  t.match(await last(), { action: 'update', version: 5, locales: ['*'], public: false }, 'a non-localized field: all locales');
  t.equal((await call(a, 'POST', `/api/content/post/${id}/discard`)).status, 200);
  t.match(await last(), { action: 'discard', version: 6, public: false });
  t.equal((await call(a, 'POST', `/api/content/post/${id}/unpublish`)).status, 200);
  t.match(await last(), { action: 'unpublish', version: 7, public: true, locales: ['*'] });
  t.equal((await call(a, 'POST', `/api/content/post/${id}/versions/2/restore`)).status, 200);
  t.match(await last(), { action: 'restore', version: 8, public: false });
  t.equal((await a.inject({ method: 'DELETE', url: `/api/content/post/${id}` })).statusCode, 204);
  t.match(await last(), { action: 'delete', version: 9, public: false, locales: ['*'] }, 'deleting a never-published draft is not public');
  const other = await draftPost(t, b);
  t.equal((await call(b, 'POST', `/api/content/post/${other}/publish`)).status, 200);
  t.equal((await b.inject({ method: 'DELETE', url: `/api/content/post/${other}` })).statusCode, 204);
  t.match(await last(), { id: other, action: 'delete', public: true }, 'deleting a published entry is public');

  // media
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#336699' } }).png().toBuffer();
  const boundary = `----cms${randomBytes(6).toString('hex')}`;
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="dot.png"\r\nContent-Type: image/png\r\n\r\n`),
    png,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const uploaded = await a.inject({ method: 'POST', url: '/api/media', payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
  t.equal(uploaded.statusCode, 201, uploaded.body);
  const media = (JSON.parse(uploaded.body) as Json).data[0];
  const mediaRecord = await last();
  t.match(mediaRecord, { kind: 'media', id: media._id, action: 'create', locales: ['*'], public: false });
  t.notOk('type' in mediaRecord, 'no type on a media record');
  t.equal((await call(b, 'PATCH', `/api/media/${media._id}`, { alt: 'A dot' })).status, 200);
  t.match(await last(), { kind: 'media', id: media._id, public: true });
  t.equal((await b.inject({ method: 'DELETE', url: `/api/media/${media._id}` })).statusCode, 204);
  t.match(await last(), { kind: 'media', id: media._id, public: true });

  isContiguous(t, await changesOf(a), 'after every kind of write');
});

t.test('repairLog appends writes whose process died before logging them', async (t) => {
  const env = { MONGODB_DB: sharedDb('repair') };
  const a = await buildTestApp(t, { now, env });
  const revisions = a.mongo.db.collection<Revision>('revisions');
  const changes = a.mongo.db.collection<Change>('changes');

  await a.entries.create('article', { title: 'One', slug: 'one' });
  await a.entries.create('article', { title: 'Two', slug: 'two' });
  // the writer applies its write and dies before logging it: its append never happens
  const append = a.changes.append;
  a.changes.append = async () => {
    throw new Error('the process died');
  };
  const lost = await a.entries.create('article', { title: 'Lost', slug: 'lost' }).finally(() => {
    a.changes.append = append;
  });
  const id = lost.entry._id;
  t.equal(lost.version, 1, 'the write itself succeeded');
  t.equal(await changes.countDocuments({ id }), 0, 'but it is not in the change log');
  t.equal((await revisions.findOne({ _id: `article/${id}/1` }))?.logged, false, 'its revision is not logged');
  t.equal((await a.entries.get('article', id, {})).title, 'Lost', 'it is applied');

  // the sweep runs in another process (the writer is gone)
  const b = await buildTestApp(t, { now, env });
  t.equal(await b.entries.repairLog(60_000), 0, 'too recent: its writer may still be logging it');
  advance(2 * MINUTE);
  t.equal(await b.entries.repairLog(60_000), 1, 'repaired one');
  const after = await changesOf(b);
  isContiguous(t, after, 'after the repair');
  t.match(after.at(-1), { _id: 3, kind: 'entry', type: 'article', id, action: 'create', version: 1, locales: ['*'], public: true });
  t.equal((await revisions.findOne({ _id: `article/${id}/1` }))?.logged, true, 'marked logged');
  t.equal(await b.entries.repairLog(60_000), 0, 'only once');
  t.equal((await changesOf(b)).length, 3);

  // a writer that died after claiming its version, before even applying it: rolled forward
  const current = (await a.mongo.db.collection('content_article').findOne({ _id: id as never }))!;
  const doc = { ...current, _version: 2, title: 'Rolled forward', _updatedAt: clock.toISOString() };
  await revisions.insertOne({
    _id: `article/${id}/2`, type: 'article', entryId: id, version: 2, action: 'update', at: clock.toISOString(), by: 'system',
    doc: doc as never, locales: ['*'], public: true, logged: false,
  });
  advance(2 * MINUTE);
  t.equal(await b.entries.repairLog(60_000), 1);
  const rolled = await a.entries.get('article', id, {});
  t.match(rolled, { _version: 2, title: 'Rolled forward' }, 'the claimed write is applied');
  t.match((await changesOf(a)).at(-1), { _id: 4, id, action: 'update', version: 2 });
  isContiguous(t, await changesOf(a), 'after rolling forward');

  // and the log goes on without gaps from either process
  await a.entries.create('article', { title: 'Next', slug: 'next' });
  await b.entries.create('article', { title: 'After', slug: 'after' });
  isContiguous(t, await changesOf(a), 'later writes');
  t.equal((await changesOf(a)).length, 6);
});

t.test('a run acts for whoever scheduled it, and publishes no unreviewed edit', async (t) => {
  const app = await buildTestApp(t, { now, as: 'anonymous' });
  const editor = await signIn(app, 'editor');
  const author = await signIn(app, 'author');
  const create = async (headers: Record<string, string>) => {
    const n = ++posts;
    const res = await call(app, 'POST', '/api/content/post', { title: { en: `Post ${n}` }, slug: `post-${n}`, body: { en: 'Reviewed' } }, headers);
    t.equal(res.status, 201);
    return res.body.data._id as string;
  };
  const plan = async (id: string) => {
    const res = await call(app, 'POST', `/api/content/post/${id}/schedules`, { action: 'publish', at: fromNow(HOUR) }, editor);
    t.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.data as Json;
  };
  // an author's draft, reviewed and scheduled by an editor, then changed by the author
  const sneaky = await create(author);
  const s1 = await plan(sneaky);
  t.equal((await call(app, 'PATCH', `/api/content/post/${sneaky}`, { body: { en: 'UNREVIEWED' } }, author)).status, 200);
  // an editor's own later fix is fine
  const fixed = await create(editor);
  const s2 = await plan(fixed);
  t.equal((await call(app, 'PATCH', `/api/content/post/${fixed}`, { body: { en: 'Fixed typo' } }, editor)).status, 200);
  advance(2 * HOUR);
  const reports = await app.schedules.runDue();
  t.same(reports.map((r) => r.state).sort(), ['done', 'failed']);
  t.match(await storedSchedule(app, s1._id), { state: 'failed', error: { code: 'CMS_ERR_SCHEDULE_UNREVIEWED' } });
  t.notOk(await isPublic(app, sneaky), 'the unreviewed edit is not published');
  t.match(await storedSchedule(app, s2._id), { state: 'done' });
  const live = await call(app, 'GET', `/api/content/post/${fixed}`, undefined, anonymous);
  t.equal(live.body.data.body, 'Fixed typo', "the editor's fix went out");

  // a schedule whose creator may no longer publish fails
  const later = await create(editor);
  const s3 = await plan(later);
  const editorId = (await app.auth.authenticate({ cookie: editor.cookie })).auth;
  t.equal(editorId.kind, 'user');
  if (editorId.kind === 'user') await app.auth.updateUser(editorId.user.id, { role: 'author' });
  advance(2 * HOUR);
  await app.schedules.runDue();
  t.match(await storedSchedule(app, s3._id), { state: 'failed', error: { code: 'CMS_ERR_SCHEDULE_CREATOR' } });
  t.notOk(await isPublic(app, later));
});
