// The first-run page and the `cms users create` command.
import { spawn } from 'node:child_process';
import t from 'tap';
import { buildTestApp, ROOT } from './helpers.js';

const form = (fields: Record<string, string>) => ({
  payload: new URLSearchParams(fields).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost:80' },
});

t.test('the setup page creates the first admin once, with the printed token', async (t) => {
  const app = await buildTestApp(t, { as: 'anonymous' });
  const token = await app.auth.openSetup();
  t.ok(token, 'an empty database opens setup');
  const page = await app.inject({ method: 'GET', url: `/setup?token=${token}` });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /text\/html/);
  t.match(page.headers['content-security-policy'], /default-src 'none'/);
  t.match(page.body, new RegExp(`name="token" value="${token}"`));
  t.notMatch(page.body, /<script/i, 'no script on the page');

  const wrong = await app.inject({ method: 'POST', url: '/setup', ...form({ token: 'nope', email: 'ada@example.com', name: 'Ada', password: 'a very long passphrase' }) });
  t.equal(wrong.statusCode, 403);
  t.match(wrong.body, /setup token is wrong/);
  const weak = await app.inject({ method: 'POST', url: '/setup', ...form({ token: token!, email: 'ada@example.com', name: 'Ada', password: 'short' }) });
  t.equal(weak.statusCode, 400);
  t.match(weak.body, /at least 12 characters/);
  t.match(weak.body, /value="ada@example.com"/, 'what was typed is kept');
  const foreign = await app.inject({ method: 'POST', url: '/setup', ...form({ token: token!, email: 'ada@example.com', name: 'Ada', password: 'a very long passphrase' }), headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' } });
  t.equal(foreign.statusCode, 403, 'a form posted from another site is refused');

  const done = await app.inject({ method: 'POST', url: '/setup', ...form({ token: token!, email: 'ada@example.com', name: 'Ada <b>', password: 'a very long passphrase' }) });
  t.equal(done.statusCode, 201);
  t.match(String(done.headers['set-cookie']), /^cms_session=/);
  t.match(done.body, /Ada &#60;b&#62;/, 'names are escaped');
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: String(done.headers['set-cookie']).split(';')[0]! } });
  t.match(me.json(), { data: { email: 'ada@example.com', role: 'admin' } });

  t.equal((await app.inject({ method: 'GET', url: '/setup' })).statusCode, 404, 'the page is gone once a user exists');
  const twice = await app.inject({ method: 'POST', url: '/setup', ...form({ token: token!, email: 'eve@example.com', name: 'Eve', password: 'a very long passphrase' }) });
  t.equal(twice.statusCode, 404);
  t.equal(await app.auth.openSetup(), undefined, 'no new setup token once a user exists');
  const audit = await app.mongo.db.collection('audit').find({ action: 'setup' }).toArray();
  t.equal(audit.length, 1);
});

function cms(args: string[], env: Record<string, string>, input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/cms.js', ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

t.test('cms users create makes a user who can sign in', async (t) => {
  const app = await buildTestApp(t, { as: 'anonymous' });
  const env = { MONGODB_DB: app.mongo.db.databaseName, LOG_LEVEL: 'silent' };
  const ok = await cms(['users', 'create', '--email', 'Grace@Example.com', '--name', 'Grace', '--role', 'editor'], env, 'a very long passphrase\n');
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /Created editor grace@example.com/);
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'grace@example.com', password: 'a very long passphrase' } });
  t.equal(login.statusCode, 200);
  t.equal(login.json().data.role, 'editor');
  const taken = await cms(['users', 'create', '--email', 'grace@example.com', '--name', 'G2'], env, 'a very long passphrase\n');
  t.equal(taken.code, 1);
  t.match(taken.stderr, /exists/);
  const weak = await cms(['users', 'create', '--email', 'h@example.com', '--name', 'H'], env, 'short\n');
  t.equal(weak.code, 1);
  t.match(weak.stderr, /at least 12 characters/);
  const badRole = await cms(['users', 'create', '--email', 'h@example.com', '--name', 'H', '--role', 'king'], env, 'a very long passphrase\n');
  t.equal(badRole.code, 2, 'a role not among the choices is a usage error');
  t.match(badRole.stderr, /Allowed choices are admin, editor, author, viewer/);
  const missing = await cms(['users', 'create', '--name', 'H'], env, '');
  t.equal(missing.code, 2, 'a missing option is a usage error');
  t.equal(await app.mongo.db.collection('users').countDocuments({}), 1, 'only the good one was created');
  t.equal(await app.mongo.db.collection('audit').countDocuments({ action: 'user.create', actorType: 'system' }), 1, 'the command line is audited');
});
