// `cms users …` and `cms tokens …`: run in-process against the test database, checked through the
// HTTP API built on the same database (sessions end, sign-ins fail, tokens work until revoked).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { run } from '../src/cli/index.js';
import { parseExpiry } from '../src/cli/tokens.js';
import type { Io } from '../src/cli/shared.js';
import { buildTestApp, EXAMPLE_TYPES, originOf, ROOT, send, type Json, type Res } from './helpers.js';

const app = await buildTestApp(t, { as: 'anonymous' });
const db = app.mongo.db;

// the command line reads its configuration from this environment: the test's own database
const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', MONGODB_DB: db.databaseName, CONTENT_TYPES_DIR: EXAMPLE_TYPES };

interface Result {
  code: number;
  out: string;
  err: string;
  /** stdout parsed, when it is JSON */
  json: Json;
}

/** Runs `cms <args>` in-process; `stdin` is what standard input holds (empty by default). */
async function cms(args: string[], stdin = '', extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
  let out = '';
  let err = '';
  const io: Io = { out: (s) => void (out += s), err: (s) => void (err += s), tty: false, stdin: Readable.from(stdin ? [Buffer.from(stdin)] : []), env: { ...env, ...extraEnv } };
  const code = await run(args, io);
  let json: Json = {};
  try {
    json = JSON.parse(out) as Json;
  } catch {
    // text output
  }
  return { code, out, err, json };
}

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase 42';

let ips = 0;
const login = (email: string, password: string) =>
  send(app, 'POST', '/api/auth/login', { body: { email, password }, headers: { origin: originOf(app) }, ip: `10.9.0.${++ips}` });

function cookieFrom(res: Res): Record<string, string> {
  const set = res.headers['set-cookie'];
  const line = Array.isArray(set) ? (set[0] ?? '') : String(set ?? '');
  return { cookie: line.split(';')[0]!, origin: originOf(app) };
}

const me = (headers: Record<string, string>) => send(app, 'GET', '/api/auth/me', { headers });

let people = 0;
/** A user made through the command line, with a password from standard input. */
async function makeUser(role: string): Promise<{ id: string; email: string }> {
  const email = `person${++people}.${role}@example.com`;
  const res = await cms(['users', 'create', '--email', email, '--name', `Person ${people}`, '--role', role, '--json'], `${PASSWORD}\n`);
  if (res.code !== 0) throw new Error(`users create failed: ${res.out}${res.err}`);
  return { id: res.json.user._id as string, email };
}

let firstAdmin = '';

t.test('users create reads the password from standard input, prints JSON, and the user can sign in', async (t) => {
  // more lines than the password: only the first is read
  const res = await cms(['users', 'create', '--email', 'Ada@Example.com', '--name', 'Ada', '--json'], `${PASSWORD}\nnot part of it\n`);
  t.equal(res.code, 0, res.err);
  t.equal(res.json.ok, true);
  t.equal(res.json.user.email, 'ada@example.com', 'email normalized as the API does');
  t.equal(res.json.user.role, 'admin', 'admin by default');
  t.notOk('password' in res.json, 'a typed password is not echoed');
  t.notOk('passwordHash' in res.json.user, 'no hash in the output');
  firstAdmin = res.json.user._id as string;

  const ok = await login('ada@example.com', PASSWORD);
  t.equal(ok.status, 200, 'the password works through the API');
  t.equal((await login('ada@example.com', 'not part of it')).status, 401);

  const audit = await db.collection('audit').findOne({ action: 'user.create', targetId: firstAdmin });
  t.equal(audit?.actorType, 'system', 'audited as the command line');
  t.equal(audit?.actorName, 'cms command line');

  // text output
  const text = await cms(['users', 'create', '--email', 'grace@example.com', '--name', 'Grace', '--role', 'viewer'], `${PASSWORD}\n`);
  t.equal(text.code, 0);
  t.match(text.out, /^Created viewer grace@example\.com \([0-9a-f]{24}\)\n$/);

  // --generate: a strong password, printed once, that works
  const gen = await cms(['users', 'create', '--email', 'gen@example.com', '--name', 'Gen', '--role', 'editor', '--generate', '--json']);
  t.equal(gen.code, 0, gen.err);
  t.type(gen.json.password, 'string');
  t.ok((gen.json.password as string).length >= 20, 'a long generated password');
  t.equal((await login('gen@example.com', gen.json.password as string)).status, 200, 'the generated password works');
});

