// Domain services, wired after the infrastructure they use.
import { mkdir } from 'node:fs/promises';
import fp from 'fastify-plugin';
import type { AuthConfig, MediaConfig } from '../config.js';
import type { ContentTypeRegistry } from '../content-types/registry.js';
import { EntriesRepository } from '../storage/entries.js';
import { MediaRepository } from '../storage/media.js';
import { ObjectStore } from '../storage/objects.js';
import { RevisionsRepository } from '../storage/revisions.js';
import { EntriesService, type Clock } from './entries.js';
import { MediaService } from './media/service.js';
import type { ListLimits } from './query.js';
import { AuthService } from './auth.js';
import { AuditLog } from './audit.js';
import { createSessions } from '../auth/sessions.js';
import { UsersRepository } from '../storage/users.js';

declare module 'fastify' {
  interface FastifyInstance {
    registry: ContentTypeRegistry;
    entries: EntriesService;
    media: MediaService;
    auth: AuthService;
    audit: AuditLog;
  }
}

export interface ServicesOptions {
  registry: ContentTypeRegistry;
  limits: ListLimits;
  media: MediaConfig;
  auth: AuthConfig;
  publicUrl: string;
  now?: Clock;
  /** Seconds between sweeps of abandoned uploads and orphaned objects; 0 turns the sweeper off. */
  sweepInterval?: number;
}

export default fp<ServicesOptions>(
  async (app, opts) => {
    const repo = new EntriesRepository(app.mongo.db);
    for (const type of opts.registry.all()) {
      const specs = [...type.fields.values()]
        .filter((f) => f.unique || f.index)
        .map((f) => ({ field: f.path, unique: f.unique }));
      // usage of media is found through `_media`, which every write keeps in step with the entry
      if ([...type.fields.values()].some((f) => f.media)) specs.push({ field: '_media', unique: false });
      const { created, dropped } = await repo.syncIndexes(type.id, specs);
      if (created.length || dropped.length) app.log.info({ type: type.id, created, dropped }, 'indexes updated');
    }
    const revisions = new RevisionsRepository(app.mongo.db);
    await revisions.ensureIndexes();
    await mkdir(opts.media.tmpDir, { recursive: true });
    const media = new MediaService(new MediaRepository(app.mongo.db), new ObjectStore(app.s3), opts.registry, repo, opts.media, opts.publicUrl, opts.limits, opts.now);
    app.decorate('registry', opts.registry);
    app.decorate('media', media);
    app.decorate('entries', new EntriesService(opts.registry, repo, revisions, opts.limits, media, opts.now));
    const users = new UsersRepository(app.mongo.db);
    await users.ensureIndexes();
    const now = opts.now ?? (() => new Date());
    const sessions = createSessions(users, { idleMinutes: opts.auth.idleMinutes, maxHours: opts.auth.maxHours, secure: opts.publicUrl.startsWith('https:'), now });
    const auth = new AuthService(users, sessions, opts.auth, now);
    app.decorate('auth', auth);
    const audit = new AuditLog(app.mongo.db, opts.limits, now);
    app.decorate('audit', audit);

    const interval = opts.sweepInterval ?? 300;
    if (interval > 0) {
      let running: Promise<unknown> = Promise.resolve();
      const timer = setInterval(() => {
        running = Promise.all([media.sweep(), auth.sweep(), audit.prune(opts.auth.auditRetentionDays)]).catch((err: unknown) => app.log.warn({ err }, 'sweep failed'));
      }, interval * 1000);
      timer.unref();
      app.addHook('onClose', async () => {
        clearInterval(timer);
        await running;
      });
    }
  },
  { name: 'services', dependencies: ['mongo', 's3'] },
);
