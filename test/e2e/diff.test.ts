import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listGenerations } from '../../electron/engine/generations';
import { fixture } from '../helpers/fixtures';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

describe('diff two generations of a real cache folder (Chromium, browser mode, real engine)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(fixture.dto);
  });
  after(async () => {
    await s?.close();
  });

  it('picks the orphaned generation and the current one, shows the summary and a highlighted divergence', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    // The oldest orphaned generation of dto-pattern predates a change to the build context.
    const generations = await listGenerations(fixture.dto);
    const orphan = generations.filter((g) => g.orphan).at(-1);
    assert.ok(orphan, 'the dto-pattern fixture has orphaned generations');
    await page.getByTestId('open-source-input').fill(orphan.source);
    await page.getByTestId('open-source-button').click();
    await page.waitForFunction((d) => document.body.textContent?.includes(d.slice(7, 19)), orphan.digest);
    await page.getByTestId('tab-diff').click();
    const a = page.getByTestId('diff-a');
    const b = page.getByTestId('diff-b');
    await a.waitFor();
    const options = await a.locator('option').evaluateAll((els) => els.map((e) => ({ value: (e as HTMLOptionElement).value, text: e.textContent ?? '' })));
    const orphanOption = options.find((o) => o.text.includes(orphan.digest.slice(7, 19)));
    const currentOption = options.find((o) => o.value && o !== orphanOption);
    assert.ok(orphanOption && currentOption, `both caches are offered: ${JSON.stringify(options)}`);
    await a.selectOption(orphanOption.value);
    await b.selectOption(currentOption.value);
    await page.getByTestId('diff-run').click();
    await page.getByTestId('diff-summary').waitFor();
    await screenshot(page, 'diff-summary');
    const divergences = page.getByTestId('divergence');
    assert.ok((await divergences.count()) > 0, 'at least one divergence is highlighted');
    assert.match((await divergences.first().textContent()) ?? '', /input 1 of record #12 changed: content checksum/);
    await divergences.first().click();
    await screenshot(page, 'diff-divergence');
    assert.deepEqual(s.errors, []);
  });
});
