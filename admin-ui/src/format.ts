// Small formatting helpers shared by every screen: sizes, dates, entry status and names, list toggles.
import type { TypeInfo } from './types';

/** 1536 → "1.5 KB". */
export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** A date and time in the browser's locale; `fallback` when there is none. */
export function formatDate(iso: string | undefined | null, fallback = ''): string {
  if (!iso) return fallback;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** The words on an entry's status badge. */
export const STATUS_TEXT: Record<string, string> = { draft: 'Draft', published: 'Published', changed: 'Changed' };

/**
 * The value of an entry's display field as text ('' when it has none). A localized display field
 * comes as {locale: value}: the given locale's value, else the first one filled in.
 */
export function displayValue(entry: Record<string, unknown> | null | undefined, type: TypeInfo | undefined, locale?: string): string {
  if (!entry) return '';
  const field = type?.displayField;
  let v = field ? entry[field] : undefined;
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const per = v as Record<string, unknown>;
    v = (locale ? per[locale] : undefined) ?? Object.values(per).find((x) => typeof x === 'string' && x.trim());
  }
  if (typeof v === 'string' && v.trim()) return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

/** What names an entry: its display field, else its id. */
export function entryTitle(entry: Record<string, unknown> | null | undefined, type: TypeInfo | undefined, locale?: string): string {
  if (!entry) return '';
  return displayValue(entry, type, locale) || String(entry._id ?? '');
}

/** `list` with `value` in it (`on`) or not, each value at most once. */
export function toggleIn<T>(list: T[], value: T, on: boolean): T[] {
  const rest = list.filter((x) => x !== value);
  return on ? [...rest, value] : rest;
}
