/** Records: the cache keys, with inputs (OR slots), dependents and the resolved layer stack of the selected one. */
import type { ColumnDef } from '@tanstack/react-table';
import type { CacheView, RecordRow } from '../../../../shared/cache/view-types';
import { Digest } from '../components/digest';
import { VirtualTable } from '../components/virtual-table';
import { formatBytes, short } from '../format';
import { cachesStore, useCaches } from '../stores/caches-store';
import { RecordInputs, recordKind } from './record-inputs';

const columns: ColumnDef<RecordRow, unknown>[] = [
  { accessorKey: 'index', header: '#' },
  { accessorKey: 'digest', header: 'Digest', cell: (c) => <Digest value={c.row.original.digest} /> },
  { id: 'slots', accessorFn: (r) => r.inputs.length, header: 'Input slots' },
  { id: 'links', accessorFn: (r) => r.inputs.reduce((n, s) => n + s.length, 0), header: 'Links' },
  {
    id: 'result',
    accessorFn: (r) => (r.stack.length > 0 ? r.stack[r.stack.length - 1] : -1),
    header: 'Result',
    cell: (c) => {
      const r = c.row.original;
      if (r.droppedResult) return <span className="badge missing" title={r.droppedResult}>dropped</span>;
      if (r.results.length > 0) return <span>layer {r.results[0].layer}</span>;
      if (r.chains.length > 0) return <span>chain of {r.chains[0].layers.length}</span>;
      return <span className="muted">-</span>;
    },
  },
  { accessorKey: 'resultSize', header: 'Result size', cell: (c) => (c.row.original.resultSize ? formatBytes(c.row.original.resultSize) : <span className="muted">0</span>) },
  { id: 'dependents', accessorFn: (r) => r.dependents.length, header: 'Dependents' },
];

function select(index: number) {
  cachesStore.getState().select({ kind: 'record', index });
}

export function RecordDetail({ view, record }: { view: CacheView; record: RecordRow }) {
  return (
    <div className="record-detail" data-testid="record-detail">
      <h3>
        Record #{record.index} <code title={record.digest}>{short(record.digest, 16)}</code> <span className="badge">{recordKind(view, record)}</span>
        {record.isLeaf && <span className="badge ok">leaf (final result)</span>}
      </h3>
      <div className="cols">
        <div>
          <h4>Inputs</h4>
          <RecordInputs view={view} record={record} onPick={select} />
          <h4>Dependents</h4>
          {record.dependents.length === 0 ? (
            <p className="muted">None: nothing links to this record.</p>
          ) : (
            <p>
              {record.dependents.map((d) => (
                <button type="button" className="link" key={d} onClick={() => select(d)}>
                  #{d} {short(view.records[d].digest, 8)}
                </button>
              ))}
            </p>
          )}
        </div>
        <div>
          <h4>Layer stack {record.stack.length > 0 && <span className="muted">(base first · {formatBytes(record.resultSize)}, {formatBytes(record.sharedBytes)} shared with other results)</span>}</h4>
          {record.droppedResult && <p className="error-text">{record.droppedResult}</p>}
          {record.stack.length === 0 ? (
            <p className="muted">No result.</p>
          ) : (
            <ol className="stack">
              {record.stack.map((l, i) => {
                const layer = view.layers[l];
                return (
                  <li key={i}>
                    <span className="muted">entry {l}</span> <code title={layer.blob}>{short(layer.blob)}</code> {formatBytes(layer.size)}{' '}
                    <span className={`badge ${layer.present ? 'ok' : 'missing'}`}>{layer.present ? 'present' : 'missing'}</span>
                  </li>
                );
              })}
            </ol>
          )}
        </div>
      </div>
    </div>
  );
}

export function Records({ view }: { view: CacheView }) {
  const selection = useCaches((s) => s.selection);
  const selected = selection?.kind === 'record' ? view.records[selection.index] : null;
  return (
    <div className="view-split">
      <div className="view-fill">
        <VirtualTable
          data={view.records}
          columns={columns}
          rowTestId="record-row"
          rowKey={(r) => r.index}
          selected={selected?.index ?? null}
          onSelect={(r) => select(r.index)}
          template="48px 210px 90px 64px 110px 110px 96px"
          empty="This cache has no records."
        />
      </div>
      <div className="split-bottom">{selected ? <RecordDetail view={view} record={selected} /> : <p className="muted pad">Select a record to see its inputs, dependents and layer stack.</p>}</div>
    </div>
  );
}
