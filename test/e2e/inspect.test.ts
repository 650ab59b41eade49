import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture } from '../helpers/fixtures';
import { rawSummary } from '../helpers/raw-summary';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const SUMMARY_KEYS = ['layerEntries', 'uniqueBlobs', 'records', 'recordsWithResults', 'roots', 'missingBlobs'] as const;

describe('inspect a real cache in Chromium (browser mode, real engine)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(fixture.margo);
  });
  after(async () => {
    await s?.close();
  });

  it('opens the startup source and shows the overview numbers', async () => {
    const want = rawSummary(fixture.margo);
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    for (const key of SUMMARY_KEYS) {
      assert.equal((await page.getByTestId(`summary-${key}`).textContent())?.trim(), String(want[key]), key);
    }
    assert.equal(await page.getByTestId('summary-totalBytes').getAttribute('data-value'), String(want.totalBytes));
    assert.match((await page.getByTestId('manifest-variant').textContent()) ?? '', /image manifest/i);
    assert.match((await page.locator('body').textContent()) ?? '', new RegExp(want.manifestDigest.slice(7, 19)));
    await screenshot(page, 'overview');
  });

  it('lists one row per layer entry, sortable and filterable by digest prefix', async () => {
    const { page } = s;
    await page.getByTestId('tab-layers').click();
    const rows = page.getByTestId('layer-row');
    await rows.first().waitFor();
    assert.equal(await rows.count(), rawSummary(fixture.margo).layerEntries);
    await screenshot(page, 'layers');
    await page.getByTestId('layer-filter').fill('sha256:4f4fb700');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="layer-row"]').length === 1);
    assert.match((await rows.first().textContent()) ?? '', /4f4fb700/);
    await page.getByTestId('layer-filter').fill('');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="layer-row"]').length === 8);
  });

  it('shows the records with their inputs, and the chains, orphans and raw JSON views', async () => {
    const { page } = s;
    await page.getByTestId('tab-records').click();
    await page.getByTestId('record-row').first().waitFor();
    await page.getByTestId('record-row').first().click();
    await screenshot(page, 'records');
    await page.getByTestId('tab-chains').click();
    await screenshot(page, 'chains');
    await page.getByTestId('tab-orphans').click();
    await screenshot(page, 'orphans');
    await page.getByTestId('tab-raw').click();
    await screenshot(page, 'raw-json');
    assert.deepEqual(s.errors, []);
  });

  it('shows a readable error, not a blank screen, for a layout whose manifest blob is absent', async () => {
    const { page } = s;
    await page.getByTestId('open-source-input').fill(fixture.indexOnlySaas);
    await page.getByTestId('open-source-button').click();
    const banner = page.getByTestId('error-banner');
    await banner.waitFor();
    const text = (await banner.textContent()) ?? '';
    assert.match(text, /missing/i);
    assert.match(text, /sha256:[0-9a-f]{12}/);
    await screenshot(page, 'error-missing-manifest');
  });
});
