// The admin pages in a real browser: users (create, change role, suspend), API tokens (shown once,
// revoke), webhooks (delivery log and replay), the audit log (filters and CSV), deleting media that
// an entry uses, and what a non-admin sees.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Page } from 'playwright-core';
import { clickFor, dismissToasts, holds, logIn, openBrowser, PASSWORD, pngFile, toast, until } from './browser.js';
import { call, signIn, type Json } from './helpers.js';

/** The cookie header of a browser page's session. */
async function cookieOf(page: Page): Promise<string> {
  return (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
}

t.test('admin pages in the admin UI', async (t) => {
  const b = await openBrowser(t, 'admin', { env: { WEBHOOK_ALLOW_LOOPBACK: 'true', WEBHOOK_MAX_ATTEMPTS: '1' } });
  const { app, origin, page } = b;
  await app.auth.createUser({ email: 'root@example.com', name: 'Root', password: PASSWORD, role: 'admin' });
  const adminHeaders = await signIn(app, 'admin', 'api-admin@example.com');
  const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown, headers = adminHeaders) => call(app, method, url, body, headers);
  /** Signs in through the API as a client would; the session cookie, or the refusal's status. */
  const apiLogin = async (email: string): Promise<{ status: number; cookie?: string }> => {
    const res = await fetch(`${origin}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin }, body: JSON.stringify({ email, password: PASSWORD }) });
    await res.text();
    const cookie = res.headers.getSetCookie()[0]?.split(';')[0];
    return { status: res.status, ...(cookie ? { cookie } : {}) };
  };
  const nav = page.getByRole('navigation', { name: 'Main' });
  await logIn(page, 'root@example.com');

  await t.test('users: create, change role, suspend', async (t) => {
    await nav.getByRole('link', { name: 'Users', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await page.getByRole('button', { name: 'Create user', exact: true }).click();
    await page.getByLabel('Email', { exact: true }).fill('eve@example.com');
    await page.getByLabel('Name', { exact: true }).fill('Eve Example');
    await page.getByLabel('Role', { exact: true }).selectOption('editor');
    await page.getByLabel('Initial password', { exact: true }).fill(PASSWORD);
    await clickFor(page, 'Create user', 'Created Eve Example');
    const roleSelect = page.getByLabel('Role for eve@example.com', { exact: true });
    await roleSelect.waitFor();
    t.equal(await roleSelect.inputValue(), 'editor', 'the list shows the new editor');
    const stored = await api('GET', '/api/users');
    const eve = (stored.body.data as Json[]).find((u) => u.email === 'eve@example.com');
    t.match(eve, { name: 'Eve Example', role: 'editor', status: 'active' }, 'the API has the new user as an editor');
    await b.shot('users', page);

    // Eve signs in elsewhere; changing her role ends that session
    const session = await apiLogin('eve@example.com');
    t.equal(session.status, 200, 'the new user can sign in');
    const me = () => fetch(`${origin}/api/auth/me`, { headers: { cookie: session.cookie ?? '' } }).then(async (r) => ({ status: r.status, body: (await r.json()) as Json }));
    t.equal((await me()).status, 200, 'her session works');

    await dismissToasts(page);
    await roleSelect.selectOption('author');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    t.match((await dialog.textContent()) ?? '', /Make Eve Example \(eve@example\.com\) an author\?/, 'the dialog asks to confirm the new role');
    await b.shot('change-role', page);
    await dialog.getByRole('button', { name: 'Change role', exact: true }).click();
    await toast(page, 'Eve Example is now an author').waitFor();
    t.equal((await api('GET', `/api/users/${eve!._id}`)).body.data?.role, 'author', 'the API shows the new role');
    t.equal((await me()).status, 401, 'her old session is revoked');
    t.equal(await roleSelect.inputValue(), 'author', 'the select shows the new role');

    // suspend
    await page.getByRole('button', { name: 'Suspend eve@example.com', exact: true }).click();
    await dialog.waitFor();
    t.match((await dialog.textContent()) ?? '', /Suspend Eve Example/, 'the dialog asks to confirm the suspension');
    await dismissToasts(page);
    await dialog.getByRole('button', { name: 'Suspend', exact: true }).click();
    await toast(page, 'Suspended Eve Example').waitFor();
    t.equal((await api('GET', `/api/users/${eve!._id}`)).body.data?.status, 'suspended', 'the API shows her suspended');
    const refused = await apiLogin('eve@example.com');
    t.ok(refused.status === 401 || refused.status === 403, `her login is refused (${refused.status})`);
    t.notOk(refused.cookie, 'and gives no session');
    t.equal(await page.getByRole('button', { name: 'Reactivate eve@example.com', exact: true }).count(), 1, 'the row offers Reactivate');
  });

  await t.test('API tokens: shown once, work, revoked', async (t) => {
    await nav.getByRole('link', { name: 'API tokens', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'API tokens' }).waitFor();
    await page.getByRole('button', { name: 'Create token', exact: true }).click();
    await page.getByLabel('Name', { exact: true }).fill('site build');
    t.equal(await page.getByRole('checkbox', { name: /^content:read\b/ }).isChecked(), true, 'content:read is ticked');
    await clickFor(page, 'Create token', 'Created token site build');
    const secret = await page.getByLabel('Token secret', { exact: true }).inputValue();
    t.match(secret, /^\S{20,}$/, 'the secret is shown');
    await b.shot('token-created', page);
    const read = (path: string) => fetch(`${origin}${path}`, { headers: { authorization: `Bearer ${secret}` } }).then((r) => r.status);
    t.equal(await read('/api/content/article'), 200, 'the secret reads /api/content');

    await page.reload();
    await page.getByRole('cell', { name: 'site build', exact: true }).waitFor();
    t.equal(await page.getByLabel('Token secret', { exact: true }).count(), 0, 'after a reload the secret is not shown');
    t.notOk((await page.content()).includes(secret), 'nor anywhere in the page');
    const listed = (await api('GET', '/api/tokens')).body;
    t.match(listed.data, [{ name: 'site build', scopes: ['content:read'] }], 'the API has the token, scope content:read');
    t.notOk(JSON.stringify(listed).includes(secret), 'but not its secret');

    await page.getByRole('button', { name: 'Revoke site build', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await dismissToasts(page);
    await dialog.getByRole('button', { name: 'Revoke', exact: true }).click();
    await toast(page, 'Revoked site build').waitFor();
    t.equal(await read('/api/content/article'), 401, 'the revoked secret gets 401');
    await until('the row to say Revoked', async () => (await page.locator('.badge-token-revoked').count()) === 1);
    t.pass('the row says Revoked');
  });

  await t.test('webhooks: a failed delivery in the log, replayed', async (t) => {
    const received: { body: string; answer: number }[] = [];
    const receiver = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        // the first delivery fails, later ones succeed
        const answer = received.length === 0 ? 500 : 200;
        received.push({ body, answer });
        res.writeHead(answer).end(answer === 200 ? 'ok' : 'broken');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

    await nav.getByRole('link', { name: 'Webhooks', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
    await page.getByRole('button', { name: 'New webhook', exact: true }).click();
    await page.getByLabel('URL', { exact: true }).fill(url);
    await page.getByRole('checkbox', { name: /^site\.publish/ }).uncheck();
    await page.getByRole('checkbox', { name: 'entry.create — created', exact: true }).check();
    await clickFor(page, 'Create webhook', 'Webhook created');
    const hooks = (await api('GET', '/api/webhooks')).body.data as Json[];
    t.match(hooks, [{ url, events: ['entry.create'], enabled: true }], 'the API has the webhook');

    const author = await api('POST', '/api/content/author', { name: 'Hook Test', slug: 'hook-test', email: 'hook@example.com' });
    t.equal(author.status, 201, 'an entry is created', { body: author.body });
    await app.webhooks.runOnce();
    t.equal(received.length, 1, 'the receiver got the delivery');
    t.equal(received[0]?.answer, 500, 'and answered 500');
    t.match(received[0]?.body, String(author.body.data._id), 'about the new entry');

    await page.getByRole('button', { name: `Deliveries of ${url}`, exact: true }).click();
    const log = page.locator('.deliveries');
    const row = log.locator('tbody tr').first();
    await row.waitFor();
    t.equal(await log.locator('tbody tr').count(), 1, 'one delivery in the log');
    t.equal(((await row.locator('.badge').textContent()) ?? '').trim(), 'Failed', 'it shows as Failed');
    t.match((await row.textContent()) ?? '', /entry\.create[\s\S]*500/, 'with its event and the 500 answer');
    await b.shot('webhook-failed', page);

    await dismissToasts(page);
    await row.getByRole('button', { name: /^Replay / }).click();
    await toast(page, 'Replay queued').waitFor();
    await app.webhooks.runOnce();
    t.equal(received.length, 2, 'the replay reaches the receiver');
    t.equal(received[1]?.body, received[0]?.body, 'with the same delivery');
    await log.getByRole('button', { name: 'Refresh', exact: true }).click();
    await until('the delivery to show Succeeded', async () => ((await row.locator('.badge').textContent()) ?? '').trim() === 'Succeeded');
    t.match((await row.textContent()) ?? '', /1 replay/, 'the log counts the replay');
    await b.shot('webhook-replayed', page);
  });

  await t.test('audit log: filter by action, CSV with the same filters', async (t) => {
    await nav.getByRole('link', { name: 'Audit log', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    await page.locator('table.admin-table tbody tr').first().waitFor();
    const actions = () => page.locator('table.admin-table tbody tr td:nth-child(3)').allTextContents().then((l) => l.map((s) => s.trim()));
    t.ok(new Set(await actions()).size > 2, 'unfiltered, the log has many kinds of action');

    await page.getByLabel('Action', { exact: true }).fill('token.');
    await page.getByRole('button', { name: 'Apply filters', exact: true }).click();
    await until('only token rows', async () => {
      const list = await actions();
      return list.length > 0 && list.every((a) => a.startsWith('token.'));
    });
    const shown = await actions();
    t.same([...shown].sort(), ['token.create', 'token.revoke'], 'the filter keeps the token actions only');
    const fromApi = await api('GET', '/api/audit?filter[action][startsWith]=token.');
    t.equal(fromApi.body.data.length, shown.length, 'as many rows as the API finds');
    await b.shot('audit-filtered', page);

    const href = await page.getByRole('link', { name: 'Download CSV', exact: true }).getAttribute('href');
    t.ok(href && new URL(href, origin).searchParams.get('filter[action][startsWith]') === 'token.', `the CSV link carries the filter (${href})`);
    const res = await fetch(new URL(href!, origin), { headers: { cookie: await cookieOf(page) } });
    t.equal(res.status, 200, 'the CSV downloads with the session');
    t.match(res.headers.get('content-type') ?? '', /text\/csv/, 'as CSV');
    const lines = (await res.text()).split(/\r?\n/).filter((l) => l.trim());
    t.equal(lines.length, shown.length + 1, 'a header and one line per shown row');
    t.ok(lines.slice(1).every((l) => /token\.(create|revoke)/.test(l)), 'every line is a token action');
    t.notOk(lines.slice(1).some((l) => /user\.|login/.test(l)), 'nothing the filter left out');
  });

  await t.test('media: deleting a file an entry uses warns, then clears the field', async (t) => {
    const form = new FormData();
    form.append('file', new Blob([await pngFile(80, 60)], { type: 'image/png' }), 'in-use.png');
    const up = await fetch(`${origin}/api/media`, { method: 'POST', headers: adminHeaders, body: form });
    const upBody = (await up.json()) as Json;
    t.equal(up.status, 201, 'an image is uploaded through the API', { body: upBody });
    const mediaId = String((Array.isArray(upBody.data) ? upBody.data[0] : upBody.data)._id);
    const article = await api('POST', '/api/content/article', { title: 'Uses the image', slug: 'uses-the-image', cover: mediaId });
    t.equal(article.status, 201, 'an article uses it as its cover', { body: article.body });
    const articleId = String(article.body.data._id);

    await nav.getByRole('link', { name: 'Media', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: /Media/ }).waitFor();
    await page.getByRole('button', { name: /in-use\.png/ }).first().click();
    const details = page.locator('.media-details');
    await details.getByText('Used by 1 entry').waitFor();
    t.equal(await details.getByRole('link', { name: 'Uses the image' }).count(), 1, 'the details list the entry using it');
    await details.getByRole('button', { name: 'Delete', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    t.match((await dialog.textContent()) ?? '', /This file is used by 1 entry\./, 'the dialog warns the file is in use');
    await b.shot('media-delete-warning', page);
    await dismissToasts(page);
    await dialog.getByRole('button', { name: 'Delete anyway', exact: true }).click();
    await toast(page, 'Deleted in-use.png').waitFor();
    t.ok(await holds(async () => (await page.getByRole('button', { name: /in-use\.png/ }).count()) === 0, 5000), 'the file leaves the grid');
    t.equal((await api('GET', `/api/media/${mediaId}`)).status, 404, 'the media is gone from the API');
    const populated = await api('GET', `/api/content/article/${articleId}?populate=cover`);
    t.equal(populated.status, 200, 'the article still reads', { body: populated.body });
    t.equal(populated.body.data.cover, null, 'its populated cover is empty (null)');
  });

  await t.test('an editor sees no admin pages', async (t) => {
    await app.auth.createUser({ email: 'ed@example.com', name: 'Ed Itor', password: PASSWORD, role: 'editor' });
    const editor = await b.newPage(t, 'editor');
    await logIn(editor, 'ed@example.com');
    await editor.goto('/admin/users');
    await editor.getByText('Only admins can see this page.').waitFor();
    t.pass('/admin/users says "Only admins can see this page."');
    t.equal(await editor.getByRole('table').count(), 0, 'and lists no users');
    const sidebar = editor.getByRole('navigation', { name: 'Main' });
    t.equal(await sidebar.getByRole('link', { name: 'Media', exact: true }).count(), 1, 'the sidebar is there');
    for (const name of ['Users', 'API tokens', 'Webhooks', 'Audit log']) {
      t.equal(await sidebar.getByRole('link', { name, exact: true }).count(), 0, `no "${name}" link in the sidebar`);
    }
    await b.shot('editor-forbidden', editor);
    const status = await editor.evaluate(async () => (await fetch('/api/users')).status);
    t.equal(status, 403, 'the server refuses the users list too');
  });

  t.same(b.problems.filter((p) => /^5\d\d:/.test(p)), [], 'the server answered no request with a 5xx');
});
