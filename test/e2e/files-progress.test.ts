/**
 * Opening a large layer's files in Chromium shows a real progress bar: the bytes of the blob read so
 * far, of its size, moving up while the engine reads and reaching the size before the file tree
 * appears. A generated cache whose COPY layer is one large file of random text; browser mode, real engine.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCacheSource } from '../../electron/engine/sources/open-cache';
import { writeBigLayerCache } from '../helpers/big-layer-cache';
import { describeViolations, seriousViolations } from './axe';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

/** Every value the bar showed, in order: recorded by a MutationObserver (old values too, so none is missed). */
interface Sample {
  now: number;
  max: number;
  text: string;
}

describe('the Files panel shows the bytes read while it opens a large layer (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let tmp: string;
  let cache: string;
  let blobSize: number;
  let bigLayer: number;
  const savedCacheHome = process.env.XDG_CACHE_HOME;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-files-progress-'));
    // The server runs in this process: its listing cache goes to a temp dir, set before it starts.
    process.env.XDG_CACHE_HOME = join(tmp, 'xdg');
    cache = join(tmp, 'cache');
    ({ bigLayer } = await writeBigLayerCache(cache, join(tmp, 'work'), 160));
    const opened = await openCacheSource(cache);
    blobSize = (await stat(join(cache, 'blobs', 'sha256', opened.model.norm.layers[bigLayer].blob.slice(7)))).size;
    s = await openSession(cache);
  });
  after(async () => {
    await s?.close();
    if (savedCacheHome === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = savedCacheHome;
    await rm(tmp, { recursive: true, force: true });
  });

  it('the bar moves up through the bytes of the blob and reaches its size; then the files are listed', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('tab-layers').click();
    await page.locator(`[data-testid="layer-row"][data-index="${bigLayer}"]`).click();
    const panel = page.getByTestId('files-panel');
    await panel.waitFor();
    await page.evaluate(() => {
      const w = window as unknown as { barSamples: Sample[] };
      w.barSamples = [];
      new MutationObserver((records) => {
        for (const r of records) {
          // An attribute change gives the old value first (it may have been replaced before this callback ran), then the current one.
          const bars = r.type === 'attributes' ? [r.target as Element] : Array.from(r.addedNodes).flatMap((n) => (n instanceof Element ? [...(n.matches('[data-testid="files-progress-bar"]') ? [n] : []), ...Array.from(n.querySelectorAll('[data-testid="files-progress-bar"]'))] : []));
          for (const bar of bars) {
            const values = r.type === 'attributes' ? [r.oldValue, bar.getAttribute('aria-valuenow')] : [bar.getAttribute('aria-valuenow')];
            for (const v of values) if (v !== null) w.barSamples.push({ now: Number(v), max: Number(bar.getAttribute('aria-valuemax')), text: bar.getAttribute('aria-valuetext') ?? '' });
          }
        }
      }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeOldValue: true, attributeFilter: ['aria-valuenow'] });
    });
    await panel.getByTestId('files-open').click();
    // While it reads: a determinate bar part of the way, with numbers and the phase in words.
    await page.waitForFunction(
      () => {
        const bar = document.querySelector('[data-testid="files-progress-bar"][aria-valuenow]');
        return bar !== null && Number(bar.getAttribute('aria-valuenow')) > 0 && Number(bar.getAttribute('aria-valuenow')) < Number(bar.getAttribute('aria-valuemax'));
      },
      undefined,
      { polling: 'raf' },
    );
    const midText = (await panel.getByTestId('files-progress-text').textContent().catch(() => '')) ?? '';
    await screenshot(page, 'files-progress-reading').catch(() => undefined);
    await panel.getByTestId('files-tree').waitFor();
    assert.equal(await panel.getByTestId('files-progress').count(), 0, 'the bar is gone once the files are listed');
    assert.deepEqual(
      await panel.getByTestId('file-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-path'))),
      ['app', 'app/big.txt', 'app/small.txt'],
    );

    const samples = (await page.evaluate(() => (window as unknown as { barSamples: Sample[] }).barSamples)).filter((x) => Number.isFinite(x.now));
    const values = samples.map((x) => x.now);
    assert.ok(samples.every((x) => x.max === blobSize), `aria-valuemax is the blob's size ${blobSize}: ${JSON.stringify(samples.slice(0, 5))}`);
    for (let i = 1; i < values.length; i++) assert.ok(values[i] >= values[i - 1], `the bar never goes back: ${values.join(', ')}`);
    const between = new Set(values.filter((v) => v > 0 && v < blobSize));
    assert.ok(between.size >= 3, `the bar moved through several values on the way: ${values.join(', ')}`);
    assert.equal(Math.max(...values), blobSize, `the bar reached the blob's size: ${values.join(', ')}`);
    assert.match(samples.find((x) => x.now > 0 && x.now < blobSize)!.text, /^\d+(\.\d+)? ([KMG]i)?B of \d+(\.\d+)? ([KMG]i)?B \(\d+%\)$/);
    assert.match(midText, /^(Reading the layer|Read; listing the files) · .* of .* \(\d+%\)/);
    await screenshot(page, 'files-progress-done');
  });

  it('reopening reads the cached listing: the answer comes without a long read, and nothing is left busy', async () => {
    const { page } = s;
    const panel = page.getByTestId('files-panel');
    await panel.getByTestId('files-open').click();
    await panel.getByTestId('files-count').filter({ hasText: 'from the cache' }).waitFor();
    assert.equal(await panel.getByTestId('files-progress').count(), 0);
    const violations = await seriousViolations(page);
    assert.equal(violations.length, 0, describeViolations(violations));
    assert.deepEqual(s.errors, []);
  });
});
