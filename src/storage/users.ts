// Users, API tokens, sessions, login counters and the one-time setup token. No rules here.
import { MongoServerError, type Db, type Filter } from 'mongodb';

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

export type Scope = 'content:read' | 'content:preview' | 'content:write' | 'media:write';
export const SCOPES: Scope[] = ['content:read', 'content:preview', 'content:write', 'media:write'];

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

const isDuplicateKey = (err: unknown) =>
  err instanceof MongoServerError && (err.code === 11000 || (err.code === 1 && /UNIQUE constraint failed/.test(err.message)));

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

  private get counters() {
    return this.db.collection<{ _id: string; count: number; resetAt: string }>('rate_limits');
  }

  private get settings() {
    return this.db.collection<{ _id: string; hash: string; createdAt: string }>('settings');
  }

  async ensureIndexes(): Promise<void> {
    await this.users.createIndex({ email: 1 }, { name: 'cms_unique_email', unique: true });
    await this.sessions.createIndex({ userId: 1 }, { name: 'cms_index_userId' });
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

  // --- login counters: fixed windows per key ---

  /** Counts one more hit on `key`; returns the count in the current window and when it resets. */
  async hit(key: string, now: Date, windowSeconds: number): Promise<{ count: number; resetAt: string }> {
    const nowIso = now.toISOString();
    const fresh = () => new Date(now.getTime() + windowSeconds * 1000).toISOString();
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.counters.findOne({ _id: key });
      try {
        if (!current) {
          const doc = { _id: key, count: 1, resetAt: fresh() };
          await this.counters.insertOne(doc);
          return doc;
        }
        if (current.resetAt <= nowIso) {
          const res = await this.counters.updateOne({ _id: key, resetAt: current.resetAt }, { $set: { count: 1, resetAt: fresh() } });
          if (res.modifiedCount === 1) return { count: 1, resetAt: fresh() };
          continue;
        }
        const res = await this.counters.findOneAndUpdate({ _id: key }, { $inc: { count: 1 } }, { returnDocument: 'after' });
        if (res) return { count: res.count, resetAt: res.resetAt };
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    }
    return { count: Number.MAX_SAFE_INTEGER, resetAt: fresh() };
  }

  /** The count in the current window without adding to it. */
  async peek(key: string, now: Date): Promise<{ count: number; resetAt: string }> {
    const current = await this.counters.findOne({ _id: key });
    if (!current || current.resetAt <= now.toISOString()) return { count: 0, resetAt: now.toISOString() };
    return { count: current.count, resetAt: current.resetAt };
  }

  async clearCounter(key: string): Promise<void> {
    await this.counters.deleteOne({ _id: key });
  }

  async deleteExpiredCounters(now: Date): Promise<void> {
    await this.counters.deleteMany({ resetAt: { $lt: now.toISOString() } });
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
