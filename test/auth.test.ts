// Authentication: sign-in and its limits, sessions and cookies, password changes, first-run setup,
// users and API tokens, and how changes to a user end what they were signed in with.
import type { FastifyInstance } from 'fastify';
import t from 'tap';
const tap = t;
import type { Role } from '../src/storage/users.js';
import { buildTestApp, originOf, send, type Json, type Res } from './helpers.js';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase 42';

// a clock the tests move forward (rate-limit windows, token expiry, session lifetime)
let skew = 0;
const clock = () => new Date(Date.now() + skew);

const app = await buildTestApp(t, {
  as: 'anonymous',
  now: clock,
  env: { LOGIN_MAX_PER_ACCOUNT: '3', LOGIN_MAX_PER_IP: '6', LOGIN_WINDOW_SECONDS: '60' },
});



interface User {
  id: string;
  email: string;
  name: string;
  /** cookie + Origin, as the user's browser sends them */
  headers: Record<string, string>;
}

let users = 0;
/** A user of this role with a fresh session (straight through the service: no login counted). */
async function makeUser(app: FastifyInstance, role: Role, password = PASSWORD): Promise<User> {
  const n = ++users;
  const email = `person${n}.${role}@example.com`;
  const name = `Person ${n}`;
  const user = await app.auth.createUser({ email, name, password, role });
  return { id: user._id, email, name, headers: await sessionOf(app, user._id) };
}

async function sessionOf(app: FastifyInstance, userId: string): Promise<Record<string, string>> {
  const { cookie } = await app.auth.sessions.create(userId);
  return { cookie: cookie.split(';')[0]!, origin: originOf(app) };
}

const login = (app: FastifyInstance, email: unknown, password: unknown, ip = '127.0.0.1', extra: Record<string, unknown> = {}) =>
  send(app, 'POST', '/api/auth/login', { body: { email, password, ...extra }, headers: { origin: originOf(app) }, ip });

/** The cookie a Set-Cookie header sets, as a Cookie header. */
function cookieFrom(res: Res): string {
  const set = res.headers['set-cookie'];
  const line = Array.isArray(set) ? (set[0] ?? '') : String(set ?? '');
  return line.split(';')[0]!;
}

const me = (app: FastifyInstance, headers: Record<string, string>) => send(app, 'GET', '/api/auth/me', { headers });

/** Asserts a 401 for credentials that no longer hold. */
function assertInvalid(t: Pick<typeof tap, 'equal'>, res: Res, what: string) {
  t.equal(res.status, 401, `${what}: 401`);
  t.equal(res.body.error?.code, 'CMS_ERR_AUTH_INVALID', `${what}: CMS_ERR_AUTH_INVALID`);
}

let ips = 0;
/** A fresh client address, so the per-IP login counter starts at zero. */
const freshIp = () => `10.0.${Math.floor(++ips / 250)}.${(ips % 250) + 1}`;

// ---------------------------------------------------------------------------------------------
// sign-in: bad input first

t.test('login refuses malformed bodies with 400, without counting them as attempts', async (t) => {
  const user = await makeUser(app, 'editor');
  const ip = freshIp();
  // keys starting with $ are refused by the body parser itself; everything else by the login schema
  const bad: [string, unknown][] = [
    ['password as an object', { email: user.email, password: { $ne: '' } }],
    ['password as an empty object', { email: user.email, password: {} }],
    ['password as an array', { email: user.email, password: [PASSWORD] }],
    ['password as an empty array', { email: user.email, password: [] }],
    ['password as a number', { email: user.email, password: 123456789012 }],
    ['password as null', { email: user.email, password: null }],
    ['password as true', { email: user.email, password: true }],
    ['email as an operator object', { email: { $gt: '' }, password: PASSWORD }],
    ['email as a regex object', { email: { $regex: '.*' }, password: PASSWORD }],
    ['email as an array', { email: [user.email], password: PASSWORD }],
    ['empty strings', { email: '', password: '' }],
    ['empty password', { email: user.email, password: '' }],
    ['empty email', { email: '', password: PASSWORD }],
    ['no password', { email: user.email }],
    ['no email', { password: PASSWORD }],
    ['an empty object', {}],
    ['an extra field', { email: user.email, password: PASSWORD, remember: true }],
    ['an extra role field', { email: user.email, password: PASSWORD, role: 'admin' }],
    ['an extra operator field', { email: user.email, password: PASSWORD, $where: '1' }],
    ['an over-long password', { email: user.email, password: 'x'.repeat(257) }],
    ['an over-long email', { email: `${'a'.repeat(250)}@example.com`, password: PASSWORD }],
    ['an array body', [user.email, PASSWORD]],
    ['a string body', 'credentials'],
    ['a null body', null],
  ];
  for (const [what, body] of bad) {
    const res = await send(app, 'POST', '/api/auth/login', { body: JSON.stringify(body), headers: { origin: originOf(app) }, ip });
    t.equal(res.status, 400, `${what}: 400`);
    const code = JSON.stringify(body).includes('"$') ? 'CMS_ERR_BODY_FORBIDDEN_KEY' : 'CMS_ERR_AUTH_VALIDATION';
    t.equal(res.body.error?.code, code, `${what}: ${code}`);
    t.notOk(res.headers['set-cookie'], `${what}: no cookie`);
  }
  const proto = await send(app, 'POST', '/api/auth/login', { body: `{"email":"${user.email}","password":"${PASSWORD}","__proto__":{"role":"admin"}}`, headers: { origin: originOf(app) }, ip });
  t.equal(proto.status, 400, '__proto__ in the body: 400');
  const notJson = await send(app, 'POST', '/api/auth/login', { body: '{"email":', headers: { origin: originOf(app) }, ip });
  t.equal(notJson.status, 400, 'broken JSON: 400');
  t.equal(notJson.body.error.code, 'CMS_ERR_BODY_INVALID_JSON');
  const form = await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, headers: { 'content-type': 'application/x-www-form-urlencoded', origin: originOf(app) }, payload: `email=${user.email}&password=x` });
  t.equal(form.statusCode, 415, 'a form post is not a sign-in');
  const query = await send(app, 'POST', `/api/auth/login?email=${user.email}`, { body: { email: user.email, password: PASSWORD }, headers: { origin: originOf(app) }, ip });
  t.equal(query.status, 400, 'query parameters: 400');

  // more malformed attempts than either limit allows, and the right password still works
  const ok = await login(app, user.email, PASSWORD, ip);
  t.equal(ok.status, 200, 'malformed bodies did not count against the IP or the account');
  t.equal(ok.body.data.email, user.email);
});

