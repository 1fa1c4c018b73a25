// `cms users …`: manage users without the UI, through the same service and rules as the HTTP API.
import { randomBytes } from 'node:crypto';
import { Argument, Option, type Command } from 'commander';
import { passwordProblem } from '../auth/passwords.js';
import { createSessions } from '../auth/sessions.js';
import { loadConfig, type Config } from '../config.js';
import { CmsError, codes } from '../errors.js';
import { AuditLog } from '../services/audit.js';
import { AuthService, isHexId, normalizeEmail, userJson, type UserJson } from '../services/auth.js';
import { PreviewTokensRepository } from '../storage/previews.js';
import { ROLES, type Role, type UserDoc, UsersRepository } from '../storage/users.js';
import { CliError, describeCmsError, EXIT, report, withServices, type Io } from './shared.js';

/** Where command-line changes come from, in the audit log. */
export const CLI_WHERE = { ip: 'local', userAgent: 'cms command line' };

export interface AuthContext {
  config: Config;
  repo: UsersRepository;
  auth: AuthService;
  audit: AuditLog;
}

/** Runs `fn` with the services the HTTP API uses for users and tokens, on the configured database. */
export function withAuth<T>(io: Io, fn: (ctx: AuthContext) => Promise<T>): Promise<T> {
  return withServices({ config: loadConfig(io.env ?? process.env) }, async ({ db, config }) => {
    const repo = new UsersRepository(db);
    await repo.ensureIndexes();
    const now = () => new Date();
    const sessions = createSessions(repo, { idleMinutes: config.auth.idleMinutes, maxHours: config.auth.maxHours, secure: false, now });
    const auth = new AuthService(repo, sessions, config.auth, now, new PreviewTokensRepository(db));
    try {
      return await fn({ config, repo, auth, audit: new AuditLog(db, config.list, now) });
    } catch (e) {
      throw cliErrorOf(e);
    }
  });
}

/** A service's refusal as a CLI failure: the last admin is "refused" (3), anything else a problem (1). */
function cliErrorOf(e: unknown): unknown {
  if (!(e instanceof CmsError)) return e;
  const exit = e.code === codes.userLastAdmin ? EXIT.refused : EXIT.problems;
  return new CliError(exit, describeCmsError(e), { code: e.code, ...(e.details.length ? { details: e.details } : {}) });
}

/** A user by id (24 hex characters) or email (any case). */
export async function findUser(repo: UsersRepository, ref: string): Promise<UserDoc> {
  const user = isHexId(ref) ? await repo.findById(ref) : await repo.findByEmail(normalizeEmail(ref));
  if (!user) throw new CliError(EXIT.problems, `No user with ${isHexId(ref) ? 'id' : 'email'} ${JSON.stringify(ref.slice(0, 254))}`, { code: codes.userNotFound });
  return user;
}

/** A strong random password (144 bits) that the password policy accepts. */
function generatePassword(email: string, name: string): string {
  for (;;) {
    const password = randomBytes(18).toString('base64url');
    if (!passwordProblem(password, email, name)) return password;
  }
}

const roleArgument = () => new Argument('<role>', 'the new role').choices(ROLES);

function userLine(u: UserJson): string {
  return `${u._id}  ${u.email}  ${JSON.stringify(u.name)}  ${u.role}  ${u.status}`;
}

