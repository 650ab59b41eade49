/** Records: the cache keys; the selected one shows its inputs (OR slots), dependents and resolved layer stack. */
import type { ColumnDef } from '@tanstack/react-table';
import type { CacheView, RecordRow } from '../../../shared/cache/view-types';
import { Bytes, Presence } from '../components/bytes';
import { CopyButton, Digest } from '../components/digest';
import { RecordInputs, recordKind } from '../components/record-inputs';
import { VirtualTable } from '../components/virtual-table';
import { formatBytes, plural, short } from '../format';
import { select, useSelectedIndex } from '../stores/selection-store';
import { useMemo, useState } from 'react';
import { displayName } from '../../../shared/graph/history-names';
import { recordRole } from '../../../shared/graph/graph-model';
import { AttachImage, HistoryNameLine } from '../components/attach-image';
import { RecordGraph } from './record-graph';
import { FilesPanel } from './files-panel';
import { WastePanel } from './waste-panel';

/** Which layer entry a record's result ends at, or null without a usable result. */
function resultTip(r: RecordRow): number | null {
  return r.stack.length > 0 ? r.stack[r.stack.length - 1] : null;
}

function ResultCell({ r }: { r: RecordRow }) {
  if (r.droppedResult)
    return (
      <span className="badge missing" title={r.droppedResult}>
        dropped
      </span>
    );
  const tip = resultTip(r);
  if (tip !== null)
    return (
      <span>
        <span className="yes">yes</span> <span className="muted">· layer {tip}</span>
        {r.shownResult?.kind === 'chains' && <span className="muted"> (chain)</span>}
      </span>
    );
  return <span className="muted">no</span>;
}

type NamedRow = RecordRow & { name: string | null; nameFrom: string | null };

const columns: ColumnDef<NamedRow, unknown>[] = [
  { accessorKey: 'index', header: '#', sortingFn: 'basic' },
  { accessorKey: 'digest', header: 'Digest', cell: (c) => <Digest value={c.row.original.digest} /> },
  {
    id: 'name',
    accessorFn: (r) => r.name ?? '',
    header: 'Name',
    cell: (c) =>
      c.row.original.name ? (
        <span className="record-name" title={`${c.row.original.name}\n${c.row.original.nameFrom}`} data-testid="record-name">
          {c.row.original.name}
        </span>
      ) : (
        <span className="muted">–</span>
      ),
  },
  { id: 'slots', accessorFn: (r) => r.inputs.length, header: 'Input slots', sortingFn: 'basic' },
  { id: 'links', accessorFn: (r) => r.inputs.reduce((n, s) => n + s.length, 0), header: 'Links', sortingFn: 'basic' },
  { id: 'result', accessorFn: (r) => resultTip(r) ?? -1, header: 'Result', sortingFn: 'basic', cell: (c) => <ResultCell r={c.row.original} /> },
  { accessorKey: 'resultSize', header: 'Result size', sortingFn: 'basic', cell: (c) => (c.row.original.resultSize ? <Bytes n={c.row.original.resultSize} /> : <span className="muted">–</span>) },
  { id: 'dependents', accessorFn: (r) => r.dependents.length, header: 'Dependents', sortingFn: 'basic' },
  {
    id: 'kind',
    accessorFn: (r) => (r.isSource ? 0 : r.isLeaf ? 2 : 1),
    sortingFn: 'basic',
    header: 'Role',
    cell: (c) => {
      const r = c.row.original;
      return (
        <span className="badges">
          {r.isSource && (
            <span className="badge" title="A source record: no inputs (an image pull, a local context, a content checksum)">
              source
            </span>
          )}
          {r.isLeaf && <span className="badge ok">leaf</span>}
          {r.isLeaf && r.stack.length > 0 && (
            <span className="badge" title="Named from the graph: a final result (nothing links to it, and it has a layer stack)">
              stage result
            </span>
          )}
          {r.ignored && (
            <span className="badge warn" title="BuildKit ignores this record (a random: key, or it links to one)">
              ignored
            </span>
          )}
        </span>
      );
    },
  },
];

