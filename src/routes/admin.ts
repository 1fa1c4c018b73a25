// The admin UI: the built single-page app at /admin (hashed assets cached for good, index.html
// always revalidated, every other path answered with index.html so the app's router takes it), a
// strict CSP for its pages, and the endpoints that only the UI needs: /api/admin/info (is setup
// still open?), /api/admin/types (the content types, described for the forms) and
// /api/admin/validators/<type>.<hash>.js (each type's form validators, precompiled).
import { stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { allowed, canReadContent, requireUser } from '../auth/access.js';
import type { ContentType } from '../content-types/registry.js';
import type { SchemaNode } from '../content-types/fields.js';
import { CmsError, codes, errorBody, invalid, notFound } from '../errors.js';
import { compileFormValidator, formSchemasOf, type FormSchemas, type FormValidator } from '../services/form-validators.js';
import { labelOf, type FieldInfo, type FormInfo, type TypeInfo } from './admin-types.js';

export { labelOf };

/** Where `npm run build` puts the UI: admin-ui/dist at the project root (this file runs from dist/src/routes). */
export const DEFAULT_ADMIN_UI_DIR = resolve(import.meta.dirname, '..', '..', '..', 'admin-ui', 'dist');

export interface AdminRoutesOptions {
  publicUrl: string;
  /** The built UI (default: admin-ui/dist of the project). */
  uiDir?: string;
}

/** One top-level field, as the UI's forms, columns and filters need it (the shape is shared with the UI). */
export type AdminFieldInfo = FieldInfo;

/** A content type for the UI; `form` (what the entry form validates against) is added when the types are listed. */
export type AdminTypeInfo = Omit<TypeInfo<SchemaNode, FormSchemas['schema']>, 'form'> & { form?: FormInfo<FormSchemas['schema']> };

const IMMUTABLE = 'public, max-age=31536000, immutable';

function noQuery(request: FastifyRequest): void {
  const keys = Object.keys((request.query ?? {}) as object);
  if (keys.length) throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${keys.join(', ')}`, keys.map((path) => ({ path, message: 'unknown query parameter' })));
}

function typeOf(node: SchemaNode): string {
  if (typeof node.type === 'string') return node.type;
  if (Array.isArray(node.type)) return node.type.find((t) => t !== 'null') ?? 'string';
  if (node.enum?.every((v) => typeof v === 'string')) return 'string';
  return 'string';
}

export function describeType(type: ContentType): AdminTypeInfo {
  const required = new Set(type.schema.required ?? []);
  const fields = Object.entries(type.schema.properties ?? {}).map(([name, node]): AdminFieldInfo => {
    const facts = type.fields.get(name);
    const cms = node['x-cms'] ?? {};
    const items = node.items;
    const label = cms.label ?? (typeof node.title === 'string' ? node.title : labelOf(name));
    const out: AdminFieldInfo = {
      name,
      type: typeOf(node),
      label,
      required: required.has(name),
      localized: cms.localized === true,
      unique: cms.unique === true,
      private: facts?.private ?? cms.private === true,
    };
    const format = node.format ?? items?.format;
    if (format) out.format = format;
    const values = node.enum ?? items?.enum;
    if (values) out.enum = values;
    if (cms.widget) out.widget = cms.widget;
    const ref = cms.ref ?? items?.['x-cms']?.ref;
    if (ref) out.ref = ref;
    const media = cms.media ?? items?.['x-cms']?.media;
    if (media) out.media = media.accept ? { accept: media.accept } : true;
    if (cms.slugFrom) out.slugFrom = cms.slugFrom;
    if (cms.help) out.help = cms.help;
    return out;
  });
  const description = typeof type.schema.description === 'string' ? type.schema.description : undefined;
  return {
    id: type.id,
    title: type.title,
    ...(description ? { description } : {}),
    singleton: type.singleton,
    ...(type.displayField ? { displayField: type.displayField } : {}),
    drafts: type.drafts,
    public: type.public,
    previewUrl: type.previewUrl !== undefined,
    schema: type.schema,
    fields,
  };
}

/** The pages' policy: only our own scripts and styles; images may also come from the media URL's origin. */
function cspDirectives(publicUrl: string): Record<string, string[]> {
  const mediaOrigin = publicUrl ? [new URL(publicUrl).origin] : [];
  return {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:', 'blob:', ...mediaOrigin],
    mediaSrc: ["'self'", 'blob:', ...mediaOrigin],
    connectSrc: ["'self'"],
    fontSrc: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    objectSrc: ["'none'"],
  };
}

const notBuiltPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Admin UI not built</title></head><body>
<h1>The admin UI has not been built</h1>
<p>Run <code>npm run build</code> (or <code>npm start</code>, which builds it when it is missing), then reload this page.</p>
</body></html>`;

export default async function adminRoutes(app: FastifyInstance, opts: AdminRoutesOptions): Promise<void> {
  const root = resolve(opts.uiDir ?? DEFAULT_ADMIN_UI_DIR);
  const helmet = { contentSecurityPolicy: { useDefaults: false, directives: cspDirectives(opts.publicUrl) } };

  // --- the endpoints the UI reads ---

  app.get('/api/admin/info', { config: { auth: false } }, async (request, reply) => {
    noQuery(request);
    reply.header('cache-control', 'no-store');
    return { data: { setupRequired: !(await app.auth.hasUsers()) } };
  });

  // compiled once per type when first asked for (types load at start-up and never change after)
  const validators = new Map<string, Promise<FormValidator>>();
  const validatorOf = (type: ContentType): Promise<FormValidator> => {
    let validator = validators.get(type.id);
    if (!validator) {
      validator = compileFormValidator(type);
      // a failure is not kept: the next request tries again (and reports it again)
      validator.catch(() => validators.delete(type.id));
      validators.set(type.id, validator);
    }
    return validator;
  };
  const formOf = async (request: FastifyRequest, type: ContentType): Promise<AdminTypeInfo['form']> => {
    const schemas = formSchemasOf(type);
    try {
      const { hash } = await validatorOf(type);
      return { ...schemas, validatorUrl: `/api/admin/validators/${type.id}.${hash}.js` };
    } catch (e) {
      // the other types stay editable; this one's edit view says its validation is unavailable
      request.log.error({ err: e, type: type.id }, 'could not compile the form validator');
      return { ...schemas, validatorUrl: null };
    }
  };

  app.get('/api/admin/types', async (request) => {
    requireUser(request.auth);
    noQuery(request);
    const types = app.registry.all().filter((t) => allowed(() => canReadContent(request.auth, t)));
    const data = await Promise.all(
      types.map(async (type) => ({ ...describeType(type), form: await formOf(request, type) })),
    );
    return {
      data,
      meta: { locales: app.locales.config.locales, defaultLocale: app.locales.default },
    };
  });

  // the form validators of one type: an ES module the edit view imports (script-src 'self' allows it);
  // the URL carries the content hash, so the module is cached for good
  const validatorRoute = {
    // after the session's `private, no-store` (set for every signed-in answer): this one never changes
    onSend: async (_request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      if (reply.statusCode === 200) reply.header('cache-control', 'private, max-age=31536000, immutable');
      return payload;
    },
  };
  app.get<{ Params: { file: string } }>('/api/admin/validators/:file', validatorRoute, async (request, reply) => {
    requireUser(request.auth);
    noQuery(request);
    const match = /^([a-z][a-z0-9-]*)\.([0-9a-f]{16})\.js$/.exec(request.params.file);
    const type = match ? app.registry.get(match[1]!) : undefined;
    if (!match || !type || !allowed(() => canReadContent(request.auth, type))) {
      throw notFound(codes.typeNotFound, `No form validator at ${request.url}: ask GET /api/admin/types for the current address`);
    }
    const validator = await validatorOf(type);
    // a stale hash (the types changed since the page loaded): not this module
    if (validator.hash !== match[2]) throw notFound(codes.typeNotFound, `No form validator at ${request.url}: ask GET /api/admin/types for the current address`);
    return reply
      .header('etag', `"${validator.hash}"`)
      .type('text/javascript; charset=utf-8')
      .send(validator.code);
  });

  // --- the single-page app ---

  await app.register(async (ui) => {
    // sendFile only: the routes below decide what each path answers
    await ui.register(fastifyStatic, { root, serve: false, cacheControl: false, dotfiles: 'deny', index: false });

    // asked on every request (one stat): a build made, or being redone, while the server runs is noticed
    const isBuilt = () => stat(join(root, 'index.html')).then((s) => s.isFile(), () => false);
    const notBuilt = (request: FastifyRequest, reply: FastifyReply) => {
      reply.code(503).header('cache-control', 'no-store').header('retry-after', '30');
      if ((request.headers.accept ?? '').includes('text/html')) return reply.type('text/html; charset=utf-8').send(notBuiltPage);
      const error = new CmsError('unavailable', codes.adminUiNotBuilt, 'The admin UI has not been built: run `npm run build` (npm start builds it when missing)');
      return reply.type('application/json; charset=utf-8').send(errorBody(error));
    };
    const index = (reply: FastifyReply) => reply.header('cache-control', 'no-cache').sendFile('index.html');

    /** A file of the build (not a directory, not outside it), or undefined. */
    const fileAt = async (rel: string): Promise<string | undefined> => {
      const full = resolve(root, rel);
      if (!full.startsWith(root + sep)) return undefined;
      return (await stat(full).then((s) => s.isFile(), () => false)) ? rel : undefined;
    };

    const route = { config: { auth: false }, helmet };

    ui.get('/admin', route, async (request, reply) => {
      const at = request.url.indexOf('?');
      return reply.redirect(`/admin/${at >= 0 ? request.url.slice(at) : ''}`, 301);
    });

    ui.get<{ Params: { '*': string } }>('/admin/*', route, async (request, reply) => {
      if (!(await isBuilt())) return notBuilt(request, reply);
      const rel = request.params['*'];
      if (rel.startsWith('assets/')) {
        // hashed names: a file never changes under its name; a missing one is a 404, not the app
        if (!(await fileAt(rel))) return reply.callNotFound();
        return reply.header('cache-control', IMMUTABLE).sendFile(rel);
      }
      if (rel === '' || rel === 'index.html') return index(reply);
      // other files of the build (an icon, say) as they are; any other path is a route of the app
      const file = await fileAt(rel);
      if (file) return reply.header('cache-control', 'no-cache').sendFile(file);
      return index(reply);
    });
  });
}
