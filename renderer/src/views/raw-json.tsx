/** Raw JSON: the manifest, cache config and index.json documents, as stored or pretty-printed. */
import { useEffect, useState } from 'react';
import type { CacheView } from '../../../shared/cache/view-types';
import { api } from '../bridge';
import { CopyButton } from '../components/digest';
import { exactBytes, prettyJson } from '../format';
import { errorText } from '../stores/status-store';

type What = 'manifest' | 'config' | 'index';

const LABEL: Record<What, string> = { manifest: 'Manifest', config: 'Cache config', index: 'index.json' };

type Doc = { state: 'loading' } | { state: 'ok'; text: string } | { state: 'error'; message: string };

export function RawJson({ cacheId, view }: { cacheId: string; view: CacheView }) {
  const available: What[] = [...(view.manifest ? (['manifest'] as const) : []), 'config', ...(view.layout ? (['index'] as const) : [])];
  const [what, setWhat] = useState<What>(available[0]);
  const [pretty, setPretty] = useState(true);
  const [doc, setDoc] = useState<Doc>({ state: 'loading' });
  useEffect(() => {
    let live = true;
    setDoc({ state: 'loading' });
    api.request('getRawJson', { cacheId, what }).then(
      (r) => live && setDoc({ state: 'ok', text: r.text }),
      (err) => live && setDoc({ state: 'error', message: errorText(err) }),
    );
    return () => {
      live = false;
    };
  }, [cacheId, what]);
  const shown = doc.state === 'ok' ? (pretty ? prettyJson(doc.text) : doc.text) : '';
  return (
    <div className="view-fill">
      <div className="toolbar">
        <div className="segmented" role="tablist" aria-label="Document">
          {available.map((w) => (
            <button type="button" role="tab" aria-selected={w === what} key={w} className={w === what ? 'active' : ''} onClick={() => setWhat(w)} data-testid={`raw-${w}`}>
              {LABEL[w]}
            </button>
          ))}
        </div>
        <label className="check">
          <input type="checkbox" checked={pretty} onChange={(e) => setPretty(e.target.checked)} /> pretty-print
        </label>
        {doc.state === 'ok' && <span className="muted small">{exactBytes(new TextEncoder().encode(doc.text).length)} as stored</span>}
        <span className="spacer" />
        {doc.state === 'ok' && <CopyButton text={doc.text} label="copy as stored" />}
      </div>
      {doc.state === 'loading' && <p className="muted pad">Loading {LABEL[what]}…</p>}
      {doc.state === 'error' && <p className="notice bad">{doc.message}</p>}
      {doc.state === 'ok' && (
        <pre className="raw" data-testid="raw-json">
          {shown}
        </pre>
      )}
    </div>
  );
}
