// Guards for untrusted JSON, used by the body parser and again by the services.
import type { ErrorDetail } from './errors.js';

/** Escapes one JSON-pointer segment (RFC 6901). */
export const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** Nesting depth of a JSON text, counted without parsing it (strings skipped). */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

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


/** A JSON object (not an array, not null). */
export const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The value at a dotted path (`seo.title`), or undefined. */
export function readPath(doc: Record<string, unknown>, path: string): unknown {
  let value: unknown = doc;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Sets the value at a dotted path, if the objects on the way are there. */
export function writePath(doc: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  const parent = parts.length > 1 ? readPath(doc, parts.slice(0, -1).join('.')) : doc;
  if (parent && typeof parent === 'object') (parent as Record<string, unknown>)[parts[parts.length - 1]!] = value;
}

/** Equal as JSON values, whatever the order of object keys. */
export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => same(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
  }
  return false;
}
