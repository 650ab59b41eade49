/**
 * The Export dialog: a destination (a folder, or a registry reference with its insecure toggle and
 * login state), tag, BuildKit's options with their defaults, a live preview (with the pre-push
 * warnings), then per-layer progress, and a failed push explained with a one-click Retry.
 */
import { useEffect, useState } from 'react';
import type { ReactNode } from 'react';
import type { ExportCompression, ExportOptions, ExportPreview } from '../../../shared/export/types';
import { api } from '../bridge';
import { Bar, Bytes } from '../components/bytes';
import { Modal } from '../components/modal';
import { exactBytes, formatBytes, formatDuration, formatRate, plural, short } from '../format';
import { cachesStore, findCache, useCaches } from '../stores/caches-store';
import { exportStore, useExport } from '../stores/export-store';
import type { ExportJob } from '../stores/export-store';
import { errorText, statusStore } from '../stores/status-store';
import { ExportFailure } from './export-failure';
import { hostOfReference, insecureInText, referenceProblem, registryDest, tagOfReference } from '../../../shared/export/registry-dest-text';
import { PushWarnings, RegistryLoginState, RegistryReferenceField } from './export-registry-destination';
import { FINAL_STATES, LayerBars } from './layer-progress';

interface Form {
  kind: 'folder' | 'registry';
  dest: string;
  /** The registry reference as typed (registry destinations). */
  ref: string;
  /** BuildKit's `registry.insecure`. */
  insecure: boolean;
  tag: string;
  oci: boolean;
  /** Null until the user sets it: BuildKit then derives it from oci-mediatypes (see imageManifestOf). */
  imageManifest: boolean | null;
  compression: ExportCompression | 'keep';
  level: string;
  force: boolean;
  dropMissing: boolean;
  verify: boolean;
}

const INITIAL: Form = { kind: 'folder', ref: '', insecure: false, dest: '', tag: 'latest', oci: true, imageManifest: null, compression: 'keep', level: '', force: false, dropMissing: false, verify: false };

/** The form survives closing the dialog, per cache, so a second export starts from the last choices. */
const lastForms = new Map<string, Form>();

function levelProblem(level: string): string | null {
  const t = level.trim();
  if (t === '') return null;
  // The range is BuildKit's to judge (any integer for zstd, -2..9 for gzip): the preview says so.
  if (!/^-?\d+$/.test(t) || !Number.isSafeInteger(Number(t))) return 'compression-level must be an integer';
  return null;
}

/**
 * The image-manifest value the export will use: BuildKit's rule (shared/export/options.ts) is that an
 * unset image-manifest follows oci-mediatypes, so unticking only oci-mediatypes writes a Docker
 * manifest list. An explicit value is kept as given, even when it contradicts (then the preview shows
 * BuildKit's error, as the CLI refuses `oci-mediatypes=false,image-manifest=true`).
 */
function imageManifestOf(f: Pick<Form, 'oci' | 'imageManifest'>): { value: boolean; explicit: boolean; contradiction: boolean } {
  const explicit = f.imageManifest !== null;
  const value = f.imageManifest ?? f.oci;
  return { value, explicit, contradiction: value && !f.oci };
}

/** Only what differs from BuildKit's defaults (and what the user set explicitly) is sent, as BuildKit's own option names. */
function toOptions(f: Form): ExportOptions {
  // A registry reference names its own tag (the engine reads it from there, as the CLI does).
  const o: ExportOptions = f.kind === 'registry' ? {} : { tag: f.tag.trim() || 'latest' };
  if (!f.oci) o['oci-mediatypes'] = false;
  if (f.imageManifest !== null) o['image-manifest'] = f.imageManifest;
  if (f.compression !== 'keep') o.compression = f.compression;
  if (f.level.trim() !== '' && !levelProblem(f.level)) o['compression-level'] = Number(f.level.trim());
  if (f.force) o['force-compression'] = true;
  if (f.dropMissing) o['drop-missing'] = true;
  if (f.verify) o.verify = true;
  return o;
}

function Option({ name, def, help, children }: { name: string; def: string; help: string; children: ReactNode }) {
  return (
    <div className="opt">
      <div className="opt-name">
        <code>{name}</code> <span className="muted small">default {def}</span>
      </div>
      <div className="opt-control">{children}</div>
      <div className="small opt-help">{help}</div>
    </div>
  );
}

