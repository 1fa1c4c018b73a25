// Users (admins only): who may sign in, with which role; create, change role, suspend and reactivate.
import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { AdminTable, adminPage, DateTime, FieldError, ForbiddenNotice, isForbidden, useFormSubmit } from '../components/AdminCommon';
import { Empty, LoadedView } from '../components/Common';
import { useConfirm } from '../components/Dialog';
import { useLoad } from '../hooks';
import { useSession } from '../session';
import { useToast } from '../toasts';
import type { Role } from '../types';

interface User {
  _id: string;
  email: string;
  name: string;
  role: Role;
  status: 'active' | 'suspended';
  createdAt: string;
  updatedAt: string;
}

const ROLES: { value: Role; label: string; help: string }[] = [
  { value: 'admin', label: 'Admin', help: 'everything, including users, tokens, webhooks and the audit log' },
  { value: 'editor', label: 'Editor', help: 'all content and media, and publishing' },
  { value: 'author', label: 'Author', help: 'creates content and changes their own; cannot publish' },
  { value: 'viewer', label: 'Viewer', help: 'reads content and the media library' },
];

const roleLabel = (r: string) => ROLES.find((x) => x.value === r)?.label ?? r;

export const UsersPage = adminPage('Users', Users);

function Users() {
  const toast = useToast();
  const { me } = useSession();
  const [confirm, dialog] = useConfirm();
  const [creating, setCreating] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const users = useLoad((signal) => api<{ data: User[] }>('/api/users', { signal }).then((r) => r.data), []);

  if (isForbidden(users.error)) return <ForbiddenNotice title="Users" />;

  const patch = async (user: User, body: Partial<Pick<User, 'role' | 'status'>>, done: string) => {
    setBusy(user._id);
    try {
      const res = await api<{ data: User }>(`/api/users/${user._id}`, { method: 'PATCH', body });
      users.setData((list) => list?.map((u) => (u._id === user._id ? res.data : u)));
      toast.success(done);
    } catch (e) {
      toast.error(e);
    } finally {
      setBusy(null);
    }
  };

  const changeRole = async (user: User, role: Role) => {
    if (role === user.role) return;
    const ok = await confirm({
      title: 'Change role',
      message: (
        <p>
          Make <strong>{user.name}</strong> ({user.email}) {/^[aeiou]/i.test(role) ? 'an' : 'a'} <strong>{roleLabel(role).toLowerCase()}</strong>? They are
          signed out everywhere and sign in again with the new role.
        </p>
      ),
      confirmLabel: 'Change role',
    });
    if (ok) await patch(user, { role }, `${user.name} is now ${/^[aeiou]/i.test(role) ? 'an' : 'a'} ${roleLabel(role).toLowerCase()}`);
  };

  const setStatus = async (user: User, status: User['status']) => {
    const suspend = status === 'suspended';
    const ok = await confirm({
      title: suspend ? 'Suspend user' : 'Reactivate user',
      message: suspend ? (
        <p>
          Suspend <strong>{user.name}</strong> ({user.email})? They are signed out at once, cannot sign in, and the API tokens they created stop working.
        </p>
      ) : (
        <p>
          Reactivate <strong>{user.name}</strong> ({user.email})? They can sign in again.
        </p>
      ),
      confirmLabel: suspend ? 'Suspend' : 'Reactivate',
      danger: suspend,
    });
    if (ok) await patch(user, { status }, suspend ? `Suspended ${user.name}` : `Reactivated ${user.name}`);
  };

  const list = users.data ?? [];
  return (
    <section>
      <div className="toolbar">
        <h1>Users</h1>
        {!creating && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>Create user</button>
        )}
      </div>
      {creating && (
        <CreateUserForm
          onCancel={() => setCreating(false)}
          onCreated={(u) => {
            users.setData((l) => [...(l ?? []), u]);
            setCreating(false);
            toast.success(`Created ${u.name}`);
          }}
        />
      )}
      <LoadedView load={users} what="users" failed="The users could not be loaded." empty={list.length === 0 && <Empty>No users yet.</Empty>}>
        <AdminTable columns={['Name', 'Email', 'Role', 'Status', 'Created']} actions>
          {list.map((u) => {
            const self = u._id === me?._id;
            return (
              <tr key={u._id}>
                <td>{u.name}{self && <small className="muted"> (you)</small>}</td>
                <td>{u.email}</td>
                <td>
                  <label className="cell-label" htmlFor={`role-${u._id}`}>Role for {u.email}</label>
                  <select id={`role-${u._id}`} value={u.role} disabled={busy === u._id} onChange={(e) => void changeRole(u, e.target.value as Role)}>
                    {ROLES.map((r) => (
                      <option key={r.value} value={r.value}>{r.label}</option>
                    ))}
                  </select>
                </td>
                <td>
                  <span className={`badge badge-user-${u.status}`}>{u.status === 'active' ? 'Active' : 'Suspended'}</span>
                </td>
                <td><DateTime iso={u.createdAt} /></td>
                <td className="row-actions">
                  {u.status === 'active' ? (
                    <button type="button" className="danger" disabled={busy === u._id || self} title={self ? 'You cannot suspend yourself' : undefined} aria-label={`Suspend ${u.email}`} onClick={() => void setStatus(u, 'suspended')}>
                      Suspend
                    </button>
                  ) : (
                    <button type="button" disabled={busy === u._id} aria-label={`Reactivate ${u.email}`} onClick={() => void setStatus(u, 'active')}>
                      Reactivate
                    </button>
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

function CreateUserForm({ onCreated, onCancel }: { onCreated(u: User): void; onCancel(): void }) {
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('author');
  const [password, setPassword] = useState('');
  const { errors, saving, submit: send } = useFormSubmit();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await send({}, async () => {
      const res = await api<{ data: User }>('/api/users', { method: 'POST', body: { email: email.trim(), name: name.trim(), role, password } });
      onCreated(res.data);
    });
  };

  return (
    <form className="panel admin-form" onSubmit={submit} noValidate aria-labelledby="create-user-title">
      <h2 id="create-user-title">Create user</h2>
      <div className="form-grid">
        <div>
          <label htmlFor="new-user-email">Email</label>
          <input id="new-user-email" type="email" autoComplete="off" required value={email} onChange={(e) => setEmail(e.target.value)} aria-invalid={!!errors['/email']} aria-describedby={errors['/email'] ? 'new-user-email-error' : undefined} />
          <FieldError id="new-user-email-error" message={errors['/email']} />
        </div>
        <div>
          <label htmlFor="new-user-name">Name</label>
          <input id="new-user-name" required value={name} onChange={(e) => setName(e.target.value)} aria-invalid={!!errors['/name']} aria-describedby={errors['/name'] ? 'new-user-name-error' : undefined} />
          <FieldError id="new-user-name-error" message={errors['/name']} />
        </div>
        <div>
          <label htmlFor="new-user-role">Role</label>
          <select id="new-user-role" value={role} onChange={(e) => setRole(e.target.value as Role)} aria-describedby="new-user-role-help">
            {ROLES.map((r) => (
              <option key={r.value} value={r.value}>{r.label}</option>
            ))}
          </select>
          <div id="new-user-role-help" className="hint">{ROLES.find((r) => r.value === role)?.help}</div>
          <FieldError id="new-user-role-error" message={errors['/role']} />
        </div>
        <div>
          <label htmlFor="new-user-password">Initial password</label>
          <input id="new-user-password" type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} aria-invalid={!!errors['/password']} aria-describedby="new-user-password-help" />
          <div id="new-user-password-help" className="hint">12 characters or more. Share it with them safely; they can change it after signing in.</div>
          <FieldError id="new-user-password-error" message={errors['/password']} />
        </div>
      </div>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={saving}>{saving ? 'Creating…' : 'Create user'}</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
