// The OpenAPI 3.1 description of the API, generated from the content types at start-up, so it
// describes exactly the routes src/routes/content.ts registers for them.
import type { ContentType, ContentTypeRegistry } from '../content-types/registry.js';
import type { FieldInfo, FieldKind, SchemaNode } from '../content-types/fields.js';
import { OPS_BY_KIND } from '../services/query.js';
import { cleanSchema, fieldDescription, localesOf, PRIVATE_NOTE, populatable, typeNames, withoutDefaults, withoutRequired } from './shared.js';
import { REVISION_ACTIONS } from '../storage/revisions.js';

type Json = Record<string, unknown>;

export interface OpenApiOptions {
  title?: string;
  version?: string;
  /** Where the API is served (PUBLIC_URL); omitted: relative to the document. */
  serverUrl?: string;
}

/** Names of the document's own components (content types may not take them). */
export const BUILT_IN_SCHEMAS = ['Error', 'ErrorDetail', 'Media', 'ListMeta', 'VersionSummary', 'FieldChange', 'Schedule', 'PreviewLink', 'User', 'ApiToken'];
/** Each content type `x` gets `X` (an entry as read), `XInput` (a create or replace body), `XPatch`. */
export const SCHEMA_SUFFIXES = ['Input', 'Patch'];

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const ID = { type: 'string', pattern: '^[0-9a-f]{24}$', description: 'Entry id: 24 hexadecimal characters' };

export const SYSTEM_FIELDS: Json = {
  _id: ID,
  _type: { type: 'string', description: 'The content type' },
  _version: { type: 'integer', minimum: 1, description: '1, then one more per write' },
  _createdAt: { type: 'string', format: 'date-time' },
  _updatedAt: { type: 'string', format: 'date-time' },
  _createdBy: { type: 'string', description: `Who created it (a user id, or token:<id>). ${PRIVATE_NOTE}` },
  _status: { type: 'string', enum: ['draft', 'published', 'changed'], description: 'Always published for types without drafts' },
  _publishedAt: { type: 'string', format: 'date-time', description: 'When it was last published' },
  _locale: { type: 'string', description: 'The locale localized fields were read in (absent with locale=*)' },
};

const ERROR_SCHEMAS: Json = {
  ErrorDetail: {
    type: 'object',
    properties: {
      path: { type: 'string', description: 'JSON pointer into the body ("" for the whole body), or the name of the query parameter, route parameter or header' },
      message: { type: 'string' },
    },
    required: ['path', 'message'],
    additionalProperties: true,
  },
  Error: {
    type: 'object',
    properties: {
      error: {
        type: 'object',
        properties: {
          code: { type: 'string', pattern: '^CMS_ERR_[A-Z0-9_]+$', description: 'Stable code; see the README "Errors" table', examples: ['CMS_ERR_ENTRY_VALIDATION'] },
          message: { type: 'string' },
          details: { type: 'array', maxItems: 101, items: ref('ErrorDetail') },
        },
        required: ['code', 'message', 'details'],
        additionalProperties: false,
      },
    },
    required: ['error'],
    additionalProperties: false,
  },
};

const ERROR_RESPONSES: Record<string, string> = {
  400: 'Bad input: the body, a query parameter, route parameter or header (CMS_ERR_ENTRY_VALIDATION, CMS_ERR_QUERY_*, CMS_ERR_BODY_*, …); details name every offending path',
  401: 'No credentials, or ones that are no longer valid (CMS_ERR_AUTH_REQUIRED, CMS_ERR_AUTH_INVALID)',
  403: 'Not allowed for this role, token or preview token; or a signed-in write without this site’s Origin (CMS_ERR_FORBIDDEN, CMS_ERR_CSRF)',
  404: 'No such type, entry, version or route',
  405: 'The method does not apply to this path (CMS_ERR_METHOD_NOT_ALLOWED, CMS_ERR_TYPE_SINGLETON)',
  409: 'Conflict: a unique value is taken, the entry is busy or referenced, or the action does not apply to its state',
  412: 'If-Match (or _version) is stale (CMS_ERR_ENTRY_VERSION_MISMATCH; details[0].current is the current version)',
  413: 'The body is over BODY_LIMIT',
  410: 'A sync token older than what the change log holds (CMS_ERR_SYNC_TOKEN_EXPIRED): run a full sync',
  416: 'A Range outside the file',
  415: 'The body is not application/json or application/merge-patch+json',
  429: 'Too many attempts (Retry-After says when to retry)',
  500: 'A bug (CMS_ERR_INTERNAL); details are in the server log only',
  503: 'MongoDB or S3 cannot be reached (CMS_ERR_SERVICE_UNAVAILABLE)',
};

const errorResponse = (status: string) => ({ $ref: `#/components/responses/Error${status}` });
const errors = (...statuses: number[]) => Object.fromEntries([...statuses, 500, 503].map((s) => [String(s), errorResponse(String(s))]));

