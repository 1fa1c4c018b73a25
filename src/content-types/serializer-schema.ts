// Derives the schema Fastify compiles into a fast response serializer. It describes only shapes:
// validation keywords and `required` go (a `fields=` projection leaves fields out), and anything
// the serializer can't express exactly (combinators, refs) becomes "any", written by JSON.stringify.
import type { SchemaNode } from './fields.js';

const SHAPE_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']);

function shape(node: SchemaNode | undefined): Record<string, unknown> {
  if (!node || typeof node !== 'object') return {};
  // a media or ref field is an id, or what it points at when populated; a localized field is one
  // value, or an object of them all (locale=*)
  if (node['x-cms']?.media || node['x-cms']?.ref || node['x-cms']?.localized) return {};
  if (node.items?.['x-cms']?.ref) return {};
  if (['anyOf', 'oneOf', 'allOf', '$ref', 'if', 'not', 'patternProperties'].some((k) => k in node)) return {};
  const t = node.type;
  const types = Array.isArray(t) ? t : t ? [t] : [];
  if (types.length === 0 || !types.every((x) => SHAPE_TYPES.has(x))) return {};
  // integer is written as a number so that nothing stored is ever rounded on the way out
  const mapped = types.map((x) => (x === 'integer' ? 'number' : x));
  const out: Record<string, unknown> = { type: mapped.length === 1 ? mapped[0] : mapped };
  if (types.includes('object')) {
    if (types.length > 1) return {};
    const properties: Record<string, unknown> = {};
    for (const [name, child] of Object.entries(node.properties ?? {})) properties[name] = shape(child);
    out.properties = properties;
    out.additionalProperties = node.additionalProperties === false ? false : {};
  }
  if (types.includes('array')) {
    if (types.length > 1) return {};
    out.items = shape(node.items);
  }
  return out;
}

export const SYSTEM_FIELDS_SCHEMA = {
  _id: { type: 'string' },
  _type: { type: 'string' },
  _version: { type: 'integer' },
  _createdAt: { type: 'string' },
  _updatedAt: { type: 'string' },
  _createdBy: { type: 'string' },
  _status: { type: 'string' },
  _publishedAt: { type: 'string' },
  _locale: { type: 'string' },
} as const;

export function serializerSchema(schema: SchemaNode): Record<string, unknown> {
  const entry = shape(schema);
  return {
    type: 'object',
    properties: { ...SYSTEM_FIELDS_SCHEMA, ...(entry.properties as Record<string, unknown>) },
    additionalProperties: false,
  };
}
