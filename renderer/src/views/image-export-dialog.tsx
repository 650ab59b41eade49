/**
 * "Export as image…": a cached result (a record's, a layer entry's chain, or a chain) becomes a
 * runnable image. The form shows the chain that becomes the image, platform and names, where the
 * starting config comes from, the inline-cache toggle, BuildKit's layer options and the destination,
 * with a live preview from the engine; then per-layer progress; then the exporter's response keys and
 * a button that opens the result as a source.
 */
import { useEffect, useState } from 'react';
import type { ExportCompression } from '../../../shared/export/types';
import type { ImageExportOutcome, ImageExportParams, ImageExportPreview, ImageLayerProgressWire } from '../../../shared/image/image-export-wire';
import type { ImageLayerOptions } from '../../../shared/image/layer-options';
import { api } from '../bridge';
import { Bar, Bytes } from '../components/bytes';
import { CopyButton } from '../components/digest';
import { Modal } from '../components/modal';
import { formatBytes, short } from '../format';
import { cachesStore, findCache, useCaches } from '../stores/caches-store';
import { imageExportStore, useImageExport } from '../stores/image-export-store';
import type { ImageExportTarget, ImageJob } from '../stores/image-export-store';
import { errorText } from '../stores/status-store';

type DestKind = 'folder' | 'docker-archive' | 'registry';
type ConfigKind = 'default' | 'file' | 'image';

interface Form {
  destKind: DestKind;
  dest: string;
  platform: string;
  names: string;
  configKind: ConfigKind;
  configValue: string;
  inlineCache: boolean;
  compression: ExportCompression | 'keep';
  level: string;
  oci: boolean;
}

const INITIAL: Form = { destKind: 'folder', dest: '', platform: '', names: '', configKind: 'default', configValue: '', inlineCache: false, compression: 'keep', level: '', oci: true };

/** The form survives closing the dialog, so a second export starts from the last choices. */
let lastForm: Form = INITIAL;

const DEST_HINT: Record<DestKind, string> = {
  folder: '/path/to/image-dir:tag (an OCI layout folder; tag defaults to latest)',
  'docker-archive': '/path/to/image.tar (docker load / podman load)',
  registry: 'registry.example:5000/team/app:tag',
};

function destString(f: Form): string {
  const d = f.dest.trim();
  if (d === '') return '';
  return f.destKind === 'docker-archive' ? `docker-archive:${d}` : d;
}

function layerOptions(f: Form): ImageLayerOptions | null {
  const o: ImageLayerOptions = {};
  if (!f.oci) o['oci-mediatypes'] = false;
  if (f.compression !== 'keep') {
    o.compression = f.compression;
    o['force-compression'] = true;
  }
  const lvl = f.level.trim();
  if (lvl !== '') {
    if (!/^-?\d+$/.test(lvl)) return null;
    o['compression-level'] = Number(lvl);
  }
  return o;
}

function paramsOf(target: ImageExportTarget, f: Form): ImageExportParams | null {
  const options = layerOptions(f);
  if (!options) return null;
  return {
    cacheId: target.cacheId,
    selection: target.selection,
    dest: destString(f),
    ...(f.platform.trim() ? { platform: f.platform.trim() } : {}),
    ...(f.names.trim() ? { names: f.names.trim() } : {}),
    ...(f.configKind !== 'default' && f.configValue.trim() ? { config: { kind: f.configKind, value: f.configValue.trim() } } : {}),
    inlineCache: f.inlineCache,
    options,
  };
}