t.test('users create refuses bad input without writing anything', async (t) => {
  const before = await db.collection('users').countDocuments();
  const weak = await cms(['users', 'create', '--email', 'weak@example.com', '--name', 'Weak', '--json'], 'short\n');
  t.equal(weak.code, 1, 'a weak password: problems (1)');
  t.equal(weak.json.ok, false);
  t.equal(weak.json.error.exit, 1);
  t.equal(weak.json.error.code, 'CMS_ERR_PASSWORD_POLICY');
  t.match(weak.json.error.message, /at least 12 characters/);
  t.same(weak.json.error.details, [{ path: '/password', message: 'must be at least 12 characters' }]);

  const taken = await cms(['users', 'create', '--email', 'ADA@example.com', '--name', 'Other Ada'], `${PASSWORD}\n`);
  t.equal(taken.code, 1, 'a taken email: 1');
  t.match(taken.err, /ada@example\.com exists/);

  const badEmail = await cms(['users', 'create', '--email', 'not-an-email', '--name', 'X', '--json'], `${PASSWORD}\n`);
  t.equal(badEmail.code, 1);
  t.match(badEmail.json.error.details, [{ path: '/email' }]);

  const noPassword = await cms(['users', 'create', '--email', 'nopw@example.com', '--name', 'No Password', '--json']);
  t.equal(noPassword.code, 2, 'no password on standard input: usage (2)');
  t.match(noPassword.json.error.message, /No password given/);

  const badRole = await cms(['users', 'create', '--email', 'role@example.com', '--name', 'Role', '--role', 'boss'], `${PASSWORD}\n`);
  t.equal(badRole.code, 2, 'a bad role: usage (2)');
  t.match(badRole.err, /'boss' is invalid.*Allowed choices are admin, editor, author, viewer/);

  const missing = await cms(['users', 'create', '--email', 'missing@example.com', '--json'], `${PASSWORD}\n`);
  t.equal(missing.code, 2, 'a missing required option: usage (2)');
  t.match(missing.err, /required option '--name <name>' not specified/);
  t.match(missing.json, { ok: false, error: { exit: 2, message: /required option '--name <name>' not specified/ } }, 'and as JSON');

  const unknownOption = await cms(['users', 'create', '--email', 'x@example.com', '--name', 'X', '--admin'], `${PASSWORD}\n`);
  t.equal(unknownOption.code, 2);
  t.match(unknownOption.err, /unknown option '--admin'/);

  t.equal(await db.collection('users').countDocuments(), before, 'nothing was written');
});

t.test('users list shows every user, as text or JSON, never a password hash', async (t) => {
  const json = await cms(['users', 'list', '--json']);
  t.equal(json.code, 0);
  t.equal(json.json.ok, true);
  const emails = (json.json.users as Json[]).map((u) => u.email);
  t.same(emails, ['ada@example.com', 'gen@example.com', 'grace@example.com'], 'all users, by email');
  t.same(Object.keys(json.json.users[0]).sort(), ['_id', 'createdAt', 'email', 'name', 'role', 'status', 'updatedAt']);
  t.notMatch(json.out, /passwordHash|argon2/);

  const viewers = await cms(['users', 'list', '--role', 'viewer', '--json']);
  t.same((viewers.json.users as Json[]).map((u) => u.email), ['grace@example.com'], '--role filters');

  const text = await cms(['users', 'list']);
  t.equal(text.code, 0);
  t.equal(text.out.trim().split('\n').length, 3, 'one line per user');
  t.match(text.out, /[0-9a-f]{24} {2}grace@example\.com {2}"Grace" {2}viewer {2}active/);

  const badStatus = await cms(['users', 'list', '--status', 'gone']);
  t.equal(badStatus.code, 2);
});

