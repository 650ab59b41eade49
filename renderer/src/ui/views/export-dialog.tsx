/** The Export dialog: destination, tag, BuildKit's options with their defaults, a live preview, then per-layer progress. */
import { useEffect, useState } from 'react';
import type { ExportCompression, ExportOptions, ExportPreview } from '../../../../shared/export/types';
import { api, errorText } from '../bridge';
import { formatBytes, formatRate, short } from '../format';
import { cachesStore } from '../stores/caches-store';
import { exportStore, useExport } from '../stores/export-store';

interface Form {
  dest: string;
  tag: string;
  oci: boolean;
  imageManifest: boolean;
  compression: ExportCompression | 'keep';
  level: string;
  force: boolean;
  dropMissing: boolean;
  verify: boolean;
}

const INITIAL: Form = { dest: '', tag: 'latest', oci: true, imageManifest: true, compression: 'keep', level: '', force: false, dropMissing: false, verify: false };

function toOptions(f: Form): ExportOptions {
  const o: ExportOptions = { tag: f.tag, 'oci-mediatypes': f.oci, 'image-manifest': f.imageManifest };
  if (f.compression !== 'keep') o.compression = f.compression;
  if (f.level.trim() !== '' && /^\d+$/.test(f.level.trim())) o['compression-level'] = Number(f.level.trim());
  if (f.force) o['force-compression'] = true;
  if (f.dropMissing) o['drop-missing'] = true;
  if (f.verify) o.verify = true;
  return o;
}

function Check({ label, help, checked, onChange, testId }: { label: string; help: string; checked: boolean; onChange: (v: boolean) => void; testId: string }) {
  return (
    <label className="opt">
      <input type="checkbox" data-testid={testId} checked={checked} onChange={(e) => onChange(e.target.checked)} />
      <span>
        <code>{label}</code> <span className="muted small">{help}</span>
      </span>
    </label>
  );
}

