// Environment → typed, validated config. Fails fast with a message that names the variable.
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import envSchema from 'env-schema';

/** What uploads accept unless MEDIA_ALLOWED_TYPES says otherwise (`type/*` allowed). */
export const DEFAULT_MEDIA_TYPES = [
  'image/jpeg', 'image/png', 'image/webp', 'image/avif', 'image/gif',
  'application/pdf',
  'audio/mpeg', 'audio/ogg', 'audio/wav', 'audio/flac', 'audio/aac', 'audio/mp4',
  'video/mp4', 'video/webm', 'video/quicktime', 'video/ogg',
  'text/plain', 'text/csv', 'text/markdown',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  'application/vnd.oasis.opendocument.text',
  'application/vnd.oasis.opendocument.spreadsheet',
];

const schema = {
  type: 'object',
  properties: {
    NODE_ENV: { type: 'string', enum: ['development', 'production', 'test'], default: 'development' },
    HOST: { type: 'string', default: '127.0.0.1' },
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    CONTENT_TYPES_DIR: { type: 'string', default: 'content-types' },
    DATA_DIR: { type: 'string', default: '.data' },
    MONGODB_URI: { type: 'string', pattern: '^mongodb(\\+srv)?://' },
    MONGODB_DB: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,63}$', default: 'cms' },
    S3_ENDPOINT: { type: 'string', pattern: '^https?://' },
    S3_REGION: { type: 'string', default: 'us-east-1' },
    S3_BUCKET: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$', default: 'cms-media' },
    S3_ACCESS_KEY_ID: { type: 'string' },
    S3_SECRET_ACCESS_KEY: { type: 'string' },
    S3_FORCE_PATH_STYLE: { type: 'boolean', default: false },
    BODY_LIMIT: { type: 'integer', minimum: 1024, maximum: 104857600, default: 1048576 },
    JSON_MAX_DEPTH: { type: 'integer', minimum: 4, maximum: 256, default: 32 },
    LIST_DEFAULT_LIMIT: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
    LIST_MAX_LIMIT: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    LIST_MAX_OFFSET: { type: 'integer', minimum: 0, maximum: 1000000, default: 10000 },
    POPULATE_MAX_DEPTH: { type: 'integer', minimum: 1, maximum: 5, default: 2 },
    PUBLIC_URL: { type: 'string', pattern: '^https?://[^?#]*[^/?#]$' },
    MEDIA_MAX_FILE_SIZE: { type: 'integer', minimum: 1, maximum: 5497558138880, default: 104857600 },
    MEDIA_MAX_FILES: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
    MEDIA_ALLOWED_TYPES: { type: 'string', default: DEFAULT_MEDIA_TYPES.join(',') },
    MEDIA_ALLOW_SVG: { type: 'boolean', default: false },
    MEDIA_MAX_IMAGE_PIXELS: { type: 'integer', minimum: 1, maximum: 1000000000, default: 100000000 },
    MEDIA_MAX_FRAMES: { type: 'integer', minimum: 1, maximum: 10000, default: 300 },
    MEDIA_WIDTHS: { type: 'string', pattern: '^\\d{1,5}(,\\d{1,5})*$', default: '160,320,640,960,1280,1920,2560' },
    MEDIA_QUALITIES: { type: 'string', pattern: '^\\d{1,3}(,\\d{1,3})*$', default: '50,75,90' },
    MEDIA_SRCSET_FORMAT: { type: 'string', enum: ['original', 'webp', 'avif', 'jpeg', 'png'], default: 'webp' },
    MEDIA_UPLOAD_EXPIRES: { type: 'integer', minimum: 60, maximum: 604800, default: 3600 },
    MEDIA_TMP_DIR: { type: 'string' },
    SESSION_IDLE_MINUTES: { type: 'integer', minimum: 1, maximum: 43200, default: 120 },
    SESSION_MAX_HOURS: { type: 'integer', minimum: 1, maximum: 8760, default: 168 },
    LOGIN_WINDOW_SECONDS: { type: 'integer', minimum: 1, maximum: 86400, default: 900 },
    LOGIN_MAX_PER_IP: { type: 'integer', minimum: 1, maximum: 100000, default: 30 },
    LOGIN_MAX_PER_ACCOUNT: { type: 'integer', minimum: 1, maximum: 100000, default: 10 },
    CORS_ORIGINS: { type: 'string', default: '' },
    TRUST_PROXY: { type: 'string', pattern: '^(|true|false|[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*)$', default: '' },
    AUDIT_RETENTION_DAYS: { type: 'integer', minimum: 1, maximum: 36500, default: 365 },
    LOCALES: { type: 'string', default: 'en' },
    LOCALE_FALLBACKS: { type: 'string', default: '' },
    PREVIEW_TOKEN_MINUTES: { type: 'integer', minimum: 1, maximum: 10080, default: 60 },
    SCHEDULE_POLL_SECONDS: { type: 'integer', minimum: 0, maximum: 3600, default: 10 },
    SCHEDULE_LEASE_SECONDS: { type: 'integer', minimum: 5, maximum: 86400, default: 120 },
    DELIVERY_CACHE_BYTES: { type: 'integer', minimum: 0, maximum: 68719476736, default: 67108864 },
    DELIVERY_CACHE_POLL_MS: { type: 'integer', minimum: 0, maximum: 3600000, default: 250 },
    WEBHOOK_ALLOW_LOOPBACK: { type: 'boolean', default: false },
    WEBHOOK_ALLOW_PRIVATE: { type: 'boolean', default: false },
    WEBHOOK_MAX_ATTEMPTS: { type: 'integer', minimum: 1, maximum: 50, default: 8 },
    WEBHOOK_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 300000, default: 10000 },
    WEBHOOK_DEBOUNCE_SECONDS: { type: 'integer', minimum: 1, maximum: 3600, default: 10 },
    WEBHOOK_POLL_MS: { type: 'integer', minimum: 0, maximum: 3600000, default: 1000 },
    SCHEMA_STRICT: { type: 'boolean', default: false },
  },
} as const;

