// API tokens (admins only): for static-site builds and integrations. The secret is shown once.
import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { AdminTable, adminPage, DateTime, FieldError, ForbiddenNotice, isForbidden, SecretPanel, useFormSubmit } from '../components/AdminCommon';
import { Empty, LoadedView } from '../components/Common';
import { useConfirm } from '../components/Dialog';
import { toggleIn } from '../format';
import { useLoad } from '../hooks';
import { useSession } from '../session';
import { useToast } from '../toasts';

interface Token {
  _id: string;
  name: string;
  scopes: string[];
  types?: string[];
  expiresAt?: string;
  createdAt: string;
  createdBy: string;
  lastUsedAt?: string;
  revokedAt?: string;
}

const SCOPES: { value: string; help: string }[] = [
  { value: 'content:read', help: 'read published content' },
  { value: 'content:preview', help: 'read drafts and history too' },
  { value: 'content:write', help: 'write drafts, and read them' },
  { value: 'content:publish', help: 'publish, unpublish, discard, schedule' },
  { value: 'media:write', help: 'upload and edit media' },
];

function stateOf(t: Token, now: number): 'active' | 'revoked' | 'expired' {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && Date.parse(t.expiresAt) <= now) return 'expired';
  return 'active';
}

export const TokensPage = adminPage('API tokens', Tokens);

function Tokens() {
  const toast = useToast();
  const { typeById } = useSession();
  const [confirm, dialog] = useConfirm();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const tokens = useLoad((signal) => api<{ data: Token[] }>('/api/tokens', { signal }).then((r) => r.data), []);

  if (isForbidden(tokens.error)) return <ForbiddenNotice title="API tokens" />;

  const revoke = async (t: Token) => {
    const ok = await confirm({
      title: 'Revoke token',
      message: <p>Revoke <strong>{t.name}</strong>? Anything using it gets “401 Unauthorized” from now on. This cannot be undone.</p>,
      confirmLabel: 'Revoke',
      danger: true,
    });
    if (!ok) return;
    setBusy(t._id);
    try {
      const res = await api<{ data: Token }>(`/api/tokens/${t._id}`, { method: 'DELETE' });
      tokens.setData((l) => l?.map((x) => (x._id === t._id ? res.data : x)));
      toast.success(`Revoked ${t.name}`);
    } catch (e) {
      toast.error(e);
    } finally {
      setBusy(null);
    }
  };

  const now = Date.now();
  const list = [...(tokens.data ?? [])].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return (
    <section>
      <div className="toolbar">
        <h1>API tokens</h1>
        {!creating && !created && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>Create token</button>
        )}
      </div>
      {created && <SecretPanel title={`Token “${created.name}” created`} label="Token secret" secret={created.secret} onDone={() => setCreated(null)} />}
      {creating && (
        <CreateTokenForm
          onCancel={() => setCreating(false)}
          onCreated={(token, secret) => {
            tokens.setData((l) => [token, ...(l ?? [])]);
            setCreating(false);
            setCreated({ name: token.name, secret });
            toast.success(`Created token ${token.name}`);
          }}
        />
      )}
      <LoadedView load={tokens} what="tokens" failed="The tokens could not be loaded." empty={list.length === 0 && <Empty>No API tokens yet. Create one for a static-site build or an integration.</Empty>}>
        <AdminTable columns={['Name', 'Scopes', 'Types', 'Created', 'Last used', 'Expires', 'Status']} actions>
          {list.map((t) => {
            const state = stateOf(t, now);
            return (
              <tr key={t._id} className={state === 'active' ? undefined : 'row-inactive'}>
                <td>{t.name}</td>
                <td>
                  <ul className="chips">{t.scopes.map((s) => <li key={s}>{s}</li>)}</ul>
                </td>
                <td>{t.types?.length ? t.types.map((id) => typeById(id)?.title ?? id).join(', ') : <span className="muted">All types</span>}</td>
                <td><DateTime iso={t.createdAt} /></td>
                <td><DateTime iso={t.lastUsedAt} fallback="Never" /></td>
                <td><DateTime iso={t.expiresAt} fallback="Never" /></td>
                <td><span className={`badge badge-token-${state}`}>{state === 'active' ? 'Active' : state === 'revoked' ? 'Revoked' : 'Expired'}</span></td>
                <td className="row-actions">
                  {!t.revokedAt && (
                    <button type="button" className="danger" disabled={busy === t._id} aria-label={`Revoke ${t.name}`} onClick={() => void revoke(t)}>Revoke</button>
                  )}
                </td>
              </tr>
            );
          })}
        </AdminTable>
      </LoadedView>
      {dialog}
    </section>
  );
}

