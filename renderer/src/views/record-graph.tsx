/**
 * The record graph: records as nodes, input links as edges (one port per input slot, alternatives
 * of a slot grouped), sources on the left and final results on the right. Laid out in a worker.
 * Up to a few thousand nodes it is an SVG picture; past that, a canvas overview of everything and
 * an SVG focus subgraph (ancestors and dependents of one record) on demand.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { KeyboardEvent } from 'react';
import type { CacheView } from '../../../shared/cache/view-types';
import type { CacheDiff } from '../../../shared/diff/types';
import { diffColours, nodeDiffMarks } from '../../../shared/graph/diff-colours';
import { focusSubgraph } from '../../../shared/graph/focus';
import { buildGraphModel, expandRun } from '../../../shared/graph/graph-model';
import { displayName } from '../../../shared/graph/history-names';
import type { GraphModel } from '../../../shared/graph/graph-model';
import { layoutInput } from '../../../shared/graph/layered-layout';
import type { LayoutResult } from '../../../shared/graph/layered-layout';
import { digestMatches, plural, short } from '../format';
import { cachedLayout, layoutKey, requestLayout } from '../graph-layout-client';
import { select, useSelectedIndex } from '../stores/selection-store';
import { GraphOverview } from './record-graph-overview';
import { GraphSvg } from './record-graph-svg';
import { useViewport } from './record-graph-viewport';
import type { Transform } from './record-graph-viewport';

/** Past this many nodes the whole graph is an overview on canvas, and SVG shows a focus subgraph (SVG of 900 nodes took 1.3 s to draw). */
export const OVERVIEW_NODES = 800;
/** Room around the SVG picture for focus outlines and edge labels. */
const PAD = 24;
/** Zoom below which labels are too small to read (the zoom-far and zoom-mid classes: edge labels hidden), and the zoom a keyboard move goes to then. */
const READABLE_K = 0.7;
const NEAR_K = 0.8;
/** Margin kept between the picture and the pane's sides when a node is brought into view. */
const VIEW_MARGIN = 30;

export interface Laid {
  model: GraphModel;
  layout: LayoutResult;
  /** Per node: its neighbours for keyboard moves. */
  inputs: number[][];
  dependents: number[][];
  siblings: number[][];
  posInLayer: Int32Array;
}

function neighbours(model: GraphModel, layout: LayoutResult): Laid {
  const n = model.nodes.length;
  const inEdges = model.edges.map((e, i) => i);
  const inputs: number[][] = Array.from({ length: n }, () => []);
  const dependents: number[][] = Array.from({ length: n }, () => []);
  inEdges.sort((a, b) => model.edges[a].slot - model.edges[b].slot || model.edges[a].alt - model.edges[b].alt);
  for (const i of inEdges) {
    const e = model.edges[i];
    if (!inputs[e.to].includes(e.from)) inputs[e.to].push(e.from);
    if (!dependents[e.from].includes(e.to)) dependents[e.from].push(e.to);
  }
  for (const d of dependents) d.sort((a, b) => layout.y[a] - layout.y[b]);
  const siblings: number[][] = Array.from({ length: layout.layers }, () => []);
  for (let v = 0; v < n; v++) siblings[layout.layer[v]].push(v);
  const posInLayer = new Int32Array(n);
  for (const row of siblings) {
    row.sort((a, b) => layout.y[a] - layout.y[b]);
    row.forEach((v, i) => (posInLayer[v] = i));
  }
  return { model, layout, inputs, dependents, siblings, posInLayer };
}

/** Lays a model out in the worker (or takes the cached layout at once). */
function useLaidOut(model: GraphModel | null): { laid: Laid | null; error: string | null; ms: number | null } {
  const input = useMemo(() => (model ? layoutInput(model) : null), [model]);
  const key = useMemo(() => (input ? layoutKey(input) : ''), [input]);
  const [state, setState] = useState<{ key: string; laid: Laid | null; error: string | null; ms: number | null }>({ key: '', laid: null, error: null, ms: null });
  useEffect(() => {
    if (!model || !input) return;
    const hit = cachedLayout(key);
    if (hit) {
      setState({ key, laid: neighbours(model, hit), error: null, ms: 0 });
      return;
    }
    let live = true;
    const t0 = performance.now();
    requestLayout(input, key).then(
      (layout) => live && setState({ key, laid: neighbours(model, layout), error: null, ms: performance.now() - t0 }),
      (err: Error) => live && setState({ key, laid: null, error: err.message, ms: null }),
    );
    return () => {
      live = false;
    };
  }, [model, input, key]);
  return state.key === key && state.laid?.model === model ? state : { laid: null, error: state.key === key ? state.error : null, ms: null };
}

