import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixture } from '../helpers/fixtures';
import { rawSummary } from '../helpers/raw-summary';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const SUMMARY_KEYS = ['layerEntries', 'uniqueBlobs', 'records', 'recordsWithResults', 'chainRoots', 'sourceRecords', 'missingBlobs'] as const;

interface RawRecord {
  digest: string;
  inputs?: { link: number; selector?: string }[][];
  layers?: { layer: number }[];
}

/** The fixture's documents read straight from its files: what a person would check the views against. */
function rawCache(dir: string) {
  const blob = (d: string) => join(dir, 'blobs', ...d.split(':'));
  const json = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
  const index = json(join(dir, 'index.json'));
  const manifestDigest: string = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === 'latest').digest;
  const manifest = json(blob(manifestDigest));
  const config = json(blob(manifest.config.digest)) as { layers: { blob: string; parent?: number }[]; records: RawRecord[] };
  const sizes = new Map<string, number>(manifest.layers.map((d: { digest: string; size: number }) => [d.digest, d.size]));
  const depth = (i: number): number => (config.layers[i].parent === -1 ? 0 : 1 + depth(config.layers[i].parent ?? 0));
  // Reachable from index.json: every tagged manifest, its config and its layers; the rest of blobs/ is orphaned.
  const reachable = new Set<string>();
  for (const m of index.manifests) {
    const doc = json(blob(m.digest));
    for (const d of [m, doc.config, ...(doc.layers ?? [])]) reachable.add(d.digest);
  }
  const orphans = readdirSync(join(dir, 'blobs', 'sha256'))
    .map((hex) => `sha256:${hex}`)
    .filter((d) => !reachable.has(d))
    .map((d) => ({ digest: d, size: statSync(blob(d)).size }));
  return { config, sizes, depth, orphans };
}

const hex12 = (digest: string) => digest.slice(7, 19);

