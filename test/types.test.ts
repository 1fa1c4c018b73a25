// `cms types`: the declarations compile under strict TypeScript, accept the entries the API really
// answers, and refuse what the content types do not allow.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import ts from 'typescript';
import { generateTypes, typesCommand } from '../src/codegen/types.js';
import { loadContentTypes } from '../src/content-types/loader.js';
import { buildTestApp, call, EXAMPLE_TYPES, ROOT, type Json } from './helpers.js';

const LOCALES = { locales: ['en', 'fr'], default: 'en', chains: { en: [], fr: ['en'] } };

/** Type-checks these files (strict) and returns the diagnostics of each. */
function typeCheck(dir: string, files: string[]): Map<string, string[]> {
  const program = ts.createProgram(
    files.map((f) => join(dir, f)),
    {
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2022.d.ts'],
      types: [],
    },
  );
  const out = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const file = d.file ? d.file.fileName.slice(dir.length + 1) : '(global)';
    const list = out.get(file) ?? [];
    list.push(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    out.set(file, list);
  }
  return out;
}

const lit = (value: unknown) => JSON.stringify(value, null, 2);

t.test('the generated declarations type real entries and refuse bad ones', async (t) => {
  const app = await buildTestApp(t, { env: { LOCALES: 'en,fr' } });
  const author = (await call(app, 'POST', '/api/content/author', { name: 'Ada', slug: 'ada', email: 'ada@example.com', social: [{ network: 'github', url: 'https://github.com/ada' }] })).body.data as Json;
  const category = (await call(app, 'POST', '/api/content/category', { name: 'News', slug: 'news' })).body.data as Json;
  const created = await call(app, 'POST', '/api/content/article', { title: 'Hello', slug: 'hello', author: author._id, categories: [category._id], seo: { title: 'SEO' }, editorNotes: 'private' });
  t.equal(created.status, 201);
  const article = created.body.data as Json;
  const post = (await call(app, 'POST', '/api/content/post', { title: { en: 'Hi', fr: 'Salut' }, slug: 'hi', body: { en: 'Text', fr: 'Texte' }, author: author._id, related: [] })).body.data as Json;
  t.equal((await call(app, 'POST', `/api/content/post/${post._id}/publish`)).status, 200);
  t.equal((await call(app, 'PUT', '/api/content/site-settings', { siteName: 'Site', navigation: [{ label: 'Home' }] })).status, 201);

  const read = async (url: string, anonymous = false) => {
    const res = await call(app, 'GET', url, undefined, anonymous ? { cookie: '' } : {});
    if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
    return res.body;
  };
  const fetched = {
    post: (await read(`/api/content/post/${post._id}?locale=fr`)).data,
    postAnonymous: (await read(`/api/content/post/${post._id}`, true)).data,
    postStored: (await read(`/api/content/post/${post._id}?locale=*`)).data,
    postPopulated: (await read(`/api/content/post/${post._id}?populate=author,related,cover`)).data,
    article: (await read(`/api/content/article/${article._id}`)).data,
    articlePopulated: (await read(`/api/content/article/${article._id}?populate=author,categories,cover,gallery`)).data,
    authorAnonymous: (await read(`/api/content/author/${author._id}`, true)).data,
    settings: (await read('/api/content/site-settings')).data,
    list: await read('/api/content/article?limit=10', true),
  };
  t.equal(fetched.articlePopulated.author._id, author._id, 'populated for real');
  t.equal(fetched.post.title, 'Salut', 'flattened to one locale');
  t.same(fetched.postStored.title, { en: 'Hi', fr: 'Salut' }, 'stored per locale');
  t.notOk('email' in fetched.authorAnonymous, 'anonymous reads have no private fields');

  const registry = await loadContentTypes(EXAMPLE_TYPES, { locales: LOCALES });
  const text = await generateTypes(registry, { locales: LOCALES.locales });
  const dir = await mkdtemp(join(tmpdir(), 'cms-types-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'cms-types.ts'), text);
  for (const name of ['Post', 'PostStored', 'PostPopulated', 'PostInput', 'Article', 'ArticlePopulated', 'SiteSettings', 'ContentTypes', 'Localized<T>', 'MediaObject']) {
    t.match(text, new RegExp(`export (interface|type) ${name.replace(/[<>]/g, '\\$&')}(?![A-Za-z0-9])`), `declares ${name}`);
  }

  const header = "import type { Article, ArticleInput, ArticlePopulated, Author, ContentTypeId, ContentTypes, ListResponse, Localized, Post, PostInput, PostPopulated, PostStored, SiteSettings } from './cms-types.js';\n";
  const good = `${header}
const post: Post = ${lit(fetched.post)};
const anonymous: Post = ${lit(fetched.postAnonymous)};
const stored: PostStored = ${lit(fetched.postStored)};
const populated: PostPopulated = ${lit(fetched.postPopulated)};
const article: Article = ${lit(fetched.article)};
const articlePopulated: ArticlePopulated = ${lit(fetched.articlePopulated)};
const author: Author = ${lit(fetched.authorAnonymous)};
const settings: SiteSettings = ${lit(fetched.settings)};
const list: ListResponse<Article> = ${lit(fetched.list)};
const draft: PostInput = { slug: 'only-a-slug' };
const body: ArticleInput = { title: 'T', slug: 't', seo: { noIndex: true } };
const titles: Localized<string> = { en: 'Hello', fr: 'Bonjour' };
function idOf<K extends ContentTypeId>(_type: K, entry: ContentTypes[K]['entry']): string {
  return entry._id;
}
const authorName: string | undefined = articlePopulated.author?.name;
const frTitle: string | undefined = stored.title.fr;
const singleton: ContentTypes['site-settings']['singleton'] = true;
export const used = [post, anonymous, populated, article, author, settings, list, draft, body, titles, idOf('post', post), authorName, frTitle, singleton];
`;
  const expected: Record<string, RegExp> = {
    'localized-read-is-plain': /not assignable to type 'string'/,
    'stored-is-per-locale': /Localized<string>/,
    'unknown-locale': /'de' does not exist/,
    'wrong-field-type': /not assignable to type 'number'/,
    'unknown-field': /'surprise' does not exist/,
    'enum-value': /'\"poem\"' is not assignable/,
    'other-type': /'\"page\"' is not assignable to type '\"article\"'/,
    'populated-ref-is-entry': /not assignable to type 'Author'/,
    'required-field': /Property 'title' is missing/,
    'draft-needs-unique': /not assignable to type 'PostInput'/,
    'unknown-type-id': /not assignable to type 'keyof ContentTypes'/,
    'nested-object': /not assignable to type 'boolean \| undefined'/,
  };
  const bad: Record<string, string> = {
    'localized-read-is-plain': `const p: Post = { ...${lit(fetched.post)}, title: { en: 'x' } };`,
    'stored-is-per-locale': `const p: PostStored = { ...${lit(fetched.postStored)}, title: 'plain' };`,
    'unknown-locale': "const l: Localized<string> = { de: 'Hallo' };",
    'wrong-field-type': `const a: Article = { ...${lit(fetched.article)}, rating: 'five' };`,
    'unknown-field': `const a: Article = { ...${lit(fetched.article)}, surprise: 1 };`,
    'enum-value': `const a: Article = { ...${lit(fetched.article)}, format: 'poem' };`,
    'other-type': `const a: Article = { ...${lit(fetched.article)}, _type: 'page' };`,
    'populated-ref-is-entry': `const a: ArticlePopulated = { ...${lit(fetched.article)}, author: 'an-id' };`,
    'required-field': "const b: ArticleInput = { slug: 'no-title' };",
    'draft-needs-unique': "const d: PostInput = { title: { en: 'no slug' } };",
    'unknown-type-id': "const k: ContentTypeId = 'nope';",
    'nested-object': `const a: Article = { ...${lit(fetched.article)}, seo: { noIndex: 'yes' } };`,
  };
  await writeFile(join(dir, 'good.ts'), good);
  for (const [name, code] of Object.entries(bad)) {
    await writeFile(join(dir, `${name}.ts`), `${header}${code}\nexport {};\n`);
  }
  const diagnostics = typeCheck(dir, ['cms-types.ts', 'good.ts', ...Object.keys(bad).map((n) => `${n}.ts`)]);
  t.same(diagnostics.get('cms-types.ts'), [], 'the declarations compile under strict');
  t.same(diagnostics.get('(global)') ?? [], [], 'no global errors');
  // unused imports are fine; anything else in good.ts is a mismatch between the types and the API
  t.same(diagnostics.get('good.ts'), [], 'real entries, bodies and usage type-check');
  for (const name of Object.keys(bad)) {
    const found = diagnostics.get(`${name}.ts`)!;
    t.ok(found.length > 0, `${name}: refused`);
    t.match(found.join('\n'), expected[name]!, `${name}: for the right reason`);
    if (process.env.SHOW_TS_ERRORS) t.comment(`${name}: ${found.join(' / ')}`);
  }
});

t.test('cms types writes the file, or prints it with --out -', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cms-types-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'types.d.ts');
  const messages: string[] = [];
  t.equal(await typesCommand({ dir: EXAMPLE_TYPES, out }, () => undefined, (s) => messages.push(s)), 0);
  const written = await readFile(out, 'utf8');
  t.match(written, /export interface ContentTypes \{/);
  t.match(messages.join(''), /6 content types/);
  let printed = '';
  t.equal(await typesCommand({ dir: EXAMPLE_TYPES, out: '-' }, (s) => (printed += s), () => undefined), 0);
  t.equal(printed, written, 'the same text on standard output');
  const errors: string[] = [];
  t.equal(await typesCommand({ dir: join(dir, 'missing'), out: join(dir, 'nothing.d.ts') }, () => undefined, (s) => errors.push(s)), 1, 'a bad directory is a failure');
  t.match(errors.join(''), /cannot read directory/);

  // through the real command line, as `npm run types` runs it
  const run = promisify(execFile);
  const { stdout } = await run(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'index.js'), 'types', '--dir', EXAMPLE_TYPES, '--out', '-'], {
    env: { ...process.env, LOCALES: 'en,fr,de' },
  });
  t.match(stdout, /export type Locale = "en" \| "fr" \| "de";/, 'LOCALES from the environment');
  t.match(stdout, /export interface PostPopulated extends Omit<Post, "author" \| "related" \| "cover">/);
  const bad = await run(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'index.js'), 'types', '--dir', EXAMPLE_TYPES, '--out', '-'], {
    env: { ...process.env, LOCALES: '!!' },
  }).then(() => 0, (e: { code: number }) => e.code);
  t.equal(bad, 2, 'bad LOCALES: a usage error');
});

