// /healthz: the process is alive. /readyz: MongoDB and S3 answer.
import type { FastifyInstance } from 'fastify';

async function check(name: string, probe: () => Promise<unknown>): Promise<{ name: string; ok: boolean; error?: string }> {
  try {
    await probe();
    return { name, ok: true };
  } catch (err) {
    return { name, ok: false, error: (err as Error).name || 'unavailable' };
  }
}

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const checks = await Promise.all([
      check('mongodb', () => app.mongo.db.command({ ping: 1 }, { timeoutMS: 3000 })),
      check('s3', () => app.s3.ping()),
    ]);
    const ok = checks.every((c) => c.ok);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', checks });
  });
}
