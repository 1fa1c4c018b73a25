// Start-up: config, embedded services when none are configured, content types, listen; on
// SIGTERM/SIGINT drain in-flight requests, close connections, stop what we started, exit.
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { ContentTypeLoadError, loadContentTypes } from './content-types/loader.js';
import { ServicesError, startServices, type RunningServices } from '../scripts/services.js';

async function withEmbeddedServices(config: Config): Promise<RunningServices | undefined> {
  if (!config.embedded.mongo && !config.embedded.s3) return undefined;
  console.error(`Embedded mode: starting local services with data under ${config.dataDir}`);
  const services = await startServices({ dataDir: config.dataDir });
  console.error(`Embedded services: FerretDB at ${services.mongoUri}, S3 (versitygw) at ${services.s3.endpoint}`);
  if (config.embedded.mongo) config.mongo.uri = services.mongoUri;
  if (config.embedded.s3) {
    config.s3 = {
      ...config.s3,
      endpoint: services.s3.endpoint,
      region: services.s3.region,
      accessKeyId: services.s3.accessKeyId,
      secretAccessKey: services.s3.secretAccessKey,
      forcePathStyle: true,
    };
  }
  return services;
}

async function main(): Promise<void> {
  const config = loadConfig();
  // content types first: a broken file should fail fast, before anything is started
  const registry = await loadContentTypes(config.contentTypesDir);
  const services = await withEmbeddedServices(config);
  let app;
  try {
    app = await buildApp(config, { registry });
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await app?.close();
    await services?.stop();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  app.log.info(`CMS listening on http://${config.host}:${port} with ${registry.all().length} content types`);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: draining requests');
    const force = setTimeout(() => {
      app.log.error('shutdown took longer than 15s; exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    try {
      await app.close();
      await services?.stop();
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof ContentTypeLoadError || err instanceof ServicesError) {
    console.error(`The CMS cannot start.\n${err.message}`);
  } else {
    console.error('The CMS cannot start:', err);
  }
  process.exit(1);
});
