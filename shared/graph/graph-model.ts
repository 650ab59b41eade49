/**
 * The record graph as a picture needs it: nodes (records, or straight runs of records collapsed into
 * one), edges (input links, one port per input slot, alternatives of a slot grouped), result marks
 * and names taken from the graph itself. Pure data: no DOM, no layout.
 */
import type { CacheNames, LayerRow, RecordRow } from '../cache/view-types';
import { displayName } from './history-names';

/** What a node is, in words a BuildKit user recognises, and where that name comes from. */
export type NodeRole = 'source' | 'step' | 'stage result';

export interface GraphNode {
  id: number;
  /** Record indexes in this node, from the one nearest the sources to the one nearest the results. */
  records: number[];
  /** The record that represents the node (the last of a run): its result, dependents and digest. */
  head: number;
  digest: string;
  role: NodeRole;
  /** The name shown: the image history's name when there is one, else the role; plus how many records a run holds. */
  label: string;
  /** Where the name comes from, for a tooltip ("from image … history[3]", "from the graph: no inputs" …). */
  nameSource: string;
  /** The head record's name from an image's history (`COPY a.txt /a.txt`), or null; the role is then the secondary label. */
  name: string | null;
  /** Input slots of the first record of the run (the node's ports, in slot order). */
  ports: number;
  hasResult: boolean;
  layers: number;
  bytes: number;
  createdAt: string | null;
  isSource: boolean;
  isLeaf: boolean;
  ignored: boolean;
}

export interface GraphEdge {
  from: number;
  to: number;
  /** The input slot (port) of `to` this link fills. */
  slot: number;
  /** Position among the slot's alternatives, and how many there are: alternatives > 1 means "any one satisfies it". */
  alt: number;
  alternatives: number;
  selector: string | null;
  /** The selector, or "content checksum" for a link without one. */
  label: string;
}

export interface GraphModel {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** nodeOf[record] = the node holding it, or -1 when the record is not in this model (a focus subgraph). */
  nodeOf: Int32Array;
  /** Nodes without inputs (sources) and nodes nothing links to (leaves). */
  roots: number[];
  leaves: number[];
}

export interface ModelOptions {
  /** Collapse straight runs (single input, single dependent) into one node. */
  collapse?: boolean;
  /** Records whose run is shown expanded (any record of the run). */
  expanded?: ReadonlySet<number>;
  /** Only these records (a focus subgraph); links to records outside are left out. */
  only?: ReadonlySet<number>;
}

export interface GraphSource {
  records: RecordRow[];
  layers: LayerRow[];
  /** Names from image histories (CacheView.names): they win over the graph's roles. */
  names?: CacheNames;
}

function unique(xs: number[]): number[] {
  return xs.length < 2 ? xs : [...new Set(xs)];
}

/** The one record `r` links to when it has a single slot with a single alternative, else -1. */
function singleInput(r: RecordRow): number {
  return r.inputs.length === 1 && r.inputs[0].length === 1 ? r.inputs[0][0].link : -1;
}

/** The createdAt of the result the record shows (BuildKit's newest usable one). */
export function resultCreatedAt(r: RecordRow): string | null {
  const s = r.shownResult;
  if (!s) return null;
  return (s.kind === 'layers' ? r.results[s.index]?.createdAt : r.chains[s.index]?.createdAt) ?? null;
}

/** The role of one record, named from the graph: no inputs → source; a final result → stage result. */
export function recordRole(r: RecordRow): NodeRole {
  if (r.isSource) return 'source';
  if (r.isLeaf && r.stack.length > 0) return 'stage result';
  return 'step';
}

const NAME_SOURCE: Record<NodeRole, string> = {
  source: 'from the graph: a record with no inputs (an image pull, a local context or a content checksum)',
  step: 'from the graph: a record with inputs',
  'stage result': 'from the graph: a final result (nothing links to it, and it has a layer stack)',
};

