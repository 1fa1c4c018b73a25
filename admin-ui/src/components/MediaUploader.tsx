// Drag-and-drop uploads to POST /api/media, one request per file so each has its own progress bar and error.
import { useEffect, useId, useRef, useState, type DragEvent } from 'react';
import { upload } from '../api';
import { messageOf } from '../toasts';

/** A media record as GET /api/media returns it. */
export interface MediaItem {
  _id: string;
  _version?: number;
  _createdAt?: string;
  _updatedAt?: string;
  filename: string;
  mime: string;
  kind?: 'image' | 'video' | 'audio' | 'document';
  size: number;
  alt?: string;
  caption?: string;
  title?: string;
  tags?: string[];
  focal?: { x: number; y: number };
  width?: number;
  height?: number;
  url?: string;
  srcset?: { width: number; height: number; url: string }[];
  [k: string]: unknown;
}

interface Job {
  key: number;
  name: string;
  progress: number;
  state: 'uploading' | 'done' | 'error';
  message?: string;
}

/** Whether a MIME type matches an accept list such as ["image/*", "application/pdf"]. */
export function accepts(accept: string[] | undefined, mime: string): boolean {
  if (!accept || accept.length === 0) return true;
  const m = mime.toLowerCase();
  return accept.some((a) => {
    const p = a.toLowerCase().trim();
    if (p === '*/*' || p === '*') return true;
    if (p.endsWith('/*')) return m.startsWith(p.slice(0, -1));
    return m === p;
  });
}

/** A thumbnail URL for a media item (image variants via the media delivery URL), or undefined. */
export function thumbnailUrl(item: MediaItem, width = 320): string | undefined {
  const isImage = item.kind === 'image' || item.mime?.startsWith('image/');
  // SVG is only ever served as an attachment, never inline
  if (!isImage || item.mime === 'image/svg+xml') return undefined;
  const set = Array.isArray(item.srcset) ? item.srcset : [];
  if (set.length > 0) return (set.find((s) => s.width >= width) ?? set[set.length - 1])!.url;
  return item.url;
}

let nextKey = 1;

/** Drag-and-drop zone + file input labelled "Upload files"; one progress bar per file; refused files show
 *  the server's message (role="alert"). Calls onUploaded with the created media records. */
export function MediaUploader(props: { accept?: string[]; multiple?: boolean; onUploaded(items: MediaItem[]): void }) {
  const { accept, multiple = true, onUploaded } = props;
  const inputId = useId();
  const [jobs, setJobs] = useState<Job[]>([]);
  const [over, setOver] = useState(false);
  // closing the uploader (a picker dialog cancelled, a page left) stops its uploads: nothing is chosen after
  const uploads = useRef(new AbortController());
  useEffect(() => {
    // a fresh one per mount (StrictMode mounts twice in development)
    const own = new AbortController();
    uploads.current = own;
    return () => own.abort();
  }, []);

  const patch = (key: number, change: Partial<Job>) => setJobs((all) => all.map((j) => (j.key === key ? { ...j, ...change } : j)));

  const start = async (files: File[]) => {
    if (files.length === 0) return;
    const chosen = multiple ? files : files.slice(0, 1);
    const fresh: Job[] = chosen.map((f) => ({ key: nextKey++, name: f.name, progress: 0, state: 'uploading' }));
    // finished jobs from earlier batches make room for the new ones
    setJobs((all) => [...all.filter((j) => j.state !== 'done'), ...fresh]);
    const results = await Promise.all(
      chosen.map(async (file, i): Promise<MediaItem[]> => {
        const job = fresh[i]!;
        // the browser's guess is only a first check: the server decides from the bytes
        if (file.type && !accepts(accept, file.type)) {
          patch(job.key, { state: 'error', message: `${file.name}: this field accepts ${accept!.join(', ')}, not ${file.type}.` });
          return [];
        }
        const form = new FormData();
        form.append('file', file, file.name);
        try {
          // the server checks `accept` against the bytes, before anything is stored
          const path = accept?.length ? `/api/media?accept=${encodeURIComponent(accept.join(','))}` : '/api/media';
          const res = await upload<{ data: MediaItem[] }>(path, form, (p) => patch(job.key, { progress: p }), uploads.current.signal);
          const items = res.data ?? [];
          patch(job.key, { state: 'done', progress: 1 });
          return items;
        } catch (e) {
          if ((e as Error).name === 'AbortError') return [];
          const text = messageOf(e);
          patch(job.key, { state: 'error', message: text.includes(file.name) ? text : `${file.name}: ${text}` });
          return [];
        }
      }),
    );
    const items = results.flat();
    if (items.length > 0 && !uploads.current.signal.aborted) onUploaded(items);
  };

  const onDrop = (e: DragEvent<HTMLDivElement>) => {
    e.preventDefault();
    setOver(false);
    void start(Array.from(e.dataTransfer.files));
  };

  return (
    <div
      className={`uploader${over ? ' uploader-over' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <label htmlFor={inputId}>Upload files</label>
      <input
        id={inputId}
        type="file"
        multiple={multiple}
        accept={accept?.join(',')}
        onChange={(e) => {
          const files = Array.from(e.target.files ?? []);
          e.target.value = '';
          void start(files);
        }}
      />
      <p className="hint">Drag and drop {multiple ? 'files' : 'a file'} here, or choose {multiple ? 'them' : 'one'}.{accept && accept.length > 0 ? ` Accepted: ${accept.join(', ')}.` : ''}</p>
      {jobs.length > 0 && (
        <ul className="upload-jobs">
          {jobs.map((j) => (
            <li key={j.key} className={`upload-job upload-${j.state}`}>
              <span className="upload-name">{j.name}</span>
              {j.state === 'uploading' && <progress max={1} value={j.progress} aria-label={`Uploading ${j.name}`} />}
              {j.state === 'done' && <span className="upload-ok">Uploaded</span>}
              {j.state === 'error' && (
                <span className="field-error" role="alert">
                  {j.message}
                </span>
              )}
              {j.state !== 'uploading' && (
                <button type="button" className="link" aria-label={`Dismiss ${j.name}`} onClick={() => setJobs((all) => all.filter((x) => x.key !== j.key))}>
                  ×
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