function Check({ name, def, help, checked, onChange, testId, note, offLabel = 'false' }: { name: string; def: string; help: string; checked: boolean; onChange: (v: boolean) => void; testId: string; note?: ReactNode; offLabel?: string }) {
  return (
    <label className="opt">
      <div className="opt-name">
        <code>{name}</code> <span className="muted small">default {def}</span>
      </div>
      <div className="opt-control">
        <input type="checkbox" data-testid={testId} checked={checked} onChange={(e) => onChange(e.target.checked)} />
        <span className="small muted" data-testid={`${testId}-value`}>
          &nbsp;{checked ? 'true' : offLabel}
        </span>
      </div>
      <div className="small opt-help">
        {help}
        {note}
      </div>
    </label>
  );
}

/** What the image-manifest box says under its help: where its value comes from. */
function ImageManifestNote({ form, onReset }: { form: Form; onReset: () => void }) {
  const im = imageManifestOf(form);
  if (im.contradiction)
    return (
      <span className="opt-note error-text" data-testid="export-image-manifest-note">
        {' '}
        BuildKit refuses image-manifest=true with oci-mediatypes=false.{' '}
        <button type="button" className="link" onClick={onReset} data-testid="export-image-manifest-reset">
          Use the default
        </button>
      </span>
    );
  if (!im.explicit && !form.oci)
    return (
      <span className="opt-note warn-text" data-testid="export-image-manifest-note">
        {' '}
        Off because oci-mediatypes is off: BuildKit then writes the index form (a Docker manifest list).
      </span>
    );
  if (im.explicit)
    return (
      <span className="opt-note muted" data-testid="export-image-manifest-note">
        {' '}
        Set explicitly.{' '}
        <button type="button" className="link" onClick={onReset} data-testid="export-image-manifest-reset">
          Use the default
        </button>
      </span>
    );
  return null;
}

/** The manifest form a media type stands for, in words (the dialog's boxes must agree with it). */
function formOfMediaType(mediaType: string): string {
  if (mediaType === 'application/vnd.oci.image.manifest.v1+json') return 'an image manifest with OCI media types';
  if (mediaType === 'application/vnd.oci.image.index.v1+json') return 'an index (OCI image index) with OCI media types';
  if (mediaType === 'application/vnd.docker.distribution.manifest.list.v2+json') return 'an index (Docker manifest list) with Docker media types';
  if (mediaType === 'application/vnd.docker.distribution.manifest.v2+json') return 'an image manifest with Docker media types';
  return mediaType;
}

