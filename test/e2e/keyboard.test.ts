import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

/** What has keyboard focus: its test id, id, data-index/-pos, ARIA state, and whether it sits in the dialog. */
async function focused(page: Page) {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    return {
      testId: el?.getAttribute('data-testid') ?? null,
      id: el?.id ?? '',
      index: el?.getAttribute('data-index') ?? null,
      pos: el?.getAttribute('data-pos') ?? null,
      level: el?.getAttribute('aria-level') ?? null,
      selected: el?.getAttribute('aria-selected') ?? null,
      expanded: el?.getAttribute('aria-expanded') ?? null,
      inDialog: Boolean(el?.closest('[role="dialog"]')),
    };
  });
}

describe('keyboard: tabs, tables, the chains tree and the export dialog (Chromium, real engine)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(fixture.dto);
    await s.page.getByTestId('summary-layerEntries').waitFor();
  });
  after(async () => {
    await s?.close();
  });

  it('tabs: Left/Right/Home/End move focus and selection, and only the selected tab is in the Tab order', async () => {
    const { page } = s;
    await page.getByTestId('tab-overview').focus();
    const stops = () => page.locator('[role="tab"][tabindex="0"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')));
    assert.deepEqual(await stops(), ['tab-overview']);
    await page.keyboard.press('ArrowRight');
    assert.equal((await focused(page)).testId, 'tab-layers');
    assert.equal(await page.getByTestId('tab-layers').getAttribute('aria-selected'), 'true');
    await page.getByTestId('layer-row').first().waitFor();
    assert.deepEqual(await stops(), ['tab-layers']);
    // The panel is labelled by its tab.
    assert.equal(await page.getByRole('tabpanel').getAttribute('aria-labelledby'), (await focused(page)).id);
    await page.keyboard.press('End');
    assert.equal((await focused(page)).testId, 'tab-diff');
    await page.keyboard.press('ArrowRight');
    assert.equal((await focused(page)).testId, 'tab-overview', 'Right on the last tab wraps to the first');
    await page.keyboard.press('ArrowLeft');
    assert.equal((await focused(page)).testId, 'tab-diff', 'Left on the first tab wraps to the last');
    await page.keyboard.press('Home');
    assert.equal((await focused(page)).testId, 'tab-overview');
    assert.equal(await page.getByTestId('tab-overview').getAttribute('aria-selected'), 'true');
    await page.getByTestId('summary-layerEntries').waitFor();
  });

  it('tables: arrow keys, Home and End move the selection and keyboard focus together', async () => {
    const { page } = s;
    await page.getByTestId('tab-layers').click();
    const rows = page.getByTestId('layer-row');
    await rows.first().waitFor();
    const order = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-index')));
    assert.ok(order.length >= 3, 'the fixture has several layer entries');
    await rows.first().click();
    assert.equal((await focused(page)).index, order[0]);
    await page.keyboard.press('ArrowDown');
    let f = await focused(page);
    assert.deepEqual([f.testId, f.index, f.selected], ['layer-row', order[1], 'true']);
    assert.match((await page.getByTestId('detail-pane').textContent()) ?? '', new RegExp(`#${order[1]}(?!\\d)`));
    await page.keyboard.press('End');
    f = await focused(page);
    assert.deepEqual([f.index, f.selected], [order[order.length - 1], 'true']);
    await page.keyboard.press('ArrowUp');
    assert.equal((await focused(page)).index, order[order.length - 2]);
    await page.keyboard.press('Home');
    assert.equal((await focused(page)).index, order[0]);
    // Only the selected row is a Tab stop.
    assert.deepEqual(await page.locator('[data-testid="layer-row"][tabindex="0"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-index'))), [order[0]]);
    // A key that keeps the selection (Home on the first row) leaves nothing pending: a click then keeps its focus.
    await page.keyboard.press('Home');
    await rows.nth(2).click();
    assert.deepEqual([(await focused(page)).index, (await focused(page)).selected], [order[2], 'true']);
    await page.keyboard.press('Home');
    assert.deepEqual(await page.locator('[data-testid="layer-row"][tabindex="0"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-index'))), [order[0]]);
  });

  it('chains tree: Up/Down move, Left collapses or goes to the parent, Right expands or goes to the first child', async () => {
    const { page } = s;
    await page.getByTestId('tab-chains').click();
    const nodes = page.getByTestId('chain-node');
    await nodes.first().waitFor();
    const parent = page.locator('[data-testid="chain-node"][aria-expanded="true"]').first();
    const parentIndex = await parent.getAttribute('data-index');
    const parentLevel = Number(await parent.getAttribute('aria-level'));
    await parent.click();
    const before = await nodes.count();
    assert.equal(await parent.locator('button.toggle').getAttribute('aria-expanded'), 'true');

    await page.keyboard.press('ArrowLeft');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="chain-node"]').length < n, before);
    let f = await focused(page);
    assert.deepEqual([f.index, f.expanded], [parentIndex, 'false'], 'Left on an open node collapses it and keeps focus');

    await page.keyboard.press('ArrowRight');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="chain-node"]').length === n, before);
    f = await focused(page);
    assert.deepEqual([f.index, f.expanded], [parentIndex, 'true'], 'Right on a closed node expands it');

    await page.keyboard.press('ArrowRight');
    f = await focused(page);
    assert.equal(Number(f.level), parentLevel + 1, 'Right on an open node moves to its first child');
    assert.equal(f.selected, 'true', 'selection follows focus');
    const child = f.index;

    await page.keyboard.press('ArrowLeft');
    if ((await focused(page)).index === child) await page.keyboard.press('ArrowLeft'); // the child was open: first Left closed it
    assert.equal((await focused(page)).index, parentIndex, 'Left on a closed node moves to its parent');

    const pos = Number((await focused(page)).pos);
    await page.keyboard.press('ArrowDown');
    assert.equal(Number((await focused(page)).pos), pos + 1);
    await page.keyboard.press('ArrowUp');
    assert.equal(Number((await focused(page)).pos), pos);
    await page.keyboard.press('Home');
    assert.equal((await focused(page)).pos, '0');

    // Tab goes from the focused row to its record badges (and only its own), Enter opens the record.
    const withRecord = page.locator('[data-testid="chain-node"]:has(button.badge.rec)').first();
    const badge = ((await withRecord.locator('button.badge.rec').first().textContent()) ?? '').trim();
    await page.keyboard.press('Home'); // already there: the selection does not change
    await withRecord.click();
    assert.equal((await focused(page)).index, await withRecord.getAttribute('data-index'), 'a click moves focus to the clicked row and keeps it there');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), badge);
    await page.keyboard.press('Enter');
    assert.match((await page.getByTestId('detail-pane').textContent()) ?? '', new RegExp(`^Record ${badge.replace('record ', '')}(?!\\d)`));
    await screenshot(page, 'keyboard-chains');
  });

  it('export dialog: focus starts inside, Tab and Shift+Tab cycle inside, Escape closes and focus returns to the opener', async () => {
    const { page } = s;
    await page.getByTestId('tab-overview').click();
    await page.getByTestId('export-button').focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    assert.ok((await focused(page)).inDialog, 'focus starts in the dialog');
    const stops = await page.getByRole('dialog').evaluate(
      (d) => Array.from(d.querySelectorAll<HTMLElement>('a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])')).filter((e) => e.getClientRects().length > 0).length,
    );
    assert.ok(stops >= 3, `the dialog has controls (${stops})`);
    for (let i = 0; i < stops + 2; i++) {
      await page.keyboard.press('Tab');
      assert.ok((await focused(page)).inDialog, `Tab #${i + 1} stays in the dialog`);
    }
    for (let i = 0; i < stops + 2; i++) {
      await page.keyboard.press('Shift+Tab');
      assert.ok((await focused(page)).inDialog, `Shift+Tab #${i + 1} stays in the dialog`);
    }
    await screenshot(page, 'keyboard-export-dialog');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    assert.equal((await focused(page)).testId, 'export-button', 'focus returns to the button that opened the dialog');
    assert.deepEqual(s.errors, []);
  });
});
