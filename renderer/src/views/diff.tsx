/** Diff: pick two caches (or two generations of one folder), see what changed, what it cost, and the first input that diverged. */
import { useEffect, useMemo, useRef } from 'react';
import type { ColumnDef } from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { CacheView } from '../../../shared/cache/view-types';
import type { BlobDiffRow, CacheDiff, Divergence, FormDiff } from '../../../shared/diff/types';
import { HistoryNameLine } from '../components/attach-image';
import { Bytes } from '../components/bytes';
import { Digest } from '../components/digest';
import { RecordInputs } from '../components/record-inputs';
import { VirtualTable } from '../components/virtual-table';
import { exactBytes, formatBytes, percent, plural, short, shortSource } from '../format';
import { useCaches } from '../stores/caches-store';
import type { OpenCache } from '../stores/caches-store';
import { diffStore, useDiff } from '../stores/diff-store';
import type { BlobCategory } from '../stores/diff-store';
import { RecordGraph as RecordGraphPicture } from './record-graph';
import { namedExplanation } from '../../../shared/diff/explain';
import { recordName } from '../../../shared/graph/history-names';

/** A divergence's words with the records' names from attached images (B's, and A's for A's record). */
function explain(d: Divergence, a: CacheView, b: CacheView): string {
  return namedExplanation(d, (i) => recordName(b.names, i), (i) => recordName(a.names, i));
}

/** Where the names in a divergence's words come from (an image's history entry), one line each, for its tooltip. */
function nameSources(d: Divergence, a: CacheView, b: CacheView): string[] {
  const nb = b.names?.records[d.record];
  const na = d.recordA !== null ? a.names?.records[d.recordA] : null;
  return [nb ? `B's record #${d.record} is named ${nb.from}` : '', na ? `A's record #${d.recordA} is named ${na.from}` : ''].filter(Boolean);
}

/** ` (COPY a.txt /a.txt)` after a record number, when an image names it. */
function nameSuffix(view: CacheView, record: number): string {
  const nm = recordName(view.names, record);
  return nm ? ` (${nm})` : '';
}
import { DivergenceFiles } from './divergence-files';

/** Digest first: two generations of one folder differ only there. */
function optionLabel(c: OpenCache): string {
  const where = c.view.layout ? (c.view.layout.tag ? `:${c.view.layout.tag}` : 'by digest') : c.view.variant;
  return `${short(c.view.manifest?.digest ?? c.view.config.digest)} · ${where} · ${shortSource(c.view.layout?.dir ?? c.view.source)}`;
}

function CachePicker({ side, value, caches }: { side: 'a' | 'b'; value: string | null; caches: OpenCache[] }) {
  return (
    <label className="picker">
      <span className={`side-tag side-${side}`}>{side === 'a' ? 'A · before' : 'B · after'}</span>
      <select
        data-testid={`diff-${side}`}
        value={value ?? ''}
        onChange={(e) => (side === 'a' ? diffStore.getState().setA(e.target.value || null) : diffStore.getState().setB(e.target.value || null))}
      >
        <option value="">choose an opened cache…</option>
        {caches.map((c) => (
          <option key={c.cacheId} value={c.cacheId} title={c.view.source}>
            {optionLabel(c)}
          </option>
        ))}
      </select>
    </label>
  );
}

