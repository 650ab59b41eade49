/**
 * The Waste panel and a diff divergence's "show files that changed" read whole layers, and show the
 * Files panel's progress bar while they do: the bytes of the blobs read so far, of all they read,
 * moving up and reaching the total before the result appears; Cancel stops a read part of the way.
 * Two generated builds whose COPY layers each hold a large file of random text (base and RUN layers
 * alike, so the divergence compares the two COPY layers); browser mode, real engine, Chromium.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { openCacheSource } from '../../electron/engine/sources/open-cache';
import { writeBigLayerCache } from '../helpers/big-layer-cache';
import { describeViolations, seriousViolations } from './axe';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

/** Every value the bar showed, in order. */
interface Sample {
  now: number;
  max: number;
  text: string;
}

const BAR = '[data-testid="files-progress-bar"]';

/** Records every value of the (one) progress bar on the page from now on, old values too, so none is missed. */
async function watchBar(page: Page): Promise<void> {
  await page.evaluate((selector) => {
    const w = window as unknown as { barSamples: Sample[]; barObserver?: MutationObserver };
    w.barObserver?.disconnect();
    w.barSamples = [];
    w.barObserver = new MutationObserver((records) => {
      for (const r of records) {
        const bars = r.type === 'attributes' ? [r.target as Element] : Array.from(r.addedNodes).flatMap((n) => (n instanceof Element ? [...(n.matches(selector) ? [n] : []), ...Array.from(n.querySelectorAll(selector))] : []));
        for (const bar of bars) {
          const values = r.type === 'attributes' ? [r.oldValue, bar.getAttribute('aria-valuenow')] : [bar.getAttribute('aria-valuenow')];
          for (const v of values) if (v !== null) w.barSamples.push({ now: Number(v), max: Number(bar.getAttribute('aria-valuemax')), text: bar.getAttribute('aria-valuetext') ?? '' });
        }
      }
    });
    w.barObserver.observe(document.body, { subtree: true, childList: true, attributes: true, attributeOldValue: true, attributeFilter: ['aria-valuenow'] });
  }, BAR);
}

/** Waits until the bar is part of the way: a real value above 0 and below its maximum. */
async function barPartWay(page: Page): Promise<void> {
  await page.waitForFunction(
    (selector) => {
      const bar = document.querySelector(`${selector}[aria-valuenow]`);
      return bar !== null && Number(bar.getAttribute('aria-valuenow')) > 0 && Number(bar.getAttribute('aria-valuenow')) < Number(bar.getAttribute('aria-valuemax'));
    },
    BAR,
    { polling: 'raf' },
  );
}

/** The bar went up through several values, never back, with the total as its maximum all along, and reached it. */
async function assertBarClimbed(page: Page, total: number): Promise<void> {
  const samples = (await page.evaluate(() => (window as unknown as { barSamples: Sample[] }).barSamples)).filter((x) => Number.isFinite(x.now));
  const values = samples.map((x) => x.now);
  assert.ok(samples.every((x) => x.max === total), `aria-valuemax is the total ${total}: ${JSON.stringify(samples.slice(0, 5))}`);
  for (let i = 1; i < values.length; i++) assert.ok(values[i] >= values[i - 1], `the bar never goes back: ${values.join(', ')}`);
  const between = new Set(values.filter((v) => v > 0 && v < total));
  assert.ok(between.size >= 3, `the bar moved through several values on the way: ${values.join(', ')}`);
  assert.equal(Math.max(...values), total, `the bar reached the total: ${values.join(', ')}`);
  assert.match(samples.find((x) => x.now > 0 && x.now < total)!.text, /^\d+(\.\d+)? ([KMG]i)?B of \d+(\.\d+)? ([KMG]i)?B \(\d+%\)$/);
}

/** Cancel while the bar is part of the way: the read stops, the bar goes and the panel says so. */
async function cancelPartWay(page: Page, panel: Locator, open: string, cancel: string): Promise<void> {
  await panel.getByTestId(open).click();
  await barPartWay(page);
  await panel.getByTestId(cancel).click();
  await panel.getByRole('alert').filter({ hasText: 'cancelled' }).waitFor();
  assert.equal(await panel.getByTestId('files-progress').count(), 0, 'the bar is gone after Cancel');
  assert.equal(await panel.getByTestId(open).count(), 1, 'the panel offers the read again');
}

