/**
 * What the record graph draws on each node and edge, checked against the engine's own view of real
 * caches (margo, buildkit v0.24) in Chromium: one port per input slot in slot order, alternatives of a
 * slot drawn as "any one satisfies it", selectors on the edges, the layer-stack glyph's count and bytes,
 * and labels that neither overlap each other nor spill out of their node.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { viewOf } from '../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../electron/engine/sources/open-cache';
import type { CacheView } from '../../shared/cache/view-types';
import { formatBytes } from '../../shared/util/bytes';
import { FIXTURES, fixture } from '../helpers/fixtures';
import { openSession, screenshot } from './browser';
import { checkLegible, labelBoxes, openNearGraph, zoomNear } from './graph-legibility';
import type { Session } from './browser';

/** Per node: its ports (cy in the node's own units, and whether drawn as alternatives) and where each edge ends. */
async function drawnPorts(page: Page) {
  return page.getByTestId('graph-node').evaluateAll((els) =>
    els.map((g) => ({
      record: Number(g.getAttribute('data-record')),
      ports: Array.from(g.querySelectorAll('.g-port')).map((p) => ({
        alt: p.classList.contains('alt'),
        // A circle has cy; an alternatives' diamond path starts 5 units above its centre.
        y: p.tagName === 'circle' ? Number(p.getAttribute('cy')) : Number(/^M0 ([-\d.]+)/.exec(p.getAttribute('d') ?? '')?.[1]) + 5,
        title: p.querySelector('title')?.textContent ?? '',
      })),
    })),
  );
}

