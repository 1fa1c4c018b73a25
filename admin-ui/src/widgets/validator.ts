// The form's validator: a small JSON Schema interpreter for the keywords content types use.
// Ajv compiles schemas to code with `new Function`, which the admin's CSP (no 'unsafe-eval') forbids;
// this one only walks the schema. The server validates every write again with Ajv.
import {
  createErrorHandler,
  toErrorSchema,
  unwrapErrorHandler,
  validationDataMerge,
  type CustomValidator,
  type ErrorTransformer,
  type RJSFSchema,
  type RJSFValidationError,
  type UiSchema,
  type ValidationData,
  type ValidatorType,
} from '@rjsf/utils';

type Json = Record<string, unknown>;

export interface SchemaError {
  /** JSON pointer of the value ("/seo/title"). */
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message: string;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function matchesType(v: unknown, type: string): boolean {
  const t = typeOf(v);
  if (type === 'number') return t === 'number' || t === 'integer';
  return t === type;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && equal(a[k], b[k]));
  }
  return false;
}

/** String length in code points, as JSON Schema counts it. */
const length = (s: string) => [...s].length;

const DATE = /^(\d\d\d\d)-(\d\d)-(\d\d)$/;
const TIME = /^(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|[+-]\d\d(?::?\d\d)?)?$/i;
const EMAIL = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i;
const UUID = /^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i;
const HOSTNAME = /^(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-0-9a-z]{0,61}[0-9a-z])?)*\.?$/i;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function validDate(s: string): boolean {
  const m = DATE.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const days = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return mo >= 1 && mo <= 12 && d >= 1 && d <= (days[mo - 1] ?? 0);
}

function validTime(s: string, needZone: boolean): boolean {
  const m = TIME.exec(s);
  if (!m) return false;
  if (needZone && !m[4]) return false;
  return Number(m[1]) <= 23 && Number(m[2]) <= 59 && Number(m[3]) < 61;
}

/** The formats of ajv-formats that content types use; unknown formats pass (the server checks them). */
const FORMATS: Record<string, (s: string) => boolean> = {
  'date-time': (s) => {
    const [date, time, ...rest] = s.split(/t|\s/i);
    return rest.length === 0 && !!date && !!time && validDate(date) && validTime(time, true);
  },
  date: validDate,
  time: (s) => validTime(s, true),
  email: (s) => EMAIL.test(s),
  uri: (s) => /^[a-z][a-z0-9+.-]*:[^\s]*$/i.test(s) && (() => {
    try {
      new URL(s);
      return true;
    } catch {
      return false;
    }
  })(),
  'uri-reference': (s) => !/\s/.test(s),
  url: (s) => /^https?:\/\/[^\s]+$/i.test(s),
  uuid: (s) => UUID.test(s),
  hostname: (s) => HOSTNAME.test(s),
  ipv4: (s) => IPV4.test(s),
  regex: (s) => {
    try {
      new RegExp(s, 'u');
      return true;
    } catch {
      return false;
    }
  },
};

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

