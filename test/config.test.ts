import t from 'tap';
import { ConfigError, loadConfig } from '../src/config.js';

t.test('defaults with nothing set: embedded mode', async (t) => {
  const config = loadConfig({});
  t.match(config, { env: 'development', host: '127.0.0.1', port: 3000, mongo: { db: 'cms' }, s3: { bucket: 'cms-media', forcePathStyle: false } });
  t.same(config.embedded, { mongo: true, s3: true });
  t.same(config.list, { defaultLimit: 20, maxLimit: 100, maxOffset: 10000, maxPopulateDepth: 2 });
  t.match(config.media, { maxFileSize: 104857600, maxFiles: 10, allowSvg: false, widths: [160, 320, 640, 960, 1280, 1920, 2560], qualities: [50, 75, 90], srcsetFormat: 'webp' });
  t.ok(config.media.allowedTypes.includes('image/jpeg') && !config.media.allowedTypes.includes('image/svg+xml'));
});

t.test('media lists are parsed: sorted, deduplicated, wildcards kept', async (t) => {
  const config = loadConfig({ MEDIA_WIDTHS: '640,320,640', MEDIA_ALLOWED_TYPES: 'image/*, application/pdf', PUBLIC_URL: 'https://cms.example/base' });
  t.same(config.media.widths, [320, 640]);
  t.same(config.media.allowedTypes, ['image/*', 'application/pdf']);
  t.equal(config.publicUrl, 'https://cms.example/base');
});

t.test('what is configured is not embedded; empty values count as unset', async (t) => {
  t.same(loadConfig({ MONGODB_URI: 'mongodb://db:27017/' }).embedded, { mongo: false, s3: true });
  t.same(loadConfig({ S3_BUCKET: 'media' }).embedded, { mongo: true, s3: false });
  t.same(loadConfig({ MONGODB_URI: '', S3_ENDPOINT: '' }).embedded, { mongo: true, s3: true });
  t.equal(loadConfig({ PORT: '8080', S3_FORCE_PATH_STYLE: 'true' }).port, 8080);
});

t.test('bad values stop start-up with a message naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'eighty' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ NODE_ENV: 'staging' }, /NODE_ENV/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ MONGODB_URI: 'postgres://x' }, /MONGODB_URI/],
    [{ MONGODB_DB: 'a/b' }, /MONGODB_DB/],
    [{ S3_BUCKET: 'Bad_Bucket' }, /S3_BUCKET/],
    [{ S3_ACCESS_KEY_ID: 'only-one' }, /S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY/],
    [{ LIST_DEFAULT_LIMIT: '50', LIST_MAX_LIMIT: '10' }, /LIST_DEFAULT_LIMIT must not exceed LIST_MAX_LIMIT/],
    [{ BODY_LIMIT: '10' }, /BODY_LIMIT/],
    [{ MEDIA_WIDTHS: '320,abc' }, /MEDIA_WIDTHS/],
    [{ MEDIA_WIDTHS: '0,320' }, /MEDIA_WIDTHS values must be between 1 and 8192/],
    [{ MEDIA_QUALITIES: '101' }, /MEDIA_QUALITIES/],
    [{ MEDIA_ALLOWED_TYPES: 'image/png,nonsense' }, /MEDIA_ALLOWED_TYPES holds "nonsense"/],
    [{ MEDIA_MAX_FILE_SIZE: '0' }, /MEDIA_MAX_FILE_SIZE/],
    [{ MEDIA_SRCSET_FORMAT: 'gif' }, /MEDIA_SRCSET_FORMAT/],
    [{ PUBLIC_URL: 'ftp://x' }, /PUBLIC_URL/],
    [{ PUBLIC_URL: 'https://cms.example/' }, /PUBLIC_URL/],
    [{ NODE_ENV: 'production' }, /NODE_ENV=production needs real services.*MONGODB_URI/s],
    [{ NODE_ENV: 'production', MONGODB_URI: 'mongodb://db/' }, /S3_BUCKET/],
  ];
  for (const [env, message] of cases) {
    t.throws(() => loadConfig(env), { name: 'Error', message }, JSON.stringify(env));
    try {
      loadConfig(env);
    } catch (err) {
      t.ok(err instanceof ConfigError, `${JSON.stringify(env)} is a ConfigError`);
    }
  }
  t.doesNotThrow(() => loadConfig({ NODE_ENV: 'production', MONGODB_URI: 'mongodb://db/', S3_BUCKET: 'media' }));
});
