// `cms types`: TypeScript declarations of the content types, from the same files and the same
// schemas as the OpenAPI document (src/codegen/openapi.ts).
//
// For each type `article` (→ `Article`):
//   ArticleFields     its fields as a read in one locale returns them: localized fields are plain values
//   Article           an entry as read: SystemFields & ArticleFields (`_type: 'article'`)
//   ArticleStoredFields / ArticleStored   localized fields as Localized<T> (one value per locale):
//                     what `?locale=*` returns, and what write bodies send without `?locale=`
//   ArticleInput      a create or replace body (for types with drafts: every field optional but the unique ones)
//   ArticlePopulated  Article with every ref field the referenced entry (or null) and every media field
//                     a MediaObject (or null), as `?populate=` of all of them returns it
// plus `ContentTypes`, a map from type id to all of these.
// Private fields are optional (anonymous clients and tokens never get them) and say so in their comment.
import { writeFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { compile, type JSONSchema } from 'json-schema-to-typescript';
import { parseLocales, type LocaleConfig } from '../config.js';
import { ContentTypeLoadError, loadContentTypes } from '../content-types/loader.js';
import type { ContentType, ContentTypeRegistry } from '../content-types/registry.js';
import type { SchemaNode } from '../content-types/fields.js';
import { MEDIA_SCHEMA, SYSTEM_FIELDS } from './openapi.js';
import { cleanSchema, localesOf, pascalName, populatable, typeNames, withoutDefaults, withoutKeyword } from './shared.js';

/** Each type `x` gets `X` and these variants. */
export const TYPE_SUFFIXES = ['Fields', 'Stored', 'StoredFields', 'Input', 'Populated'];
/** Names the file declares itself (content types may not take them). */
export const BUILT_IN_TYPES = ['Locale', 'Localized', 'SystemFields', 'MediaObject', 'ContentTypes', 'ContentTypeId', 'ListResponse', 'EntryResponse', 'ListMeta', 'ApiError'];

export interface TypesOptions {
  /** The configured locales (LOCALES); read from the types' stored schemas when omitted. */
  locales?: string[];
  /** Where the types came from, for the header comment. */
  source?: string;
}

const COMPILE_OPTIONS = {
  bannerComment: '',
  format: true,
  // maxItems must not turn arrays into tuple unions
  ignoreMinAndMaxItems: true,
  strictIndexSignatures: true,
  unknownAny: true,
  declareExternallyReferenced: true,
  additionalProperties: true,
};

const literal = (s: string) => JSON.stringify(s);
const key = (name: string) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name));

/** Private fields may be missing from any read: they leave `required`, wherever they sit. */
function privateOptional(node: SchemaNode): SchemaNode {
  if (!node.properties) return node;
  const properties = Object.fromEntries(Object.entries(node.properties).map(([n, c]) => [n, privateOptional(c)]));
  const required = node.required?.filter((n) => !node.properties![n]?.['x-cms']?.private);
  return { ...node, properties, ...(node.required ? { required } : {}) };
}

/** Titles name nested interfaces in json-schema-to-typescript; the names could collide across types. */
const withoutTitles = (schema: Record<string, unknown>) => withoutKeyword(schema, 'title');

async function compileInterface(schema: Record<string, unknown>, name: string, prefix: string): Promise<string> {
  return compile(withoutTitles(schema) as JSONSchema, name, {
    ...COMPILE_OPTIONS,
    // $defs of a type are named after it, so two types may use the same $defs names
    // (json-schema-to-typescript gives each definition an $id from its key before naming it)
    customName: (schema, keyName) => {
      const id = keyName ?? (typeof schema.$id === 'string' ? schema.$id : undefined);
      return id && id !== name ? `${prefix}${pascalName(id)}` : undefined;
    },
  });
}

async function typeDeclarations(type: ContentType, name: string, names: Map<string, string>): Promise<string> {
  const out: string[] = [];
  const fieldsSchema = withoutDefaults(cleanSchema(privateOptional(type.schema)));
  delete fieldsSchema.description;
  out.push(await compileInterface({ ...fieldsSchema, description: `${type.title}: the fields of an entry, as a read in one locale returns them.` }, `${name}Fields`, name));
  out.push(`/** ${type.title}: an entry as read (GET /api/content/${type.id}${type.singleton ? '' : '/{id}'}). */`);
  out.push(`export interface ${name} extends SystemFields, ${name}Fields {\n  _type: ${literal(type.id)};${type.singleton ? `\n  _id: ${literal(type.id)};` : ''}\n}`);

  const required = new Set(type.schema.required ?? []);
  const props = type.schema.properties ?? {};
  const optional = (field: string) => (!required.has(field) || props[field]?.['x-cms']?.private ? '?' : '');
  if (type.localized.length) {
    const omitted = type.localized.map(literal).join(' | ');
    const lines = type.localized.map((f) => `  ${key(f)}${optional(f)}: Localized<Exclude<${name}Fields[${literal(f)}], undefined>>;`);
    out.push(`/** ${type.title}: the fields as stored, localized ones with a value per locale (what ?locale=* returns and write bodies send). */`);
    out.push(`export interface ${name}StoredFields extends Omit<${name}Fields, ${omitted}> {\n${lines.join('\n')}\n}`);
  } else {
    out.push(`/** ${type.title}: the fields as stored (no localized fields: the same as ${name}Fields). */`);
    out.push(`export type ${name}StoredFields = ${name}Fields;`);
  }
  out.push(`/** ${type.title}: an entry with every localized field as stored (?locale=*). */`);
  out.push(`export interface ${name}Stored extends SystemFields, ${name}StoredFields {\n  _type: ${literal(type.id)};${type.singleton ? `\n  _id: ${literal(type.id)};` : ''}\n}`);

  const unique = [...type.fields.values()].filter((f) => f.unique && !f.path.includes('.')).map((f) => literal(f.path));
  if (type.drafts) {
    out.push(`/** ${type.title}: a create or replace body. Drafts may be saved incomplete; unique fields are needed from the first save. */`);
    out.push(`export type ${name}Input = Partial<${name}StoredFields>${unique.length ? ` & Pick<${name}StoredFields, ${unique.join(' | ')}>` : ''};`);
  } else {
    out.push(`/** ${type.title}: a create or replace body. */`);
    out.push(`export type ${name}Input = ${name}StoredFields;`);
  }

  const pop = populatable(type);
  if (pop.length) {
    const lines = pop.map((p) => {
      const target = p.media ? 'MediaObject' : p.ref && names.has(p.ref) ? names.get(p.ref)! : 'SystemFields';
      return `  ${key(p.name)}${optional(p.name)}: ${p.many ? `(${target} | null)[]` : `${target} | null`};`;
    });
    out.push(`/** ${type.title}: an entry with every ref and media field populated (?populate=${pop.map((p) => p.name).join(',')}). */`);
    out.push(`export interface ${name}Populated extends Omit<${name}, ${pop.map((p) => literal(p.name)).join(' | ')}> {\n${lines.join('\n')}\n}`);
  } else {
    out.push(`/** ${type.title}: no ref or media fields, so populating changes nothing. */`);
    out.push(`export type ${name}Populated = ${name};`);
  }
  return out.join('\n');
}

