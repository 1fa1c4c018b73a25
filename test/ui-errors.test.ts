// What editors see when things go wrong, in a real browser: field errors (from the form and from
// the server), a refused upload, an author who cannot publish, a session that ends mid-edit.
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import t from 'tap';
import { badge, clickFor, fieldErrors, holds, logIn, openBrowser, PASSWORD, toast, until } from './browser.js';
import { countStored, signIn } from './helpers.js';

/** Runs in the page: what the edit view put aside in sessionStorage under this key. */
const stashed = (key: string) => (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem(key);

t.test('error paths in the admin UI', async (t) => {
  const b = await openBrowser(t, 'errors');
  const { app, http } = b;
  const admin = await app.auth.createUser({ email: 'root@example.com', name: 'Root', password: PASSWORD, role: 'admin' });
  // the admin's session for requests made from Node (cookie + this site's Origin)
  const adminHeaders = await signIn(app, 'admin', 'api-admin@example.com');

  await t.test('a validation error shows at its field and nothing is saved', async (t) => {
    const page = await b.newPage(t, 'validation');
    await logIn(page, 'root@example.com');
    await page.goto('/admin/content/author/new');
    const field = (label: string) => page.getByLabel(label, { exact: true });
    await field('Name').waitFor();
    await field('Name').fill('Grace Hopper');
    t.ok(await holds(async () => (await field('Slug').inputValue()) === 'grace-hopper'), 'the slug is filled from the name');
    // a slug that breaks the pattern, and a required email left empty
    await field('Slug').fill('Not A Slug!');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const slugErrors = await until('an error under Slug', async () => (await fieldErrors(field('Slug'))).join(' '));
    t.match(slugErrors, /lower-case|pattern|hyphen|format/i, `the slug shows its error: "${slugErrors}"`);
    const emailErrors = await until('an error under Email', async () => (await fieldErrors(field('Email'))).join(' '));
    t.match(emailErrors, /required/i, `the missing email shows its error: "${emailErrors}"`);
    t.same(await fieldErrors(field('Name')), [], 'the valid name shows no error');
    await b.shot('field-errors', page);
    t.equal(await countStored(app, 'author'), 0, 'nothing is saved');
    t.match(page.url(), /\/content\/author\/new$/, 'the form stays open');

    // a too-long name
    await field('Slug').fill('grace-hopper');
    await field('Email').fill('grace@example.com');
    await field('Name').fill('G'.repeat(121));
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const nameErrors = await until('an error under Name', async () => (await fieldErrors(field('Name'))).join(' '));
    t.match(nameErrors, /long|at most|120/i, `the too-long name shows its error: "${nameErrors}"`);
    t.same(await fieldErrors(field('Slug')), [], 'the fixed slug shows no error');
    t.equal(await countStored(app, 'author'), 0, 'still nothing saved');

    // an error only the server can find (a unique email) shows at its field too
    const taken = await http('POST', '/api/content/author', { body: { name: 'Taken', slug: 'taken', email: 'taken@example.com' }, headers: adminHeaders });
    t.equal(taken.status, 201, 'the API creates an author with that email', { body: taken.body });
    await field('Name').fill('Grace Hopper');
    await field('Email').fill('taken@example.com');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const unique = await until('the server error under Email', async () => (await fieldErrors(field('Email'))).join(' '));
    t.match(unique, /unique|already|taken|in use/i, `the server's unique error shows under Email: "${unique}"`);
    t.equal(await countStored(app, 'author'), 1, 'only the API-made author is stored');

    // fixed: it saves
    await field('Email').fill('grace@example.com');
    await clickFor(page, 'Save', 'Saved');
    t.equal(await countStored(app, 'author'), 2, 'the fixed form saves');
  });

  await t.test('a file of a refused type is refused with a message, and nothing is stored', async (t) => {
    const page = await b.newPage(t, 'upload');
    await logIn(page, 'root@example.com');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Media', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: /Media/ }).waitFor();
    // a Windows program, renamed to look harmless
    const exe = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(62), Buffer.from('PE\0\0'), Buffer.alloc(200, 1)]);
    const before = await app.mongo.db.collection('media').countDocuments();
    await page.getByLabel('Upload files').setInputFiles({ name: 'holiday.png', mimeType: 'image/png', buffer: exe });
    const message = page.locator('[role="alert"], .field-error').filter({ hasText: /holiday\.png/ }).first();
    await message.waitFor();
    const text = (await message.textContent()) ?? '';
    t.match(text, /not accept|not allowed|refused|unsupported/i, `the refusal says why: "${text.trim()}"`);
    await b.shot('upload-refused', page);
    t.equal(await app.mongo.db.collection('media').countDocuments(), before, 'no media record is stored');
    const listed = await page.evaluate(async () => (await (await fetch('/api/media')).json()) as { data: unknown[] });
    t.equal(listed.data.length, 0, 'the library lists nothing');
    const objects = await app.s3.client.send(new ListObjectsV2Command({ Bucket: app.s3.bucket }));
    t.equal(objects.KeyCount ?? 0, 0, 'no file reaches the bucket');
  });

  await t.test('an author sees no Publish button and cannot publish', async (t) => {
    const created = await http('POST', '/api/users', { body: { email: 'writer@example.com', name: 'Will Writer', password: PASSWORD, role: 'author' }, headers: adminHeaders });
    t.equal(created.status, 201, 'the admin creates an author through the API', { body: created.body });
    const page = await b.newPage(t, 'author');
    await logIn(page, 'writer@example.com');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Blog post', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: /Blog post/ }).waitFor();
    t.equal(await page.getByRole('button', { name: 'Publish selected', exact: true }).count(), 0, 'no bulk publish in the list');
    await page.getByRole('button', { name: 'New entry', exact: true }).first().click();
    await page.getByLabel('Title', { exact: true }).fill('By an author');
    await page.getByLabel('Body', { exact: true }).fill('Words.');
    await clickFor(page, 'Save draft', 'Saved');
    await until('the address to name the post', () => /\/content\/post\/[^/]+$/.test(page.url()) && !page.url().endsWith('/new'));
    const id = page.url().split('/').pop()!;
    await until('the Draft badge', async () => (await badge(page).textContent())?.trim() === 'Draft');
    t.equal(await page.getByRole('button', { name: 'Publish', exact: true }).count(), 0, 'no Publish button for an author');
    t.equal(await page.getByRole('button', { name: 'Schedule…', exact: true }).count(), 0, 'no Schedule button for an author');
    await b.shot('author-edit', page);
    // the server refuses the author's own publish call
    const status = await page.evaluate(async (id) => {
      const entry = (await (await fetch(`/api/content/post/${id}?preview=true`)).json()) as { data: { _version: number } };
      const res = await fetch(`/api/content/post/${id}/publish`, { method: 'POST', headers: { 'if-match': `"${entry.data._version}"` } });
      return res.status;
    }, id);
    t.equal(status, 403, 'publishing directly is forbidden');
    t.equal((await http('GET', `/api/content/post/${id}`)).status, 404, 'the post is still not delivered');
  });

  await t.test('an expired session sends the editor to login and keeps the typed text', async (t) => {
    const made = await http('POST', '/api/content/post', { body: { title: { en: 'Kept safe' }, slug: 'kept-safe', body: { en: 'First words.' } }, headers: adminHeaders });
    t.equal(made.status, 201, 'the API creates the post', { body: made.body });
    const id = String(made.body.data._id);
    const page = await b.newPage(t, 'expired');
    await logIn(page, 'root@example.com');
    await page.goto(`/admin/content/post/${id}`);
    const summary = page.getByLabel('Summary', { exact: true });
    await summary.waitFor();
    await until('the entry to load', async () => (await page.getByLabel('Title', { exact: true }).inputValue()) === 'Kept safe');
    await summary.fill('Typed while the session ran out.');

    // the session ends on the server while the editor types
    await app.auth.sessions.invalidateUser(admin._id);
    await page.getByRole('button', { name: 'Save draft', exact: true }).click();
    await page.getByRole('button', { name: 'Log in', exact: true }).waitFor();
    const url = new URL(page.url());
    t.equal(url.pathname, '/admin/login', 'saving with an expired session shows the login page');
    t.equal(url.searchParams.get('next'), `/content/post/${id}`, 'login knows where to go back');
    t.ok(await holds(() => page.getByText(/session (has )?expired/i).isVisible(), 5000), 'the login page says the session expired', { url: page.url() });
    await b.shot('session-expired', page);
    const stash = await page.evaluate(stashed, `cms:unsaved:post:${id}`);
    t.match(stash, /Typed while the session ran out\./, 'the typed text waits in sessionStorage');
    t.notMatch(JSON.stringify(await app.mongo.db.collection('content_post').findOne({ _id: id as never })), /Typed while/, 'nothing was saved');

    await logIn(page, 'root@example.com');
    await until('the edit view again', () => new URL(page.url()).pathname === `/admin/content/post/${id}`);
    await until('the typed text to be restored', async () => (await page.getByLabel('Summary', { exact: true }).inputValue()) === 'Typed while the session ran out.');
    t.pass('the typed text is back in the form');
    await toast(page, 'Restored your unsaved changes').waitFor();
    await clickFor(page, 'Save draft', 'Saved');
    let stored = '';
    const saved = await holds(async () => {
      const res = await http('GET', `/api/content/post/${id}?preview=true`, { headers: adminHeaders });
      stored = JSON.stringify(res.body.data?.summary);
      return res.body.data?.summary === 'Typed while the session ran out.';
    }, 5000);
    t.ok(saved, `and it saves after signing in again (stored summary: ${stored})`);
    t.equal(await page.evaluate(stashed, `cms:unsaved:post:${id}`), null, 'the stash is gone once saved');
  });
});