function CreateTokenForm({ onCreated, onCancel }: { onCreated(t: Token, secret: string): void; onCancel(): void }) {
  const { types } = useSession();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['content:read']);
  const [limitTypes, setLimitTypes] = useState<string[]>([]);
  const [expires, setExpires] = useState('');
  const { errors, saving, submit: send } = useFormSubmit();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!name.trim()) local['/name'] = 'Give the token a name, e.g. "site build"';
    if (!scopes.length) local['/scopes'] = 'Choose at least one scope';
    let expiresAt: string | undefined;
    if (expires) {
      // the token stops working at the start of that day, in the browser's time zone
      const d = new Date(`${expires}T00:00`);
      if (Number.isNaN(d.getTime())) local['/expiresAt'] = 'Not a date';
      else if (d.getTime() <= Date.now()) local['/expiresAt'] = 'Choose a day in the future';
      else expiresAt = d.toISOString();
    }
    await send(local, async () => {
      const body = { name: name.trim(), scopes, ...(limitTypes.length ? { types: limitTypes } : {}), ...(expiresAt ? { expiresAt } : {}) };
      const res = await api<{ data: Token; secret: string }>('/api/tokens', { method: 'POST', body });
      onCreated(res.data, res.secret);
    });
  };

  return (
    <form className="panel admin-form" onSubmit={submit} noValidate aria-labelledby="create-token-title">
      <h2 id="create-token-title">Create token</h2>
      <div className="form-grid">
        <div>
          <label htmlFor="token-name">Name</label>
          <input id="token-name" value={name} onChange={(e) => setName(e.target.value)} aria-invalid={!!errors['/name']} placeholder="site build" />
          <FieldError id="token-name-error" message={errors['/name']} />
        </div>
        <div>
          <label htmlFor="token-expires">Expires (optional)</label>
          <input id="token-expires" type="date" value={expires} onChange={(e) => setExpires(e.target.value)} aria-invalid={!!errors['/expiresAt']} aria-describedby="token-expires-help" />
          <div id="token-expires-help" className="hint">Leave empty for a token that does not expire.</div>
          <FieldError id="token-expires-error" message={errors['/expiresAt']} />
        </div>
      </div>
      <fieldset className="checks">
        <legend>Scopes</legend>
        {SCOPES.map((s) => (
          <label key={s.value} className="check">
            <input type="checkbox" checked={scopes.includes(s.value)} onChange={(e) => setScopes(toggleIn(scopes, s.value, e.target.checked))} />
            <span><code>{s.value}</code> <span className="muted">— {s.help}</span></span>
          </label>
        ))}
        <FieldError id="token-scopes-error" message={errors['/scopes']} />
      </fieldset>
      {types.length > 0 && (
        <fieldset className="checks">
          <legend>Content types (optional)</legend>
          <p className="hint">Leave all unticked for every type.</p>
          {types.map((t) => (
            <label key={t.id} className="check">
              <input type="checkbox" checked={limitTypes.includes(t.id)} onChange={(e) => setLimitTypes(toggleIn(limitTypes, t.id, e.target.checked))} />
              <span>{t.title}</span>
            </label>
          ))}
          <FieldError id="token-types-error" message={errors['/types']} />
        </fieldset>
      )}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={saving}>{saving ? 'Creating…' : 'Create token'}</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
