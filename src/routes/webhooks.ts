// /api/webhooks: webhooks and their delivery log (admins only).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireUser } from '../auth/access.js';
import { codes, invalid } from '../errors.js';

type IdParams = { id: string };
type DeliveryParams = { id: string; deliveryId: string };

const where = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers['user-agent'] });

function noQuery(request: FastifyRequest): void {
  const keys = Object.keys((request.query ?? {}) as object);
  if (keys.length) throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${keys.join(', ')}`, keys.map((path) => ({ path, message: 'unknown query parameter' })));
}

export default async function webhookRoutes(app: FastifyInstance, opts: { maxOffset?: number } = {}): Promise<void> {
  const webhooks = app.webhooks;
  const audit = app.audit;
  const admin = (request: FastifyRequest) => {
    requireUser(request.auth, ['admin']);
    return request.auth.kind === 'user' ? request.auth.user.id : '';
  };

  app.get('/api/webhooks', async (request) => {
    admin(request);
    noQuery(request);
    return { data: await webhooks.list() };
  });

  app.post('/api/webhooks', async (request, reply) => {
    const me = admin(request);
    noQuery(request);
    const { webhook, secret } = await webhooks.create(request.body, me);
    await audit.record(request.auth, where(request), 'webhook.create', { kind: 'webhook', id: webhook._id, fields: ['url', 'events', ...(webhook.types ? ['types'] : []), 'enabled', 'description'] });
    // the secret is shown this once
    return reply.code(201).header('location', `/api/webhooks/${webhook._id}`).send({ data: webhook, secret });
  });

  app.get<{ Params: IdParams }>('/api/webhooks/:id', async (request) => {
    admin(request);
    noQuery(request);
    return { data: await webhooks.get(request.params.id) };
  });

  app.patch<{ Params: IdParams }>('/api/webhooks/:id', async (request) => {
    admin(request);
    noQuery(request);
    const { webhook, changed } = await webhooks.update(request.params.id, request.body);
    if (changed.length) await audit.record(request.auth, where(request), 'webhook.update', { kind: 'webhook', id: webhook._id, fields: changed });
    return { data: webhook };
  });

  app.delete<{ Params: IdParams }>('/api/webhooks/:id', async (request, reply) => {
    admin(request);
    noQuery(request);
    const webhook = await webhooks.delete(request.params.id);
    await audit.record(request.auth, where(request), 'webhook.delete', { kind: 'webhook', id: webhook._id });
    return reply.code(204).send();
  });

  app.get<{ Params: IdParams }>('/api/webhooks/:id/deliveries', async (request) => {
    admin(request);
    return webhooks.deliveries(request.params.id, request.query as Record<string, unknown>, opts.maxOffset ?? 10000);
  });

  app.post<{ Params: DeliveryParams }>('/api/webhooks/:id/deliveries/:deliveryId/replay', async (request, reply) => {
    admin(request);
    noQuery(request);
    const delivery = await webhooks.replay(request.params.id, request.params.deliveryId);
    await audit.record(request.auth, where(request), 'webhook.replay', { kind: 'webhook-delivery', id: delivery._id });
    return reply.code(202).send({ data: delivery });
  });
}