export function registerUsers(program: Command, io: Io): void {
  const users = program
    .command('users')
    .description('Manage users: create, list, change roles, suspend, reset passwords (the same rules as the API)')
    .addHelpText('after', '\nA <user> is an email address or a user id. Changes are recorded in the audit log as the "cms command line".');

  users
    .command('create')
    .description('Create a user; the password is read from standard input (or asked for on a terminal)')
    .requiredOption('--email <email>', 'sign-in email')
    .requiredOption('--name <name>', 'display name')
    .addOption(new Option('--role <role>', 'the role').choices(ROLES).default('admin'))
    .option('--generate', 'generate a strong password and print it once, instead of reading one')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { email: string; name: string; role: Role; generate?: boolean; json?: boolean }) => {
      const password = opts.generate ? generatePassword(opts.email, opts.name) : await readPassword(io);
      await withAuth(io, async ({ auth, audit }) => {
        const user = await auth.createUser({ email: opts.email, name: opts.name, password, role: opts.role });
        await audit.record('system', CLI_WHERE, 'user.create', { kind: 'user', id: user._id, fields: ['email', 'name', 'role'] });
        report(io, opts.json, { ok: true, user, ...(opts.generate ? { password } : {}) }, () =>
          [`Created ${user.role} ${user.email} (${user._id})`, ...(opts.generate ? [`Password (shown once): ${password}`] : [])].join('\n'),
        );
      });
    });

  users
    .command('list')
    .description('List the users (id, email, name, role, status)')
    .addOption(new Option('--role <role>', 'only users with this role').choices(ROLES))
    .addOption(new Option('--status <status>', 'only active or suspended users').choices(['active', 'suspended']))
    .option('--json', 'print the result as JSON')
    .action(async (opts: { role?: Role; status?: string; json?: boolean }) => {
      await withAuth(io, async ({ auth }) => {
        const list = (await auth.listUsers()).filter((u) => (!opts.role || u.role === opts.role) && (!opts.status || u.status === opts.status));
        report(io, opts.json, { ok: true, users: list }, () => (list.length ? list.map(userLine).join('\n') : 'No users'));
      });
    });

  users
    .command('set-role')
    .description("Change a user's role; their sessions end (and tokens they made stop working)")
    .argument('<user>', 'email or id')
    .addArgument(roleArgument())
    .option('--json', 'print the result as JSON')
    .action(async (ref: string, role: Role, opts: { json?: boolean }) => {
      await withAuth(io, async ({ repo, auth, audit }) => {
        const found = await findUser(repo, ref);
        const { user, changed } = await auth.updateUser(found._id, { role });
        if (changed.length) await audit.record('system', CLI_WHERE, 'user.update', { kind: 'user', id: user._id, fields: changed });
        report(io, opts.json, { ok: true, user, changed: changed.length > 0 }, () =>
          changed.length ? `${user.email} is now ${user.role}; their sessions have ended` : `${user.email} is already ${user.role}: nothing changed`,
        );
      });
    });

  users
    .command('suspend')
    .description('Suspend a user: they cannot sign in, their sessions end and tokens they made stop working (--undo reactivates)')
    .argument('<user>', 'email or id')
    .option('--undo', 'reactivate the user instead')
    .option('--json', 'print the result as JSON')
    .action(async (ref: string, opts: { undo?: boolean; json?: boolean }) => {
      const status = opts.undo ? 'active' : 'suspended';
      await withAuth(io, async ({ repo, auth, audit }) => {
        const found = await findUser(repo, ref);
        const { user, changed } = await auth.updateUser(found._id, { status });
        if (changed.length) await audit.record('system', CLI_WHERE, 'user.update', { kind: 'user', id: user._id, fields: changed });
        report(io, opts.json, { ok: true, user, changed: changed.length > 0 }, () =>
          !changed.length ? `${user.email} is already ${status}: nothing changed` : opts.undo ? `${user.email} is active again` : `${user.email} is suspended; their sessions have ended`,
        );
      });
    });

  users
    .command('reset-password')
    .description("Set a user's password (read from standard input, or --generate); their sessions end")
    .argument('<user>', 'email or id')
    .option('--generate', 'generate a strong password and print it once')
    .option('--json', 'print the result as JSON')
    .action(async (ref: string, opts: { generate?: boolean; json?: boolean }) => {
      // read before connecting: nothing is written when no password comes
      const given = opts.generate ? undefined : await readPassword(io);
      await withAuth(io, async ({ repo, auth, audit }) => {
        const user = await findUser(repo, ref);
        const password = given ?? generatePassword(user.email, user.name);
        const updated = await auth.resetPassword(user._id, password);
        await audit.record('system', CLI_WHERE, 'password.reset', { kind: 'user', id: user._id });
        const json = { ok: true, user: userJson(updated), ...(opts.generate ? { password } : {}) };
        report(io, opts.json, json, () =>
          [`The password of ${user.email} is set; their sessions have ended`, ...(opts.generate ? [`Password (shown once): ${password}`] : [])].join('\n'),
        );
      });
    });
}

/**
 * The password: on a terminal, typed without echo; otherwise the first line of standard input (the
 * line break is not part of it). An empty one is a usage error.
 */
export async function readPassword(io: Io): Promise<string> {
  const input = io.stdin ?? process.stdin;
  const password = input === process.stdin && process.stdin.isTTY ? await promptHidden(io) : await firstLine(input);
  if (!password) throw new CliError(EXIT.usage, 'No password given: pipe it on standard input (echo "…" | cms …), type it on a terminal, or use --generate');
  return password;
}

async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    // stop at the first line break: the rest of the stream is not ours
    if (/[\r\n]/.test(text)) break;
  }
  return text.split(/\r?\n|\r/)[0] ?? '';
}

function promptHidden(io: Io): Promise<string> {
  const stdin = process.stdin;
  io.err('Password: ');
  return new Promise((resolvePassword) => {
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    const done = (result: string) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      io.err('\n');
      resolvePassword(result);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done(value);
        // Ctrl-C: nothing is written
        if (ch === '\u0003') return done('');
        value = ch === '\u007f' ? value.slice(0, -1) : value + ch;
      }
    };
    stdin.on('data', onData);
  });
}