function ChainTable({ preview }: { preview: ImageExportPreview }) {
  return (
    <table className="image-chain" data-testid="image-chain">
      <thead>
        <tr>
          <th>#</th>
          <th>Entry</th>
          <th>Blob</th>
          <th>Size</th>
          <th>Media type</th>
          <th>DiffID</th>
          <th>Created</th>
          <th>Layer</th>
        </tr>
      </thead>
      <tbody>
        {preview.chain.map((l) => (
          <tr key={l.index} data-testid="image-chain-layer" className={l.present ? '' : 'row-missing'}>
            <td>{l.index}</td>
            <td className="muted">#{l.entry}</td>
            <td>
              <code title={l.blob}>{short(l.blob)}</code>
            </td>
            <td>
              <Bytes n={l.size} />
            </td>
            <td className="small" title={l.mediaType}>
              {l.mediaType.replace(/^application\/vnd\.(oci\.image\.layer\.v1\.|docker\.image\.rootfs\.diff\.)/, '')}
            </td>
            <td>
              <code className="small" title={l.diffID ?? 'computed at export'}>
                {l.diffID ? short(l.diffID, 8) : 'computed'}
              </code>
            </td>
            <td>
              <code className="small">{l.createdAt ?? '–'}</code>
            </td>
            <td>{!l.present ? <span className="badge missing">missing</span> : l.convertTo ? <span className="badge">→ {l.convertTo}</span> : <span className="muted small">kept</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function FormView({ target }: { target: ImageExportTarget }) {
  const [form, setForm] = useState<Form>(lastForm);
  const [preview, setPreview] = useState<ImageExportPreview | null>(null);
  const [starting, setStarting] = useState(false);
  const [startError, setStartError] = useState<string | null>(null);
  const cache = findCache(target.cacheId);
  const up = (patch: Partial<Form>) =>
    setForm((f) => {
      const next = { ...f, ...patch };
      lastForm = next;
      return next;
    });
  const params = paramsOf(target, form);
  const key = JSON.stringify(params);
  useEffect(() => {
    if (!params) return;
    let live = true;
    const { dest, ...rest } = params;
    const timer = setTimeout(() => {
      api.request('previewImageExport', dest ? { ...rest, dest } : rest).then(
        (p) => live && setPreview(p),
        (err) => live && setPreview((p) => (p ? { ...p, error: errorText(err) } : null)),
      );
    }, 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [key]);

  const problem = !params ? 'compression-level must be an integer' : (preview?.error ?? null);
  const canStart = Boolean(params && params.dest && preview && !preview.error && !starting);
  const start = async () => {
    if (!params) return;
    setStarting(true);
    setStartError(null);
    try {
      await imageExportStore.getState().start(params);
    } catch (err) {
      setStartError(errorText(err));
    } finally {
      setStarting(false);
    }
  };
  // The empty config's platform: the one typed, else the preview's only while it describes the empty config (a chosen config file says its own).
  const emptyPlatform = form.platform.trim() !== '' ? form.platform.trim() : form.configKind === 'default' && preview && !preview.error ? preview.platform : "this machine's platform";
  const defaultConfig = preview?.sourceHasConfig ? 'the inline-cache image config of this source' : `BuildKit's empty config (${emptyPlatform}, PATH, WorkingDir /)`;
  return (
    <div className="image-export" data-testid="image-export-form">
      <p className="muted">
        {target.label} of <code>{cache?.view.source ?? target.cacheId}</code>
      </p>
      <section aria-label="Chain">
        <h4>
          Chain that becomes the image{preview ? `: ${preview.chain.length} layer${preview.chain.length === 1 ? '' : 's'}, ${formatBytes(preview.totalBytes)}` : ''}
        </h4>
        {preview ? <ChainTable preview={preview} /> : <p className="muted">Reading the chain…</p>}
        {preview && preview.targets.length > 0 && <p className="muted small">Result of record{preview.targets.length === 1 ? '' : 's'} {preview.targets.map((t) => `#${t}`).join(', ')}</p>}
      </section>
      <div className="image-grid">
        <label>
          Platform
          <input data-testid="image-platform" value={form.platform} placeholder={preview?.platform ?? 'os/arch[/variant]'} spellCheck={false} onChange={(e) => up({ platform: e.target.value })} />
        </label>
        <label>
          Names
          <input data-testid="image-names" value={form.names} placeholder="app:1,registry.example/team/app:2" spellCheck={false} onChange={(e) => up({ names: e.target.value })} />
        </label>
        {preview && preview.names.length > 0 && (
          <p className="muted small image-span" data-testid="image-names-normalised">
            {preview.names.join(', ')}
          </p>
        )}
      </div>
      <fieldset className="image-config" data-testid="image-config-source">
        <legend>Starting config</legend>
        <label>
          <input type="radio" name="image-config" checked={form.configKind === 'default'} onChange={() => up({ configKind: 'default' })} /> {preview?.sourceHasConfig ? 'Inline-cache config' : 'Empty'}:{' '}
          <span className="muted">{defaultConfig}</span>
        </label>
        <label>
          <input type="radio" name="image-config" checked={form.configKind === 'file'} onChange={() => up({ configKind: 'file' })} /> Config file
        </label>
        <label>
          <input type="radio" name="image-config" checked={form.configKind === 'image'} onChange={() => up({ configKind: 'image' })} /> Image reference
        </label>
        {form.configKind !== 'default' && (
          <input
            data-testid="image-config-value"
            aria-label={form.configKind === 'file' ? 'Config file' : 'Image reference'}
            value={form.configValue}
            spellCheck={false}
            placeholder={form.configKind === 'file' ? '/path/to/config.json' : 'DIR:tag, DIR@sha256:… or registry.example/team/base:1'}
            onChange={(e) => up({ configValue: e.target.value })}
          />
        )}
        {preview?.configOrigin && (
          <p className="muted small" data-testid="image-config-origin">
            Config from: {preview.configOrigin}
          </p>
        )}
      </fieldset>
      <label className="check">
        <input type="checkbox" data-testid="image-inline-cache" checked={form.inlineCache} onChange={(e) => up({ inlineCache: e.target.checked })} /> Inline cache (<code>moby.buildkit.cache.v0</code>): the
        image can be opened, and imported by BuildKit, as this result&apos;s cache
      </label>
      <fieldset className="image-layers">
        <legend>Layers</legend>
        <label>
          Compression
          <select data-testid="image-compression" value={form.compression} onChange={(e) => up({ compression: e.target.value as Form['compression'] })}>
            <option value="keep">keep each layer&apos;s own</option>
            <option value="gzip">gzip (force-compression)</option>
            <option value="zstd">zstd (force-compression)</option>
            <option value="uncompressed">uncompressed (force-compression)</option>
          </select>
        </label>
        <label>
          compression-level
          <input value={form.level} placeholder="default" size={6} onChange={(e) => up({ level: e.target.value })} />
        </label>
        <label className="check">
          <input type="checkbox" checked={form.oci} onChange={(e) => up({ oci: e.target.checked })} /> oci-mediatypes
        </label>
        {preview?.layerNote && <p className="muted small">{preview.layerNote}</p>}
      </fieldset>
      <fieldset className="image-dest">
        <legend>Destination</legend>
        <div role="radiogroup" aria-label="Destination kind" className="image-dest-kinds">
          {(['folder', 'docker-archive', 'registry'] as const).map((k) => (
            <label key={k}>
              <input type="radio" name="image-dest-kind" data-testid={`image-dest-${k}`} checked={form.destKind === k} onChange={() => up({ destKind: k })} />{' '}
              {k === 'folder' ? 'OCI layout folder' : k === 'docker-archive' ? 'docker-archive tar' : 'Registry'}
            </label>
          ))}
        </div>
        <input data-testid="image-dest" aria-label="Destination" value={form.dest} spellCheck={false} placeholder={DEST_HINT[form.destKind]} onChange={(e) => up({ dest: e.target.value })} />
        {preview?.destination && (
          <p className="muted small" data-testid="image-dest-label">
            → {preview.destination.kind}: <code>{preview.destination.label}</code>
          </p>
        )}
      </fieldset>
      {problem && (
        <p className="error-text" role="alert" data-testid="image-export-problem">
          {problem}
        </p>
      )}
      {startError && (
        <p className="error-text" role="alert">
          {startError}
        </p>
      )}
      <div className="actions">
        <button type="button" onClick={() => imageExportStore.getState().close()}>
          Cancel
        </button>
        <button type="button" className="primary" data-testid="image-export-start" disabled={!canStart} onClick={() => void start()}>
          {starting ? 'Starting…' : 'Export image'}
        </button>
      </div>
    </div>
  );
}

function LayerRows({ layers }: { layers: ImageLayerProgressWire[] }) {
  return (
    <ul className="image-progress" data-testid="image-layer-progress">
      {layers.map((l) =>
        l ? (
          <li key={l.index} data-testid="image-layer" data-state={l.state}>
            <span className="muted">{l.index}</span> <code title={l.blob}>{short(l.blob)}</code> <span className={`state state-${l.state}`}>{l.state}</span>
            {l.convertTo ? <span className="badge">→ {l.convertTo}</span> : null}
            <Bar value={l.state === 'done' ? 1 : l.size > 0 ? l.bytes / l.size : 0} state={l.state === 'failed' ? 'failed' : l.state === 'done' ? 'done' : ''} label={`layer ${l.index}`} />
            <span className="muted small">
              {formatBytes(Math.min(l.bytes, l.size))} / {formatBytes(l.size)}
            </span>
          </li>
        ) : null,
      )}
    </ul>
  );
}

const KEYS = ['containerimage.config.digest', 'containerimage.digest', 'image.name'] as const;

function ResultKeys({ result }: { result: ImageExportOutcome }) {
  return (
    <dl className="image-keys" data-testid="image-result">
      {KEYS.filter((k) => result[k] !== undefined).map((k) => (
        <div key={k} data-testid={`image-key-${k}`}>
          <dt>
            <code>{k}</code>
          </dt>
          <dd>
            <code>{result[k]}</code> <CopyButton text={result[k]!} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

function JobView({ job }: { job: ImageJob }) {
  const [openFailed, setOpenFailed] = useState<string | null>(null);
  const [opening, setOpening] = useState(false);
  const openError = useCaches((s) => s.openError);
  const progress = job.progress;
  const f = job.finished;
  const openResult = async (source: string) => {
    setOpening(true);
    setOpenFailed(null);
    const opened = await cachesStore.getState().open(source);
    setOpening(false);
    if (opened) imageExportStore.getState().close();
    else setOpenFailed(cachesStore.getState().openError?.message ?? openError?.message ?? `Could not open ${source}`);
  };
  return (
    <div className="image-export" data-testid="image-export-job">
      <p className="muted">
        → <code>{job.params.dest}</code>
      </p>
      <LayerRows layers={progress?.layers ?? []} />
      {progress && progress.lines.length > 0 && (
        <pre className="image-lines" data-testid="image-export-lines" tabIndex={0} aria-label="Progress lines">
          {progress.lines.join('\n')}
        </pre>
      )}
      {!f && (
        <div className="actions">
          <button type="button" data-testid="image-export-cancel" disabled={job.cancelling} onClick={() => void imageExportStore.getState().cancel(job.jobId)}>
            {job.cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        </div>
      )}
      {f && !f.ok && (
        <p className="error-text" role="alert" data-testid="image-export-error">
          {f.error.message}
        </p>
      )}
      {f && f.ok && (
        <>
          <p data-testid="image-export-done">
            Image written: {f.result.layers.length} layer{f.result.layers.length === 1 ? '' : 's'}
            {f.result.layers.some((l) => l.converted) ? ` (${f.result.layers.filter((l) => l.converted).length} converted)` : ''}, config from {f.result.configOrigin}
            {f.result.inlineRecords > 0 ? `, ${f.result.inlineRecords} inline-cache records` : ''}.
          </p>
          <ResultKeys result={f.result} />
          {f.result.warnings.map((w) => (
            <p key={w} className="notice warn">
              {w}
            </p>
          ))}
          {openFailed && (
            <div className="error-text" role="alert" data-testid="image-open-error">
              {f.result.inlineRecords === 0 && (
                <p>
                  <strong>This image carries no inline cache, so it does not open as a cache.</strong> Export it again with &quot;Inline cache&quot; ticked to open it here (and to let BuildKit import it with
                  --cache-from).
                </p>
              )}
              <p className="small">{openFailed}</p>
            </div>
          )}
        </>
      )}
      {f && (
        <div className="actions">
          <button type="button" onClick={() => imageExportStore.getState().again()}>
            Export again…
          </button>
          {f.ok && f.result.openSource && (
            <button type="button" className="primary" data-testid="image-open-result" disabled={opening} onClick={() => void openResult(f.result.openSource!)}>
              {opening ? 'Opening…' : 'Open the image as a source'}
            </button>
          )}
          <button type="button" onClick={() => imageExportStore.getState().close()}>
            Close
          </button>
        </div>
      )}
    </div>
  );
}

export function ImageExportDialog() {
  const dialog = useImageExport((s) => s.dialog);
  const job = useImageExport((s) => (s.jobId ? (s.jobs[s.jobId] ?? null) : null));
  if (!dialog) return null;
  const running = Boolean(job && !job.finished);
  return (
    <Modal title={`Export as image: ${dialog.label}`} onClose={() => imageExportStore.getState().close()} wide testId="image-export-dialog" closable={!running}>
      {job ? <JobView job={job} /> : <FormView target={dialog} />}
    </Modal>
  );
}

/** The entry button, for a record with a result, a layer entry, or a chain. */
export function ImageExportButton({ target, disabled = false, title }: { target: ImageExportTarget; disabled?: boolean; title?: string }) {
  return (
    <button type="button" data-testid="image-export-button" disabled={disabled} title={title ?? 'Turn this result into a runnable image: OCI layout, docker-archive tar or registry'} onClick={() => imageExportStore.getState().open(target)}>
      Export as image…
    </button>
  );
}
