// `cms users …`: manage users without the UI.
import type { Command } from 'commander';
import { createSessions } from '../auth/sessions.js';
import { CmsError } from '../errors.js';
import { AuditLog } from '../services/audit.js';
import { AuthService } from '../services/auth.js';
import { ROLES, UsersRepository } from '../storage/users.js';
import { describeCmsError, EXIT, withServices, type Io } from './shared.js';

export function registerUsers(program: Command, io: Io): void {
  const { out, err } = io;
  const users = program.command('users').description('Manage users (the server need not run)');
  users
    .command('create')
    .description('Create a user; the password is read from standard input (or asked for on a terminal)')
    .requiredOption('--email <email>', 'sign-in email')
    .requiredOption('--name <name>', 'display name')
    .option('--role <role>', `one of ${ROLES.join(', ')}`, 'admin')
    .action(async (opts: { email: string; name: string; role: string }) => {
      const password = await readPassword(err);
      await withServices({}, async ({ db, config }) => {
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
          err(`${describeCmsError(e)}\n`);
          process.exitCode = EXIT.problems;
        }
      });
    });


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

