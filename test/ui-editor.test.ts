// The editor's day in a real browser: first-run setup, login, an author, a blog post with markdown,
// a reference and an uploaded cover; draft, publish, history and restore; logout.
import t from 'tap';
import { badge, clickFor, dismissToasts, holds, logIn, logOut, openBrowser, PASSWORD, pngFile, toast, until } from './browser.js';

t.test("the editor's day", async (t) => {
  const b = await openBrowser(t, 'editor', { env: { LOCALES: 'en,fr' } });
  const { page, http } = b;
  const fieldOf = (label: string) => page.getByLabel(label, { exact: true });

  // --- first run: the setup link creates the admin, who is then signed in ---
  const token = await b.setupToken();
  t.ok(token, 'an empty database opens first-run setup');
  await page.goto(`/admin/setup?token=${token}`);
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.getByLabel('Email').fill('ada@example.com');
  await page.getByLabel('Name').fill('Ada Editor');
  await page.getByLabel('Password').first().fill(PASSWORD);
  await page.getByRole('button', { name: 'Create admin', exact: true }).click();
  await page.getByRole('button', { name: 'Log out', exact: true }).waitFor();
  t.equal(await b.setupToken(), undefined, 'setup is closed once the admin exists');
  const admin = await b.app.mongo.db.collection('users').findOne({ email: 'ada@example.com' });
  t.equal(admin?.role, 'admin', 'the first user is an admin');

  // --- log out, log in again ---
  await logOut(page);
  t.match(new URL(page.url()).pathname, /^\/admin\/login/, 'logging out shows the login page');
  await b.shot('login');
  await logIn(page, 'ada@example.com');
  t.notMatch(new URL(page.url()).pathname, /login/, 'signed in again');

  // --- an author ---
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Author', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: /Author/ }).waitFor();
  await page.getByRole('button', { name: 'New entry', exact: true }).first().click();
  await fieldOf('Name').waitFor();
  await fieldOf('Name').fill('Ada Lovelace');
  t.ok(await holds(async () => (await fieldOf('Slug').inputValue()) === 'ada-lovelace'), 'the slug is filled from the name');
  if ((await fieldOf('Slug').inputValue()) !== 'ada-lovelace') await fieldOf('Slug').fill('ada-lovelace');
  await fieldOf('Email').fill('ada.lovelace@example.com');
  t.ok(await page.locator('.field').filter({ has: fieldOf('Email') }).last().getByText(/private/i).first().isVisible(), 'the email is marked private');
  await page.getByLabel('Bio', { exact: true }).fill('Wrote the **first** program.');
  await clickFor(page, 'Save', 'Saved');
  await until('the address to name the new author', () => /\/admin\/content\/author\/[^/]+$/.test(page.url()) && !page.url().endsWith('/new'));
  const authorId = page.url().split('/').pop()!;
  const author = await http('GET', `/api/content/author/${authorId}`);
  t.equal(author.status, 200, 'the author is delivered');
  t.equal(author.body.data?.name, 'Ada Lovelace', 'with its name');
  t.equal(author.body.data?.slug, 'ada-lovelace', 'and its slug');
  t.equal(author.body.data?.email, undefined, 'the private email is not delivered');
  t.equal((await b.app.mongo.db.collection('content_author').findOne({ _id: authorId as never }))?.email, 'ada.lovelace@example.com', 'the email is stored');

  // --- a blog post: localized text, markdown with a hostile payload, a reference, a cover ---
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Blog post', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: /Blog post/ }).waitFor();
  await page.getByRole('button', { name: 'New entry', exact: true }).first().click();
  await fieldOf('Title').waitFor();
  await fieldOf('Title').fill('Hello world');
  t.ok(await holds(async () => (await fieldOf('Slug').inputValue()) === 'hello-world'), 'the slug is filled from the title');
  if ((await fieldOf('Slug').inputValue()) !== 'hello-world') await fieldOf('Slug').fill('hello-world');
  await fieldOf('Summary').fill('A first post.');
  // what an editor writes, then what an attacker might paste
  const markdown = [
    '# Greetings',
    '',
    'Some **bold** text, a list and a [link](https://example.com):',
    '',
    '- first',
    '- second',
    '',
    '<script>window.__xss = "script"</script>',
    '',
    '<img src="x" onerror="window.__xss = \'onerror\'">',
    '',
    '[a link](javascript:window.__xss=1)',
  ].join('\n');
  const body = fieldOf('Body');
  await body.fill(markdown);

  // the preview renders the markdown, sanitized
  const bodyField = page.locator('.field').filter({ has: body }).last();
  await bodyField.getByRole('tab', { name: 'Preview', exact: true }).click();
  const preview = bodyField.locator('.markdown-preview');
  await preview.locator('strong').waitFor();
  t.equal(await preview.locator('h1').first().textContent(), 'Greetings', 'the heading is rendered');
  t.equal(await preview.locator('strong').first().textContent(), 'bold', 'bold text is rendered');
  t.equal(await preview.locator('script').count(), 0, 'no script element in the preview');
  t.equal(await preview.locator('[onerror]').count(), 0, 'no onerror attribute in the preview');
  t.equal(await preview.locator('a[href^="javascript:" i]').count(), 0, 'no javascript: link in the preview');
  t.equal(await page.evaluate(() => (globalThis as unknown as { __xss?: unknown }).__xss), undefined, 'nothing in the markdown ran');
  // back to writing
  await bodyField.getByRole('tab', { name: 'Write', exact: true }).click();
  t.equal(await body.inputValue(), markdown, 'the markdown is kept as typed');

  // French title through the locale switcher
  await switchLocale('fr');
  await fieldOf('Title').fill('Bonjour le monde');
  await switchLocale('en');
  t.equal(await fieldOf('Title').inputValue(), 'Hello world', 'the English title is kept across locale switches');

  // the author, through the reference picker's search
  await page.getByLabel('Search Author', { exact: true }).fill('Ada');
  await page.getByRole('button', { name: 'Ada Lovelace' }).first().click();
  const authorField = page.locator('.field').filter({ has: page.getByLabel('Search Author', { exact: true }) }).last();
  await authorField.getByText('Ada Lovelace', { exact: true }).waitFor();
  t.pass('the chosen author shows by name');

  // the cover, uploaded through the media picker, with alt text and a focal point
  const png = await pngFile(96, 64);
  // named "Choose media" and its field's label
  await page.getByRole('button', { name: /^Choose media\b/ }).first().click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Upload files').setInputFiles({ name: 'cover.png', mimeType: 'image/png', buffer: png });
  const media = await until('the upload to be stored', async () => b.app.mongo.db.collection('media').findOne({ filename: 'cover.png' }));
  const mediaId = String(media!._id);
  // an upload in the picker is the choice
  await dialog.waitFor({ state: 'hidden' });
  await page.getByLabel('Alt text').first().waitFor();
  await page.getByLabel('Alt text').first().fill('A colourful gradient');
  const focal = page.getByRole('slider', { name: /Focal point/ }).first();
  await focal.scrollIntoViewIfNeeded();
  const box = (await focal.boundingBox())!;
  await focal.click({ position: { x: box.width * 0.25, y: box.height * 0.75 } });
  await clickFor(page, 'Save details', 'Saved details');
  await until('the alt text and focal point to be stored on the media', async () => {
    const doc = await b.app.mongo.db.collection('media').findOne({ _id: mediaId as never });
    return doc?.alt === 'A colourful gradient' && Math.abs(doc.focal?.x - 0.25) < 0.05 && Math.abs(doc.focal?.y - 0.75) < 0.05;
  });
  t.pass('alt text and focal point are saved on the media item');
  t.ok(await page.locator(`img[src*="${mediaId}"]`).count(), 'the cover shows as a thumbnail');
  await dismissToasts(page);
  await page.getByLabel('Search Author', { exact: true }).scrollIntoViewIfNeeded();
  await b.shot('edit-form-references');

  // --- save a draft: not delivered ---
  await clickFor(page, 'Save draft', 'Saved');
  await until('the address to name the new post', () => /\/admin\/content\/post\/[^/]+$/.test(page.url()) && !page.url().endsWith('/new'));
  const postId = page.url().split('/').pop()!;
  await until('the Draft badge', async () => (await badge(page).textContent())?.trim() === 'Draft');
  t.match(await badge(page).getAttribute('class'), /badge-draft/, 'the status shows as a draft');
  await dismissToasts(page);
  await b.shot('edit-form');
  t.equal((await http('GET', `/api/content/post/${postId}`)).status, 404, 'a draft is not delivered');
  const listed = await http('GET', '/api/content/post');
  t.equal(listed.status, 200, 'the anonymous list answers');
  t.notOk(listed.body.data.some((e: { _id: string }) => e._id === postId), 'a draft is not listed');

  // --- publish: delivered with the author and the cover ---
  await clickFor(page, 'Publish', 'Published');
  await until('the Published badge', async () => (await badge(page).textContent())?.trim() === 'Published');
  const published = await http('GET', `/api/content/post/${postId}`);
  t.equal(published.status, 200, 'the published post is delivered');
  t.match(published.body.data, { title: 'Hello world', slug: 'hello-world', summary: 'A first post.', author: authorId, cover: mediaId }, 'with its fields, author and cover');
  t.match(published.body.data.body, /\*\*bold\*\*/, 'the markdown is stored as written');
  const french = await http('GET', `/api/content/post/${postId}?locale=fr`);
  t.equal(french.body.data?.title, 'Bonjour le monde', 'the French title is delivered');
  t.ok((await http('GET', '/api/content/post')).body.data.some((e: { _id: string }) => e._id === postId), 'the post is listed');

  // --- edit, see the history with its diff, restore ---
  await fieldOf('Title').fill('Hello again');
  await clickFor(page, 'Save draft', 'Saved');
  await until('the Changed badge', async () => (await badge(page).textContent())?.trim() === 'Changed');
  t.equal((await http('GET', `/api/content/post/${postId}`)).body.data?.title, 'Hello world', 'the unpublished edit is not delivered');
  await page.getByRole('button', { name: 'History', exact: true }).click();
  const history = page.getByRole('complementary', { name: 'History' });
  // version 1 holds the first title
  const first = history.getByRole('listitem').filter({ hasText: /Version 1\b/ });
  await first.getByRole('button', { name: 'Compare with current' }).click();
  const titleRow = history.getByRole('row', { name: /Title/ });
  await titleRow.waitFor();
  t.equal((await titleRow.locator('.diff-before').textContent())?.trim(), 'Hello world', 'the diff shows the old title');
  t.equal((await titleRow.locator('.diff-after').textContent())?.trim(), 'Hello again', 'and the new one');
  await dismissToasts(page);
  await b.shot('history');
  await first.getByRole('button', { name: 'Restore this version' }).click();
  // restoring asks first
  const restoreDialog = page.getByRole('dialog').filter({ hasText: 'Restore version 1?' });
  await restoreDialog.getByRole('button', { name: 'Restore', exact: true }).click();
  await toast(page, 'Restored version 1').waitFor();
  await until('the form to show the restored title', async () => (await fieldOf('Title').inputValue()) === 'Hello world');
  t.pass('the form shows the restored title');
  const draft = await page.evaluate(async (id) => (await (await fetch(`/api/content/post/${id}?preview=true`)).json()) as { data: { title: string; _version: number } }, postId);
  t.match(draft.data, { title: 'Hello world', _version: 4 }, 'the restore is saved as a new version');

  // --- the list and the media library ---
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Blog post', exact: true }).click();
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'hello-world', exact: true }) });
  await row.waitFor();
  t.equal((await row.locator('.badge').textContent())?.trim(), 'Changed', 'the list shows the unpublished changes');
  await dismissToasts(page);
  await b.shot('list');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Media', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: /Media/ }).waitFor();
  await page.locator(`img[src*="${mediaId}"]`).first().waitFor();
  // a few more pictures, several at once
  const more = await Promise.all(
    [[220, 120, 60], [40, 140, 200], [90, 180, 110]].map(async ([r, g, bl], i) => ({ name: `photo-${i + 1}.png`, mimeType: 'image/png', buffer: await pngFile(120 + i * 8, 80, [r!, g!, bl!]) })),
  );
  await page.getByLabel('Upload files').setInputFiles(more);
  await until('the library to show four images', async () => (await page.locator('img.media-thumb').count()) === 4);
  t.equal(await b.app.mongo.db.collection('media').countDocuments(), 4, 'four files are stored');
  await dismissToasts(page);
  await b.shot('media-library');

  // --- the day ends ---
  await logOut(page);
  const me = await page.evaluate(async () => (await fetch('/api/auth/me')).status);
  t.equal(me, 401, 'the session is gone after logging out');
  await page.goto('/admin/content/post');
  await page.getByRole('button', { name: 'Log in', exact: true }).waitFor();
  t.match(new URL(page.url()).pathname, /^\/admin\/login/, 'signed-in pages send a signed-out visitor to login');

  async function switchLocale(locale: string) {
    await page.getByLabel('Locale', { exact: true }).selectOption(locale);
  }
});
