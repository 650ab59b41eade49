import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { listGenerations } from '../../electron/engine/sources/generations';
import { generateCache } from '../../scripts/cache-generator/generate';
import { FIXTURES, REPO, fixture } from '../helpers/fixtures';
import { describeViolations, seriousViolations } from './axe';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const buildkit024 = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');

/** CSP violations reach the page as events; collect them (and console errors through the session). */
async function watchCsp(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { cspViolations: string[] };
    w.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
}
const cspViolations = (page: Page) => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);

async function openRecords(page: Page): Promise<void> {
  await page.getByTestId('summary-layerEntries').waitFor();
  await watchCsp(page);
  await page.getByTestId('tab-records').click();
  await page.getByTestId('record-graph').waitFor();
}

const focusedRecord = (page: Page) => page.evaluate(() => document.activeElement?.getAttribute('data-record') ?? null);

describe('record graph of a real cache (Chromium, browser mode, real engine)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(fixture.margo);
  });
  after(async () => {
    await s?.close();
  });

  it('draws every record of margo as a node, sources named, final results marked with their layer stack', async () => {
    const { page } = s;
    await openRecords(page);
    await page.getByTestId('graph-collapse').uncheck();
    await page.getByTestId('graph-node').first().waitFor();
    const nodes = await page.getByTestId('graph-node').evaluateAll((els) => els.map((e) => ({ record: Number(e.getAttribute('data-record')), text: e.textContent ?? '', cls: e.getAttribute('class') ?? '' })));
    const stats = (await page.getByTestId('graph-stats').textContent()) ?? '';
    const records = Number(/(\d+) records?/.exec(stats)?.[1]);
    assert.equal(nodes.length, records, `one node per record uncollapsed (${stats})`);
    assert.ok(nodes.some((n) => n.cls.includes('role-source') && n.text.startsWith('source')), 'sources are named "source"');
    assert.ok(nodes.some((n) => n.cls.includes('role-stage-result') && /stage result/.test(n.text) && /\d+(\.\d+)? ?[KMG]?i?B/.test(n.text)), 'final results show their stack glyph');
    await page.getByTestId('graph-fit').click();
    await screenshot(page, 'record-graph-margo');
    // Collapsing straight runs gives fewer nodes, never more.
    await page.getByTestId('graph-collapse').check();
    const collapsed = await page.getByTestId('graph-node').count();
    assert.ok(collapsed <= nodes.length);
    assert.deepEqual(await cspViolations(page), []);
    assert.deepEqual(s.errors, []);
  });

  it('keyboard: one focusable node, arrows follow inputs, dependents and siblings; Enter opens the detail pane', async () => {
    const { page } = s;
    await page.getByTestId('graph-collapse').uncheck();
    await page.locator('[data-testid="graph-node-focus"][tabindex="0"]').waitFor();
    const tabbable = await page.locator('[data-testid="graph-node-focus"][tabindex="0"]').count();
    assert.equal(tabbable, 1, 'one node at a time is in the Tab order');
    // Start at a stage result, go left along its first input, then right back to a dependent.
    const result = page.locator('[data-testid="graph-node"].role-stage-result').first();
    const resultRecord = await result.getAttribute('data-record');
    await page.locator(`[data-testid="graph-node-focus"][data-record="${resultRecord}"]`).focus();
    assert.equal(await focusedRecord(page), resultRecord);
    await page.keyboard.press('ArrowLeft');
    const input = await focusedRecord(page);
    assert.notEqual(input, resultRecord, 'Left moves to an input');
    // The detail pane names the input: Enter opens it.
    await page.keyboard.press('Enter');
    const detail = page.getByTestId('record-detail');
    await detail.waitFor();
    assert.match((await detail.textContent()) ?? '', new RegExp(`Record #${input}\\b`));
    // Its dependents list holds the record we came from; Right follows a dependent.
    assert.match((await detail.locator('.dependents').textContent()) ?? '', new RegExp(`#${resultRecord}\\b`));
    await page.keyboard.press('ArrowRight');
    const dependent = await focusedRecord(page);
    const deps = await detail.locator('.dependents .chip').allTextContents();
    assert.ok(
      deps.some((d) => d.startsWith(`#${dependent} `)),
      `Right moves to a dependent of #${input}: #${dependent} in ${JSON.stringify(deps)}`,
    );
    // Down moves to a sibling in the same column (or stays on the last one).
    const before = await page.evaluate(() => document.activeElement?.getAttribute('x'));
    await page.keyboard.press('ArrowDown');
    const sibling = await page.evaluate(() => ({ x: document.activeElement?.getAttribute('x'), record: document.activeElement?.getAttribute('data-record') }));
    assert.equal(sibling.x, before, 'a sibling is in the same column');
    await screenshot(page, 'record-graph-keyboard');
  });

  it('focus mode fades everything but the ancestors and dependents; search by digest prefix finds a node', async () => {
    const { page } = s;
    // A source: its focus is itself and what depends on it, so the other sources fade.
    const target = await page.locator('[data-testid="graph-node"].role-source').first().getAttribute('data-record');
    const digest = await page.evaluate((r) => document.querySelector(`[data-testid="graph-node"][data-record="${r}"] title`)?.textContent?.match(/sha256:[0-9a-f]{64}/)?.[0], target);
    assert.ok(digest);
    await page.getByTestId('graph-search').fill(digest.slice(7, 19));
    await page.getByTestId('graph-search-go').click();
    await page.getByTestId('record-detail').waitFor();
    assert.match((await page.getByTestId('record-detail').textContent()) ?? '', new RegExp(`Record #${target}\\b`));
    await page.getByTestId('graph-focus').click();
    const faded = await page.locator('[data-testid="graph-node"].faded').count();
    const all = await page.getByTestId('graph-node').count();
    assert.ok(faded > 0 && faded < all, `some nodes faded (${faded} of ${all})`);
    assert.equal(await page.locator(`[data-testid="graph-node"][data-record="${target}"].faded`).count(), 0);
    await screenshot(page, 'record-graph-focus');
    await page.getByTestId('graph-focus').click();
    const violations = await seriousViolations(page);
    assert.equal(violations.length, 0, describeViolations(violations));
    assert.deepEqual(await cspViolations(page), []);
    assert.deepEqual(s.errors, []);
  });
});

