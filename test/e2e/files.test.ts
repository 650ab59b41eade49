/**
 * The Files and Waste panels and the diff's "show files that changed", end to end in Chromium with the
 * real engine: layer listings read from a real BuildKit cache, searched, filtered to changes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { openCacheSource } from '../../electron/engine/sources/open-cache';
import { layerChanges } from '../../electron/engine/contents/chain-tree';
import { openLayer } from '../../electron/engine/contents/open-layer';
import { FIXTURES } from '../helpers/fixtures';
import { CONTEXT_FILES, writeBuildCache } from '../integration/contents/two-builds';
import { describeViolations, seriousViolations } from './axe';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const SOURCE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const DOCKERFILE = join(FIXTURES, 'buildkit-v0.24-context', 'Dockerfile');

// The server runs in this process: its listing cache must go to a temp dir, set before it starts.
let cacheHome: string;
const savedCacheHome = process.env.XDG_CACHE_HOME;
before(async () => {
  cacheHome = await mkdtemp(join(tmpdir(), 'cachescope-e2e-files-'));
  process.env.XDG_CACHE_HOME = cacheHome;
});
after(async () => {
  if (savedCacheHome === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedCacheHome;
  await rm(cacheHome, { recursive: true, force: true });
});

/** Where each COPY of the Dockerfile lands (the file names, without the leading slash). */
async function copiedFiles(): Promise<string[]> {
  const text = await readFile(DOCKERFILE, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^COPY (?:--from=(\S+) )?(\S+) (\S+)$/gm)) {
    const [, from, src, dest] = m;
    // `COPY --from=other /c /fromother` copies the other stage's /c directory: its files land under dest.
    if (from) for (const n of text.matchAll(new RegExp(`^COPY (\\S+) ${src}/(\\S+)$`, 'gm'))) out.push(`${dest.slice(1)}/${n[2]}`);
    else out.push(dest.slice(1));
  }
  return out;
}

async function paths(page: Page): Promise<string[]> {
  return page.getByTestId('file-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-path') ?? ''));
}

async function assertNoViolations(page: Page): Promise<void> {
  const v = await seriousViolations(page);
  assert.deepEqual(v, [], describeViolations(v));
}

