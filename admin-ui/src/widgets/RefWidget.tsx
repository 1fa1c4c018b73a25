// A reference to another entry: shows the chosen entry's display field, searches the target type by it.
import type { WidgetProps } from '@rjsf/utils';
import { useEffect, useState } from 'react';
import { api, readCached } from '../api';
import { entryTitle } from '../format';
import { messageOf } from '../toasts';
import type { Entry, ListResponse } from '../types';
import type { EditContext } from './context';

const cache = new Map<string, Promise<Entry | null>>();

/** One entry by id (drafts included), remembered for the page's lifetime. */
export function fetchEntry(type: string, id: string): Promise<Entry | null> {
  return readCached(cache, `${type}/${id}`, `/api/content/${encodeURIComponent(type)}/${encodeURIComponent(id)}`, { query: { preview: 'true' } });
}

export function RefWidget(props: WidgetProps) {
  const { id, value, disabled, readonly, onChange, options, registry, label } = props;
  const ctx = registry.formContext as EditContext | undefined;
  const targetId = String(options.ref ?? '');
  const target = ctx?.typeById(targetId);
  const targetTitle = target?.title ?? targetId;
  const chosen = typeof value === 'string' && value ? value : undefined;
  const [chosenEntry, setChosenEntry] = useState<Entry | null | undefined>(undefined);
  // the chosen entry could not be read (network, server): not the same as "it does not exist"
  const [chosenError, setChosenError] = useState<string | null>(null);
  const [q, setQ] = useState('');
  const [results, setResults] = useState<Entry[] | null>(null);
  const [searching, setSearching] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState(false);

  useEffect(() => {
    let live = true;
    setChosenEntry(undefined);
    setChosenError(null);
    if (!chosen) return;
    fetchEntry(targetId, chosen)
      .then((e) => live && setChosenEntry(e))
      .catch((e: unknown) => {
        if (!live) return;
        setChosenError(messageOf(e));
        setChosenEntry(null);
      });
    return () => {
      live = false;
    };
  }, [targetId, chosen]);

  useEffect(() => {
    if (!open) return;
    const controller = new AbortController();
    const timer = setTimeout(() => {
      setSearching(true);
      setError(null);
      const query: Record<string, string> = { preview: 'true', limit: '10' };
      const text = q.trim();
      if (text && target?.displayField) query[`filter[${target.displayField}][contains]`] = text;
      else if (text && /^[0-9a-f]{24}$/i.test(text)) query['filter[_id]'] = text;
      if (!text) query.sort = '-_updatedAt';
      api<ListResponse<Entry>>(`/api/content/${encodeURIComponent(targetId)}`, { query, signal: controller.signal })
        .then((r) => setResults(r.data))
        .catch((e) => {
          if ((e as Error).name === 'AbortError') return;
          setResults([]);
          setError(e instanceof Error ? e.message : String(e));
        })
        .finally(() => setSearching(false));
    }, 250);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [q, open, targetId, target?.displayField]);

  const pick = (entry: Entry) => {
    cache.set(`${targetId}/${entry._id}`, Promise.resolve(entry));
    onChange(entry._id);
    setQ('');
    setOpen(false);
    setResults(null);
  };

  const locale = ctx?.defaultLocale;
  const chosenText = !chosen
    ? 'None chosen'
    : chosenEntry === undefined
      ? 'Loading…'
      : chosenError !== null
        ? `The chosen entry could not be loaded: ${chosenError}`
        : chosenEntry === null
          ? `Missing or unpublished entry (${chosen})`
          : entryTitle(chosenEntry, target, locale);

  return (
    <div className="ref-picker">
      <div className="ref-chosen">
        <span className={chosen ? 'ref-value' : 'ref-value ref-none'} aria-live="polite">
          {chosenText}
        </span>
        {chosen && chosenEntry && !target?.singleton && (
          <a href={`/admin/content/${targetId}/${chosen}`} target="_blank" rel="noopener" className="ref-open">
            Open
          </a>
        )}
        {chosen && !readonly && !disabled && (
          <button type="button" onClick={() => onChange(undefined)} aria-label={`Clear ${label || targetTitle}`}>
            Clear
          </button>
        )}
      </div>
      {!readonly && !disabled && (
        <div className="ref-search">
          <label htmlFor={id} className="sub-label">
            Search {targetTitle}
          </label>
          <input
            id={id}
            type="search"
            autoComplete="off"
            value={q}
            placeholder={target?.displayField ? `Type to search by ${target.displayField}` : 'Type to search'}
            onFocus={() => setOpen(true)}
            onChange={(e) => {
              setQ(e.target.value);
              setOpen(true);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Escape') setOpen(false);
              if (e.key === 'Enter') e.preventDefault();
            }}
          />
          {open && (
            <div className="ref-results" role="group" aria-label={`${targetTitle} results`}>
              {searching && results === null && <p className="help">Searching…</p>}
              {error && <p className="field-error">{error}</p>}
              {results && results.length === 0 && !error && <p className="help">No {targetTitle} found{q.trim() ? ` for “${q.trim()}”` : ''}.</p>}
              {results?.map((r) => (
                <button type="button" key={r._id} className={r._id === chosen ? 'ref-option selected' : 'ref-option'} onClick={() => pick(r)}>
                  {entryTitle(r, target, locale)}
                  {r._status && r._status !== 'published' ? <small className="help"> ({r._status})</small> : null}
                </button>
              ))}
            </div>
          )}
        </div>
      )}
    </div>
  );
}
