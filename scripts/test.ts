// `npm test`: starts the local services once (fresh temporary data), exports their URIs, runs tap
// over the compiled tests, and stops the services whatever happens. With MONGODB_URI and S3_* set,
// it uses those services instead. Extra arguments go to tap (e.g. a single test file).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { startMissingServices } from './services.js';

const require = createRequire(import.meta.url);

async function testFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((f) => f.endsWith('.test.js')).map((f) => join(dir, f)).sort();
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let services: Awaited<ReturnType<typeof startMissingServices>> | undefined;
  let child: ChildProcess | undefined;
  const cleanup = async () => {
    child?.kill('SIGTERM');
    await services?.stop();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // like the server: start only what the environment does not point at
    services = await startMissingServices('cms-test');
    const env: NodeJS.ProcessEnv = { ...services.env, NODE_ENV: 'test' };
    if (services.started) console.error(`services: MongoDB wire at ${env.MONGODB_URI}, S3 at ${env.S3_ENDPOINT}`);
    const files = args.some((a) => !a.startsWith('-')) ? [] : await testFiles(join(dirname(import.meta.dirname), 'test'));
    const tapBin = join(dirname(require.resolve('tap/package.json')), 'dist/esm/run.mjs');
    return await new Promise<number>((resolve) => {
      child = spawn(process.execPath, [tapBin, ...files, ...args], { env, stdio: 'inherit' });
      child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    child = undefined;
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
