// A flat view of a type's fields, for the query language and for normalizing writes.

export type ScalarKind = 'string' | 'number' | 'integer' | 'boolean';
export type FieldKind = ScalarKind | 'object' | 'array' | 'mixed';

export interface FieldInfo {
  /** Dotted path from the entry root, e.g. `seo.title`. */
  path: string;
  kind: FieldKind;
  /** For arrays: the kind of each item. */
  itemKind?: FieldKind;
  format?: string;
  itemFormat?: string;
  enum?: unknown[];
  unique: boolean;
  index: boolean;
  ref?: string;
  /** For a ref: what deleting the referenced entry does (default refuse). */
  onDelete?: 'refuse' | 'nullify';
  media?: MediaAnnotation;
  /** Only signed-in users see it (and any field it sits in). */
  private: boolean;
  required: boolean;
  /** Holds one value per locale (top-level fields only); queries address the value of one locale. */
  localized?: boolean;
}

export interface MediaAnnotation {
  accept?: string[];
  maxSize?: number;
}

/** A JSON Schema node as found in a content-type file (only what we read of it). */
export interface SchemaNode {
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  required?: string[];
  'x-cms'?: FieldAnnotations;
  [keyword: string]: unknown;
}

export interface FieldAnnotations {
  unique?: boolean;
  index?: boolean;
  ref?: string;
  onDelete?: 'refuse' | 'nullify';
  media?: MediaAnnotation;
  private?: boolean;
  slugFrom?: string;
  widget?: string;
  localized?: boolean;
  label?: string;
  help?: string;
  /** The field's old name, for `cms migrate`. */
  renamedFrom?: string;
}

function kindOf(node: SchemaNode | undefined): FieldKind {
  if (!node) return 'mixed';
  const t = node.type;
  if (typeof t === 'string' && ['string', 'number', 'integer', 'boolean', 'object', 'array'].includes(t)) {
    return t as FieldKind;
  }
  if (node.enum && node.enum.length > 0 && node.enum.every((v) => typeof v === 'string')) return 'string';
  if (typeof node.const === 'string') return 'string';
  return 'mixed';
}

/** Walks nested objects (not arrays of objects) and lists every field with its dotted path. */
export function collectFields(root: SchemaNode): Map<string, FieldInfo> {
  const out = new Map<string, FieldInfo>();
  const walk = (node: SchemaNode, prefix: string, parentRequired: boolean, parentPrivate: boolean) => {
    const required = new Set(node.required ?? []);
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const path = prefix ? `${prefix}.${name}` : name;
      const kind = kindOf(child);
      const cms = child['x-cms'] ?? {};
      const info: FieldInfo = {
        path,
        kind,
        unique: cms.unique === true,
        index: cms.index === true,
        private: parentPrivate || cms.private === true,
        required: parentRequired && required.has(name),
      };
      if (child.format) info.format = child.format;
      if (child.enum) info.enum = child.enum;
      if (cms.ref) info.ref = cms.ref;
      if (cms.onDelete) info.onDelete = cms.onDelete;
      if (cms.media) info.media = cms.media;
      if (cms.localized) info.localized = true;
      if (kind === 'array') {
        info.itemKind = kindOf(child.items);
        if (child.items?.format) info.itemFormat = child.items.format;
        if (child.items?.enum) info.enum = child.items.enum;
        if (child.items?.['x-cms']?.ref) info.ref = child.items['x-cms'].ref;
        if (child.items?.['x-cms']?.onDelete) info.onDelete = child.items['x-cms'].onDelete;
      }
      out.set(path, info);
      // the parts of a localized object sit under a locale key, so they are not fields of their own
      if (kind === 'object' && !info.localized) walk(child, path, info.required, info.private);
    }
  };
  walk(root, '', true, false);
  return out;
}
