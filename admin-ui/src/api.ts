// The UI's only way to the server: the public HTTP API, same origin, session cookie.
export interface ErrorDetail {
  path: string;
  message: string;
  [key: string]: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

/** Fired when the server says the session is gone; the app sends the editor to login. */
export const SESSION_EXPIRED = 'cms:session-expired';

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Sent as If-Match (optimistic concurrency on entries). */
  ifMatch?: string | number;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
}

export function withQuery(path: string, query?: RequestOptions['query']): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

async function errorFrom(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string; details?: ErrorDetail[] } };
    if (body.error) return new ApiError(res.status, body.error.code ?? 'CMS_ERR_UNKNOWN', body.error.message ?? res.statusText, body.error.details ?? []);
  } catch {
    // not JSON: fall through
  }
  return new ApiError(res.status, 'CMS_ERR_HTTP', `${res.status} ${res.statusText}`);
}

/** Sends a request; throws ApiError on 4xx/5xx (a 401 also tells the app the session is gone). */
async function send(path: string, options: RequestOptions, accept: string): Promise<Response> {
  const headers: Record<string, string> = { accept };
  let body: BodyInit | undefined;
  if (options.body instanceof FormData) body = options.body;
  else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  if (options.ifMatch !== undefined) headers['if-match'] = `"${options.ifMatch}"`;
  let res: Response;
  try {
    res = await fetch(withQuery(path, options.query), { method: options.method ?? 'GET', headers, body, credentials: 'same-origin', signal: options.signal ?? null });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'CMS_ERR_NETWORK', 'The server cannot be reached. Check your connection and try again.');
  }
  if (!res.ok) {
    const err = await errorFrom(res);
    // /api/auth/me answers 401 to anyone signed out: that is not an expired session
    if (res.status === 401 && !path.startsWith('/api/auth/login') && !path.startsWith('/api/auth/setup') && !path.startsWith('/api/auth/me')) window.dispatchEvent(new CustomEvent(SESSION_EXPIRED));
    throw err;
  }
  return res;
}

/** Sends a request and returns the parsed JSON body (undefined for 204). Throws ApiError on 4xx/5xx. */
export async function api<T = unknown>(path: string, options: RequestOptions = {}): Promise<T> {
  const res = await send(path, options, 'application/json');
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? await res.json() : await res.text()) as T;
}

/**
 * `{data}` of a GET, read once per key and kept in `cache` for the page's lifetime; a 404 gives null.
 * A failure is not kept, so the next call tries again.
 */
export function readCached<T>(cache: Map<string, Promise<T | null>>, key: string, path: string, options?: RequestOptions): Promise<T | null> {
  let p = cache.get(key);
  if (!p) {
    p = api<{ data: T }>(path, options)
      .then((r) => r.data)
      .catch((e: unknown) => {
        cache.delete(key);
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      });
    cache.set(key, p);
  }
  return p;
}

/**
 * Downloads a file the API makes (a CSV export) and saves it under the name the server gives. Errors
 * are ApiErrors like api()'s, so an expired session goes to login instead of saving an error as a file.
 */
export async function download(path: string, options: RequestOptions = {}, fallbackName = 'download'): Promise<void> {
  const res = await send(path, options, '*/*');
  const blob = await res.blob();
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? fallbackName;
  const url = URL.createObjectURL(blob);
  try {
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
  } finally {
    // the click has started the download; the URL is not needed after this task
    setTimeout(() => URL.revokeObjectURL(url), 0);
  }
}

/** Upload with progress (fetch has no upload progress): XMLHttpRequest, same error shape as api(). */
export function upload<T = unknown>(path: string, form: FormData, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const aborted = () => new DOMException('The upload was cancelled', 'AbortError');
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.onabort = () => reject(aborted());
    xhr.open('POST', path);
    xhr.withCredentials = true;
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError(0, 'CMS_ERR_NETWORK', 'The upload failed: the server cannot be reached.'));
    xhr.onload = () => {
      let parsed: unknown;
      try {
        parsed = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        parsed = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(parsed as T);
        return;
      }
      const e = (parsed as { error?: { code?: string; message?: string; details?: ErrorDetail[] } } | undefined)?.error;
      if (xhr.status === 401) window.dispatchEvent(new CustomEvent(SESSION_EXPIRED));
      reject(new ApiError(xhr.status, e?.code ?? 'CMS_ERR_HTTP', e?.message ?? `Upload failed (${xhr.status})`, e?.details ?? []));
    };
    xhr.send(form);
  });
}
