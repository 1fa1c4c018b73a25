// The entries of a collection: search, filters from the field types, sortable columns, cursor pages,
// and bulk publish, unpublish and delete. Drafts are listed too (lists are read with preview=true).
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, Navigate, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { api, ApiError } from '../api';
import { Loading, LoadError, NoSuchType } from '../components/Common';
import { ConfirmDialog } from '../components/Dialog';
import { FilterInput, filterControls, filterQuery, ListFilters, statusControl } from '../components/ListFilters';
import { displayValue, STATUS_TEXT, toggleIn } from '../format';
import { useLoad, useUserNames } from '../hooks';
import { useSession } from '../session';
import { messageOf, useToast } from '../toasts';
import { can, type Entry, type ListResponse, type Me, type TypeInfo } from '../types';

const PAGE_SIZE = 25;

export function ListPage() {
  const { type: typeId = '' } = useParams();
  const { typeById, loading } = useSession();
  const type = typeById(typeId);
  if (!type) return loading ? <Loading /> : <NoSuchType typeId={typeId} />;
  // a singleton has no list: it opens straight into its one entry
  if (type.singleton) return <Navigate to={`/content/${type.id}/single`} replace />;
  return <ListView key={type.id} type={type} />;
}

type Sort = { field: string; desc: boolean };
type Failure = { id: string; label: string; message: string };
type Bulk = 'publish' | 'unpublish' | 'delete';

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
export function whenText(iso: string | undefined | null, now = Date.now()): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.round((t - now) / 1000);
  const abs = Math.abs(s);
  if (abs < 45) return 'just now';
  if (abs < 3600) return relative.format(Math.round(s / 60), 'minute');
  if (abs < 86_400) return relative.format(Math.round(s / 3600), 'hour');
  if (abs < 7 * 86_400) return relative.format(Math.round(s / 86_400), 'day');
  return new Date(t).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

function authorOf(entry: Entry, me: Me | null, names: Map<string, string>): string {
  const by = entry._createdBy;
  if (typeof by !== 'string' || !by) return '';
  if (me && by === me._id) return 'You';
  if (by.startsWith('token:')) return 'API token';
  return names.get(by) ?? 'Another user';
}

/** The page URL of the list's search, filters and sort. */
function urlOf(query: { search: string; filters: Record<string, string> }, sort: Sort): string {
  const next = new URLSearchParams();
  if (query.search) next.set('q', query.search);
  for (const [k, v] of Object.entries(query.filters)) if (v) next.set(k, v);
  if (sort.field !== '_updatedAt' || !sort.desc) next.set('sort', `${sort.desc ? '-' : ''}${sort.field}`);
  return next.toString();
}

/** The list's search, filters and sort from the page URL (`?q=…&sort=-title&filter[format][eq]=video`). */
function fromUrl(params: URLSearchParams, type: TypeInfo): { search: string; filters: Record<string, string>; sort: Sort } {
  const filters: Record<string, string> = {};
  for (const [k, v] of params) if (/^filter\[[^\]]+\]\[[a-zA-Z]+\]$/.test(k) && v) filters[k] = v;
  const sortable = new Set(['_updatedAt', '_status', ...(type.displayField ? [type.displayField] : [])]);
  const raw = params.get('sort') ?? '';
  const field = raw.replace(/^-/, '');
  const sort = sortable.has(field) ? { field, desc: raw.startsWith('-') } : { field: '_updatedAt', desc: true };
  return { search: params.get('q') ?? '', filters, sort };
}