export const MEDIA_SCHEMA = {
  type: 'object',
  description: 'A media item, with its delivery URL and, for raster images, a srcset',
  properties: {
    _id: { type: 'string', pattern: '^[0-9a-f]{24}$', description: 'The first 24 hexadecimal digits of the SHA-256 of the bytes' },
    _version: { type: 'integer', minimum: 1 },
    _createdAt: { type: 'string', format: 'date-time' },
    _updatedAt: { type: 'string', format: 'date-time' },
    filename: { type: 'string' },
    mime: { type: 'string' },
    kind: { type: 'string', enum: ['image', 'video', 'audio', 'document'] },
    size: { type: 'integer', minimum: 0 },
    hash: { type: 'string', description: 'SHA-256 of the bytes (hexadecimal)' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    pages: { type: 'integer', description: 'Frames of an animated image' },
    placeholder: { type: 'string', description: 'A thumbhash (base64) of the image' },
    alt: { type: 'string' },
    caption: { type: 'string' },
    title: { type: 'string' },
    focal: { type: 'object', properties: { x: { type: 'number', minimum: 0, maximum: 1 }, y: { type: 'number', minimum: 0, maximum: 1 } }, required: ['x', 'y'] },
    tags: { type: 'array', items: { type: 'string' } },
    url: { type: 'string' },
    srcset: {
      type: 'array',
      items: { type: 'object', properties: { width: { type: 'integer' }, height: { type: 'integer' }, url: { type: 'string' } }, required: ['width', 'height', 'url'] },
    },
  },
  required: ['_id', '_version', 'filename', 'mime', 'kind', 'size', 'url'],
};

const OTHER_SCHEMAS: Json = {
  Media: MEDIA_SCHEMA,
  ListMeta: {
    type: 'object',
    properties: {
      total: { type: 'integer', description: 'Entries matching the filters' },
      limit: { type: 'integer' },
      offset: { type: 'integer' },
      nextCursor: { type: ['string', 'null'], description: 'Pass as cursor= for the next page; null on the last page' },
      preview: { type: 'boolean', description: 'Whether drafts were read' },
      locale: { type: 'string' },
    },
  },
  VersionSummary: {
    type: 'object',
    properties: {
      version: { type: 'integer', minimum: 1 },
      action: { type: 'string', enum: [...REVISION_ACTIONS] },
      at: { type: 'string', format: 'date-time' },
      by: { type: 'string', description: 'A user id, token:<id> or schedule:<id>' },
      from: { type: 'integer', description: 'The version a restore brought back' },
      schedule: { type: 'string' },
    },
    required: ['version', 'action', 'at'],
  },
  FieldChange: {
    type: 'object',
    properties: {
      path: { type: 'string', description: 'JSON pointer of the changed value, e.g. /title/fr' },
      op: { type: 'string', enum: ['added', 'removed', 'changed'] },
      from: {},
      to: {},
    },
    required: ['path', 'op'],
  },
  Schedule: {
    type: 'object',
    properties: {
      _id: { type: 'string' },
      type: { type: 'string' },
      entryId: { type: 'string' },
      action: { type: 'string', enum: ['publish', 'unpublish'] },
      at: { type: 'string', format: 'date-time' },
      state: { type: 'string', enum: ['pending', 'running', 'done', 'failed', 'cancelled'] },
      createdBy: { type: 'string' },
      createdAt: { type: 'string', format: 'date-time' },
      attempts: { type: 'integer' },
      finishedAt: { type: 'string', format: 'date-time' },
      version: { type: 'integer' },
      error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
    },
    required: ['_id', 'type', 'entryId', 'action', 'at', 'state'],
  },
  PreviewLink: {
    type: 'object',
    properties: {
      token: { type: 'string', pattern: '^cmsp_', description: 'Send as Authorization: Bearer with ?preview=true' },
      expiresAt: { type: 'string', format: 'date-time' },
      url: { type: ['string', 'null'], description: "The type's previewUrl filled in, or null" },
    },
    required: ['token', 'expiresAt', 'url'],
  },
  User: {
    type: 'object',
    properties: {
      _id: { type: 'string' },
      email: { type: 'string', format: 'email' },
      name: { type: 'string' },
      role: { type: 'string', enum: ['admin', 'editor', 'author', 'viewer'] },
      status: { type: 'string', enum: ['active', 'suspended'] },
    },
  },
  ApiToken: {
    type: 'object',
    properties: {
      _id: { type: 'string' },
      name: { type: 'string' },
      scopes: { type: 'array', items: { type: 'string', enum: ['content:read', 'content:preview', 'content:write', 'content:publish', 'media:write'] } },
      types: { type: 'array', items: { type: 'string' } },
      expiresAt: { type: 'string', format: 'date-time' },
    },
  },
};

const SECURITY_SCHEMES = {
  session: { type: 'apiKey', in: 'cookie', name: 'cms_session', description: 'A signed-in user (POST /api/auth/login). Writes must carry this site’s Origin.' },
  apiToken: { type: 'http', scheme: 'bearer', bearerFormat: 'cmst_…', description: 'An API token made by an admin: acts within its scopes and types, never sees private fields' },
  previewToken: { type: 'http', scheme: 'bearer', bearerFormat: 'cmsp_…', description: 'Opens one entry’s draft with ?preview=true (POST …/preview makes one)' },
};

const SYSTEM_FILTERS: Record<string, string> = { _id: 'string', _createdAt: 'string', _updatedAt: 'string', _version: 'integer', _status: 'string', _publishedAt: 'string' };

function filterSchema(fields: Iterable<FieldInfo>): Json {
  const properties: Json = {};
  const add = (path: string, kind: string, isPrivate: boolean) => {
    const ops = OPS_BY_KIND[kind as FieldKind] ?? ['exists'];
    properties[path] = {
      description: `filter[${path}]=value (eq) or filter[${path}][op]=value; ${ops.join(', ')}${isPrivate ? `. ${PRIVATE_NOTE}` : ''}`,
      anyOf: [{ type: 'string' }, { type: 'object', propertyNames: { enum: ops }, additionalProperties: { type: 'string' } }],
    };
  };
  for (const [path, kind] of Object.entries(SYSTEM_FILTERS)) add(path, kind, false);
  for (const f of fields) add(f.path, f.kind, f.private);
  return { type: 'object', properties, additionalProperties: false };
}

function queryParam(name: string, schema: Json, description: string): Json {
  return { name, in: 'query', required: false, schema, description };
}

function readParams(type: ContentType, list: boolean): Json[] {
  const pop = populatable(type).map((p) => p.name);
  const params: Json[] = [];
  if (list) {
    params.push(
      { name: 'filter', in: 'query', style: 'deepObject', explode: true, schema: filterSchema(type.fields.values()), description: 'Filters, all of which apply: filter[field][op]=value; nested fields use dots (filter[seo.noIndex]=true)' },
      queryParam('sort', { type: 'string' }, 'Sort keys, comma-separated (at most 4), - for descending, e.g. -publishDate,title; ties are broken by _id'),
      queryParam('limit', { type: 'integer', minimum: 1 }, 'Page size, 1 to LIST_MAX_LIMIT (default LIST_DEFAULT_LIMIT)'),
      queryParam('offset', { type: 'integer', minimum: 0 }, 'Skip this many entries (up to LIST_MAX_OFFSET); not combinable with cursor'),
      queryParam('cursor', { type: 'string' }, 'The next page: meta.nextCursor of the previous page'),
    );
  }
  params.push(queryParam('fields', { type: 'string' }, 'Only these top-level fields, comma-separated (plus _id, _type, _version)'));
  if (pop.length) params.push(queryParam('populate', { type: 'string' }, `Replace the ids of these ref or media fields by the entries or media objects (null when unreadable): ${pop.join(', ')}`));
  params.push(queryParam('locale', { type: 'string' }, 'The locale of localized fields (* for the stored per-locale objects); default: the default locale'));
  if (type.drafts) params.push(queryParam('preview', { type: 'string', enum: ['true', 'false'] }, 'true: read drafts (a session, a content:preview/content:write token, or a preview token)'));
  return params;
}

const localeWriteParam = queryParam('locale', { type: 'string' }, 'The body’s localized fields are plain values of this locale (PUT keeps the other locales)');
const ifMatchParam = { name: 'If-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'The entry version, e.g. "3" (or * : the entry must exist); 412 if stale' };

/** A schema as OpenAPI shows it: our annotations dropped; refs, media and localized fields widened. */
function readSchema(type: ContentType, names: Map<string, string>): Json {
  const locales = localesOf(type);
  const fields = cleanSchema(type.schema, (node, path) => {
    const cms = node['x-cms'];
    if (!cms) return undefined;
    const plain = cleanSchema({ ...node, 'x-cms': { ...cms, ref: undefined, media: undefined, localized: undefined } } as SchemaNode);
    if (cms.localized && path.length === 1) {
      const perLocale = { type: 'object', properties: Object.fromEntries(locales.map((l) => [l, stripDescription(plain)])), additionalProperties: false };
      return { ...(plain.description ? { description: plain.description } : {}), anyOf: [stripDescription(plain), perLocale] };
    }
    if (cms.ref) {
      const target = names.get(cms.ref);
      return {
        description: `The id of a ${cms.ref} entry; with populate, that entry or null.${fieldDescription(node) ? ` ${fieldDescription(node)}` : ''}`,
        anyOf: [{ type: 'string' }, ...(target ? [ref(target)] : []), { type: 'null' }],
      };
    }
    if (cms.media) {
      const one = { anyOf: [{ type: 'string' }, ref('Media'), { type: 'null' }] };
      const description = `Media id${node.type === 'array' ? 's' : ''}; with populate, the media object${node.type === 'array' ? 's' : ''} (null when deleted).${fieldDescription(node) ? ` ${fieldDescription(node)}` : ''}`;
      if (node.type === 'array') return { ...stripDescription(plain), description, items: one };
      return { description, ...one };
    }
    return undefined;
  });
  const properties = {
    ...SYSTEM_FIELDS,
    ...(type.singleton ? { _id: { type: 'string', const: type.id, description: 'A singleton’s id is its type id' } } : {}),
    _type: { type: 'string', const: type.id },
    ...(fields.properties as Json),
  };
  const { required: _required, ...rest } = fields;
  const loose = withoutDefaults(withoutRequired({ ...rest, type: 'object', properties, additionalProperties: false }));
  return {
    ...loose,
    description: `${type.title}: an entry as read. Fields may be missing (fields=, drafts read with preview=true); _createdBy and private fields only for signed-in users.`,
    required: ['_id', '_type', '_version'],
  };
}

/** A type's own refs (`#/$defs/…`) point into its component once the schema sits in the document. */
function rebase<T>(node: T, component: string): T {
  if (Array.isArray(node)) return node.map((n) => rebase(n, component)) as T;
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node as Json).map(([k, v]) => [
      k,
      k === '$ref' && typeof v === 'string' && v.startsWith('#') && !v.startsWith('#/components/') ? `#/components/schemas/${component}${v.slice(1)}` : k === 'enum' || k === 'const' || k === 'default' || k === 'examples' ? v : rebase(v, component),
    ]),
  ) as T;
}

