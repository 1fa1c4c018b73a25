// The history panel: an entry's versions, a field-by-field comparison with the current version, restore.
import { useCallback, useEffect, useMemo, useState } from 'react';
import { api } from '../api';
import { formatDate } from '../format';
import { useUserNames } from '../hooks';
import { useSession } from '../session';
import { messageOf, useToast } from '../toasts';
import type { TypeInfo } from '../types';
import { labelOf, stableJson } from '../widgets/schema';
import { useConfirm } from './Dialog';

export interface VersionSummary {
  version: number;
  action: string;
  at: string;
  by?: string;
  from?: number;
  schedule?: string;
}

interface FieldChange {
  path: string;
  op: 'added' | 'removed' | 'changed';
  from?: unknown;
  to?: unknown;
}

const ACTIONS: Record<string, string> = {
  create: 'Created',
  update: 'Saved',
  publish: 'Published',
  unpublish: 'Unpublished',
  discard: 'Changes discarded',
  restore: 'Restored',
  delete: 'Deleted',
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Leaf values under a path: objects (and arrays of objects) become nested paths. */
function leaves(v: unknown, prefix: string, out = new Map<string, unknown>()): Map<string, unknown> {
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0) out.set(prefix, undefined);
    for (const k of keys) leaves(v[k], `${prefix}/${k}`, out);
  } else if (Array.isArray(v) && v.some((x) => isObject(x) || Array.isArray(x))) {
    v.forEach((x, i) => leaves(x, `${prefix}/${i}`, out));
  } else out.set(prefix, v);
  return out;
}

/** "/seo/title" → "Seo › Title"; "/title/fr" (localized) → "Title (fr)"; "/tags/2" → "Tags › 3". */
function pathLabel(path: string, type: TypeInfo): string {
  const parts = path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const props = (type.schema as { properties?: Record<string, unknown> }).properties ?? {};
  const top = parts[0] ?? '';
  const field = type.fields.find((f) => f.name === top);
  const out = [field?.label || labelOf(top, props[top])];
  let rest = parts.slice(1);
  if (field?.localized && rest.length) {
    out[0] = `${out[0]} (${rest[0]})`;
    rest = rest.slice(1);
  }
  let schema: unknown = props[top];
  for (const p of rest) {
    if (/^\d+$/.test(p)) {
      out.push(String(Number(p) + 1));
      schema = isObject(schema) ? schema.items : undefined;
    } else {
      const sub = isObject(schema) && isObject(schema.properties) ? schema.properties[p] : undefined;
      out.push(labelOf(p, sub));
      schema = sub;
    }
  }
  return out.join(' › ');
}

function Value({ v }: { v: unknown }) {
  if (v === undefined || v === null || v === '') return <span className="diff-none">—</span>;
  if (typeof v === 'boolean') return <>{v ? 'Yes' : 'No'}</>;
  if (Array.isArray(v)) return v.length ? <>{v.map((x) => (typeof x === 'string' ? x : stableJson(x))).join(', ')}</> : <span className="diff-none">(empty list)</span>;
  if (typeof v === 'string') return <span className="diff-text">{v}</span>;
  return <>{String(v)}</>;
}

