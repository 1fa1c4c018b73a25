// Preview tokens: short-lived, for one entry. Only a hash of each token is stored.
import { createHash } from 'node:crypto';
import type { Db } from 'mongodb';

export interface PreviewToken {
  /** sha256 of the token. */
  _id: string;
  type: string;
  entryId: string;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
}

export const hashPreviewToken = (token: string) => createHash('sha256').update(token).digest('hex');

export class PreviewTokensRepository {
  constructor(private readonly db: Db) {}

  private get collection() {
    return this.db.collection<PreviewToken>('preview_tokens');
  }

  async insert(doc: PreviewToken): Promise<void> {
    await this.collection.insertOne(doc);
  }

  async find(token: string): Promise<PreviewToken | null> {
    return this.collection.findOne({ _id: hashPreviewToken(token) });
  }

  async deleteExpired(now: string): Promise<number> {
    return (await this.collection.deleteMany({ expiresAt: { $lt: now } })).deletedCount;
  }
}
