/**
 * The layer chains as an icicle: each base layer a block on the top row, each entry a block under its
 * parent, as wide as the bytes of everything stacked on it. Chains that share a prefix share its
 * blocks and split where they diverge. Colour says the compression, hatching a missing blob.
 */
import { useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { KeyboardEvent } from 'react';
import type { CacheView } from '../../../shared/cache/view-types';
import { ICICLE_WIDTH as WIDTH, fitLabel, icicle } from '../../../shared/graph/icicle';
import { formatBytes, short } from '../format';
import { select, useSelectedIndex } from '../stores/selection-store';

const ROW = 40;
/** Below this width (pixels) a block is drawn as a sliver without a label. */
const MIN_LABEL = 70;
/** The narrowest the picture gets (a narrower pane scrolls sideways). */
const MIN_WIDTH = 480;

export function ChainsPicture({ view, cacheId }: { view: CacheView; cacheId: string }) {
  const { blocks, depth } = useMemo(() => icicle(view), [view]);
  // Drawn one unit to one pixel at the pane's width (not scaled like an image), so 11px text stays 11px and labels fit what they measure.
  const scrollRef = useRef<HTMLDivElement>(null);
  const [paneWidth, setPaneWidth] = useState(WIDTH);
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const measure = () => setPaneWidth(Math.max(MIN_WIDTH, el.clientWidth - 24));
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, [blocks.length > 0]);
  const k = paneWidth / WIDTH;
  const selected = useSelectedIndex(cacheId, 'layer');
  const tabIndexOf = selected ?? blocks[0]?.index ?? -1;
  const onKey = (e: KeyboardEvent<SVGRectElement>, index: number) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      select(cacheId, 'layer', index);
    }
  };
  if (blocks.length === 0) return <p className="muted pad">This cache has no layer chains.</p>;
  return (
    <div className="chains-picture" data-testid="chains-picture">
      <div className="legend small graph-legend">
        <span className="lg lg-c-gzip">gzip</span>
        <span className="lg lg-c-zstd">zstd</span>
        <span className="lg lg-c-uncompressed">uncompressed</span>
        <span className="lg lg-c-unknown">other</span>
        <span className="lg lg-c-missing">blob missing (hatched)</span>
        <span className="muted">width: bytes of the layer and everything stacked on it · top row: base layers · a split is where chains diverge</span>
      </div>
      <div className="chains-picture-scroll" ref={scrollRef}>
        <svg width={paneWidth} height={depth * ROW} viewBox={`0 0 ${paneWidth} ${depth * ROW}`} role="group" aria-label="Layer chains as an icicle: click a block to select its layer entry">
          <defs>
            <pattern id="chains-missing" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
              <rect width="6" height="6" className="c-missing-bg" />
              <line x1="0" y1="0" x2="0" y2="6" className="c-missing-line" />
            </pattern>
          </defs>
          {blocks.map((icicleBlock) => {
            const b = { ...icicleBlock, x: icicleBlock.x * k, w: icicleBlock.w * k };
            const l = view.layers[b.index];
            const records = view.chain.recordsEndingAt[b.index] ?? [];
            const title = [`layer entry #${b.index}: ${l.blob}`, ...(b.nameFrom ? [`made by ${b.nameFrom.text}`, `  (name ${b.nameFrom.from})`] : []), `diffID ${l.diffID ?? 'unknown'}`, `created ${l.createdAt ?? 'unknown'}`, `${formatBytes(l.size)}, ${l.compression}, ${l.present ? 'present' : 'missing'}`, records.length ? `results of records ${records.map((r) => `#${r}`).join(', ')}` : ''].filter(Boolean).join('\n');
            return (
              <g key={b.index} className={`c-block comp-${l.compression}${l.present ? '' : ' missing'}${selected === b.index ? ' selected' : ''}`} data-testid="chain-block" data-index={b.index}>
                <rect
                  x={b.x + 0.5}
                  y={b.depth * ROW + 1}
                  width={Math.max(1, b.w - 1)}
                  height={ROW - 2}
                  rx={2}
                  role="button"
                  aria-label={`layer entry #${b.index} ${short(l.blob, 8)}${b.name ? `, ${b.name}` : ''}, ${formatBytes(l.size)}, ${l.compression}${l.present ? '' : ', missing'}`}
                  aria-pressed={selected === b.index}
                  tabIndex={b.index === tabIndexOf ? 0 : -1}
                  onClick={() => select(cacheId, 'layer', b.index)}
                  onKeyDown={(e) => onKey(e, b.index)}
                >
                  <title>{title}</title>
                </rect>
                {!l.present && <rect className="c-hatch" x={b.x + 0.5} y={b.depth * ROW + 1} width={Math.max(1, b.w - 1)} height={ROW - 2} fill="url(#chains-missing)" pointerEvents="none" />}
                {b.w >= MIN_LABEL && (
                  <text x={b.x + 5} y={b.depth * ROW + 16} pointerEvents="none" data-testid={b.name ? 'chain-block-name' : undefined}>
                    {/* A named block says the step that made it (the digest is in the hover); wide ones keep the digest too. */}
                    {fitLabel(b.name ? `#${b.index} ${b.name}` : `#${b.index} ${short(l.blob, 6)}`, b.w)}
                  </text>
                )}
                {b.w >= MIN_LABEL && (
                  <text x={b.x + 5} y={b.depth * ROW + 31} className="c-sub" pointerEvents="none">
                    {fitLabel(`${formatBytes(l.size)}${records.length ? ` · ${records.length} result${records.length === 1 ? '' : 's'}` : ''}`, b.w)}
                  </text>
                )}
              </g>
            );
          })}
        </svg>
      </div>
      <SelectedLayer view={view} index={selected} />
    </div>
  );
}

function SelectedLayer({ view, index }: { view: CacheView; index: number | null }) {
  const l = index !== null ? view.layers[index] : undefined;
  const name = index !== null ? (view.names?.layers[index] ?? null) : null;
  if (!l) return <p className="muted small pad">Hover a block for its digest, diffID, createdAt and the step that made it (from an attached image); click it to select the layer entry everywhere.</p>;
  return (
    <p className="small pad" data-testid="chains-picture-selected">
      Entry #{l.index} <code>{l.blob}</code>
      {name && (
        <>
          {' '}
          · made by{' '}
          <code className="history-name-text" data-testid="chains-picture-name">
            {name.text}
          </code>{' '}
          <span className="muted">({name.from})</span>
        </>
      )}{' '}
      · diffID <code>{l.diffID ?? 'unknown'}</code> · created {l.createdAt ?? 'unknown'} · {formatBytes(l.size)} {l.compression} · {l.present ? 'present' : 'missing'}
    </p>
  );
}
