// Scheduled publish and unpublish, and the runner that carries them out. Every server process runs
// a runner; a schedule is claimed with a lease (see SchedulesRepository), so it runs once however
// many there are, and runs again if its claimer died before finishing. A run that already wrote
// its version (its claimer died just after) is recognised by the schedule id on that version.
import { randomBytes } from 'node:crypto';
import type { ContentType } from '../content-types/registry.js';
import { CmsError, codes, invalid, notFound } from '../errors.js';
import type { RevisionsRepository } from '../storage/revisions.js';
import type { Schedule, ScheduleAction, ScheduleState, SchedulesRepository } from '../storage/schedules.js';
import { toUtcIso } from './documents.js';
import { SYSTEM, type Caller, type Clock, type EntriesService } from './entries.js';
import { ID_PATTERN } from './query.js';

const ACTIONS: ScheduleAction[] = ['publish', 'unpublish'];
const STATES: ScheduleState[] = ['pending', 'running', 'done', 'failed', 'cancelled'];
/** A schedule whose runs keep failing for reasons other than the entry (the database down) gives up. */
const MAX_ATTEMPTS = 5;
const MAX_AHEAD_MS = 10 * 366 * 24 * 3600 * 1000;

export interface RunReport {
  schedule: string;
  state: ScheduleState;
  version?: number;
}

