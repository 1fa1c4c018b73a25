// GET /api/sync (the change feed for static builds) and GET /api/export (every published entry, with
// hashes): NDJSON, read with the same access as GET /api/content. Everything a request can get wrong
// is checked before the first byte goes out; an error after that cuts the stream short, and a client
// that saw no `end` line knows the answer is incomplete.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { canReadMediaLibrary } from '../auth/access.js';
import { EntriesRepository } from '../storage/entries.js';
import { MediaRepository } from '../storage/media.js';
import { SyncService } from '../services/sync.js';
import { callerOf } from './content.js';

type Query = Record<string, unknown>;

/** Streams the chunks; the first is awaited before the reply starts, so early errors keep their status. */
async function sendNdjson(reply: FastifyReply, chunks: AsyncGenerator<string>): Promise<FastifyReply> {
  const first = await chunks.next();
  const rest = async function* () {
    if (!first.done) yield first.value;
    yield* chunks;
  };
  reply.type('application/x-ndjson; charset=utf-8');
  // a feed moves on with every write: never cached (authenticated answers are private, no-store anyway)
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  return reply.send(Readable.from(rest(), { objectMode: false }));
}

/** `pageSize`: entries per query of a full sync, and per list call of an export (LIST_MAX_LIMIT). */
export default async function syncRoutes(app: FastifyInstance, opts: { pageSize: number }): Promise<void> {
  const sync = new SyncService(
    app.registry,
    app.entries,
    new EntriesRepository(app.mongo.db),
    new MediaRepository(app.mongo.db),
    (doc) => app.media.toJson(doc),
    app.changes,
    app.locales,
    opts.pageSize,
  );

  app.get('/api/sync', async (request, reply) => {
    const plan = await sync.sync(request.query as Query, {
      caller: callerOf(request.auth),
      mayReadMedia: () => canReadMediaLibrary(request.auth),
    });
    return sendNdjson(reply, plan.chunks);
  });

  app.get('/api/export', async (request, reply) => {
    const chunks = await sync.export(request.query as Query, callerOf(request.auth), opts.pageSize);
    return sendNdjson(reply, chunks);
  });
}
