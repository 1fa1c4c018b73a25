// Form templates: every field gets a visible <label>, its help text, a "private" hint, and its errors under it.
import {
  descriptionId,
  errorId,
  getUiOptions,
  helpId,
  type ArrayFieldItemTemplateProps,
  type ArrayFieldTemplateProps,
  type FieldTemplateProps,
  type ObjectFieldTemplateProps,
} from '@rjsf/utils';
import type { EditContext } from './context';

/** "Tags" + "root_tags_2" → "Tags 3" for an array item; other labels unchanged. */
export function itemLabel(label: string, id: string, arrayItem: unknown): string {
  if (!arrayItem) return label;
  const m = /_(\d+)$/.exec(id);
  return m ? `${label} ${Number(m[1]) + 1}` : label;
}

function Hints(props: { privateField: boolean; localized: boolean; required?: boolean; ctx?: EditContext }) {
  return (
    <>
      {props.required && <span className="req" aria-hidden="true"> *</span>}
      {props.privateField && <span className="hint-private" title="Only signed-in users see this field">private</span>}
      {props.localized && props.ctx && props.ctx.locales.length > 1 && (
        <span className="hint-locale" title={`One value per locale: you are editing the ${props.ctx.locale} value`}>
          {props.ctx.locale}
        </span>
      )}
    </>
  );
}

export function FieldTemplate(props: FieldTemplateProps) {
  const { id, label, children, rawErrors, rawHelp, rawDescription, hidden, required, schema, uiSchema, registry } = props;
  if (hidden) return <div hidden>{children}</div>;
  const options = getUiOptions(uiSchema);
  const ctx = registry.formContext as EditContext | undefined;
  const type = schema.type;
  const isContainer = type === 'object' || type === 'array';
  const isCheckbox = type === 'boolean' || options.widget === 'checkbox';
  const text = itemLabel(label, id, options.arrayItem);
  const errors = (rawErrors ?? []).filter((e, i, all) => e && all.indexOf(e) === i);
  const filled = options.localized && ctx ? (ctx.filled[String(props.fieldPathId.path[0] ?? '')] ?? []) : [];
  return (
    <div className={`field field-${String(type ?? 'any')}${errors.length ? ' field-invalid' : ''}`}>
      {!isContainer && !isCheckbox && text && (
        <div className="field-label">
          <label htmlFor={id} id={`${id}__label`}>{text}</label>
          <Hints privateField={!!options.private} localized={!!options.localized} required={required && !options.arrayItem} ctx={ctx} />
        </div>
      )}
      {isCheckbox && (options.private || options.localized) ? <Hints privateField={!!options.private} localized={!!options.localized} ctx={ctx} /> : null}
      {children}
      {!isContainer && rawDescription && (
        <p className="help" id={descriptionId(id)}>
          {rawDescription}
        </p>
      )}
      {rawHelp && (
        <p className="help" id={helpId(id)}>
          {rawHelp}
        </p>
      )}
      {options.localized && ctx && ctx.locales.length > 1 && (
        <p className="help locale-fill">
          {filled.length ? `Filled in: ${filled.join(', ')}` : 'Not filled in any locale yet'}
        </p>
      )}
      {errors.length > 0 && (
        <div className="field-error" role="alert" id={errorId(id)}>
          {errors.map((e) => (
            <div key={e}>{e}</div>
          ))}
        </div>
      )}
    </div>
  );
}

export function ObjectFieldTemplate(props: ObjectFieldTemplateProps) {
  const { title, properties, fieldPathId, uiSchema, description, registry } = props;
  const options = getUiOptions(uiSchema);
  const ctx = registry.formContext as EditContext | undefined;
  const content = properties.filter((p) => !p.hidden).map((p) => <div key={p.name}>{p.content}</div>);
  if (fieldPathId.path.length === 0) return <div className="form-fields">{content}</div>;
  return (
    <fieldset className="form-object" id={fieldPathId.$id}>
      <legend>{itemLabel(String(options.title ?? title ?? ''), fieldPathId.$id, options.arrayItem)}</legend>
      <Hints privateField={!!options.private} localized={!!options.localized} ctx={ctx} />
      {description && typeof description === 'string' && <p className="help">{description}</p>}
      {content}
    </fieldset>
  );
}

export function ArrayFieldTemplate(props: ArrayFieldTemplateProps) {
  const { canAdd, disabled, readonly, fieldPathId, uiSchema, items, onAddClick, title, schema, registry } = props;
  const options = getUiOptions(uiSchema);
  const ctx = registry.formContext as EditContext | undefined;
  const label = String(options.title ?? title ?? '');
  return (
    <fieldset className="form-array" id={fieldPathId.$id}>
      <legend>{label}</legend>
      <Hints privateField={!!options.private} localized={!!options.localized} ctx={ctx} />
      {schema.description && <p className="help">{schema.description}</p>}
      {items.length === 0 && <p className="help">No items yet.</p>}
      <ol className="array-items">{items}</ol>
      {canAdd && !readonly && (
        <button type="button" className="array-add" onClick={onAddClick} disabled={disabled}>
          Add item
        </button>
      )}
    </fieldset>
  );
}

export function ArrayFieldItemTemplate(props: ArrayFieldItemTemplateProps) {
  const { children, buttonsProps, index, readonly, disabled } = props;
  const b = buttonsProps;
  const off = disabled || readonly;
  return (
    <li className="array-item">
      <div className="array-item-body">{children}</div>
      {!readonly && (
        <div className="array-item-buttons" role="group" aria-label={`Item ${index + 1}`}>
          {(b.hasMoveUp || b.hasMoveDown) && (
            <>
              <button type="button" onClick={b.onMoveUpItem} disabled={off || !b.hasMoveUp} title={`Move item ${index + 1} up`}>
                Move up
              </button>
              <button type="button" onClick={b.onMoveDownItem} disabled={off || !b.hasMoveDown} title={`Move item ${index + 1} down`}>
                Move down
              </button>
            </>
          )}
          {b.hasRemove && (
            <button type="button" className="danger" onClick={b.onRemoveItem} disabled={off} title={`Remove item ${index + 1}`}>
              Remove item
            </button>
          )}
        </div>
      )}
    </li>
  );
}
