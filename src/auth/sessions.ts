// Editor sessions. The only module that imports lucia (v3, no longer maintained upstream): replacing
// it means replacing this file. Everything else sees `Sessions`.
import { Lucia, TimeSpan, type Adapter, type DatabaseSession, type DatabaseUser } from 'lucia';
import type { Role, UserDoc, UsersRepository } from '../storage/users.js';

interface UserAttributes {
  email: string;
  name: string;
  role: Role;
}

interface SessionAttributes {
  createdAt: string;
}

type CmsLucia = Lucia<SessionAttributes, UserAttributes>;

declare module 'lucia' {
  interface Register {
    Lucia: CmsLucia;
    DatabaseUserAttributes: UserAttributes;
    DatabaseSessionAttributes: SessionAttributes;
  }
}

export interface SessionUser extends UserAttributes {
  id: string;
}

export interface Sessions {
  readonly cookieName: string;
  /** A new session for the user, as the Set-Cookie value. */
  create(userId: string): Promise<{ id: string; cookie: string }>;
  /** The session's user, or null (unknown, expired, revoked); `cookie` is set when it was extended. */
  validate(sessionId: string): Promise<{ user: SessionUser; sessionId: string; cookie?: string } | null>;
  /** The session id in a Cookie header, if any. */
  read(cookieHeader: string | undefined): string | null;
  invalidate(sessionId: string): Promise<void>;
  invalidateUser(userId: string): Promise<void>;
  /** A Set-Cookie value that removes the cookie. */
  blank(): string;
  deleteExpired(): Promise<void>;
}

export interface SessionOptions {
  idleMinutes: number;
  maxHours: number;
  secure: boolean;
  now: () => Date;
}

/**
 * Our adapter over the `sessions` and `users` collections: plain finds by id, no joins. It also
 * refuses what lucia does not know about: sessions past their absolute lifetime, of suspended users,
 * or older than the user's last credential change.
 */
function adapter(repo: UsersRepository, options: SessionOptions): Adapter {
  const toSession = (s: { _id: string; userId: string; expiresAt: Date; createdAt: string }): DatabaseSession => ({
    id: s._id,
    userId: s.userId,
    expiresAt: s.expiresAt,
    attributes: { createdAt: s.createdAt },
  });
  const toUser = (u: UserDoc): DatabaseUser => ({ id: u._id, attributes: { email: u.email, name: u.name, role: u.role } });
  return {
    async getSessionAndUser(sessionId) {
      const session = await repo.sessions.findOne({ _id: sessionId });
      if (!session) return [null, null];
      const user = await repo.findById(session.userId);
      const maxAge = options.maxHours * 3600 * 1000;
      const tooOld = options.now().getTime() - Date.parse(session.createdAt) > maxAge;
      if (!user || user.status !== 'active' || tooOld || session.createdAt < user.credentialsChangedAt) {
        await repo.sessions.deleteOne({ _id: sessionId });
        return [null, null];
      }
      return [toSession(session), toUser(user)];
    },
    async getUserSessions(userId) {
      return (await repo.sessions.find({ userId }).toArray()).map(toSession);
    },
    async setSession(session) {
      await repo.sessions.insertOne({ _id: session.id, userId: session.userId, expiresAt: session.expiresAt, createdAt: session.attributes.createdAt });
    },
    async updateSessionExpiration(sessionId, expiresAt) {
      await repo.sessions.updateOne({ _id: sessionId }, { $set: { expiresAt } });
    },
    async deleteSession(sessionId) {
      await repo.sessions.deleteOne({ _id: sessionId });
    },
    async deleteUserSessions(userId) {
      await repo.sessions.deleteMany({ userId });
    },
    async deleteExpiredSessions() {
      await repo.sessions.deleteMany({ expiresAt: { $lte: options.now() } });
    },
  };
}

export function createSessions(repo: UsersRepository, options: SessionOptions): Sessions {
  const lucia: CmsLucia = new Lucia(adapter(repo, options), {
    // the idle timeout: lucia slides it forward while the session is used
    sessionExpiresIn: new TimeSpan(options.idleMinutes, 'm'),
    sessionCookie: { name: 'cms_session', expires: false, attributes: { secure: options.secure, sameSite: 'lax', path: '/' } },
    getUserAttributes: (a) => ({ email: a.email, name: a.name, role: a.role }),
    getSessionAttributes: (a) => ({ createdAt: a.createdAt }),
  });
  return {
    cookieName: lucia.sessionCookieName,
    async create(userId) {
      const session = await lucia.createSession(userId, { createdAt: options.now().toISOString() });
      return { id: session.id, cookie: lucia.createSessionCookie(session.id).serialize() };
    },
    async validate(sessionId) {
      const { session, user } = await lucia.validateSession(sessionId);
      if (!session) return null;
      const out: { user: SessionUser; sessionId: string; cookie?: string } = {
        user: { id: user.id, email: user.email, name: user.name, role: user.role },
        sessionId: session.id,
      };
      if (session.fresh) out.cookie = lucia.createSessionCookie(session.id).serialize();
      return out;
    },
    read: (header) => (header ? lucia.readSessionCookie(header) : null),
    invalidate: (sessionId) => lucia.invalidateSession(sessionId),
    invalidateUser: (userId) => lucia.invalidateUserSessions(userId),
    blank: () => lucia.createBlankSessionCookie().serialize(),
    deleteExpired: () => lucia.deleteExpiredSessions(),
  };
}
