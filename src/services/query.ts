// The list query language: filter[field][op]=value, sort, limit, offset, cursor, fields.
// Everything is checked against the content type and turned into a MongoDB query built only from
// allowlisted operators; client input never reaches the database as syntax.
import { readPath } from '../json.js';
import type { Document, Filter, Sort } from 'mongodb';
import type { FieldInfo, FieldKind } from '../content-types/fields.js';
import type { ContentType } from '../content-types/registry.js';
import { codes, invalid, type ErrorDetail } from '../errors.js';
import type { StoredEntry } from '../storage/entries.js';
import { toUtcIso } from './documents.js';

export const ID_PATTERN = /^[0-9a-f]{24}$/;

export const OPERATORS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'exists', 'contains', 'startsWith'] as const;
export type Operator = (typeof OPERATORS)[number];

/** Operators by field kind (the OpenAPI document lists them from here too). */
export const OPS_BY_KIND: Record<FieldKind, readonly Operator[]> = {
  string: OPERATORS,
  number: ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'exists'],
  integer: ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'exists'],
  boolean: ['eq', 'ne', 'exists'],
  array: ['contains', 'in', 'nin', 'exists'],
  object: ['exists'],
  mixed: ['exists'],
};

const SYSTEM_FIELDS: Record<string, FieldInfo> = {
  _id: { path: '_id', kind: 'string', unique: true, index: true, private: false, required: true, format: 'id' },
  _createdAt: { path: '_createdAt', kind: 'string', unique: false, index: false, private: false, required: true, format: 'date-time' },
  _updatedAt: { path: '_updatedAt', kind: 'string', unique: false, index: false, private: false, required: true, format: 'date-time' },
  _version: { path: '_version', kind: 'integer', unique: false, index: false, private: false, required: true },
  _status: { path: '_status', kind: 'string', unique: false, index: false, private: false, required: true, enum: ['draft', 'published', 'changed'] },
  _publishedAt: { path: '_publishedAt', kind: 'string', unique: false, index: false, private: false, required: false, format: 'date-time' },
};

/** Fields always returned, whatever `fields=` asks for. */
export const ALWAYS_RETURNED = ['_id', '_type', '_version'];

const MAX_IN_VALUES = 100;
const MAX_SORT_KEYS = 4;
const MAX_VALUE_LENGTH = 1000;

export interface ListLimits {
  defaultLimit: number;
  maxLimit: number;
  maxOffset: number;
  /** How many references deep `populate` may go (default 2). */
  maxPopulateDepth?: number;
}

export interface SortKey {
  field: string;
  dir: 1 | -1;
}

export interface ListQuery {
  filter: Filter<StoredEntry>;
  /** The filter plus the cursor's position: what the page reads. */
  pageFilter: Filter<StoredEntry>;
  sort: SortKey[];
  limit: number;
  offset: number;
  /** Fields to return (undefined: all). */
  fields?: string[];
  /** `populate=`, as written: the entries service checks it against the types it crosses. */
  populate?: string;
  /** `fields[<populate path>]=a,b`, as written. */
  populateFields: Record<string, string>;
}

type Scalar = string | number | boolean | null;

const bad = (param: string, message: string, code: string = codes.queryBadValue) =>
  invalid(code, `Invalid query parameter ${param}: ${message}`, [{ path: param, message }]);

// own properties only: `__proto__`, `constructor`, `toString`… are not fields
const systemField = (name: string): FieldInfo | undefined => (Object.hasOwn(SYSTEM_FIELDS, name) ? SYSTEM_FIELDS[name] : undefined);

function fieldOf(type: ContentType, name: string, param: string): FieldInfo {
  const info = systemField(name) ?? type.fields.get(name);
  if (!info) {
    throw invalid(codes.queryUnknownField, `Unknown field "${name}" in ${param}: type "${type.id}" has no such field`, [
      { path: param, message: `unknown field "${name}"` },
    ]);
  }
  return info;
}

