// The details panel of one media item: a preview, its facts, editable metadata and focal point,
// the entries that use it, and delete (with a warning when entries use it).
import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Link } from 'react-router-dom';
import { api, ApiError } from '../api';
import { useSession } from '../session';
import { useToast } from '../toasts';
import { can } from '../types';
import { formatBytes } from '../format';
import { useLoad } from '../hooks';
import { DateTime, FieldError, fieldErrors } from './AdminCommon';
import { useConfirm } from './Dialog';
import { FocalPointPicker } from './FocalPointPicker';
import { dimensions, kindLabel, MediaThumb, previewSrc } from './MediaGrid';
import type { MediaItem } from './MediaUploader';

interface Usage {
  type: string;
  id: string;
  title?: string;
}

interface Form {
  filename: string;
  title: string;
  alt: string;
  caption: string;
  tags: string;
  focal: { x: number; y: number };
}

const RASTER = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/avif', 'image/gif']);

function formOf(item: MediaItem): Form {
  return {
    filename: item.filename,
    title: item.title ?? '',
    alt: item.alt ?? '',
    caption: item.caption ?? '',
    tags: (item.tags ?? []).join(', '),
    focal: item.focal ?? { x: 0.5, y: 0.5 },
  };
}

const tagsOf = (text: string) => [...new Set(text.split(',').map((t) => t.trim()).filter(Boolean))];

/** The PATCH body: only what changed. */
function changes(item: MediaItem, form: Form): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const was = formOf(item);
  for (const k of ['filename', 'title', 'alt', 'caption'] as const) if (form[k].trim() !== was[k]) body[k] = form[k].trim();
  if (JSON.stringify(tagsOf(form.tags)) !== JSON.stringify(item.tags ?? [])) body.tags = tagsOf(form.tags);
  if (form.focal.x !== was.focal.x || form.focal.y !== was.focal.y) body.focal = form.focal;
  return body;
}

