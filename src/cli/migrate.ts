// `cms check` (the files, then every stored entry) and `cms migrate plan|apply`.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, parseLocales, type Config } from '../config.js';
import { ContentTypeLoadError, loadContentTypes } from '../content-types/loader.js';
import type { ContentTypeRegistry } from '../content-types/registry.js';
import { checkStored, type StoredCheck } from '../services/migrations/check.js';
import { applyMigration, MigrationRefused, planMigration, type ApplyResult, type DocRef, type MigrationPlan } from '../services/migrations/migrate.js';
import { CliError, EXIT, loadRegistry, progress, report, withServices, type Io } from './shared.js';

const envOf = (io: Io) => io.env ?? process.env;

/** Whether there is a database to look at: one configured, or embedded data from an earlier run. */
function hasDatabase(config: Config): boolean {
  return Boolean(config.mongo.uri) || existsSync(join(config.dataDir, 'ferretdb'));
}

/** The registry, or a CliError listing the problems of the files (exit 1). */
async function typesOrFail(config: Config, dir: string | undefined): Promise<ContentTypeRegistry> {
  try {
    return await loadRegistry(config, dir);
  } catch (e) {
    if (!(e instanceof ContentTypeLoadError)) throw e;
    throw new CliError(EXIT.problems, e.message, { issues: e.issues });
  }
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function refLine(r: DocRef): string {
  return `${r.id}${r.view === 'published' ? ' (published)' : ''}: ${r.problems.map((p) => `${p.path || '/'} ${p.message}`).join('; ')}`;
}

function storedText(check: StoredCheck): string {
  const lines: string[] = [];
  for (const t of check.types) {
    const views = t.views.length > 1 ? ` (${t.views.map((v) => `${v.collection}: ${v.checked}`).join(', ')})` : '';
    lines.push(`${t.failing ? 'FAIL' : 'ok  '} ${t.type}: ${t.checked} checked${views}, ${t.failing} failing`);
    for (const o of t.offenders) lines.push(`       ${refLine(o)}`);
    if (t.failing > t.offenders.length) lines.push(`       … and ${t.failing - t.offenders.length} more`);
  }
  lines.push(check.ok ? `OK: ${plural(check.checked, 'stored document')} match their types` : `${plural(check.failing, 'stored document')} of ${check.checked} do not match their types: run \`cms migrate plan\``);
  return lines.join('\n');
}

export interface CheckOptions {
  dir?: string;
  json?: boolean;
  filesOnly?: boolean;
}

/**
 * `cms check`: the content-type files (no service needed), then, unless --files-only, every stored
 * entry against its type, when there is a database (configured, or embedded data in DATA_DIR).
 */
export async function checkCommand(opts: CheckOptions, io: Io): Promise<void> {
  const env = envOf(io);
  const dir = resolve(opts.dir ?? env.CONTENT_TYPES_DIR ?? 'content-types');
  let registry: ContentTypeRegistry;
  try {
    registry = await loadContentTypes(dir, { locales: parseLocales(env.LOCALES || 'en', env.LOCALE_FALLBACKS ?? '') });
  } catch (e) {
    if (!(e instanceof ContentTypeLoadError)) throw e;
    if (opts.json) io.out(`${JSON.stringify({ ok: false, types: [], issues: e.issues, stored: null }, null, 2)}\n`);
    else io.err(`${e.message}\n`);
    process.exitCode = EXIT.problems;
    return;
  }
  const types = registry.all().map((t) => ({ id: t.id, file: t.file, singleton: t.singleton, fields: t.fields.size }));
  const filesLine = `OK: ${types.length} content types (${types.map((t) => t.id).join(', ')})`;
  let stored: StoredCheck | null = null;
  let skipped: string | undefined;
  if (opts.filesOnly) skipped = '--files-only';
  else {
    const config = loadConfig(env);
    if (!hasDatabase(config)) skipped = 'no database: MONGODB_URI is not set and DATA_DIR holds no embedded data';
    else {
      stored = await withServices({ config }, ({ db }) => checkStored(db, registry, { progress: (label, total) => progress(io, opts.json, label, total) }));
    }
  }
  const ok = stored ? stored.ok : true;
  report(io, opts.json, { ok, types, issues: [], stored, ...(skipped ? { storedSkipped: skipped } : {}) }, () =>
    [filesLine, stored ? storedText(stored) : `Stored entries not checked (${skipped}).`].join('\n'),
  );
  process.exitCode = ok ? EXIT.ok : EXIT.problems;
}

function planText(plan: MigrationPlan, verb: 'plan' | 'apply'): string {
  const lines: string[] = [`Migration ${plan.id}${plan.drop ? ' (--drop)' : ''}`];
  for (const t of plan.types) {
    const idx = t.indexes.create.length + t.indexes.drop.length;
    if (!t.toMigrate && !t.failing.count && !t.lossy.length && !idx && !t.steps.length) {
      lines.push(`${t.type}: ${plural(t.entries, 'entry', 'entries')}, nothing to do`);
      continue;
    }
    lines.push(`${t.type}: ${plural(t.entries, 'entry', 'entries')}, ${t.toMigrate} to migrate`);
    for (const s of t.steps) {
      const n = plural(s.count, 'document');
      if (s.kind === 'rename') lines.push(`  rename   ${s.from} → ${s.field}: ${n}`);
      else if (s.kind === 'fill') lines.push(`  fill     ${s.field} = ${JSON.stringify(s.default)}: ${n}`);
      else if (s.kind === 'convert') lines.push(`  convert  ${s.field} ${s.from} → ${s.to}: ${n}`);
      else if (s.action === 'drop') lines.push(`  drop     ${s.field} (no longer in the type): ${n}`);
      else lines.push(`  keep     ${s.field} (no longer in the type): ${n} keep it and fail validation until migrated with --drop`);
    }
    for (const l of t.lossy) {
      lines.push(`  LOSSY    ${l.field} ${l.from} → ${l.to}: ${plural(l.count, 'document')} cannot be converted`);
      for (const r of l.ids) lines.push(`             ${refLine(r)}`);
    }
    for (const i of t.indexes.create) lines.push(`  index    build ${i.name} on ${i.view === 'draft' ? 'content' : 'published'}_${t.type}`);
    for (const i of t.indexes.drop) lines.push(`  index    drop ${i.name} on ${i.view === 'draft' ? 'content' : 'published'}_${t.type}`);
    if (t.failing.count) {
      lines.push(`  FAILING  ${plural(t.failing.count, 'entry', 'entries')} would not match the type after the migration:`);
      for (const r of t.failing.ids) lines.push(`             ${refLine(r)}`);
      if (t.failing.count > t.failing.ids.length) lines.push(`             … and more`);
    }
  }
  if (plan.empty) lines.push('Nothing to migrate.');
  else if (plan.refusals.length) {
    lines.push(verb === 'plan' ? '`cms migrate apply` would refuse:' : 'Refused, nothing was written:');
    for (const r of plan.refusals) lines.push(`  - ${r}`);
  } else lines.push(`${plural(plan.toMigrate, 'entry', 'entries')} to migrate, ${plural(plan.indexes, 'index change')}${verb === 'plan' ? ': run `cms migrate apply`' : ''}.`);
  return lines.join('\n');
}

function applyText(r: ApplyResult): string {
  if (r.nothing) return 'Nothing to migrate.';
  const lines = [`Migration ${r.id}${r.resumed ? ' (resumed)' : ''}: ${plural(r.migrated, 'entry', 'entries')} migrated, each as a new version`];
  for (const i of r.indexes.created) lines.push(`  built index ${i.name} (${i.view})`);
  for (const i of r.indexes.dropped) lines.push(`  dropped index ${i.name} (${i.view})`);
  if (r.failed.length) {
    lines.push(`${plural(r.failed.length, 'entry', 'entries')} could not be migrated (they changed meanwhile): run \`cms migrate plan\``);
    for (const f of r.failed) lines.push(`  ${refLine(f)}`);
  }
  return lines.join('\n');
}

function positiveInt(name: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 1 || n > 10_000) throw new CliError(EXIT.usage, `${name} must be a whole number from 1 to 10000`);
    return n;
  };
}

