// A media field: thumbnail of the chosen item, "Choose media" (library grid + uploader), and for images
// the alt text and focal point, saved on the media item itself.
import type { WidgetProps } from '@rjsf/utils';
import { useEffect, useState } from 'react';
import { api, ApiError, readCached } from '../api';
import { Dialog } from '../components/Dialog';
import { FocalPointPicker } from '../components/FocalPointPicker';
import { accepts, MediaUploader, thumbnailUrl, type MediaItem } from '../components/MediaUploader';
import { formatBytes } from '../format';
import { useToast } from '../toasts';
import type { ListResponse } from '../types';

const cache = new Map<string, Promise<MediaItem | null>>();

function fetchMedia(id: string): Promise<MediaItem | null> {
  return readCached(cache, id, `/api/media/${encodeURIComponent(id)}`);
}

/** The library grid and the uploader; calls onChoose with the picked or uploaded item. */
export function MediaChooser(props: { accept?: string[]; onChoose(item: MediaItem): void; onClose(): void }) {
  const { accept, onChoose, onClose } = props;
  const toast = useToast();
  const [q, setQ] = useState('');
  const [items, setItems] = useState<MediaItem[] | null>(null);
  const onlyImages = !!accept?.length && accept.every((a) => a.toLowerCase() === 'image/*');

  useEffect(() => {
    const controller = new AbortController();
    const timer = setTimeout(() => {
      const query: Record<string, string> = { limit: '48' };
      if (q.trim()) query.q = q.trim();
      if (onlyImages) query['filter[kind]'] = 'image';
      api<ListResponse<MediaItem>>('/api/media', { query, signal: controller.signal })
        .then((r) => setItems(r.data.filter((m) => accepts(accept, m.mime))))
        .catch((e) => {
          setItems([]);
          toast.error(e);
        });
    }, 200);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [q, onlyImages]);

  return (
    <Dialog title="Choose media" onClose={onClose} wide>
      <MediaUploader
        accept={accept}
        multiple={false}
        onUploaded={(uploaded) => {
          const first = uploaded[0];
          if (first) {
            cache.set(first._id, Promise.resolve(first));
            onChoose(first);
          }
        }}
      />
      <div className="media-chooser-search">
        <label htmlFor="media-chooser-q">Search media</label>
        <input
          id="media-chooser-q"
          type="search"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          placeholder="File name, title, alt text or tag"
          onKeyDown={(e) => e.key === 'Enter' && e.preventDefault()}
        />
      </div>
      {items === null ? (
        <p className="loading" role="status">Loading…</p>
      ) : items.length === 0 ? (
        <p className="empty">{q.trim() ? `Nothing matches “${q.trim()}”.` : 'The library is empty: upload a file above.'}</p>
      ) : (
        <ul className="media-chooser-grid">
          {items.map((m) => {
            const thumb = thumbnailUrl(m, 160);
            return (
              <li key={m._id}>
                <button
                  type="button"
                  className="media-tile"
                  onClick={() => {
                    cache.set(m._id, Promise.resolve(m));
                    onChoose(m);
                  }}
                >
                  {thumb ? <img src={thumb} alt="" loading="lazy" /> : <span className="media-icon" aria-hidden="true">{(m.kind ?? 'file').toUpperCase()}</span>}
                  <span className="media-tile-name">{m.filename}</span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <div className="dialog-buttons">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

/** Alt text and focal point of an image, saved on the media item ("Save details"). */
function MediaDetails(props: { item: MediaItem; onSaved(item: MediaItem): void; fieldLabel: string }) {
  const { item, onSaved } = props;
  const toast = useToast();
  const [alt, setAlt] = useState(item.alt ?? '');
  const [focal, setFocal] = useState(item.focal ?? { x: 0.5, y: 0.5 });
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setAlt(item.alt ?? '');
    setFocal(item.focal ?? { x: 0.5, y: 0.5 });
  }, [item._id, item._version, item.alt, item.focal]);
  const src = thumbnailUrl(item, 640);
  const changed = alt !== (item.alt ?? '') || focal.x !== (item.focal?.x ?? 0.5) || focal.y !== (item.focal?.y ?? 0.5);
  const save = async () => {
    setSaving(true);
    setError(null);
    try {
      const res = await api<{ data: MediaItem }>(`/api/media/${encodeURIComponent(item._id)}`, { method: 'PATCH', body: { alt, focal }, ifMatch: item._version });
      cache.set(res.data._id, Promise.resolve(res.data));
      onSaved(res.data);
      toast.success('Saved details');
    } catch (e) {
      if (e instanceof ApiError && e.status === 412) setError('This media item was changed by someone else. Choose it again to reload it, then retry.');
      else if (e instanceof ApiError && e.details.length) setError(`${e.message}: ${e.details.map((d) => d.message).join('; ')}`);
      else setError(e instanceof Error ? e.message : String(e));
    } finally {
      setSaving(false);
    }
  };
  const altId = `alt-${item._id}-${props.fieldLabel.replace(/\W+/g, '-')}`;
  return (
    <div className="media-details">
      <label htmlFor={altId}>Alt text</label>
      <input
        id={altId}
        type="text"
        value={alt}
        maxLength={1000}
        onChange={(e) => setAlt(e.target.value)}
        onKeyDown={(e) => {
          // Enter saves the details, not the whole entry
          if (e.key === 'Enter') {
            e.preventDefault();
            void save();
          }
        }}
        placeholder="Describe the image for people who cannot see it"
      />
      {src && <FocalPointPicker src={src} value={focal} onChange={setFocal} label="Focal point" />}
      <div className="media-details-actions">
        <button type="button" onClick={save} disabled={saving}>
          {saving ? 'Saving…' : 'Save details'}
        </button>
        {changed && !saving && <span className="help">Unsaved alt text or focal point</span>}
      </div>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

export function MediaWidget(props: WidgetProps) {
  const { id, value, disabled, readonly, onChange, options, label } = props;
  const accept = Array.isArray(options.accept) ? (options.accept as string[]) : undefined;
  const chosen = typeof value === 'string' && value ? value : undefined;
  const [item, setItem] = useState<MediaItem | null | undefined>(undefined);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [open, setOpen] = useState(false);

  useEffect(() => {
    let live = true;
    setItem(undefined);
    setLoadError(null);
    if (!chosen) return;
    fetchMedia(chosen)
      .then((m) => live && setItem(m))
      .catch((e: unknown) => {
        if (!live) return;
        // not "deleted": the item may well exist (a network or server error)
        setLoadError(e instanceof Error ? e.message : String(e));
        setItem(null);
      });
    return () => {
      live = false;
    };
  }, [chosen]);

  const thumb = item ? thumbnailUrl(item, 320) : undefined;
  const isImage = !!item && (item.kind === 'image' || item.mime.startsWith('image/'));
  return (
    <div className="media-picker" role="group" aria-labelledby={`${id}__label`}>
      <div className="media-current">
        {chosen ? (
          item === undefined ? (
            <span className="help">Loading…</span>
          ) : item === null && loadError !== null ? (
            <span className="field-error">The chosen media item could not be loaded: {loadError}</span>
          ) : item === null ? (
            <span className="field-error">This media item no longer exists ({chosen}). Remove it or choose another.</span>
          ) : (
            <>
              {thumb ? <img className="media-thumb" src={thumb} alt={item.alt || item.filename} /> : <span className="media-icon" aria-hidden="true">{(item.kind ?? 'file').toUpperCase()}</span>}
              <span className="media-meta">
                <span className="media-filename">{item.filename}</span>
                <small className="help">
                  {item.mime} · {formatBytes(item.size)}
                  {item.width && item.height ? ` · ${item.width}×${item.height}` : ''}
                </small>
              </span>
            </>
          )
        ) : (
          <span className="help">No media chosen{accept?.length ? ` (accepts ${accept.join(', ')})` : ''}.</span>
        )}
      </div>
      {!readonly && !disabled && (
        <div className="media-buttons">
          {/* the field's <label> points here; the name reads "Choose media <field label>" */}
          <button type="button" id={id} aria-labelledby={`${id} ${id}__label`} onClick={() => setOpen(true)}>
            Choose media
          </button>
          {chosen && (
            <button type="button" onClick={() => onChange(undefined)}>
              Remove
            </button>
          )}
        </div>
      )}
      {item && isImage && !readonly && !disabled && <MediaDetails item={item} onSaved={setItem} fieldLabel={`${label}-${id}`} />}
      {open && (
        <MediaChooser
          accept={accept}
          onClose={() => setOpen(false)}
          onChoose={(m) => {
            setOpen(false);
            setItem(m);
            onChange(m._id);
          }}
        />
      )}
    </div>
  );
}
