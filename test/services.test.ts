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
