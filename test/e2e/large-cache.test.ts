import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateCache } from '../../scripts/cache-generator/generate';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

describe('a large cache stays responsive: virtualized tables (Chromium, real engine)', () => {
  let s: Session;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cachescope-e2e-large-'));
    await generateCache(dir, { seed: 3, stages: 8, layersPerStage: 2, layerBytes: 64, compression: 'gzip', form: 'image-manifest', withBlobs: false, records: 5000, layers: 2000 });
    s = await openSession(dir);
  });
  after(async () => {
    await s?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('renders only the visible rows of 2000 layer entries and 5000 records, and sorts them all', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    assert.equal(await page.getByTestId('summary-layerEntries').textContent(), '2000');
    await page.getByTestId('tab-layers').click();
    await page.getByTestId('layer-row').first().waitFor();
    const rendered = await page.getByTestId('layer-row').count();
    assert.ok(rendered > 10 && rendered < 100, `only visible rows are in the DOM (${rendered})`);
    // Sorting reorders all 2000 entries, not just the visible ones: descending by index puts #1999 first.
    const indexHeader = page.getByRole('columnheader', { name: /^#/ });
    await indexHeader.click();
    await indexHeader.click();
    await page.waitForFunction(() => document.querySelector('[data-testid="layer-row"]')?.getAttribute('data-index') === '1999');
    const shown = await page.evaluate(() => Array.from(document.querySelectorAll('[data-testid="layer-row"]')).map((r) => Number(r.getAttribute('data-index'))));
    assert.deepEqual(shown, [...shown].sort((x, y) => y - x), 'visible rows are in descending order');
    assert.equal(shown[0], 1999);
    await screenshot(page, 'large-layers-sorted');
    await page.getByTestId('tab-records').click();
    await page.getByTestId('records-as-table').click();
    await page.getByTestId('record-row').first().waitFor();
    const records = await page.getByTestId('record-row').count();
    assert.ok(records < 100, `records are virtualized too (${records} rows for 5000)`);
    assert.deepEqual(s.errors, []);
  });
});