describe('inspect a real cache in Chromium (browser mode, real engine)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(fixture.margo);
  });
  after(async () => {
    await s?.close();
  });

  it('opens the startup source and shows the overview numbers', async () => {
    const want = rawSummary(fixture.margo);
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    for (const key of SUMMARY_KEYS) {
      assert.equal((await page.getByTestId(`summary-${key}`).textContent())?.trim(), String(want[key]), key);
    }
    assert.equal(await page.getByTestId('summary-totalBytes').getAttribute('data-value'), String(want.totalBytes));
    assert.match((await page.getByTestId('manifest-variant').textContent()) ?? '', /image manifest/i);
    assert.match((await page.locator('body').textContent()) ?? '', new RegExp(want.manifestDigest.slice(7, 19)));
    await screenshot(page, 'overview');
  });

  it('lists one row per layer entry, sortable and filterable by digest prefix', async () => {
    const { page } = s;
    await page.getByTestId('tab-layers').click();
    const rows = page.getByTestId('layer-row');
    await rows.first().waitFor();
    assert.equal(await rows.count(), rawSummary(fixture.margo).layerEntries);
    // Each row shows its entry's blob and exact size, from the raw config and manifest.
    const raw = rawCache(fixture.margo);
    const shown = await rows.evaluateAll((els) => els.map((e) => ({ index: Number(e.getAttribute('data-index')), text: e.textContent ?? '', titles: Array.from(e.querySelectorAll('[title]')).map((t) => t.getAttribute('title')) })));
    for (const row of shown) {
      const blob = raw.config.layers[row.index].blob;
      assert.ok(row.text.includes(hex12(blob)), `layer row ${row.index} shows ${hex12(blob)}`);
      assert.ok(row.titles.includes(`${raw.sizes.get(blob)} bytes`), `layer row ${row.index} has its size ${raw.sizes.get(blob)}: ${JSON.stringify(row.titles)}`);
    }
    await screenshot(page, 'layers');
    await page.getByTestId('layer-filter').fill('sha256:4f4fb700');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="layer-row"]').length === 1);
    assert.match((await rows.first().textContent()) ?? '', /4f4fb700/);
    await page.getByTestId('layer-filter').fill('');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="layer-row"]').length === 8);
  });

  it('Records: one row per record with its digest, input slots and role; the selected record is detailed once', async () => {
    const { page } = s;
    const raw = rawCache(fixture.margo);
    await page.getByTestId('tab-records').click();
    await page.getByTestId('records-as-table').click();
    const rows = page.getByTestId('record-row');
    await rows.first().waitFor();
    const shown = await rows.evaluateAll((els) => els.map((e) => ({ index: Number(e.getAttribute('data-index')), badges: Array.from(e.querySelectorAll('.badge')).map((b) => b.textContent ?? ''), text: e.textContent ?? '' })));
    assert.ok(shown.length >= Math.min(10, raw.config.records.length), `rows are shown (${shown.length})`);
    for (const row of shown) {
      const r = raw.config.records[row.index];
      assert.ok(r, `row ${row.index} is a record of the config`);
      assert.ok(row.text.includes(hex12(r.digest)), `row ${row.index} shows ${hex12(r.digest)}: ${row.text}`);
      // Records without inputs are source records, named so (not "root", which the chains use).
      assert.equal(row.badges.includes('source'), (r.inputs?.length ?? 0) === 0, `row ${row.index}: ${row.badges.join(', ')}`);
      assert.ok(!row.badges.includes('root'), `row ${row.index}: ${row.badges.join(', ')}`);
    }
    // The record with the most input slots, selected: its slots and their links are listed.
    const pick = raw.config.records.map((r, i) => ({ r, i })).sort((x, y) => (y.r.inputs?.length ?? 0) - (x.r.inputs?.length ?? 0))[0];
    await page.evaluate(() => document.querySelector('[data-testid="record-row"]')?.scrollIntoView());
    const row = page.locator(`[data-testid="record-row"][data-index="${pick.i}"]`);
    await row.scrollIntoViewIfNeeded();
    await row.click();
    const detail = page.getByTestId('record-detail');
    await detail.waitFor();
    assert.match((await detail.locator('h3').textContent()) ?? '', new RegExp(`Record #${pick.i}\\b`));
    const slots = detail.getByTestId('input-slot');
    assert.equal(await slots.count(), pick.r.inputs!.length);
    for (const [k, slot] of pick.r.inputs!.entries()) {
      const text = (await slots.nth(k).textContent()) ?? '';
      for (const link of slot) assert.ok(text.includes(`#${link.link}`) && text.includes(hex12(raw.config.records[link.link].digest)), `slot ${k} names record #${link.link}: ${text}`);
    }
    // One place for the details: no side pane repeating them on this tab.
    assert.equal(await page.getByTestId('detail-pane').count(), 0);
    await screenshot(page, 'records');
  });

  it('Records: a record with a result shows its layer stack, base first, from the config\'s parents', async () => {
    const { page } = s;
    const raw = rawCache(fixture.margo);
    const i = raw.config.records.findIndex((r) => (r.layers?.length ?? 0) > 0);
    const tip = raw.config.records[i].layers!.at(-1)!.layer;
    const stack: number[] = [];
    for (let e = tip; e !== -1; e = raw.config.layers[e].parent ?? 0) stack.unshift(e);
    const row = page.locator(`[data-testid="record-row"][data-index="${i}"]`);
    await row.scrollIntoViewIfNeeded();
    await row.click();
    const items = page.getByTestId('record-detail').locator('ol.stack > li');
    await items.first().waitFor();
    const texts = await items.allTextContents();
    assert.equal(texts.length, stack.length);
    stack.forEach((e, k) => assert.ok(texts[k].includes(`entry ${e}`) && texts[k].includes(hex12(raw.config.layers[e].blob)), `position ${k}: entry ${e}: ${texts[k]}`));
  });

  it('Chains: one node per layer entry at its depth, with its blob and exact size', async () => {
    const { page } = s;
    const raw = rawCache(fixture.margo);
    await page.getByTestId('tab-chains').click();
    const nodes = page.getByTestId('chain-node');
    await nodes.first().waitFor();
    const shown = await nodes.evaluateAll((els) =>
      els.map((e) => ({ index: Number(e.getAttribute('data-index')), level: Number(e.getAttribute('aria-level')), blob: e.querySelector('code.blob')?.getAttribute('title'), size: e.querySelector('.size')?.getAttribute('title') })),
    );
    assert.equal(shown.length, raw.config.layers.length, 'every entry of this small cache is shown');
    for (const n of shown) {
      const l = raw.config.layers[n.index];
      assert.equal(n.blob, l.blob, `node ${n.index}`);
      assert.equal(n.level, raw.depth(n.index) + 1, `node ${n.index} depth`);
      assert.equal(n.size, `${raw.sizes.get(l.blob)} bytes`, `node ${n.index} size`);
    }
    await screenshot(page, 'chains');
  });

  it('Orphans: the unreferenced blobs of the folder, by digest, with their bytes', async () => {
    const { page } = s;
    const raw = rawCache(fixture.margo);
    await page.getByTestId('tab-orphans').click();
    const rows = page.getByTestId('orphan-row');
    await rows.first().waitFor();
    assert.equal(await rows.count(), raw.orphans.length);
    const texts = await rows.allTextContents();
    for (const o of raw.orphans) assert.ok(texts.some((t) => t.includes(o.digest.slice(7, 31))), `${o.digest} is listed`);
    const total = raw.orphans.reduce((sum, o) => sum + o.size, 0);
    assert.equal(await page.getByTestId('orphans-bytes').getAttribute('data-value'), String(total));
    const head = (await page.locator('.orphans-head').textContent()) ?? '';
    assert.ok(head.includes(`${raw.orphans.length} unreferenced blobs (${total.toLocaleString('en-US')} bytes)`), head);
    await screenshot(page, 'orphans');
    await page.getByTestId('tab-raw').click();
    await screenshot(page, 'raw-json');
    assert.deepEqual(s.errors, []);
  });

  it('shows a readable error, not a blank screen, for a layout whose manifest blob is absent', async () => {
    const { page } = s;
    await page.getByTestId('open-source-input').fill(fixture.indexOnlySaas);
    await page.getByTestId('open-source-button').click();
    const banner = page.getByTestId('error-banner');
    await banner.waitFor();
    const text = (await banner.textContent()) ?? '';
    assert.match(text, /missing/i);
    assert.match(text, /sha256:[0-9a-f]{12}/);
    await screenshot(page, 'error-missing-manifest');
  });

  it('error banners do not pile up: a newer failure to open replaces the older one, and it can be dismissed', async () => {
    const { page } = s;
    for (const bad of ['/nonexistent/cachescope-a', '/nonexistent/cachescope-b', fixture.indexOnlySaas]) {
      await page.getByTestId('open-source-input').fill(bad);
      await page.getByTestId('open-source-button').click();
      await page.waitForFunction((b) => document.querySelector('[data-testid="error-banner"]')?.textContent?.includes(`Could not open ${b}`), bad);
      assert.equal(await page.getByTestId('error-item').count(), 1, 'one banner line for failures to open');
    }
    await screenshot(page, 'error-banner-one');
    await page.getByTestId('error-item').getByRole('button', { name: 'Dismiss this error' }).click();
    assert.equal(await page.getByTestId('error-banner').count(), 0);
  });
});