function stripDescription(node: Json): Json {
  const { description: _d, ...rest } = node;
  return rest;
}

/** A create or replace body: the stored shape (localized fields per locale, or plain with ?locale=). */
function inputSchema(type: ContentType): Json {
  const locales = localesOf(type);
  const body = cleanSchema(type.schema, (node, path) => {
    const cms = node['x-cms'];
    if (!cms?.localized || path.length !== 1) return undefined;
    const plain = withoutDefaults(stripDescription(cleanSchema({ ...node, 'x-cms': { ...cms, localized: undefined } } as SchemaNode)));
    const perLocale = { type: 'object', properties: Object.fromEntries(locales.map((l) => [l, plain])), additionalProperties: false };
    const description = ['One value per locale, or with ?locale= a plain value of that locale.', fieldDescription(node)].filter(Boolean).join(' ');
    return { description, anyOf: [perLocale, plain] };
  });
  const properties = { ...(body.properties as Json), _version: { type: 'integer', minimum: 1, description: 'Acts like If-Match' } };
  const out: Json = { ...body, description: `${type.title}: a create or replace body`, properties };
  // a draft may be saved incomplete; unique fields are needed from the first save
  if (type.drafts) return withoutRequired(out, [...type.fields.values()].filter((f) => f.unique).map((f) => f.path));
  return out;
}

