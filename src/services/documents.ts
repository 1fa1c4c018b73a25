// Checks and shapes an entry's fields before they are stored: no operator or prototype keys, no
// system fields, the type's schema (every failing path at once), and date-times normalized to UTC.
import type { ErrorObject } from 'ajv';
import type { SchemaNode } from '../content-types/fields.js';
import type { ContentType } from '../content-types/registry.js';
import { codes, invalid, type ErrorDetail } from '../errors.js';

export type Fields = Record<string, unknown>;

const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/** Keys that could act as query syntax or reach a prototype: `$…`, dotted, NUL, `__proto__`. */
export function forbiddenKeys(value: unknown, pointer = '', out: ErrorDetail[] = []): ErrorDetail[] {
  if (Array.isArray(value)) {
    value.forEach((item, i) => forbiddenKeys(item, `${pointer}/${i}`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      const path = `${pointer}/${escapePointer(key)}`;
      if (key.startsWith('$') || key.includes('.') || key.includes('\u0000') || FORBIDDEN_NAMES.has(key)) {
        out.push({ path, message: `key "${key}" is not allowed (no $-prefixed, dotted or prototype keys)` });
      } else {
        forbiddenKeys((value as Record<string, unknown>)[key], path, out);
      }
    }
  }
  return out;
}

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

function detailOf(e: ErrorObject): ErrorDetail {
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

/** Rewrites date-time strings as UTC ISO-8601 with milliseconds, so they compare and sort correctly. */
export function normalizeDates(schema: SchemaNode | undefined, value: unknown): unknown {
  if (!schema || value === null || value === undefined) return value;
  if (typeof value === 'string' && schema.format === 'date-time') {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? value : d.toISOString();
  }
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
