// A confirmation dialog (native <dialog>: focus stays inside, Escape cancels).
import { useEffect, useRef, type ReactNode } from 'react';

export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm(): void;
  onCancel(): void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby="confirm-title"
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      {props.open && (
        <>
          <h2 id="confirm-title">{props.title}</h2>
          <div className="dialog-body">{props.children}</div>
          <div className="dialog-actions">
            <button type="button" onClick={props.onCancel} autoFocus>Cancel</button>
            <button type="button" className={props.danger ? 'danger' : 'primary'} onClick={props.onConfirm}>{props.confirmLabel}</button>
          </div>
        </>
      )}
    </dialog>
  );
}
