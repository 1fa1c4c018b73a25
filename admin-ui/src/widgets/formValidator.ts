// The entry form's validator: Ajv code precompiled on the server (GET /api/admin/validators/…), run
// by the form library's precompiled validator. The admin's CSP forbids eval, so Ajv cannot compile in
// the browser; the server compiles with the same options as its own content validation.
import type { RJSFValidationError, ValidatorType } from '@rjsf/utils';
// the lib path: the package's main entry also builds a default (compiling) validator
import createPrecompiledValidator from '@rjsf/validator-ajv8/lib/createPrecompiledValidator.js';
import type { ValidatorFunctions } from '@rjsf/validator-ajv8/lib/types.js';
import * as equalModule from 'ajv/dist/runtime/equal';
import * as ucs2lengthModule from 'ajv/dist/runtime/ucs2length';
import * as formatsModule from 'ajv-formats/dist/formats';
import type { FormInfo } from '../types';

/** A CommonJS module's `exports.default`, however the bundler hands the module over. */
function defaultOf(mod: unknown): unknown {
  let m = mod as { default?: unknown };
  while (m && typeof m === 'object' && 'default' in m && typeof m !== 'function') m = m.default as { default?: unknown };
  return m;
}

const formats = (formatsModule as { fullFormats?: unknown }).fullFormats ?? (defaultOf(formatsModule) as { fullFormats?: unknown }).fullFormats;

/** The modules the generated code requires, as `require(id)` would return them. */
const RUNTIME: Record<string, unknown> = {
  'ajv/dist/runtime/ucs2length': { default: defaultOf(ucs2lengthModule) },
  'ajv/dist/runtime/equal': { default: defaultOf(equalModule) },
  'ajv-formats/dist/formats': { fullFormats: formats },
};

function requireShim(id: string): unknown {
  const mod = RUNTIME[id];
  if (!mod) throw new Error(`The form validators need the module "${id}", which this admin UI does not include`);
  return mod;
}

export interface FormValidators {
  /** For the default locale's schema (form.schema). */
  schema: ValidatorType;
  /** For the other locales' schema (form.otherLocaleSchema). */
  otherLocale: ValidatorType;
}

const loaded = new Map<string, Promise<FormValidators>>();

/** Loads (once per address) the type's precompiled validators. */
export function loadFormValidators(form: FormInfo): Promise<FormValidators> {
  const url = form.validatorUrl;
  if (!url) return Promise.reject(new Error('The form’s validation is not available on the server: see its log'));
  let result = loaded.get(url);
  if (!result) {
    result = import(/* @vite-ignore */ url).then((mod: { default?: (require: (id: string) => unknown) => ValidatorFunctions }) => {
      if (typeof mod.default !== 'function') throw new Error('The form validators did not load');
      const fns = mod.default(requireShim);
      return { schema: createPrecompiledValidator(fns, form.schema), otherLocale: createPrecompiledValidator(fns, form.otherLocaleSchema) };
    });
    // a failed load is tried again next time
    result.catch(() => loaded.delete(url));
    loaded.set(url, result);
  }
  return result;
}

// --- messages an editor understands, from Ajv's keywords ---

const FORMAT_NAMES: Record<string, string> = {
  'date-time': 'a date and time',
  date: 'a date (YYYY-MM-DD)',
  time: 'a time',
  email: 'an email address',
  uri: 'a full address (https://…)',
  url: 'a web address (https://…)',
  uuid: 'a UUID',
  hostname: 'a host name',
  ipv4: 'an IPv4 address',
  ipv6: 'an IPv6 address',
};

const TYPE_NAMES: Record<string, string> = {
  string: 'text',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'yes or no',
  array: 'a list',
  object: 'a group of fields',
  null: 'empty',
};

const SLUG_PATTERN = '^[a-z0-9]+(?:-[a-z0-9]+)*$';

const plural = (n: unknown, one: string, many: string) => `${String(n)} ${n === 1 ? one : many}`;

/** The message of one Ajv error in plain words (Ajv's own when the keyword is not listed). */
function messageFor(e: RJSFValidationError): string | undefined {
  const p = (e.params ?? {}) as Record<string, unknown>;
  switch (e.name) {
    case 'required':
      return 'This field is required';
    case 'minLength':
      return p.limit === 1 ? 'This field cannot be empty' : `Too short: at least ${plural(p.limit, 'character', 'characters')}`;
    case 'maxLength':
      return `Too long: at most ${plural(p.limit, 'character', 'characters')}`;
    case 'pattern':
      return p.pattern === SLUG_PATTERN ? 'Use lower-case letters, digits and single hyphens only (like “my-first-post”)' : `Does not have the expected form (${String(p.pattern)})`;
    case 'format':
      return `Must be ${FORMAT_NAMES[String(p.format)] ?? `in the format ${String(p.format)}`}`;
    case 'type':
      return `Must be ${String(p.type)
        .split(',')
        .map((t) => TYPE_NAMES[t] ?? t)
        .join(' or ')}`;
    case 'enum':
      return Array.isArray(p.allowedValues) ? `Must be one of: ${p.allowedValues.map(String).join(', ')}` : 'Must be one of the listed values';
    case 'const':
      return `Must be ${JSON.stringify(p.allowedValue)}`;
    case 'minimum':
      return `Must be at least ${String(p.limit)}`;
    case 'maximum':
      return `Must be at most ${String(p.limit)}`;
    case 'exclusiveMinimum':
      return `Must be more than ${String(p.limit)}`;
    case 'exclusiveMaximum':
      return `Must be less than ${String(p.limit)}`;
    case 'multipleOf':
      return `Must be a multiple of ${String(p.multipleOf)}`;
    case 'minItems':
      return `Needs at least ${plural(p.limit, 'item', 'items')}`;
    case 'maxItems':
      return `Too many items: at most ${String(p.limit)}`;
    case 'uniqueItems':
      return typeof p.i === 'number' && typeof p.j === 'number' ? `Must not repeat an item (items ${p.j + 1} and ${p.i + 1} are the same)` : 'Must not repeat an item';
    case 'additionalProperties':
      return `Has an unknown field "${String(p.additionalProperty)}"`;
    case 'minProperties':
      return `Needs at least ${String(p.limit)} entries`;
    case 'maxProperties':
      return `Too many entries: at most ${String(p.limit)}`;
    case 'anyOf':
    case 'oneOf':
      return 'Does not match any of the allowed forms';
    case 'not':
    case 'false schema':
      return 'This value is not allowed';
    default:
      return undefined;
  }
}

/** Ajv's errors with editor-friendly messages. */
export function friendlyErrors(errors: RJSFValidationError[]): RJSFValidationError[] {
  return errors.map((e) => {
    const message = messageFor(e);
    return message ? { ...e, message, stack: `${e.property ?? ''} ${message}`.trim() } : e;
  });
}