describe('the layout worker bundle', () => {
  it('is a same-origin file with no eval and no workers of its own (script-src and worker-src stay self)', async () => {
    const code = await readFile(join(REPO, 'dist', 'renderer', 'graph-layout-worker.js'), 'utf8');
    assert.doesNotMatch(code, /\beval\(|new Function|Function\(|blob:|data:text|new Worker/);
    const app = await readFile(join(REPO, 'dist', 'renderer', 'app.js'), 'utf8');
    assert.match(app, /graph-layout-worker\.js/);
  });
});

describe('layer chains picture (Chromium)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd'));
  });
  after(async () => {
    await s?.close();
  });

  it('draws one block per layer entry, marked by compression; a click selects the layer everywhere', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await watchCsp(page);
    const entries = Number(await page.getByTestId('summary-layerEntries').textContent());
    await page.getByTestId('tab-chains').click();
    await page.getByTestId('chains-as-picture').click();
    await page.getByTestId('chain-block').first().waitFor();
    assert.equal(await page.getByTestId('chain-block').count(), entries);
    const classes = await page.getByTestId('chain-block').evaluateAll((els) => els.map((e) => e.getAttribute('class') ?? ''));
    assert.ok(classes.some((c) => c.includes('comp-gzip')) && classes.some((c) => c.includes('comp-zstd')), 'gzip and zstd blocks both drawn');
    const block = page.getByTestId('chain-block').nth(1);
    const index = await block.getAttribute('data-index');
    await block.locator('rect').first().click();
    assert.match((await page.getByTestId('chains-picture-selected').textContent()) ?? '', /diffID sha256:/);
    await screenshot(page, 'chains-picture');
    const violations = await seriousViolations(page);
    assert.equal(violations.length, 0, describeViolations(violations));
    // The same layer is selected in the Layers view.
    await page.getByTestId('tab-layers').click();
    await page.locator(`[data-testid="layer-row"][data-index="${index}"][aria-selected="true"]`).waitFor();
    assert.deepEqual(await cspViolations(page), []);
    assert.deepEqual(s.errors, []);
  });
});

describe('record graph of a buildkit v0.24 cache, names from the graph (Chromium)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(buildkit024);
  });
  after(async () => {
    await s?.close();
  });

  it('names sources, content-checksum links and stage results', async () => {
    const { page } = s;
    await openRecords(page);
    await page.getByTestId('graph-collapse').uncheck();
    await page.getByTestId('graph-node').first().waitFor();
    const text = (await page.getByTestId('graph-svg').textContent()) ?? '';
    assert.match(text, /source/);
    assert.match(text, /stage result/);
    assert.match(text, /content checksum/);
    await page.getByTestId('graph-fit').click();
    await screenshot(page, 'record-graph-buildkit-v0.24');
    assert.deepEqual(await cspViolations(page), []);
    assert.deepEqual(s.errors, []);
  });
});

