/**
 * The diff overlay's colours, node by node, against the engine's own diff of two dto-pattern
 * generations (Chromium, browser mode, real engine): matched in A dimmed, result changed amber, only
 * in B red, exactly the first divergences outlined, and exactly A's records B lacks listed beside it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listGenerations } from '../../electron/engine/sources/generations';
import { openCacheSource } from '../../electron/engine/sources/open-cache';
import { viewOf } from '../../electron/engine/sources/cache-view';
import { diffCaches } from '../../shared/diff/diff-caches';
import type { CacheDiff } from '../../shared/diff/types';
import { fixture } from '../helpers/fixtures';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

describe('diff overlay colours on dto-pattern generations, node by node (Chromium)', () => {
  let s: Session;
  let diff: CacheDiff;
  let orphanSource: string;
  let recordsB: number;
  before(async () => {
    const generations = await listGenerations(fixture.dto);
    orphanSource = generations.filter((g) => g.orphan).at(-1)!.source;
    const b = await openCacheSource(fixture.dto);
    diff = diffCaches((await openCacheSource(orphanSource)).model, b.model);
    recordsB = (await viewOf(b)).records.length;
    s = await openSession(fixture.dto);
  });
  after(async () => {
    await s?.close();
  });

  it('colours every record of B as the engine diffs it, outlines exactly the first divergences, and lists exactly the records only in A', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('open-source-input').fill(orphanSource);
    await page.getByTestId('open-source-button').click();
    await page.locator(`[data-testid="cache-item"] button[title="${orphanSource}"]`).waitFor();
    await page.getByTestId('tab-diff').click();
    const options = await page
      .getByTestId('diff-a')
      .locator('option')
      .evaluateAll((els) => els.map((e) => ({ value: (e as HTMLOptionElement).value, title: e.getAttribute('title') ?? '' })));
    const a = options.find((o) => o.title === orphanSource);
    const b = options.find((o) => o.value && o.title !== orphanSource);
    assert.ok(a && b, JSON.stringify(options));
    await page.getByTestId('diff-a').selectOption(a.value);
    await page.getByTestId('diff-b').selectOption(b.value);
    await page.getByTestId('diff-run').click();
    const graph = page.getByTestId('diff-graph');
    await graph.locator('[data-testid="graph-node"]').first().waitFor();
    // Opened on the first divergence close enough to read: node and edge labels drawn.
    await graph.locator('[data-testid="record-graph"].zoom-near').waitFor();
    assert.ok((await graph.locator('.g-edge-label').count()) > 0);
    assert.ok(await graph.locator('.g-edge-label').first().isVisible(), 'edge labels shown');
    await graph.getByTestId('graph-collapse').uncheck();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="diff-graph"] [data-testid="graph-node"]').length === n, recordsB);

    const want = new Map<number, string>();
    for (let r = 0; r < recordsB; r++) want.set(r, 'mark-new');
    for (const m of diff.matched) want.set(m.b, 'mark-matched');
    for (const m of diff.resultChanged) want.set(m.b, 'mark-changed');
    for (const r of diff.newRecords) want.set(r, 'mark-new');
    assert.ok(diff.matched.length > 0 && diff.newRecords.length > 0 && diff.goneRecords.length > 0, `matched (${diff.matched.length}), new (${diff.newRecords.length}) and gone (${diff.goneRecords.length}) records`);
    const divergences = new Set(diff.divergences.map((d) => d.record));
    const nodes = await graph.getByTestId('graph-node').evaluateAll((els) => els.map((e) => ({ record: Number(e.getAttribute('data-record')), cls: e.getAttribute('class') ?? '' })));
    const wrong = nodes.filter((n) => !n.cls.split(' ').includes(want.get(n.record)!) || n.cls.split(' ').includes('diverged') !== divergences.has(n.record));
    assert.deepEqual(
      wrong.map((n) => `#${n.record}: ${n.cls} (want ${want.get(n.record)}${divergences.has(n.record) ? ' diverged' : ''})`),
      [],
    );
    // The colours themselves: dimmed grey, amber, red, and a heavy outline.
    const style = (cls: string) =>
      graph.locator(`[data-testid="graph-node"].${cls} .g-box`).first().evaluate((e) => {
        const c = getComputedStyle(e);
        return { fill: c.fill, stroke: c.stroke, width: c.strokeWidth };
      });
    assert.deepEqual(await style('mark-matched'), { fill: 'rgb(241, 243, 246)', stroke: 'rgb(195, 201, 212)', width: '1.2px' });
    assert.equal((await style('mark-new')).fill, 'rgb(253, 233, 231)');
    assert.equal((await style('diverged')).width, '3.5px');

    // Beside it: the records of A that B lacks, every one of them.
    const listed = await graph.getByTestId('graph-only-a-record').allTextContents();
    assert.match((await graph.getByTestId('graph-only-a').locator('h4').textContent()) ?? '', new RegExp(`Only in A \\(${diff.goneRecords.length}\\)`));
    assert.deepEqual(
      listed.map((t) => Number(/^#(\d+)/.exec(t)?.[1])),
      diff.goneRecords.slice(0, 200),
    );
    await graph.getByTestId('graph-fit').click();
    await graph.scrollIntoViewIfNeeded();
    await screenshot(page, 'record-graph-diff-marks');
    await s.assertClean();
  });
});
