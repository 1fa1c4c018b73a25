// Who is asking (`request.auth`) and what they may do. Every route asks these functions; no route
// decides access by matching its own URL, so path variants cannot slip past a check.
import type { ContentType } from '../content-types/registry.js';
import { CmsError, codes } from '../errors.js';
import type { Role, Scope } from '../storage/users.js';

export type Auth =
  | { kind: 'anonymous' }
  | { kind: 'user'; via: 'cookie'; user: { id: string; email: string; name: string; role: Role }; sessionId: string }
  | { kind: 'token'; via: 'bearer'; token: { id: string; name: string; scopes: Scope[]; types?: string[]; createdBy: string } }
  /** A preview token: the draft of one entry; otherwise it reads what anonymous clients read. */
  | { kind: 'preview'; via: 'bearer'; preview: { type: string; entryId: string; createdBy: string } };

export const ANONYMOUS: Auth = { kind: 'anonymous' };

/** Whether an access check passes (for filtering what to show, where a refusal is not an error). */
export function allowed(check: () => void): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}

/** A user who has just signed in (or been created at setup), as the audit log names them. */
export function userAuth(user: { _id: string; email: string; name: string; role: Role }): Auth {
  return { kind: 'user', via: 'cookie', user: { id: user._id, email: user.email, name: user.name, role: user.role }, sessionId: '' };
}

/** Who did it, for the audit log and `_createdBy`. */
export function actorOf(auth: Auth): { type: 'user' | 'token' | 'anonymous'; id?: string; name?: string } {
  if (auth.kind === 'user') return { type: 'user', id: auth.user.id, name: auth.user.email };
  if (auth.kind === 'token') return { type: 'token', id: auth.token.id, name: auth.token.name };
  return { type: 'anonymous' };
}

export const creatorId = (auth: Auth): string => (auth.kind === 'user' ? auth.user.id : auth.kind === 'token' ? `token:${auth.token.id}` : 'anonymous');

function unauthenticated(): CmsError {
  return new CmsError('unauthenticated', codes.authRequired, 'Sign in, or send an API token as Authorization: Bearer');
}

export function forbidden(message: string): CmsError {
  return new CmsError('forbidden', codes.forbidden, message);
}

const hasScope = (auth: Auth, ...scopes: Scope[]) => auth.kind === 'token' && scopes.some((s) => auth.token.scopes.includes(s));
const tokenCoversType = (auth: Auth, type: string) => auth.kind !== 'token' || !auth.token.types || auth.token.types.includes(type);

/** Signed-in users see everything of an entry; tokens and anonymous clients never see private fields. */
export const seesPrivate = (auth: Auth): boolean => auth.kind === 'user';

export function requireUser(auth: Auth, roles?: Role[]): void {
  if (auth.kind === 'anonymous') throw unauthenticated();
  if (auth.kind !== 'user') throw forbidden('This needs a signed-in user, not an API token');
  if (roles && !roles.includes(auth.user.role)) throw forbidden(`This needs the role ${roles.join(' or ')}`);
}

export function canReadContent(auth: Auth, type: ContentType): void {
  if (auth.kind === 'anonymous') {
    if (type.public) return;
    throw unauthenticated();
  }
  if (auth.kind === 'preview') {
    if (type.public || type.id === auth.preview.type) return;
    throw forbidden('A preview token reads its own entry and public types only');
  }
  if (auth.kind === 'user') return;
  if (!hasScope(auth, 'content:read', 'content:preview', 'content:write', 'content:publish')) throw forbidden('The token has no content scope');
  if (!tokenCoversType(auth, type.id)) throw forbidden(`The token does not cover type "${type.id}"`);
}

/** Drafts (`?preview=true`) and version history. */
export function canPreviewContent(auth: Auth, type: ContentType): void {
  if (auth.kind === 'anonymous') throw unauthenticated();
  if (auth.kind === 'user') return;
  if (auth.kind === 'preview') {
    if (auth.preview.type === type.id) return;
    throw forbidden('This preview token is for another type');
  }
  if (!hasScope(auth, 'content:preview', 'content:write')) throw forbidden('Drafts need a session, or a token with content:preview or content:write');
  if (!tokenCoversType(auth, type.id)) throw forbidden(`The token does not cover type "${type.id}"`);
}

/** Publish, unpublish, discard and schedule: editors and admins, and tokens with content:publish. */
export function canPublish(auth: Auth, type: ContentType): void {
  if (auth.kind === 'anonymous') throw unauthenticated();
  if (auth.kind === 'preview') throw forbidden('A preview token can only read');
  if (auth.kind === 'token') {
    if (!hasScope(auth, 'content:publish')) throw forbidden('The token has no content:publish scope');
    if (!tokenCoversType(auth, type.id)) throw forbidden(`The token does not cover type "${type.id}"`);
    return;
  }
  if (auth.user.role === 'admin' || auth.user.role === 'editor') return;
  throw forbidden(auth.user.role === 'author' ? 'An author cannot publish: an editor or admin publishes' : 'A viewer cannot publish');
}

/** Create, or change/delete an entry whose creator is `owner`. */
export function canWriteContent(auth: Auth, type: ContentType, action: 'create' | 'update' | 'delete' | 'any', owner?: string): void {
  if (auth.kind === 'anonymous') throw unauthenticated();
  if (auth.kind === 'preview') throw forbidden('A preview token can only read');
  if (auth.kind === 'token') {
    if (!hasScope(auth, 'content:write')) throw forbidden('The token has no content:write scope');
    if (!tokenCoversType(auth, type.id)) throw forbidden(`The token does not cover type "${type.id}"`);
    return;
  }
  const role = auth.user.role;
  if (role === 'admin' || role === 'editor') return;
  if (role === 'author') {
    if (action === 'create' || action === 'any' || owner === auth.user.id) return;
    throw forbidden(`An author may ${action === 'delete' ? 'delete' : 'change'} only entries they created`);
  }
  throw forbidden('A viewer cannot change content');
}

export function canReadMediaLibrary(auth: Auth): void {
  if (auth.kind === 'anonymous') throw unauthenticated();
  if (auth.kind === 'preview') throw forbidden('A preview token reads content only');
  if (auth.kind === 'token' && !hasScope(auth, 'content:read', 'content:preview', 'content:write', 'content:publish', 'media:write')) throw forbidden('The token has no content or media scope');
}

/** Upload (any writer), or change/delete (editors and admins; authors their own uploads). */
export function canWriteMedia(auth: Auth, action: 'upload' | 'update' | 'delete', owner?: string): void {
  if (auth.kind === 'anonymous') throw unauthenticated();
  if (auth.kind === 'preview') throw forbidden('A preview token can only read');
  if (auth.kind === 'token') {
    if (!hasScope(auth, 'media:write')) throw forbidden('The token has no media:write scope');
    return;
  }
  const role = auth.user.role;
  if (role === 'admin' || role === 'editor') return;
  if (role === 'author' && (action === 'upload' || owner === auth.user.id)) return;
  throw forbidden(role === 'viewer' ? 'A viewer cannot change media' : 'An author may change only media they uploaded');
}