export function registerMigrate(program: Command, io: Io): void {
  const migrate = program
    .command('migrate')
    .description('Bring stored entries in line with changed content-type files (renames, removed fields, defaults, conversions, indexes)');

  migrate
    .command('plan')
    .description('Compare the content-type files with the stored entries and print what `apply` would do; exits 1 when apply would refuse')
    .option('--drop', 'plan to remove stored fields the types no longer have')
    .option('--dir <path>', 'content-types directory (default: CONTENT_TYPES_DIR)')
    .option('--max-ids <n>', 'offending ids listed per type and field', positiveInt('--max-ids'), 10)
    .option('--json', 'print the plan as JSON')
    .action(async (opts: { drop?: boolean; dir?: string; maxIds: number; json?: boolean }) => {
      const config = loadConfig(envOf(io));
      const registry = await typesOrFail(config, opts.dir);
      const plan = await withServices({ config }, ({ db }) =>
        planMigration(db, registry, { locales: config.locales, drop: Boolean(opts.drop), maxIds: opts.maxIds, progress: (label, total) => progress(io, opts.json, label, total) }),
      );
      report(io, opts.json, { ok: plan.refusals.length === 0, plan }, () => planText(plan, 'plan'));
      process.exitCode = plan.refusals.length ? EXIT.problems : EXIT.ok;
    });

  migrate
    .command('apply')
    .description('Run the plan in batches: each changed entry gets a new version (action "migrate"); resumes an interrupted run; refuses (exit 3) when documents would fail, a conversion would lose data, or fields would be dropped without --drop')
    .option('--drop', 'remove stored fields the types no longer have (old versions keep them)')
    .option('--dir <path>', 'content-types directory (default: CONTENT_TYPES_DIR)')
    .option('--batch-size <n>', 'entries per batch', positiveInt('--batch-size'), 100)
    .option('--max-ids <n>', 'offending ids listed per type and field', positiveInt('--max-ids'), 10)
    .option('--json', 'print the result as JSON')
    .action(async (opts: { drop?: boolean; dir?: string; batchSize: number; maxIds: number; json?: boolean }) => {
      const config = loadConfig(envOf(io));
      const registry = await typesOrFail(config, opts.dir);
      try {
        const result = await withServices({ config }, ({ db }) =>
          applyMigration(db, registry, {
            locales: config.locales,
            drop: Boolean(opts.drop),
            batchSize: opts.batchSize,
            maxIds: opts.maxIds,
            progress: (label, total) => progress(io, opts.json, label, total),
          }),
        );
        const { plan, ...rest } = result;
        report(io, opts.json, { ok: result.failed.length === 0, ...rest, toMigrate: plan.toMigrate }, () => applyText(result));
        process.exitCode = result.failed.length ? EXIT.problems : EXIT.ok;
      } catch (e) {
        if (!(e instanceof MigrationRefused)) throw e;
        report(io, opts.json, { ok: false, refused: e.plan.refusals, plan: e.plan }, () => planText(e.plan, 'apply'));
        process.exitCode = EXIT.refused;
      }
    });
}
