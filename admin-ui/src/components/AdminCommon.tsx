// Pieces shared by the media library and the admin pages: loading data, confirm dialogs, the
// "admins only" notice, a secret shown once, field errors, and formatting.
import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { ApiError, type ErrorDetail } from '../api';
import { useSession } from '../session';
import { can } from '../types';

/** Loads data with `load` whenever `deps` change; `reload()` fetches again. Aborts stale requests. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): {
  data: T | undefined;
  loading: boolean;
  error: unknown;
  reload(): void;
  setData(update: (prev: T | undefined) => T | undefined): void;
} {
  const [data, setDataState] = useState<T>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError(undefined);
    load(controller.signal)
      .then((d) => {
        if (!controller.signal.aborted) setDataState(d);
      })
      .catch((e: unknown) => {
        if (!controller.signal.aborted) setError(e);
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
    // the caller names what the load depends on
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const setData = useCallback((update: (prev: T | undefined) => T | undefined) => setDataState((prev) => update(prev)), []);
  return { data, loading, error, reload, setData };
}

/** True when an error is the server's "admins only" (or any 403). */
export function isForbidden(e: unknown): boolean {
  return e instanceof ApiError && e.status === 403;
}

/** Wraps an admin page: others see a polite notice instead of its contents. */
export function AdminOnly({ title, children }: { title: string; children: ReactNode }) {
  const { me } = useSession();
  if (!can(me?.role, 'admin')) return <ForbiddenNotice title={title} />;
  return <>{children}</>;
}

export function ForbiddenNotice({ title }: { title: string }) {
  return (
    <section>
      <div className="toolbar"><h1>{title}</h1></div>
      <p className="empty" role="status">Only admins can see this page.</p>
    </section>
  );
}

export interface ConfirmRequest {
  title: string;
  message: ReactNode;
  /** The confirm button's text, e.g. "Delete". */
  confirmLabel: string;
  danger?: boolean;
}

/**
 * A modal confirm dialog (<dialog> with showModal: focus stays inside, Escape cancels).
 * `useConfirm()` returns `[ask, element]`: render the element, `await ask({...})` gives true or false.
 */
export function useConfirm(): [(request: ConfirmRequest) => Promise<boolean>, ReactNode] {
  const [request, setRequest] = useState<ConfirmRequest | null>(null);
  const resolver = useRef<((ok: boolean) => void) | null>(null);
  const ask = useCallback((r: ConfirmRequest) => {
    resolver.current?.(false);
    setRequest(r);
    return new Promise<boolean>((resolve) => {
      resolver.current = resolve;
    });
  }, []);
  const answer = useCallback((ok: boolean) => {
    resolver.current?.(ok);
    resolver.current = null;
    setRequest(null);
  }, []);
  const element = request ? <ConfirmDialog request={request} onAnswer={answer} /> : null;
  return [ask, element];
}

function ConfirmDialog({ request, onAnswer }: { request: ConfirmRequest; onAnswer(ok: boolean): void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const bodyId = useId();
  const opener = useRef<Element | null>(null);
  useEffect(() => {
    opener.current = document.activeElement;
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => {
      // focus goes back to the button that opened the dialog
      if (opener.current instanceof HTMLElement && opener.current.isConnected) opener.current.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className="confirm-dialog"
      aria-labelledby={titleId}
      aria-describedby={bodyId}
      onCancel={(e) => {
        e.preventDefault();
        onAnswer(false);
      }}
    >
      <h2 id={titleId}>{request.title}</h2>
      <div id={bodyId} className="confirm-body">{request.message}</div>
      <div className="confirm-actions">
        <button type="button" autoFocus onClick={() => onAnswer(false)}>Cancel</button>
        <button type="button" className={request.danger ? 'danger' : 'primary'} onClick={() => onAnswer(true)}>{request.confirmLabel}</button>
      </div>
    </dialog>
  );
}

/** A secret the server shows once (token, webhook signing secret): copy button and a clear warning. */
export function SecretPanel({ title, secret, label, onDone }: { title: string; secret: string; label: string; onDone(): void }) {
  const id = useId();
  const [copied, setCopied] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied(true);
    } catch {
      // no clipboard access (plain http, or denied): select the text for a manual copy
      inputRef.current?.select();
    }
  };
  return (
    <section className="panel secret-panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      <p className="secret-warning" role="alert">
        Copy it now: it is shown only this once and cannot be seen again.
      </p>
      <label htmlFor={id}>{label}</label>
      <div className="secret-row">
        <input id={id} ref={inputRef} readOnly value={secret} onFocus={(e) => e.currentTarget.select()} spellCheck={false} />
        <button type="button" className="primary" onClick={copy}>{copied ? 'Copied' : 'Copy'}</button>
      </div>
      <button type="button" onClick={onDone}>Done</button>
    </section>
  );
}

/** Field errors from an ApiError's details, keyed by JSON pointer ("/email"). */
export function fieldErrors(e: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (e instanceof ApiError) {
    for (const d of e.details as ErrorDetail[]) {
      const key = d.path.split('/').slice(0, 2).join('/');
      if (key && !out[key]) out[key] = d.message;
    }
  }
  return out;
}

/** The error text under one input. */
export function FieldError({ id, message }: { id: string; message?: string | undefined }) {
  if (!message) return null;
  return <div id={id} className="field-error" role="alert">{message}</div>;
}

/** 1536 → "1.5 KB". */
export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** A date and time in the browser's locale; `fallback` when there is none. */
export function formatDate(iso: string | undefined | null, fallback = ''): string {
  if (!iso) return fallback;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A <time> element with the readable date and the exact one as a tooltip. */
export function DateTime({ iso, fallback = '—' }: { iso: string | undefined | null; fallback?: string }) {
  if (!iso) return <span className="muted">{fallback}</span>;
  return <time dateTime={iso} title={iso}>{formatDate(iso)}</time>;
}

/** Loading and empty states, the same on every screen. */
export function Loading({ what }: { what: string }) {
  return <p className="loading" role="status">Loading {what}…</p>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}
