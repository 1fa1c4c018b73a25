// Shapes the UI reads from the API. The content-type description comes from GET /api/admin/types.
import type { RJSFSchema } from '@rjsf/utils';
import type * as Shared from '../../src/routes/admin-types';

export type Role = 'admin' | 'editor' | 'author' | 'viewer';

export interface Me {
  kind: 'user';
  _id: string;
  email: string;
  name: string;
  role: Role;
  status: string;
}

// the description of the content types is the server's own (one file both sides import)
export type FieldInfo = Shared.FieldInfo;
export type FormInfo = Shared.FormInfo<RJSFSchema>;
export type TypeInfo = Shared.TypeInfo<RJSFSchema>;
export type TypesResponse = Shared.TypesResponse<RJSFSchema>;

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
