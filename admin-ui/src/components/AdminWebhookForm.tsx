// Create or edit a webhook: URL, events, an optional content-type filter, on/off, description.
import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { toggleIn } from '../format';
import { useSession } from '../session';
import { useToast } from '../toasts';
import { FieldError, useFormSubmit } from './AdminCommon';

export interface Webhook {
  _id: string;
  url: string;
  events: string[];
  types?: string[];
  enabled: boolean;
  description: string;
  createdAt: string;
  updatedAt: string;
}

const GROUPS: { title: string; noun: string; all: string; events: { value: string; help: string }[] }[] = [
  {
    title: 'Entries',
    noun: 'entry',
    all: 'entry.*',
    events: [
      { value: 'entry.create', help: 'created' },
      { value: 'entry.update', help: 'changed' },
      { value: 'entry.delete', help: 'deleted' },
      { value: 'entry.publish', help: 'published' },
      { value: 'entry.unpublish', help: 'unpublished' },
      { value: 'entry.discard', help: 'draft discarded' },
      { value: 'entry.restore', help: 'version restored' },
    ],
  },
  {
    title: 'Media',
    noun: 'media',
    all: 'media.*',
    events: [
      { value: 'media.create', help: 'uploaded' },
      { value: 'media.update', help: 'details changed' },
      { value: 'media.delete', help: 'deleted' },
    ],
  },
];

export function AdminWebhookForm({ webhook, onSaved, onCancel }: { webhook?: Webhook | undefined; onSaved(w: Webhook, secret?: string): void; onCancel(): void }) {
  const toast = useToast();
  const { types } = useSession();
  const [url, setUrl] = useState(webhook?.url ?? '');
  const [description, setDescription] = useState(webhook?.description ?? '');
  const [events, setEvents] = useState<string[]>(webhook?.events ?? ['site.publish']);
  const [limitTypes, setLimitTypes] = useState<string[]>(webhook?.types ?? []);
  const [enabled, setEnabled] = useState(webhook?.enabled ?? true);
  const { errors, saving, submit: send } = useFormSubmit();
  const prefix = webhook ? `hook-${webhook._id}` : 'hook-new';

  const toggle = (value: string, on: boolean) => setEvents((list) => toggleIn(list, value, on));
  const toggleAll = (group: (typeof GROUPS)[number], on: boolean) =>
    // the wildcard stands for every event of its group, so the single ones are dropped
    setEvents((list) => (on ? [...list.filter((x) => !group.events.some((e) => e.value === x) && x !== group.all), group.all] : list.filter((x) => x !== group.all)));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!url.trim()) local['/url'] = 'Enter the URL to call';
    else if (!/^https?:\/\//i.test(url.trim())) local['/url'] = 'Must start with http:// or https://';
    if (!events.length) local['/events'] = 'Choose at least one event';
    await send(local, async () => {
      if (!webhook) {
        const body = { url: url.trim(), events, enabled, description: description.trim(), ...(limitTypes.length ? { types: limitTypes } : {}) };
        const res = await api<{ data: Webhook; secret: string }>('/api/webhooks', { method: 'POST', body });
        onSaved(res.data, res.secret);
      } else {
        // send only what changed
        const body: Record<string, unknown> = {};
        if (url.trim() !== webhook.url) body.url = url.trim();
        if (description.trim() !== webhook.description) body.description = description.trim();
        if (JSON.stringify([...events].sort()) !== JSON.stringify([...webhook.events].sort())) body.events = events;
        if (JSON.stringify([...limitTypes].sort()) !== JSON.stringify([...(webhook.types ?? [])].sort())) body.types = limitTypes.length ? limitTypes : null;
        if (enabled !== webhook.enabled) body.enabled = enabled;
        if (!Object.keys(body).length) {
          onCancel();
          toast.info('Nothing changed');
          return;
        }
        const res = await api<{ data: Webhook }>(`/api/webhooks/${webhook._id}`, { method: 'PATCH', body });
        onSaved(res.data);
      }
    });
  };

  const check = (value: string, label: string, disabled = false) => (
    <label key={value} className="check">
      <input type="checkbox" checked={disabled || events.includes(value)} disabled={disabled} onChange={(e) => toggle(value, e.target.checked)} />
      <span>{label}</span>
    </label>
  );

  return (
    <form className="panel admin-form" onSubmit={submit} noValidate aria-labelledby={`${prefix}-title`}>
      <h2 id={`${prefix}-title`}>{webhook ? 'Edit webhook' : 'New webhook'}</h2>
      <div className="form-grid">
        <div className="span-2">
          <label htmlFor={`${prefix}-url`}>URL</label>
          <input id={`${prefix}-url`} type="url" inputMode="url" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://build.example.com/hooks/cms" aria-invalid={!!errors['/url']} className="wide" />
          <FieldError id={`${prefix}-url-error`} message={errors['/url']} />
        </div>
        <div className="span-2">
          <label htmlFor={`${prefix}-description`}>Description (optional)</label>
          <input id={`${prefix}-description`} value={description} maxLength={500} onChange={(e) => setDescription(e.target.value)} className="wide" />
          <FieldError id={`${prefix}-description-error`} message={errors['/description']} />
        </div>
      </div>
      <fieldset className="checks">
        <legend>Events</legend>
        <div className="event-groups">
          <div>
            <h3>Site</h3>
            {check('site.publish', 'site.publish — once per burst of published changes (rebuild a static site)')}
          </div>
          {GROUPS.map((g) => {
            const all = events.includes(g.all);
            return (
              <div key={g.all}>
                <h3>{g.title}</h3>
                <label className="check">
                  <input type="checkbox" checked={all} onChange={(e) => toggleAll(g, e.target.checked)} />
                  <span>{g.all} — every {g.noun} event</span>
                </label>
                {g.events.map((ev) => check(ev.value, `${ev.value} — ${ev.help}`, all))}
              </div>
            );
          })}
        </div>
        <FieldError id={`${prefix}-events-error`} message={errors['/events']} />
      </fieldset>
      {types.length > 0 && (
        <fieldset className="checks">
          <legend>Content types (optional)</legend>
          <p className="hint">Only entry changes of the ticked types count (media events are not filtered). Leave all unticked for every type.</p>
          {types.map((t) => (
            <label key={t.id} className="check">
              <input type="checkbox" checked={limitTypes.includes(t.id)} onChange={(e) => setLimitTypes((l) => (e.target.checked ? [...l, t.id] : l.filter((x) => x !== t.id)))} />
              <span>{t.title}</span>
            </label>
          ))}
          <FieldError id={`${prefix}-types-error`} message={errors['/types']} />
        </fieldset>
      )}
      <label className="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
        <span>Active</span>
      </label>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={saving}>{saving ? 'Saving…' : webhook ? 'Save webhook' : 'Create webhook'}</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
