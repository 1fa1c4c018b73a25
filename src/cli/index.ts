// The `cms` command. Reads the same configuration as the server (environment variables).
import { Command, CommanderError } from 'commander';
import { resolve } from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { startServices, type RunningServices } from '../../scripts/services.js';
import { createSessions } from '../auth/sessions.js';
import { ConfigError, loadConfig, parseLocales, type Config } from '../config.js';
import { CmsError } from '../errors.js';
import { AuditLog } from '../services/audit.js';
import { AuthService } from '../services/auth.js';
import { ROLES, UsersRepository } from '../storage/users.js';
import { ContentTypeLoadError, loadContentTypes } from '../content-types/loader.js';
import { typesCommand } from '../codegen/types.js';

/** Exit codes: 0 all good, 1 the check found problems, 2 bad usage or configuration. */
export const EXIT = { ok: 0, problems: 1, usage: 2 } as const;

export function buildCli(out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Command {
  const program = new Command('cms')
    .description('Headless CMS command line: check content types, manage users.')
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err });

  program
    .command('check')
    .description('Validate the content-type files against the meta-schema and compile them')
    .option('--dir <path>', 'content-types directory (default: CONTENT_TYPES_DIR or ./content-types)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { dir?: string; json?: boolean }) => {
      // only the types directory matters here: a check must run in CI without any service configured
      const dir = resolve(opts.dir ?? process.env.CONTENT_TYPES_DIR ?? 'content-types');
      try {
        const registry = await loadContentTypes(dir, { locales: parseLocales(process.env.LOCALES || 'en', process.env.LOCALE_FALLBACKS ?? '') });
        const types = registry.all().map((t) => ({ id: t.id, file: t.file, singleton: t.singleton, fields: t.fields.size }));
        if (opts.json) out(`${JSON.stringify({ ok: true, types, issues: [] }, null, 2)}\n`);
        else out(`OK: ${types.length} content types (${types.map((t) => t.id).join(', ')})\n`);
        process.exitCode = EXIT.ok;
      } catch (e) {
        if (!(e instanceof ContentTypeLoadError)) throw e;
        if (opts.json) out(`${JSON.stringify({ ok: false, types: [], issues: e.issues }, null, 2)}\n`);
        else err(`${e.message}\n`);
        process.exitCode = EXIT.problems;
      }
    });
  program
    .command('types')
    .description('Write TypeScript declarations of the content types (entries, stored and populated variants)')
    .option('--dir <path>', 'content-types directory (default: CONTENT_TYPES_DIR or ./content-types)')
    .option('--out <file>', 'the file to write, - for standard output', 'cms-types.d.ts')
    .action(async (opts: { dir?: string; out: string }) => {
      process.exitCode = (await typesCommand(opts, out, err)) === 0 ? EXIT.ok : EXIT.problems;
    });
  const users = program.command('users').description('Manage users (the server need not run)');
  users
    .command('create')
    .description('Create a user; the password is read from standard input (or asked for on a terminal)')
    .requiredOption('--email <email>', 'sign-in email')
    .requiredOption('--name <name>', 'display name')
    .option('--role <role>', `one of ${ROLES.join(', ')}`, 'admin')
    .action(async (opts: { email: string; name: string; role: string }) => {
      const password = await readPassword(err);
      await withDatabase(async (db, config) => {
        const repo = new UsersRepository(db);
        await repo.ensureIndexes();
        const auth = new AuthService(repo, createSessions(repo, { idleMinutes: config.auth.idleMinutes, maxHours: config.auth.maxHours, secure: false, now: () => new Date() }), config.auth);
        try {
          const user = await auth.createUser({ email: opts.email, name: opts.name, password, role: opts.role });
          await new AuditLog(db, config.list).record('system', { ip: 'local' }, 'user.create', { kind: 'user', id: user._id, fields: ['email', 'name', 'role'] });
          out(`Created ${user.role} ${user.email} (${user._id})\n`);
          process.exitCode = EXIT.ok;
        } catch (e) {
          if (!(e instanceof CmsError)) throw e;
          err(`${e.message}${e.details.length ? `: ${e.details.map((d) => `${d.path || 'body'} ${d.message}`).join('; ')}` : ''}\n`);
          process.exitCode = EXIT.problems;
        }
      });
    });
  return program;
}

/** The password: from a terminal without echo, else the first line of standard input. */
async function readPassword(err: (s: string) => void): Promise<string> {
  if (process.stdin.isTTY) {
    err('Password: ');
    return new Promise((resolvePassword) => {
      let value = '';
      process.stdin.setRawMode(true);
      process.stdin.resume();
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            process.stdin.setRawMode(false);
            process.stdin.pause();
            process.stdin.off('data', onData);
            err('\n');
            resolvePassword(value);
            return;
          }
          if (ch === '\u0003') process.exit(EXIT.usage);
          value = ch === '\u007f' ? value.slice(0, -1) : value + ch;
        }
      };
      process.stdin.on('data', onData);
    });
  }
  let input = '';
  for await (const chunk of process.stdin) input += String(chunk);
  return input.split(/\r?\n/)[0] ?? '';
}

/** Runs `fn` against the configured database, or the embedded one (the server must then be stopped). */
async function withDatabase(fn: (db: Db, config: Config) => Promise<void>): Promise<void> {
  const config = loadConfig();
  let services: RunningServices | undefined;
  if (!config.mongo.uri) {
    services = await startServices({ dataDir: config.dataDir, mongo: true, s3: false });
    config.mongo.uri = services.mongoUri;
  }
  const client = new MongoClient(config.mongo.uri!, { serverSelectionTimeoutMS: 10_000 });
  try {
    await client.connect();
    await fn(client.db(config.mongo.db), config);
  } finally {
    await client.close();
    await services?.stop();
  }
}

export async function run(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exitCode = EXIT.usage;
    } else {
      throw e;
    }
  }
}

await run(process.argv.slice(2));
