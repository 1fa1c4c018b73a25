// The media library: a grid with search, filters and sort, multi-file upload with progress, and a
// details panel to edit metadata and the focal point, see where a file is used, and delete it.
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../api';
import { Empty, LoadedView } from '../components/Common';
import { useConfirm } from '../components/Dialog';
import { MediaDetails } from '../components/MediaDetails';
import { MediaGrid } from '../components/MediaGrid';
import { MediaUploader, type MediaItem } from '../components/MediaUploader';
import { useLoad } from '../hooks';
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

/** What the grid shows: the items read so far, how many there are, and the cursor for more. */
interface Library {
  items: MediaItem[];
  total: number;
  next: string | null;
}

export function MediaPage() {
  const toast = useToast();
  const { me } = useSession();
  const [search, setSearch] = useState('');
  const [q, setQ] = useState('');
  const [kind, setKind] = useState('');
  const [sort, setSort] = useState('-_createdAt');
  const [loadingMore, setLoadingMore] = useState(false);
  const [selected, setSelected] = useState<MediaItem | null>(null);
  const gridRef = useRef<HTMLDivElement>(null);
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

  // query() reads exactly these
  const library = useLoad<Library>(
    (signal) => api<Page>('/api/media', { query: query(), signal }).then((page) => ({ items: page.data, total: page.meta.total ?? page.data.length, next: page.meta.nextCursor ?? null })),
    [q, kind, sort],
    { toastErrors: true },
  );
  const loading = library.loading;
  const items = library.data?.items ?? [];
  const total = library.data?.total ?? 0;
  const next = library.data?.next ?? null;
  const update = (change: (lib: Library) => Library) => library.setData((lib) => lib && change(lib));

  const loadMore = async () => {
    if (!next) return;
    setLoadingMore(true);
    try {
      const page = await api<Page>('/api/media', { query: query(next) });
      update((lib) => ({
        items: [...lib.items, ...page.data.filter((m) => !lib.items.some((x) => x._id === m._id))],
        total: page.meta.total ?? lib.total,
        next: page.meta.nextCursor ?? null,
      }));
    } catch (e) {
      toast.error(e);
    } finally {
      setLoadingMore(false);
    }
  };

  const uploaded = (created: MediaItem[]) => {
    const known = new Set(items.map((x) => x._id));
    const fresh = created.filter((m) => !known.has(m._id)).length;
    // new and re-uploaded files go to the front
    library.setData((lib) => {
      const all = lib?.items ?? [];
      return { items: [...created, ...all.filter((x) => !created.some((m) => m._id === x._id))], total: (lib?.total ?? 0) + fresh, next: lib?.next ?? null };
    });
    const again = created.length - fresh;
    toast.success(`Uploaded ${created.length} file${created.length === 1 ? '' : 's'}${again ? ` (${again} already in the library)` : ''}`);
    // one new file: open its details so alt text and focal point can be set right away
    if (created.length === 1) void select(created[0]!);
  };

  const changed = (item: MediaItem) => {
    update((lib) => ({ ...lib, items: lib.items.map((x) => (x._id === item._id ? item : x)) }));
    setSelected(item);
  };

  const deleted = (id: string) => {
    update((lib) => ({ ...lib, items: lib.items.filter((x) => x._id !== id), total: Math.max(0, lib.total - 1) }));
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
          <LoadedView
            load={library}
            what="media"
            failed="The media library could not be loaded."
            empty={
              items.length === 0 && (
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
              )
            }
          >
              <div aria-busy={loading}>
                <MediaGrid items={items} selectedId={selected?._id} onSelect={(m) => void select(selected?._id === m._id ? null : m)} />
              </div>
              {next && (
                <div className="pager">
                  <button type="button" onClick={() => void loadMore()} disabled={loadingMore}>{loadingMore ? 'Loading…' : 'Load more'}</button>
                  <span className="muted">Showing {items.length} of {total}</span>
                </div>
              )}
          </LoadedView>
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
