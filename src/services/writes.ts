// How a write of an entry reaches the database, whoever makes it (the content API, schedules, a
// migration): claim the next version in `revisions`, write the published snapshot and then the
// working copy, append to the change log, prune old versions. A claim whose writer died is rolled
// forward from its revision, which holds the same bytes.
import type { ContentType } from '../content-types/registry.js';
import type { ChangeLog } from '../storage/changes.js';
import { DuplicateKeyError, type EntriesRepository, type IndexSpec, type StoredEntry } from '../storage/entries.js';
import type { Revision, RevisionsRepository } from '../storage/revisions.js';

/** The paths of the type's unique fields. */
export function uniqueFields(type: ContentType): string[] {
  return [...type.fields.values()].filter((f) => f.unique).map((f) => f.path);
}

/** The indexes a type declares, as the server builds them at start-up. */
export function indexSpecs(type: ContentType): IndexSpec[] {
  const specs: IndexSpec[] = [...type.fields.values()].filter((f) => f.unique || f.index).map((f) => ({ field: f.path, unique: f.unique }));
  // usage of media is found through `_media`, which every write keeps in step with the entry
  if ([...type.fields.values()].some((f) => f.media)) specs.push({ field: '_media', unique: false });
  return specs;
}

export class EntryWriter {
  constructor(
    private readonly repo: EntriesRepository,
    private readonly revisions: RevisionsRepository,
    private readonly changes: ChangeLog,
  ) {}

  /** True when this writer now owns `rev.version`; false when another writer took it first. */
  claim(rev: Omit<Revision, '_id'>): Promise<boolean> {
    return this.revisions.claim(rev);
  }

  /**
   * Writes a claimed revision, logs it and prunes versions past the type's `keepVersions`. A unique
   * clash releases the claim and throws the DuplicateKeyError; other database failures leave the
   * claim for the next writer or the sweep to roll forward.
   */
  async write(type: ContentType, rev: Omit<Revision, '_id'>, current: Pick<StoredEntry, '_version'> | null): Promise<void> {
    try {
      await this.apply(type, rev, current);
    } catch (err) {
      if (!(err instanceof DuplicateKeyError)) throw err;
      // a create whose claim another writer rolled forward meanwhile: then the claim stands
      const rolledForward = !current && err.field === '_id' && (await this.repo.findById(type.id, rev.entryId, { _version: 1 }))?._version === rev.version;
      if (!rolledForward) {
        await this.revisions.release(type.id, rev.entryId, rev.version);
        throw err;
      }
    }
    await this.log(rev);
    await this.revisions.prune(type.id, rev.entryId, rev.version, type.keepVersions);
  }

  /** Makes a claimed revision real: the published snapshot first, then the working copy. */
  private async apply(type: ContentType, rev: Omit<Revision, '_id'>, current: Pick<StoredEntry, '_version'> | null): Promise<void> {
    const unique = uniqueFields(type);
    // a migration converts a snapshot older than the draft where it stands, keeping its version
    if (rev.published) await this.repo.putPublished(type.id, rev.published, unique, rev.action === 'migrate');
    else if (rev.published === null) await this.repo.removePublished(type.id, rev.entryId, rev.version);
    if (!rev.doc) await this.repo.delete(type.id, rev.entryId, rev.version - 1);
    // a false from replaceIfVersion means another writer already rolled this claim forward
    else if (current) await this.repo.replaceIfVersion(type.id, rev.entryId, current._version, rev.doc, unique);
    else await this.repo.insert(type.id, rev.doc, unique);
  }

  /** Appends the write to the change log; if that fails, the sweep appends it later. */
  async log(rev: Omit<Revision, '_id'>): Promise<void> {
    try {
      await this.changes.append({ at: rev.at, kind: 'entry', type: rev.type, id: rev.entryId, action: rev.action, version: rev.version, locales: rev.locales, public: rev.public });
      await this.revisions.markLogged(rev.type, rev.entryId, rev.version);
    } catch {
      // the revision stays unlogged; the sweep picks it up
    }
  }

  /**
   * Another writer claimed `version`. If the entry is still one behind, that write may be in flight
   * or its writer may have died: apply the claimed revision (the same bytes either way). A claim
   * that can no longer be applied (its unique value was taken meanwhile) is dropped. `log`: also
   * append a revision applied here to the change log (its writer is taken to be gone), instead of
   * leaving that to the sweep.
   */
  async settle(type: ContentType, id: string, version: number, options: { log?: boolean } = {}): Promise<void> {
    const [rev, current] = await Promise.all([this.revisions.get(type.id, id, version), this.repo.findById(type.id, id, { _version: 1 })]);
    if (!rev) return;
    const pending = current ? current._version === version - 1 : rev.doc !== null && (await this.revisions.latest(type.id, id))?.version === version;
    if (!pending) return;
    try {
      await this.apply(type, rev, current);
    } catch (err) {
      if (err instanceof DuplicateKeyError) {
        // the same insert by the writer itself wins the race: then the claim stands
        if (err.field === '_id') return;
        await this.revisions.release(type.id, id, version);
        return;
      }
      throw err;
    }
    if (options.log && !rev.logged) await this.log(rev);
  }
}