const regexCache = new Map<string, RegExp | null>();
function regex(pattern: string): RegExp | null {
  if (!regexCache.has(pattern)) {
    let r: RegExp | null = null;
    try {
      r = new RegExp(pattern, 'u');
    } catch {
      r = null;
    }
    regexCache.set(pattern, r);
  }
  return regexCache.get(pattern) ?? null;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** Walks one schema over one value, collecting errors. */
class Walker {
  readonly errors: SchemaError[] = [];
  constructor(private readonly root: Json) {}

  resolve(ref: string): Json | undefined {
    if (!ref.startsWith('#')) return undefined;
    let node: unknown = this.root;
    for (const raw of ref.slice(1).split('/').filter(Boolean)) {
      const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      node = isObject(node) ? node[part] : Array.isArray(node) ? node[Number(part)] : undefined;
    }
    return isObject(node) ? node : typeof node === 'boolean' ? (node ? {} : { not: {} }) : undefined;
  }

  private add(instancePath: string, schemaPath: string, keyword: string, message: string, params: Record<string, unknown> = {}) {
    this.errors.push({ instancePath, schemaPath, keyword, params, message });
  }

  /** Whether the value is valid, without keeping the errors. */
  test(schema: unknown, value: unknown, path = ''): boolean {
    const sub = new Walker(this.root);
    sub.walk(schema, value, path, '#');
    return sub.errors.length === 0;
  }

  walk(schema: unknown, value: unknown, path: string, at: string, depth = 0): void {
    // undefined is no JSON value: a list item not filled in yet, left out when saving
    if (schema === true || schema === undefined || value === undefined) return;
    if (schema === false) {
      this.add(path, at, 'false schema', 'This value is not allowed');
      return;
    }
    if (!isObject(schema) || depth > 64) return;
    if (typeof schema.$ref === 'string') {
      const target = this.resolve(schema.$ref);
      if (target) this.walk(target, value, path, `${at}/$ref`, depth + 1);
    }
    const s = schema;
    // type
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => matchesType(value, t))) {
        this.add(path, `${at}/type`, 'type', `Must be ${types.map((t) => TYPE_NAMES[t] ?? t).join(' or ')}`, { type: types.join(',') });
        return;
      }
    }
    if (Array.isArray(s.enum) && !s.enum.some((e) => equal(e, value))) {
      this.add(path, `${at}/enum`, 'enum', `Must be one of: ${s.enum.map((e) => String(e)).join(', ')}`, { allowedValues: s.enum });
    }
    if ('const' in s && !equal(s.const, value)) this.add(path, `${at}/const`, 'const', `Must be ${JSON.stringify(s.const)}`, { allowedValue: s.const });

    if (typeof value === 'string') this.string(s, value, path, at);
    if (typeof value === 'number') this.number(s, value, path, at);
    if (Array.isArray(value)) this.array(s, value, path, at, depth);
    if (isObject(value)) this.object(s, value, path, at, depth);

    // combinators
    if (Array.isArray(s.allOf)) s.allOf.forEach((sub, i) => this.walk(sub, value, path, `${at}/allOf/${i}`, depth + 1));
    if (Array.isArray(s.anyOf) && !s.anyOf.some((sub) => this.test(sub, value, path))) {
      this.add(path, `${at}/anyOf`, 'anyOf', 'Does not match any of the allowed forms');
    }
    if (Array.isArray(s.oneOf)) {
      const n = s.oneOf.filter((sub) => this.test(sub, value, path)).length;
      if (n !== 1) this.add(path, `${at}/oneOf`, 'oneOf', n === 0 ? 'Does not match any of the allowed forms' : 'Matches more than one of the allowed forms', { passingSchemas: n });
    }
    if (s.not !== undefined && this.test(s.not, value, path)) this.add(path, `${at}/not`, 'not', 'This value is not allowed');
    if (s.if !== undefined) {
      const branch = this.test(s.if, value, path) ? 'then' : 'else';
      if (s[branch] !== undefined) this.walk(s[branch], value, path, `${at}/${branch}`, depth + 1);
    }
  }

  private string(s: Json, v: string, path: string, at: string) {
    const n = length(v);
    if (typeof s.minLength === 'number' && n < s.minLength) {
      this.add(path, `${at}/minLength`, 'minLength', s.minLength === 1 ? 'This field cannot be empty' : `Too short: at least ${plural(s.minLength, 'character', 'characters')}`, { limit: s.minLength });
    }
    if (typeof s.maxLength === 'number' && n > s.maxLength) {
      this.add(path, `${at}/maxLength`, 'maxLength', `Too long: at most ${plural(s.maxLength, 'character', 'characters')} (now ${n})`, { limit: s.maxLength });
    }
    if (typeof s.pattern === 'string') {
      const r = regex(s.pattern);
      if (r && !r.test(v)) {
        const slug = s.pattern === '^[a-z0-9]+(?:-[a-z0-9]+)*$';
        this.add(path, `${at}/pattern`, 'pattern', slug ? 'Use lower-case letters, digits and single hyphens only (like “my-first-post”)' : `Does not have the expected form (${s.pattern})`, { pattern: s.pattern });
      }
    }
    if (typeof s.format === 'string') {
      const check = FORMATS[s.format];
      if (check && !check(v)) this.add(path, `${at}/format`, 'format', `Must be ${FORMAT_NAMES[s.format] ?? `in the format ${s.format}`}`, { format: s.format });
    }
  }

  private number(s: Json, v: number, path: string, at: string) {
    if (typeof s.minimum === 'number' && v < s.minimum) this.add(path, `${at}/minimum`, 'minimum', `Must be at least ${s.minimum}`, { limit: s.minimum, comparison: '>=' });
    if (typeof s.maximum === 'number' && v > s.maximum) this.add(path, `${at}/maximum`, 'maximum', `Must be at most ${s.maximum}`, { limit: s.maximum, comparison: '<=' });
    if (typeof s.exclusiveMinimum === 'number' && v <= s.exclusiveMinimum) this.add(path, `${at}/exclusiveMinimum`, 'exclusiveMinimum', `Must be more than ${s.exclusiveMinimum}`, { limit: s.exclusiveMinimum, comparison: '>' });
    if (typeof s.exclusiveMaximum === 'number' && v >= s.exclusiveMaximum) this.add(path, `${at}/exclusiveMaximum`, 'exclusiveMaximum', `Must be less than ${s.exclusiveMaximum}`, { limit: s.exclusiveMaximum, comparison: '<' });
    if (typeof s.multipleOf === 'number' && s.multipleOf > 0) {
      const q = v / s.multipleOf;
      if (Math.abs(q - Math.round(q)) > 1e-8) this.add(path, `${at}/multipleOf`, 'multipleOf', `Must be a multiple of ${s.multipleOf}`, { multipleOf: s.multipleOf });
    }
  }

  private array(s: Json, v: unknown[], path: string, at: string, depth: number) {
    if (typeof s.minItems === 'number' && v.length < s.minItems) this.add(path, `${at}/minItems`, 'minItems', `Needs at least ${plural(s.minItems, 'item', 'items')}`, { limit: s.minItems });
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) this.add(path, `${at}/maxItems`, 'maxItems', `Too many items: at most ${s.maxItems}`, { limit: s.maxItems });
    if (s.uniqueItems === true) {
      outer: for (let i = 0; i < v.length; i++) {
        for (let j = i + 1; j < v.length; j++) {
          if (equal(v[i], v[j])) {
            this.add(path, `${at}/uniqueItems`, 'uniqueItems', `Must not repeat an item (items ${i + 1} and ${j + 1} are the same)`, { i, j });
            break outer;
          }
        }
      }
    }
    const prefix = Array.isArray(s.prefixItems) ? s.prefixItems : [];
    v.forEach((item, i) => {
      // an item added but not filled in yet: left out when saving
      if (item === null || item === undefined) return;
      if (i < prefix.length) this.walk(prefix[i], item, `${path}/${i}`, `${at}/prefixItems/${i}`, depth + 1);
      else if (Array.isArray(s.items)) this.walk(s.items[i] ?? s.additionalItems, item, `${path}/${i}`, `${at}/items/${i}`, depth + 1);
      else if (s.items !== undefined) this.walk(s.items, item, `${path}/${i}`, `${at}/items`, depth + 1);
    });
    if (s.contains !== undefined && !v.some((item, i) => this.test(s.contains, item, `${path}/${i}`))) this.add(path, `${at}/contains`, 'contains', 'Must contain a matching item');
  }

  private object(s: Json, v: Json, path: string, at: string, depth: number) {
    const props = isObject(s.properties) ? s.properties : {};
    if (Array.isArray(s.required)) {
      for (const name of s.required as string[]) {
        if (v[name] === undefined) this.add(path, `${at}/required`, 'required', 'This field is required', { missingProperty: name });
      }
    }
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (typeof s.minProperties === 'number' && keys.length < s.minProperties) this.add(path, `${at}/minProperties`, 'minProperties', `Needs at least ${s.minProperties} entries`, { limit: s.minProperties });
    if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties) this.add(path, `${at}/maxProperties`, 'maxProperties', `Too many entries: at most ${s.maxProperties}`, { limit: s.maxProperties });
    const patterns = isObject(s.patternProperties) ? Object.entries(s.patternProperties) : [];
    for (const key of keys) {
      const child = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      let known = false;
      if (key in props) {
        known = true;
        this.walk(props[key], v[key], child, `${at}/properties/${key}`, depth + 1);
      }
      for (const [p, sub] of patterns) {
        if (regex(p)?.test(key)) {
          known = true;
          this.walk(sub, v[key], child, `${at}/patternProperties/${p}`, depth + 1);
        }
      }
      if (!known && s.additionalProperties !== undefined) {
        // the form library marks extra keys it added itself: let those through
        if (s.additionalProperties === false) {
          if (!key.startsWith('__rjsf')) this.add(path, `${at}/additionalProperties`, 'additionalProperties', `Has an unknown field "${key}"`, { additionalProperty: key });
        } else this.walk(s.additionalProperties, v[key], child, `${at}/additionalProperties`, depth + 1);
      }
    }
    if (isObject(s.dependentRequired)) {
      for (const [key, needs] of Object.entries(s.dependentRequired)) {
        if (v[key] === undefined || !Array.isArray(needs)) continue;
        for (const name of needs as string[]) if (v[name] === undefined) this.add(path, `${at}/dependentRequired`, 'required', 'This field is required', { missingProperty: name });
      }
    }
  }
}

