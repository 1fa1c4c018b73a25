// /api/media (the library, uploads) and /media/:id/:name (delivery: originals with ranges, variants).
import { rm } from 'node:fs/promises';
import multipart from '@fastify/multipart';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MediaConfig } from '../config.js';
import { CmsError, codes, errorBody, invalid } from '../errors.js';
import { matchesType, parseAccept, SVG } from '../services/media/files.js';
import { missingFile, tooLarge, type Candidate, type EditableMeta } from '../services/media/service.js';
import type { MediaDoc } from '../storage/media.js';
import { allowed, canPreviewContent, canReadContent, canReadMediaLibrary, canWriteMedia, creatorId } from '../auth/access.js';
import { parseIfMatch } from './content.js';

type IdParams = { id: string };
type Query = Record<string, unknown>;

const YEAR = 31536000;
const IMMUTABLE = `public, max-age=${YEAR}, immutable`;
const META_FIELDS = new Set(['alt', 'caption', 'title', 'tags', 'focal']);

/** @fastify/multipart's errors, as ours. */
function fromMultipart(err: unknown, config: MediaConfig): unknown {
  switch ((err as FastifyError).code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new CmsError('too-large', codes.mediaTooLarge, `A file is larger than the limit of ${config.maxFileSize} bytes`, [{ path: '/files', message: `larger than ${config.maxFileSize} bytes` }]);
    case 'FST_FILES_LIMIT':
      return new CmsError('too-large', codes.mediaTooManyFiles, `At most ${config.maxFiles} files go in one request`, [{ path: '/files', message: `more than ${config.maxFiles} files` }]);
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new CmsError('too-large', codes.mediaTooManyParts, 'The form has too many parts', [{ path: '', message: 'too many parts' }]);
    case 'FST_PROTO_VIOLATION':
      return invalid(codes.bodyForbiddenKey, 'The form contains a field name that is not allowed', [{ path: '', message: 'forbidden field name' }]);
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new CmsError('unsupported-media', codes.bodyUnsupportedType, 'Send files as multipart/form-data', [{ path: 'content-type', message: 'not multipart/form-data' }]);
    case 'FST_MP_PREMATURE_CLOSE':
      return invalid(codes.mediaAborted, 'The upload ended before the form was complete', [{ path: '', message: 'incomplete form' }]);
  }
  // busboy's own parse errors are plain Errors
  const message = err instanceof Error && !(err instanceof CmsError) ? err.message : '';
  if (/^Unexpected end of (multipart|form)/i.test(message)) return invalid(codes.mediaAborted, 'The upload ended before the form was complete', [{ path: '', message: 'incomplete form' }]);
  if (/boundary not found|malformed (part )?header|multipart: /i.test(message)) return invalid(codes.requestInvalid, `The multipart body is malformed: ${message}`, [{ path: '', message: 'malformed multipart body' }]);
  return err;
}

/**
 * busboy silently skips a part whose (RFC 5987 encoded) name holds a line break, so the client
 * would be told its upload succeeded with a file missing. Watch the raw body for such names.
 */
function watchForHiddenParts(request: FastifyRequest): { readonly found: boolean; stop(): void } {
  const pattern = /name\*\s*=[^\r\n;]*%0[ad]/i;
  let tail = '';
  const state = { found: false, stop: () => request.raw.off('data', onData) };
  function onData(chunk: Buffer) {
    if (state.found) return;
    const text = tail + chunk.toString('latin1');
    if (pattern.test(text)) state.found = true;
    tail = text.slice(-512);
  }
  request.raw.on('data', onData);
  return state;
}

/** Form fields sent with files: alt, caption, title (text), tags (repeated, or comma-separated), focal ("x,y"). */
function formMeta(fields: Map<string, string[]>): Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  for (const [name, values] of fields) {
    if (name === 'tags') meta.tags = values.flatMap((v) => v.split(',')).map((t) => t.trim()).filter(Boolean);
    else if (name === 'focal') {
      const parts = (values[0] ?? '').split(',').map((n) => (/^\s*\d*\.?\d+\s*$/.test(n) ? Number(n) : n));
      if (parts.length !== 2 || values.length > 1) throw invalid(codes.mediaValidation, 'focal is one pair "x,y" of numbers from 0 to 1', [{ path: '/fields/focal', message: 'must be "x,y"' }]);
      meta.focal = { x: parts[0], y: parts[1] };
    } else if (values.length > 1) throw invalid(codes.mediaBadField, `The form field ${name} is given more than once`, [{ path: `/fields/${name}`, message: 'given more than once' }]);
    else meta[name] = values[0];
  }
  return meta;
}