t.test('an unknown user, a wrong password and a suspended account get the same answer', async (t) => {
  const user = await makeUser(app, 'author');
  const suspended = await makeUser(app, 'author');
  await app.auth.updateUser(suspended.id, { status: 'suspended' });
  const ip = freshIp();
  const wrong = await login(app, user.email, 'not the password at all', ip);
  const unknown = await login(app, 'nobody.here@example.com', PASSWORD, ip);
  const off = await login(app, suspended.email, PASSWORD, ip);
  for (const [what, res] of [['wrong password', wrong], ['unknown user', unknown], ['suspended user', off]] as const) {
    t.equal(res.status, 401, `${what}: 401`);
    t.equal(res.body.error.code, 'CMS_ERR_LOGIN_FAILED', `${what}: CMS_ERR_LOGIN_FAILED`);
    t.notOk(res.headers['set-cookie'], `${what}: no cookie`);
  }
  t.same(unknown.body, wrong.body, 'unknown user and wrong password: the same body');
  t.same(off.body, wrong.body, 'suspended user and wrong password: the same body');
  t.notMatch(wrong.raw, /password is wrong$|no such user|not found/i);

  const spaced = await login(app, `  ${user.email.toUpperCase()}\t`, PASSWORD, freshIp());
  t.equal(spaced.status, 200, 'the email is matched without case and surrounding blanks');
});

t.test('a successful sign-in: the session cookie, the user, sign-out', async (t) => {
  const user = await makeUser(app, 'editor');
  const res = await login(app, user.email, PASSWORD, freshIp());
  t.equal(res.status, 200);
  t.match(res.body.data, { _id: user.id, email: user.email, name: user.name, role: 'editor', status: 'active' });
  t.notMatch(res.raw, /passwordHash|argon2|credentialsChangedAt/, 'no password hash in the answer');
  const setCookie = String(res.headers['set-cookie']);
  t.match(setCookie, /^cms_session=[^;]+;/);
  t.match(setCookie, /;\s*HttpOnly(;|$)/i, 'HttpOnly');
  t.match(setCookie, /;\s*SameSite=Lax(;|$)/i, 'SameSite=Lax');
  t.match(setCookie, /;\s*Path=\/(;|$)/i, 'Path=/');
  t.notMatch(setCookie, /;\s*Secure/i, 'no Secure without an https PUBLIC_URL');
  t.notMatch(setCookie, /Domain=/i, 'a host-only cookie');

  const headers = { cookie: cookieFrom(res), origin: originOf(app) };
  const who = await me(app, headers);
  t.equal(who.status, 200);
  t.match(who.body.data, { kind: 'user', _id: user.id, role: 'editor' });
  t.equal(who.headers['cache-control'], 'private, no-store', 'authenticated answers are not cached');

  const foreign = await send(app, 'POST', '/api/auth/login', { body: { email: user.email, password: PASSWORD }, headers: { origin: 'https://evil.example' }, ip: freshIp() });
  t.equal(foreign.status, 403, 'sign-in from a foreign page');
  t.equal(foreign.body.error.code, 'CMS_ERR_CSRF');
  t.notOk(foreign.headers['set-cookie']);

  const noOrigin = await send(app, 'POST', '/api/auth/logout', { headers: { cookie: headers.cookie } });
  t.equal(noOrigin.status, 403, 'sign-out without Origin is refused');
  t.equal(noOrigin.body.error.code, 'CMS_ERR_CSRF');
  t.equal((await me(app, headers)).status, 200, 'the session survived the forged sign-out');

  const out = await send(app, 'POST', '/api/auth/logout', { headers });
  t.equal(out.status, 204);
  t.match(String(out.headers['set-cookie']), /^cms_session=;/, 'the cookie is blanked');
  assertInvalid(t, await me(app, headers), 'the signed-out session');

  const anonymous = await me(app, {});
  t.equal(anonymous.status, 401);
  t.equal(anonymous.body.error.code, 'CMS_ERR_AUTH_REQUIRED', 'no credentials: AUTH_REQUIRED');
  const madeUp = await me(app, { cookie: 'cms_session=abcdefghijklmnopqrstuvwxyz234567' });
  assertInvalid(t, madeUp, 'a made-up session id');
  t.match(String(madeUp.headers['set-cookie']), /^cms_session=;/, 'a dead session cookie is cleared');
});

// ---------------------------------------------------------------------------------------------
// brute force

t.test('guessing one account: 429 after the limit, even with the right password, whatever the email looks like', async (t) => {
  const user = await makeUser(app, 'admin');
  for (let i = 1; i <= 3; i++) {
    const res = await login(app, user.email, `wrong guess number ${i}`, freshIp());
    t.equal(res.status, 401, `guess ${i}: 401`);
  }
  const limited = await login(app, user.email, 'wrong guess number 4', freshIp());
  t.equal(limited.status, 429, 'the fourth guess is refused');
  t.equal(limited.body.error.code, 'CMS_ERR_RATE_LIMITED');
  const retry = Number(limited.headers['retry-after']);
  t.ok(retry >= 1 && retry <= 60, `Retry-After within the window (${limited.headers['retry-after']})`);

  const right = await login(app, user.email, PASSWORD, freshIp());
  t.equal(right.status, 429, 'the right password during the lock-out: still 429');
  t.notOk(right.headers['set-cookie'], 'and no session');

  for (const variant of [user.email.toUpperCase(), ` ${user.email} `, `\t${user.email}\n`, user.email.replace('person', 'PERSON')]) {
    const res = await login(app, variant, PASSWORD, freshIp());
    t.equal(res.status, 429, `${JSON.stringify(variant)}: the same account, still 429`);
  }
  for (const extra of [{ remember: true }, { email2: user.email }, { password2: PASSWORD }]) {
    const res = await login(app, user.email, PASSWORD, freshIp(), extra);
    t.equal(res.status, 400, `extra field ${Object.keys(extra)[0]}: 400, not a way around the limit`);
    t.notOk(res.headers['set-cookie']);
  }
  t.equal((await login(app, 'someone.else@example.com', 'whatever password', freshIp())).status, 401, 'other accounts are not locked');

  skew += 61_000;
  const later = await login(app, user.email, PASSWORD, freshIp());
  t.equal(later.status, 200, 'after the window the right password works');
});