t.test('users set-role changes the role and ends the user\'s sessions', async (t) => {
  const user = await makeUser('editor');
  const session = cookieFrom(await login(user.email, PASSWORD));
  t.equal((await me(session)).status, 200, 'signed in');

  const res = await cms(['users', 'set-role', user.email, 'author', '--json']);
  t.equal(res.code, 0, res.err);
  t.equal(res.json.user.role, 'author');
  t.equal(res.json.changed, true);
  const after = await me(session);
  t.equal(after.status, 401, 'the old session cookie no longer works');
  t.equal(after.body.error.code, 'CMS_ERR_AUTH_INVALID');
  t.equal(await db.collection('sessions').countDocuments({ userId: user.id }), 0, 'the sessions are gone');

  const again = await login(user.email, PASSWORD);
  t.equal(again.status, 200);
  t.equal(again.body.data.role, 'author', 'a new sign-in has the new role');

  // by id, and a no-op
  const same = await cms(['users', 'set-role', user.id, 'author']);
  t.equal(same.code, 0);
  t.match(same.out, /already author: nothing changed/);
  t.equal((await me(cookieFrom(again))).status, 200, 'a no-op keeps the sessions');

  const audit = await db.collection('audit').find({ action: 'user.update', targetId: user.id }).toArray();
  t.equal(audit.length, 1, 'one audit record, for the real change');
  t.same(audit[0]?.fields, ['role']);
  t.equal(audit[0]?.actorType, 'system');
});

t.test('users set-role and suspend refuse to remove the last active admin (3)', async (t) => {
  // Ada is the only admin
  const res = await cms(['users', 'set-role', 'ada@example.com', 'editor', '--json']);
  t.equal(res.code, 3, 'refused');
  t.equal(res.json.error.code, 'CMS_ERR_USER_LAST_ADMIN');
  const suspend = await cms(['users', 'suspend', 'ada@example.com']);
  t.equal(suspend.code, 3);
  t.match(suspend.err, /last active admin/);
  const ada = await db.collection('users').findOne({ email: 'ada@example.com' });
  t.equal(ada?.role, 'admin');
  t.equal(ada?.status, 'active');
});

t.test('users set-role: an unknown user or a bad role is a clear error', async (t) => {
  const unknown = await cms(['users', 'set-role', 'nobody@example.com', 'editor', '--json']);
  t.equal(unknown.code, 1, 'an unknown user: 1');
  t.same(unknown.json, { ok: false, error: { message: 'No user with email "nobody@example.com"', exit: 1, code: 'CMS_ERR_USER_NOT_FOUND' } });
  const unknownId = await cms(['users', 'set-role', 'ffffffffffffffffffffffff', 'editor']);
  t.equal(unknownId.code, 1);
  t.equal(unknownId.err, 'No user with id "ffffffffffffffffffffffff"\n');

  const badRole = await cms(['users', 'set-role', 'grace@example.com', 'superuser', '--json']);
  t.equal(badRole.code, 2, 'a bad role: 2');
  t.match(badRole.json.error.message, /'superuser' is invalid for argument 'role'\. Allowed choices are admin, editor, author, viewer/);
  const missing = await cms(['users', 'set-role', 'grace@example.com']);
  t.equal(missing.code, 2);
  t.match(missing.err, /missing required argument 'role'/);
});

t.test('users suspend blocks sign-in and ends sessions; --undo reactivates', async (t) => {
  const user = await makeUser('author');
  const session = cookieFrom(await login(user.email, PASSWORD));
  const res = await cms(['users', 'suspend', user.email, '--json']);
  t.equal(res.code, 0, res.err);
  t.equal(res.json.user.status, 'suspended');
  t.equal((await me(session)).status, 401, 'the session ended');
  const refused = await login(user.email, PASSWORD);
  t.equal(refused.status, 401, 'cannot sign in');
  t.equal(refused.body.error.code, 'CMS_ERR_LOGIN_FAILED');

  const twice = await cms(['users', 'suspend', user.email]);
  t.equal(twice.code, 0);
  t.match(twice.out, /already suspended/);

  const undo = await cms(['users', 'suspend', user.email, '--undo']);
  t.equal(undo.code, 0);
  t.match(undo.out, /is active again/);
  t.equal((await login(user.email, PASSWORD)).status, 200, 'signs in again');

  const list = await cms(['users', 'list', '--status', 'suspended', '--json']);
  t.same(list.json.users, [], 'nobody is suspended');
});