function convertScalar(info: FieldInfo, kind: FieldKind, raw: string, param: string, checkEnum: boolean): Scalar {
  if (raw.length > MAX_VALUE_LENGTH) throw bad(param, `value longer than ${MAX_VALUE_LENGTH} characters`);
  const format = kind === info.kind ? info.format : info.itemFormat;
  switch (kind) {
    case 'string': {
      if (format === 'id' && !ID_PATTERN.test(raw)) throw bad(param, `"${raw}" is not an entry id`);
      if (format === 'date-time') {
        const iso = toUtcIso(raw);
        if (iso === undefined) throw bad(param, `"${raw}" is not a date-time (RFC 3339 with an offset, e.g. 2024-05-01T12:00:00Z, or a date)`);
        return iso;
      }
      if (checkEnum && info.enum && !info.enum.includes(raw)) {
        throw bad(param, `"${raw}" is not one of: ${info.enum.join(', ')}`);
      }
      return raw;
    }
    case 'number':
    case 'integer': {
      if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(raw)) throw bad(param, `"${raw}" is not a number`);
      const n = Number(raw);
      if (!Number.isFinite(n)) throw bad(param, `"${raw}" is out of range`);
      if (kind === 'integer' && !Number.isSafeInteger(n)) throw bad(param, `"${raw}" is not an integer`);
      return n;
    }
    case 'boolean':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      throw bad(param, `"${raw}" is not true or false`);
    default:
      throw bad(param, 'this field cannot be compared to a value');
  }
}

// NUL is spelt \x00: MongoDB refuses a regular expression holding a raw NUL byte
const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\0/g, '\\x00');

/** Where a field's value sits: a localized field's value in the queried locale. */
const pathIn = (info: FieldInfo, locale: string) => (info.localized ? `${info.path}.${locale}` : info.path);

function filterClause(type: ContentType, name: string, opRaw: string, raw: string, param: string, locale: string): Document {
  const info = fieldOf(type, name, param);
  if (!(OPERATORS as readonly string[]).includes(opRaw)) {
    throw invalid(codes.queryUnknownOperator, `Unknown operator "${opRaw}" in ${param}`, [
      { path: param, message: `unknown operator "${opRaw}"; allowed: ${OPERATORS.join(', ')}` },
    ]);
  }
  const op = opRaw as Operator;
  if (!OPS_BY_KIND[info.kind].includes(op)) {
    throw invalid(codes.queryUnknownOperator, `Operator "${op}" does not apply to ${info.kind} field "${name}"`, [
      { path: param, message: `operators for a ${info.kind} field: ${OPS_BY_KIND[info.kind].join(', ')}` },
    ]);
  }
  const valueKind: FieldKind = info.kind === 'array' ? (info.itemKind ?? 'mixed') : info.kind;
  const path = pathIn(info, locale);
  if (op === 'exists') {
    if (raw !== 'true' && raw !== 'false') throw bad(param, 'exists takes true or false');
    return { [path]: { $exists: raw === 'true' } };
  }
  if (op === 'in' || op === 'nin') {
    const parts = raw.split(',');
    if (parts.length > MAX_IN_VALUES) throw bad(param, `at most ${MAX_IN_VALUES} values`);
    const values = parts.map((p) => convertScalar(info, valueKind, p, param, true));
    return { [path]: { [op === 'in' ? '$in' : '$nin']: values } };
  }
  if (op === 'contains' && info.kind === 'array') {
    return { [path]: convertScalar(info, valueKind, raw, param, true) };
  }
  if (op === 'contains' || op === 'startsWith') {
    if (info.format === 'date-time' || info.format === 'id') throw bad(param, `${op} does not apply to this field`);
    if (raw === '') throw bad(param, 'must not be empty');
    if (raw.length > MAX_VALUE_LENGTH) throw bad(param, `value longer than ${MAX_VALUE_LENGTH} characters`);
    return op === 'contains'
      ? { [path]: { $regex: escapeRegex(raw), $options: 'i' } }
      : { [path]: { $regex: `^${escapeRegex(raw)}` } };
  }
  const value = convertScalar(info, valueKind, raw, param, op === 'eq' || op === 'ne');
  if (op === 'eq') return { [path]: value };
  return { [path]: { [`$${op}`]: value } };
}

