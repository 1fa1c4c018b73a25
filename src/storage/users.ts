// Users, API tokens, sessions, login counters and the one-time setup token. No rules here.
import { isDuplicateKey } from './entries.js';
import { type Db, type Filter } from 'mongodb';

export type Role = 'admin' | 'editor' | 'author' | 'viewer';
export const ROLES: Role[] = ['admin', 'editor', 'author', 'viewer'];

export interface UserDoc {
  _id: string;
  email: string;
  name: string;
  role: Role;
  status: 'active' | 'suspended';
  passwordHash: string;
  createdAt: string;
  updatedAt: string;
  /** Sessions and tokens made before this are no longer valid (password, role or status changed). */
  credentialsChangedAt: string;
}

export type Scope = 'content:read' | 'content:preview' | 'content:write' | 'content:publish' | 'media:write';
export const SCOPES: Scope[] = ['content:read', 'content:preview', 'content:write', 'content:publish', 'media:write'];

export interface TokenDoc {
  _id: string;
  /** SHA-256 of the secret, hex: the secret itself is never stored. */
  hash: string;
  name: string;
  scopes: Scope[];
  types?: string[];
  expiresAt?: string;
  createdAt: string;
  createdBy: string;
  lastUsedAt?: string;
  revokedAt?: string;
}

export interface SessionDoc {
  _id: string;
  userId: string;
  expiresAt: Date;
  createdAt: string;
}


export class EmailTakenError extends Error {}

export class UsersRepository {
  constructor(private readonly db: Db) {}

  get users() {
    return this.db.collection<UserDoc>('users');
  }

  get tokens() {
    return this.db.collection<TokenDoc>('tokens');
  }

  get sessions() {
    return this.db.collection<SessionDoc>('sessions');
  }

  private get attempts() {
    return this.db.collection<{ key: string; at: Date }>('login_attempts');
  }

  private get settings() {
    return this.db.collection<{ _id: string; hash: string; createdAt: string }>('settings');
  }

  async ensureIndexes(): Promise<void> {
    await this.users.createIndex({ email: 1 }, { name: 'cms_unique_email', unique: true });
    await this.sessions.createIndex({ userId: 1 }, { name: 'cms_index_userId' });
    await this.attempts.createIndex({ key: 1, at: 1 }, { name: 'cms_index_key_at' });
  }

  async insert(user: UserDoc): Promise<void> {
    try {
      await this.users.insertOne(user);
    } catch (err) {
      if (isDuplicateKey(err)) throw new EmailTakenError(user.email);
      throw err;
    }
  }

  findById(id: string): Promise<UserDoc | null> {
    return this.users.findOne({ _id: id });
  }

  findByEmail(email: string): Promise<UserDoc | null> {
    return this.users.findOne({ email });
  }

  async any(): Promise<boolean> {
    return (await this.users.findOne({}, { projection: { _id: 1 } })) !== null;
  }

  list(filter: Filter<UserDoc>, limit: number): Promise<UserDoc[]> {
    return this.users.find(filter).sort({ email: 1 }).limit(limit).toArray();
  }

  async update(id: string, set: Partial<UserDoc>): Promise<UserDoc | null> {
    try {
      await this.users.updateOne({ _id: id }, { $set: set });
    } catch (err) {
      if (isDuplicateKey(err)) throw new EmailTakenError(String(set.email));
      throw err;
    }
    return this.findById(id);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.users.deleteOne({ _id: id })).deletedCount === 1;
  }

  countActiveAdmins(): Promise<number> {
    return this.users.countDocuments({ role: 'admin', status: 'active' });
  }

  // --- tokens ---

  async insertToken(token: TokenDoc): Promise<void> {
    await this.tokens.insertOne(token);
  }

  findToken(id: string): Promise<TokenDoc | null> {
    return this.tokens.findOne({ _id: id });
  }

  listTokens(): Promise<TokenDoc[]> {
    return this.tokens.find({}).sort({ createdAt: -1 }).limit(1000).toArray();
  }

  async updateToken(id: string, set: Partial<TokenDoc>): Promise<void> {
    await this.tokens.updateOne({ _id: id }, { $set: set });
  }

  // --- login attempts: a sliding window per key ---

  /**
   * Records one attempt on `key` and returns how many fall in the window, this one included. Each
   * attempt is its own insert, then a count: under concurrency a count can only come out high, never
   * low (FerretDB does not make a read-modify-write counter atomic).
   */
  async hit(key: string, now: Date, windowSeconds: number): Promise<{ count: number; resetAt: string }> {
    const since = new Date(now.getTime() - windowSeconds * 1000);
    await this.attempts.insertOne({ key, at: now });
    const [count, oldest] = await Promise.all([
      this.attempts.countDocuments({ key, at: { $gt: since } }),
      this.attempts.find({ key, at: { $gt: since } }).sort({ at: 1 }).limit(1).next(),
    ]);
    return { count, resetAt: new Date((oldest?.at ?? now).getTime() + windowSeconds * 1000).toISOString() };
  }

  async clearCounter(key: string): Promise<void> {
    await this.attempts.deleteMany({ key });
  }

  async deleteExpiredCounters(before: Date): Promise<void> {
    await this.attempts.deleteMany({ at: { $lt: before } });
  }

  /**
   * Runs `fn` while holding the admins lease (a document whose `_id` only one writer can insert), so
   * "count the admins, then demote one" cannot interleave with another such change. A lease older
   * than 30 s belonged to a process that died, and is taken over.
   */
  async withAdminLock<T>(fn: () => Promise<T>): Promise<T> {
    const locks = this.db.collection<{ _id: string; at: Date }>('locks');
    for (let attempt = 0; ; attempt++) {
      try {
        await locks.insertOne({ _id: 'admins', at: new Date() });
        break;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        await locks.deleteOne({ _id: 'admins', at: { $lt: new Date(Date.now() - 30_000) } });
        if (attempt > 200) throw new Error('the admins lock stayed taken');
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    try {
      return await fn();
    } finally {
      await locks.deleteOne({ _id: 'admins' });
    }
  }

  // --- the one-time setup token (only while there are no users) ---

  async setSetupToken(hash: string, at: string): Promise<void> {
    await this.settings.replaceOne({ _id: 'setup' }, { hash, createdAt: at }, { upsert: true });
  }

  /** Removes the setup token if it is this one; true for exactly one caller. */
  async consumeSetupToken(hash: string): Promise<boolean> {
    return (await this.settings.deleteOne({ _id: 'setup', hash })).deletedCount === 1;
  }
}
