// Keeps a folder of JSON files in step with a CMS, for a static-site build:
//
//   node dist/scripts/sync-example.js http://localhost:3000 ./content
//
// CMS_TOKEN (an API token), SYNC_TYPES (e.g. post,author) and SYNC_LOCALE are optional. The first
// run fetches everything; later runs fetch only what changed (the token is in ./content/.sync-token).
import { syncToFolder } from '../src/client/sync.js';

async function main(): Promise<void> {
  const [baseUrl, folder] = process.argv.slice(2);
  if (!baseUrl || !folder) {
    console.error('usage: node dist/scripts/sync-example.js <base-url> <folder>');
    process.exitCode = 2;
    return;
  }
  const types = process.env.SYNC_TYPES?.split(',').map((s) => s.trim()).filter(Boolean);
  const result = await syncToFolder({
    baseUrl,
    folder,
    ...(process.env.CMS_TOKEN ? { token: process.env.CMS_TOKEN } : {}),
    ...(types?.length ? { types } : {}),
    ...(process.env.SYNC_LOCALE ? { locale: process.env.SYNC_LOCALE } : {}),
  });
  console.log(`${result.full ? 'full' : 'incremental'} sync: ${result.upserts} written, ${result.deletes + result.removed} removed`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
