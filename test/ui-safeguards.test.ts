// Safeguards of the admin UI, in a real browser: text typed while a new entry is first saved is kept,
// a server that fails at start says so (instead of showing the login page), the CSV download goes
// through the session (an expired one goes to login), and field controls are named by their fields.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { logIn, openBrowser, PASSWORD, toast, until } from './browser.js';
import { signIn } from './helpers.js';

t.test('safeguards in the admin UI', async (t) => {
  const b = await openBrowser(t, 'safeguards');
  const { app, http } = b;
  await app.auth.createUser({ email: 'root@example.com', name: 'Root', password: PASSWORD, role: 'admin' });
  const adminHeaders = await signIn(app, 'admin', 'api-admin@example.com');

  await t.test('text typed while a new entry is first saved comes along to its new address', async (t) => {
    const page = await b.newPage(t, 'typed-while-saving');
    await logIn(page, 'root@example.com');
    // the first save waits until the editor has typed more
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let posted = false;
    await page.route('**/api/content/author', async (route) => {
      if (route.request().method() === 'POST') {
        posted = true;
        await held;
      }
      await route.continue();
    });
    await page.goto('/admin/content/author/new');
    const field = (label: string) => page.getByLabel(label, { exact: true });
    await field('Name').fill('Ada Lovelace');
    await field('Email').fill('ada@example.com');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await until('the save to be on its way', () => posted);
    await field('Bio').fill('Typed while the save was on its way.');
    release();
    const id = await until('the new entry to get its address', () => /\/content\/author\/([0-9a-f]{24})$/.exec(page.url())?.[1]);
    await until('the typed text to stay in the form', async () => (await field('Bio').inputValue()) === 'Typed while the save was on its way.');
    t.pass('the text typed during the save is still in the form');
    await page.getByText('Unsaved changes', { exact: true }).waitFor();
    t.pass('and shows as not saved yet');
    const saved = await http('GET', `/api/content/author/${id}`, { headers: adminHeaders });
    t.equal((saved.body.data as { name?: string })?.name, 'Ada Lovelace', 'the save stored what it carried');
    t.notOk((saved.body.data as { bio?: string })?.bio, 'and not the text typed after it');
    t.equal(await toast(page, 'Restored your unsaved changes').count(), 0, 'no "restored" notice for text that never left the page');
  });

  await t.test('a server failing at start shows an error with Try again, not the login page', async (t) => {
    const page = await b.newPage(t, 'start-failure');
    await logIn(page, 'root@example.com');
    await page.route('**/api/auth/me', (route) =>
      route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'CMS_ERR_UNAVAILABLE', message: 'Down for maintenance', details: [] } }) }),
    );
    await page.goto('/admin/');
    await page.getByRole('heading', { level: 1, name: 'The admin could not start' }).waitFor();
    t.match((await page.getByRole('alert').first().textContent()) ?? '', /Down for maintenance/, 'the error says what the server said');
    t.notMatch(page.url(), /\/login/, 'no redirect to login');
    await page.unroute('**/api/auth/me');
    await page.getByRole('button', { name: 'Try again', exact: true }).click();
    await page.getByRole('button', { name: 'Log out', exact: true }).waitFor();
    t.pass('Try again signs the editor in once the server answers');
  });

  await t.test('the CSV download goes through the session', async (t) => {
    const page = await b.newPage(t, 'csv');
    await logIn(page, 'root@example.com');
    await page.goto('/admin/audit');
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    const link = page.getByRole('link', { name: 'Download CSV', exact: true });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    t.match(download.suggestedFilename(), /^audit-.*\.csv$/, 'the file has the server\'s name');
    const path = await download.path();
    const text = await readFile(path, 'utf8');
    t.notMatch(text, /^\s*\{/, 'it is CSV, not JSON');
    t.match(text, /login/, 'with the sign-in in it');
    // the session ends: the download goes to login instead of saving the error as a file
    await page.context().clearCookies();
    let downloaded = false;
    page.on('download', () => (downloaded = true));
    await link.click();
    await until('the login page', () => page.url().includes('/login') && page.url().includes('expired=1'));
    t.pass('an expired session goes to login');
    t.notOk(downloaded, 'and nothing is saved');
  });

  await t.test('field controls are named by their fields, and the Markdown tabs take arrow keys', async (t) => {
    const page = await b.newPage(t, 'names');
    await logIn(page, 'root@example.com');
    await page.goto('/admin/content/post/new');
    const choose = page.getByRole('button', { name: 'Choose media Cover', exact: true });
    await choose.waitFor();
    t.equal((await choose.textContent())?.trim(), 'Choose media', 'the button reads "Choose media"');
    t.equal(await page.getByRole('button', { name: 'Choose media' }).count(), await page.locator('.media-picker').count(), 'one per media field');

    await page.goto('/admin/content/author/new');
    const write = page.getByRole('tab', { name: 'Write', exact: true });
    const preview = page.getByRole('tab', { name: 'Preview', exact: true });
    await write.focus();
    await page.keyboard.press('ArrowRight');
    await until('the Preview tab to be chosen', async () => (await preview.getAttribute('aria-selected')) === 'true');
    t.equal((await page.locator('[role="tab"]:focus').textContent())?.trim(), 'Preview', 'focus moves to the Preview tab');
    await page.keyboard.press('ArrowLeft');
    await until('the Write tab to be chosen again', async () => (await write.getAttribute('aria-selected')) === 'true');
    t.pass('ArrowLeft goes back to Write');
  });
});
