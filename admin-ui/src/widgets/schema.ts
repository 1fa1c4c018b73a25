// From a content type's JSON Schema (with x-cms annotations) to what the form library needs:
// the schema to validate (prepared by the server), and a uiSchema choosing our widgets, labels and help texts.
import type { RJSFSchema, UiSchema } from '@rjsf/utils';
import { labelOf as nameInWords } from '../../../src/routes/admin-types';
import type { TypeInfo } from '../types';

export interface CmsAnnotations {
  label?: string;
  help?: string;
  widget?: string;
  ref?: string;
  media?: { accept?: string[]; maxSize?: number } | true;
  localized?: boolean;
  private?: boolean;
  slugFrom?: string;
  unique?: boolean;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function cmsOf(schema: unknown): CmsAnnotations {
  if (!isObject(schema)) return {};
  const x = schema['x-cms'];
  return isObject(x) ? (x as CmsAnnotations) : {};
}


/** The label of a field: x-cms.label, else the schema title, else the humanised name. */
export function labelOf(name: string, schema: unknown): string {
  const cms = cmsOf(schema);
  if (cms.label) return cms.label;
  if (isObject(schema) && typeof schema.title === 'string' && schema.title) return schema.title;
  return nameInWords(name);
}

/** Lower-case ASCII words joined by hyphens: "Café au lait!" → "cafe-au-lait". */
export function slugify(text: string, maxLength = 120): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, maxLength)
    .replace(/-+$/, '');
}

/** Resolves a local `$ref` ("#/$defs/x") against the root. */
function deref(schema: unknown, root: Json): Json {
  let s = schema;
  for (let i = 0; i < 10 && isObject(s) && typeof s.$ref === 'string' && s.$ref.startsWith('#/'); i++) {
    let target: unknown = root;
    for (const part of s.$ref.slice(2).split('/')) target = isObject(target) ? target[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
    s = target;
  }
  return isObject(s) ? s : {};
}

export interface FormSchemas {
  schema: RJSFSchema;
  uiSchema: UiSchema;
  /** Top-level fields holding one value per locale. */
  localized: Set<string>;
  /** Fields (top level) whose values are references or media ids; arrays of them drop empty items on save. */
  idArrays: Set<string>;
}

/** The uiSchema of one field (and its children); `label` is the server's for a top-level field. */
function uiFor(name: string, schema: unknown, root: Json, arrayItem = false, label?: string): UiSchema {
  const s = deref(schema, root);
  const cms = { ...cmsOf(schema), ...cmsOf(s) };
  const title = label || labelOf(name, s === schema ? s : { ...s, 'x-cms': cms });
  const ui: UiSchema = { 'ui:title': title };
  const options: Record<string, string | number | boolean | object | undefined> = {};
  if (cms.help) ui['ui:help'] = cms.help;
  if (cms.private) options.private = true;
  if (cms.localized) options.localized = true;
  if (arrayItem) options.arrayItem = true;
  const type = s.type;
  if (type === 'object' && isObject(s.properties)) {
    for (const [key, child] of Object.entries(s.properties)) ui[key] = uiFor(key, child, root);
  } else if (type === 'array') {
    const items = deref(s.items, root);
    const itemCms = { ...cmsOf(s.items), ...cmsOf(items) };
    // a ref or media annotation on the array itself applies to its items
    const withArray: Json = { ...items, 'x-cms': { ...(cms.ref ? { ref: cms.ref } : {}), ...(cms.media ? { media: cms.media } : {}), ...itemCms } };
    const itemUi = uiFor(name, withArray, root, true);
    itemUi['ui:title'] = title;
    ui.items = itemUi;
    options.orderable = true;
  } else if (cms.ref) {
    ui['ui:widget'] = 'ref';
    options.ref = cms.ref;
  } else if (cms.media || cms.widget === 'media') {
    ui['ui:widget'] = 'media';
    options.accept = isObject(cms.media) && Array.isArray(cms.media.accept) ? cms.media.accept : undefined;
  } else if (cms.slugFrom || cms.widget === 'slug') {
    ui['ui:widget'] = 'slug';
    options.slugFrom = cms.slugFrom;
    if (typeof s.maxLength === 'number') options.maxLength = s.maxLength;
  } else if (cms.widget === 'markdown') {
    ui['ui:widget'] = 'markdown';
  } else if (cms.widget === 'textarea') {
    ui['ui:widget'] = 'textarea';
    options.rows = 4;
  } else if (type === 'string' && s.format === 'date-time') {
    ui['ui:widget'] = 'datetime';
  } else if (cms.widget === 'datetime') {
    ui['ui:widget'] = 'datetime';
  } else if (type === 'boolean') {
    ui['ui:widget'] = 'checkbox';
  } else if (cms.widget === 'color') {
    ui['ui:widget'] = 'color';
  } else if (type === 'string' && s.format === 'email') {
    ui['ui:widget'] = 'email';
  } else if (type === 'string' && (s.format === 'uri' || s.format === 'url' || cms.widget === 'url')) {
    ui['ui:widget'] = 'uri';
  }
  if (Object.keys(options).length) ui['ui:options'] = options;
  return ui;
}

/**
 * The schemas for the form as seen in one locale. The schema to validate comes from the server as it
 * is (its validators were compiled from exactly that object); outside the default locale, localized
 * fields are not required there (a required localized field needs only its default-locale value).
 */
export function formSchemas(type: TypeInfo, locale: string, defaultLocale: string): FormSchemas {
  const root = type.schema as Json;
  const localized = new Set<string>();
  const idArrays = new Set<string>();
  const uiSchema: UiSchema = { 'ui:title': '' };
  const props = isObject(root.properties) ? root.properties : {};
  for (const [name, field] of Object.entries(props)) {
    const cms = cmsOf(field);
    if (cms.localized) localized.add(name);
    const s = deref(field, root);
    if (s.type === 'array') {
      const itemCms = { ...cmsOf(s.items), ...cmsOf(deref(s.items, root)) };
      if (cms.ref || cms.media || itemCms.ref || itemCms.media) idArrays.add(name);
    }
    uiSchema[name] = uiFor(name, field, root, false, type.fields.find((f) => f.name === name)?.label);
  }
  const schema = locale === defaultLocale ? type.form.schema : type.form.otherLocaleSchema;
  return { schema, uiSchema, localized, idArrays };
}

/** The form's data in one locale: localized fields show that locale's value. */
export function viewIn(values: Json, localized: Set<string>, locale: string): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(values)) {
    if (localized.has(k)) {
      const per = isObject(v) ? v[locale] : undefined;
      if (per !== undefined) out[k] = per;
    } else out[k] = v;
  }
  return out;
}

