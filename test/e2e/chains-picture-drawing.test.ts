/**
 * The layer chains picture stays legible whatever the pane's width (Chromium, browser mode, real
 * engine, the buildkit-v0.24 mixed gzip/zstd cache): labels drawn at their full 11px size, never
 * spilling out of their block, with the detail pane open (a narrower pane) and closed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { FIXTURES } from '../helpers/fixtures';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

interface Drawn {
  index: string;
  block: { left: number; right: number; top: number; bottom: number };
  labels: { text: string; left: number; right: number; height: number }[];
}

async function drawn(page: Page): Promise<Drawn[]> {
  // A string, so no bundler helper (tsx's __name) leaks into the page.
  return page.evaluate(`Array.from(document.querySelectorAll('[data-testid="chain-block"]')).map((g) => {
    const r = g.querySelector('rect').getBoundingClientRect();
    return {
      index: g.getAttribute('data-index'),
      block: { left: r.left, right: r.right, top: r.top, bottom: r.bottom },
      labels: Array.from(g.querySelectorAll('text')).map((t) => {
        const b = t.getBoundingClientRect();
        return { text: t.textContent || '', left: b.left, right: b.right, height: b.height };
      }),
    };
  })`);
}

function problems(blocks: Drawn[]): string[] {
  const out: string[] = [];
  for (const b of blocks) {
    for (const l of b.labels) {
      if (l.height < 10) out.push(`#${b.index}: "${l.text}" drawn ${l.height.toFixed(1)} px high (shrunk below its 11px font)`);
      if (l.left < b.block.left || l.right > b.block.right) out.push(`#${b.index}: "${l.text}" spills out of its block`);
    }
  }
  return out;
}

describe('layer chains picture legibility (Chromium)', () => {
  let s: Session;
  const mixed = join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd');
  before(async () => {
    s = await openSession(mixed);
  });
  after(async () => {
    await s?.close();
  });

  it('draws labels at full size inside their blocks, with the detail pane closed and open', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('tab-chains').click();
    await page.getByTestId('chains-as-picture').click();
    await page.getByTestId('chain-block').first().waitFor();
    const closed = await drawn(page);
    assert.ok(closed.some((b) => b.labels.length > 0), 'some block is labelled');
    assert.deepEqual(problems(closed), []);
    // Selecting a block opens the detail pane beside the picture: the picture gets narrower, its text does not.
    const svg = page.getByTestId('chains-picture').locator('svg').first();
    const wide = await svg.evaluate((e) => e.getBoundingClientRect().width);
    await page.getByTestId('chain-block').first().locator('rect').first().click();
    await page.getByTestId('detail-pane').waitFor();
    await page.waitForFunction((w) => (document.querySelector('[data-testid="chains-picture"] svg')?.getBoundingClientRect().width ?? w) < w - 50, wide);
    const open = await drawn(page);
    assert.ok(open.some((b) => b.labels.length > 0), 'some block is still labelled');
    await screenshot(page, 'chains-picture-detail-open');
    assert.deepEqual(problems(open), []);
    await s.assertClean();
  });
});
