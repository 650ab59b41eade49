/**
 * One bar per layer of an export job: its state (a push adds exists/mounted/uploading/resumed, a pull
 * downloading/cached), bytes done of total, and the speed while bytes move.
 */
import type { LayerProgress, LayerState } from '../../../shared/export/types';
import { Bar } from '../components/bytes';
import { formatBytes, formatRate, short } from '../format';

/** States a layer ends in without an error: its bar is full. */
export const FINAL_STATES: ReadonlySet<LayerState> = new Set<LayerState>(['done', 'exists', 'linked', 'mounted']);
/** States in which bytes move, so a speed means something. */
const ACTIVE_STATES: ReadonlySet<LayerState> = new Set<LayerState>(['reading', 'converting', 'writing', 'downloading', 'uploading', 'resumed']);

/** What each state means, for the badge's title. */
const STATE_TITLE: Partial<Record<LayerState, string>> = {
  queued: 'waiting for a free lane',
  downloading: 'bytes arriving from the registry into the blob cache',
  cached: 'already in the per-user blob cache: nothing is downloaded',
  exists: 'the target already has this blob: skipped',
  mounted: 'mounted from another repository of the same registry: no bytes sent',
  uploading: 'bytes going up to the registry',
  resumed: 'an interrupted upload continues from what the registry already holds',
  linked: 'hard-linked: no bytes copied',
};

export function layerFraction(l: LayerProgress): number {
  if (FINAL_STATES.has(l.state)) return 1;
  if (l.bytesTotal > 0) return Math.min(1, l.bytesDone / l.bytesTotal);
  return 0;
}

/**
 * The badge: the layer's state, except that a pulled layer the blob cache already held ends `cached`
 * rather than `done` (its bar may have skipped the short `cached` state: the outcome still says it).
 */
function badgeOf(l: LayerProgress): { text: string; className: string; title: string | undefined } {
  if (l.state === 'done' && l.origin === 'cached') return { text: 'cached', className: 'state-cached', title: 'was already in the per-user blob cache: nothing was downloaded' };
  return { text: l.state, className: `state-${l.state}`, title: STATE_TITLE[l.state] };
}

/** A download that resumed a partial file says from where. */
function originNote(l: LayerProgress): string | null {
  if (l.state === 'failed' || l.origin !== 'downloaded') return null;
  return l.resumedFrom ? `resumed at ${formatBytes(l.resumedFrom)}` : null;
}

export function LayerBars({ layers, running }: { layers: LayerProgress[]; running: boolean }) {
  return (
    <ul className="layer-bars" tabIndex={0} aria-label="Layers">
      {layers.map((l, i) => {
        const note = originNote(l);
        const badge = badgeOf(l);
        const rate = running && ACTIVE_STATES.has(l.state) ? formatRate(l.bytesPerSecond) : '';
        return (
          <li key={`${l.blob}-${i}`} data-testid="layer-progress" data-state={l.state} data-origin={l.origin} data-blob={l.blob} className={`state-${l.state}`}>
            <code title={l.target && l.target !== l.blob ? `${l.blob} → ${l.target}` : l.blob}>{short(l.blob)}</code>
            <Bar value={layerFraction(l)} state={l.state} label={`Layer ${short(l.blob)}`} />
            <span className={`badge ${badge.className}`} title={badge.title} data-testid="layer-state">
              {badge.text}
            </span>
            <span className="small muted nums" data-testid="layer-bytes">
              {formatBytes(l.bytesDone)} / {formatBytes(l.bytesTotal)}
              {rate && <span className="layer-rate"> · {rate}</span>}
              {note && <span className="layer-origin"> · {note}</span>}
            </span>
            {l.error && (
              <span className="error-text small layer-error" title={l.error}>
                {l.error}
              </span>
            )}
          </li>
        );
      })}
    </ul>
  );
}