/** A JSON Merge Patch: any field of the input, or null to remove it; no defaults are filled in. */
function patchSchema(type: ContentType, input: Json): Json {
  const fields = (input.properties ?? {}) as Record<string, Json>;
  const properties = Object.fromEntries(
    Object.entries(fields)
      .filter(([name]) => name !== '_version')
      .map(([name, schema]) => {
        const { description, ...rest } = withoutDefaults(schema);
        return [name, { ...(description ? { description } : {}), anyOf: [rest, { type: 'null' }] }];
      }),
  );
  return {
    description: `${type.title}: a JSON Merge Patch (RFC 7396); null removes a field (with ?locale=, only that locale’s value)`,
    type: 'object',
    properties: { ...properties, _version: { type: 'integer', minimum: 1, description: 'Acts like If-Match' } },
    additionalProperties: false,
  };
}

const json = (schema: Json) => ({ 'application/json': { schema } });
const dataOf = (schema: Json) => ({ type: 'object', properties: { data: schema }, required: ['data'] });
const ok = (description: string, schema: Json) => ({ description, content: json(dataOf(schema)) });

/** Who may call: reads of a public type need nothing; everything else a session or a token. */
function readSecurity(type: ContentType): Json[] {
  return [...(type.public ? [{}] : []), { session: [] }, { apiToken: [] }, { previewToken: [] }];
}
const WRITE_SECURITY = [{ session: [] }, { apiToken: [] }];
const USER_SECURITY = [{ session: [] }];

