/**
 * The diff overlay past the overview size (Chromium, browser mode, real engine): two generated
 * 1500-record caches with other keys diffed. B's graph opens on the first
 * divergence (an SVG focus subgraph); back on the canvas overview, the first divergences are still
 * outlined in black, as in the SVG picture.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { openCacheSource } from '../../electron/engine/sources/open-cache';
import { generateCache } from '../../scripts/cache-generator/generate';
import { diffCaches } from '../../shared/diff/diff-caches';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

/** Opaque, near-black pixels on the overview canvas: only an outline is drawn in black. */
async function blackPixels(page: Page): Promise<number> {
  return page.evaluate(`(() => {
    const c = document.querySelector('[data-testid="diff-graph"] [data-testid="graph-overview"]');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && d[i] < 30 && d[i + 1] < 30 && d[i + 2] < 30) n++;
    return n;
  })()`);
}

describe('diff overlay on a big graph: the overview outlines the first divergences (Chromium)', () => {
  let s: Session;
  let tmp: string;
  let dirA: string;
  let dirB: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-diff-overview-'));
    dirA = join(tmp, 'a');
    dirB = join(tmp, 'b');
    const opts = { seed: 11, stages: 6, layersPerStage: 2, layerBytes: 64, compression: 'gzip' as const, form: 'image-manifest' as const, withBlobs: false, records: 1500, layers: 300 };
    await generateCache(dirA, opts);
    // Another seed: other cache keys throughout, so B's leaves diverge from A's (a revision alone keeps the keys).
    await generateCache(dirB, { ...opts, seed: 12 });
    s = await openSession(dirB);
  });
  after(async () => {
    await s?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('opens on the first divergence, and back on the overview outlines the divergences in black', async () => {
    const diff = diffCaches((await openCacheSource(dirA)).model, (await openCacheSource(dirB)).model);
    assert.ok(diff.divergences.length > 0, 'B diverges from A');
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('open-source-input').fill(dirA);
    await page.getByTestId('open-source-button').click();
    await page.locator(`[data-testid="cache-item"] button[title="${dirA}"]`).waitFor();
    await page.getByTestId('tab-diff').click();
    const options = await page
      .getByTestId('diff-a')
      .locator('option')
      .evaluateAll((els) => els.map((e) => ({ value: (e as HTMLOptionElement).value, title: e.getAttribute('title') ?? '' })));
    const a = options.find((o) => o.title === dirA);
    const b = options.find((o) => o.title === dirB);
    assert.ok(a && b, JSON.stringify(options));
    await page.getByTestId('diff-a').selectOption(a.value);
    await page.getByTestId('diff-b').selectOption(b.value);
    await page.getByTestId('diff-run').click();
    const graph = page.getByTestId('diff-graph');
    await graph.locator('[data-testid="record-graph"][data-mode="focus-subgraph"]').waitFor({ timeout: 60_000 });
    const first = String(diff.divergences[0].record);
    await graph.locator(`[data-testid="graph-node"][data-record="${first}"].diverged`).waitFor();
    // Back to the overview of every record.
    await graph.getByTestId('graph-focus').click();
    await graph.getByTestId('graph-overview').waitFor();
    assert.equal(await graph.getByTestId('record-graph').getAttribute('data-mode'), 'overview');
    await graph.getByTestId('graph-fit').click();
    // Two frames: the canvas paints on the next animation frame.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null)))));
    const black = await blackPixels(page);
    await graph.scrollIntoViewIfNeeded();
    await screenshot(page, 'record-graph-diff-overview');
    assert.ok(black > 0, `the overview draws the ${diff.divergences.length} first divergence(s) outlined in black (${black} black pixels)`);
    // From the far-out overview, a search lays out the found record's subgraph close enough to read, edge labels included.
    await graph.getByTestId('graph-search').fill(`#${first}`);
    await graph.getByTestId('graph-search-go').click();
    await graph.locator('[data-testid="record-graph"][data-mode="focus-subgraph"]').waitFor();
    await page.waitForFunction((r) => document.activeElement?.getAttribute('data-record') === r, first);
    assert.match((await graph.getByTestId('record-graph').getAttribute('class')) ?? '', /\bzoom-near\b/);
    assert.ok(await graph.locator('.g-edge-label').first().isVisible(), 'edge labels shown');
    await s.assertClean();
  });
});