/** Validates a value against a schema (refs resolved against `root`). */
export function validateValue(schema: unknown, value: unknown, root: unknown = schema): SchemaError[] {
  const w = new Walker(isObject(root) ? root : {});
  w.walk(schema, value, '', '#');
  return w.errors;
}

function toRjsfErrors(errors: SchemaError[]): RJSFValidationError[] {
  return errors.map((e) => {
    let property = e.instancePath.replace(/\//g, '.');
    if (typeof e.params.missingProperty === 'string') property = `${property}.${e.params.missingProperty}`;
    return { name: e.keyword, property, message: e.message, params: e.params, stack: `${property} ${e.message}`.trim(), schemaPath: e.schemaPath };
  });
}

export class SchemaValidator implements ValidatorType {
  validateFormData(formData: unknown, schema: RJSFSchema, customValidate?: CustomValidator, transformErrors?: ErrorTransformer, uiSchema?: UiSchema): ValidationData<unknown> {
    let errors = toRjsfErrors(validateValue(schema, formData, schema));
    if (typeof transformErrors === 'function') errors = transformErrors(errors, uiSchema);
    const errorSchema = toErrorSchema(errors);
    if (typeof customValidate !== 'function') return { errors, errorSchema };
    const handler = customValidate(formData, createErrorHandler(formData), uiSchema, errorSchema);
    return validationDataMerge({ errors, errorSchema }, unwrapErrorHandler(handler));
  }

  isValid(schema: RJSFSchema, formData: unknown, rootSchema: RJSFSchema): boolean {
    return validateValue(schema, formData, rootSchema).length === 0;
  }

  rawValidation<Result = unknown>(schema: RJSFSchema, formData?: unknown): { errors?: Result[]; validationError?: Error } {
    const errors = validateValue(schema, formData, schema);
    return errors.length ? { errors: errors as Result[] } : {};
  }
}
