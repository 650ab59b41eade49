/**
 * Progress of reading a list of layer blobs (a chain, or the pairs of a divergence), summed into one
 * `layerFilesProgress` report (without its requestId) and thinned out for the wire.
 */
import type { LayerFilesProgress } from '../../../shared/contract/events';
import type { OpenLayerProgress } from './open-layer';

/** A progress report is sent at most once per this share of the bytes to go (phase and layer changes always are). */
const PROGRESS_STEPS = 200;

/**
 * Bytes of a chain's blobs done and to do (the `layerFilesProgress` event without its requestId): each
 * blob's bytes once for the read (decompress and list), and once more for its download when it has to
 * be fetched from a registry first; a cached listing counts as done at once.
 */
export type ChainProgress = Omit<LayerFilesProgress, 'requestId'>;

/** Sums the per-layer progress of `openLayer` over a chain and thins it out for the wire. */
export function chainProgress(sizes: number[], report: (p: ChainProgress) => void): { layer(k: number): (p: OpenLayerProgress) => void; skip(k: number): void; finish(): void } {
  const work = sizes.map((n) => Math.max(0, n));
  const done = sizes.map(() => 0);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  let last: ChainProgress | null = null;
  const send = (p: ChainProgress, force: boolean) => {
    const step = Math.max(1, Math.floor(p.bytesTotal / PROGRESS_STEPS));
    if (!force && last && last.phase === p.phase && last.layer === p.layer && p.bytesDone - last.bytesDone < step) return;
    last = p;
    report(p);
  };
  return {
    layer: (k) => {
      let fetched = false;
      return (p) => {
        const size = p.total > 0 ? p.total : work[k] / (fetched ? 2 : 1);
        // A blob that is already here (a layout's file, a blob cache hit) reports all its bytes at once: no download.
        if (p.phase === 'fetching' && !fetched && p.bytes >= p.total) return;
        if (p.phase === 'fetching') {
          fetched = true;
          work[k] = 2 * size;
          done[k] = Math.max(done[k], p.bytes);
        } else if (p.phase === 'reading') {
          work[k] = (fetched ? 2 : 1) * size;
          done[k] = Math.max(done[k], (fetched ? size : 0) + p.bytes);
        } else {
          // cached or done: this layer's work is all done.
          work[k] = Math.max(work[k], done[k], fetched ? 2 * size : size);
          done[k] = work[k];
        }
        const phase = p.phase === 'fetching' ? 'fetching' : 'reading';
        // A layer's last bytes are always sent: the bar reaches its end before the answer is built.
        const whole = p.phase === 'done' || p.phase === 'cached' || done[k] >= work[k];
        send({ bytesDone: sum(done), bytesTotal: Math.max(sum(work), sum(done)), phase, layer: k + 1, layers: sizes.length }, whole);
      };
    },
    // A layer that will not be read after all (its blob is missing): its bytes leave the total, so the bar still ends full.
    skip: (k) => {
      work[k] = done[k];
      send({ bytesDone: sum(done), bytesTotal: Math.max(sum(work), sum(done)), phase: 'reading', layer: k + 1, layers: sizes.length }, true);
    },
    finish: () => {
      const total = Math.max(sum(work), sum(done));
      send({ bytesDone: total, bytesTotal: total, phase: 'done', layer: sizes.length, layers: sizes.length }, true);
    },
  };
}
