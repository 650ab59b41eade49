/** Overview: which manifest form the cache uses, its digests, the counts and the warnings. */
import { useState } from 'react';
import type { CacheView } from '../../../shared/cache/view-types';
import type { VerifyReport } from '../../../shared/contract/index';
import { api } from '../bridge';
import { Bytes } from '../components/bytes';
import { Digest } from '../components/digest';
import { exactBytes, formatBytes, plural, short } from '../format';
import { errorText, statusStore } from '../stores/status-store';

const FORMS: Record<CacheView['variant'], { label: string; help: string }> = {
  'image-manifest': { label: 'Image manifest', help: 'image-manifest=true: one image manifest whose config is the cache config. Accepted by every registry.' },
  index: { label: 'Index (manifest list)', help: 'image-manifest=false: an index listing the layers and the cache config. Some registries (ECR, GCR, Quay, Artifactory) reject it.' },
  'legacy-index': { label: 'Legacy index (pre-2018)', help: 'An old BuildKit index form.' },
  'config-only': { label: 'Bare cache config', help: 'A cache config file without a manifest: no blob sizes or media types are known.' },
  inline: { label: 'Inline cache (image config)', help: 'The records inside an image config (moby.buildkit.cache.v0); the layers are the image layers.' },
};

const COUNTS: { key: Exclude<keyof CacheView['summary'], 'totalBytes'>; label: string; help: string }[] = [
  { key: 'layerEntries', label: 'Layer entries', help: 'Positions in the layer chains; the same blob can appear at several positions.' },
  { key: 'uniqueBlobs', label: 'Unique blobs', help: 'Distinct layer blobs the chains reference.' },
  { key: 'records', label: 'Records', help: 'Cache keys: one per (operation, output), plus content-checksum keys.' },
  { key: 'recordsWithResults', label: 'Records with results', help: 'Keys that carry a snapshot (a layer chain) and can be reused without rebuilding.' },
  { key: 'chainRoots', label: 'Chain roots', help: 'Base layers: layer entries with no parent (parent -1), one per base image or platform. Not the same as source records.' },
  { key: 'sourceRecords', label: 'Source records', help: 'Records without inputs: an image pull, a local context or a content checksum. Marked "source" on the Records tab.' },
  { key: 'missingBlobs', label: 'Missing blobs', help: 'Referenced blobs absent from the source. Results that need them are dropped on import.' },
];

function Verify({ cacheId }: { cacheId: string }) {
  const [report, setReport] = useState<VerifyReport | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      setReport(await statusStore.getState().track('Verifying blobs…', api.request('verifyCache', { cacheId })));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="verify">
      <button type="button" onClick={() => void run()} disabled={busy} data-testid="verify-button" title="Hash every blob in the folder (orphans too) and compare with its digest, size and diffID">
        {busy ? 'Verifying…' : 'Verify blobs'}
      </button>
      {error && <span className="error-text">{error}</span>}
      {report && (
        <span className={report.ok ? 'ok-text' : 'error-text'} data-testid="verify-result">
          {report.ok ? '✓ ' : '✗ '}
          {plural(report.checked, 'blob')} checked ({formatBytes(report.bytes)}), {report.missing.length} missing, {plural(report.problems.length, 'problem')}
          {report.scope === 'folder' && report.others > 0 && (
            <span className="muted" data-testid="verify-others">
              {' '}
              · {report.others} of them belong to other tags or are orphans{report.orphans ? ` (${report.orphans.length} orphan${report.orphans.length === 1 ? '' : 's'})` : ''}
            </span>
          )}
        </span>
      )}
      {report && report.problems.length > 0 && (
        <ul className="problems">
          {report.problems.map((p, i) => (
            <li key={i}>
              <span className="badge missing">{p.kind}</span> <code title={p.digest}>{short(p.digest)}</code> {p.message}
              {p.owner === 'orphan' && <span className="muted"> (orphan: no index.json entry reaches it)</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Overview({ view, cacheId }: { view: CacheView; cacheId: string }) {
  const s = view.summary;
  const form = FORMS[view.variant];
  return (
    <div className="overview scroll">
      <section className="card">
        <h3>Manifest</h3>
        <dl className="kv">
          <dt>Form</dt>
          <dd>
            <span data-testid="manifest-variant" title={form.help}>
              {form.label}
            </span>
            {view.manifest && <span className={`badge ${view.manifest.family}`}>{view.manifest.family === 'oci' ? 'OCI media types' : 'Docker media types'}</span>}
            {view.manifest?.inferred && (
              <span className="badge warn" title="The manifest has no mediaType field; its type was inferred from its body">
                inferred
              </span>
            )}
            <span className="muted small">{form.help}</span>
          </dd>
          {view.manifest && (
            <>
              <dt>Manifest</dt>
              <dd>
                <Digest value={view.manifest.digest} />
                <span className="muted" title={exactBytes(view.manifest.size)}>
                  {exactBytes(view.manifest.size)}
                </span>
                <code className="muted small">{view.manifest.mediaType}</code>
              </dd>
            </>
          )}
          <dt>Cache config</dt>
          <dd>
            <Digest value={view.config.digest} />
            <span className="muted">{exactBytes(view.config.size)}</span>
            <span className="badge">{view.config.format}</span>
            {view.config.size > 1024 * 1024 && (
              <span className="badge missing" title="BuildKit fails to import cache configs larger than 1 MiB (moby/buildkit#4916)">
                over 1 MiB
              </span>
            )}
            <code className="muted small">{view.config.mediaType}</code>
          </dd>
          {view.layout && (
            <>
              <dt>Layout</dt>
              <dd>
                <code className="wrap">{view.layout.dir}</code>
                {view.layout.tag ? <span className="badge">tag {view.layout.tag}</span> : <span className="badge">by digest</span>}
              </dd>
            </>
          )}
          <dt>Source</dt>
          <dd>
            <code className="wrap">{view.source}</code>
          </dd>
          {view.blobLocation === 'registry' && (
            <>
              <dt>Blobs</dt>
              <dd data-testid="blob-location">in registry: fetched into the blob cache only when an export or verify needs them</dd>
            </>
          )}
        </dl>
      </section>
      <section className="card">
        <h3>Counts</h3>
        <div className="counts">
          {COUNTS.map((c) => (
            <div className={`count${c.key === 'missingBlobs' && s.missingBlobs > 0 ? ' bad' : ''}`} key={c.key} title={c.help}>
              <div className="count-value" data-testid={`summary-${c.key}`}>
                {s[c.key]}
              </div>
              <div className="count-label">{c.label}</div>
            </div>
          ))}
          <div className="count wide" title="Sum of the descriptor sizes of the distinct blobs">
            <div className="count-value" data-testid="summary-totalBytes" data-value={s.totalBytes}>
              <Bytes n={s.totalBytes} />
            </div>
            <div className="count-label">Total of unique blobs · {exactBytes(s.totalBytes)}</div>
          </div>
        </div>
        <Verify cacheId={cacheId} />
      </section>
      <section className="card">
        <h3>
          Warnings <span className="muted small">({view.warnings.length})</span>
        </h3>
        {view.warnings.length === 0 ? (
          <p className="muted">None.</p>
        ) : (
          <ul className="warnings" data-testid="warnings">
            {view.warnings.map((w, i) => (
              <li key={i} data-testid="warning">
                <span className="badge warn">{w.code}</span> <span>{w.message}</span>
                {w.where && <div className="where">{w.where}</div>}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
