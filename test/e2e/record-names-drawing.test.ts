/**
 * Names from an attached image stay legible in the record graph (Chromium, browser mode, real
 * engine): a buildkit-v0.24 cache named with its Dockerfile's steps, each node's name inside its box
 * and clear of the layer-stack glyph, edge labels clear of everything, uncollapsed and collapsed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { viewOf } from '../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../electron/engine/sources/open-cache';
import type { CacheView } from '../../shared/cache/view-types';
import { FIXTURES } from '../helpers/fixtures';
import { writeHistoryImages } from '../helpers/history-image';
import type { HistoryImage } from '../helpers/history-image';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';
import { checkLegible, labelBoxes, openNearGraph, zoomNear } from './graph-legibility';

const CACHE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
/** The steps of buildkit-v0.24-context/Dockerfile's final stage, as BuildKit writes them in the history. */
const FINAL_STEPS = ['COPY a.txt /a.txt # buildkit', 'COPY b.txt /b.txt # buildkit', 'COPY /c /fromother # buildkit', 'COPY e.txt /e.txt # buildkit', 'COPY a.txt /again/a.txt # buildkit'];

/** The final stage's image: the longest layer stack of the cache, with the Dockerfile's history. */
function finalImage(view: CacheView): HistoryImage {
  const chain = view.records.filter((r) => r.stack.length > 0).reduce((a, b) => (b.stack.length > a.stack.length ? b : a)).stack;
  return { chain, history: FINAL_STEPS.map((created_by) => ({ created: '2026-11-29T19:05:36Z', created_by })), tag: 'final' };
}

describe('named record graph legibility (Chromium)', () => {
  let s: Session;
  let tmp: string;
  let imageDir: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-names-drawing-'));
    imageDir = join(tmp, 'image');
    const view = await viewOf(await openCacheSource(CACHE));
    await writeHistoryImages(imageDir, view, [finalImage(view)]);
    s = await openSession(CACHE);
  });
  after(async () => {
    await s?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('keeps every name inside its node and clear of the glyph, uncollapsed and collapsed', async () => {
    const { page } = s;
    await openNearGraph(page);
    await page.getByTestId('attach-image-open').click();
    await page.getByTestId('attach-image-ref').fill(`${imageDir}:final`);
    await page.getByTestId('attach-image-go').click();
    await page.getByTestId('attached-images').waitFor();
    await page.getByTestId('graph-node-name').first().waitFor();
    await zoomNear(page);
    assert.equal(await page.getByTestId('graph-node-name').count(), FINAL_STEPS.length, 'every step names a node');
    const uncollapsed = checkLegible(await labelBoxes(page));
    await screenshot(page, 'record-names-drawing');
    await page.getByTestId('graph-collapse').check();
    await zoomNear(page);
    const collapsed = checkLegible(await labelBoxes(page));
    assert.deepEqual(uncollapsed, []);
    assert.deepEqual(collapsed, []);
    await s.assertClean();
  });
});