t.test('guessing from one address across many emails: 429 after the per-IP limit', async (t) => {
  const user = await makeUser(app, 'editor');
  const ip = freshIp();
  for (let i = 1; i <= 6; i++) {
    const res = await login(app, `rotating${i}@example.com`, 'some password', ip);
    t.equal(res.status, 401, `email ${i}: 401`);
  }
  const seventh = await login(app, 'rotating7@example.com', 'some password', ip);
  t.equal(seventh.status, 429, 'a seventh email from the same address');
  t.equal(seventh.body.error.code, 'CMS_ERR_RATE_LIMITED');
  t.ok(Number(seventh.headers['retry-after']) >= 1);
  const right = await login(app, user.email, PASSWORD, ip);
  t.equal(right.status, 429, 'even a real account with its right password, from that address');
  const elsewhere = await login(app, user.email, PASSWORD, freshIp());
  t.equal(elsewhere.status, 200, 'the same sign-in from another address works');
});

t.test('parallel guesses cannot get past the account limit', async (t) => {
  const user = await makeUser(app, 'admin');
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => login(app, user.email, `parallel guess ${i}`, freshIp())));
  const checked = results.filter((r) => r.status === 401).length;
  const limited = results.filter((r) => r.status === 429).length;
  t.equal(checked + limited, 10, 'every guess is either checked (401) or refused (429)');
  t.ok(checked <= 3, `at most LOGIN_MAX_PER_ACCOUNT (3) passwords are checked, got ${checked}`);
  const after = await login(app, user.email, PASSWORD, freshIp());
  t.equal(after.status, 429, 'the account is locked afterwards');
});

// ---------------------------------------------------------------------------------------------
// changes to a user end their sessions and void their tokens at once

t.test('suspending, demoting or re-addressing a user ends every session of theirs at once', async (t) => {
  const admin = await makeUser(app, 'admin');
  const patch = (id: string, body: Json) => send(app, 'PATCH', `/api/users/${id}`, { body, headers: admin.headers });

  const suspended = await makeUser(app, 'editor');
  const second = await sessionOf(app, suspended.id);
  t.equal((await me(app, suspended.headers)).status, 200, 'signed in before');
  const res = await patch(suspended.id, { status: 'suspended' });
  t.equal(res.status, 200);
  t.equal(res.body.data.status, 'suspended');
  assertInvalid(t, await me(app, suspended.headers), 'a suspended user\'s session');
  assertInvalid(t, await me(app, second), 'their other session');
  const write = await send(app, 'POST', '/api/content/category', { body: { name: 'By a suspended user', slug: 'suspended' }, headers: suspended.headers });
  assertInvalid(t, write, 'a write by the suspended user');
  t.equal(await app.mongo.db.collection('content_category').countDocuments({ slug: 'suspended' }), 0, 'nothing written');
  t.equal((await login(app, suspended.email, PASSWORD, freshIp())).status, 401, 'a suspended user cannot sign in');
  t.equal((await patch(suspended.id, { status: 'active' })).status, 200);
  assertInvalid(t, await me(app, suspended.headers), 'reactivation does not revive the old session');

  for (const [from, to] of [['admin', 'editor'], ['editor', 'author'], ['author', 'viewer'], ['editor', 'viewer']] as const) {
    const user = await makeUser(app, from);
    t.equal((await me(app, user.headers)).status, 200);
    const down = await patch(user.id, { role: to });
    t.equal(down.status, 200, `${from} → ${to}`);
    assertInvalid(t, await me(app, user.headers), `${from} demoted to ${to}`);
  }

  const moved = await makeUser(app, 'author');
  t.equal((await patch(moved.id, { email: `moved.${moved.email}` })).status, 200);
  assertInvalid(t, await me(app, moved.headers), 'a changed email');

  const renamed = await makeUser(app, 'author');
  t.equal((await patch(renamed.id, { name: 'Another Name' })).status, 200);
  t.equal((await me(app, renamed.headers)).status, 200, 'a new name alone keeps the session');
  t.equal((await patch(renamed.id, { role: 'author' })).status, 200);
  t.equal((await me(app, renamed.headers)).status, 200, 'the same role again changes nothing');
});

t.test('a password change ends every other session; the caller continues on a new cookie', async (t) => {
  const user = await makeUser(app, 'editor');
  const other = await sessionOf(app, user.id);
  const res = await send(app, 'POST', '/api/auth/password', { body: { current: PASSWORD, password: NEW_PASSWORD }, headers: user.headers });
  t.equal(res.status, 204);
  const fresh = { cookie: cookieFrom(res), origin: originOf(app) };
  t.not(fresh.cookie, user.headers.cookie, 'a new session id');
  t.match(String(res.headers['set-cookie']), /HttpOnly/i);
  assertInvalid(t, await me(app, user.headers), 'the session that changed the password');
  assertInvalid(t, await me(app, other), 'another session');
  t.equal((await me(app, fresh)).status, 200, 'the new cookie works');
  t.equal((await login(app, user.email, PASSWORD, freshIp())).status, 401, 'the old password is gone');
  t.equal((await login(app, user.email, NEW_PASSWORD, freshIp())).status, 200, 'the new one works');
});

