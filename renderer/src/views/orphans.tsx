/** Orphans: blobs of a layout folder that index.json no longer reaches, and a guarded way to delete them. */
import { useMemo, useState } from 'react';
import type { ColumnDef } from '@tanstack/react-table';
import type { CacheView, OrphanEntry } from '../../../shared/cache/view-types';
import type { GcOutcome, GcReport } from '../../../shared/contract/index';
import { api } from '../bridge';
import { Bytes } from '../components/bytes';
import { Digest } from '../components/digest';
import { Modal } from '../components/modal';
import { VirtualTable } from '../components/virtual-table';
import { exactBytes, formatBytes, plural, short } from '../format';
import { cachesStore } from '../stores/caches-store';
import { errorText } from '../stores/status-store';

const KIND_ORDER: Record<OrphanEntry['kind'], number> = { manifest: 0, config: 1, layer: 2, unknown: 3 };

const columns: ColumnDef<OrphanEntry & { i: number }, unknown>[] = [
  { accessorKey: 'digest', header: 'Digest', cell: (c) => <Digest value={c.row.original.digest} hex={24} /> },
  { id: 'kind', accessorFn: (o) => KIND_ORDER[o.kind], sortingFn: 'basic', header: 'Kind', cell: (c) => <span className={`badge kind-${c.row.original.kind}`}>{c.row.original.kind}</span> },
  { accessorKey: 'size', header: 'Size', sortingFn: 'basic', cell: (c) => <Bytes n={c.row.original.size} /> },
];

type Step = { stage: 'idle' } | { stage: 'previewing' } | { stage: 'confirm'; preview: GcReport } | { stage: 'deleting'; preview: GcReport } | { stage: 'done'; report: GcOutcome };

export function Orphans({ view }: { view: CacheView; cacheId: string }) {
  const [step, setStep] = useState<Step>({ stage: 'idle' });
  const [error, setError] = useState<string | null>(null);
  const rows = useMemo(() => (view.orphans?.items ?? []).map((o, i) => ({ ...o, i })), [view.orphans]);
  if (!view.layout) return <p className="muted pad">Orphans exist only in a local layout folder; this source is not one.</p>;
  if (!view.orphans)
    return (
      <p className="muted pad">
        Orphans were not computed for <code>{view.layout.dir}</code>; see the warnings on the Overview tab.
      </p>
    );
  const dir = view.layout.dir;
  const orphans = view.orphans;
  const manifests = orphans.items.filter((o) => o.kind === 'manifest').length;

  const preview = async () => {
    setError(null);
    setStep({ stage: 'previewing' });
    try {
      setStep({ stage: 'confirm', preview: await api.request('runGc', { dir, dryRun: true }) });
    } catch (err) {
      setError(errorText(err));
      setStep({ stage: 'idle' });
    }
  };
  const confirm = async (p: GcReport) => {
    setStep({ stage: 'deleting', preview: p });
    try {
      const report = await api.request('runGc', { dir, dryRun: false });
      setStep({ stage: 'done', report });
      // Views are snapshots: every view of this folder is read again (once, whether this answer or the engine's event comes first).
      if (report.changeId) {
        await cachesStore.getState().layoutChanged({ dir, changeId: report.changeId, why: 'gc', removedGenerations: report.removedGenerations, deletedBlobs: report.blobs });
      }
    } catch (err) {
      setError(errorText(err));
      setStep({ stage: 'idle' });
    }
  };

  return (
    <div className="view-fill">
      <div className="toolbar orphans-head">
        <div>
          <div className="big-number" data-testid="orphans-bytes" data-value={orphans.bytes} title={exactBytes(orphans.bytes)}>
            {formatBytes(orphans.bytes)}
          </div>
          <div className="muted small">
            reclaimable in {plural(orphans.items.length, 'unreferenced blob')} ({exactBytes(orphans.bytes)})
          </div>
        </div>
        <span className="spacer" />
        <button type="button" className="danger" data-testid="gc-button" disabled={step.stage === 'previewing' || step.stage === 'deleting' || orphans.items.length === 0} onClick={() => void preview()}>
          {step.stage === 'previewing' ? 'Checking…' : 'Delete unreferenced blobs…'}
        </button>
      </div>
      {manifests > 0 && (
        <p className="notice">
          {plural(manifests, 'orphaned manifest')}: older generations of this cache that no tag points to any more. They can still be compared on the Diff tab until they are deleted.
        </p>
      )}
      {step.stage === 'done' && (
        <p className="notice ok" data-testid="gc-done">
          Deleted {plural(step.report.blobs, 'blob')}, {formatBytes(step.report.bytes)} reclaimed ({exactBytes(step.report.bytes)}).
          {step.report.removedGenerations.length > 0 && ` ${plural(step.report.removedGenerations.length, 'generation')} removed; every open view of this folder was read again.`}
        </p>
      )}
      {error && <p className="notice bad">{error}</p>}
      <VirtualTable
        label="Unreferenced blobs"
        data={rows}
        columns={columns}
        rowTestId="orphan-row"
        rowKey={(o) => o.i}
        template="minmax(360px,1fr) 110px 110px"
        empty="No unreferenced blobs: every blob in the folder is reachable from index.json."
      />
      {(step.stage === 'confirm' || step.stage === 'deleting') && (
        <Modal title="Delete unreferenced blobs?" onClose={() => setStep({ stage: 'idle' })} closable={step.stage === 'confirm'} testId="gc-dialog">
          <p>
            A dry run found <strong data-testid="gc-preview-blobs">{plural(step.preview.blobs, 'blob')}</strong> that nothing in <code>index.json</code> reaches, <strong data-testid="gc-preview-bytes">{formatBytes(step.preview.bytes)}</strong> (
            {exactBytes(step.preview.bytes)}), in <code className="wrap">{dir}</code>.
          </p>
          {step.preview.deleted.length > 0 && (
            <ul className="gc-list" tabIndex={0} aria-label="Blobs gc would delete">
              {step.preview.deleted.slice(0, 12).map((d) => (
                <li key={d.digest}>
                  <code title={d.digest}>{short(d.digest, 20)}</code> <Bytes n={d.size} />
                </li>
              ))}
              {step.preview.deleted.length > 12 && <li className="muted">…and {step.preview.deleted.length - 12} more</li>}
            </ul>
          )}
          <p className="muted small">
            Orphaned manifests go too, so those generations can no longer be diffed. The deletion holds the folder's lock, so a concurrent export cannot lose blobs. This cannot be undone.
          </p>
          <div className="actions">
            <button type="button" onClick={() => setStep({ stage: 'idle' })} disabled={step.stage === 'deleting'}>
              Cancel
            </button>
            <button type="button" className="danger" data-testid="gc-confirm" disabled={step.stage === 'deleting' || step.preview.blobs === 0} onClick={() => void confirm(step.preview)}>
              {step.stage === 'deleting' ? 'Deleting…' : `Delete ${plural(step.preview.blobs, 'blob')}`}
            </button>
          </div>
        </Modal>
      )}
    </div>
  );
}
