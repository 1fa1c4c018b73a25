// Modal dialogs: native <dialog> opened with showModal (focus stays inside, Escape closes), rendered
// outside any form, and focus goes back to the control that opened it once it closes.
import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { createPortal } from 'react-dom';

export function Dialog(props: {
  title: string;
  onClose(): void;
  children: ReactNode;
  wide?: boolean;
  /** A "×" button in the heading (dialogs that are not a question). */
  closeButton?: boolean;
  /** The id of the text that describes the dialog. */
  describedBy?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const opener = document.activeElement;
    const d = ref.current;
    if (d && !d.open) {
      try {
        d.showModal();
      } catch {
        d.setAttribute('open', '');
      }
    }
    return () => {
      d?.close();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
    };
  }, []);
  return createPortal(
    <dialog
      ref={ref}
      className={props.wide ? 'edit-dialog edit-dialog-wide' : 'edit-dialog'}
      aria-labelledby={titleId}
      aria-describedby={props.describedBy}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
    >
      <div className="edit-dialog-head">
        <h2 id={titleId}>{props.title}</h2>
        {props.closeButton !== false && (
          <button type="button" className="link" aria-label="Close" onClick={props.onClose}>
            ×
          </button>
        )}
      </div>
      {props.children}
    </dialog>,
    document.body,
  );
}

export interface ConfirmRequest {
  title: string;
  message: ReactNode;
  /** The text of the button that goes ahead, e.g. "Delete". */
  confirmLabel: string;
  /** The text of the button that does not (default "Cancel"). */
  cancelLabel?: string;
  danger?: boolean;
}

/** Asks before something that cannot be undone. Focus starts on the safe button; Escape cancels. */
export function ConfirmDialog(props: ConfirmRequest & { onConfirm(): void; onCancel(): void }) {
  const bodyId = useId();
  return (
    <Dialog title={props.title} onClose={props.onCancel} closeButton={false} describedBy={bodyId}>
      <div id={bodyId} className="dialog-body">
        {props.message}
      </div>
      <div className="dialog-buttons">
        <button type="button" onClick={props.onCancel} autoFocus>
          {props.cancelLabel ?? 'Cancel'}
        </button>
        <button type="button" className={props.danger ? 'danger' : 'primary'} onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}

/** `const [confirm, dialog] = useConfirm()`: render `dialog`; `await confirm({...})` is true or false. */
export function useConfirm(): [(request: ConfirmRequest) => Promise<boolean>, ReactNode] {
  const [request, setRequest] = useState<ConfirmRequest | null>(null);
  const resolver = useRef<((ok: boolean) => void) | null>(null);
  const ask = useCallback((r: ConfirmRequest) => {
    resolver.current?.(false);
    setRequest(r);
    return new Promise<boolean>((resolve) => {
      resolver.current = resolve;
    });
  }, []);
  const answer = useCallback((ok: boolean) => {
    resolver.current?.(ok);
    resolver.current = null;
    setRequest(null);
  }, []);
  const element = request ? <ConfirmDialog {...request} onConfirm={() => answer(true)} onCancel={() => answer(false)} /> : null;
  return [ask, element];
}
