import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listGenerations } from '../../electron/engine/sources/generations';
import { fixture } from '../helpers/fixtures';
import { describeViolations, seriousViolations } from './axe';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

/** Each view with what shows it is drawn (its first content), so axe checks the view, not a spinner. */
const VIEWS: { tab: string; ready: string }[] = [
  { tab: 'overview', ready: '[data-testid="summary-layerEntries"]' },
  { tab: 'layers', ready: '[data-testid="layer-row"]' },
  { tab: 'records', ready: '[data-testid="record-row"]' },
  { tab: 'chains', ready: '[data-testid="chain-node"]' },
  { tab: 'orphans', ready: '[role="tabpanel"] table, [role="tabpanel"] [role="grid"], [role="tabpanel"] .notice, [role="tabpanel"] p' },
  { tab: 'raw', ready: '[data-testid="raw-line"]' },
];

describe('accessibility: axe-core finds no serious or critical violation on any view (Chromium, real engine)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(fixture.dto);
    await s.page.getByTestId('summary-layerEntries').waitFor();
  });
  after(async () => {
    await s?.close();
  });

  for (const view of VIEWS) {
    it(`${view.tab} view`, async () => {
      const { page } = s;
      await page.getByTestId(`tab-${view.tab}`).click();
      // Records open as a graph (record-graph.test.ts checks it with axe); this checks the table.
      if (view.tab === 'records') await page.getByTestId('records-as-table').click();
      await page.locator(view.ready).first().waitFor();
      if (view.tab === 'records' || view.tab === 'layers') await page.getByTestId(`${view.tab === 'records' ? 'record' : 'layer'}-row`).first().click();
      const violations = await seriousViolations(page);
      assert.equal(violations.length, 0, describeViolations(violations));
    });
  }

  it('the export dialog', async () => {
    const { page } = s;
    await page.getByTestId('tab-overview').click();
    await page.getByTestId('export-button').click();
    await page.getByRole('dialog').waitFor();
    // While the preview loads, and once it has (a long one scrolls: it must stay reachable by keyboard).
    const loading = await seriousViolations(page);
    assert.equal(loading.length, 0, describeViolations(loading));
    await page.locator('[data-testid="export-preview"][aria-busy="false"]').waitFor();
    const violations = await seriousViolations(page);
    await screenshot(page, 'a11y-export-dialog');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    assert.equal(violations.length, 0, describeViolations(violations));
  });

  it('the diff view with a result', async () => {
    const { page } = s;
    const orphan = (await listGenerations(fixture.dto)).filter((g) => g.orphan).at(-1);
    assert.ok(orphan);
    await page.getByTestId('open-source-input').fill(orphan.source);
    await page.getByTestId('open-source-button').click();
    await page.locator(`[data-testid="cache-item"] button[title="${orphan.source}"]`).waitFor();
    await page.getByTestId('tab-diff').click();
    const a = page.getByTestId('diff-a');
    await a.waitFor();
    const values = await a.locator('option').evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value).filter(Boolean));
    assert.ok(values.length >= 2);
    await a.selectOption(values[values.length - 1]);
    await page.getByTestId('diff-b').selectOption(values[0]);
    await page.getByTestId('diff-run').click();
    await page.getByTestId('diff-summary').waitFor();
    const violations = await seriousViolations(page);
    await screenshot(page, 'a11y-diff');
    assert.equal(violations.length, 0, describeViolations(violations));
    assert.deepEqual(s.errors, []);
  });
});
