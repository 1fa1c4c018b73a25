// `populate=author.avatar,related` with `fields[author]=name,slug`: which reference and media fields
// to replace by what they point at, as a tree of paths (one batched query per node), checked against
// the types along the way and bounded in depth, so cycles between types end there.
import type { FieldInfo, SchemaNode } from '../content-types/fields.js';
import type { ContentType, ContentTypeRegistry } from '../content-types/registry.js';
import { codes, invalid } from '../errors.js';
import { isObject } from '../json.js';
import { parseFields } from './query.js';

export interface PopulateNode {
  /** The field's dotted path in the entry it sits in. */
  path: string;
  /** The populate path as the client wrote it, e.g. `author.avatar`. */
  key: string;
  field: FieldInfo;
  /** A reference's type (as the reader may see it); undefined for media. */
  target?: ContentType;
  /** `fields[<key>]`: the fields to return of what is populated. */
  fields?: string[];
  children: PopulateNode[];
}

const bad = (param: string, message: string) => invalid(codes.queryBadValue, `Invalid query parameter ${param}: ${message}`, [{ path: param, message }]);

/** The longest dotted field path at the start of `segments` that holds a reference or media. */
function fieldAt(type: ContentType, segments: string[]): { field: FieldInfo; used: number } | undefined {
  for (let n = segments.length; n > 0; n--) {
    const field = type.fields.get(segments.slice(0, n).join('.'));
    if (field && (field.ref || field.media)) return { field, used: n };
  }
  return undefined;
}

export function parsePopulateTree(
  registry: ContentTypeRegistry,
  type: ContentType,
  raw: string,
  fieldsByKey: Record<string, string>,
  maxDepth: number,
  viewOf: (type: ContentType) => ContentType,
): PopulateNode[] {
  const roots: PopulateNode[] = [];
  const byKey = new Map<string, PopulateNode>();
  for (const item of raw.split(',')) {
    if (!item) throw bad('populate', 'empty path');
    const segments = item.split('.');
    let current = type;
    let level = roots;
    let consumed = 0;
    let depth = 0;
    while (consumed < segments.length) {
      const hit = fieldAt(current, segments.slice(consumed));
      const name = segments.slice(consumed).join('.').slice(0, 64);
      if (!hit) {
        const exists = current.fields.has(segments[consumed]!);
        throw invalid(exists ? codes.queryBadValue : codes.queryUnknownField, exists
          ? `"${segments[consumed]}" of type "${current.id}" holds no reference or media, so there is nothing to populate`
          : `Unknown field "${name}" in populate: type "${current.id}" has no such reference or media field`, [{ path: 'populate', message: `nothing to populate at "${name}"` }]);
      }
      if (++depth > maxDepth) throw bad('populate', `"${item.slice(0, 100)}" is deeper than ${maxDepth} levels`);
      consumed += hit.used;
      const key = segments.slice(0, consumed).join('.');
      let node = byKey.get(key);
      if (!node) {
        node = { path: hit.field.path, key, field: hit.field, children: [] };
        if (hit.field.ref) node.target = viewOf(registry.get(hit.field.ref)!);
        byKey.set(key, node);
        level.push(node);
      }
      if (!node.target) {
        if (consumed < segments.length) throw bad('populate', `"${key}" is media: there is nothing to populate inside it`);
        break;
      }
      current = node.target;
      level = node.children;
    }
  }
  for (const [key, value] of Object.entries(fieldsByKey)) {
    const node = byKey.get(key);
    if (!node?.target) throw bad(`fields[${key.slice(0, 64)}]`, 'name a reference that populate resolves');
    node.fields = parseFields(node.target, value);
  }
  return roots;
}

/** The fields a populated entry must keep: those asked for, and those its own populated paths start with. */
export function keptFields(node: PopulateNode): string[] | undefined {
  if (!node.fields) return undefined;
  return [...new Set([...node.fields, ...node.children.map((c) => c.path.split('.')[0]!)])];
}

/** A reference found in an entry's fields: where it sits, the type it names, and the id. */
export interface FoundRef {
  pointer: string;
  type: string;
  id: string;
}

/**
 * Every reference in a value, found by walking it with its schema: in nested objects, arrays and
 * combinators alike (a value that fits several branches is looked at once per place).
 */
export function collectRefs(schema: SchemaNode | undefined, value: unknown, pointer = '', out = new Map<string, FoundRef>()): FoundRef[] {
  if (!schema || value === undefined || value === null) return [...out.values()];
  const ref = schema['x-cms']?.ref;
  if (ref && typeof value === 'string') out.set(pointer, { pointer, type: ref, id: value });
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => collectRefs(schema.items, v, `${pointer}/${i}`, out));
  if (isObject(value) && schema.properties) {
    for (const [k, child] of Object.entries(schema.properties)) if (k in value) collectRefs(child, value[k], `${pointer}/${k}`, out);
  }
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches)) for (const b of branches) collectRefs(b as SchemaNode, value, pointer, out);
  }
  return [...out.values()];
}
