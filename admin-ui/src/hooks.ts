// Hooks shared by the screens: loading data with loading/error states, and the names of users.
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from './api';
import { useSession } from './session';
import { useToast } from './toasts';
import { can } from './types';

export interface Loaded<T> {
  /** The last data read; kept while a new read is on its way. */
  data: T | undefined;
  loading: boolean;
  error: unknown;
  reload(): void;
  setData(update: (prev: T | undefined) => T | undefined): void;
}

/**
 * Loads data with `load` whenever `deps` change; `reload()` fetches again. Aborts stale requests.
 * `toastErrors` also shows a failed read as an error toast.
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], options: { toastErrors?: boolean } = {}): Loaded<T> {
  const toast = useToast();
  const [data, setDataState] = useState<T>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);
  // the latest function: the caller names what it depends on in `deps`
  const loadRef = useRef(load);
  loadRef.current = load;
  const toastErrors = !!options.toastErrors;
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError(undefined);
    loadRef
      .current(controller.signal)
      .then((d) => {
        if (!controller.signal.aborted) setDataState(d);
      })
      .catch((e: unknown) => {
        if (controller.signal.aborted || (e as Error)?.name === 'AbortError') return;
        setError(e);
        if (toastErrors) toast.error(e);
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick, toastErrors, toast]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const setData = useCallback((update: (prev: T | undefined) => T | undefined) => setDataState((prev) => update(prev)), []);
  return { data, loading, error, reload, setData };
}

/** The names of the users by id (name, else email), for admins, who may list them; empty for others. */
export function useUserNames(): Map<string, string> {
  const { me } = useSession();
  const isAdmin = can(me?.role, 'admin');
  const [names, setNames] = useState<Map<string, string>>(() => new Map());
  useEffect(() => {
    if (!isAdmin) return;
    const ctrl = new AbortController();
    api<{ data: { _id: string; name?: string; email?: string }[] }>('/api/users', { signal: ctrl.signal })
      .then((r) => setNames(new Map(r.data.map((u) => [u._id, u.name || u.email || '']))))
      .catch(() => undefined);
    return () => ctrl.abort();
  }, [isAdmin]);
  return names;
}