function ListView({ type }: { type: TypeInfo }) {
  const navigate = useNavigate();
  const toast = useToast();
  const { me, defaultLocale } = useSession();
  const status = useMemo(() => statusControl(type), [type]);
  const controls = useMemo(() => filterControls(type), [type]);
  const displayField = type.fields.find((f) => f.name === type.displayField);
  const searchable = displayField?.type === 'string';
  const mayWrite = can(me?.role, 'write');
  const mayPublish = type.drafts && can(me?.role, 'publish');

  // search, filters and sort live in the URL too, so going back from an entry finds the same list
  const [urlParams, setUrlParams] = useSearchParams();
  const [initial] = useState(() => fromUrl(urlParams, type));
  const [search, setSearch] = useState(initial.search);
  const [filters, setFilters] = useState<Record<string, string>>(initial.filters);
  // typing settles for a moment before the list is read again
  const [query, setQuery] = useState<{ search: string; filters: Record<string, string> }>({ search: initial.search, filters: initial.filters });
  const [sort, setSort] = useState<Sort>(initial.sort);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [previous, setPrevious] = useState<(string | undefined)[]>([]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState<Bulk | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [failures, setFailures] = useState<{ action: Bulk; items: Failure[] } | null>(null);
  // admins may read the users, so the author column can show names
  const names = useUserNames();

  useEffect(() => {
    document.title = `${type.title} · CMS admin`;
  }, [type.title]);

  useEffect(() => {
    const timer = setTimeout(() => {
      const next = { search: search.trim(), filters };
      if (JSON.stringify(next) === JSON.stringify(query)) return;
      // a new search starts again at the first page
      setQuery(next);
      setCursor(undefined);
      setPrevious([]);
    }, 300);
    return () => clearTimeout(timer);
    // only typing restarts the timer; `query` is what the last run set
  }, [search, filters]);

  // the URL this list last wrote: any other one comes from outside (a sidebar link, Back, Forward)
  const written = useRef(urlParams.toString());
  useEffect(() => {
    // an outside change is taken over first (below), not overwritten with the old search
    if (urlParams.toString() !== written.current) return;
    const next = urlOf(query, sort);
    if (next === written.current) return;
    written.current = next;
    setUrlParams(new URLSearchParams(next), { replace: true });
  }, [query, sort, urlParams, setUrlParams]);
  useEffect(() => {
    const now = urlParams.toString();
    if (now === written.current) return;
    written.current = now;
    const next = fromUrl(urlParams, type);
    setSearch(next.search);
    setFilters(next.filters);
    setQuery({ search: next.search, filters: next.filters });
    setSort(next.sort);
    setCursor(undefined);
    setPrevious([]);
  }, [urlParams, type]);

  /** New filters; a choice (not typing) reads the list at once. */
  const changeFilters = (next: Record<string, string>, now: boolean) => {
    setFilters(next);
    if (!now) return;
    setQuery({ search: search.trim(), filters: next });
    setCursor(undefined);
    setPrevious([]);
  };

  const params = useMemo(() => {
    const q: Record<string, string> = { preview: 'true', limit: String(PAGE_SIZE), sort: `${sort.desc ? '-' : ''}${sort.field}`, ...filterQuery(status ? [status, ...controls] : controls, query.filters) };
    if (query.search && searchable && type.displayField) q[`filter[${type.displayField}][contains]`] = query.search;
    if (cursor) q.cursor = cursor;
    return q;
  }, [sort, status, controls, query, searchable, type.displayField, cursor]);

  const list = useLoad((signal) => api<ListResponse<Entry>>(`/api/content/${encodeURIComponent(type.id)}`, { query: params, signal }), [type.id, params], { toastErrors: true });
  const rows = useMemo(() => list.data?.data ?? [], [list.data]);
  const meta = list.data?.meta ?? null;
  const loading = list.loading;
  const loadError = list.error ? messageOf(list.error) : null;
  // keep only selections still on screen
  useEffect(() => {
    setSelected((s) => new Set([...s].filter((id) => rows.some((e) => e._id === id))));
  }, [rows]);

  const sortBy = (field: string) => {
    setSort((s) => (s.field === field ? { field, desc: !s.desc } : { field, desc: field === '_updatedAt' }));
    setCursor(undefined);
    setPrevious([]);
  };
  const ariaSort = (field: string): 'ascending' | 'descending' | 'none' => (sort.field === field ? (sort.desc ? 'descending' : 'ascending') : 'none');
  const sortHeader = (field: string, label: string, className?: string) => (
    <th scope="col" aria-sort={ariaSort(field)} className={className}>
      <button type="button" className="sort" onClick={() => sortBy(field)} title={`Sort by ${label.toLowerCase()}`}>
        {label}
        <span aria-hidden="true" className="sort-mark">{sort.field === field ? (sort.desc ? ' ▼' : ' ▲') : ' ↕'}</span>
      </button>
    </th>
  );

  const nextPage = () => {
    if (!meta?.nextCursor) return;
    setPrevious((p) => [...p, cursor]);
    setCursor(String(meta.nextCursor));
  };
  const previousPage = () => {
    setCursor(previous[previous.length - 1]);
    setPrevious(previous.slice(0, -1));
  };

  const toggle = (id: string) => setSelected((s) => new Set(toggleIn([...s], id, !s.has(id))));
  const allSelected = rows.length > 0 && rows.every((e) => selected.has(e._id));
  const toggleAll = () => setSelected(allSelected ? new Set() : new Set(rows.map((e) => e._id)));

  const labelOf = (e: Entry) => displayValue(e, type, defaultLocale) || e._id;

  const runBulk = useCallback(
    async (action: Bulk) => {
      const chosen = rows.filter((e) => selected.has(e._id));
      // publishing what is published, or unpublishing a draft, would change nothing
      const todo = chosen.filter((e) => (action === 'publish' ? e._status !== 'published' : action === 'unpublish' ? e._status !== 'draft' : true));
      setBusy(action);
      setFailures(null);
      const failed: Failure[] = [];
      let done = 0;
      for (const e of todo) {
        const at = `/api/content/${encodeURIComponent(type.id)}/${encodeURIComponent(e._id)}`;
        try {
          if (action === 'delete') await api(at, { method: 'DELETE' });
          else await api(`${at}/${action}`, { method: 'POST' });
          done++;
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) break;
          failed.push({ id: e._id, label: labelOf(e), message: messageOf(err) });
        }
      }
      setBusy(null);
      const noun = (n: number) => `${n} ${n === 1 ? 'entry' : 'entries'}`;
      const verb = action === 'publish' ? 'Published' : action === 'unpublish' ? 'Unpublished' : 'Deleted';
      if (done > 0) toast.success(`${verb} ${noun(done)}`);
      else if (!failed.length) toast.info(action === 'publish' ? 'The selected entries are published already' : 'The selected entries are not published');
      if (failed.length) {
        setFailures({ action, items: failed });
        toast.error(new Error(`${noun(failed.length)} could not be ${verb.toLowerCase()}`));
      }
      setSelected(new Set(failed.map((f) => f.id)));
      // every entry of the last page deleted: back to the page before, not an empty list saying "No entries yet"
      if (action === 'delete' && done === rows.length && !meta?.nextCursor && previous.length > 0) {
        setCursor(previous[previous.length - 1]);
        setPrevious(previous.slice(0, -1));
      }
      list.reload();
    },
    [rows, selected, type, toast, meta, previous, list.reload],
  );

  const filtered = query.search !== '' || Object.values(query.filters).some((v) => v);
  const page = previous.length + 1;
  const total = typeof meta?.total === 'number' && meta.total >= 0 ? meta.total : undefined;
  const first = (page - 1) * PAGE_SIZE + 1;
  const selectedCount = rows.filter((e) => selected.has(e._id)).length;
  const showAuthor = rows.some((e) => typeof e._createdBy === 'string');
  const selectable = mayWrite || mayPublish;
  const newEntry = () => navigate(`/content/${type.id}/new`);

  return (
    <section className="list-page">
      <div className="toolbar">
        <h1>{type.title}</h1>
        {mayWrite && <button type="button" className="primary" onClick={newEntry}>New entry</button>}
      </div>
      {type.description && <p className="muted type-description">{type.description}</p>}

      <div className="list-controls">
        {searchable && (
          <div className="search">
            <label htmlFor="list-search">Search</label>
            <input id="list-search" type="search" value={search} placeholder={`${displayField?.label ?? 'Title'} contains…`} onChange={(e) => setSearch(e.target.value)} />
          </div>
        )}
        {status && <FilterInput control={status} value={filters[status.param] ?? ''} onChange={(v) => changeFilters({ ...filters, [status.param]: v }, true)} />}
        <ListFilters controls={controls} values={filters} onChange={changeFilters} />
      </div>

      {rows.length > 0 && selectable && (
        <div className="bulk-bar" role="group" aria-label="Bulk actions">
          <span className="muted">{selectedCount ? `${selectedCount} selected` : 'Select entries for bulk actions'}</span>
          {mayPublish && (
            <>
              <button type="button" disabled={!selectedCount || busy !== null} onClick={() => void runBulk('publish')}>{busy === 'publish' ? 'Publishing…' : 'Publish selected'}</button>
              <button type="button" disabled={!selectedCount || busy !== null} onClick={() => void runBulk('unpublish')}>{busy === 'unpublish' ? 'Unpublishing…' : 'Unpublish selected'}</button>
            </>
          )}
          {mayWrite && (
            <button type="button" className="danger" disabled={!selectedCount || busy !== null} onClick={() => setConfirming(true)}>{busy === 'delete' ? 'Deleting…' : 'Delete selected'}</button>
          )}
        </div>
      )}

      {failures && (
        <div className="panel failures" role="alert">
          <p><strong>{failures.items.length === 1 ? 'One entry' : `${failures.items.length} entries`} could not be {failures.action === 'delete' ? 'deleted' : `${failures.action}ed`}:</strong></p>
          <ul>
            {failures.items.map((f) => (
              <li key={f.id}><Link to={`/content/${type.id}/${f.id}`}>{f.label}</Link>: {f.message}</li>
            ))}
          </ul>
          <button type="button" className="link-button" onClick={() => setFailures(null)}>Dismiss</button>
        </div>
      )}

      {loadError && !loading ? (
        <LoadError onRetry={list.reload}>The entries could not be loaded: {loadError}</LoadError>
      ) : loading && !rows.length ? (
        <Loading what="entries" />
      ) : rows.length === 0 ? (
        filtered ? (
          <div className="empty">
            <p>No entries match this search.</p>
            <button type="button" onClick={() => { setSearch(''); changeFilters({}, true); setQuery({ search: '', filters: {} }); }}>Clear search and filters</button>
          </div>
        ) : (
          <div className="empty">
            <p><strong>No entries yet</strong></p>
            {mayWrite ? <button type="button" className="primary" onClick={newEntry}>New entry</button> : <p>Nothing has been written in {type.title} yet.</p>}
          </div>
        )
      ) : (
        <>
          <div className="table-wrap" aria-busy={loading || undefined}>
            <table className="entries">
              <caption className="visually-hidden">{type.title}: page {page}</caption>
              <thead>
                <tr>
                  {selectable && (
                    <th scope="col" className="col-check">
                      <label className="check">
                        <input type="checkbox" checked={allSelected} onChange={toggleAll} />
                        <span className="visually-hidden">Select all entries on this page</span>
                      </label>
                    </th>
                  )}
                  {type.displayField ? sortHeader(type.displayField, displayField?.label ?? 'Title') : <th scope="col">Entry</th>}
                  {type.drafts && sortHeader('_status', 'Status')}
                  {sortHeader('_updatedAt', 'Updated')}
                  {showAuthor && <th scope="col" className="col-author">Author</th>}
                </tr>
              </thead>
              <tbody>
                {rows.map((e) => {
                  const label = displayValue(e, type, defaultLocale);
                  const status = e._status ?? 'published';
                  return (
                    <tr key={e._id} className={selected.has(e._id) ? 'selected' : undefined}>
                      {selectable && (
                        <td className="col-check">
                          <label className="check">
                            <input type="checkbox" checked={selected.has(e._id)} onChange={() => toggle(e._id)} />
                            <span className="visually-hidden">Select {label || e._id}</span>
                          </label>
                        </td>
                      )}
                      <td className="col-title">
                        <Link to={`/content/${type.id}/${e._id}`}>{label || <em className="muted">Untitled ({e._id.slice(-6)})</em>}</Link>
                      </td>
                      {type.drafts && (
                        <td><span className={`badge badge-${status}`}>{STATUS_TEXT[status] ?? status}</span></td>
                      )}
                      <td><time dateTime={e._updatedAt} title={new Date(e._updatedAt).toLocaleString()}>{whenText(e._updatedAt)}</time></td>
                      {showAuthor && <td className="col-author">{authorOf(e, me, names)}</td>}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <nav className="pager" aria-label="Pages">
            <button type="button" disabled={previous.length === 0 || loading} onClick={previousPage}>Previous page</button>
            <span className="muted" role="status">
              {total !== undefined ? `${first}–${first + rows.length - 1} of ${total}` : `Page ${page}`}
            </span>
            <button type="button" disabled={!meta?.nextCursor || loading} onClick={nextPage}>Next page</button>
          </nav>
        </>
      )}

      {confirming && (
        <ConfirmDialog
          title={`Delete ${selectedCount === 1 ? 'this entry' : `${selectedCount} entries`}?`}
          confirmLabel="Delete"
          danger
          onCancel={() => setConfirming(false)}
          onConfirm={() => {
            setConfirming(false);
            void runBulk('delete');
          }}
          message={
            <>
              <p>
                Deleting removes {selectedCount === 1 ? 'this entry' : 'these entries'}
                {type.drafts ? ', published versions included' : ''}. An entry that others refer to is not deleted.
              </p>
              <ul className="dialog-list">
                {rows.filter((e) => selected.has(e._id)).slice(0, 10).map((e) => <li key={e._id}>{labelOf(e)}</li>)}
              </ul>
            </>
          }
        />
      )}
    </section>
  );
}
