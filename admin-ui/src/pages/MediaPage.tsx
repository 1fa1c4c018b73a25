// The media library: a grid with search, filters and sort, multi-file upload with progress, and a
// details panel to edit metadata and the focal point, see where a file is used, and delete it.
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../api';
import { Empty, useConfirm } from '../components/AdminCommon';
import { MediaDetails } from '../components/MediaDetails';
import { MediaGrid } from '../components/MediaGrid';
import { MediaUploader, type MediaItem } from '../components/MediaUploader';
import { useSession } from '../session';
import { useToast } from '../toasts';
import { can } from '../types';

const PAGE = 24;

const KINDS = [
  { value: '', label: 'All types' },
  { value: 'image', label: 'Images' },
  { value: 'video', label: 'Video' },
  { value: 'audio', label: 'Audio' },
  { value: 'document', label: 'Documents' },
];

const SORTS = [
  { value: '-_createdAt', label: 'Newest first' },
  { value: '_createdAt', label: 'Oldest first' },
  { value: 'filename', label: 'Name (A–Z)' },
  { value: '-size', label: 'Largest first' },
  { value: 'size', label: 'Smallest first' },
];

interface Page {
  data: MediaItem[];
  meta: { total?: number; nextCursor?: string | null };
}

export function MediaPage() {
  const toast = useToast();
  const { me } = useSession();
  const [search, setSearch] = useState('');
  const [q, setQ] = useState('');
  const [kind, setKind] = useState('');
  const [sort, setSort] = useState('-_createdAt');
  const [items, setItems] = useState<MediaItem[]>([]);
  const [total, setTotal] = useState(0);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [failed, setFailed] = useState(false);
  const [tick, setTick] = useState(0);
  const [selected, setSelected] = useState<MediaItem | null>(null);
  const gridRef = useRef<HTMLDivElement>(null);
  const itemsRef = useRef(items);
  itemsRef.current = items;
  const dirty = useRef(false);
  const onDirty = useCallback((d: boolean) => {
    dirty.current = d;
  }, []);
  const [confirm, dialog] = useConfirm();

  /** Opens another item (or none); unsaved details are only dropped when the editor says so. */
  const select = async (next: MediaItem | null) => {
    if (dirty.current && next?._id !== selected?._id) {
      const ok = await confirm({
        title: 'Unsaved changes',
        message: <p>Discard your unsaved changes to <strong>{selected?.filename}</strong>?</p>,
        confirmLabel: 'Discard changes',
        danger: true,
      });
      if (!ok) return false;
    }
    setSelected(next);
    return true;
  };

  // searching waits until typing pauses
  useEffect(() => {
    const t = setTimeout(() => setQ(search.trim()), 300);
    return () => clearTimeout(t);
  }, [search]);

  const query = (cursor?: string) => ({ q: q || undefined, 'filter[kind][eq]': kind || undefined, sort, limit: PAGE, cursor });

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setFailed(false);
    api<Page>('/api/media', { query: query(), signal: controller.signal })
      .then((page) => {
        setItems(page.data);
        setTotal(page.meta.total ?? page.data.length);
        setNext(page.meta.nextCursor ?? null);
      })
      .catch((e: unknown) => {
        if (controller.signal.aborted) return;
        setFailed(true);
        toast.error(e);
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
    // query() reads exactly these
  }, [q, kind, sort, tick]);

  const loadMore = async () => {
    if (!next) return;
    setLoadingMore(true);
    try {
      const page = await api<Page>('/api/media', { query: query(next) });
      setItems((all) => [...all, ...page.data.filter((m) => !all.some((x) => x._id === m._id))]);
      setTotal(page.meta.total ?? total);
      setNext(page.meta.nextCursor ?? null);
    } catch (e) {
      toast.error(e);
    } finally {
      setLoadingMore(false);
    }
  };

  const uploaded = (created: MediaItem[]) => {
    const known = new Set(itemsRef.current.map((x) => x._id));
    const fresh = created.filter((m) => !known.has(m._id)).length;
    // new and re-uploaded files go to the front
    setItems((all) => [...created, ...all.filter((x) => !created.some((m) => m._id === x._id))]);
    setTotal((t) => t + fresh);
    const again = created.length - fresh;
    toast.success(`Uploaded ${created.length} file${created.length === 1 ? '' : 's'}${again ? ` (${again} already in the library)` : ''}`);
    // one new file: open its details so alt text and focal point can be set right away
    if (created.length === 1) void select(created[0]!);
  };

  const changed = (item: MediaItem) => {
    setItems((all) => all.map((x) => (x._id === item._id ? item : x)));
    setSelected(item);
  };

  const deleted = (id: string) => {
    setItems((all) => all.filter((x) => x._id !== id));
    setTotal((t) => Math.max(0, t - 1));
    setSelected(null);
    gridRef.current?.querySelector<HTMLElement>('.media-card')?.focus();
  };

  const filtered = Boolean(q || kind);
  return (
    <section className="media-page">
      <div className="toolbar">
        <h1>Media</h1>
        {!loading && <span className="muted" role="status">{total} file{total === 1 ? '' : 's'}{filtered ? ' found' : ''}</span>}
      </div>
      {can(me?.role, 'upload') && <MediaUploader multiple onUploaded={uploaded} />}
      <form className="filters media-filters" role="search" onSubmit={(e) => { e.preventDefault(); setQ(search.trim()); }}>
        <div>
          <label htmlFor="media-search">Search</label>
          <input id="media-search" type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="File name, title, alt text or tag" />
        </div>
        <div>
          <label htmlFor="media-kind">Type</label>
          <select id="media-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
            {KINDS.map((k) => <option key={k.value} value={k.value}>{k.label}</option>)}
          </select>
        </div>
        <div>
          <label htmlFor="media-sort">Sort by</label>
          <select id="media-sort" value={sort} onChange={(e) => setSort(e.target.value)}>
            {SORTS.map((s) => <option key={s.value} value={s.value}>{s.label}</option>)}
          </select>
        </div>
      </form>
      <div className={`media-layout${selected ? ' media-layout-open' : ''}`}>
        <div className="media-main" ref={gridRef}>
          {loading && items.length === 0 ? (
            <p className="loading" role="status">Loading media…</p>
          ) : failed && items.length === 0 ? (
            <div className="empty" role="alert">
              <p>The media library could not be loaded.</p>
              <button type="button" onClick={() => setTick((t) => t + 1)}>Try again</button>
            </div>
          ) : items.length === 0 ? (
            <Empty>
              {filtered ? (
                <>
                  <p>No files match.</p>
                  <button type="button" onClick={() => { setSearch(''); setQ(''); setKind(''); }}>Clear search and filters</button>
                </>
              ) : (
                <p>The library is empty. {can(me?.role, 'upload') ? 'Upload files above, or drop them on the upload area.' : ''}</p>
              )}
            </Empty>
          ) : (
            <>
              <div aria-busy={loading}>
                <MediaGrid items={items} selectedId={selected?._id} onSelect={(m) => void select(selected?._id === m._id ? null : m)} />
              </div>
              {next && (
                <div className="pager">
                  <button type="button" onClick={() => void loadMore()} disabled={loadingMore}>{loadingMore ? 'Loading…' : 'Load more'}</button>
                  <span className="muted">Showing {items.length} of {total}</span>
                </div>
              )}
            </>
          )}
        </div>
        {selected && (
          <MediaDetails
            key={selected._id}
            item={selected}
            onChanged={changed}
            onDeleted={deleted}
            onDirty={onDirty}
            onClose={async () => {
              const id = selected._id;
              if (!(await select(null))) return;
              // back to the card that was open
              gridRef.current?.querySelectorAll<HTMLElement>('.media-card').forEach((el, i) => {
                if (items[i]?._id === id) el.focus();
              });
            }}
          />
        )}
      </div>
      {dialog}
    </section>
  );
}
