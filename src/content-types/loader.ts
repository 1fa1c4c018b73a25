// Loads content-types/*.json, checks each file against our meta-schema and compiles it once.
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import type { ErrorObject } from 'ajv';
import { createContentAjv, createMetaAjv } from './ajv.js';
import { escapePointer } from '../json.js';
import { collectFields, type SchemaNode } from './fields.js';
import metaSchema from './meta-schema.json' with { type: 'json' };
import { ContentTypeRegistry, type ContentType } from './registry.js';
import { serializerSchema } from './serializer-schema.js';
import type { LocaleConfig } from '../config.js';

export const TYPE_ID = /^[a-z][a-z0-9-]{0,47}$/;

export interface ContentTypeIssue {
  file: string;
  /** JSON pointer into the file; empty for the whole file. */
  pointer: string;
  message: string;
}

export class ContentTypeLoadError extends Error {
  constructor(readonly issues: ContentTypeIssue[]) {
    super(
      `${issues.length} problem${issues.length === 1 ? '' : 's'} in content-type files:\n` +
        issues.map((i) => `  ${i.file}#${i.pointer}: ${i.message}`).join('\n'),
    );
    this.name = 'ContentTypeLoadError';
  }
}


function jsonErrorMessage(text: string, err: Error): string {
  const m = /position (\d+)/.exec(err.message);
  if (!m) return `invalid JSON: ${err.message}`;
  const pos = Number(m[1]);
  const before = text.slice(0, pos).split('\n');
  const line = before.length;
  const column = (before[before.length - 1]?.length ?? 0) + 1;
  const reason = err.message.replace(/ in JSON at position \d+.*$/, '');
  return `invalid JSON at line ${line}, column ${column}: ${reason}`;
}

function metaIssues(file: string, errors: ErrorObject[]): ContentTypeIssue[] {
  const out: ContentTypeIssue[] = [];
  for (const e of errors) {
    // a propertyNames failure is reported twice by Ajv (the inner keyword and propertyNames); keep one
    if (e.propertyName !== undefined && e.keyword !== 'propertyNames') continue;
    // an if/then failure is also reported by the keyword inside "then"
    if (e.keyword === 'if') continue;
    let pointer = e.instancePath;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'propertyNames') {
      const name = String(e.params.propertyName);
      pointer = `${pointer}/${escapePointer(name)}`;
      message = name.startsWith('_')
        ? `field name "${name}" starts with "_": names starting with _ are reserved for system fields (_id, _type, _version, …)`
        : `field name "${name}" is invalid: use letters, digits and _, starting with a letter (at most 64 characters)`;
    } else if (e.keyword === 'additionalProperties') {
      const key = String(e.params.additionalProperty);
      pointer = `${pointer}/${escapePointer(key)}`;
      message = `unknown key "${key}"`;
    } else if (e.keyword === 'enum') {
      message = `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}`;
    } else if (e.keyword === 'const') {
      message = `must be ${JSON.stringify(e.params.allowedValue)}`;
      if (pointer === '/additionalProperties') {
        message += ': a type closes its object so that unknown fields in a write are refused';
      }
    } else if (e.keyword === 'required') {
      message = `missing "${String(e.params.missingProperty)}"`;
      if (e.params.missingProperty === 'additionalProperties') message += ' (set it to false)';
    } else if (e.keyword === 'not' && pointer.endsWith('/additionalProperties')) {
      message = 'must be false (or a schema for extra keys): unknown fields in a write are refused';
    } else if (e.keyword === 'pattern' && pointer.endsWith('/ref')) {
      message = 'is not a valid type id (lowercase letters, digits and -, starting with a letter)';
    }
    out.push({ file, pointer, message });
  }
  return out;
}

/** Finds where a keyword appears in a schema, skipping maps whose keys are names, not keywords. */
function findKeyword(node: unknown, key: string, pointer = ''): string | undefined {
  if (!node || typeof node !== 'object') return undefined;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const hit = findKeyword(node[i], key, `${pointer}/${i}`);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
  const obj = node as Record<string, unknown>;
  if (Object.hasOwn(obj, key)) return `${pointer}/${escapePointer(key)}`;
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'x-cms' || k === 'enum' || k === 'const' || k === 'default' || k === 'examples') continue;
    if (['properties', '$defs', 'patternProperties', 'dependentSchemas'].includes(k) && v && typeof v === 'object') {
      for (const [name, child] of Object.entries(v as Record<string, unknown>)) {
        const hit = findKeyword(child, key, `${pointer}/${k}/${escapePointer(name)}`);
        if (hit !== undefined) return hit;
      }
      continue;
    }
    const hit = findKeyword(v, key, `${pointer}/${escapePointer(k)}`);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