t.test('password changes: bad input, policy, wrong current password, CSRF, tokens', async (t) => {
  const user = await makeUser(app, 'author');
  const change = (body: unknown, headers = user.headers) => send(app, 'POST', '/api/auth/password', { body, headers });
  for (const [what, body] of [
    ['password as an object', { current: PASSWORD, password: { toString: NEW_PASSWORD } }],
    ['password as an operator object', { current: PASSWORD, password: { $ne: '' } }],
    ['current as an array', { current: [PASSWORD], password: NEW_PASSWORD }],
    ['empty strings', { current: '', password: '' }],
    ['no current', { password: NEW_PASSWORD }],
    ['an extra field', { current: PASSWORD, password: NEW_PASSWORD, userId: 'someone' }],
  ] as const) {
    const res = await change(body);
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(res.body.error.code, JSON.stringify(body).includes('"$') ? 'CMS_ERR_BODY_FORBIDDEN_KEY' : 'CMS_ERR_AUTH_VALIDATION', what);
  }
  const localPart = user.email.split('@')[0]!;
  for (const [what, password] of [
    ['11 characters', 'abcdefghij1'],
    ['4 different characters', 'abcdabcdabcdabcd'],
    ['the email\'s local part', `my ${localPart} secret!!`],
    ['the name', `xx${user.name.toUpperCase()}yy zz`],
  ] as const) {
    const res = await change({ current: PASSWORD, password });
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(res.body.error.code, 'CMS_ERR_PASSWORD_POLICY', what);
  }
  const wrong = await change({ current: 'this is not it, sorry', password: NEW_PASSWORD });
  t.equal(wrong.status, 403);
  t.equal(wrong.body.error.code, 'CMS_ERR_PASSWORD_WRONG');

  const noOrigin = await change({ current: PASSWORD, password: NEW_PASSWORD }, { cookie: user.headers.cookie! });
  t.equal(noOrigin.status, 403);
  t.equal(noOrigin.body.error.code, 'CMS_ERR_CSRF');
  const anonymous = await change({ current: PASSWORD, password: NEW_PASSWORD }, {});
  t.equal(anonymous.status, 401);
  t.equal(anonymous.body.error.code, 'CMS_ERR_AUTH_REQUIRED');
  const owner = await makeUser(app, 'admin');
  const { secret } = await app.auth.createToken(owner.id, { name: 'all scopes', scopes: ['content:read', 'content:preview', 'content:write', 'media:write'] });
  const byToken = await change({ current: PASSWORD, password: NEW_PASSWORD }, { authorization: `Bearer ${secret}` });
  t.equal(byToken.status, 403, 'an API token cannot change a password');
  t.equal(byToken.body.error.code, 'CMS_ERR_FORBIDDEN');

  t.equal((await me(app, user.headers)).status, 200, 'none of that ended the session');
  t.equal((await login(app, user.email, PASSWORD, freshIp())).status, 200, 'the password is unchanged');

  // wrong current passwords count against the account, like failed sign-ins
  const guesser = await makeUser(app, 'viewer');
  for (let i = 0; i < 3; i++) t.equal((await change({ current: `wrong current ${i} xx`, password: NEW_PASSWORD }, guesser.headers)).status, 403);
  const locked = await change({ current: PASSWORD, password: NEW_PASSWORD }, guesser.headers);
  t.equal(locked.status, 429, 'guessing the current password is rate limited too');
  t.equal(locked.body.error.code, 'CMS_ERR_RATE_LIMITED');
});

t.test('a token is voided at once when its admin is suspended, demoted, removed or changes password', async (t) => {
  const acting = await makeUser(app, 'admin');
  const patch = (id: string, body: Json) => send(app, 'PATCH', `/api/users/${id}`, { body, headers: acting.headers });
  const tokenOf = async (admin: User) => {
    const res = await send(app, 'POST', '/api/tokens', { body: { name: `made by ${admin.name}`, scopes: ['content:read', 'content:write'] }, headers: admin.headers });
    t.equal(res.status, 201);
    const headers = { authorization: `Bearer ${res.body.secret as string}` };
    const ok = await me(app, headers);
    t.equal(ok.status, 200, 'the token works at first');
    t.equal(ok.body.data.kind, 'token');
    return headers;
  };
  const write = (headers: Record<string, string>, slug: string) => send(app, 'POST', '/api/content/category', { body: { name: slug, slug }, headers });

  const suspended = await makeUser(app, 'admin');
  const t1 = await tokenOf(suspended);
  t.equal((await patch(suspended.id, { status: 'suspended' })).status, 200);
  assertInvalid(t, await me(app, t1), 'the token of a suspended admin');
  assertInvalid(t, await write(t1, 'by-suspended'), 'a write with it');
  t.equal((await patch(suspended.id, { status: 'active' })).status, 200);
  assertInvalid(t, await me(app, t1), 'still void after reactivation');

  const demoted = await makeUser(app, 'admin');
  const t2 = await tokenOf(demoted);
  t.equal((await patch(demoted.id, { role: 'editor' })).status, 200);
  assertInvalid(t, await me(app, t2), 'the token of a demoted admin');
  assertInvalid(t, await write(t2, 'by-demoted'), 'a write with it');
  t.equal((await patch(demoted.id, { role: 'admin' })).status, 200);
  assertInvalid(t, await me(app, t2), 'still void after promotion back');

  const changer = await makeUser(app, 'admin');
  const t3 = await tokenOf(changer);
  const changed = await send(app, 'POST', '/api/auth/password', { body: { current: PASSWORD, password: NEW_PASSWORD }, headers: changer.headers });
  t.equal(changed.status, 204);
  assertInvalid(t, await me(app, t3), 'the token of an admin who changed password');
  assertInvalid(t, await write(t3, 'by-changer'), 'a write with it');
  const t3b = await tokenOf({ ...changer, headers: { cookie: cookieFrom(changed), origin: originOf(app) } });
  t.equal((await me(app, t3b)).status, 200, 'a token made after the change works');

  const removed = await makeUser(app, 'admin');
  const t4 = await tokenOf(removed);
  t.equal((await send(app, 'DELETE', `/api/users/${removed.id}`, { headers: acting.headers })).status, 204);
  assertInvalid(t, await me(app, t4), 'the token of a deleted admin');
  assertInvalid(t, await me(app, removed.headers), 'and the deleted admin\'s session');

  t.equal(await app.mongo.db.collection('content_category').countDocuments({ slug: { $in: ['by-suspended', 'by-demoted', 'by-changer'] } }), 0, 'nothing was written with a void token');
});

