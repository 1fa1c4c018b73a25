// `cms export` and `cms import`: a backup of the database and the media bucket in one archive.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { BackupError, type Manifest } from '../services/backup/archive.js';
import { exportArchive } from '../services/backup/export.js';
import { importArchive } from '../services/backup/restore.js';
import { verifyArchive } from '../services/backup/verify.js';
import { CliError, EXIT, progress, report, withServices, type Io, type Progress } from './shared.js';

const EXIT_OF = { corrupt: EXIT.problems, refused: EXIT.refused, conflict: EXIT.refused } as const;

/** A BackupError as the CLI's own error (message and exit code); anything else passes through. */
function asCliError(e: unknown): unknown {
  if (e instanceof BackupError) return new CliError(EXIT_OF[e.reason], `Refused: ${e.message}`, { reason: e.reason, ...e.data });
  return e;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export function registerBackup(program: Command, io: Io): void {
  program
    .command('export')
    .description('Write every collection and every media object (S3) into one .tar.gz archive, with a manifest and SHA-256 checksums')
    .argument('<file>', 'the archive to write, e.g. backup.tar.gz; - writes to standard output')
    .option('--force', 'overwrite the file when it exists')
    .option('--json', 'print a JSON summary')
    .action(async (file: string, opts: { force?: boolean; json?: boolean }) => {
      const toStdout = file === '-';
      const target = toStdout ? '-' : resolve(file);
      if (toStdout && process.stdout.isTTY) throw new CliError(EXIT.usage, 'Refusing to write a binary archive to a terminal: redirect standard output, or give a file name');
      if (toStdout && opts.json) throw new CliError(EXIT.usage, '--json cannot be used when the archive goes to standard output');
      if (!toStdout && !opts.force && (await exists(target))) throw new CliError(EXIT.refused, `${target} exists; pass --force to overwrite it`);
      const partial = `${target}.partial`;
      await withServices({ s3: true }, async ({ db, s3, config }) => {
        // owner-only: the archive holds password hashes, webhook secrets and every entry
        const out: Writable = toStdout ? process.stdout : createWriteStream(partial, { mode: 0o600 });
        // a path that cannot be written fails here, not later as an unhandled stream error
        if (!toStdout) await once(out, 'open').catch((e: unknown) => {
          throw new CliError(EXIT.usage, `Cannot write ${partial}: ${(e as Error).message}`);
        });
        let bar: Progress | undefined;
        try {
          const summary = await exportArchive({
            db,
            s3: s3!,
            contentTypesDir: config.contentTypesDir,
            out,
            onTotal: (total) => {
              bar = progress(io, opts.json, 'Exporting documents and objects', total);
            },
            onProgress: (n) => bar?.increment(n),
          });
          bar?.stop();
          if (!toStdout) await rename(partial, target);
          report(io, opts.json, { ok: true, file: target, ...summary }, () =>
            toStdout
              ? ''
              : `Exported ${summary.documents} documents in ${summary.collections} collections and ${summary.objects} objects (${summary.objectBytes} bytes) ` +
                `from ${summary.database} and bucket ${summary.bucket} to ${target}\nmanifest SHA-256 ${summary.manifestSha256}`,
          );
          if (toStdout) io.err(`Exported ${summary.documents} documents and ${summary.objects} objects\n`);
          process.exitCode = EXIT.ok;
        } catch (e) {
          bar?.stop();
          if (!toStdout) await rm(partial, { force: true });
          throw e;
        }
      });
    });

  program
    .command('import')
    .description(
      'Restore an archive written by `cms export`. Every checksum is verified before anything is written; ' +
        'the target must be empty unless --replace. Stop the server first. An interrupted import resumes when run again with the same archive.',
    )
    .argument('<file>', 'the archive to restore (a file: it is read twice)')
    .option('--replace', 'DELETE every collection of the database and every object of the bucket before restoring')
    .option('--extract-types <dir>', "only check the archive and write its content-type files into <dir> (to resolve a conflict); writes nothing else")
    .option('--json', 'print a JSON summary')
    .action(async (file: string, opts: { replace?: boolean; extractTypes?: string; json?: boolean }) => {
      if (file === '-') throw new CliError(EXIT.usage, 'import reads the archive twice (once to check it, once to restore it): give a file, not standard input');
      const source = resolve(file);
      if (!(await exists(source))) throw new CliError(EXIT.usage, `${source} does not exist`);
      if (opts.extractTypes) {
        const dir = resolve(opts.extractTypes);
        const { manifest } = await verifyArchive(source).catch((e: unknown) => {
          throw asCliError(e);
        });
        await mkdir(dir, { recursive: true });
        const files = Object.keys(manifest.contentTypes);
        for (const name of files) await writeFile(join(dir, name), manifest.contentTypes[name]!);
        report(io, opts.json, { ok: true, dir, files }, () => `Wrote ${files.length} content-type files to ${dir}: ${files.join(', ')}`);
        process.exitCode = EXIT.ok;
        return;
      }
      await withServices({ s3: true, exclusive: 'importing' }, async ({ db, s3, config }) => {
        let bar: Progress | undefined;
        if (!opts.json) io.err(`Checking ${source} (every member against its SHA-256)…\n`);
        let checking: Progress | undefined = progress(io, opts.json, 'Checking (bytes)', (await stat(source)).size);
        try {
          const summary = await importArchive({
            file: source,
            db,
            s3: s3!,
            contentTypesDir: config.contentTypesDir,
            ...(opts.replace ? { replace: true } : {}),
            onChecked: (bytes) => checking?.increment(bytes),
            onVerified: (manifest: Manifest) => {
              checking?.stop();
              checking = undefined;
              if (!opts.json) io.err(`Archive OK: written ${manifest.createdAt} by CMS ${manifest.cmsVersion} from database ${manifest.database}\n`);
            },
            onNotice: (message) => io.err(`${opts.json ? '' : '\n'}WARNING: ${message}\n`),
            onTotal: (total) => {
              bar = progress(io, opts.json, 'Restoring documents and objects', total);
            },
            onProgress: (n) => bar?.increment(n),
          });
          bar?.stop();
          report(io, opts.json, { ok: true, file: source, ...summary }, () =>
            `Restored ${summary.documents} documents in ${summary.collections} collections, ${summary.objects} objects (${summary.objectBytes} bytes) ` +
            `and ${summary.indexes} indexes into ${db.databaseName} and bucket ${s3!.bucket}${summary.resumed ? ' (resumed)' : ''}. ` +
            'Sessions are not part of a backup: everyone signs in again.',
          );
          process.exitCode = EXIT.ok;
        } catch (e) {
          checking?.stop();
          bar?.stop();
          throw asCliError(e);
        }
      });
    });
}
