// One webhook's delivery log, newest first: state, attempts, the last response; replay a delivery.
import { useState } from 'react';
import { api } from '../api';
import { useToast } from '../toasts';
import { useLoad } from '../hooks';
import { AdminTable, DateTime, OffsetPager } from './AdminCommon';
import { Empty, LoadedView } from './Common';
import type { Webhook } from './AdminWebhookForm';

interface Delivery {
  _id: string;
  webhook: string;
  event: string;
  seq: number;
  state: 'pending' | 'sending' | 'succeeded' | 'failed';
  attempts: number;
  replays: number;
  nextAttemptAt: string;
  createdAt: string;
  updatedAt: string;
  responses: { at: string; status: number; ms: number; error?: string }[];
}

const PAGE = 20;
const STATES = ['pending', 'sending', 'succeeded', 'failed'] as const;
const stateLabel: Record<Delivery['state'], string> = { pending: 'Pending', sending: 'Sending', succeeded: 'Succeeded', failed: 'Failed' };

export function AdminDeliveries({ webhook, onClose }: { webhook: Webhook; onClose(): void }) {
  const toast = useToast();
  const [offset, setOffset] = useState(0);
  const [state, setState] = useState('');
  const [replaying, setReplaying] = useState<string | null>(null);
  const log = useLoad(
    (signal) => api<{ data: Delivery[]; meta: { total: number; limit: number; offset: number } }>(`/api/webhooks/${webhook._id}/deliveries`, { signal, query: { limit: PAGE, offset, state: state || undefined } }),
    [webhook._id, offset, state],
  );

  const replay = async (d: Delivery) => {
    setReplaying(d._id);
    try {
      const res = await api<{ data: Delivery }>(`/api/webhooks/${webhook._id}/deliveries/${encodeURIComponent(d._id)}/replay`, { method: 'POST' });
      log.setData((prev) => prev && { ...prev, data: prev.data.map((x) => (x._id === d._id ? res.data : x)) });
      toast.success('Replay queued');
    } catch (e) {
      toast.error(e);
    } finally {
      setReplaying(null);
    }
  };

  const rows = log.data?.data ?? [];
  const total = log.data?.meta.total ?? 0;
  return (
    <section className="panel deliveries" aria-labelledby="deliveries-title">
      <div className="toolbar">
        <h2 id="deliveries-title">Deliveries <span className="muted wrap-anywhere">to {webhook.url}</span></h2>
        <label htmlFor="delivery-state" className="inline-label">State</label>
        <select id="delivery-state" value={state} onChange={(e) => { setState(e.target.value); setOffset(0); }}>
          <option value="">All</option>
          {STATES.map((s) => <option key={s} value={s}>{stateLabel[s]}</option>)}
        </select>
        <button type="button" onClick={log.reload} disabled={log.loading}>Refresh</button>
        <button type="button" onClick={onClose}>Close</button>
      </div>
      <LoadedView
        load={log}
        what="deliveries"
        failed="The delivery log could not be loaded."
        empty={rows.length === 0 && <Empty>{state ? `No ${stateLabel[state as Delivery['state']].toLowerCase()} deliveries.` : 'Nothing sent yet. Deliveries appear here when a change this webhook listens to happens.'}</Empty>}
      >
        <AdminTable columns={['Event', 'Status', 'Attempts', 'Response', 'Time']} actions>
          {rows.map((d) => {
            const last = d.responses[d.responses.length - 1];
            return (
              <tr key={d._id}>
                <td><code>{d.event}</code><div className="muted small">{d._id}</div></td>
                <td><span className={`badge badge-delivery-${d.state}`}>{stateLabel[d.state]}</span></td>
                <td>{d.attempts}{d.replays > 0 && <span className="muted"> ({d.replays} replay{d.replays === 1 ? '' : 's'})</span>}</td>
                <td>
                  {last ? (
                    <>
                      <span className={last.status >= 200 && last.status < 300 ? 'ok-text' : 'error-text'}>{last.status || 'No answer'}</span>
                      <span className="muted"> · {last.ms} ms</span>
                      {last.error && <div className="muted small wrap-anywhere">{last.error}</div>}
                    </>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
                <td>
                  <DateTime iso={last?.at ?? d.createdAt} />
                  {(d.state === 'pending') && <div className="muted small">next try <DateTime iso={d.nextAttemptAt} /></div>}
                </td>
                <td className="row-actions">
                  <button type="button" disabled={replaying === d._id || d.state === 'sending'} aria-label={`Replay ${d._id}`} onClick={() => void replay(d)}>Replay</button>
                </td>
              </tr>
            );
          })}
        </AdminTable>
        <OffsetPager offset={offset} count={rows.length} total={total} pageSize={PAGE} busy={log.loading} onOffset={setOffset} />
      </LoadedView>
    </section>
  );
}