// ---------------------------------------------------------------------------------------------
// tokens

t.test('tokens: shape, validation, expiry, revocation, malformed secrets', async (t) => {
  const admin = await makeUser(app, 'admin');
  const create = (body: unknown, headers = admin.headers) => send(app, 'POST', '/api/tokens', { body, headers });

  const made = await create({ name: 'Site build', scopes: ['content:read'], types: ['article', 'category'] });
  t.equal(made.status, 201);
  t.match(made.body.secret, /^cmst_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$/, 'the secret format');
  t.match(made.body.data, { name: 'Site build', scopes: ['content:read'], types: ['article', 'category'], createdBy: admin.id });
  t.equal(made.body.secret.slice(5, 29), made.body.data._id, 'the secret starts with the token id');
  t.notOk('hash' in made.body.data, 'no hash in the answer');
  t.equal(made.headers['cache-control'], 'private, no-store', 'the secret is not cached');
  const stored = await app.mongo.db.collection('tokens').findOne({ _id: made.body.data._id });
  t.notOk(JSON.stringify(stored).includes(made.body.secret.slice(30)), 'the secret itself is not stored');
  const list = await send(app, 'GET', '/api/tokens', { headers: admin.headers });
  t.equal(list.status, 200);
  t.ok(list.body.data.some((x: Json) => x._id === made.body.data._id));
  t.notOk(list.raw.includes(made.body.secret.slice(30)), 'the list never shows secrets');
  t.notMatch(list.raw, /"hash"/, 'nor hashes');

  for (const [what, body] of [
    ['no scopes', { name: 'x', scopes: [] }],
    ['an unknown scope', { name: 'x', scopes: ['admin'] }],
    ['a scope as a string', { name: 'x', scopes: 'content:read' }],
    ['a duplicated scope', { name: 'x', scopes: ['content:read', 'content:read'] }],
    ['an odd type name', { name: 'x', scopes: ['content:read'], types: ['../users'] }],
    ['an empty name', { name: '', scopes: ['content:read'] }],
    ['an expiry in the past', { name: 'x', scopes: ['content:read'], expiresAt: new Date(clock().getTime() - 60_000).toISOString() }],
    ['an expiry that is not a date-time', { name: 'x', scopes: ['content:read'], expiresAt: 'tomorrow' }],
    ['an extra field', { name: 'x', scopes: ['content:read'], createdBy: 'someone else' }],
  ] as const) {
    const res = await create(body);
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(res.body.error.code, 'CMS_ERR_AUTH_VALIDATION', what);
  }

  // expiry, on the app's clock
  const soon = await create({ name: 'Soon gone', scopes: ['content:read'], expiresAt: new Date(clock().getTime() + 3600_000).toISOString() });
  t.equal(soon.status, 201);
  const soonHeaders = { authorization: `Bearer ${soon.body.secret as string}` };
  t.equal((await me(app, soonHeaders)).status, 200, 'valid before it expires');
  skew += 3601_000;
  const expired = await me(app, soonHeaders);
  assertInvalid(t, expired, 'an expired token');
  t.match(expired.body.error.message, /expired/);
  assertInvalid(t, await send(app, 'GET', '/api/content/article', { headers: soonHeaders }), 'an expired token on a public read');

  // revocation
  const live = { authorization: `Bearer ${made.body.secret as string}` };
  t.equal((await send(app, 'GET', '/api/content/article', { headers: live })).status, 200);
  const revoked = await send(app, 'DELETE', `/api/tokens/${made.body.data._id as string}`, { headers: admin.headers });
  t.equal(revoked.status, 200);
  t.ok(revoked.body.data.revokedAt, 'revokedAt is set');
  assertInvalid(t, await send(app, 'GET', '/api/content/article', { headers: live }), 'a revoked token');
  assertInvalid(t, await me(app, live), 'a revoked token on /me');
  t.equal((await send(app, 'DELETE', `/api/tokens/${made.body.data._id as string}`, { headers: admin.headers })).status, 200, 'revoking twice is fine');
  const missing = await send(app, 'DELETE', '/api/tokens/0123456789abcdef01234567', { headers: admin.headers });
  t.equal(missing.status, 404);
  t.equal(missing.body.error.code, 'CMS_ERR_TOKEN_NOT_FOUND');

  // malformed and forged secrets
  const good = await create({ name: 'Good', scopes: ['content:read'] });
  const secret = good.body.secret as string;
  const [, id, key] = /^cmst_([0-9a-f]{24})_(.+)$/.exec(secret)!;
  const flipped = key!.slice(0, -1) + (key!.endsWith('A') ? 'B' : 'A');
  for (const [what, authorization] of [
    ['garbage', 'Bearer nonsense'],
    ['a wrong key', `Bearer cmst_${id}_${flipped}`],
    ['an unknown id', `Bearer cmst_0123456789abcdef01234567_${key}`],
    ['a short key', `Bearer cmst_${id}_${key!.slice(1)}`],
    ['the key alone', `Bearer ${key}`],
    ['another scheme', `Basic ${Buffer.from(`x:${secret}`).toString('base64')}`],
    ['no token', 'Bearer '],
    ['two tokens', `Bearer ${secret} ${secret}`],
    ['an empty header', ''],
  ] as const) {
    assertInvalid(t, await send(app, 'GET', '/api/content/article', { headers: { authorization } }), what);
  }
  t.equal((await send(app, 'GET', '/api/content/article', { headers: { authorization: `bearer ${secret}` } })).status, 200, 'the scheme is case-insensitive');
  const both = await send(app, 'GET', '/api/auth/me', { headers: { authorization: `Bearer ${secret}`, cookie: admin.headers.cookie! } });
  t.equal(both.body.data.kind, 'token', 'a bearer token wins over a cookie');
});

