// What a migration does to one stored document: brings its fields in line with today's type.
// Pure functions (no database): renames (`x-cms.renamedFrom`), removed keys (dropped only when asked),
// required fields with a `default`, and the conversions that lose nothing: a canonical number
// string ↔ number, one value ↔ an array of at most one, a plain value ↔ a localized one.
import type { LocaleConfig } from '../../config.js';
import type { SchemaNode } from '../../content-types/fields.js';
import type { ContentType } from '../../content-types/registry.js';
import type { ErrorDetail } from '../../errors.js';
import { escapePointer, isObject, same } from '../../json.js';
import type { StoredEntry, View } from '../../storage/entries.js';
import { detailOf } from '../documents.js';

/** One thing done (or that cannot be done) to a document, at a field. */
export interface Change {
  kind: 'rename' | 'remove' | 'fill' | 'convert' | 'lossy';
  /** The field, as a dotted path of names (`seo.title`); for a rename, the new name. */
  field: string;
  /** rename: the old name; convert: what the value was (`string`, `number`, `single`, …). */
  from?: string;
  /** convert: what it becomes. */
  to?: string;
  /** JSON pointer of the value in the document (`/title/fr`). */
  pointer: string;
  /** lossy: why it cannot be converted. */
  message?: string;
}

export interface Transformed {
  /** The user fields after the migration. */
  fields: Record<string, unknown>;
  changes: Change[];
  /** Whether the fields differ from the stored ones. */
  changed: boolean;
}

export interface TransformOptions {
  locales: LocaleConfig;
  /** Remove stored keys the type no longer has (else they stay, and the document fails validation). */
  drop: boolean;
}

/** Marks a value the conversion removes (an empty array that becomes a single, absent value). */
const ABSENT = Symbol('absent');
type Value = unknown;

/** The fields of a stored entry that belong to the type (system fields start with `_`). */
export function userFields(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (!k.startsWith('_')) out[k] = v;
  return out;
}

export function systemFields(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (k.startsWith('_')) out[k] = v;
  return out;
}

const typeOf = (node: SchemaNode | undefined): string | undefined => (typeof node?.type === 'string' ? node.type : undefined);

const SCALARS = new Set(['string', 'number', 'integer', 'boolean']);

class Walker {
  readonly changes: Change[] = [];

  constructor(private readonly options: TransformOptions) {}

  private note(change: Change): void {
    this.changes.push(change);
  }

  /** An object with declared properties: renames, removed keys, defaults, then each value. */
  object(node: SchemaNode, value: Record<string, unknown>, path: string, pointer: string, top: boolean): Record<string, unknown> {
    const properties = node.properties ?? {};
    const out: Record<string, unknown> = { ...value };
    const at = (name: string) => (path ? `${path}.${name}` : name);
    const ptr = (name: string) => `${pointer}/${escapePointer(name)}`;
    for (const [name, child] of Object.entries(properties)) {
      const old = child['x-cms']?.renamedFrom;
      if (old === undefined || !Object.hasOwn(out, old) || Object.hasOwn(out, name)) continue;
      out[name] = out[old];
      delete out[old];
      this.note({ kind: 'rename', field: at(name), from: old, pointer: ptr(name) });
    }
    // keys the type no longer has; an object whose additionalProperties is a schema keeps its extras
    if (node.additionalProperties === false) {
      for (const key of Object.keys(out)) {
        if (Object.hasOwn(properties, key) || (top && key.startsWith('_'))) continue;
        this.note({ kind: 'remove', field: at(key), pointer: ptr(key) });
        if (this.options.drop) delete out[key];
      }
    }
    const required = new Set(node.required ?? []);
    for (const [name, child] of Object.entries(properties)) {
      const localized = top && child['x-cms']?.localized === true;
      if (!Object.hasOwn(out, name)) {
        if (required.has(name) && Object.hasOwn(child, 'default')) {
          const value = structuredClone(child.default);
          out[name] = localized ? { [this.options.locales.default]: value } : value;
          this.note({ kind: 'fill', field: at(name), pointer: ptr(name) });
        }
        continue;
      }
      const next = localized ? this.localized(child, out[name], at(name), ptr(name)) : this.value(child, out[name], at(name), ptr(name));
      if (next === ABSENT) delete out[name];
      else out[name] = next;
    }
    return out;
  }

  private isLocaleMap(v: unknown): v is Record<string, unknown> {
    return isObject(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => this.options.locales.locales.includes(k));
  }

