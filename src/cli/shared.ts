// What every `cms` subcommand shares: output (text or --json), exit codes, progress bars, and a
// connection to the configured database and bucket (or the embedded ones, with the server stopped).
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { MongoClient, type Db } from 'mongodb';
import { startServices, type RunningServices } from '../../scripts/services.js';
import { loadConfig, type Config } from '../config.js';
import type { ContentTypeRegistry } from '../content-types/registry.js';
import { loadContentTypes } from '../content-types/loader.js';
import { CmsError } from '../errors.js';
import { createS3, ensureBucket, type S3 } from '../storage/s3.js';

/**
 * Exit codes, the same for every subcommand:
 * 0 done; 1 problems found (a failed check, documents that fail, a corrupt archive);
 * 2 bad usage or configuration; 3 refused to avoid losing data (needs --replace or --drop, or
 * content types conflict); 4 a service (MongoDB, S3) cannot be reached.
 */
export const EXIT = { ok: 0, problems: 1, usage: 2, refused: 3, unavailable: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An expected failure: its message is printed (or put in the JSON) and the process exits with `exit`. */
export class CliError extends Error {
  constructor(
    readonly exit: ExitCode,
    message: string,
    /** Extra, machine-readable facts for --json output. */
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface Io {
  out(s: string): void;
  err(s: string): void;
  /** True when stderr is a terminal (progress bars are drawn only then). */
  tty: boolean;
  /** Where passwords are read from (default: process.stdin). */
  stdin?: NodeJS.ReadableStream;
  /** The environment the configuration is read from (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  tty: Boolean(process.stderr.isTTY),
};

/** Prints a result: JSON (one document on stdout) with --json, else the text lines. */
export function report(io: Io, json: boolean | undefined, result: unknown, text: () => string): void {
  if (json) io.out(`${JSON.stringify(result, null, 2)}\n`);
  else {
    const t = text();
    if (t) io.out(t.endsWith('\n') ? t : `${t}\n`);
  }
}

/** A CmsError (validation, conflict) as one line: message and offending paths. */
export function describeCmsError(e: CmsError): string {
  return `${e.message}${e.details.length ? `: ${e.details.map((d) => `${d.path || 'body'} ${d.message}`).join('; ')}` : ''}`;
}

export interface Progress {
  increment(n?: number): void;
  /** Sets a new total (when it is only known later). */
  setTotal(total: number): void;
  stop(): void;
}

/**
 * A progress bar on stderr with count and ETA, only on a terminal and never with --json; elsewhere
 * (CI logs) one line at the end, so logs stay readable.
 */
export function progress(io: Io, json: boolean | undefined, label: string, total: number): Progress {
  if (json || !io.tty) {
    let done = 0;
    return {
      increment: (n = 1) => {
        done += n;
      },
      setTotal: () => undefined,
      stop: () => {
        if (!json) io.err(`${label}: ${done} done\n`);
      },
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} | {duration_formatted}`, stream: process.stderr, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    increment: (n = 1) => bar.increment(n),
    setTotal: (t) => bar.setTotal(t),
    stop: () => bar.stop(),
  };
}

export interface Services {
  config: Config;
  db: Db;
  client: MongoClient;
  /** Set when the command asked for S3. */
  s3?: S3;
}

/**
 * Runs `fn` against the configured MongoDB (and S3 when `s3` is set), or the embedded services
 * when none are configured: those of a server running on the same data directory, else started here.
 */
export async function withServices<T>(
  options: {
    s3?: boolean;
    config?: Config;
    /** What the command does that must not run beside a server (refused, exit 3, when one runs on the data directory). */
    exclusive?: string;
  },
  fn: (services: Services) => Promise<T>,
): Promise<T> {
  const config = options.config ?? loadConfig();
  let embedded: RunningServices | undefined;
  const wantMongo = !config.mongo.uri;
  const wantS3 = Boolean(options.s3) && config.embedded.s3;
  if (wantMongo || wantS3) {
    embedded = await startServices({ dataDir: config.dataDir, mongo: wantMongo, s3: wantS3, log: () => undefined });
    if (options.exclusive && embedded.sharedWith !== undefined) {
      const pid = embedded.sharedWith;
      await embedded.stop();
      throw new CliError(EXIT.refused, `A server (process ${pid}) is running on ${config.dataDir}: stop it before ${options.exclusive}, so that nothing writes meanwhile`);
    }
    if (embedded.mongoUri) config.mongo.uri = embedded.mongoUri;
    if (embedded.s3) config.s3 = { ...config.s3, ...embedded.s3, forcePathStyle: true };
  }
  const client = new MongoClient(config.mongo.uri!, { serverSelectionTimeoutMS: 10_000 });
  let s3: S3 | undefined;
  try {
    try {
      await client.connect();
    } catch (e) {
      throw new CliError(EXIT.unavailable, `MongoDB cannot be reached: ${(e as Error).message}`);
    }
    if (options.s3) {
      s3 = createS3(config.s3);
      try {
        await ensureBucket(s3);
      } catch (e) {
        throw new CliError(EXIT.unavailable, `S3 cannot be reached: ${(e as Error).message}`);
      }
    }
    return await fn({ config, db: client.db(config.mongo.db), client, ...(s3 ? { s3 } : {}) });
  } finally {
    s3?.client.destroy();
    await client.close();
    await embedded?.stop();
  }
}

/** The content types on disk, as the server would load them (throws ContentTypeLoadError). */
export function loadRegistry(config: Config, dir?: string): Promise<ContentTypeRegistry> {
  return loadContentTypes(dir ? resolve(dir) : config.contentTypesDir, { locales: config.locales });
}