function findInvalidPattern(node: unknown, pointer = ''): string | undefined {
  if (!node || typeof node !== 'object') return undefined;
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    const here = `${pointer}/${escapePointer(k)}`;
    if (k === 'pattern' && typeof v === 'string') {
      try {
        new RegExp(v, 'u');
      } catch {
        return here;
      }
    }
    const hit = findInvalidPattern(v, here);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

function compileIssue(file: string, schema: unknown, err: Error): ContentTypeIssue {
  const text = err.message;
  const unknown = /unknown keyword: "([^"]+)"/.exec(text);
  if (unknown) {
    const pointer = findKeyword(schema, unknown[1]!) ?? '';
    return { file, pointer, message: `unknown keyword "${unknown[1]}" (strict mode: misspelt or unsupported)` };
  }
  if (text.startsWith('Invalid regular expression')) {
    const pointer = findInvalidPattern(schema) ?? '';
    return { file, pointer, message: `invalid "pattern": ${text}` };
  }
  const at = /at "#([^"]*)"/.exec(text);
  const pointer = at ? decodeURIComponent(at[1]!) : '';
  return { file, pointer, message: `schema does not compile: ${text.replace(/^strict mode: /, '')}` };
}

interface WalkContext {
  /** Dotted path when the node is reached through object properties only, else undefined. */
  objectPath?: string;
  /** The field sits directly in the type's top-level properties. */
  top: boolean;
}

/** Checks the x-cms annotations of every subschema, wherever it sits. */
function checkAnnotations(file: string, schema: SchemaNode, typeIds: Set<string>): ContentTypeIssue[] {
  const out: ContentTypeIssue[] = [];
  const top = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const issue = (pointer: string, message: string) => out.push({ file, pointer, message });

  const visit = (node: SchemaNode, pointer: string, ctx: WalkContext) => {
    if (!node || typeof node !== 'object') return;
    const cms = node['x-cms'];
    if (cms?.ref !== undefined) {
      if (!typeIds.has(cms.ref)) issue(`${pointer}/x-cms/ref`, `refers to type "${cms.ref}", which does not exist`);
      const isString = node.type === 'string';
      const isArray = node.type === 'array' && node.items?.type === 'string';
      if (!isString && !isArray) issue(pointer, 'a ref field must be {"type": "string"} or an array of strings');
    }
    if (cms?.onDelete !== undefined && cms.ref === undefined) issue(`${pointer}/x-cms/onDelete`, 'onDelete applies to a ref field only');
    if (cms?.media !== undefined) {
      if (cms.ref !== undefined) issue(`${pointer}/x-cms/media`, 'a field holds media or a ref, not both');
      const isString = node.type === 'string';
      const isArray = node.type === 'array' && node.items?.type === 'string';
      if (!isString && !isArray) issue(pointer, 'a media field must be {"type": "string"} or an array of strings');
      if (ctx.objectPath === undefined) issue(`${pointer}/x-cms/media`, 'a media field must be a top-level field or a field of a nested object, not inside arrays or anyOf/oneOf/allOf');
    }
    if (cms?.private && ctx.objectPath === undefined) {
      issue(`${pointer}/x-cms/private`, 'a private field must be a top-level field or a field of a nested object, not inside arrays or anyOf/oneOf/allOf');
    }
    if (cms?.unique) {
      const name = ctx.objectPath ?? '';
      if (!ctx.top || !required.has(name)) {
        issue(`${pointer}/x-cms/unique`, 'a unique field must be a top-level field listed in "required" (every entry needs a value for the unique index)');
      }
      if (!['string', 'number', 'integer'].includes(String(node.type))) {
        issue(`${pointer}/x-cms/unique`, 'a unique field must be a string, number or integer');
      }
    }
    if (cms?.localized) {
      if (!ctx.top) issue(`${pointer}/x-cms/localized`, 'only a top-level field can be localized');
      if (cms.unique || cms.ref !== undefined || cms.media !== undefined) {
        issue(`${pointer}/x-cms/localized`, 'a localized field cannot also be unique, a ref or a media field');
      }
    }
    if (cms?.index && ctx.objectPath === undefined) {
      issue(`${pointer}/x-cms/index`, 'an index applies to a top-level field or a field of a nested object, not inside arrays or anyOf/oneOf/allOf');
    }
    if (cms?.slugFrom !== undefined && top[cms.slugFrom]?.type !== 'string') {
      issue(`${pointer}/x-cms/slugFrom`, `"${cms.slugFrom}" is not a string field of this type`);
    }
    // renamedFrom: the old name is gone from beside the field, and only one field takes it
    const renamed = new Map<string, string>();
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const from = child?.['x-cms']?.renamedFrom;
      if (from === undefined) continue;
      const at = `${pointer}/properties/${escapePointer(name)}/x-cms/renamedFrom`;
      if (from === name) issue(at, 'a field cannot be renamed from itself');
      else if (Object.hasOwn(node.properties ?? {}, from)) issue(at, `"${from}" is still a field here: the old name of a renamed field must be gone`);
      else if (renamed.has(from)) issue(at, `"${from}" is already renamed to "${renamed.get(from)}"`);
      else renamed.set(from, name);
    }
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const objectPath = ctx.objectPath === undefined ? undefined : ctx.objectPath ? `${ctx.objectPath}.${name}` : name;
      visit(child, `${pointer}/properties/${escapePointer(name)}`, { top: pointer === '', ...(objectPath !== undefined ? { objectPath } : {}) });
    }
    if (node.items) visit(node.items, `${pointer}/items`, { top: false });
    for (const key of ['prefixItems', 'anyOf', 'oneOf', 'allOf'] as const) {
      const list = node[key];
      if (Array.isArray(list)) list.forEach((child, i) => visit(child as SchemaNode, `${pointer}/${key}/${i}`, { top: false }));
    }
    const defs = node.$defs;
    if (defs && typeof defs === 'object') {
      for (const [name, child] of Object.entries(defs as Record<string, SchemaNode>)) visit(child, `${pointer}/$defs/${escapePointer(name)}`, { top: false });
    }
  };
  visit(schema, '', { top: false, objectPath: '' });

  const typeCms = schema['x-cms'] as TypeAnnotations | undefined;
  if (typeCms?.displayField !== undefined && top[typeCms.displayField]?.type !== 'string') {
    issue('/x-cms/displayField', `"${typeCms.displayField}" is not a top-level string field`);
  }
  if (typeCms?.previewUrl !== undefined) {
    const problem = previewUrlProblem(typeCms.previewUrl, top);
    if (problem) issue('/x-cms/previewUrl', problem);
  }
  return out;
}

