import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { viewOf } from '../../electron/engine/sources/cache-view';
import { listGenerations } from '../../electron/engine/sources/generations';
import { openCacheSource } from '../../electron/engine/sources/open-cache';
import { generateCache } from '../../scripts/cache-generator/generate';
import type { CacheView } from '../../shared/cache/view-types';
import { diffCaches } from '../../shared/diff/diff-caches';
import { FIXTURES, REPO, fixture } from '../helpers/fixtures';
import { describeViolations, seriousViolations } from './axe';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const buildkit024 = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
/** Another build of the same Dockerfile: the same cache keys, other layer bytes (so every result changed). */
const buildkit024Index = join(FIXTURES, 'buildkit-v0.24-index-gzip');

async function openRecords(page: Page): Promise<void> {
  await page.getByTestId('summary-layerEntries').waitFor();
  await page.getByTestId('tab-records').click();
  await page.getByTestId('record-graph').waitFor();
}

const focusedRecord = (page: Page) => page.evaluate(() => document.activeElement?.getAttribute('data-record') ?? null);

/** Every record reachable from `center` by `next` (not counting itself), walked here from the engine's view. */
function reach(center: number, next: (r: number) => number[]): Set<number> {
  const seen = new Set<number>();
  const todo = [center];
  while (todo.length) {
    for (const n of next(todo.pop()!)) {
      if (n === center || seen.has(n)) continue;
      seen.add(n);
      todo.push(n);
    }
  }
  return seen;
}

/** A record's ancestors (through every input alternative) and dependents, from the cache's own data. */
function ancestorsAndDependents(view: CacheView, center: number): { ancestors: Set<number>; dependents: Set<number>; all: Set<number> } {
  const ancestors = reach(center, (r) => view.records[r].inputs.flatMap((slot) => slot.map((l) => l.link)));
  const dependents = reach(center, (r) => view.records[r].dependents);
  return { ancestors, dependents, all: new Set([center, ...ancestors, ...dependents]) };
}

/** The focusable nodes of the column at x, top to bottom as drawn. */
async function column(page: Page, x: string): Promise<string[]> {
  const nodes = await page.locator(`[data-testid="graph-node-focus"][x="${x}"]`).evaluateAll((els) => els.map((e) => ({ record: e.getAttribute('data-record')!, y: Number(e.getAttribute('y')) })));
  return nodes.sort((a, b) => a.y - b.y).map((n) => n.record);
}

/** The SVG picture's zoom (its group's scale) and pan (the SVG's CSS translate). */
async function graphTransform(page: Page): Promise<{ k: number; pan: string }> {
  return page.evaluate(() => {
    const svg = document.querySelector<SVGSVGElement>('[data-testid="graph-svg"]')!;
    const scale = /scale\(([-\d.e]+)\)/.exec(svg.querySelector('g')?.getAttribute('transform') ?? '');
    return { k: scale ? Number(scale[1]) : NaN, pan: svg.style.transform };
  });
}

/** Node boxes on screen, and the drawing's visible area (the graph pane inside the window). */
async function nodeBoxes(page: Page) {
  return page.evaluate(() => {
    const draw = document.querySelector('.graph-draw')!.getBoundingClientRect();
    const area = { left: Math.max(0, draw.left), top: Math.max(0, draw.top), right: Math.min(window.innerWidth, draw.right), bottom: Math.min(window.innerHeight, draw.bottom) };
    const boxes = Array.from(document.querySelectorAll('[data-testid="graph-node"] .g-box')).map((e) => {
      const r = e.getBoundingClientRect();
      return { record: e.parentElement!.getAttribute('data-record'), left: r.left, top: r.top, right: r.right, bottom: r.bottom };
    });
    return { area, boxes };
  });
}
type Boxes = Awaited<ReturnType<typeof nodeBoxes>>;
const outside = ({ area, boxes }: Boxes) => boxes.filter((b) => b.left < area.left || b.top < area.top || b.right > area.right || b.bottom > area.bottom);

