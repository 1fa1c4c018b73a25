// The real server process: embedded mode keeps content across restarts, SIGTERM drains in-flight
// requests and stops the services the server started.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from './helpers.js';

interface Server {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts dist/src/server.js (by default with no service URIs: embedded mode) and waits for its port. */
async function startServer(env: Record<string, string>, keepServices = false): Promise<Server> {
  const base = keepServices ? process.env : Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('S3_') && k !== 'MONGODB_URI'));
  const child = spawn(process.execPath, ['dist/src/server.js'], {
    cwd: ROOT,
    env: { ...base, NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'info', ...env },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const m = /CMS listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
    if (m) return { child, port: Number(m[1]), output: () => out, exited };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`server did not start:\n${out}`);
}

async function http(port: number, method: string, path: string, body?: unknown, cookie?: string): Promise<{ status: number; body: string; cookie?: string }> {
  const headers: Record<string, string> = { origin: `http://127.0.0.1:${port}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (cookie) headers.cookie = cookie;
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const set = res.headers.get('set-cookie');
  return { status: res.status, body: await res.text(), ...(set ? { cookie: set.split(';')[0]! } : {}) };
}

const ADMIN = { email: 'first@example.com', name: 'First Admin', password: 'a long enough passphrase' };

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

const dataDir = await mkdtemp(join(tmpdir(), 'cms-embedded-'));
t.teardown(() => rm(dataDir, { recursive: true, force: true }));

t.test('embedded mode: a restart keeps the content, SIGTERM stops the services', async (t) => {
  const first = await startServer({ DATA_DIR: dataDir });
  t.teardown(() => void first.child.kill('SIGKILL'));
  t.equal((await http(first.port, 'GET', '/healthz')).status, 200);
  const ready = await http(first.port, 'GET', '/readyz');
  t.equal(ready.status, 200, ready.body);
  // first run: the server prints a one-time setup link
  const link = /\/setup\?token=([A-Za-z0-9_-]+)/.exec(first.output());
  t.ok(link, 'a setup link is printed on an empty database');
  t.equal((await http(first.port, 'POST', '/api/content/category', { name: 'News', slug: 'news' })).status, 401, 'nothing writes before sign-in');
  const setup = await http(first.port, 'POST', '/api/auth/setup', { token: link?.[1], ...ADMIN });
  t.equal(setup.status, 201, setup.body);
  t.ok(setup.cookie, 'setup signs the admin in');
  const again = await http(first.port, 'POST', '/api/auth/setup', { token: link?.[1], ...ADMIN, email: 'second@example.com' });
  t.equal(again.status, 404, 'the setup link works once');
  const created = await http(first.port, 'POST', '/api/content/category', { name: 'News', slug: 'news' }, setup.cookie);
  t.equal(created.status, 201);
  const id = (JSON.parse(created.body) as { data: { _id: string } }).data._id;
  const db = /Embedded FerretDB at mongodb:\/\/127\.0\.0\.1:(\d+)\//.exec(first.output());
  const s3 = /Embedded S3 \(versitygw\) at http:\/\/127\.0\.0\.1:(\d+)/.exec(first.output());
  t.ok(db && s3, 'the embedded services are announced');
  const servicePorts = [Number(db?.[1]), Number(s3?.[1])];
  t.same(await Promise.all(servicePorts.map(portOpen)), [true, true]);

  first.child.kill('SIGTERM');
  t.equal(await first.exited, 0, 'exits cleanly on SIGTERM');
  t.notOk(await portOpen(first.port), 'the HTTP port is closed');
  t.same(await Promise.all(servicePorts.map(portOpen)), [false, false], 'the embedded services were stopped');

  const second = await startServer({ DATA_DIR: dataDir });
  t.teardown(() => void second.child.kill('SIGKILL'));
  t.notMatch(second.output(), /setup\?token=/, 'no setup link once a user exists');
  const login = await http(second.port, 'POST', '/api/auth/login', { email: ADMIN.email, password: ADMIN.password });
  t.equal(login.status, 200, 'the admin made at setup signs in after a restart');
  const read = await http(second.port, 'GET', `/api/content/category/${id}`, undefined, login.cookie);
  t.equal(read.status, 200);
  t.match(JSON.parse(read.body), { data: { _id: id, name: 'News' } });
  second.child.kill('SIGTERM');
  t.equal(await second.exited, 0);
});

t.test('a server killed outright takes its embedded services with it', async (t) => {
  const server = await startServer({ DATA_DIR: dataDir });
  const db = /Embedded FerretDB at mongodb:\/\/127\.0\.0\.1:(\d+)\//.exec(server.output());
  const s3 = /Embedded S3 \(versitygw\) at http:\/\/127\.0\.0\.1:(\d+)/.exec(server.output());
  const ports = [Number(db?.[1]), Number(s3?.[1])];
  t.same(await Promise.all(ports.map(portOpen)), [true, true]);
  server.child.kill('SIGKILL');
  await server.exited;
  let open = [true, true];
  for (let i = 0; i < 50 && open.some(Boolean); i++) {
    await new Promise((r) => setTimeout(r, 100));
    open = await Promise.all(ports.map(portOpen));
  }
  t.same(open, [false, false], 'no orphaned database or S3 server');
});

t.test('SIGTERM lets an in-flight request finish before exiting', async (t) => {
  const server = await startServer({ DATA_DIR: dataDir });
  t.teardown(() => void server.child.kill('SIGKILL'));
  const { cookie } = await http(server.port, 'POST', '/api/auth/login', { email: ADMIN.email, password: ADMIN.password });
  const body = JSON.stringify({ name: 'Slow', slug: 'slow' });
  const response = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, method: 'POST', path: '/api/content/category', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), cookie: cookie ?? '', origin: `http://127.0.0.1:${server.port}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      },
    );
    req.on('error', reject);
    // half the body now, SIGTERM, then the rest
    req.write(body.slice(0, 10));
    setTimeout(() => {
      server.child.kill('SIGTERM');
      setTimeout(() => req.end(body.slice(10)), 300);
    }, 100);
  });
  const { status, connection } = await response;
  t.equal(status, 201, 'the in-flight request completed');
  t.equal(connection, 'close', 'keep-alive clients are told to go');
  t.equal(await server.exited, 0);
  t.match(server.output(), /shutting down/);
});