function typePaths(type: ContentType, name: string): Record<string, Json> {
  const base = `/api/content/${type.id}`;
  const one = type.singleton ? base : `${base}/{id}`;
  const tags = [type.id];
  const idParam = type.singleton ? [] : [{ name: 'id', in: 'path', required: true, schema: ID }];
  const entry = ref(name);
  const input = ref(`${name}Input`);
  const patch = ref(`${name}Patch`);
  const paths: Record<string, Json> = {};
  const readSec = readSecurity(type);
  const opId = (verb: string) => `${verb}${name}`;

  if (!type.singleton) {
    paths[base] = {
      get: {
        tags, operationId: opId('list'), summary: `List ${type.title} entries`, security: readSec, parameters: readParams(type, true),
        responses: { 200: { description: 'A page of entries', content: json({ type: 'object', properties: { data: { type: 'array', items: entry }, meta: ref('ListMeta') }, required: ['data', 'meta'] }) }, ...errors(400, 401, 403, 404) },
      },
      post: {
        tags, operationId: opId('create'), summary: `Create a ${type.title} entry`, security: WRITE_SECURITY, parameters: [localeWriteParam],
        requestBody: { required: true, content: json(input) },
        responses: { 201: { ...ok('Created (Location names it)', entry), headers: { Location: { schema: { type: 'string' } } } }, ...errors(400, 401, 403, 409, 413, 415) },
      },
    };
  }
  paths[one] = {
    ...(idParam.length ? { parameters: idParam } : {}),
    get: {
      tags, operationId: opId('get'), summary: type.singleton ? `The ${type.title}` : `One ${type.title} entry`, security: readSec, parameters: readParams(type, false),
      responses: { 200: ok('The entry', entry), ...errors(400, 401, 403, 404) },
    },
    put: {
      tags, operationId: opId('replace'), summary: type.singleton ? `Create or replace the ${type.title}` : `Replace a ${type.title} entry`, security: WRITE_SECURITY,
      parameters: [localeWriteParam, ifMatchParam], requestBody: { required: true, content: json(input) },
      responses: { 200: ok('Replaced', entry), ...(type.singleton ? { 201: ok('Created', entry) } : {}), ...errors(400, 401, 403, 404, 409, 412, 413, 415) },
    },
    patch: {
      tags, operationId: opId('patch'), summary: `Change fields of ${type.singleton ? 'the' : 'a'} ${type.title}${type.singleton ? '' : ' entry'}`, security: WRITE_SECURITY,
      parameters: [localeWriteParam, ifMatchParam], requestBody: { required: true, content: { 'application/merge-patch+json': { schema: patch }, 'application/json': { schema: patch } } },
      responses: { 200: ok('Changed', entry), ...errors(400, 401, 403, 404, 409, 412, 413, 415) },
    },
    delete: {
      tags, operationId: opId('delete'), summary: `Delete ${type.singleton ? 'the' : 'a'} ${type.title}${type.singleton ? '' : ' entry'}`, security: WRITE_SECURITY, parameters: [ifMatchParam],
      responses: { 204: { description: 'Deleted' }, ...errors(400, 401, 403, 404, 409, 412) },
    },
  };
  const action = (suffix: string, op: Json) => {
    paths[`${one}${suffix}`] = { ...(idParam.length ? { parameters: idParam } : {}), ...op };
  };
  const versionParam = { name: 'version', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } };
  for (const [verb, what] of [['publish', 'Validate the draft and publish it'], ['unpublish', 'Remove the published snapshot (the draft stays)'], ['discard', 'Throw the draft’s edits away']] as const) {
    action(`/${verb}`, {
      post: {
        tags, operationId: opId(verb), summary: what, description: type.drafts ? undefined : `${type.title} has no drafts: always 409 CMS_ERR_TYPE_NO_DRAFTS`,
        security: WRITE_SECURITY, parameters: [ifMatchParam], responses: { 200: ok('The entry', entry), ...errors(400, 401, 403, 404, 409, 412) },
      },
    });
  }
  action('/versions', {
    get: {
      tags, operationId: opId('listVersionsOf'), summary: 'Versions, newest first', security: WRITE_SECURITY,
      parameters: [queryParam('limit', { type: 'integer', minimum: 1 }, 'Page size'), queryParam('before', { type: 'integer', minimum: 1 }, 'meta.nextBefore of the previous page')],
      responses: {
        200: { description: 'Versions', content: json({ type: 'object', properties: { data: { type: 'array', items: ref('VersionSummary') }, meta: { type: 'object', properties: { nextBefore: { type: ['integer', 'null'] } } } } }) },
        ...errors(400, 401, 403, 404),
      },
    },
  });
  action('/versions/diff', {
    get: {
      tags, operationId: opId('diffVersionsOf'), summary: 'What changed between two versions, field by field', security: WRITE_SECURITY,
      parameters: [queryParam('from', { type: 'integer', minimum: 1 }, 'The older version'), queryParam('to', { type: 'integer', minimum: 1 }, 'The newer version (default: the newest)')],
      responses: { 200: ok('The changes', { type: 'object', properties: { from: { type: 'integer' }, to: { type: 'integer' }, changes: { type: 'array', items: ref('FieldChange') } } }), ...errors(400, 401, 403, 404) },
    },
  });
  paths[`${one}/versions/{version}`] = {
    parameters: [...idParam, versionParam],
    get: {
      tags, operationId: opId('getVersionOf'), summary: 'One version with its entry', security: WRITE_SECURITY, parameters: [queryParam('locale', { type: 'string' }, 'Flatten localized fields to this locale')],
      responses: { 200: ok('The version', { allOf: [ref('VersionSummary')], properties: { entry: { anyOf: [{ type: 'object' }, { type: 'null' }] } } }), ...errors(400, 401, 403, 404) },
    },
  };
  paths[`${one}/versions/{version}/restore`] = {
    parameters: [...idParam, versionParam],
    post: {
      tags, operationId: opId('restoreVersionOf'), summary: 'Save this version’s fields as a new version', security: WRITE_SECURITY, parameters: [ifMatchParam],
      responses: { 200: ok('The entry', entry), ...errors(400, 401, 403, 404, 409, 412) },
    },
  };
  action('/referrers', {
    get: {
      tags, operationId: opId('referrersOf'), summary: 'The entries whose ref fields hold this entry, and what deleting it would do to them', security: WRITE_SECURITY,
      responses: {
        200: ok('The referring entries', {
          type: 'array',
          items: { type: 'object', properties: { type: { type: 'string' }, id: { type: 'string' }, field: { type: 'string' }, title: { type: 'string' }, onDelete: { type: 'string', enum: ['refuse', 'nullify'] } }, required: ['type', 'id', 'field', 'onDelete'] },
        }),
        ...errors(400, 401, 403, 404),
      },
    },
  });
  action('/schedules', {
    post: {
      tags, operationId: opId('schedule'), summary: 'Schedule a publish or unpublish', description: type.drafts ? undefined : `${type.title} has no drafts: always 409 CMS_ERR_TYPE_NO_DRAFTS`,
      security: WRITE_SECURITY,
      requestBody: { required: true, content: json({ type: 'object', properties: { action: { type: 'string', enum: ['publish', 'unpublish'] }, at: { type: 'string', format: 'date-time', description: 'In the future, with an offset' } }, required: ['action', 'at'], additionalProperties: false }) },
      responses: { 201: ok('The schedule', ref('Schedule')), ...errors(400, 401, 403, 404, 409) },
    },
  });
  action('/preview', {
    post: {
      tags, operationId: opId('previewLinkOf'), summary: 'A preview token (cmsp_…) for this entry’s draft, and the site’s preview URL', security: WRITE_SECURITY,
      parameters: [queryParam('locale', { type: 'string' }, 'The locale to preview')],
      responses: { 201: ok('The preview link', ref('PreviewLink')), ...errors(400, 401, 403, 404) },
    },
  });
  // operations that do not apply leave their description undefined: drop it
  return JSON.parse(JSON.stringify(paths)) as Record<string, Json>;
}

