// The two Ajv instances: one checks files against our meta-schema, one compiles the types themselves.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default export arrives as .default
const addFormats = addFormatsModule.default;

export function createMetaAjv(): Ajv2020 {
  return new Ajv2020({ allErrors: true, strict: true });
}

/** Strict mode stays on; `x-cms` is declared as an annotation keyword (our meta-schema checks its shape). */
export function createContentAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, useDefaults: true });
  addFormats(ajv);
  ajv.addKeyword({ keyword: 'x-cms', schemaType: 'object' });
  return ajv;
}
