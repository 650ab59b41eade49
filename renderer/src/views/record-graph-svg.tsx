/** The laid-out record graph as SVG: nodes with their ports, result glyphs and names; edges with selectors. */
import { memo, useMemo } from 'react';
import type { RefObject } from 'react';
import type { RecordRow } from '../../../shared/cache/view-types';
import type { DiffMark } from '../../../shared/graph/diff-colours';
import type { GraphEdge } from '../../../shared/graph/graph-model';
import { edgeGeometry, edgeLabelPositions, portY } from '../../../shared/graph/edge-labels';
import { formatBytes, short } from '../format';
import type { Laid } from './record-graph';

/** Edge labels (selectors) are drawn only up to this many edges; the rest say it in their tooltip. */
const MAX_EDGE_LABELS = 800;
/** Room the layer-stack glyph takes at a node's right: its bars, and "999.9 KiB" in 10px monospace with a margin. */
const GLYPH_WIDTH = 76;
/** Width of one character of an edge label (10px monospace), for the plate behind it. */
const LABEL_CHAR = 6.1;

interface Props {
  laid: Laid;
  groupRef: RefObject<SVGGElement>;
  tabNode: number;
  kbNode: number;
  selectedNode: number;
  faded: boolean[] | null;
  marks: DiffMark[] | null;
  outlined: boolean[] | null;
  records: RecordRow[];
  onPick(node: number): void;
  onFocusNode(node: number): void;
}

