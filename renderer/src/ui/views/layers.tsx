/** Layers: one row per config layer entry; sortable, filterable by digest prefix, virtualized. */
import { useMemo, useState } from 'react';
import type { ColumnDef } from '@tanstack/react-table';
import type { CacheView, LayerRow } from '../../../../shared/cache/view-types';
import { Digest } from '../components/digest';
import { VirtualTable } from '../components/virtual-table';
import { formatBytes, short } from '../format';
import { cachesStore, useCaches } from '../stores/caches-store';

/** Matches a digest by prefix, with or without its `sha256:` part. */
export function digestMatches(digest: string | null, query: string): boolean {
  if (!digest || !query) return !query;
  const q = query.trim().toLowerCase();
  return digest.startsWith(q) || digest.slice(digest.indexOf(':') + 1).startsWith(q);
}

const columns: ColumnDef<LayerRow, unknown>[] = [
  { accessorKey: 'index', header: '#' },
  { accessorKey: 'blob', header: 'Blob', cell: (c) => <Digest value={c.row.original.blob} /> },
  {
    accessorKey: 'mediaType',
    header: 'Media type',
    cell: (c) => <span title={c.row.original.mediaType} className="ellipsis">{c.row.original.mediaType.replace('application/vnd.', '') || '-'}</span>,
  },
  { accessorKey: 'size', header: 'Size', cell: (c) => <span title={`${c.row.original.size} bytes`}>{formatBytes(c.row.original.size)}</span> },
  { accessorKey: 'diffID', header: 'DiffID', cell: (c) => <Digest value={c.row.original.diffID} copy={false} /> },
  { accessorKey: 'createdAt', header: 'Created', cell: (c) => <span className="small">{c.row.original.createdAt ?? '-'}</span> },
  { accessorKey: 'parent', header: 'Parent', cell: (c) => (c.row.original.parent === -1 ? <span className="muted">root</span> : c.row.original.parent) },
  { accessorKey: 'parentBlob', header: 'Parent blob', cell: (c) => <code className="small">{short(c.row.original.parentBlob)}</code> },
  {
    accessorKey: 'present',
    header: 'Status',
    cell: (c) => (
      <span>
        <span className={`badge ${c.row.original.present ? 'ok' : 'missing'}`}>{c.row.original.present ? 'present' : 'missing'}</span>
        {c.row.original.blobUses > 1 && <span className="badge dup" title="This blob is used by several layer entries">×{c.row.original.blobUses}</span>}
        {c.row.original.problem && <span className="badge missing" title={c.row.original.problem}>broken chain</span>}
      </span>
    ),
  },
];

export function Layers({ view }: { view: CacheView }) {
  const [filter, setFilter] = useState('');
  const selection = useCaches((s) => s.selection);
  const rows = useMemo(() => view.layers.filter((l) => digestMatches(l.blob, filter) || digestMatches(l.diffID, filter)), [view.layers, filter]);
  return (
    <div className="view-fill">
      <div className="toolbar">
        <input
          data-testid="layer-filter"
          className="filter"
          placeholder="Filter by digest prefix (blob or diffID)…"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        <span className="muted">
          {rows.length} of {view.layers.length} layer entries
        </span>
      </div>
      <VirtualTable
        data={rows}
        columns={columns}
        rowTestId="layer-row"
        rowKey={(r) => r.index}
        selected={selection?.kind === 'layer' ? selection.index : null}
        onSelect={(r) => cachesStore.getState().select({ kind: 'layer', index: r.index })}
        rowClass={(r) => (r.present ? '' : 'row-missing')}
        template="44px 196px minmax(150px,1.2fr) 84px 150px 200px 60px 130px 150px"
        minWidth={1120}
        empty="No layer entry matches this filter."
      />
    </div>
  );
}
