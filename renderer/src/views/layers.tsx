/** Layers: one row per layer entry of the cache config; sortable, filterable by digest prefix, virtualized. */
import { useMemo, useState } from 'react';
import type { ColumnDef } from '@tanstack/react-table';
import type { CacheView, HistoryName, LayerRow } from '../../../shared/cache/view-types';
import { displayName } from '../../../shared/graph/history-names';
import { Bytes, Presence } from '../components/bytes';
import { Digest } from '../components/digest';
import { VirtualTable } from '../components/virtual-table';
import { digestMatches, short } from '../format';
import { select, useSelectedIndex } from '../stores/selection-store';
import { ImageExportButton } from './image-export-dialog';

/** `oci layer tar+gzip` rather than the whole media type: the family and the compression are what differ. */
function shortMediaType(mt: string): string {
  return (
    mt
      .replace(/^application\/vnd\.oci\.image\.layer\.v1\./, 'oci ')
      .replace(/^application\/vnd\.docker\.image\.rootfs\.(foreign\.)?diff\./, 'docker ')
      .replace(/^application\/vnd\./, '') || '–'
  );
}

/** A layer entry's row with the name of the step that made it (from an attached image's history), if any. */
type NamedLayerRow = LayerRow & { name: string | null; nameFrom: HistoryName | null };

/** The step that made the layer and where that name comes from; the graph's own facts when no image names it. */
function NameCell({ r }: { r: NamedLayerRow }) {
  if (r.name && r.nameFrom) {
    return (
      <span className="record-name" title={`${r.nameFrom.text}\n${r.nameFrom.from}`} data-testid="layer-name">
        {r.name}
      </span>
    );
  }
  return (
    <span className="muted" title="No attached image's history names this layer: attach the image built with this cache (Records → Attach image…)">
      –
    </span>
  );
}

/** The columns; a registry cache's blobs are labelled "in registry" (their presence is not asked: each ask is a request). */
const columnsFor = (remote: boolean): ColumnDef<NamedLayerRow, unknown>[] => [
  { accessorKey: 'index', header: '#', sortingFn: 'basic' },
  { accessorKey: 'blob', header: 'Blob', cell: (c) => <Digest value={c.row.original.blob} className="blob-digest" /> },
  { id: 'name', accessorFn: (r) => r.name ?? '', header: 'Name', cell: (c) => <NameCell r={c.row.original} /> },
  {
    id: 'status',
    accessorFn: (r) => (r.present ? 1 : 0),
    sortingFn: 'basic',
    header: 'Status',
    cell: (c) => {
      const r = c.row.original;
      return (
        <span className="badges">
          {remote && r.present ? (
            <span className="badge" title="Listed by the manifest; fetched from the registry when an export or verify needs it">
              in registry
            </span>
          ) : (
            <Presence present={r.present} />
          )}
          {r.blobUses > 1 && (
            <span className="badge dup" title={`The same blob sits at ${r.blobUses} chain positions`}>
              ×{r.blobUses}
            </span>
          )}
          {r.problem && (
            <span className="badge missing" title={r.problem}>
              broken chain
            </span>
          )}
        </span>
      );
    },
  },
  { accessorKey: 'size', header: 'Size', sortingFn: 'basic', cell: (c) => <Bytes n={c.row.original.size} /> },
  { accessorKey: 'compression', header: 'Compr.', cell: (c) => <span className={`comp comp-${c.row.original.compression}`}>{c.row.original.compression}</span> },
  {
    accessorKey: 'mediaType',
    header: 'Media type',
    cell: (c) => (
      <span title={c.row.original.mediaType} className="ellipsis small">
        {shortMediaType(c.row.original.mediaType)}
      </span>
    ),
  },
  { id: 'diffID', accessorFn: (r) => r.diffID ?? '', header: 'DiffID', cell: (c) => <Digest value={c.row.original.diffID} copy={false} /> },
  { id: 'createdAt', accessorFn: (r) => r.createdAt ?? '', header: 'Created at', cell: (c) => <code className="small" title={c.row.original.createdAt ?? ''}>{c.row.original.createdAt ?? '–'}</code> },
  { accessorKey: 'parent', header: 'Parent', sortingFn: 'basic', cell: (c) => (c.row.original.parent === -1 ? <span className="muted">root</span> : c.row.original.parent) },
  { id: 'parentBlob', accessorFn: (r) => r.parentBlob ?? '', header: 'Parent blob', cell: (c) => <code className="small" title={c.row.original.parentBlob ?? ''}>{short(c.row.original.parentBlob, 8)}</code> },
];

export function Layers({ view, cacheId }: { view: CacheView; cacheId: string }) {
  const [filter, setFilter] = useState('');
  const selected = useSelectedIndex(cacheId, 'layer');
  const named = useMemo<NamedLayerRow[]>(
    () =>
      view.layers.map((l) => {
        const nm = view.names?.layers[l.index] ?? null;
        return { ...l, name: nm ? displayName(nm.text) : null, nameFrom: nm };
      }),
    [view],
  );
  // A digest prefix (blob or diffID), or any part of a name in any case.
  const rows = useMemo(() => {
    const q = filter.trim().toLowerCase();
    if (!q) return named;
    return named.filter((l) => digestMatches(l.blob, filter) || digestMatches(l.diffID, filter) || (l.name ?? '').toLowerCase().includes(q));
  }, [named, filter]);
  const missing = useMemo(() => view.layers.filter((l) => !l.present).length, [view.layers]);
  const columns = useMemo(() => columnsFor(view.blobLocation === 'registry'), [view.blobLocation]);
  return (
    <div className="view-fill">
      <div className="toolbar">
        <input
          data-testid="layer-filter"
          className="filter"
          type="search"
          spellCheck={false}
          aria-label="Filter layer entries by digest prefix or name"
          placeholder="Filter by digest prefix (blob or diffID) or name"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        <span className="muted" data-testid="layer-count">
          {rows.length === view.layers.length ? `${view.layers.length} layer entries` : `${rows.length} of ${view.layers.length} layer entries`}
          {missing > 0 && <span className="error-text"> · {missing} with a missing blob</span>}
        </span>
        <ImageExportButton
          target={{ cacheId, selection: { layer: selected ?? 0 }, label: `layer entry #${selected ?? 0}` }}
          disabled={selected === null || Boolean(view.layers[selected]?.problem)}
          title={selected === null ? 'Select a layer entry: its chain becomes the image' : 'The chain ending at this layer entry as a runnable image'}
        />
      </div>
      <VirtualTable
        label="Layer entries"
        data={rows}
        columns={columns}
        rowTestId="layer-row"
        rowKey={(r) => r.index}
        selected={selected}
        onSelect={(r) => select(cacheId, 'layer', r.index)}
        rowClass={(r) => (r.present ? '' : 'row-missing')}
        template="52px 204px minmax(150px,1.3fr) 116px 84px 58px minmax(100px,1fr) 156px 232px 56px 112px"
        minWidth={1330}
        empty={view.layers.length === 0 ? 'This cache has no layer entries.' : 'No layer entry matches this filter.'}
      />
    </div>
  );
}
