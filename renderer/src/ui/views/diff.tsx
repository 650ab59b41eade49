/** Diff: pick two caches (or two generations of a folder), see what changed, what it cost, and the first input that diverged. */
import { useMemo, useState } from 'react';
import type { Generation } from '../../../../shared/contract/index';
import type { BlobDiffRow, CacheDiff } from '../../../../shared/diff/types';
import { api, errorText } from '../bridge';
import { formatBytes, short } from '../format';
import { cachesStore, useCaches } from '../stores/caches-store';
import type { OpenCache } from '../stores/caches-store';
import { diffStore, useDiff } from '../stores/diff-store';
import { RecordInputs } from './record-inputs';

function label(c: OpenCache): string {
  return `${c.view.source} · ${short(c.view.manifest?.digest ?? c.view.config.digest)}`;
}

function GenerationPicker({ defaultDir }: { defaultDir: string }) {
  const [dir, setDir] = useState(defaultDir);
  const [gens, setGens] = useState<Generation[] | null>(null);
  const [pick, setPick] = useState<{ a: string | null; b: string | null }>({ a: null, b: null });
  const [error, setError] = useState<string | null>(null);
  const list = async () => {
    setError(null);
    try {
      const { generations } = await api.request('listGenerations', { dir });
      setGens(generations);
      setPick({ a: generations.find((g) => g.orphan)?.source ?? null, b: generations.find((g) => !g.orphan)?.source ?? null });
    } catch (err) {
      setError(errorText(err));
    }
  };
  const openBoth = async () => {
    if (!pick.a || !pick.b) return;
    const a = await cachesStore.getState().open(pick.a);
    const b = await cachesStore.getState().open(pick.b);
    if (a && b) {
      diffStore.getState().setSides(a.cacheId, b.cacheId);
      await diffStore.getState().run();
    }
  };
  return (
    <details className="card" data-testid="generation-picker">
      <summary>Or compare two generations of one folder (tagged and orphaned manifests)</summary>
      <div className="toolbar">
        <input className="filter" value={dir} placeholder="/path/to/cache-dir" onChange={(e) => setDir(e.target.value)} data-testid="generations-dir" />
        <button type="button" onClick={() => void list()} data-testid="generations-list">List generations</button>
      </div>
      {error && <p className="error-text">{error}</p>}
      {gens && (
        <table className="plain">
          <thead>
            <tr>
              <th>A</th>
              <th>B</th>
              <th>Manifest</th>
              <th>Tags</th>
              <th>Newest layer</th>
              <th>Layers</th>
            </tr>
          </thead>
          <tbody>
            {gens.map((g) => (
              <tr key={g.digest} data-testid="generation-row">
                <td><input type="radio" name="gen-a" checked={pick.a === g.source} onChange={() => setPick((p) => ({ ...p, a: g.source }))} /></td>
                <td><input type="radio" name="gen-b" checked={pick.b === g.source} onChange={() => setPick((p) => ({ ...p, b: g.source }))} /></td>
                <td><code title={g.digest}>{short(g.digest)}</code></td>
                <td>{g.orphan ? <span className="badge warn">orphaned</span> : g.tags.join(', ')}</td>
                <td className="small">{g.createdAt ?? '-'}</td>
                <td>{g.layerCount}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {gens && (
        <button type="button" className="primary" disabled={!pick.a || !pick.b || pick.a === pick.b} onClick={() => void openBoth()} data-testid="generations-diff">
          Open both and diff
        </button>
      )}
    </details>
  );
}

const SIDE_LABEL: Record<string, string> = { a: 'only in A', b: 'only in B', both: 'in both', recompressed: 'recompressed' };

function sideOf(r: BlobDiffRow): string {
  return r.recompressedFrom ? 'recompressed' : r.side;
}

function Summary({ diff }: { diff: CacheDiff }) {
  const s = diff.summary;
  return (
    <div className="diff-summary" data-testid="diff-summary">
      <div className={`verdict ${diff.identical ? 'ok-text' : 'warn-text'}`}>{diff.identical ? 'The caches are identical.' : 'The caches differ.'}</div>
      <div className="counts">
        <div className="count a"><div className="count-value">{s.blobsOnlyA}</div><div className="count-label">blobs only in A · {formatBytes(s.bytesOnlyA)}</div></div>
        <div className="count both"><div className="count-value">{s.blobsBoth}</div><div className="count-label">blobs in both · {formatBytes(s.bytesBoth)}</div></div>
        <div className="count b"><div className="count-value">{s.blobsOnlyB}</div><div className="count-label">blobs only in B · {formatBytes(s.bytesOnlyB)}</div></div>
        <div className="count"><div className="count-value">{s.recompressed}</div><div className="count-label">recompressed, not rebuilt</div></div>
        <div className="count"><div className="count-value">{s.recordsMatched}</div><div className="count-label">records reused</div></div>
        <div className="count"><div className="count-value">{s.recordsNew}</div><div className="count-label">new records (B)</div></div>
        <div className="count"><div className="count-value">{s.recordsGone}</div><div className="count-label">gone records (A)</div></div>
        <div className="count"><div className="count-value">{s.recordsResultChanged}</div><div className="count-label">results changed</div></div>
        <div className="count wide"><div className="count-value">{(s.reusableShare * 100).toFixed(1)}%</div><div className="count-label">of B's result bytes A could have served</div></div>
      </div>
    </div>
  );
}

export function DiffView() {
  const caches = useCaches((s) => s.caches);
  const active = useCaches((s) => s.caches.find((c) => c.cacheId === s.activeId) ?? null);
  const { a, b, result, ran, loading, error, selected } = useDiff((s) => s);
  const [sideFilter, setSideFilter] = useState<string>('all');
  const cacheA = caches.find((c) => c.cacheId === ran?.a) ?? null;
  const cacheB = caches.find((c) => c.cacheId === ran?.b) ?? null;
  const blobs = useMemo(() => (result ? result.blobs.filter((r) => sideFilter === 'all' || sideOf(r) === sideFilter) : []), [result, sideFilter]);
  const matchedB = useMemo(() => new Set(result?.matched.map((m) => m.b) ?? []), [result]);
  const divergenceAt = useMemo(() => new Map(result?.divergences.map((d, i) => [d.record, i]) ?? []), [result]);
  const current = result && selected !== null ? result.divergences[selected] : null;
  return (
    <div className="scroll pad diff">
      <div className="toolbar">
        <label>
          A (before){' '}
          <select data-testid="diff-a" value={a ?? ''} onChange={(e) => diffStore.getState().setSides(e.target.value || null, b)}>
            <option value="">choose…</option>
            {caches.map((c) => (
              <option key={c.cacheId} value={c.cacheId}>{label(c)}</option>
            ))}
          </select>
        </label>
        <label>
          B (after){' '}
          <select data-testid="diff-b" value={b ?? ''} onChange={(e) => diffStore.getState().setSides(a, e.target.value || null)}>
            <option value="">choose…</option>
            {caches.map((c) => (
              <option key={c.cacheId} value={c.cacheId}>{label(c)}</option>
            ))}
          </select>
        </label>
        <button type="button" className="primary" data-testid="diff-run" disabled={!a || !b || loading} onClick={() => void diffStore.getState().run()}>
          {loading ? 'Comparing…' : 'Compare'}
        </button>
      </div>
      <GenerationPicker defaultDir={active?.view.layout?.dir ?? ''} />
      {error && <p className="error-text">{error}</p>}
      {result && cacheA && cacheB && (
        <>
          <Summary diff={result} />
          <section className="card">
            <h3>Why B missed the cache: first divergences</h3>
            {result.divergences.length === 0 ? (
              <p className="muted">Every final result of B has a match in A.</p>
            ) : (
              <ul className="divergences">
                {result.divergences.map((d, i) => (
                  <li key={i} data-testid="divergence" className={`divergence ${selected === i ? 'selected' : ''}`} onClick={() => diffStore.getState().selectDivergence(i)}>
                    <span className="badge warn">{d.kind}</span> {d.explanation}
                  </li>
                ))}
              </ul>
            )}
            {current && (
              <div className="cols side-by-side" data-testid="divergence-detail">
                <div>
                  <h4>A: record {current.recordA !== null ? `#${current.recordA}` : '(none comparable)'}</h4>
                  {current.recordA !== null && cacheA.view.records[current.recordA] ? <RecordInputs view={cacheA.view} record={cacheA.view.records[current.recordA]} /> : <p className="muted">A had no record with this key.</p>}
                </div>
                <div>
                  <h4>B: record #{current.record}</h4>
                  {cacheB.view.records[current.record] && <RecordInputs view={cacheB.view} record={cacheB.view.records[current.record]} />}
                </div>
              </div>
            )}
          </section>
          <section className="card">
            <h3>B's record graph <span className="muted small">(matched records dimmed, divergences highlighted)</span></h3>
            <ul className="record-graph">
              {cacheB.view.records.map((r) => {
                const di = divergenceAt.get(r.index);
                return (
                  <li key={r.index} className={`${matchedB.has(r.index) ? 'dim' : 'new'} ${di !== undefined ? 'diverged' : ''}`} onClick={() => di !== undefined && diffStore.getState().selectDivergence(di)}>
                    <code>#{r.index}</code> <code title={r.digest}>{short(r.digest)}</code>{' '}
                    <span className="small muted">{r.inputs.map((slot) => `[${slot.map((l) => `#${l.link}`).join(' | ')}]`).join(' ')}</span>
                    {di !== undefined && <span className="small warn-text"> ← {result.divergences[di].explanation}</span>}
                  </li>
                );
              })}
            </ul>
          </section>
          <section className="card">
            <h3>Layers</h3>
            <div className="toolbar">
              {['all', 'a', 'b', 'both', 'recompressed'].map((s) => (
                <button type="button" key={s} className={sideFilter === s ? 'active' : ''} onClick={() => setSideFilter(s)} data-testid={`diff-filter-${s}`}>
                  {s === 'all' ? 'all' : SIDE_LABEL[s]}
                </button>
              ))}
            </div>
            <table className="plain">
              <thead>
                <tr><th>Blob</th><th>Where</th><th>Size</th><th>DiffID</th></tr>
              </thead>
              <tbody>
                {blobs.map((r) => (
                  <tr key={`${r.side}-${r.digest}`} className={`side-${sideOf(r)}`} data-testid="diff-blob-row">
                    <td><code title={r.digest}>{short(r.digest)}</code></td>
                    <td>{SIDE_LABEL[sideOf(r)]}{r.recompressedFrom && <span className="small muted"> (from {short(r.recompressedFrom)})</span>}</td>
                    <td>{formatBytes(r.size)}</td>
                    <td><code title={r.diffID ?? ''}>{short(r.diffID)}</code></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </>
      )}
    </div>
  );
}
