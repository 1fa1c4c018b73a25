// What GET /api/admin/types describes: the server builds it, the admin UI reads it (both import this
// file, so it has no imports of its own). `Schema` is the JSON Schema type each side works with.

/** One top-level field, as the UI's forms, columns and filters need it. */
export interface FieldInfo {
  name: string;
  /** The JSON-Schema type of the (per-locale) value: string, number, integer, boolean, array, object. */
  type: string;
  /** x-cms.label, else the schema title, else the name in words (see labelOf). */
  label: string;
  required: boolean;
  format?: string;
  enum?: unknown[];
  widget?: string;
  ref?: string;
  media?: { accept?: string[] } | true;
  localized: boolean;
  unique: boolean;
  private: boolean;
  slugFrom?: string;
  help?: string;
}

/** What the entry form validates against (used verbatim: the validators were compiled from exactly these). */
export interface FormInfo<Schema> {
  /** In the default locale. */
  schema: Schema;
  /** In other locales: localized fields are not required there. */
  otherLocaleSchema: Schema;
  /** The ES module of the precompiled validators, or null when the server could not compile them. */
  validatorUrl: string | null;
}

export interface TypeInfo<Schema, FormSchema = Schema> {
  id: string;
  title: string;
  description?: string;
  singleton: boolean;
  displayField?: string;
  drafts: boolean;
  public: boolean;
  previewUrl: boolean;
  /** The authored JSON Schema of the entry's own fields, x-cms annotations included. */
  schema: Schema;
  fields: FieldInfo[];
  form: FormInfo<FormSchema>;
}

export interface TypesResponse<Schema, FormSchema = Schema> {
  data: TypeInfo<Schema, FormSchema>[];
  meta: { locales: string[]; defaultLocale: string };
}

/** A field name in words, the default label: "publishDate" → "Publish date", "SEOTitle" → "Seo title", "seo_title" → "Seo title". */
export function labelOf(name: string): string {
  const words = name
    .replace(/[_-]+/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