interface TypeAnnotations {
  singleton?: boolean;
  displayField?: string;
  public?: boolean;
  drafts?: boolean;
  versions?: { keep?: number };
  previewUrl?: string;
  cache?: { maxAge?: number; staleWhileRevalidate?: number };
}

export const PREVIEW_PLACEHOLDERS = ['token', 'id', 'type', 'locale'];

function previewUrlProblem(template: string, top: Record<string, SchemaNode>): string | undefined {
  for (const m of template.matchAll(/\{([^{}]*)\}/g)) {
    const name = m[1]!;
    if (PREVIEW_PLACEHOLDERS.includes(name)) continue;
    const field = Object.hasOwn(top, name) ? top[name] : undefined;
    if (!field) return `{${name}} is neither a field of this type nor one of {${PREVIEW_PLACEHOLDERS.join('}, {')}}`;
    if (!['string', 'number', 'integer'].includes(String(field.type)) || field['x-cms']?.private) {
      return `{${name}} must be a string, number or integer field that is not private`;
    }
  }
  let url: URL | undefined;
  try {
    url = new URL(template.replace(/\{[^{}]*\}/g, 'x'));
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return 'must be an http(s) URL, with placeholders in braces';
  return undefined;
}

/** Keys whose values are data or names, never subschemas that could hold `required`. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples', 'x-cms']);
const NAME_MAPS = new Set(['properties', '$defs', 'patternProperties', 'dependentSchemas']);

/** A copy of a schema without `required` anywhere, except the top-level names in `keep`. */
function withoutRequired(node: unknown, keep: string[] | undefined): unknown {
  if (Array.isArray(node)) return node.map((n) => withoutRequired(n, undefined));
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (k === 'required' && Array.isArray(v)) {
      const kept = keep ? v.filter((name) => keep.includes(name as string)) : [];
      if (kept.length) out[k] = kept;
    } else if (DATA_KEYWORDS.has(k)) {
      out[k] = v;
    } else if (NAME_MAPS.has(k) && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([name, child]) => [name, withoutRequired(child, undefined)]));
    } else {
      out[k] = withoutRequired(v, undefined);
    }
  }
  return out;
}

/** The schema of a stored entry: each localized field becomes an object keyed by locale. */
function storedSchemaOf(schema: SchemaNode, locales: LocaleConfig): SchemaNode {
  const properties: Record<string, SchemaNode> = {};
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    if (!child['x-cms']?.localized) {
      properties[name] = child;
      continue;
    }
    properties[name] = {
      type: 'object',
      properties: Object.fromEntries(locales.locales.map((l) => [l, child])),
      // a required localized field needs a value in the default locale
      ...(schema.required?.includes(name) ? { required: [locales.default] } : {}),
      additionalProperties: false,
    };
  }
  return { ...schema, properties };
}

const DEFAULT_KEEP_VERSIONS = 100;

