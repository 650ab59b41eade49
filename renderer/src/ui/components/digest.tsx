/** A short digest with the full one in its title and a copy button. */
import { useState } from 'react';
import { short } from '../format';

export function Digest({ value, copy = true }: { value: string | null; copy?: boolean }) {
  const [copied, setCopied] = useState(false);
  if (!value) return <span className="muted">-</span>;
  return (
    <span className="digest" title={value}>
      <code>{short(value)}</code>
      {copy && (
        <button
          type="button"
          className={`copy ${copied ? 'copied' : ''}`}
          title="Copy the full digest"
          onClick={(e) => {
            e.stopPropagation();
            void navigator.clipboard?.writeText(value).then(
              () => {
                setCopied(true);
                setTimeout(() => setCopied(false), 1200);
              },
              () => undefined,
            );
          }}
        >
          {copied ? 'copied' : 'copy'}
        </button>
      )}
    </span>
  );
}
