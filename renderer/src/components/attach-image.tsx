/** "Attach image…": an image of the same build whose history names the records, and the images attached so far. */
import { useState } from 'react';
import type { CacheView } from '../../../shared/cache/view-types';
import { cachesStore } from '../stores/caches-store';
import { plural } from '../format';

export function AttachImage({ cacheId, view }: { cacheId: string; view: CacheView }) {
  const [open, setOpen] = useState(false);
  const [ref, setRef] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const images = view.names?.images ?? [];
  const submit = async () => {
    const image = ref.trim();
    if (!image) return;
    setBusy(true);
    setError(null);
    const problem = await cachesStore.getState().attachImage(cacheId, image);
    setBusy(false);
    if (problem) setError(problem);
    else {
      setRef('');
      setOpen(false);
    }
  };
  return (
    <div className="attach-image" data-testid="attach-image">
      {images.length > 0 && (
        <span className="muted small attach-image-list" data-testid="attached-images">
          Names from{' '}
          {images.map((img, i) => (
            <span key={img.ref} title={[`${img.matchedLayers} of its ${img.layers} layers are in this cache`, ...img.notes].join('\n')}>
              {i > 0 ? ', ' : ''}
              <code>{img.inline ? 'the inline cache’s image config' : img.ref}</code> ({plural(img.namedRecords, 'record')})
            </span>
          ))}
        </span>
      )}
      {!open ? (
        <button type="button" onClick={() => setOpen(true)} data-testid="attach-image-open" title="Name records from the history of an image built with this cache">
          Attach image…
        </button>
      ) : (
        <form
          className="attach-image-form"
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <input
            className="filter"
            value={ref}
            autoFocus
            spellCheck={false}
            placeholder="DIR[:tag|@sha256:…], config.json or host/repo:tag"
            aria-label="Image of the same build: a layout folder, an image config file or a registry reference"
            data-testid="attach-image-ref"
            onChange={(e) => {
              setRef(e.target.value);
              setError(null);
            }}
          />
          <button type="submit" className="primary" disabled={busy || !ref.trim()} data-testid="attach-image-go">
            {busy ? 'Reading…' : 'Attach'}
          </button>
          <button type="button" onClick={() => (setOpen(false), setError(null))}>
            Cancel
          </button>
          {error && (
            <p className="error-text small attach-image-error" role="alert" data-testid="attach-image-error">
              {error}
            </p>
          )}
        </form>
      )}
    </div>
  );
}

/** A record's or layer's name and where it comes from, for headings and the detail pane. */
export function HistoryNameLine({ name, role }: { name: { text: string; from: string } | null | undefined; role?: string }) {
  if (!name) return null;
  return (
    <p className="history-name" data-testid="history-name">
      <code className="history-name-text">{name.text}</code> <span className="muted small history-name-from">{name.from}</span>
      {role && <span className="badge history-name-role">{role}</span>}
    </p>
  );
}