interface Env {
  NODE_ENV: 'development' | 'production' | 'test';
  HOST: string;
  PORT: number;
  LOG_LEVEL: string;
  CONTENT_TYPES_DIR: string;
  DATA_DIR: string;
  MONGODB_URI?: string;
  MONGODB_DB: string;
  S3_ENDPOINT?: string;
  S3_REGION: string;
  S3_BUCKET: string;
  S3_ACCESS_KEY_ID?: string;
  S3_SECRET_ACCESS_KEY?: string;
  S3_FORCE_PATH_STYLE: boolean;
  BODY_LIMIT: number;
  JSON_MAX_DEPTH: number;
  LIST_DEFAULT_LIMIT: number;
  LIST_MAX_LIMIT: number;
  LIST_MAX_OFFSET: number;
  POPULATE_MAX_DEPTH: number;
  PUBLIC_URL?: string;
  MEDIA_MAX_FILE_SIZE: number;
  MEDIA_MAX_FILES: number;
  MEDIA_ALLOWED_TYPES: string;
  MEDIA_ALLOW_SVG: boolean;
  MEDIA_MAX_IMAGE_PIXELS: number;
  MEDIA_MAX_FRAMES: number;
  MEDIA_WIDTHS: string;
  MEDIA_QUALITIES: string;
  MEDIA_SRCSET_FORMAT: MediaConfig['srcsetFormat'];
  MEDIA_UPLOAD_EXPIRES: number;
  MEDIA_TMP_DIR?: string;
  SESSION_IDLE_MINUTES: number;
  SESSION_MAX_HOURS: number;
  LOGIN_WINDOW_SECONDS: number;
  LOGIN_MAX_PER_IP: number;
  LOGIN_MAX_PER_ACCOUNT: number;
  CORS_ORIGINS: string;
  TRUST_PROXY: string;
  AUDIT_RETENTION_DAYS: number;
  LOCALES: string;
  LOCALE_FALLBACKS: string;
  PREVIEW_TOKEN_MINUTES: number;
  SCHEDULE_POLL_SECONDS: number;
  SCHEDULE_LEASE_SECONDS: number;
  DELIVERY_CACHE_BYTES: number;
  DELIVERY_CACHE_POLL_MS: number;
  WEBHOOK_ALLOW_LOOPBACK: boolean;
  WEBHOOK_ALLOW_PRIVATE: boolean;
  WEBHOOK_MAX_ATTEMPTS: number;
  WEBHOOK_TIMEOUT_MS: number;
  WEBHOOK_DEBOUNCE_SECONDS: number;
  WEBHOOK_POLL_MS: number;
  SCHEMA_STRICT: boolean;
}

