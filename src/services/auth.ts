// Users, logins, sessions and API tokens. Routes call this and see only `Auth`.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ValidateFunction } from 'ajv';
import { ObjectId } from 'mongodb';
import type { Auth } from '../auth/access.js';
import { hashPassword, passwordProblem, verifyPassword, MAX_PASSWORD } from '../auth/passwords.js';
import type { Sessions } from '../auth/sessions.js';
import type { AuthConfig } from '../config.js';
import { createContentAjv } from '../content-types/ajv.js';
import { CmsError, codes, invalid, notFound } from '../errors.js';
import { EmailTakenError, ROLES, SCOPES, type Role, type Scope, type TokenDoc, type UserDoc, type UsersRepository } from '../storage/users.js';
import { detailOf } from './documents.js';
import { PREVIEW_TOKEN } from './previews.js';
import type { PreviewTokensRepository } from '../storage/previews.js';

export type Clock = () => Date;

export interface UserJson {
  _id: string;
  email: string;
  name: string;
  role: Role;
  status: UserDoc['status'];
  createdAt: string;
  updatedAt: string;
}

/** A token as the API shows it: everything but the hash of its secret. */
export type TokenJson = Omit<TokenDoc, 'hash'>;

const EMAIL = { type: 'string', minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' } as const;
const NAME = { type: 'string', minLength: 1, maxLength: 100, pattern: '^[^\\u0000-\\u001f\\u007f]*$' } as const;
const PASSWORD = { type: 'string', minLength: 1, maxLength: MAX_PASSWORD } as const;

const SCHEMAS = {
  login: { type: 'object', properties: { email: { type: 'string', minLength: 1, maxLength: 254 }, password: PASSWORD }, required: ['email', 'password'], additionalProperties: false },
  setup: { type: 'object', properties: { token: { type: 'string', minLength: 1, maxLength: 200 }, email: EMAIL, name: NAME, password: PASSWORD }, required: ['token', 'email', 'name', 'password'], additionalProperties: false },
  createUser: { type: 'object', properties: { email: EMAIL, name: NAME, password: PASSWORD, role: { enum: ROLES } }, required: ['email', 'name', 'password', 'role'], additionalProperties: false },
  updateUser: { type: 'object', properties: { email: EMAIL, name: NAME, role: { enum: ROLES }, status: { enum: ['active', 'suspended'] } }, additionalProperties: false, minProperties: 1 },
  updateSelf: { type: 'object', properties: { name: NAME }, required: ['name'], additionalProperties: false },
  password: { type: 'object', properties: { current: PASSWORD, password: PASSWORD }, required: ['current', 'password'], additionalProperties: false },
  token: {
    type: 'object',
    properties: {
      name: NAME,
      scopes: { type: 'array', items: { enum: SCOPES }, minItems: 1, uniqueItems: true },
      types: { type: 'array', items: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,47}$' }, minItems: 1, maxItems: 100, uniqueItems: true },
      expiresAt: { type: 'string', format: 'date-time' },
    },
    required: ['name', 'scopes'],
    additionalProperties: false,
  },
} as const;

type Validators = { [K in keyof typeof SCHEMAS]: ValidateFunction };

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
/** Emails are stored and looked up trimmed and in lower case. */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();
/** User and token ids: 24 lowercase hexadecimal characters. */
export const isHexId = (id: string) => /^[0-9a-f]{24}$/.test(id);
const TOKEN_PATTERN = /^cmst_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$/;

export function userJson(u: UserDoc): UserJson {
  return { _id: u._id, email: u.email, name: u.name, role: u.role, status: u.status, createdAt: u.createdAt, updatedAt: u.updatedAt };
}

function tokenJson(t: TokenDoc): TokenJson {
  const { hash: _hash, ...rest } = t;
  return rest;
}

const authInvalid = (message: string) => new CmsError('unauthenticated', codes.authInvalid, message);

/** A token is as good as the admin who made it, now: still an active admin, credentials unchanged since. */
export function tokenOwnerValid(token: Pick<TokenDoc, 'createdAt'>, owner: UserDoc | undefined | null): boolean {
  return Boolean(owner && owner.status === 'active' && owner.role === 'admin' && token.createdAt >= owner.credentialsChangedAt);
}

export class AuthService {
  private readonly validators: Validators;
  private decoy?: Promise<string>;

  constructor(
    private readonly repo: UsersRepository,
    readonly sessions: Sessions,
    private readonly config: AuthConfig,
    private readonly now: Clock = () => new Date(),
    private readonly previews?: PreviewTokensRepository,
  ) {
    const ajv = createContentAjv();
    this.validators = Object.fromEntries(Object.entries(SCHEMAS).map(([k, schema]) => [k, ajv.compile(schema)])) as Validators;
  }

  private check<K extends keyof Validators>(kind: K, body: unknown): Record<string, unknown> {
    const validate = this.validators[kind];
    if (!validate(body)) {
      const details = (validate.errors ?? []).map(detailOf);
      throw invalid(codes.authValidation, `The request body is invalid (${details.length} problem${details.length === 1 ? '' : 's'})`, details);
    }
    return body as Record<string, unknown>;
  }

  // --- who is asking ---

  /** Credentials from the headers: a bearer token, else the session cookie, else anonymous. */
  async authenticate(headers: { authorization?: string | undefined; cookie?: string | undefined }): Promise<{ auth: Auth; setCookie?: string }> {
    if (headers.authorization !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization);
      if (!m) throw authInvalid('Authorization must be "Bearer <token>"');
      return { auth: m[1]!.startsWith('cmsp_') ? await this.previewAuth(m[1]!) : await this.tokenAuth(m[1]!) };
    }
    const sessionId = this.sessions.read(headers.cookie);
    if (sessionId === null) return { auth: { kind: 'anonymous' } };
    const valid = await this.sessions.validate(sessionId);
    if (!valid) throw authInvalid('The session has ended; sign in again');
    const auth: Auth = { kind: 'user', via: 'cookie', user: valid.user, sessionId: valid.sessionId };
    return valid.cookie ? { auth, setCookie: valid.cookie } : { auth };
  }

  private async previewAuth(secret: string): Promise<Auth> {
    const token = PREVIEW_TOKEN.test(secret) && this.previews ? await this.previews.find(secret) : null;
    if (!token) throw authInvalid('The preview token is not valid');
    if (token.expiresAt <= this.now().toISOString()) throw authInvalid('The preview token has expired');
    // a preview link is as good as the user who made it, now
    const byToken = /^token:([0-9a-f]{24})$/.exec(token.createdBy);
    if (byToken) {
      // made with an API token: as good as that token, now
      const maker = await this.repo.findToken(byToken[1]!);
      if (!maker || (await this.tokenProblem(maker))) throw authInvalid('The preview token is no longer valid: the API token that made it no longer is');
    } else {
      const owner = await this.repo.findById(token.createdBy);
      if (!owner || owner.status !== 'active' || token.createdAt < owner.credentialsChangedAt) {
        throw authInvalid('The preview token is no longer valid: its creator was suspended, removed or changed their password');
      }
    }
    return { kind: 'preview', via: 'bearer', preview: { type: token.type, entryId: token.entryId, createdBy: token.createdBy } };
  }

  /** Why an API token no longer works, or undefined when it does. */
  private async tokenProblem(token: TokenDoc): Promise<string | undefined> {
    if (token.revokedAt) return 'The API token has been revoked';
    if (token.expiresAt && token.expiresAt <= this.now().toISOString()) return 'The API token has expired';
    if (!tokenOwnerValid(token, await this.repo.findById(token.createdBy))) {
      return 'The API token is no longer valid: the admin who created it was suspended, demoted, removed or changed their password';
    }
    return undefined;
  }

  /**
   * May whoever is named by an actor id (a user id, `token:<id>`, `system`, `schedule:<id>`) publish
   * now? For scheduled runs, which act later on someone's behalf.
   */
  async mayPublishNow(actor: string): Promise<boolean> {
    if (actor === 'system' || actor.startsWith('schedule:')) return true;
    const byToken = /^token:([0-9a-f]{24})$/.exec(actor);
    if (byToken) {
      const token = await this.repo.findToken(byToken[1]!);
      return !!token && token.scopes.includes('content:publish') && !(await this.tokenProblem(token));
    }
    const user = isHexId(actor) ? await this.repo.findById(actor) : null;
    return !!user && user.status === 'active' && (user.role === 'admin' || user.role === 'editor');
  }

  private async tokenAuth(secret: string): Promise<Auth> {
    const m = TOKEN_PATTERN.exec(secret);
    if (!m) throw authInvalid('The API token is not valid');
    const token = await this.repo.findToken(m[1]!);
    const given = Buffer.from(sha256(m[2]!), 'hex');
    if (!token || !timingSafeEqual(Buffer.from(token.hash, 'hex'), given)) throw authInvalid('The API token is not valid');
    const now = this.now();
    const problem = await this.tokenProblem(token);
    if (problem) throw authInvalid(problem);
    if (!token.lastUsedAt || now.getTime() - Date.parse(token.lastUsedAt) > 60_000) {
      await this.repo.updateToken(token._id, { lastUsedAt: now.toISOString() });
    }
    const out: Auth = { kind: 'token', via: 'bearer', token: { id: token._id, name: token.name, scopes: token.scopes, createdBy: token.createdBy } };
    if (token.types) out.token.types = token.types;
    return out;
  }

  // --- logins ---

  /** Counts an attempt on `key` first, then refuses it if it is over `max`: parallel guesses cannot slip between a check and a count. */
  private async limited(key: string, max: number): Promise<void> {
    const { count, resetAt } = await this.repo.hit(key, this.now(), this.config.login.windowSeconds);
    if (count > max) {
      const seconds = Math.max(1, Math.ceil((Date.parse(resetAt) - this.now().getTime()) / 1000));
      throw new CmsError('rate-limited', codes.rateLimited, `Too many sign-in attempts; try again in ${seconds} s`, [{ path: '', message: 'rate limited', retryAfter: seconds }]);
    }
  }

  /**
   * Email and password → a new session. Unknown users and wrong passwords get the same answer, at the
   * same cost (a decoy hash is verified). Attempts count per IP, failures per account; either limit
   * answers 429 before any password is checked.
   */
  async login(body: unknown, ip: string): Promise<{ user: UserJson; cookie: string }> {
    const { email, password } = this.check('login', body) as { email: string; password: string };
    const account = `login:account:${normalizeEmail(email)}`;
    const byIp = `login:ip:${ip}`;
    await this.limited(byIp, this.config.login.maxPerIp);
    await this.limited(account, this.config.login.maxPerAccount);
    const user = await this.repo.findByEmail(normalizeEmail(email));
    this.decoy ??= hashPassword(randomBytes(16).toString('hex'));
    const ok = await verifyPassword(user?.passwordHash ?? (await this.decoy), password);
    if (!user || !ok || user.status !== 'active') {
      throw new CmsError('unauthenticated', codes.loginFailed, 'The email or password is wrong, or the account is suspended');
    }
    await this.repo.clearCounter(account);
    const session = await this.sessions.create(user._id);
    return { user: userJson(user), cookie: session.cookie };
  }

  async logout(auth: Auth): Promise<void> {
    if (auth.kind === 'user') await this.sessions.invalidate(auth.sessionId);
  }

  /** Changes one's own password: every session of the user ends, and the caller gets a new one. */
  async changePassword(userId: string, body: unknown): Promise<{ cookie: string }> {
    const { current, password } = this.check('password', body) as { current: string; password: string };
    const user = await this.repo.findById(userId);
    if (!user) throw notFound(codes.userNotFound, 'No such user');
    // a session is needed to get here, so the account limit is what stops guessing
    const account = `login:account:${user.email}`;
    await this.limited(account, this.config.login.maxPerAccount);
    if (!(await verifyPassword(user.passwordHash, current))) {
      throw new CmsError('forbidden', codes.passwordWrong, 'The current password is wrong', [{ path: '/current', message: 'wrong password' }]);
    }
    await this.repo.clearCounter(account);
    this.checkPolicy(password, user.email, user.name, '/password');
    const now = this.now().toISOString();
    await this.repo.update(userId, { passwordHash: await hashPassword(password), updatedAt: now, credentialsChangedAt: now });
    await this.sessions.invalidateUser(userId);
    return { cookie: (await this.sessions.create(userId)).cookie };
  }

  /**
   * Sets a user's password without the current one (an operator's reset, from the command line):
   * the same policy, sessions and tokens made before end, and a locked-out account may try again.
   */
  async resetPassword(userId: string, password: string): Promise<UserDoc> {
    const user = await this.repo.findById(userId);
    if (!user) throw notFound(codes.userNotFound, 'No such user');
    this.checkPolicy(password, user.email, user.name, '/password');
    const now = this.now().toISOString();
    await this.repo.update(userId, { passwordHash: await hashPassword(password), updatedAt: now, credentialsChangedAt: now });
    await this.sessions.invalidateUser(userId);
    await this.repo.clearCounter(`login:account:${user.email}`);
    return { ...user, updatedAt: now, credentialsChangedAt: now };
  }

  private checkPolicy(password: string, email: string, name: string, path: string): void {
    const problem = passwordProblem(password, email, name);
    if (problem) throw invalid(codes.passwordPolicy, `The password ${problem}`, [{ path, message: problem }]);
  }

  // --- first run ---

  hasUsers(): Promise<boolean> {
    return this.repo.any();
  }

  /** While there are no users: a new one-time setup token (its hash is stored). Undefined once anyone exists. */
  async openSetup(): Promise<string | undefined> {
    if (await this.repo.any()) return undefined;
    const token = randomBytes(24).toString('base64url');
    await this.repo.setSetupToken(sha256(token), this.now().toISOString());
    return token;
  }

  async setup(body: unknown): Promise<{ user: UserJson; cookie: string }> {
    const input = this.check('setup', body) as { token: string; email: string; name: string; password: string };
    if (await this.repo.any()) throw new CmsError('not-found', codes.setupClosed, 'Setup is done: an admin exists. Sign in instead.');
    this.checkPolicy(input.password, input.email, input.name, '/password');
    if (!(await this.repo.consumeSetupToken(sha256(input.token)))) {
      throw new CmsError('forbidden', codes.setupToken, 'The setup token is wrong or was used already', [{ path: '/token', message: 'wrong token' }]);
    }
    const user = await this.insertUser({ email: input.email, name: input.name, password: input.password, role: 'admin' });
    return { user, cookie: (await this.sessions.create(user._id)).cookie };
  }

  // --- users ---

  private async insertUser(input: { email: string; name: string; password: string; role: Role }): Promise<UserJson> {
    const now = this.now().toISOString();
    const doc: UserDoc = {
      _id: new ObjectId().toHexString(),
      email: normalizeEmail(input.email),
      name: input.name.trim(),
      role: input.role,
      status: 'active',
      passwordHash: await hashPassword(input.password),
      createdAt: now,
      updatedAt: now,
      credentialsChangedAt: now,
    };
    try {
      await this.repo.insert(doc);
    } catch (err) {
      if (err instanceof EmailTakenError) throw new CmsError('conflict', codes.userEmailTaken, `A user with email ${doc.email} exists`, [{ path: '/email', message: 'taken' }]);
      throw err;
    }
    return userJson(doc);
  }

  async createUser(body: unknown): Promise<UserJson> {
    const input = this.check('createUser', body) as { email: string; name: string; password: string; role: Role };
    this.checkPolicy(input.password, input.email, input.name, '/password');
    return this.insertUser(input);
  }

  async listUsers(): Promise<UserJson[]> {
    return (await this.repo.list({}, 1000)).map(userJson);
  }

  async getUser(id: string): Promise<UserDoc> {
    const user = ObjectId.isValid(id) && isHexId(id) ? await this.repo.findById(id) : null;
    if (!user) throw notFound(codes.userNotFound, `No user with id ${id.slice(0, 64)}`);
    return user;
  }

  /** Role or status changes end the user's sessions (and void the tokens they made) at once. */
  async updateUser(id: string, body: unknown): Promise<{ user: UserJson; before: UserJson; changed: string[] }> {
    const input = this.check('updateUser', body) as Partial<Pick<UserDoc, 'email' | 'name' | 'role' | 'status'>>;
    const user = await this.getUser(id);
    if (input.email) input.email = normalizeEmail(input.email);
    const changed = (Object.keys(input) as (keyof typeof input)[]).filter((k) => input[k] !== user[k]);
    const losesAdmin = user.role === 'admin' && user.status === 'active' && ((input.role && input.role !== 'admin') || input.status === 'suspended');
    return losesAdmin ? this.repo.withAdminLock(() => this.applyUpdate(user, input, changed)) : this.applyUpdate(user, input, changed);
  }

  private async applyUpdate(user: UserDoc, input: Partial<Pick<UserDoc, 'email' | 'name' | 'role' | 'status'>>, changed: string[]): Promise<{ user: UserJson; before: UserJson; changed: string[] }> {
    const id = user._id;
    if (changed.includes('role') || changed.includes('status')) {
      const fresh = await this.repo.findById(id);
      if (fresh?.role === 'admin' && fresh.status === 'active' && ((input.role !== undefined && input.role !== 'admin') || input.status === 'suspended') && (await this.repo.countActiveAdmins()) <= 1) {
        throw new CmsError('conflict', codes.userLastAdmin, 'This is the last active admin: make another admin first');
      }
    }
    const now = this.now().toISOString();
    const set: Partial<UserDoc> = { ...input, updatedAt: now };
    const revoke = changed.includes('role') || changed.includes('status') || changed.includes('email');
    if (revoke) set.credentialsChangedAt = now;
    let updated: UserDoc | null;
    try {
      updated = await this.repo.update(id, set);
    } catch (err) {
      if (err instanceof EmailTakenError) throw new CmsError('conflict', codes.userEmailTaken, `A user with email ${input.email} exists`, [{ path: '/email', message: 'taken' }]);
      throw err;
    }
    if (revoke) await this.sessions.invalidateUser(id);
    return { user: userJson(updated ?? user), before: userJson(user), changed };
  }

  async updateSelf(id: string, body: unknown): Promise<UserJson> {
    const { name } = this.check('updateSelf', body) as { name: string };
    const updated = await this.repo.update(id, { name: name.trim(), updatedAt: this.now().toISOString() });
    if (!updated) throw notFound(codes.userNotFound, 'No such user');
    return userJson(updated);
  }

  async deleteUser(id: string): Promise<UserJson> {
    const user = await this.getUser(id);
    const remove = async () => {
      if (user.role === 'admin' && user.status === 'active' && (await this.repo.countActiveAdmins()) <= 1) {
        throw new CmsError('conflict', codes.userLastAdmin, 'This is the last active admin: make another admin first');
      }
      await this.repo.delete(id);
    };
    // changes that could remove the last admin run one at a time (no transactions to lean on)
    await (user.role === 'admin' ? this.repo.withAdminLock(remove) : remove());
    await this.sessions.invalidateUser(id);
    return userJson(user);
  }

  // --- API tokens ---

  async createToken(createdBy: string, body: unknown): Promise<{ token: TokenJson; secret: string }> {
    const input = this.check('token', body) as { name: string; scopes: Scope[]; types?: string[]; expiresAt?: string };
    const now = this.now();
    if (input.expiresAt && Date.parse(input.expiresAt) <= now.getTime()) {
      throw invalid(codes.authValidation, 'expiresAt must be in the future', [{ path: '/expiresAt', message: 'in the past' }]);
    }
    const id = new ObjectId().toHexString();
    const secret = randomBytes(32).toString('base64url');
    const doc: TokenDoc = { _id: id, hash: sha256(secret), name: input.name.trim(), scopes: input.scopes, createdAt: now.toISOString(), createdBy };
    if (input.types) doc.types = input.types;
    if (input.expiresAt) doc.expiresAt = new Date(input.expiresAt).toISOString();
    await this.repo.insertToken(doc);
    return { token: tokenJson(doc), secret: `cmst_${id}_${secret}` };
  }

  async listTokens(): Promise<TokenJson[]> {
    return (await this.repo.listTokens()).map(tokenJson);
  }

  async revokeToken(id: string): Promise<TokenJson> {
    const token = isHexId(id) ? await this.repo.findToken(id) : null;
    if (!token) throw notFound(codes.tokenNotFound, `No token with id ${id.slice(0, 64)}`);
    if (!token.revokedAt) {
      token.revokedAt = this.now().toISOString();
      await this.repo.updateToken(id, { revokedAt: token.revokedAt });
    }
    return tokenJson(token);
  }

  /** Expired sessions and login counters. */
  async sweep(): Promise<void> {
    await this.sessions.deleteExpired();
    await this.repo.deleteExpiredCounters(new Date(this.now().getTime() - this.config.login.windowSeconds * 1000));
  }
}
