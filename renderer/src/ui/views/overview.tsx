/** Overview: manifest form, digests, counts and warnings. */
import type { CacheView } from '../../../../shared/cache/view-types';
import { Digest } from '../components/digest';
import { formatBytes } from '../format';

const FORMS: Record<CacheView['variant'], string> = {
  'image-manifest': 'Image manifest',
  index: 'Index (manifest list)',
  'legacy-index': 'Legacy 2017 index',
  'config-only': 'Bare cache config',
  inline: 'Inline cache (image config)',
};

const COUNTS: { key: keyof CacheView['summary']; label: string }[] = [
  { key: 'layerEntries', label: 'Layer entries' },
  { key: 'uniqueBlobs', label: 'Unique blobs' },
  { key: 'records', label: 'Records' },
  { key: 'recordsWithResults', label: 'Records with results' },
  { key: 'roots', label: 'Roots' },
  { key: 'missingBlobs', label: 'Missing blobs' },
];

export function Overview({ view }: { view: CacheView }) {
  const s = view.summary;
  return (
    <div className="overview">
      <section className="card">
        <h3>Manifest</h3>
        <dl className="kv">
          <dt>Form</dt>
          <dd data-testid="manifest-variant">
            {FORMS[view.variant]}
            {view.manifest && <span className={`badge ${view.manifest.family}`}>{view.manifest.family === 'oci' ? 'OCI media types' : 'Docker media types'}</span>}
            {view.manifest?.inferred && <span className="badge warn" title="The manifest has no mediaType; its type was inferred from its body">inferred</span>}
          </dd>
          <dt>Media type</dt>
          <dd><code>{view.manifest?.mediaType ?? '-'}</code></dd>
          <dt>Manifest</dt>
          <dd>
            <Digest value={view.manifest?.digest ?? null} /> {view.manifest && <span className="muted">{view.manifest.size} bytes</span>}
          </dd>
          <dt>Config</dt>
          <dd>
            <Digest value={view.config.digest} /> <span className="muted">{view.config.size} bytes · {view.config.format}</span>
          </dd>
          {view.layout && (
            <>
              <dt>Layout</dt>
              <dd>
                <code>{view.layout.dir}</code> {view.layout.tag ? <span className="badge">tag {view.layout.tag}</span> : <span className="badge">by digest</span>}
              </dd>
            </>
          )}
        </dl>
      </section>
      <section className="card">
        <h3>Counts</h3>
        <div className="counts">
          {COUNTS.map((c) => (
            <div className={`count ${c.key === 'missingBlobs' && s.missingBlobs > 0 ? 'warn' : ''}`} key={c.key}>
              <div className="count-value" data-testid={`summary-${c.key}`}>{s[c.key]}</div>
              <div className="count-label">{c.label}</div>
            </div>
          ))}
          <div className="count wide">
            <div className="count-value" data-testid="summary-totalBytes" data-value={s.totalBytes} title={`${s.totalBytes} bytes`}>
              {formatBytes(s.totalBytes)}
            </div>
            <div className="count-label">Total bytes of unique blobs ({s.totalBytes.toLocaleString('en-US')} B)</div>
          </div>
        </div>
      </section>
      <section className="card">
        <h3>Warnings</h3>
        {view.warnings.length === 0 ? (
          <p className="muted">None.</p>
        ) : (
          <ul className="warnings" data-testid="warnings">
            {view.warnings.map((w, i) => (
              <li key={i}>
                <span className="badge warn">{w.code}</span> {w.message}
                {w.where && <div className="muted small">{w.where}</div>}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