/** PIDs of processes whose command line mentions `needle` (Linux /proc). */
async function processesMentioning(needle: string): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(needle)) pids.push(Number(name));
  }
  return pids;
}

t.test('SIGTERM during start-up still stops the embedded services', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cms-early-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('S3_') && k !== 'MONGODB_URI'));
  const child = spawn(process.execPath, ['dist/src/server.js'], { cwd: ROOT, env: { ...clean, NODE_ENV: 'test', PORT: '0', DATA_DIR: dir } });
  t.teardown(() => void child.kill('SIGKILL'));
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('Embedded mode: starting')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
  });
  child.kill('SIGTERM');
  t.equal(await exited, 0, out);
  t.same(await processesMentioning(dir), [], 'no FerretDB or versitygw left running on its data');
});

t.test('production logs: one JSON line per request', async (t) => {
  const suffix = Math.random().toString(16).slice(2, 10);
  const server = await startServer({ NODE_ENV: 'production', MONGODB_DB: `t_prodlog_${suffix}`, S3_BUCKET: `t-prodlog-${suffix}` }, true);
  t.teardown(() => void server.child.kill('SIGKILL'));
  const before = server.output().split('\n').length;
  t.equal((await http(server.port, 'GET', '/healthz')).status, 200);
  t.equal((await http(server.port, 'GET', '/api/content/nope')).status, 404);
  await new Promise((r) => setTimeout(r, 200));
  server.child.kill('SIGTERM');
  t.equal(await server.exited, 0);
  const lines = server.output().split('\n').slice(before - 1).filter((l) => l.startsWith('{'));
  const requests = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
  t.equal(requests.length, 2, 'exactly one line per request');
  t.match(requests, [
    { method: 'GET', url: '/healthz', statusCode: 200, level: 30 },
    { method: 'GET', url: '/api/content/nope', statusCode: 404 },
  ]);
  t.ok(requests.every((r) => typeof r.ms === 'number' && typeof r.reqId === 'string'), 'with timing and request id');
});