t.test('tokens and users are for admins only', async (t) => {
  const editor = await makeUser(app, 'editor');
  const admin = await makeUser(app, 'admin');
  const { secret } = await app.auth.createToken(admin.id, { name: 'everything', scopes: ['content:read', 'content:preview', 'content:write', 'media:write'] });
  const token = { authorization: `Bearer ${secret}` };
  const usersBefore = await app.mongo.db.collection('users').countDocuments({});
  const tokensBefore = await app.mongo.db.collection('tokens').countDocuments({});
  const newUser = { email: 'sneaky.new@example.com', name: 'Sneaky', password: PASSWORD, role: 'admin' };
  const newToken = { name: 'sneaky', scopes: ['content:write'] };
  for (const [who, headers, status] of [['an editor', editor.headers, 403], ['a token', token, 403], ['anonymous', {}, 401]] as const) {
    for (const [method, url, body] of [
      ['GET', '/api/users', undefined],
      ['POST', '/api/users', newUser],
      ['GET', `/api/users/${admin.id}`, undefined],
      ['PATCH', `/api/users/${admin.id}`, { role: 'viewer' }],
      ['PATCH', `/api/users/${editor.id}`, { role: 'admin' }],
      ['DELETE', `/api/users/${admin.id}`, undefined],
      ['GET', '/api/tokens', undefined],
      ['POST', '/api/tokens', newToken],
      ['DELETE', `/api/tokens/${secret.slice(5, 29)}`, undefined],
    ] as const) {
      const res = await send(app, method, url, { headers, ...(body ? { body } : {}) });
      t.equal(res.status, status, `${who}: ${method} ${url} → ${status}`);
      t.notOk(res.body.data, 'no data');
      t.notMatch(res.raw, /argon2|passwordHash/);
    }
  }
  const self = await send(app, 'PATCH', '/api/auth/me', { body: { name: 'Renamed', role: 'admin' }, headers: editor.headers });
  t.equal(self.status, 400, 'nobody sets their own role through /me');
  const rename = await send(app, 'PATCH', '/api/auth/me', { body: { name: 'Edited Name' }, headers: editor.headers });
  t.equal(rename.status, 200);
  t.equal(rename.body.data.role, 'editor');
  t.equal(await app.mongo.db.collection('users').countDocuments({}), usersBefore, 'no user was created');
  t.equal(await app.mongo.db.collection('users').countDocuments({ _id: admin.id, role: 'admin', status: 'active' } as Json), 1, 'the admin is untouched');
  t.equal(await app.mongo.db.collection('users').countDocuments({ _id: editor.id, role: 'editor' } as Json), 1, 'the editor is still an editor');
  t.equal(await app.mongo.db.collection('tokens').countDocuments({}), tokensBefore, 'no token was created');
  t.equal(await app.mongo.db.collection('tokens').countDocuments({ revokedAt: { $exists: true }, _id: secret.slice(5, 29) } as Json), 0, 'none was revoked');
});

t.test('users: create, list, update, delete; bad input', async (t) => {
  const admin = await makeUser(app, 'admin');
  const post = (body: unknown) => send(app, 'POST', '/api/users', { body, headers: admin.headers });
  const created = await post({ email: 'New.Person@Example.COM', name: '  New Person ', password: PASSWORD, role: 'author' });
  t.equal(created.status, 201);
  t.match(created.body.data, { email: 'new.person@example.com', name: 'New Person', role: 'author', status: 'active' });
  t.equal(created.headers.location, `/api/users/${created.body.data._id as string}`);
  t.notMatch(created.raw, /argon2|passwordHash/);
  const dup = await post({ email: 'NEW.person@example.com', name: 'Twin', password: PASSWORD, role: 'viewer' });
  t.equal(dup.status, 409, 'an email differing only in case is taken');
  t.equal(dup.body.error.code, 'CMS_ERR_USER_EMAIL_TAKEN');
  for (const [what, body, code] of [
    ['a weak password', { email: 'weak@example.com', name: 'Weak', password: 'short', role: 'author' }, 'CMS_ERR_PASSWORD_POLICY'],
    ['a password holding the email', { email: 'weakling@example.com', name: 'Weak', password: 'my weakling password', role: 'author' }, 'CMS_ERR_PASSWORD_POLICY'],
    ['an unknown role', { email: 'role@example.com', name: 'Role', password: PASSWORD, role: 'owner' }, 'CMS_ERR_AUTH_VALIDATION'],
    ['a status', { email: 'status@example.com', name: 'S', password: PASSWORD, role: 'author', status: 'active' }, 'CMS_ERR_AUTH_VALIDATION'],
    ['a password hash', { email: 'hash@example.com', name: 'H', password: PASSWORD, role: 'author', passwordHash: 'x' }, 'CMS_ERR_AUTH_VALIDATION'],
    ['a bad email', { email: 'not an email', name: 'E', password: PASSWORD, role: 'author' }, 'CMS_ERR_AUTH_VALIDATION'],
    ['an email as an object', { email: { address: 'e@example.com' }, name: 'E', password: PASSWORD, role: 'author' }, 'CMS_ERR_AUTH_VALIDATION'],
    ['an email as an operator object', { email: { $ne: '' }, name: 'E', password: PASSWORD, role: 'author' }, 'CMS_ERR_BODY_FORBIDDEN_KEY'],
  ] as const) {
    const res = await post(body);
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(res.body.error.code, code, what);
  }
  const list = await send(app, 'GET', '/api/users', { headers: admin.headers });
  t.equal(list.status, 200);
  t.ok(list.body.data.some((u: Json) => u.email === 'new.person@example.com'));
  t.notMatch(list.raw, /argon2|passwordHash|credentialsChangedAt/, 'no hashes in the list');

  const id = created.body.data._id as string;
  for (const [what, body] of [
    ['nothing', {}],
    ['a password hash', { passwordHash: 'x' }],
    ['a password', { password: NEW_PASSWORD }],
    ['an unknown role', { role: 'root' }],
    ['an unknown status', { status: 'deleted' }],
  ] as const) {
    const res = await send(app, 'PATCH', `/api/users/${id}`, { body, headers: admin.headers });
    t.equal(res.status, 400, `PATCH ${what}: 400`);
  }
  const clash = await send(app, 'PATCH', `/api/users/${id}`, { body: { email: admin.email.toUpperCase() }, headers: admin.headers });
  t.equal(clash.status, 409, 'taking another user\'s email');
  t.equal(clash.body.error.code, 'CMS_ERR_USER_EMAIL_TAKEN');
  for (const bad of ['nope', '0123456789abcdef01234567', '0123456789ABCDEF01234567']) {
    const res = await send(app, 'GET', `/api/users/${bad}`, { headers: admin.headers });
    t.equal(res.status, 404, `GET /api/users/${bad}`);
    t.equal(res.body.error.code, 'CMS_ERR_USER_NOT_FOUND');
  }
  const signedIn = await login(app, 'new.person@example.com', PASSWORD, freshIp());
  t.equal(signedIn.status, 200);
  const their = { cookie: cookieFrom(signedIn), origin: originOf(app) };
  t.equal((await send(app, 'DELETE', `/api/users/${id}`, { headers: admin.headers })).status, 204);
  assertInvalid(t, await me(app, their), 'a deleted user\'s session');
  t.equal((await login(app, 'new.person@example.com', PASSWORD, freshIp())).status, 401, 'a deleted user cannot sign in');
  t.equal((await send(app, 'DELETE', `/api/users/${id}`, { headers: admin.headers })).status, 404, 'deleting twice: 404');
});

