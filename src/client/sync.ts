// A small client of GET /api/sync for static builds: keeps a folder of JSON files in step with the
// CMS, one file per entry (`<type>/<id>.json`) and per media record (`_media/<id>.json`), fetching
// only what changed since the last run. No server code here: global fetch and node:fs only.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SyncToFolderOptions {
  /** Where the CMS answers, e.g. http://localhost:3000 */
  baseUrl: string;
  folder: string;
  /** An API token (sent as Authorization: Bearer); without one, what anonymous clients may read. */
  token?: string;
  types?: string[];
  locale?: string;
  /** Page size of incremental syncs (the server bounds it). */
  limit?: number;
  /** fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface SyncResult {
  /** Whether this run was a full sync (no stored token, or it had expired). */
  full: boolean;
  upserts: number;
  deletes: number;
  /** Files removed after a full sync because the server no longer has their entry. */
  removed: number;
  /** The sync token stored for the next run. */
  token: string;
}

type Line =
  | { op: 'upsert'; type?: string; kind?: 'media'; id: string; entry?: unknown; media?: unknown }
  | { op: 'delete'; type?: string; kind?: 'media'; id: string }
  | { op: 'end'; token: string; more: boolean };

const TOKEN_FILE = '.sync-token';
const MEDIA_DIR = '_media';
const TYPE_ID = /^[a-z][a-z0-9-]{0,47}$/;
const ENTRY_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class SyncError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'SyncError';
  }
}

/** Where a line's file lives; refuses names that could leave the folder. */
function fileOf(folder: string, line: { type?: string; kind?: string; id: string }): { dir: string; file: string } {
  if (!ENTRY_ID.test(line.id)) throw new Error(`the server sent an id that is not a file name: ${JSON.stringify(line.id).slice(0, 80)}`);
  const dirName = line.kind === 'media' ? MEDIA_DIR : line.type;
  if (dirName !== MEDIA_DIR && (typeof dirName !== 'string' || !TYPE_ID.test(dirName))) throw new Error(`the server sent a type that is not a type id: ${JSON.stringify(dirName).slice(0, 80)}`);
  const dir = join(folder, dirName);
  return { dir, file: join(dir, `${line.id}.json`) };
}

/** Writes a file whole or not at all (a crash mid-write leaves the old file). */
async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/** The lines of an NDJSON response, as they arrive. */
async function* lines(res: Response): AsyncGenerator<Line> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (text.trim()) yield JSON.parse(text) as Line;
    }
  }
  buffered += decoder.decode();
  if (buffered.trim()) yield JSON.parse(buffered) as Line;
}

async function readToken(folder: string): Promise<string | undefined> {
  try {
    return (await readFile(join(folder, TOKEN_FILE), 'utf8')).trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Brings `folder` up to date: a full sync the first time (or when the stored token has expired),
 * then only the changes since the last run, page by page. The token is stored only once a page is
 * applied, so an interrupted run repeats at most that page (upserts and deletes are idempotent).
 */
export async function syncToFolder(options: SyncToFolderOptions): Promise<SyncResult> {
  const doFetch = options.fetch ?? fetch;
  const { folder } = options;
  await mkdir(folder, { recursive: true });
  const result: SyncResult = { full: false, upserts: 0, deletes: 0, removed: 0, token: '' };
  let token = await readToken(folder);
  for (;;) {
    const url = new URL('/api/sync', options.baseUrl);
    if (token) url.searchParams.set('token', token);
    if (options.types?.length) url.searchParams.set('types', options.types.join(','));
    if (options.locale) url.searchParams.set('locale', options.locale);
    if (options.limit) url.searchParams.set('limit', String(options.limit));
    const res = await doFetch(url, { headers: { accept: 'application/x-ndjson', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) } });
    if (res.status === 410 && token) {
      // the log no longer reaches back to the token: start over with a full sync
      await res.body?.cancel();
      token = undefined;
      continue;
    }
    if (!res.ok) {
      let code: string | undefined;
      let message = `${res.status} ${res.statusText}`;
      try {
        const body = (await res.json()) as { error?: { code?: string; message?: string } };
        code = body.error?.code;
        if (body.error?.message) message = `${res.status}: ${body.error.message}`;
      } catch {
        // not our JSON error body
      }
      throw new SyncError(res.status, code, `sync failed: ${message}`);
    }
    const full = !token;
    result.full ||= full;
    // a full sync lists everything there is: files it does not mention are stale
    const seen = full ? new Set<string>() : undefined;
    let end: Extract<Line, { op: 'end' }> | undefined;
    for await (const line of lines(res)) {
      if (line.op === 'end') {
        end = line;
        break;
      }
      const { dir, file } = fileOf(folder, line);
      if (line.op === 'upsert') {
        await mkdir(dir, { recursive: true });
        await writeAtomic(file, `${JSON.stringify(line.kind === 'media' ? line.media : line.entry, null, 2)}\n`);
        seen?.add(file);
        result.upserts++;
      } else if (line.op === 'delete') {
        await rm(file, { force: true });
        result.deletes++;
      }
    }
    if (!end) throw new SyncError(res.status, undefined, 'sync failed: the answer ended early (no end line); run again');
    if (seen) result.removed += await removeStale(folder, seen, options.types);
    token = end.token;
    await writeAtomic(join(folder, TOKEN_FILE), `${token}\n`);
    result.token = token;
    if (!end.more) return result;
  }
}

/** After a full sync: removes entry files (of the synced types) that the server did not send. */
async function removeStale(folder: string, seen: Set<string>, types: string[] | undefined): Promise<number> {
  let removed = 0;
  const dirs = (await readdir(folder, { withFileTypes: true })).filter((d) => d.isDirectory() && (d.name === MEDIA_DIR || TYPE_ID.test(d.name)));
  for (const d of dirs) {
    if (types?.length && d.name !== MEDIA_DIR && !types.includes(d.name)) continue;
    for (const name of await readdir(join(folder, d.name))) {
      const file = join(folder, d.name, name);
      if (!name.endsWith('.json') || seen.has(file)) continue;
      await rm(file, { force: true });
      removed++;
    }
  }
  return removed;
}
