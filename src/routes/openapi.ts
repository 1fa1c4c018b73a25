// GET /api/openapi.json: the OpenAPI 3.1 description of this server's API, made once at start-up
// from the content types it serves.
import type { FastifyInstance } from 'fastify';
import { openApiDocument } from '../codegen/openapi.js';

export interface OpenApiRoutesOptions {
  publicUrl: string;
}

export default async function openApiRoutes(app: FastifyInstance, opts: OpenApiRoutesOptions): Promise<void> {
  const body = JSON.stringify(openApiDocument(app.registry, opts.publicUrl ? { serverUrl: opts.publicUrl } : {}));
  app.get('/api/openapi.json', { config: { auth: false } }, async (_request, reply) =>
    reply.header('content-type', 'application/json; charset=utf-8').header('cache-control', 'public, max-age=300').send(body),
  );
}
