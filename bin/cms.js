#!/usr/bin/env node
// The `cms` command; runs the compiled CLI (build it with `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/src/cli/index.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('The CMS is not built yet: run `npm run build` first.');
  process.exit(2);
}
const { run } = await import(cli);
process.exitCode = await run(process.argv.slice(2));
