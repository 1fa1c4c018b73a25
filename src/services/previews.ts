// Preview links: a short-lived token that opens the draft of one entry, and the site URL built from
// the type's `previewUrl` template with it.
import { randomBytes } from 'node:crypto';
import { CmsError, codes, invalid } from '../errors.js';
import { hashPreviewToken, type PreviewTokensRepository } from '../storage/previews.js';
import { SYSTEM, type Caller, type Clock, type EntriesService } from './entries.js';

export const PREVIEW_TOKEN = /^cmsp_[A-Za-z0-9_-]{43}$/;

export interface PreviewLink {
  token: string;
  expiresAt: string;
  /** The site's preview URL, when the type declares a template. */
  url: string | null;
}

export class PreviewService {
  constructor(
    private readonly repo: PreviewTokensRepository,
    private readonly entries: EntriesService,
    private readonly minutes: number,
    private readonly now: Clock = () => new Date(),
  ) {}

  async create(typeId: string, id: string | undefined, query: Record<string, unknown>, caller: Caller): Promise<PreviewLink> {
    const type = this.entries.type(typeId);
    caller.mayPreview(type);
    if (caller.only) throw new CmsError('forbidden', codes.forbidden, 'A preview token cannot make preview tokens');
    if (query.locale === '*') throw invalid(codes.localeUnknown, 'A preview shows one locale: give one, or none for the default', [{ path: 'locale', message: 'must be one locale' }]);
    // the draft, as the site will fetch it (this also checks the id and that the entry exists)
    const entry = await this.entries.get(type.id, id, { ...query, preview: 'true' }, SYSTEM);
    const token = `cmsp_${randomBytes(32).toString('base64url')}`;
    const now = this.now();
    const expiresAt = new Date(now.getTime() + this.minutes * 60_000).toISOString();
    await this.repo.insert({ _id: hashPreviewToken(token), type: type.id, entryId: entry._id, createdBy: caller.id, createdAt: now.toISOString(), expiresAt });
    const url = type.previewUrl ? fillTemplate(type.previewUrl, { ...entry, token, id: entry._id, type: type.id, locale: String(entry._locale ?? '') }) : null;
    return { token, expiresAt, url };
  }

  async sweep(): Promise<number> {
    return this.repo.deleteExpired(this.now().toISOString());
  }
}

function fillTemplate(template: string, values: Record<string, unknown>): string {
  return template.replace(/\{([^{}]*)\}/g, (_, name: string) => {
    const v = Object.hasOwn(values, name) ? values[name] : undefined;
    return typeof v === 'string' || typeof v === 'number' ? encodeURIComponent(String(v)) : '';
  });
}