export function ExportDialog({ cacheId, onClose }: { cacheId: string; onClose: () => void }) {
  const [form, setForm] = useState<Form>(INITIAL);
  const [preview, setPreview] = useState<ExportPreview | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [jobId, setJobId] = useState<string | null>(null);
  const [startError, setStartError] = useState<string | null>(null);
  const job = useExport((s) => (jobId ? s.jobs[jobId] : undefined));
  const set = (patch: Partial<Form>) => setForm((f) => ({ ...f, ...patch }));

  useEffect(() => {
    let live = true;
    const t = setTimeout(() => {
      api.request('previewExport', { cacheId, options: toOptions(form) }).then(
        (p) => live && (setPreview(p), setPreviewError(null)),
        (err) => live && (setPreview(null), setPreviewError(errorText(err))),
      );
    }, 150);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [cacheId, form]);

  const browse = async () => {
    const r = await api.request('pickDirectory', { title: 'Export destination' }).catch(() => ({ path: null }));
    if (r.path) set({ dest: r.path });
  };
  const start = async () => {
    setStartError(null);
    try {
      setJobId(await exportStore.getState().start(cacheId, form.dest.trim(), toOptions(form)));
    } catch (err) {
      setStartError(errorText(err));
    }
  };
  const progress = job?.progress;
  const finished = job?.finished;
  const running = jobId !== null && !finished;
  const pct = progress && progress.bytesTotal > 0 ? Math.min(100, (100 * progress.bytesDone) / progress.bytesTotal) : finished?.ok ? 100 : 0;

  return (
    <div className="modal-backdrop">
      <div className="modal wide" role="dialog" aria-label="Export cache" data-testid="export-dialog">
        <h3>Export cache to a local OCI layout</h3>
        {!jobId && (
          <>
            <div className="form-row">
              <label>
                Destination folder
                <input data-testid="export-dest" value={form.dest} placeholder="/path/to/cache-dir" onChange={(e) => set({ dest: e.target.value })} />
              </label>
              <button type="button" onClick={() => void browse()}>Browse…</button>
              <label>
                Tag
                <input data-testid="export-tag" value={form.tag} onChange={(e) => set({ tag: e.target.value })} />
              </label>
            </div>
            <div className="opts">
              <Check testId="export-oci" label="oci-mediatypes" help="(default true) OCI media types; false writes Docker ones" checked={form.oci} onChange={(v) => set({ oci: v })} />
              <Check testId="export-image-manifest" label="image-manifest" help="(default true) image-manifest form; false writes the index form that some registries reject" checked={form.imageManifest} onChange={(v) => set({ imageManifest: v })} />
              <label className="opt">
                <select data-testid="export-compression" value={form.compression} onChange={(e) => set({ compression: e.target.value as Form['compression'] })}>
                  <option value="keep">keep (as the source)</option>
                  <option value="uncompressed">uncompressed</option>
                  <option value="gzip">gzip</option>
                  <option value="zstd">zstd</option>
                </select>
                <span>
                  <code>compression</code> <span className="muted small">target compression; existing layers convert only with force-compression</span>
                </span>
              </label>
              <label className="opt">
                <input className="narrow" data-testid="export-level" value={form.level} placeholder="default" onChange={(e) => set({ level: e.target.value })} />
                <span>
                  <code>compression-level</code> <span className="muted small">gzip 0–9, zstd 0–22</span>
                </span>
              </label>
              <Check testId="export-force" label="force-compression" help="(default false) recompress every layer to the chosen compression" checked={form.force} onChange={(v) => set({ force: v })} />
              <Check testId="export-drop-missing" label="drop-missing" help="(default false) export what is complete, dropping entries whose blobs are absent" checked={form.dropMissing} onChange={(v) => set({ dropMissing: v })} />
              <Check testId="export-verify" label="verify" help="(default false) check digests of blobs that already exist at the destination" checked={form.verify} onChange={(v) => set({ verify: v })} />
            </div>
            <div className="preview" data-testid="export-preview">
              {previewError && <p className="error-text">{previewError}</p>}
              {preview?.error && <p className="error-text">{preview.error}</p>}
              {preview && (
                <>
                  <p>
                    {preview.layers.length} layer descriptors, {formatBytes(preview.totalBytes)} · {preview.convertCount} to convert · {preview.droppedLayers} entries and {preview.droppedResults} results dropped ·{' '}
                    <code>{preview.manifestMediaType}</code> tagged <code>{preview.tag}</code>
                  </p>
                  {preview.missingBlobs.length > 0 && (
                    <p className="error-text">
                      {preview.missingBlobs.length} source blob(s) missing{form.dropMissing ? ': their entries will be dropped' : ': the export will fail (enable drop-missing)'}
                    </p>
                  )}
                  {preview.empty && <p className="muted">skipping cache export for empty result</p>}
                  <ul className="preview-layers">
                    {preview.layers.slice(0, 200).map((l, i) => (
                      <li key={i} className={l.dropped ? 'muted' : ''}>
                        <code>{short(l.blob)}</code> {formatBytes(l.size)} {l.convert ? <span className="badge sel">convert → {l.targetMediaType.split('.').pop()}</span> : null}
                        {!l.present && <span className="badge missing">missing</span>}
                        {l.dropped && <span className="small"> dropped: {l.dropped}</span>}
                      </li>
                    ))}
                  </ul>
                </>
              )}
            </div>
            {startError && <p className="error-text" data-testid="export-error">{startError}</p>}
            <div className="actions">
              <button type="button" onClick={onClose}>Close</button>
              <button type="button" className="primary" data-testid="export-start" disabled={!form.dest.trim()} onClick={() => void start()}>
                Export
              </button>
            </div>
          </>
        )}
        {jobId && (
          <div data-testid="export-progress">
            <p>{progress?.text ?? 'Starting…'}</p>
            <div className="bar big">
              <div style={{ width: `${pct}%` }} />
            </div>
            <p className="muted small">
              {formatBytes(progress?.bytesDone ?? 0)} of {formatBytes(progress?.bytesTotal ?? 0)} {formatRate(progress?.bytesPerSecond ?? 0)}
            </p>
            <ul className="layer-bars">
              {(progress?.layers ?? []).map((l, i) => (
                <li key={i} data-testid="layer-progress" data-state={l.state}>
                  <code>{short(l.blob)}</code>
                  <div className="bar">
                    <div className={l.state} style={{ width: `${l.bytesTotal > 0 ? (100 * l.bytesDone) / l.bytesTotal : l.state === 'done' || l.state === 'exists' || l.state === 'linked' ? 100 : 0}%` }} />
                  </div>
                  <span className={`badge state-${l.state}`}>{l.state}</span>
                  <span className="small muted">
                    {formatBytes(l.bytesDone)}/{formatBytes(l.bytesTotal)} {formatRate(l.bytesPerSecond)}
                  </span>
                  {l.error && <span className="error-text small">{l.error}</span>}
                </li>
              ))}
            </ul>
            {finished?.ok && (
              <div className="ok-text">
                {finished.result.descriptor ? (
                  <p data-testid="export-done-digest">
                    Done: cache manifest <code>{finished.result.descriptor.digest}</code> ({finished.result.descriptor.size} bytes) tagged <code>{finished.result.tag}</code> in <code>{finished.result.dest}</code>
                  </p>
                ) : (
                  <p data-testid="export-done-digest">skipping cache export for empty result</p>
                )}
              </div>
            )}
            {finished && !finished.ok && <p className="error-text" data-testid="export-error">Export failed: {finished.error.message} [{finished.error.code}]</p>}
            <div className="actions">
              {running && (
                <button type="button" className="danger" data-testid="export-cancel" onClick={() => void exportStore.getState().cancel(jobId)}>
                  Cancel
                </button>
              )}
              {finished?.ok && finished.result.descriptor && (
                <button
                  type="button"
                  className="primary"
                  data-testid="export-open-result"
                  onClick={() => {
                    void cachesStore.getState().open(`${finished.result.dest}:${finished.result.tag}`);
                    onClose();
                  }}
                >
                  Open result
                </button>
              )}
              {!running && <button type="button" onClick={onClose}>Close</button>}
            </div>
          </div>
        )}
      </div>
    </div>
  );
}
