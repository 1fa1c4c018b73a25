// Webhooks (admins only): create and edit them, see each one's delivery log, replay a delivery.
import { useState } from 'react';
import { api } from '../api';
import { AdminTable, adminPage, ForbiddenNotice, isForbidden, SecretPanel } from '../components/AdminCommon';
import { Empty, LoadedView } from '../components/Common';
import { useConfirm } from '../components/Dialog';
import { useLoad } from '../hooks';
import { AdminDeliveries } from '../components/AdminDeliveries';
import { AdminWebhookForm, type Webhook } from '../components/AdminWebhookForm';
import { useSession } from '../session';
import { useToast } from '../toasts';

export const WebhooksPage = adminPage('Webhooks', Webhooks);

function Webhooks() {
  const toast = useToast();
  const { typeById } = useSession();
  const [confirm, dialog] = useConfirm();
  // 'new', a webhook being edited, or nothing
  const [editing, setEditing] = useState<'new' | Webhook | null>(null);
  const [logOf, setLogOf] = useState<Webhook | null>(null);
  const [secret, setSecret] = useState<{ url: string; secret: string } | null>(null);
  const hooks = useLoad((signal) => api<{ data: Webhook[] }>('/api/webhooks', { signal }).then((r) => r.data), []);

  if (isForbidden(hooks.error)) return <ForbiddenNotice title="Webhooks" />;

  const remove = async (w: Webhook) => {
    const ok = await confirm({
      title: 'Delete webhook',
      message: <p>Delete the webhook to <strong>{w.url}</strong>? Its delivery log goes with it. This cannot be undone.</p>,
      confirmLabel: 'Delete',
      danger: true,
    });
    if (!ok) return;
    try {
      await api(`/api/webhooks/${w._id}`, { method: 'DELETE' });
      hooks.setData((l) => l?.filter((x) => x._id !== w._id));
      if (logOf?._id === w._id) setLogOf(null);
      if (editing !== 'new' && editing?._id === w._id) setEditing(null);
      toast.success('Webhook deleted');
    } catch (e) {
      toast.error(e);
    }
  };

  const toggleEnabled = async (w: Webhook) => {
    try {
      const res = await api<{ data: Webhook }>(`/api/webhooks/${w._id}`, { method: 'PATCH', body: { enabled: !w.enabled } });
      hooks.setData((l) => l?.map((x) => (x._id === w._id ? res.data : x)));
      toast.success(res.data.enabled ? 'Webhook turned on' : 'Webhook turned off');
    } catch (e) {
      toast.error(e);
    }
  };

  const list = hooks.data ?? [];
  return (
    <section>
      <div className="toolbar">
        <h1>Webhooks</h1>
        {editing !== 'new' && (
          <button type="button" className="primary" onClick={() => setEditing('new')}>New webhook</button>
        )}
      </div>
      {secret && (
        <SecretPanel title="Webhook created" label="Signing secret" secret={secret.secret} onDone={() => setSecret(null)} />
      )}
      {editing && (
        <AdminWebhookForm
          key={editing === 'new' ? 'form-new' : `form-${editing._id}`}
          webhook={editing === 'new' ? undefined : editing}
          onCancel={() => setEditing(null)}
          onSaved={(w, newSecret) => {
            hooks.setData((l) => (l?.some((x) => x._id === w._id) ? l.map((x) => (x._id === w._id ? w : x)) : [...(l ?? []), w]));
            if (logOf?._id === w._id) setLogOf(w);
            setEditing(null);
            if (newSecret) setSecret({ url: w.url, secret: newSecret });
            toast.success(newSecret ? 'Webhook created' : 'Webhook saved');
          }}
        />
      )}
      <LoadedView load={hooks} what="webhooks" failed="The webhooks could not be loaded." empty={list.length === 0 && <Empty>No webhooks yet. A webhook calls a URL when content or media changes, e.g. to rebuild a static site.</Empty>}>
        <AdminTable columns={['URL', 'Events', 'Types', 'Active']} actions>
          {list.map((w) => (
            <tr key={w._id} className={logOf?._id === w._id ? 'row-selected' : undefined}>
              <td className="wrap-anywhere">
                <code>{w.url}</code>
                {w.description && <div className="muted">{w.description}</div>}
              </td>
              <td><ul className="chips">{w.events.map((e) => <li key={e}>{e}</li>)}</ul></td>
              <td>{w.types?.length ? w.types.map((id) => typeById(id)?.title ?? id).join(', ') : <span className="muted">All types</span>}</td>
              <td>
                <label className="check">
                  <input type="checkbox" checked={w.enabled} onChange={() => void toggleEnabled(w)} />
                  <span className="cell-label wrap-anywhere">Active: {w.url}</span>
                  <span aria-hidden="true">{w.enabled ? 'On' : 'Off'}</span>
                </label>
              </td>
              <td className="row-actions">
                <button type="button" aria-label={`Deliveries of ${w.url}`} aria-pressed={logOf?._id === w._id} onClick={() => setLogOf(logOf?._id === w._id ? null : w)}>Deliveries</button>
                <button type="button" aria-label={`Edit ${w.url}`} onClick={() => setEditing(w)}>Edit</button>
                <button type="button" className="danger" aria-label={`Delete ${w.url}`} onClick={() => void remove(w)}>Delete</button>
              </td>
            </tr>
          ))}
        </AdminTable>
      </LoadedView>
      {logOf && <AdminDeliveries key={`log-${logOf._id}`} webhook={logOf} onClose={() => setLogOf(null)} />}
      {dialog}
    </section>
  );
}
