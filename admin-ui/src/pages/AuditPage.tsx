// The audit log (admins only): who did what, when, from where; filters, pages and a CSV download.
import { useMemo, useState, type FormEvent } from 'react';
import { api, ApiError, download, withQuery } from '../api';
import { AdminTable, adminPage, DateTime, ForbiddenNotice, isForbidden, OffsetPager } from '../components/AdminCommon';
import { Empty, LoadedView } from '../components/Common';
import { useLoad } from '../hooks';
import { useToast } from '../toasts';

interface AuditRecord {
  _id: string;
  at: string;
  action: string;
  actorType: 'user' | 'token' | 'anonymous' | 'system';
  actorId?: string;
  actorName?: string;
  targetKind?: string;
  targetType?: string;
  targetId?: string;
  fields?: string[];
  ip: string;
  userAgent?: string;
}

interface Filters {
  actor: string;
  action: string;
  targetType: string;
  from: string;
  to: string;
}

const EMPTY: Filters = { actor: '', action: '', targetType: '', from: '', to: '' };
const PAGE = 50;

// actions the server records, offered as suggestions (any prefix works: "entry" finds every entry action)
const ACTIONS = [
  'login', 'login.failed', 'login.limited', 'logout', 'password.change', 'setup',
  'user.create', 'user.update', 'user.delete', 'token.create', 'token.revoke',
  'entry.create', 'entry.update', 'entry.delete', 'entry.publish', 'entry.unpublish', 'entry.discard', 'entry.restore',
  'media.upload', 'media.update', 'media.delete',
  'webhook.create', 'webhook.update', 'webhook.delete', 'webhook.replay',
];

/** The list query for the filters: names are the query language's (README: the audit log). */
function queryOf(f: Filters): Record<string, string> {
  const q: Record<string, string> = {};
  if (f.actor.trim()) q['filter[actorName][contains]'] = f.actor.trim();
  if (f.action.trim()) q['filter[action][startsWith]'] = f.action.trim();
  if (f.targetType.trim()) q['filter[targetType][eq]'] = f.targetType.trim();
  // dates are days in the browser's time zone; "to" includes the whole day
  if (f.from) q['filter[at][gte]'] = new Date(`${f.from}T00:00`).toISOString();
  if (f.to) {
    const end = new Date(`${f.to}T00:00`);
    end.setDate(end.getDate() + 1);
    q['filter[at][lt]'] = end.toISOString();
  }
  return q;
}

export const AuditPage = adminPage('Audit log', Audit);

function Audit() {
  const toast = useToast();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [offset, setOffset] = useState(0);
  const [downloading, setDownloading] = useState(false);
  const query = useMemo(() => queryOf(filters), [filters]);
  const log = useLoad(
    (signal) => api<{ data: AuditRecord[]; meta: { total: number; offset: number; limit: number } }>('/api/audit', { signal, query: { ...query, limit: PAGE, offset } }),
    [query, offset],
    { toastErrors: true },
  );

  if (isForbidden(log.error)) return <ForbiddenNotice title="Audit log" />;

  const saveCsv = async () => {
    if (downloading) return;
    setDownloading(true);
    try {
      await download('/api/audit.csv', { query }, 'audit.csv');
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) toast.error(e);
    } finally {
      setDownloading(false);
    }
  };

  const apply = (e: FormEvent) => {
    e.preventDefault();
    if (draft.from && draft.to && draft.to < draft.from) {
      toast.error(new Error('"To date" is before "From date"'));
      return;
    }
    setFilters({ ...draft });
    setOffset(0);
  };
  const clear = () => {
    setDraft(EMPTY);
    setFilters(EMPTY);
    setOffset(0);
  };
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [k]: e.target.value }));
  const filtered = Object.values(filters).some(Boolean);
  const rows = log.data?.data ?? [];
  const total = log.data?.meta.total ?? 0;

  return (
    <section>
      <div className="toolbar">
        <h1>Audit log</h1>
        <a
          className="button"
          href={withQuery('/api/audit.csv', query)}
          aria-disabled={downloading || undefined}
          onClick={(e) => {
            // through the API client: an expired session goes to login instead of saving its error as a .csv
            e.preventDefault();
            void saveCsv();
          }}
        >
          Download CSV
        </a>
      </div>
      <form className="panel filters" onSubmit={apply} aria-label="Filter the audit log">
        <div>
          <label htmlFor="audit-actor">Actor</label>
          <input id="audit-actor" value={draft.actor} onChange={set('actor')} placeholder="name" />
        </div>
        <div>
          <label htmlFor="audit-action">Action</label>
          <input id="audit-action" list="audit-actions" value={draft.action} onChange={set('action')} placeholder="e.g. entry.publish" />
          <datalist id="audit-actions">
            {ACTIONS.map((a) => <option key={a} value={a} />)}
          </datalist>
        </div>
        <div>
          <label htmlFor="audit-type">Content type</label>
          <input id="audit-type" value={draft.targetType} onChange={set('targetType')} placeholder="e.g. article" />
        </div>
        <div>
          <label htmlFor="audit-from">From date</label>
          <input id="audit-from" type="date" value={draft.from} onChange={set('from')} />
        </div>
        <div>
          <label htmlFor="audit-to">To date</label>
          <input id="audit-to" type="date" value={draft.to} onChange={set('to')} />
        </div>
        <div className="filter-actions">
          <button type="submit" className="primary">Apply filters</button>
          {filtered && <button type="button" onClick={clear}>Clear filters</button>}
        </div>
      </form>
      <LoadedView load={log} what="the audit log" failed="The audit log could not be loaded." empty={rows.length === 0 && <Empty>{filtered ? 'Nothing matches these filters.' : 'Nothing recorded yet.'}</Empty>}>
        <p className="muted" role="status">{total} record{total === 1 ? '' : 's'}{filtered ? ' match' : ''}{log.loading ? ' · loading…' : ''}</p>
        <AdminTable columns={['Time', 'Actor', 'Action', 'Target', 'Fields', 'IP address']}>
          {rows.map((r) => (
            <tr key={r._id}>
              <td><DateTime iso={r.at} /></td>
              <td>
                {r.actorName ?? r.actorId ?? <span className="muted">—</span>}
                {r.actorType !== 'user' && <div className="muted small">{r.actorType}</div>}
              </td>
              <td><code>{r.action}</code></td>
              <td className="wrap-anywhere">
                {r.targetKind && <span>{r.targetKind}{r.targetType ? ` · ${r.targetType}` : ''}</span>}
                {r.targetId && <div className="muted small">{r.targetId}</div>}
              </td>
              <td>{r.fields?.join(', ')}</td>
              <td>
                {r.ip}
                {r.userAgent && <div className="muted small ellipsis" title={r.userAgent}>{r.userAgent}</div>}
              </td>
            </tr>
          ))}
        </AdminTable>
        <OffsetPager offset={offset} count={rows.length} total={total} pageSize={PAGE} busy={log.loading} onOffset={setOffset} />
      </LoadedView>
    </section>
  );
}
