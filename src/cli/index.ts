// The `cms` command. Reads the same configuration as the server (environment variables).
// Each group of subcommands lives in its own module and registers itself here.
import { Command, CommanderError } from 'commander';
import { MongoNetworkError, MongoServerSelectionError } from 'mongodb';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config.js';
import { CmsError } from '../errors.js';
import { typesCommand } from '../codegen/types.js';
import { registerBackup } from './backup.js';
import { checkCommand, registerMigrate } from './migrate.js';
import { CliError, describeCmsError, EXIT, processIo, type ExitCode, type Io } from './shared.js';
import { registerTokens } from './tokens.js';
import { registerUsers } from './users.js';

export { EXIT };

export function buildCli(io: Io = processIo): Command {
  const out = io.out;
  const err = io.err;
  const program = new Command('cms')
    .description('Headless CMS command line: content-type checks and migrations, backups, users and tokens.')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: out, writeErr: err });

  program
    .command('check')
    .description('Validate the content-type files, then every stored entry against its type (when there is a database); exits 1 on any problem')
    .option('--dir <path>', 'content-types directory (default: CONTENT_TYPES_DIR or ./content-types)')
    .option('--files-only', 'check the files only, without a database (for CI)')
    .option('--json', 'print the result as JSON')
    .action((opts: { dir?: string; json?: boolean; filesOnly?: boolean }) => checkCommand(opts, io));
  program
    .command('types')
    .description('Write TypeScript declarations of the content types (entries, stored and populated variants)')
    .option('--dir <path>', 'content-types directory (default: CONTENT_TYPES_DIR or ./content-types)')
    .option('--out <file>', 'the file to write, - for standard output', 'cms-types.d.ts')
    .action(async (opts: { dir?: string; out: string }) => {
      process.exitCode = (await typesCommand(opts, out, err)) === 0 ? EXIT.ok : EXIT.problems;
    });
  registerUsers(program, io);
  registerTokens(program, io);
  registerBackup(program, io);
  registerMigrate(program, io);
  return program;
}

/** Runs the CLI; returns the exit code (tests call this with their own io). */
export async function run(argv: string[], io: Io = processIo): Promise<number> {
  const json = argv.includes('--json');
  const fail = (code: ExitCode, message: string, data: Record<string, unknown> = {}) => {
    if (json) io.out(`${JSON.stringify({ ok: false, error: { message, exit: code, ...data } }, null, 2)}\n`);
    else io.err(`${message}\n`);
    return code;
  };
  try {
    process.exitCode = undefined;
    await buildCli(io).parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return EXIT.ok;
      // commander has printed the message (and usage) on stderr; scripts also get it as JSON
      return json ? fail(EXIT.usage, e.code === 'commander.help' ? 'A subcommand is needed (see --help)' : e.message.replace(/^error: /, '')) : EXIT.usage;
    }
    if (e instanceof ConfigError) return fail(EXIT.usage, e.message);
    if (e instanceof CliError) return fail(e.exit, e.message, e.data);
    if (e instanceof CmsError) return fail(EXIT.problems, describeCmsError(e), { code: e.code, details: e.details });
    // unexpected: the stack on stderr for a bug report, and scripts still get one JSON document
    const unavailable = e instanceof MongoNetworkError || e instanceof MongoServerSelectionError;
    io.err(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    const code = unavailable ? EXIT.unavailable : EXIT.problems;
    if (json) fail(code, `${unavailable ? 'MongoDB cannot be reached' : 'Unexpected error'}: ${e instanceof Error ? e.message : String(e)}`);
    return code;
  }
}

// run only as the program itself, not when a test imports run()
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await run(process.argv.slice(2));
}
