// Environment → typed, validated config. Fails fast with a message that names the variable.
import { resolve } from 'node:path';
import envSchema from 'env-schema';

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
  list: { defaultLimit: number; maxLimit: number; maxOffset: number };
  /** What is not configured, and so is started locally by the server (embedded mode). */
  embedded: { mongo: boolean; s3: boolean };
}

export class ConfigError extends Error {}

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
    list: { defaultLimit: env.LIST_DEFAULT_LIMIT, maxLimit: env.LIST_MAX_LIMIT, maxOffset: env.LIST_MAX_OFFSET },
    embedded: { mongo: !env.MONGODB_URI, s3: !env.S3_ENDPOINT && !env.S3_ACCESS_KEY_ID && !data.S3_BUCKET },
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