describe('record graph drawing, margo (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let view: CacheView;
  before(async () => {
    view = await viewOf(await openCacheSource(fixture.margo));
    s = await openSession(fixture.margo);
  });
  after(async () => {
    await s?.close();
  });

  it('draws one port per input slot, in slot order top to bottom; a slot with several alternatives is marked "any one satisfies it"', async () => {
    const { page } = s;
    await openNearGraph(page);
    const nodes = await drawnPorts(page);
    assert.equal(nodes.length, view.records.length);
    const altSlots = view.records.flatMap((r) => r.inputs.map((slot, k) => ({ r: r.index, k, n: slot.length })).filter((x) => x.n > 1));
    assert.ok(altSlots.length > 0, 'margo has a slot with alternatives');
    for (const n of nodes) {
      const slots = view.records[n.record].inputs;
      assert.equal(n.ports.length, slots.length, `#${n.record}: one port per input slot`);
      const ys = n.ports.map((p) => p.y);
      assert.deepEqual(ys, [...ys].sort((a, b) => a - b), `#${n.record}: ports in slot order from top to bottom`);
      slots.forEach((slot, k) => {
        assert.equal(n.ports[k].alt, slot.length > 1, `#${n.record} input ${k}: ${slot.length} alternative(s)`);
        if (slot.length > 1) assert.equal(n.ports[k].title, `input ${k}: ${slot.length} alternatives, any one satisfies it`);
      });
    }
    // Every alternative's edge ends at its slot's port and says so.
    const { r, k, n } = altSlots[0];
    const titles = await page.locator('.g-edge path title').allTextContents();
    const said = titles.filter((t) => t.startsWith(`input ${k} (alternative `) && t.includes(`of ${n}: any one satisfies it`));
    assert.ok(said.length >= n, `the ${n} alternatives of #${r} input ${k} each say "any one satisfies it": ${JSON.stringify(titles.slice(0, 5))}`);
    await s.assertClean();
  });

  it('puts each link’s selector (or "content checksum") on its edge', async () => {
    const { page } = s;
    // The lines come first, then their labels in the same order (drawn over every line).
    const titles = await page.locator('.g-edge path title').allTextContents();
    const labels = await page.locator('.g-edge .g-edge-label').allTextContents();
    assert.equal(labels.length, titles.length, 'every edge has its label');
    const edges = titles.map((title, i) => ({ title, label: labels[i] }));
    const links = view.records.flatMap((r) => r.inputs.flat());
    assert.equal(edges.length, links.length, 'one edge per input link');
    const selectors = links.filter((l) => l.selector).map((l) => l.selector!);
    assert.ok(selectors.length > 0, 'margo has links with selectors');
    for (const sel of new Set(selectors)) {
      const want = selectors.filter((x) => x === sel).length;
      const onEdge = edges.filter((e) => e.title.endsWith(`selector ${sel}`));
      assert.equal(onEdge.length, want, `${want} edge(s) carry selector ${sel}`);
      for (const e of onEdge) assert.ok(e.label && sel.startsWith(e.label.replace(/…$/, '')), `the label "${e.label}" shows selector ${sel}`);
    }
    assert.equal(edges.filter((e) => e.label === 'content checksum').length, links.filter((l) => !l.selector).length, 'every link without a selector says "content checksum"');
  });

  it('marks each record with a result by its layer-stack glyph: its layer count and bytes', async () => {
    const { page } = s;
    const glyphs = await page.getByTestId('graph-node').evaluateAll((els) =>
      els.map((g) => ({ record: Number(g.getAttribute('data-record')), text: Array.from(g.querySelectorAll('.g-glyph text')).map((t) => t.textContent ?? ''), bars: g.querySelectorAll('.g-glyph rect').length })),
    );
    for (const g of glyphs) {
      const r = view.records[g.record];
      if (r.stack.length === 0) {
        assert.deepEqual(g.text, [], `#${g.record} has no result: no glyph`);
        continue;
      }
      const bytes = r.stack.reduce((sum, l) => sum + view.layers[l].size, 0);
      assert.equal(g.text[0], String(r.stack.length), `#${g.record}: ${r.stack.length} layers`);
      assert.equal(g.text[1], formatBytes(bytes), `#${g.record}: the stack's ${bytes} bytes`);
      assert.equal(g.bars, Math.min(5, r.stack.length), `#${g.record}: one bar per layer (up to 5)`);
    }
    assert.ok(glyphs.some((g) => g.text.length > 0));
  });

  it('names nodes from the graph with their result’s createdAt, and a click on a node opens its details', async () => {
    const { page } = s;
    const nodes = await page.getByTestId('graph-node').evaluateAll((els) =>
      els.map((g) => ({ record: Number(g.getAttribute('data-record')), label: g.querySelector('.g-label')?.textContent ?? '', title: g.querySelector('title')?.textContent ?? '' })),
    );
    let dated = 0;
    for (const n of nodes) {
      const r = view.records[n.record];
      const s = r.shownResult;
      const createdAt = s ? (s.kind === 'layers' ? r.results[s.index]?.createdAt : r.chains[s.index]?.createdAt) : undefined;
      if (!createdAt) continue;
      dated++;
      assert.ok(n.label.includes(createdAt.slice(11, 19)), `#${n.record} shows the time of its result (${createdAt}): "${n.label}"`);
      assert.ok(n.title.includes(`created ${createdAt}`), `#${n.record} tooltip: ${n.title}`);
    }
    assert.ok(dated > 0, 'margo has results with createdAt');
    // Each graph-given name says where it comes from.
    for (const n of nodes) {
      const r = view.records[n.record];
      const [name, from] = r.isSource ? ['source', 'from the graph: a record with no inputs'] : r.isLeaf && r.stack.length > 0 ? ['stage result', 'from the graph: a final result'] : ['step', 'from the graph: a record with inputs'];
      assert.ok(n.label.startsWith(name), `#${n.record} is named "${name}": "${n.label}"`);
      assert.ok(n.title.startsWith(`${name} — name ${from}`), `#${n.record} says where its name comes from: ${n.title}`);
    }
    const target = nodes.find((n) => view.records[n.record].stack.length > 0)!.record;
    // Fitted, every node is in view to be clicked.
    await page.getByTestId('graph-fit').click();
    await page.locator(`[data-testid="graph-node-focus"][data-record="${target}"]`).click();
    await page.getByTestId('record-detail').waitFor();
    assert.match((await page.getByTestId('record-detail').textContent()) ?? '', new RegExp(`Record #${target}\\b`));
    await zoomNear(page);
  });

  it('keeps every label legible: node texts inside their node and clear of the glyph, edge labels clear of each other and of nodes', async () => {
    const { page } = s;
    const problems = checkLegible(await labelBoxes(page));
    await screenshot(page, 'record-graph-drawing-margo');
    // Collapsed runs say how many records they hold: that label fits too.
    await page.getByTestId('graph-collapse').check();
    await page.locator('[data-testid="graph-node"].run').first().waitFor();
    await zoomNear(page);
    const collapsed = checkLegible(await labelBoxes(page));
    await screenshot(page, 'record-graph-drawing-margo-collapsed');
    await page.getByTestId('graph-collapse').uncheck();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="graph-node"]').length === n, view.records.length);
    await zoomNear(page);
    assert.deepEqual(problems, []);
    assert.deepEqual(collapsed, []);
    await s.assertClean();
  });

  it('a keyboard move from the fitted, far-out picture zooms in to the node it lands on, so its labels can be read', async () => {
    const { page } = s;
    await page.getByTestId('graph-fit').click();
    assert.ok(!(await page.getByTestId('record-graph').evaluate((e) => e.classList.contains('zoom-near'))), 'margo fitted is too far out to read');
    const start = view.records.find((r) => r.inputs.length > 0)!.index;
    await page.locator(`[data-testid="graph-node-focus"][data-record="${start}"]`).focus();
    await page.keyboard.press('ArrowLeft');
    const on = await page.evaluate(() => document.activeElement?.getAttribute('data-record') ?? null);
    assert.ok(on !== null && on !== String(start), `Left moved to an input of #${start}`);
    await page.locator('[data-testid="record-graph"].zoom-near').waitFor();
    const seen = await page.evaluate(`(() => {
      const pane = document.querySelector('.graph-draw').getBoundingClientRect();
      const b = document.querySelector('[data-testid="graph-node"][data-record="${on}"] .g-box').getBoundingClientRect();
      return b.left >= pane.left && b.right <= pane.right && b.top >= pane.top && b.bottom <= pane.bottom;
    })()`);
    assert.equal(seen, true, `the node the keys are on (#${on}) is in view`);
    await screenshot(page, 'record-graph-keyboard-zoomed');
    await s.assertClean();
  });

  it('a search brings the node into view with the picture filling the pane, not centred on a blank half', async () => {
    const { page } = s;
    await page.getByTestId('graph-fit').click();
    // The leftmost node (a source): centred alone, it would leave the pane's left half empty.
    const first = await page.getByTestId('graph-node-focus').evaluateAll((els) => els.map((e) => ({ record: e.getAttribute('data-record')!, x: Number(e.getAttribute('x')) })).sort((a, b) => a.x - b.x)[0].record);
    await page.getByTestId('graph-search').fill(`#${first}`);
    await page.getByTestId('graph-search-go').click();
    await page.waitForFunction((r) => document.activeElement?.getAttribute('data-record') === r, first);
    const seen = await page.evaluate(`(() => {
      const pane = document.querySelector('.graph-draw').getBoundingClientRect();
      const boxes = Array.from(document.querySelectorAll('[data-testid="graph-node"] .g-box')).map((e) => e.getBoundingClientRect());
      const found = document.querySelector('[data-testid="graph-node"][data-record="${first}"] .g-box').getBoundingClientRect();
      return { paneLeft: pane.left, paneRight: pane.right, left: Math.min(...boxes.map((b) => b.left)), right: Math.max(...boxes.map((b) => b.right)), found: { left: found.left, right: found.right } };
    })()`) as { paneLeft: number; paneRight: number; left: number; right: number; found: { left: number; right: number } };
    assert.ok(seen.found.left >= seen.paneLeft && seen.found.right <= seen.paneRight, `the found node #${first} is in view: ${JSON.stringify(seen)}`);
    assert.ok(seen.right > seen.paneRight, 'zoomed in, the picture is wider than the pane');
    assert.ok(seen.left - seen.paneLeft <= 60, `no empty band left of the picture: it starts ${Math.round(seen.left - seen.paneLeft)} px into the pane`);
    await screenshot(page, 'record-graph-search-fills-pane');
    await s.assertClean();
  });
});

describe('record graph drawing, buildkit v0.24 (Chromium)', () => {
  let s: Session;
  const cache = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
  before(async () => {
    s = await openSession(cache);
  });
  after(async () => {
    await s?.close();
  });

  it('keeps every label legible, stage results with their time beside the glyph', async () => {
    const { page } = s;
    await openNearGraph(page);
    const problems = checkLegible(await labelBoxes(page));
    await page.getByTestId('graph-search').fill('#9');
    await page.getByTestId('graph-search-go').click();
    await screenshot(page, 'record-graph-drawing-buildkit-v0.24');
    assert.deepEqual(problems, []);
    await s.assertClean();
  });
});
