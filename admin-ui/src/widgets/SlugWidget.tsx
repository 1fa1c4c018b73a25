// A slug: the edit view fills it from its source field (lower-case ASCII words and hyphens) until the
// editor types one by hand; typing here stops that.
import { ariaDescribedByIds, type WidgetProps } from '@rjsf/utils';
import type { EditContext } from './context';

export function SlugWidget(props: WidgetProps) {
  const { id, value, disabled, readonly, onChange, onBlur, onFocus, options, registry } = props;
  const ctx = registry.formContext as EditContext | undefined;
  const from = typeof options.slugFrom === 'string' ? options.slugFrom : undefined;
  const auto = !!(from && ctx?.slugAuto && !readonly && !disabled);
  return (
    <div className="slug">
      <input
        id={id}
        type="text"
        value={typeof value === 'string' ? value : ''}
        disabled={disabled}
        readOnly={readonly}
        spellCheck={false}
        autoComplete="off"
        onChange={(e) => {
          ctx?.markSlugEdited();
          onChange(e.target.value === '' ? undefined : e.target.value);
        }}
        onBlur={(e) => onBlur(id, e.target.value)}
        onFocus={(e) => onFocus(id, e.target.value)}
        aria-describedby={ariaDescribedByIds(id)}
      />
      {auto && <p className="help">Filled in from {from} until you edit it.</p>}
    </div>
  );
}