t.test('users reset-password sets the password from standard input and ends sessions', async (t) => {
  const user = await makeUser('editor');
  const session = cookieFrom(await login(user.email, PASSWORD));
  // failed attempts so far are forgotten by a reset
  for (let i = 0; i < 3; i++) t.equal((await login(user.email, 'wrong wrong wrong')).status, 401);

  const weak = await cms(['users', 'reset-password', user.email, '--json'], 'person\n');
  t.equal(weak.code, 1, 'a weak password: 1');
  t.equal(weak.json.error.code, 'CMS_ERR_PASSWORD_POLICY');
  t.equal((await me(session)).status, 200, 'a refused reset changes nothing');

  const res = await cms(['users', 'reset-password', user.email, '--json'], `${NEW_PASSWORD}\n`);
  t.equal(res.code, 0, res.err);
  t.equal(res.json.ok, true);
  t.notOk('password' in res.json);
  t.equal((await me(session)).status, 401, 'the old session ended');
  t.equal((await login(user.email, PASSWORD)).status, 401, 'the old password no longer works');
  t.equal((await login(user.email, NEW_PASSWORD)).status, 200, 'the new one does');
  t.equal(await db.collection('audit').countDocuments({ action: 'password.reset', targetId: user.id, actorType: 'system' }), 1, 'audited');

  const gen = await cms(['users', 'reset-password', user.id, '--generate']);
  t.equal(gen.code, 0);
  const shown = /Password \(shown once\): (\S+)/.exec(gen.out)?.[1];
  t.ok(shown, 'the generated password is printed');
  t.equal((await login(user.email, NEW_PASSWORD)).status, 401);
  t.equal((await login(user.email, shown!)).status, 200, 'the generated password works');

  const unknown = await cms(['users', 'reset-password', 'nobody@example.com'], `${NEW_PASSWORD}\n`);
  t.equal(unknown.code, 1);
  t.match(unknown.err, /No user with email "nobody@example\.com"/);
  const empty = await cms(['users', 'reset-password', user.email]);
  t.equal(empty.code, 2, 'no password: 2');
});

