/**
 * Record graph speed in Chromium (browser mode, real engine, generated caches in a temp dir): layout
 * plus first draw for 300, 1k (the largest SVG case), 2k and 10k records (from the Records tab click to the drawn picture), and
 * frames per second while dragging to pan. Prints numbers against the targets; asserts nothing.
 * Targets: 300 records drawn in ≤ 1.5 s, the 10k overview in ≤ 1 s, panning at ≥ 30 fps.
 * Run: `node --import tsx bench/graph-bench.ts`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCache } from '../scripts/cache-generator/generate';
import { openSession } from '../test/e2e/browser';
import type { Page } from 'playwright-core';

async function panFps(page: Page): Promise<number> {
  const box = await page.getByTestId('record-graph').locator('.graph-draw').boundingBox();
  if (!box) return 0;
  // A string, so no bundler helper (tsx's __name) leaks into the page.
  await page.evaluate('window.frames_ = 0; window.counting = true; (function tick() { if (!window.counting) return; window.frames_++; requestAnimationFrame(tick); })()');
  const t0 = Date.now();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  for (let i = 0; i < 60; i++) await page.mouse.move(cx + Math.sin(i / 6) * 200, cy + Math.cos(i / 6) * 100);
  await page.mouse.up();
  const ms = Date.now() - t0;
  const frames = Number(await page.evaluate('window.counting = false; window.frames_'));
  return (frames * 1000) / ms;
}

for (const records of [300, 1000, 2000, 10_000]) {
  const dir = await mkdtemp(join(tmpdir(), 'cachescope-graph-bench-'));
  try {
    await generateCache(dir, { seed: 7, stages: 8, layersPerStage: 2, layerBytes: 64, compression: 'gzip', form: 'image-manifest', withBlobs: false, records, layers: Math.max(40, Math.round(records / 5)) });
    const s = await openSession(dir);
    try {
      const { page } = s;
      await page.getByTestId('summary-layerEntries').waitFor();
      const t0 = Date.now();
      await page.getByTestId('tab-records').click();
      await page.locator('[data-testid="graph-node"], [data-testid="graph-overview"]').first().waitFor({ timeout: 120_000 });
      // One more frame: the picture is painted, not only in the DOM.
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
      const drawn = Date.now() - t0;
      const mode = await page.getByTestId('record-graph').getAttribute('data-mode');
      const stats = await page.getByTestId('graph-stats').textContent();
      const fps = await panFps(page);
      let focusLine = '';
      if (mode === 'overview') {
        const f0 = Date.now();
        await page.getByTestId('graph-search').fill(`#${Math.floor(records / 2)}`);
        await page.getByTestId('graph-search-go').click();
        await page.getByTestId('graph-node').first().waitFor({ timeout: 60_000 });
        await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
        const focusMs = Date.now() - f0;
        const nodes = await page.getByTestId('graph-node').count();
        focusLine = `; focus subgraph (${nodes} nodes) laid out and drawn in ${focusMs} ms, panning ${(await panFps(page)).toFixed(0)} fps`;
      }
      console.log(`graph ${records} records (${stats?.trim()}): ${mode} drawn in ${drawn} ms; panning ${fps.toFixed(0)} fps${focusLine}`);
      if (s.errors.length) console.log(`  page errors: ${s.errors.join('; ')}`);
    } finally {
      await s.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
