import type { ValidateFunction } from 'ajv';
import { createContentAjv } from './ajv.js';
import { collectFields, type FieldInfo, type SchemaNode } from './fields.js';

export interface ContentType {
  id: string;
  /** The file it came from, relative to the working directory. */
  file: string;
  title: string;
  /** The schema as written in the file. */
  schema: SchemaNode;
  /** The schema of a stored entry: a localized field is an object with one value per locale. */
  storedSchema: SchemaNode;
  singleton: boolean;
  /** Anonymous clients may read it. */
  public: boolean;
  displayField?: string;
  fields: Map<string, FieldInfo>;
  /** Entries are drafts until published; readers see the published snapshots. */
  drafts: boolean;
  /** Versions kept per entry. */
  keepVersions: number;
  /** Cache-Control of public delivery responses (seconds). */
  cache: { maxAge: number; staleWhileRevalidate: number };
  /** A URL template for previews, e.g. `https://site.example/blog/{slug}?preview={token}`. */
  previewUrl?: string;
  /** Top-level localized fields. */
  localized: string[];
  /** Compiled once at start-up: the whole schema, as a publish (or any write without drafts) needs. */
  validate: ValidateFunction;
  /** For drafts: types are checked but required fields may be missing (unique fields excepted). */
  validateDraft: ValidateFunction;
  /** A JSON Schema of one stored entry, for Fastify's compiled response serializers. */
  serializer: Record<string, unknown>;
  /** Dotted paths of the private fields (outermost only). */
  privatePaths: string[];
}

/** A queryable shape for the server's own records (audit log, media library), not a content type. */
export function builtInType(id: string, title: string, schema: SchemaNode): ContentType {
  const validate = createContentAjv().compile({});
  return {
    id, file: '(built in)', title, schema, storedSchema: schema, singleton: false, public: false, drafts: false, keepVersions: 1, cache: { maxAge: 0, staleWhileRevalidate: 0 },
    localized: [], fields: collectFields(schema), validate, validateDraft: validate, serializer: {}, privatePaths: [],
  };
}

/** The type without its private fields: what anonymous clients and tokens may query and see. */
function withoutPrivate(type: ContentType): ContentType {
  if (!type.privatePaths.length) return type;
  const hidden = new Set(type.privatePaths.filter((p) => !p.includes('.')));
  const properties = Object.fromEntries(Object.entries(type.schema.properties ?? {}).filter(([k]) => !hidden.has(k)));
  return {
    ...type,
    schema: { ...type.schema, properties },
    fields: new Map([...type.fields].filter(([, f]) => !f.private)),
  };
}

export class ContentTypeRegistry {
  private readonly byId: Map<string, ContentType>;
  private readonly publicViews = new Map<string, ContentType>();

  constructor(types: ContentType[]) {
    this.byId = new Map(types.map((t) => [t.id, t]));
    for (const t of types) this.publicViews.set(t.id, withoutPrivate(t));
  }

  /** The type as clients without a session see it. */
  publicView(type: ContentType): ContentType {
    return this.publicViews.get(type.id) ?? withoutPrivate(type);
  }

  get(id: string): ContentType | undefined {
    return this.byId.get(id);
  }

  all(): ContentType[] {
    return [...this.byId.values()];
  }
}