/** A name cut to what fits beside the result glyph (the whole name is in the tooltip). */
function fit(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function Edges({ laid, faded }: { laid: Laid; faded: boolean[] | null }) {
  const { model, layout } = laid;
  const labels = model.edges.length <= MAX_EDGE_LABELS;
  const at = useMemo(() => (labels ? edgeLabelPositions(model, layout) : null), [labels, model, layout]);
  const cls = (e: GraphEdge) => `g-edge${e.selector ? '' : ' checksum'}${e.alternatives > 1 ? ' alt' : ''}${faded && (faded[e.from] || faded[e.to]) ? ' faded' : ''}`;
  return (
    <g className="g-edges">
      {model.edges.map((e, i) => {
        const { x1, y1, x2, y2, dx } = edgeGeometry(model, layout, i);
        return (
          <g key={i} className={cls(e)}>
            <path d={`M${x1} ${y1} C${x1 + dx} ${y1} ${x2 - dx} ${y2} ${x2} ${y2}`}>
              <title>{`input ${e.slot}${e.alternatives > 1 ? ` (alternative ${e.alt + 1} of ${e.alternatives}: any one satisfies it)` : ''}: ${e.selector ? `selector ${e.selector}` : 'content checksum (no selector)'}`}</title>
            </path>
          </g>
        );
      })}
      {/* Labels over every line: each on its own curve, in the gap before the node it feeds (never under a node), on a plate that hides the lines crossing it. */}
      {at &&
        model.edges.map((e, i) => {
          const text = e.selector ? short(e.selector, 6) : 'content checksum';
          const w = text.length * LABEL_CHAR + 4;
          return (
            <g key={`l${i}`} className={cls(e)}>
              <rect className="g-edge-label-bg" x={at.x[i] - w / 2} y={at.y[i] - 6} width={w} height={12} rx={2} />
              <text className="g-edge-label" x={at.x[i]} y={at.y[i] + 3.5} textAnchor="middle">
                {text}
              </text>
            </g>
          );
        })}
    </g>
  );
}

function ResultGlyph({ layers, bytes, x }: { layers: number; bytes: number; x: number }) {
  const bars = Math.min(layers, 5);
  return (
    <g className="g-glyph" transform={`translate(${x} 6)`}>
      {Array.from({ length: bars }, (_, i) => (
        <rect key={i} x={0} y={30 - (i + 1) * 6} width={12} height={5} rx={1} />
      ))}
      <text x={16} y={13}>
        {layers}
      </text>
      <text x={16} y={28}>
        {formatBytes(bytes)}
      </text>
    </g>
  );
}

const Nodes = memo(function Nodes({ laid, records, faded, marks, outlined }: { laid: Laid; records: RecordRow[]; faded: boolean[] | null; marks: DiffMark[] | null; outlined: boolean[] | null }) {
  const { model, layout } = laid;
  const o = layout.options;
  const altSlots = useMemo(() => {
    const s = model.nodes.map(() => new Map<number, number>());
    for (const e of model.edges) if (e.alternatives > 1) s[e.to].set(e.slot, e.alternatives);
    return s;
  }, [model]);
  return (
    <g className="g-nodes">
      {model.nodes.map((n) => {
        const head = records[n.head];
        const cls = [
          'g-node',
          `role-${n.role.replace(' ', '-')}`,
          n.records.length > 1 ? 'run' : '',
          marks ? `mark-${marks[n.id]}` : '',
          outlined?.[n.id] ? 'diverged' : '',
          faded?.[n.id] ? 'faded' : '',
          n.ignored ? 'ignored' : '',
        ].join(' ');
        const title = [
          `${n.label} — name ${n.nameSource}`,
          `record #${n.head} ${n.digest}`,
          n.records.length > 1 ? `records ${n.records.map((r) => `#${r}`).join(', ')}` : '',
          n.hasResult ? `result: ${n.layers} layer${n.layers === 1 ? '' : 's'}, ${formatBytes(n.bytes)}${n.createdAt ? `, created ${n.createdAt}` : ''}` : 'no result',
          head?.droppedResult ? `result dropped: ${head.droppedResult}` : '',
          marks ? { matched: 'matched in A', changed: 'matched in A, result changed', new: 'only in B' }[marks[n.id]] : '',
          outlined?.[n.id] ? 'a first divergence' : '',
        ]
          .filter(Boolean)
          .join('\n');
        return (
          <g key={n.id} className={cls} transform={`translate(${layout.x[n.id]} ${layout.y[n.id]})`} data-gnode={n.id} data-record={n.head} data-testid="graph-node">
            <title>{title}</title>
            <rect className="g-box" width={o.nodeWidth} height={o.nodeHeight} rx={n.records.length > 1 ? 10 : 5} />
            {n.records.length > 1 && <rect className="g-run" x={3} y={3} width={o.nodeWidth - 6} height={o.nodeHeight - 6} rx={8} />}
            <text className={`g-label${n.name ? ' named' : ''}`} x={8} y={17} data-testid={n.name ? 'graph-node-name' : undefined}>
              {/* A run's record count goes on the second line, so the first stays clear of the glyph. */}
              {n.name ? fit(n.records.length > 1 ? n.name : n.label, n.hasResult ? 20 : 29) : n.records.length > 1 ? (n.role === 'stage result' ? 'stage result' : 'steps') : n.label}
              {!n.name && n.createdAt && n.records.length === 1 && (
                <tspan className="g-time" dx={6}>
                  {n.createdAt.slice(11, 19)}
                </tspan>
              )}
            </text>
            <text className="g-digest" x={8} y={35}>
              {/* A named node has the role beside its digest: the hex alone leaves room for it before the glyph. */}
              #{n.head} {n.records.length > 1 ? `· ${n.records.length} records` : n.name ? n.digest.slice(n.digest.indexOf(':') + 1, n.digest.indexOf(':') + 7) : short(n.digest, 6)}
              {n.name && n.records.length === 1 && (
                <tspan className="g-role" dx={5}>
                  {n.role}
                </tspan>
              )}
            </text>
            {n.hasResult && <ResultGlyph layers={n.layers} bytes={n.bytes} x={o.nodeWidth - GLYPH_WIDTH} />}
            {Array.from({ length: n.ports }, (_, k) =>
              altSlots[n.id].has(k) ? (
                <path key={k} className="g-port alt" d={`M0 ${portY(o.nodeHeight, n.ports, k) - 5} l5 5 l-5 5 l-5 -5 z`}>
                  <title>{`input ${k}: ${altSlots[n.id].get(k)} alternatives, any one satisfies it`}</title>
                </path>
              ) : (
                <circle key={k} className="g-port" cx={0} cy={portY(o.nodeHeight, n.ports, k)} r={3} />
              ),
            )}
          </g>
        );
      })}
    </g>
  );
});

export function GraphSvg({ laid, groupRef, tabNode, kbNode, selectedNode, faded, marks, outlined, records, onPick, onFocusNode }: Props) {
  const o = laid.layout.options;
  // The focusable overlay: one element per node, tabindex 0 on one of them (roving focus).
  const overlay = (
    <g className="g-focusables">
      {laid.model.nodes.map((n) => (
        <rect
          key={n.id}
          role="button"
          aria-label={`${n.label}, record #${n.head} ${short(n.digest, 8)}${n.hasResult ? `, ${n.layers} layers, ${formatBytes(n.bytes)}` : ''}`}
          aria-pressed={selectedNode === n.id}
          tabIndex={n.id === tabNode ? 0 : -1}
          data-node={n.id}
          data-record={n.head}
          data-testid="graph-node-focus"
          className={`g-hit${kbNode === n.id ? ' kb' : ''}${selectedNode === n.id ? ' selected' : ''}`}
          x={laid.layout.x[n.id] - 2}
          y={laid.layout.y[n.id] - 2}
          width={o.nodeWidth + 4}
          height={o.nodeHeight + 4}
          rx={6}
          onClick={() => onPick(n.id)}
          onFocus={() => onFocusNode(n.id)}
        />
      ))}
    </g>
  );
  return (
    <svg className="graph-svg" data-testid="graph-svg" aria-hidden={false}>
      <g ref={groupRef}>
        <Edges laid={laid} faded={faded} />
        <Nodes laid={laid} records={records} faded={faded} marks={marks} outlined={outlined} />
        {overlay}
      </g>
    </svg>
  );
}
