// Pieces every screen shows the same way: loading, load errors with "Try again", empty states, and
// the page for a content type that does not exist.
import type { ReactNode } from 'react';
import { Link } from 'react-router-dom';
import type { Loaded } from '../hooks';

export function Loading({ what }: { what?: string }) {
  return <p className="loading" role="status">{what ? `Loading ${what}…` : 'Loading…'}</p>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

/** A read that failed, and a button that tries again. */
export function LoadError({ children, onRetry }: { children: ReactNode; onRetry(): void }) {
  return (
    <div className="empty" role="alert">
      <p>{children}</p>
      <button type="button" onClick={onRetry}>Try again</button>
    </div>
  );
}

/** A whole page that could not be shown: its title and what went wrong. */
export function ErrorPage({ title, children, onRetry }: { title: string; children: ReactNode; onRetry(): void }) {
  return (
    <section>
      <div className="toolbar">
        <h1>{title}</h1>
      </div>
      <LoadError onRetry={onRetry}>{children}</LoadError>
    </section>
  );
}

/**
 * What a `useLoad` read shows: loading (until the first answer), the error with "Try again", the
 * `empty` state, or the children.
 */
export function LoadedView({ load, what, failed, empty, children }: { load: Loaded<unknown>; what: string; failed: string; empty?: ReactNode; children: ReactNode }) {
  if (load.loading && load.data === undefined) return <Loading what={what} />;
  if (load.error && load.data === undefined) return <LoadError onRetry={load.reload}>{failed}</LoadError>;
  if (empty) return <>{empty}</>;
  return <>{children}</>;
}

/** The page for /content/<id> when there is no such content type. */
export function NoSuchType({ typeId }: { typeId: string }) {
  return (
    <section>
      <div className="toolbar">
        <h1>Not found</h1>
      </div>
      <div className="empty">
        There is no content type “{typeId}”. <Link to="/">Back to the start</Link>
      </div>
    </section>
  );
}