t.test('tokens create prints the secret once; it works until revoked', async (t) => {
  // two admins now: the owner must be named
  const admin2 = await makeUser('admin');
  const ambiguous = await cms(['tokens', 'create', '--name', 'build', '--scopes', 'content:read', '--json']);
  t.equal(ambiguous.code, 2);
  t.match(ambiguous.json.error.message, /several admins.*--owner/);

  const res = await cms(['tokens', 'create', '--name', 'site build', '--scopes', 'content:read,content:preview', '--types', 'post,article', '--expires', '30d', '--owner', admin2.email, '--json']);
  t.equal(res.code, 0, res.err);
  const secret = res.json.secret as string;
  t.match(secret, /^cmst_[0-9a-f]{24}_/);
  t.same(res.json.token.scopes, ['content:read', 'content:preview']);
  t.same(res.json.token.types, ['post', 'article']);
  t.equal(res.json.token.owner, admin2.email);
  t.equal(res.json.token.createdBy, admin2.id);
  const days = (Date.parse(res.json.token.expiresAt as string) - Date.now()) / 86_400_000;
  t.ok(days > 29.9 && days <= 30, '30d from now');
  t.notOk('hash' in res.json.token);
  const id = res.json.token._id as string;

  const bearer = { authorization: `Bearer ${secret}` };
  const who = await me(bearer);
  t.equal(who.status, 200, 'the secret works against the API');
  t.match(who.body.data, { kind: 'token', _id: id, name: 'site build' });
  t.equal((await send(app, 'GET', '/api/content/post', { headers: bearer })).status, 200, 'it reads a type it covers');
  t.equal((await send(app, 'GET', '/api/content/page', { headers: bearer })).status, 403, 'not one it does not');

  const list = await cms(['tokens', 'list', '--json']);
  t.equal(list.code, 0);
  t.notOk(list.out.includes(secret.split('_')[2]!), 'the secret is never listed');
  t.notMatch(list.out, /"hash"/);
  t.match(list.json.tokens, [{ _id: id, name: 'site build', status: 'active', owner: admin2.email }]);

  const revoke = await cms(['tokens', 'revoke', id, '--json']);
  t.equal(revoke.code, 0, revoke.err);
  t.equal(revoke.json.changed, true);
  t.type(revoke.json.token.revokedAt, 'string');
  const after = await me(bearer);
  t.equal(after.status, 401, 'revoked: 401');
  t.equal(after.body.error.code, 'CMS_ERR_AUTH_INVALID');

  const listed = await cms(['tokens', 'list']);
  t.match(listed.out, new RegExp(`${id} {2}"site build" {2}revoked`));
  const again = await cms(['tokens', 'revoke', id]);
  t.equal(again.code, 0, 'revoking twice is harmless');
  t.match(again.out, /already revoked/);
  t.equal(await db.collection('audit').countDocuments({ targetKind: 'token', targetId: id, actorType: 'system' }), 2, 'create and one revoke audited');

  // the owner's suspension voids the token, as through the API
  const other = await cms(['tokens', 'create', '--name', 'hook', '--scopes', 'media:write', '--owner', admin2.id]);
  t.equal(other.code, 0);
  const otherSecret = other.out.trim().split('\n').at(-1)!;
  t.equal((await me({ authorization: `Bearer ${otherSecret}` })).status, 200, 'the secret is the last line of text output');
  t.equal((await cms(['users', 'suspend', admin2.email])).code, 0);
  t.equal((await me({ authorization: `Bearer ${otherSecret}` })).status, 401, "void once its owner is suspended");
  const voidList = await cms(['tokens', 'list', '--json']);
  t.match((voidList.json.tokens as Json[]).find((x) => x.name === 'hook'), { status: 'void' });

  // one active admin again: the default owner
  const single = await cms(['tokens', 'create', '--name', 'default owner', '--scopes', 'content:read', '--json']);
  t.equal(single.code, 0, single.err);
  t.equal(single.json.token.createdBy, firstAdmin, 'owned by the only active admin');
});

t.test('tokens: bad input is refused with a clear message and nothing is written', async (t) => {
  const before = await db.collection('tokens').countDocuments();
  const scope = await cms(['tokens', 'create', '--name', 'x', '--scopes', 'content:read,content:everything', '--json']);
  t.equal(scope.code, 2, 'an unknown scope: 2');
  t.match(scope.json.error.message, /Unknown scope content:everything; the scopes are content:read, /);
  const noName = await cms(['tokens', 'create', '--scopes', 'content:read']);
  t.equal(noName.code, 2);
  t.match(noName.err, /required option '--name <name>' not specified/);
  const noScopes = await cms(['tokens', 'create', '--name', 'x', '--scopes', ',']);
  t.equal(noScopes.code, 2);
  const type = await cms(['tokens', 'create', '--name', 'x', '--scopes', 'content:read', '--types', 'post,nope', '--json']);
  t.equal(type.code, 1, 'an unknown content type: 1');
  t.match(type.json.error.message, /Unknown content type nope/);
  const past = await cms(['tokens', 'create', '--name', 'x', '--scopes', 'content:read', '--expires', '2020-01-01']);
  t.equal(past.code, 2);
  t.match(past.err, /not in the future/);
  const garbled = await cms(['tokens', 'create', '--name', 'x', '--scopes', 'content:read', '--expires', 'soon']);
  t.equal(garbled.code, 2);
  t.match(garbled.err, /30d, 12h/);
  const owner = await cms(['tokens', 'create', '--name', 'x', '--scopes', 'content:read', '--owner', 'grace@example.com']);
  t.equal(owner.code, 1, 'a non-admin owner: 1');
  t.match(owner.err, /grace@example\.com is not an active admin/);
  const longName = await cms(['tokens', 'create', '--name', 'x'.repeat(101), '--scopes', 'content:read', '--json']);
  t.equal(longName.code, 1, 'the service validates the name');
  t.equal(longName.json.error.code, 'CMS_ERR_AUTH_VALIDATION');
  t.equal(await db.collection('tokens').countDocuments(), before, 'no token was written');

  const unknown = await cms(['tokens', 'revoke', 'ffffffffffffffffffffffff', '--json']);
  t.equal(unknown.code, 1, 'an unknown token: 1');
  t.match(unknown.json, { ok: false, error: { exit: 1, code: 'CMS_ERR_TOKEN_NOT_FOUND', message: /No token with id ffffffffffffffffffffffff/ } });
  const garbage = await cms(['tokens', 'revoke', 'not-an-id']);
  t.equal(garbage.code, 1);
});