function PreviewPanel({ preview, loading, error, dropMissing }: { preview: ExportPreview | null; loading: boolean; error: string | null; dropMissing: boolean }) {
  return (
    // Focusable: a long preview scrolls (max-height), and a keyboard user must be able to scroll it too.
    <div className="preview" data-testid="export-preview" role="region" aria-label="Export preview" tabIndex={0} aria-live="polite" aria-busy={loading}>
      <div className="preview-title">
        Preview {loading && <span className="muted small">updating…</span>}
      </div>
      {error && <p className="error-text">{error}</p>}
      {preview?.error && (
        // BuildKit's `missing blob …` lines come one per blob: one list item each, not run together.
        <ul className="error-text preview-error" data-testid="export-preview-error">
          {preview.error.split('\n').map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ul>
      )}
      {preview && (
        <>
          <p>
            <strong>{plural(preview.layers.length, 'layer')}</strong>, <span title={exactBytes(preview.totalBytes)}>{formatBytes(preview.totalBytes)}</span> · <strong>{preview.convertCount}</strong> to convert ·{' '}
            {preview.droppedLayers} entries and {preview.droppedResults} results dropped · <code data-testid="export-preview-mediatype">{preview.manifestMediaType}</code> tagged <code>{preview.tag}</code>
          </p>
          {preview.manifestMediaType && (
            <p className="small" data-testid="export-preview-form">
              Writes {formOfMediaType(preview.manifestMediaType)}.
            </p>
          )}
          {preview.missingBlobs.length > 0 && (
            <p className={dropMissing ? 'warn-text' : 'error-text'}>
              {plural(preview.missingBlobs.length, 'source blob')} missing{dropMissing ? ': the entries that need them are dropped.' : ': the export fails unless drop-missing is on.'}
            </p>
          )}
          {preview.levelNote && (
            <p className="small" data-testid="export-level-note">
              {preview.levelNote}
            </p>
          )}
          {preview.empty && <p className="warn-text">skipping cache export for empty result: nothing would be written.</p>}
          {preview.notes.length > 0 && (
            <ul className="notes">
              {preview.notes.map((n, i) => (
                <li key={i}>
                  <code>{short(n.blob)}</code> {n.note}
                </li>
              ))}
            </ul>
          )}
          <ul className="preview-layers">
            {preview.layers.slice(0, 300).map((l, i) => (
              <li key={i} className={l.dropped ? 'dropped' : ''}>
                <span className="muted">#{l.index}</span> <code title={l.blob}>{short(l.blob)}</code> <Bytes n={l.size} />{' '}
                {l.convert ? (
                  <span className="badge sel" title={`${l.mediaType} → ${l.targetMediaType}`}>
                    convert → {l.targetMediaType.split('.').pop()}
                  </span>
                ) : (
                  <span className="badge" title={l.targetMediaType}>
                    as is
                  </span>
                )}
                {!l.present && <span className="badge missing">missing</span>}
                {l.dropped && (
                  <span className="small warn-text drop-reason" title={l.dropped}>
                    dropped: {l.dropped}
                  </span>
                )}
              </li>
            ))}
            {preview.layers.length > 300 && <li className="muted">…and {preview.layers.length - 300} more</li>}
          </ul>
        </>
      )}
    </div>
  );
}

function ExportForm({ cacheId }: { cacheId: string }) {
  const [form, setForm] = useState<Form>(() => lastForms.get(cacheId) ?? INITIAL);
  const [preview, setPreview] = useState<ExportPreview | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [starting, setStarting] = useState(false);
  const [startError, setStartError] = useState<string | null>(null);
  /** The engine's refusal of the registry reference (the CLI's words), or null. */
  const [refError, setRefError] = useState<string | null>(null);
  const electron = useCaches((s) => s.startup?.mode === 'electron');
  const set = (patch: Partial<Form>) =>
    setForm((f) => {
      const next = { ...f, ...patch };
      lastForms.set(cacheId, next);
      return next;
    });
  const optionsKey = JSON.stringify(toOptions(form));
  const level = levelProblem(form.level);
  const registryMode = form.kind === 'registry';
  const refProblem = registryMode ? referenceProblem(form.ref) : null;
  const dest = registryMode ? registryDest(form.ref, form.insecure) : form.dest.trim();
  // The engine reads a registry reference only once the form has nothing to say against it.
  const previewDest = registryMode && !refProblem ? dest : null;
  const host = registryMode ? hostOfReference(form.ref) : null;
  // The CLI reads `host[:port]/repo` as a registry even here: say so rather than push by surprise.
  const folderIsRegistry = !registryMode && hostOfReference(form.dest.trim()) !== null;

  useEffect(() => {
    let live = true;
    setPreviewing(true);
    const t = setTimeout(() => {
      const params = { cacheId, options: JSON.parse(optionsKey) as ExportOptions, ...(previewDest !== null ? { dest: previewDest } : {}) };
      api.request('previewExport', params).then(
        (p) => {
          if (!live) return;
          setPreview(p);
          setPreviewError(null);
          setRefError(null);
          setPreviewing(false);
        },
        (err) => {
          if (!live) return;
          setPreview(null);
          // A bad reference belongs under its field, in the CLI's words; anything else to the preview.
          const field = (err as { details?: { field?: unknown } }).details?.field;
          if (previewDest !== null && field === 'dest') {
            setRefError((err as Error).message);
            setPreviewError(null);
          } else {
            setRefError(null);
            setPreviewError(errorText(err));
          }
          setPreviewing(false);
        },
      );
    }, 120);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [cacheId, optionsKey, previewDest]);

  const browse = async () => {
    try {
      const r = await api.request('pickDirectory', { title: 'Export destination folder' });
      if (r.path) set({ dest: r.path });
    } catch (err) {
      statusStore.getState().report('Could not show the folder picker', err);
    }
  };
  const start = async () => {
    setStartError(null);
    setStarting(true);
    try {
      const meta = registryMode ? { kind: 'registry' as const, label: form.ref.trim(), tag: tagOfReference(form.ref) } : { kind: 'folder' as const, label: dest };
      await exportStore.getState().start(cacheId, dest, toOptions(form), meta);
    } catch (err) {
      setStartError(errorText(err));
    } finally {
      setStarting(false);
    }
  };
  const destBlocked = registryMode ? (form.ref.trim() === '' ? 'Type a registry reference' : refProblem || refError ? 'Fix the registry reference' : null) : !form.dest.trim() ? 'Choose a destination folder' : null;
  const blocked = destBlocked ?? (level ? level : preview?.error ? 'The preview reports an error' : null);
  const shownRefError = registryMode && form.ref.trim() !== '' ? (refProblem ?? refError) : null;
  const setRef = (ref: string) => {
    // BuildKit's own registry.insecure in the text moves the toggle with it.
    const fromText = insecureInText(ref);
    set(fromText === null ? { ref } : { ref, insecure: fromText });
  };

  return (
    <div className="export-form">
      <form
        id="export-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!blocked) void start();
        }}
      >
        <div className="dest-kind" role="radiogroup" aria-label="Destination">
          <label>
            <input type="radio" name="export-dest-kind" checked={!registryMode} onChange={() => set({ kind: 'folder' })} data-testid="export-kind-folder" /> Folder <span className="muted small">(local OCI layout, <code>type=local</code>)</span>
          </label>
          <label>
            <input type="radio" name="export-dest-kind" checked={registryMode} onChange={() => set({ kind: 'registry' })} data-testid="export-kind-registry" /> Registry <span className="muted small">(<code>type=registry</code>)</span>
          </label>
        </div>
        {registryMode ? (
          <RegistryReferenceField value={form.ref} insecure={form.insecure} error={shownRefError} onChange={setRef} onInsecure={(v) => set({ insecure: v })} />
        ) : (
          <div className="form-row">
            <label className="grow">
              <span>
                Destination folder (<code>dest</code>)
              </span>
              <span className="row">
                <input data-testid="export-dest" value={form.dest} spellCheck={false} placeholder="/path/to/cache-dir" onChange={(e) => set({ dest: e.target.value })} data-autofocus />
                {electron && (
                  <button type="button" onClick={() => void browse()} data-testid="export-browse">
                    Browse…
                  </button>
                )}
              </span>
            </label>
            <label>
              <span>
                <code>tag</code>
              </span>
              <input data-testid="export-tag" value={form.tag} spellCheck={false} onChange={(e) => set({ tag: e.target.value })} placeholder="latest" />
            </label>
            {folderIsRegistry && (
              <p className="warn-text small dest-note" data-testid="export-dest-registry-note">
                <code>{form.dest.trim()}</code> names a registry host, so it is pushed there, as <code>cachescope export</code> reads it (a folder path starts with <code>/</code> or <code>./</code>).{' '}
                <button type="button" className="link" onClick={() => set({ kind: 'registry', ref: form.dest.trim() })}>
                  Use the Registry destination
                </button>
              </p>
            )}
          </div>
        )}
      </form>
      {registryMode && <RegistryLoginState host={host} />}
      <div className="opts">
        <Check testId="export-oci" name="oci-mediatypes" def="true" help="Write OCI media types; off writes Docker ones (needed by a few old registries)." checked={form.oci} onChange={(v) => set({ oci: v })} />
        <Check
          testId="export-image-manifest"
          name="image-manifest"
          def="true (false when oci-mediatypes is false)"
          help="Write an image manifest with the cache config as its config; off writes the index form, which ECR, GCR and Quay reject."
          checked={imageManifestOf(form).value}
          onChange={(v) => set({ imageManifest: v })}
          note={<ImageManifestNote form={form} onReset={() => set({ imageManifest: null })} />}
        />
        <Option name="compression" def="gzip" help="Target compression of new and forced layers; existing layers keep theirs unless force-compression is on.">
          <select data-testid="export-compression" aria-label="compression" value={form.compression} onChange={(e) => set({ compression: e.target.value as Form['compression'] })}>
            <option value="keep">keep (not set)</option>
            <option value="uncompressed">uncompressed</option>
            <option value="gzip">gzip</option>
            <option value="zstd">zstd</option>
          </select>
        </Option>
        <Option name="compression-level" def="the compressor's" help="gzip -2–9, zstd any integer (BuildKit runs 1, 3, 7 or 11); empty uses the compressor's default.">
          <input form="export-form" className={`narrow${level ? ' invalid' : ''}`} data-testid="export-level" inputMode="numeric" value={form.level} placeholder="default" onChange={(e) => set({ level: e.target.value })} aria-invalid={Boolean(level)} />
        </Option>
        <Check testId="export-force" name="force-compression" def="false" help="Recompress every layer that is not already in the chosen compression." checked={form.force} onChange={(v) => set({ force: v })} />
        <Check testId="export-drop-missing" name="drop-missing" def="false" help="Export what is complete: drop entries whose blob is absent, and the results that need them." checked={form.dropMissing} onChange={(v) => set({ dropMissing: v })} />
        <Check testId="export-verify" name="verify" def="unset (checks every blob)" offLabel="unset" help="Every blob is checked against its digest before it is published; a file verified before and unchanged since is not hashed again. Tick to hash every blob anyway (verify=false, the CLI's opt-out, skips checks)." checked={form.verify} onChange={(v) => set({ verify: v })} />
      </div>
      {level && <p className="error-text">{level}</p>}
      {registryMode && preview?.warnings && <PushWarnings warnings={preview.warnings} onApply={(fix) => set(fix.name === 'image-manifest' ? { imageManifest: fix.value } : { oci: fix.value })} />}
      <PreviewPanel preview={preview} loading={previewing} error={previewError} dropMissing={form.dropMissing} />
      {startError && (
        <p className="error-text" data-testid="export-error">
          Could not start the export: {startError}
        </p>
      )}
      <div className="actions">
        {blocked && <span className="muted small">{blocked}</span>}
        <button type="button" onClick={() => exportStore.getState().closeDialog()}>
          Close
        </button>
        <button type="submit" form="export-form" className="primary" data-testid="export-start" disabled={Boolean(blocked) || starting} title={blocked ?? undefined}>
          {starting ? 'Starting…' : registryMode ? 'Push' : 'Export'}
        </button>
      </div>
    </div>
  );
}

