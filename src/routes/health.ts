// /healthz: the process is alive. /readyz: MongoDB and S3 answer.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

async function check(log: FastifyBaseLogger, name: string, probe: () => Promise<unknown>): Promise<{ name: string; ok: boolean }> {
  try {
    await probe();
    return { name, ok: true };
  } catch (err) {
    // the reason goes to the log; the response says only which check failed
    log.warn({ err, check: name }, 'readiness check failed');
    return { name, ok: false };
  }
}

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', { config: { auth: false } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { auth: false } }, async (request, reply) => {
    const checks = await Promise.all([
      check(request.log, 'mongodb', () => app.mongo.db.command({ ping: 1 }, { timeoutMS: 3000 })),
      check(request.log, 's3', () => app.s3.ping()),
    ]);
    const ok = checks.every((c) => c.ok);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', checks });
  });
}