interface ParsedFile {
  id: string;
  file: string;
  schema: SchemaNode;
}

/** Loads and compiles every content type in dir; throws ContentTypeLoadError listing every problem. */
export interface LoadOptions {
  /** The configured locales (localized fields hold one value per locale); `en` alone by default. */
  locales?: LocaleConfig;
}

const ONLY_EN: LocaleConfig = { locales: ['en'], default: 'en', chains: { en: [] } };

export async function loadContentTypes(dir: string, options: LoadOptions = {}): Promise<ContentTypeRegistry> {
  const locales = options.locales ?? ONLY_EN;
  const issues: ContentTypeIssue[] = [];
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch (err) {
    throw new ContentTypeLoadError([{ file: dir, pointer: '', message: `cannot read directory: ${(err as Error).message}` }]);
  }
  const display = (name: string) => relative(process.cwd(), join(dir, name)) || name;
  const metaAjv = createMetaAjv();
  const checkMeta = metaAjv.compile(metaSchema);
  const parsed: ParsedFile[] = [];
  for (const name of names) {
    const file = display(name);
    const id = basename(name, '.json');
    if (!TYPE_ID.test(id)) {
      issues.push({
        file,
        pointer: '',
        message: `"${id}" is not a valid type id: the file name must be lowercase letters, digits and -, starting with a letter, at most 48 characters`,
      });
      continue;
    }
    const text = await readFile(join(dir, name), 'utf8');
    let schema: unknown;
    try {
      schema = JSON.parse(text);
    } catch (err) {
      issues.push({ file, pointer: '', message: jsonErrorMessage(text, err as Error) });
      continue;
    }
    if (!checkMeta(schema)) {
      issues.push(...metaIssues(file, checkMeta.errors ?? []));
      continue;
    }
    parsed.push({ id, file, schema: schema as SchemaNode });
  }

  const typeIds = new Set(parsed.map((p) => p.id));
  const ajv = createContentAjv();
  const types: ContentType[] = [];
  for (const { id, file, schema } of parsed) {
    const annotationIssues = checkAnnotations(file, schema, typeIds);
    if (annotationIssues.length) {
      issues.push(...annotationIssues);
      continue;
    }
    if (!ajv.validateSchema(schema)) {
      // Ajv reports each bad keyword once per branch of the draft's meta-schema; keep the first per place
      const seen = new Set<string>();
      for (const e of ajv.errors ?? []) {
        if (seen.has(e.instancePath)) continue;
        seen.add(e.instancePath);
        const allowed = e.keyword === 'enum' ? `: ${(e.params.allowedValues as unknown[]).join(', ')}` : '';
        issues.push({ file, pointer: e.instancePath, message: `not a valid JSON Schema: ${e.message}${allowed}` });
      }
      continue;
    }
    const cms = (schema['x-cms'] ?? {}) as TypeAnnotations;
    const fields = collectFields(schema);
    const storedSchema = storedSchemaOf(schema, locales);
    let validate;
    let validateDraft;
    try {
      validate = ajv.compile(storedSchema);
      const unique = [...fields.values()].filter((f) => f.unique).map((f) => f.path);
      const draftSchema = withoutRequired(storedSchema, unique) as SchemaNode;
      // the same $id twice in one Ajv is an error; the draft schema is never referred to
      delete draftSchema.$id;
      validateDraft = cms.drafts ? ajv.compile(draftSchema) : validate;
    } catch (err) {
      issues.push(compileIssue(file, schema, err as Error));
      continue;
    }
    const type: ContentType = {
      id,
      file,
      title: typeof schema.title === 'string' ? schema.title : id,
      schema,
      storedSchema,
      singleton: cms.singleton === true,
      public: cms.public === true,
      drafts: cms.drafts === true,
      keepVersions: cms.versions?.keep ?? DEFAULT_KEEP_VERSIONS,
      cache: { maxAge: cms.cache?.maxAge ?? 0, staleWhileRevalidate: cms.cache?.staleWhileRevalidate ?? 0 },
      localized: [...fields.values()].filter((f) => f.localized).map((f) => f.path),
      fields,
      validate,
      validateDraft,
      serializer: serializerSchema(schema),
      privatePaths: [...fields.values()].filter((f) => f.private && !fields.get(f.path.split('.').slice(0, -1).join('.'))?.private).map((f) => f.path),
    };
    if (cms.displayField) type.displayField = cms.displayField;
    if (cms.previewUrl) type.previewUrl = cms.previewUrl;
    types.push(type);
  }
  if (names.length === 0) issues.push({ file: display('.'), pointer: '', message: 'no content-type files (*.json) found' });
  if (issues.length) throw new ContentTypeLoadError(issues);
  return new ContentTypeRegistry(types);
}
