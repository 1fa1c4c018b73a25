// Checks and shapes an entry's fields before they are stored: no operator or prototype keys, no
// system fields, the type's schema (every failing path at once), and date-times normalized to UTC.
import type { ErrorObject } from 'ajv';
import type { SchemaNode } from '../content-types/fields.js';
import type { ContentType } from '../content-types/registry.js';
import { codes, invalid, type ErrorDetail } from '../errors.js';
import { escapePointer, forbiddenKeys } from '../json.js';

export type Fields = Record<string, unknown>;

export interface Prepared {
  fields: Fields;
  /** `_version` from the body, as an optimistic-concurrency precondition. */
  version?: number;
}

/** Checks the shape of a write body; the schema is checked separately, on the final document. */
export function prepareBody(body: unknown, options: { allowVersion: boolean }): Prepared {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid(codes.entryValidation, 'The body must be a JSON object of the entry\'s fields', [
      { path: '', message: 'must be an object' },
    ]);
  }
  const forbidden = forbiddenKeys(body);
  if (forbidden.length) throw invalid(codes.bodyForbiddenKey, 'The body contains keys that are not allowed', forbidden);
  const fields: Fields = {};
  const system: ErrorDetail[] = [];
  let version: number | undefined;
  for (const [key, value] of Object.entries(body)) {
    if (key === '_version' && options.allowVersion) {
      if (!Number.isSafeInteger(value) || (value as number) < 1) {
        throw invalid(codes.entryBadPrecondition, '_version must be a positive integer', [{ path: '/_version', message: 'must be a positive integer' }]);
      }
      version = value as number;
    } else if (key.startsWith('_')) {
      system.push({ path: `/${escapePointer(key)}`, message: 'system fields are set by the server' });
    } else {
      fields[key] = value;
    }
  }
  if (system.length) {
    throw invalid(codes.entrySystemField, `The server owns the system fields: ${system.map((s) => s.path.slice(1)).join(', ')}`, system);
  }
  return version === undefined ? { fields } : { fields, version };
}

export function detailOf(e: ErrorObject): ErrorDetail {
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty);
      return { path: `${e.instancePath}/${escapePointer(key)}`, message: 'unknown field' };
    }
    case 'required':
      return { path: `${e.instancePath}/${escapePointer(String(e.params.missingProperty))}`, message: 'is required' };
    case 'enum':
      return { path: e.instancePath, message: `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}` };
    default:
      return { path: e.instancePath, message: e.message ?? 'is invalid' };
  }
}

/** Validates the complete fields of an entry against its type (defaults are filled in). */
export function validateFields(type: ContentType, fields: Fields): void {
  if (type.validate(fields)) return;
  const details = (type.validate.errors ?? []).map(detailOf);
  throw invalid(codes.entryValidation, `The entry does not match type "${type.id}" (${details.length} problem${details.length === 1 ? '' : 's'})`, details);
}

// RFC 3339 as the `date-time` format accepts it (offset `+01`, `+0100` or `+01:00`; separator T, t or
// a space; leap second :60), or a plain date. A time always carries its offset.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt\s](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2})(?::?(\d{2}))?))?$/;
const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * A date-time (or a date: midnight UTC) as UTC ISO-8601 with milliseconds; undefined when it is not
 * one. Parsed here rather than by `new Date`, which returns NaN for offsets like `+01` and leap
 * seconds, reads a time without offset as server-local, and accepts garbage such as "2024-01-10x".
 * A leap second (23:59:60) becomes 23:59:59.999.
 */
export function toUtcIso(value: string): string | undefined {
  const m = DATE_TIME.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number];
  const leapYear = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (mo < 1 || mo > 12 || d < 1 || d > (mo === 2 && !leapYear ? 28 : DAYS[mo - 1]!)) return undefined;
  const offH = Number(m[9] ?? 0);
  const offM = Number(m[10] ?? 0);
  if (h > 23 || mi > 59 || s > 60 || offH > 23 || offM > 59) return undefined;
  const ms = s === 60 ? 999 : Number((m[7] ?? '').slice(0, 3).padEnd(3, '0'));
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, Math.min(s, 59), ms);
  const offset = (m[8] === '-' ? -1 : 1) * (offH * 60 + offM);
  return new Date(date.getTime() - offset * 60_000).toISOString();
}

/** Rewrites date-time strings as UTC ISO-8601 with milliseconds, so they compare and sort correctly. */
export function normalizeDates(schema: SchemaNode | undefined, value: unknown): unknown {
  if (!schema || value === null || value === undefined) return value;
  if (typeof value === 'string' && schema.format === 'date-time') return toUtcIso(value) ?? value;
  if (Array.isArray(value) && schema.items) return value.map((v) => normalizeDates(schema.items, v));
  if (typeof value === 'object' && !Array.isArray(value) && schema.properties) {
    const obj = value as Fields;
    for (const [k, child] of Object.entries(schema.properties)) {
      if (k in obj) obj[k] = normalizeDates(child, obj[k]);
    }
  }
  return value;
}

/** JSON Merge Patch (RFC 7396): null removes a member, objects merge, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base: Fields = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Fields) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete base[key];
    else base[key] = mergePatch(base[key], value);
  }
  return base;
}

/** Removes private fields (wherever they sit) and `_createdBy`, for clients that may not see them. */
export function redactPrivate(type: ContentType, entry: Record<string, unknown>): void {
  delete entry._createdBy;
  for (const field of type.privatePaths) {
    const parts = field.split('.');
    let target: unknown = entry;
    for (const part of parts.slice(0, -1)) target = target && typeof target === 'object' ? (target as Record<string, unknown>)[part] : undefined;
    if (target && typeof target === 'object') delete (target as Record<string, unknown>)[parts[parts.length - 1]!];
  }
}