  /** A localized field: each locale's value is converted; a plain value becomes the default locale's. */
  private localized(node: SchemaNode, value: Value, path: string, pointer: string): Value {
    // no value in any locale yet: already localized (a write may store `{}`)
    if (isObject(value) && Object.keys(value).length === 0) return value;
    // the field's own values are never objects: an object is a map by locale already, also when it
    // holds a locale no longer configured (a removed key: kept, or dropped with --drop)
    const plainObjects = typeOf(node) === undefined || typeOf(node) === 'object';
    if (this.isLocaleMap(value) || (!plainObjects && isObject(value))) {
      const out: Record<string, unknown> = {};
      for (const [locale, v] of Object.entries(value)) {
        const at = `${pointer}/${escapePointer(locale)}`;
        if (!this.options.locales.locales.includes(locale)) {
          this.note({ kind: 'remove', field: `${path}.${locale}`, pointer: at });
          if (!this.options.drop) out[locale] = v;
          continue;
        }
        const next = this.value(node, v, path, at);
        if (next !== ABSENT) out[locale] = next;
      }
      return out;
    }
    const def = this.options.locales.default;
    this.note({ kind: 'convert', field: path, from: 'plain', to: 'localized', pointer });
    const next = this.value(node, value, path, `${pointer}/${escapePointer(def)}`);
    return next === ABSENT ? {} : { [def]: next };
  }

  /** One value against its schema node. */
  value(node: SchemaNode, value: Value, path: string, pointer: string): Value | typeof ABSENT {
    const t = typeOf(node);
    // a field that was localized and no longer is: the default locale's value, if it is the only one
    if (t && t !== 'object' && this.isLocaleMap(value)) {
      const def = this.options.locales.default;
      const map = value;
      const others = Object.keys(map).filter((k) => k !== def && map[k] !== undefined);
      if (others.length) {
        this.note({ kind: 'lossy', field: path, from: 'localized', to: 'plain', pointer, message: `holds values in ${others.join(', ')} besides ${def}: only one can stay` });
        return value;
      }
      this.note({ kind: 'convert', field: path, from: 'localized', to: 'plain', pointer });
      if (!Object.hasOwn(map, def)) return ABSENT;
      return this.value(node, map[def], path, pointer);
    }
    if (t === 'array') {
      if (!Array.isArray(value)) {
        this.note({ kind: 'convert', field: path, from: 'single', to: 'array', pointer });
        value = [value];
      }
      const items = node.items;
      if (!items || typeof items !== 'object') return value;
      const list = value as unknown[];
      const out: unknown[] = [];
      list.forEach((item, i) => {
        const next = this.value(items, item, `${path}[]`, `${pointer}/${i}`);
        out.push(next === ABSENT ? null : next);
      });
      return out;
    }
    if (Array.isArray(value) && t && (SCALARS.has(t) || t === 'object')) {
      if (value.length > 1) {
        this.note({ kind: 'lossy', field: path, from: 'array', to: 'single', pointer, message: `an array of ${value.length} values cannot become one value` });
        return value;
      }
      this.note({ kind: 'convert', field: path, from: 'array', to: 'single', pointer });
      if (value.length === 0) return ABSENT;
      return this.value(node, value[0], path, pointer);
    }
    if ((t === 'number' || t === 'integer') && typeof value === 'string') {
      const n = Number(value);
      const canonical = value.trim() !== '' && Number.isFinite(n) && String(n) === value;
      if (!canonical || (t === 'integer' && !Number.isInteger(n))) {
        this.note({ kind: 'lossy', field: path, from: 'string', to: t, pointer, message: `"${value.slice(0, 40)}" is not ${t === 'integer' ? 'an integer' : 'a number'} written canonically` });
        return value;
      }
      this.note({ kind: 'convert', field: path, from: 'string', to: t, pointer });
      return n;
    }
    if (t === 'integer' && typeof value === 'number' && !Number.isInteger(value)) {
      this.note({ kind: 'lossy', field: path, from: 'number', to: 'integer', pointer, message: `${value} is not an integer` });
      return value;
    }
    if (t === 'string' && typeof value === 'number' && Number.isFinite(value)) {
      this.note({ kind: 'convert', field: path, from: 'number', to: 'string', pointer });
      return String(value);
    }
    if (node.properties && isObject(value)) return this.object(node, value, path, pointer, false);
    return value;
  }
}

/** The user fields of a stored document as today's type wants them. */
export function transformFields(type: ContentType, fields: Record<string, unknown>, options: TransformOptions): Transformed {
  const walker = new Walker(options);
  const out = walker.object(type.schema, fields, '', '', true);
  return { fields: out, changes: walker.changes, changed: !same(fields, out) };
}

/** Which validator a stored copy answers to: a draft may lack required fields, a snapshot may not. */
export function validatorFor(type: ContentType, view: View) {
  return view === 'published' || !type.drafts ? type.validate : type.validateDraft;
}

/**
 * What is wrong with a stored document under today's type: system fields, then the user fields
 * (validated on a copy: the validator fills defaults in what it checks).
 */
export function storedProblems(type: ContentType, doc: StoredEntry | Record<string, unknown>, view: View, fields: Record<string, unknown> = userFields(doc)): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  if (doc._type !== type.id) out.push({ path: '/_type', message: `must be "${type.id}"` });
  if (typeof doc._version !== 'number' || !Number.isInteger(doc._version) || doc._version < 1) out.push({ path: '/_version', message: 'must be a whole number from 1' });
  const validate = validatorFor(type, view);
  if (!validate(structuredClone(fields))) out.push(...(validate.errors ?? []).map(detailOf));
  return out;
}

/** A short form of a value for messages. */
export function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
