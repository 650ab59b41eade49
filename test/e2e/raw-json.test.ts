import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateCache } from '../../scripts/cache-generator/generate';
import { fixture } from '../helpers/fixtures';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

/** What the page-side probe saw: queueing delay of each key event, and every long task. */
interface Probe {
  inputDelays: number[];
  longTasks: number[];
}

/** Text of the rendered lines, in order, as a person reads them. */
async function shownLines(s: Session): Promise<string[]> {
  return s.page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLElement>('[data-testid="raw-line"]'))
      .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
      .map((el) => el.querySelector('.json-text')?.textContent ?? ''),
  );
}

describe('Raw JSON of a 100k-record cache config stays responsive (Chromium, real engine)', () => {
  let s: Session;
  let dir: string;
  let configJson: string;
  let configFile: string;
  let configDigest: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cachescope-e2e-raw-'));
    // The README's benchmark size (bench/parse-bench.ts): about 17 MB of config, 1.3 million pretty lines.
    const g = await generateCache(dir, { seed: 'raw-json', stages: 8, layersPerStage: 1, layerBytes: 64, compression: 'gzip', form: 'image-manifest', withBlobs: false, records: 100_000, layers: 2000 });
    configJson = g.configJson;
    configDigest = g.configDescriptor.digest;
    configFile = join(dir, 'blobs', ...configDigest.split(':'));
    s = await openSession(dir);
  });
  after(async () => {
    await s?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('handles every input event within 100 ms while the config loads and formats', async (t) => {
    const { page } = s;
    await page.getByTestId('summary-records').waitFor();
    assert.equal(await page.getByTestId('summary-records').textContent(), '100000');
    // The probe lives in the page: key events' queueing delay (handler time minus the event's own
    // timestamp) and the Long Tasks API, which reports every main-thread task over 50 ms.
    await page.evaluate(() => {
      const probe = { inputDelays: [] as number[], longTasks: [] as number[] };
      (window as unknown as { probe: typeof probe }).probe = probe;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) probe.longTasks.push(e.duration);
      }).observe({ type: 'longtask' });
      const input = document.createElement('input');
      input.id = 'responsiveness-probe';
      input.setAttribute('aria-label', 'probe');
      input.addEventListener('keydown', (e) => probe.inputDelays.push(performance.now() - e.timeStamp));
      // Fixed in a corner, so focusing it scrolls nothing (CSSOM writes are allowed under the CSP).
      Object.assign(input.style, { position: 'fixed', right: '0', bottom: '0', width: '80px', opacity: '0.6' });
      document.body.append(input);
    });
    await page.getByTestId('tab-raw').click();
    await page.getByTestId('raw-json').waitFor();
    // Up to three loads of the config (each a fresh fetch, worker and format): a CPU starved by
    // other processes can stretch any task past 100 ms once, while a page that formats on its own
    // thread blocks on every load (the old view: seconds each time).
    const runs: Probe[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) {
        // Back to the manifest first, so the config loads anew.
        await page.getByTestId('raw-manifest').click();
        await page.waitForFunction(() => !(document.querySelector('[data-testid="raw-json"]')?.textContent ?? '').includes('"records"'));
      }
      await page.getByTestId('raw-config').click();
      await page.evaluate(() => {
        const probe = (window as unknown as { probe: Probe }).probe;
        probe.inputDelays.length = 0;
        probe.longTasks.length = 0;
      });
      await page.locator('#responsiveness-probe').focus();
      // Keep typing until the formatted document is on screen; each press waits for the page to take it.
      let presses = 0;
      do {
        await page.keyboard.press('x');
        presses++;
        assert.ok(presses < 100_000, 'the document never appeared');
      } while (!(await page.evaluate(() => document.querySelector('[data-testid="raw-json"]')?.textContent?.includes('"records"'))));
      const run = await page.evaluate(() => structuredClone((window as unknown as { probe: Probe }).probe));
      runs.push(run);
      t.diagnostic(`load ${attempt + 1}: ${run.inputDelays.length} key events, slowest handled after ${Math.max(...run.inputDelays).toFixed(1)} ms; long tasks: ${run.longTasks.map((d) => d.toFixed(0)).join(', ') || 'none'}`);
      if (run.inputDelays.length >= 3 && run.inputDelays.every((d) => d < 100) && run.longTasks.every((d) => d < 100)) break;
    }
    const probe = runs[runs.length - 1];
    assert.ok(probe.longTasks.every((d) => d < 100), `no main-thread task took 100 ms or more: ${probe.longTasks.map((d) => d.toFixed(0)).join(', ')}`);
    assert.ok(Math.max(...probe.inputDelays) < 100, `every key event was handled within 100 ms: ${probe.inputDelays.map((d) => d.toFixed(0)).join(', ')}`);
    assert.ok(probe.inputDelays.length >= 3, `key events were sent while the document loaded (${probe.inputDelays.length})`);
    await page.evaluate(() => document.getElementById('responsiveness-probe')?.remove());
  });

  it('shows the line count, starts folded below the top level and unfolds to a known record digest', async () => {
    const { page } = s;
    const config = JSON.parse(configJson) as { layers: unknown[]; records: { digest: string }[] };
    // Oracle: JSON.stringify's pretty form (the config has no number beyond 2^53).
    const expectedLines = JSON.stringify(config, null, 2).split('\n').length;
    const stats = page.getByTestId('raw-stats');
    assert.equal(await stats.getAttribute('data-lines'), String(expectedLines));
    assert.equal(await page.getByTestId('raw-line-count').textContent(), expectedLines.toLocaleString('en-US'));
    assert.equal(await stats.getAttribute('data-bytes'), String(Buffer.byteLength(configJson)));
    assert.deepEqual(await shownLines(s), ['{', '  "layers": [ … ],', '  "records": [ … ]', '}']);
    assert.match((await page.getByTestId('raw-line').nth(2).textContent()) ?? '', /100,000 items/);
    assert.match((await page.getByTestId('raw-line').nth(1).textContent()) ?? '', /2,000 items/);

    // Line numbers are the document's own: "records" sits after the 2000 layer entries.
    const recordsLine = Number(await page.getByTestId('raw-line').nth(2).getAttribute('data-line')) + 1;
    assert.equal(recordsLine, JSON.stringify(config, null, 2).split('\n').indexOf('  "records": [') + 1);
    await page.getByRole('button', { name: `Unfold line ${recordsLine}`, exact: true }).click();
    const first = config.records[0].digest;
    await page.waitForFunction((d) => document.body.textContent?.includes(d), first);
    const lines = await shownLines(s);
    assert.equal(lines[2], '  "records": [');
    assert.equal(lines[3], `    { "digest": "${first}", … },`, 'each record shows folded with its digest');
    await screenshot(page, 'raw-json-large-records');

    // Unfold the first record: its digest line as written, at its real line number.
    const firstRecordLine = Number(await page.getByTestId('raw-line').nth(3).getAttribute('data-line'));
    await page.getByRole('button', { name: `Unfold line ${firstRecordLine + 1}`, exact: true }).click();
    await page.waitForFunction(() => Array.from(document.querySelectorAll('[data-testid="raw-line"] .json-text')).some((e) => /^ {6}"digest": /.test(e.textContent ?? '')));
    assert.ok((await shownLines(s)).includes(`      "digest": "${first}",`));
    await screenshot(page, 'raw-json-large-record-open');

    // Folding "records" again brings back the four top-level lines.
    await page.getByRole('button', { name: `Fold line ${recordsLine}`, exact: true }).click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="raw-line"]').length === 4);
    assert.deepEqual(await shownLines(s), ['{', '  "layers": [ … ],', '  "records": [ … ]', '}']);
    assert.deepEqual(s.errors, []);
  });

  it('offers a download of the exact bytes as stored', async () => {
    const { page } = s;
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('raw-download').click()]);
    assert.equal(download.suggestedFilename(), `cache-config-${configDigest.replace(':', '-')}.json`);
    const saved = await readFile((await download.path())!);
    const stored = await readFile(configFile);
    assert.equal(saved.length, stored.length);
    assert.ok(saved.equals(stored), 'the downloaded file is the stored blob, byte for byte');
    assert.deepEqual(s.errors, []);
  });
});

