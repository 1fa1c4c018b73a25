// What the edit view shares with its widgets (through the form's formContext).
import type { TypeInfo } from '../types';

export interface EditContext {
  /** The locale whose values the form shows for localized fields. */
  locale: string;
  defaultLocale: string;
  locales: string[];
  /** Per localized top-level field, the locales in which it has a value (plain data: the form
   *  library compares its context deeply but ignores functions, so live data must not hide in closures). */
  filled: Record<string, string[]>;
  /** Whether the slug still follows its source (the editor has not typed one by hand). */
  slugAuto: boolean;
  markSlugEdited(): void;
  typeById(id: string): TypeInfo | undefined;
}