/** One byte range (`bytes=a-b`, `a-` or `-n`) within `size`; 'unsatisfiable', or undefined to send it all. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^\s*bytes\s*=\s*(\d{0,15})\s*-\s*(\d{0,15})\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return undefined;
  return { start, end };
}

function contentDisposition(doc: MediaDoc): string {
  const disposition = doc.mime === SVG ? 'attachment' : 'inline';
  const ascii = doc.filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `${disposition}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(doc.filename)}`;
}

export default async function mediaRoutes(app: FastifyInstance, opts: { config: MediaConfig }): Promise<void> {
  const media = app.media;
  const config = opts.config;
  const record = (request: FastifyRequest, action: string, id: string, fields?: string[]) =>
    app.audit.record(request.auth, { ip: request.ip, userAgent: request.headers['user-agent'] }, action, { kind: 'media', id, ...(fields ? { fields } : {}) });
  await app.register(multipart, {
    // busboy would cut `../x.png` down to `x.png`; we want to see it, and refuse it
    preservePath: true,
    throwFileSizeLimit: true,
    limits: { fileSize: config.maxFileSize, files: config.maxFiles, fields: 20, fieldSize: 8192, parts: config.maxFiles + 20, headerPairs: 100 },
  });

  // --- uploads ---

  app.post('/api/media', async (request, reply) => {
    canWriteMedia(request.auth, 'upload');
    // `accept`: the types the caller wants (a media field's), checked against the sniffed type before anything is stored
    const { accept: rawAccept, ...unknown } = request.query as Query;
    if (Object.keys(unknown).length) throw invalid(codes.queryUnknownParam, 'POST /api/media takes only the query parameter accept', [{ path: Object.keys(unknown)[0]!, message: 'unknown query parameter' }]);
    let accept: string[] | undefined;
    if (rawAccept !== undefined) {
      const parsed = typeof rawAccept === 'string' ? parseAccept(rawAccept) : { problem: 'give it once' };
      if ('problem' in parsed) throw invalid(codes.queryBadValue, `accept: ${parsed.problem}`, [{ path: 'accept', message: parsed.problem }]);
      accept = parsed;
    }
    const candidates: Candidate[] = [];
    const temporary: string[] = [];
    const fields = new Map<string, string[]>();
    const hidden = watchForHiddenParts(request);
    let results: Awaited<ReturnType<typeof media.store>>;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          const path = `/files/${candidates.length}`;
          const spooled = await media.spool(part.file, config.maxFileSize, path);
          temporary.push(spooled.path);
          // busboy stops a file at the limit and says so only here
          if (part.file.truncated) throw tooLarge(config.maxFileSize, path);
          candidates.push(await media.examine(spooled, part.filename, path));
        } else {
          if (!META_FIELDS.has(part.fieldname)) {
            throw invalid(codes.mediaBadField, `Unknown form field "${part.fieldname.slice(0, 64)}": send files, and optionally ${[...META_FIELDS].join(', ')}`, [{ path: `/fields/${part.fieldname.slice(0, 64)}`, message: 'unknown field' }]);
          }
          fields.set(part.fieldname, [...(fields.get(part.fieldname) ?? []), String(part.value)]);
        }
      }
      if (hidden.found) throw invalid(codes.mediaBadFilename, 'A part of the form has a name with a line break', [{ path: '/files', message: 'a name with a line break' }]);
      if (!candidates.length) throw invalid(codes.mediaNoFile, 'The form holds no file', [{ path: '/files', message: 'no file' }]);
      if (accept) {
        const wanted = accept;
        const refused = candidates.flatMap((c, i) => (matchesType(c.mime, wanted) ? [] : [{ path: `/files/${i}`, message: `is ${c.mime}, not ${wanted.join(' or ')}`, detected: c.mime }]));
        if (refused.length) throw new CmsError('unsupported-media', codes.mediaTypeNotAccepted, `Only ${wanted.join(', ')} may be uploaded here: ${refused.map((r) => `"${candidates[Number(r.path.split('/')[2])]!.filename}" ${r.message}`).join('; ')}`, refused);
      }
      const meta = media.checkMeta(formMeta(fields), '/fields') as EditableMeta;
      results = await media.store(candidates, meta, creatorId(request.auth));
    } catch (err) {
      throw fromMultipart(err, config);
    } finally {
      hidden.stop();
      await Promise.all(temporary.map((file) => rm(file, { force: true })));
    }
    for (const r of results) if (r.created) await record(request, 'media.upload', r.doc._id);
    return reply.code(results.some((r) => r.created) ? 201 : 200).send({
      data: results.map((r) => media.toJson(r.doc)),
      meta: { deduplicated: results.filter((r) => !r.created).map((r) => r.doc._id) },
    });
  });

  app.post('/api/media/uploads', async (request, reply) => {
    canWriteMedia(request.auth, 'upload');
    return reply.code(201).send({ data: await media.createUpload(request.body, creatorId(request.auth)) });
  });

  app.post<{ Params: IdParams }>('/api/media/uploads/:id/complete', async (request, reply) => {
    canWriteMedia(request.auth, 'upload');
    const { doc, created } = await media.completeUpload(request.params.id);
    if (created) await record(request, 'media.upload', doc._id);
    return reply.code(created ? 201 : 200).send({ data: media.toJson(doc) });
  });

  // --- the library ---

  app.get('/api/media', async (request) => {
    canReadMediaLibrary(request.auth);
    return media.list(request.query as Query);
  });

  app.get<{ Params: IdParams }>('/api/media/:id', async (request) => {
    canReadMediaLibrary(request.auth);
    if (Object.keys(request.query as Query).length) throw invalid(codes.queryUnknownParam, 'This route takes no query parameters', [{ path: Object.keys(request.query as Query)[0]!, message: 'unknown query parameter' }]);
    return { data: media.toJson(await media.get(request.params.id)) };
  });

  app.get<{ Params: IdParams }>('/api/media/:id/usage', async (request) => {
    canReadMediaLibrary(request.auth);
    await media.get(request.params.id);
    // only entries of types the caller may read are listed, and drafts only to those who may read drafts
    const users = await media.usage(request.params.id, 100, (type) => {
      if (!allowed(() => canReadContent(request.auth, type))) return false;
      return allowed(() => canPreviewContent(request.auth, type)) ? 'all' : 'published';
    });
    return { data: users };
  });

  app.patch<{ Params: IdParams }>('/api/media/:id', async (request) => {
    const ifMatch = parseIfMatch(request.headers['if-match']);
    if (ifMatch === '*') throw invalid(codes.entryBadPrecondition, 'If-Match takes the media version here', [{ path: 'if-match', message: 'not a version' }]);
    const before = await media.get(request.params.id);
    canWriteMedia(request.auth, 'update', before.createdBy);
    const doc = await media.update(request.params.id, request.body, ifMatch);
    const changed = (['filename', 'alt', 'caption', 'title', 'tags', 'focal'] as const).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(doc[k]));
    await record(request, 'media.update', doc._id, changed);
    return { data: media.toJson(doc) };
  });

  app.delete<{ Params: IdParams; Querystring: Query }>('/api/media/:id', async (request, reply) => {
    const { force, ...rest } = request.query;
    const unknown = Object.keys(rest);
    if (unknown.length) throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${unknown.join(', ')}`, unknown.map((path) => ({ path, message: 'unknown query parameter' })));
    if (force !== undefined && force !== 'true' && force !== 'false') throw invalid(codes.queryBadValue, 'force must be true or false', [{ path: 'force', message: 'must be true or false' }]);
    canWriteMedia(request.auth, 'delete', (await media.get(request.params.id)).createdBy);
    await media.remove(request.params.id, force === 'true');
    await record(request, 'media.delete', request.params.id);
    return reply.code(204).send();
  });

  // --- delivery ---

  const deliver = async (request: FastifyRequest<{ Params: { id: string; name: string } }>, reply: FastifyReply) => {
    const doc = await media.get(request.params.id);
    const parsed = media.parseVariant(doc, request.query as Query);
    if (parsed && 'redirect' in parsed) return reply.header('cache-control', 'no-cache').redirect(parsed.redirect, 302);
    // headers go out only with a success: an error must never be cached as immutable
    const headers: Record<string, string | number> = { 'x-content-type-options': 'nosniff', 'cache-control': IMMUTABLE };
    if (parsed) {
      headers.etag = `"${doc._id}-${parsed.variant.name}"`;
      if (request.headers['if-none-match'] === headers.etag) return reply.code(304).headers(headers).send();
      const out = await media.variant(doc, parsed.variant);
      reply.headers(headers).type(out.type).header('content-length', out.length);
      if (request.method === 'HEAD') {
        if ('destroy' in out.body) out.body.destroy();
        return reply.send();
      }
      return reply.send(out.body);
    }

    headers.etag = `"${doc.hash}"`;
    headers['accept-ranges'] = 'bytes';
    headers['content-disposition'] = contentDisposition(doc);
    // never rendered as a page on our origin: scripts in an SVG or a text file stay inert
    if (doc.mime === SVG || doc.mime.startsWith('text/')) headers['content-security-policy'] = "sandbox; default-src 'none'";
    if (request.headers['if-none-match'] === headers.etag) return reply.code(304).headers(headers).send();
    const ifRange = request.headers['if-range'];
    const range = ifRange === undefined || ifRange === headers.etag ? parseRange(request.headers.range, doc.size) : undefined;
    if (range === 'unsatisfiable') {
      const err = new CmsError('range', codes.mediaRange, `The range is outside the file (${doc.size} bytes)`, [{ path: 'range', message: 'not satisfiable' }]);
      return reply.code(416).header('content-range', `bytes */${doc.size}`).type('application/json; charset=utf-8').send(errorBody(err));
    }
    const type = doc.mime.startsWith('text/') ? `${doc.mime}; charset=utf-8` : doc.mime;
    if (request.method === 'HEAD') return reply.headers(headers).type(type).header('content-length', doc.size).send();
    const object = await media.original(doc, range);
    if (!object) throw missingFile(doc._id);
    reply.headers(headers).type(type).header('content-length', object.contentLength);
    if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${doc.size}`);
    return reply.send(object.body);
  };
  // delivery is public: the URLs are what static sites publish
  app.get('/media/:id/:name', { exposeHeadRoute: false, config: { auth: false } }, deliver);
  app.head('/media/:id/:name', { config: { auth: false } }, deliver);
}
