// A modal dialog (native <dialog>: focus stays inside, Escape closes), rendered outside the entry form.
import { useEffect, useId, useRef, type ReactNode } from 'react';
import { createPortal } from 'react-dom';

export function EditDialog(props: { title: string; onClose(): void; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) {
      try {
        d.showModal();
      } catch {
        d.setAttribute('open', '');
      }
    }
    return () => d?.close();
  }, []);
  return createPortal(
    <dialog
      ref={ref}
      className={props.wide ? 'edit-dialog edit-dialog-wide' : 'edit-dialog'}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
    >
      <div className="edit-dialog-head">
        <h2 id={titleId}>{props.title}</h2>
        <button type="button" className="link" aria-label="Close" onClick={props.onClose}>
          ×
        </button>
      </div>
      {props.children}
    </dialog>,
    document.body,
  );
}

/** Asks before something that cannot be undone; `confirm` is the text of the button that goes ahead. */
export function ConfirmDialog(props: { title: string; message: ReactNode; confirm: string; cancel?: string; danger?: boolean; onConfirm(): void; onCancel(): void }) {
  return (
    <EditDialog title={props.title} onClose={props.onCancel}>
      <div className="dialog-body">{props.message}</div>
      <div className="dialog-buttons">
        <button type="button" className={props.danger ? 'danger' : 'primary'} onClick={props.onConfirm}>
          {props.confirm}
        </button>
        <button type="button" onClick={props.onCancel} autoFocus>
          {props.cancel ?? 'Cancel'}
        </button>
      </div>
    </EditDialog>
  );
}
