/**
 * Names on layers, end to end: a real BuildKit v0.24 cache in browser mode, an image of the same build
 * (written by hand from the cache's own layers, with the history BuildKit writes for
 * buildkit-v0.24-context/Dockerfile) attached through the UI, then the Dockerfile step that made each
 * layer seen in the Layers table's Name column, the Chains tree and the chains picture, each saying
 * where the name comes from.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { viewOf } from '../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../electron/engine/sources/open-cache';
import type { CacheView } from '../../shared/cache/view-types';
import { FIXTURES } from '../helpers/fixtures';
import { writeHistoryImages } from '../helpers/history-image';
import type { HistoryImage } from '../helpers/history-image';
import { describeViolations, seriousViolations } from './axe';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const CACHE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const FINAL_STEPS = ['COPY a.txt /a.txt # buildkit', 'COPY b.txt /b.txt # buildkit', 'COPY /c /fromother # buildkit', 'COPY e.txt /e.txt # buildkit', 'COPY a.txt /again/a.txt # buildkit'];
const OTHER_STEPS = ['COPY c.txt /c/c.txt # buildkit', 'COPY d.txt /c/d.txt # buildkit'];
const shown = (step: string) => step.replace(/ # buildkit$/, '');

function stageImages(view: CacheView): HistoryImage[] {
  const withResult = view.records.filter((r) => r.stack.length > 0);
  const longest = (rs: typeof withResult) => rs.reduce((a, b) => (b.stack.length > a.stack.length ? b : a)).stack;
  const final = longest(withResult);
  const other = longest(withResult.filter((r) => r.stack[0] !== final[0]));
  const history = (steps: string[]) => steps.map((created_by) => ({ created: '2026-11-29T19:05:36Z', created_by }));
  return [
    { chain: final, history: history(FINAL_STEPS), tag: 'final' },
    { chain: other, history: history(OTHER_STEPS), tag: 'other' },
  ];
}

async function attach(page: Page, ref: string): Promise<void> {
  if (await page.getByTestId('attach-image-open').isVisible()) await page.getByTestId('attach-image-open').click();
  await page.getByTestId('attach-image-ref').fill(ref);
  await page.getByTestId('attach-image-go').click();
  await page.getByTestId('attached-images').filter({ hasText: ref }).waitFor();
}

describe('layer names from an attached image (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let tmp: string;
  let imageDir: string;
  let view: CacheView;
  /** Layer entry → the step that made it and its history index, as the hand-written images say. */
  const expected = new Map<number, { step: string; from: RegExp }>();
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-layer-names-'));
    view = await viewOf(await openCacheSource(CACHE));
    imageDir = join(tmp, 'image');
    const images = stageImages(view);
    await writeHistoryImages(imageDir, view, images);
    images.forEach((img, k) => {
      const steps = k === 0 ? FINAL_STEPS : OTHER_STEPS;
      img.chain.forEach((e, i) => expected.set(e, { step: steps[i], from: new RegExp(`from image ${imageDir}:${img.tag} history\\[${i}\\]`) }));
    });
    s = await openSession(CACHE);
  });
  after(async () => {
    await s?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('the Layers table names each layer entry with the step that made it, and says where the name comes from', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('tab-layers').click();
    await page.getByTestId('layer-row').first().waitFor();
    assert.equal(await page.getByTestId('layer-name').count(), 0, 'no names before an image is attached');

    await page.getByTestId('tab-records').click();
    await attach(page, `${imageDir}:final`);
    await attach(page, `${imageDir}:other`);
    await page.getByTestId('tab-layers').click();
    await page.getByTestId('layer-name').first().waitFor();
    const rows = await page.getByTestId('layer-row').evaluateAll((els) =>
      els.map((e) => {
        const name = e.querySelector('[data-testid="layer-name"]');
        return { index: Number(e.getAttribute('data-index')), name: name?.textContent ?? null, title: name?.getAttribute('title') ?? null };
      }),
    );
    assert.equal(rows.length, view.layers.length);
    for (const r of rows) {
      const want = expected.get(r.index);
      if (!want) {
        assert.equal(r.name, null, `layer entry #${r.index} is in no image: no name`);
        continue;
      }
      assert.equal(r.name, shown(want.step), `layer entry #${r.index}`);
      assert.ok(r.title?.startsWith(`${want.step}\n`), `the tooltip has the whole created_by: ${r.title}`);
      assert.match(r.title ?? '', want.from);
    }
    assert.equal(rows.filter((r) => r.name !== null).length, expected.size);
    await screenshot(page, 'layer-names-table');

    // The filter finds a layer entry by its name, too.
    await page.getByTestId('layer-filter').fill('e.txt');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="layer-row"]').length === 1);
    assert.equal(await page.getByTestId('layer-name').textContent(), 'COPY e.txt /e.txt');
    await page.getByTestId('layer-filter').fill('');
    const violations = await seriousViolations(page);
    assert.equal(violations.length, 0, describeViolations(violations));
    await s.assertClean();
  });

  it('the Chains tree names its layer entries', async () => {
    const { page } = s;
    await page.getByTestId('tab-chains').click();
    await page.getByTestId('chain-node').first().waitFor();
    const nodes = await page.getByTestId('chain-node').evaluateAll((els) =>
      els.map((e) => {
        const name = e.querySelector('[data-testid="chain-node-name"]');
        return { index: Number(e.getAttribute('data-index')), name: name?.textContent ?? null, title: name?.getAttribute('title') ?? null };
      }),
    );
    assert.equal(nodes.length, view.layers.length);
    for (const n of nodes) {
      const want = expected.get(n.index);
      assert.equal(n.name, want ? shown(want.step) : null, `chain node #${n.index}`);
      if (want) assert.match(n.title ?? '', want.from);
    }
    await screenshot(page, 'layer-names-chains-tree');
    await s.assertClean();
  });

  it('the chains picture labels wide blocks with the step, and its hover and selection details say the name and where it comes from', async () => {
    const { page } = s;
    await page.getByTestId('chains-as-picture').click();
    await page.getByTestId('chains-picture').waitFor();
    const blocks = await page.getByTestId('chain-block').evaluateAll((els) =>
      els.map((e) => ({
        index: Number(e.getAttribute('data-index')),
        label: e.querySelector('[data-testid="chain-block-name"]')?.textContent ?? null,
        title: e.querySelector('title')?.textContent ?? '',
      })),
    );
    assert.equal(blocks.length, view.layers.length);
    for (const b of blocks) {
      const want = expected.get(b.index);
      if (!want) {
        assert.doesNotMatch(b.title, /made by/);
        continue;
      }
      assert.ok(b.title.includes(`made by ${want.step}`), b.title);
      assert.match(b.title, want.from);
      // A label is the step, cut to the block's width with an ellipsis when it does not fit.
      if (b.label !== null) {
        const full = `#${b.index} ${shown(want.step)}`;
        assert.ok(b.label === full || (b.label.endsWith('…') && full.startsWith(b.label.slice(0, -1))), `${b.label} vs ${full}`);
      }
    }
    const labelled = blocks.filter((b) => b.label !== null);
    assert.ok(labelled.length > 0, 'some named block is wide enough for a label');
    await screenshot(page, 'layer-names-chains-picture');

    const copyE = [...expected].find(([, w]) => w.step.startsWith('COPY e.txt'))![0];
    await page.locator(`[data-testid="chain-block"][data-index="${copyE}"] rect`).first().click();
    const details = page.getByTestId('chains-picture-selected');
    await details.waitFor();
    assert.equal(await details.getByTestId('chains-picture-name').textContent(), 'COPY e.txt /e.txt # buildkit');
    assert.match((await details.textContent()) ?? '', new RegExp(`from image ${imageDir}:final history\\[3\\]`));
    await screenshot(page, 'layer-names-chains-picture-selected');
    const violations = await seriousViolations(page);
    assert.equal(violations.length, 0, describeViolations(violations));
    await s.assertClean();
  });
});