t.test('the last active admin cannot be demoted, suspended or deleted', async (t) => {
  const solo = await buildTestApp(t, { as: 'anonymous' });
  const a = await makeUser(solo, 'admin');
  const patch = (by: User, id: string, body: Json) => send(solo, 'PATCH', `/api/users/${id}`, { body, headers: by.headers });
  for (const [what, res] of [
    ['demoted', await patch(a, a.id, { role: 'editor' })],
    ['suspended', await patch(a, a.id, { status: 'suspended' })],
    ['deleted', await send(solo, 'DELETE', `/api/users/${a.id}`, { headers: a.headers })],
  ] as const) {
    t.equal(res.status, 409, `the last admin ${what}: 409`);
    t.equal(res.body.error.code, 'CMS_ERR_USER_LAST_ADMIN', what);
  }
  t.equal((await me(solo, a.headers)).status, 200, 'and still signed in');

  const b = await makeUser(solo, 'admin');
  t.equal((await patch(a, b.id, { status: 'suspended' })).status, 200, 'another admin may be suspended');
  t.equal((await patch(a, a.id, { role: 'viewer' })).status, 409, 'a suspended admin does not count');
  t.equal((await patch(a, b.id, { status: 'active' })).status, 200);
  const bHeaders = await sessionOf(solo, b.id);
  t.equal((await patch({ ...b, headers: bHeaders }, a.id, { role: 'editor' })).status, 200, 'with two active admins one may be demoted');
  t.equal((await patch({ ...b, headers: bHeaders }, b.id, { role: 'editor' })).status, 409, 'now b is the last');
  t.equal((await send(solo, 'DELETE', `/api/users/${b.id}`, { headers: bHeaders })).status, 409);
  t.equal(await solo.mongo.db.collection('users').countDocuments({ role: 'admin', status: 'active' }), 1);
});

t.test('admins demoting themselves at the same moment leave an admin', async (t) => {
  const many = await buildTestApp(t, { as: 'anonymous' });
  const admins = [];
  for (let i = 0; i < 5; i++) admins.push(await makeUser(many, 'admin'));
  const results = await Promise.all(admins.map((a) => send(many, 'PATCH', `/api/users/${a.id}`, { body: { role: 'editor' }, headers: a.headers })));
  const statuses = results.map((r) => r.status);
  t.ok(statuses.includes(409), `at least one is refused as the last admin (got ${statuses.join(', ')})`);
  t.ok(statuses.every((s) => s === 200 || s === 409), 'every answer is a success or CMS_ERR_USER_LAST_ADMIN');
  const left = await many.mongo.db.collection('users').countDocuments({ role: 'admin', status: 'active' });
  t.ok(left >= 1, `an active admin is left (${left})`);
});

// ---------------------------------------------------------------------------------------------
// sessions and cookies under an https PUBLIC_URL; session lifetime

t.test('under an https PUBLIC_URL: Secure cookies, HSTS, and Origin checked against PUBLIC_URL', async (t) => {
  const secure = await buildTestApp(t, { as: 'anonymous', env: { PUBLIC_URL: 'https://cms.example' } });
  const user = await makeUser(secure, 'editor');
  t.equal(originOf(secure), 'https://cms.example');
  const res = await send(secure, 'POST', '/api/auth/login', { body: { email: user.email, password: PASSWORD }, headers: { origin: 'https://cms.example' } });
  t.equal(res.status, 200);
  const setCookie = String(res.headers['set-cookie']);
  t.match(setCookie, /;\s*Secure(;|$)/i, 'Secure');
  t.match(setCookie, /;\s*HttpOnly(;|$)/i, 'HttpOnly');
  t.match(setCookie, /;\s*SameSite=Lax(;|$)/i, 'SameSite=Lax');
  t.match(setCookie, /;\s*Path=\/(;|$)/i, 'Path=/');
  t.ok(res.headers['strict-transport-security'], 'HSTS under https');
  t.notOk((await send(app, 'GET', '/api/health')).headers['strict-transport-security'], 'no HSTS under http');

  const cookie = cookieFrom(res);
  const hostOrigin = await send(secure, 'POST', '/api/content/category', { body: { name: 'Host origin', slug: 'host-origin' }, headers: { cookie, origin: 'http://localhost:80' } });
  t.equal(hostOrigin.status, 403, 'with PUBLIC_URL set, the Host-derived origin is foreign');
  t.equal(hostOrigin.body.error.code, 'CMS_ERR_CSRF');
  const http = await send(secure, 'POST', '/api/content/category', { body: { name: 'Plain http', slug: 'plain-http' }, headers: { cookie, origin: 'http://cms.example' } });
  t.equal(http.status, 403, 'http:// is another origin');
  const own = await send(secure, 'POST', '/api/content/category', { body: { name: 'Own origin', slug: 'own-origin' }, headers: { cookie, origin: 'https://cms.example' } });
  t.equal(own.status, 201, 'PUBLIC_URL\'s origin is ours');
  t.equal(await secure.mongo.db.collection('content_category').countDocuments({}), 1, 'only that one was written');
  const loginFromHost = await send(secure, 'POST', '/api/auth/login', { body: { email: user.email, password: PASSWORD }, headers: { origin: 'http://localhost:80' } });
  t.equal(loginFromHost.status, 403, 'sign-in from the Host-derived origin is foreign too');
});

