// Error and success toasts for every screen: useToast().error(e) shows an ApiError's message.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { ApiError } from './api';

interface Toast {
  id: number;
  kind: 'error' | 'success' | 'info';
  text: string;
}

interface ToastApi {
  error(e: unknown): void;
  success(text: string): void;
  info(text: string): void;
}

const ToastContext = createContext<ToastApi | null>(null);

export function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const push = useCallback((kind: Toast['kind'], text: string) => {
    const id = Date.now() + Math.random();
    setToasts((t) => [...t.slice(-4), { id, kind, text }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === 'error' ? 8000 : 4000);
  }, []);
  const value = useMemo<ToastApi>(
    () => ({
      error: (e) => {
        // a lost session is handled by the login redirect, not a toast
        if (e instanceof ApiError && e.status === 401) return;
        if ((e as Error)?.name === 'AbortError') return;
        push('error', messageOf(e));
      },
      success: (text) => push('success', text),
      info: (text) => push('info', text),
    }),
    [push],
  );
  return (
    <ToastContext.Provider value={value}>
      {children}
      <div className="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
            {t.text}
            <button type="button" className="link" aria-label="Dismiss" onClick={() => setToasts((all) => all.filter((x) => x.id !== t.id))}>
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

export function useToast(): ToastApi {
  const api = useContext(ToastContext);
  if (!api) throw new Error('useToast outside ToastProvider');
  return api;
}
