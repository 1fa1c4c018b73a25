// The `cms` command. Reads the same configuration as the server (environment variables).
import { Command, CommanderError } from 'commander';
import { resolve } from 'node:path';
import { ConfigError } from '../config.js';
import { ContentTypeLoadError, loadContentTypes } from '../content-types/loader.js';

/** Exit codes: 0 all good, 1 the check found problems, 2 bad usage or configuration. */
export const EXIT = { ok: 0, problems: 1, usage: 2 } as const;

export function buildCli(out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Command {
  const program = new Command('cms')
    .description('Headless CMS command line: check content types and more.')
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
        const registry = await loadContentTypes(dir);
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
  return program;
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
