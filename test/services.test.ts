// The local-services script: what it says when Go is missing or too old.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from './helpers.js';

function provision(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['dist/scripts/services.js', 'provision'], { cwd: ROOT, env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

const dir = await mkdtemp(join(tmpdir(), 'cms-go-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
// an empty cache, so that provisioning has to build
const cache = join(dir, 'cache');

t.test('no Go toolchain: says exactly what to install or set', async (t) => {
  const res = await provision({ CMS_SERVICES_CACHE: cache, GO: join(dir, 'no-such-go') });
  t.equal(res.code, 1);
  t.match(res.stderr, /Cannot start the embedded services: GO=.*no-such-go does not exist/);
  t.match(res.stderr, /install Go 1\.25 or newer/);
  t.match(res.stderr, /MONGODB_URI/);
  t.match(res.stderr, /S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY/);
});

t.test('a Go that is too old is named, with the version needed', async (t) => {
  const fake = join(dir, 'go');
  await writeFile(fake, '#!/bin/sh\necho go1.21.3\n');
  await chmod(fake, 0o755);
  const res = await provision({ CMS_SERVICES_CACHE: cache, GO: fake });
  t.equal(res.code, 1);
  t.match(res.stderr, /is go1\.21\.3, older than go1\.25/);
});

t.test('a data directory in use by a running server is shared, not started twice', async (t) => {
  const { startServices } = await import('../scripts/services.js');
  const { MongoClient } = await import('mongodb');
  const { readFile } = await import('node:fs/promises');
  const dataDir = await mkdtemp(join(tmpdir(), 'cms-share-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const quiet = () => undefined;
  const ping = async (uri: string) => {
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 3000 });
    try {
      await client.connect();
      return (await client.db('admin').command({ ping: 1 })).ok;
    } finally {
      await client.close();
    }
  };

  // a stale announcement (its process is gone) is ignored
  await writeFile(join(dataDir, 'services.json'), JSON.stringify({ pid: 2 ** 22 + 12345, mongoUri: 'mongodb://127.0.0.1:1/' }));
  const server = await startServices({ dataDir, mongo: true, s3: false, announce: true, log: quiet });
  t.teardown(() => server.stop());
  t.not(server.mongoUri, 'mongodb://127.0.0.1:1/', 'the stale announcement was not used');
  const announced = JSON.parse(await readFile(join(dataDir, 'services.json'), 'utf8')) as { mongoUri?: string };
  t.equal(announced.mongoUri, server.mongoUri, 'the server announces its database');

  // the announcement names this process; a command run meanwhile is another process, so pretend
  await writeFile(join(dataDir, 'services.json'), JSON.stringify({ ...announced, pid: process.ppid }));
  const command = await startServices({ dataDir, mongo: true, s3: false, log: quiet });
  t.equal(command.mongoUri, server.mongoUri, 'the command uses the running database');
  await command.stop();
  t.equal(await ping(server.mongoUri!), 1, "the command's stop leaves the server's database running");
});
