/** Sizes: human-readable text, the exact byte count (plain digits, easy to read back) in the title. */
import { formatBytes } from '../format';

export function Bytes({ n, className }: { n: number; className?: string }) {
  return (
    <span className={className} title={`${n} bytes`}>
      {formatBytes(n)}
    </span>
  );
}

export function Presence({ present }: { present: boolean }) {
  return <span className={`badge ${present ? 'ok' : 'missing'}`}>{present ? 'present' : 'missing'}</span>;
}

export function Bar({ value, state = '', big = false, label }: { value: number; state?: string; big?: boolean; label?: string }) {
  const pct = Math.max(0, Math.min(100, value * 100));
  return (
    <div className={`bar${big ? ' big' : ''}`} role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)} aria-label={label}>
      <div className={state} style={{ width: `${pct}%` }} />
    </div>
  );
}