export function RecordDetail({ view, record, cacheId }: { view: CacheView; record: RecordRow; cacheId: string }) {
  const pick = (index: number) => select(cacheId, 'record', index);
  return (
    <div className="record-detail" data-testid="record-detail">
      <h3>
        Record #{record.index} {view.names?.records[record.index] && <span className="record-title-name">{displayName(view.names.records[record.index]!.text)}</span>} <Digest value={record.digest} hex={20} /> <span className="badge">{recordKind(view, record)}</span>
        {record.isLeaf && <span className="badge ok">leaf: a final result</span>}
        {record.ignored && <span className="badge warn">ignored by BuildKit</span>}
        <CopyButton text={JSON.stringify(record, null, 2)} label="copy JSON" />
      </h3>
      <HistoryNameLine name={view.names?.records[record.index]} role={`role from the graph: ${recordRole(record)}`} />
      <div className="cols">
        <div>
          <h4>Inputs</h4>
          <RecordInputs view={view} record={record} onPick={pick} />
          <h4>Dependents ({record.dependents.length})</h4>
          {record.dependents.length === 0 ? (
            <p className="muted">None: no record links to this one.</p>
          ) : (
            <div className="dependents">
              {record.dependents.map((d) => (
                <button type="button" className="chip" key={d} onClick={() => pick(d)} title={view.records[d]?.digest}>
                  #{d} <code>{short(view.records[d]?.digest, 8)}</code>
                </button>
              ))}
            </div>
          )}
        </div>
        <div>
          <h4>Layer stack{record.stack.length > 0 ? ' (base first)' : ''}</h4>
          {record.stack.length > 0 && (
            <p className="muted small stack-sum">
              {plural(record.stack.length, 'layer')}, {formatBytes(record.resultSize)}; {formatBytes(record.sharedBytes)} shared with other results
            </p>
          )}
          {record.droppedResult && (
            <p className="error-text" data-testid="dropped-result">
              Result dropped: {record.droppedResult}
            </p>
          )}
          {record.stack.length === 0 ? (
            <p className="muted">{record.droppedResult ? 'Nothing left to load.' : 'No result: an intermediate or source key kept so the graph stays connected.'}</p>
          ) : (
            <ol className="stack">
              {record.stack.map((l, i) => {
                const layer = view.layers[l];
                return (
                  <li key={i}>
                    <span className="muted">entry {l}</span> <code title={layer.blob}>{short(layer.blob)}</code> <Bytes n={layer.size} /> <Presence present={layer.present} />
                    {layer.blobUses > 1 && <span className="badge dup">×{layer.blobUses}</span>}
                  </li>
                );
              })}
            </ol>
          )}
          {record.results.length + record.chains.length > 1 && (
            <p className="muted small">
              {record.results.length + record.chains.length} results; shown: the newest usable one ({record.shownResult?.kind} #{record.shownResult?.index}).
            </p>
          )}
        </div>
      </div>
      {record.stack.length > 0 && (
        <div className="cols record-files">
          <FilesPanel key={`${cacheId}:${record.index}`} cacheId={cacheId} target={{ record: record.index }} />
          <WastePanel cacheId={cacheId} record={record.index} />
        </div>
      )}
    </div>
  );
}

export function Records({ view, cacheId }: { view: CacheView; cacheId: string }) {
  const selected = useSelectedIndex(cacheId, 'record');
  const record = selected !== null ? view.records[selected] : undefined;
  const withResults = view.summary.recordsWithResults;
  // The graph is the default picture; the table stays as the searchable, accessible equivalent.
  const [as, setAs] = useState<'graph' | 'table'>('graph');
  const [filter, setFilter] = useState('');
  const named = useMemo<NamedRow[]>(
    () =>
      view.records.map((r) => {
        const nm = view.names?.records[r.index];
        return { ...r, name: nm ? displayName(nm.text) : null, nameFrom: nm?.from ?? null };
      }),
    [view],
  );
  // The table's search: a name (any part, any case), a digest prefix, or #index.
  const rows = useMemo(() => {
    const q = filter.trim().toLowerCase();
    if (!q) return named;
    const hex = q.replace(/^sha256:/, '');
    return named.filter((r) => (r.name ?? '').toLowerCase().includes(q) || r.digest.slice(7).startsWith(hex) || `#${r.index}` === q);
  }, [named, filter]);
  return (
    <div className="view-split">
      <div className="view-fill">
        <div className="toolbar">
          <div className="segmented" role="group" aria-label="Show records as">
            <button type="button" aria-pressed={as === 'graph'} className={as === 'graph' ? 'active' : ''} onClick={() => setAs('graph')} data-testid="records-as-graph">
              Graph
            </button>
            <button type="button" aria-pressed={as === 'table'} className={as === 'table' ? 'active' : ''} onClick={() => setAs('table')} data-testid="records-as-table">
              Table
            </button>
          </div>
          {as === 'table' && (
            <input
              className="filter"
              value={filter}
              spellCheck={false}
              placeholder="name, digest prefix or #index"
              aria-label="Filter records by name, digest prefix or #index"
              data-testid="records-filter"
              onChange={(e) => setFilter(e.target.value)}
            />
          )}
          <span className="muted">
            {filter.trim() && as === 'table' ? `${rows.length} of ` : ''}
            {view.records.length} records, {withResults} with a result. Select one to see its inputs, dependents and layer stack.
          </span>
          <span className="spacer" />
          <AttachImage cacheId={cacheId} view={view} />
        </div>
        {as === 'graph' ? <RecordGraph view={view} cacheId={cacheId} /> : <VirtualTable
          label="Records"
          data={rows}
          columns={columns}
          rowTestId="record-row"
          rowKey={(r) => r.index}
          selected={selected}
          onSelect={(r) => select(cacheId, 'record', r.index)}
          rowClass={(r) => (r.droppedResult ? 'row-missing' : r.ignored ? 'row-dim' : '')}
          template="56px 200px minmax(160px,1.4fr) 84px 60px 150px 96px 92px minmax(120px,1fr)"
          minWidth={1060}
          empty="This cache has no records."
        />}
      </div>
      <div className="split-bottom">{record ? <RecordDetail view={view} record={record} cacheId={cacheId} /> : <p className="muted pad">No record selected.</p>}</div>
    </div>
  );
}
