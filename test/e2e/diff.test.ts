import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listGenerations } from '../../electron/engine/sources/generations';
import { fixture } from '../helpers/fixtures';
import { oracleDiff, readRawGeneration } from '../unit/diff/raw-oracle';
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
    // Wait for the opened cache itself (an "opening…" row shows the digest too).
    await page.locator(`[data-testid="cache-item"] button[title="${orphan.source}"]`).waitFor();
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
    // What the first divergences are comes from an independent oracle over the raw JSON, not from a pinned string.
    const current = generations.find((g) => !g.orphan)!;
    const oracle = oracleDiff(await readRawGeneration(fixture.dto, orphan.digest), await readRawGeneration(fixture.dto, current.digest));
    assert.equal(await divergences.count(), oracle.divergences.length);
    const texts = await divergences.allTextContents();
    for (const d of oracle.divergences) assert.ok(texts.some((t) => t.includes(`input ${d.slot} of record #${d.record} changed`)), `${JSON.stringify(d)} in ${JSON.stringify(texts)}`);
    await divergences.first().click();
    await screenshot(page, 'diff-divergence');
    assert.deepEqual(s.errors, []);
  });
});

describe('the generations picker of a folder with many generations (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let dir: string;
  before(async () => {
    // dto-pattern plus 30 more orphaned copies of its oldest manifest (an extra annotation each): a long list, as on a busy CI cache.
    dir = join(await mkdtemp(join(tmpdir(), 'cachescope-e2e-generations-')), 'cache');
    await cp(fixture.dto, dir, { recursive: true });
    const oldest = (await listGenerations(dir)).filter((g) => g.orphan).at(-1)!;
    const doc = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', oldest.digest.slice(7)), 'utf8'));
    for (let i = 0; i < 30; i++) {
      const bytes = Buffer.from(JSON.stringify({ ...doc, annotations: { 'test.copy': String(i) } }));
      await writeFile(join(dir, 'blobs', 'sha256', createHash('sha256').update(bytes).digest('hex')), bytes);
    }
    s = await openSession(dir);
  });
  after(async () => {
    await s?.close();
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it("shows each generation's total bytes, keeps 'Open both and compare' on screen and scrolls to the result", async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('tab-diff').click();
    await page.getByTestId('generation-picker').locator('summary').click();
    await page.getByTestId('generations-list').click();
    const rows = page.getByTestId('generation-row');
    await rows.first().waitFor();
    // Sizes from the raw files: the manifest, its config and its distinct layers (not the manifest alone).
    const want = new Map<string, number>();
    for (const hex of await readdir(join(dir, 'blobs', 'sha256'))) {
      const bytes = await readFile(join(dir, 'blobs', 'sha256', hex));
      if (bytes[0] !== 0x7b) continue;
      const m = JSON.parse(bytes.toString('utf8'));
      if (m.config?.mediaType !== 'application/vnd.buildkit.cacheconfig.v0') continue;
      const distinct = new Map<string, number>([m.config, ...m.layers].map((d: { digest: string; size: number }) => [d.digest, d.size]));
      want.set(hex.slice(0, 12), bytes.length + [...distinct.values()].reduce((a, b) => a + b, 0));
    }
    assert.equal(await rows.count(), want.size);
    assert.ok(want.size >= 34);
    const shown = await rows.evaluateAll((els) => els.map((e) => ({ digest: e.querySelector('code')?.textContent ?? '', size: e.querySelector('[data-testid="generation-size"]')?.getAttribute('data-value') })));
    for (const row of shown) assert.equal(row.size, String(want.get(row.digest.slice(7, 19))), row.digest);

    // The button is visible without scrolling, however long the list.
    const inView = (testId: string) =>
      page.evaluate((id) => {
        const r = document.querySelector(`[data-testid="${id}"]`)!.getBoundingClientRect();
        return r.top >= 0 && r.top < window.innerHeight;
      }, testId);
    assert.equal(await inView('generations-diff'), true, '"Open both and compare" is above the fold');
    await screenshot(page, 'diff-generations');
    await page.getByTestId('generations-diff').click();
    await page.getByTestId('diff-summary').waitFor();
    await page.waitForFunction(() => {
      const r = document.querySelector('[data-testid="diff-summary"]')!.getBoundingClientRect();
      return r.top >= 0 && r.top < window.innerHeight / 2;
    });
    await screenshot(page, 'diff-generations-result');
    assert.deepEqual(s.errors, []);
  });
});