t.test('types with $defs of the same name, and names that collide, still compile', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cms-types-defs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const typesDir = join(dir, 'types');
  await mkdir(typesDir);
  const withDefs = (title: string, extra: Record<string, unknown> = {}) => ({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title,
    type: 'object',
    $defs: { place: { title: 'Place', type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false } },
    properties: { venue: { $ref: '#/$defs/place' }, ...extra },
    additionalProperties: false,
  });
  await writeFile(join(typesDir, 'event.json'), JSON.stringify(withDefs('Event', { secret: { type: 'string', 'x-cms': { private: true } } })));
  await writeFile(join(typesDir, 'tour.json'), JSON.stringify(withDefs('Tour', { event: { type: 'string', 'x-cms': { ref: 'event' } } })));
  // `event-stored` would be named like the stored variant of `event`
  await writeFile(join(typesDir, 'event-stored.json'), JSON.stringify(withDefs('Event stored')));
  const registry = await loadContentTypes(typesDir);
  const text = await generateTypes(registry);
  await writeFile(join(dir, 'cms-types.ts'), text);
  await writeFile(
    join(dir, 'use.ts'),
    `import type { ContentTypes, Event, EventStored, EventStoredType, TourPopulated } from './cms-types.js';
const e: Event = { _id: '0123456789abcdef01234567', _type: 'event', _version: 1, _createdAt: '', _updatedAt: '', _status: 'published', venue: { city: 'Lyon' } };
const s: EventStored = { ...e };
const other: EventStoredType = { ...e, _type: 'event-stored' };
const tour: TourPopulated = { _id: '0123456789abcdef01234568', _type: 'tour', _version: 1, _createdAt: '', _updatedAt: '', _status: 'published', event: e };
const entry: ContentTypes['event-stored']['entry'] = other;
export const used = [s, tour, entry];
`,
  );
  await writeFile(join(dir, 'bad.ts'), "import type { Event } from './cms-types.js';\nexport const e: Partial<Event> = { venue: { town: 'Lyon' } };\n");
  const diagnostics = typeCheck(dir, ['cms-types.ts', 'use.ts', 'bad.ts']);
  t.same(diagnostics.get('cms-types.ts'), [], 'the declarations compile');
  t.same(diagnostics.get('use.ts'), [], 'the usage type-checks');
  t.match(diagnostics.get('bad.ts')!.join('\n'), /'town' does not exist/, 'a $defs shape is checked');
  t.match(text, /export interface EventPlace\b/, '$defs are named after their type');
  t.match(text, /export interface TourPlace\b/);
});
