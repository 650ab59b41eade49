/**
 * Names people recognise, end to end: a real BuildKit v0.24 cache opened in browser mode, an image of
 * the same build (written by hand from the cache's own layers, with the history BuildKit writes for
 * buildkit-v0.24-context/Dockerfile) attached through the UI, and its Dockerfile steps seen in the
 * graph, the records table, the detail pane and a diff explanation.
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
import { copyWithChangedKey, writeHistoryImages } from '../helpers/history-image';
import type { HistoryImage } from '../helpers/history-image';
import { describeViolations, seriousViolations } from './axe';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const CACHE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const OTHER_BUILD = join(FIXTURES, 'buildkit-v0.24-index-gzip');
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
}

async function attachError(page: Page, ref: string): Promise<string> {
  await attach(page, ref);
  const error = page.getByTestId('attach-image-error');
  await error.waitFor();
  return (await error.textContent()) ?? '';
}

describe('record names from an attached image (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let tmp: string;
  let imageDir: string;
  let otherImage: string;
  let changed: string;
  let view: CacheView;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-names-'));
    view = await viewOf(await openCacheSource(CACHE));
    imageDir = join(tmp, 'image');
    await writeHistoryImages(imageDir, view, stageImages(view));
    const otherView = await viewOf(await openCacheSource(OTHER_BUILD));
    otherImage = join(tmp, 'other-build-image');
    await writeHistoryImages(otherImage, otherView, stageImages(otherView));
    // A: the same cache as if e.txt had other content (the content checksum under COPY e.txt differs).
    const copyE = view.records.find((r) => r.stack.length === 4)!;
    const checksum = copyE.inputs.map((slot) => view.records[slot[0].link]).find((r) => r.isSource)!.digest;
    changed = await copyWithChangedKey(CACHE, join(tmp, 'changed'), checksum, `sha256:${'e'.repeat(64)}`);
    s = await openSession(CACHE);
  });
  after(async () => {
    await s?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('refuses what is not an image of this build in clear words, then names the graph’s nodes with the Dockerfile’s steps', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('tab-records').click();
    await page.getByTestId('graph-node').first().waitFor();
    assert.equal(await page.getByTestId('graph-node-name').count(), 0, 'no names before an image is attached');

    assert.match(await attachError(page, join(tmp, 'no-such-image')), /no such file or directory/);
    assert.match(await attachError(page, CACHE), /is a build cache .*not an image/);
    assert.match(await attachError(page, `${otherImage}:final`), /no diffID in common with this cache/);
    await screenshot(page, 'record-names-attach-error');

    await attach(page, `${imageDir}:final`);
    await page.getByTestId('attached-images').waitFor();
    await attach(page, `${imageDir}:other`);
    await page.getByTestId('attached-images').filter({ hasText: `${imageDir}:other` }).waitFor();
    await page.getByTestId('graph-collapse').uncheck();
    await page.getByTestId('graph-fit').click();
    const names = await page.getByTestId('graph-node-name').allTextContents();
    for (const step of [...FINAL_STEPS, ...OTHER_STEPS]) {
      const want = shown(step);
      assert.ok(
        names.some((n) => n === want || (n.endsWith('…') && want.startsWith(n.slice(0, -1)))),
        `a node is named ${want}: ${JSON.stringify(names)}`,
      );
    }
    // Names win; the graph's role stays as the secondary label, and sources keep theirs.
    const finalNode = page.locator('[data-testid="graph-node"].role-stage-result');
    assert.match((await finalNode.textContent()) ?? '', /COPY a\.txt \/again\/a.*#\d+ [0-9a-f]{6}stage result/);
    assert.ok((await page.locator('[data-testid="graph-node"].role-source').count()) > 0);
    assert.match((await finalNode.locator('title').textContent()) ?? '', new RegExp(`from image ${imageDir}:final history\\[4\\]`));
    await screenshot(page, 'record-names-graph');
    const violations = await seriousViolations(page);
    assert.equal(violations.length, 0, describeViolations(violations));
    await s.assertClean();
  });

  it('search by name in the graph opens the record, whose detail says the name and where it comes from', async () => {
    const { page } = s;
    await page.getByTestId('graph-search').fill('again');
    await page.getByTestId('graph-search-go').click();
    const detail = page.getByTestId('record-detail');
    await detail.waitFor();
    const line = detail.getByTestId('history-name');
    await line.waitFor();
    const text = (await line.textContent()) ?? '';
    assert.match(text, /COPY a\.txt \/again\/a\.txt # buildkit/);
    assert.match(text, new RegExp(`from image ${imageDir}:final history\\[4\\]`));
    assert.match(text, /role from the graph: stage result/);
    await screenshot(page, 'record-names-detail');
    await s.assertClean();
  });

  it('the records table has a Name column, and its filter finds a record by name', async () => {
    const { page } = s;
    await page.getByTestId('records-as-table').click();
    await page.getByTestId('record-row').first().waitFor();
    const named = await page.getByTestId('record-name').allTextContents();
    assert.deepEqual([...named].sort(), [...FINAL_STEPS, ...OTHER_STEPS].map(shown).sort());
    await page.getByTestId('records-filter').fill('e.txt');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="record-row"]').length === 1);
    assert.equal(((await page.getByTestId('record-row').textContent()) ?? '').includes('COPY e.txt /e.txt'), true);
    await screenshot(page, 'record-names-table');
    const violations = await seriousViolations(page);
    assert.equal(violations.length, 0, describeViolations(violations));
    await page.getByTestId('records-filter').fill('');
    await s.assertClean();
  });

  it('the detail pane of a layer entry names it too', async () => {
    const { page } = s;
    await page.getByTestId('tab-layers').click();
    const tip = view.layers.findIndex((l, i) => view.records.some((r) => r.stack.length === 5 && r.stack[4] === i));
    await page.locator(`[data-testid="layer-row"][data-index="${tip}"]`).click();
    const pane = page.getByTestId('detail-pane');
    await pane.waitFor();
    const text = (await pane.getByTestId('history-name').textContent()) ?? '';
    assert.match(text, /COPY a\.txt \/again\/a\.txt # buildkit/);
    assert.match(text, /from image .*:final history\[4\]/);
    await screenshot(page, 'record-names-detail-pane');
    await s.assertClean();
  });

  it('opening the same cache again (a refresh) keeps the attached images’ names', async () => {
    const { page } = s;
    await page.getByTestId('open-source-input').fill(CACHE);
    await page.getByTestId('open-source-button').click();
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('tab-records').click();
    await page.getByTestId('attached-images').filter({ hasText: `${imageDir}:other` }).waitFor();
    await page.getByTestId('graph-node-name').first().waitFor();
    assert.equal(await page.getByTestId('graph-node-name').count(), FINAL_STEPS.length + OTHER_STEPS.length);
    await s.assertClean();
  });

  it('a diff explanation names the record whose input changed', async () => {
    const { page } = s;
    await page.getByTestId('open-source-input').fill(changed);
    await page.getByTestId('open-source-button').click();
    await page.locator(`[data-testid="cache-item"] button[title="${changed}"]`).waitFor();
    await page.getByTestId('tab-diff').click();
    const options = await page
      .getByTestId('diff-a')
      .locator('option')
      .evaluateAll((els) => els.map((e) => ({ value: (e as HTMLOptionElement).value, title: e.getAttribute('title') ?? '' })));
    const a = options.find((o) => o.title === changed)!;
    const b = options.find((o) => o.title === CACHE)!;
    assert.ok(a && b, JSON.stringify(options));
    await page.getByTestId('diff-a').selectOption(a.value);
    await page.getByTestId('diff-b').selectOption(b.value);
    await page.getByTestId('diff-run').click();
    await page.getByTestId('diff-summary').waitFor();
    const texts = await page.getByTestId('divergence-explanation').allTextContents();
    const copyE = view.records.find((r) => r.stack.length === 4)!;
    assert.ok(
      texts.some((t) => new RegExp(`^input \\d of record #${copyE.index} \\(COPY e\\.txt /e\\.txt\\) changed: content checksum of its files`).test(t)),
      JSON.stringify(texts),
    );
    await page.getByTestId('divergence').first().click();
    await page.getByTestId('divergence-detail').waitFor();
    assert.match((await page.getByTestId('divergence-detail').textContent()) ?? '', /record #\d+ \(COPY e\.txt \/e\.txt\)/);
    // Each name says where it comes from: the explanation's tooltip, and the name line in the detail.
    const namedTitle = (await page.getByTestId('divergence-explanation').filter({ hasText: 'COPY e.txt' }).first().getAttribute('title')) ?? '';
    assert.ok(namedTitle.includes(`B's record #${copyE.index} is named from image ${imageDir}:final history[3]`), namedTitle);
    const nameLine = (await page.getByTestId('divergence-detail').getByTestId('history-name').first().textContent()) ?? '';
    assert.ok(nameLine.includes('COPY e.txt /e.txt # buildkit') && nameLine.includes(`from image ${imageDir}:final history[3]`), nameLine);
    await page.getByTestId('divergence').first().scrollIntoViewIfNeeded();
    await screenshot(page, 'record-names-diff');
    await page.getByTestId('diff-graph').scrollIntoViewIfNeeded();
    await screenshot(page, 'record-names-diff-graph');
    await s.assertClean();
  });
});