/** The routes that are not per type, in summary. */
function otherPaths(): Record<string, Json> {
  const simple = (tag: string, summary: string, security: Json[], responses: Json, extra: Json = {}) => ({ tags: [tag], summary, security, responses, ...extra });
  const anyData = { description: 'OK', content: json({ type: 'object' }) };
  const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];
  const mediaOk = ok('The media item', ref('Media'));
  const mediaSec = [{}, { session: [] }, { apiToken: [] }];
  return {
    '/api/openapi.json': { get: simple('meta', 'This document', [{}], { 200: { description: 'The OpenAPI document', content: json({ type: 'object' }) } }) },
    '/healthz': { get: simple('meta', 'The process is alive', [{}], { 200: anyData }) },
    '/readyz': { get: simple('meta', 'MongoDB and S3 answer', [{}], { 200: anyData, 503: anyData }) },
    '/api/sync': {
      get: simple('delivery', 'The change feed: every published entry and media record, or, with token, what changed since (upserts and tombstones), as NDJSON ending in a line with the next token', [{}, { session: [] }, { apiToken: [] }], {
        200: { description: 'NDJSON lines: {op: "upsert" | "delete" | "end", …}', content: { 'application/x-ndjson': { schema: { type: 'string' } } } },
        ...errors(400, 401, 403, 410),
      }),
    },
    '/api/export': {
      get: simple('delivery', 'All published entries of the types, references resolved, with a content hash per entry, as NDJSON (resumable with after=type:id)', [{}, { session: [] }, { apiToken: [] }], {
        200: { description: 'NDJSON lines: {type, id, hash, entry}, then {op: "end", count}', content: { 'application/x-ndjson': { schema: { type: 'string' } } } },
        ...errors(400, 401, 403),
      }),
    },
    '/api/schedules': { get: simple('schedules', 'Schedules, soonest first', WRITE_SECURITY, { 200: ok('Schedules', { type: 'array', items: ref('Schedule') }), ...errors(400, 401, 403) }) },
    '/api/schedules/{id}': { parameters: idParam, delete: simple('schedules', 'Cancel a pending schedule', WRITE_SECURITY, { 200: ok('The schedule', ref('Schedule')), ...errors(401, 403, 404, 409) }) },
    '/api/media': {
      get: simple('media', 'List and search the media library (the content query language, plus q)', WRITE_SECURITY, {
        200: { description: 'A page of media', content: json({ type: 'object', properties: { data: { type: 'array', items: ref('Media') }, meta: ref('ListMeta') } }) },
        ...errors(400, 401, 403),
      }),
      post: simple('media', 'Upload files (multipart/form-data: files, and alt, caption, title, tags, focal)', WRITE_SECURITY, { 201: ok('The media items', { type: 'array', items: ref('Media') }), 200: ok('Every file already existed', { type: 'array', items: ref('Media') }), ...errors(400, 401, 403, 413, 415) }, {
        parameters: [{ name: 'accept', in: 'query', required: false, schema: { type: 'string', example: 'image/*,application/pdf' }, description: 'Only these types (checked from the bytes); otherwise 415 and nothing stored' }],
        requestBody: { required: true, content: { 'multipart/form-data': { schema: { type: 'object' } } } },
      }),
    },
    '/api/media/uploads': { post: simple('media', 'Start a direct upload to S3 (a presigned POST policy)', WRITE_SECURITY, { 201: anyData, ...errors(400, 401, 403, 413, 415) }) },
    '/api/media/uploads/{id}/complete': { parameters: idParam, post: simple('media', 'Register a direct upload', WRITE_SECURITY, { 201: mediaOk, 200: ok('Already registered (the same bytes)', ref('Media')), ...errors(400, 401, 403, 404, 409, 415) }) },
    '/api/media/{id}': {
      parameters: idParam,
      get: simple('media', 'One media item', WRITE_SECURITY, { 200: mediaOk, ...errors(400, 401, 403, 404) }),
      patch: simple('media', 'Edit alt, caption, title, tags, focal, filename', WRITE_SECURITY, { 200: mediaOk, ...errors(400, 401, 403, 404, 412) }),
      delete: simple('media', 'Delete the media item (409 while entries use it, unless force=true)', WRITE_SECURITY, { 204: { description: 'Deleted' }, ...errors(400, 401, 403, 404, 409) }),
    },
    '/api/media/{id}/usage': { parameters: idParam, get: simple('media', 'The entries that use it', WRITE_SECURITY, { 200: anyData, ...errors(400, 401, 403, 404) }) },
    '/media/{id}/{name}': {
      parameters: [...idParam, { name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'The file name' }],
      get: simple('media', 'The file, or an image variant (w, h, fit, format, q, fp); ranges, ETag, immutable caching', mediaSec, { 200: { description: 'The bytes' }, 206: { description: 'A range' }, 302: { description: 'A crop URL without its current focal point' }, 304: { description: 'Not modified' }, ...errors(400, 404, 416) }),
    },
    '/api/auth/login': {
      post: simple('auth', 'Sign in: the user, and a cms_session cookie', [{}], { 200: ok('The user', ref('User')), ...errors(400, 401, 429) }, {
        requestBody: { required: true, content: json({ type: 'object', properties: { email: { type: 'string' }, password: { type: 'string' } }, required: ['email', 'password'] }) },
      }),
    },
    '/api/auth/logout': { post: simple('auth', 'End the session', [{}, ...USER_SECURITY], { 204: { description: 'Signed out' } }) },
    '/api/auth/me': {
      get: simple('auth', 'The signed-in user, or the token’s name and scopes', WRITE_SECURITY, { 200: anyData, ...errors(401) }),
      patch: simple('auth', 'Change one’s own name', USER_SECURITY, { 200: ok('The user', ref('User')), ...errors(400, 401, 403) }),
    },
    '/api/auth/password': { post: simple('auth', 'Change one’s password (every session ends; a new cookie)', USER_SECURITY, { 204: { description: 'Changed' }, ...errors(400, 401, 403) }) },
    '/api/auth/setup': { post: simple('auth', 'Create the first admin (first run only)', [{}], { 201: ok('The admin, signed in', ref('User')), ...errors(400, 403, 404) }) },
    '/api/users': {
      get: simple('admin', 'Users', USER_SECURITY, { 200: ok('Users', { type: 'array', items: ref('User') }), ...errors(401, 403) }),
      post: simple('admin', 'Create a user', USER_SECURITY, { 201: ok('The user', ref('User')), ...errors(400, 401, 403, 409) }),
    },
    '/api/users/{id}': {
      parameters: idParam,
      get: simple('admin', 'One user', USER_SECURITY, { 200: ok('The user', ref('User')), ...errors(401, 403, 404) }),
      patch: simple('admin', 'Change role, status, email or name', USER_SECURITY, { 200: ok('The user', ref('User')), ...errors(400, 401, 403, 404, 409) }),
      delete: simple('admin', 'Delete a user', USER_SECURITY, { 204: { description: 'Deleted' }, ...errors(401, 403, 404, 409) }),
    },
    '/api/tokens': {
      get: simple('admin', 'API tokens', USER_SECURITY, { 200: ok('Tokens', { type: 'array', items: ref('ApiToken') }), ...errors(401, 403) }),
      post: simple('admin', 'Create an API token (the secret is in this answer only)', USER_SECURITY, {
        201: { description: 'The token, and its secret', content: json({ type: 'object', properties: { data: ref('ApiToken'), secret: { type: 'string', pattern: '^cmst_' } }, required: ['data', 'secret'] }) },
        ...errors(400, 401, 403),
      }),
    },
    '/api/webhooks': {
      get: simple('admin', 'Webhooks', USER_SECURITY, { 200: anyData, ...errors(401, 403) }),
      post: simple('admin', 'Create a webhook {url, events, types?, secret?, enabled?, description?} (the secret is in this answer only)', USER_SECURITY, { 201: anyData, ...errors(400, 401, 403) }),
    },
    '/api/webhooks/{id}': {
      parameters: idParam,
      get: simple('admin', 'One webhook', USER_SECURITY, { 200: anyData, ...errors(401, 403, 404) }),
      patch: simple('admin', 'Change a webhook', USER_SECURITY, { 200: anyData, ...errors(400, 401, 403, 404) }),
      delete: simple('admin', 'Delete a webhook', USER_SECURITY, { 204: { description: 'Deleted' }, ...errors(401, 403, 404) }),
    },
    '/api/webhooks/{id}/deliveries': { parameters: idParam, get: simple('admin', 'The delivery log, newest first', USER_SECURITY, { 200: anyData, ...errors(400, 401, 403, 404) }) },
    '/api/webhooks/{id}/deliveries/{deliveryId}/replay': {
      parameters: [...idParam, { name: 'deliveryId', in: 'path', required: true, schema: { type: 'string' } }],
      post: simple('admin', 'Send a delivery again', USER_SECURITY, { 202: anyData, ...errors(401, 403, 404, 409) }),
    },
    '/api/tokens/{id}': { parameters: idParam, delete: simple('admin', 'Revoke an API token', USER_SECURITY, { 200: ok('The revoked token', ref('ApiToken')), ...errors(401, 403, 404) }) },
    '/api/audit': { get: simple('admin', 'The audit log (the query language), newest first', USER_SECURITY, { 200: anyData, ...errors(400, 401, 403) }) },
    '/api/audit.csv': { get: simple('admin', 'The audit log as CSV', USER_SECURITY, { 200: { description: 'CSV', content: { 'text/csv': { schema: { type: 'string' } } } }, ...errors(400, 401, 403) }) },
    '/api/admin/info': { get: simple('admin', 'For the admin UI: whether first-run setup is still open', [{}], { 200: ok('setupRequired', { type: 'object', properties: { setupRequired: { type: 'boolean' } } }), ...errors(400) }) },
    '/api/admin/types': { get: simple('admin', 'For the admin UI: the content types the signed-in user may read, described for forms, columns and filters', USER_SECURITY, { 200: anyData, ...errors(400, 401, 403) }) },
    '/api/admin/validators/{file}': {
      parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z][a-z0-9-]*\\.[0-9a-f]{16}\\.js$' }, description: '`<type>.<hash>.js`, as `form.validatorUrl` gives it' }],
      get: simple('admin', "For the admin UI: a type's form validators, compiled by Ajv on the server, as an ES module", USER_SECURITY, { 200: { description: 'JavaScript', content: { 'text/javascript': { schema: { type: 'string' } } } }, ...errors(401, 404) }),
    },
  };
}