function parseSort(type: ContentType, raw: string, locale: string): SortKey[] {
  const keys: SortKey[] = [];
  for (const part of raw.split(',')) {
    const desc = part.startsWith('-');
    const name = desc ? part.slice(1) : part;
    if (!name) throw bad('sort', 'empty sort key');
    const info = fieldOf(type, name, 'sort');
    if (!['string', 'number', 'integer', 'boolean'].includes(info.kind)) {
      throw bad('sort', `cannot sort on ${info.kind} field "${name}"`);
    }
    const path = pathIn(info, locale);
    if (keys.some((k) => k.field === path)) throw bad('sort', `"${name}" appears twice`);
    keys.push({ field: path, dir: desc ? -1 : 1 });
  }
  if (keys.length > MAX_SORT_KEYS) throw bad('sort', `at most ${MAX_SORT_KEYS} sort keys`);
  return keys;
}

function parseCount(param: string, raw: string, min: number, max: number): number {
  if (!/^\d{1,7}$/.test(raw)) throw bad(param, `must be an integer from ${min} to ${max}`);
  const n = Number(raw);
  if (n < min || n > max) throw bad(param, `must be an integer from ${min} to ${max}`);
  return n;
}

export function parseFields(type: ContentType, raw: string): string[] {
  const out = new Set<string>();
  for (const name of raw.split(',')) {
    if (!name) throw bad('fields', 'empty field name');
    if (name !== '_type' && !systemField(name) && !Object.hasOwn(type.schema.properties ?? {}, name)) {
      throw invalid(codes.queryUnknownField, `Unknown field "${name}" in fields: type "${type.id}" has no such top-level field`, [
        { path: 'fields', message: `unknown field "${name}"` },
      ]);
    }
    out.add(name);
  }
  return [...out];
}

// --- cursors: the sort signature and the last entry's sort values, base64url JSON ---

const signature = (sort: SortKey[]) => sort.map((k) => (k.dir === -1 ? '-' : '') + k.field).join(',');

export function encodeCursor(sort: SortKey[], last: Document): string {
  const values = sort.map((k) => readPath(last, k.field) ?? null);
  return Buffer.from(JSON.stringify({ s: signature(sort), v: values })).toString('base64url');
}

const JSON_TYPE_OF_KIND: Partial<Record<FieldKind, string>> = { string: 'string', number: 'number', integer: 'number', boolean: 'boolean' };

function decodeCursor(type: ContentType, raw: string, sort: SortKey[]): Scalar[] {
  const fail = () => bad('cursor', 'not a cursor from this list (it belongs to another sort, or was altered)', codes.queryBadCursor);
  if (raw.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw fail();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw fail();
  }
  const c = parsed as { s?: unknown; v?: unknown };
  if (!c || typeof c !== 'object' || c.s !== signature(sort) || !Array.isArray(c.v) || c.v.length !== sort.length) throw fail();
  // each value must fit its sort field; the _id (wherever it is in the sort) must be an id
  for (let i = 0; i < sort.length; i++) {
    const v: unknown = c.v[i];
    const { field } = sort[i]!;
    const localized = type.fields.get(field.split('.')[0]!);
    const kind = (systemField(field) ?? type.fields.get(field) ?? (localized?.localized ? localized : undefined))?.kind;
    if (field === '_id' ? typeof v !== 'string' || !ID_PATTERN.test(v) : v !== null && typeof v !== JSON_TYPE_OF_KIND[kind ?? 'mixed']) {
      throw fail();
    }
  }
  return c.v as Scalar[];
}

/** Entries strictly after the cursor in the sort order (missing values sort first, as MongoDB does). */
function afterCursor(sort: SortKey[], values: Scalar[]): Document {
  const branches: Document[] = [];
  for (let i = 0; i < sort.length; i++) {
    const { field, dir } = sort[i]!;
    const v = values[i]!;
    let after: Document | undefined;
    if (dir === 1) after = v === null ? { [field]: { $ne: null } } : { [field]: { $gt: v } };
    else if (v !== null) after = { $or: [{ [field]: { $lt: v } }, { [field]: null }] };
    if (after) {
      const equal = sort.slice(0, i).map((k, j) => ({ [k.field]: values[j] }));
      branches.push(equal.length ? { $and: [...equal, after] } : after);
    }
  }
  return branches.length === 1 ? branches[0]! : { $or: branches };
}