t.test('--expires reads days, hours and ISO dates', async (t) => {
  const now = new Date('2026-06-01T00:00:00Z');
  t.equal(parseExpiry('30d', now), '2026-07-01T00:00:00.000Z');
  t.equal(parseExpiry('12h', now), '2026-06-01T12:00:00.000Z');
  t.equal(parseExpiry('2027-01-31', now), '2027-01-31T00:00:00.000Z');
  t.equal(parseExpiry('2027-01-31T12:30:00+02:00', now), '2027-01-31T10:30:00.000Z');
  t.throws(() => parseExpiry('2026-13-45', now), /not a date/);
  t.throws(() => parseExpiry('0d', now), /not in the future/);
  t.throws(() => parseExpiry('tomorrow', now));
});

t.test('help on every subcommand; usage errors exit 2', async (t) => {
  for (const args of [['--help'], ['users', '--help'], ['tokens', '--help'], ...['create', 'list', 'set-role', 'suspend', 'reset-password'].map((c) => ['users', c, '--help']), ...['create', 'list', 'revoke'].map((c) => ['tokens', c, '--help'])]) {
    const res = await cms(args);
    t.equal(res.code, 0, `${args.join(' ')}: 0`);
    t.match(res.out, /^Usage: cms/, `${args.join(' ')}: usage`);
  }
  const help = await cms(['users', 'create', '--help']);
  t.match(help.out, /--email <email>[\s\S]*--role <role>[\s\S]*choices: "admin", "editor", "author", "viewer"[\s\S]*--generate[\s\S]*--json/);
  const none = await cms(['users']);
  t.equal(none.code, 2, 'a group without a subcommand: 2');
  const unknown = await cms(['users', 'delete', 'x', '--json']);
  t.equal(unknown.code, 2);
  t.equal(unknown.json.ok, false);
});

t.test('an unreachable database is exit code 4', async (t) => {
  const res = await cms(['users', 'list', '--json'], '', { MONGODB_URI: 'mongodb://127.0.0.1:9/' });
  t.equal(res.code, 4);
  t.match(res.json.error.message, /MongoDB cannot be reached/);
});

t.test('the real binary: node bin/cms.js users list --json', async (t) => {
  const exec = (args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'cms.js'), ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.on('close', (code) => resolve({ code, out, err }));
    });
  const ok = await exec(['users', 'list', '--json']);
  t.equal(ok.code, 0, ok.err);
  t.ok((JSON.parse(ok.out) as Json).users.some((u: Json) => u.email === 'ada@example.com'), 'the same database');
  const bad = await exec(['users', 'suspend', 'nobody@example.com', '--json']);
  t.equal(bad.code, 1, 'the exit code reaches the shell');
  t.equal((JSON.parse(bad.out) as Json).error.code, 'CMS_ERR_USER_NOT_FOUND');
});
