/**
 * The global banners: failed requests that have no better place (one per source of error, each
 * dismissable), then notices such as generations removed by gc.
 */
import { statusStore, useStatus } from '../stores/status-store';

function NoticeBanner() {
  const notices = useStatus((s) => s.notices);
  if (notices.length === 0) return null;
  return (
    <div className="notice-banner" role="status" data-testid="notice-banner">
      <ul>
        {notices.map((n) => (
          <li key={n.id} data-testid="notice">
            <span>{n.text}</span>
            <button type="button" className="dismiss" onClick={() => statusStore.getState().dismissNotice(n.id)} aria-label="Dismiss this notice">
              ×
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function ErrorBanner() {
  return (
    <>
      <ErrorList />
      <NoticeBanner />
    </>
  );
}

function ErrorList() {
  const errors = useStatus((s) => s.errors);
  if (errors.length === 0) return null;
  return (
    <div className="error-banner" role="alert" data-testid="error-banner">
      <ul>
        {errors.map((e) => (
          <li key={e.id} data-testid="error-item">
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
