/** Raw JSON of the manifest, the config and index.json, as the bytes on disk (pretty-printed for reading). */
import { useEffect, useState } from 'react';
import { api, errorText } from '../bridge';

type What = 'manifest' | 'config' | 'index';

export function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function Raw({ cacheId }: { cacheId: string }) {
  const [what, setWhat] = useState<What>('manifest');
  const [text, setText] = useState<string>('');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    setError(null);
    api.request('getRawJson', { cacheId, what }).then(
      (r) => live && setText(pretty(r.text)),
      (err) => live && (setText(''), setError(errorText(err))),
    );
    return () => {
      live = false;
    };
  }, [cacheId, what]);
  return (
    <div className="view-fill">
      <div className="toolbar">
        {(['manifest', 'config', 'index'] as const).map((w) => (
          <button type="button" key={w} className={w === what ? 'active' : ''} onClick={() => setWhat(w)}>
            {w === 'index' ? 'index.json' : w}
          </button>
        ))}
      </div>
      {error ? <p className="muted pad">{error}</p> : <pre className="raw" data-testid="raw-json">{text}</pre>}
    </div>
  );
}
