import type { ValidateFunction } from 'ajv';
import type { FieldInfo, SchemaNode } from './fields.js';

export interface ContentType {
  id: string;
  /** The file it came from, relative to the working directory. */
  file: string;
  title: string;
  schema: SchemaNode;
  singleton: boolean;
  /** Anonymous clients may read it. */
  public: boolean;
  displayField?: string;
  fields: Map<string, FieldInfo>;
  /** Compiled once at start-up. */
  validate: ValidateFunction;
  /** A JSON Schema of one stored entry, for Fastify's compiled response serializers. */
  serializer: Record<string, unknown>;
  /** Dotted paths of the private fields (outermost only). */
  privatePaths: string[];
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
