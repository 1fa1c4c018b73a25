import type { ValidateFunction } from 'ajv';
import type { FieldInfo, SchemaNode } from './fields.js';

export interface ContentType {
  id: string;
  /** The file it came from, relative to the working directory. */
  file: string;
  title: string;
  schema: SchemaNode;
  singleton: boolean;
  displayField?: string;
  fields: Map<string, FieldInfo>;
  /** Compiled once at start-up. */
  validate: ValidateFunction;
  /** A JSON Schema of one stored entry, for Fastify's compiled response serializers. */
  serializer: Record<string, unknown>;
}

export class ContentTypeRegistry {
  private readonly byId: Map<string, ContentType>;

  constructor(types: ContentType[]) {
    this.byId = new Map(types.map((t) => [t.id, t]));
  }

  get(id: string): ContentType | undefined {
    return this.byId.get(id);
  }

  all(): ContentType[] {
    return [...this.byId.values()];
  }
}
