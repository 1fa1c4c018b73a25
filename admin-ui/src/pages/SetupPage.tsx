// First run: create the first admin with the one-time token the server printed (in the link, or pasted).
import { useEffect, useState, type FormEvent } from 'react';
import { Link, Navigate, useNavigate, useSearchParams } from 'react-router-dom';
import { api, ApiError } from '../api';
import { useSession } from '../session';
import { messageOf } from '../toasts';
import type { AdminInfo } from '../types';

type FieldName = 'token' | 'email' | 'name' | 'password';
const MIN_PASSWORD = 12;

export function SetupPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const session = useSession();
  const tokenFromLink = params.get('token') ?? '';
  const [values, setValues] = useState<Record<FieldName, string>>({ token: tokenFromLink, email: '', name: '', password: '' });
  const [errors, setErrors] = useState<Partial<Record<FieldName, string>>>({});
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [info, setInfo] = useState<AdminInfo | null>(null);
  const [infoError, setInfoError] = useState<string | null>(null);

  useEffect(() => {
    document.title = 'Set up · CMS admin';
    const ctrl = new AbortController();
    api<{ data: AdminInfo }>('/api/admin/info', { signal: ctrl.signal })
      .then((r) => setInfo(r.data))
      .catch((e: unknown) => {
        if ((e as Error).name !== 'AbortError') setInfoError(messageOf(e));
      });
    return () => ctrl.abort();
  }, []);

  if (session.me && !busy) return <Navigate to="/" replace />;

  const set = (name: FieldName) => (e: React.ChangeEvent<HTMLInputElement>) => {
    setValues((v) => ({ ...v, [name]: e.target.value }));
    setErrors((er) => ({ ...er, [name]: undefined }));
  };

  const check = (): Partial<Record<FieldName, string>> => {
    const found: Partial<Record<FieldName, string>> = {};
    if (!values.token.trim()) found.token = 'Paste the setup token the server printed.';
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(values.email.trim())) found.email = 'Enter a valid email address.';
    if (!values.name.trim()) found.name = 'Enter a name.';
    if (values.password.length < MIN_PASSWORD) found.password = `Use at least ${MIN_PASSWORD} characters.`;
    return found;
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found = check();
    setErrors(found);
    setProblem(null);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      await api('/api/auth/setup', { method: 'POST', body: { token: values.token.trim(), email: values.email.trim(), name: values.name.trim(), password: values.password } });
      await session.refresh();
      navigate('/', { replace: true });
    } catch (err) {
      if (err instanceof ApiError) {
        // server errors go under their field (details name /token, /email, /password, …)
        const byField: Partial<Record<FieldName, string>> = {};
        for (const d of err.details) {
          const name = d.path.replace(/^\//, '') as FieldName;
          if (name in values) byField[name] = d.message;
        }
        if (err.code === 'CMS_ERR_SETUP_TOKEN') byField.token = 'The setup token is wrong or was used already.';
        setErrors(byField);
        setProblem(err.code === 'CMS_ERR_SETUP_CLOSED' ? 'Setup is done: an admin exists. Log in instead.' : err.message);
      } else {
        setProblem(messageOf(err));
      }
    } finally {
      setBusy(false);
    }
  };

  if (info && !info.setupRequired && !busy) {
    return (
      <main className="auth-card" id="main">
        <div className="brand auth-brand">CMS</div>
        <h1>Setup is done</h1>
        <p>An admin account exists already.</p>
        <p><Link to="/login">Log in</Link></p>
      </main>
    );
  }

  const field = (name: FieldName, label: string, input: React.InputHTMLAttributes<HTMLInputElement>, hint?: string) => (
    <div className="field">
      <label htmlFor={`setup-${name}`}>{label}</label>
      <input
        id={`setup-${name}`}
        value={values[name]}
        onChange={set(name)}
        aria-invalid={errors[name] ? true : undefined}
        aria-describedby={errors[name] ? `setup-${name}-error` : hint ? `setup-${name}-hint` : undefined}
        {...input}
      />
      {hint && !errors[name] && <p className="hint" id={`setup-${name}-hint`}>{hint}</p>}
      {errors[name] && <p className="field-error" role="alert" id={`setup-${name}-error`}>{errors[name]}</p>}
    </div>
  );

  return (
    <main className="auth-card" id="main">
      <div className="brand auth-brand">CMS</div>
      <h1>Create the first admin</h1>
      <p className="muted">This account can create other users, tokens and webhooks.</p>
      {infoError && <p className="error-text" role="alert">{infoError}</p>}
      <form onSubmit={submit} noValidate>
        {(!tokenFromLink || errors.token) && field('token', 'Setup token', { autoComplete: 'off', spellCheck: false }, 'The server printed it at start-up, in the setup link.')}
        {field('email', 'Email', { type: 'email', autoComplete: 'username', autoFocus: true })}
        {field('name', 'Name', { autoComplete: 'name' })}
        {field('password', 'Password', { type: 'password', autoComplete: 'new-password' }, `At least ${MIN_PASSWORD} characters.`)}
        {problem && <p className="error-text" role="alert">{problem}</p>}
        <button type="submit" className="primary wide" disabled={busy}>{busy ? 'Creating…' : 'Create admin'}</button>
      </form>
      <p className="muted small">Already set up? <Link to="/login">Log in</Link></p>
    </main>
  );
}
