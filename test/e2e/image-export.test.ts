/**
 * Export as image from the GUI (Chromium, browser mode, real engine): pick a record with a result,
 * export it into a folder, read the exporter's response keys, then open the result: an image without
 * inline cache is refused with a clear message; with inline cache it opens as a cache with the
 * result's records. The layer-entry and chain entry points show the chain that becomes the image.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeBusyboxCache } from '../integration/image/busybox-cache';
import type { BusyboxCache } from '../integration/image/busybox-cache';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

describe('export a cached result as an image from the GUI (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let tmp: string;
  let bb: BusyboxCache;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-image-'));
    bb = await writeBusyboxCache(join(tmp, 'cache'));
    s = await openSession(bb.dir);
  });
  after(async () => {
    await s?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('record → folder: shows the chain, config source and response keys; opening an image without inline cache says why', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('tab-chains').click();
    await page.getByRole('button', { name: `record #${bb.resultRecord}`, exact: true }).click();
    const pane = page.getByTestId('detail-pane');
    await pane.getByTestId('image-export-button').click();
    const dialog = page.getByTestId('image-export-dialog');
    await dialog.getByText(`Export as image: record #${bb.resultRecord}`).waitFor();
    await dialog.getByTestId('image-chain-layer').nth(2).waitFor();
    assert.equal(await dialog.getByTestId('image-chain-layer').count(), 3);
    await dialog.getByTestId('image-config-origin').getByText(/empty \(linux\//).waitFor();
    await dialog.getByTestId('image-names').fill('app,registry.example/team/app:2');
    await dialog.getByTestId('image-names-normalised').getByText('docker.io/library/app:latest, registry.example/team/app:2').waitFor();
    // A bad name is refused with docker's message before anything starts.
    await dialog.getByTestId('image-names').fill('Bad');
    await dialog.getByTestId('image-export-problem').getByText(/must be lowercase/).waitFor();
    assert.equal(await dialog.getByTestId('image-export-start').isDisabled(), true);
    await dialog.getByTestId('image-names').fill('app');
    const dest = join(tmp, 'img');
    await dialog.getByTestId('image-dest').fill(`${dest}:v1`);
    await dialog.getByTestId('image-dest-label').getByText(`${dest}:v1`).waitFor();
    await dialog.getByTestId('image-export-problem').waitFor({ state: 'detached' });
    await screenshot(page, 'image-export-form');
    await dialog.getByTestId('image-export-start').click();
    await dialog.getByTestId('image-result').waitFor({ timeout: 60_000 });
    const states = await dialog.getByTestId('image-layer').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    assert.deepEqual(states, ['done', 'done', 'done']);
    const key = async (k: string) => (await dialog.getByTestId(`image-key-${k}`).locator('dd code').textContent()) ?? undefined;
    const manifestDigest = await key('containerimage.digest');
    const configDigest = await key('containerimage.config.digest');
    assert.match(manifestDigest ?? '', /^sha256:/);
    assert.equal(await key('image.name'), 'docker.io/library/app:latest');
    // The keys are the image on disk: index.json tags that manifest, which names that config.
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, manifestDigest);
    const manifestBytes = await readFile(join(dest, 'blobs', 'sha256', manifestDigest!.slice(7)));
    assert.equal(`sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`, manifestDigest);
    assert.equal(JSON.parse(manifestBytes.toString()).config.digest, configDigest);
    const lines = (await dialog.getByTestId('image-export-lines').textContent()) ?? '';
    assert.match(lines, new RegExp(`exporting layers\\s*writing image ${configDigest}\\s*naming to docker.io/library/app:latest`));
    await screenshot(page, 'image-export-done');

    await dialog.getByTestId('image-open-result').click();
    await dialog.getByTestId('image-open-error').getByText(/This image carries no inline cache, so it does not open as a cache/).waitFor();
    await dialog.getByTestId('image-open-error').getByText(/without moby.buildkit.cache.v0/).waitFor();
    await screenshot(page, 'image-export-open-refused');
    assert.deepEqual(s.errors, []);
    await s.assertClean();
  });

  it('with inline cache the image opens back as a cache holding the result\'s records', async () => {
    const { page } = s;
    const dialog = page.getByTestId('image-export-dialog');
    await dialog.getByRole('button', { name: 'Export again…' }).click();
    await dialog.getByTestId('image-inline-cache').check();
    await dialog.getByTestId('image-compression').selectOption('zstd');
    const dest = join(tmp, 'img');
    await dialog.getByTestId('image-dest').fill(`${dest}:inline`);
    await dialog.getByTestId('image-chain-layer').first().getByText('→ zstd').waitFor();
    await dialog.getByTestId('image-export-problem').waitFor({ state: 'detached' });
    await dialog.getByTestId('image-export-start').click();
    await dialog.getByTestId('image-result').waitFor({ timeout: 60_000 });
    await dialog.getByTestId('image-export-done').getByText(/3 converted.*5 inline-cache records/).waitFor();
    await dialog.getByTestId('image-open-result').click();
    await dialog.waitFor({ state: 'detached' });
    await page.locator('.header .title').getByText(`${dest}:inline`).waitFor();
    await page.getByTestId('summary-records').getByText('5', { exact: true }).waitFor();
    await screenshot(page, 'image-export-inline-opened');
    assert.deepEqual(s.errors, []);
    await s.assertClean();
  });

  it('a layer entry and a chain are entry points too: the dialog shows the chain ending there', async () => {
    const { page } = s;
    await page.getByTestId('tab-layers').click();
    await page.getByTestId('layer-row').nth(1).click();
    await page.getByTestId('image-export-button').click();
    const dialog = page.getByTestId('image-export-dialog');
    await dialog.getByText(/Export as image: layer entry #1/).waitFor();
    await dialog.getByTestId('image-chain-layer').nth(1).waitFor();
    assert.equal(await dialog.getByTestId('image-chain-layer').count(), 2);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await page.getByTestId('tab-chains').click();
    await page.getByTestId('chain-node').nth(2).click();
    await page.getByTestId('image-export-button').first().click();
    await dialog.getByText(/Export as image: chain ending in/).waitFor();
    await dialog.getByTestId('image-chain-layer').nth(2).waitFor();
    await screenshot(page, 'image-export-chain');
    await page.keyboard.press('Escape');
    assert.deepEqual(s.errors, []);
    await s.assertClean();
  });
});