export function MediaDetails({ item, onChanged, onDeleted, onClose, onDirty }: { item: MediaItem; onChanged(item: MediaItem): void; onDeleted(id: string): void; onClose(): void; onDirty?(dirty: boolean): void }) {
  const toast = useToast();
  const { me, typeById } = useSession();
  const [confirm, dialog] = useConfirm();
  const [form, setForm] = useState<Form>(() => formOf(item));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [saving, setSaving] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [stale, setStale] = useState(false);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const id = useId();
  const editable = can(me?.role, 'upload');
  const usage = useLoad((signal) => api<{ data: Usage[] }>(`/api/media/${item._id}/usage`, { signal }).then((r) => r.data), [item._id]);

  // a newly selected item: move focus to the panel so keyboard users land on it
  useEffect(() => {
    headingRef.current?.focus();
  }, [item._id]);

  const dirty = Object.keys(changes(item, form)).length > 0;
  useEffect(() => {
    onDirty?.(dirty);
  }, [dirty, onDirty]);
  useEffect(() => () => onDirty?.(false), [onDirty]);
  const set = (k: Exclude<keyof Form, 'focal'>) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));

  const save = async (e: FormEvent) => {
    e.preventDefault();
    const body = changes(item, form);
    if (!form.filename.trim()) {
      setErrors({ '/filename': 'A file name is required' });
      return;
    }
    if (!Object.keys(body).length) {
      toast.info('Nothing to save');
      return;
    }
    setSaving(true);
    setErrors({});
    try {
      const res = await api<{ data: MediaItem }>(`/api/media/${item._id}`, { method: 'PATCH', body, ...(item._version !== undefined ? { ifMatch: item._version } : {}) });
      onChanged(res.data);
      setForm(formOf(res.data));
      toast.success('Saved');
    } catch (err) {
      if (err instanceof ApiError && err.code === 'CMS_ERR_MEDIA_VERSION_MISMATCH') setStale(true);
      setErrors(fieldErrors(err));
      toast.error(err);
    } finally {
      setSaving(false);
    }
  };

  /** Someone else saved first: take their version (the editor's unsaved text is dropped). */
  const reload = async () => {
    try {
      const res = await api<{ data: MediaItem }>(`/api/media/${item._id}`);
      onChanged(res.data);
      setForm(formOf(res.data));
      setStale(false);
      setErrors({});
    } catch (err) {
      toast.error(err);
    }
  };

  const remove = async () => {
    const users = usage.data ?? [];
    const inUse = users.length > 0;
    const ok = await confirm({
      title: 'Delete file',
      message: inUse ? (
        <>
          <p className="warning-text" role="alert">
            <strong>This file is used by {users.length}{users.length >= 100 ? '+' : ''} {users.length === 1 ? 'entry' : 'entries'}.</strong>
          </p>
          <p>Deleting it leaves those fields empty; the entries ask for the field to be cleared on their next save. This cannot be undone.</p>
        </>
      ) : (
        <p>Delete <strong>{item.filename}</strong>? The file and all its sizes are removed. This cannot be undone.</p>
      ),
      confirmLabel: inUse ? 'Delete anyway' : 'Delete',
      danger: true,
    });
    if (!ok) return;
    setDeleting(true);
    try {
      await api(`/api/media/${item._id}`, { method: 'DELETE', ...(inUse ? { query: { force: true } } : {}) });
      toast.success(`Deleted ${item.filename}`);
      onDeleted(item._id);
    } catch (err) {
      // entries started using it since the panel loaded: the server names them
      if (err instanceof ApiError && err.code === 'CMS_ERR_MEDIA_IN_USE') usage.reload();
      toast.error(err);
      setDeleting(false);
    }
  };

  const facts: [string, ReactNode][] = [
    ['Type', `${kindLabel(item)} (${item.mime})`],
    ['Size', formatBytes(item.size)],
  ];
  const dims = dimensions(item);
  if (dims) facts.push(['Dimensions', dims]);
  if (item._createdAt) facts.push(['Uploaded', <DateTime iso={item._createdAt} />]);
  if (item._updatedAt && item._updatedAt !== item._createdAt) facts.push(['Changed', <DateTime iso={item._updatedAt} />]);

  const focalSrc = RASTER.has(item.mime) && item.width ? previewSrc(item, 640) : undefined;
  const field = (k: Exclude<keyof Form, 'focal'>, label: string, opts: { multiline?: boolean; hint?: string } = {}) => {
    const inputId = `${id}-field-${k}`;
    const error = errors[`/${k}`];
    const describedBy = [opts.hint ? `${inputId}-hint` : '', error ? `${inputId}-error` : ''].filter(Boolean).join(' ') || undefined;
    const common = { id: inputId, value: form[k], onChange: set(k), readOnly: !editable, 'aria-invalid': !!error, 'aria-describedby': describedBy };
    return (
      <div className="media-field">
        <label htmlFor={inputId}>{label}</label>
        {opts.multiline ? <textarea rows={3} {...common} /> : <input {...common} />}
        {opts.hint && <div id={`${inputId}-hint`} className="hint">{opts.hint}</div>}
        <FieldError id={`${inputId}-error`} message={error} />
      </div>
    );
  };

  return (
    <aside
      className="panel media-details"
      aria-labelledby={`${id}-heading`}
      onKeyDown={(e) => {
        if (e.key !== 'Escape' || e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
        // Escape in the confirm dialog only closes the dialog
        if (e.target instanceof Element && e.target.closest('dialog')) return;
        onClose();
      }}
    >
      <div className="media-details-head">
        <h2 id={`${id}-heading`} ref={headingRef} tabIndex={-1} className="wrap-anywhere">{item.filename}</h2>
        <button type="button" className="link" aria-label="Close details" onClick={onClose}>×</button>
      </div>
      <div className="media-preview">
        {item.kind === 'video' && item.url ? (
          <video src={item.url} controls preload="metadata" />
        ) : item.kind === 'audio' && item.url ? (
          <audio src={item.url} controls preload="none" />
        ) : (
          <MediaThumb item={item} width={640} />
        )}
      </div>
      <dl className="media-facts">
        {facts.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {item.url && (
        <p>
          <a href={item.url} target="_blank" rel="noopener noreferrer">Open the file</a>
        </p>
      )}

      <form onSubmit={save} noValidate>
        <h3>Details</h3>
        {stale && (
          <div className="field-error stale" role="alert">
            Someone else changed this file’s details. <button type="button" onClick={reload}>Reload</button>
          </div>
        )}
        {field('filename', 'File name', { hint: 'Shown to editors and in the file’s URL.' })}
        {field('title', 'Title')}
        {field('alt', 'Alt text', { hint: item.kind === 'image' ? 'Describe the image for people who cannot see it.' : undefined })}
        {field('caption', 'Caption', { multiline: true })}
        {field('tags', 'Tags', { hint: 'Separate tags with commas.' })}
        {focalSrc && (
          <div className="media-field">
            <FocalPointPicker src={focalSrc} value={form.focal} onChange={(focal) => editable && setForm((f) => ({ ...f, focal }))} label="Focal point" />
            <div className="hint">Crops keep this point in view.</div>
            <FieldError id={`${id}-focal-error`} message={errors['/focal']} />
          </div>
        )}
        {editable && (
          <div className="form-actions">
            <button type="submit" className="primary" disabled={saving || !dirty}>{saving ? 'Saving…' : 'Save details'}</button>
            {dirty && <button type="button" onClick={() => { setForm(formOf(item)); setErrors({}); }}>Reset</button>}
          </div>
        )}
      </form>

      <section className="media-usage" aria-labelledby={`${id}-usage`}>
        <h3 id={`${id}-usage`}>Where it is used</h3>
        {usage.loading && !usage.data ? (
          <p className="loading" role="status">Loading…</p>
        ) : usage.error ? (
          <p className="error-text" role="alert">Could not load where it is used. <button type="button" onClick={usage.reload}>Try again</button></p>
        ) : !usage.data?.length ? (
          <p className="muted">Not used by any entry.</p>
        ) : (
          <>
            <p>Used by {usage.data.length}{usage.data.length >= 100 ? '+' : ''} {usage.data.length === 1 ? 'entry' : 'entries'}:</p>
            <ul>
              {usage.data.map((u) => (
                <li key={`${u.type}/${u.id}`}>
                  <Link to={`/content/${u.type}/${u.id}`}>{u.title || u.id}</Link> <small className="muted">{typeById(u.type)?.title ?? u.type}</small>
                </li>
              ))}
            </ul>
          </>
        )}
      </section>

      {editable && (
        <div className="form-actions danger-zone">
          <button type="button" className="danger" disabled={deleting || usage.loading} onClick={() => void remove()}>{deleting ? 'Deleting…' : 'Delete'}</button>
        </div>
      )}
      {dialog}
    </aside>
  );
}
