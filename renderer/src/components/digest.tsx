/** A digest shown short (monospace), the full one in its title, and a copy button with a visible "copied" state. */
import { useEffect, useRef, useState } from 'react';
import { short } from '../format';

export function CopyButton({ text, label = 'copy', title = 'Copy to the clipboard' }: { text: string; label?: string; title?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);
  const copy = async () => {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => setState('idle'), 1500);
  };
  return (
    <button
      type="button"
      className={`copy ${state}`}
      title={title}
      aria-live="polite"
      onClick={(e) => {
        e.stopPropagation();
        void copy();
      }}
    >
      {state === 'copied' ? 'copied' : state === 'failed' ? 'failed' : label}
    </button>
  );
}

export function Digest({ value, copy = true, hex = 12, className = '' }: { value: string | null | undefined; copy?: boolean; hex?: number; className?: string }) {
  if (!value) return <span className="muted">–</span>;
  return (
    <span className={`digest ${className}`}>
      <code title={value}>{short(value, hex)}</code>
      {copy && <CopyButton text={value} title={`Copy ${value}`} />}
    </span>
  );
}