export interface LocaleConfig {
  /** Every configured locale; the first is the default. */
  locales: string[];
  default: string;
  /** For each locale, where to look (in order) when it has no value: its fallbacks, then the default. */
  chains: Record<string, string[]>;
}

export interface PublishingConfig {
  previewTokenMinutes: number;
  /** Seconds between looks for due schedules; 0 turns the runner off (tests run it by hand). */
  schedulePollSeconds: number;
  /** How long a claimed schedule is held before another process may retry it. */
  scheduleLeaseSeconds: number;
}

export interface WebhookConfig {
  /** May webhooks call loopback addresses (127/8, ::1, localhost)? Tests and local builds. */
  allowLoopback: boolean;
  /** May webhooks call private addresses (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10)? */
  allowPrivate: boolean;
  maxAttempts: number;
  timeoutMs: number;
  debounceSeconds: number;
  /** Milliseconds between dispatcher runs; 0 turns the runner off (tests run it by hand). */
  pollMs: number;
}

export interface AuthConfig {
  /** Minutes without a request before a session ends. */
  idleMinutes: number;
  /** Hours after login when a session ends, however active. */
  maxHours: number;
  login: { windowSeconds: number; maxPerIp: number; maxPerAccount: number };
  /** Origins allowed to read the delivery API from a browser. */
  corsOrigins: string[];
  auditRetentionDays: number;
}


export interface MediaConfig {
  maxFileSize: number;
  maxFiles: number;
  /** Exact types and `type/*` patterns; SVG only when allowSvg. */
  allowedTypes: string[];
  allowSvg: boolean;
  maxImagePixels: number;
  maxFrames: number;
  /** The only widths (and heights) a variant may ask for, ascending. */
  widths: number[];
  qualities: number[];
  srcsetFormat: 'original' | 'webp' | 'avif' | 'jpeg' | 'png';
  /** Seconds a presigned upload stays open. */
  uploadExpires: number;
  tmpDir: string;
}

export interface Config {
  env: Env['NODE_ENV'];
  host: string;
  port: number;
  logLevel: string;
  contentTypesDir: string;
  dataDir: string;
  mongo: { uri?: string; db: string };
  s3: {
    endpoint?: string;
    region: string;
    bucket: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    forcePathStyle: boolean;
  };
  bodyLimit: number;
  jsonMaxDepth: number;
  list: { defaultLimit: number; maxLimit: number; maxOffset: number; maxPopulateDepth: number };
  /** Prefix for absolute URLs in responses (media URLs); relative when unset. */
  publicUrl: string;
  /** Fastify's trustProxy: false, true, or the proxies' addresses (client IPs for limits and the audit log). */
  trustProxy: boolean | string;
  media: MediaConfig;
  auth: AuthConfig;
  locales: LocaleConfig;
  publishing: PublishingConfig;
  /** The in-process cache of public delivery responses: its size in bytes (0: off), and how often (ms) it reads the change log (0: never; one process only). */
  deliveryCache: { maxBytes: number; pollMs: number };
  webhooks: WebhookConfig;
  /** What is not configured, and so is started locally by the server (embedded mode). */
  embedded: { mongo: boolean; s3: boolean };
  /** Refuse to start when stored entries do not match the content types (else only warn). */
  schemaStrict: boolean;
}

export class ConfigError extends Error {}

