// Start-up: config, embedded services when none are configured, content types, listen; on
// SIGTERM/SIGINT drain in-flight requests, close connections, stop what we started, exit.
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { ContentTypeLoadError, loadContentTypes } from './content-types/loader.js';
import { SchemaMismatchError, startupCheck } from './services/migrations/check.js';
import { ServicesError, startServices, type RunningServices } from '../scripts/services.js';

async function withEmbeddedServices(config: Config): Promise<RunningServices | undefined> {
  const { mongo, s3 } = config.embedded;
  if (!mongo && !s3) return undefined;
  console.error(`Embedded mode: starting ${[mongo && 'FerretDB', s3 && 'versitygw'].filter(Boolean).join(' and ')} with data under ${config.dataDir}`);
  const services = await startServices({ dataDir: config.dataDir, mongo, s3, announce: true });
  if (services.mongoUri) {
    config.mongo.uri = services.mongoUri;
    console.error(`Embedded FerretDB at ${services.mongoUri}`);
  }
  if (services.s3) {
    config.s3 = { ...config.s3, ...services.s3, forcePathStyle: true };
    console.error(`Embedded S3 (versitygw) at ${services.s3.endpoint}`);
  }
  return services;
}

async function main(): Promise<void> {
  const config = loadConfig();
  // content types first: a broken file should fail fast, before anything is started
  const registry = await loadContentTypes(config.contentTypesDir, { locales: config.locales });

  // what is started, as promises, so a signal at any moment can wait for it and stop it
  let services: Promise<RunningServices | undefined> = Promise.resolve(undefined);
  let app: Promise<FastifyInstance | undefined> = Promise.resolve(undefined);
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    console.error(`${signal}: shutting down: draining requests`);
    const force = setTimeout(() => {
      console.error('shutdown took longer than 15s; exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    let code = 0;
    try {
      await (await app.catch(() => undefined))?.close();
    } catch (err) {
      console.error('error while closing:', err);
      code = 1;
    }
    await (await services.catch(() => undefined))?.stop();
    process.exit(code);
  };
  // installed before anything starts, so a signal during a first-run build or start-up stops it all
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  services = withEmbeddedServices(config);
  app = services.then(() => (closing ? undefined : buildApp(config, { registry })));
  try {
    const built = await app;
    if (!built || closing) return;
    // stored entries that no longer match the files: a warning, or no start under SCHEMA_STRICT (or --strict)
    const mismatch = await startupCheck(built.mongo.db, registry, { strict: config.schemaStrict || process.argv.includes('--strict') });
    if (mismatch) built.log.warn({ types: mismatch.check.types.filter((t) => t.failing).map((t) => ({ type: t.type, checked: t.checked, failing: t.failing })) }, mismatch.message);
    await built.listen({ host: config.host, port: config.port });
    const address = built.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const origin = config.publicUrl || `http://${config.host}:${port}`;
    built.log.info(`CMS listening on http://${config.host}:${port} with ${registry.all().length} content types`);
    const setupToken = await built.auth.openSetup();
    if (setupToken) {
      // printed, not only logged: this is how the first admin gets in (or `cms users create`)
      console.error(
        `\nNo users yet. Create the first admin in the admin UI (the token works once):\n  ${origin}/admin/setup?token=${setupToken}\n` +
          `Without JavaScript, the same token works in the plain form:\n  ${origin}/setup?token=${setupToken}\n`,
      );
    }
  } catch (err) {
    if (closing) return;
    await (await app.catch(() => undefined))?.close().catch(() => undefined);
    await (await services.catch(() => undefined))?.stop();
    throw err;
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof ContentTypeLoadError || err instanceof ServicesError || err instanceof SchemaMismatchError) {
    console.error(`The CMS cannot start.\n${err.message}`);
  } else {
    console.error('The CMS cannot start:', err);
  }
  process.exit(1);
});
