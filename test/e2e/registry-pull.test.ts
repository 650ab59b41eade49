/**
 * Pull from a registry from the GUI (Chromium, browser mode, real engine) against a real loopback
 * distribution 2.8 behind the counting proxy: a registry cache opened from the sidebar is exported
 * into a folder with per-layer bars going `downloading` → `done` (the states each bar went through
 * are recorded in the page); a second pull finds every layer `cached` in the per-user blob cache and
 * fetches no layer again; the folder then opens as a cache with the same manifest.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { FIXTURES } from '../helpers/fixtures';
import { layoutManifest, pushFixture, startProxy, startRegistry } from '../helpers/registry/index';
import type { CountingProxy, FaultFn, RunningRegistry } from '../helpers/registry/index';
import { seriousViolations } from './axe';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const SOURCE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');

/** Layer downloads pause after their first bytes, so every bar is seen `downloading` before it is `done`. */
const slowLayers: FaultFn = (req) => (req.method === 'GET' && /\/blobs\/sha256:/.test(req.path) ? { kind: 'stall', ms: 300, afterBytes: 64 } : undefined);

/** See registry-export.test.ts: records every state each layer bar shows, in the page. */
const RECORD_STATES = `(() => {
  const w = window;
  if (w.stopStates) w.stopStates();
  w.layerStates = {};
  const note = () => document.querySelectorAll('[data-testid="layer-progress"]').forEach((el) => {
    const blob = el.getAttribute('data-blob');
    const state = el.getAttribute('data-state');
    if (!blob || !state) return;
    const seen = (w.layerStates[blob] = w.layerStates[blob] || []);
    if (seen[seen.length - 1] !== state) seen.push(state);
  });
  const observer = new MutationObserver(note);
  observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
  w.stopStates = () => observer.disconnect();
})()`;

async function statesSeen(page: Page): Promise<Record<string, string[]>> {
  return page.evaluate(() => (window as unknown as { layerStates: Record<string, string[]> }).layerStates);
}

describe('pull a registry cache into a folder from the GUI (Chromium, real engine, real registry)', () => {
  let s: Session;
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let sourceLayers: string[];
  const saved = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };

  /** Exports the active cache into `dest` with `tag`, from the dialog; resolves with the states each bar showed. */
  const pull = async (dest: string, tag: string): Promise<Record<string, string[]>> => {
    const { page } = s;
    if (await page.getByTestId('export-dialog').count()) await page.getByRole('button', { name: 'New export…' }).click();
    else await page.getByTestId('export-button').click();
    await page.getByTestId('export-kind-folder').check();
    await page.getByTestId('export-dest').fill(dest);
    await page.getByTestId('export-tag').fill(tag);
    await page.locator('[data-testid="export-preview"][aria-busy="false"]').getByText(/layers?,/).waitFor();
    await page.evaluate(RECORD_STATES);
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-progress').waitFor();
    return statesSeen(page);
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-pull-'));
    // The server runs in this process: its engine reads docker's config and the blob cache from here.
    process.env.DOCKER_CONFIG = join(tmp, 'docker');
    process.env.XDG_CACHE_HOME = join(tmp, 'xdg-cache');
    registry = await startRegistry();
    await pushFixture(registry, SOURCE, 'team/cache:main');
    sourceLayers = ((await layoutManifest(SOURCE)).json as { layers: { digest: string }[] }).layers.map((l) => l.digest);
    proxy = await startProxy(registry, { faults: slowLayers });
    s = await openSession(null);
    await s.page.emulateMedia({ reducedMotion: 'reduce' });
  });
  after(async () => {
    await s?.close();
    await proxy?.stop();
    await registry?.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('opens the registry cache and pulls it with bars going downloading → done', async () => {
    const { page } = s;
    const ref = `${proxy.host}/team/cache:main`;
    await page.getByTestId('open-source-input').fill(ref);
    await page.getByTestId('open-source-button').click();
    await page.locator('header .title').getByText(ref).waitFor();
    await page.getByTestId('summary-layerEntries').waitFor();
    assert.equal(proxy.requests().filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path)).length, 1, 'opening fetched only the cache config blob');

    const dest = join(tmp, 'first');
    await pull(dest, 'pulled');
    await page.getByTestId('layer-progress').and(page.locator('[data-state="downloading"]')).first().waitFor();
    await screenshot(page, 'registry-pull-downloading');
    await page.getByTestId('export-done-digest').waitFor({ timeout: 60_000 });
    await screenshot(page, 'registry-pull-done');
    const seen = await statesSeen(page);
    assert.ok(Object.keys(seen).length > 0, 'one bar per layer');
    for (const [blob, states] of Object.entries(seen)) {
      assert.ok(states.includes('downloading'), `${blob} was seen downloading: ${states.join(' → ')}`);
      assert.equal(states[states.length - 1], 'done', `${blob} ends done: ${states.join(' → ')}`);
    }
    assert.deepEqual([...new Set(await page.getByTestId('layer-state').allInnerTexts())], ['done']);
    assert.deepEqual([...new Set(await page.getByTestId('layer-progress').evaluateAll((els) => els.map((e) => e.getAttribute('data-origin'))))], ['downloaded']);
    // The folder holds the manifest the dialog names, with the registry cache's very layers.
    const shown = (await page.getByTestId('export-done-digest').innerText()).match(/sha256:[0-9a-f]{64}/)?.[0];
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.deepEqual(index.manifests.map((m) => m.digest), [shown]);
    const pulled = JSON.parse(await readFile(join(dest, 'blobs', 'sha256', shown!.slice(7)), 'utf8')) as { layers: { digest: string }[] };
    assert.deepEqual(pulled.layers.map((l) => l.digest), sourceLayers);
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
  });

  it('pulls again: every bar says cached (from the blob cache) and no layer is fetched', async () => {
    const { page } = s;
    proxy.clear();
    await pull(join(tmp, 'second'), 'again');
    await page.getByTestId('export-done-digest').waitFor({ timeout: 60_000 });
    const seen = await statesSeen(page);
    for (const [blob, states] of Object.entries(seen)) {
      assert.ok(!states.includes('downloading'), `${blob} was not downloaded again: ${states.join(' → ')}`);
      assert.equal(states[states.length - 1], 'done');
    }
    // Each bar says its layer came from the blob cache (the short `cached` state itself may be skipped by the throttled events).
    assert.deepEqual([...new Set(await page.getByTestId('layer-state').allInnerTexts())], ['cached']);
    assert.deepEqual([...new Set(await page.getByTestId('layer-progress').evaluateAll((els) => els.map((e) => e.getAttribute('data-origin'))))], ['cached']);
    assert.deepEqual(
      proxy.requests().filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path)),
      [],
      'no layer fetched',
    );
    await screenshot(page, 'registry-pull-cached');
  });

  it('opens the pulled folder', async () => {
    const { page } = s;
    await page.getByTestId('export-open-result').click();
    const dest = join(tmp, 'second');
    await page.locator('header .title').getByText(`${dest}:again`).waitFor();
    await page.getByTestId('summary-layerEntries').waitFor();
    assert.equal(Number(await page.getByTestId('summary-layerEntries').textContent()), sourceLayers.length);
    await screenshot(page, 'registry-pull-opened');
    assert.deepEqual(
      s.errors.filter((e) => !/Failed to load resource/.test(e)),
      [],
    );
  });
});
