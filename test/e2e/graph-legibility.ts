/**
 * Legibility checks for the record graph in Chromium: every node's texts inside its box and clear of
 * the layer-stack glyph, every edge label clear of other labels and of nodes, measured on screen.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Opens the Records graph uncollapsed (one node per record) and zooms in until labels are drawn. */
export async function openNearGraph(page: Page): Promise<void> {
  await page.getByTestId('summary-layerEntries').waitFor();
  await page.getByTestId('tab-records').click();
  await page.getByTestId('graph-collapse').uncheck();
  await page.getByTestId('graph-node').first().waitFor();
  await zoomNear(page);
}

/** From the fitted picture, zooms in until every label is drawn. */
export async function zoomNear(page: Page): Promise<void> {
  await page.getByTestId('graph-fit').click();
  for (let i = 0; i < 12 && !(await page.getByTestId('record-graph').evaluate((e) => e.classList.contains('zoom-near'))); i++) {
    await page.getByRole('button', { name: 'Zoom in' }).click();
  }
  assert.ok(await page.getByTestId('record-graph').evaluate((e) => e.classList.contains('zoom-near')), 'zoomed in to where every label is drawn');
}

/** Overlapping area of two boxes (0 when they only touch). */
function overlap(a: Box, b: Box): number {
  const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
  const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  return w > 0.5 && h > 0.5 ? w * h : 0;
}

/** Screen boxes of every drawn label, edge label and node part. */
export async function labelBoxes(page: Page): Promise<{ nodes: { record: string; box: Box; texts: { what: string; text: string; box: Box }[]; glyph: Box | null; glyphText: { text: string; box: Box }[] }[]; edgeLabels: { text: string; box: Box }[] }> {
  // A string, so no bundler helper (tsx's __name for the named arrow) leaks into the page.
  return page.evaluate(`(() => {
    const box = (e) => {
      const r = e.getBoundingClientRect();
      return { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
    };
    const nodes = Array.from(document.querySelectorAll('[data-testid="graph-node"]')).map((g) => ({
      record: g.getAttribute('data-record'),
      box: box(g.querySelector('.g-box')),
      texts: Array.from(g.querySelectorAll('.g-label, .g-digest')).map((t) => ({ what: t.classList.contains('g-label') ? 'label' : 'digest', text: t.textContent || '', box: box(t) })),
      glyph: g.querySelector('.g-glyph') ? box(g.querySelector('.g-glyph')) : null,
      glyphText: Array.from(g.querySelectorAll('.g-glyph text')).map((t) => ({ text: t.textContent || '', box: box(t) })),
    }));
    const edgeLabels = Array.from(document.querySelectorAll('.g-edge-label')).map((t) => ({ text: t.textContent || '', box: box(t) }));
    return { nodes, edgeLabels };
  })()`);
}

export function checkLegible(layout: Awaited<ReturnType<typeof labelBoxes>>): string[] {
  const problems: string[] = [];
  assert.ok(layout.nodes.length > 0 && layout.edgeLabels.length > 0, 'nodes and edge labels drawn');
  for (const n of layout.nodes) {
    for (const t of [...n.texts, ...n.glyphText.map((g) => ({ what: 'glyph', ...g }))]) {
      // Room inside the border (a first divergence's is 3.5 units thick), so no character touches it.
      if (t.box.left < n.box.left + 3 || t.box.right > n.box.right - 3) problems.push(`#${n.record}: ${t.what} "${t.text}" spills out of its node`);
    }
    const glyph = n.glyph;
    if (glyph) for (const t of n.texts) if (overlap(t.box, { ...glyph, left: glyph.left - 3 }) > 0) problems.push(`#${n.record}: ${t.what} "${t.text}" runs into the layer-stack glyph`);
  }
  const labels = layout.edgeLabels;
  for (let i = 0; i < labels.length; i++) {
    for (let j = i + 1; j < labels.length; j++) if (overlap(labels[i].box, labels[j].box) > 0) problems.push(`edge labels "${labels[i].text}" and "${labels[j].text}" overlap`);
    for (const n of layout.nodes) if (overlap(labels[i].box, n.box) > 0) problems.push(`edge label "${labels[i].text}" is under node #${n.record}`);
  }
  return problems;
}