export class SchedulesService {
  /** Names this process in claims. */
  readonly runner = `${process.pid}-${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly repo: SchedulesRepository,
    private readonly revisions: RevisionsRepository,
    private readonly entries: EntriesService,
    private readonly leaseMs: number,
    private readonly now: Clock = () => new Date(),
    /** Told about each finished run (the audit log). */
    private readonly onRun: (s: Schedule, report: RunReport) => Promise<void> = async () => undefined,
    /** May this actor (a schedule's creator, a later editor of its draft) publish now? */
    private readonly mayPublishNow: (actor: string) => Promise<boolean> = async () => true,
  ) {}

  async create(typeId: string, id: string | undefined, body: unknown, caller: Caller): Promise<Schedule> {
    // access, the id and the entry are checked by the same path a publish takes
    const type = this.entries.type(typeId);
    caller.mayPublish(type);
    if (!type.drafts) {
      throw new CmsError('conflict', codes.typeNoDrafts, `Type "${type.id}" has no drafts, so there is nothing to schedule: every save is published`);
    }
    // the entry's own read checks the id and that it exists (after the body, as for other writes)
    const { action, at } = this.parseBody(body);
    const entry = await this.entries.get(type.id, id, { preview: 'true', fields: '_id' }, SYSTEM);
    const entryId = entry._id;
    const now = this.now();
    return this.repo.create({ type: type.id, entryId, action, at, createdBy: caller.id, createdAt: now.toISOString(), draftVersion: entry._version });
  }

  private parseBody(body: unknown): { action: ScheduleAction; at: string } {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw invalid(codes.scheduleInvalid, 'The body must be {"action": "publish" | "unpublish", "at": "<date-time>"}', [{ path: '', message: 'must be an object' }]);
    }
    const { action, at, ...rest } = body as Record<string, unknown>;
    const details = Object.keys(rest).map((k) => ({ path: `/${k}`, message: 'unknown field' }));
    if (!ACTIONS.includes(action as ScheduleAction)) details.push({ path: '/action', message: 'must be publish or unpublish' });
    const iso = typeof at === 'string' && /[Tt ]/.test(at) ? toUtcIso(at) : undefined;
    if (iso === undefined) details.push({ path: '/at', message: 'must be a date-time with an offset, e.g. 2030-01-01T09:00:00Z' });
    if (details.length) throw invalid(codes.scheduleInvalid, 'The schedule is not valid', details);
    const when = Date.parse(iso!);
    const now = this.now().getTime();
    if (when <= now) throw invalid(codes.schedulePast, `${iso} is not in the future`, [{ path: '/at', message: 'must be in the future' }]);
    if (when - now > MAX_AHEAD_MS) throw invalid(codes.scheduleInvalid, 'A schedule is at most ten years ahead', [{ path: '/at', message: 'too far ahead' }]);
    return { action: action as ScheduleAction, at: iso! };
  }

  async list(query: Record<string, unknown>, canSee: (type: ContentType) => boolean): Promise<Schedule[]> {
    const { type, entry, state, ...rest } = query;
    const unknown = Object.keys(rest);
    if (unknown.length) throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${unknown.join(', ')}`, unknown.map((path) => ({ path, message: 'unknown query parameter' })));
    const filter: { type?: string; entryId?: string; state?: ScheduleState } = {};
    if (type !== undefined) filter.type = this.entries.type(String(type)).id;
    if (entry !== undefined) {
      if (typeof entry !== 'string' || !ID_PATTERN.test(entry)) throw invalid(codes.queryBadValue, 'entry must be an entry id', [{ path: 'entry', message: 'not an entry id' }]);
      filter.entryId = entry;
    }
    if (state !== undefined) {
      if (!STATES.includes(state as ScheduleState)) throw invalid(codes.queryBadValue, `state must be one of ${STATES.join(', ')}`, [{ path: 'state', message: 'unknown state' }]);
      filter.state = state as ScheduleState;
    }
    const rows = await this.repo.list(filter, 500);
    // a type removed from content-types since has no readers
    return rows.filter((s) => {
      const t = this.entries.knownType(s.type);
      return t !== undefined && canSee(t);
    });
  }

  async cancel(id: string, caller: Caller): Promise<Schedule> {
    if (!ID_PATTERN.test(id)) throw invalid(codes.scheduleNotFound, 'Not a schedule id', [{ path: 'id', message: 'not a schedule id' }]);
    const s = await this.repo.get(id);
    if (!s) throw notFound(codes.scheduleNotFound, `No schedule ${id}`);
    caller.mayPublish(this.entries.type(s.type));
    if (!(await this.repo.cancel(id, this.now().toISOString()))) {
      throw new CmsError('conflict', codes.scheduleNotPending, `The schedule is ${(await this.repo.get(id))?.state ?? s.state}: only a pending schedule can be cancelled`);
    }
    return { ...s, state: 'cancelled' };
  }

  /** Claims and runs every due schedule; returns what this runner ran. */
  async runDue(): Promise<RunReport[]> {
    const reports: RunReport[] = [];
    for (;;) {
      const s = await this.repo.claim(this.now(), this.leaseMs, this.runner);
      if (!s) return reports;
      reports.push(await this.run(s));
    }
  }

  /** Claims one due schedule without running it: what a process that dies right after does. */
  async claimOnly(): Promise<Schedule | null> {
    return this.repo.claim(this.now(), this.leaseMs, this.runner);
  }

  async run(s: Schedule): Promise<RunReport> {
    const finish = async (outcome: Pick<Schedule, 'state' | 'version' | 'error'>): Promise<RunReport> => {
      // false: the claim was lost (its lease ran out and another runner took over), so that one reports
      const kept = await this.repo.finish(s, outcome, this.now().toISOString());
      return { schedule: s._id, state: kept ? outcome.state : 'running', ...(outcome.version !== undefined ? { version: outcome.version } : {}) };
    };
    // a claimer that died after writing its version: the run happened, only its end was not recorded
    const done = s.attempts > 1 ? await this.revisions.bySchedule(s.type, s.entryId, s._id) : null;
    if (done) return finish({ state: 'done', version: done.version });
    const caller: Caller = { ...SYSTEM, id: `schedule:${s._id}` };
    let report: RunReport;
    try {
      const id = this.entries.type(s.type).singleton ? undefined : s.entryId;
      const expected = await this.mayRun(s);
      const result = s.action === 'publish'
        ? await this.entries.publish(s.type, id, expected, caller, { schedule: s._id })
        : await this.entries.unpublish(s.type, id, expected, caller, { schedule: s._id });
      report = await finish({ state: 'done', ...(result.version !== undefined ? { version: result.version } : {}) });
    } catch (err) {
      // the entry cannot take it (invalid, gone, not published): that is the outcome
      if (err instanceof CmsError && err.kind !== 'unavailable' && err.kind !== 'internal') {
        report = await finish({ state: 'failed', error: { code: err.code, message: err.message } });
      } else if (s.attempts >= MAX_ATTEMPTS) {
        report = await finish({ state: 'failed', error: { code: 'CMS_ERR_INTERNAL', message: 'the run failed repeatedly; see the server log' } });
      } else {
        // left running: the lease runs out and a runner tries again
        throw err;
      }
    }
    if (report.state !== 'running') await this.onRun(s, report).catch(() => undefined);
    return report;
  }

  /**
   * A run acts for whoever scheduled it, so they must still be allowed to publish; and a publish
   * publishes the draft as it was scheduled, or as changed since by people who may publish too (an
   * author's later edit is not published unreviewed). Returns the draft version to publish.
   */
  private async mayRun(s: Schedule): Promise<number | undefined> {
    if (!(await this.mayPublishNow(s.createdBy))) {
      throw new CmsError('forbidden', codes.scheduleCreator, 'Whoever scheduled this may no longer publish (suspended, demoted, removed or revoked)');
    }
    if (s.action !== 'publish' || s.draftVersion === undefined) return undefined;
    const current = await this.entries.get(s.type, this.entries.type(s.type).singleton ? undefined : s.entryId, { preview: 'true', fields: '_id' }, SYSTEM);
    for (let v = s.draftVersion + 1; v <= current._version; v++) {
      const rev = await this.revisions.get(s.type, s.entryId, v);
      if (rev && !(await this.mayPublishNow(rev.by))) {
        throw new CmsError('conflict', codes.scheduleUnreviewed, `Version ${v} of the draft, written after it was scheduled, is by someone who may not publish: review it and schedule again`);
      }
    }
    return current._version;
  }

  /** Runs due schedules now (missed while no server ran), then every `seconds`. */
  start(seconds: number, log: (err: unknown) => void): () => Promise<void> {
    let stopped = false;
    let busy = false;
    let running: Promise<unknown> = Promise.resolve();
    const tick = () => {
      if (busy || stopped) return;
      busy = true;
      running = this.runDue().catch(log).finally(() => (busy = false));
    };
    tick();
    const timer = seconds > 0 ? setInterval(tick, seconds * 1000) : undefined;
    timer?.unref();
    return async () => {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
    };
  }
}
