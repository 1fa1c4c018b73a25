// Small widgets: a checkbox with its label beside it, and a date-time picker in the editor's time zone.
import { ariaDescribedByIds, type WidgetProps } from '@rjsf/utils';
import { itemLabel } from './templates';

export function CheckboxWidget(props: WidgetProps) {
  const { id, value, disabled, readonly, label, onChange, onBlur, onFocus, options } = props;
  return (
    <label className="checkbox" htmlFor={id}>
      <input
        type="checkbox"
        id={id}
        checked={value === true}
        disabled={disabled || readonly}
        onChange={(e) => onChange(e.target.checked)}
        onBlur={(e) => onBlur(id, e.target.checked)}
        onFocus={(e) => onFocus(id, e.target.checked)}
        aria-describedby={ariaDescribedByIds(id)}
      />
      <span>{itemLabel(label, id, options.arrayItem)}</span>
    </label>
  );
}

const pad = (n: number) => String(n).padStart(2, '0');

/** ISO 8601 → the value of a datetime-local input, in local time ("2024-03-01T09:30"). */
export function toLocalInput(iso: unknown): string {
  if (typeof iso !== 'string' || !iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local value (local time) → ISO 8601 in UTC, or undefined when empty or invalid. */
export function fromLocalInput(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export const timeZone = (() => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch {
    return 'local time';
  }
})();

export function DateTimeWidget(props: WidgetProps) {
  const { id, value, disabled, readonly, onChange, onBlur, onFocus, autofocus } = props;
  return (
    <span className="datetime">
      <input
        type="datetime-local"
        id={id}
        value={toLocalInput(value)}
        disabled={disabled}
        readOnly={readonly}
        autoFocus={autofocus}
        onChange={(e) => onChange(fromLocalInput(e.target.value))}
        onBlur={(e) => onBlur(id, fromLocalInput(e.target.value))}
        onFocus={(e) => onFocus(id, fromLocalInput(e.target.value))}
        aria-describedby={ariaDescribedByIds(id)}
      />
      <small className="help"> {timeZone}</small>
    </span>
  );
}