export function VersionHistory(props: {
  /** /api/content/<type>/<id>, or /api/content/<singleton> */
  base: string;
  type: TypeInfo;
  currentVersion: number;
  dirty: boolean;
  canRestore: boolean;
  onRestored(version: number): void;
  onClose(): void;
}) {
  const { base, type, currentVersion, dirty, canRestore, onRestored, onClose } = props;
  const { me } = useSession();
  const toast = useToast();
  const [versions, setVersions] = useState<VersionSummary[] | null>(null);
  const [nextBefore, setNextBefore] = useState<number | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [diff, setDiff] = useState<{ from: number; to: number; changes: FieldChange[] } | null>(null);
  const [diffLoading, setDiffLoading] = useState(false);
  const [restoring, setRestoring] = useState(false);
  const [confirm, confirmDialog] = useConfirm();
  const names = useUserNames();
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(
    async (before?: number) => {
      try {
        const res = await api<{ data: VersionSummary[]; meta: { nextBefore: number | null } }>(`${base}/versions`, { query: { limit: 30, before } });
        setVersions((old) => (before && old ? [...old, ...res.data] : res.data));
        setNextBefore(res.meta.nextBefore);
        setError(null);
      } catch (e) {
        setError(messageOf(e));
        if (!before) setVersions([]);
      }
    },
    [base],
  );

  useEffect(() => {
    setSelected(null);
    setDiff(null);
    void load();
  }, [load, currentVersion]);

  const who = (by?: string) => {
    if (!by) return '';
    if (by === me?._id) return 'you';
    const name = names.get(by);
    if (name) return name;
    if (by.startsWith('token:')) return 'an API token';
    if (by.startsWith('schedule:')) return 'a schedule';
    if (by === 'system') return 'the system';
    return 'another user';
  };

  const compare = async (n: number) => {
    setDiffLoading(true);
    setDiff(null);
    try {
      const res = await api<{ data: { from: number; to: number; changes: FieldChange[] } }>(`${base}/versions/diff`, { query: { from: n, to: currentVersion } });
      setDiff(res.data);
    } catch (e) {
      toast.error(e);
    } finally {
      setDiffLoading(false);
    }
  };

  const select = (n: number) => {
    setSelected(n);
    void compare(n);
  };

  const restore = async (n: number) => {
    const ok = await confirm({
      title: `Restore version ${n}?`,
      message: (
        <p>
          Restore version {n}? Your current draft is kept in the history.
          {dirty ? ' The changes you have not saved in the form are lost.' : ''}
        </p>
      ),
      confirmLabel: 'Restore',
      danger: dirty,
    });
    if (!ok) return;
    setRestoring(true);
    try {
      await api(`${base}/versions/${n}/restore`, { method: 'POST', ifMatch: currentVersion });
      onRestored(n);
    } catch (e) {
      toast.error(e);
    } finally {
      setRestoring(false);
    }
  };

  const rows = useMemo(() => {
    if (!diff) return [];
    const out: { key: string; label: string; before: unknown; after: unknown }[] = [];
    for (const c of diff.changes) {
      const a = c.op === 'added' ? new Map<string, unknown>() : leaves(c.from, c.path);
      const b = c.op === 'removed' ? new Map<string, unknown>() : leaves(c.to, c.path);
      for (const p of new Set([...a.keys(), ...b.keys()])) {
        if (stableJson(a.get(p)) === stableJson(b.get(p))) continue;
        out.push({ key: p, label: pathLabel(p, type), before: a.get(p), after: b.get(p) });
      }
    }
    return out;
  }, [diff, type]);

  const sel = versions?.find((v) => v.version === selected);

  return (
    <aside className="history panel" aria-labelledby="history-title">
      <div className="history-head">
        <h2 id="history-title">History</h2>
        <button type="button" className="link" aria-label="Close history" onClick={onClose}>
          ×
        </button>
      </div>
      {error && <p className="field-error" role="alert">{error}</p>}
      {versions === null ? (
        <p className="loading" role="status">Loading versions…</p>
      ) : versions.length === 0 ? (
        <p className="empty">No versions yet.</p>
      ) : (
        <ol className="history-list">
          {versions.map((v) => (
            <li key={v.version} className={v.version === selected ? 'history-item selected' : 'history-item'}>
              <div className="history-item-text">
                <strong>Version {v.version}</strong> {ACTIONS[v.action] ?? v.action}
                {v.version === currentVersion ? ' (current)' : ''}
                <small className="help">
                  {' '}
                  {formatDate(v.at, '—')}
                  {v.by ? ` · by ${who(v.by)}` : ''}
                  {v.from ? ` · from version ${v.from}` : ''}
                </small>
              </div>
              {v.version !== currentVersion && v.action !== 'delete' && (
                <div className="history-item-buttons">
                  <button type="button" onClick={() => select(v.version)} aria-pressed={v.version === selected} title={`Compare version ${v.version} with the current version`}>
                    Compare with current
                  </button>
                  {canRestore && (
                    <button
                      type="button"
                      onClick={() => {
                        setSelected(v.version);
                        void restore(v.version);
                      }}
                      disabled={restoring}
                      title={`Restore version ${v.version}`}
                    >
                      Restore this version
                    </button>
                  )}
                </div>
              )}
            </li>
          ))}
        </ol>
      )}
      {nextBefore && (
        <button type="button" onClick={() => void load(nextBefore)}>
          Older versions
        </button>
      )}
      {sel && (
        <section className="history-detail" aria-label={`Version ${sel.version}`}>
          <h3>Version {sel.version} compared with the current version</h3>
          {diffLoading && <p className="loading" role="status">Comparing…</p>}
          {diff && !diffLoading && (
            rows.length === 0 ? (
              <p className="help">{diff.from === diff.to ? 'This is the current version.' : `No field differs between version ${diff.from} and the current version ${diff.to}.`}</p>
            ) : (
              <table className="diff-table">
                <caption>
                  Changes from version {diff.from} to the current version {diff.to}
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Field</th>
                    <th scope="col">Before (version {diff.from})</th>
                    <th scope="col">After (current, version {diff.to})</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r) => (
                    <tr key={r.key}>
                      <th scope="row">{r.label}</th>
                      <td className="diff-before"><Value v={r.before} /></td>
                      <td className="diff-after"><Value v={r.after} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          )}
        </section>
      )}
      {confirmDialog}
    </aside>
  );
}
