// Scheduled publish / unpublish of one entry: the pending list (with cancel) and the "Schedule…" dialog.
import { useId, useState } from 'react';
import { api, ApiError } from '../api';
import { messageOf, useToast } from '../toasts';
import { fromLocalInput, timeZone } from '../widgets/basic';
import { formatDate } from '../format';
import { useLoad } from '../hooks';
import { Dialog } from './Dialog';

export interface Schedule {
  _id: string;
  type: string;
  entryId: string;
  action: 'publish' | 'unpublish';
  at: string;
  state: string;
  error?: { code: string; message: string };
}

export function PendingSchedules(props: { type: string; entryId: string; refreshKey: number; canCancel: boolean }) {
  const { type, entryId, refreshKey, canCancel } = props;
  const toast = useToast();
  const schedules = useLoad(
    async (signal) => {
      // a singleton's id is its type name, which the entry filter does not take: filter here instead
      const entry = /^[0-9a-f]{24}$/i.test(entryId) ? entryId : undefined;
      const mine = (s: Schedule) => s.entryId === entryId;
      const [p, f] = await Promise.all([
        api<{ data: Schedule[] }>('/api/schedules', { query: { type, entry, state: 'pending' }, signal }),
        api<{ data: Schedule[] }>('/api/schedules', { query: { type, entry, state: 'failed' }, signal }),
      ]);
      return { pending: p.data.filter(mine), failed: f.data.filter(mine).slice(-1) };
    },
    [type, entryId, refreshKey],
  );
  const list = schedules.data?.pending ?? [];
  const failed = schedules.data?.failed ?? [];
  const cancel = async (s: Schedule) => {
    try {
      await api(`/api/schedules/${s._id}`, { method: 'DELETE' });
      toast.success(`Cancelled the scheduled ${s.action}`);
    } catch (e) {
      toast.error(e);
    }
    schedules.reload();
  };
  if (schedules.error) {
    return (
      <p className="schedules field-error" role="alert">
        The schedules of this entry could not be loaded: {messageOf(schedules.error)}{' '}
        <button type="button" onClick={schedules.reload}>
          Try again
        </button>
      </p>
    );
  }
  if (list.length === 0 && failed.length === 0) return null;
  return (
    <div className="schedules" aria-label="Schedules">
      {list.map((s) => (
        <p key={s._id} className="schedule-item">
          <span>
            Scheduled to {s.action} on <strong>{formatDate(s.at, '—')}</strong>
          </span>{' '}
          {canCancel && (
            <button type="button" onClick={() => void cancel(s)}>
              Cancel schedule
            </button>
          )}
        </p>
      ))}
      {failed.map((s) => (
        <p key={s._id} className="schedule-item field-error">
          The scheduled {s.action} of {formatDate(s.at, '—')} failed{s.error ? `: ${s.error.message}` : ''}.
        </p>
      ))}
    </div>
  );
}

export function ScheduleDialog(props: { base: string; defaultAction: 'publish' | 'unpublish'; onDone(s: Schedule): void; onClose(): void }) {
  const { base, defaultAction, onDone, onClose } = props;
  const toast = useToast();
  const id = useId();
  const [when, setWhen] = useState('');
  const [action, setAction] = useState<'publish' | 'unpublish'>(defaultAction);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    const at = fromLocalInput(when);
    if (!at) {
      setError('Choose a date and time.');
      return;
    }
    if (new Date(at).getTime() <= Date.now()) {
      setError('Choose a time in the future.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const res = await api<{ data: Schedule }>(`${base}/schedules`, { method: 'POST', body: { action, at } });
      toast.success(`Scheduled to ${action} on ${formatDate(res.data.at, '—')}`);
      onDone(res.data);
    } catch (e) {
      setError(e instanceof ApiError && e.details[0] ? `${e.message} (${e.details[0].message})` : messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="Schedule" onClose={onClose}>
      <form
        className="schedule-form"
        onSubmit={(e) => {
          e.preventDefault();
          e.stopPropagation();
          void submit();
        }}
      >
        <label htmlFor={`${id}-action`}>Action</label>
        <select id={`${id}-action`} value={action} onChange={(e) => setAction(e.target.value as 'publish' | 'unpublish')}>
          <option value="publish">Publish</option>
          <option value="unpublish">Unpublish</option>
        </select>
        <label htmlFor={`${id}-at`}>When</label>
        <input id={`${id}-at`} type="datetime-local" value={when} onChange={(e) => setWhen(e.target.value)} required aria-describedby={`${id}-tz`} />
        <p className="help" id={`${id}-tz`}>
          In your time zone ({timeZone}). A scheduled publish publishes the draft as it is then.
        </p>
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-buttons">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Scheduling…' : 'Add schedule'}
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
