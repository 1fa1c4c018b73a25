// Localized fields: stored as `{ "<locale>": value, … }`, read flattened to one locale (with its
// fallbacks) or whole (`locale=*`), written whole or one locale at a time (`?locale=fr`).
import type { LocaleConfig } from '../config.js';
import type { ContentType } from '../content-types/registry.js';
import { codes, invalid } from '../errors.js';
import type { Fields } from './documents.js';
import { isObject, same } from '../json.js';

export const ALL_LOCALES = '*';

export class Locales {
  constructor(readonly config: LocaleConfig) {}

  get default(): string {
    return this.config.default;
  }

  /** `?locale=` of a read: a configured locale or `*`; the default when absent. */
  forRead(raw: unknown): string {
    if (raw === undefined) return this.config.default;
    if (raw === ALL_LOCALES) return raw;
    return this.check(raw, true);
  }

  /** `?locale=` of a write: a configured locale, or undefined (the body holds every locale). */
  forWrite(raw: unknown): string | undefined {
    if (raw === undefined) return undefined;
    return this.check(raw, false);
  }

  private check(raw: unknown, allowAll: boolean): string {
    if (typeof raw !== 'string') throw invalid(codes.queryBadValue, 'locale is given more than once', [{ path: 'locale', message: 'given more than once' }]);
    if (!this.config.locales.includes(raw)) {
      const allowed = [...this.config.locales, ...(allowAll ? [ALL_LOCALES] : [])].join(', ');
      throw invalid(codes.localeUnknown, `Unknown locale "${raw.slice(0, 35)}": the locales are ${allowed}`, [{ path: 'locale', message: `unknown locale; one of ${allowed}` }]);
    }
    return raw;
  }

  /** Replaces each localized field by its value in `locale`, or the first fallback that has one. */
  flatten(type: ContentType, entry: Record<string, unknown>, locale: string): void {
    if (!type.localized.length || locale === ALL_LOCALES) return;
    const chain = [locale, ...(this.config.chains[locale] ?? [])];
    for (const field of type.localized) {
      const values = entry[field];
      if (!isObject(values)) continue;
      const hit = chain.find((l) => values[l] !== undefined);
      if (hit === undefined) delete entry[field];
      else entry[field] = values[hit];
    }
    entry._locale = locale;
  }

  /**
   * A write body as stored fields. With a locale, each localized field in the body is that locale's
   * value: it replaces (put) or patches (patch) that locale only, keeping the others. Without one, a
   * localized field must be an object of values by locale.
   */
  toStored(type: ContentType, fields: Fields, locale: string | undefined, current: Fields | null, mode: 'put' | 'patch'): Fields {
    if (!type.localized.length) return fields;
    if (locale === undefined) {
      for (const field of type.localized) {
        const value = fields[field];
        if (value !== undefined && value !== null && !isObject(value)) {
          throw invalid(codes.entryValidation, `"${field}" is localized: send an object of values by locale, e.g. {"${this.default}": …}, or one locale's value with ?locale=`, [
            { path: `/${field}`, message: 'is localized: must be an object of values by locale' },
          ]);
        }
      }
      return fields;
    }
    for (const field of type.localized) {
      if (mode === 'patch') {
        if (field in fields) fields[field] = { [locale]: fields[field] };
        continue;
      }
      const values: Record<string, unknown> = isObject(current?.[field]) ? { ...(current![field] as Record<string, unknown>) } : {};
      if (field in fields) values[locale] = fields[field];
      else delete values[locale];
      if (Object.keys(values).length) fields[field] = values;
      else delete fields[field];
    }
    return fields;
  }

  /** A localized field whose last value a patch removed is no field at all (as a PUT leaves it). */
  dropEmpty(type: ContentType, fields: Fields): Fields {
    for (const field of type.localized) {
      const value = fields[field];
      if (isObject(value) && !Object.keys(value).length) delete fields[field];
    }
    return fields;
  }

  /** The locales a change touched: `*` when a field that is not localized changed. */
  touched(type: ContentType, before: Fields, after: Fields, changed: string[]): string[] {
    if (!changed.length) return [];
    if (changed.some((f) => !type.localized.includes(f))) return [ALL_LOCALES];
    const out = new Set<string>();
    for (const field of changed) {
      const a = isObject(before[field]) ? before[field] : {};
      const b = isObject(after[field]) ? after[field] : {};
      for (const l of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (!same(a[l], b[l])) out.add(l);
      }
    }
    return [...out].sort();
  }
}
