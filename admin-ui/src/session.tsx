// Who is signed in, and the content types they can see. Loaded once after sign-in.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError } from './api';
import type { Me, TypeInfo, TypesResponse } from './types';

interface SessionState {
  me: Me | null;
  types: TypeInfo[];
  locales: string[];
  defaultLocale: string;
  loading: boolean;
  /** Why the user or the types could not be read (the server failed, not "signed out"), else null. */
  error: string | null;
  /** Reloads the signed-in user and the types (after login or setup). */
  refresh(): Promise<void>;
  /** Forgets the user locally (after logout or an expired session). */
  clear(): void;
  typeById(id: string): TypeInfo | undefined;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [types, setTypes] = useState<TypeInfo[]>([]);
  const [locales, setLocales] = useState<string[]>(['en']);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    setLoading(true);
    setError(null);
    try {
      const who = await api<{ data?: Me }>('/api/auth/me');
      if (!who.data || who.data.kind !== 'user') throw new ApiError(401, 'CMS_ERR_AUTH_REQUIRED', 'Sign in');
      const t = await api<TypesResponse>('/api/admin/types');
      setMe(who.data);
      setTypes(t.data);
      setLocales(t.meta.locales);
    } catch (e) {
      setMe(null);
      if (!(e instanceof ApiError) || (e.status !== 401 && e.status !== 403)) {
        setError(e instanceof Error ? e.message : String(e));
        throw e;
      }
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    refresh().catch(() => undefined);
  }, [refresh]);

  const clear = useCallback(() => setMe(null), []);
  const typeById = useCallback((id: string) => types.find((t) => t.id === id), [types]);
  // one object while nothing changes: effects that depend on the session do not rerun every render
  const value = useMemo<SessionState>(
    () => ({ me, types, locales, defaultLocale: locales[0] ?? 'en', loading, error, refresh, clear, typeById }),
    [me, types, locales, loading, error, refresh, clear, typeById],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
