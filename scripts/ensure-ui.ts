// `npm start` runs this first: builds the admin UI (admin-ui/dist) when it has not been built yet.
// A built UI is left alone; `npm run build` rebuilds it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const index = join(root, 'admin-ui', 'dist', 'index.html');

async function main(): Promise<number> {
  if (existsSync(index)) return 0;
  console.error('The admin UI is not built yet: building it (admin-ui/dist)…');
  const require = createRequire(import.meta.url);
  const vite = join(resolve(require.resolve('vite/package.json'), '..'), 'bin', 'vite.js');
  const code = await new Promise<number>((done) => {
    const child = spawn(process.execPath, [vite, 'build', 'admin-ui', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
    child.on('error', (err) => {
      console.error(`Cannot run the UI build: ${err.message}`);
      done(1);
    });
    child.on('close', (c, signal) => done(c ?? (signal ? 1 : 0)));
  });
  if (code !== 0 || !existsSync(index)) {
    console.error('The admin UI build failed; the API still starts, and /admin answers 503 until `npm run build` succeeds.');
    // the API does not need the UI: start anyway
    return 0;
  }
  console.error('Admin UI built.');
  return 0;
}

main().then((code) => process.exit(code));
