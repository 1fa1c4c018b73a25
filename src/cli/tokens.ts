// `cms tokens …`: API tokens without the UI. A token acts for the admin who owns it, as one made
// through the API does: it stops working when that admin is suspended, demoted, removed or changes
// their password.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { codes } from '../errors.js';
import { ContentTypeLoadError } from '../content-types/loader.js';
import { isHexId, tokenOwnerValid, type TokenJson } from '../services/auth.js';
import { SCOPES, type Scope, type UserDoc, type UsersRepository } from '../storage/users.js';
import { CliError, EXIT, loadRegistry, report, type Io } from './shared.js';
import { CLI_WHERE, findUser, withAuth } from './users.js';

/** A comma-separated list, each item once. */
function list(raw: string): string[] {
  return [...new Set(raw.split(',').map((s) => s.trim()).filter(Boolean))];
}

function parseScopes(raw: string): Scope[] {
  const scopes = list(raw);
  const unknown = scopes.filter((s) => !(SCOPES as string[]).includes(s));
  if (unknown.length) throw new InvalidArgumentError(`Unknown scope${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; the scopes are ${SCOPES.join(', ')}.`);
  if (!scopes.length) throw new InvalidArgumentError(`Give at least one scope: ${SCOPES.join(', ')}.`);
  return scopes as Scope[];
}

function parseTypes(raw: string): string[] {
  const types = list(raw);
  if (!types.length) throw new InvalidArgumentError('Give at least one content type, or leave --types out for all of them.');
  return types;
}

/** `30d`, `12h`, or an ISO 8601 date or date-time; the result is in the future. */
export function parseExpiry(raw: string, now = new Date()): string {
  const relative = /^(\d{1,5})([dh])$/.exec(raw.trim());
  let at: number;
  if (relative) at = now.getTime() + Number(relative[1]) * (relative[2] === 'd' ? 86_400_000 : 3_600_000);
  else if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw.trim())) at = Date.parse(raw.trim());
  else throw new InvalidArgumentError('Use a number of days or hours (30d, 12h) or an ISO date (2027-01-31, 2027-01-31T12:00:00Z).');
  if (!Number.isFinite(at)) throw new InvalidArgumentError(`${raw} is not a date.`);
  if (at <= now.getTime()) throw new InvalidArgumentError(`${raw} is not in the future.`);
  return new Date(at).toISOString();
}

/** The admin a new token acts for: the one named, or the only active admin. */
async function ownerOf(repo: UsersRepository, ref: string | undefined): Promise<UserDoc> {
  if (ref !== undefined) {
    const user = await findUser(repo, ref);
    if (user.role !== 'admin' || user.status !== 'active') throw new CliError(EXIT.problems, `${user.email} is not an active admin: only an active admin can own a token`, { code: codes.forbidden });
    return user;
  }
  const admins = await repo.list({ role: 'admin', status: 'active' }, 2);
  if (admins.length === 0) throw new CliError(EXIT.problems, 'There is no active admin to own the token: create one first (cms users create --role admin …)');
  if (admins.length > 1) throw new CliError(EXIT.usage, 'There are several admins: choose the one the token acts for with --owner <email|id>');
  return admins[0]!;
}

type TokenStatus = 'active' | 'revoked' | 'expired' | 'void';

/** Whether a token works now; mirrors the API's rule (revoked, expired, or its owner no longer an active admin with the same credentials). */
function statusOf(token: TokenJson, owner: UserDoc | undefined, now: string): TokenStatus {
  if (token.revokedAt) return 'revoked';
  if (token.expiresAt && token.expiresAt <= now) return 'expired';
  if (!tokenOwnerValid(token, owner)) return 'void';
  return 'active';
}

function tokenLine(t: TokenJson & { status: TokenStatus; owner: string | null }): string {
  const parts = [t._id, JSON.stringify(t.name), t.status, t.scopes.join(','), t.types ? `types ${t.types.join(',')}` : 'all types', `owner ${t.owner ?? t.createdBy}`];
  if (t.expiresAt) parts.push(`expires ${t.expiresAt}`);
  parts.push(t.lastUsedAt ? `last used ${t.lastUsedAt}` : 'never used');
  return parts.join('  ');
}