describe('Raw JSON of a real cache: manifest, index.json, pretty and as stored (Chromium, real engine)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(fixture.margo);
    await s.page.getByTestId('summary-layerEntries').waitFor();
  });
  after(async () => {
    await s?.close();
  });

  it('shows the manifest pretty-printed line for line, then as stored, and index.json with its tag', async () => {
    const { page } = s;
    const index = await readFile(join(fixture.margo, 'index.json'), 'utf8');
    const digest = (JSON.parse(index) as { manifests: { digest: string }[] }).manifests[0].digest;
    const manifest = await readFile(join(fixture.margo, 'blobs', ...digest.split(':')), 'utf8');
    const pretty = JSON.stringify(JSON.parse(manifest), null, 2).split('\n');
    await page.getByTestId('tab-raw').click();
    await page.getByTestId('raw-manifest').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="raw-line"] .json-text')?.textContent === '{');
    // A small document starts unfolded: the drawn lines are the pretty form's first lines, in order.
    const shown = await shownLines(s);
    assert.ok(shown.length >= 10, `lines are drawn (${shown.length})`);
    assert.deepEqual(shown, pretty.slice(0, shown.length));
    assert.equal(await page.getByTestId('raw-stats').getAttribute('data-lines'), String(pretty.length));
    assert.equal(await page.getByTestId('raw-stats').getAttribute('data-bytes'), String(Buffer.byteLength(manifest)));
    await screenshot(page, 'raw-json-manifest');

    await page.getByTestId('raw-pretty').uncheck();
    await page.waitForFunction(() => /rows as stored/.test(document.querySelector('[data-testid="raw-stats"]')?.textContent ?? ''));
    const stored = await shownLines(s);
    assert.equal(stored.join(''), manifest.replace(/\n/g, '').slice(0, stored.join('').length), 'as stored: the exact text, cut into rows');

    await page.getByTestId('raw-pretty').check();
    await page.getByTestId('raw-index').click();
    await page.waitForFunction(() => (document.querySelector('[data-testid="raw-json"]')?.textContent ?? '').includes('"manifests"'));
    const lines = await shownLines(s);
    assert.ok(lines.includes(`      "digest": "${digest}",`), lines.join('\n'));
    assert.ok(lines.some((l) => /^ {8}"org\.opencontainers\.image\.ref\.name": "[^"]+"/.test(l)), lines.join('\n'));
    assert.deepEqual(s.errors, []);
  });
});