function parseNumbers(name: string, raw: string, min: number, max: number): number[] {
  const values = [...new Set(raw.split(',').map(Number))].sort((a, b) => a - b);
  if (values.some((v) => v < min || v > max)) throw new ConfigError(`Invalid configuration: ${name} values must be between ${min} and ${max}`);
  return values;
}

function parseOrigins(raw: string): string[] {
  const origins = raw.split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of origins) {
    let ok = false;
    try {
      ok = new URL(origin).origin === origin;
    } catch {
      ok = false;
    }
    if (!ok) throw new ConfigError(`Invalid configuration: CORS_ORIGINS holds "${origin}", which is not an origin like https://site.example`);
  }
  return origins;
}

const TYPE_PATTERN = /^[a-z]+\/(\*|[a-z0-9][a-z0-9.+-]*)$/;

function parseTypes(raw: string): string[] {
  const types = raw.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
  const bad = types.filter((t) => !TYPE_PATTERN.test(t));
  if (bad.length || !types.length) throw new ConfigError(`Invalid configuration: MEDIA_ALLOWED_TYPES holds ${bad.length ? `"${bad[0]}", which is not a media type or type/*` : 'no types'}`);
  return types;
}

const LOCALE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$/;

/** `LOCALES=en,fr,fr-CA` (the first is the default), `LOCALE_FALLBACKS=fr-CA:fr,de-AT:de`. */
export function parseLocales(raw: string, fallbacks = ''): LocaleConfig {
  const locales = raw.split(',').map((l) => l.trim()).filter(Boolean);
  const bad = locales.find((l) => !LOCALE.test(l));
  if (bad !== undefined || !locales.length) {
    throw new ConfigError(`Invalid configuration: LOCALES holds ${bad !== undefined ? `"${bad}", which is not a locale like en or fr-CA` : 'no locales'}`);
  }
  if (new Set(locales).size !== locales.length) throw new ConfigError('Invalid configuration: LOCALES lists a locale twice');
  const direct = new Map<string, string[]>();
  for (const pair of fallbacks.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [from, to, extra] = pair.split(':');
    if (!from || !to || extra !== undefined || !locales.includes(from) || !locales.includes(to) || from === to) {
      throw new ConfigError(`Invalid configuration: LOCALE_FALLBACKS holds "${pair}"; write locale:fallback with both in LOCALES, e.g. fr-CA:fr`);
    }
    direct.set(from, [...(direct.get(from) ?? []), to]);
  }
  const def = locales[0]!;
  const chains: Record<string, string[]> = {};
  for (const locale of locales) {
    const chain: string[] = [];
    const visit = (l: string) => {
      for (const next of direct.get(l) ?? []) {
        if (next === locale || chain.includes(next)) continue;
        chain.push(next);
        visit(next);
      }
    };
    visit(locale);
    if (locale !== def && !chain.includes(def)) chain.push(def);
    chains[locale] = chain.filter((l) => l !== locale);
  }
  return { locales, default: def, chains };
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  // empty strings count as unset, so `FOO= npm start` behaves like no FOO at all
  const data = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  let env: Env;
  try {
    env = envSchema<Env>({ schema, data, dotenv: false, env: false });
  } catch (err) {
    throw new ConfigError(`Invalid configuration: ${(err as Error).message.replace(/^env\//, '').replace(/^env /, '')}`);
  }
  if (env.LIST_DEFAULT_LIMIT > env.LIST_MAX_LIMIT) {
    throw new ConfigError('Invalid configuration: LIST_DEFAULT_LIMIT must not exceed LIST_MAX_LIMIT');
  }
  if (Boolean(env.S3_ACCESS_KEY_ID) !== Boolean(env.S3_SECRET_ACCESS_KEY)) {
    throw new ConfigError('Invalid configuration: set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither');
  }
  const config: Config = {
    env: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    contentTypesDir: resolve(env.CONTENT_TYPES_DIR),
    dataDir: resolve(env.DATA_DIR),
    mongo: { db: env.MONGODB_DB },
    s3: { region: env.S3_REGION, bucket: env.S3_BUCKET, forcePathStyle: env.S3_FORCE_PATH_STYLE },
    bodyLimit: env.BODY_LIMIT,
    jsonMaxDepth: env.JSON_MAX_DEPTH,
    list: { defaultLimit: env.LIST_DEFAULT_LIMIT, maxLimit: env.LIST_MAX_LIMIT, maxOffset: env.LIST_MAX_OFFSET, maxPopulateDepth: env.POPULATE_MAX_DEPTH },
    publicUrl: env.PUBLIC_URL ?? '',
    trustProxy: env.TRUST_PROXY === 'true' ? true : env.TRUST_PROXY === '' || env.TRUST_PROXY === 'false' ? false : env.TRUST_PROXY,
    media: {
      maxFileSize: env.MEDIA_MAX_FILE_SIZE,
      maxFiles: env.MEDIA_MAX_FILES,
      allowedTypes: parseTypes(env.MEDIA_ALLOWED_TYPES),
      allowSvg: env.MEDIA_ALLOW_SVG,
      maxImagePixels: env.MEDIA_MAX_IMAGE_PIXELS,
      maxFrames: env.MEDIA_MAX_FRAMES,
      widths: parseNumbers('MEDIA_WIDTHS', env.MEDIA_WIDTHS, 1, 8192),
      qualities: parseNumbers('MEDIA_QUALITIES', env.MEDIA_QUALITIES, 1, 100),
      srcsetFormat: env.MEDIA_SRCSET_FORMAT,
      uploadExpires: env.MEDIA_UPLOAD_EXPIRES,
      tmpDir: resolve(env.MEDIA_TMP_DIR ?? tmpdir()),
    },
    auth: {
      idleMinutes: env.SESSION_IDLE_MINUTES,
      maxHours: env.SESSION_MAX_HOURS,
      login: { windowSeconds: env.LOGIN_WINDOW_SECONDS, maxPerIp: env.LOGIN_MAX_PER_IP, maxPerAccount: env.LOGIN_MAX_PER_ACCOUNT },
      corsOrigins: parseOrigins(env.CORS_ORIGINS),
      auditRetentionDays: env.AUDIT_RETENTION_DAYS,
    },
    locales: parseLocales(env.LOCALES, env.LOCALE_FALLBACKS),
    publishing: {
      previewTokenMinutes: env.PREVIEW_TOKEN_MINUTES,
      schedulePollSeconds: env.SCHEDULE_POLL_SECONDS,
      scheduleLeaseSeconds: env.SCHEDULE_LEASE_SECONDS,
    },
    deliveryCache: { maxBytes: env.DELIVERY_CACHE_BYTES, pollMs: env.DELIVERY_CACHE_POLL_MS },
    webhooks: {
      allowLoopback: env.WEBHOOK_ALLOW_LOOPBACK,
      allowPrivate: env.WEBHOOK_ALLOW_PRIVATE,
      maxAttempts: env.WEBHOOK_MAX_ATTEMPTS,
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
      debounceSeconds: env.WEBHOOK_DEBOUNCE_SECONDS,
      pollMs: env.WEBHOOK_POLL_MS,
    },
    embedded: { mongo: !env.MONGODB_URI, s3: !env.S3_ENDPOINT && !env.S3_ACCESS_KEY_ID && !data.S3_BUCKET },
    schemaStrict: env.SCHEMA_STRICT,
  };
  if (env.NODE_ENV === 'production' && (config.embedded.mongo || config.embedded.s3)) {
    throw new ConfigError(
      'Invalid configuration: NODE_ENV=production needs real services. Set MONGODB_URI, and S3_BUCKET ' +
        '(plus S3_ENDPOINT, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY unless AWS provides them).',
    );
  }
  if (env.MONGODB_URI) config.mongo.uri = env.MONGODB_URI;
  if (env.S3_ENDPOINT) config.s3.endpoint = env.S3_ENDPOINT;
  if (env.S3_ACCESS_KEY_ID) config.s3.accessKeyId = env.S3_ACCESS_KEY_ID;
  if (env.S3_SECRET_ACCESS_KEY) config.s3.secretAccessKey = env.S3_SECRET_ACCESS_KEY;
  return config;
}

