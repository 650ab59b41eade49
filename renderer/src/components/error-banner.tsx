/** The global error banner: every failed request that has no better place, readable, with its code. */
import { statusStore, useStatus } from '../stores/status-store';

export function ErrorBanner() {
  const errors = useStatus((s) => s.errors);
  if (errors.length === 0) return null;
  return (
    <div className="error-banner" role="alert" data-testid="error-banner">
      <ul>
        {errors.map((e) => (
          <li key={e.id}>
            <strong>{e.context}:</strong> <span className="error-message">{e.message}</span>
            {e.code && <span className="badge err-code">{e.code}</span>}
            <button type="button" className="dismiss" onClick={() => statusStore.getState().dismiss(e.id)} aria-label="Dismiss this error">
              ×
            </button>
          </li>
        ))}
      </ul>
      {errors.length > 1 && (
        <button type="button" className="dismiss-all" onClick={() => statusStore.getState().dismissAll()}>
          Dismiss all
        </button>
      )}
    </div>
  );
}

export function BusyIndicator() {
  const busy = useStatus((s) => s.busy);
  if (busy.length === 0) return null;
  return (
    <div className="busy" role="status" aria-live="polite" data-testid="loading">
      <span className="spinner" aria-hidden="true" />
      {busy[busy.length - 1].label}
      {busy.length > 1 ? <span className="muted"> (+{busy.length - 1} more)</span> : null}
    </div>
  );
}
