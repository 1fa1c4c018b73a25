// Pieces shared by the media library and the admin pages: the "admins only" notice, a secret shown
// once, field errors, and dates.
import { useId, useRef, useState, type ReactNode } from 'react';
import { ApiError, type ErrorDetail } from '../api';
import { formatDate } from '../format';
import { useSession } from '../session';
import { useToast } from '../toasts';
import { can } from '../types';

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

/** A <time> element with the readable date and the exact one as a tooltip. */
export function DateTime({ iso, fallback = '—' }: { iso: string | undefined | null; fallback?: string }) {
  if (!iso) return <span className="muted">{fallback}</span>;
  return <time dateTime={iso} title={iso}>{formatDate(iso)}</time>;
}

/** An admin page: `title` names it in the notice others see instead of its contents. */
export function adminPage(title: string, Page: () => ReactNode) {
  return function AdminPage() {
    return (
      <AdminOnly title={title}>
        <Page />
      </AdminOnly>
    );
  };
}

/** A table of records: the column headings, an unnamed last column for the row's buttons, the rows. */
export function AdminTable({ columns, actions, children }: { columns: string[]; actions?: boolean; children: ReactNode }) {
  return (
    <div className="table-scroll">
      <table className="admin-table">
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col" key={c}>{c}</th>
            ))}
            {actions && <th scope="col"><span className="sr-only">Actions</span></th>}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** "Previous page" / "Next page" over a list read by offset. */
export function OffsetPager({ offset, count, total, pageSize, busy, onOffset }: { offset: number; count: number; total: number; pageSize: number; busy: boolean; onOffset(offset: number): void }) {
  return (
    <div className="pager">
      <button type="button" disabled={offset === 0 || busy} onClick={() => onOffset(Math.max(0, offset - pageSize))}>Previous page</button>
      <span className="muted">{offset + 1}–{offset + count} of {total}</span>
      <button type="button" disabled={offset + count >= total || busy} onClick={() => onOffset(offset + pageSize)}>Next page</button>
    </div>
  );
}

/** A form's submit: its own checks first, then the request, with `saving` and the server's field errors. */
export function useFormSubmit() {
  const toast = useToast();
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [saving, setSaving] = useState(false);
  /** Shows `local` (errors the form found itself); when there are none, runs `send`. */
  const submit = async (local: Record<string, string>, send: () => Promise<void>) => {
    setErrors(local);
    if (Object.keys(local).length) return;
    setSaving(true);
    try {
      await send();
    } catch (err) {
      setErrors(fieldErrors(err));
      toast.error(err);
    } finally {
      setSaving(false);
    }
  };
  return { errors, saving, submit };
}