/** The whole document. */
export function openApiDocument(registry: ContentTypeRegistry, options: OpenApiOptions = {}): Json {
  const types = registry.all();
  const names = typeNames(types, SCHEMA_SUFFIXES, BUILT_IN_SCHEMAS);
  const schemas: Json = { ...ERROR_SCHEMAS, ...OTHER_SCHEMAS };
  let paths: Record<string, Json> = {};
  for (const type of types) {
    const name = names.get(type.id)!;
    schemas[name] = rebase(readSchema(type, names), name);
    const input = rebase(inputSchema(type), `${name}Input`);
    schemas[`${name}Input`] = input;
    schemas[`${name}Patch`] = patchSchema(type, input);
    paths = { ...paths, ...typePaths(type, name) };
  }
  const responses = Object.fromEntries(Object.entries(ERROR_RESPONSES).map(([status, description]) => [`Error${status}`, { description, content: json(ref('Error')) }]));
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: options.title ?? 'CMS API',
      version: options.version ?? '0.1.0',
      description:
        'Generated at start-up from the content-type files. Responses are {"data": …} (lists add "meta"); every error is {"error": {code, message, details[]}} with a stable CMS_ERR_* code. ' +
        'Entries of a type are described as read (`X`), as a create or replace body (`XInput`) and as a merge patch (`XPatch`).',
    },
    ...(options.serverUrl ? { servers: [{ url: options.serverUrl }] } : {}),
    tags: [
      ...types.map((t) => ({ name: t.id, description: `${t.title}${t.singleton ? ' (singleton)' : ''}${t.drafts ? ', with drafts' : ''}${t.public ? ', readable by anyone' : ''}` })),
      { name: 'media' }, { name: 'schedules' }, { name: 'auth' }, { name: 'admin' }, { name: 'meta' },
    ],
    paths: { ...paths, ...otherPaths() },
    components: { schemas, responses, securitySchemes: SECURITY_SCHEMES },
  };
}
