import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ContentTypeLoadError, loadContentTypes, type ContentTypeIssue } from '../src/content-types/loader.js';
import { EXAMPLE_TYPES, ROOT } from './helpers.js';

const valid = { type: 'object', properties: { title: { type: 'string' } }, additionalProperties: false };

/** Writes the given files into a fresh directory and returns it. */
async function typesDir(files: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cms-types-'));
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

async function issuesOf(files: Record<string, unknown>): Promise<ContentTypeIssue[]> {
  const dir = await typesDir(files);
  try {
    await loadContentTypes(dir);
  } catch (err) {
    if (err instanceof ContentTypeLoadError) return err.issues.map((i) => ({ ...i, file: i.file.split('/').pop()! }));
    throw err;
  }
  return [];
}

t.test('the example site loads', async (t) => {
  const registry = await loadContentTypes(EXAMPLE_TYPES);
  t.same(registry.all().map((x) => x.id).sort(), ['article', 'author', 'category', 'page', 'post', 'site-settings']);
  t.equal(registry.get('site-settings')?.singleton, true);
  t.equal(registry.get('article')?.displayField, 'title');
  t.match(registry.get('article')?.fields.get('seo.title'), { kind: 'string' });
  t.match(registry.get('article')?.fields.get('categories'), { kind: 'array', itemKind: 'string', ref: 'category' });
  t.match(registry.get('article')?.fields.get('slug'), { unique: true, required: true });
  t.match(registry.get('article')?.fields.get('cover'), { kind: 'string', media: { accept: ['image/*'] } });
  t.match(registry.get('article')?.fields.get('gallery'), { kind: 'array', media: { accept: ['image/*', 'video/*'] } });
});

t.test('each kind of broken file is reported with its file, pointer and problem', async (t) => {
  const cases: Array<[string, Record<string, unknown>, Record<string, string | RegExp>]> = [
    ['invalid JSON', { 'a.json': '{"type": "object",\n  "properties": {,}' }, { file: 'a.json', pointer: '', message: /invalid JSON at line 2/ }],
    ['an unknown keyword', { 'a.json': { ...valid, properties: { title: { type: 'string', maxLenght: 3 } } } }, { pointer: '/properties/title/maxLenght', message: /unknown keyword "maxLenght"/ }],
    ['a schema Ajv cannot compile', { 'a.json': { ...valid, properties: { title: { type: 'string', pattern: '(' } } } }, { pointer: '/properties/title/pattern', message: /invalid "pattern"/ }],
    ['a bad JSON-Schema type', { 'a.json': { ...valid, properties: { title: { type: 'strnig' } } } }, { pointer: '/properties/title/type', message: /not a valid JSON Schema/ }],
    ['a field name starting with _', { 'a.json': { ...valid, properties: { _secret: { type: 'string' } } } }, { pointer: '/properties/_secret', message: /reserved for system fields/ }],
    ['a nested field name starting with _', { 'a.json': { ...valid, properties: { seo: { type: 'object', properties: { _x: { type: 'string' } }, additionalProperties: false } } } }, { pointer: '/properties/seo/properties/_x' }],
    ['a ref to a type that does not exist', { 'a.json': { ...valid, properties: { author: { type: 'string', 'x-cms': { ref: 'writer' } } } } }, { pointer: '/properties/author/x-cms/ref', message: /"writer", which does not exist/ }],
    ['a bad type id', { 'Bad_Type.json': valid }, { file: 'Bad_Type.json', message: /not a valid type id/ }],
    ['an unknown x-cms key', { 'a.json': { ...valid, 'x-cms': { singelton: true } } }, { pointer: '/x-cms/singelton', message: /unknown key/ }],
    ['an open object', { 'a.json': { ...valid, additionalProperties: true } }, { pointer: '/additionalProperties', message: /must be false/ }],
    ['a unique field that is not required', { 'a.json': { ...valid, properties: { slug: { type: 'string', 'x-cms': { unique: true } } } } }, { pointer: '/properties/slug/x-cms/unique' }],
    ['a strict-types violation', { 'a.json': { ...valid, properties: { seo: { properties: { a: { type: 'string' } }, additionalProperties: false } } } }, { pointer: '/properties/seo', message: /missing type "object"/ }],
    ['a ref inside anyOf', { 'a.json': { ...valid, properties: { who: { anyOf: [{ type: 'string', 'x-cms': { ref: 'ghost' } }, { type: 'null' }] } } } }, { pointer: '/properties/who/anyOf/0/x-cms/ref' }],
    ['a ref inside $defs', { 'a.json': { ...valid, $defs: { person: { type: 'string', 'x-cms': { ref: 'ghost' } } } } }, { pointer: '/$defs/person/x-cms/ref' }],
    ['unique on array items', { 'a.json': { ...valid, properties: { tags: { type: 'array', items: { type: 'string', 'x-cms': { unique: true } } } } } }, { pointer: '/properties/tags/items/x-cms/unique' }],
    ['an index inside an array', { 'a.json': { ...valid, properties: { tags: { type: 'array', items: { type: 'string', 'x-cms': { index: true } } } } } }, { pointer: '/properties/tags/items/x-cms/index' }],
    ['a nested object left open', { 'a.json': { ...valid, properties: { seo: { type: 'object', properties: { a: { type: 'string' } } } } } }, { pointer: '/properties/seo', message: /missing "additionalProperties"/ }],
    ['a nested object opened explicitly', { 'a.json': { ...valid, properties: { seo: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: true } } } }, { pointer: '/properties/seo/additionalProperties', message: /must be false/ }],
    ['a media field that is a number', { 'a.json': { ...valid, properties: { cover: { type: 'number', 'x-cms': { media: {} } } } } }, { pointer: '/properties/cover', message: /media field must be/ }],
    ['a media field inside an array of objects', { 'a.json': { ...valid, properties: { list: { type: 'array', items: { type: 'string', 'x-cms': { media: {} } } } } } }, { pointer: '/properties/list/items/x-cms/media', message: /top-level field or a field of a nested object/ }],
    ['a media accept that is not a type', { 'a.json': { ...valid, properties: { cover: { type: 'string', 'x-cms': { media: { accept: ['images'] } } } } } }, { pointer: '/properties/cover/x-cms/media/accept/0' }],
    ['an unknown media option', { 'a.json': { ...valid, properties: { cover: { type: 'string', 'x-cms': { media: { maxSise: 10 } } } } } }, { pointer: '/properties/cover/x-cms/media/maxSise', message: /unknown key/ }],
    ['a field that is both media and ref', { 'a.json': { ...valid, properties: { cover: { type: 'string', 'x-cms': { media: {}, ref: 'a' } } } } }, { pointer: '/properties/cover/x-cms/media', message: /not both/ }],
    ['a displayField that is not a field', { 'a.json': { ...valid, 'x-cms': { displayField: 'name' } } }, { pointer: '/x-cms/displayField' }],
  ];
  for (const [name, files, expected] of cases) {
    const issues = await issuesOf(files);
    t.ok(issues.length >= 1, `${name}: reported`);
    t.match(issues[0], expected, name);
  }
});