function GenerationPicker() {
  const g = useDiff((s) => s.generations);
  const activeDir = useCaches((s) => s.caches.find((c) => c.cacheId === s.activeId)?.view.layout?.dir ?? '');
  useEffect(() => {
    if (!diffStore.getState().generations.dir && activeDir) diffStore.getState().setGenerationsDir(activeDir);
  }, [activeDir]);
  return (
    <details className="card" data-testid="generation-picker">
      <summary>Or compare two generations of one cache folder (the tagged manifest and older, orphaned ones)</summary>
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          void diffStore.getState().listGenerations();
        }}
      >
        <input className="filter" value={g.dir} spellCheck={false} placeholder="/path/to/cache-dir" aria-label="Cache folder" onChange={(e) => diffStore.getState().setGenerationsDir(e.target.value)} data-testid="generations-dir" />
        <button type="submit" disabled={!g.dir.trim() || g.loading} data-testid="generations-list">
          {g.loading ? 'Listing…' : 'List generations'}
        </button>
      </form>
      {g.error && <p className="error-text">{g.error}</p>}
      {g.list && g.list.length === 0 && <p className="muted">No manifests in this folder.</p>}
      {g.list && g.list.length > 0 && (
        <>
          {/* The action sits above the list: a folder with dozens of generations would push it below the fold. */}
          <div className="actions left">
            <button type="button" className="primary" disabled={!g.pickA || !g.pickB || g.pickA === g.pickB} onClick={() => void diffStore.getState().diffGenerations()} data-testid="generations-diff">
              Open both and compare
            </button>
            <span className="muted small">
              {plural(g.list.length, 'generation')}; pick A (before) and B (after).
            </span>
          </div>
          <div className="gen-table-wrap">
            <table className="plain">
              <thead>
                <tr>
                  <th>A</th>
                  <th>B</th>
                  <th>Manifest</th>
                  <th>Tags</th>
                  <th>Newest layer created</th>
                  <th>Layers</th>
                  <th title="The manifest, its cache config and its layer blobs">Size</th>
                </tr>
              </thead>
              <tbody>
                {g.list.map((gen) => (
                  <tr key={gen.digest} data-testid="generation-row" className={gen.orphan ? 'orphan' : ''}>
                    <td>
                      <input type="radio" name="gen-a" aria-label={`A: ${gen.digest}`} checked={g.pickA === gen.source} onChange={() => diffStore.getState().pickGeneration('a', gen.source)} />
                    </td>
                    <td>
                      <input type="radio" name="gen-b" aria-label={`B: ${gen.digest}`} checked={g.pickB === gen.source} onChange={() => diffStore.getState().pickGeneration('b', gen.source)} />
                    </td>
                    <td>
                      <code title={gen.digest}>{short(gen.digest)}</code>
                    </td>
                    <td>{gen.orphan ? <span className="badge warn">orphaned</span> : gen.tags.map((t) => <span key={t} className="badge">{t}</span>)}</td>
                    <td>
                      <code className="small">{gen.createdAt ?? '–'}</code>
                    </td>
                    <td>{gen.layerCount}</td>
                    <td data-testid="generation-size" data-value={gen.totalBytes} title={`${gen.totalBytes} bytes: manifest ${gen.size} bytes, cache config and ${plural(gen.layerCount, 'layer descriptor')}`}>
                      {formatBytes(gen.totalBytes)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </details>
  );
}

function SideCard({ side, cache }: { side: 'a' | 'b'; cache: OpenCache }) {
  const v = cache.view;
  return (
    <div className={`side-card side-${side}`}>
      <div className="side-card-title">
        <span className={`side-tag side-${side}`}>{side === 'a' ? 'A · before' : 'B · after'}</span>
        <code title={v.source} className="ellipsis">
          {shortSource(v.source)}
        </code>
      </div>
      <dl className="kv tight">
        <dt>Manifest</dt>
        <dd>
          <Digest value={v.manifest?.digest ?? v.config.digest} copy={false} />
        </dd>
        <dt>Layer entries</dt>
        <dd>{v.summary.layerEntries}</dd>
        <dt>Unique blobs</dt>
        <dd>{v.summary.uniqueBlobs}</dd>
        <dt>Records</dt>
        <dd>
          {v.summary.records} ({v.summary.recordsWithResults} with results)
        </dd>
        <dt>Total bytes</dt>
        <dd title={exactBytes(v.summary.totalBytes)}>{formatBytes(v.summary.totalBytes)}</dd>
      </dl>
    </div>
  );
}

function Stat({ value, label, className = '', title }: { value: string | number; label: string; className?: string; title?: string }) {
  return (
    <div className={`count ${className}`} title={title}>
      <div className="count-value">{value}</div>
      <div className="count-label">{label}</div>
    </div>
  );
}

/** The verdict line: identical, a form change only, or divergences that explain the misses. */
function verdict(diff: CacheDiff): string {
  if (diff.identical) return 'The caches are identical.';
  const form = diff.form.changed ? ' Their form changed too (see Form).' : '';
  if (diff.divergences.length === 0) return diff.form.changed ? 'The caches differ in form: the same build, packaged another way.' : 'The caches differ, though every final result of B has a match in A.';
  return `The caches differ: ${plural(diff.divergences.length, 'divergence')} explain${diff.divergences.length === 1 ? 's' : ''} why B missed the cache.${form}`;
}

/** How each side is packaged (image manifest or index, OCI or Docker media types), and what changed. */
function FormChange({ form }: { form: FormDiff }) {
  const side = (f: FormDiff['a']) => `${f.variant}${f.mediaTypes ? `, ${f.mediaTypes === 'oci' ? 'OCI' : f.mediaTypes === 'docker' ? 'Docker' : 'mixed'} media types` : ''}`;
  return (
    <div className={`notice${form.changed ? ' warn' : ''}`} data-testid="diff-form" data-changed={form.changed}>
      <p>
        <strong>Form</strong>: A: {side(form.a)} · B: {side(form.b)}
        {form.changed ? '. A form change alone makes two caches different (as diffoci reports it):' : ': unchanged.'}
      </p>
      {form.changed && (
        <ul>
          {form.changes.map((c, i) => (
            <li key={i} data-testid="diff-form-change">
              {c}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Summary({ diff, a, b }: { diff: CacheDiff; a: OpenCache; b: OpenCache }) {
  const s = diff.summary;
  return (
    <section className="card" data-testid="diff-summary">
      <div className={`verdict ${diff.identical ? 'ok-text' : 'warn-text'}`} data-testid="diff-verdict">
        {verdict(diff)}
      </div>
      <FormChange form={diff.form} />
      <div className="sides">
        <SideCard side="a" cache={a} />
        <SideCard side="b" cache={b} />
      </div>
      <h4>Blobs</h4>
      <div className="counts">
        <Stat className="cat-a" value={s.blobsOnlyA} label={`only in A · ${formatBytes(s.bytesOnlyA)}`} title={exactBytes(s.bytesOnlyA)} />
        <Stat className="cat-both" value={s.blobsBoth} label={`in both · ${formatBytes(s.bytesBoth)}`} title={exactBytes(s.bytesBoth)} />
        <Stat className="cat-b" value={s.blobsOnlyB} label={`only in B · ${formatBytes(s.bytesOnlyB)}`} title={exactBytes(s.bytesOnlyB)} />
        <Stat className="cat-recompressed" value={s.recompressed} label={`recompressed, not rebuilt · ${formatBytes(s.recompressedBytesB)} in B`} />
        <Stat value={percent(s.reusableShare)} label={`of B's result bytes A could serve (${formatBytes(s.reusableBytes)} of ${formatBytes(s.resultBytesB)})`} />
      </div>
      <h4>Records and chains</h4>
      <div className="counts">
        <Stat value={s.recordsMatched} label="records of B matched in A" />
        <Stat className={s.recordsNew ? 'cat-b' : ''} value={s.recordsNew} label="new records in B" />
        <Stat className={s.recordsGone ? 'cat-a' : ''} value={s.recordsGone} label="records gone from A" />
        <Stat value={s.recordsResultChanged} label="matched, result changed" />
        <Stat value={s.recordsLinksChanged} label="matched, links changed" />
        <Stat value={`${s.chainsBoth} / ${s.chainsOnlyA} / ${s.chainsOnlyB}`} label="layer chains both / only A / only B" />
      </div>
    </section>
  );
}

function DivergenceDetail({ d, a, b }: { d: Divergence; a: CacheView; b: CacheView }) {
  const recA = d.recordA !== null ? a.records[d.recordA] : undefined;
  const recB = b.records[d.record];
  return (
    <div className="sides divergence-detail" data-testid="divergence-detail">
      <div className="side-card side-a">
        <div className="side-card-title">
          <span className="side-tag side-a">A</span> {recA ? <>record #{recA.index}{nameSuffix(a, recA.index)} <Digest value={recA.digest} copy={false} /></> : <span className="muted">no comparable record</span>}
        </div>
        {recA && <HistoryNameLine name={a.names?.records[recA.index]} />}
        {recA ? <RecordInputs view={a} record={recA} highlightSlot={d.slot >= 0 ? d.slot : null} /> : <p className="muted">A had no record with this key: the whole step is new.</p>}
        {d.digestA && (
          <p className="small">
            A had <code title={d.digestA}>{short(d.digestA)}</code>
            {d.selectorA ? (
              <>
                {' '}
                via selector <code title={d.selectorA}>{short(d.selectorA, 8)}</code>
              </>
            ) : null}{' '}
            at input {d.slot}.
          </p>
        )}
      </div>
      <div className="side-card side-b">
        <div className="side-card-title">
          <span className="side-tag side-b">B</span> record #{d.record}{nameSuffix(b, d.record)} {recB && <Digest value={recB.digest} copy={false} />}
        </div>
        <HistoryNameLine name={b.names?.records[d.record]} />
        {recB ? <RecordInputs view={b} record={recB} highlightSlot={d.slot >= 0 ? d.slot : null} /> : <p className="muted">Record #{d.record} is not in B's view.</p>}
        <p className="small">
          B has <code title={d.digestB}>{short(d.digestB)}</code>
          {d.selector ? (
            <>
              {' '}
              via selector <code title={d.selector}>{short(d.selector, 8)}</code>
            </>
          ) : null}
          {d.slot >= 0 ? ` at input ${d.slot}` : ''}; the final result it breaks is record #{d.leaf}.
        </p>
      </div>
    </div>
  );
}

const GRAPH_ROW = 28;

/** B's records as a list: matched ones dimmed, rebuilt ones marked, divergences highlighted with their explanation. */
function RecordGraph({ diff, a, b }: { diff: CacheDiff; a: CacheView; b: CacheView }) {
  const selected = useDiff((s) => s.selected);
  const matched = useMemo(() => new Set(diff.matched.map((m) => m.b)), [diff]);
  const rebuilt = useMemo(() => new Set(diff.divergences.flatMap((d) => d.rebuiltRecords ?? [])), [diff]);
  const divergenceAt = useMemo(() => {
    const m = new Map<number, number>();
    diff.divergences.forEach((d, i) => {
      if (!m.has(d.record)) m.set(d.record, i);
    });
    return m;
  }, [diff]);
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: b.records.length, getScrollElement: () => scrollRef.current, estimateSize: () => GRAPH_ROW, overscan: 10 });
  const focus = selected !== null ? diff.divergences[selected]?.record : undefined;
  useEffect(() => {
    if (focus !== undefined) virtualizer.scrollToIndex(focus, { align: 'center' });
    // virtualizer is stable for the life of the component
  }, [focus, virtualizer]);
  return (
    <section className="card graph-card">
      <h3>
        B's records as a list <span className="muted small">the same marks in dependency order: matched records dimmed · rebuilt ones marked · divergences highlighted</span>
      </h3>
      <div className="legend small">
        <span className="lg lg-matched">matched in A</span>
        <span className="lg lg-new">new in B</span>
        <span className="lg lg-rebuilt">rebuilt</span>
        <span className="lg lg-diverged">divergence</span>
      </div>
      <div className="graph-scroll" ref={scrollRef} role="list" aria-label="Records of B" tabIndex={0}>
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualizer.getVirtualItems().map((item) => {
            const r = b.records[item.index];
            const di = divergenceAt.get(r.index);
            const cls = di !== undefined ? 'diverged' : matched.has(r.index) ? 'matched' : rebuilt.has(r.index) ? 'rebuilt' : 'new';
            return (
              <div
                key={r.index}
                role="listitem"
                className={`graph-row ${cls}${di !== undefined && di === selected ? ' selected' : ''}`}
                style={{ transform: `translateY(${item.start}px)`, height: GRAPH_ROW }}
                onClick={() => di !== undefined && diffStore.getState().selectDivergence(di)}
                data-testid="graph-record"
                data-index={r.index}
              >
                <code className="idx">#{r.index}</code>
                <code title={r.digest}>{short(r.digest, 10)}</code>
                <span className="links small muted">{r.inputs.length === 0 ? 'source' : r.inputs.map((slot) => `[${slot.map((l) => `#${l.link}`).join(' | ')}]`).join(' ')}</span>
                {b.names?.records[r.index] && <span className="small record-name">{recordName(b.names, r.index)}</span>}
                {r.isLeaf && <span className="badge ok">leaf</span>}
                {di !== undefined && (
                  <span className="why small" title={explain(diff.divergences[di], a, b)}>
                    ← {explain(diff.divergences[di], a, b)}
                  </span>
                )}
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}

const CATEGORY_LABEL: Record<Exclude<BlobCategory, 'all'>, string> = { a: 'only in A', b: 'only in B', both: 'in both', recompressed: 'recompressed' };

function categoryOf(r: BlobDiffRow): Exclude<BlobCategory, 'all'> {
  return r.recompressedFrom ? 'recompressed' : r.side;
}

const blobColumns: ColumnDef<BlobDiffRow & { i: number }, unknown>[] = [
  { accessorKey: 'digest', header: 'Blob', cell: (c) => <Digest value={c.row.original.digest} /> },
  {
    id: 'category',
    accessorFn: (r) => categoryOf(r),
    header: 'Where',
    cell: (c) => {
      const r = c.row.original;
      const cat = categoryOf(r);
      return (
        <span>
          <span className={`badge cat-${cat}`}>{CATEGORY_LABEL[cat]}</span>
          {r.recompressedFrom && (
            <span className="small muted" title={r.recompressedFrom}>
              {' '}
              {r.side === 'a' ? 'B has it as' : 'was'} {short(r.recompressedFrom, 8)}
            </span>
          )}
        </span>
      );
    },
  },
  { accessorKey: 'size', header: 'Size', sortingFn: 'basic', cell: (c) => <Bytes n={c.row.original.size} /> },
  { id: 'diffID', accessorFn: (r) => r.diffID ?? '', header: 'DiffID', cell: (c) => <Digest value={c.row.original.diffID} copy={false} /> },
];

function BlobTable({ diff }: { diff: CacheDiff }) {
  const category = useDiff((s) => s.category);
  const rows = useMemo(() => diff.blobs.map((r, i) => ({ ...r, i })).filter((r) => category === 'all' || categoryOf(r) === category), [diff, category]);
  const counts = useMemo(() => {
    const c: Record<BlobCategory, number> = { all: diff.blobs.length, a: 0, b: 0, both: 0, recompressed: 0 };
    for (const r of diff.blobs) c[categoryOf(r)]++;
    return c;
  }, [diff]);
  return (
    <section className="card blob-card">
      <h3>Layers</h3>
      <div className="segmented" role="tablist" aria-label="Filter blobs by category">
        {(['all', 'a', 'both', 'b', 'recompressed'] as const).map((c) => (
          <button type="button" role="tab" aria-selected={category === c} key={c} className={`${category === c ? 'active' : ''} cat-btn-${c}`} onClick={() => diffStore.getState().setCategory(c)} data-testid={`diff-filter-${c}`}>
            {c === 'all' ? 'all' : CATEGORY_LABEL[c]} <span className="muted">{counts[c]}</span>
          </button>
        ))}
      </div>
      <div className="blob-table">
        <VirtualTable
          label="Blobs of A and B"
          data={rows}
          columns={blobColumns}
          rowTestId="diff-blob-row"
          rowKey={(r) => r.i}
          rowClass={(r) => `cat-row-${categoryOf(r)}`}
          template="186px minmax(140px,1fr) 84px 150px"
          minWidth={560}
          empty="No blob in this category."
        />
      </div>
    </section>
  );
}

export function DiffView() {
  const caches = useCaches((s) => s.caches);
  const { a, b, result, ran, loading, error, selected } = useDiff((s) => s);
  const cacheA = caches.find((c) => c.cacheId === ran?.a) ?? null;
  const cacheB = caches.find((c) => c.cacheId === ran?.b) ?? null;
  const current = result && selected !== null ? (result.divergences[selected] ?? null) : null;
  const stale = Boolean(result && ran && (ran.a !== a || ran.b !== b));
  // A new result is scrolled to: it renders below the pickers, often below the fold.
  const resultRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (result) resultRef.current?.scrollIntoView({ block: 'start' });
  }, [result]);
  return (
    <div className="scroll pad diff">
      <div className="toolbar diff-pickers">
        <CachePicker side="a" value={a} caches={caches} />
        <button type="button" className="icon" onClick={() => diffStore.getState().swap()} title="Swap A and B" aria-label="Swap A and B">
          ⇄
        </button>
        <CachePicker side="b" value={b} caches={caches} />
        <button type="button" className="primary" data-testid="diff-run" disabled={!a || !b || loading} onClick={() => void diffStore.getState().run()}>
          {loading ? 'Comparing…' : 'Compare'}
        </button>
        {a && b && a === b && <span className="muted small">A and B are the same cache.</span>}
        {stale && <span className="warn-text small">The result below is for an earlier pick: press Compare.</span>}
      </div>
      {caches.length < 2 && !result && <p className="muted">Open two caches (two folders, or two tags or digests of one folder with <code>DIR:tag</code> / <code>DIR@sha256:…</code>), or list a folder's generations below.</p>}
      <GenerationPicker />
      {error && <p className="notice bad">{error}</p>}
      {result && cacheA && cacheB && (
        <div ref={resultRef} className="diff-result" data-testid="diff-result">
          <Summary diff={result} a={cacheA} b={cacheB} />
          <section className="card">
            <h3>Why B missed the cache: the first divergences</h3>
            {result.divergences.length === 0 ? (
              <p className="muted">Every final result of B has a match in A.</p>
            ) : (
              <ol className="divergences">
                {result.divergences.map((d, i) => (
                  <li key={i}>
                    <button type="button" data-testid="divergence" className={`divergence${selected === i ? ' selected' : ''}`} aria-pressed={selected === i} onClick={() => diffStore.getState().selectDivergence(i)}>
                      <span className={`badge kind-${d.kind}`}>{d.kind}</span>
                      <span className="explanation" title={[`${plural(d.rebuiltLayers, 'layer')}, ${exactBytes(d.rebuiltBytes)} rebuilt`, ...nameSources(d, cacheA.view, cacheB.view)].join('\n')} data-testid="divergence-explanation">
                        {explain(d, cacheA.view, cacheB.view)}
                      </span>
                    </button>
                  </li>
                ))}
              </ol>
            )}
            {current && <DivergenceDetail d={current} a={cacheA.view} b={cacheB.view} />}
            {current && <DivergenceFiles key={`${cacheA.cacheId}:${cacheB.cacheId}:${current.leaf}`} a={cacheA.cacheId} b={cacheB.cacheId} leaf={current.leaf} />}
          </section>
          <section className="card diff-graph-card" data-testid="diff-graph">
            <h3>
              B's record graph <span className="muted small">coloured by what A holds; opens on the first divergence</span>
            </h3>
            <RecordGraphPicture key={`${cacheA.cacheId}:${cacheB.cacheId}`} view={cacheB.view} cacheId={cacheB.cacheId} diff={result} viewA={cacheA.view} label="B's record graph" />
          </section>
          <div className="diff-columns">
            <RecordGraph diff={result} a={cacheA.view} b={cacheB.view} />
            <BlobTable diff={result} />
          </div>
        </div>
      )}
    </div>
  );
}
