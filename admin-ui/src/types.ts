// Shapes the UI reads from the API. The content-type description comes from GET /api/admin/types.
import type { RJSFSchema } from '@rjsf/utils';

export type Role = 'admin' | 'editor' | 'author' | 'viewer';

export interface Me {
  kind: 'user';
  _id: string;
  email: string;
  name: string;
  role: Role;
  status: string;
}

export interface FieldInfo {
  name: string;
  /** The JSON-Schema type of the (per-locale) value: string, number, integer, boolean, array, object. */
  type: string;
  label: string;
  required: boolean;
  format?: string;
  enum?: unknown[];
  widget?: string;
  ref?: string;
  media?: { accept?: string[] } | true;
  localized: boolean;
  unique: boolean;
  private: boolean;
  slugFrom?: string;
}

export interface TypeInfo {
  id: string;
  title: string;
  description?: string;
  singleton: boolean;
  displayField?: string;
  drafts: boolean;
  public: boolean;
  previewUrl: boolean;
  /** The authored JSON Schema of the entry's own fields, x-cms annotations included. */
  schema: RJSFSchema;
  fields: FieldInfo[];
  form: FormInfo;
}

/** What the entry form validates against (used verbatim: the validators were compiled from exactly these). */
export interface FormInfo {
  /** In the default locale. */
  schema: RJSFSchema;
  /** In other locales: localized fields are not required there. */
  otherLocaleSchema: RJSFSchema;
  /** The ES module of the precompiled validators, or null when the server could not compile them. */
  validatorUrl: string | null;
}

export interface TypesResponse {
  data: TypeInfo[];
  meta: { locales: string[]; defaultLocale: string };
}

/** GET /api/admin/info: needs no session; says whether first-run setup is still open. */
export interface AdminInfo {
  setupRequired: boolean;
}

export type Entry = Record<string, unknown> & {
  _id: string;
  _type: string;
  _version: number;
  _createdAt: string;
  _updatedAt: string;
  _publishedAt?: string | null;
  _status?: 'draft' | 'published' | 'changed';
};

export interface ListResponse<T> {
  data: T[];
  meta: { next?: string | null; total?: number; limit?: number; [key: string]: unknown };
}

/** What a role may do in the UI (the server enforces the same rules). */
export function can(role: Role | undefined, action: 'write' | 'publish' | 'admin' | 'upload'): boolean {
  switch (action) {
    case 'admin':
      return role === 'admin';
    case 'publish':
      return role === 'admin' || role === 'editor';
    case 'write':
    case 'upload':
      return role === 'admin' || role === 'editor' || role === 'author';
  }
}
