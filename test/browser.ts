// Browser tests: the app listening on a loopback port, the built admin UI, and Debian's chromium
// driven by playwright-core. Screenshots go to test-output/screenshots/<test>-<step>.png.
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { freePort } from '../scripts/services.js';
import { buildTestApp, ROOT, type Json } from './helpers.js';

export const UI_DIST = join(ROOT, 'admin-ui', 'dist');
export const SCREENSHOTS = join(ROOT, 'test-output', 'screenshots');
export const PASSWORD = 'correct horse battery staple';
/** Every wait in the browser tests is bounded by this. */
export const WAIT = 15_000;

interface TestLike {
  teardown(fn: () => unknown): void;
  passing(): boolean;
  comment(...args: unknown[]): void;
}

export interface BrowserTest {
  app: FastifyInstance;
  /** http://127.0.0.1:<port>, also the app's PUBLIC_URL (sign-in and CSRF check the Origin). */
  origin: string;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /**
   * A page in a new browser context (its own cookies and storage), watched like the first. With a
   * (sub)test: closed at its teardown, after a `<label>-failure` screenshot if it failed.
   */
  newPage(t?: TestLike, label?: string): Promise<Page>;
  /** Saves test-output/screenshots/<name>-<step>.png and returns its path. */
  shot(step: string, page?: Page): Promise<string>;
  /** The one-time token of first-run setup (undefined once a user exists). */
  setupToken(): Promise<string | undefined>;
  /** A request from Node to the listening server, anonymous unless headers say otherwise. */
  http(method: string, path: string, opts?: { body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: Json }>;
  /** Console errors, page errors, failed requests and 5xx answers seen so far. */
  problems: string[];
}

/**
 * Builds the app on its own database and bucket, listens on 127.0.0.1, launches chromium with a
 * 1280×800 page. Everything is closed at teardown; when the test failed, a last screenshot and the
 * page's problems are printed.
 */
export async function openBrowser(t: TestLike, name: string, options: { env?: Record<string, string> } = {}): Promise<BrowserTest> {
  if (!existsSync(join(UI_DIST, 'index.html'))) {
    throw new Error(`The admin UI is not built (${UI_DIST}/index.html is missing): run \`npm run build:ui\` (npm test builds it)`);
  }
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`No chromium at ${executablePath}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`);
  }
  // served from a copy, so a rebuild of admin-ui/dist meanwhile cannot pull chunks from under the page
  const uiDir = await mkdtemp(join(tmpdir(), 'cms-ui-'));
  await cp(UI_DIST, uiDir, { recursive: true });
  t.teardown(() => rm(uiDir, { recursive: true, force: true }));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const app = await buildTestApp(t, { as: 'anonymous', adminUiDir: uiDir, env: { PUBLIC_URL: origin, HOST: '127.0.0.1', PORT: String(port), ...options.env } });
  await app.listen({ host: '127.0.0.1', port });

  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => problems.push(`request failed: ${req.method()} ${req.url()} ${req.failure()?.errorText ?? ''}`));
    page.on('response', (res) => {
      if (res.status() >= 500) problems.push(`${res.status()}: ${res.request().method()} ${res.url()}`);
    });
  };
  const newContext = async () => {
    const context = await browser.newContext({ baseURL: origin, viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(WAIT);
    context.setDefaultNavigationTimeout(WAIT);
    context.on('page', watch);
    return context;
  };
  const context = await newContext();
  const page = await context.newPage();
  // the page a failure screenshot shows: the newest one still open
  const pages = [page];
  const newPage = async (sub?: TestLike, label = 'page') => {
    const p = await (await newContext()).newPage();
    pages.push(p);
    sub?.teardown(async () => {
      if (!sub.passing()) {
        const last = await shot(`${label}-failure`, p).catch(() => undefined);
        if (last) sub.comment(`last screen: ${last} (${p.url()})`);
      }
      await p.context().close().catch(() => undefined);
    });
    return p;
  };

  // this test's screenshots from an earlier run would only mislead
  await mkdir(SCREENSHOTS, { recursive: true });
  for (const file of await readdir(SCREENSHOTS)) if (file.startsWith(`${name}-`)) await rm(join(SCREENSHOTS, file), { force: true });
  const shot = async (step: string, on: Page = page) => {
    const path = join(SCREENSHOTS, `${name}-${step}.png`);
    await on.screenshot({ path });
    return path;
  };

  t.teardown(async () => {
    if (!t.passing()) {
      const open = pages.filter((p) => !p.isClosed() && p.url() !== 'about:blank').pop();
      const last = open && (await shot('failure', open).catch(() => undefined));
      if (open && last) t.comment(`last screen: ${last} (${open.url()})`);
      if (problems.length) t.comment(`what the page reported:\n  ${problems.slice(-30).join('\n  ')}`);
    }
    await browser.close().catch(() => undefined);
  });

  const http: BrowserTest['http'] = async (method, path, opts = {}) => {
    const res = await fetch(origin + path, {
      method,
      headers: { accept: 'application/json', ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
    const text = await res.text();
    let body: Json = {};
    try {
      body = text ? (JSON.parse(text) as Json) : {};
    } catch {
      body = { text };
    }
    return { status: res.status, body };
  };

  return { app, origin, browser, context, page, newPage, shot, setupToken: () => app.auth.openSetup(), http, problems };
}

/** Waits (bounded) until `check` holds; fails with `what` and the last value seen. */
export async function until<T>(what: string, check: () => Promise<T> | T, timeout = WAIT): Promise<T> {
  const end = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (e) {
      last = e instanceof Error ? e.message : e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${String(last).slice(0, 300)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Like `until`, but answers whether `check` came to hold instead of throwing (for t.ok). */
export async function holds(check: () => Promise<unknown> | unknown, timeout = WAIT): Promise<boolean> {
  try {
    await until('', check, timeout);
    return true;
  } catch {
    return false;
  }
}

/** Signs in through the login page and waits until the signed-in frame shows. */
export async function logIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  if (!new URL(page.url(), 'http://x').pathname.startsWith('/admin/login')) await page.goto('/admin/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByRole('button', { name: 'Log out', exact: true }).waitFor();
}

/** Signs out with the sidebar button and waits for the login page. */
export async function logOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.getByRole('button', { name: 'Log in', exact: true }).waitFor();
}

/** A toast (status or alert) that says exactly this ("Saved" is not "Saved details"), or matches. */
export function toast(page: Page, text: string | RegExp): Locator {
  const pattern = typeof text === 'string' ? new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w ])`) : text;
  return page.locator('.toast').filter({ hasText: pattern }).first();
}

/** Closes every toast, so the next wait sees only what the next action says. */
export async function dismissToasts(page: Page): Promise<void> {
  const close = page.locator('.toast').getByRole('button', { name: 'Dismiss' });
  // a toast may leave on its own meanwhile
  for (let n = await close.count(); n > 0; n = await close.count()) await close.first().click({ timeout: 1000 }).catch(() => undefined);
}

/** Clicks a button (by its exact name) and waits for the toast that says it worked. */
export async function clickFor(page: Page, button: string, says: string | RegExp): Promise<void> {
  await dismissToasts(page);
  await page.getByRole('button', { name: button, exact: true }).click();
  await toast(page, says).waitFor();
}

/** The entry's status badge (`badge badge-<status>`). */
export function badge(page: Page): Locator {
  return page.locator('.badge[class*="badge-"]').first();
}

/**
 * The error texts shown at the field whose control this is: the closest enclosing element that
 * holds an error (role="alert" or .field-error, toasts aside) and no more than a field's few controls.
 * Empty when the field shows no error.
 */
export async function fieldErrors(control: Locator): Promise<string[]> {
  return control.evaluate((raw) => {
    const el = raw as unknown as DomNode;
    const document = (globalThis as unknown as { document: { body: DomNode } }).document;
    const isError = (e: DomNode) => !e.closest('.toast') && (e.getAttribute('role') === 'alert' || e.classList.contains('field-error'));
    for (let node = el.parentElement; node && node !== document.body; node = node.parentElement) {
      const errors = [...node.querySelectorAll('[role="alert"], .field-error')].filter(isError);
      if (!errors.length) continue;
      const controls = node.querySelectorAll('input:not([type="hidden"]):not([type="file"]), textarea, select').length;
      if (controls > 3) return [];
      return errors.map((e) => (e.textContent ?? '').trim()).filter(Boolean);
    }
    return [];
  });
}

/** The page's DOM, as much as the functions run in the page touch (tests compile without the DOM library). */
export interface DomNode {
  parentElement: DomNode | null;
  tagName: string;
  textContent: string | null;
  classList: { contains(name: string): boolean };
  closest(selector: string): DomNode | null;
  getAttribute(name: string): string | null;
  querySelectorAll(selector: string): Iterable<DomNode> & ArrayLike<DomNode>;
}

/** A small real PNG (a gradient over a tint), made with sharp. */
export async function pngFile(width = 64, height = 48, tint: [number, number, number] = [0, 0, 160]): Promise<Buffer> {
  const sharp = (await import('sharp')).default;
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = Math.round((tint[0] + (x / width) * 255) / 2);
      raw[i + 1] = Math.round((tint[1] + (y / height) * 255) / 2);
      raw[i + 2] = tint[2];
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer();
}