export function registerTokens(program: Command, io: Io): void {
  const tokens = program
    .command('tokens')
    .description('Manage API tokens: create (the secret is shown once), list, revoke')
    .addHelpText('after', `\nScopes: ${SCOPES.join(', ')}.`);

  tokens
    .command('create')
    .description('Create an API token and print its secret, once')
    .requiredOption('--name <name>', 'what the token is for, e.g. "site build"')
    .requiredOption('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`, parseScopes)
    .option('--types <list>', 'comma-separated content types it may use (default: all)', parseTypes)
    .option('--expires <when>', 'when it stops working: 30d, 12h, or an ISO date (default: never)', (raw: string) => parseExpiry(raw))
    .addOption(new Option('--owner <admin>', 'email or id of the admin it acts for (default: the only active admin)'))
    .option('--json', 'print the result as JSON')
    .action(async (opts: { name: string; scopes: Scope[]; types?: string[]; expires?: string; owner?: string; json?: boolean }) => {
      await withAuth(io, async ({ config, repo, auth, audit }) => {
        if (opts.types) {
          let known: Set<string>;
          try {
            known = new Set((await loadRegistry(config)).all().map((t) => t.id));
          } catch (e) {
            if (e instanceof ContentTypeLoadError) throw new CliError(EXIT.problems, e.message, { issues: e.issues });
            throw e;
          }
          const unknown = opts.types.filter((t) => !known.has(t));
          if (unknown.length) {
            throw new CliError(EXIT.problems, `Unknown content type${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; the types are ${[...known].join(', ')}`, {
              details: unknown.map((t) => ({ path: '--types', message: `unknown content type ${t}` })),
            });
          }
        }
        const owner = await ownerOf(repo, opts.owner);
        const { token, secret } = await auth.createToken(owner._id, {
          name: opts.name,
          scopes: opts.scopes,
          ...(opts.types ? { types: opts.types } : {}),
          ...(opts.expires ? { expiresAt: opts.expires } : {}),
        });
        await audit.record('system', CLI_WHERE, 'token.create', { kind: 'token', id: token._id, fields: ['name', 'scopes', ...(token.types ? ['types'] : []), ...(token.expiresAt ? ['expiresAt'] : [])] });
        report(io, opts.json, { ok: true, token: { ...token, owner: owner.email }, secret }, () =>
          [
            `Created token ${token._id} "${token.name}" (${token.scopes.join(', ')}${token.types ? `; types ${token.types.join(', ')}` : ''}${token.expiresAt ? `; expires ${token.expiresAt}` : ''}), acting for ${owner.email}.`,
            'The secret is shown this once; keep it now:',
            secret,
          ].join('\n'),
        );
      });
    });

  tokens
    .command('list')
    .description('List API tokens and whether each works now (secrets are never shown)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withAuth(io, async ({ repo, auth }) => {
        const all = await auth.listTokens();
        const owners = new Map<string, UserDoc | undefined>();
        for (const id of new Set(all.map((t) => t.createdBy))) owners.set(id, (await repo.findById(id)) ?? undefined);
        const now = new Date().toISOString();
        const rows = all.map((t) => {
          const owner = owners.get(t.createdBy);
          return { ...t, owner: owner?.email ?? null, status: statusOf(t, owner, now) };
        });
        report(io, opts.json, { ok: true, tokens: rows }, () => (rows.length ? rows.map(tokenLine).join('\n') : 'No tokens'));
      });
    });

  tokens
    .command('revoke')
    .description('Revoke an API token: it stops working at once (revoking twice is harmless)')
    .argument('<id>', 'the token id (from tokens list)')
    .option('--json', 'print the result as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withAuth(io, async ({ repo, auth, audit }) => {
        const before = isHexId(id) ? await repo.findToken(id) : null;
        const token = await auth.revokeToken(id);
        const changed = !before?.revokedAt;
        if (changed) await audit.record('system', CLI_WHERE, 'token.revoke', { kind: 'token', id: token._id });
        report(io, opts.json, { ok: true, token, changed }, () => (changed ? `Revoked token ${token._id} "${token.name}"` : `Token ${token._id} "${token.name}" was already revoked (${token.revokedAt})`));
      });
    });
}