t.test('every broken file is reported at once', async (t) => {
  const issues = await issuesOf({
    'one.json': '{',
    'two.json': { ...valid, properties: { _a: { type: 'string' } } },
    'three.json': valid,
  });
  t.same(issues.map((i) => i.file).sort(), ['one.json', 'two.json']);
});

function run(cmd: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, cmd, { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('the server refuses to start on a broken type, with the message', async (t) => {
  const dir = await typesDir({ 'post.json': { ...valid, properties: { author: { type: 'string', 'x-cms': { ref: 'nobody' } } } } });
  const res = await run(['dist/src/server.js'], { CONTENT_TYPES_DIR: dir, PORT: '0' });
  t.equal(res.code, 1);
  t.match(res.stderr, /The CMS cannot start/);
  t.match(res.stderr, /post\.json#\/properties\/author\/x-cms\/ref: refers to type "nobody", which does not exist/);
});

t.test('cms check validates the files and exits non-zero with the same errors', async (t) => {
  const ok = await run(['bin/cms.js', 'check'], { CONTENT_TYPES_DIR: EXAMPLE_TYPES });
  t.equal(ok.code, 0);
  t.match(ok.stdout, /OK: 6 content types/);

  const dir = await typesDir({ 'post.json': { ...valid, properties: { _id: { type: 'string' } } } });
  const bad = await run(['bin/cms.js', 'check', '--dir', dir], {});
  t.equal(bad.code, 1);
  t.match(bad.stderr, /post\.json#\/properties\/_id: field name "_id" starts with "_"/);

  const json = await run(['bin/cms.js', 'check', '--dir', dir, '--json'], {});
  t.equal(json.code, 1);
  const parsed = JSON.parse(json.stdout) as { ok: boolean; issues: ContentTypeIssue[] };
  t.equal(parsed.ok, false);
  t.match(parsed.issues, [{ pointer: '/properties/_id' }]);

  const usage = await run(['bin/cms.js', 'chekc'], {});
  t.equal(usage.code, 2, 'an unknown command is a usage error');
});

t.test('free-form maps and nested indexes are allowed', async (t) => {
  const issues = await issuesOf({
    'a.json': {
      ...valid,
      properties: {
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        seo: { type: 'object', properties: { title: { type: 'string', 'x-cms': { index: true } } }, additionalProperties: false },
      },
    },
  });
  t.same(issues, []);
});