/** Folds the form's data (in one locale) back into the entry's values. */
export function mergeView(values: Json, view: Json, localized: Set<string>, locale: string): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(values)) if (localized.has(k)) out[k] = v;
  for (const [k, v] of Object.entries(view)) {
    if (localized.has(k)) continue;
    if (v !== undefined) out[k] = v;
  }
  for (const k of localized) {
    const per: Json = isObject(out[k]) ? { ...(out[k] as Json) } : {};
    const v = view[k];
    if (v === undefined || v === '') delete per[locale];
    else per[locale] = v;
    if (Object.keys(per).length) out[k] = per;
    else delete out[k];
  }
  return out;
}

/** Removes undefined values and empty list items (and empty ids in reference/media lists) before sending. */
export function cleanValues(values: Json, idArrays: Set<string>): Json {
  const clean = (v: unknown): unknown => {
    // an item added but never filled in is left out
    if (Array.isArray(v)) return v.filter((x) => x !== undefined && x !== null).map(clean);
    if (isObject(v)) {
      const o: Json = {};
      for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = clean(x);
      return o;
    }
    return v;
  };
  const out = clean(values) as Json;
  for (const k of idArrays) {
    const v = out[k];
    if (Array.isArray(v)) out[k] = v.filter((x) => typeof x === 'string' && x !== '');
  }
  return out;
}

/** JSON with sorted keys: equal values give equal strings. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (isObject(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The entry's own fields (no system fields). */
export function userFields(entry: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(entry)) if (!k.startsWith('_')) out[k] = v;
  return out;
}

/**
 * Server error details as the form's extra errors: "/title/fr" on a localized field goes under
 * `title` (with the locale named), "/seo/title" under seo.title. Returns what fits no field.
 */
export function errorsFromDetails(details: { path: string; message: string }[], localized: Set<string>, fieldNames: Set<string>): { tree: Json; rest: string[] } {
  const tree: Json = {};
  const rest: string[] = [];
  for (const d of details) {
    if (!d.path.startsWith('/')) {
      rest.push(d.path ? `${d.path}: ${d.message}` : d.message);
      continue;
    }
    let parts = d.path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    let message = d.message;
    const top = parts[0]!;
    if (!fieldNames.has(top)) {
      rest.push(`${top}: ${message}`);
      continue;
    }
    if (localized.has(top) && parts.length > 1) {
      message = `${parts[1]}: ${message}`;
      parts = [top, ...parts.slice(2)];
    }
    let node = tree;
    for (const p of parts) {
      if (!isObject(node[p])) node[p] = {};
      node = node[p] as Json;
    }
    const list = Array.isArray(node.__errors) ? (node.__errors as string[]) : [];
    list.push(message);
    node.__errors = list;
  }
  return { tree, rest };
}
