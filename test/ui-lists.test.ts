// The list view and the edit view's safeguards in a real browser: columns, search, filters, sort,
// pages, bulk publish and delete; a singleton; the unsaved-changes guard; a conflicting save;
// scheduling a publish.
import t from 'tap';
import type { Page } from 'playwright-core';
import { badge, clickFor, dismissToasts, holds, logIn, openBrowser, PASSWORD, toast, until } from './browser.js';
import { call, countStored, signIn, type Json } from './helpers.js';

/** The list's page size (admin-ui/src/pages/ListPage.tsx). */
const PAGE_SIZE = 25;
const ARTICLES = 30;
const pad = (n: number) => String(n).padStart(2, '0');
const formatOf = (n: number) => (n % 3 === 0 ? 'video' : 'standard');
const featuredOf = (n: number) => n % 5 === 0;

/** The display-field texts of the list's rows, top to bottom. */
const rowTitles = (page: Page) => page.locator('table.entries tbody td.col-title').allTextContents().then((l) => l.map((s) => s.trim()));

/** A local date-time as a datetime-local input takes it (minutes). */
function localInput(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

t.test('lists and edit-view safeguards in the admin UI', async (t) => {
  const b = await openBrowser(t, 'lists');
  const { app, http } = b;
  await app.auth.createUser({ email: 'root@example.com', name: 'Root', password: PASSWORD, role: 'admin' });
  const adminHeaders = await signIn(app, 'admin', 'api-admin@example.com');
  const api = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<{ status: number; body: Json }> => call(app, method, url, body, adminHeaders);

  // seeding goes through the API: what is tested is the list, not the form
  const articleIds = new Map<string, string>();
  for (let n = 1; n <= ARTICLES; n++) {
    const res = await api('POST', '/api/content/article', { title: `Article ${pad(n)}`, slug: `article-${pad(n)}`, format: formatOf(n), featured: featuredOf(n) });
    if (res.status !== 201) t.fail(`seeding article ${n}`, { body: res.body });
    articleIds.set(`Article ${pad(n)}`, String(res.body.data._id));
  }
  t.equal(await countStored(app, 'article'), ARTICLES, `${ARTICLES} articles seeded`);

  await t.test('columns, search, filters, sort and pages', async (t) => {
    const page = await b.newPage(t, 'list');
    await logIn(page, 'root@example.com');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Article', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Article' }).waitFor();
    await until('a full first page', async () => (await rowTitles(page)).length === PAGE_SIZE);
    const headers = (await page.locator('table.entries thead th:not(.col-check)').allTextContents()).map((s) => s.replace(/[^\w ]/g, '').trim()).filter(Boolean);
    t.same(headers, ['Title', 'Updated', 'Author'], 'the columns: display field, updated, author (no status: articles have no drafts)');
    t.ok((await rowTitles(page)).every((s) => /^Article \d\d$/.test(s)), 'rows show the display field');
    await b.shot('articles', page);

    // pages
    const first = await rowTitles(page);
    t.equal(await page.getByRole('button', { name: 'Previous page', exact: true }).isDisabled(), true, 'no previous page on the first');
    await page.getByRole('button', { name: 'Next page', exact: true }).click();
    await until('the second page', async () => (await rowTitles(page)).length === ARTICLES - PAGE_SIZE);
    const second = await rowTitles(page);
    t.equal(new Set([...first, ...second]).size, ARTICLES, 'the two pages hold every article once');
    t.equal(await page.getByRole('button', { name: 'Next page', exact: true }).isDisabled(), true, 'no next page on the last');
    await page.getByRole('button', { name: 'Previous page', exact: true }).click();
    await until('the first page again', async () => JSON.stringify(await rowTitles(page)) === JSON.stringify(first));
    t.pass('"Previous page" shows the first page again');

    // sort by the display field: ascending, then descending
    const titleHeader = page.locator('table.entries thead th').filter({ hasText: 'Title' });
    t.equal(await titleHeader.getAttribute('aria-sort'), 'none', 'not sorted by title at first');
    await titleHeader.getByRole('button').click();
    await until('ascending titles', async () => (await rowTitles(page))[0] === 'Article 01');
    t.equal(await titleHeader.getAttribute('aria-sort'), 'ascending', 'aria-sort says ascending');
    const asc = await rowTitles(page);
    t.same(asc, [...asc].sort(), 'rows are in ascending title order');
    await titleHeader.getByRole('button').click();
    await until('descending titles', async () => (await rowTitles(page))[0] === 'Article 30');
    t.equal(await titleHeader.getAttribute('aria-sort'), 'descending', 'aria-sort says descending');
    const desc = await rowTitles(page);
    t.same(desc, [...desc].sort().reverse(), 'clicking again reverses the order');
    t.match(page.url(), /sort=-title/, 'the sort is in the address');

    // search narrows the rows
    await page.getByLabel('Search', { exact: true }).fill('Article 1');
    await until('the search to narrow the rows', async () => (await rowTitles(page)).length === 10);
    t.same((await rowTitles(page)).sort(), Array.from({ length: 10 }, (_, i) => `Article 1${i}`), 'only titles containing "Article 1"');
    await b.shot('search', page);
    await page.getByLabel('Search', { exact: true }).fill('');
    await until('every row back', async () => (await rowTitles(page)).length === PAGE_SIZE);

    // filters built from the field types: an enum and a boolean
    await page.locator('details.list-filters > summary').click();
    await page.getByLabel('Format', { exact: true }).selectOption('video');
    const videos = Array.from({ length: ARTICLES }, (_, i) => i + 1).filter((n) => formatOf(n) === 'video').map((n) => `Article ${pad(n)}`);
    await until('the format filter', async () => (await rowTitles(page)).length === videos.length);
    t.same((await rowTitles(page)).sort(), videos, 'the enum filter keeps only video articles');
    await page.getByLabel('Featured', { exact: true }).selectOption('true');
    const both = videos.filter((s) => featuredOf(Number(s.slice(-2))));
    await until('the boolean filter too', async () => (await rowTitles(page)).length === both.length);
    t.same((await rowTitles(page)).sort(), both, 'the boolean filter narrows further: featured videos');
    t.match(decodeURIComponent(page.url()), /filter\[format\]\[eq\]=video.*filter\[featured\]\[eq\]=true|filter\[featured\]\[eq\]=true.*filter\[format\]\[eq\]=video/, 'the filters are in the address');
    await b.shot('filters', page);
    await page.getByLabel('Featured', { exact: true }).selectOption('false');
    const notFeatured = videos.filter((s) => !featuredOf(Number(s.slice(-2))));
    await until('featured = no', async () => (await rowTitles(page)).length === notFeatured.length);
    t.same((await rowTitles(page)).sort(), notFeatured, '"No" keeps the videos not featured');
  });

  await t.test('status badges, bulk publish, bulk delete with a refused entry', async (t) => {
    const posts = new Map<string, string>();
    for (const slug of ['post-a', 'post-b', 'post-c']) {
      const res = await api('POST', '/api/content/post', { title: { en: slug }, slug, body: { en: 'Words.' } });
      t.equal(res.status, 201, `the API creates ${slug}`, { body: res.body });
      posts.set(slug, String(res.body.data._id));
    }
    const page = await b.newPage(t, 'bulk');
    await logIn(page, 'root@example.com');
    await page.goto('/admin/content/post');
    await until('three posts', async () => (await rowTitles(page)).length === 3);
    const statusHeader = page.locator('table.entries thead th').filter({ hasText: 'Status' });
    t.equal(await statusHeader.count(), 1, 'a type with drafts has a Status column');
    const rowOf = (slug: string) => page.locator('table.entries tbody tr').filter({ has: page.getByRole('link', { name: slug, exact: true }) });
    const badgeOf = async (slug: string) => ((await rowOf(slug).locator('.badge').textContent()) ?? '').trim();
    for (const slug of posts.keys()) t.equal(await badgeOf(slug), 'Draft', `${slug} shows a Draft badge`);
    t.equal(await rowOf('post-a').locator('.badge.badge-draft').count(), 1, 'with the badge-draft class');

    await page.getByLabel('Select post-a', { exact: true }).check();
    await page.getByLabel('Select post-b', { exact: true }).check();
    await clickFor(page, 'Publish selected', 'Published 2 entries');
    await until('the Published badges', async () => (await badgeOf('post-a')) === 'Published' && (await badgeOf('post-b')) === 'Published');
    t.equal(await badgeOf('post-c'), 'Draft', 'the unselected post stays a draft');
    t.equal(await rowOf('post-a').locator('.badge.badge-published').count(), 1, 'with the badge-published class');
    await b.shot('bulk-published', page);
    for (const slug of ['post-a', 'post-b']) t.equal((await http('GET', `/api/content/post/${posts.get(slug)}`)).status, 200, `the delivery API serves ${slug}`);
    t.equal((await http('GET', `/api/content/post/${posts.get('post-c')}`)).status, 404, 'but not the draft');
    const delivered = await http('GET', '/api/content/post');
    t.same(delivered.body.data.map((e: Json) => e.slug).sort(), ['post-a', 'post-b'], 'the public list has exactly the two published');

    // three authors, one of them referenced by an article
    const authors = new Map<string, string>();
    for (const name of ['Ann Able', 'Bob Baker', 'Cy Cited']) {
      const res = await api('POST', '/api/content/author', { name, slug: name.toLowerCase().replace(' ', '-'), email: `${name.split(' ')[0]!.toLowerCase()}@example.com` });
      t.equal(res.status, 201, `the API creates ${name}`, { body: res.body });
      authors.set(name, String(res.body.data._id));
    }
    const citing = await api('POST', '/api/content/article', { title: 'Citing Cy', slug: 'citing-cy', author: authors.get('Cy Cited') });
    t.equal(citing.status, 201, 'an article refers to Cy Cited', { body: citing.body });

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Author', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Author' }).waitFor();
    await until('three authors', async () => (await rowTitles(page)).length === 3);
    await page.getByLabel('Select all entries on this page', { exact: true }).check();
    await page.getByRole('button', { name: 'Delete selected', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    t.match((await dialog.textContent()) ?? '', /Delete 3 entries\?/, 'the confirm dialog asks about 3 entries');
    const asked = (await dialog.textContent()) ?? '';
    t.ok(['Ann Able', 'Bob Baker', 'Cy Cited'].every((name) => asked.includes(name)), 'and names them');
    await b.shot('bulk-delete-confirm', page);
    await dismissToasts(page);
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await toast(page, 'Deleted 2 entries').waitFor();
    const failures = page.locator('.failures[role="alert"], [role="alert"]').filter({ hasText: /could not be deleted/ }).first();
    await failures.waitFor();
    const report = ((await failures.textContent()) ?? '').replace(/\s+/g, ' ');
    t.match(report, /One entry could not be deleted/, `the refusal is reported: "${report}"`);
    t.match(report, /Cy Cited/, 'naming the referenced author');
    t.match(report, /refer|used|referenc/i, 'with the reason');
    await b.shot('bulk-delete-refused', page);
    await until('only the referenced author listed', async () => JSON.stringify(await rowTitles(page)) === '["Cy Cited"]');
    t.equal(await countStored(app, 'author'), 1, 'two authors deleted, one kept');
    t.equal((await api('GET', `/api/content/author/${authors.get('Cy Cited')}`)).status, 200, 'the referenced author is still there');
    t.equal((await api('GET', `/api/content/author/${authors.get('Ann Able')}`)).status, 404, 'Ann Able is gone');
  });

  await t.test('a singleton opens straight into its edit view and saves', async (t) => {
    t.equal((await http('GET', '/api/content/site-settings')).status, 404, 'no site settings yet');
    const page = await b.newPage(t, 'singleton');
    await logIn(page, 'root@example.com');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Site settings', exact: true }).click();
    const siteName = page.getByLabel('Site name', { exact: true });
    await siteName.waitFor();
    t.match(new URL(page.url()).pathname, /^\/admin\/content\/site-settings(\/single)?$/, 'the edit view, no list');
    t.equal(await page.locator('table.entries').count(), 0, 'no entries table');
    await siteName.fill('Ada’s notebook');
    await clickFor(page, 'Save', 'Saved');
    const created = await until('the settings to be stored', async () => {
      const res = await http('GET', '/api/content/site-settings');
      return res.status === 200 && res.body.data.siteName === 'Ada’s notebook' && res.body;
    });
    t.ok(created, 'saving creates the singleton (delivered publicly)');
    await b.shot('singleton', page);
    await until('the saved form', async () => (await siteName.inputValue()) === 'Ada’s notebook');
    await siteName.fill('Ada’s new notebook');
    await clickFor(page, 'Save', 'Saved');
    t.ok(await holds(async () => (await http('GET', '/api/content/site-settings')).body.data?.siteName === 'Ada’s new notebook', 5000), 'saving again updates it');
    t.equal(await app.mongo.db.collection('content_site-settings').countDocuments(), 1, 'still one stored entry');
  });

  await t.test('leaving with unsaved changes asks first', async (t) => {
    const page = await b.newPage(t, 'guard');
    await logIn(page, 'root@example.com');
    await page.goto('/admin/content/article?sort=title');
    await page.getByRole('link', { name: 'Article 05', exact: true }).click();
    // (the SEO group has a Title of its own)
    const title = page.locator('#root_title');
    await until('the entry to load', async () => (await title.inputValue()) === 'Article 05');
    const editUrl = page.url();
    await title.fill('Article 05 with unsaved words');
    const leave = page.getByRole('dialog').filter({ hasText: 'Leave without saving?' });

    // a sidebar link
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Page', exact: true }).click();
    await leave.waitFor();
    t.pass('a sidebar link asks "Leave without saving?"');
    await b.shot('leave-dialog', page);
    await leave.getByRole('button', { name: 'Stay', exact: true }).click();
    await leave.waitFor({ state: 'hidden' });
    t.equal(page.url(), editUrl, 'Stay keeps the edit view');
    t.equal(await title.inputValue(), 'Article 05 with unsaved words', 'and the typed text');

    // the browser's Back button
    await page.evaluate(() => (globalThis as unknown as { history: { back(): void } }).history.back());
    await leave.waitFor();
    t.pass('Back asks too');
    await leave.getByRole('button', { name: 'Stay', exact: true }).click();
    await leave.waitFor({ state: 'hidden' });
    t.ok(await holds(() => page.url() === editUrl, 2000), 'Stay after Back keeps the edit view', { url: page.url() });
    t.equal(await title.inputValue(), 'Article 05 with unsaved words', 'and the typed text');

    // leaving for real
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Page', exact: true }).click();
    await leave.getByRole('button', { name: 'Leave without saving', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Page' }).waitFor();
    t.equal(new URL(page.url()).pathname, '/admin/content/page', '"Leave without saving" goes on');
    const stored = await api('GET', `/api/content/article/${articleIds.get('Article 05')}`);
    t.equal(stored.body.data.title, 'Article 05', 'nothing was saved');
  });

  await t.test('a save that conflicts with a change made meanwhile overwrites nothing', async (t) => {
    const id = articleIds.get('Article 07')!;
    const page = await b.newPage(t, 'conflict');
    await logIn(page, 'root@example.com');
    await page.goto(`/admin/content/article/${id}`);
    const excerpt = page.getByLabel('Excerpt', { exact: true });
    await until('the entry to load', async () => (await page.locator('#root_title').inputValue()) === 'Article 07');

    // someone else saves through the API while the form is open
    const current = await api('GET', `/api/content/article/${id}`);
    const theirs = await call(app, 'PATCH', `/api/content/article/${id}`, { excerpt: 'Written by someone else.' }, { ...adminHeaders, 'if-match': `"${current.body.data._version}"` });
    t.equal(theirs.status, 200, 'the other change is saved through the API', { body: theirs.body });

    await excerpt.fill('Written in the browser.');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const notice = page.locator('[role="alert"]').filter({ hasText: /changed this entry/ }).first();
    await notice.waitFor();
    t.match(((await notice.textContent()) ?? '').replace(/\s+/g, ' '), /Someone else changed this entry since you opened it/, 'a conflict notice shows');
    t.equal(await notice.getByRole('button', { name: 'Reload', exact: true }).count(), 1, 'with a Reload button');
    await b.shot('conflict', page);
    const after = await api('GET', `/api/content/article/${id}`);
    t.equal(after.body.data.excerpt, 'Written by someone else.', 'the other change is not overwritten');
    t.equal(after.body.data._version, theirs.body.data._version, 'no new version was written');
    await notice.getByRole('button', { name: 'Reload', exact: true }).click();
    await until('their text in the form', async () => (await excerpt.inputValue()) === 'Written by someone else.');
    t.pass('Reload shows the saved version');
    await notice.waitFor({ state: 'hidden' });
  });

  await t.test('scheduling a publish, and cancelling it', async (t) => {
    const made = await api('POST', '/api/content/post', { title: { en: 'Later' }, slug: 'later', body: { en: 'Soon.' } });
    t.equal(made.status, 201, 'the API creates a draft post', { body: made.body });
    const id = String(made.body.data._id);
    const page = await b.newPage(t, 'schedule');
    await logIn(page, 'root@example.com');
    await page.goto(`/admin/content/post/${id}`);
    await until('the Draft badge', async () => (await badge(page).textContent())?.trim() === 'Draft');
    await page.getByRole('button', { name: 'Schedule…', exact: true }).click();
    const dialog = page.getByRole('dialog').filter({ hasText: 'Schedule' });
    await dialog.waitFor();
    const when = new Date(Date.now() + 2 * 86_400_000);
    when.setSeconds(0, 0);
    await dialog.getByLabel('When', { exact: true }).fill(localInput(when));
    await dismissToasts(page);
    await dialog.getByRole('button', { name: 'Add schedule', exact: true }).click();
    await toast(page, /Scheduled to publish on/).waitFor();
    const pendingItem = page.locator('.schedule-item').filter({ hasText: /Scheduled to publish on/ });
    await pendingItem.waitFor();
    t.pass('the pending schedule shows in the edit view');
    await b.shot('scheduled', page);
    const listed = await api('GET', `/api/schedules?type=post&entry=${id}&state=pending`);
    t.equal(listed.body.data?.length, 1, 'GET /api/schedules lists it', { body: listed.body });
    t.match(listed.body.data?.[0], { entryId: id, action: 'publish', state: 'pending' }, 'a pending publish of this post');
    t.equal(Date.parse(listed.body.data?.[0]?.at), when.getTime(), 'at the chosen time');

    await clickFor(page, 'Cancel schedule', 'Cancelled the scheduled publish');
    await pendingItem.waitFor({ state: 'hidden' });
    t.pass('the schedule leaves the list');
    const after = await api('GET', `/api/schedules?type=post&entry=${id}&state=pending`);
    t.equal(after.body.data?.length, 0, 'and the API has no pending schedule', { body: after.body });
    t.equal((await http('GET', `/api/content/post/${id}`)).status, 404, 'the post is still unpublished');
  });

  t.same(b.problems.filter((p) => /^5\d\d:/.test(p)), [], 'the server answered no request with a 5xx');
});