t.test('a session ends after SESSION_MAX_HOURS however active', async (t) => {
  let offset = 0;
  const short = await buildTestApp(t, { as: 'anonymous', now: () => new Date(Date.now() + offset), env: { SESSION_MAX_HOURS: '1' } });
  const user = await makeUser(short, 'viewer');
  t.equal((await me(short, user.headers)).status, 200);
  offset = 30 * 60_000;
  t.equal((await me(short, user.headers)).status, 200, 'half an hour on');
  offset = 61 * 60_000;
  assertInvalid(t, await me(short, user.headers), 'past the maximum lifetime');
});

// ---------------------------------------------------------------------------------------------
// first-run setup

t.test('setup: only with the one-time token, only while nobody exists, only once', async (t) => {
  const fresh = await buildTestApp(t, { as: 'anonymous' });
  const origin = { origin: originOf(fresh) };
  const body = (token: string, extra: Json = {}) => ({ token, email: 'First.Admin@Example.com', name: 'First Admin', password: PASSWORD, ...extra });
  const setup = (b: unknown, headers: Record<string, string> = origin) => send(fresh, 'POST', '/api/auth/setup', { body: b, headers });

  const early = await setup(body('made-up-token'));
  t.equal(early.status, 403, 'no setup token was issued yet');
  t.equal(early.body.error.code, 'CMS_ERR_SETUP_TOKEN');

  const token = await fresh.auth.openSetup();
  t.type(token, 'string');
  const wrong = await setup(body(`${token!}x`));
  t.equal(wrong.status, 403, 'a wrong token');
  t.equal(wrong.body.error.code, 'CMS_ERR_SETUP_TOKEN');
  for (const [what, b, code] of [
    ['a token as an object', body('x', { token: { value: token } }), 'CMS_ERR_AUTH_VALIDATION'],
    ['a token as an operator object', body('x', { token: { $ne: '' } }), 'CMS_ERR_BODY_FORBIDDEN_KEY'],
    ['a role', body(token!, { role: 'viewer' }), 'CMS_ERR_AUTH_VALIDATION'],
    ['no password', { token, email: 'a@example.com', name: 'A' }, 'CMS_ERR_AUTH_VALIDATION'],
    ['a weak password', body(token!, { password: 'aaaaaaaaaaaaaaaaaaaa' }), 'CMS_ERR_PASSWORD_POLICY'],
  ] as const) {
    const res = await setup(b);
    t.equal(res.status, 400, `${what}: 400`);
    t.equal(res.body.error.code, code, what);
  }
  const foreign = await setup(body(token!), { origin: 'https://evil.example' });
  t.equal(foreign.status, 403, 'from a foreign page');
  t.equal(foreign.body.error.code, 'CMS_ERR_CSRF');
  t.equal(await fresh.mongo.db.collection('users').countDocuments({}), 0, 'nobody exists yet');

  const [one, two] = await Promise.all([setup(body(token!)), setup(body(token!, { email: 'second.admin@example.com' }))]);
  t.equal([one, two].filter((r) => r.status === 201).length, 1, 'exactly one of two simultaneous setups succeeds');
  const winner = one.status === 201 ? one : two;
  const loser = one.status === 201 ? two : one;
  t.ok(['CMS_ERR_SETUP_TOKEN', 'CMS_ERR_SETUP_CLOSED'].includes(loser.body.error?.code), `the other is refused (${loser.status} ${loser.body.error?.code as string})`);
  t.equal(winner.body.data.role, 'admin');
  t.match(String(winner.headers['set-cookie']), /^cms_session=[^;]+;.*HttpOnly/i, 'signed in at once');
  const admin = { cookie: cookieFrom(winner), origin: originOf(fresh) };
  t.equal((await me(fresh, admin)).body.data.role, 'admin');
  t.equal(await fresh.mongo.db.collection('users').countDocuments({}), 1, 'one user');

  const again = await setup(body(token!, { email: 'late@example.com' }));
  t.equal(again.status, 404, 'setup is closed once an admin exists');
  t.equal(again.body.error.code, 'CMS_ERR_SETUP_CLOSED');
  const wrongAfter = await setup(body('still-wrong', { email: 'late@example.com' }));
  t.equal(wrongAfter.status, 404, 'closed whatever the token');
  t.equal(await fresh.auth.openSetup(), undefined, 'no new setup token once users exist');
  t.equal(await fresh.mongo.db.collection('users').countDocuments({}), 1, 'still one user');

  const audit = await send(fresh, 'GET', '/api/audit?filter[action]=setup', { headers: admin });
  t.equal(audit.status, 200);
  t.equal(audit.body.data.length, 1, 'the setup is in the audit log');
  t.match(audit.body.data[0], { action: 'setup', actorType: 'user', actorId: winner.body.data._id, ip: '127.0.0.1' });
});