/** The record a search names: a digest prefix (with or without sha256:), `#index`, or part of a name from an image's history. */
export function findRecord(view: CacheView, query: string): number | null {
  const q = query.trim();
  if (!q) return null;
  const m = /^#(\d+)$/.exec(q);
  if (m) return Number(m[1]) < view.records.length ? Number(m[1]) : null;
  const hit = view.records.find((r) => digestMatches(r.digest, q));
  if (hit) return hit.index;
  const names = view.names?.records;
  if (!names) return null;
  const lower = q.toLowerCase();
  const byName = names.findIndex((nm) => nm !== null && displayName(nm.text).toLowerCase().includes(lower));
  return byName >= 0 ? byName : null;
}

export interface RecordGraphProps {
  view: CacheView;
  cacheId: string;
  /** The diff overlay: B's graph coloured by what A holds; opens focused on the first divergence. */
  diff?: CacheDiff;
  /** A's view, to name the records only A has. */
  viewA?: CacheView;
  /** A name for the picture (the graph's accessible label). */
  label?: string;
}

export function RecordGraph({ view, cacheId, diff, viewA, label = 'Record graph' }: RecordGraphProps) {
  const selected = useSelectedIndex(cacheId, 'record');
  const [collapse, setCollapse] = useState(true);
  // Divergences are never hidden inside a collapsed run.
  const [expanded, setExpanded] = useState<ReadonlySet<number>>(() => new Set(diff?.divergences.map((d) => d.record) ?? []));
  const firstDivergence = diff?.divergences[0]?.record ?? null;
  /** The record whose ancestors and dependents are in focus (others faded, or left out past the overview size). */
  const [focus, setFocus] = useState<number | null>(firstDivergence);
  /** The record the keyboard is on (one focusable node at a time). */
  const [kbRecord, setKbRecord] = useState<number | null>(firstDivergence);
  const [query, setQuery] = useState('');
  const [searchMiss, setSearchMiss] = useState(false);

  const full = useMemo(() => buildGraphModel(view, { collapse, expanded }), [view, collapse, expanded]);
  const big = full.nodes.length > OVERVIEW_NODES;
  const focusSet = useMemo(() => (focus !== null && focus < view.records.length ? focusSubgraph(view.records, focus) : null), [view, focus]);
  // Past the overview size the SVG shows only the focus subgraph, laid out on demand.
  const shown = useMemo(() => (big ? (focusSet ? buildGraphModel(view, { collapse, expanded, only: focusSet.records }) : null) : full), [big, full, focusSet, view, collapse, expanded]);
  const overview = useLaidOut(big ? full : null);
  const detail = useLaidOut(shown);

  const colours = useMemo(() => (diff ? diffColours(diff, view.records.length) : null), [diff, view]);
  const marks = useMemo(() => (colours && detail.laid ? nodeDiffMarks(detail.laid.model, colours) : null), [colours, detail.laid]);
  const overviewMarks = useMemo(() => (colours && overview.laid ? nodeDiffMarks(overview.laid.model, colours) : null), [colours, overview.laid]);

  const faded = useMemo(() => {
    if (!focusSet || !detail.laid || big) return null;
    const m = detail.laid.model;
    return m.nodes.map((n) => !n.records.some((r) => focusSet.records.has(r)));
  }, [focusSet, detail.laid, big]);

  const drawRef = useRef<HTMLDivElement>(null);
  const svgGroup = useRef<SVGGElement>(null);
  const laidRef = useRef<Laid | null>(null);
  /**
   * Panning moves the whole SVG as a composited layer (a CSS translate: no repaint); only a zoom
   * re-draws it, through the group's scale and the SVG's size.
   */
  const applySvg = (t: Transform) => {
    const g = svgGroup.current;
    const svg = g?.ownerSVGElement;
    const laid = laidRef.current;
    if (!g || !svg || !laid) return;
    svg.style.transform = `translate(${t.x - PAD}px, ${t.y - PAD}px)`;
    const key = `${t.k}:${laid.layout.width}:${laid.layout.height}`;
    if (g.getAttribute('data-k') === key) return;
    g.setAttribute('data-k', key);
    g.setAttribute('transform', `translate(${PAD} ${PAD}) scale(${t.k})`);
    svg.setAttribute('width', String(Math.ceil(laid.layout.width * t.k + 2 * PAD)));
    svg.setAttribute('height', String(Math.ceil(laid.layout.height * t.k + 2 * PAD)));
  };
  const overviewDraw = useRef<((t: Transform) => void) | null>(null);
  const [zoomClass, setZoomClass] = useState('zoom-near');
  const zoomClassRef = useRef(zoomClass);
  const vp = useViewport(drawRef, (t) => {
    applySvg(t);
    overviewDraw.current?.(t);
    const z = t.k < 0.35 ? 'zoom-far' : t.k < 0.7 ? 'zoom-mid' : 'zoom-near';
    if (z !== zoomClassRef.current) {
      zoomClassRef.current = z;
      setZoomClass(z);
    }
  });
  const active = big && !shown ? overview.laid : detail.laid;

  const nodeCenter = (laid: Laid, node: number) => {
    const o = laid.layout.options;
    return { x: laid.layout.x[node] + o.nodeWidth / 2, y: laid.layout.y[node] + o.nodeHeight / 2 };
  };
  /**
   * Centres a node, then pulls the picture in so it fills the pane: no empty band beside it while part
   * of it is out of sight (a source centred would leave half the pane blank), and centred when it fits.
   */
  const showNode = (laid: Laid, node: number, k?: number) => {
    const c = nodeCenter(laid, node);
    vp.centerOn(c.x, c.y, k);
    const el = drawRef.current;
    if (!el) return;
    const t = vp.get();
    const fill = (pos: number, size: number, pane: number) => (size + 2 * VIEW_MARGIN > pane ? Math.min(VIEW_MARGIN, Math.max(pane - size - VIEW_MARGIN, pos)) : (pane - size) / 2);
    vp.set({ k: t.k, x: fill(t.x, laid.layout.width * t.k, el.clientWidth), y: fill(t.y, laid.layout.height * t.k, el.clientHeight) });
  };
  // A new picture is fitted, or centred on the focused record.
  const fittedFor = useRef<Laid | null>(null);
  useLayoutEffect(() => {
    if (!active || fittedFor.current === active) return;
    const previous = fittedFor.current;
    fittedFor.current = active;
    const at = kbRecord !== null ? active.model.nodeOf[kbRecord] : -1;
    if (at >= 0 && (focus !== null || previous !== null)) showNode(active, at, Math.max(READABLE_K, Math.min(1, vp.get().k)));
    else vp.fit(active.layout.width, active.layout.height);
  });
  // The SVG group's transform is set directly; a fresh group (after a re-render) gets the current one.
  laidRef.current = detail.laid;
  useLayoutEffect(() => {
    svgGroup.current?.removeAttribute('data-k');
    applySvg(vp.get());
  });

  const domFocusPending = useRef(false);
  const kbNode = detail.laid && kbRecord !== null ? detail.laid.model.nodeOf[kbRecord] : -1;
  const tabNode = detail.laid ? (kbNode >= 0 ? kbNode : (detail.laid.model.roots[0] ?? 0)) : -1;
  useLayoutEffect(() => {
    if (!domFocusPending.current || !detail.laid || kbNode < 0) return;
    domFocusPending.current = false;
    drawRef.current?.querySelector<SVGElement>(`.g-hit[data-node="${kbNode}"]`)?.focus({ preventScroll: true });
  });

  const moveKb = (laid: Laid, node: number) => {
    const record = laid.model.nodes[node].head;
    domFocusPending.current = true;
    setKbRecord(record);
    const el = drawRef.current;
    const t = vp.get();
    const c = nodeCenter(laid, node);
    const sx = c.x * t.k + t.x;
    const sy = c.y * t.k + t.y;
    // Too far out to read the node the keys are on: zoom in to it; else keep it in view when near or past an edge.
    if (t.k < READABLE_K) showNode(laid, node, NEAR_K);
    else if (el && (sx < 80 || sy < 40 || sx > el.clientWidth - 80 || sy > el.clientHeight - 40)) showNode(laid, node);
    drawRef.current?.querySelector<SVGElement>(`.g-hit[data-node="${node}"]`)?.focus({ preventScroll: true });
  };

  const openNode = (laid: Laid, node: number) => {
    const record = laid.model.nodes[node].head;
    setKbRecord(record);
    select(cacheId, 'record', record);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const laid = detail.laid;
    if (!laid || e.altKey || e.ctrlKey || e.metaKey) return;
    const target = (e.target as Element).closest('[data-node]');
    if (!target) return;
    const node = Number(target.getAttribute('data-node'));
    const layerRow = laid.siblings[laid.layout.layer[node]];
    const pos = laid.posInLayer[node];
    let to = -1;
    if (e.key === 'ArrowLeft') to = laid.inputs[node][0] ?? -1;
    else if (e.key === 'ArrowRight') to = laid.dependents[node][0] ?? -1;
    else if (e.key === 'ArrowUp') to = pos > 0 ? layerRow[pos - 1] : -1;
    else if (e.key === 'ArrowDown') to = pos < layerRow.length - 1 ? layerRow[pos + 1] : -1;
    else if (e.key === 'Enter' || e.key === ' ') {
      openNode(laid, node);
      e.preventDefault();
      return;
    } else if (e.key === 'f') {
      setFocus((f) => (f === laid.model.nodes[node].head ? null : laid.model.nodes[node].head));
      e.preventDefault();
      return;
    } else return;
    e.preventDefault();
    if (to >= 0) moveKb(laid, to);
  };

  const runSearch = () => {
    const hit = findRecord(view, query);
    setSearchMiss(hit === null);
    if (hit === null) return;
    select(cacheId, 'record', hit);
    setKbRecord(hit);
    domFocusPending.current = true;
    if (big) setFocus(hit);
    else if (detail.laid) {
      const node = detail.laid.model.nodeOf[hit];
      if (node >= 0) showNode(detail.laid, node, Math.max(0.8, vp.get().k));
    }
  };

  const selectedNode = detail.laid && selected !== null ? detail.laid.model.nodeOf[selected] : -1;
  const selectedModelNode = selectedNode >= 0 ? detail.laid!.model.nodes[selectedNode] : null;
  const focusTarget = selected ?? kbRecord;
  const error = overview.error ?? detail.error;
  const loading = !error && ((big && !overview.laid) || (shown !== null && !detail.laid));
  const onlyA = diff?.goneRecords ?? [];

  return (
    <div className={`record-graph ${zoomClass}`} data-testid="record-graph" data-mode={big ? (shown ? 'focus-subgraph' : 'overview') : 'graph'}>
      <div className="toolbar graph-toolbar">
        <form
          className="graph-search"
          onSubmit={(e) => {
            e.preventDefault();
            runSearch();
          }}
        >
          <input
            className="filter"
            value={query}
            spellCheck={false}
            placeholder="digest prefix, #index or name"
            aria-label="Find a record by digest prefix, #index or name"
            data-testid="graph-search"
            onChange={(e) => {
              setQuery(e.target.value);
              setSearchMiss(false);
            }}
          />
          <button type="submit" data-testid="graph-search-go">
            Find
          </button>
          {searchMiss && <span className="warn-text small">no record starts with that{view.names ? ' or has it in its name' : ''}</span>}
        </form>
        <button type="button" data-testid="graph-fit" onClick={() => active && vp.fit(active.layout.width, active.layout.height)}>
          Fit
        </button>
        <button type="button" aria-label="Zoom in" onClick={() => vp.zoomBy(1.25)}>
          +
        </button>
        <button type="button" aria-label="Zoom out" onClick={() => vp.zoomBy(0.8)}>
          −
        </button>
        <button
          type="button"
          data-testid="graph-focus"
          aria-pressed={focus !== null}
          disabled={focus === null && focusTarget === null}
          onClick={() => setFocus((f) => (f !== null ? null : focusTarget))}
          title="Show only a record's ancestors and dependents (F on a node)"
        >
          {focus !== null ? (big ? 'Back to overview' : 'Leave focus') : 'Focus on selected'}
        </button>
        <label className="small">
          <input type="checkbox" checked={collapse} onChange={(e) => setCollapse(e.target.checked)} data-testid="graph-collapse" /> collapse straight runs
        </label>
        {selectedModelNode && selectedModelNode.records.length > 1 && (
          <button type="button" data-testid="graph-expand" onClick={() => setExpanded((x) => expandRun(detail.laid!.model, selectedModelNode.head, x))}>
            Expand run of {selectedModelNode.records.length}
          </button>
        )}
        <span className="spacer" />
        <span className="muted small" data-testid="graph-stats">
          {plural(view.records.length, 'record')} · {plural(full.nodes.length, 'node')}
          {focusSet ? ` · focus: ${plural(focusSet.records.size, 'record')}${focusSet.truncated ? ' (capped)' : ''}` : ''}
        </span>
      </div>
      <div className="graph-body">
        <div
          className="graph-draw"
          ref={drawRef}
          onKeyDown={onKeyDown}
          role="group"
          aria-label={`${label}: sources on the left, final results on the right. Arrow keys: Left follows an input, Right a dependent, Up and Down move between siblings; Enter opens a record; F focuses it.`}
        >
          {error && <p className="notice bad">{error}</p>}
          {loading && (
            <p className="muted pad" data-testid="graph-loading">
              Laying out {plural((shown ?? full).nodes.length, 'node')}…
            </p>
          )}
          {big && overview.laid && !shown && (
            <GraphOverview
              laid={overview.laid}
              marks={overviewMarks?.mark ?? null}
              outlined={overviewMarks?.outlined ?? null}
              register={(draw) => (overviewDraw.current = draw)}
              getTransform={vp.get}
              dragged={vp.dragged}
              onPick={(node) => {
                const record = overview.laid!.model.nodes[node].head;
                select(cacheId, 'record', record);
                setKbRecord(record);
                setFocus(record);
              }}
            />
          )}
          {detail.laid && (
            <GraphSvg
              laid={detail.laid}
              groupRef={svgGroup}
              tabNode={tabNode}
              kbNode={kbNode}
              selectedNode={selectedNode}
              faded={faded}
              marks={marks?.mark ?? null}
              outlined={marks?.outlined ?? null}
              records={view.records}
              onPick={(node) => {
                if (vp.dragged()) return;
                openNode(detail.laid!, node);
              }}
              onFocusNode={(node) => setKbRecord(detail.laid!.model.nodes[node].head)}
            />
          )}
        </div>
        {diff && (
          <aside className="graph-side" aria-label="Records only in A" data-testid="graph-only-a">
            <h4>Only in A ({onlyA.length})</h4>
            {onlyA.length === 0 ? (
              <p className="muted small">None: every record of A is in B.</p>
            ) : (
              <ul className="plain-list small">
                {onlyA.slice(0, 200).map((a) => (
                  <li key={a} data-testid="graph-only-a-record">
                    #{a} <code title={viewA?.records[a]?.digest}>{short(viewA?.records[a]?.digest, 10)}</code>
                    {viewA?.names?.records[a] && <span className="muted"> {displayName(viewA.names.records[a]!.text)}</span>}
                  </li>
                ))}
                {onlyA.length > 200 && <li className="muted">…and {onlyA.length - 200} more</li>}
              </ul>
            )}
          </aside>
        )}
      </div>
      <GraphLegend diff={Boolean(diff)} big={big} />
    </div>
  );
}

function GraphLegend({ diff, big }: { diff: boolean; big: boolean }) {
  return (
    <div className="legend small graph-legend">
      {diff ? (
        <>
          <span className="lg lg-g-matched">matched in A</span>
          <span className="lg lg-g-changed">result changed</span>
          <span className="lg lg-g-new">only in B</span>
          <span className="lg lg-g-diverged">first divergence</span>
        </>
      ) : (
        <>
          <span className="lg lg-g-source">source (no inputs)</span>
          <span className="lg lg-g-step">step</span>
          <span className="lg lg-g-result">stage result (final)</span>
        </>
      )}
      <span className="muted">◆ a slot with alternatives: any one satisfies it · ▤ layer stack: count and bytes</span>
      {big && <span className="muted">· the overview shows every record; click one (or search) to lay out its ancestors and dependents</span>}
    </div>
  );
}
