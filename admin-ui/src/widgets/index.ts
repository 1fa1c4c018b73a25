// The widgets and templates the entry form uses, and its validators.
import type { RegistryWidgetsType, TemplatesType } from '@rjsf/utils';
import { CheckboxWidget, DateTimeWidget } from './basic';
import { MarkdownWidget } from './MarkdownWidget';
import { MediaWidget } from './MediaWidget';
import { RefWidget } from './RefWidget';
import { SlugWidget } from './SlugWidget';
import { ArrayFieldItemTemplate, ArrayFieldTemplate, FieldTemplate, ObjectFieldTemplate } from './templates';

export const widgets: RegistryWidgetsType = {
  checkbox: CheckboxWidget,
  datetime: DateTimeWidget,
  markdown: MarkdownWidget,
  slug: SlugWidget,
  ref: RefWidget,
  media: MediaWidget,
};

export const templates: Partial<Omit<TemplatesType, 'ButtonTemplates'>> = {
  FieldTemplate,
  ObjectFieldTemplate,
  ArrayFieldTemplate,
  ArrayFieldItemTemplate,
};

export { friendlyErrors, loadFormValidators, type FormValidators } from './formValidator';

export * from './schema';
export type { EditContext } from './context';