/** Groups records into runs: a record joins the run of its single input when that input has it as its single dependent. */
function runsOf(records: RecordRow[], inModel: (i: number) => boolean, opts: ModelOptions): number[][] {
  const n = records.length;
  const next = new Int32Array(n).fill(-1);
  const hasPrev = new Uint8Array(n);
  if (opts.collapse) {
    const expanded = opts.expanded ?? new Set<number>();
    for (let v = 0; v < n; v++) {
      if (!inModel(v)) continue;
      const u = singleInput(records[v]);
      if (u < 0 || u === v || !inModel(u) || !records[u]) continue;
      const deps = unique(records[u].dependents);
      // A source stays its own node (a root everyone looks for); an expanded record is never merged.
      if (deps.length !== 1 || deps[0] !== v || records[u].isSource || expanded.has(u) || expanded.has(v)) continue;
      next[u] = v;
      hasPrev[v] = 1;
    }
  }
  const runs: number[][] = [];
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (!inModel(i) || hasPrev[i] || seen[i]) continue;
    const run: number[] = [];
    for (let r = i; r >= 0 && !seen[r]; r = next[r]) {
      seen[r] = 1;
      run.push(r);
    }
    runs.push(run);
  }
  // A loop of single links has no head: each of its records stays alone.
  for (let i = 0; i < n; i++) if (inModel(i) && !seen[i]) runs.push([i]);
  return runs;
}

/** Builds nodes and edges from the CacheView's records. */
export function buildGraphModel(src: GraphSource, opts: ModelOptions = {}): GraphModel {
  const { records, layers } = src;
  const only = opts.only;
  const inModel = only ? (i: number) => only.has(i) : () => true;
  const runs = runsOf(records, inModel, opts);
  const nodeOf = new Int32Array(records.length).fill(-1);
  const nodes: GraphNode[] = runs.map((run, id) => {
    for (const r of run) nodeOf[r] = id;
    const first = records[run[0]];
    const head = records[run[run.length - 1]];
    const role = recordRole(head.isSource || first.isSource ? { ...head, isSource: true } : head);
    const bytes = head.stack.reduce((s, l) => s + (layers[l]?.size ?? 0), 0);
    const named = src.names?.records[head.index] ?? null;
    const roleLabel = run.length > 1 ? `${role === 'stage result' ? 'stage result' : 'steps'} · ${run.length} records` : role;
    const roleSource = run.length > 1 ? `${NAME_SOURCE[role]}; a straight run of ${run.length} records (single input, single dependent), collapsed` : NAME_SOURCE[role];
    return {
      id,
      records: run,
      head: head.index,
      digest: head.digest,
      role,
      label: named ? `${displayName(named.text)}${run.length > 1 ? ` · ${run.length} records` : ''}` : roleLabel,
      nameSource: named ? `${named.from}; role ${roleSource}` : roleSource,
      name: named ? displayName(named.text) : null,
      ports: first.inputs.length,
      hasResult: head.stack.length > 0,
      layers: head.stack.length,
      bytes,
      createdAt: resultCreatedAt(head),
      isSource: first.isSource,
      isLeaf: head.isLeaf,
      ignored: run.some((r) => records[r].ignored),
    };
  });
  const edges: GraphEdge[] = [];
  for (const node of nodes) {
    const first = records[node.records[0]];
    first.inputs.forEach((slot, k) => {
      slot.forEach((l, j) => {
        const from = l.link >= 0 && l.link < records.length ? nodeOf[l.link] : -1;
        if (from < 0) return;
        edges.push({ from, to: node.id, slot: k, alt: j, alternatives: slot.length, selector: l.selector, label: l.selector ?? 'content checksum' });
      });
    });
  }
  const hasIn = new Uint8Array(nodes.length);
  const hasOut = new Uint8Array(nodes.length);
  for (const e of edges) {
    hasIn[e.to] = 1;
    hasOut[e.from] = 1;
  }
  const roots = nodes.filter((n) => !hasIn[n.id]).map((n) => n.id);
  const leaves = nodes.filter((n) => !hasOut[n.id]).map((n) => n.id);
  return { nodes, edges, nodeOf, roots, leaves };
}

/** The node holding `record`, expanding its run when asked: the set of records to pass as `expanded`. */
export function expandRun(model: GraphModel, record: number, expanded: ReadonlySet<number>): Set<number> {
  const next = new Set(expanded);
  const node = model.nodes[model.nodeOf[record]];
  for (const r of node?.records ?? [record]) next.add(r);
  return next;
}