describe('the Waste panel and "show files that changed" show the bytes read (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let tmp: string;
  let a: string;
  let b: string;
  const savedCacheHome = process.env.XDG_CACHE_HOME;
  /** Forgets every cached listing, so the next read reads the blobs. */
  const forgetListings = () => rm(join(tmp, 'xdg'), { recursive: true, force: true });
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-waste-divergence-progress-'));
    // The server runs in this process: its listing cache goes to a temp dir, set before it starts.
    process.env.XDG_CACHE_HOME = join(tmp, 'xdg');
    a = join(tmp, 'build-a');
    b = join(tmp, 'build-b');
    // Contexts of different sizes: B's COPY has another cache key, so B rebuilt the COPY and the RUN above it.
    await writeBigLayerCache(a, join(tmp, 'work-a'), 120);
    await writeBigLayerCache(b, join(tmp, 'work-b'), 100);
    s = await openSession(a);
  });
  after(async () => {
    await s?.close();
    if (savedCacheHome === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = savedCacheHome;
    await rm(tmp, { recursive: true, force: true });
  });

  it("the Waste panel's bar climbs through the bytes of the result's layers to their total, then the score shows", async () => {
    const { page } = s;
    const opened = await openCacheSource(a);
    const stacks = opened.model.graph.resolutions.map((r) => r.stack.length);
    const record = stacks.indexOf(Math.max(...stacks));
    const chain = opened.model.graph.resolutions[record].stack;
    assert.equal(chain.length, 3, 'the RUN result stands on base, COPY and RUN layers');
    const total = chain.reduce((n, e) => n + opened.model.descriptors.get(opened.model.norm.layers[e].blob)!.size, 0);

    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('tab-records').click();
    await page.getByTestId('records-as-table').click();
    await page.locator(`[data-testid="record-row"][data-index="${record}"]`).click();
    const panel = page.getByTestId('record-detail').getByTestId('waste-panel');
    await panel.scrollIntoViewIfNeeded();
    await cancelPartWay(page, panel, 'waste-open', 'waste-cancel');

    await forgetListings();
    await watchBar(page);
    await panel.getByTestId('waste-open').click();
    await barPartWay(page);
    await panel.scrollIntoViewIfNeeded();
    const midText = (await panel.getByTestId('files-progress-text').textContent().catch(() => '')) ?? '';
    await screenshot(page, 'waste-progress-reading');
    await panel.getByTestId('waste-score').waitFor();
    assert.equal(await panel.getByTestId('files-progress').count(), 0, 'the bar is gone once the waste is measured');
    await assertBarClimbed(page, total);
    assert.match(midText, /^(Reading layer [123] of 3|Read; measuring the waste) · .* of .* \(\d+%\)/);
    assert.match((await panel.getByTestId('waste-score').textContent()) ?? '', /^\d+(\.\d)?%$/);
    await screenshot(page, 'waste-progress-done');
    const violations = await seriousViolations(page);
    assert.equal(violations.length, 0, describeViolations(violations));
    assert.deepEqual(s.errors, []);
  });

  it("a divergence's bar climbs through the bytes of A's and B's rebuilt layers to their total, then the files show", async () => {
    const { page } = s;
    const [left, right] = [await openCacheSource(a), await openCacheSource(b)];
    // Only the COPY layers differ (base and RUN are the same blobs): the read is A's COPY blob, then B's.
    const total = left.model.descriptors.get(left.model.norm.layers[1].blob)!.size + right.model.descriptors.get(right.model.norm.layers[1].blob)!.size;
    assert.equal(left.model.norm.layers[2].blob, right.model.norm.layers[2].blob);

    await page.getByTestId('open-source-input').fill(b);
    await page.getByTestId('open-source-button').click();
    await page.locator(`[data-testid="cache-item"] button[title="${b}"]`).waitFor();
    await page.getByTestId('tab-diff').click();
    const options = await page.getByTestId('diff-a').locator('option').evaluateAll((els) => els.map((e) => ({ value: (e as HTMLOptionElement).value, text: e.textContent ?? '' })));
    const optA = options.find((o) => o.value && o.text.includes('build-a'));
    const optB = options.find((o) => o.value && o.text.includes('build-b'));
    assert.ok(optA && optB, JSON.stringify(options));
    await page.getByTestId('diff-a').selectOption(optA.value);
    await page.getByTestId('diff-b').selectOption(optB.value);
    await page.getByTestId('diff-run').click();
    await page.getByTestId('divergence-detail').waitFor();
    const panel = page.getByTestId('divergence-files');
    await panel.scrollIntoViewIfNeeded();
    await forgetListings();
    await cancelPartWay(page, panel, 'divergence-files-open', 'divergence-files-cancel');

    await forgetListings();
    await watchBar(page);
    await panel.getByTestId('divergence-files-open').click();
    await barPartWay(page);
    await panel.scrollIntoViewIfNeeded();
    const midText = (await panel.getByTestId('files-progress-text').textContent().catch(() => '')) ?? '';
    await screenshot(page, 'divergence-progress-reading');
    await panel.getByTestId('divergence-paths').waitFor();
    assert.equal(await panel.getByTestId('files-progress').count(), 0, 'the bar is gone once the files are compared');
    await assertBarClimbed(page, total);
    assert.match(midText, /^(Reading (A|B)'s rebuilt layer|Read; comparing the files) · .* of .* \(\d+%\)/);
    assert.deepEqual(await panel.getByTestId('divergence-paths').locator('li').allTextContents(), ['app/big.txt']);
    await screenshot(page, 'divergence-progress-done');
    const violations = await seriousViolations(page);
    assert.equal(violations.length, 0, describeViolations(violations));
    assert.deepEqual(s.errors, []);
  });
});
