// Domain services, wired after the infrastructure they use.
import fp from 'fastify-plugin';
import type { ContentTypeRegistry } from '../content-types/registry.js';
import { EntriesRepository } from '../storage/entries.js';
import { RevisionsRepository } from '../storage/revisions.js';
import { EntriesService, type Clock } from './entries.js';
import type { ListLimits } from './query.js';

declare module 'fastify' {
  interface FastifyInstance {
    registry: ContentTypeRegistry;
    entries: EntriesService;
  }
}

export interface ServicesOptions {
  registry: ContentTypeRegistry;
  limits: ListLimits;
  now?: Clock;
}

export default fp<ServicesOptions>(
  async (app, opts) => {
    const repo = new EntriesRepository(app.mongo.db);
    for (const type of opts.registry.all()) {
      const specs = [...type.fields.values()]
        .filter((f) => f.unique || f.index)
        .map((f) => ({ field: f.path, unique: f.unique }));
      const { created, dropped } = await repo.syncIndexes(type.id, specs);
      if (created.length || dropped.length) app.log.info({ type: type.id, created, dropped }, 'indexes updated');
    }
    const revisions = new RevisionsRepository(app.mongo.db);
    await revisions.ensureIndexes();
    app.decorate('registry', opts.registry);
    app.decorate('entries', new EntriesService(opts.registry, repo, revisions, opts.limits, opts.now));
  },
  { name: 'services', dependencies: ['mongo'] },
);