/** `3 written, 2 already there, …`: every count that is not zero (a push adds mounted and resumed). */
function countsText(c: { written: number; converted: number; linked: number; exists: number; reused: number; mounted?: number; resumed?: number }): string {
  const parts = [
    `${c.written} written`,
    c.converted && `${c.converted} converted`,
    c.linked && `${c.linked} linked`,
    c.reused && `${c.reused} reused`,
    `${c.exists} already there`,
    c.mounted && `${c.mounted} mounted`,
    c.resumed && `${c.resumed} resumed`,
  ].filter(Boolean);
  return parts.join(', ');
}

function ProgressPanel({ job }: { job: ExportJob }) {
  const { progress, finished } = job;
  const [now, setNow] = useState(() => Date.now());
  const [retrying, setRetrying] = useState(false);
  const retry = async () => {
    setRetrying(true);
    try {
      await exportStore.getState().retry(job.jobId);
    } catch (err) {
      statusStore.getState().report('Could not start the export again', err);
    } finally {
      setRetrying(false);
    }
  };
  useEffect(() => {
    if (finished) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [finished]);
  const running = !finished;
  const total = progress?.bytesTotal ?? 0;
  const overall = finished?.ok ? 1 : total > 0 ? (progress?.bytesDone ?? 0) / total : 0;
  const layers = progress?.layers ?? [];
  const doneLayers = layers.filter((l) => FINAL_STATES.has(l.state)).length;
  // The clock ticks from this panel's mount; a job started after it (Retry) never shows a negative time.
  const elapsed = finished?.ok ? finished.result.durationMs : Math.max(0, (job.finishedAt ?? now) - job.startedAt);
  return (
    <div data-testid="export-progress" className="progress-panel">
      <p className="muted small" data-testid="export-target">
        {job.kind === 'registry' ? (
          <>
            Pushing to the registry <code>{job.label}</code>
          </>
        ) : (
          <>
            To <code>{job.dest}</code> tagged <code>{job.tag}</code>
          </>
        )}
      </p>
      <div className="overall">
        <Bar value={overall} big state={finished ? (finished.ok ? 'done' : 'failed') : ''} label="Overall progress" />
        <span className="overall-numbers">
          {Math.floor(overall * 100)}% · {formatBytes(progress?.bytesDone ?? 0)} of {formatBytes(total)} {formatRate(running ? (progress?.bytesPerSecond ?? 0) : 0)} · {doneLayers}/{layers.length} layers ·{' '}
          {formatDuration(elapsed)}
        </span>
      </div>
      <p className="progress-text" title={progress?.text}>
        {progress?.text ?? (running ? 'Starting…' : '')}
      </p>
      <LayerBars layers={layers} running={running} />
      {job.log.length > 0 && (
        <details className="log">
          <summary>Progress log ({job.log.length} lines)</summary>
          <pre tabIndex={0} aria-label="Progress log">{job.log.join('\n')}</pre>
        </details>
      )}
      {finished?.ok && (
        <div className="notice ok">
          {finished.result.descriptor ? (
            <p data-testid="export-done-digest">
              Done: cache manifest <code className="wrap">{finished.result.descriptor.digest}</code> ({exactBytes(finished.result.descriptor.size)}) tagged <code>{finished.result.tag}</code> in <code className="wrap">{finished.result.dest}</code>
            </p>
          ) : (
            <p data-testid="export-done-digest">skipping cache export for empty result: nothing was written.</p>
          )}
          <p className="small" data-testid="export-done-counts">
            {countsText(finished.result.counts)} · read {formatBytes(finished.result.bytesRead)}, {job.kind === 'registry' ? 'sent' : 'wrote'} {formatBytes(finished.result.bytesWritten)} in {formatDuration(finished.result.durationMs)}
          </p>
        </div>
      )}
      {finished && !finished.ok && <ExportFailure error={finished.error} retrying={retrying} onRetry={() => void retry()} push={job.kind === 'registry'} />}
      {/* A refused push is often a missing or wrong login: log in here, then Retry. */}
      {finished && !finished.ok && job.kind === 'registry' && finished.error.code !== 'cancelled' && <RegistryLoginState host={hostOfReference(job.label)} />}
      <div className="actions">
        {running && (
          <>
            <span className="muted small">Closing keeps the export running.</span>
            <button type="button" className="danger" data-testid="export-cancel" disabled={job.cancelling} onClick={() => void exportStore.getState().cancel(job.jobId).catch((err) => statusStore.getState().report('Could not cancel the export', err))}>
              {job.cancelling ? 'Cancelling…' : 'Cancel export'}
            </button>
          </>
        )}
        {!running && (
          <button type="button" onClick={() => exportStore.getState().newExport()}>
            New export…
          </button>
        )}
        {finished?.ok && finished.result.descriptor && (
          <button
            type="button"
            className="primary"
            data-testid="export-open-result"
            onClick={() => {
              exportStore.getState().closeDialog();
              void cachesStore.getState().open(`${finished.result.dest}:${finished.result.tag}`);
            }}
          >
            Open result
          </button>
        )}
        <button type="button" onClick={() => exportStore.getState().closeDialog()}>
          Close
        </button>
      </div>
    </div>
  );
}

export function ExportDialog() {
  const dialog = useExport((s) => s.dialog);
  const job = useExport((s) => (s.dialog?.jobId ? s.jobs[s.dialog.jobId] : undefined));
  // Re-render when the cache list changes, so a closed cache closes its form.
  useCaches((s) => s.caches.length);
  if (!dialog) return null;
  const cache = findCache(dialog.cacheId);
  const close = () => exportStore.getState().closeDialog();
  if (!cache && !job) return null;
  return (
    <Modal title={`Export ${cache ? cache.view.source : 'cache'}`} onClose={close} wide testId="export-dialog">
      {/* Keyed by job: a Retry's panel starts with its own clock and state. */}
      {job ? <ProgressPanel key={job.jobId} job={job} /> : <ExportForm cacheId={dialog.cacheId} />}
    </Modal>
  );
}