describe('the Files panel of layers and results (Chromium, browser mode, real engine)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(SOURCE);
  });
  after(async () => {
    await s?.close();
  });

  it("lists every layer's files: together they are exactly the files the Dockerfile copies", async () => {
    const { page } = s;
    await page.getByTestId('tab-layers').click();
    const rows = page.getByTestId('layer-row');
    await rows.first().waitFor();
    const count = await rows.count();
    const seen = new Set<string>();
    for (let i = 0; i < count; i++) {
      await rows.nth(i).click();
      const panel = page.getByTestId('files-panel');
      await panel.getByTestId('files-open').click();
      await panel.getByTestId('files-tree').waitFor();
      for (const p of await paths(page)) seen.add(p);
      if (i === 3) await screenshot(page, 'files-layer-entry');
    }
    const files = [...seen].filter((p) => /\.txt$/.test(p)).sort();
    const want = (await copiedFiles()).sort();
    assert.ok(want.includes('fromother/d.txt') && want.includes('again/a.txt'), `the Dockerfile is read: ${want.join(', ')}`);
    assert.deepEqual(files, want);
    await assertNoViolations(page);
    assert.deepEqual(s.errors, []);
  });

  it("searches a record's squashed result by text and by glob, shows only its changes and its waste", async () => {
    const { page } = s;
    // The final stage's result: the record with the deepest layer stack.
    const opened = await openCacheSource(SOURCE);
    const stacks = opened.model.graph.resolutions.map((r) => r.stack.length);
    const record = stacks.indexOf(Math.max(...stacks));
    const chain = opened.model.graph.resolutions[record].stack;
    const listings = [];
    for (const e of chain) listings.push((await openLayer(opened, opened.model.norm.layers[e].blob, { cache: null })).listing.entries);
    const topChanges = layerChanges(listings, listings.length - 1).map((c) => c.path).sort();
    assert.ok(topChanges.length > 0);

    await page.getByTestId('tab-records').click();
    await page.getByTestId('records-as-table').click();
    await page.locator(`[data-testid="record-row"][data-index="${record}"]`).click();
    const detail = page.getByTestId('record-detail');
    const panel = detail.getByTestId('files-panel');
    assert.equal(await panel.getByTestId('files-view-squash').getAttribute('aria-pressed'), 'true', "a result opens on its squashed tree");
    await panel.getByTestId('files-open').click();
    await panel.getByTestId('files-tree').waitFor();
    const all = await paths(page);
    // Every Dockerfile file of the final stage is in the squashed tree; c/ (the other stage's) is not.
    for (const f of ['a.txt', 'b.txt', 'e.txt', 'fromother/c.txt', 'fromother/d.txt', 'again/a.txt']) assert.ok(all.includes(f), `${f} in ${all.join(', ')}`);
    assert.ok(!all.includes('c/c.txt'));

    await panel.getByTestId('files-search').fill('fromother');
    assert.deepEqual(await paths(page), ['fromother', 'fromother/c.txt', 'fromother/d.txt']);
    await panel.getByTestId('files-search').fill('*.txt');
    assert.deepEqual((await paths(page)).sort(), all.filter((p) => p.endsWith('.txt')).sort());
    await panel.getByTestId('files-search').fill('fromother/?.txt');
    assert.deepEqual(await paths(page), ['fromother/c.txt', 'fromother/d.txt']);
    await panel.getByTestId('files-search').fill('');
    assert.deepEqual(await paths(page), all);

    await panel.getByTestId('files-only-changes').check();
    const changed = await paths(page);
    assert.deepEqual([...changed].sort(), topChanges, 'only the top layer\'s changes are left');
    assert.ok(changed.length < all.length);
    const marks = await page.getByTestId('file-row').evaluateAll((els) => els.map((e) => e.querySelector('.file-mark')?.textContent ?? ''));
    assert.ok(marks.every((m) => m === '+' || m === '~' || m === '−'), `every row is marked: ${marks.join(' ')}`);
    await panel.getByTestId('files-tree').scrollIntoViewIfNeeded();
    await screenshot(page, 'files-result-changes');

    // The squashed view carries the chain's waste; the Waste panel measures it on its own too.
    const score = await panel.getByTestId('files-waste').getByTestId('waste-score').textContent();
    assert.match(score ?? '', /^\d+(\.\d)?%$/);
    const waste = detail.getByTestId('waste-panel');
    await waste.getByTestId('waste-open').click();
    await waste.getByTestId('waste-score').waitFor();
    assert.equal(await waste.getByTestId('waste-score').textContent(), score);
    await waste.scrollIntoViewIfNeeded();
    await screenshot(page, 'files-waste');
    await assertNoViolations(page);
    assert.deepEqual(s.errors, []);
  });
});

describe('"show files that changed" on a diff divergence (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let tmp: string;
  let a: string;
  let b: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-divergence-files-'));
    a = join(tmp, 'build-a');
    b = join(tmp, 'build-b');
    await writeBuildCache(a, join(tmp, 'work-a'), CONTEXT_FILES, 'a');
    await writeBuildCache(b, join(tmp, 'work-b'), { ...CONTEXT_FILES, 'app/src/app.ts': 'export const v = 2; // changed\n' }, 'b');
    s = await openSession(a);
  });
  after(async () => {
    await s?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('names the one file that differs between the two builds', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
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
    const files = page.getByTestId('divergence-files');
    await files.getByTestId('divergence-files-open').click();
    await files.getByTestId('divergence-paths').waitFor();
    assert.deepEqual(await files.getByTestId('divergence-paths').locator('li').allTextContents(), ['app/src/app.ts']);
    assert.equal(await files.getByTestId('divergence-files-text').textContent(), 'Files that differ: app/src/app.ts.');
    await files.scrollIntoViewIfNeeded();
    await screenshot(page, 'files-divergence');
    await assertNoViolations(page);
    assert.deepEqual(s.errors, []);
  });
});
