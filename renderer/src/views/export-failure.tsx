/**
 * A failed export explained: the engine's message (for a refused push, the registry's own words
 * verbatim), then what it means and the fix (registry/push-advice.ts sends them as `meaning:` and
 * `fix:` lines and in the error's details), with a one-click Retry that starts the same export again
 * (a push resumes: what the last run uploaded is found, or its upload continues).
 */
import type { ContractError } from '../../../shared/contract/errors';
import { explainError } from '../../../shared/export/failure-advice';

export function ExportFailure({ error, retrying, onRetry, push }: { error: ContractError; retrying: boolean; onRetry: () => void; push: boolean }) {
  if (error.code === 'cancelled') {
    return (
      <div className="notice bad export-failure" data-testid="export-error">
        <p>Export cancelled.</p>
        <button type="button" onClick={onRetry} disabled={retrying} data-testid="export-retry">
          {retrying ? 'Starting…' : 'Start again'}
        </button>
      </div>
    );
  }
  const { words, meaning, fix } = explainError(error);
  return (
    <div className="notice bad export-failure" role="alert" data-testid="export-error">
      <p className="failure-words">
        Export failed: <span className="registry-words" data-testid="export-error-words">{words}</span> <span className="badge err-code">{error.code}</span>
      </p>
      {meaning && (
        <p data-testid="export-error-meaning">
          <strong>What this means:</strong> {meaning}
        </p>
      )}
      {fix && (
        <p data-testid="export-error-fix">
          <strong>Fix:</strong> {fix}
        </p>
      )}
      {push && !meaning && error.code === 'forbidden' && <p data-testid="export-error-hint">The registry wants a login, or refuses this one: log in below, then Retry.</p>}
      <div className="failure-actions">
        <button type="button" className="primary" onClick={onRetry} disabled={retrying} data-testid="export-retry" title="Start the same export again">
          {retrying ? 'Retrying…' : 'Retry'}
        </button>
        <span className="small muted">{push ? 'Retry starts the same push again: blobs already pushed are skipped, an interrupted upload resumes.' : 'Retry starts the same export again: completed blobs are reused.'}</span>
      </div>
    </div>
  );
}
