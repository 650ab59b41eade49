import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { fixture } from '../helpers/fixtures';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

/** Orphaned blobs and generations of a layout, read from its files (not from the engine). */
async function rawOrphans(dir: string): Promise<{ blobs: string[]; generations: string[] }> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const reachable = new Set<string>();
  const follow = async (digest: string) => {
    reachable.add(digest);
    const doc = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', digest.slice(7)), 'utf8'));
    for (const d of [doc.config, ...(doc.layers ?? []), ...(doc.manifests ?? [])]) if (d?.digest) reachable.add(d.digest);
  };
  for (const m of index.manifests) await follow(m.digest);
  const blobs = (await readdir(join(dir, 'blobs', 'sha256'))).map((h) => `sha256:${h}`).filter((d) => !reachable.has(d));
  const generations: string[] = [];
  for (const d of blobs) {
    try {
      const doc = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', d.slice(7)), 'utf8'));
      if (doc.config?.mediaType === 'application/vnd.buildkit.cacheconfig.v0') generations.push(d);
    } catch {
      // a layer
    }
  }
  return { blobs, generations };
}

const orphanPill = (page: Page) => page.getByTestId('tab-orphans').locator('.pill');

describe('after a gc, every open view of the folder is read again (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let dir: string;
  let second: Page;
  before(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'cachescope-e2e-gc-refresh-')), 'cache');
    await cp(fixture.dto, dir, { recursive: true });
    s = await openSession(dir);
  });
  after(async () => {
    await s?.close();
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('refreshes the other views of the folder, in this page and another, and says which generations are gone', async () => {
    const { page } = s;
    const orphans = await rawOrphans(dir);
    assert.equal(orphans.generations.length, 3);
    await page.getByTestId('summary-layerEntries').waitFor();
    // A second view of the same folder by tag, and a third: an orphaned generation by digest.
    const gone = orphans.generations[0];
    for (const source of [`${dir}:latest`, `${dir}@${gone}`]) {
      await page.getByTestId('open-source-input').fill(source);
      await page.getByTestId('open-source-button').click();
      await page.locator(`[data-testid="cache-item"] button[title="${source}"]`).waitFor();
    }
    assert.equal(await page.getByTestId('cache-item').count(), 3);
    // Another page (a second window in browser mode) shows the folder too.
    second = await s.browser.newPage({ viewport: { width: 1440, height: 900 } });
    await second.goto(s.server.url);
    await second.getByTestId('summary-layerEntries').waitFor();
    assert.equal((await orphanPill(second).textContent())?.trim(), String(orphans.blobs.length));
    // ...and lists the folder's generations on its Diff tab.
    await second.getByTestId('tab-diff').click();
    await second.getByTestId('generation-picker').locator('summary').click();
    await second.getByTestId('generations-list').click();
    await second.getByTestId('generation-row').first().waitFor();
    assert.equal(await second.getByTestId('generation-row').count(), 1 + orphans.generations.length);

    // gc from the first view.
    await page.locator(`[data-testid="cache-item"] button[title="${dir}"]`).click();
    await page.getByTestId('tab-orphans').click();
    assert.equal(await page.getByTestId('orphan-row').count(), orphans.blobs.length);
    await page.getByTestId('gc-button').click();
    await page.getByTestId('gc-confirm').click();
    await page.getByTestId('gc-done').waitFor();
    assert.deepEqual((await readdir(join(dir, 'blobs', 'sha256'))).filter((h) => orphans.blobs.includes(`sha256:${h}`)), []);

    // The view opened by the deleted digest is closed, and a notice names each removed generation.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="cache-item"]').length === 2);
    // The notice arrives with the layoutChanged event, which may land a moment after the view closed.
    await page
      .waitForFunction(
        (gens) => {
          const text = Array.from(document.querySelectorAll('[data-testid="notice"]')).map((n) => n.textContent ?? '').join('\n');
          return gens.every((g) => text.includes(`generation ${g} was removed by gc`));
        },
        orphans.generations,
        { timeout: 15_000 },
      )
      .catch(() => undefined); // the assertions below say what is missing
    const notices = await page.getByTestId('notice').allTextContents();
    for (const g of orphans.generations) assert.ok(notices.some((n) => n.includes(`generation ${g} was removed by gc`)), `a notice names ${g}: ${JSON.stringify(notices)}`);
    assert.ok(notices.some((n) => n.includes(`Closed its view: ${dir}@${gone}`)), JSON.stringify(notices));
    await page.getByTestId('loading').waitFor({ state: 'detached' });
    await screenshot(page, 'gc-refresh-notices');

    // The other view of the folder (by tag) now shows no orphans.
    await page.locator(`[data-testid="cache-item"] button[title="${dir}:latest"]`).click();
    await page.getByTestId('tab-orphans').click();
    await page.getByText(/in 0 unreferenced blobs/).waitFor();
    assert.equal(await page.getByTestId('orphan-row').count(), 0);
    assert.equal(await orphanPill(page).count(), 0);

    // The other page refreshed by itself too.
    await second.getByTestId('notice').first().waitFor();
    // Its generations list now offers only what exists: the tagged generation.
    await second.waitForFunction(() => document.querySelectorAll('[data-testid="generation-row"]').length === 1);
    await second.getByTestId('tab-overview').click();
    await second.waitForFunction(() => !document.querySelector('[data-testid="tab-orphans"] .pill'));
    await second.getByTestId('tab-orphans').click();
    await second.getByText(/in 0 unreferenced blobs/).waitFor();
    await screenshot(second, 'gc-refresh-other-page');
    assert.deepEqual(s.errors, []);
  });
});
