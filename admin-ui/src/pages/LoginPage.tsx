// Sign-in: email and password, then back to where the editor was (a path of this app only).
import { useEffect, useState, type FormEvent } from 'react';
import { Link, Navigate, useNavigate, useSearchParams } from 'react-router-dom';
import { api, ApiError } from '../api';
import { useSession } from '../session';
import { messageOf } from '../toasts';
import type { AdminInfo } from '../types';

/** `next` may only name a page of this app: "/content/post", never "//evil.example" or "https://…". */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (/[\u0000-\u001f\\]/.test(next)) return '/';
  if (next.startsWith('/login') || next.startsWith('/setup')) return '/';
  return next;
}

export function LoginPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const session = useSession();
  const next = safeNext(params.get('next'));
  const expired = params.get('expired') === '1';
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [setupRequired, setSetupRequired] = useState(false);

  useEffect(() => {
    document.title = 'Log in · CMS admin';
    const ctrl = new AbortController();
    api<{ data: AdminInfo }>('/api/admin/info', { signal: ctrl.signal })
      .then((r) => setSetupRequired(r.data.setupRequired))
      .catch(() => undefined);
    return () => ctrl.abort();
  }, []);

  // already signed in (another tab, or a reload): straight on
  if (session.me && !busy) return <Navigate to={next} replace />;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!email.trim() || !password) {
      setProblem('Enter your email and password.');
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      await api('/api/auth/login', { method: 'POST', body: { email: email.trim(), password } });
      await session.refresh();
      navigate(next, { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'CMS_ERR_LOGIN_FAILED') setProblem('The email or password is wrong, or the account is suspended.');
      else setProblem(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="auth-card" id="main">
      <div className="brand auth-brand">CMS</div>
      <h1>Log in</h1>
      {expired && <p className="notice" role="status">Your session expired. Sign in again to continue.</p>}
      {setupRequired && (
        <p className="notice">
          No admin exists yet. <Link to="/setup">Create the first admin</Link> with the setup link the server printed.
        </p>
      )}
      <form onSubmit={submit} noValidate>
        <label htmlFor="login-email">Email</label>
        <input id="login-email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} autoFocus required />
        <label htmlFor="login-password">Password</label>
        <input id="login-password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        {problem && <p className="error-text" role="alert">{problem}</p>}
        <button type="submit" className="primary wide" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
      </form>
    </main>
  );
}
