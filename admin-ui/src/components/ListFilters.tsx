// Filters of a list, built from the type's fields: enums and booleans as selects, dates as from/to,
// numbers as min/max, and the status of types with drafts. Values become `filter[field][op]=` params.
import { useState } from 'react';
import type { FieldInfo, TypeInfo } from '../types';

export interface FilterControl {
  /** The query parameter, e.g. `filter[rating][gte]`. */
  param: string;
  label: string;
  kind: 'select' | 'date' | 'number';
  options?: { value: string; label: string }[];
  step?: string;
}

const STATUS_OPTIONS = [
  { value: 'draft', label: 'Draft' },
  { value: 'published', label: 'Published' },
  { value: 'changed', label: 'Changed' },
];

function controlsOf(field: FieldInfo): FilterControl[] {
  const p = (op: string) => `filter[${field.name}][${op}]`;
  if (field.enum && (field.type === 'string' || field.type === 'array')) {
    const options = field.enum.map((v) => ({ value: String(v), label: String(v) }));
    return [{ param: p(field.type === 'array' ? 'contains' : 'eq'), label: field.label, kind: 'select', options }];
  }
  if (field.type === 'boolean') {
    return [{ param: p('eq'), label: field.label, kind: 'select', options: [{ value: 'true', label: 'Yes' }, { value: 'false', label: 'No' }] }];
  }
  if (field.type === 'string' && field.format === 'date-time') {
    return [
      { param: p('gte'), label: `${field.label} from`, kind: 'date' },
      { param: p('lte'), label: `${field.label} to`, kind: 'date' },
    ];
  }
  if (field.type === 'number' || field.type === 'integer') {
    const step = field.type === 'integer' ? '1' : 'any';
    return [
      { param: p('gte'), label: `${field.label} min`, kind: 'number', step },
      { param: p('lte'), label: `${field.label} max`, kind: 'number', step },
    ];
  }
  return [];
}

/** The status filter of a type with drafts (shown next to the search, not folded away). */
export function statusControl(type: TypeInfo): FilterControl | undefined {
  return type.drafts ? { param: 'filter[_status][eq]', label: 'Status', kind: 'select', options: STATUS_OPTIONS } : undefined;
}

/** The filters of the type's own fields. */
export function filterControls(type: TypeInfo): FilterControl[] {
  return type.fields.flatMap(controlsOf);
}

/** The query parameters of the filled-in filters (dates from the local picker sent as UTC ISO). */
export function filterQuery(controls: FilterControl[], values: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of controls) {
    const v = values[c.param];
    if (v === undefined || v === '') continue;
    if (c.kind === 'date') {
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) continue;
      // "to" a minute includes that whole minute
      out[c.param] = c.param.endsWith('[lte]') ? new Date(d.getTime() + 59_999).toISOString() : d.toISOString();
    } else out[c.param] = v;
  }
  return out;
}

const idOf = (param: string) => `filter-${param.replace(/[^a-zA-Z0-9_]+/g, '-').replace(/-+$/, '')}`;

export function FilterInput(props: { control: FilterControl; value: string; onChange(value: string): void }) {
  const c = props.control;
  return (
    <div className="filter">
      <label htmlFor={idOf(c.param)}>{c.label}</label>
      {c.kind === 'select' ? (
        <select id={idOf(c.param)} value={props.value} onChange={(e) => props.onChange(e.target.value)}>
          <option value="">Any</option>
          {c.options?.map((o) => (
            <option key={o.value} value={o.value}>{o.label}</option>
          ))}
        </select>
      ) : (
        <input id={idOf(c.param)} type={c.kind === 'date' ? 'datetime-local' : 'number'} step={c.step} value={props.value} onChange={(e) => props.onChange(e.target.value)} />
      )}
    </div>
  );
}

/** `onChange(values, now)`: `now` is true for a choice (a select, clearing), false while typing. */
export function ListFilters(props: { controls: FilterControl[]; values: Record<string, string>; onChange(values: Record<string, string>, now: boolean): void }) {
  const { controls, values, onChange } = props;
  const active = controls.filter((c) => values[c.param]).length;
  // open at first when filters are set (a list reopened from its URL); then as the editor leaves it
  const [openAtFirst] = useState(active > 0);
  if (!controls.length) return null;
  const set = (c: FilterControl, value: string) => onChange({ ...values, [c.param]: value }, c.kind === 'select');
  return (
    <details className="list-filters" open={openAtFirst || undefined}>
      <summary>Filters{active ? ` (${active})` : ''}</summary>
      <div className="filter-grid">
        {controls.map((c) => (
          <FilterInput key={c.param} control={c} value={values[c.param] ?? ''} onChange={(v) => set(c, v)} />
        ))}
      </div>
      {active > 0 && (
        <button type="button" className="link-button" onClick={() => onChange(Object.fromEntries(Object.entries(values).filter(([k]) => !controls.some((c) => c.param === k))), true)}>
          Clear filters
        </button>
      )}
    </details>
  );
}
