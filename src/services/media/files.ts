// What a file is, decided from its bytes; and what it may be called.
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileTypeFromFile } from 'file-type';
import type { MediaDoc } from '../../storage/media.js';

export const SVG = 'image/svg+xml';

/** Types file-type reports under a name that differs from the one we allowlist. */
const ALIASES: Record<string, string> = {
  'audio/x-wav': 'audio/wav',
  'audio/vnd.wave': 'audio/wav',
  'audio/x-flac': 'audio/flac',
  'audio/x-m4a': 'audio/mp4',
  'audio/opus': 'audio/ogg',
  'audio/x-aac': 'audio/aac',
};

const HEAD_BYTES = 8192;

/** Text with nothing binary in it: valid UTF-8 (the head may end mid-character) and no NUL. */
function asText(head: Buffer): string | undefined {
  if (head.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
  } catch {
    return undefined;
  }
}

const SVG_START = /^(?:<\?xml[^>]*>\s*)?(?:<!--[\s\S]*?-->\s*|<!doctype\s+svg[^>]*>\s*)*<svg[\s>/]/;
const HTML_MARKERS = /<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<script[\s>]|<iframe[\s>]|<object[\s>]|<embed[\s>]|<meta[\s>]|<link[\s>]|<style[\s>]/;

function textType(text: string, filename: string): string {
  const t = text.replace(/^\uFEFF/, '').trimStart().toLowerCase();
  if (SVG_START.test(t)) return SVG;
  // markup a browser would render as a page: never served as plain text
  if (HTML_MARKERS.test(t)) return 'text/html';
  if (t.startsWith('<?xml')) return 'application/xml';
  const ext = extname(filename).toLowerCase();
  if (ext === '.csv') return 'text/csv';
  if (ext === '.md' || ext === '.markdown') return 'text/markdown';
  return 'text/plain';
}

/** The media type of a file on disk, from its content. The filename only picks among text types. */
export async function sniffFile(path: string, filename: string): Promise<string> {
  const found = await fileTypeFromFile(path);
  if (found && found.mime !== 'application/xml') return ALIASES[found.mime] ?? found.mime;
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
    if (bytesRead === 0) return 'application/x-empty';
    const text = asText(head.subarray(0, bytesRead));
    return text === undefined ? 'application/octet-stream' : textType(text, filename);
  } finally {
    await handle.close();
  }
}

export function kindOf(mime: string): MediaDoc['kind'] {
  if (mime.startsWith('image/')) return 'image';
  if (mime.startsWith('video/')) return 'video';
  if (mime.startsWith('audio/')) return 'audio';
  return 'document';
}

/** `image/*` style matching against a list of accepted types. */
export function matchesType(mime: string, patterns: string[]): boolean {
  return patterns.some((p) => p === mime || (p.endsWith('/*') && mime.startsWith(p.slice(0, -1))));
}

const ACCEPT_ITEM = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}\/(?:\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$/;

/** An `accept` list ("image/*,application/pdf") as patterns, or why it is not one. */
export function parseAccept(raw: string): string[] | { problem: string } {
  const items = raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (!items.length || items.length > 20) return { problem: 'give 1 to 20 types such as image/* or application/pdf, separated by commas' };
  const bad = items.find((i) => !ACCEPT_ITEM.test(i));
  return bad ? { problem: `"${bad.slice(0, 64)}" is not a type such as image/* or application/pdf` } : items;
}

/** Whether uploads accept this type. SVG needs its own switch: `image/*` does not let it in. */
export function isAllowedType(mime: string, allowed: string[], allowSvg: boolean): boolean {
  if (mime === SVG) return allowSvg;
  return matchesType(mime, allowed);
}

// C0 and C1 controls, DEL, and the bidirectional marks and overrides used to disguise extensions
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/**
 * A display name from a client's filename, or a reason it is refused. Clients send a base name, so
 * path separators, `..`, control characters and bidi overrides are refused rather than rewritten.
 */
export function cleanFilename(raw: string): { name: string } | { problem: string } {
  if (FORBIDDEN_CHARS.test(raw)) return { problem: 'contains control or bidirectional-override characters' };
  if (/[/\\]/.test(raw)) return { problem: 'contains a path separator' };
  let name = raw.normalize('NFC').trim().replace(/\s+/g, ' ');
  if (name === '.' || name === '..') return { problem: 'is not a file name' };
  name = name.replace(/^\.+/, '');
  if (!name) return { name: 'file' };
  if (name.length > 200) {
    const ext = extname(name).slice(0, 20);
    name = name.slice(0, 200 - ext.length) + ext;
  }
  return { name };
}

/** The extension we serve a type under. */
export function extensionFor(mime: string, filename: string): string {
  const known: Record<string, string> = {
    'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp', 'image/avif': 'avif', 'image/gif': 'gif',
    [SVG]: 'svg', 'application/pdf': 'pdf', 'video/mp4': 'mp4', 'video/webm': 'webm', 'audio/mpeg': 'mp3',
    'text/plain': 'txt', 'text/csv': 'csv', 'text/markdown': 'md',
  };
  return known[mime] ?? (extname(filename).slice(1).toLowerCase().replace(/[^a-z0-9]/g, '') || 'bin');
}
