// The admin's form validation, prepared on the server. The admin's CSP has no 'unsafe-eval', so Ajv
// cannot compile schemas in the browser; instead the server compiles each type's form schemas to
// standalone code (the form library's precompiled-validator format) with the same Ajv options and
// formats as the content validation, and serves it as an ES module.
import { createHash } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { ContentType } from '../content-types/registry.js';

// ajv-formats is CommonJS; under NodeNext its default export arrives as .default
const addFormats = addFormatsModule.default;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The schemas the entry form validates against, one per kind of locale. */
export interface FormSchemas {
  /** In the default locale: the authored schema without annotations. */
  schema: Json;
  /** In any other locale: the same, except that localized fields are not required there. */
  otherLocaleSchema: Json;
}

/** A copy of a schema without x-cms annotations, $schema and $id (recursively). */
export function plainSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(plainSchema);
  if (!isObject(schema)) return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'x-cms' || k === '$schema' || k === '$id') continue;
    out[k] = plainSchema(v);
  }
  return out;
}

export function formSchemasOf(type: ContentType): FormSchemas {
  const schema = plainSchema(type.schema) as Json;
  // the form shows no heading of its own: the page has one
  delete schema.title;
  delete schema.description;
  const localized = new Set(type.localized);
  const otherLocaleSchema: Json = { ...schema };
  if (Array.isArray(schema.required)) otherLocaleSchema.required = (schema.required as string[]).filter((r) => !localized.has(r));
  return { schema, otherLocaleSchema };
}

/**
 * The options of the content Ajv (src/content-types/ajv.ts) that decide what is valid: every error,
 * strict schemas, union types, the formats of ajv-formats. `useDefaults` stays off: the form fills in
 * defaults itself, and validating must not change what the editor typed.
 */
const AJV_OPTIONS = { allErrors: true, strict: true, allowUnionTypes: true, multipleOfPrecision: undefined } as const;

/** The module ids the generated code may require; the admin UI supplies each of them. */
export const RUNTIME_MODULES = ['ajv/dist/runtime/ucs2length', 'ajv/dist/runtime/equal', 'ajv-formats/dist/formats'];

export interface FormValidator {
  /** The ES module: `export default function load(require) { … return exports; }`. */
  code: string;
  /** Its content hash, part of its URL. */
  hash: string;
}

/** Compiles the type's form schemas to one ES module of validate functions keyed by schema hash. */
export async function compileFormValidator(type: ContentType, schemas: FormSchemas = formSchemasOf(type)): Promise<FormValidator> {
  // loaded when first needed: most processes never serve the admin's forms
  const { compileSchemaValidatorsCode } = await import('@rjsf/validator-ajv8/compileSchemaValidators');
  const compile = (schema: Json) =>
    compileSchemaValidatorsCode(schema, {
      // the content Ajv's draft (2020-12); the option is typed as Ajv's draft-07 class, whose constructor Ajv2020 shares
      AjvClass: Ajv2020 as unknown as NonNullable<Parameters<typeof compileSchemaValidatorsCode>[1]>['AjvClass'],
      ajvOptionsOverrides: AJV_OPTIONS,
      // the formats of the content Ajv (this project's ajv-formats), not the form library's own copy
      ajvFormatOptions: false,
      extenderFn: (ajv) => {
        addFormats(ajv as unknown as Ajv2020);
        return ajv;
      },
    });
  const parts = [compile(schemas.schema)];
  if (JSON.stringify(schemas.otherLocaleSchema) !== JSON.stringify(schemas.schema)) parts.push(compile(schemas.otherLocaleSchema));
  for (const part of parts) {
    for (const [, id] of part.matchAll(/require\("([^"]+)"\)/g)) {
      if (!RUNTIME_MODULES.includes(id!)) throw new Error(`The form validator of "${type.id}" needs the module "${id}", which the admin UI does not supply`);
    }
  }
  // each part in its own scope: both declare the same constant names
  const code = [
    `// Form validators of the content type "${type.id}", compiled by Ajv on the server.`,
    'export default function load(require) {',
    '  const exports = {};',
    ...parts.map((part) => `  (function (exports) {\n${part}\n  })(exports);`),
    '  return exports;',
    '}',
    '',
  ].join('\n');
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  return { code, hash };
}