/** The declarations file for these content types. */
export async function generateTypes(registry: ContentTypeRegistry, options: TypesOptions = {}): Promise<string> {
  const types = registry.all();
  const names = typeNames(types, TYPE_SUFFIXES, BUILT_IN_TYPES);
  const locales = options.locales ?? [...new Set(types.flatMap(localesOf))];
  const parts: string[] = [
    '/* eslint-disable */',
    `// Generated by \`cms types\`${options.source ? ` from ${options.source}` : ''}. Do not edit: run \`npm run types\` again.`,
    '',
    '/** The configured locales (LOCALES). */',
    `export type Locale = ${locales.length ? locales.map(literal).join(' | ') : 'string'};`,
    '/** A localized field as stored: one value per locale (the default locale’s is there when the field is required). */',
    'export type Localized<T> = { [L in Locale]?: T };',
    '',
  ];
  parts.push(
    await compile(
      { type: 'object', description: 'The fields every entry has. _createdBy only for signed-in users.', properties: withoutTitles(SYSTEM_FIELDS), required: ['_id', '_type', '_version', '_createdAt', '_updatedAt', '_status'], additionalProperties: false } as JSONSchema,
      'SystemFields',
      COMPILE_OPTIONS,
    ),
  );
  parts.push(await compile({ ...withoutTitles(MEDIA_SCHEMA), additionalProperties: false } as JSONSchema, 'MediaObject', { ...COMPILE_OPTIONS, additionalProperties: false }));
  parts.push(
    [
      '/** `meta` of a list. */',
      'export interface ListMeta {\n  total: number;\n  limit: number;\n  offset: number;\n  nextCursor: string | null;\n  preview?: boolean;\n  locale?: string;\n}',
      'export interface ListResponse<T> {\n  data: T[];\n  meta: ListMeta;\n}',
      'export interface EntryResponse<T> {\n  data: T;\n}',
      '/** Every error: a stable CMS_ERR_* code; details name each offending path. */',
      'export interface ApiError {\n  error: { code: string; message: string; details: { path: string; message: string; [extra: string]: unknown }[] };\n}',
      '',
    ].join('\n'),
  );
  for (const type of types) parts.push(`// --- ${type.id} (${type.file})\n${await typeDeclarations(type, names.get(type.id)!, names)}\n`);
  const map = types.map((type) => {
    const n = names.get(type.id)!;
    return `  ${key(type.id)}: {\n    entry: ${n};\n    fields: ${n}Fields;\n    stored: ${n}Stored;\n    input: ${n}Input;\n    populated: ${n}Populated;\n    singleton: ${type.singleton};\n    drafts: ${type.drafts};\n    public: ${type.public};\n  };`;
  });
  parts.push('/** Every content type by id. */', `export interface ContentTypes {\n${map.join('\n')}\n}`, 'export type ContentTypeId = keyof ContentTypes;', '');
  return parts.join('\n');
}

export interface TypesCommandOptions {
  /** The content-types directory (default: CONTENT_TYPES_DIR or ./content-types). */
  dir?: string;
  /** The file to write; `-` for standard output (default cms-types.d.ts). */
  out?: string;
}

/** `cms types`: loads the types as the server does (LOCALES from the environment) and writes the file. */
export async function typesCommand(opts: TypesCommandOptions, write: (s: string) => void, err: (s: string) => void): Promise<number> {
  const dir = resolve(opts.dir ?? process.env.CONTENT_TYPES_DIR ?? 'content-types');
  let registry: ContentTypeRegistry;
  // a bad LOCALES is a ConfigError: the command line answers it as a usage error
  const locales: LocaleConfig = parseLocales(process.env.LOCALES || 'en', process.env.LOCALE_FALLBACKS ?? '');
  try {
    registry = await loadContentTypes(dir, { locales });
  } catch (e) {
    if (!(e instanceof ContentTypeLoadError)) throw e;
    err(`${e.message}\n`);
    return 1;
  }
  const text = await generateTypes(registry, { locales: locales.locales, source: relative(process.cwd(), dir) || '.' });
  const out = opts.out ?? 'cms-types.d.ts';
  if (out === '-') {
    write(text);
  } else {
    await writeFile(out, text);
    err(`Wrote ${out}: ${registry.all().length} content types\n`);
  }
  return 0;
}