describe('diff overlay on dto-pattern generations (Chromium)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(fixture.dto);
  });
  after(async () => {
    await s?.close();
  });

  it("shows B's graph coloured by A, opened on the first divergence, with A-only records beside it", async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await watchCsp(page);
    const generations = await listGenerations(fixture.dto);
    const orphan = generations.filter((g) => g.orphan).at(-1)!;
    await page.getByTestId('open-source-input').fill(orphan.source);
    await page.getByTestId('open-source-button').click();
    await page.locator(`[data-testid="cache-item"] button[title="${orphan.source}"]`).waitFor();
    await page.getByTestId('tab-diff').click();
    const a = page.getByTestId('diff-a');
    const options = await a.locator('option').evaluateAll((els) => els.map((e) => ({ value: (e as HTMLOptionElement).value, text: e.textContent ?? '' })));
    const orphanOption = options.find((o) => o.text.includes(orphan.digest.slice(7, 19)))!;
    const currentOption = options.find((o) => o.value && o !== orphanOption)!;
    await a.selectOption(orphanOption.value);
    await page.getByTestId('diff-b').selectOption(currentOption.value);
    await page.getByTestId('diff-run').click();
    const graph = page.getByTestId('diff-graph');
    await graph.locator('[data-testid="graph-node"]').first().waitFor();
    const first = await page.getByTestId('divergence').first().textContent();
    const firstRecord = /record #(\d+)/.exec(first ?? '')?.[1];
    assert.ok(firstRecord, `the first divergence names a record: ${first}`);
    // Opened on it: the keyboard's node, outlined, and in focus mode (the rest faded).
    const node = graph.locator(`[data-testid="graph-node"][data-record="${firstRecord}"]`);
    assert.match((await node.getAttribute('class')) ?? '', /diverged/);
    assert.equal(await graph.locator(`[data-testid="graph-node-focus"][data-record="${firstRecord}"]`).getAttribute('tabindex'), '0');
    assert.equal(await graph.getByTestId('graph-focus').getAttribute('aria-pressed'), 'true');
    const classes = await graph.getByTestId('graph-node').evaluateAll((els) => els.map((e) => e.getAttribute('class') ?? ''));
    assert.ok(classes.some((c) => c.includes('mark-matched')), 'matched records dimmed');
    assert.ok(classes.some((c) => c.includes('mark-new')), 'records only in B in red');
    assert.ok((await graph.getByTestId('graph-only-a').textContent())?.includes('Only in A'));
    await graph.scrollIntoViewIfNeeded();
    await screenshot(page, 'record-graph-diff-overlay');
    assert.deepEqual(await cspViolations(page), []);
    assert.deepEqual(s.errors, []);
  });
});

describe('a generated 10k-record cache stays responsive (Chromium)', () => {
  let s: Session;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cachescope-e2e-graph10k-'));
    await generateCache(dir, { seed: 5, stages: 8, layersPerStage: 2, layerBytes: 64, compression: 'gzip', form: 'image-manifest', withBlobs: false, records: 10_000, layers: 2000 });
    s = await openSession(dir);
  });
  after(async () => {
    await s?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows the canvas overview, and a search lays out and focuses the found node', async () => {
    const { page } = s;
    await openRecords(page);
    await page.getByTestId('graph-overview').waitFor({ timeout: 60_000 });
    assert.equal(await page.getByTestId('record-graph').getAttribute('data-mode'), 'overview');
    await screenshot(page, 'record-graph-10k-overview');
    const digest = await page.evaluate(async () => {
      const tables = document.querySelector('[data-testid="graph-stats"]')?.textContent;
      return tables ?? '';
    });
    assert.match(digest, /10000 records/);
    // Search by index, then by the found record's digest prefix.
    await page.getByTestId('graph-search').fill('#7000');
    await page.getByTestId('graph-search-go').click();
    await page.getByTestId('graph-svg').waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId('record-graph').getAttribute('data-mode'), 'focus-subgraph');
    await page.waitForFunction(() => document.activeElement?.getAttribute('data-record') === '7000');
    const nodes = await page.getByTestId('graph-node').count();
    assert.ok(nodes > 0 && nodes <= 400, `a focus subgraph of a few hundred nodes at most (${nodes})`);
    await screenshot(page, 'record-graph-10k-focus');
    // A collapsed straight run expands into its records.
    const before = await page.getByTestId('graph-node').count();
    const run = page.locator('[data-testid="graph-node"].run').first();
    const runRecord = await run.getAttribute('data-record');
    await page.locator(`[data-testid="graph-node-focus"][data-record="${runRecord}"]`).click();
    await page.getByTestId('graph-expand').click();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="graph-node"]').length > n, before);
    await page.locator('[data-testid="graph-node-focus"][data-record="7000"]').focus();
    // Still responsive: a key moves the focus at once.
    await page.keyboard.press('ArrowLeft');
    if ((await focusedRecord(page)) === '7000') await page.keyboard.press('ArrowRight');
    assert.notEqual(await focusedRecord(page), '7000', 'an arrow moves to a neighbour');
    await page.getByTestId('graph-focus').click();
    await page.getByTestId('graph-overview').waitFor();
    assert.deepEqual(await cspViolations(page), []);
    assert.deepEqual(s.errors, []);
  });
});
