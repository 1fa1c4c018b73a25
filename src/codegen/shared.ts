// What the OpenAPI document and the TypeScript types both derive from a content type: names, the
// annotations they read, and a copy of a schema without our own keywords.
import type { ContentType } from '../content-types/registry.js';
import type { SchemaNode } from '../content-types/fields.js';

/** `site-settings` → `SiteSettings`; a leading digit or an empty name gets a `T` in front. */
export function pascalName(id: string): string {
  const name = id
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
  return /^[A-Za-z]/.test(name) ? name : `T${name}`;
}

/**
 * The names each type's schemas and interfaces get: PascalCase of the id, plus `Type` (then a number)
 * when that name, or one of its variants (`suffixes`), is taken by a type with a shorter name or by
 * `reserved`.
 */
export function typeNames(types: ContentType[], suffixes: string[], reserved: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const taken = new Set(reserved);
  const free = (base: string) => ['', ...suffixes].every((s) => !taken.has(base + s));
  // shorter names first: `event` is Event (and EventStored its variant) before `event-stored` asks
  const sorted = [...types].sort((a, b) => pascalName(a.id).length - pascalName(b.id).length || (a.id < b.id ? -1 : 1));
  for (const type of sorted) {
    let base = pascalName(type.id);
    for (let n = 1; !free(base); n++) base = `${pascalName(type.id)}Type${n === 1 ? '' : n}`;
    for (const s of ['', ...suffixes]) taken.add(base + s);
    out.set(type.id, base);
  }
  return out;
}

/** Keys whose values are data, never subschemas. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples', 'x-cms']);
/** Keys whose values map names to subschemas. */
const NAME_MAPS = new Set(['properties', '$defs', 'patternProperties', 'dependentSchemas']);
/** Keywords that make no sense inside a generated document. */
const DROPPED = new Set(['$schema', '$id', 'x-cms']);

export type Rewrite = (node: SchemaNode, path: string[]) => Record<string, unknown> | undefined;

/**
 * A deep copy of a schema without `x-cms`, `$schema` and `$id`. `rewrite` may replace any subschema
 * (it sees the original node, with its annotations); `path` is the chain of property names from the
 * root (`[]` for the root, `undefined` entries once inside arrays or combinators).
 */
export function cleanSchema(node: SchemaNode, rewrite?: Rewrite, path: string[] = []): Record<string, unknown> {
  const replaced = rewrite?.(node, path);
  if (replaced) return replaced;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (DROPPED.has(k)) continue;
    if (DATA_KEYWORDS.has(k)) out[k] = v;
    else if (NAME_MAPS.has(k) && v && typeof v === 'object') {
      out[k] = Object.fromEntries(
        Object.entries(v as Record<string, SchemaNode>).map(([name, child]) => [name, cleanSchema(child, rewrite, k === 'properties' ? [...path, name] : [...path, '*'])]),
      );
    } else if (Array.isArray(v)) {
      out[k] = v.map((child) => (child && typeof child === 'object' ? cleanSchema(child as SchemaNode, rewrite, [...path, '*']) : child));
    } else if (v && typeof v === 'object') {
      out[k] = cleanSchema(v as SchemaNode, rewrite, [...path, '*']);
    } else {
      out[k] = v;
    }
  }
  if (node['x-cms']) {
    const description = fieldDescription(node);
    if (description) out.description = description;
    if (node['x-cms'].label && node.title === undefined) out.title = node['x-cms'].label;
  }
  return out;
}

/** Removes a keyword from every subschema (property names that happen to equal it stay). */
export function withoutKeyword<T>(node: T, keyword: string): T {
  if (Array.isArray(node)) return node.map((n) => withoutKeyword(n, keyword)) as T;
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (k === keyword) continue;
    if (DATA_KEYWORDS.has(k)) out[k] = v;
    else if (NAME_MAPS.has(k) && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([n, c]) => [n, withoutKeyword(c, keyword)]));
    } else out[k] = withoutKeyword(v, keyword);
  }
  return out as T;
}

/** Removes `default` everywhere (where no default applies: reads, patches, inside anyOf). */
export const withoutDefaults = <T>(node: T): T => withoutKeyword(node, 'default');

/** Removes `required` everywhere (what a read may leave out: `fields=`, incomplete drafts). */
export function withoutRequired(schema: Record<string, unknown>, keepTop: string[] = []): Record<string, unknown> {
  const walk = (node: unknown, top: boolean): unknown => {
    if (Array.isArray(node)) return node.map((n) => walk(n, false));
    if (!node || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if (k === 'required' && Array.isArray(v)) {
        const kept = top ? v.filter((n) => keepTop.includes(n as string)) : [];
        if (kept.length) out[k] = kept;
      } else if (DATA_KEYWORDS.has(k)) out[k] = v;
      else if (NAME_MAPS.has(k) && v && typeof v === 'object') {
        out[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([n, c]) => [n, walk(c, false)]));
      } else out[k] = walk(v, false);
    }
    return out;
  };
  return walk(schema, true) as Record<string, unknown>;
}

export const PRIVATE_NOTE = 'Private: signed-in users only. Never sent to anonymous clients, API tokens or preview tokens.';

/** The human text of a field: its description, the editor's help, and a private field's note. */
export function fieldDescription(node: SchemaNode): string | undefined {
  const cms = node['x-cms'];
  const parts = [typeof node.description === 'string' ? node.description : undefined, cms?.help, cms?.private ? PRIVATE_NOTE : undefined].filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );
  return parts.length ? parts.join(' ') : undefined;
}

/** The locales a stored localized field holds, read from the type's stored schema. */
export function localesOf(type: ContentType): string[] {
  for (const name of type.localized) {
    const stored = type.storedSchema.properties?.[name];
    if (stored?.properties) return Object.keys(stored.properties);
  }
  return [];
}

/** Top-level fields that hold ids of other entries or media (what `populate` replaces). */
export function populatable(type: ContentType): { name: string; ref?: string; media: boolean; many: boolean }[] {
  const out = [];
  for (const [name, node] of Object.entries(type.schema.properties ?? {})) {
    const many = node.type === 'array';
    const ref = node['x-cms']?.ref ?? (many ? node.items?.['x-cms']?.ref : undefined);
    const media = node['x-cms']?.media !== undefined;
    if (ref || media) out.push({ name, ...(ref ? { ref } : {}), media, many });
  }
  return out;
}