describe('record graph of a real cache (Chromium, browser mode, real engine)', () => {
  let s: Session;
  /** The engine's own view of the cache: what the picture must agree with. */
  let view: CacheView;
  before(async () => {
    view = await viewOf(await openCacheSource(fixture.margo));
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
    await s.assertClean();
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
    const firstInputs = view.records[Number(resultRecord)].inputs[0].map((l) => String(l.link));
    assert.ok(firstInputs.includes(input!), `Left moves to the first input of #${resultRecord} (one of ${firstInputs.join(', ')}), not to #${input}`);
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
    // Up and Down move to the sibling drawn just above or below in the same column, and stay put only at its ends.
    const xs = await page.getByTestId('graph-node-focus').evaluateAll((els) => els.map((e) => e.getAttribute('x')!));
    const tallest = [...new Set(xs)].sort((a, b) => xs.filter((x) => x === b).length - xs.filter((x) => x === a).length)[0];
    const col = await column(page, tallest);
    assert.ok(col.length >= 3, `a column of at least three siblings to walk (${col.length})`);
    await page.locator(`[data-testid="graph-node-focus"][data-record="${col[0]}"]`).focus();
    await page.keyboard.press('ArrowUp');
    assert.equal(await focusedRecord(page), col[0], `Up on the top node #${col[0]} stays there`);
    for (let i = 1; i < col.length; i++) {
      await page.keyboard.press('ArrowDown');
      assert.equal(await focusedRecord(page), col[i], `Down from #${col[i - 1]} moves to the sibling below it, #${col[i]}`);
    }
    await page.keyboard.press('ArrowDown');
    assert.equal(await focusedRecord(page), col.at(-1), `Down on the bottom node #${col.at(-1)} stays there`);
    await screenshot(page, 'record-graph-keyboard');
    for (let i = col.length - 2; i >= 0; i--) {
      await page.keyboard.press('ArrowUp');
      assert.equal(await focusedRecord(page), col[i], `Up from #${col[i + 1]} moves to the sibling above it, #${col[i]}`);
    }
    assert.equal(await page.locator('[data-testid="graph-node-focus"][tabindex="0"]').getAttribute('data-record'), col[0], 'the Tab stop follows the keyboard');
  });

  it('focus mode fades everything but the ancestors and dependents; search by digest prefix finds a node', async () => {
    const { page } = s;
    await page.getByTestId('graph-collapse').uncheck();
    // The most telling record: the one with the most ancestors, dependents and records outside its focus (the least of the three).
    const candidates = view.records
      .map((r) => ({ r, ...ancestorsAndDependents(view, r.index) }))
      .map((c) => ({ ...c, score: Math.min(c.ancestors.size, c.dependents.size, view.records.length - c.all.size) }))
      .sort((a, b) => b.score - a.score);
    assert.ok(candidates[0].score >= 3, `margo has a record with ancestors, dependents and records outside both (${candidates[0].score})`);
    const { r: record, all: focus } = candidates[0];
    const target = String(record.index);
    const digest = record.digest;
    await page.getByTestId('graph-search').fill(digest.slice(7, 19));
    await page.getByTestId('graph-search-go').click();
    await page.getByTestId('record-detail').waitFor();
    assert.match((await page.getByTestId('record-detail').textContent()) ?? '', new RegExp(`Record #${target}\\b`));
    await page.getByTestId('graph-focus').click();
    await page.locator('[data-testid="graph-node"].faded').first().waitFor();
    const nodes = await page.getByTestId('graph-node').evaluateAll((els) => els.map((e) => ({ record: Number(e.getAttribute('data-record')), faded: e.classList.contains('faded') })));
    assert.equal(nodes.length, view.records.length, 'one node per record');
    const wrong = nodes.filter((n) => n.faded === focus.has(n.record));
    assert.deepEqual(
      wrong.map((n) => `#${n.record} ${n.faded ? 'faded' : 'not faded'}`),
      [],
      `focus on #${target}: exactly the records outside its ancestors and dependents {${[...focus].sort((a, b) => a - b).join(', ')}} fade`,
    );
    assert.match((await page.getByTestId('graph-stats').textContent()) ?? '', new RegExp(`focus: ${focus.size} records`));
    await screenshot(page, 'record-graph-focus');
    await page.getByTestId('graph-focus').click();
    assert.equal(await page.locator('[data-testid="graph-node"].faded').count(), 0, 'leaving focus fades nothing');
    const violations = await seriousViolations(page);
    assert.equal(violations.length, 0, describeViolations(violations));
    await s.assertClean();
  });

  it('pans and zooms (buttons, wheel, drag), and Fit brings every node into view', async () => {
    const { page } = s;
    const graph = page.getByTestId('record-graph');
    await page.getByTestId('graph-collapse').uncheck();
    await page.getByTestId('graph-fit').click();
    const fitted = await graphTransform(page);
    assert.deepEqual(outside(await nodeBoxes(page)), [], 'fitted: every node inside the pane');
    // The buttons zoom by 1.25 about the pane's centre.
    await graph.getByRole('button', { name: 'Zoom in' }).click();
    await graph.getByRole('button', { name: 'Zoom in' }).click();
    const zoomed = await graphTransform(page);
    assert.ok(Math.abs(zoomed.k / fitted.k - 1.5625) < 1e-6, `two zoom-ins scale by 1.25² (${fitted.k} → ${zoomed.k})`);
    assert.notEqual(zoomed.pan, fitted.pan, 'zooming about the centre moves the picture too');
    await graph.getByRole('button', { name: 'Zoom out' }).click();
    const out = await graphTransform(page);
    assert.ok(Math.abs(out.k / zoomed.k - 0.8) < 1e-6, `zoom out scales by 0.8 (${zoomed.k} → ${out.k})`);
    // The wheel zooms about the pointer: the node under it stays where it is on screen.
    const anchor = (await nodeBoxes(page)).boxes.find((b) => b.left > 300 && b.top > 200 && b.right < 1100 && b.bottom < 800) ?? (await nodeBoxes(page)).boxes[0];
    const cx = (anchor.left + anchor.right) / 2;
    const cy = (anchor.top + anchor.bottom) / 2;
    await page.mouse.move(cx, cy);
    await page.mouse.wheel(0, -240);
    await page.waitForFunction((k) => {
      const t = document.querySelector('[data-testid="graph-svg"] g')?.getAttribute('transform') ?? '';
      return !t.includes(`scale(${k})`);
    }, out.k);
    const wheeled = await graphTransform(page);
    assert.ok(wheeled.k > out.k * 1.2, `wheel up zooms in (${out.k} → ${wheeled.k})`);
    const anchorAfter = (await nodeBoxes(page)).boxes.find((b) => b.record === anchor.record)!;
    assert.ok(Math.abs((anchorAfter.left + anchorAfter.right) / 2 - cx) < 2 && Math.abs((anchorAfter.top + anchorAfter.bottom) / 2 - cy) < 2, `the node under the pointer stays put: (${cx}, ${cy}) → (${(anchorAfter.left + anchorAfter.right) / 2}, ${(anchorAfter.top + anchorAfter.bottom) / 2})`);
    // A drag pans by exactly the pointer's travel, without zooming or opening a node.
    const detailText = () => page.evaluate(() => document.querySelector('[data-testid="record-detail"]')?.textContent ?? null);
    const detailBefore = await detailText();
    await page.mouse.down();
    await page.mouse.move(cx + 60, cy + 40, { steps: 4 });
    await page.mouse.move(cx + 120, cy + 80, { steps: 4 });
    await page.mouse.up();
    const dragged = await graphTransform(page);
    assert.equal(dragged.k, wheeled.k, 'a drag does not zoom');
    const moved = (await nodeBoxes(page)).boxes.find((b) => b.record === anchor.record)!;
    assert.ok(Math.abs(moved.left - anchorAfter.left - 120) < 1 && Math.abs(moved.top - anchorAfter.top - 80) < 1, `the picture moves with the pointer: by (${moved.left - anchorAfter.left}, ${moved.top - anchorAfter.top})`);
    assert.equal(await detailText(), detailBefore, 'the click that ends a drag opens nothing');
    // Zoomed in this far, part of the graph is off screen; Fit brings every node back inside the pane.
    await graph.getByRole('button', { name: 'Zoom in' }).click();
    await graph.getByRole('button', { name: 'Zoom in' }).click();
    const before = outside(await nodeBoxes(page));
    assert.ok(before.length > 0, 'zoomed in, some nodes are outside the pane');
    await screenshot(page, 'record-graph-zoomed');
    await page.getByTestId('graph-fit').click();
    const after = await nodeBoxes(page);
    assert.deepEqual(outside(after), [], `after Fit every node box is inside the pane ${JSON.stringify(after.area)}`);
    assert.equal(after.boxes.length, view.records.length);
    assert.equal((await graphTransform(page)).k, fitted.k, 'Fit gives the same zoom as the first fit');
    await screenshot(page, 'record-graph-fit');
    await s.assertClean();
  });

  it('the chains picture hatches every missing blob (margo has none of its layer blobs)', async () => {
    const { page } = s;
    await page.getByTestId('tab-chains').click();
    await page.getByTestId('chains-as-picture').click();
    await page.getByTestId('chain-block').first().waitFor();
    const blocks = await page.getByTestId('chain-block').evaluateAll((els) =>
      els.map((e) => ({ index: Number(e.getAttribute('data-index')), missing: e.classList.contains('missing'), hatch: e.querySelector('.c-hatch')?.getAttribute('fill') ?? null })),
    );
    assert.equal(blocks.length, view.layers.length);
    const missing = view.layers.filter((l) => !l.present).map((l) => l.index);
    assert.ok(missing.length > 0, 'margo has missing blobs');
    for (const b of blocks) {
      const want = missing.includes(b.index);
      assert.equal(b.missing, want, `block #${b.index} marked missing: ${want}`);
      assert.equal(b.hatch, want ? 'url(#chains-missing)' : null, `block #${b.index} hatched: ${want}`);
    }
    // The hatch pattern exists, so the fill draws.
    assert.equal(await page.locator('[data-testid="chains-picture"] pattern#chains-missing').count(), 1);
    await screenshot(page, 'chains-picture-missing');
    await s.assertClean();
  });

  it('catches a CSP violation made while the page loads (the listener is in place before the page’s scripts)', async () => {
    const { page } = s;
    await s.assertClean();
    // An image from another origin, requested by the first script of the document: img-src 'self' refuses it.
    await page.addInitScript(() => {
      new Image().src = 'https://csp-probe.invalid/pixel.png';
    });
    await page.reload();
    await page.getByTestId('summary-layerEntries').waitFor();
    await assert.rejects(s.assertClean(), /csp: img-src https:\/\/csp-probe\.invalid\/pixel\.png/);
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
  let view: CacheView;
  const mixed = join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd');
  before(async () => {
    view = await viewOf(await openCacheSource(mixed));
    s = await openSession(mixed);
  });
  after(async () => {
    await s?.close();
  });

  it('draws one block per layer entry, marked by compression; a click selects the layer everywhere', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    const entries = Number(await page.getByTestId('summary-layerEntries').textContent());
    await page.getByTestId('tab-chains').click();
    await page.getByTestId('chains-as-picture').click();
    await page.getByTestId('chain-block').first().waitFor();
    assert.equal(await page.getByTestId('chain-block').count(), entries);
    const classes = await page.getByTestId('chain-block').evaluateAll((els) => els.map((e) => e.getAttribute('class') ?? ''));
    assert.ok(classes.some((c) => c.includes('comp-gzip')) && classes.some((c) => c.includes('comp-zstd')), 'gzip and zstd blocks both drawn');
    // Every blob is present here: nothing is hatched.
    assert.ok(view.layers.every((l) => l.present));
    assert.equal(await page.locator('[data-testid="chain-block"] .c-hatch').count(), 0, 'no block hatched when every blob is present');
    assert.ok(classes.every((c) => !/\bmissing\b/.test(c)));
    // Hovering a block shows its digest, diffID and createdAt (its tooltip), as the engine read them.
    const dated = view.layers.find((l) => l.createdAt)!;
    const hovered = page.locator(`[data-testid="chain-block"][data-index="${dated.index}"] rect`).first();
    await hovered.hover();
    const tip = (await hovered.locator('title').textContent()) ?? '';
    assert.ok(tip.includes(dated.blob), tip);
    assert.ok(tip.includes(`diffID ${dated.diffID}`), tip);
    assert.ok(tip.includes(`created ${dated.createdAt}`), `the hover shows createdAt ${dated.createdAt}: ${tip}`);
    for (const l of view.layers) {
      const t = (await page.locator(`[data-testid="chain-block"][data-index="${l.index}"] rect title`).first().textContent()) ?? '';
      assert.ok(t.includes(`created ${l.createdAt ?? 'unknown'}`), `block #${l.index}: ${t}`);
    }
    const block = page.getByTestId('chain-block').nth(1);
    const index = await block.getAttribute('data-index');
    await block.locator('rect').first().click();
    const selectedText = (await page.getByTestId('chains-picture-selected').textContent()) ?? '';
    assert.match(selectedText, /diffID sha256:/);
    assert.ok(selectedText.includes(`created ${view.layers[Number(index)].createdAt ?? 'unknown'}`), selectedText);
    await screenshot(page, 'chains-picture');
    const violations = await seriousViolations(page);
    assert.equal(violations.length, 0, describeViolations(violations));
    // The same layer is selected in the Layers view.
    await page.getByTestId('tab-layers').click();
    await page.locator(`[data-testid="layer-row"][data-index="${index}"][aria-selected="true"]`).waitFor();
    await s.assertClean();
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
    await s.assertClean();
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
    await s.assertClean();
  });
});

describe('diff overlay: results that changed are amber (two builds of the same Dockerfile, Chromium)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(buildkit024);
  });
  after(async () => {
    await s?.close();
  });

  it('marks exactly the records whose result changed (as the engine diffs them) mark-changed, the rest matched', async () => {
    const { page } = s;
    // The engine's answer: same keys in both builds, and which matched records hold other layers.
    const openedB = await openCacheSource(buildkit024);
    const diff = diffCaches((await openCacheSource(buildkit024Index)).model, openedB.model);
    const recordsB = (await viewOf(openedB)).records.length;
    const changed = new Set(diff.resultChanged.map((m) => m.b));
    assert.ok(changed.size > 0 && diff.newRecords.length === 0, `some results changed (${changed.size}), no record is new`);
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('open-source-input').fill(buildkit024Index);
    await page.getByTestId('open-source-button').click();
    await page.locator(`[data-testid="cache-item"] button[title="${buildkit024Index}"]`).waitFor();
    await page.getByTestId('tab-diff').click();
    const options = await page
      .getByTestId('diff-a')
      .locator('option')
      .evaluateAll((els) => els.map((e) => ({ value: (e as HTMLOptionElement).value, title: e.getAttribute('title') ?? '' })));
    const a = options.find((o) => o.title === buildkit024Index);
    const b = options.find((o) => o.title === buildkit024);
    assert.ok(a && b, JSON.stringify(options));
    await page.getByTestId('diff-a').selectOption(a.value);
    await page.getByTestId('diff-b').selectOption(b.value);
    await page.getByTestId('diff-run').click();
    const graph = page.getByTestId('diff-graph');
    await graph.locator('[data-testid="graph-node"]').first().waitFor();
    await graph.getByTestId('graph-collapse').uncheck();
    // Laid out again uncollapsed: one node per record.
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="diff-graph"] [data-testid="graph-node"]').length === n, recordsB);
    const nodes = await graph.getByTestId('graph-node').evaluateAll((els) => els.map((e) => ({ record: Number(e.getAttribute('data-record')), cls: e.getAttribute('class') ?? '' })));
    assert.equal(nodes.length, recordsB, 'one node per record of B');
    const wrong = nodes.filter((n) => !n.cls.includes(changed.has(n.record) ? 'mark-changed' : 'mark-matched'));
    assert.deepEqual(
      wrong.map((n) => `#${n.record}: ${n.cls}`),
      [],
      `amber exactly on the records whose result changed: ${[...changed].sort((x, y) => x - y).join(', ')}`,
    );
    // The tooltip says it in words too.
    const one = [...changed][0];
    assert.match((await graph.locator(`[data-testid="graph-node"][data-record="${one}"] title`).first().textContent()) ?? '', /matched in A, result changed/);
    await graph.getByTestId('graph-fit').click();
    await graph.scrollIntoViewIfNeeded();
    await screenshot(page, 'record-graph-diff-result-changed');
    await s.assertClean();
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

  it('shows the canvas overview, and a search (by #index, then by digest prefix) lays out and focuses the found node', async () => {
    const { page } = s;
    const records = (await viewOf(await openCacheSource(dir))).records;
    await openRecords(page);
    await page.getByTestId('graph-overview').waitFor({ timeout: 60_000 });
    assert.equal(await page.getByTestId('record-graph').getAttribute('data-mode'), 'overview');
    await screenshot(page, 'record-graph-10k-overview');
    const digest = await page.evaluate(async () => {
      const tables = document.querySelector('[data-testid="graph-stats"]')?.textContent;
      return tables ?? '';
    });
    assert.match(digest, /10000 records/);
    // Search by index first (the digest prefix comes below).
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
    // From the overview again, a digest prefix (12 hex digits, no sha256:) finds another record.
    const target = records[2500];
    assert.equal(records.filter((r) => r.digest.startsWith(target.digest.slice(0, 19))).length, 1, 'the prefix names one record');
    await page.getByTestId('graph-search').fill(target.digest.slice(7, 19));
    await page.getByTestId('graph-search-go').click();
    await page.getByTestId('graph-svg').waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId('record-graph').getAttribute('data-mode'), 'focus-subgraph');
    await page.waitForFunction(() => document.activeElement?.getAttribute('data-record') === '2500');
    assert.match((await page.getByTestId('record-detail').textContent()) ?? '', /Record #2500\b/);
    await screenshot(page, 'record-graph-10k-digest-search');
    await s.assertClean();
  });
});
