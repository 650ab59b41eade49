/**
 * Our own modal dialog (no window.confirm). Focus starts inside, stays inside (Tab and Shift+Tab
 * cycle through the dialog's controls, and focus that escapes is brought back), Escape and the close
 * button dismiss it, and focus returns to the control that opened it.
 */
import { useEffect, useId, useRef } from 'react';
import type { KeyboardEvent, ReactNode } from 'react';

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** The dialog's controls a Tab can reach, in order (hidden ones left out). */
function tabbable(root: HTMLElement): HTMLElement[] {
  return Array.from(root.querySelectorAll<HTMLElement>(FOCUSABLE)).filter((el) => el.tabIndex >= 0 && el.getClientRects().length > 0);
}

export function Modal({ title, onClose, children, wide = false, testId, closable = true }: { title: string; onClose: () => void; children: ReactNode; wide?: boolean; testId?: string; closable?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  const closableRef = useRef(closable);
  closableRef.current = closable;

  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>('[data-autofocus], input, select, button:not(.modal-x)');
    (first ?? ref.current)?.focus();
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (e.key === 'Escape' && closableRef.current) {
        e.stopPropagation();
        closeRef.current();
      }
    };
    // Focus that leaves the dialog (a click on the backdrop's page, a programmatic focus) comes back.
    const onFocusIn = (e: FocusEvent) => {
      const dialog = ref.current;
      if (dialog && e.target instanceof Node && !dialog.contains(e.target)) (tabbable(dialog)[0] ?? dialog).focus();
    };
    document.addEventListener('keydown', onKey);
    document.addEventListener('focusin', onFocusIn);
    return () => {
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('focusin', onFocusIn);
      if (before?.isConnected) before.focus();
    };
  }, []);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key !== 'Tab' || !ref.current) return;
    const items = tabbable(ref.current);
    if (items.length === 0) {
      e.preventDefault();
      return;
    }
    const at = items.indexOf(document.activeElement as HTMLElement);
    if (e.shiftKey && at <= 0) {
      e.preventDefault();
      items[items.length - 1].focus();
    } else if (!e.shiftKey && (at === items.length - 1 || at < 0)) {
      e.preventDefault();
      items[0].focus();
    }
  };

  return (
    <div className="modal-backdrop">
      <div className={`modal${wide ? ' wide' : ''}`} role="dialog" aria-modal="true" aria-labelledby={titleId} data-testid={testId} ref={ref} tabIndex={-1} onKeyDown={onKeyDown}>
        <div className="modal-title">
          <h3 id={titleId}>{title}</h3>
          {closable && (
            <button type="button" className="modal-x" onClick={onClose} aria-label="Close">
              ×
            </button>
          )}
        </div>
        {children}
      </div>
    </div>
  );
}
