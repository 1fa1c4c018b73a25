// Domain services, wired after the infrastructure they use.
import { mkdir } from 'node:fs/promises';
import fp from 'fastify-plugin';
import type { AuthConfig, LocaleConfig, MediaConfig, PublishingConfig, WebhookConfig } from '../config.js';
import type { ContentTypeRegistry } from '../content-types/registry.js';
import { EntriesRepository } from '../storage/entries.js';
import { MediaRepository } from '../storage/media.js';
import { ObjectStore } from '../storage/objects.js';
import { RevisionsRepository } from '../storage/revisions.js';
import { EntriesService, type Clock } from './entries.js';
import { indexSpecs, uniqueFields } from './writes.js';
import { MediaService } from './media/service.js';
import type { ListLimits } from './query.js';
import { AuthService } from './auth.js';
import { AuditLog } from './audit.js';
import { createSessions } from '../auth/sessions.js';
import { UsersRepository } from '../storage/users.js';
import { ChangeLog } from '../storage/changes.js';
import { PreviewTokensRepository } from '../storage/previews.js';
import { SchedulesRepository } from '../storage/schedules.js';
import { Locales } from './locales.js';
import { PreviewService } from './previews.js';
import { SchedulesService } from './schedules.js';
import { setupWebhooks } from './webhooks.js';

declare module 'fastify' {
  interface FastifyInstance {
    registry: ContentTypeRegistry;
    entries: EntriesService;
    media: MediaService;
    auth: AuthService;
    audit: AuditLog;
    changes: ChangeLog;
    schedules: SchedulesService;
    previews: PreviewService;
    locales: Locales;
  }
}

export interface ServicesOptions {
  registry: ContentTypeRegistry;
  limits: ListLimits;
  media: MediaConfig;
  auth: AuthConfig;
  publicUrl: string;
  locales: LocaleConfig;
  publishing: PublishingConfig;
  webhooks: WebhookConfig;
  now?: Clock;
  /** Seconds between sweeps of abandoned uploads and orphaned objects; 0 turns the sweeper off. */
  sweepInterval?: number;
}

export default fp<ServicesOptions>(
  async (app, opts) => {
    const repo = new EntriesRepository(app.mongo.db);
    for (const type of opts.registry.all()) {
      const specs = indexSpecs(type);
      for (const view of type.drafts ? (['draft', 'published'] as const) : (['draft'] as const)) {
        const { created, dropped } = await repo.syncIndexes(type.id, specs, view);
        if (created.length || dropped.length) app.log.info({ type: type.id, view, created, dropped }, 'indexes updated');
      }
      // drafts turned on (or the type is new): what was live becomes the published snapshots
      if (type.drafts && (await repo.hadDrafts(type.id)) !== true) {
        const result = await repo.reconcilePublished(type.id, uniqueFields(type));
        if (result.published || result.removed || result.clashes.length) app.log.info({ type: type.id, ...result }, 'drafts turned on: live entries are now the published versions');
      }
      await repo.rememberDrafts(type.id, type.drafts);
    }
    const now = opts.now ?? (() => new Date());
    const revisions = new RevisionsRepository(app.mongo.db);
    await revisions.ensureIndexes();
    const changes = new ChangeLog(app.mongo.db);
    await mkdir(opts.media.tmpDir, { recursive: true });
    const media = new MediaService(new MediaRepository(app.mongo.db), new ObjectStore(app.s3), opts.registry, repo, opts.media, opts.publicUrl, opts.limits, changes, now);
    const locales = new Locales(opts.locales);
    const entries = new EntriesService(opts.registry, repo, revisions, changes, locales, opts.limits, media, now);
    app.decorate('registry', opts.registry);
    app.decorate('media', media);
    app.decorate('entries', entries);
    app.decorate('changes', changes);
    app.decorate('locales', locales);
    const previews = new PreviewService(new PreviewTokensRepository(app.mongo.db), entries, opts.publishing.previewTokenMinutes, now);
    app.decorate('previews', previews);
    const users = new UsersRepository(app.mongo.db);
    await users.ensureIndexes();
    const sessions = createSessions(users, { idleMinutes: opts.auth.idleMinutes, maxHours: opts.auth.maxHours, secure: opts.publicUrl.startsWith('https:'), now });
    const auth = new AuthService(users, sessions, opts.auth, now, new PreviewTokensRepository(app.mongo.db));
    app.decorate('auth', auth);
    const audit = new AuditLog(app.mongo.db, opts.limits, now);
    app.decorate('audit', audit);
    const scheduleRepo = new SchedulesRepository(app.mongo.db);
    await scheduleRepo.ensureIndexes();
    const schedules = new SchedulesService(scheduleRepo, revisions, entries, opts.publishing.scheduleLeaseSeconds * 1000, now, async (s, report) => {
      const action = report.state === 'done' ? `entry.${s.action}` : `schedule.failed`;
      await audit.record({ system: `schedule ${s._id}` }, { ip: '' }, action, { kind: 'entry', type: s.type, id: s.entryId });
    }, (actor) => auth.mayPublishNow(actor));
    app.decorate('schedules', schedules);
    if (opts.publishing.schedulePollSeconds > 0) {
      // once the app is ready: due schedules missed while no server ran go first
      let stop: (() => Promise<void>) | undefined;
      app.addHook('onReady', async () => {
        stop = schedules.start(opts.publishing.schedulePollSeconds, (err) => app.log.warn({ err }, 'scheduled publishing failed'));
      });
      app.addHook('onClose', async () => {
        await stop?.();
      });
    }
    // the webhook dispatcher: started on ready and stopped on close, as the schedule runner is
    await setupWebhooks(app, { config: opts.webhooks, registry: opts.registry, changes, now });

    const interval = opts.sweepInterval ?? 300;
    if (interval > 0) {
      let running: Promise<unknown> = Promise.resolve();
      const timer = setInterval(() => {
        running = Promise.all([
          media.sweep(),
          auth.sweep(),
          audit.prune(opts.auth.auditRetentionDays),
          previews.sweep(),
          entries.repairLog(),
          scheduleRepo.pruneFences(new Date(now().getTime() - 7 * 86400_000).toISOString()),
        ]).catch((err: unknown) => app.log.warn({ err }, 'sweep failed'));
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