const and = (clauses: Document[]): Document => (clauses.length === 0 ? {} : clauses.length === 1 ? clauses[0]! : { $and: clauses });

export interface ListOptions {
  /** The locale whose values a localized field's filter and sort compare. */
  locale?: string;
  /** Whether `populate` and `fields[<path>]` are understood (content lists). */
  populate?: boolean;
}

export function parseListQuery(type: ContentType, query: Record<string, unknown>, limits: ListLimits, options: ListOptions = {}): ListQuery {
  const locale = options.locale ?? '';
  const clauses: Document[] = [];
  let sort: SortKey[] = [];
  let limit = limits.defaultLimit;
  let offset = 0;
  let cursor: string | undefined;
  let fields: string[] | undefined;
  let populate: string | undefined;
  const populateFields = Object.create(null) as Record<string, string>; // keys come from the client: no prototype to set
  const unknown: ErrorDetail[] = [];
  for (const [param, value] of Object.entries(query)) {
    if (typeof value !== 'string') {
      throw bad(param, 'given more than once');
    }
    const filter = /^filter\[([^[\]]+)\](?:\[([^[\]]+)\])?$/.exec(param);
    if (filter) clauses.push(filterClause(type, filter[1]!, filter[2] ?? 'eq', value, param, locale));
    else if (param === 'sort') sort = parseSort(type, value, locale);
    else if (param === 'limit') limit = parseCount('limit', value, 1, limits.maxLimit);
    else if (param === 'offset') offset = parseCount('offset', value, 0, limits.maxOffset);
    else if (param === 'cursor') cursor = value;
    else if (param === 'fields') fields = parseFields(type, value);
    else if (options.populate && param === 'populate') populate = value;
    else if (options.populate && /^fields\[[^[\]]+\]$/.test(param)) populateFields[param.slice(7, -1)] = value;
    else unknown.push({ path: param, message: 'unknown query parameter' });
  }
  if (unknown.length) {
    throw invalid(codes.queryUnknownParam, `Unknown query parameter${unknown.length > 1 ? 's' : ''}: ${unknown.map((u) => u.path).join(', ')}`, unknown);
  }
  if (cursor !== undefined && offset > 0) throw bad('cursor', 'cursor and offset cannot be combined');
  if (!sort.some((k) => k.field === '_id')) sort.push({ field: '_id', dir: 1 });
  const filter = and(clauses) as Filter<StoredEntry>;
  const pageFilter = (cursor === undefined ? filter : and([...clauses, afterCursor(sort, decodeCursor(type, cursor, sort))])) as Filter<StoredEntry>;
  const result: ListQuery = { filter, pageFilter, sort, limit, offset, populateFields };
  if (fields) result.fields = fields;
  if (populate) result.populate = populate;
  return result;
}

export interface PageMeta {
  total: number;
  limit: number;
  offset: number;
  nextCursor: string | null;
}

/** A page from `limit + 1` rows: the rows to return, and the meta with the next cursor if there is more. */
export function toPage<T extends Document>(rows: T[], q: ListQuery, total: number): { page: T[]; meta: PageMeta } {
  const more = rows.length > q.limit;
  const page = more ? rows.slice(0, q.limit) : rows;
  const last = page[page.length - 1];
  return { page, meta: { total, limit: q.limit, offset: q.offset, nextCursor: more && last ? encodeCursor(q.sort, last) : null } };
}

export function mongoSort(sort: SortKey[]): Sort {
  return Object.fromEntries(sort.map((k) => [k.field, k.dir])) as Sort;
}

/** The projection for `fields=`: what was asked, the system fields, and what the cursor needs. */
export function projectionFor(fields: string[] | undefined, sort: SortKey[] = []): Document | undefined {
  if (!fields) return undefined;
  const projection: Document = {};
  for (const f of [...ALWAYS_RETURNED, ...fields]) projection[f] = 1;
  // a sort key inside a field already projected whole would be a path collision
  for (const k of sort) if (!projection[k.field.split('.')[0]!]) projection[k.field] = 1;
  return projection;
}
